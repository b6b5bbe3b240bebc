//! [`Msg`]: one frame of a ZeroMQ message, small bodies inline, large ones shared.
//!
//! A multipart message is a run of `Msg` frames in which every frame but the last has
//! [`Msg::more`] set. Bodies up to [`Msg::INLINE_CAPACITY`] bytes live inside the value itself, so
//! creating, queueing and dropping a small message never allocates (libzmq inlines up to 33
//! bytes). A longer body that oxmq copies (up to 64 KiB) lives in a recycled block of the
//! copying thread's pool (`pool`), and a body given as [`Bytes`] or `Vec<u8>` stays that
//! buffer; either way cloning a message for a fan-out costs one reference-count increment.

use std::fmt;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;

use crate::pool::{self, Block};

/// One frame of a ZeroMQ message.
pub struct Msg {
    /// Always initialised. `MaybeUninit` only hides `Body`'s niche (its unused discriminant
    /// values): without one, `Option<Msg>` and `Result<Msg, E>` keep their own tag before the
    /// frame instead of inside it, and the compiler moves a frame from one to the other as one
    /// whole 64-byte block. With the niche it moved the tag byte and the 63 bytes after it
    /// apart, at odd offsets and in pieces that differed from move to move, so that each
    /// move's loads waited for the previous move's stores to reach the cache; a received
    /// frame passes through a handful of such wrappers on its way from the pipe to the caller.
    body: MaybeUninit<Body>,
    flags: u8,
    /// The properties of the connection a received frame came from (`zmq_msg_gets`).
    properties: Option<Arc<Properties>>,
}

/// The properties of a connection, as `zmq_msg_gets` reads them from a received message:
/// the peer's READY properties (`Socket-Type`, `Identity`, `X-` metadata, ...) and those the
/// receiving side adds (`Peer-Address`, and `User-Id` once a mechanism sets it). Names match in
/// any case, as ZMTP property names do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties {
    entries: Vec<(String, Bytes)>,
}

impl Properties {
    /// No properties.
    pub fn new() -> Properties {
        Properties::default()
    }

    /// Adds (or replaces) the property `name`.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Bytes>) {
        let name = name.into();
        let value: Bytes = value.into();
        // Kept with a terminating NUL, so that the C ABI's `zmq_msg_gets` can hand out a
        // C string that lives as long as the message.
        let value = Bytes::from([&value[..], b"\0"].concat());
        match self
            .entries
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(e) => e.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    /// The value of property `name`. `Routing-Id` and `Identity` name the same property (the
    /// peer's routing id: libzmq sends it as `Identity`, and 4.3 calls it `Routing-Id`).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_with_nul(name).map(|v| &v[..v.len() - 1])
    }

    /// [`get`](Properties::get), with a terminating NUL after the value (a C string when the
    /// value itself has no NUL).
    pub fn get_with_nul(&self, name: &str) -> Option<&[u8]> {
        let find = |name: &str| {
            self.entries
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| &v[..])
        };
        find(name).or_else(|| {
            if name.eq_ignore_ascii_case(PROPERTY_ROUTING_ID) {
                find("Identity")
            } else if name.eq_ignore_ascii_case("Identity") {
                find(PROPERTY_ROUTING_ID)
            } else {
                None
            }
        })
    }

    /// Every property, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries
            .iter()
            .map(|(n, v)| (n.as_str(), &v[..v.len() - 1]))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `ZMQ_MSG_PROPERTY_ROUTING_ID`.
pub const PROPERTY_ROUTING_ID: &str = "Routing-Id";
/// `ZMQ_MSG_PROPERTY_SOCKET_TYPE`.
pub const PROPERTY_SOCKET_TYPE: &str = "Socket-Type";
/// `ZMQ_MSG_PROPERTY_USER_ID`.
pub const PROPERTY_USER_ID: &str = "User-Id";
/// `ZMQ_MSG_PROPERTY_PEER_ADDRESS`.
pub const PROPERTY_PEER_ADDRESS: &str = "Peer-Address";

impl Clone for Msg {
    #[inline]
    fn clone(&self) -> Msg {
        Msg {
            body: MaybeUninit::new(self.body().clone()),
            flags: self.flags,
            properties: self.properties.clone(),
        }
    }
}

#[allow(unsafe_code)]
impl Drop for Msg {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `body` is initialised (see `Msg::body`) and dropped once, here.
        unsafe { self.body.assume_init_drop() }
    }
}

