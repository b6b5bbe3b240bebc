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
        let (Some(cpus), Some(saved)) = (pinned.then(cpus).flatten(), current_mask()) else {
            return Pin { saved: None };
        };
        let cpu = match side {
            Side::Bind => cpus[0],
            Side::Connect => cpus[1],
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
