//! Recycled message bodies: [`Block`].
//!
//! A body longer than [`Msg::INLINE_CAPACITY`](crate::Msg::INLINE_CAPACITY) and at most
//! [`MAX_LEN`] bytes that oxmq copies (a `send(&[u8])`, `zmq_msg_init_size`) lives in a block
//! of the pool of the thread that made it. Whichever thread drops the last frame referring to
//! the block gives it back to that pool, and the owning thread takes it again for a later body.
//!
//! Why: a message is made on one thread and dropped on another (the receiving application, or
//! the I/O thread once it is written). With glibc, the free takes the lock of the arena the
//! sending thread allocates from, once per message, and the two threads then contend for it
//! (perf on `thr inproc 256 B`: `_int_malloc`, `_int_free`, `__lll_lock_wait_private` and the
//! futex calls behind that lock were about 40 % of the samples). Here the hand-back is one
//! compare-and-swap on a list of the owner's for a batch of blocks (a thread chains the blocks
//! it drops, see [`Returning`]), and the owner takes the whole list at once.
//!
//! The rules that keep it sound:
//! - A block's header holds its reference count, its size class, and the pool it returns to,
//!   on a cache line of its own before the body's first. A block waiting in a pool's lists has
//!   a count of 1, which the last reference leaves there, so that taking it writes nothing.
//!   Pools are never freed: a thread's pool outlives the thread and is adopted by a later one,
//!   so a block dropped at any time finds its pool.
//! - The returned list of a pool is pushed to by any thread (a chain at a time) and only ever
//!   emptied whole (swap with null) by its owner, so there is no ABA problem.
//! - A block waiting in a thread's [`Returning`] chain belongs to that chain alone; the chain is
//!   handed over when full, when a block of another pool or class comes, or when the thread
//!   ends, so it holds at most a batch per thread.
//! - What a pool keeps is bounded per size class ([`cap`], plus at most a batch); beyond it,
//!   blocks go back to the allocator.