#[derive(Clone)]
enum Body {
    Inline(Inline),
    Pooled(Block),
    Shared(Bytes),
}

impl Msg {
    #[allow(unsafe_code)]
    #[inline(always)]
    fn body(&self) -> &Body {
        // SAFETY: `body` is initialised by every constructor and stays so until `drop` or
        // `into_body`, after which the frame is gone.
        unsafe { self.body.assume_init_ref() }
    }

    #[allow(unsafe_code)]
    #[inline(always)]
    fn body_mut(&mut self) -> &mut Body {
        // SAFETY: as in `body`.
        unsafe { self.body.assume_init_mut() }
    }

    /// Takes the body out of the frame (its properties are dropped).
    #[allow(unsafe_code)]
    #[inline]
    fn into_body(self) -> Body {
        let mut this = std::mem::ManuallyDrop::new(self);
        drop(this.properties.take());
        // SAFETY: `body` is initialised (see `body`), read once here, and `this` is never
        // dropped, so it is not dropped twice.
        unsafe { this.body.assume_init_read() }
    }

    /// Asks the CPU to start loading what dropping this frame will read (a pooled body's
    /// reference count), so that a consumer reading frames in order overlaps that wait with
    /// its work on earlier ones. For oxmq's pipes.
    #[doc(hidden)]
    #[inline]
    pub fn prefetch_drop(&self) {
        if let Body::Pooled(b) = self.body() {
            b.prefetch_header();
        }
    }

    /// Frames equal to this one for `n` more pipes of a fan-out ([`Copies::copy`]): a body in
    /// a recycled block is referred to with one increment of its count for all `n`, not one
    /// each. For oxmq's distributor.
    #[doc(hidden)]
    #[inline]
    pub fn copies(&self, n: usize) -> Copies {
        let body = match self.body() {
            Body::Pooled(b) => {
                let shares = b.shares(n);
                let frame = std::mem::ManuallyDrop::new(Msg {
                    body: MaybeUninit::new(Body::Pooled(std::mem::ManuallyDrop::into_inner(
                        shares.unowned(),
                    ))),
                    flags: self.flags,
                    properties: None,
                });
                CopySource::Pooled(shares, frame)
            }
            Body::Inline(_) if self.properties.is_none() => CopySource::Plain(self.clone()),
            other => CopySource::Other(other.clone()),
        };
        Copies {
            body,
            flags: self.flags,
            len: self.len(),
            properties: self.properties.clone(),
        }
    }

    /// Whether the body lives in a block of oxmq's pool (one a later frame of the same stream
    /// likely shares the layout of). For oxmq's pipes.
    #[doc(hidden)]
    #[inline]
    pub fn is_pooled(&self) -> bool {
        matches!(self.body(), Body::Pooled(_))
    }

    /// Bodies of at most this many bytes are stored inline, without an allocation.
    pub const INLINE_CAPACITY: usize = INLINE_CAPACITY;

    /// An empty frame (a zero-length body, no flags).
    pub const fn new() -> Msg {
        Msg {
            body: MaybeUninit::new(Body::Inline(Inline {
                len: 0,
                buf: [0; INLINE_CAPACITY],
            })),
            flags: 0,
            properties: None,
        }
    }

    /// A frame whose body is a copy of `data`: inline when short, in a recycled block up to
    /// 64 KiB, one allocation of its own beyond.
    ///
    /// A short body is copied into an empty frame, in place: building the inline bytes apart
    /// (zeroed, then copied over) and moving them into the frame read them back in other pieces
    /// than they had been written in, while the stores were still on their way to the cache,
    /// and such a load waits for them (perf annotate of a sending thread, `thr inproc 16 B`:
    /// two thirds of its time outside the pipe on two such loads; with this, thr inproc 16 B
    /// went from 15.1M-15.6M to 16.3M-17.4M msg/s and thr tcp 16 B from 16.0M-16.1M to
    /// 18.5M-18.6M, pinned).
    #[inline]
    pub fn copy_from_slice(data: &[u8]) -> Msg {
        if data.len() > INLINE_CAPACITY {
            let body = match Block::copy_from(data) {
                Some(b) => Body::Pooled(b),
                None => Body::Shared(Bytes::copy_from_slice(data)),
            };
            return Msg {
                body: MaybeUninit::new(body),
                flags: 0,
                properties: None,
            };
        }
        let mut msg = Msg::new();
        msg.copy_inline(data);
        msg
    }

