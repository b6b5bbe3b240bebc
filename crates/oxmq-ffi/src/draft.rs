//! The draft API of libzmq 4.3 (`ZMQ_BUILD_DRAFT_API`): `zmq_poller_*` over oxmq's poll, the
//! versioned monitor (version 1), `zmq_msg_init_buffer` and the `_ext` context calls; `ENOTSUP`
//! for what needs the draft socket types or features oxmq does not have (groups, routing ids on
//! messages, peer state, pipe statistics, `zmq_connect_peer`, `zmq_ppoll`, `zmq_poller_fd`).

use std::ffi::{c_char, c_int, c_long, c_short, c_void};

use oxmq::Msg;

use crate::ctx::ctx_ref;
use crate::msg::zmq_msg_t;
use crate::socket::socket_mut;
use crate::{fail, guard, Fallible};

/// libzmq's `zmq_poller_event_t`.
#[repr(C)]
pub struct zmq_poller_event_t {
    /// The socket that is ready, or null for a descriptor.
    pub socket: *mut c_void,
    /// The descriptor that is ready (when `socket` is null).
    pub fd: c_int,
    /// What was registered with it.
    pub user_data: *mut c_void,
    /// What it is ready for.
    pub events: c_short,
}

/// One registration: a socket or a descriptor.
struct Entry {
    socket: *mut c_void,
    fd: c_int,
    user_data: *mut c_void,
    events: c_short,
}

#[derive(Default)]
struct Poller {
    entries: Vec<Entry>,
}

/// The poller behind a `void *` from `zmq_poller_new`.
///
/// # Safety
/// `p` is null or came from `zmq_poller_new` and was not destroyed; one thread at a time.
unsafe fn poller_mut<'a>(p: *mut c_void) -> Fallible<&'a mut Poller> {
    if p.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: per the caller's guarantee.
    Ok(unsafe { &mut *p.cast::<Poller>() })
}

impl Poller {
    fn position(&self, socket: *mut c_void, fd: c_int) -> Option<usize> {
        self.entries.iter().position(|e| {
            if socket.is_null() {
                e.socket.is_null() && e.fd == fd
            } else {
                e.socket == socket
            }
        })
    }

    fn add(&mut self, entry: Entry) -> Fallible<c_int> {
        if self.position(entry.socket, entry.fd).is_some() {
            return Err(libc::EINVAL);
        }
        self.entries.push(entry);
        Ok(0)
    }

    fn modify(&mut self, socket: *mut c_void, fd: c_int, events: c_short) -> Fallible<c_int> {
        let i = self.position(socket, fd).ok_or(libc::EINVAL)?;
        self.entries[i].events = events;
        Ok(0)
    }

    fn remove(&mut self, socket: *mut c_void, fd: c_int) -> Fallible<c_int> {
        let i = self.position(socket, fd).ok_or(libc::EINVAL)?;
        self.entries.remove(i);
        Ok(0)
    }
}

/// `zmq_poller_new`.
#[no_mangle]
pub extern "C" fn zmq_poller_new() -> *mut c_void {
    Box::into_raw(Box::<Poller>::default()).cast()
}

/// `zmq_poller_destroy`: frees the poller and nulls the caller's pointer.
#[no_mangle]
pub unsafe extern "C" fn zmq_poller_destroy(poller_p: *mut *mut c_void) -> c_int {
    // SAFETY: per the crate's contract, `*poller_p` is null or a Poller of ours.
    unsafe { crate::destroy_through::<Poller>(poller_p) }
}

/// `zmq_poller_size`: how many sockets and descriptors are registered.
#[no_mangle]
pub unsafe extern "C" fn zmq_poller_size(poller: *mut c_void) -> c_int {
    // SAFETY: per the crate's contract.
    guard(-1, || {
        Ok(unsafe { poller_mut(poller) }?.entries.len() as c_int)
    })
}

/// `zmq_poller_add`.
#[no_mangle]
pub unsafe extern "C" fn zmq_poller_add(
    poller: *mut c_void,
    s: *mut c_void,
    user_data: *mut c_void,
    events: c_short,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        unsafe { socket_mut(s) }?;
        // SAFETY: per the crate's contract.
        unsafe { poller_mut(poller) }?.add(Entry {
            socket: s,
            fd: -1,
            user_data,
            events,
        })
    })
}

/// `zmq_poller_add_fd`.
#[no_mangle]
pub unsafe extern "C" fn zmq_poller_add_fd(
    poller: *mut c_void,
    fd: c_int,
    user_data: *mut c_void,
    events: c_short,
) -> c_int {
    guard(-1, || {
        if fd < 0 {
            return Err(libc::EBADF);
        }
        // SAFETY: per the crate's contract.
        unsafe { poller_mut(poller) }?.add(Entry {
            socket: std::ptr::null_mut(),
            fd,
            user_data,
            events,
        })
    })
}

