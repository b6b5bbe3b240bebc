//! The C functions called from Rust, for what the C programs cannot see easily: when and how
//! often `zmq_msg_init_data`'s free function runs, properties as C strings, buffer-size rules,
//! `ETERM` across threads.

use std::ffi::{c_int, c_void, CStr};
use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use zmq::*;

const ZMQ_PAIR: c_int = 0;
const ZMQ_DEALER: c_int = 5;
const ZMQ_ROUTER: c_int = 6;
const ZMQ_RCVTIMEO: c_int = 27;
const ZMQ_LAST_ENDPOINT: c_int = 32;
const ZMQ_CURVE_SERVERKEY: c_int = 50;
const ETERM: c_int = 156_384_712 + 53;

fn errno() -> c_int {
    zmq_errno()
}

/// A connected pair of sockets of types `a` and `b` over tcp, with a receive time-out.
unsafe fn pair(ctx: *mut c_void, a: c_int, b: c_int) -> (*mut c_void, *mut c_void) {
    // SAFETY: valid context; the buffers are sized as passed.
    unsafe {
        let s1 = zmq_socket(ctx, a);
        let s2 = zmq_socket(ctx, b);
        assert!(!s1.is_null() && !s2.is_null());
        let timeout: c_int = 5000;
        for s in [s1, s2] {
            let t = std::ptr::from_ref(&timeout).cast();
            assert_eq!(zmq_setsockopt(s, ZMQ_RCVTIMEO, t, 4), 0);
        }
        assert_eq!(zmq_bind(s1, c"tcp://127.0.0.1:*".as_ptr()), 0);
        let mut ep = [0u8; 128];
        let mut len = ep.len();
        assert_eq!(
            zmq_getsockopt(s1, ZMQ_LAST_ENDPOINT, ep.as_mut_ptr().cast(), &mut len),
            0
        );
        assert_eq!(zmq_connect(s2, ep.as_ptr().cast()), 0);
        (s1, s2)
    }
}

