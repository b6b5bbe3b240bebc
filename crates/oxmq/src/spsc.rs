//! An unbounded single-producer/single-consumer queue with batched publication.
//!
//! The producer pushes items privately, marks boundaries ([`Producer::mark`]: the end of a
//! whole message) and makes everything up to the last boundary visible with one atomic store in
//! [`Producer::flush`]; the consumer caches the published count and touches the
//! shared counter only when it has consumed everything it saw. So a steady stream costs one
//! atomic store per flush and one atomic load per batch, and no lock. Items live in chunks of
//! [`CHUNK`] slots; the consumer hands each finished chunk back through a one-chunk spare slot, so
//! a queue in steady state does not allocate. A queue whose consumer keeps up uses only the first
//! [`MIN_LIMIT`] slots of each chunk, so that the slots it cycles through stay in the cache.
//!
//! Memory orderings: `published` is written with `SeqCst` by the producer and read with `Acquire`
//! (or `SeqCst`, see [`Consumer::recheck`]) by the consumer; everything the producer wrote into a
//! slot or a `next` pointer before publishing is therefore visible to the consumer once it sees the
//! count. The `SeqCst` flavour lets the pipe layer build a Dekker-style sleep/wake handshake on top
//! (see `pipe.rs`). The spare slot is exchanged with `AcqRel`, so a chunk handed back by the
//! consumer is fully read before the producer reuses it. A chunk's `limit` is written before the
//! `Release` store that links the chunk, and read after the `Acquire` load that follows the link.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;

use oxmq_proto::prefetch;

/// Creates a queue and returns its two ends.
pub(crate) fn channel<T>() -> (Producer<T>, Consumer<T>) {
    let first = Chunk::<T>::alloc();
    let pos = Position {
        chunk: first,
        index: 0,
        count: 0,
        limit: MIN_LIMIT,
    };
    let inner = Arc::new(Inner {
        published: CachePadded(AtomicUsize::new(0)),
        spare: AtomicPtr::new(ptr::null_mut()),
        head: CachePadded(UnsafeCell::new(pos)),
        final_tail: UnsafeCell::new(None),
    });
    (
        Producer {
            inner: Arc::clone(&inner),
            published: 0,
            tail: pos,
            boundary: pos,
            limit: MIN_LIMIT,
            fresh_chunks: 0,
        },
        Consumer { inner, visible: 0 },
    )
}

/// The writing end.
///
/// Its positions are its own fields, not the shared part's: the compiler then knows that
/// writing an item into a slot does not change them, and keeps them in registers from `push`
/// to `mark` instead of reading back, with one wide load, what it had just stored as separate
/// words. Such a load cannot be served from the pending stores and waits for them, the item's
/// included, to reach the cache (a PUB writing into 100 pipes spent most of `write_unchecked`
/// there).
pub(crate) struct Producer<T> {
    inner: Arc<Inner<T>>,
    /// The count last published.
    published: usize,
    /// Where the next item goes.
    tail: Position<T>,
    /// The end of the last whole message: what `flush` may publish.
    boundary: Position<T>,
    /// How many slots of a chunk the producer fills before it moves to the next (see
    /// [`MIN_LIMIT`]).
    limit: usize,
    /// How many chunks the producer had to allocate (no spare was back).
    fresh_chunks: usize,
}

/// The reading end.
pub(crate) struct Consumer<T> {
    inner: Arc<Inner<T>>,
    /// How many items the consumer knows to be published (a cache of `published`).
    visible: usize,
}

impl<T> Producer<T> {
    /// Appends an item; it stays invisible to the consumer until a [`Producer::mark`] and a
    /// [`Producer::flush`] follow.
    #[inline]
    pub(crate) fn push(&mut self, value: T) {
        // SAFETY: the closure initialises the slot.
        unsafe {
            self.push_with(|slot| {
                slot.write(value);
            });
        }
    }

