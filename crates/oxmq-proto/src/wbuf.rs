//! [`WriteBuf`]: the bytes waiting to be written to a connection, ready for one vectored write.
//!
//! Small pieces (frame headers, short bodies, commands) are copied into an owned tail buffer;
//! large bodies are chained without a copy: a [`Bytes`] as it is, a frame's body with its
//! header in one chunk that holds both (no allocation: the header is copied into the chunk, the
//! body stays in its frame). The engine fills an
//! `IoSlice` array with [`WriteBuf::io_slices`], calls `write_vectored` once, and reports how
//! much went out with [`WriteBuf::advance`].

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::{self, FrameHeader};
use crate::Msg;

/// Output buffer: copied small data and chained large bodies, in order.
#[derive(Default)]
pub struct WriteBuf {
    /// Chunks that come before `tail`, oldest first. Never holds an empty chunk.
    chunks: VecDeque<Chunk>,
    /// Data copied after the last chunk.
    tail: BytesMut,
    /// Total bytes pending.
    len: usize,
}

impl WriteBuf {
    /// An empty buffer.
    pub fn new() -> WriteBuf {
        WriteBuf::default()
    }

    /// Whether nothing is pending.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of bytes pending.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Appends a copy of `data`.
    #[inline]
    pub fn put_slice(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        self.len += data.len();
    }

    /// Appends a frame with a short header (`flags`, then `len`) and the first `len` bytes of
    /// `body` (an inline body's whole buffer, `len` at most its size): the whole of `body`
    /// is copied, a copy of fixed size, and the buffer then cut back to the frame's end.
    #[inline]
    pub(crate) fn put_short_frame(
        &mut self,
        flags: u8,
        body: &[u8; Msg::INLINE_CAPACITY],
        len: usize,
    ) {
        debug_assert!(len <= body.len());
        let end = self.tail.len() + 2 + len;
        self.tail.reserve(2 + body.len());
        // The body's size is below 256, so its length fits in a byte.
        self.tail.extend_from_slice(&[flags, len as u8]);
        self.tail.extend_from_slice(body);
        self.tail.truncate(end);
        self.len += 2 + len;
    }

    /// Appends `data`: copied if shorter than [`WriteBuf::COPY_THRESHOLD`], otherwise chained
    /// without a copy.
    #[inline]
    pub fn put_bytes(&mut self, data: Bytes) {
        if data.len() < COPY_THRESHOLD {
            self.put_slice(&data);
            return;
        }
        self.chain(Chunk::Bytes(data));
    }

    /// Appends a frame's body with no header (a raw connection's data): copied if shorter than
    /// [`WriteBuf::COPY_THRESHOLD`], otherwise chained without a copy, and without an
    /// allocation (the frame itself holds its place).
    pub fn put_body(&mut self, msg: Msg) {
        self.put_frame_parts(Head::default(), msg);
    }

    /// Appends a frame: `header`, then `msg`'s body. A body shorter than
    /// [`WriteBuf::COPY_THRESHOLD`] is copied with its header into the tail; a longer one is
    /// chained in place, its header copied into the same chunk, so that neither takes an
    /// allocation (a header alone in the tail would be split off into a `Bytes` of its own
    /// before the body: two allocations a frame).
    pub fn put_frame(&mut self, header: &FrameHeader, msg: Msg) {
        let mut head = Head::default();
        head.len = frame::encode_header(header, &mut head.buf) as u8;
        self.put_frame_parts(head, msg);
    }

    fn put_frame_parts(&mut self, head: Head, msg: Msg) {
        if msg.len() < COPY_THRESHOLD {
            self.put_slice(head.bytes());
            self.put_slice(msg.data());
            return;
        }
        self.chain(Chunk::Frame { head, msg, at: 0 });
    }

    fn chain(&mut self, chunk: Chunk) {
        self.seal_tail();
        self.len += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// Fills `out` with up to `out.len()` slices of the pending data, in order, and returns how
    /// many it filled.
    pub fn io_slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let tail: &[u8] = &self.tail;
        let pieces = self
            .chunks
            .iter()
            .flat_map(|c| {
                let (first, second) = c.parts();
                [first, second]
            })
            .chain([tail])
            .filter(|p| !p.is_empty());
        let mut n = 0;
        for (slot, data) in out.iter_mut().zip(pieces) {
            *slot = IoSlice::new(data);
            n += 1;
        }
        n
    }

