//! `zmq_timers_*`: a set of repeating timers that the caller drives from its own loop, as in
//! libzmq 4.3 (ask `zmq_timers_timeout` how long to wait, then call `zmq_timers_execute`).

use std::ffi::{c_int, c_long, c_void};
use std::time::{Duration, Instant};

use crate::{guard, Fallible};

/// `zmq_timer_fn`.
pub type ZmqTimerFn = unsafe extern "C" fn(timer_id: c_int, arg: *mut c_void);

struct Timer {
    id: c_int,
    interval: Duration,
    due: Instant,
    handler: ZmqTimerFn,
    arg: *mut c_void,
}

#[derive(Default)]
struct Timers {
    next_id: c_int,
    timers: Vec<Timer>,
}

/// The timer set behind a `void *` from `zmq_timers_new`.
///
/// # Safety
/// `timers` is null or came from `zmq_timers_new` and was not destroyed; one thread at a time.
unsafe fn timers_mut<'a>(timers: *mut c_void) -> Fallible<&'a mut Timers> {
    if timers.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: per the caller's guarantee.
    Ok(unsafe { &mut *timers.cast::<Timers>() })
}

impl Timers {
    fn find(&mut self, id: c_int) -> Fallible<&mut Timer> {
        self.timers
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or(libc::EINVAL)
    }
}

/// `zmq_timers_new`: an empty timer set.
#[no_mangle]
pub extern "C" fn zmq_timers_new() -> *mut c_void {
    Box::into_raw(Box::<Timers>::default()).cast()
}

/// `zmq_timers_destroy`: frees the set and nulls the caller's pointer.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_destroy(timers_p: *mut *mut c_void) -> c_int {
    // SAFETY: per the crate's contract, `*timers_p` is null or a Timers of ours.
    unsafe { crate::destroy_through::<Timers>(timers_p) }
}

/// `zmq_timers_add`: calls `handler(id, arg)` every `interval` ms; returns the timer's id.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_add(
    timers: *mut c_void,
    interval: usize,
    handler: Option<ZmqTimerFn>,
    arg: *mut c_void,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let t = unsafe { timers_mut(timers) }?;
        let handler = handler.ok_or(libc::EFAULT)?;
        t.next_id += 1;
        let interval = Duration::from_millis(interval as u64);
        t.timers.push(Timer {
            id: t.next_id,
            interval,
            due: Instant::now() + interval,
            handler,
            arg,
        });
        Ok(t.next_id)
    })
}

/// `zmq_timers_cancel`.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_cancel(timers: *mut c_void, timer_id: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let t = unsafe { timers_mut(timers) }?;
        let before = t.timers.len();
        t.timers.retain(|x| x.id != timer_id);
        if t.timers.len() == before {
            return Err(libc::EINVAL);
        }
        Ok(0)
    })
}

/// `zmq_timers_set_interval`: a new interval, counted from now.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_set_interval(
    timers: *mut c_void,
    timer_id: c_int,
    interval: usize,
) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let timer = unsafe { timers_mut(timers) }?.find(timer_id)?;
        timer.interval = Duration::from_millis(interval as u64);
        timer.due = Instant::now() + timer.interval;
        Ok(0)
    })
}

/// `zmq_timers_reset`: the interval starts again from now.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_reset(timers: *mut c_void, timer_id: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let timer = unsafe { timers_mut(timers) }?.find(timer_id)?;
        timer.due = Instant::now() + timer.interval;
        Ok(0)
    })
}

/// `zmq_timers_timeout`: ms until the next timer is due (0 if one is), -1 if there are none.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_timeout(timers: *mut c_void) -> c_long {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let t = unsafe { timers_mut(timers) }?;
        let now = Instant::now();
        Ok(t.timers.iter().map(|x| x.due).min().map_or(-1, |due| {
            // Rounded up, so that waiting this long makes the timer due.
            let ms = due
                .saturating_duration_since(now)
                .as_micros()
                .div_ceil(1000);
            c_long::try_from(ms).unwrap_or(c_long::MAX)
        }))
    })
}

/// `zmq_timers_execute`: calls the handler of every due timer and re-arms it.
#[no_mangle]
pub unsafe extern "C" fn zmq_timers_execute(timers: *mut c_void) -> c_int {
    guard(-1, || {
        // SAFETY: per the crate's contract.
        let t = unsafe { timers_mut(timers) }?;
        let now = Instant::now();
        let mut due = Vec::new();
        for timer in t.timers.iter_mut().filter(|x| x.due <= now) {
            timer.due = now + timer.interval;
            due.push((timer.id, timer.handler, timer.arg));
        }
        for (id, handler, arg) in due {
            // SAFETY: the caller's handler and argument, as zmq_timers_add promised to call them.
            unsafe { handler(id, arg) };
        }
        Ok(0)
    })
}