    /// [`Producer::push`] of an item that `init` writes into its slot (so that it is built
    /// there, not built and then moved). A panic in `init` leaves the queue as it was.
    ///
    /// # Safety
    /// `init` must initialise the slot it is given (when it returns; the queue later reads and
    /// drops the item).
    #[inline]
    pub(crate) unsafe fn push_with(&mut self, init: impl FnOnce(&mut MaybeUninit<T>)) {
        let tail = &mut self.tail;
        // SAFETY: `tail.chunk` is a live chunk owned by the queue and `tail.index < limit <=
        // CHUNK` (the index is reset to 0 whenever it reaches the limit below). The slot is
        // beyond the published count, so the consumer does not read it concurrently, and
        // nothing else refers to it while `init` runs.
        init(unsafe { &mut *(*tail.chunk).slots[tail.index].get() });
        if tail.index + WRITE_AHEAD < tail.limit {
            // SAFETY: the index is within the chunk; the slot is only named, not accessed.
            prefetch::for_writing(unsafe { (*tail.chunk).slots[tail.index + WRITE_AHEAD].get() });
        }
        tail.index += 1;
        tail.count = tail.count.wrapping_add(1);
        if tail.index == tail.limit {
            self.next_chunk();
        }
    }

    /// Moves the tail to the next chunk, linking one first if none is (a spare, or a new one).
    #[cold]
    fn next_chunk(&mut self) {
        let tail = &mut self.tail;
        // Link the next chunk before the last slot of this one can be published, so a consumer
        // that reads that slot always finds `next` set.
        // SAFETY: `tail.chunk` is live; its `next` is written only by the producer.
        let existing = unsafe { (*tail.chunk).next.load(Ordering::Relaxed) };
        let next = if existing.is_null() {
            let (c, fresh) = take_spare(&self.inner);
            if fresh {
                // The consumer was still in an older chunk: it lags by more than a chunk's
                // worth, so the next chunks are longer (the first fresh one only completes
                // the two-chunk cycle).
                self.fresh_chunks += 1;
                if self.fresh_chunks > 1 {
                    self.limit = (self.limit * 2).min(CHUNK);
                }
            }
            // SAFETY: `c` is the producer's alone until linked below; the consumer reads its
            // limit only after the Release store of the link.
            unsafe { (*c).limit = self.limit };
            // SAFETY: `tail.chunk` is live; see above.
            unsafe { (*tail.chunk).next.store(c, Ordering::Release) };
            c
        } else {
            // Left linked by a rollback: reuse it, with the limit it got then.
            existing
        };
        tail.chunk = next;
        tail.index = 0;
        // SAFETY: `next` is live and its limit was set before it was linked.
        tail.limit = unsafe { (*next).limit };
    }

    /// Marks everything pushed so far as publishable (the end of a whole message).
    #[inline]
    pub(crate) fn mark(&mut self) {
        // Word by word, as `push` stored them: left to itself the compiler reads the chunk and
        // the index with one 16-byte load, which cannot be served from the two 8-byte stores
        // still pending and waits for them, and for the item's store before them, to reach the
        // cache (thr tcp 16 B, pinned: 11.05M-11.61M msg/s before, 11.57M-11.96M after).
        // SAFETY: reads of this producer's own initialised fields, through references.
        unsafe {
            self.boundary = Position {
                chunk: ptr::read_volatile(&self.tail.chunk),
                index: ptr::read_volatile(&self.tail.index),
                count: ptr::read_volatile(&self.tail.count),
                limit: ptr::read_volatile(&self.tail.limit),
            };
        }
    }

    /// Publishes everything up to the last [`Producer::mark`]. Returns whether anything new was
    /// published.
    #[inline]
    pub(crate) fn flush(&mut self) -> bool {
        let boundary = self.boundary.count;
        if boundary == self.published {
            return false;
        }
        self.published = boundary;
        self.inner.published.0.swap(boundary, Ordering::SeqCst);
        true
    }

