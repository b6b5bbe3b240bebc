//! Every case, once, with a few messages, for both libraries: exercises the bench code in the
//! test suite. Timings are never asserted. Every socket has a timeout and every case runs
//! under a watchdog, so a broken library fails a test instead of hanging it.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use oxmq_bench::{
    run, Backend, CaseError, CurveKeys, Kind, Measurement, Oxmq, Role, Security, SocketSettings,
    Spec, Transport,
};

#[path = "../benches/compare/libzmq.rs"]
mod libzmq;

use libzmq::Libzmq;

const SIZES: [usize; 4] = [16, 256, 1024, 65536];
/// SNDTIMEO/RCVTIMEO of every socket.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest one case may take, whatever it waits on.
const WATCHDOG: Duration = Duration::from_secs(60);
const SUBSCRIBERS: [usize; 3] = [1, 10, 100];

/// Runs `spec` with [`TIMEOUT`] on a thread of its own, and fails if it takes longer than
/// [`WATCHDOG`] (the thread is left behind; the test fails anyway).
fn run_guarded<B: Backend>(spec: &Spec) -> Result<Measurement, CaseError<B::Error>> {
    let spec = spec.clone().with_timeout(TIMEOUT);
    let label = spec.label();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(run::<B>(&spec));
    });
    match rx.recv_timeout(WATCHDOG) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{} {label}: still running after {WATCHDOG:?}", B::NAME)
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{} {label}: panicked", B::NAME),
    }
}

fn check<B: Backend>(spec: Spec) {
    let m = run_guarded::<B>(&spec).unwrap_or_else(|e| panic!("{} {}: {e}", B::NAME, spec.label()));
    assert_eq!(m.size, spec.size);
    match spec.kind {
        Kind::Throughput => assert_eq!(m.count, spec.count - 1),
        Kind::Latency => assert_eq!(m.count, spec.count),
        Kind::Fanout { subscribers } => {
            assert_eq!(
                (m.count, m.lost),
                (spec.count * subscribers as u64, 0),
                "{} {}: every subscriber gets every message",
                B::NAME,
                spec.label()
            );
        }
        Kind::Routed { peers } => {
            let per_peer = (spec.count / peers as u64).max(1);
            assert_eq!(m.count, per_peer * peers as u64, "{}", spec.label());
        }
    }
}

#[test]
fn libzmq_throughput_tcp() {
    for size in SIZES {
        check::<Libzmq>(Spec::throughput(Transport::Tcp, size, 100));
    }
}

#[test]
fn libzmq_latency_tcp() {
    for size in [16, 1024] {
        check::<Libzmq>(Spec::latency(Transport::Tcp, size, 20));
    }
}

#[test]
fn libzmq_inproc_and_ipc() {
    for transport in [Transport::Inproc, Transport::Ipc] {
        check::<Libzmq>(Spec::throughput(transport, 16, 100));
        check::<Libzmq>(Spec::latency(transport, 16, 20));
    }
}

#[test]
fn oxmq_throughput_tcp() {
    for size in SIZES {
        check::<Oxmq>(Spec::throughput(Transport::Tcp, size, 100));
    }
}

#[test]
fn oxmq_latency_tcp() {
    for size in [16, 1024] {
        check::<Oxmq>(Spec::latency(Transport::Tcp, size, 20));
    }
}

#[test]
fn oxmq_cases_run_with_interruptible_sockets() {
    for transport in [Transport::Tcp, Transport::Inproc] {
        check::<Oxmq>(Spec::throughput(transport, 16, 100).interruptible());
        check::<Oxmq>(Spec::latency(transport, 1024, 20).interruptible());
        check::<Oxmq>(Spec::fanout(transport, 16, 10, 10).interruptible());
        check::<Oxmq>(Spec::routed(transport, 16, 100, 10).interruptible());
    }
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// Runs a blocking receive on a PULL made with `settings` on another thread, signalling that
/// thread (SIGUSR1, handled, no SA_RESTART) until the receive returns; gives its error.
fn receive_while_signalled(settings: SocketSettings) -> oxmq::Error {
    // SAFETY: installs a handler that does nothing, for a signal this test binary uses alone;
    // the sigaction struct is fully initialised (zeroed, then the fields set).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = ignore_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    let ctx = Oxmq::context().expect("context");
    let mut pull = Oxmq::socket(&ctx, Role::Pull, settings).expect("socket");
    Oxmq::bind(&mut pull, "inproc://interruptible").expect("bind");
    let worker = thread::spawn(move || Oxmq::recv(&mut pull).expect_err("nothing was sent"));
    let tid = {
        use std::os::unix::thread::JoinHandleExt;
        worker.as_pthread_t()
    };
    let deadline = std::time::Instant::now() + WATCHDOG;
    while !worker.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "the receive never returned"
        );
        // SAFETY: the thread has not finished, so it has not been joined and its id is valid.
        unsafe { libc::pthread_kill(tid, libc::SIGUSR1) };
        thread::sleep(Duration::from_millis(20));
    }
    worker.join().expect("receiver")
}

#[test]
fn interruptible_sockets_end_a_blocking_receive_on_a_signal_and_others_do_not() {
    let interrupted = receive_while_signalled(SocketSettings {
        timeout: Some(TIMEOUT),
        interruptible: true,
    });
    assert_eq!(interrupted.kind(), oxmq::ErrorKind::Interrupted);
    // Without it, the signals are handled unseen and the receive runs to its timeout.
    let timed_out = receive_while_signalled(SocketSettings {
        timeout: Some(Duration::from_millis(300)),
        interruptible: false,
    });
    assert_eq!(timed_out.kind(), oxmq::ErrorKind::WouldBlock);
}

