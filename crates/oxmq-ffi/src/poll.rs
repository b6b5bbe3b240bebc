//! `zmq_poll`, `zmq_proxy`, `zmq_proxy_steerable` and the deprecated `zmq_device`.

use std::ffi::{c_int, c_long, c_short, c_void};

use oxmq::PollItem;

use crate::socket::socket_mut;
use crate::{fail, guard};

/// libzmq's `zmq_pollitem_t` (POSIX layout).
#[repr(C)]
pub struct zmq_pollitem_t {
    /// A socket, or null to poll `fd`.
    pub socket: *mut c_void,
    /// A file descriptor, polled when `socket` is null.
    pub fd: c_int,
    /// `ZMQ_POLLIN`, `ZMQ_POLLOUT`, `ZMQ_POLLERR`, `ZMQ_POLLPRI`.
    pub events: c_short,
    /// What happened, set by `zmq_poll`.
    pub revents: c_short,
}

/// `zmq_poll`: waits up to `timeout` ms (-1: forever, 0: not at all) until one of the items is
/// ready; returns how many are.
#[no_mangle]
pub unsafe extern "C" fn zmq_poll(
    items: *mut zmq_pollitem_t,
    nitems: c_int,
    timeout: c_long,
) -> c_int {
    guard(-1, || {
        let n = usize::try_from(nitems).map_err(|_| libc::EINVAL)?;
        if n == 0 {
            // libzmq sleeps for the time-out when given nothing to poll.
            if let Ok(ms) = u64::try_from(timeout) {
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
            return Ok(0);
        }
        if items.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: the caller passes `nitems` valid items.
        let items = unsafe { std::slice::from_raw_parts_mut(items, n) };
        let targets = items.iter().map(|i| (i.socket, i.fd, i.events));
        // SAFETY: per the crate's contract.
        let (ready, revents) = unsafe { poll_targets(targets, timeout) }?;
        for (item, r) in items.iter_mut().zip(revents) {
            item.revents = r;
        }
        Ok(c_int::try_from(ready).unwrap_or(c_int::MAX))
    })
}

/// Polls each `(socket, fd, events)` (the socket when not null, else the descriptor) for up to
/// `timeout` ms, as `zmq_poll` and the draft poller do; returns how many are ready and each
/// one's `revents`.
///
/// # Safety
/// Each non-null socket is a live handle, none listed twice (libzmq's contract as well).
pub(crate) unsafe fn poll_targets(
    targets: impl Iterator<Item = (*mut c_void, c_int, c_short)>,
    timeout: c_long,
) -> crate::Fallible<(usize, Vec<c_short>)> {
    let mut polled = Vec::with_capacity(targets.size_hint().0);
    for (socket, fd, events) in targets {
        // The event bits are a small mask in a short.
        let events = events as u16 as u32;
        polled.push(if socket.is_null() {
            PollItem::fd(fd, events)
        } else {
            // SAFETY: per the caller's guarantee.
            PollItem::socket(unsafe { socket_mut(socket) }?, events)
        });
    }
    #[allow(clippy::useless_conversion)] // `long` is 32 bits on some targets
    let timeout = i64::from(timeout);
    let ready = oxmq::poll(&mut polled, timeout).map_err(fail)?;
    Ok((
        ready,
        polled.iter().map(|p| p.revents() as c_short).collect(),
    ))
}

/// `zmq_proxy`: forwards between `frontend` and `backend` (copying to `capture` if not null)
/// until the context is terminated; returns -1 with `ETERM` then.
#[no_mangle]
pub unsafe extern "C" fn zmq_proxy(
    frontend: *mut c_void,
    backend: *mut c_void,
    capture: *mut c_void,
) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_proxy_steerable(frontend, backend, capture, std::ptr::null_mut()) }
}

/// `zmq_proxy_steerable`: `zmq_proxy`, also obeying PAUSE, RESUME, TERMINATE and STATISTICS
/// received on `control` (if not null).
#[no_mangle]
pub unsafe extern "C" fn zmq_proxy_steerable(
    frontend: *mut c_void,
    backend: *mut c_void,
    capture: *mut c_void,
    control: *mut c_void,
) -> c_int {
    guard(-1, || {
        if frontend == backend {
            // libzmq allows one socket on both sides (a ROUTER or DEALER "single-socket
            // forwarder"): every message goes back out of the socket it came in on.
            // SAFETY: per the crate's contract; capture, if any, is another socket.
            let socket = unsafe { socket_mut(frontend) }?;
            let capture = if capture.is_null() {
                None
            } else {
                // SAFETY: as above.
                Some(unsafe { socket_mut(capture) }?)
            };
            return single_socket_proxy(socket, capture);
        }
        // SAFETY: per the crate's contract; the four sockets are distinct.
        let (front, back) = unsafe { (socket_mut(frontend)?, socket_mut(backend)?) };
        let capture = if capture.is_null() {
            None
        } else {
            // SAFETY: as above.
            Some(unsafe { socket_mut(capture) }?)
        };
        let result = if control.is_null() {
            oxmq::proxy(front, back, capture)
        } else {
            // SAFETY: as above.
            oxmq::proxy_steerable(front, back, capture, unsafe { socket_mut(control) }?)
        };
        result.map_err(fail)?;
        Ok(0)
    })
}

/// `zmq_device` (deprecated): `zmq_proxy` without capture; the device type is ignored, as in
/// libzmq.
#[no_mangle]
pub unsafe extern "C" fn zmq_device(
    _type: c_int,
    frontend: *mut c_void,
    backend: *mut c_void,
) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_proxy(frontend, backend, std::ptr::null_mut()) }
}

/// `zmq_proxy` with the same socket as frontend and backend: sends every frame back through
/// it (and a copy to `capture`), until an error such as `ETERM` ends it.
fn single_socket_proxy(
    socket: &mut oxmq::Socket,
    mut capture: Option<&mut oxmq::Socket>,
) -> crate::Fallible<c_int> {
    loop {
        let frame = socket.recv().map_err(fail)?;
        if let Some(c) = capture.as_deref_mut() {
            c.send(frame.clone()).map_err(fail)?;
        }
        socket.send(frame).map_err(fail)?;
    }
}
