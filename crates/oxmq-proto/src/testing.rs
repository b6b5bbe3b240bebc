//! Test support: [`Pair`], two [`Session`]s wired together in memory with a virtual clock.
//!
//! Bytes travel between the two sessions in chunks of random size (1 to `max_chunk` bytes,
//! from a seeded generator, so runs are reproducible), which exercises every partial-input path
//! of the decoders. [`Pair::drive`] runs until neither side has anything left to send or to
//! read. Events stay in each session's queue for the test to poll. Enabled for this crate's own
//! tests, and for other crates with the `testing` feature.

use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::{ProtocolError, Session, SessionConfig, WriteBuf};

/// Two sessions connected back to back.
#[derive(Debug)]
pub struct Pair {
    /// The connecting side.
    pub client: Session,
    /// The accepting side.
    pub server: Session,
    /// Every byte the client has sent, in order.
    pub client_sent: Vec<u8>,
    /// Every byte the server has sent, in order.
    pub server_sent: Vec<u8>,
    now: Instant,
    max_chunk: usize,
    rng: u64,
    /// Sent by the client, not yet read by the server (and the reverse).
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    server_in: BytesMut,
    client_in: BytesMut,
    /// Rewrite the minor version byte of this side's greeting in flight (simulates a ZMTP 3.0
    /// peer for the other side).
    client_minor: Option<u8>,
    server_minor: Option<u8>,
}

/// Which end of a [`Pair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// [`Pair::client`].
    Client,
    /// [`Pair::server`].
    Server,
}

/// A session of a [`Pair`] failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairError {
    /// The side whose session returned the error.
    pub side: Side,
    /// The error.
    pub error: ProtocolError,
}

impl Pair {
    /// A pair with the given configurations, exchanging chunks of 1 to 7 bytes.
    pub fn new(client: SessionConfig, server: SessionConfig) -> Pair {
        let now = Instant::now();
        Pair {
            client: Session::new(client, now),
            server: Session::new(server, now),
            client_sent: Vec::new(),
            server_sent: Vec::new(),
            now,
            max_chunk: 7,
            rng: 0x9E37_79B9_7F4A_7C15,
            to_server: Vec::new(),
            to_client: Vec::new(),
            server_in: BytesMut::new(),
            client_in: BytesMut::new(),
            client_minor: None,
            server_minor: None,
        }
    }

    /// Sets the largest chunk delivered at once and the seed of the chunk-size generator.
    pub fn with_chunking(mut self, max_chunk: usize, seed: u64) -> Pair {
        self.max_chunk = max_chunk.max(1);
        self.rng = seed | 1;
        self
    }

    /// Makes `side` announce ZMTP minor version `minor` in its greeting, as seen by the other
    /// side (`0` simulates a ZMTP 3.0 peer). Must be called before [`drive`](Pair::drive).
    pub fn with_minor(mut self, side: Side, minor: u8) -> Pair {
        match side {
            Side::Client => self.client_minor = Some(minor),
            Side::Server => self.server_minor = Some(minor),
        }
        self
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Moves the virtual clock forward and lets both sessions serve their timers.
    pub fn advance(&mut self, by: Duration) -> Result<(), PairError> {
        self.now += by;
        let now = self.now;
        self.client.handle_timeout(now).map_err(|error| PairError {
            side: Side::Client,
            error,
        })?;
        self.server.handle_timeout(now).map_err(|error| PairError {
            side: Side::Server,
            error,
        })
    }

    /// Exchanges bytes until both sides are idle, or one fails. On failure, what the failing
    /// side queued (e.g. an ERROR command) is still collected into its `*_sent` log.
    pub fn drive(&mut self) -> Result<(), PairError> {
        loop {
            self.collect(Side::Client);
            self.collect(Side::Server);
            if self.to_server.is_empty() && self.to_client.is_empty() {
                return Ok(());
            }
            self.deliver(Side::Server)?;
            self.deliver(Side::Client)?;
        }
    }

    fn collect(&mut self, side: Side) {
        let mut w = WriteBuf::new();
        let (session, log, wire, rewrite) = match side {
            Side::Client => (
                &mut self.client,
                &mut self.client_sent,
                &mut self.to_server,
                self.client_minor,
            ),
            Side::Server => (
                &mut self.server,
                &mut self.server_sent,
                &mut self.to_client,
                self.server_minor,
            ),
        };
        session.poll_transmit(&mut w);
        let start = log.len();
        log.extend_from_slice(&w.to_vec());
        let mut bytes = log[start..].to_vec();
        if let Some(minor) = rewrite {
            let pos = crate::greeting::MINOR_POS;
            if (start..log.len()).contains(&pos) {
                bytes[pos - start] = minor;
            }
        }
        wire.extend_from_slice(&bytes);
    }

    /// Feeds one random-size chunk of in-flight bytes to `to`.
    fn deliver(&mut self, to: Side) -> Result<(), PairError> {
        let chunk = self.next_chunk();
        let (session, wire, input) = match to {
            Side::Server => (&mut self.server, &mut self.to_server, &mut self.server_in),
            Side::Client => (&mut self.client, &mut self.to_client, &mut self.client_in),
        };
        let n = chunk.min(wire.len());
        if n == 0 && input.is_empty() {
            return Ok(());
        }
        input.extend_from_slice(&wire[..n]);
        wire.drain(..n);
        let result = session.handle_input(input, self.now);
        if let Err(error) = result {
            self.collect(to);
            return Err(PairError { side: to, error });
        }
        Ok(())
    }

    fn next_chunk(&mut self) -> usize {
        // xorshift64
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x % self.max_chunk as u64) as usize + 1
    }
}