    /// Drops every item pushed since the last [`Producer::mark`].
    pub(crate) fn rollback(&mut self) {
        let mut pos = self.boundary;
        while pos.count != self.tail.count {
            // SAFETY: every slot between the boundary and the tail holds an item that was
            // written by `push` and never published, so only the producer can see it.
            unsafe { (*(*pos.chunk).slots[pos.index].get()).assume_init_drop() };
            pos.advance();
        }
        self.tail = self.boundary;
    }

    /// Number of items pushed but not yet published.
    #[cfg(test)]
    pub(crate) fn unflushed(&self) -> usize {
        self.tail.count.wrapping_sub(self.published)
    }
}

/// A free chunk: the one the consumer handed back, or a new one (then `true`).
fn take_spare<T>(inner: &Inner<T>) -> (*mut Chunk<T>, bool) {
    let spare = inner.spare.swap(ptr::null_mut(), Ordering::AcqRel);
    if spare.is_null() {
        (Chunk::alloc(), true)
    } else {
        // SAFETY: the consumer gave this chunk up through `spare`; nobody else refers to it.
        unsafe { (*spare).next.store(ptr::null_mut(), Ordering::Relaxed) };
        (spare, false)
    }
}

// SAFETY: the producer's positions point into chunks of the queue it shares with one
// consumer, which never touches the slots beyond the published count nor these positions; the
// producer moves `T`s to another thread, so `T: Send` suffices, as for `Inner`.
unsafe impl<T: Send> Send for Producer<T> {}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        // Leave the tail to whichever end drops the queue last, which drops the items up to it.
        // SAFETY: `final_tail` is written only here, by the one producer, and read only by
        // `Inner::drop`, after both ends are gone (the `Arc` orders this write before it).
        unsafe { *self.inner.final_tail.get() = Some(self.tail) };
    }
}

