//! `zmq_msg_t` and the `zmq_msg_*` functions.
//!
//! A `zmq_msg_t` is 64 pointer-aligned bytes, and an oxmq [`Msg`] is exactly that: the message
//! lives inside the caller's `zmq_msg_t`, with no allocation for bodies of up to
//! [`Msg::INLINE_CAPACITY`] bytes. `zmq_msg_init*` write a `Msg` there, `zmq_msg_close` drops
//! it and leaves an empty one behind (so a second close is harmless), and the other functions
//! borrow it.

use std::ffi::{c_char, c_int, c_void};

use oxmq::Msg;
use oxmq_proto::flags;

use crate::socket::{send_bytes, send_msg, size_result, socket_mut, str_arg, DONTWAIT};
use crate::{fail, guard, Fallible};

/// libzmq's `zmq_msg_t`: 64 bytes, aligned like a pointer.
#[repr(C, align(8))]
pub struct zmq_msg_t {
    _opaque: [u8; 64],
}

const _: () = assert!(std::mem::size_of::<Msg>() <= std::mem::size_of::<zmq_msg_t>());
const _: () = assert!(std::mem::align_of::<Msg>() <= std::mem::align_of::<zmq_msg_t>());

/// The `Msg` inside an initialised `zmq_msg_t`.
///
/// # Safety
/// `msg` is null or points to a `zmq_msg_t` that `zmq_msg_init*` initialised and that no other
/// thread uses.
unsafe fn msg_mut<'a>(msg: *mut zmq_msg_t) -> Fallible<&'a mut Msg> {
    if msg.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: per the caller's guarantee, an initialised Msg lives there (size and alignment
    // are asserted above).
    Ok(unsafe { &mut *msg.cast::<Msg>() })
}

/// `zmq_msg_move` and `zmq_msg_copy`: `f(dest, src)` on two distinct messages; nothing when
/// they are the same message, as in libzmq.
///
/// # Safety
/// Each pointer is null or points to an initialised `zmq_msg_t`.
unsafe fn msg_pair(
    dest: *mut zmq_msg_t,
    src: *mut zmq_msg_t,
    f: impl FnOnce(&mut Msg, &mut Msg),
) -> c_int {
    guard(-1, || {
        if dest == src {
            return Ok(0);
        }
        // SAFETY: per the caller's guarantee; distinct messages checked above.
        let (d, s) = unsafe { (msg_mut(dest)?, msg_mut(src)?) };
        f(d, s);
        Ok(0)
    })
}

/// Writes `value` into an uninitialised (or closed) `zmq_msg_t`.
///
/// # Safety
/// `msg` is null or valid for writes of a `zmq_msg_t`; what it held is not dropped.
pub(crate) unsafe fn msg_init(msg: *mut zmq_msg_t, value: Msg) -> Fallible<c_int> {
    if msg.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: per the caller's guarantee; size and alignment are asserted above.
    unsafe { msg.cast::<Msg>().write(value) };
    Ok(0)
}

/// `zmq_msg_init`: an empty message.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_init(msg: *mut zmq_msg_t) -> c_int {
    // SAFETY: per the crate's contract.
    guard(-1, || unsafe { msg_init(msg, Msg::new()) })
}

/// `zmq_msg_init_size`: a message of `size` bytes for the caller to fill through
/// `zmq_msg_data` (`ENOMEM` when it cannot be had).
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_init_size(msg: *mut zmq_msg_t, size: usize) -> c_int {
    guard(-1, || {
        if size <= Msg::INLINE_CAPACITY && !msg.is_null() {
            // A short frame is made where it stays, in the caller's `zmq_msg_t`: made on the
            // stack and moved there, its move read back stores that had not reached the cache
            // yet (perf: half of `zmq_msg_init_size`'s samples on two such loads).
            // SAFETY: per the crate's contract `msg` points to a `zmq_msg_t`, which holds a
            // `Msg` (size and alignment are asserted above); it need not be initialised.
            let slot = unsafe { &mut *msg.cast::<std::mem::MaybeUninit<Msg>>() };
            Msg::write_copy(slot, &[0; Msg::INLINE_CAPACITY][..size], false);
            return Ok(0);
        }
        let body = Msg::zeroed(size).ok_or(libc::ENOMEM)?;
        // SAFETY: per the crate's contract.
        unsafe { msg_init(msg, body) }
    })
}

