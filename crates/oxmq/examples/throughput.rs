//! PUSH/PULL throughput and REQ/REP latency over tcp, in the style of libzmq's
//! `local_thr`/`remote_thr` and `local_lat`/`remote_lat`.
//!
//! `cargo run --release -p oxmq --example throughput -- [size] [count]`

use std::time::Instant;

use oxmq::{Context, SocketType};

fn main() -> oxmq::Result<()> {
    let mut args = std::env::args().skip(1);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let count: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let threads: usize = std::env::var("OXMQ_IO_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let ctx = Context::with_io_threads(threads)?;

    let mut pull = ctx.socket(SocketType::Pull)?;
    pull.bind("tcp://127.0.0.1:*")?;
    let endpoint = pull.last_endpoint();
    let sender_ctx = ctx.clone();
    let sender = std::thread::spawn(move || -> oxmq::Result<()> {
        let mut push = sender_ctx.socket(SocketType::Push)?;
        push.connect(&endpoint)?;
        let body = vec![0u8; size];
        for _ in 0..count {
            push.send(&body[..])?;
        }
        Ok(())
    });
    pull.recv()?;
    let start = Instant::now();
    for _ in 1..count {
        pull.recv()?;
    }
    let secs = start.elapsed().as_secs_f64();
    sender.join().expect("sender thread")?;
    let rate = (count - 1) as f64 / secs;
    println!(
        "throughput {size} B: {rate:.0} msg/s, {:.1} MB/s",
        rate * size as f64 / 1e6
    );

    let rounds = 20_000;
    let mut rep = ctx.socket(SocketType::Rep)?;
    rep.bind("tcp://127.0.0.1:*")?;
    let endpoint = rep.last_endpoint();
    let client_ctx = ctx.clone();
    let client = std::thread::spawn(move || -> oxmq::Result<f64> {
        let mut req = client_ctx.socket(SocketType::Req)?;
        req.connect(&endpoint)?;
        let body = vec![0u8; size];
        let start = Instant::now();
        for _ in 0..rounds {
            req.send(&body[..])?;
            req.recv()?;
        }
        Ok(start.elapsed().as_secs_f64())
    });
    for _ in 0..rounds {
        let m = rep.recv()?;
        rep.send(m)?;
    }
    let secs = client.join().expect("client thread")?;
    println!(
        "latency {size} B: {:.1} us per round trip",
        secs * 1e6 / f64::from(rounds)
    );
    Ok(())
}
