//! The socket's signal: how engines reach a socket that does no I/O of its own.
//!
//! Engines never touch socket state. They push a [`Command`] (a pipe became readable or
//! writable, a peer attached or went away) and wake whoever waits on the socket: a thread parked
//! in a blocking call or the task of an async call, through the same [`Waker`] slot. The socket
//! checks [`SocketSignal::has_commands`] (one atomic load) before each operation and drains the
//! queue only when something arrived, so the per-message path takes no lock.

use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use oxmq_pattern::PipeId;

use crate::eventfd::EventFd;
use crate::pipe::{PipeReader, PipeWriter};

/// What an engine tells its socket.
pub(crate) enum Command {
    /// The in-pipe of this peer has messages again.
    ReadActivated(PipeId),
    /// The out-pipe of this peer has room again.
    WriteActivated(PipeId),
    /// A peer completed its handshake; here are the socket's ends of its pipes.
    Attach(Box<Attachment>),
    /// The peer's engine is gone and will write nothing more to its in-pipe.
    Terminated(PipeId),
    /// A pipe made at connect time reconnected to a new peer (libzmq's "hiccup"): SUB and
    /// XSUB resend their subscriptions.
    Hiccup(PipeId),
    /// A connecter's pipe has a new connection with these properties (sent before any of its
    /// messages).
    Properties(PipeId, Arc<oxmq_proto::Properties>),
    /// Nothing to apply: wakes blocked calls so they look again (context shutdown).
    Wake,
}

/// The socket's ends of a new peer's pipes.
pub(crate) struct Attachment {
    pub(crate) id: PipeId,
    pub(crate) reader: PipeReader,
    pub(crate) writer: PipeWriter,
    pub(crate) routing_id: Option<bytes::Bytes>,
    /// For inproc: the socket at the other end, told when this end goes away.
    pub(crate) peer: Option<PeerLink>,
    /// The connection's properties, attached to every frame received from it.
    pub(crate) properties: Option<Arc<oxmq_proto::Properties>>,
}

/// The other socket of an inproc connection and its id for the shared pipes.
#[derive(Clone)]
pub(crate) struct PeerLink {
    pub(crate) signal: Arc<SocketSignal>,
    pub(crate) id: PipeId,
}

/// Command queue and wake-up slot of one socket.
#[derive(Default)]
pub(crate) struct SocketSignal {
    pending: AtomicBool,
    commands: Mutex<Vec<Command>>,
    waker: Mutex<Option<Waker>>,
    /// The readiness descriptor, created on first use (`ZMQ_FD`, poll, an interruptible
    /// blocking call).
    fd: OnceLock<EventFd>,
    /// Whether the descriptor was handed out (`ZMQ_FD`): the application may wait on it at any
    /// time, so from then on every command signals it.
    fd_exported: AtomicBool,
    /// Waits on the descriptor in progress inside oxmq (an interruptible blocking call, poll):
    /// until the descriptor is handed out, a command signals it only while there is one, so
    /// that a socket busy with traffic does not pay a system call per command.
    fd_sleepers: AtomicUsize,
}

/// One wait on a socket's readiness descriptor, counted in `fd_sleepers` while it lives.
/// Made before the waiter looks for work: with the count raised first (SeqCst) and a command's
/// `pending` set first (SeqCst), either the waiter sees the command or the command sees the
/// waiter and signals the descriptor (a Dekker handshake).
pub(crate) struct FdSleeper<S: Deref<Target = SocketSignal>>(S);

impl<S: Deref<Target = SocketSignal>> FdSleeper<S> {
    pub(crate) fn new(signal: S) -> FdSleeper<S> {
        signal.fd_sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        FdSleeper(signal)
    }
}