    /// Copies `data` (at most [`INLINE_CAPACITY`] bytes) into the inline body of a frame
    /// made by [`Msg::new`].
    #[inline]
    fn copy_inline(&mut self, data: &[u8]) {
        if let Body::Inline(inline) = self.body_mut() {
            inline.buf[..data.len()].copy_from_slice(data);
            // INLINE_CAPACITY < 256, so the length fits in a byte.
            inline.len = data.len() as u8;
        }
    }

    /// [`Msg::copy_from_slice`] with the MORE flag `more`, built in `slot` rather than built
    /// and then moved there: a short body is copied straight into the place it will be read
    /// from. A frame built on the stack and moved at once was read back while its bytes were
    /// still on their way to the cache, in other pieces than they were written in, and each such
    /// load waited for them (perf on a receiving I/O thread of `fanout tcp 16 B x100`: two
    /// thirds of the decoder's time on two such loads).
    #[inline]
    pub fn write_copy<'a>(slot: &'a mut MaybeUninit<Msg>, data: &[u8], more: bool) -> &'a mut Msg {
        if data.len() > INLINE_CAPACITY {
            return slot.write(Msg::copy_from_slice(data).with_more(more));
        }
        let msg = slot.write(Msg::new());
        msg.copy_inline(data);
        msg.set_more(more);
        msg
    }

    /// A frame whose body is `data`, copied inline when short, shared otherwise.
    pub fn from_bytes(data: Bytes) -> Msg {
        if data.len() <= INLINE_CAPACITY {
            return Msg::copy_from_slice(&data);
        }
        Msg {
            body: MaybeUninit::new(Body::Shared(data)),
            flags: 0,
            properties: None,
        }
    }

    /// A frame whose body is `data`, kept as it is even when short, so that the body's address
    /// stays that of `data`'s buffer (the C ABI's `zmq_msg_init_data` promises its caller this).
    pub fn from_bytes_shared(data: Bytes) -> Msg {
        Msg {
            body: MaybeUninit::new(Body::Shared(data)),
            flags: 0,
            properties: None,
        }
    }

    /// A frame of `len` zero bytes, writable through [`Msg::as_mut_ptr`]: inline when short,
    /// in a recycled block up to 64 KiB, otherwise one allocation of its own. `None` when the
    /// memory cannot be had.
    pub fn zeroed(len: usize) -> Option<Msg> {
        if len <= INLINE_CAPACITY {
            return Some(Msg::copy_from_slice(&[0; INLINE_CAPACITY][..len]));
        }
        if len <= pool::MAX_LEN {
            return Block::zeroed(len).map(|b| Msg {
                body: MaybeUninit::new(Body::Pooled(b)),
                flags: 0,
                properties: None,
            });
        }
        let mut buf = Vec::new();
        buf.try_reserve_exact(len).ok()?;
        buf.resize(len, 0);
        Some(Msg::from_bytes_shared(Bytes::from(buf)))
    }

    /// The body's address, for code outside Rust that reads or fills it in place (the C ABI's
    /// `zmq_msg_data`). Writing through it is sound for an inline body, and for a shared body
    /// that no other frame shares (made by [`Msg::zeroed`], or from the writer's own buffer);
    /// a body another frame shares must only be read.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        match self.body_mut() {
            Body::Inline(i) => i.buf.as_mut_ptr(),
            Body::Pooled(b) => b.as_mut_ptr(),
            Body::Shared(b) => b.as_ptr().cast_mut(),
        }
    }

    /// Whether the body is shared with other frames (`ZMQ_SHARED` of `zmq_msg_get`): a shared
    /// body that more than this frame refers to. Inline bodies never are.
    pub fn is_shared(&self) -> bool {
        match self.body() {
            Body::Inline(_) => false,
            Body::Pooled(b) => b.is_shared(),
            Body::Shared(b) => !b.is_unique(),
        }
    }

    /// The body.
    #[inline]
    pub fn data(&self) -> &[u8] {
        match self.body() {
            // `len` never exceeds INLINE_CAPACITY: it is only ever set by `copy_inline`.
            Body::Inline(i) => &i.buf[..usize::from(i.len)],
            Body::Pooled(b) => b.data(),
            Body::Shared(b) => b,
        }
    }

    /// An inline body's whole buffer, whose first [`Msg::len`] bytes are the body and the rest
    /// are zeroes or left from earlier bodies: for a copy of fixed size, which the compiler
    /// makes with a few moves instead of a call to `memcpy`. `None` for a body not inline.
    #[inline]
    pub(crate) fn inline_padded(&self) -> Option<&[u8; INLINE_CAPACITY]> {
        match self.body() {
            Body::Inline(i) => Some(&i.buf),
            _ => None,
        }
    }

    /// The body's length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        match self.body() {
            Body::Inline(i) => usize::from(i.len),
            Body::Pooled(b) => b.len(),
            Body::Shared(b) => b.len(),
        }
    }

    /// Whether the body is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether more frames of the same message follow this one.
    #[inline]
    pub fn more(&self) -> bool {
        self.flags & flags::MORE != 0
    }

    /// Marks whether more frames of the same message follow this one.
    #[inline]
    pub fn set_more(&mut self, more: bool) {
        self.set_flag(flags::MORE, more);
    }

    /// The same frame with the MORE flag set to `more`.
    #[inline]
    pub fn with_more(mut self, more: bool) -> Msg {
        self.set_more(more);
        self
    }

    /// Whether this frame is a ZMTP command rather than message data. Applications never see
    /// command frames; they travel between the protocol layer and the engine.
    #[inline]
    pub fn is_command(&self) -> bool {
        self.flags & flags::COMMAND != 0
    }

    /// Marks this frame as a ZMTP command.
    #[inline]
    pub fn set_command(&mut self, command: bool) {
        self.set_flag(flags::COMMAND, command);
    }

    /// Whether this frame is a subscription (its body is the topic). Internal to oxmq: a
    /// subscription becomes a SUBSCRIBE command for a ZMTP 3.1 peer and a `\x01topic` message for
    /// a ZMTP 3.0 peer.
    #[inline]
    pub fn is_subscribe(&self) -> bool {
        self.flags & flags::SUBSCRIBE != 0
    }

    /// Whether this frame cancels a subscription (its body is the topic); see [`Msg::is_subscribe`].
    #[inline]
    pub fn is_cancel(&self) -> bool {
        self.flags & flags::CANCEL != 0
    }

    /// A subscription to `topic`; see [`Msg::is_subscribe`].
    pub fn subscribe(topic: &[u8]) -> Msg {
        let mut m = Msg::copy_from_slice(topic);
        m.flags = flags::SUBSCRIBE;
        m
    }

    /// A cancellation of a subscription to `topic`; see [`Msg::is_subscribe`].
    pub fn cancel(topic: &[u8]) -> Msg {
        let mut m = Msg::copy_from_slice(topic);
        m.flags = flags::CANCEL;
        m
    }

    /// The raw flag bits (see [`flags`]).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Replaces the raw flag bits (see [`flags`]).
    #[inline]
    pub fn set_flags(&mut self, flags: u8) {
        self.flags = flags;
    }

    /// The body as [`Bytes`]: one copy for inline bodies, no copy otherwise (a pooled body
    /// becomes the owner of a `Bytes`, one small allocation).
    pub fn into_bytes(self) -> Bytes {
        match self.into_body() {
            Body::Inline(i) => Bytes::copy_from_slice(&i.buf[..usize::from(i.len)]),
            Body::Pooled(b) => Bytes::from_owner(b),
            Body::Shared(b) => b,
        }
    }

    /// The body as a [`Bytes`] it already is: given as `Bytes` or `Vec<u8>`, or split off a
    /// connection's input buffer; `None` for inline and pooled bodies.
    #[inline]
    pub fn shared(&self) -> Option<&Bytes> {
        match self.body() {
            Body::Inline(_) | Body::Pooled(_) => None,
            Body::Shared(b) => Some(b),
        }
    }

    /// The property `name` of the connection this frame was received from, as `zmq_msg_gets`
    /// returns it (see [`Properties`]); `None` for frames the application made, or a property
    /// the connection does not have.
    pub fn property(&self, name: &str) -> Option<&[u8]> {
        self.properties.as_deref()?.get(name)
    }

    /// All properties of the connection this frame was received from.
    pub fn properties(&self) -> Option<&Arc<Properties>> {
        self.properties.as_ref()
    }

    /// Attaches the properties of the connection the frame came from (the socket does this
    /// as it hands a received frame to the application).
    #[inline]
    pub fn set_properties(&mut self, properties: Option<Arc<Properties>>) {
        self.properties = properties;
    }

    #[inline]
    fn set_flag(&mut self, bit: u8, on: bool) {
        if on {
            self.flags |= bit;
        } else {
            self.flags &= !bit;
        }
    }
}