static FREED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn count_free(data: *mut c_void, hint: *mut c_void) {
    assert_eq!(hint as usize, 0x5eed);
    // SAFETY: `data` is the Box given to zmq_msg_init_data below, freed once.
    drop(unsafe { Box::from_raw(data.cast::<[u8; 1000]>()) });
    FREED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn init_data_free_function_runs_once_after_the_last_copy_is_sent() {
    // SAFETY: the calls follow zmq.h's contract.
    unsafe {
        let ctx = zmq_ctx_new();
        let (a, b) = pair(ctx, ZMQ_PAIR, ZMQ_PAIR);
        let buf = Box::into_raw(Box::new([7u8; 1000]));
        let mut m1 = std::mem::MaybeUninit::<zmq_msg_t>::uninit();
        let mut m2 = std::mem::MaybeUninit::<zmq_msg_t>::uninit();
        let (m1, m2) = (m1.as_mut_ptr(), m2.as_mut_ptr());
        let hint = 0x5eed as *mut c_void;
        assert_eq!(
            zmq_msg_init_data(m1, buf.cast(), 1000, Some(count_free), hint),
            0
        );
        assert_eq!(zmq_msg_init(m2), 0);
        assert_eq!(zmq_msg_copy(m2, m1), 0);
        assert_eq!(zmq_msg_data(m2), buf.cast(), "a copy shares the body");
        assert_eq!(zmq_msg_send(m1, a, 0), 1000);
        assert_eq!(zmq_msg_send(m2, a, 0), 1000);
        for _ in 0..2 {
            let mut got = [0u8; 1000];
            assert_eq!(zmq_recv(b, got.as_mut_ptr().cast(), 1000, 0), 1000);
            assert_eq!(got, [7u8; 1000]);
        }
        // The last reference goes on the I/O thread once both frames are written.
        let deadline = Instant::now() + Duration::from_secs(10);
        while FREED.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(zmq_msg_close(m1), 0);
        assert_eq!(zmq_msg_close(m2), 0);
        assert_eq!(zmq_close(a), 0);
        assert_eq!(zmq_close(b), 0);
        assert_eq!(zmq_ctx_term(ctx), 0);
        assert_eq!(FREED.load(Ordering::SeqCst), 1, "freed exactly once");
    }
}

#[test]
fn msg_send_takes_more_from_its_flags_not_from_the_message() {
    const ZMQ_SNDMORE: c_int = 2;
    // SAFETY: the calls follow zmq.h's contract.
    unsafe {
        let ctx = zmq_ctx_new();
        let (a, b) = pair(ctx, ZMQ_PAIR, ZMQ_PAIR);
        let (c, d) = pair(ctx, ZMQ_PAIR, ZMQ_PAIR);
        // Two frames of one message a -> b, then each frame forwarded b -> ... as its own
        // message c -> d, the way a proxy that flattens messages would: the first frame
        // arrives with MORE and leaves without it; the second the other way round.
        assert_eq!(zmq_send(a, c"one".as_ptr().cast(), 3, ZMQ_SNDMORE), 3);
        assert_eq!(zmq_send(a, c"two".as_ptr().cast(), 3, 0), 3);
        let mut m = std::mem::MaybeUninit::<zmq_msg_t>::uninit();
        let m = m.as_mut_ptr();
        assert_eq!(zmq_msg_init(m), 0);
        assert_eq!(zmq_msg_recv(m, b, 0), 3);
        assert_eq!(zmq_msg_more(m), 1, "the first frame came with MORE");
        assert_eq!(zmq_msg_send(m, c, 0), 3);
        assert_eq!(zmq_msg_recv(m, b, 0), 3);
        assert_eq!(zmq_msg_more(m), 0, "the last frame came without");
        assert_eq!(zmq_msg_send(m, c, ZMQ_SNDMORE), 3);
        assert_eq!(zmq_send(c, c"end".as_ptr().cast(), 3, 0), 3);
        let mut got = Vec::new();
        for _ in 0..3 {
            assert_eq!(zmq_msg_recv(m, d, 0), 3);
            let body = std::slice::from_raw_parts(zmq_msg_data(m).cast::<u8>(), 3).to_vec();
            got.push((body, zmq_msg_more(m)));
        }
        assert_eq!(
            got,
            [
                (b"one".to_vec(), 0),
                (b"two".to_vec(), 1),
                (b"end".to_vec(), 0)
            ]
        );
        assert_eq!(zmq_msg_close(m), 0);
        for s in [a, b, c, d] {
            assert_eq!(zmq_close(s), 0);
        }
        assert_eq!(zmq_ctx_term(ctx), 0);
    }
}

/// `zmq_msg_init_size` then a copy into `zmq_msg_data`, then `zmq_msg_send`, as libzmq's own
/// perf tools send: short frames (built in place, and sent as bytes) and longer ones arrive
/// whole with the MORE the flags gave; the message is empty after a send and unchanged after
/// one that failed.
#[test]
fn a_message_filled_in_place_is_sent_whole_and_left_empty() {
    const ZMQ_PUSH: c_int = 8;
    const ZMQ_DONTWAIT: c_int = 1;
    const ZMQ_SNDMORE: c_int = 2;
    // SAFETY: the calls follow zmq.h's contract; every message is initialised before use.
    unsafe {
        let ctx = zmq_ctx_new();
        let (a, b) = pair(ctx, ZMQ_PAIR, ZMQ_PAIR);
        let mut m = std::mem::MaybeUninit::<zmq_msg_t>::uninit();
        let m = m.as_mut_ptr();
        let bodies: [Vec<u8>; 4] = [b"hello".to_vec(), Vec::new(), vec![39; 39], vec![40; 40]];
        for (i, body) in bodies.iter().enumerate() {
            assert_eq!(zmq_msg_init_size(m, body.len()), 0);
            assert_eq!(zmq_msg_size(m), body.len());
            let data = zmq_msg_data(m).cast::<u8>();
            if !body.is_empty() {
                let zeroed = std::slice::from_raw_parts(data, body.len());
                assert!(zeroed.iter().all(|&b| b == 0), "zeroed");
                std::ptr::copy_nonoverlapping(body.as_ptr(), data, body.len());
            }
            let flags = if i + 1 < bodies.len() { ZMQ_SNDMORE } else { 0 };
            assert_eq!(zmq_msg_send(m, a, flags), body.len() as c_int);
            assert_eq!(zmq_msg_size(m), 0, "empty after the send");
            assert_eq!(zmq_msg_close(m), 0);
        }
        assert_eq!(zmq_msg_init(m), 0);
        for (i, body) in bodies.iter().enumerate() {
            assert_eq!(zmq_msg_recv(m, b, 0), body.len() as c_int);
            let got = std::slice::from_raw_parts(zmq_msg_data(m).cast::<u8>(), body.len());
            assert_eq!(got, &body[..], "frame {i}");
            assert_eq!(
                zmq_msg_more(m),
                c_int::from(i + 1 < bodies.len()),
                "frame {i}"
            );
        }
        assert_eq!(zmq_msg_close(m), 0);

        // A PUSH without a peer cannot send: the message stays as it was.
        let push = zmq_socket(ctx, ZMQ_PUSH);
        assert!(!push.is_null());
        assert_eq!(zmq_msg_init_size(m, 3), 0);
        std::ptr::copy_nonoverlapping(b"abc".as_ptr(), zmq_msg_data(m).cast::<u8>(), 3);
        assert_eq!(zmq_msg_send(m, push, ZMQ_DONTWAIT), -1);
        assert_eq!(errno(), libc::EAGAIN);
        assert_eq!(zmq_msg_size(m), 3);
        let kept = std::slice::from_raw_parts(zmq_msg_data(m).cast::<u8>(), 3);
        assert_eq!(kept, b"abc");
        assert_eq!(zmq_msg_close(m), 0);
        for s in [a, b, push] {
            assert_eq!(zmq_close(s), 0);
        }
        assert_eq!(zmq_ctx_term(ctx), 0);
    }
}

#[test]
fn received_messages_carry_properties_as_c_strings() {
    // SAFETY: the calls follow zmq.h's contract.
    unsafe {
        let ctx = zmq_ctx_new();
        let (router, dealer) = pair(ctx, ZMQ_ROUTER, ZMQ_DEALER);
        assert_eq!(zmq_send(dealer, c"hi".as_ptr().cast(), 2, 0), 2);
        let mut m = std::mem::MaybeUninit::<zmq_msg_t>::uninit();
        let m = m.as_mut_ptr();
        assert_eq!(zmq_msg_init(m), 0);
        assert!(zmq_msg_recv(m, router, 0) >= 0, "routing id frame");
        let ty = zmq_msg_gets(m, c"Socket-Type".as_ptr());
        assert!(!ty.is_null());
        assert_eq!(CStr::from_ptr(ty), c"DEALER");
        let addr = zmq_msg_gets(m, c"peer-address".as_ptr());
        assert_eq!(CStr::from_ptr(addr), c"127.0.0.1");
        assert!(zmq_msg_gets(m, c"X-Nothing".as_ptr()).is_null());
        assert_eq!(errno(), libc::EINVAL);
        zmq_msg_close(m);
        zmq_close(router);
        zmq_close(dealer);
        zmq_ctx_term(ctx);
    }
}

#[test]
fn getsockopt_checks_the_buffer_and_gives_curve_keys_as_z85_on_request() {
    // SAFETY: the calls follow zmq.h's contract.
    unsafe {
        let ctx = zmq_ctx_new();
        let s = zmq_socket(ctx, ZMQ_DEALER);
        let mut small = [0u8; 4];
        let mut len = small.len();
        assert_eq!(
            zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, small.as_mut_ptr().cast(), &mut len),
            0,
            "an empty endpoint fits"
        );
        assert_eq!(len, 1);
        let key = [0x42u8; 32];
        assert_eq!(
            zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, key.as_ptr().cast(), 32),
            0
        );
        let mut text = [0u8; 41];
        let mut len = 41;
        assert_eq!(
            zmq_getsockopt(s, ZMQ_CURVE_SERVERKEY, text.as_mut_ptr().cast(), &mut len),
            0
        );
        assert_eq!((len, text[40]), (41, 0));
        let mut raw = [0u8; 32];
        assert_eq!(
            zmq_z85_decode(raw.as_mut_ptr(), text.as_ptr().cast()),
            raw.as_mut_ptr()
        );
        assert_eq!(raw, key);
        let mut short = [0u8; 16];
        let mut len = short.len();
        assert_eq!(
            zmq_getsockopt(s, ZMQ_CURVE_SERVERKEY, short.as_mut_ptr().cast(), &mut len),
            -1
        );
        assert_eq!(errno(), libc::EINVAL);
        zmq_close(s);
        zmq_ctx_term(ctx);
    }
}

