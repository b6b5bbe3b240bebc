//! Sockets: `zmq_socket`, `zmq_close`, options, endpoints, `zmq_send`/`zmq_recv` and the
//! monitor.

use std::ffi::{c_char, c_int, c_void, CStr};

use oxmq::{Msg, Socket, SocketType};

use crate::ctx::ctx_ref;
use crate::{fail, guard, Fallible};

/// What a `void *` socket points to.
#[repr(C)]
pub(crate) struct SocketHandle {
    tag: u32,
    pub(crate) socket: Socket,
}

const SOCKET_TAG: u32 = 0xbadd_ecaf;
const DEAD_TAG: u32 = 0xdead_becf;

/// `ZMQ_DONTWAIT`.
pub(crate) const DONTWAIT: c_int = 1;
/// `ZMQ_SNDMORE`.
pub(crate) const SNDMORE: c_int = 2;

/// The socket behind `p`, or `ENOTSOCK` for null or foreign pointers.
///
/// # Safety
/// `p` is null or readable for a `u32`; a socket handle of ours stays valid until `zmq_close`,
/// and is used by one thread at a time.
pub(crate) unsafe fn socket_mut<'a>(p: *mut c_void) -> Fallible<&'a mut Socket> {
    if p.is_null() {
        return Err(libc::ENOTSOCK);
    }
    let h = p.cast::<SocketHandle>();
    // SAFETY: the caller guarantees `p` is readable for the tag, the first field.
    if unsafe { (*h).tag } != SOCKET_TAG {
        return Err(libc::ENOTSOCK);
    }
    // SAFETY: the tag says this is a live handle from `zmq_socket`; zmq.h's rule that a socket
    // is used by one thread at a time makes this the only reference.
    Ok(unsafe { &mut (*h).socket })
}

/// A C string argument as UTF-8 (`EINVAL` when it is null or not UTF-8).
///
/// # Safety
/// `s` is null or a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_arg<'a>(s: *const c_char) -> Fallible<&'a str> {
    if s.is_null() {
        return Err(libc::EINVAL);
    }
    // SAFETY: the caller guarantees a NUL-terminated string.
    unsafe { CStr::from_ptr(s) }
        .to_str()
        .map_err(|_| libc::EINVAL)
}

/// `len` bytes at `data` (empty for a null pointer with length 0).
///
/// # Safety
/// `data` is valid for reads of `len` bytes, or null with `len == 0`.
pub(crate) unsafe fn bytes_arg<'a>(data: *const c_void, len: usize) -> Fallible<&'a [u8]> {
    if data.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(libc::EFAULT) };
    }
    // SAFETY: the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
}

/// `zmq_socket`.
#[no_mangle]
pub unsafe extern "C" fn zmq_socket(context: *mut c_void, type_: c_int) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        // SAFETY: per the crate's contract.
        let h = unsafe { ctx_ref(context) }?;
        let ty = SocketType::from_raw(type_).ok_or(libc::EINVAL)?;
        let mut socket = h.ctx.socket(ty).map_err(fail)?;
        // libzmq's blocking calls end with EINTR on a signal; Python relies on it for Ctrl-C.
        socket.set_interruptible(true);
        let handle = Box::new(SocketHandle {
            tag: SOCKET_TAG,
            socket,
        });
        Ok(Box::into_raw(handle).cast())
    })
}

/// `zmq_close`: the socket goes away; what it still has to send is sent within LINGER.
#[no_mangle]
pub unsafe extern "C" fn zmq_close(s: *mut c_void) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        unsafe { socket_mut(s) }?;
        let h = s.cast::<SocketHandle>();
        // SAFETY: checked above to be a live handle from `zmq_socket`; the tag is cleared so
        // that a second close is refused while the memory is still readable.
        unsafe {
            (*h).tag = DEAD_TAG;
            drop(Box::from_raw(h));
        }
        Ok(0)
    })
}

