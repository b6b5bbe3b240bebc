//! errno as libzmq sets it, the panic guard around every export, and `zmq_strerror`.

use std::ffi::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};

use oxmq::errno as zerr;

/// What an export's body returns: its value, or the errno of its failure.
pub(crate) type Fallible<T> = Result<T, c_int>;

/// Runs an export's body: returns its value, or sets `errno` and returns `failed` when it fails
/// or panics (a panic is reported as `EFAULT` and never unwinds into C).
pub(crate) fn guard<T>(failed: T, body: impl FnOnce() -> Fallible<T>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(errno)) => {
            set_errno(errno);
            failed
        }
        Err(_) => {
            set_errno(libc::EFAULT);
            failed
        }
    }
}

/// The errno of an oxmq error.
pub(crate) fn fail(e: oxmq::Error) -> c_int {
    e.errno()
}

fn set_errno(value: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno slot, valid for the life of
    // the thread.
    unsafe { *libc::__errno_location() = value };
}

/// `zmq_errno`: the calling thread's errno, as the last failed call left it.
#[no_mangle]
pub extern "C" fn zmq_errno() -> c_int {
    // SAFETY: as in `set_errno`.
    unsafe { *libc::__errno_location() }
}

/// `zmq_strerror`: the text of an error number, libzmq's own ones included.
#[no_mangle]
pub extern "C" fn zmq_strerror(errnum: c_int) -> *const c_char {
    let own: &'static [u8] = match errnum {
        zerr::EFSM => b"Operation cannot be accomplished in current state\0",
        zerr::ENOCOMPATPROTO => b"The protocol is not compatible with the socket type\0",
        zerr::ETERM => b"Context was terminated\0",
        zerr::EMTHREAD => b"No thread available\0",
        _ => {
            // SAFETY: strerror accepts any number and returns a NUL-terminated string that
            // stays valid at least until the next strerror call on this thread, as libzmq's
            // does.
            return unsafe { libc::strerror(errnum) };
        }
    };
    own.as_ptr().cast()
}