use std::alloc::{self, Layout};
use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::sync::atomic::{fence, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Size classes: capacities of 64 bytes to 64 KiB, doubling.
const CLASSES: usize = 11;
const MIN_CAPACITY: usize = 64;
/// The longest body a block holds.
pub(crate) const MAX_LEN: usize = MIN_CAPACITY << (CLASSES - 1);
/// What a pool keeps of a class of bodies longer than [`CACHE_BLOCKS_UP_TO`], in bytes of
/// bodies (at least [`MIN_CACHED`] blocks).
const CACHE_BYTES: usize = 256 << 10;
const MIN_CACHED: usize = 8;
/// What a pool keeps of a class of bodies up to [`CACHE_BLOCKS_UP_TO`], in blocks: what a
/// stream has in flight at the default high-water mark of 1,000 messages. With 256 KiB of 1 KiB
/// bodies (256 blocks), `thr tcp 1 KiB` had more in its pipe and its I/O thread's write batch
/// than its pool kept: the I/O thread freed the excess to the allocator and the sender
/// allocated it again (with 1,024: 2.85M-3.10M → 2.93M-3.57M msg/s, ipc 2.51M-2.60M →
/// 2.81M-2.90M, pinned). Bodies of 64 and 128 bytes keep fewer blocks than the byte bound
/// gave them (4,096 and 2,048); bodies of 512 bytes and 1 KiB more.
const CACHE_BLOCKS: usize = 1024;
const CACHE_BLOCKS_UP_TO: usize = 1024;
/// A cache line.
const LINE: usize = 64;
/// Bodies start this far into a block: the header has a cache line of its own and the body
/// starts on the next. The thread that drops a block reads its count and links it into a chain
/// through `next`, while the owner fills the body of the next block it takes: sharing a line
/// (and, unaligned, the line a neighbouring block's body starts on), they took it from each
/// other for every message (the sending thread of `thr inproc 256 B` spent a fifth of its time
/// waiting for it in the move that follows the copy of the body).
const HEADER: usize = LINE;
/// The alignment blocks are allocated with: glibc's own (asked for 64, it takes its slow
/// `memalign` path, and `malloc_consolidate` with it: `thr tcp 1 KiB`, whose sender allocates
/// part of its blocks, lost 15 %).
const ALIGN: usize = 16;
/// Room before a block's header, so that the header can start on a cache line whatever
/// 16-byte-aligned address the allocator gives.
const PAD: usize = LINE - ALIGN;
/// Above this many references a count could overflow; `Arc` aborts there too.
const MAX_REFS: usize = isize::MAX as usize;

#[repr(C)]
struct Header {
    refs: AtomicUsize,
    /// The next block of the free list the block is in (only meaningful while it is in one).
    next: AtomicPtr<Header>,
    /// The pool it goes back to; null for a block made where the thread's pool was gone (in a
    /// thread-local destructor), which goes back to the allocator.
    home: *const Pool,
    class: usize,
    /// How far into its allocation the block starts (at most [`PAD`]).
    offset: usize,
}

const _: () = assert!(std::mem::size_of::<Header>() <= HEADER && HEADER % ALIGN == 0);

/// A pool: one returned list per size class. Never freed (see the module's rules).
struct Pool {
    classes: [Returned; CLASSES],
}

/// Blocks given back by any thread, taken whole by the owner. Its own cache line, so that
/// classes in use on different threads do not share one.
#[repr(align(64))]
struct Returned {
    head: AtomicPtr<Header>,
    /// About how many blocks `head` holds: pushes count up to [`cap`], the owner's take sets
    /// it back to 0 (a push that races the take may be miscounted; the bound stays a bound
    /// within a few blocks).
    count: AtomicUsize,
}

/// Pools whose thread has ended, for the next thread to adopt.
static ORPHANS: Mutex<Vec<&'static Pool>> = Mutex::new(Vec::new());

/// The owner's side of a thread's pool: its free lists (blocks taken from the returned lists,
/// owned by this thread alone).
struct Local {
    pool: &'static Pool,
    free: [Cell<*mut Header>; CLASSES],
    /// Blocks of each class this thread had to get from the allocator since it last found
    /// blocks given back (see [`recycles`]).
    misses: [Cell<usize>; CLASSES],
}

thread_local! {
    static LOCAL: Local = Local::new();
}

impl Local {
    fn new() -> Local {
        let adopted = ORPHANS.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let pool = adopted.unwrap_or_else(|| {
            Box::leak(Box::new(Pool {
                classes: std::array::from_fn(|_| Returned {
                    head: AtomicPtr::new(ptr::null_mut()),
                    count: AtomicUsize::new(0),
                }),
            }))
        });
        Local {
            pool,
            free: std::array::from_fn(|_| Cell::new(ptr::null_mut())),
            misses: std::array::from_fn(|_| Cell::new(0)),
        }
    }

    /// A block of class `class` this thread had before, with one reference; `None` if it has
    /// none.
    fn take(&self, class: usize) -> Option<NonNull<Header>> {
        let mut head = self.free[class].get();
        if head.is_null() {
            let returned = &self.pool.classes[class];
            if returned.head.load(Ordering::Relaxed).is_null() {
                self.misses[class].set(self.misses[class].get().saturating_add(1));
                return None;
            }
            // Acquire: the blocks' last users' writes (and their reads) come before our reuse.
            head = returned.head.swap(ptr::null_mut(), Ordering::Acquire);
            returned.count.store(0, Ordering::Relaxed);
            self.misses[class].set(0);
        }
        let block = NonNull::new(head)?;
        // SAFETY: `block` heads a list only this thread holds (the free list, or the returned
        // list it has just detached); each block in it is a live allocation of class `class`
        // with no other reference.
        let header = unsafe { block.as_ref() };
        let next = header.next.load(Ordering::Relaxed);
        self.free[class].set(next);
        // The next block's header was last written by the thread that gave it back: start
        // loading its cache line now, so that the next take's read of it does not wait. Only
        // for reading: the thread that drops the block reads the header again, and taking the
        // line away from it would cost that read a miss.
        crate::prefetch::for_reading(next);
        // A block comes back with its count at 1 (see `Drop`): nothing to store.
        debug_assert_eq!(header.refs.load(Ordering::Relaxed), 1);
        Some(block)
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        for (class, free) in self.free.iter().enumerate() {
            free_list(free.replace(ptr::null_mut()), class);
            let returned = &self.pool.classes[class];
            free_list(
                returned.head.swap(ptr::null_mut(), Ordering::Acquire),
                class,
            );
            returned.count.store(0, Ordering::Relaxed);
        }
        ORPHANS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.pool);
    }
}