/// Flag bits of [`Msg::flags`].
pub mod flags {
    /// More frames of the same message follow.
    pub const MORE: u8 = 0x01;
    /// The frame is a ZMTP command.
    pub const COMMAND: u8 = 0x02;
    /// The frame is a subscription (internal; see [`super::Msg::is_subscribe`]).
    pub const SUBSCRIBE: u8 = 0x04;
    /// The frame cancels a subscription (internal; see [`super::Msg::is_cancel`]).
    pub const CANCEL: u8 = 0x08;
}

impl Default for Msg {
    fn default() -> Msg {
        Msg::new()
    }
}

impl Deref for Msg {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.data()
    }
}

impl AsRef<[u8]> for Msg {
    fn as_ref(&self) -> &[u8] {
        self.data()
    }
}

impl PartialEq for Msg {
    fn eq(&self, other: &Msg) -> bool {
        self.flags == other.flags && self.data() == other.data()
    }
}

impl Eq for Msg {}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data = self.data();
        let mut d = f.debug_struct("Msg");
        d.field("len", &data.len());
        if self.flags != 0 {
            d.field("flags", &format_args!("{:#04x}", self.flags));
        }
        let shown = &data[..data.len().min(32)];
        d.field("data", &bytes::Bytes::copy_from_slice(shown));
        d.finish()
    }
}