/// A caller's buffer handed over by `zmq_msg_init_data`, given back through its free function
/// when the last message using it is dropped.
struct CallerBuf {
    data: *mut u8,
    len: usize,
    free: Option<ZmqFreeFn>,
    hint: *mut c_void,
}

/// `zmq_free_fn`.
pub type ZmqFreeFn = unsafe extern "C" fn(data: *mut c_void, hint: *mut c_void);

// SAFETY: zmq_msg_init_data hands the buffer over to the library: nothing else writes to it
// while messages refer to it, and its free function may be called from any thread (zmq.h's
// contract for zmq_free_fn).
unsafe impl Send for CallerBuf {}

impl AsRef<[u8]> for CallerBuf {
    fn as_ref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `data` is valid for `len` bytes until `drop` gives it back.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

impl Drop for CallerBuf {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: called once, when the last message using the buffer is gone, with the
            // pointer and hint the caller gave; a panic cannot come out of C.
            unsafe { free(self.data.cast(), self.hint) };
        }
    }
}

/// `zmq_msg_init_data`: a message whose body is the caller's `size` bytes at `data`, used in
/// place; `ffn(data, hint)` is called once when the library no longer needs them (from
/// whichever thread drops the last reference). A null `ffn` means the buffer is never freed.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_init_data(
    msg: *mut zmq_msg_t,
    data: *mut c_void,
    size: usize,
    ffn: Option<ZmqFreeFn>,
    hint: *mut c_void,
) -> c_int {
    guard(-1, || {
        if data.is_null() && size > 0 {
            return Err(libc::EFAULT);
        }
        let buf = CallerBuf {
            data: data.cast(),
            len: size,
            free: ffn,
            hint,
        };
        let body = Msg::from_bytes_shared(bytes::Bytes::from_owner(buf));
        // SAFETY: per the crate's contract.
        unsafe { msg_init(msg, body) }
    })
}

/// `zmq_msg_close`: releases the body; the message is left empty.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_close(msg: *mut zmq_msg_t) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let m = unsafe { msg_mut(msg) }?;
        *m = Msg::new();
        Ok(0)
    })
}

/// `zmq_msg_move`: `dest` takes `src`'s content (its old one released); `src` becomes empty.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_move(dest: *mut zmq_msg_t, src: *mut zmq_msg_t) -> c_int {
    // SAFETY: per the crate's contract.
    unsafe { msg_pair(dest, src, |d, s| *d = std::mem::take(s)) }
}

/// `zmq_msg_copy`: `dest` shares `src`'s body (no copy of the bytes), as in libzmq.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_copy(dest: *mut zmq_msg_t, src: *mut zmq_msg_t) -> c_int {
    // SAFETY: per the crate's contract.
    unsafe { msg_pair(dest, src, |d, s| *d = s.clone()) }
}

/// `zmq_msg_data`: the body's address (writable for a message the caller made).
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_data(msg: *mut zmq_msg_t) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        // SAFETY: per the crate's contract.
        Ok(unsafe { msg_mut(msg) }?.as_mut_ptr().cast())
    })
}

/// `zmq_msg_size`.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_size(msg: *const zmq_msg_t) -> usize {
    guard(0, || {
        // SAFETY: per the crate's contract (the message is only read).
        Ok(unsafe { msg_mut(msg.cast_mut()) }?.len())
    })
}

/// `zmq_msg_more`: whether more frames of the message follow this received one.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_more(msg: *const zmq_msg_t) -> c_int {
    guard(0, || {
        // SAFETY: per the crate's contract (the message is only read).
        Ok(c_int::from(unsafe { msg_mut(msg.cast_mut()) }?.more()))
    })
}

/// `ZMQ_MORE` of `zmq_msg_get`.
const PROPERTY_MORE: c_int = 1;
/// `ZMQ_SRCFD` (deprecated) of `zmq_msg_get`.
const PROPERTY_SRCFD: c_int = 2;
/// `ZMQ_SHARED` of `zmq_msg_get`.
const PROPERTY_SHARED: c_int = 3;