/// Whether a body of `len` bytes copied on this thread now would live in a recycled block:
/// the thread's pool has blocks of its size, or has not yet had to take many of them
/// ([`drought`]) from the allocator without any coming back. When it has, the blocks it
/// gives out are not coming back as fast as it gives them (the consumers have a backlog), and
/// each further copy would cost an allocation on this thread and a free on another: a caller
/// that can share the bytes instead (the decoder, with its read buffer) had better do so until
/// blocks come back.
pub(crate) fn recycles(len: usize) -> bool {
    if len > MAX_LEN {
        return false;
    }
    let class = class_of(len);
    LOCAL
        .try_with(|local| {
            !local.free[class].get().is_null()
                || !local.pool.classes[class]
                    .head
                    .load(Ordering::Relaxed)
                    .is_null()
                || local.misses[class].get() < drought(class)
        })
        .unwrap_or(false)
}

/// How many blocks of class `class` in a row the pool takes from the allocator, none coming
/// back, before [`recycles`] says no: a cap's worth, and at least a thousand, so that
/// consumers that give blocks back in bursts larger than the cap of a large class (32 blocks of
/// 8 KiB) do not count as a backlog (`thr tcp 8 KiB` lost 7 % with a cap's worth alone).
fn drought(class: usize) -> usize {
    cap(class).max(1024)
}

/// Gives every block of the list at `head` back to the allocator.
fn free_list(mut head: *mut Header, class: usize) {
    while let Some(block) = NonNull::new(head) {
        // SAFETY: the caller owns the list; `block` is a live block of class `class` that
        // nothing else refers to.
        head = unsafe { block.as_ref() }.next.load(Ordering::Relaxed);
        // SAFETY: as above; it was allocated with `layout(class)`, `offset` bytes before it.
        unsafe {
            let start = block.as_ptr().cast::<u8>().sub(block.as_ref().offset);
            alloc::dealloc(start, layout(class));
        }
    }
}

/// The size class for a body of `len` bytes (`len <= MAX_LEN`).
fn class_of(len: usize) -> usize {
    let shift = (len.max(MIN_CAPACITY) - 1).ilog2() + 1;
    shift as usize - MIN_CAPACITY.trailing_zeros() as usize
}

/// How many blocks of class `class` a pool keeps.
fn cap(class: usize) -> usize {
    let size = MIN_CAPACITY << class;
    if size <= CACHE_BLOCKS_UP_TO {
        return CACHE_BLOCKS;
    }
    (CACHE_BYTES / size).max(MIN_CACHED)
}

fn layout(class: usize) -> Layout {
    // Cannot fail: at most PAD + HEADER + 64 KiB, a power-of-two alignment.
    Layout::from_size_align(PAD + HEADER + (MIN_CAPACITY << class), ALIGN)
        .unwrap_or(Layout::new::<u8>())
}

/// A message body in a pooled block: `len` bytes, shared by its clones like `Bytes`.
pub(crate) struct Block {
    header: NonNull<Header>,
    len: usize,
}

// SAFETY: the body is only written through a unique reference (`as_mut_ptr`'s contract),
// the header's mutable parts are atomics, and a block may be given back from any thread.
unsafe impl Send for Block {}
// SAFETY: as above; shared references only read the body.
unsafe impl Sync for Block {}

impl Block {
    /// A block holding a copy of `data`; `None` when `data` is longer than [`MAX_LEN`].
    #[inline]
    pub(crate) fn copy_from(data: &[u8]) -> Option<Block> {
        let mut block = Block::uninit(data.len())?;
        // SAFETY: the block has room for `data.len()` bytes and no other reference yet.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), block.as_mut_ptr(), data.len()) };
        Some(block)
    }

    /// A block of `len` zero bytes; `None` when `len` is longer than [`MAX_LEN`] or the
    /// memory cannot be had.
    pub(crate) fn zeroed(len: usize) -> Option<Block> {
        let mut block = Block::uninit(len)?;
        // SAFETY: as in `copy_from`.
        unsafe { ptr::write_bytes(block.as_mut_ptr(), 0, len) };
        Some(block)
    }

    /// A block with room for `len` bytes whose contents are not yet written.
    fn uninit(len: usize) -> Option<Block> {
        if len > MAX_LEN {
            return None;
        }
        let class = class_of(len);
        let local = LOCAL.try_with(|local| local.take(class).ok_or(local.pool));
        let header = match local {
            Ok(Ok(header)) => header,
            Ok(Err(pool)) => new_block(class, pool)?,
            Err(_) => new_block(class, ptr::null())?,
        };
        Some(Block { header, len })
    }