/// `zmq_poller_modify`.
#[no_mangle]
pub unsafe extern "C" fn zmq_poller_modify(
    poller: *mut c_void,
    s: *mut c_void,
    events: c_short,
) -> c_int {
    // SAFETY: per the crate's contract.
    guard(-1, || unsafe { poller_mut(poller) }?.modify(s, -1, events))
}

/// `zmq_poller_modify_fd`.
#[no_mangle]
pub unsafe extern "C" fn zmq_poller_modify_fd(
    poller: *mut c_void,
    fd: c_int,
    events: c_short,
) -> c_int {
    // SAFETY: per the crate's contract.
    guard(-1, || {
        unsafe { poller_mut(poller) }?.modify(std::ptr::null_mut(), fd, events)
    })
}

/// `zmq_poller_remove`.
#[no_mangle]
pub unsafe extern "C" fn zmq_poller_remove(poller: *mut c_void, s: *mut c_void) -> c_int {
    // SAFETY: per the crate's contract.
    guard(-1, || unsafe { poller_mut(poller) }?.remove(s, -1))
}

/// `zmq_poller_remove_fd`.
#[no_mangle]
pub unsafe extern "C" fn zmq_poller_remove_fd(poller: *mut c_void, fd: c_int) -> c_int {
    // SAFETY: per the crate's contract.
    guard(-1, || {
        unsafe { poller_mut(poller) }?.remove(std::ptr::null_mut(), fd)
    })
}

/// `zmq_poller_wait_all`: waits up to `timeout` ms until something registered is ready and
/// fills up to `n_events` events; returns how many (`EAGAIN` when the time ran out).
#[no_mangle]
pub unsafe extern "C" fn zmq_poller_wait_all(
    poller: *mut c_void,
    events: *mut zmq_poller_event_t,
    n_events: c_int,
    timeout: c_long,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let p = unsafe { poller_mut(poller) }?;
        let room = usize::try_from(n_events).map_err(|_| libc::EINVAL)?;
        if events.is_null() || room == 0 {
            return Err(libc::EFAULT);
        }
        if p.entries.is_empty() {
            return Err(libc::EFAULT);
        }
        let targets = p.entries.iter().map(|e| (e.socket, e.fd, e.events));
        // SAFETY: registered sockets are live handles, per the crate's contract.
        let (ready, revents) = unsafe { crate::poll::poll_targets(targets, timeout) }?;
        if ready == 0 {
            return Err(libc::EAGAIN);
        }
        // SAFETY: the caller gives room for `n_events` events.
        let out = unsafe { std::slice::from_raw_parts_mut(events, room) };
        let mut n = 0;
        for (e, r) in p.entries.iter().zip(revents) {
            if r == 0 || n == room {
                continue;
            }
            out[n] = zmq_poller_event_t {
                socket: e.socket,
                fd: e.fd,
                user_data: e.user_data,
                events: r,
            };
            n += 1;
        }
        Ok(n as c_int)
    })
}

/// `zmq_poller_wait`: `zmq_poller_wait_all` for one event.
#[no_mangle]
pub unsafe extern "C" fn zmq_poller_wait(
    poller: *mut c_void,
    event: *mut zmq_poller_event_t,
    timeout: c_long,
) -> c_int {
    // SAFETY: same contract.
    let n = unsafe { zmq_poller_wait_all(poller, event, 1, timeout) };
    if n < 0 {
        n
    } else {
        0
    }
}

/// `zmq_poller_fd`: `ENOTSUP` (a poller has no descriptor of its own here).
#[no_mangle]
pub unsafe extern "C" fn zmq_poller_fd(_poller: *mut c_void, _fd: *mut c_int) -> c_int {
    guard(-1, || Err(libc::ENOTSUP))
}

/// `zmq_socket_monitor_versioned`: version 1 is `zmq_socket_monitor` (on a PAIR); version 2's
/// multi-value events are `ENOTSUP`.
#[no_mangle]
pub unsafe extern "C" fn zmq_socket_monitor_versioned(
    s: *mut c_void,
    addr: *const c_char,
    events: u64,
    event_version: c_int,
    type_: c_int,
) -> c_int {
    const ZMQ_PAIR: c_int = 0;
    if event_version != 1 || (type_ != ZMQ_PAIR && !addr.is_null()) {
        return guard(-1, || Err(libc::ENOTSUP));
    }
    // The version-1 event mask fits in 32 bits.
    // SAFETY: same contract.
    unsafe { crate::zmq_socket_monitor(s, addr, events as u32 as c_int) }
}

