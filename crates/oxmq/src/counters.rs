//! Counters beyond libzmq: what went through a socket and each of its connections, what it
//! dropped and why, how often it reconnected and why handshakes failed.
//!
//! Engines count in plain integers and publish to relaxed atomics once per wake-up, so the
//! cost on the message path is an addition; [`crate::Socket::counters`] adds up a snapshot.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Messages (whole multipart messages) and bytes (of every frame's body) through a connection
/// or a socket, in each direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Messages received from the network.
    pub msgs_in: u64,
    /// Body bytes received.
    pub bytes_in: u64,
    /// Messages written to the network (encoded for it).
    pub msgs_out: u64,
    /// Body bytes written.
    pub bytes_out: u64,
}

impl Traffic {
    /// Messages in, bytes in, messages out, bytes out: the order of the COUNTERS monitor
    /// event's values.
    pub fn values(&self) -> [u64; 4] {
        [self.msgs_in, self.bytes_in, self.msgs_out, self.bytes_out]
    }

    fn add(&mut self, other: &Traffic) {
        self.msgs_in += other.msgs_in;
        self.bytes_in += other.bytes_in;
        self.msgs_out += other.msgs_out;
        self.bytes_out += other.bytes_out;
    }

    fn is_zero(&self) -> bool {
        *self == Traffic::default()
    }
}

/// One live connection's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerCounters {
    /// The endpoint the connection belongs to (as bound or connected).
    pub endpoint: String,
    /// The peer's address (the Peer-Address message property).
    pub peer_address: String,
    /// What went through it so far.
    pub traffic: Traffic,
}

/// A snapshot of a socket's counters ([`crate::Socket::counters`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Everything through the socket's network connections, ended ones included (inproc
    /// messages cross without an engine and are not counted).
    pub traffic: Traffic,
    /// Messages dropped because a recipient was at its high-water mark (PUB and XPUB count
    /// once per subscriber that missed the message; ROUTER once per message).
    pub dropped_hwm: u64,
    /// ROUTER messages dropped for a routing id no peer has.
    pub dropped_unroutable: u64,
    /// PUB and XPUB messages no subscriber matched.
    pub dropped_no_subscribers: u64,
    /// Connection attempts made after the first, by every connecter of the socket.
    pub reconnects: u64,
    /// Handshakes that failed on a protocol error (HANDSHAKE_FAILED_PROTOCOL).
    pub handshake_failed_protocol: u64,
    /// Handshakes refused by authentication (HANDSHAKE_FAILED_AUTH).
    pub handshake_failed_auth: u64,
    /// Handshakes cut short otherwise: a time-out or a peer that left (HANDSHAKE_FAILED_NO_DETAIL).
    pub handshake_failed_no_detail: u64,
    /// Accepted connections closed in their handshake because newer ones from the same
    /// address, or too many in all, were waiting (see docs/SECURITY.md). Also counted in
    /// `handshake_failed_no_detail`.
    pub handshakes_evicted: u64,
    /// Accepted connections closed at once because the handshakes in progress from their
    /// address, or in all, were at their bound and none was old enough to evict (see
    /// docs/SECURITY.md).
    pub handshakes_refused: u64,
    /// The live connections.
    pub peers: Vec<PeerCounters>,
}

#[derive(Default)]
struct TrafficCells {
    msgs_in: AtomicU64,
    bytes_in: AtomicU64,
    msgs_out: AtomicU64,
    bytes_out: AtomicU64,
}

impl TrafficCells {
    fn add(&self, t: &Traffic) {
        self.msgs_in.fetch_add(t.msgs_in, Ordering::Relaxed);
        self.bytes_in.fetch_add(t.bytes_in, Ordering::Relaxed);
        self.msgs_out.fetch_add(t.msgs_out, Ordering::Relaxed);
        self.bytes_out.fetch_add(t.bytes_out, Ordering::Relaxed);
    }

    fn load(&self) -> Traffic {
        Traffic {
            msgs_in: self.msgs_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            msgs_out: self.msgs_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        }
    }
}

/// Why a handshake failed, for [`Counters`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum HandshakeFailure {
    Protocol,
    Auth,
    NoDetail,
}