impl From<Bytes> for Msg {
    fn from(b: Bytes) -> Msg {
        Msg::from_bytes(b)
    }
}

impl From<Vec<u8>> for Msg {
    fn from(v: Vec<u8>) -> Msg {
        Msg::from_bytes(Bytes::from(v))
    }
}

impl From<&[u8]> for Msg {
    fn from(s: &[u8]) -> Msg {
        Msg::copy_from_slice(s)
    }
}

impl<const N: usize> From<&[u8; N]> for Msg {
    fn from(s: &[u8; N]) -> Msg {
        Msg::copy_from_slice(s)
    }
}

impl From<&str> for Msg {
    fn from(s: &str) -> Msg {
        Msg::copy_from_slice(s.as_bytes())
    }
}

impl From<String> for Msg {
    fn from(s: String) -> Msg {
        Msg::from(s.into_bytes())
    }
}

/// Copies of one frame for the pipes of a fan-out ([`Msg::copies`]).
#[doc(hidden)]
pub struct Copies {
    body: CopySource,
    flags: u8,
    len: usize,
    properties: Option<Arc<Properties>>,
}

enum CopySource {
    /// A long body whose references were taken together, and a copy's bits without
    /// properties, which own one of them once it is taken ([`Shares::take`]).
    ///
    /// [`Shares::take`]: crate::pool::Shares::take
    Pooled(crate::pool::Shares, std::mem::ManuallyDrop<Msg>),
    /// A frame that owns nothing (an inline body, no properties), copied bit for bit.
    Plain(Msg),
    Other(Body),
}

impl Copies {
    /// A frame equal to the one the copies were made of.
    #[inline]
    pub fn copy(&mut self) -> Msg {
        let body = match &mut self.body {
            CopySource::Pooled(shares, _) => Body::Pooled(shares.handle()),
            CopySource::Plain(frame) => return frame.clone(),
            CopySource::Other(body) => body.clone(),
        };
        Msg {
            body: MaybeUninit::new(body),
            flags: self.flags,
            properties: self.properties.clone(),
        }
    }

    /// [`Copies::copy`], made in `slot` (a pipe's), where it is to stay.
    ///
    /// Why: a copy made and then moved went through the stack in stores of one size and came
    /// back in loads of another that straddled them, which the CPU cannot serve from its
    /// pending stores: each load waited for the stores, and the pipe writes before them, to
    /// reach the cache (perf on `fanout inproc 16 B x100`: three quarters of the publisher's
    /// time in `Distributor::distribute`; a pooled body's copy waited so in `Copies::copy` at
    /// 1 KiB). A frame without properties is copied into the slot in one piece.
    #[inline]
    pub fn copy_into(&mut self, slot: &mut MaybeUninit<Msg>) {
        let plain = self.properties.is_none();
        let bits: Option<&Msg> = match &mut self.body {
            CopySource::Plain(frame) => Some(frame),
            CopySource::Pooled(shares, frame) if plain => shares.take().then_some(&**frame),
            _ => None,
        };
        if let Some(frame) = bits {
            // SAFETY: a plain frame owns nothing (an inline body, no properties), and a pooled
            // one's bits are a handle to the body that owns the reference just taken, and no
            // properties: either way, the bits are a second frame equal to the first, owning
            // what it is to drop. `slot` is valid for a write of one frame and is not the
            // frame (it is borrowed mutably while `self` is borrowed too).
            #[allow(unsafe_code)]
            unsafe {
                std::ptr::copy_nonoverlapping(frame, slot.as_mut_ptr(), 1);
            }
            return;
        }
        slot.write(self.copy());
    }

