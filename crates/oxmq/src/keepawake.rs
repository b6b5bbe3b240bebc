//! Keeps an I/O thread awake for a little while after its engines worked.
//!
//! An I/O thread with nothing to do sleeps in `epoll_wait`. Waking it costs the waker a system
//! call (tokio's eventfd write) and costs the message the time the kernel takes to run the
//! thread again: on a virtual machine whose idle CPU halts, about 40 µs here, several times a
//! loopback round trip. A request/reply exchange over tcp pays it twice per direction (the I/O
//! threads of both ends), which made most of oxmq's tcp round trip.
//!
//! So each I/O thread runs one more task, [`keep_awake`]. After an engine worked, it keeps the
//! runtime polling (tokio then checks `epoll` without blocking) and yields the CPU to any other
//! thread that wants it, until nothing happened for a budget of time; then the thread sleeps
//! as before. The budget adapts ([`Budget`], as a blocking call's spin does): it halves after
//! a watch in which no engine ran, so an I/O thread whose traffic comes seldom soon watches
//! for only a few microseconds after each burst; it is set back to the largest when engines
//! ran during the watch, or soon enough after it that a longer watch would have caught them.
//!
//! While it watches, the thread also answers its [`Doorbell`]: an application thread that
//! wakes one of its engines (a message to send) queues the engine's waker there instead of
//! calling tokio's, whose wake from outside the runtime writes the runtime's eventfd, a system
//! call per wake. A ROUTER answering 100 DEALERs wakes a different engine for nearly every
//! message, so that was a system call per message.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::signal::Budget;

/// The smallest budget: what an idle connection costs per burst.
const MIN_BUDGET: Duration = Duration::from_micros(4);
/// The largest: above the wake-up latency of a halted virtual CPU and a loopback round trip
/// through two I/O threads and two application threads (tens of microseconds on the test
/// machine), so that the reply of a request finds the thread awake.
const MAX_BUDGET: Duration = Duration::from_micros(200);

thread_local! {
    /// Set by engines when they run; taken by the watcher.
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    /// The watcher, while it waits for the next activity.
    static WATCHER: RefCell<Option<Waker>> = const { RefCell::new(None) };
    /// This I/O thread's doorbell (none on other threads).
    static DOORBELL: RefCell<Option<Arc<Doorbell>>> = const { RefCell::new(None) };
}

/// How other threads wake the engines of an I/O thread while it watches: they queue the
/// engine's waker, and the watcher, which looks at the queue each round, wakes it from inside
/// the runtime (no system call). When the thread does not watch, the waker is woken directly.
///
/// No wake-up is lost: the ringer queues and then reads `watching`; the watcher clears
/// `watching` and then empties the queue a last time. Both flag operations are `SeqCst`, so
/// either the ringer sees the flag cleared and wakes directly, or the last emptying finds its
/// waker (a waker woken twice is harmless).
#[derive(Default)]
pub(crate) struct Doorbell {
    watching: AtomicBool,
    queued: Mutex<Vec<Waker>>,
}

impl Doorbell {
    /// Wakes `waker`, an engine task of this doorbell's I/O thread.
    pub(crate) fn ring(&self, waker: &Waker) {
        if self.watching.load(Ordering::SeqCst) {
            self.lock().push(waker.clone());
            if self.watching.load(Ordering::SeqCst) {
                return;
            }
        }
        waker.wake_by_ref();
    }