    /// The body.
    #[inline]
    pub(crate) fn data(&self) -> &[u8] {
        // SAFETY: the block holds `len <= capacity` initialised bytes after the header, which
        // live as long as this reference to the block; no one writes them while it is shared.
        unsafe {
            std::slice::from_raw_parts(self.header.as_ptr().cast::<u8>().add(HEADER), self.len)
        }
    }

    /// The body's address for writing: sound only while this is the block's one reference.
    #[inline]
    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        // SAFETY: HEADER is within the block's allocation.
        unsafe { self.header.as_ptr().cast::<u8>().add(HEADER) }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Starts loading the block's header into the cache, for reading: a fanned-out body's
    /// header is dropped by several threads, and one that took the line for writing early
    /// would only lose it to the next (PREFETCHW here made fan-out inproc 1 KiB x100 13 %
    /// slower).
    #[inline]
    pub(crate) fn prefetch_header(&self) {
        crate::prefetch::for_reading(self.header.as_ptr());
    }

    /// Whether other frames refer to this block too.
    pub(crate) fn is_shared(&self) -> bool {
        self.header().refs.load(Ordering::Acquire) != 1
    }

    fn header(&self) -> &Header {
        // SAFETY: the header lives as long as any reference to the block.
        unsafe { self.header.as_ref() }
    }
}

/// A new block of class `class` belonging to `home`, with one reference.
fn new_block(class: usize, home: *const Pool) -> Option<NonNull<Header>> {
    // SAFETY: the layout's size is never zero.
    let start = unsafe { alloc::alloc(layout(class)) };
    if start.is_null() {
        return None;
    }
    // (`align_offset` may give up and return usize::MAX; the block then starts wherever PAD
    // puts it, unaligned but sound.)
    let offset = start.align_offset(LINE).min(PAD);
    // SAFETY: `offset <= PAD`, within the allocation.
    let header = NonNull::new(unsafe { start.add(offset) }.cast::<Header>())?;
    // SAFETY: a fresh allocation with room and alignment for a Header after `offset`.
    unsafe {
        header.as_ptr().write(Header {
            refs: AtomicUsize::new(1),
            next: AtomicPtr::new(ptr::null_mut()),
            home,
            class,
            offset,
        })
    };
    Some(header)
}

impl Clone for Block {
    fn clone(&self) -> Block {
        self.add_refs(1);
        Block {
            header: self.header,
            len: self.len,
        }
    }
}

impl Block {
    /// Counts `n` more references (as `Arc` does, aborting past [`MAX_REFS`]: `n` is at most
    /// a number of pipes, so the count cannot wrap before the next look aborts).
    fn add_refs(&self, n: usize) {
        if self.header().refs.fetch_add(n, Ordering::Relaxed) > MAX_REFS {
            std::process::abort();
        }
    }

    /// `n` more references to the body taken with one increment of its count, handed out by
    /// [`Shares::handle`]: for a message fanned out to `n` more pipes, whose clones each took
    /// an increment of a count that the receivers' decrements keep taking to their cores.
    pub(crate) fn shares(&self, n: usize) -> Shares {
        if n > 0 {
            self.add_refs(n);
        }
        Shares {
            block: std::mem::ManuallyDrop::new(Block {
                header: self.header,
                len: self.len,
            }),
            left: n,
        }
    }
}

/// References to one block taken together ([`Block::shares`]). Each [`Shares::handle`] is a
/// handle that owns one of them (or, once they are used up, a clone); those not handed out are
/// given back when it goes.
pub(crate) struct Shares {
    /// A handle that owns none of the references: never dropped, only copied out.
    block: std::mem::ManuallyDrop<Block>,
    left: usize,
}

impl Shares {
    /// A handle to the body.
    pub(crate) fn handle(&mut self) -> Block {
        if self.take() {
            std::mem::ManuallyDrop::into_inner(self.unowned())
        } else {
            Block::clone(&self.block)
        }
    }

    /// Takes one of the references for a handle the caller copies, bit for bit, from
    /// [`Shares::unowned`]; false once they are used up.
    pub(crate) fn take(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }

    /// The handle [`Shares::handle`] hands out, bit for bit, but owning no reference: never
    /// to be dropped, only copied out after a [`Shares::take`].
    pub(crate) fn unowned(&self) -> std::mem::ManuallyDrop<Block> {
        std::mem::ManuallyDrop::new(Block {
            header: self.block.header,
            len: self.block.len,
        })
    }
}