impl<S: Deref<Target = SocketSignal>> Drop for FdSleeper<S> {
    fn drop(&mut self) {
        self.0.fd_sleepers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SocketSignal {
    /// Queues a command and wakes the socket's waiter, if any.
    pub(crate) fn push(&self, cmd: Command) {
        self.lock_commands().push(cmd);
        self.pending.store(true, Ordering::SeqCst);
        let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
        if let Some(fd) = self.fd.get() {
            if self.fd_exported.load(Ordering::Relaxed)
                || self.fd_sleepers.load(Ordering::SeqCst) > 0
            {
                fd.signal();
            }
        }
    }

    /// The readiness descriptor for the application (`ZMQ_FD`): every command signals it from
    /// now on. Signalled once now, since commands that came before were not.
    pub(crate) fn export_fd(&self) -> std::io::Result<&EventFd> {
        let fd = self.fd()?;
        if !self.fd_exported.swap(true, Ordering::SeqCst) {
            fd.signal();
        }
        Ok(fd)
    }

    /// The socket's readiness descriptor, created on first use. It becomes readable whenever
    /// the socket's state may have changed while someone waits on it (an [`FdSleeper`], or
    /// anyone once [`SocketSignal::export_fd`] handed it out); [`SocketSignal::clear_fd`] makes
    /// it unreadable again (edge-triggered, as libzmq's).
    pub(crate) fn fd(&self) -> std::io::Result<&EventFd> {
        if let Some(fd) = self.fd.get() {
            return Ok(fd);
        }
        let fd = EventFd::new()?;
        // Commands that arrived before the descriptor existed count as a change.
        fd.signal();
        Ok(self.fd.get_or_init(|| fd))
    }

    /// Drains the readiness descriptor, if it exists.
    pub(crate) fn clear_fd(&self) {
        if let Some(fd) = self.fd.get() {
            fd.drain();
        }
    }

    /// Whether commands are waiting to be processed.
    #[inline]
    pub(crate) fn has_commands(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Takes all queued commands, appending them to `out`.
    pub(crate) fn drain_into(&self, out: &mut Vec<Command>) {
        let mut q = self.lock_commands();
        self.pending.store(false, Ordering::SeqCst);
        out.append(&mut q);
    }

    /// Registers `waker` to be woken by the next command. Returns `false` when commands already
    /// arrived (the caller must not sleep).
    pub(crate) fn register(&self, waker: &Waker) -> bool {
        {
            let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
            match &*slot {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        !self.pending.load(Ordering::SeqCst)
    }

    /// Parks the calling thread until a command arrives or `deadline` passes. Returns `false`
    /// on time-out.
    pub(crate) fn wait(&self, waker: &Waker, deadline: Option<Instant>) -> bool {
        loop {
            // Register before every park, not only the first: a wake-up can be stale (a
            // pusher that set `pending` for a command we already took, then took our waker
            // and woke us), and it leaves the slot empty, so the next command would find no
            // one to wake.
            if !self.register(waker) {
                return true;
            }
            match deadline {
                None => thread::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return self.has_commands();
                    }
                    thread::park_timeout(d - now);
                }
            }
        }
    }

    /// Waits as [`SocketSignal::wait`] does, but in ppoll(2) on the socket's descriptor, so
    /// that a signal delivered to the thread ends the wait with [`ErrorKind::Interrupted`], as
    /// libzmq's blocking calls end with `EINTR`. The caller holds signals blocked
    /// ([`SignalsHeld`]) and passes the mask to wait with: a signal that came after the caller
    /// took hold of them is delivered as the wait starts and ends it. The
    /// wait consumes the descriptor's edge, as a blocking call of libzmq's consumes its
    /// mailbox's.
    ///
    /// [`ErrorKind::Interrupted`]: crate::ErrorKind::Interrupted
    pub(crate) fn wait_interruptible(
        &self,
        deadline: Option<Instant>,
        held: &SignalsHeld,
    ) -> crate::Result<bool> {
        let fd = self.fd()?;
        let _sleeping = FdSleeper::new(self);
        loop {
            // Drain before looking: a command pushed after the look signals the descriptor
            // again, so poll returns at once instead of missing it.
            fd.drain();
            if self.pending.load(Ordering::SeqCst) {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            let mut pfd = [libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            crate::poll::os_ppoll(&mut pfd, deadline, &held.before)?;
        }
    }

    fn lock_commands(&self) -> std::sync::MutexGuard<'_, Vec<Command>> {
        self.commands.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The time budget of a watch for work that adapts to how soon work comes, shared by a
/// blocking call's [`Spinner`] and an I/O thread's keep-awake watcher. A watch that ends
/// empty-handed halves it (down to a floor), so a thread whose work comes seldom soon watches
/// little; a watch that found work, or a sleep that ended within the largest budget (a full
/// watch would have caught it), sets it back to the largest.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    now: Duration,
    floor: Duration,
    max: Duration,
}

impl Budget {
    /// A budget that starts at `max` and never halves below `floor`.
    pub(crate) const fn new(floor: Duration, max: Duration) -> Budget {
        Budget {
            now: max,
            floor,
            max,
        }
    }

    /// The budget of the next watch.
    pub(crate) fn get(&self) -> Duration {
        self.now
    }

    /// The watch found work.
    pub(crate) fn hit(&mut self) {
        self.now = self.max;
    }

    /// The watch ended empty-handed.
    pub(crate) fn missed(&mut self) {
        self.now = (self.now / 2).max(self.floor);
    }

    /// A sleep after a watch ended after `waited` in all.
    pub(crate) fn slept(&mut self, waited: Duration) {
        if waited <= self.max {
            self.now = self.max;
        }
    }
}

/// Spin-then-sleep for a blocking call: before a thread sleeps on its socket's signal it
/// watches the signal for a while, because a sleep costs both sides a system call (the futex
/// wait here, the futex wake or eventfd write of the side that delivers) and, on a virtual
/// machine whose idle CPU halts, tens of microseconds before the sleeper runs again.
///
/// The watch has two phases. First a few `PAUSE` rounds, for a peer that is busy on another
/// core (an inproc writer, an engine in the middle of a batch) and delivers within a
/// microsecond. Then, within an adaptive [`Budget`], `sched_yield` rounds: they keep this CPU
/// from halting while letting a thread that shares it (an I/O thread on a 2-core machine) run.
/// A socket whose messages come seldom soon pays only for the `PAUSE` rounds.
#[derive(Debug)]
pub(crate) struct Spinner {
    /// The yield phase's budget.
    budget: Budget,
    /// `PAUSE` rounds first ([`Spinner::PAUSE_ROUNDS`], or none when off).
    pause_rounds: u32,
    /// `PAUSE`s before the first look, while the watches end at once (see `busy_batched`).
    quiet: u32,
}

impl Spinner {
    /// `PAUSE` rounds, about 1.7 µs at the 26 ns one takes on the test machine.
    const PAUSE_ROUNDS: u32 = 64;
    /// A watch that ends within this many `PAUSE` rounds is soon: the writer is busy.
    const SOON: u32 = 2;
    /// The frames a batched receive aims to find between two looks.
    const BATCH: u32 = 128;
    /// The longest wait before the first look, about 13 µs at 26 ns a `PAUSE`.
    const MAX_QUIET: u32 = 512;
    /// Below this, the yield phase is skipped.
    const MIN_BUDGET: Duration = Duration::from_micros(2);
    /// The largest yield budget: above the wake-up latency of a halted virtual CPU
    /// (about 40 µs on the test machine), so that two threads handing messages back and forth
    /// both stay awake.
    const MAX_BUDGET: Duration = Duration::from_micros(100);

    /// A spinner that never watches: every wait sleeps at once.
    pub(crate) fn off() -> Spinner {
        Spinner {
            budget: Budget::new(Duration::ZERO, Duration::ZERO),
            pause_rounds: 0,
            quiet: 0,
        }
    }

    /// Watches until `ready` holds, within the current budget. Returns whether it held.
    ///
    /// `batch`: for a receive, the frames it took since its last wait (see
    /// [`Spinner::busy_batched`]). `before_yield` runs once, when the busy phase (no system
    /// call) ended empty-handed, before the watch's first system call: the yield phase's, or
    /// the sleep's that follows when the budget skips it. An interruptible wait holds signals
    /// there (see `Socket::wait_watching`).
    #[inline]
    pub(crate) fn spin(
        &mut self,
        batch: Option<u32>,
        mut ready: impl FnMut() -> bool,
        before_yield: impl FnOnce(),
    ) -> bool {
        let found = match batch {
            Some(batch) => self.busy_batched(batch, &mut ready),
            None => self.pause_phase(&mut ready).is_some(),
        };
        if found {
            return true;
        }
        before_yield();
        self.spin_yielding(ready)
    }

    /// The busy phase of [`Spinner::spin`] for a receive that took `batch` frames since its
    /// last wait.
    ///
    /// A reader that keeps catching up with a busy writer on another core finds the next
    /// frame a pause or two after it looks; but each look takes the cache line the writer
    /// publishes through, which the writer's next publication must take back: a transfer
    /// between the cores for every frame or two, which made an inproc stream three times
    /// slower than with a reader that stays behind. So while watches end that soon and
    /// batches stay small, the next watch first waits a little without looking, twice as
    /// long each time, until the writer publishes [`Spinner::BATCH`] frames or more between
    /// two looks, as long as it publishes a frame at least every eight `PAUSE`s of the wait.
    /// A writer with time to spare (a frame every few hundred nanoseconds) does not come that
    /// soon, and its reader looks at once, as before; a stream that slows down after a burst
    /// (fewer than a frame per sixteen `PAUSE`s of the wait) ends the waiting at once.
    #[inline]
    fn busy_batched(&mut self, batch: u32, ready: &mut impl FnMut() -> bool) -> bool {
        for _ in 0..self.quiet {
            std::hint::spin_loop();
        }
        let Some(round) = self.pause_phase(ready) else {
            self.quiet = 0;
            return false;
        };
        self.quiet = if round > Self::SOON || batch.saturating_mul(16) < self.quiet {
            // The writer has time to spare, or the wait outgrew it (a frame or two after a
            // long wait: a stream that slowed down after a burst).
            0
        } else if batch < Self::BATCH && batch.saturating_mul(8) >= self.quiet {
            (self.quiet * 2).clamp(1, Self::MAX_QUIET)
        } else if batch > 4 * Self::BATCH {
            self.quiet / 2
        } else {
            self.quiet
        };
        true
    }

    /// The `PAUSE` phase of a watch: the round in which `ready` held, if it did.
    #[inline]
    fn pause_phase(&self, ready: &mut impl FnMut() -> bool) -> Option<u32> {
        for round in 0..self.pause_rounds {
            if ready() {
                return Some(round);
            }
            std::hint::spin_loop();
        }
        None
    }

    /// The yield phase of a watch.
    fn spin_yielding(&mut self, mut ready: impl FnMut() -> bool) -> bool {
        if self.budget.get() < Self::MIN_BUDGET {
            return false;
        }
        let start = Instant::now();
        loop {
            if ready() {
                self.budget.hit();
                return true;
            }
            if start.elapsed() >= self.budget.get() {
                self.budget.missed();
                return false;
            }
            thread::yield_now();
        }
    }

    /// After a sleep that followed a failed [`Spinner::spin`]: `waited` is how long the whole
    /// wait took.
    pub(crate) fn slept(&mut self, waited: Duration) {
        self.budget.slept(waited);
    }
}

impl Default for Spinner {
    fn default() -> Spinner {
        Spinner {
            // No floor: halving goes on below MIN_BUDGET, where the yield phase is skipped,
            // until a short sleep brings the budget back.
            budget: Budget::new(Duration::ZERO, Self::MAX_BUDGET),
            pause_rounds: Self::PAUSE_ROUNDS,
            quiet: 0,
        }
    }
}

/// Every signal blocked on the calling thread while this lives (the mask it had before comes
/// back on drop). An interruptible wait holds signals from its first system call (see
/// `Socket::wait_watching`) and waits with the earlier mask
/// ([`SocketSignal::wait_interruptible`]), so a signal in between is not handled unseen: it
/// ends the wait with `EINTR`. Signals that arrive while held stay pending and are delivered
/// when the mask comes back.
pub(crate) struct SignalsHeld {
    before: libc::sigset_t,
}

impl SignalsHeld {
    pub(crate) fn new() -> SignalsHeld {
        // SAFETY: sigset_t is a plain C bitmask for which all-zeroes is a valid value;
        // sigfillset and pthread_sigmask only write the sets they are given, which live on
        // this stack frame. pthread_sigmask cannot fail with valid arguments.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut before: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut before);
            SignalsHeld { before }
        }
    }
}

impl Drop for SignalsHeld {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `new` on this thread (the guard is not Send).
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.before, std::ptr::null_mut());
        }
    }
}

/// A waker that unparks a thread: the blocking face waits with it.
pub(crate) fn thread_waker() -> Waker {
    Waker::from(Arc::new(ThreadWake(thread::current())))
}

struct ThreadWake(Thread);

impl Wake for ThreadWake {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[test]
    fn a_batched_watch_waits_longer_while_a_busy_writer_keeps_being_caught_up_with() {
        let mut s = Spinner::default();
        // Frames come at the first look and in small batches: the quiet wait doubles.
        for expected in [1, 2, 4, 8] {
            assert!(s.spin(Some(3), || true, || ()));
            assert_eq!(s.quiet, expected);
        }
        // Batches of the size aimed at keep it; much larger ones halve it.
        assert!(s.spin(Some(Spinner::BATCH), || true, || ()));
        assert_eq!(s.quiet, 8);
        assert!(s.spin(Some(5 * Spinner::BATCH), || true, || ()));
        assert_eq!(s.quiet, 4);
        // A frame that takes its time ends it: that writer has time to spare.
        let mut looks = 0;
        assert!(s.spin(
            Some(1),
            || {
                looks += 1;
                looks > Spinner::SOON + 2
            },
            || ()
        ));
        assert_eq!(s.quiet, 0);
        // It never exceeds its cap.
        for _ in 0..20 {
            s.spin(Some(Spinner::BATCH - 1), || true, || ());
        }
        assert_eq!(s.quiet, Spinner::MAX_QUIET);
        // A stream that slows down after a burst: a frame found at once after the longest
        // wait is no busy writer, and the next look comes without waiting.
        assert!(s.spin(Some(1), || true, || ()));
        assert_eq!(s.quiet, 0);
        // Nor does it grow on a writer that fills the wait sparsely.
        s.quiet = 64;
        assert!(s.spin(Some(6), || true, || ()));
        assert_eq!(s.quiet, 64, "6 frames in 64 PAUSEs: kept");
        assert!(s.spin(Some(3), || true, || ()));
        assert_eq!(s.quiet, 0, "3 frames in 64 PAUSEs: ended");
        // A failed watch resets it too.
        s.quiet = Spinner::MAX_QUIET;
        s.budget = Budget::new(Duration::ZERO, Duration::ZERO);
        assert!(!s.spin(Some(Spinner::BATCH), || false, || ()));
        assert_eq!(s.quiet, 0);
        // The other watches (a send at its high-water mark) never wait before looking.
        s.quiet = 8;
        assert!(s.spin(None, || true, || ()));
        assert_eq!(s.quiet, 8, "untouched by an unbatched watch");
    }