    /// Drops the first `n` pending bytes (those a write just sent). `n` may end inside a chunk;
    /// an `n` larger than [`len`](WriteBuf::len) empties the buffer.
    pub fn advance(&mut self, mut n: usize) {
        n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                self.tail.advance(n);
                break;
            };
            let front_len = front.len();
            if n < front_len {
                front.advance(n);
                break;
            }
            n -= front_len;
            self.chunks.pop_front();
        }
        if self.len == 0 {
            // Lets the tail reuse its allocation from the start.
            self.tail.clear();
        }
    }

    /// Moves all of `other`'s content to the end of `self`, leaving `other` empty. Costs a swap
    /// when `self` is empty.
    pub fn append(&mut self, other: &mut WriteBuf) {
        if other.is_empty() {
            return;
        }
        if self.is_empty() {
            std::mem::swap(self, other);
            return;
        }
        self.seal_tail();
        self.chunks.append(&mut other.chunks);
        // Our tail is empty after sealing: take over other's tail and give it our spare capacity.
        std::mem::swap(&mut self.tail, &mut other.tail);
        self.len += other.len;
        other.len = 0;
    }

    /// Drops everything pending.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.tail.clear();
        self.len = 0;
    }

    /// A copy of all pending bytes, in order (for tests and diagnostics).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        for c in &self.chunks {
            let (first, second) = c.parts();
            v.extend_from_slice(first);
            v.extend_from_slice(second);
        }
        v.extend_from_slice(&self.tail);
        v
    }

    /// Bodies shorter than this are copied by [`put_bytes`](WriteBuf::put_bytes) rather than
    /// chained.
    pub const COPY_THRESHOLD: usize = COPY_THRESHOLD;

    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.chunks
                .push_back(Chunk::Bytes(self.tail.split().freeze()));
        }
    }
}

/// A piece of the pending data before the tail.
enum Chunk {
    Bytes(Bytes),
    /// A frame: its header (empty on a raw connection), then its body, held by the frame
    /// itself; pending from `at` on, counted from the start of the header.
    Frame {
        head: Head,
        msg: Msg,
        at: usize,
    },
}

impl Chunk {
    /// The pending data, in order: one piece, or a frame's header and body.
    #[inline]
    fn parts(&self) -> (&[u8], &[u8]) {
        match self {
            Chunk::Bytes(b) => (b, &[]),
            Chunk::Frame { head, msg, at } => {
                let head = head.bytes();
                match head.get(*at..) {
                    Some(rest) => (rest, msg.data()),
                    None => (&msg.data()[*at - head.len()..], &[]),
                }
            }
        }
    }

    /// How many bytes are pending.
    #[inline]
    fn len(&self) -> usize {
        match self {
            Chunk::Bytes(b) => b.len(),
            Chunk::Frame { head, msg, at } => head.bytes().len() + msg.len() - at,
        }
    }

    /// Drops the first `n` bytes (fewer than it holds).
    fn advance(&mut self, n: usize) {
        match self {
            Chunk::Bytes(b) => b.advance(n),
            Chunk::Frame { at, .. } => *at += n,
        }
    }
}

/// A frame header copied into its chunk.
#[derive(Default, Clone, Copy)]
struct Head {
    len: u8,
    buf: [u8; frame::MAX_HEADER_SIZE],
}

impl Head {
    #[inline]
    fn bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for WriteBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBuf")
            .field("len", &self.len)
            .field(
                "chunks",
                &(self.chunks.len() + usize::from(!self.tail.is_empty())),
            )
            .finish()
    }
}

