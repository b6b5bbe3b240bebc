//! The rest of zmq.h: version, capabilities, Z85 and CURVE keys, atomic counters, stopwatch,
//! sleep and threads.

use std::ffi::{c_char, c_int, c_ulong, c_void, CStr};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use oxmq::curve::{KeyPair, SecretKey};

use crate::{guard, Fallible};

/// The libzmq version this library stands in for.
const VERSION: (c_int, c_int, c_int) = (4, 3, 5);

/// `zmq_version`.
#[no_mangle]
pub unsafe extern "C" fn zmq_version(major: *mut c_int, minor: *mut c_int, patch: *mut c_int) {
    guard((), || {
        for (out, v) in [(major, VERSION.0), (minor, VERSION.1), (patch, VERSION.2)] {
            if !out.is_null() {
                // SAFETY: non-null, and valid per the crate's contract.
                unsafe { *out = v };
            }
        }
        Ok(())
    })
}

/// `zmq_has`: 1 for the capabilities oxmq has (`ipc`, `curve`), 0 for the others (`pgm`,
/// `tipc`, `norm`, `gssapi`, `draft`, ...).
#[no_mangle]
pub unsafe extern "C" fn zmq_has(capability: *const c_char) -> c_int {
    guard(0, || {
        if capability.is_null() {
            return Ok(0);
        }
        // SAFETY: non-null, and NUL-terminated per the crate's contract.
        let name = unsafe { CStr::from_ptr(capability) }.to_bytes();
        Ok(c_int::from(matches!(name, b"ipc" | b"curve")))
    })
}

/// Copies `text` and a NUL into `dest`.
///
/// # Safety
/// `dest` has room for `text.len() + 1` bytes.
unsafe fn put_c_string(dest: *mut c_char, text: &str) {
    // SAFETY: per the caller's guarantee.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), dest.cast::<u8>(), text.len());
        *dest.add(text.len()) = 0;
    }
}

/// `zmq_z85_encode`: `size` bytes (a multiple of 4) at `data` as Z85 text into `dest`, which
/// needs `size * 5 / 4 + 1` bytes. Returns `dest`, or null (`EINVAL`).
#[no_mangle]
pub unsafe extern "C" fn zmq_z85_encode(
    dest: *mut c_char,
    data: *const u8,
    size: usize,
) -> *mut c_char {
    guard(std::ptr::null_mut(), || {
        if dest.is_null() || (data.is_null() && size > 0) {
            return Err(libc::EINVAL);
        }
        let bytes = if size == 0 {
            &[][..]
        } else {
            // SAFETY: `size` readable bytes per the contract.
            unsafe { std::slice::from_raw_parts(data, size) }
        };
        let text = oxmq::z85::encode(bytes).map_err(|_| libc::EINVAL)?;
        // SAFETY: the contract gives `dest` room for the encoded length and a NUL.
        unsafe { put_c_string(dest, &text) };
        Ok(dest)
    })
}

/// `zmq_z85_decode`: Z85 text (a multiple of 5 characters) into `dest`, which needs
/// `strlen(string) * 4 / 5` bytes. Returns `dest`, or null (`EINVAL`).
#[no_mangle]
pub unsafe extern "C" fn zmq_z85_decode(dest: *mut u8, string: *const c_char) -> *mut u8 {
    guard(std::ptr::null_mut(), || {
        if dest.is_null() || string.is_null() {
            return Err(libc::EINVAL);
        }
        // SAFETY: NUL-terminated per the contract.
        let text = unsafe { CStr::from_ptr(string) }
            .to_str()
            .map_err(|_| libc::EINVAL)?;
        let bytes = oxmq::z85::decode(text).map_err(|_| libc::EINVAL)?;
        // SAFETY: the contract gives `dest` room for the decoded length.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dest, bytes.len()) };
        Ok(dest)
    })
}

/// `zmq_curve_keypair`: a new CURVE key pair, each key as 40 characters of Z85 and a NUL.
#[no_mangle]
pub unsafe extern "C" fn zmq_curve_keypair(
    z85_public_key: *mut c_char,
    z85_secret_key: *mut c_char,
) -> c_int {
    guard(-1, || {
        if z85_public_key.is_null() || z85_secret_key.is_null() {
            return Err(libc::EINVAL);
        }
        let pair = KeyPair::generate();
        // SAFETY: the contract gives each buffer 41 bytes.
        unsafe {
            put_c_string(z85_public_key, &pair.public.to_z85());
            put_c_string(z85_secret_key, &pair.secret.to_z85());
        }
        Ok(0)
    })
}

/// `zmq_curve_public`: the Z85 public key of a Z85 secret key.
#[no_mangle]
pub unsafe extern "C" fn zmq_curve_public(
    z85_public_key: *mut c_char,
    z85_secret_key: *const c_char,
) -> c_int {
    guard(-1, || {
        if z85_public_key.is_null() || z85_secret_key.is_null() {
            return Err(libc::EINVAL);
        }
        // SAFETY: NUL-terminated per the contract.
        let text = unsafe { CStr::from_ptr(z85_secret_key) }
            .to_str()
            .map_err(|_| libc::EINVAL)?;
        let secret = SecretKey::from_z85(text).map_err(|_| libc::EINVAL)?;
        // SAFETY: the contract gives the buffer 41 bytes.
        unsafe { put_c_string(z85_public_key, &secret.public_key().to_z85()) };
        Ok(0)
    })
}

/// The counter behind a `void *` from `zmq_atomic_counter_new`.
///
/// # Safety
/// `counter` is null or came from `zmq_atomic_counter_new` and was not destroyed.
unsafe fn counter<'a>(counter: *mut c_void) -> Fallible<&'a AtomicI32> {
    if counter.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: per the caller's guarantee.
    Ok(unsafe { &*counter.cast::<AtomicI32>() })
}