impl<T> Consumer<T> {
    /// Takes the next published item, if any.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.backlog() == 0 {
            self.visible = self.inner.published.0.load(Ordering::Acquire);
        }
        self.pop_known()
    }

    /// Takes the next item the consumer already knows to be published (see
    /// [`Consumer::backlog`]), without looking at the shared count: for a consumer on another
    /// core than its producer, each look at it that finds more is a cache miss, and one that
    /// keeps up with the producer finds a frame or two each time.
    #[inline]
    pub(crate) fn pop_known(&mut self) -> Option<T> {
        // SAFETY: `head` is only ever accessed by the consumer, exclusive through `&mut self`.
        let head = unsafe { &mut *self.inner.head.0.get() };
        if head.count == self.visible {
            return None;
        }
        // SAFETY: `head.count < visible <= published`, so the producer wrote this slot and
        // published it (the Acquire load above, or an earlier one, synchronises with that);
        // the producer never touches a published slot again, so we may move the item out.
        let value = unsafe { (*(*head.chunk).slots[head.index].get()).assume_init_read() };
        head.index += 1;
        head.count = head.count.wrapping_add(1);
        if head.index == head.limit {
            let done = head.chunk;
            // SAFETY: the producer linked `next` before publishing the last slot of `done`,
            // which we just read, so it is set and visible.
            let next = unsafe { (*done).next.load(Ordering::Acquire) };
            head.chunk = next;
            head.index = 0;
            // SAFETY: the producer set the limit before the link the Acquire load saw.
            head.limit = unsafe { (*next).limit };
            let old = self.inner.spare.swap(done, Ordering::AcqRel);
            if !old.is_null() {
                // SAFETY: a chunk in `spare` is owned by nobody else; we took it out.
                unsafe { Chunk::free(old) };
            }
        }
        Some(value)
    }

    /// How many published items the consumer knows of and has not popped (without looking at
    /// the shared count again).
    #[inline]
    pub(crate) fn backlog(&self) -> usize {
        // SAFETY: `head` is only ever accessed by the consumer; `&self` is the consumer.
        let head = unsafe { &*self.inner.head.0.get() };
        self.visible.wrapping_sub(head.count)
    }

    /// The item `n` places after the next one, if the consumer knows it to be published and it
    /// is in the same chunk as the next one.
    #[inline]
    pub(crate) fn peek_ahead(&self, n: usize) -> Option<&T> {
        // SAFETY: the slot is published (its count is below `visible`), so the producer wrote
        // it and never touches it again; it stays in the queue until this consumer pops it,
        // which `&self` rules out while the reference lives.
        self.peek_ahead_ptr(n)
            .map(|p| unsafe { (*p).assume_init_ref() })
    }

    /// Where the item `n` places after the next one is, on the terms of [`Consumer::peek_ahead`].
    #[inline]
    fn peek_ahead_ptr(&self, n: usize) -> Option<*const MaybeUninit<T>> {
        // SAFETY: `head` is only ever accessed by the consumer; `&self` is the consumer.
        let head = unsafe { &*self.inner.head.0.get() };
        let index = head.index + n;
        if index >= head.limit || self.backlog() <= n {
            return None;
        }
        // SAFETY: `head.chunk` is live and `index < limit <= CHUNK`.
        Some(unsafe { (*head.chunk).slots[index].get().cast_const() })
    }

    /// Asks the CPU to start loading the slot of the item `n` places after the next one, when
    /// the consumer knows it to be published and it is in the same chunk: for a consumer that
    /// reads many queues in turn, one item from each, whose next read of this queue comes long
    /// after this one and would otherwise wait for memory.
    #[inline]
    pub(crate) fn prefetch(&self, n: usize) {
        if let Some(item) = self.peek_ahead_ptr(n) {
            prefetch::for_reading(item);
        }
    }

    /// Whether an item is available, re-reading the shared count with `SeqCst` (the second half
    /// of the pipe's sleep handshake).
    #[inline]
    pub(crate) fn recheck(&mut self) -> bool {
        // SAFETY: consumer-only field, exclusive through `&mut self`.
        let head = unsafe { &*self.inner.head.0.get() };
        self.visible = self.inner.published.0.load(Ordering::SeqCst);
        head.count != self.visible
    }
}

/// How many slots ahead of the one it fills the producer asks to own a slot's line
/// ([`prefetch::for_writing`], PREFETCHW).
///
/// Why: each slot's line was last read by the consumer, on another core, a cycle of the
/// queue's slots earlier, so the producer's store into it must first take the line back; the
/// `SeqCst` swap that publishes the message then waited for that transfer, one per message.
/// Asked for early, the transfers overlap. On the AMD machine, pinned, thr inproc 16 B went from
/// 11.55M to 15.9M msg/s at eight ahead and 16.1M at four (eight alternating rounds: 1.32x-1.58x
/// and 1.30x-1.45x each); at four ahead, also unpinned 15.7M to 19.9M and fan-out inproc
/// 1 KiB x100 1.04x-1.33x (docs/BENCHMARKS.md). Eight is what the session's whole-matrix runs
/// measured.
const WRITE_AHEAD: usize = 8;

/// Slots per chunk: 128 frames of 64 bytes keep a chunk at 8 KiB, a size malloc serves from
/// its fast path, and amortise the chunk hand-off over many messages.
const CHUNK: usize = 128;

/// How many slots of a chunk a new queue uses: the producer moves to the next chunk after that
/// many, and uses twice as many of each later chunk (up to [`CHUNK`]) whenever it finds no spare
/// chunk back from the consumer, which then lags by more than a chunk's worth.
///
/// Why: a queue cycles through its chunks, so a slot is written again only after a whole
/// cycle of the queue's slots (two chunks, as the consumer hands each finished chunk back). A
/// queue that carries a few messages at a time, among a hundred others (a ROUTER's pipes to
/// its peers, and the peers' to it), touched 16 KiB of slots per cycle, 1.6 MB per direction
/// for 100 peers: every slot it wrote had left the cache, and the flush that published the
/// slot waited for the line (perf on `router tcp 16 B x100`, pinned: 14 % of the server's CPU
/// on that flush). Such a queue keeps short chunks; a queue whose consumer falls behind, as a
/// stream's does, soon uses whole ones, and keeps them.
const MIN_LIMIT: usize = 16;