    #[test]
    fn what_comes_before_the_yield_phase_runs_once_and_only_when_the_busy_phase_found_nothing() {
        let mut s = Spinner::default();
        let mut calls = 0;
        assert!(s.spin(None, || true, || calls += 1));
        assert!(s.spin(Some(1), || true, || calls += 1));
        assert_eq!(
            calls, 0,
            "found in the busy phase: no system call, nothing run"
        );
        // Found in the yield phase: it ran once, before the first yield.
        let looks = std::cell::Cell::new(0);
        let mut at_first_yield = None;
        let found = s.spin(
            None,
            || {
                looks.set(looks.get() + 1);
                looks.get() > Spinner::PAUSE_ROUNDS + 3
            },
            || {
                calls += 1;
                at_first_yield = Some(looks.get());
            },
        );
        assert!(found);
        assert_eq!(calls, 1);
        assert_eq!(at_first_yield, Some(Spinner::PAUSE_ROUNDS));
        // Found nowhere, with the yield phase skipped: it ran once all the same (the sleep
        // that follows is a system call too).
        s.budget = Budget::new(Duration::ZERO, Duration::ZERO);
        assert!(!s.spin(Some(1), || false, || calls += 1));
        assert_eq!(calls, 2);
    }

    static HANDLED: AtomicBool = AtomicBool::new(false);