#[test]
fn shutdown_unblocks_a_receive_on_another_thread_with_eterm() {
    struct Sock(*mut c_void);
    // SAFETY: the socket is used by one thread at a time: the receiver, then the closer.
    unsafe impl Send for Sock {}
    // SAFETY: the calls follow zmq.h's contract.
    unsafe {
        let ctx = zmq_ctx_new();
        let s = Sock(zmq_socket(ctx, ZMQ_PAIR));
        assert_eq!(zmq_bind(s.0, c"inproc://abi-eterm".as_ptr()), 0);
        let receiver = std::thread::spawn(move || {
            let s = s;
            let mut buf = [0u8; 8];
            let rc = zmq_recv(s.0, buf.as_mut_ptr().cast(), 8, 0);
            let err = zmq_errno();
            zmq_close(s.0);
            (rc, err)
        });
        // Most likely the receive is blocked by now; if not, it fails at once: ETERM either way.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(zmq_ctx_shutdown(ctx), 0);
        assert_eq!(receiver.join().expect("receiver"), (-1, ETERM));
        assert_eq!(zmq_ctx_term(ctx), 0);
    }
}

#[test]
fn a_single_socket_device_sends_messages_back_where_they_came_from() {
    struct Sock(*mut c_void);
    // SAFETY: the device thread is the only user of the ROUTER until the context shuts down.
    unsafe impl Send for Sock {}
    // SAFETY: the calls follow zmq.h's contract.
    unsafe {
        let ctx = zmq_ctx_new();
        let (router, dealer) = pair(ctx, ZMQ_ROUTER, ZMQ_DEALER);
        let device = Sock(router);
        let worker = std::thread::spawn(move || {
            let d = device;
            let rc = zmq_proxy(d.0, d.0, std::ptr::null_mut());
            let err = zmq_errno();
            zmq_close(d.0);
            (rc, err)
        });
        assert_eq!(zmq_send(dealer, c"echo".as_ptr().cast(), 4, 0), 4);
        let mut buf = [0u8; 8];
        assert_eq!(zmq_recv(dealer, buf.as_mut_ptr().cast(), 8, 0), 4);
        assert_eq!(&buf[..4], b"echo");
        zmq_close(dealer);
        assert_eq!(zmq_ctx_shutdown(ctx), 0);
        assert_eq!(worker.join().expect("device thread"), (-1, ETERM));
        assert_eq!(zmq_ctx_term(ctx), 0);
    }
}