/// Aligned to a cache line, so that a 64-byte item (a `Msg`) occupies exactly one line: with
/// malloc's 16-byte alignment each item would straddle two, and the consumer on the other core
/// would take two cache misses per item instead of one.
#[repr(C, align(64))]
struct Chunk<T> {
    slots: [UnsafeCell<MaybeUninit<T>>; CHUNK],
    next: AtomicPtr<Chunk<T>>,
    /// How many of `slots` are used (see [`MIN_LIMIT`]): set by the producer before it links
    /// the chunk, read by the consumer after it follows the link.
    limit: usize,
}

impl<T> Chunk<T> {
    fn alloc() -> *mut Chunk<T> {
        Box::into_raw(Box::new(Chunk {
            slots: std::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit())),
            next: AtomicPtr::new(ptr::null_mut()),
            // A queue's first chunk keeps it; the producer sets it again before it links
            // any other.
            limit: MIN_LIMIT,
        }))
    }

    /// # Safety
    /// `chunk` came from [`Chunk::alloc`], is not referenced anywhere else, and holds no live
    /// items (slots are `MaybeUninit`, so nothing is dropped here).
    unsafe fn free(chunk: *mut Chunk<T>) {
        // SAFETY: guaranteed by the caller.
        drop(unsafe { Box::from_raw(chunk) });
    }
}

struct Position<T> {
    chunk: *mut Chunk<T>,
    index: usize,
    count: usize,
    /// The chunk's `limit`, cached.
    limit: usize,
}

// Manual impls: deriving would require `T: Copy`, but a position only holds a pointer.
impl<T> Clone for Position<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Position<T> {}

impl<T> Position<T> {
    /// Moves to the next slot, following the chunk link at the end of a chunk.
    ///
    /// Only called on positions the producer already moved past, whose links are set.
    fn advance(&mut self) {
        self.index += 1;
        self.count = self.count.wrapping_add(1);
        if self.index == self.limit {
            // SAFETY: the position was passed by `push`, which linked the next chunk, with its
            // limit set, before leaving this one.
            unsafe {
                self.chunk = (*self.chunk).next.load(Ordering::Acquire);
                self.limit = (*self.chunk).limit;
            }
            self.index = 0;
        }
    }
}

struct Inner<T> {
    published: CachePadded<AtomicUsize>,
    spare: AtomicPtr<Chunk<T>>,
    head: CachePadded<UnsafeCell<Position<T>>>,
    /// The producer's tail, left by its `Drop`: the end of the items still queued.
    final_tail: UnsafeCell<Option<Position<T>>>,
}

// SAFETY: the queue moves `T`s from one thread to another, so `T: Send` suffices. The raw
// pointers are owned by the queue; `head` is touched only through the single `Consumer`,
// `final_tail` only by the `Producer`'s drop and then by the queue's, and the shared fields are
// atomics.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: see above; `&Inner` is only shared between the two unique ends.
unsafe impl<T: Send> Sync for Inner<T> {}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        // Both ends are gone: drop every item still queued, published or not, then the chunks.
        let head = *self.head.0.get_mut();
        // Without the producer's tail (it was leaked, not dropped) the items leak too.
        if let Some(tail) = *self.final_tail.get_mut() {
            let mut pos = head;
            while pos.count != tail.count {
                // SAFETY: slots from head to tail hold items written by `push` and not consumed.
                unsafe { (*(*pos.chunk).slots[pos.index].get()).assume_init_drop() };
                pos.advance();
            }
        }
        let mut chunk = head.chunk;
        while !chunk.is_null() {
            // SAFETY: the chain from the head chunk is owned by the queue; each chunk is freed
            // once, after reading its link.
            let next = unsafe { (*chunk).next.load(Ordering::Relaxed) };
            // SAFETY: see above; all items were dropped.
            unsafe { Chunk::free(chunk) };
            chunk = next;
        }
        let spare = *self.spare.get_mut();
        if !spare.is_null() {
            // SAFETY: the spare chunk is not part of the chain and holds no items.
            unsafe { Chunk::free(spare) };
        }
    }
}