/// `zmq_msg_init_buffer`: a message holding a copy of `size` bytes at `buf`.
#[no_mangle]
pub unsafe extern "C" fn zmq_msg_init_buffer(
    msg: *mut zmq_msg_t,
    buf: *const c_void,
    size: usize,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let data = unsafe { crate::socket::bytes_arg(buf, size) }?;
        // SAFETY: per the crate's contract.
        unsafe { crate::msg::msg_init(msg, Msg::copy_from_slice(data)) }
    })
}

/// `zmq_ctx_set_ext`: `zmq_ctx_set` for an `int` value, or a string for THREAD_NAME_PREFIX.
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_set_ext(
    context: *mut c_void,
    option: c_int,
    optval: *const c_void,
    optvallen: usize,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let h = unsafe { ctx_ref(context) }?;
        // SAFETY: per the crate's contract.
        let value = unsafe { crate::socket::bytes_arg(optval, optvallen) }?;
        if option == oxmq::opt::ctx::THREAD_NAME_PREFIX && value.len() != 4 {
            let text = std::str::from_utf8(value).map_err(|_| libc::EINVAL)?;
            h.ctx.set_thread_name_prefix(text).map_err(fail)?;
            return Ok(0);
        }
        let v: [u8; 4] = value.try_into().map_err(|_| libc::EINVAL)?;
        h.ctx.set(option, c_int::from_ne_bytes(v)).map_err(fail)?;
        Ok(0)
    })
}

/// `zmq_ctx_get_ext`: `zmq_ctx_get` into an `int` buffer.
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_get_ext(
    context: *mut c_void,
    option: c_int,
    optval: *mut c_void,
    optvallen: *mut usize,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let h = unsafe { ctx_ref(context) }?;
        if optval.is_null() || optvallen.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: valid per the contract.
        if unsafe { *optvallen } < 4 {
            return Err(libc::EINVAL);
        }
        let v = h.ctx.get(option).map_err(fail)?;
        // SAFETY: room for an int, checked above.
        unsafe {
            optval.cast::<c_int>().write_unaligned(v);
            *optvallen = 4;
        }
        Ok(0)
    })
}

/// Draft calls that need features oxmq does not have: `ENOTSUP`.
macro_rules! not_supported {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $failed:expr;)*) => {$(
        $(#[$doc])*
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
            $(let _ = $arg;)*
            guard($failed, || Err(libc::ENOTSUP))
        }
    )*};
}

not_supported! {
    /// `zmq_join` (RADIO/DISH groups): `ENOTSUP`.
    fn zmq_join(s: *mut c_void, group: *const c_char) -> c_int = -1;
    /// `zmq_leave`: `ENOTSUP`.
    fn zmq_leave(s: *mut c_void, group: *const c_char) -> c_int = -1;
    /// `zmq_msg_set_routing_id` (SERVER/CLIENT): `ENOTSUP`.
    fn zmq_msg_set_routing_id(msg: *mut zmq_msg_t, routing_id: u32) -> c_int = -1;
    /// `zmq_msg_routing_id`: 0 (none) with `ENOTSUP`.
    fn zmq_msg_routing_id(msg: *mut zmq_msg_t) -> u32 = 0;
    /// `zmq_msg_set_group`: `ENOTSUP`.
    fn zmq_msg_set_group(msg: *mut zmq_msg_t, group: *const c_char) -> c_int = -1;
    /// `zmq_msg_group`: null with `ENOTSUP`.
    fn zmq_msg_group(msg: *mut zmq_msg_t) -> *const c_char = std::ptr::null();
    /// `zmq_socket_get_peer_state`: `ENOTSUP`.
    fn zmq_socket_get_peer_state(s: *mut c_void, routing_id: *const c_void, routing_id_size: usize) -> c_int = -1;
    /// `zmq_socket_monitor_pipes_stats`: `ENOTSUP`.
    fn zmq_socket_monitor_pipes_stats(s: *mut c_void) -> c_int = -1;
    /// `zmq_connect_peer` (PEER sockets): 0 with `ENOTSUP`.
    fn zmq_connect_peer(s: *mut c_void, addr: *const c_char) -> u32 = 0;
    /// `zmq_ppoll`: `ENOTSUP`.
    fn zmq_ppoll(items: *mut crate::zmq_pollitem_t, nitems: c_int, timeout: c_long, sigmask: *const c_void) -> c_int = -1;
}