impl Drop for Shares {
    fn drop(&mut self) {
        while self.left > 0 {
            drop(self.handle());
        }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        let header = self.header();
        // The one reference needs no read-modify-write: no one else can add another.
        if header.refs.load(Ordering::Acquire) != 1 && !header.release_shared() {
            return;
        }
        give_back(self.header);
    }
}

impl Header {
    /// Gives up one of what were several references (when the count was last seen): whether
    /// it was the last one after all, the others gone meanwhile. The count is then back at 1,
    /// the count of a block its pool gives out, so that taking it stores nothing into a line
    /// the thread that dropped it still holds.
    fn release_shared(&self) -> bool {
        if self.refs.fetch_sub(1, Ordering::Release) != 1 {
            return false;
        }
        // The other references' uses of the body come before its reuse.
        fence(Ordering::Acquire);
        // Nothing else refers to the block.
        self.refs.store(1, Ordering::Relaxed);
        true
    }
}

/// Returns a block nothing refers to any more to its pool, or to the allocator: through this
/// thread's [`Returning`] chain, so that a pool gets its blocks back a batch at a time.
fn give_back(block: NonNull<Header>) {
    let batched = RETURNING
        .try_with(|r| match r.try_borrow_mut() {
            Ok(mut r) => {
                r.add(block);
                true
            }
            Err(_) => false,
        })
        .unwrap_or(false);
    if !batched {
        // This thread's chain is gone (a thread-local destructor dropped the frame).
        give_back_chain(block, block, 1);
    }
}

/// Blocks this thread dropped last, all of one pool and size class, not given back yet: a
/// chain linked through the blocks' `next`, handed to their pool in one compare-and-swap once
/// it holds [`RETURN_BATCH`] blocks or [`RETURN_BATCH_BYTES`], or a block of another pool or
/// class comes, or the thread ends.
///
/// Why: a receiver that gave each block back on its own did two atomic read-modify-writes on
/// the pool's returned list per message, a cache line the owner takes from it again each time
/// it empties the list. In batches of 32, `thr inproc 256 B` went from 6.8M to 8.8M msg/s and
/// `thr inproc 1 KiB` from 5.8M to 7.0M. The byte bound keeps large blocks out of it: a chain of
/// 64 KiB blocks held back would be the owner's next allocations (at 64 KiB per batch, `thr
/// inproc 8 KiB` lost 10 %).
struct Returning {
    head: *mut Header,
    tail: *mut Header,
    len: usize,
}

/// Blocks in a [`Returning`] chain before it is handed back.
const RETURN_BATCH: usize = 32;
/// Bytes of bodies in a [`Returning`] chain before it is handed back.
const RETURN_BATCH_BYTES: usize = 16 << 10;

thread_local! {
    static RETURNING: std::cell::RefCell<Returning> = const {
        std::cell::RefCell::new(Returning {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            len: 0,
        })
    };
}

impl Returning {
    fn add(&mut self, block: NonNull<Header>) {
        // SAFETY: the block is live and this thread dropped its last reference.
        let header = unsafe { block.as_ref() };
        if let Some(head) = NonNull::new(self.head) {
            // SAFETY: the blocks of the chain are live and belong to the chain alone.
            let first = unsafe { head.as_ref() };
            if first.home != header.home || first.class != header.class {
                self.flush();
            }
        }
        header.next.store(self.head, Ordering::Relaxed);
        if self.head.is_null() {
            self.tail = block.as_ptr();
        }
        self.head = block.as_ptr();
        self.len += 1;
        if self.len == RETURN_BATCH
            || self.len * (MIN_CAPACITY << header.class) >= RETURN_BATCH_BYTES
        {
            self.flush();
        }
    }

