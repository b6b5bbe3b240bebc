//! Pipes: the one-way message queues between a socket and one peer's engine.
//!
//! A pipe is a [`spsc`](crate::spsc) queue of frames plus the high-water-mark accounting and the
//! sleep/wake protocol of libzmq's `ypipe`/`pipe_t`:
//!
//! * Frames written with MORE stay invisible until the last frame of the message is written and
//!   the writer flushes; the reader therefore only ever sees whole messages.
//! * The high-water mark counts whole messages. The writer counts what it wrote, the reader
//!   publishes what it read every `lwm` messages (libzmq's credit), and the writer refuses a new
//!   message only when `written - credited_read >= hwm`.
//! * A writer gives up the CPU now and then while its thread's writers are far ahead of readers
//!   that run on the same CPU (see [`YIELD_BYTES`]): they would otherwise fill memory, and the
//!   cache, while the readers wait for the CPU they hold.
//! * A side that finds the pipe empty (reader) or full (writer) sets its `*_waiting` flag and
//!   re-checks; the other side checks the flag after publishing. Both use `SeqCst` operations, so
//!   one of them always sees the other (the Dekker pattern), and a side that is busy is never
//!   woken. Wake-ups go through a [`Notifier`]: a socket learns which pipe became readable or
//!   writable through its command queue; an engine task is simply woken.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Waker;

use oxmq_pattern::PipeId;
use oxmq_proto::{Copies, Msg};

use crate::keepawake::{self, Doorbell};
use crate::signal::{Command, SocketSignal};
use crate::spsc;

/// Creates a pipe. `hwm == 0` means no limit.
#[cfg(test)]
pub(crate) fn pipe(
    hwm: usize,
    reader_notify: Notifier,
    writer_notify: Notifier,
) -> (PipeWriter, PipeReader) {
    pipe_with(false, hwm, reader_notify, writer_notify)
}

/// Creates a pipe; a `conflate` one (ZMQ_CONFLATE) holds only the last frame written, never
/// refuses one, and ignores `hwm`, as libzmq's `ypipe_conflate`.
pub(crate) fn pipe_with(
    conflate: bool,
    hwm: usize,
    reader_notify: Notifier,
    writer_notify: Notifier,
) -> (PipeWriter, PipeReader) {
    let (producer, consumer) = spsc::channel();
    let slot = conflate.then(|| Arc::new(LastValue::default()));
    let shared = Arc::new(Shared {
        msgs_read: AtomicU64::new(0),
        bytes_read: AtomicU64::new(0),
        reader_cpu: AtomicU32::new(u32::MAX),
        reader_waiting: AtomicBool::new(false),
        writer_waiting: AtomicBool::new(false),
        writer_closed: AtomicBool::new(false),
        reader_closed: AtomicBool::new(false),
        reader_notify,
        writer_notify,
    });
    let hwm = hwm as u64;
    (
        PipeWriter {
            q: producer,
            slot: slot.clone(),
            shared: Arc::clone(&shared),
            hwm,
            watch_backlog: hwm == 0 || hwm > YIELD_BACKLOG,
            msgs_written: 0,
            bytes_written: 0,
            check_at: PACE_BYTES,
            credited: 0,
            in_message: false,
            yields: 0,
            ahead: None,
        },
        PipeReader {
            q: consumer,
            slot,
            shared,
            lwm: low_water_mark(hwm),
            msgs_read: 0,
            bytes_read: 0,
            credited: 0,
            credited_bytes: 0,
        },
    )
}

/// How a pipe wakes the side at its other end.
#[derive(Clone)]
pub(crate) enum Notifier {
    /// A socket: queue a command naming the pipe and wake the socket.
    Socket(Arc<SocketSignal>, PipeId),
    /// An engine task: wake it; it re-examines all its pipes.
    Task(Arc<TaskWaker>),
    /// A socket not known yet (an inproc connect before the bind): notifications before it is
    /// set are dropped, as the socket reads everything when it attaches the pipe.
    Late(Arc<OnceLock<(Arc<SocketSignal>, PipeId)>>),
}

impl Notifier {
    fn readable(&self) {
        match self {
            Notifier::Socket(sig, id) => sig.push(Command::ReadActivated(*id)),
            Notifier::Task(w) => w.wake(),
            Notifier::Late(l) => {
                if let Some((sig, id)) = l.get() {
                    sig.push(Command::ReadActivated(*id));
                }
            }
        }
    }

    fn writable(&self) {
        match self {
            Notifier::Socket(sig, id) => sig.push(Command::WriteActivated(*id)),
            Notifier::Task(w) => w.wake(),
            Notifier::Late(l) => {
                if let Some((sig, id)) = l.get() {
                    sig.push(Command::WriteActivated(*id));
                }
            }
        }
    }
}

/// The waker of an engine task, registered each time the task is about to sleep, with the
/// doorbell of the I/O thread it runs on.
#[derive(Default)]
pub(crate) struct TaskWaker {
    waker: Mutex<Option<(Waker, Option<Arc<Doorbell>>)>>,
}