/// `zmq_atomic_counter_new`: a counter at 0.
#[no_mangle]
pub extern "C" fn zmq_atomic_counter_new() -> *mut c_void {
    Box::into_raw(Box::new(AtomicI32::new(0))).cast()
}

/// `zmq_atomic_counter_set`.
#[no_mangle]
pub unsafe extern "C" fn zmq_atomic_counter_set(counter_: *mut c_void, value: c_int) {
    guard((), || {
        // SAFETY: per the crate's contract.
        unsafe { counter(counter_) }?.store(value, Ordering::SeqCst);
        Ok(())
    })
}

/// `zmq_atomic_counter_inc`: adds one; returns the value before.
#[no_mangle]
pub unsafe extern "C" fn zmq_atomic_counter_inc(counter_: *mut c_void) -> c_int {
    // SAFETY: per the crate's contract.
    guard(0, || {
        Ok(unsafe { counter(counter_) }?.fetch_add(1, Ordering::SeqCst))
    })
}

/// `zmq_atomic_counter_dec`: subtracts one; returns 1 if the counter is still above zero, 0 if
/// it reached zero.
#[no_mangle]
pub unsafe extern "C" fn zmq_atomic_counter_dec(counter_: *mut c_void) -> c_int {
    guard(0, || {
        // SAFETY: per the crate's contract.
        let before = unsafe { counter(counter_) }?.fetch_sub(1, Ordering::SeqCst);
        Ok(c_int::from(before - 1 > 0))
    })
}

/// `zmq_atomic_counter_value`.
#[no_mangle]
pub unsafe extern "C" fn zmq_atomic_counter_value(counter_: *mut c_void) -> c_int {
    // SAFETY: per the crate's contract.
    guard(0, || {
        Ok(unsafe { counter(counter_) }?.load(Ordering::SeqCst))
    })
}

/// `zmq_atomic_counter_destroy`: frees the counter and nulls the caller's pointer.
#[no_mangle]
pub unsafe extern "C" fn zmq_atomic_counter_destroy(counter_p: *mut *mut c_void) {
    guard((), || {
        if counter_p.is_null() {
            return Ok(());
        }
        // SAFETY: per the crate's contract, `*counter_p` is null or a counter of ours.
        unsafe {
            let c = *counter_p;
            if !c.is_null() {
                drop(Box::from_raw(c.cast::<AtomicI32>()));
            }
            *counter_p = std::ptr::null_mut();
        }
        Ok(())
    })
}

/// `zmq_stopwatch_start`: a stopwatch running from now.
#[no_mangle]
pub extern "C" fn zmq_stopwatch_start() -> *mut c_void {
    Box::into_raw(Box::new(Instant::now())).cast()
}

fn micros(since: &Instant) -> c_ulong {
    c_ulong::try_from(since.elapsed().as_micros()).unwrap_or(c_ulong::MAX)
}

/// `zmq_stopwatch_intermediate`: microseconds since the start.
#[no_mangle]
pub unsafe extern "C" fn zmq_stopwatch_intermediate(watch: *mut c_void) -> c_ulong {
    guard(0, || {
        if watch.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: a stopwatch of ours, per the crate's contract.
        Ok(micros(unsafe { &*watch.cast::<Instant>() }))
    })
}

/// `zmq_stopwatch_stop`: microseconds since the start; frees the stopwatch.
#[no_mangle]
pub unsafe extern "C" fn zmq_stopwatch_stop(watch: *mut c_void) -> c_ulong {
    guard(0, || {
        if watch.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: a stopwatch of ours, per the crate's contract; not used after this.
        let start = unsafe { Box::from_raw(watch.cast::<Instant>()) };
        Ok(micros(&start))
    })
}

/// `zmq_sleep`: sleeps for `seconds`.
#[no_mangle]
pub extern "C" fn zmq_sleep(seconds: c_int) {
    if let Ok(s) = u64::try_from(seconds) {
        std::thread::sleep(Duration::from_secs(s));
    }
}

/// `zmq_thread_fn`.
pub type ZmqThreadFn = unsafe extern "C" fn(arg: *mut c_void);

/// The argument of a thread started by `zmq_threadstart`.
struct ThreadArg(*mut c_void);

// SAFETY: zmq_threadstart hands `arg` to the new thread; what it points to is the caller's
// business, as with pthread_create.
unsafe impl Send for ThreadArg {}

/// `zmq_threadstart`: runs `func(arg)` on a new thread; `zmq_threadclose` joins it.
#[no_mangle]
pub unsafe extern "C" fn zmq_threadstart(
    func: Option<ZmqThreadFn>,
    arg: *mut c_void,
) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        let func = func.ok_or(libc::EINVAL)?;
        let arg = ThreadArg(arg);
        let handle = std::thread::Builder::new()
            .spawn(move || {
                let arg = arg;
                // SAFETY: the caller's function and argument, as zmq_threadstart promises.
                unsafe { func(arg.0) }
            })
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EAGAIN))?;
        Ok(Box::into_raw(Box::new(handle)).cast())
    })
}

/// `zmq_threadclose`: waits for the thread to finish and frees it.
#[no_mangle]
pub unsafe extern "C" fn zmq_threadclose(thread: *mut c_void) {
    guard((), || {
        if thread.is_null() {
            return Ok(());
        }
        // SAFETY: a thread of ours, per the crate's contract; not used after this.
        let handle = unsafe { Box::from_raw(thread.cast::<std::thread::JoinHandle<()>>()) };
        let _ = handle.join();
        Ok(())
    })
}