/// `zmq_setsockopt`.
#[no_mangle]
pub unsafe extern "C" fn zmq_setsockopt(
    s: *mut c_void,
    option: c_int,
    optval: *const c_void,
    optvallen: usize,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let socket = unsafe { socket_mut(s) }?;
        // SAFETY: per the crate's contract.
        let value = unsafe { bytes_arg(optval, optvallen) }?;
        socket.set_sockopt(option, value).map_err(fail)?;
        Ok(0)
    })
}

/// CURVE key options, which `zmq_getsockopt` returns as 32 bytes or, given 41 bytes of room,
/// as Z85 text.
const CURVE_KEY_OPTIONS: [c_int; 3] = [
    oxmq::opt::CURVE_PUBLICKEY,
    oxmq::opt::CURVE_SECRETKEY,
    oxmq::opt::CURVE_SERVERKEY,
];

/// `zmq_getsockopt`: the value is copied into `optval` if `*optvallen` is large enough
/// (`EINVAL` otherwise), and `*optvallen` becomes its size.
#[no_mangle]
pub unsafe extern "C" fn zmq_getsockopt(
    s: *mut c_void,
    option: c_int,
    optval: *mut c_void,
    optvallen: *mut usize,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let socket = unsafe { socket_mut(s) }?;
        if optvallen.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: checked non-null; the caller guarantees it is valid.
        let room = unsafe { *optvallen };
        let mut value = socket.sockopt(option).map_err(fail)?;
        if CURVE_KEY_OPTIONS.contains(&option) && room == 41 {
            let mut text = oxmq::z85::encode(&value)
                .map_err(|_| libc::EINVAL)?
                .into_bytes();
            text.push(0);
            value = text;
        }
        if room < value.len() || (optval.is_null() && !value.is_empty()) {
            return Err(libc::EINVAL);
        }
        // SAFETY: `optval` has room for `room >= value.len()` bytes, per the contract.
        unsafe {
            std::ptr::copy_nonoverlapping(value.as_ptr(), optval.cast::<u8>(), value.len());
            *optvallen = value.len();
        }
        Ok(0)
    })
}

/// Runs `f` on the socket with the endpoint string.
///
/// # Safety
/// As `socket_mut` and `str_arg`.
unsafe fn with_endpoint(
    s: *mut c_void,
    endpoint: *const c_char,
    f: impl FnOnce(&mut Socket, &str) -> oxmq::Result<()>,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let socket = unsafe { socket_mut(s) }?;
        // SAFETY: per the crate's contract.
        let endpoint = unsafe { str_arg(endpoint) }?;
        f(socket, endpoint).map_err(fail)?;
        Ok(0)
    })
}

/// `zmq_bind`.
#[no_mangle]
pub unsafe extern "C" fn zmq_bind(s: *mut c_void, addr: *const c_char) -> c_int {
    // SAFETY: per the crate's contract.
    unsafe { with_endpoint(s, addr, Socket::bind) }
}

/// `zmq_connect`.
#[no_mangle]
pub unsafe extern "C" fn zmq_connect(s: *mut c_void, addr: *const c_char) -> c_int {
    // SAFETY: per the crate's contract.
    unsafe { with_endpoint(s, addr, Socket::connect) }
}

/// `zmq_unbind`.
#[no_mangle]
pub unsafe extern "C" fn zmq_unbind(s: *mut c_void, addr: *const c_char) -> c_int {
    // SAFETY: per the crate's contract.
    unsafe { with_endpoint(s, addr, Socket::unbind) }
}

/// `zmq_disconnect`.
#[no_mangle]
pub unsafe extern "C" fn zmq_disconnect(s: *mut c_void, addr: *const c_char) -> c_int {
    // SAFETY: per the crate's contract.
    unsafe { with_endpoint(s, addr, Socket::disconnect) }
}