impl TaskWaker {
    /// Records the waker to use for the next wake-up.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Some((w, _)) if w.will_wake(waker) => {}
            _ => *slot = Some((waker.clone(), keepawake::doorbell())),
        }
    }

    /// Wakes the task, if it registered a waker: through its I/O thread's doorbell, which
    /// spares the system call while that thread is awake.
    pub(crate) fn wake(&self) {
        let slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Some((w, Some(bell))) => bell.ring(w),
            Some((w, None)) => w.wake_by_ref(),
            None => {}
        }
    }
}

/// The writing end of a pipe.
pub(crate) struct PipeWriter {
    q: spsc::Producer<Msg>,
    /// A conflating pipe's only place (the queue is then unused).
    slot: Option<Arc<LastValue>>,
    shared: Arc<Shared>,
    hwm: u64,
    /// Whether the pipe can hold more than [`YIELD_BACKLOG`] messages, so that the writer
    /// counts how many messages ahead it is (it always counts bytes).
    watch_backlog: bool,
    msgs_written: u64,
    /// Bytes of bodies written.
    bytes_written: u64,
    /// At this `bytes_written` the writer looks at how far ahead it is next.
    check_at: u64,
    /// The reader's count as last seen.
    credited: u64,
    /// A frame with MORE was written and the message is not complete yet.
    in_message: bool,
    /// How many times the writer gave up its CPU for being far ahead.
    yields: u64,
    /// This pipe's part of a writing thread's [`AHEAD`], as last counted, and that sum (the
    /// writer may move to another thread).
    ahead: Option<(Arc<AtomicU64>, u64)>,
}

impl PipeWriter {
    /// Whether a new message would be accepted now. When it would not, the writer is marked as
    /// waiting and the reader will notify it once it returns credit.
    pub(crate) fn check_write(&mut self) -> bool {
        if self.in_message || self.has_credit() || self.slot.is_some() {
            return true;
        }
        self.credited = self.shared.msgs_read.load(Ordering::Acquire);
        if self.has_credit() {
            return true;
        }
        self.shared.writer_waiting.store(true, Ordering::SeqCst);
        self.credited = self.shared.msgs_read.load(Ordering::SeqCst);
        self.has_credit()
    }

    /// Writes a frame, or gives it back when the pipe is at its high-water mark. Frames after
    /// the first of a message are always accepted. A frame written to a pipe whose reader is gone
    /// is accepted and discarded with the pipe.
    #[inline]
    pub(crate) fn write(&mut self, msg: Msg) -> Result<(), Msg> {
        if !self.check_write() {
            return Err(msg);
        }
        self.write_unchecked(msg);
        Ok(())
    }

    /// Writes a frame regardless of the high-water mark (used by engines, which stop reading
    /// from the network when the pipe is full rather than drop what they already decoded).
    #[inline]
    pub(crate) fn write_unchecked(&mut self, msg: Msg) {
        if let Some(slot) = &self.slot {
            // Only one frame is kept, so it cannot announce a next one.
            slot.put(msg.with_more(false));
            return;
        }
        let (more, len) = (msg.more(), msg.len());
        self.q.push(msg);
        self.pushed(more, len);
    }

    /// [`PipeWriter::write_unchecked`] of `Msg::copy_from_slice(body)` with the MORE flag
    /// `more`, built in its slot ([`Msg::write_copy`]).
    #[inline]
    pub(crate) fn write_copy_unchecked(&mut self, body: &[u8], more: bool) {
        if self.slot.is_some() {
            self.write_unchecked(Msg::copy_from_slice(body).with_more(more));
            return;
        }
        // SAFETY: `write_copy` initialises the slot.
        unsafe {
            self.q.push_with(|slot| {
                Msg::write_copy(slot, body, more);
            });
        }
        self.pushed(more, body.len());
    }

    /// [`PipeWriter::write`] of `Msg::copy_from_slice(body)` with the MORE flag `more`, built
    /// in its slot ([`PipeWriter::write_copy_unchecked`]); returns whether the pipe took it.
    #[inline]
    pub(crate) fn write_bytes(&mut self, body: &[u8], more: bool) -> bool {
        if !self.check_write() {
            return false;
        }
        self.write_copy_unchecked(body, more);
        true
    }

    /// [`PipeWriter::write`] of a copy from `copies`, made in its slot
    /// ([`Copies::copy_into`]); returns whether the pipe took it.
    #[inline]
    pub(crate) fn write_copy(&mut self, copies: &mut Copies) -> bool {
        if !self.check_write() {
            return false;
        }
        if self.slot.is_some() {
            self.write_unchecked(copies.copy());
            return true;
        }
        let (more, len) = (copies.more(), copies.len());
        // SAFETY: `copy_into` initialises the slot.
        unsafe {
            self.q.push_with(|slot| copies.copy_into(slot));
        }
        self.pushed(more, len);
        true
    }

    /// Accounts for a frame of `len` bytes just pushed.
    #[inline]
    fn pushed(&mut self, more: bool, len: usize) {
        self.bytes_written += len as u64;
        self.in_message = more;
        if !more {
            self.q.mark();
            self.msgs_written += 1;
            if self.bytes_written >= self.check_at
                || (self.watch_backlog && self.msgs_written % MAX_CREDIT_INTERVAL == 0)
            {
                self.yield_if_far_ahead();
            }
        }
    }