    /// Whether each copy has the MORE flag.
    #[inline]
    pub fn more(&self) -> bool {
        self.flags & flags::MORE != 0
    }

    /// The copies' body length.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the copies' body is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl From<Msg> for Bytes {
    fn from(m: Msg) -> Bytes {
        m.into_bytes()
    }
}

/// An inline body: its length and bytes in five aligned words, which the compiler moves as
/// such rather than as a length byte and a byte array.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Inline {
    len: u8,
    buf: [u8; INLINE_CAPACITY],
}

/// Chosen so that `Msg`, with its properties handle, fits the 64 bytes of libzmq's
/// `zmq_msg_t`, and above libzmq's own inline limit of 33 bytes.
const INLINE_CAPACITY: usize = 39;

const _: () = assert!(std::mem::size_of::<Msg>() <= 64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_bodies_are_inline_and_long_ones_shared() {
        let short = Msg::from(vec![7u8; Msg::INLINE_CAPACITY]);
        assert!(short.shared().is_none());
        assert_eq!(short.len(), Msg::INLINE_CAPACITY);
        let long = Msg::from(vec![7u8; Msg::INLINE_CAPACITY + 1]);
        assert!(long.shared().is_some());
        assert_eq!(&long[..], &[7u8; Msg::INLINE_CAPACITY + 1][..]);
    }

    #[test]
    #[allow(unsafe_code)]
    fn copies_for_a_fan_out_equal_the_frame_and_share_a_long_body() {
        let mut props = Properties::new();
        props.insert("User-Id", "u");
        // Without properties a short frame is copied bit for bit (`CopySource::Plain`).
        for props in [None, Some(Arc::new(props))] {
            for body in [
                Msg::copy_from_slice(b"short"),
                Msg::copy_from_slice(&[5u8; 700]),
                Msg::from(vec![6u8; 700]),
            ] {
                let mut m = body.with_more(true);
                m.set_properties(props.clone());
                for n in [0, 1, 3] {
                    let mut copies = m.copies(n);
                    assert_eq!((copies.len(), copies.more()), (m.len(), true));
                    // One more than asked for: a clone, as any. Every other one made in a
                    // slot, as a pipe makes them.
                    let made: Vec<Msg> = (0..=n)
                        .map(|i| {
                            if i % 2 == 0 {
                                return copies.copy();
                            }
                            let mut slot = MaybeUninit::uninit();
                            copies.copy_into(&mut slot);
                            // SAFETY: `copy_into` initialised the slot.
                            unsafe { slot.assume_init() }
                        })
                        .collect();
                    drop(copies);
                    for c in &made {
                        assert_eq!(c, &m);
                        assert!(c.more());
                        assert_eq!(c.property("User-Id"), props.as_ref().map(|_| &b"u"[..]));
                        assert_eq!(c.is_pooled(), m.is_pooled());
                        if m.len() > Msg::INLINE_CAPACITY {
                            assert_eq!(c.data().as_ptr(), m.data().as_ptr(), "shared, not copied");
                        }
                    }
                    assert_eq!(m.is_shared(), m.len() > Msg::INLINE_CAPACITY);
                    drop(made);
                    assert!(!m.is_shared(), "every copy gave its reference back");
                }
            }
        }
    }

    #[test]
    #[allow(unsafe_code)]
    fn a_frame_written_in_place_equals_one_copied_and_moved() {
        for len in [
            0,
            1,
            16,
            Msg::INLINE_CAPACITY,
            Msg::INLINE_CAPACITY + 1,
            5000,
        ] {
            for more in [false, true] {
                let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                let mut slot = MaybeUninit::uninit();
                Msg::write_copy(&mut slot, &data, more);
                // SAFETY: `write_copy` initialised the slot.
                let m = unsafe { slot.assume_init() };
                assert_eq!(
                    m,
                    Msg::copy_from_slice(&data).with_more(more),
                    "{len} {more}"
                );
                assert_eq!(
                    m.shared().is_none(),
                    len <= Msg::INLINE_CAPACITY || m.is_pooled()
                );
                assert_eq!(m.is_pooled(), len > Msg::INLINE_CAPACITY);
            }
        }
    }

    #[test]
    #[allow(unsafe_code)]
    fn copied_bodies_are_pooled_up_to_64_kib() {
        for len in [
            Msg::INLINE_CAPACITY + 1,
            1000,
            pool::MAX_LEN,
            pool::MAX_LEN + 1,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let m = Msg::copy_from_slice(&data);
            assert!(
                matches!(m.body(), Body::Pooled(_)) == (len <= pool::MAX_LEN),
                "{len}"
            );
            assert_eq!(m.data(), &data[..]);
            assert_eq!(m.len(), len);
            assert!(!m.is_shared());
            let c = m.clone();
            assert!(m.is_shared());
            assert_eq!(c.data().as_ptr(), m.data().as_ptr());
            assert_eq!(&c.into_bytes()[..], &data[..]);
            assert!(!m.is_shared());
        }
        let mut z = Msg::zeroed(300).expect("memory");
        assert!(matches!(z.body(), Body::Pooled(_)));
        // SAFETY: the body is 300 bytes and this frame its only reference.
        unsafe { z.as_mut_ptr().add(299).write(5) };
        assert_eq!(z.data()[299], 5);
        assert!(z.data()[..299].iter().all(|&b| b == 0));
    }

    #[test]
    fn flags_are_independent() {
        let mut m = Msg::from("abc");
        assert!(!m.more());
        m.set_more(true);
        m.set_command(true);
        assert!(m.more() && m.is_command());
        m.set_more(false);
        assert!(!m.more() && m.is_command());
        assert!(Msg::subscribe(b"t").is_subscribe());
        assert!(Msg::cancel(b"t").is_cancel());
        assert_eq!(Msg::cancel(b"t").data(), b"t");
    }

    #[test]
    fn properties_match_in_any_case_and_alias_the_routing_id() {
        let mut p = Properties::new();
        p.insert("Socket-Type", "DEALER");
        p.insert("Identity", "id-1");
        p.insert("X-Color", "blue");
        p.insert("x-color", "red");
        assert_eq!(p.get("socket-type"), Some(&b"DEALER"[..]));
        assert_eq!(p.get(PROPERTY_ROUTING_ID), Some(&b"id-1"[..]));
        assert_eq!(p.get("X-COLOR"), Some(&b"red"[..]));
        assert_eq!(p.get("X-Size"), None);
        assert_eq!(p.iter().count(), 3);
        let mut m = Msg::from("body");
        assert_eq!(m.property("Socket-Type"), None);
        m.set_properties(Some(Arc::new(p)));
        assert_eq!(m.clone().property("Identity"), Some(&b"id-1"[..]));
    }

    #[test]
    fn clone_of_shared_body_shares_the_buffer() {
        let m = Msg::from(vec![1u8; 1000]);
        let c = m.clone();
        let (a, b) = (
            m.shared().map(|b| b.as_ptr()),
            c.shared().map(|b| b.as_ptr()),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn every_body_kind_clones_converts_and_drops_once() {
        let props = Arc::new(Properties::new());
        let bodies = [
            Msg::copy_from_slice(b"inline"),
            Msg::copy_from_slice(&[3u8; 300]),
            Msg::from(vec![4u8; 70_000]),
        ];
        for m in bodies {
            let mut m = m.with_more(true);
            m.set_properties(Some(Arc::clone(&props)));
            let data = m.data().to_vec();
            let c = m.clone();
            assert_eq!((c.data(), c.more()), (&data[..], true));
            assert_eq!(Arc::strong_count(&props), 3);
            // Wrapped and unwrapped, as the pipes and sockets move frames.
            let wrapped: Result<Option<Msg>, ()> = Ok(Some(c));
            let c = wrapped.ok().flatten().expect("the frame");
            assert_eq!(c.data(), &data[..]);
            drop(c);
            assert_eq!(m.into_bytes(), data, "into_bytes keeps the body");
            assert_eq!(Arc::strong_count(&props), 1, "and drops the properties");
        }
    }
}