    /// Wakes every queued waker; returns whether there was any.
    fn answer(&self, spare: &mut Vec<Waker>) -> bool {
        std::mem::swap(&mut *self.lock(), spare);
        let any = !spare.is_empty();
        for w in spare.drain(..) {
            w.wake();
        }
        any
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Waker>> {
        self.queued.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The watcher's watch: ringers queue their wakers while it lasts. Ending it (also when the
/// runtime drops the watcher in the middle of one) clears the flag and wakes what was queued.
struct Watch<'a> {
    bell: &'a Doorbell,
    /// The watcher's spare queue, swapped with the doorbell's on each answer.
    spare: &'a mut Vec<Waker>,
}

impl<'a> Watch<'a> {
    fn start(bell: &'a Doorbell, spare: &'a mut Vec<Waker>) -> Watch<'a> {
        bell.watching.store(true, Ordering::SeqCst);
        Watch { bell, spare }
    }

    /// Wakes what was queued; returns whether there was any.
    fn answer(&mut self) -> bool {
        self.bell.answer(self.spare)
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        self.bell.watching.store(false, Ordering::SeqCst);
        self.answer();
    }
}

/// The doorbell of the I/O thread this is called on, if it is one.
pub(crate) fn doorbell() -> Option<Arc<Doorbell>> {
    DOORBELL.with_borrow(Clone::clone)
}

/// An engine on this thread ran: the thread should stay awake a little longer.
#[inline]
pub(crate) fn note_activity() {
    if ACTIVE.replace(true) {
        return;
    }
    if let Some(w) = WATCHER.with_borrow_mut(Option::take) {
        w.wake();
    }
}

/// Whether an engine ran since the last call.
fn take_activity() -> bool {
    ACTIVE.replace(false)
}

/// Makes the calling thread, which runs `rt`, an I/O thread that keeps awake: installs its
/// doorbell and spawns its watcher.
pub(crate) fn install(rt: &tokio::runtime::Runtime) {
    let bell = Arc::new(Doorbell::default());
    DOORBELL.with_borrow_mut(|d| *d = Some(Arc::clone(&bell)));
    rt.spawn(keep_awake(bell));
}

/// The watcher task of an I/O thread: runs until the runtime is dropped.
async fn keep_awake(bell: Arc<Doorbell>) {
    let mut spare = Vec::new();
    let mut budget = Budget::new(MIN_BUDGET, MAX_BUDGET);
    loop {
        // Sleep until an engine runs.
        let slept = Instant::now();
        poll_fn(|cx| {
            if take_activity() {
                Poll::Ready(())
            } else {
                WATCHER.with_borrow_mut(|w| *w = Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
        budget.slept(slept.elapsed());
        let mut quiet_since = Instant::now();
        let mut hit = false;
        let mut watch = Watch::start(&bell, &mut spare);
        loop {
            // Let another thread on this CPU run, then let tokio poll its tasks and `epoll`.
            if !watch.answer() {
                std::thread::yield_now();
            }
            tokio::task::yield_now().await;
            if take_activity() {
                hit = true;
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= budget.get() {
                break;
            }
        }
        drop(watch);
        if hit {
            budget.hit();
        } else {
            budget.missed();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    use super::*;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count::default());
        (Arc::clone(&c), Waker::from(c))
    }

    #[test]
    fn a_doorbell_wakes_directly_unless_watched_and_a_watched_one_queues_until_answered() {
        let bell = Doorbell::default();
        let (count, waker) = counter();
        bell.ring(&waker);
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "not watching: woken at once"
        );

        bell.watching.store(true, Ordering::SeqCst);
        bell.ring(&waker);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "watching: queued");
        let mut spare = Vec::new();
        assert!(bell.answer(&mut spare));
        assert_eq!(count.0.load(Ordering::SeqCst), 2, "answered");
        assert!(!bell.answer(&mut spare), "nothing left");
    }

    #[test]
    fn a_watch_that_ends_or_is_dropped_wakes_what_was_queued_and_stops_queueing() {
        let bell = Doorbell::default();
        let (count, waker) = counter();
        let mut spare = Vec::new();
        {
            let _watch = Watch::start(&bell, &mut spare);
            bell.ring(&waker);
            assert_eq!(count.0.load(Ordering::SeqCst), 0, "queued while watched");
        }
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "woken as the watch ended"
        );
        bell.ring(&waker);
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            2,
            "woken directly afterwards"
        );
    }

    #[test]
    fn io_threads_have_a_doorbell_and_other_threads_none() {
        assert!(doorbell().is_none());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        install(&rt);
        assert!(doorbell().is_some());
    }
}