    /// Gives up the CPU when the reader is more than [`YIELD_BACKLOG`] messages or
    /// [`YIELD_BYTES`] bytes behind and last returned credit from this CPU.
    #[cold]
    fn yield_if_far_ahead(&mut self) {
        self.check_at = self.bytes_written + PACE_BYTES;
        let read = self.shared.msgs_read.load(Ordering::Relaxed);
        let bytes_read = self.shared.bytes_read.load(Ordering::Relaxed);
        let here = current_cpu() == self.shared.reader_cpu.load(Ordering::Relaxed);
        let mine = if here {
            self.bytes_written.wrapping_sub(bytes_read)
        } else {
            0
        };
        let total = self.count_ahead(mine);
        if here && (self.msgs_written.wrapping_sub(read) > YIELD_BACKLOG || total > YIELD_BYTES) {
            self.yields += 1;
            std::thread::yield_now();
        }
    }

    /// Replaces this pipe's part of the sum [`AHEAD`] with `mine`, now in the calling thread's
    /// sum; returns that sum.
    fn count_ahead(&mut self, mine: u64) -> u64 {
        self.leave_ahead();
        let Ok(sum) = AHEAD.try_with(Arc::clone) else {
            return mine;
        };
        let total = sum.fetch_add(mine, Ordering::Relaxed) + mine;
        self.ahead = Some((sum, mine));
        total
    }

    /// Takes this pipe's part out of the sum it is in.
    fn leave_ahead(&mut self) {
        if let Some((sum, part)) = self.ahead.take() {
            sum.fetch_sub(part, Ordering::Relaxed);
        }
    }

    /// Publishes the complete messages written so far (the frames of an unfinished message
    /// stay invisible) and wakes the reader if it sleeps.
    #[inline]
    pub(crate) fn flush(&mut self) {
        let published = match &self.slot {
            None => self.q.flush(),
            Some(slot) => slot.is_full(),
        };
        if published && self.shared.reader_waiting.load(Ordering::SeqCst) {
            self.wake_reader();
        }
    }

    /// Drops the frames of an incomplete message.
    pub(crate) fn rollback(&mut self) {
        if self.in_message {
            self.q.rollback();
            self.in_message = false;
        }
    }

    fn has_credit(&self) -> bool {
        self.hwm == 0 || self.msgs_written.wrapping_sub(self.credited) < self.hwm
    }

    fn wake_reader(&self) {
        if self.shared.reader_waiting.swap(false, Ordering::SeqCst) {
            self.shared.reader_notify.readable();
        }
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.leave_ahead();
        self.rollback();
        self.q.flush();
        self.shared.writer_closed.store(true, Ordering::SeqCst);
        // Always tell the reader: it must learn that no more messages will come.
        self.shared.reader_waiting.store(false, Ordering::SeqCst);
        self.shared.reader_notify.readable();
    }
}

/// The reading end of a pipe.
pub(crate) struct PipeReader {
    q: spsc::Consumer<Msg>,
    slot: Option<Arc<LastValue>>,
    shared: Arc<Shared>,
    lwm: u64,
    msgs_read: u64,
    bytes_read: u64,
    credited: u64,
    credited_bytes: u64,
}

impl PipeReader {
    /// Takes the next frame. `None` means nothing is available now; the reader is then marked
    /// as waiting and will be notified when the writer publishes more, or closes.
    #[inline]
    pub(crate) fn read(&mut self) -> Option<Msg> {
        let mut out = None;
        self.read_into(&mut out, true);
        out
    }

    /// [`PipeReader::read`] into `out`, which is `None` afterwards when nothing was available:
    /// the frame is moved once, from the queue to where the socket keeps it (each layer
    /// returning it by value moved it again).
    ///
    /// Without `arm`, a read that finds nothing does not ask the writer for a notification:
    /// the caller watches the pipe itself ([`PipeReader::has_data`]) and calls
    /// [`PipeReader::arm`] before it sleeps. While it watches, the writer's flushes cost it no
    /// notification (a command and a wake-up each, when a reader keeps catching up with its
    /// writer).
    #[inline(always)]
    pub(crate) fn read_into(&mut self, out: &mut Option<Msg>, arm: bool) {
        self.read_unarmed_into(out);
        if out.is_none() && arm && self.arm() {
            self.read_unarmed_into(out);
        }
    }

    #[inline(always)]
    fn read_unarmed_into(&mut self, out: &mut Option<Msg>) {
        if let Some(slot) = &self.slot {
            *out = slot.take();
            return;
        }
        *out = self.q.pop();
        match out {
            Some(m) => {
                let (more, len, pooled) = (m.more(), m.len(), m.is_pooled());
                self.took(more, len, pooled);
            }
            None => self.return_credit(),
        }
    }

    /// The next frame among those the reader already knows to be published, without looking
    /// for newer ones (see `spsc::Consumer::pop_known`); `None` also for a conflating pipe.
    /// Never asks for a notification.
    #[inline]
    pub(crate) fn read_known(&mut self) -> Option<Msg> {
        if self.slot.is_some() {
            return None;
        }
        let m = self.q.pop_known()?;
        self.took(m.more(), m.len(), m.is_pooled());
        Some(m)
    }