/// Sends `msg` with `flags` (`ZMQ_SNDMORE`, `ZMQ_DONTWAIT`); gives it back when not sent.
#[inline(always)]
pub(crate) fn send_msg(
    socket: &mut Socket,
    mut msg: Msg,
    flags: c_int,
) -> Result<(), (c_int, Msg)> {
    // The flag byte is written only when it changes: a store into the frame just built by
    // `zmq_send` made the move that follows read it back in wider loads than were stored, which
    // wait for every store before them to reach the cache, the new body's included (the C
    // program's thr inproc 256 B: 10.86M-12.44M → 11.93M-12.98M msg/s, with `send_msg` inlined
    // and `Block::copy_from` too).
    let more = flags & SNDMORE != 0;
    if msg.more() != more {
        msg.set_more(more);
    }
    socket
        .send_or_keep(msg, flags & DONTWAIT != 0)
        .map_err(|(e, m)| (fail(e), m))
}

/// Sends a frame holding a copy of `data` with `flags` (`ZMQ_SNDMORE`, `ZMQ_DONTWAIT`), built
/// in the pipe's slot when short (`Socket::send_copy`).
pub(crate) fn send_bytes(socket: &mut Socket, data: &[u8], flags: c_int) -> Fallible<()> {
    let more = flags & SNDMORE != 0;
    if flags & DONTWAIT != 0 {
        socket.try_send_copy(data, more)
    } else {
        socket.send_copy(data, more)
    }
    .map_err(fail)
}

/// Receives one frame with `flags` (`ZMQ_DONTWAIT`).
pub(crate) fn recv_msg(socket: &mut Socket, flags: c_int) -> Fallible<Msg> {
    if flags & DONTWAIT != 0 {
        socket.try_recv()
    } else {
        socket.recv()
    }
    .map_err(fail)
}

/// The C return value for a size: libzmq returns it as an `int`.
pub(crate) fn size_result(n: usize) -> c_int {
    c_int::try_from(n).unwrap_or(c_int::MAX)
}

/// `zmq_send`: sends a copy of `len` bytes at `buf` as one frame.
#[no_mangle]
pub unsafe extern "C" fn zmq_send(
    s: *mut c_void,
    buf: *const c_void,
    len: usize,
    flags: c_int,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let socket = unsafe { socket_mut(s) }?;
        // SAFETY: per the crate's contract.
        let data = unsafe { bytes_arg(buf, len) }?;
        send_bytes(socket, data, flags)?;
        Ok(size_result(len))
    })
}

/// A caller's buffer that outlives every message made from it (`zmq_send_const`).
struct ConstBuf(*const u8, usize);

// SAFETY: the buffer is immutable and, by zmq_send_const's contract, lives for as long as the
// library may read it, from any thread.
unsafe impl Send for ConstBuf {}

impl AsRef<[u8]> for ConstBuf {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: see the `Send` impl; the pointer and length come from the caller together.
        unsafe { std::slice::from_raw_parts(self.0, self.1) }
    }
}

/// `zmq_send_const`: sends `len` bytes at `buf` without copying them; the buffer must stay
/// unchanged for as long as the library may read it.
#[no_mangle]
pub unsafe extern "C" fn zmq_send_const(
    s: *mut c_void,
    buf: *const c_void,
    len: usize,
    flags: c_int,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let socket = unsafe { socket_mut(s) }?;
        if buf.is_null() && len > 0 {
            return Err(libc::EFAULT);
        }
        let body =
            bytes::Bytes::from_owner(ConstBuf(buf.cast(), if buf.is_null() { 0 } else { len }));
        send_msg(socket, Msg::from_bytes(body), flags).map_err(|(e, _)| e)?;
        Ok(size_result(len))
    })
}