/// Keeps the producer's and the consumer's hot fields on separate cache lines.
#[repr(align(128))]
struct CachePadded<T>(T);

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn a_message_fills_exactly_one_cache_line_of_a_chunk() {
        assert_eq!(std::mem::size_of::<oxmq_proto::Msg>(), 64);
        assert_eq!(std::mem::align_of::<Chunk<oxmq_proto::Msg>>(), 64);
        let chunk = Chunk::<oxmq_proto::Msg>::alloc();
        assert_eq!(chunk as usize % 64, 0);
        // SAFETY: allocated just above, holds no items, referenced nowhere else.
        unsafe { Chunk::free(chunk) };
    }

    #[test]
    fn a_queue_uses_short_chunks_until_its_consumer_lags_by_more_than_one() {
        let (mut p, mut c) = channel();
        // The consumer takes each item as it is published.
        let close_behind = |p: &mut Producer<usize>, c: &mut Consumer<usize>, n: usize| {
            for i in 0..n {
                p.push(i);
                p.mark();
                p.flush();
                assert_eq!(c.pop(), Some(i));
            }
        };
        // A consumer close behind: the spare chunk is always back, the chunks stay short.
        close_behind(&mut p, &mut c, 20 * CHUNK);
        assert_eq!(p.limit, MIN_LIMIT);
        assert_eq!(
            p.fresh_chunks, 1,
            "the first hand-over completes the two-chunk cycle"
        );
        // A consumer that lags: each chunk allocated for want of a spare is twice as long.
        for i in 0..4 * CHUNK {
            p.push(i);
        }
        p.mark();
        p.flush();
        assert_eq!(p.limit, CHUNK);
        // Items still come in order across chunks of every length.
        for i in 0..4 * CHUNK {
            assert_eq!(c.pop(), Some(i));
        }
        assert_eq!(c.pop(), None);
        // Once long, the chunks stay long.
        close_behind(&mut p, &mut c, 4 * CHUNK);
        assert_eq!(p.limit, CHUNK);
    }

    #[test]
    fn pop_known_takes_only_what_the_consumer_has_seen_published() {
        let (mut p, mut c) = channel();
        for i in 0..3 {
            p.push(i);
        }
        p.mark();
        p.flush();
        assert_eq!(c.pop_known(), None, "not looked at yet");
        assert_eq!(c.pop(), Some(0));
        p.push(3);
        p.mark();
        p.flush();
        assert_eq!(c.pop_known(), Some(1));
        assert_eq!(c.pop_known(), Some(2));
        assert_eq!(c.pop_known(), None, "3 is published but not seen");
        assert_eq!(c.pop(), Some(3));
        assert_eq!(c.pop(), None);
    }

    #[test]
    fn peek_ahead_sees_published_items_of_the_current_chunk_only() {
        let (mut p, mut c) = channel();
        for i in 0..CHUNK + 10 {
            p.push(i);
        }
        assert_eq!(c.peek_ahead(0), None, "nothing published, nothing known");
        p.mark();
        p.flush();
        assert_eq!(c.backlog(), 0, "not looked at yet");
        assert_eq!(c.pop(), Some(0));
        assert_eq!(c.backlog(), CHUNK + 9);
        assert_eq!(c.peek_ahead(0), Some(&1));
        assert_eq!(c.peek_ahead(4), Some(&5));
        // The next item is slot 1 of the first chunk: slot MIN_LIMIT - 1 is the last one it sees.
        assert_eq!(c.peek_ahead(MIN_LIMIT - 2), Some(&(MIN_LIMIT - 1)));
        assert_eq!(c.peek_ahead(MIN_LIMIT - 1), None);
        for i in 1..CHUNK + 5 {
            assert_eq!(c.pop(), Some(i));
        }
        assert_eq!(c.backlog(), 5);
        assert_eq!(c.peek_ahead(4), Some(&(CHUNK + 9)));
        assert_eq!(c.peek_ahead(5), None, "beyond what was published");
        p.push(99);
        assert_eq!(c.peek_ahead(5), None, "pushed but not published");
    }

    #[test]
    fn items_are_invisible_until_flushed() {
        let (mut p, mut c) = channel();
        p.push(1);
        p.push(2);
        assert!(!p.flush(), "nothing marked yet");
        assert_eq!(c.pop(), None);
        p.mark();
        assert!(p.flush());
        assert!(!p.flush());
        assert_eq!(c.pop(), Some(1));
        assert_eq!(c.pop(), Some(2));
        assert_eq!(c.pop(), None);
    }

    #[test]
    fn rollback_across_chunks_drops_only_unflushed_items() {
        let (mut p, mut c) = channel();
        p.push(String::from("kept"));
        p.mark();
        p.flush();
        for i in 0..(CHUNK * 2 + 5) {
            p.push(i.to_string());
        }
        assert_eq!(p.unflushed(), CHUNK * 2 + 5);
        p.rollback();
        assert_eq!(p.unflushed(), 0);
        for i in 0..(CHUNK * 3) {
            p.push(format!("after{i}"));
        }
        p.mark();
        p.flush();
        assert_eq!(c.pop().as_deref(), Some("kept"));
        for i in 0..(CHUNK * 3) {
            assert_eq!(c.pop(), Some(format!("after{i}")));
        }
        assert_eq!(c.pop(), None);
    }

    #[test]
    fn dropping_a_queue_with_items_frees_them() {
        let item = Arc::new(());
        {
            let (mut p, _c) = channel();
            for _ in 0..(CHUNK * 2 + 3) {
                p.push(Arc::clone(&item));
            }
            p.mark();
            p.flush();
            p.push(Arc::clone(&item));
        }
        assert_eq!(Arc::strong_count(&item), 1);
        // Either end may go first; the items partly consumed.
        for producer_first in [true, false] {
            let (mut p, mut c) = channel();
            for _ in 0..(CHUNK + 3) {
                p.push(Arc::clone(&item));
            }
            p.mark();
            p.flush();
            drop(c.pop());
            p.push(Arc::clone(&item));
            if producer_first {
                drop(p);
                assert_eq!(
                    Arc::strong_count(&item),
                    CHUNK + 4,
                    "the consumer still holds them"
                );
                drop(c);
            } else {
                drop(c);
                drop(p);
            }
            assert_eq!(
                Arc::strong_count(&item),
                1,
                "producer first: {producer_first}"
            );
        }
    }

    #[test]
    fn concurrent_transfer_keeps_order() {
        let n: usize = if cfg!(miri) { 1_000 } else { 200_000 };
        let (mut p, mut c) = channel();
        let t = thread::spawn(move || {
            for i in 0..n {
                p.push(i);
                if i % 7 == 0 {
                    p.mark();
                    p.flush();
                }
            }
            p.mark();
            p.flush();
        });
        let mut expected = 0;
        while expected < n {
            if let Some(v) = c.pop() {
                assert_eq!(v, expected);
                expected += 1;
            } else {
                thread::yield_now();
            }
        }
        t.join().expect("producer thread");
        assert_eq!(c.pop(), None);
    }
}