    /// A frame was taken from the queue: prefetches what the next reads need, and counts it.
    #[inline(always)]
    fn took(&mut self, more: bool, len: usize, pooled: bool) {
        self.q.prefetch(0);
        if pooled && self.q.backlog() > PREFETCH_BACKLOG {
            self.q.prefetch(2 * PREFETCH_AHEAD);
            if let Some(ahead) = self.q.peek_ahead(PREFETCH_AHEAD) {
                ahead.prefetch_drop();
            }
        }
        self.account_frame(more, len);
    }

    /// Asks the writer to notify the reader's side when a frame comes (after a read found
    /// none). Returns whether one came meanwhile, in which case no notification is asked for
    /// (one the writer may still send is harmless: the socket ignores activations of active
    /// pipes).
    pub(crate) fn arm(&mut self) -> bool {
        self.shared.reader_waiting.store(true, Ordering::SeqCst);
        let ready = match &self.slot {
            None => self.q.recheck(),
            Some(slot) => slot.is_full(),
        };
        if ready {
            self.shared.reader_waiting.store(false, Ordering::Relaxed);
        }
        ready
    }

    /// Whether a frame is available to read now (without taking it).
    pub(crate) fn has_data(&mut self) -> bool {
        match &self.slot {
            None => self.q.recheck(),
            Some(slot) => slot.is_full(),
        }
    }

    /// Whether the writer closed its end; once [`PipeReader::read`] returned `None` as well,
    /// no message will ever come again.
    pub(crate) fn is_writer_closed(&self) -> bool {
        self.shared.writer_closed.load(Ordering::SeqCst)
    }

    /// A frame was read; `more` is its MORE flag.
    #[inline]
    fn account_frame(&mut self, more: bool, len: usize) {
        self.bytes_read += len as u64;
        if !more {
            self.msgs_read += 1;
            if self.msgs_read - self.credited >= self.lwm
                || self.bytes_read - self.credited_bytes >= PACE_BYTES
            {
                self.return_credit();
            }
        }
    }

    fn return_credit(&mut self) {
        if self.credited == self.msgs_read {
            return;
        }
        self.credited = self.msgs_read;
        self.credited_bytes = self.bytes_read;
        self.shared
            .bytes_read
            .store(self.bytes_read, Ordering::Relaxed);
        self.shared
            .reader_cpu
            .store(current_cpu(), Ordering::Relaxed);
        self.shared
            .msgs_read
            .store(self.msgs_read, Ordering::SeqCst);
        if self.shared.writer_waiting.load(Ordering::SeqCst)
            && self.shared.writer_waiting.swap(false, Ordering::SeqCst)
        {
            self.shared.writer_notify.writable();
        }
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        self.shared.reader_closed.store(true, Ordering::SeqCst);
        self.shared.writer_waiting.store(false, Ordering::SeqCst);
        self.shared.writer_notify.writable();
    }
}

/// The one place of a conflating pipe. `full` mirrors the content (both change under the
/// lock) so that the sleep/wake protocol can check it with a `SeqCst` load.
#[derive(Default)]
struct LastValue {
    msg: Mutex<Option<Msg>>,
    full: AtomicBool,
}

impl LastValue {
    fn put(&self, m: Msg) {
        let mut g = self.msg.lock().unwrap_or_else(|e| e.into_inner());
        *g = Some(m);
        self.full.store(true, Ordering::SeqCst);
    }

    fn take(&self) -> Option<Msg> {
        let mut g = self.msg.lock().unwrap_or_else(|e| e.into_inner());
        self.full.store(false, Ordering::SeqCst);
        g.take()
    }

    fn is_full(&self) -> bool {
        self.full.load(Ordering::SeqCst)
    }
}

struct Shared {
    msgs_read: AtomicU64,
    bytes_read: AtomicU64,
    reader_cpu: AtomicU32,
    reader_waiting: AtomicBool,
    writer_waiting: AtomicBool,
    writer_closed: AtomicBool,
    reader_closed: AtomicBool,
    reader_notify: Notifier,
    writer_notify: Notifier,
}

/// How far ahead of the frame it reads a pipe's reader asks for a later frame's body, once it
/// is [`PREFETCH_BACKLOG`] frames behind the writer and the frames have pooled bodies.
///
/// Why: dropping a pooled body reads its block's reference count, in a cache line the writer
/// wrote (it made the body) on another core; perf put 93 % of `Block::drop` on that load and
/// half the reader's time in `Block::drop` in `thr inproc 256 B`, the reader being the slower
/// side. Asking for the line four frames early overlaps those waits: `thr inproc 256 B` went
/// from 8.6M-9.6M to 13.9M-14.5M msg/s and `1 KiB` from 7.4M to 11.1M-11.9M. Only a reader well
/// behind looks ahead: one close behind would read slots the writer is about to fill around,
/// and took cache lines from it (`thr inproc 16 B` fell from 15.5M to 5.6M-8.8M msg/s when every
/// read looked ahead); and only for pooled bodies, which inline ones do not need.
const PREFETCH_AHEAD: usize = 4;
/// See [`PREFETCH_AHEAD`].
const PREFETCH_BACKLOG: usize = 64;

/// How often the reader returns credit: every `lwm` messages, libzmq's low-water mark, but at
/// least every [`MAX_CREDIT_INTERVAL`] messages (and every [`PACE_BYTES`] bytes), so that the
/// writer knows how far ahead it is (see [`YIELD_BYTES`]).
fn low_water_mark(hwm: u64) -> u64 {
    let lwm = if hwm == 0 {
        MAX_CREDIT_INTERVAL
    } else if hwm > MAX_WM_DELTA * 2 {
        hwm - MAX_WM_DELTA
    } else {
        hwm.div_ceil(2)
    };
    lwm.min(MAX_CREDIT_INTERVAL)
}