    /// Hands the chain to its pool (or the allocator).
    fn flush(&mut self) {
        if let (Some(head), Some(tail)) = (NonNull::new(self.head), NonNull::new(self.tail)) {
            give_back_chain(head, tail, self.len);
        }
        self.head = ptr::null_mut();
        self.tail = ptr::null_mut();
        self.len = 0;
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Returns the chain `head` ..= `tail` of `len` blocks, all of one pool and class and linked
/// through `next`, to their pool in one compare-and-swap; to the allocator when the pool keeps
/// enough of that class already (it may then hold up to a batch more than [`cap`]), or is none.
fn give_back_chain(head: NonNull<Header>, tail: NonNull<Header>, len: usize) {
    // SAFETY: the blocks of the chain are live, and nothing else refers to them.
    let first = unsafe { head.as_ref() };
    let class = first.class;
    // SAFETY: pools are never freed.
    if let Some(home) = unsafe { first.home.as_ref() } {
        let returned = &home.classes[class];
        let room = returned
            .count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < cap(class)).then_some(n + len)
            })
            .is_ok();
        if room {
            // SAFETY: as above.
            let last = unsafe { tail.as_ref() };
            let mut at = returned.head.load(Ordering::Relaxed);
            loop {
                last.next.store(at, Ordering::Relaxed);
                // Release: our writes and reads of the bodies come before the owner's reuse.
                match returned.head.compare_exchange_weak(
                    at,
                    head.as_ptr(),
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(now) => at = now,
                }
            }
        }
    }
    // SAFETY: as above. The chain ends at `tail`, whose link a lone block may hold from an
    // earlier list.
    unsafe { tail.as_ref() }
        .next
        .store(ptr::null_mut(), Ordering::Relaxed);
    free_list(head.as_ptr(), class);
}

/// Hands this thread's [`Returning`] chain back now (tests that look at a pool's lists).
#[cfg(test)]
fn flush_returning() {
    RETURNING.with(|r| r.borrow_mut().flush());
}

