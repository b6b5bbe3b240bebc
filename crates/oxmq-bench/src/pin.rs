//! Pinned placement (`--pin`): each side of a case on a CPU of its own.
//!
//! A case has two sides, as libzmq's perf tools are two processes: the side that binds (PULL,
//! REP, PUB, ROUTER) and the side that connects (PUSH, REQ, the SUBs, the DEALERs). Each has
//! its application threads and, over tcp and ipc, its own context whose I/O thread the
//! library starts from the thread that makes the context's first socket, and which inherits
//! that thread's CPU mask. Pinning a side's threads before they make a socket therefore puts
//! the whole side on one CPU: the binding side on the first CPU the process may use, the
//! connecting side on the second. That is what `taskset -c 0 local_thr` and
//! `taskset -c 1 remote_thr` do for libzmq's tools, and it is done the same way for every
//! library.
//!
//! Unpinned, the scheduler places the four threads of a stream on two CPUs as it pleases, and
//! a run keeps the placement it started with; the placements differ by up to twice in
//! small-message throughput, for libzmq as for oxmq (docs/BENCHMARKS.md).

use std::sync::OnceLock;

/// Which side of a case a thread works for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The socket that binds, and its context.
    Bind,
    /// The sockets that connect, and their context.
    Connect,
}

/// The first two CPUs of the process's mask when it was first read, before any pinning.
fn cpus() -> Option<[usize; 2]> {
    static CPUS: OnceLock<Option<[usize; 2]>> = OnceLock::new();
    *CPUS.get_or_init(|| {
        let mut allowed = cpus_in(current_mask()?);
        Some([allowed.next()?, allowed.next()?])
    })
}

/// The CPUs `mask` holds, in order.
fn cpus_in(mask: libc::cpu_set_t) -> impl Iterator<Item = usize> {
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the bit count of `mask`.
        .filter(move |&cpu| unsafe { libc::CPU_ISSET(cpu, &mask) })
}

/// Whether `--pin` can work here: the process may use at least two CPUs.
pub fn can_pin() -> bool {
    cpus().is_some()
}

/// The report's line on placement.
pub fn placement_summary(pinned: bool) -> String {
    match (pinned, cpus()) {
        (true, Some([bind, connect])) => format!(
            "placement: pinned, the binding side on CPU {bind}, the connecting side on CPU {connect}"
        ),
        _ => "placement: as the scheduler decides (--pin puts each side on a CPU of its own)"
            .to_owned(),
    }
}

/// The calling thread's CPU mask.
fn current_mask() -> Option<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is a plain bit set, valid zeroed; sched_getaffinity(0) fills it for
    // the calling thread within the size given.
    unsafe {
        let mut mask: libc::cpu_set_t = std::mem::zeroed();
        let rc = libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut mask);
        (rc == 0).then_some(mask)
    }
}

fn set_mask(mask: &libc::cpu_set_t) {
    // SAFETY: `mask` is a valid cpu_set_t of the size given; sched_setaffinity(0) applies to
    // the calling thread. A refusal leaves the thread where it was, which only costs the
    // placement.
    unsafe {
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), mask);
    }
}

/// Keeps the calling thread on its side's CPU while it lives; then gives it back the mask it
/// had.
pub(crate) struct Pin {
    saved: Option<libc::cpu_set_t>,
}

impl Pin {
    /// Pins the calling thread to `side`'s CPU when `pinned` (and two CPUs are there);
    /// otherwise does nothing.
    pub(crate) fn side(pinned: bool, side: Side) -> Pin {
        match pinned.then(cpus).flatten() {
            Some([bind, _]) if side == Side::Bind => Pin::cpu(bind),
            Some([_, connect]) => Pin::cpu(connect),
            None => Pin { saved: None },
        }
    }

    /// Pins the calling thread to `cpu`, one of the process's CPUs.
    fn cpu(cpu: usize) -> Pin {
        let Some(saved) = current_mask() else {
            return Pin { saved: None };
        };
        // SAFETY: as in current_mask; `cpu` came from a mask, so it is below CPU_SETSIZE.
        let mask = unsafe {
            let mut mask: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut mask);
            mask
        };
        set_mask(&mask);
        Pin { saved: Some(saved) }
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            set_mask(saved);
        }
    }
}

/// The mean round trip of a cache line between the two CPUs `--pin` uses: one thread on
/// each, taking turns to write a counter the other waits for. `None` with fewer than two
/// CPUs, or when the round trips take longer than [`PROBE_LIMIT`] in all.
///
/// Why: a virtual machine's two CPUs are wherever its host puts them, and the host moves them.
/// On the AMD machine (docs/BENCHMARKS.md) this probe read about 95 ns, 185 ns or 500 ns from
/// one minute to the next (two hardware threads of one core, two cores that share a cache,
/// two cores that do not), and thr inproc 16 B moved with it, for libzmq as for oxmq, from
/// 2.2M to 5.5M msg/s for libzmq. Reported with each run, it tells which of these a figure
/// was measured on.
pub fn core_to_core() -> Option<std::time::Duration> {
    probe(PROBE_ROUNDS, PROBE_LIMIT)
}