/// See [`low_water_mark`]; a writer that watches its backlog looks at the reader's count this
/// often too.
const MAX_CREDIT_INTERVAL: u64 = 1024;

/// How many bytes of bodies a thread's writers may be ahead of their readers on its CPU, all
/// its pipes together ([`AHEAD`]), before a writer whose reader last returned credit from that
/// CPU gives it up (`sched_yield`). A writer looks every [`PACE_BYTES`] bytes, and every
/// [`MAX_CREDIT_INTERVAL`] messages for a pipe that can hold more than [`YIELD_BACKLOG`]
/// messages, the other bound (per pipe). It never waits, and a pipe's limit is unchanged.
///
/// Why: an application thread and its I/O thread share a CPU whenever a machine has fewer CPUs
/// than busy threads. The writer, which does less per message, kept the CPU for whole time
/// slices and ran up to its high-water mark ahead: 1,000 messages of 64 KiB are 64 MB, and a
/// PUB with `ZMQ_SNDHWM` 0 (the fan-out benchmark) queued hundreds of thousands. Every body
/// then went to memory the cache had lost, or the kernel had to fault in, and the reader
/// copied it back from there: perf on `thr tcp 64 KiB`, pinned, put a third of the sending
/// CPU in the application's copy of each body (about 10 GB/s, a quarter of this machine's
/// memcpy rate) and another third in the kernel's copy out of it. A reader on another CPU is
/// not helped by a yield, so the writer leaves the CPU only to a reader that last ran on it.
///
/// Pinned (`oxmq bench --pin`), msg/s before and after: thr tcp 64 KiB 48k-52k → 106k-109k,
/// 8 KiB 509k-612k → 696k-759k; thr ipc 64 KiB 44k-46k → 96k-99k; fan-out tcp 1 KiB x1
/// 1.23M-1.36M → 3.01M-3.12M deliveries/s (peak RSS 1.1 GB → 23 MB with 2M messages), x10
/// 1.39M-1.46M → 1.91M-1.95M, x100 1.02M-1.23M → 1.28M-1.35M.
///
/// Why the pipes together: the I/O thread of 100 SUBs wrote 100 pipes, each allowed 1 MiB
/// ahead, and the subscribers read cold bodies still; 256 KiB a pipe helped them but cost a
/// single stream half its speed (thr tcp 64 KiB 100k → 59k msg/s). Counted together, fan-out
/// tcp 1 KiB x100 went from 1.16M-1.24M to 1.36M-1.60M deliveries/s (x10 and fan-out inproc
/// 1 KiB x10/x100 gained 5 %-15 %), with the single stream as it was. A pipe's part is its
/// backlog when its writer last looked, so a pipe that stops being written keeps a part that
/// may be stale until it goes; a stale part costs at most an early yield.
const YIELD_BYTES: u64 = 1 << 20;

thread_local! {
    /// How many bytes of bodies this thread's writers are ahead of their readers on its CPU,
    /// summed over its pipes as each writer last counted (see [`YIELD_BYTES`]). Shared, so that
    /// a writer that moved to another thread (with its socket) takes its part out of the sum
    /// it put it in.
    static AHEAD: Arc<AtomicU64> = Arc::new(AtomicU64::new(0));
}

/// The message bound of [`YIELD_BYTES`]: 4,096 messages.
const YIELD_BACKLOG: u64 = 4096;

/// How often, in bytes of bodies, a reader returns credit and a writer looks how far ahead it
/// is (see [`YIELD_BYTES`]).
///
/// 128 KiB rather than 256: the I/O thread of 100 SUBs, which looks at each pipe after so many
/// bytes written to it, had a stale sum (fan-out tcp 1 KiB x100, pinned, 5 runs each: 1.39M-1.79M
/// deliveries/s at 256 KiB, 1.74M-2.71M at 128 KiB); at 64 KiB thr tcp 8 KiB lost 10 %, at
/// 128 KiB single streams, fan-out x1/x10 and ROUTER are as they were.
const PACE_BYTES: u64 = 128 << 10;

/// The CPU the calling thread runs on (a hint: it may move right after), or `u32::MAX - 1`
/// when unknown (a reader's CPU is `u32::MAX` until it first returns credit, so an unknown CPU
/// never matches it).
fn current_cpu() -> u32 {
    #[cfg(miri)]
    return 0;
    #[cfg(not(miri))]
    {
        // SAFETY: FFI without arguments or memory access; it returns -1 on failure.
        let cpu = unsafe { libc::sched_getcpu() };
        u32::try_from(cpu).unwrap_or(u32::MAX - 1)
    }
}

