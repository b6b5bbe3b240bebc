//! The machine's own limit for a throughput case: a plain blocking socket pair, no ZeroMQ.
//!
//! One thread writes `count` buffers of `size` bytes with `write_all` on a connected stream
//! (tcp over 127.0.0.1 with TCP_NODELAY, or a unix stream socket); the other reads them back
//! with `read_exact`, starting the clock when the first buffer has arrived and stopping it
//! after the last, as the throughput cases do. No framing, no queue, no I/O thread: what
//! ZeroMQ's large-message throughput is measured against ("≥ 80 % of the loopback bandwidth
//! a plain blocking socket pair reaches").

use std::io::{self, Read, Write};
use std::thread;
use std::time::Instant;

use crate::{Measurement, Transport};

/// Runs the plain-socket equivalent of a throughput case once. `transport` must be tcp or
/// ipc (inproc has no socket to measure).
pub fn loopback(transport: Transport, size: usize, count: u64) -> io::Result<Measurement> {
    if count < 2 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a loopback run needs at least 2 messages",
        ));
    }
    match transport {
        Transport::Tcp => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let sender = thread::spawn(move || -> io::Result<()> {
                let stream = std::net::TcpStream::connect(addr)?;
                stream.set_nodelay(true)?;
                send_all(stream, size, count)
            });
            let (stream, _) = listener.accept()?;
            finish(receive_all(stream, size, count), sender)
        }
        Transport::Ipc => {
            let path = std::env::temp_dir().join(format!(
                "oxmq-loopback-{}-{}.sock",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            let _ = std::fs::remove_file(&path);
            let listener = std::os::unix::net::UnixListener::bind(&path)?;
            let to = path.clone();
            let sender = thread::spawn(move || -> io::Result<()> {
                let stream = std::os::unix::net::UnixStream::connect(&to)?;
                send_all(stream, size, count)
            });
            let (stream, _) = listener.accept()?;
            let result = finish(receive_all(stream, size, count), sender);
            let _ = std::fs::remove_file(&path);
            result
        }
        Transport::Inproc => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "inproc has no socket pair to measure",
        )),
    }
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn send_all(mut stream: impl Write, size: usize, count: u64) -> io::Result<()> {
    let body = vec![0x5a_u8; size];
    for _ in 0..count {
        stream.write_all(&body)?;
    }
    stream.flush()
}

fn receive_all(mut stream: impl Read, size: usize, count: u64) -> io::Result<Measurement> {
    let mut buf = vec![0_u8; size];
    stream.read_exact(&mut buf)?;
    let start = Instant::now();
    for _ in 1..count {
        stream.read_exact(&mut buf)?;
    }
    Ok(Measurement {
        count: count - 1,
        size,
        elapsed: start.elapsed(),
        median_each: None,
        lost: 0,
    })
}

fn finish(
    received: io::Result<Measurement>,
    sender: thread::JoinHandle<io::Result<()>>,
) -> io::Result<Measurement> {
    let m = received?;
    sender
        .join()
        .map_err(|_| io::Error::other("the sending thread panicked"))??;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_socket_pair_moves_every_byte() {
        for transport in [Transport::Tcp, Transport::Ipc] {
            let m = loopback(transport, 8192, 100).expect("loopback");
            assert_eq!((m.count, m.size), (99, 8192));
            assert!(m.per_sec() > 0.0);
        }
        assert!(loopback(Transport::Inproc, 16, 10).is_err());
        assert!(loopback(Transport::Tcp, 16, 1).is_err());
    }
}