/// [`core_to_core`] with `rounds` round trips, within `limit`.
fn probe(rounds: u64, limit: std::time::Duration) -> Option<std::time::Duration> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[repr(align(64))]
    struct Line(AtomicU64);

    /// Takes turns on `line` from `first` (1, 3, 5, ... for the side that starts, 2, 4, 6,
    /// ... for the other) up to `last`; stops both sides at [`u64::MAX`]. Returns whether all
    /// turns came within `limit` of `start`.
    fn take_turns(line: &Line, first: u64, last: u64, start: Instant, limit: Duration) -> bool {
        let mut want = first;
        while want <= last {
            let mut spins = 0u32;
            loop {
                match line.0.load(Ordering::Acquire) {
                    u64::MAX => return false,
                    v if v == want - 1 => break,
                    _ => {}
                }
                spins = spins.wrapping_add(1);
                if spins % 4096 == 0 && start.elapsed() > limit {
                    line.0.store(u64::MAX, Ordering::Release);
                    return false;
                }
                std::hint::spin_loop();
            }
            line.0.store(want, Ordering::Release);
            want += 2;
        }
        true
    }

    let [a, b] = cpus()?;
    let line = Arc::new(Line(AtomicU64::new(0)));
    let start = Instant::now();
    let side = |cpu: usize, first: u64| {
        let line = Arc::clone(&line);
        std::thread::spawn(move || {
            let _pin = Pin::cpu(cpu);
            take_turns(&line, first, 2 * rounds, start, limit)
        })
    };
    let (one, other) = (side(a, 1), side(b, 2));
    let done = one.join().unwrap_or(false) & other.join().unwrap_or(false);
    let rounds = u32::try_from(rounds).ok()?;
    done.then(|| start.elapsed() / rounds)
}

/// Round trips per probe: about 2 ms to 10 ms on the machines so far.
const PROBE_ROUNDS: u64 = 20_000;
/// The longest a probe may take.
const PROBE_LIMIT: std::time::Duration = std::time::Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The CPU the calling thread may run on, when it is exactly one.
    fn only_cpu() -> Option<usize> {
        let mut allowed = cpus_in(current_mask()?);
        let first = allowed.next()?;
        allowed.next().is_none().then_some(first)
    }

    #[test]
    fn a_pinned_side_runs_on_its_cpu_and_gets_its_mask_back() {
        let Some(cpus) = cpus() else {
            return; // one CPU: --pin is refused up front
        };
        let before = only_cpu();
        std::thread::spawn(move || {
            {
                let _pin = Pin::side(true, Side::Connect);
                assert_eq!(only_cpu(), Some(cpus[1]));
                // A thread started now inherits the pin, as an I/O thread does.
                let child = std::thread::spawn(only_cpu).join().expect("child thread");
                assert_eq!(child, Some(cpus[1]));
            }
            assert_eq!(only_cpu(), before, "the mask is given back");
            let _pin = Pin::side(true, Side::Bind);
            assert_eq!(only_cpu(), Some(cpus[0]));
        })
        .join()
        .expect("pinned thread");
        let _unpinned = Pin::side(false, Side::Bind);
        assert_eq!(only_cpu(), before, "unpinned runs change nothing");
    }

    #[test]
    fn the_probe_times_a_round_trip_between_the_two_cpus_and_leaves_the_caller_unpinned() {
        let before = current_mask().map(|m| cpus_in(m).collect::<Vec<_>>());
        // Few rounds and a generous limit: other tests keep both CPUs busy meanwhile.
        let probe = probe(200, std::time::Duration::from_secs(20));
        assert_eq!(
            current_mask().map(|m| cpus_in(m).collect::<Vec<_>>()),
            before
        );
        if cpus().is_none() {
            assert_eq!(probe, None, "one CPU: nothing to probe");
            return;
        }
        let rt = probe.expect("two CPUs that run take turns within the limit");
        // A round trip is two transfers of a line between cores: tens of nanoseconds at
        // least (a probe that did not wait for the other side would take a few).
        assert!(rt > std::time::Duration::from_nanos(20), "{rt:?}");
    }

    #[test]
    fn a_probe_that_cannot_finish_in_time_says_so() {
        if cpus().is_none() {
            return;
        }
        assert_eq!(probe(u64::from(u32::MAX), Duration::from_millis(20)), None);
    }
}