/// `zmq_recv`: receives one frame into `buf`, truncated to `len` bytes; returns the frame's
/// full size.
#[no_mangle]
pub unsafe extern "C" fn zmq_recv(
    s: *mut c_void,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let socket = unsafe { socket_mut(s) }?;
        let msg = recv_msg(socket, flags)?;
        let n = msg.len().min(len);
        if n > 0 {
            if buf.is_null() {
                return Err(libc::EFAULT);
            }
            // SAFETY: `buf` has room for `len >= n` bytes, per the contract.
            unsafe { std::ptr::copy_nonoverlapping(msg.data().as_ptr(), buf.cast::<u8>(), n) };
        }
        Ok(size_result(msg.len()))
    })
}

/// `zmq_socket_monitor`: publishes the socket's events (`events` mask) on the inproc PAIR
/// endpoint `addr`; a null `addr` stops monitoring.
#[no_mangle]
pub unsafe extern "C" fn zmq_socket_monitor(
    s: *mut c_void,
    addr: *const c_char,
    events: c_int,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let socket = unsafe { socket_mut(s) }?;
        let endpoint = if addr.is_null() {
            None
        } else {
            // SAFETY: per the crate's contract.
            Some(unsafe { str_arg(addr) }?)
        };
        // The mask is a bit set; libzmq takes it as an int.
        socket.monitor(endpoint, events as u32).map_err(fail)?;
        Ok(0)
    })
}

/// `zmq_sendiov` (deprecated): sends `count` buffers as the frames of one message (`flags` may
/// add `ZMQ_SNDMORE` to the last); returns the last frame's size.
#[no_mangle]
pub unsafe extern "C" fn zmq_sendiov(
    s: *mut c_void,
    iov: *mut libc::iovec,
    count: usize,
    flags: c_int,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let socket = unsafe { socket_mut(s) }?;
        if count == 0 || iov.is_null() {
            return Err(libc::EINVAL);
        }
        // SAFETY: `count` iovecs per the contract.
        let parts = unsafe { std::slice::from_raw_parts(iov, count) };
        let mut last = 0;
        for (i, part) in parts.iter().enumerate() {
            // SAFETY: each iovec describes readable memory, per the contract.
            let data = unsafe { bytes_arg(part.iov_base, part.iov_len) }?;
            let more = if i + 1 < count { SNDMORE } else { 0 };
            send_msg(socket, Msg::copy_from_slice(data), flags | more).map_err(|(e, _)| e)?;
            last = size_result(data.len());
        }
        Ok(last)
    })
}

/// `zmq_recviov` (deprecated): receives up to `*count` frames of one message into buffers it
/// allocates with `malloc` (the caller frees them); `*count` becomes how many it filled, which
/// it also returns.
#[no_mangle]
pub unsafe extern "C" fn zmq_recviov(
    s: *mut c_void,
    iov: *mut libc::iovec,
    count: *mut usize,
    flags: c_int,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let socket = unsafe { socket_mut(s) }?;
        if count.is_null() || iov.is_null() {
            return Err(libc::EINVAL);
        }
        // SAFETY: valid per the contract.
        let room = unsafe { *count };
        // SAFETY: `room` iovecs per the contract.
        let parts = unsafe { std::slice::from_raw_parts_mut(iov, room) };
        let mut filled = 0;
        for part in parts.iter_mut() {
            let msg = recv_msg(socket, flags)?;
            // SAFETY: malloc of any size is allowed; a null result is reported below.
            let buf = unsafe { libc::malloc(msg.len().max(1)) };
            if buf.is_null() {
                return Err(libc::ENOMEM);
            }
            // SAFETY: `buf` has room for the body.
            unsafe {
                std::ptr::copy_nonoverlapping(msg.data().as_ptr(), buf.cast::<u8>(), msg.len())
            };
            part.iov_base = buf;
            part.iov_len = msg.len();
            filled += 1;
            // SAFETY: valid per the contract.
            unsafe { *count = filled };
            if !msg.more() {
                break;
            }
        }
        Ok(size_result(filled))
    })
}