/// libzmq's `max_wm_delta`: large HWMs return credit this many messages before the mark.
const MAX_WM_DELTA: u64 = 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct CountingWake(AtomicUsize);

    impl Wake for CountingWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn task_notifier() -> (Notifier, Arc<CountingWake>) {
        let count = Arc::new(CountingWake(AtomicUsize::new(0)));
        let tw = Arc::new(TaskWaker::default());
        tw.register(&Waker::from(Arc::clone(&count)));
        (Notifier::Task(tw), count)
    }

    /// Keeps the calling test thread on the CPU it runs on, so that a reader and a writer on
    /// it stay on one CPU (the yield needs that).
    fn stay_on_this_cpu() {
        #[cfg(not(miri))]
        // SAFETY: FFI on a zeroed, then filled, local `cpu_set_t` that outlives the calls.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(current_cpu() as usize, &mut set);
            let r = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            assert_eq!(r, 0, "sched_setaffinity");
        }
    }

    #[test]
    fn a_writer_many_messages_ahead_yields_and_one_close_behind_does_not() {
        stay_on_this_cpu();
        for hwm in [0, 100_000] {
            let (rn, _) = task_notifier();
            let (wn, _) = task_notifier();
            let (mut w, mut r) = pipe(hwm, rn, wn);
            // Close behind: the reader takes each message as it comes.
            for _ in 0..3 * YIELD_BACKLOG {
                assert!(w.write(Msg::from("m")).is_ok());
                w.flush();
                assert!(r.read().is_some());
            }
            assert_eq!(w.yields, 0, "hwm {hwm}");
            // Far ahead: the reader stops. Looks at 4096 (not beyond), then 5120, 6144, 7168.
            let ahead = YIELD_BACKLOG + 3 * MAX_CREDIT_INTERVAL;
            for _ in 0..ahead {
                assert!(w.write(Msg::from("m")).is_ok());
            }
            w.flush();
            assert_eq!(w.yields, 3, "hwm {hwm}");
            // The reader catches up and returns credit: no more yields.
            for _ in 0..ahead {
                assert!(r.read().is_some());
            }
            for _ in 0..2 * MAX_CREDIT_INTERVAL {
                assert!(w.write(Msg::from("m")).is_ok());
            }
            assert_eq!(w.yields, 3, "hwm {hwm}");
        }
        // A limit below the message bound: only bytes are watched.
        let (rn, _) = task_notifier();
        let (wn, _) = task_notifier();
        let (w, _r) = pipe(1000, rn, wn);
        assert!(!w.watch_backlog);
    }

    /// A 16 KiB frame.
    fn frame_16k() -> Msg {
        Msg::from(vec![0x5a_u8; 16 << 10])
    }

    /// Writes `n` 16 KiB frames, reading each as it comes when `read` is given.
    fn write_16k(w: &mut PipeWriter, mut read: Option<&mut PipeReader>, n: usize) {
        for _ in 0..n {
            assert!(w.write(frame_16k()).is_ok());
            if let Some(r) = read.as_deref_mut() {
                w.flush();
                assert!(r.read().is_some());
            }
        }
    }

    /// A pipe (HWM 1000) whose reader took 256 KiB of frames as they came, so that it returned
    /// credit from this CPU.
    fn pipe_read_close_behind() -> (PipeWriter, PipeReader) {
        let (rn, _) = task_notifier();
        let (wn, _) = task_notifier();
        let (mut w, mut r) = pipe(1000, rn, wn);
        write_16k(&mut w, Some(&mut r), 16);
        (w, r)
    }

    #[test]
    fn a_writer_many_bytes_ahead_yields_to_a_reader_on_its_cpu_only() {
        stay_on_this_cpu();
        let (mut w, mut r) = pipe_read_close_behind();
        // Close behind over 4 MiB more.
        write_16k(&mut w, Some(&mut r), 240);
        assert_eq!(w.yields, 0);
        // 100 messages (1.56 MiB) ahead: looks every 8 (128 KiB); at 1 MiB not beyond, then
        // at 1.125, 1.25, 1.375 and 1.5 MiB it yields.
        write_16k(&mut w, None, 100);
        w.flush();
        assert_eq!(w.yields, 4);
        for _ in 0..100 {
            assert!(r.read().is_some());
        }
        // As far ahead of a reader last seen on another CPU: no yield.
        let elsewhere = current_cpu().wrapping_add(1);
        w.shared.reader_cpu.store(elsewhere, Ordering::Relaxed);
        write_16k(&mut w, None, 100);
        assert_eq!(w.yields, 4);
    }

    #[test]
    fn a_thread_yields_when_its_pipes_together_are_far_ahead() {
        stay_on_this_cpu();
        let (mut a, ra) = pipe_read_close_behind();
        let (mut b, _rb) = pipe_read_close_behind();
        // 768 KiB ahead on one pipe: below the bound.
        write_16k(&mut a, None, 48);
        assert_eq!(a.yields, 0);
        // 256 KiB more on the other: 1 MiB together, not beyond; 384 and 512 KiB: beyond.
        write_16k(&mut b, None, 32);
        assert_eq!(b.yields, 2);
        // A pipe that goes takes its part with it: 768 KiB ahead in all.
        drop((a, ra));
        write_16k(&mut b, None, 16);
        assert_eq!(b.yields, 2);
    }

    #[test]
    fn a_writer_moved_to_another_thread_takes_its_part_with_it() {
        stay_on_this_cpu();
        // 768 KiB ahead here, then the writer moves and looks again on another thread.
        let (mut a, ra) = pipe_read_close_behind();
        write_16k(&mut a, None, 48);
        let moved = std::thread::spawn(move || {
            write_16k(&mut a, None, 16);
            (a, ra)
        })
        .join()
        .expect("the writer's thread");
        // This thread's sum no longer holds it: 512 KiB ahead on another pipe stays below
        // the bound (with it, 1.28 MiB would be beyond).
        let (mut b, _rb) = pipe_read_close_behind();
        write_16k(&mut b, None, 32);
        assert_eq!(b.yields, 0);
        drop(moved);
    }

    #[test]
    fn hwm_counts_whole_messages() {
        let (rn, _) = task_notifier();
        let (wn, _) = task_notifier();
        let (mut w, mut r) = pipe(2, rn, wn);
        for _ in 0..2 {
            assert!(w.write(Msg::from("a").with_more(true)).is_ok());
            assert!(w.write(Msg::from("b").with_more(true)).is_ok());
            assert!(w.write(Msg::from("c")).is_ok());
        }
        assert!(w.write(Msg::from("x")).is_err());
        w.flush();
        assert_eq!(r.read().as_deref(), Some(&b"a"[..]));
        assert_eq!(r.read().as_deref(), Some(&b"b"[..]));
        assert_eq!(r.read().as_deref(), Some(&b"c"[..]));
        // lwm for hwm 2 is 1: credit for one message came back.
        assert!(w.write(Msg::from("x")).is_ok());
    }

    #[test]
    fn write_bytes_builds_whole_messages_and_counts_them_against_the_hwm() {
        let (rn, _) = task_notifier();
        let (wn, _) = task_notifier();
        let (mut w, mut r) = pipe(2, rn, wn);
        let long = [9u8; 300];
        // Two messages, each an inline frame and a pooled one.
        for _ in 0..2 {
            assert!(w.write_bytes(b"head", true));
            assert!(w.write_bytes(&long, false));
        }
        assert!(!w.write_bytes(b"x", false), "at the HWM");
        w.flush();
        for _ in 0..2 {
            let head = r.read().expect("head");
            assert_eq!(
                (head.data(), head.more(), head.is_pooled()),
                (&b"head"[..], true, false)
            );
            let body = r.read().expect("body");
            assert_eq!(
                (body.data(), body.more(), body.is_pooled()),
                (&long[..], false, true)
            );
        }
        assert!(r.read().is_none());
        assert!(w.write_bytes(b"x", false), "credit came back");
    }

    #[test]
    fn a_reader_far_behind_reads_pooled_and_inline_frames_in_order() {
        let (rn, _) = task_notifier();
        let (wn, _) = task_notifier();
        let (mut w, mut r) = pipe(0, rn, wn);
        // Pooled bodies (looked ahead at), inline ones, and pooled ones again, over chunk ends.
        let body = |i: usize| vec![i as u8; if (100..200).contains(&i) { 8 } else { 300 }];
        for i in 0..400 {
            w.write_unchecked(Msg::copy_from_slice(&body(i)));
        }
        w.flush();
        for i in 0..400 {
            let m = r.read().expect("published");
            assert_eq!(m.is_pooled(), m.len() > Msg::INLINE_CAPACITY);
            assert_eq!(m.data(), body(i));
        }
        assert!(r.read().is_none());
    }

    #[test]
    fn partial_messages_stay_invisible() {
        let (rn, _) = task_notifier();
        let (wn, _) = task_notifier();
        let (mut w, mut r) = pipe(0, rn, wn);
        w.write_unchecked(Msg::from("head").with_more(true));
        w.flush();
        assert!(r.read().is_none());
        w.write_unchecked(Msg::from("tail"));
        w.flush();
        assert!(r.read().is_some_and(|m| m.more()));
        assert!(r.read().is_some_and(|m| !m.more()));
    }

    #[test]
    fn read_known_neither_looks_for_new_frames_nor_arms() {
        let (rn, woken) = task_notifier();
        let (wn, _) = task_notifier();
        let (mut w, mut r) = pipe(0, rn, wn);
        w.write_unchecked(Msg::from("a"));
        w.write_unchecked(Msg::from("b"));
        w.flush();
        assert_eq!(r.read_known(), None, "published but not seen yet");
        assert_eq!(r.read().as_deref(), Some(&b"a"[..]));
        w.write_unchecked(Msg::from("c"));
        w.flush();
        assert_eq!(r.read_known().as_deref(), Some(&b"b"[..]));
        assert_eq!(r.read_known(), None, "c is not looked for");
        assert!(!r.shared.reader_waiting.load(Ordering::SeqCst), "not armed");
        assert_eq!(r.read().as_deref(), Some(&b"c"[..]));
        assert_eq!(woken.0.load(Ordering::SeqCst), 0);
        // A conflating pipe has nothing known ahead.
        let (rn, _) = task_notifier();
        let (wn, _) = task_notifier();
        let (mut w, mut r) = pipe_with(true, 0, rn, wn);
        w.write_unchecked(Msg::from("x"));
        w.flush();
        assert_eq!(r.read_known(), None);
        assert_eq!(r.read().as_deref(), Some(&b"x"[..]));
    }

    #[test]
    fn frames_copied_in_place_read_as_frames_written() {
        for conflate in [false, true] {
            let (rn, _) = task_notifier();
            let (wn, _) = task_notifier();
            let (mut w, mut r) = pipe_with(conflate, 0, rn, wn);
            let long = vec![7_u8; Msg::INLINE_CAPACITY + 1];
            w.write_copy_unchecked(b"head", true);
            w.flush();
            if !conflate {
                assert!(r.read().is_none(), "a partial message stays invisible");
            }
            w.write_copy_unchecked(&long, false);
            w.flush();
            if !conflate {
                assert_eq!(r.read(), Some(Msg::from("head").with_more(true)));
            }
            assert_eq!(r.read(), Some(Msg::from(long.clone())));
            assert!(r.read().is_none());
            // A conflating pipe keeps no counts.
            let counted = if conflate { 0 } else { 4 + long.len() as u64 };
            assert_eq!(w.bytes_written, counted);
        }
    }

    #[test]
    fn fan_out_copies_made_in_the_pipe_read_as_the_frame_and_respect_the_hwm() {
        for conflate in [false, true] {
            for body in [&b"short"[..], &[9_u8; 300][..]] {
                let (rn, _) = task_notifier();
                let (wn, _) = task_notifier();
                let (mut w, mut r) = pipe_with(conflate, 1, rn, wn);
                let head = Msg::copy_from_slice(b"head").with_more(true);
                let frame = Msg::copy_from_slice(body);
                let (mut heads, mut copies) = (head.copies(2), frame.copies(2));
                assert!(w.write_copy(&mut heads));
                assert!(w.write_copy(&mut copies));
                w.flush();
                if conflate {
                    // Only the last frame is kept, and the pipe never refuses one.
                    assert!(w.write_copy(&mut copies));
                    assert_eq!(r.read().as_ref(), Some(&frame));
                } else {
                    assert_eq!(w.bytes_written, (4 + body.len()) as u64);
                    // HWM 1: the second message is refused, and nothing of it is queued.
                    assert!(!w.write_copy(&mut heads));
                    w.flush();
                    assert_eq!(r.read().as_ref(), Some(&head));
                    assert_eq!(r.read().as_ref(), Some(&frame));
                }
                assert!(r.read().is_none());
                drop((heads, copies));
                assert!(!frame.is_shared(), "every copy gave its reference back");
            }
        }
    }

    #[test]
    fn sleeping_reader_is_woken_once_and_busy_reader_never() {
        let (rn, reads) = task_notifier();
        let (wn, _) = task_notifier();
        let (mut w, mut r) = pipe(0, rn, wn);
        w.write_unchecked(Msg::from("1"));
        w.flush();
        assert_eq!(reads.0.load(Ordering::SeqCst), 0, "reader was not asleep");
        assert!(r.read().is_some());
        assert!(r.read().is_none());
        w.write_unchecked(Msg::from("2"));
        w.flush();
        w.write_unchecked(Msg::from("3"));
        w.flush();
        assert_eq!(reads.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn full_writer_is_woken_when_credit_returns() {
        let (rn, _) = task_notifier();
        let (wn, writes) = task_notifier();
        let (mut w, mut r) = pipe(4, rn, wn);
        for _ in 0..4 {
            assert!(w.write(Msg::from("m")).is_ok());
        }
        w.flush();
        assert!(!w.check_write());
        assert!(r.read().is_some());
        assert!(r.read().is_some());
        assert_eq!(writes.0.load(Ordering::SeqCst), 1);
        assert!(w.check_write());
    }

    #[test]
    fn rollback_discards_incomplete_message() {
        let (rn, _) = task_notifier();
        let (wn, _) = task_notifier();
        let (mut w, mut r) = pipe(0, rn, wn);
        w.write_unchecked(Msg::from("lost").with_more(true));
        w.rollback();
        w.write_unchecked(Msg::from("kept"));
        w.flush();
        assert_eq!(r.read().as_deref(), Some(&b"kept"[..]));
        assert!(r.read().is_none());
    }

    #[test]
    fn conflating_pipe_keeps_only_the_last_frame_and_never_refuses() {
        let (rn, reads) = task_notifier();
        let (wn, _) = task_notifier();
        let (mut w, mut r) = pipe_with(true, 1, rn, wn);
        assert!(r.read().is_none());
        for i in 0..10 {
            assert!(w.write(Msg::from(format!("m{i}"))).is_ok());
        }
        w.flush();
        assert_eq!(
            reads.0.load(Ordering::SeqCst),
            1,
            "the sleeping reader is woken"
        );
        assert!(r.has_data());
        assert_eq!(r.read().as_deref(), Some(&b"m9"[..]));
        assert!(r.read().is_none());
        w.write_unchecked(Msg::from("head").with_more(true));
        w.write_unchecked(Msg::from("tail"));
        w.flush();
        let m = r.read().expect("last frame");
        assert_eq!(m.data(), b"tail");
        assert!(!m.more());
    }

    #[test]
    fn closing_writer_notifies_reader_after_last_message() {
        let (rn, reads) = task_notifier();
        let (wn, _) = task_notifier();
        let (mut w, mut r) = pipe(0, rn, wn);
        w.write_unchecked(Msg::from("last"));
        w.write_unchecked(Msg::from("partial").with_more(true));
        drop(w);
        assert!(reads.0.load(Ordering::SeqCst) >= 1);
        assert_eq!(r.read().as_deref(), Some(&b"last"[..]));
        assert!(r.read().is_none());
        assert!(r.is_writer_closed());
    }
}
