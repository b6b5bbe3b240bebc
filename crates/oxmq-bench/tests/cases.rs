//! Every case, once, with a few messages, for both libraries: exercises the bench code in the
//! test suite. Timings are never asserted.

use std::time::Duration;

use oxmq_bench::{run, Backend, Kind, Oxmq, Spec, Transport};

#[path = "../benches/compare/libzmq.rs"]
mod libzmq;

use libzmq::Libzmq;

const SIZES: [usize; 4] = [16, 256, 1024, 65536];
const TIMEOUT: Duration = Duration::from_secs(10);

fn check<B: Backend>(spec: Spec) {
    let spec = spec.with_timeout(TIMEOUT);
    let m = run::<B>(&spec).unwrap_or_else(|e| panic!("{} {}: {e}", B::NAME, spec.label()));
    assert_eq!(m.size, spec.size);
    match spec.kind {
        Kind::Throughput => assert_eq!(m.count, spec.count - 1),
        Kind::Latency => assert_eq!(m.count, spec.count),
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
fn too_small_counts_are_errors() {
    assert!(run::<Oxmq>(&Spec::throughput(Transport::Tcp, 16, 1)).is_err());
    assert!(run::<Libzmq>(&Spec::latency(Transport::Tcp, 16, 0)).is_err());
}