/// `zmq_msg_get`: `ZMQ_MORE`, `ZMQ_SHARED`, and the deprecated `ZMQ_SRCFD` (always -1 here:
/// oxmq does not tie a message to a descriptor).
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_get(msg: *const zmq_msg_t, property: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract (the message is only read).
        let m = unsafe { msg_mut(msg.cast_mut()) }?;
        match property {
            PROPERTY_MORE => Ok(c_int::from(m.more())),
            PROPERTY_SRCFD => Ok(-1),
            PROPERTY_SHARED => Ok(c_int::from(m.is_shared())),
            _ => Err(libc::EINVAL),
        }
    })
}

/// `zmq_msg_set`: no property can be set (`EINVAL`), as in libzmq 4.3.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_set(
    _msg: *mut zmq_msg_t,
    _property: c_int,
    _value: c_int,
) -> c_int {
    guard(-1, || Err(libc::EINVAL))
}

/// `zmq_msg_gets`: a property of the connection the message came from, as a C string that
/// lives as long as the message (`EINVAL` and null when it has none of that name).
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_gets(
    msg: *const zmq_msg_t,
    property: *const c_char,
) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: per the crate's contract (the message is only read).
        let m = unsafe { msg_mut(msg.cast_mut()) }?;
        // SAFETY: per the crate's contract.
        let name = unsafe { str_arg(property) }?;
        let value = m
            .properties()
            .and_then(|p| p.get_with_nul(name))
            .ok_or(libc::EINVAL)?;
        Ok(value.as_ptr().cast())
    })
}

/// `zmq_msg_send`: sends the message as one frame (`ZMQ_SNDMORE`, `ZMQ_DONTWAIT`); on
/// success it is left empty, on failure untouched. Returns the frame's size.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_send(msg: *mut zmq_msg_t, s: *mut c_void, flags: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let (m, socket) = unsafe { (msg_mut(msg)?, socket_mut(s)?) };
        let len = m.len();
        if len <= Msg::INLINE_CAPACITY && m.flags() & !flags::MORE == 0 && m.properties().is_none()
        {
            // A short frame the caller has just filled (`zmq_msg_init_size`, then a copy into
            // `zmq_msg_data`) is sent as bytes, copied into the pipe's slot as `zmq_send`'s
            // are: moved whole, its move read the caller's stores back before they reached the
            // cache. The message is then empty, as after any send; on an error it is unchanged.
            send_bytes(socket, m.data(), flags)?;
            *m = Msg::new();
            return Ok(size_result(len));
        }
        let frame = std::mem::take(m);
        if let Err((errno, frame)) = send_msg(socket, frame, flags) {
            *m = frame;
            return Err(errno);
        }
        Ok(size_result(len))
    })
}

/// `zmq_msg_recv`: receives one frame into the message (its old content released). Returns the
/// frame's size.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_recv(msg: *mut zmq_msg_t, s: *mut c_void, flags: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let (m, socket) = unsafe { (msg_mut(msg)?, socket_mut(s)?) };
        // The blocking receive moves the frame straight into the caller's `zmq_msg_t`
        // (`Socket::recv_into`), not through a `Result` first: each move reads memory the
        // previous one has just written, and when those stores were of other widths the
        // loads waited for them (dropping the moves through `recv_msg` and `?` took the
        // receiving thread from 151 to 139 ns per message; docs/BENCHMARKS.md, "C ABI").
        if flags & DONTWAIT == 0 {
            socket.recv_into(m).map_err(fail)?;
            return Ok(size_result(m.len()));
        }
        match socket.try_recv() {
            Ok(frame) => {
                let len = frame.len();
                *m = frame;
                Ok(size_result(len))
            }
            Err(e) => Err(fail(e)),
        }
    })
}

/// `zmq_sendmsg` (deprecated): `zmq_msg_send` with the arguments swapped.
#[no_mangle]
pub unsafe extern "C" fn zmq_sendmsg(s: *mut c_void, msg: *mut zmq_msg_t, flags: c_int) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_msg_send(msg, s, flags) }
}

/// `zmq_recvmsg` (deprecated): `zmq_msg_recv` with the arguments swapped.
#[no_mangle]
pub unsafe extern "C" fn zmq_recvmsg(s: *mut c_void, msg: *mut zmq_msg_t, flags: c_int) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_msg_recv(msg, s, flags) }
}