/// The counters a socket shares with its engines and connecters.
#[derive(Default)]
pub(crate) struct SocketStats {
    ended: TrafficCells,
    reconnects: AtomicU64,
    hs_protocol: AtomicU64,
    hs_auth: AtomicU64,
    hs_no_detail: AtomicU64,
    hs_evicted: AtomicU64,
    hs_refused: AtomicU64,
    live: Mutex<Vec<Arc<PeerStats>>>,
    /// `live.len()`, read without the lock.
    live_count: AtomicUsize,
}

impl SocketStats {
    /// A new connection's counters, listed among the live ones until [`PeerMeter::finish`].
    pub(crate) fn peer(self: &Arc<Self>, endpoint: &str, peer_address: &str) -> PeerMeter {
        let stats = Arc::new(PeerStats {
            endpoint: endpoint.to_owned(),
            peer_address: peer_address.to_owned(),
            traffic: TrafficCells::default(),
        });
        let mut live = self.lock_live();
        live.push(Arc::clone(&stats));
        self.live_count.store(live.len(), Ordering::Relaxed);
        drop(live);
        PeerMeter {
            socket: Arc::clone(self),
            stats,
            pending: Traffic::default(),
        }
    }

    pub(crate) fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn handshake_failed(&self, why: HandshakeFailure) {
        let cell = match why {
            HandshakeFailure::Protocol => &self.hs_protocol,
            HandshakeFailure::Auth => &self.hs_auth,
            HandshakeFailure::NoDetail => &self.hs_no_detail,
        };
        cell.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn handshakes_evicted(&self, n: usize) {
        self.hs_evicted.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn handshake_refused(&self) {
        self.hs_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Everything but the drops, which the socket's pattern keeps.
    pub(crate) fn snapshot(&self) -> Counters {
        // Under the lock that `finish` holds to move a connection's totals, so that nothing
        // is counted twice or missed.
        let live = self.lock_live();
        let mut traffic = self.ended.load();
        let peers: Vec<PeerCounters> = live
            .iter()
            .map(|p| PeerCounters {
                endpoint: p.endpoint.clone(),
                peer_address: p.peer_address.clone(),
                traffic: p.traffic.load(),
            })
            .collect();
        drop(live);
        for p in &peers {
            traffic.add(&p.traffic);
        }
        Counters {
            traffic,
            reconnects: self.reconnects.load(Ordering::Relaxed),
            handshake_failed_protocol: self.hs_protocol.load(Ordering::Relaxed),
            handshake_failed_auth: self.hs_auth.load(Ordering::Relaxed),
            handshake_failed_no_detail: self.hs_no_detail.load(Ordering::Relaxed),
            handshakes_evicted: self.hs_evicted.load(Ordering::Relaxed),
            handshakes_refused: self.hs_refused.load(Ordering::Relaxed),
            peers,
            ..Counters::default()
        }
    }

    fn lock_live(&self) -> std::sync::MutexGuard<'_, Vec<Arc<PeerStats>>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct PeerStats {
    endpoint: String,
    peer_address: String,
    traffic: TrafficCells,
}

/// An engine's side of its connection's counters: counts locally, publishes on demand.
pub(crate) struct PeerMeter {
    socket: Arc<SocketStats>,
    stats: Arc<PeerStats>,
    pending: Traffic,
}

impl PeerMeter {
    /// A frame came in.
    #[inline]
    pub(crate) fn frame_in(&mut self, len: usize, last: bool) {
        self.pending.bytes_in += len as u64;
        self.pending.msgs_in += u64::from(last);
    }

    /// A frame went out.
    #[inline]
    pub(crate) fn frame_out(&mut self, len: usize, last: bool) {
        self.pending.bytes_out += len as u64;
        self.pending.msgs_out += u64::from(last);
    }

    /// Makes what was counted since the last call visible.
    pub(crate) fn publish(&mut self) {
        if !self.pending.is_zero() {
            self.stats.traffic.add(&self.pending);
            self.pending = Traffic::default();
        }
    }

    /// How many connections of the socket are live now.
    #[inline]
    pub(crate) fn live_peers(&self) -> usize {
        self.socket.live_count.load(Ordering::Relaxed)
    }

    /// The connection ended: its totals move to the socket's.
    pub(crate) fn finish(mut self) {
        self.publish();
        let mut live = self.socket.lock_live();
        live.retain(|p| !Arc::ptr_eq(p, &self.stats));
        self.socket.live_count.store(live.len(), Ordering::Relaxed);
        self.socket.ended.add(&self.stats.traffic.load());
    }
}