#[test]
fn the_draft_poller_reports_the_ready_socket_with_its_user_data() {
    // SAFETY: the calls follow zmq.h's contract.
    unsafe {
        let ctx = zmq_ctx_new();
        let (a, b) = pair(ctx, ZMQ_PAIR, ZMQ_PAIR);
        let poller = zmq_poller_new();
        let tag = 0x7a9 as *mut c_void;
        assert_eq!(zmq_poller_add(poller, b, tag, 1), 0);
        assert_eq!(zmq_poller_add(poller, b, tag, 1), -1, "added twice");
        assert_eq!(zmq_poller_size(poller), 1);
        let mut ev = std::mem::zeroed::<zmq_poller_event_t>();
        assert_eq!(zmq_poller_wait(poller, &mut ev, 0), -1);
        assert_eq!(errno(), libc::EAGAIN, "nothing ready yet");
        assert_eq!(zmq_send(a, c"x".as_ptr().cast(), 1, 0), 1);
        assert_eq!(zmq_poller_wait(poller, &mut ev, 5000), 0);
        assert_eq!((ev.socket, ev.user_data, ev.events), (b, tag, 1));
        assert_eq!(zmq_poller_remove(poller, b), 0);
        assert_eq!(zmq_poller_destroy(&mut { poller }), 0);
        assert_eq!(zmq_join(b, c"g".as_ptr()), -1);
        assert_eq!(errno(), libc::ENOTSUP);
        zmq_close(a);
        zmq_close(b);
        zmq_ctx_term(ctx);
    }
}

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_signal(_: c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

/// Runs `call` on a new thread with a SIGUSR1 handler installed without `SA_RESTART` (as
/// Python installs its own), signalling that thread until `call` returns; gives what it
/// returned.
fn interrupt<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> T {
    // SAFETY: installs a handler that only bumps an atomic; the sigaction struct is zeroed
    // (no flags, empty mask) before the handler is set.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = count_signal as extern "C" fn(c_int) as libc::sighandler_t;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(());
        call()
    });
    rx.recv().expect("worker started");
    let tid = worker.as_pthread_t();
    let deadline = Instant::now() + Duration::from_secs(10);
    // A signal that lands before the call blocks is simply handled; keep signalling until the
    // call comes back, or the time-out below fails the test.
    while !worker.is_finished() && Instant::now() < deadline {
        // SAFETY: the thread is alive (not finished, not joined), so its pthread_t is valid.
        unsafe { libc::pthread_kill(tid, libc::SIGUSR1) };
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.join().expect("worker")
}