    fn readable(fd: &EventFd) -> bool {
        let mut pfd = [libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        crate::poll::os_poll(&mut pfd, 0).expect("poll");
        pfd[0].revents & libc::POLLIN != 0
    }

    #[test]
    fn commands_signal_the_descriptor_only_for_a_sleeper_or_once_it_is_handed_out() {
        let signal = Arc::new(SocketSignal::default());
        let fd = signal.fd().expect("eventfd");
        fd.drain();
        // No one waits on it: a busy socket pays no system call per command.
        signal.push(Command::Wake);
        assert!(!readable(fd));
        {
            let _sleeping = FdSleeper::new(Arc::clone(&signal));
            signal.push(Command::Wake);
            assert!(readable(fd), "a waiter on the descriptor is woken");
            fd.drain();
        }
        signal.push(Command::Wake);
        assert!(!readable(fd), "the waiter is gone");
        // ZMQ_FD: signalled at once (earlier commands were not), then by every command.
        assert_eq!(
            signal.export_fd().expect("eventfd").as_raw_fd(),
            fd.as_raw_fd()
        );
        assert!(readable(fd));
        fd.drain();
        signal.push(Command::Wake);
        assert!(readable(fd));
    }

    extern "C" fn on_usr1(_: libc::c_int) {
        HANDLED.store(true, Ordering::SeqCst);
    }

    #[test]
    fn a_signal_that_arrives_while_signals_are_held_ends_the_wait_with_eintr() {
        // SAFETY: installs a handler that only stores to an atomic (async-signal-safe), without
        // SA_RESTART, for SIGUSR1, which no other test of this binary uses; the signal is sent
        // to this thread only.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_usr1 as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
        }
        let signal = SocketSignal::default();
        let held = SignalsHeld::new();
        // The signal comes while the caller looks for work: it stays pending.
        // SAFETY: pthread_self is this thread; SIGUSR1 has the handler above.
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR1) };
        assert!(!HANDLED.load(Ordering::SeqCst), "held, not handled yet");
        let started = Instant::now();
        let r = signal.wait_interruptible(Some(started + Duration::from_secs(10)), &held);
        let e = r.expect_err("the wait ends with EINTR, not after its 10 s");
        assert_eq!(e.kind(), crate::ErrorKind::Interrupted);
        assert!(HANDLED.load(Ordering::SeqCst), "the handler ran");
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(held);
    }

    #[test]
    fn a_budget_halves_down_to_its_floor_and_comes_back_after_a_hit_or_a_short_sleep() {
        let floor = Duration::from_micros(4);
        let max = Duration::from_micros(200);
        let mut b = Budget::new(floor, max);
        assert_eq!(b.get(), max);
        b.missed();
        assert_eq!(b.get(), Duration::from_micros(100));
        for _ in 0..20 {
            b.missed();
        }
        assert_eq!(b.get(), floor, "never below the floor");
        b.slept(Duration::from_millis(1));
        assert_eq!(b.get(), floor, "a long sleep leaves it as it is");
        b.slept(max);
        assert_eq!(b.get(), max, "a sleep a full watch would have covered");
        b.missed();
        b.hit();
        assert_eq!(b.get(), max);
    }

    #[test]
    fn the_spinner_catches_ready_work_and_stops_watching_when_nothing_comes() {
        let mut s = Spinner::default();
        assert!(s.spin(None, || true, || ()));
        // Each empty watch halves the budget, until only the PAUSE rounds are left.
        let mut watches = 0;
        while s.budget.get() >= Spinner::MIN_BUDGET {
            assert!(!s.spin(None, || false, || ()));
            watches += 1;
            assert!(watches < 10, "the budget keeps halving");
        }
        let started = Instant::now();
        assert!(!s.spin(None, || false, || ()));
        assert!(
            started.elapsed() < Spinner::MAX_BUDGET,
            "no yield phase left"
        );
        // A sleep that a full watch would have covered brings the budget back.
        s.slept(Duration::from_micros(10));
        assert_eq!(s.budget.get(), Spinner::MAX_BUDGET);
        s.slept(Duration::from_secs(1));
        assert_eq!(
            s.budget.get(),
            Spinner::MAX_BUDGET,
            "a long sleep leaves it as it is"
        );

        let mut off = Spinner::off();
        assert!(!off.spin(None, || true, || ()), "off never watches");
        off.slept(Duration::from_micros(10));
        assert!(!off.spin(None, || true, || ()), "and stays off");
    }
}