#[test]
fn oxmq_inproc_and_ipc() {
    for transport in [Transport::Inproc, Transport::Ipc] {
        for size in SIZES {
            check::<Oxmq>(Spec::throughput(transport, size, 100));
        }
        for size in [16, 1024] {
            check::<Oxmq>(Spec::latency(transport, size, 20));
        }
    }
}

#[test]
fn oxmq_fanout_delivers_every_message_to_every_subscriber_tcp() {
    for subscribers in SUBSCRIBERS {
        for size in [16, 1024] {
            check::<Oxmq>(Spec::fanout(Transport::Tcp, size, 200, subscribers));
        }
    }
}

#[test]
fn oxmq_fanout_delivers_every_message_to_every_subscriber_inproc() {
    for subscribers in SUBSCRIBERS {
        for size in [16, 1024] {
            check::<Oxmq>(Spec::fanout(Transport::Inproc, size, 200, subscribers));
        }
    }
}

#[test]
fn oxmq_fanout_delivers_every_message_to_every_subscriber_ipc() {
    for subscribers in [1, 10] {
        check::<Oxmq>(Spec::fanout(Transport::Ipc, 16, 200, subscribers));
    }
}

/// More messages than the default HWM of 1000 per pipe: with SNDHWM/RCVHWM 0 the PUB must
/// not drop any, however far it runs ahead of the subscribers.
#[test]
fn oxmq_fanout_is_lossless_beyond_the_default_hwm() {
    check::<Oxmq>(Spec::fanout(Transport::Tcp, 16, 20_000, 10));
    check::<Oxmq>(Spec::fanout(Transport::Inproc, 16, 20_000, 10));
}

#[test]
fn libzmq_fanout() {
    for transport in [Transport::Tcp, Transport::Inproc] {
        for subscribers in SUBSCRIBERS {
            check::<Libzmq>(Spec::fanout(transport, 16, 200, subscribers));
        }
    }
    check::<Libzmq>(Spec::fanout(Transport::Tcp, 16, 20_000, 10));
}

/// Pinned, every kind of case still runs to the end for both libraries (each side's threads
/// on a CPU of its own, which the pin module's own test checks).
#[test]
fn pinned_cases_run() {
    for transport in [Transport::Tcp, Transport::Inproc] {
        check::<Oxmq>(Spec::throughput(transport, 16, 5_000).pinned());
        check::<Libzmq>(Spec::throughput(transport, 16, 5_000).pinned());
        check::<Oxmq>(Spec::latency(transport, 16, 200).pinned());
        check::<Libzmq>(Spec::latency(transport, 16, 200).pinned());
        check::<Oxmq>(Spec::fanout(transport, 16, 200, 10).pinned());
        check::<Oxmq>(Spec::routed(transport, 16, 2_000, 10).pinned());
    }
}

#[test]
fn routed_cases_echo_every_message_through_the_router() {
    for transport in [Transport::Tcp, Transport::Ipc, Transport::Inproc] {
        for peers in [1, 3, 100] {
            check::<Oxmq>(Spec::routed(transport, 16, 2_000, peers));
            check::<Libzmq>(Spec::routed(transport, 16, 2_000, peers));
        }
    }
    // Fewer messages than peers: each still sends one.
    check::<Oxmq>(Spec::routed(Transport::Inproc, 1024, 5, 10));
}

#[test]
fn oxmq_throughput_over_curve() {
    for transport in [Transport::Tcp, Transport::Ipc] {
        for size in [16, 1024, 65536] {
            check::<Oxmq>(Spec::throughput_curve(transport, size, 100));
        }
    }
}

/// The CURVE case really runs CURVE: a client that expects another server key gets nothing
/// through.
#[test]
fn oxmq_curve_case_with_the_wrong_server_key_delivers_nothing() {
    let mut spec =
        Spec::throughput_curve(Transport::Tcp, 16, 10).with_timeout(Duration::from_secs(1));
    if let Security::Curve(keys) = &mut spec.security {
        keys.server_public = CurveKeys::generate().server_public;
    }
    assert!(run::<Oxmq>(&spec).is_err());
}

/// Skipped (with a note) when the linked libzmq has no CURVE, as the zmq-sys build has not.
#[test]
fn libzmq_throughput_over_curve() {
    let spec = Spec::throughput_curve(Transport::Tcp, 16, 100);
    if let Some(reason) = Libzmq::unsupported(&spec) {
        eprintln!("libzmq_throughput_over_curve: skipped: {reason}");
        return;
    }
    for size in [16, 65536] {
        check::<Libzmq>(Spec::throughput_curve(Transport::Tcp, size, 100));
    }
}

#[test]
fn too_small_counts_are_errors() {
    assert!(run::<Oxmq>(&Spec::throughput(Transport::Tcp, 16, 1)).is_err());
    assert!(run::<Libzmq>(&Spec::latency(Transport::Tcp, 16, 0)).is_err());
    assert!(run::<Oxmq>(&Spec::fanout(Transport::Tcp, 16, 0, 1)).is_err());
    assert!(run::<Oxmq>(&Spec::fanout(Transport::Tcp, 0, 10, 1)).is_err());
    assert!(run::<Oxmq>(&Spec::fanout(Transport::Tcp, 16, 10, 0)).is_err());
    let curve = Spec::throughput_curve(Transport::Inproc, 16, 10);
    assert!(matches!(
        run::<Oxmq>(&curve),
        Err(CaseError::CurveNotApplicable { .. })
    ));
    let curve_lat = Spec {
        kind: Kind::Latency,
        ..Spec::throughput_curve(Transport::Tcp, 16, 10)
    };
    assert!(run::<Libzmq>(&curve_lat).is_err());
}