#[test]
fn a_signal_interrupts_blocking_calls_with_eintr_and_the_socket_stays_usable() {
    struct Sock(*mut c_void);
    // SAFETY: the socket is used by one thread at a time.
    unsafe impl Send for Sock {}
    const ZMQ_PUSH: c_int = 8;
    const ZMQ_PULL: c_int = 7;
    // SAFETY: the calls follow zmq.h's contract.
    unsafe {
        let ctx = zmq_ctx_new();
        let (pull, push) = pair(ctx, ZMQ_PULL, ZMQ_PUSH);
        let timeout: c_int = 10_000;
        assert_eq!(
            zmq_setsockopt(pull, ZMQ_RCVTIMEO, std::ptr::from_ref(&timeout).cast(), 4),
            0
        );
        let s = Sock(pull);
        let (rc, err, s) = interrupt(move || {
            let s = s;
            let mut buf = [0u8; 8];
            let rc = zmq_recv(s.0, buf.as_mut_ptr().cast(), 8, 0);
            (rc, zmq_errno(), s)
        });
        assert_eq!(
            (rc, err),
            (-1, libc::EINTR),
            "a blocked receive ends with EINTR"
        );
        assert!(SIGNALS.load(Ordering::SeqCst) > 0);
        // Nothing was lost or broken: the next message arrives.
        assert_eq!(zmq_send(push, c"after".as_ptr().cast(), 5, 0), 5);
        let mut buf = [0u8; 8];
        assert_eq!(zmq_recv(s.0, buf.as_mut_ptr().cast(), 8, 0), 5);
        assert_eq!(&buf[..5], b"after");
        zmq_close(s.0);

        // A send blocked on a PUSH with no peer ends the same way.
        let lonely = Sock(zmq_socket(ctx, ZMQ_PUSH));
        const ZMQ_SNDTIMEO: c_int = 28;
        let t = std::ptr::from_ref(&timeout).cast();
        assert_eq!(zmq_setsockopt(lonely.0, ZMQ_SNDTIMEO, t, 4), 0);
        let (rc, err, lonely) = interrupt(move || {
            let s = lonely;
            let rc = zmq_send(s.0, c"x".as_ptr().cast(), 1, 0);
            (rc, zmq_errno(), s)
        });
        assert_eq!(
            (rc, err),
            (-1, libc::EINTR),
            "a blocked send ends with EINTR"
        );
        let linger: c_int = 0;
        for s in [lonely.0, push] {
            const ZMQ_LINGER: c_int = 17;
            zmq_setsockopt(s, ZMQ_LINGER, std::ptr::from_ref(&linger).cast(), 4);
            zmq_close(s);
        }
        assert_eq!(zmq_ctx_term(ctx), 0);
    }
}

#[test]
fn msg_move_and_copy_and_the_draft_destroys_follow_libzmq() {
    // SAFETY: the calls follow zmq.h's contract; the null pointers are the cases under test.
    unsafe {
        let mut a = std::mem::MaybeUninit::<zmq_msg_t>::uninit();
        let mut b = std::mem::MaybeUninit::<zmq_msg_t>::uninit();
        let (a, b) = (a.as_mut_ptr(), b.as_mut_ptr());
        assert_eq!(zmq_msg_init_size(a, 5), 0);
        std::ptr::copy_nonoverlapping(b"hello".as_ptr(), zmq_msg_data(a).cast::<u8>(), 5);
        assert_eq!(zmq_msg_init(b), 0);
        // Moving or copying a message onto itself leaves it as it was.
        assert_eq!(zmq_msg_move(a, a), 0);
        assert_eq!(zmq_msg_copy(a, a), 0);
        assert_eq!(zmq_msg_size(a), 5);
        // A move empties the source.
        assert_eq!(zmq_msg_move(b, a), 0);
        assert_eq!((zmq_msg_size(a), zmq_msg_size(b)), (0, 5));
        // A copy keeps it.
        assert_eq!(zmq_msg_copy(a, b), 0);
        assert_eq!((zmq_msg_size(a), zmq_msg_size(b)), (5, 5));
        assert_eq!(zmq_msg_move(std::ptr::null_mut(), a), -1);
        assert_eq!(zmq_errno(), libc::EFAULT);
        assert_eq!(zmq_msg_close(a), 0);
        assert_eq!(zmq_msg_close(b), 0);

        // The draft destroys free the object, null the caller's pointer, and refuse nulls.
        let mut poller = zmq_poller_new();
        assert_eq!(zmq_poller_destroy(&mut poller), 0);
        assert!(poller.is_null());
        assert_eq!(zmq_poller_destroy(&mut poller), -1);
        assert_eq!(zmq_errno(), libc::EFAULT);
        let mut timers = zmq_timers_new();
        assert_eq!(zmq_timers_destroy(&mut timers), 0);
        assert!(timers.is_null());
        assert_eq!(zmq_timers_destroy(std::ptr::null_mut()), -1);
        assert_eq!(zmq_errno(), libc::EFAULT);
    }
}
