//! oxmq behind libzmq 4.3's C ABI.
//!
//! This crate builds `libzmq.so` (soname `libzmq.so.5`) and `libzmq.a` from oxmq, with the
//! functions, types and constants of `include/zmq.h`, so that a program or binding built for
//! libzmq 4.3 runs on oxmq when the dynamic loader finds this library first.
//!
//! Every exported function follows its contract in `zmq.h` and libzmq's manual pages; their
//! `# Safety` requirement is the same for all, and is stated here once: pointer arguments must
//! be null or valid for what the function does with them (handles from this library, buffers of
//! the given size, NUL-terminated strings), and a socket must not be used from two threads at
//! once. Within that contract:
//!
//! - No panic crosses the boundary: each function body runs inside `guard`, which turns a
//!   panic into a failed call (`EFAULT`).
//! - Errors set the thread's `errno` to libzmq's value, which [`zmq_errno`] returns.
//! - Null and foreign handles are answered with `EFAULT` (contexts) or `ENOTSOCK` (sockets),
//!   never dereferenced beyond their tag.
//! - Blocking calls (`zmq_send`, `zmq_recv`, `zmq_msg_send`, `zmq_msg_recv`, `zmq_poll`,
//!   `zmq_proxy`) end with `EINTR` when a signal handler installed without `SA_RESTART` runs on
//!   the waiting thread, as libzmq's do: every socket is made with
//!   [`oxmq::Socket::set_interruptible`].
#![allow(clippy::missing_safety_doc)] // the contract above covers every export

mod ctx;
mod draft;
mod errors;
mod msg;
mod poll;
mod socket;
mod timers;
mod util;

pub use ctx::*;
pub use draft::*;
pub use errors::{zmq_errno, zmq_strerror};
pub use msg::*;
pub use poll::*;
pub use socket::*;
pub use timers::*;
pub use util::*;

pub(crate) use errors::{fail, guard, Fallible};

/// The `*_destroy(void **)` functions of the draft API: frees the `T` that `*handle_p` points
/// to (made by `Box::into_raw`) and nulls the caller's pointer; `EFAULT` for a null pointer at
/// either level.
///
/// # Safety
/// `handle_p` is null or valid for reads and writes of a pointer, which is null or a `T` of
/// this crate's making, not yet freed.
pub(crate) unsafe fn destroy_through<T>(handle_p: *mut *mut std::ffi::c_void) -> std::ffi::c_int {
    guard(-1, || {
        if handle_p.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: per the caller's guarantee.
        unsafe {
            let h = *handle_p;
            if h.is_null() {
                return Err(libc::EFAULT);
            }
            drop(Box::from_raw(h.cast::<T>()));
            *handle_p = std::ptr::null_mut();
        }
        Ok(0)
    })
}
