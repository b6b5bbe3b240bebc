//! Contexts: `zmq_ctx_*` and the legacy `zmq_init`, `zmq_term`, `zmq_ctx_destroy`.

use std::ffi::{c_int, c_void};

use oxmq::Context;

use crate::{guard, Fallible};

/// What a `void *` context points to. The tag tells our contexts from anything else.
#[repr(C)]
pub(crate) struct CtxHandle {
    tag: u32,
    pub(crate) ctx: Context,
}

const CTX_TAG: u32 = 0xabad_cafe;
const DEAD_TAG: u32 = 0xdead_cafe;

/// The context behind `p`, or `EFAULT` for null or foreign pointers.
///
/// # Safety
/// `p` is null or points to memory at least as large as a `u32`; a context handle of ours
/// stays valid until `zmq_ctx_term`.
pub(crate) unsafe fn ctx_ref<'a>(p: *mut c_void) -> Fallible<&'a CtxHandle> {
    if p.is_null() {
        return Err(libc::EFAULT);
    }
    let h = p.cast::<CtxHandle>();
    // SAFETY: the caller guarantees `p` is readable for a u32, the tag being the first field of
    // the repr(C) handle; only when it matches is the rest read.
    if unsafe { (*h).tag } != CTX_TAG {
        return Err(libc::EFAULT);
    }
    // SAFETY: the tag says this is a live handle made by `new_handle`.
    Ok(unsafe { &*h })
}

fn new_handle(ctx: Context) -> *mut c_void {
    Box::into_raw(Box::new(CtxHandle { tag: CTX_TAG, ctx })).cast()
}

/// `zmq_ctx_new`: a context with one I/O thread.
#[no_mangle]
pub extern "C" fn zmq_ctx_new() -> *mut c_void {
    guard(std::ptr::null_mut(), || Ok(new_handle(Context::new())))
}

/// `zmq_init` (deprecated): a context with `io_threads` I/O threads.
#[no_mangle]
pub extern "C" fn zmq_init(io_threads: c_int) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        let n = usize::try_from(io_threads).map_err(|_| libc::EINVAL)?;
        let ctx = Context::with_io_threads(n.max(1)).map_err(crate::fail)?;
        Ok(new_handle(ctx))
    })
}

/// `zmq_ctx_term`: waits until every socket of the context is closed (their LINGER served),
/// then frees the context. Blocking calls on its sockets return `ETERM` from the start.
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_term(context: *mut c_void) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let ctx = unsafe { ctx_ref(context) }?.ctx.clone();
        ctx.term();
        let h = context.cast::<CtxHandle>();
        // SAFETY: `ctx_ref` checked that this is a live handle from `new_handle`; the tag is
        // cleared first so that a second term is refused rather than freeing twice (as far as
        // the memory is still ours to read).
        unsafe {
            (*h).tag = DEAD_TAG;
            drop(Box::from_raw(h));
        }
        Ok(0)
    })
}

/// `zmq_term` (deprecated): `zmq_ctx_term`.
#[no_mangle]
pub unsafe extern "C" fn zmq_term(context: *mut c_void) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_ctx_term(context) }
}

/// `zmq_ctx_destroy` (deprecated): `zmq_ctx_term`.
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_destroy(context: *mut c_void) -> c_int {
    // SAFETY: same contract.
    unsafe { zmq_ctx_term(context) }
}

/// `zmq_ctx_shutdown`: makes every blocking call on the context's sockets return `ETERM`,
/// without waiting or freeing anything.
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_shutdown(context: *mut c_void) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        unsafe { ctx_ref(context) }?.ctx.shutdown();
        Ok(0)
    })
}

/// `zmq_ctx_set`.
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_set(context: *mut c_void, option: c_int, value: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let h = unsafe { ctx_ref(context) }?;
        h.ctx.set(option, value).map_err(crate::fail)?;
        Ok(0)
    })
}

/// `zmq_ctx_get`.
#[no_mangle]
pub unsafe extern "C" fn zmq_ctx_get(context: *mut c_void, option: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let h = unsafe { ctx_ref(context) }?;
        h.ctx.get(option).map_err(crate::fail)
    })
}