impl AsRef<[u8]> for Block {
    fn as_ref(&self) -> &[u8] {
        self.data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{mpsc, Arc, Barrier};
    use std::thread;

    fn address(b: &Block) -> usize {
        b.data().as_ptr() as usize - HEADER
    }

    /// Gives this thread's free and returned blocks back to the allocator, so that a test sees
    /// only its own blocks in the pool.
    fn empty_this_threads_pool() {
        LOCAL.with(|l| {
            for class in 0..CLASSES {
                free_list(l.free[class].replace(ptr::null_mut()), class);
                let returned = &l.pool.classes[class];
                free_list(
                    returned.head.swap(ptr::null_mut(), Ordering::Acquire),
                    class,
                );
                returned.count.store(0, Ordering::Relaxed);
            }
        });
    }

    /// The addresses in this thread's returned list of `class` (while no one pushes to it).
    fn returned(class: usize) -> Vec<usize> {
        LOCAL.with(|l| {
            let mut at = Vec::new();
            let mut head = l.pool.classes[class].head.load(Ordering::Acquire);
            while let Some(block) = NonNull::new(head) {
                at.push(block.as_ptr() as usize);
                // SAFETY (test): the list is not being taken or pushed to.
                head = unsafe { block.as_ref() }.next.load(Ordering::Relaxed);
            }
            at
        })
    }

    #[test]
    fn classes_fit_their_bodies() {
        assert_eq!(class_of(41), 0);
        assert_eq!(class_of(64), 0);
        assert_eq!(class_of(65), 1);
        assert_eq!(class_of(1024), 4);
        assert_eq!(class_of(MAX_LEN), CLASSES - 1);
        for len in [41, 64, 65, 1000, 4097, MAX_LEN] {
            assert!(MIN_CAPACITY << class_of(len) >= len);
            assert!(class_of(len) == 0 || MIN_CAPACITY << (class_of(len) - 1) < len);
        }
        assert!(Block::copy_from(&vec![0; MAX_LEN + 1]).is_none());
    }

    #[test]
    fn a_block_keeps_its_bytes_and_its_clones_share_them() {
        let data: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
        let b = Block::copy_from(&data).expect("block");
        assert_eq!(b.data(), &data[..]);
        assert!(!b.is_shared());
        let c = b.clone();
        assert!(b.is_shared() && c.is_shared());
        assert_eq!(address(&b), address(&c));
        drop(b);
        assert!(!c.is_shared());
        assert_eq!(c.data(), &data[..]);
        assert_eq!(Block::zeroed(100).expect("block").data(), &[0u8; 100][..]);
    }

    #[test]
    fn shares_taken_together_are_given_back_one_by_one_and_the_block_goes_home_once() {
        empty_this_threads_pool();
        let data = vec![3u8; 500];
        let class = class_of(data.len());
        for (taken, beyond) in [(0, 0), (2, 0), (4, 0), (4, 2)] {
            let b = Block::copy_from(&data).expect("block");
            let at = address(&b);
            let mut shares = b.shares(4);
            // `beyond` handles past the four taken together are clones.
            let handles: Vec<Block> = (0..taken + beyond).map(|_| shares.handle()).collect();
            assert!(handles
                .iter()
                .all(|h| address(h) == at && h.data() == &data[..]));
            drop(shares);
            assert_eq!(b.is_shared(), taken + beyond > 0, "{taken} {beyond}");
            drop(b);
            for (i, h) in handles.into_iter().enumerate() {
                assert!(
                    returned(class).is_empty(),
                    "{taken} {beyond}: back early, at {i}"
                );
                drop(h);
            }
            flush_returning();
            // Back once; the next round takes it out again.
            assert_eq!(returned(class), vec![at], "{taken} {beyond}");
        }
    }

    #[test]
    fn bodies_start_on_a_cache_line_of_their_own() {
        for len in [41, 64, 65, 300, 1000, 5000, MAX_LEN] {
            let blocks: Vec<Block> = (0..8).map(|_| Block::zeroed(len).expect("block")).collect();
            for b in &blocks {
                let body = b.data().as_ptr() as usize;
                assert_eq!(body % LINE, 0, "{len} B: the body starts a line");
                // The header's mutable fields are on the line before: no body byte shares it.
                let refs = std::ptr::from_ref(&b.header().refs) as usize;
                let next = std::ptr::from_ref(&b.header().next) as usize;
                assert!(next + 8 <= body && refs / LINE < body / LINE, "{len} B");
            }
        }
    }

    #[test]
    fn the_last_of_several_references_leaves_the_count_at_one() {
        let b = Block::copy_from(&[5; 700]).expect("block");
        let c = b.clone();
        // Two references: giving one up is not the last.
        assert!(!b.header().release_shared());
        assert!(!c.is_shared());
        // One left, which a racing drop saw as one of two: it is the last, and the count is
        // back at the 1 the pool gives blocks out with.
        assert!(c.header().release_shared());
        assert_eq!(c.header().refs.load(Ordering::Relaxed), 1);
        // The two handles share one reference now: only one of them may drop it.
        std::mem::forget(b);
    }

    #[test]
    fn a_block_dropped_here_goes_back_to_this_pool_and_is_used_again() {
        empty_this_threads_pool();
        let first = Block::copy_from(&[1; 200]).expect("block");
        let at = address(&first);
        drop(first);
        flush_returning();
        assert_eq!(returned(class_of(200)), vec![at]);
        let second = Block::copy_from(&[2; 250]).expect("block");
        assert_eq!(address(&second), at, "same class, reused");
        assert_eq!(second.data(), &[2; 250][..]);
        assert!(returned(class_of(200)).is_empty());
    }

    #[test]
    fn blocks_go_back_a_batch_at_a_time_and_a_block_of_another_class_ends_the_batch() {
        empty_this_threads_pool();
        flush_returning();
        let class = class_of(256);
        let blocks: Vec<Block> = (0..RETURN_BATCH + 3)
            .map(|_| Block::zeroed(256).expect("block"))
            .collect();
        let mut blocks = blocks.into_iter();
        for b in blocks.by_ref().take(RETURN_BATCH - 1) {
            drop(b);
        }
        assert!(returned(class).is_empty(), "held until the batch is full");
        drop(blocks.next());
        assert_eq!(returned(class).len(), RETURN_BATCH, "the batch in one go");
        for b in blocks.by_ref().take(2) {
            drop(b);
        }
        assert_eq!(returned(class).len(), RETURN_BATCH);
        drop(Block::zeroed(1000));
        assert_eq!(
            returned(class).len(),
            RETURN_BATCH + 2,
            "another class ends it"
        );
        drop(Block::zeroed(40_000));
        assert_eq!(returned(class_of(1000)).len(), 1);
        assert_eq!(
            returned(class_of(40_000)).len(),
            1,
            "a block of 64 KiB is a batch of its own"
        );
        drop(blocks);
    }

    #[test]
    fn blocks_dropped_on_another_thread_come_back_to_their_pool() {
        empty_this_threads_pool();
        let blocks: Vec<Block> = (0..50u8)
            .map(|i| Block::copy_from(&[i; 500]).expect("block"))
            .collect();
        let mut made: Vec<usize> = blocks.iter().map(address).collect();
        let (tx, rx) = mpsc::channel::<Vec<Block>>();
        let other = thread::spawn(move || drop(rx.recv()));
        tx.send(blocks).expect("send");
        other.join().expect("join");
        let mut back = returned(class_of(500));
        made.sort_unstable();
        back.sort_unstable();
        assert_eq!(back, made, "every block is in the returned list, once");
        let again = Block::copy_from(&[9; 500]).expect("block");
        assert!(
            made.contains(&address(&again)),
            "taken from the returned list"
        );
        assert_eq!(again.data(), &[9; 500][..]);
    }

    #[test]
    fn clones_dropped_on_many_threads_give_the_block_back_once() {
        empty_this_threads_pool();
        let data = vec![7u8; 4000];
        let class = class_of(data.len());
        for round in 1..=20 {
            let b = Block::copy_from(&data).expect("block");
            // However the last reference went (the three threads race to drop theirs, and the
            // loser's decrement takes the count to 0), the block comes back with a count of 1.
            assert!(!b.is_shared(), "round {round}");
            // The last reference goes on one of the other threads, whose chain is handed over
            // when it ends: each waits until this thread has dropped its own. (Left to chance,
            // all three could end first, and the block would wait in this thread's chain.)
            let dropped = Arc::new(Barrier::new(4));
            let handles: Vec<_> = (0..3)
                .map(|_| {
                    let c = b.clone();
                    let want = data.clone();
                    let dropped = Arc::clone(&dropped);
                    thread::spawn(move || {
                        assert_eq!(c.data(), &want[..]);
                        dropped.wait();
                    })
                })
                .collect();
            drop(b);
            dropped.wait();
            for h in handles {
                h.join().expect("join");
            }
            // One block in the list, never twice: each round takes it and gives it back.
            assert_eq!(returned(class).len(), 1, "round {round}");
        }
    }

    #[test]
    fn a_block_outlives_the_thread_that_made_it() {
        let kept = thread::spawn(|| Block::copy_from(&[3; 100]).expect("block"))
            .join()
            .expect("join");
        let copy = kept.clone();
        assert_eq!(kept.data(), &[3; 100][..]);
        drop(kept);
        assert_eq!(copy.data(), &[3; 100][..]);
        drop(copy);
        let later = thread::spawn(|| Block::copy_from(&[4; 100]).map(|b| b.data().to_vec()))
            .join()
            .expect("join");
        assert_eq!(later.as_deref(), Some(&[4u8; 100][..]));
    }

    #[test]
    fn a_pool_that_gets_nothing_back_for_long_stops_recycling_until_blocks_return() {
        empty_this_threads_pool();
        LOCAL.with(|l| l.misses.iter().for_each(|m| m.set(0)));
        let len = 1000;
        let class = class_of(len);
        let mut out = Vec::new();
        while recycles(len) {
            out.push(Block::zeroed(len).expect("block"));
            assert!(out.len() <= drought(class), "recycling past the drought");
        }
        assert_eq!(out.len(), drought(class));
        assert!(recycles(64), "other classes are not affected");
        let (tx, rx) = mpsc::channel::<Block>();
        let other = thread::spawn(move || drop(rx.recv()));
        tx.send(out.pop().expect("a block")).expect("send");
        other.join().expect("join");
        assert!(recycles(len), "a block came back");
        let again = Block::zeroed(len).expect("block");
        assert!(
            recycles(len),
            "taking the returned block resets the count of misses"
        );
        drop((again, out));
    }

    #[test]
    fn a_pool_keeps_no_more_than_its_cap() {
        // Small bodies: a stream's worth of blocks (a HWM's of messages in flight); large
        // ones: a bound in bytes.
        assert_eq!(cap(class_of(41)), CACHE_BLOCKS);
        assert_eq!(cap(class_of(1000)), CACHE_BLOCKS);
        assert_eq!(cap(class_of(2000)), CACHE_BYTES / 2048);
        assert_eq!(cap(class_of(MAX_LEN)), MIN_CACHED);
        for len in [1000, MAX_LEN] {
            empty_this_threads_pool();
            let class = class_of(len);
            let blocks: Vec<Block> = (0..cap(class) + 5)
                .map(|_| Block::zeroed(len).expect("block"))
                .collect();
            let (tx, rx) = mpsc::channel::<Vec<Block>>();
            let other = thread::spawn(move || drop(rx.recv()));
            tx.send(blocks).expect("send");
            other.join().expect("join");
            assert_eq!(returned(class).len(), cap(class), "{len} B");
            let n = LOCAL.with(|l| l.pool.classes[class].count.load(Ordering::Relaxed));
            assert_eq!(n, cap(class), "{len} B");
        }
    }
}