/// Below about 1 KiB a memcpy into the tail is cheaper than an extra iovec entry (and keeps
/// writev under IOV_MAX for batches of mid-sized messages). Copying larger bodies too when no
/// other frame shares them (below 2 KiB, or 8 KiB) was measured on 2026-12-07 and not kept:
/// thr tcp 1 KiB went from 2.2M to between 1.0M and 3.3M msg/s from run to run, and fan-out tcp
/// 1 KiB x1 lost a fifth (1.22M to 0.99M deliveries/s); see BENCHMARKS.
const COPY_THRESHOLD: usize = 1024;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn gather(w: &WriteBuf) -> Vec<u8> {
        let mut slices = vec![IoSlice::new(&[]); 256];
        let n = w.io_slices(&mut slices);
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn small_bytes_are_copied_large_are_chained() {
        let mut w = WriteBuf::new();
        w.put_slice(b"hdr");
        w.put_bytes(Bytes::from(vec![1u8; 10]));
        let big = Bytes::from(vec![2u8; 5000]);
        w.put_bytes(big.clone());
        w.put_slice(b"end");
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(w.io_slices(&mut slices), 3);
        assert_eq!(slices[1].as_ptr(), big.as_ptr());
        assert_eq!(w.len(), 3 + 10 + 5000 + 3);
    }

    #[test]
    fn a_large_body_is_chained_in_its_frame_and_read_in_place_to_the_end() {
        let mut w = WriteBuf::new();
        w.put_slice(b"h1");
        w.put_body(Msg::copy_from_slice(&[1u8; 1023]));
        let body = Msg::copy_from_slice(&[2u8; 1024]);
        let kept = body.clone();
        w.put_slice(b"h2");
        w.put_body(body);
        w.put_slice(b"h3");
        {
            let mut slices = [IoSlice::new(&[]); 8];
            // "h1", the short body and "h2" copied; the long body in place; "h3".
            assert_eq!(w.io_slices(&mut slices), 3);
            assert_eq!(slices[0].len(), 2 + 1023 + 2);
            assert_eq!(slices[1].as_ptr(), kept.data().as_ptr());
        }
        assert_eq!(w.len(), 2 + 1023 + 2 + 1024 + 2);
        // Written up to the middle of the chained body: the rest is still read in place.
        w.advance(2 + 1023 + 2 + 1000);
        {
            let mut slices = [IoSlice::new(&[]); 8];
            let n = w.io_slices(&mut slices);
            assert_eq!(slices[0].as_ptr(), kept.data()[1000..].as_ptr());
            let total: usize = slices[..n].iter().map(|s| s.len()).sum();
            assert_eq!(total, 24 + 2);
        }
        w.advance(24);
        drop(kept);
        assert_eq!(gather(&w), b"h3");
    }

    #[test]
    fn a_large_frame_keeps_its_header_in_its_own_chunk_and_nothing_is_split_off_the_tail() {
        let mut w = WriteBuf::new();
        let body = Msg::copy_from_slice(&[5u8; 1024]);
        let kept = body.clone();
        w.put_frame(&FrameHeader::new(1024, true, false), body);
        w.put_frame(
            &FrameHeader::new(3, false, false),
            Msg::copy_from_slice(b"end"),
        );
        let mut head = [0u8; frame::MAX_HEADER_SIZE];
        let n = frame::encode_header(&FrameHeader::new(1024, true, false), &mut head);
        assert_eq!(n, 9);
        {
            let mut slices = [IoSlice::new(&[]); 8];
            // The long frame's header and body, then the short frame copied into the tail.
            assert_eq!(w.io_slices(&mut slices), 3);
            assert_eq!(&slices[0][..], &head[..n]);
            assert_eq!(slices[1].as_ptr(), kept.data().as_ptr());
            assert_eq!(&slices[2][..], &[0, 3, b'e', b'n', b'd']);
        }
        // One chunk before the tail: the header did not go through the tail.
        assert_eq!(w.chunks.len(), 1);
        assert_eq!(w.len(), 9 + 1024 + 5);
        // Written into the header, then into the body.
        w.advance(4);
        assert_eq!(gather(&w)[..5], head[4..9]);
        w.advance(5 + 1000);
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(w.io_slices(&mut slices), 2);
        assert_eq!(slices[0].as_ptr(), kept.data()[1000..].as_ptr());
        w.advance(24 + 5);
        assert!(w.is_empty());
        // The short frame went to the tail as one piece: header and body.
        let mut short = WriteBuf::new();
        short.put_frame(
            &FrameHeader::new(3, false, false),
            Msg::copy_from_slice(b"abc"),
        );
        assert!(short.chunks.is_empty());
        assert_eq!(short.to_vec(), [0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn short_frames_carry_only_their_own_bytes_whatever_the_padding_holds() {
        let mut w = WriteBuf::new();
        let mut expected = Vec::new();
        // A body buffer that still holds an earlier, longer body beyond the current one.
        let mut padded = [0xEE_u8; Msg::INLINE_CAPACITY];
        for (flags, len) in [
            (0u8, 0usize),
            (1, 1),
            (0, 16),
            (4, Msg::INLINE_CAPACITY),
            (1, 3),
        ] {
            for (i, b) in padded[..len].iter_mut().enumerate() {
                *b = i as u8;
            }
            w.put_short_frame(flags, &padded, len);
            expected.extend_from_slice(&[flags, len as u8]);
            expected.extend((0..len).map(|i| i as u8));
            assert_eq!(w.len(), expected.len());
        }
        w.put_slice(b"after");
        expected.extend_from_slice(b"after");
        assert_eq!(gather(&w), expected);
    }

    #[test]
    fn io_slices_respects_out_len() {
        let mut w = WriteBuf::new();
        w.put_bytes(Bytes::from(vec![1u8; 2000]));
        w.put_bytes(Bytes::from(vec![2u8; 2000]));
        w.put_slice(b"x");
        let mut one = [IoSlice::new(&[])];
        assert_eq!(w.io_slices(&mut one), 1);
        assert_eq!(one[0].len(), 2000);
    }

    #[test]
    fn advance_mid_chunk_and_past_end() {
        let mut w = WriteBuf::new();
        w.put_slice(b"abc");
        w.put_bytes(Bytes::from(vec![9u8; 2000]));
        w.put_slice(b"xyz");
        w.advance(2);
        assert_eq!(gather(&w)[..2], *b"c\x09");
        w.advance(1 + 1999);
        assert_eq!(gather(&w), b"\x09xyz");
        w.advance(100);
        assert!(w.is_empty());
        assert_eq!(gather(&w), b"");
        w.put_slice(b"again");
        assert_eq!(gather(&w), b"again");
    }

    #[test]
    fn append_into_empty_swaps_and_into_full_concatenates() {
        let mut a = WriteBuf::new();
        let mut b = WriteBuf::new();
        b.put_slice(b"one");
        a.append(&mut b);
        assert!(b.is_empty());
        assert_eq!(a.to_vec(), b"one");
        b.put_slice(b"two");
        b.put_bytes(Bytes::from(vec![3u8; 1500]));
        b.put_slice(b"three");
        a.append(&mut b);
        assert!(b.is_empty());
        let mut expect = b"onetwo".to_vec();
        expect.extend_from_slice(&[3u8; 1500]);
        expect.extend_from_slice(b"three");
        assert_eq!(a.to_vec(), expect);
        assert_eq!(gather(&a), expect);
        assert_eq!(a.len(), expect.len());
        b.put_slice(b"reuse");
        assert_eq!(b.to_vec(), b"reuse");
        a.clear();
        assert!(a.is_empty() && a.to_vec().is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Slice(Vec<u8>),
        Bytes(usize),
        Advance(usize),
        Append(Vec<u8>, usize),
        Frame(usize, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..50).prop_map(Op::Slice),
            (0usize..3000).prop_map(Op::Bytes),
            (0usize..4000).prop_map(Op::Advance),
            (proptest::collection::vec(any::<u8>(), 0..20), 0usize..3000)
                .prop_map(|(s, b)| Op::Append(s, b)),
            (0usize..3000, any::<bool>()).prop_map(|(n, more)| Op::Frame(n, more)),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_vec(ops in proptest::collection::vec(op(), 0..40)) {
            let mut w = WriteBuf::new();
            let mut model: Vec<u8> = Vec::new();
            for (i, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Slice(s) => { w.put_slice(&s); model.extend_from_slice(&s); }
                    Op::Bytes(n) => {
                        let b = Bytes::from(vec![i as u8; n]);
                        model.extend_from_slice(&b);
                        w.put_bytes(b);
                    }
                    Op::Frame(n, more) => {
                        let header = FrameHeader::new(n as u64, more, false);
                        let mut head = [0u8; frame::MAX_HEADER_SIZE];
                        let h = frame::encode_header(&header, &mut head);
                        model.extend_from_slice(&head[..h]);
                        model.extend(std::iter::repeat_n(i as u8, n));
                        w.put_frame(&header, Msg::from(vec![i as u8; n]));
                    }
                    Op::Advance(n) => { w.advance(n); model.drain(..n.min(model.len())); }
                    Op::Append(s, n) => {
                        let mut o = WriteBuf::new();
                        o.put_slice(&s);
                        o.put_bytes(Bytes::from(vec![i as u8; n]));
                        model.extend_from_slice(&s);
                        model.extend(std::iter::repeat_n(i as u8, n));
                        w.append(&mut o);
                        prop_assert!(o.is_empty());
                    }
                }
                prop_assert_eq!(w.len(), model.len());
                prop_assert_eq!(gather(&w), model.clone());
            }
        }
    }
}
