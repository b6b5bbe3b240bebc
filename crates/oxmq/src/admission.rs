//! Bounds on unauthenticated handshakes: at most [`MAX_PER_SOURCE`] accepted connections from
//! one peer address, and [`MAX_PER_SOCKET`] in all, may be in their handshake at once on a
//! socket.
//!
//! A connection over a bound evicts the *oldest* handshake in progress under it, if that one
//! has been at it for [`GRACE`] or more; otherwise the newcomer is refused (closed at once; a
//! ZeroMQ peer reconnects after its RECONNECT_IVL). So a flood of connections that never
//! finish their handshake (CVE-2020-15166's starvation) is pushed out as it ages, while a
//! handshake is never cut short in its first [`GRACE`]: a burst of thousands of real clients
//! from one address (a ROUTER taking 10,000 connections at once) makes progress instead of
//! evicting itself over and over. Evictions and refusals are counted
//! ([`crate::Counters::handshakes_evicted`], [`crate::Counters::handshakes_refused`]) and
//! logged; an evicted connection is closed as a handshake that failed without detail.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::pipe::TaskWaker;

/// Handshakes in progress from one peer address (the IP for tcp, `localhost:uid:gid:pid` for ipc).
pub(crate) const MAX_PER_SOURCE: usize = 64;
/// Handshakes in progress on one socket, from any address.
pub(crate) const MAX_PER_SOCKET: usize = 512;
/// How long a handshake is safe from eviction. A real handshake over loopback takes
/// milliseconds; this leaves room for a loaded machine and a slow ZAP handler.
pub(crate) const GRACE: Duration = Duration::from_secs(1);

/// The handshakes in progress on one socket's accepted connections.
#[derive(Default)]
pub(crate) struct Admission {
    pending: Mutex<VecDeque<Entry>>,
}

struct Entry {
    id: u64,
    source: String,
    since: Instant,
    state: Arc<TicketState>,
}

struct TicketState {
    evicted: AtomicBool,
    waker: Arc<TaskWaker>,
}

/// One accepted connection's place among the handshakes in progress; leaves it when dropped.
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    id: u64,
    state: Arc<TicketState>,
}

impl Admission {
    /// Admits a new handshake from `source`, whose engine `waker` wakes, evicting the oldest
    /// ones over the bounds when they are past [`GRACE`]. Returns the ticket and how many it
    /// evicted, or `None` when a bound is reached and nothing under it may be evicted yet.
    pub(crate) fn admit(
        self: &Arc<Self>,
        source: &str,
        waker: Arc<TaskWaker>,
        next_id: u64,
    ) -> Option<(Ticket, usize)> {
        self.admit_at(source, waker, next_id, Instant::now())
    }

    fn admit_at(
        self: &Arc<Self>,
        source: &str,
        waker: Arc<TaskWaker>,
        next_id: u64,
        now: Instant,
    ) -> Option<(Ticket, usize)> {
        let mut pending = self.lock();
        let aged = |e: &Entry| now.saturating_duration_since(e.since) >= GRACE;
        // Decide both bounds before evicting anything, so that a refusal evicts nothing.
        let mut victims = Vec::with_capacity(2);
        let same_source = pending.iter().filter(|e| e.source == source).count();
        if same_source >= MAX_PER_SOURCE {
            // The oldest from this source is the first one in the queue.
            let pos = pending.iter().position(|e| e.source == source)?;
            if !aged(&pending[pos]) {
                return None;
            }
            victims.push(pos);
        }
        if pending.len() - victims.len() >= MAX_PER_SOCKET {
            let pos = (0..pending.len()).find(|i| !victims.contains(i))?;
            if !aged(&pending[pos]) {
                return None;
            }
            victims.push(pos);
        }
        victims.sort_unstable();
        let evicted = victims.len();
        for pos in victims.into_iter().rev() {
            evict(pending.remove(pos));
        }
        let state = Arc::new(TicketState {
            evicted: AtomicBool::new(false),
            waker,
        });
        pending.push_back(Entry {
            id: next_id,
            source: source.to_owned(),
            since: now,
            state: Arc::clone(&state),
        });
        drop(pending);
        let ticket = Ticket {
            admission: Arc::clone(self),
            id: next_id,
            state,
        };
        Some((ticket, evicted))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn evict(entry: Option<Entry>) {
    if let Some(e) = entry {
        e.state.evicted.store(true, Ordering::SeqCst);
        e.state.waker.wake();
    }
}

impl Ticket {
    /// Whether a newer handshake pushed this one out.
    pub(crate) fn is_evicted(&self) -> bool {
        self.state.evicted.load(Ordering::SeqCst)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut pending = self.admission.lock();
        if let Some(pos) = pending.iter().position(|e| e.id == self.id) {
            pending.remove(pos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Admits at `at` (an instant after the epoch of the test).
    fn admit(a: &Arc<Admission>, source: &str, id: u64, at: Instant) -> Option<(Ticket, usize)> {
        a.admit_at(source, Arc::default(), id, at)
    }

    #[test]
    fn at_the_source_bound_the_oldest_is_evicted_once_past_its_grace() {
        let a = Arc::new(Admission::default());
        let t0 = Instant::now();
        let mut tickets: Vec<Ticket> = (0..MAX_PER_SOURCE as u64)
            .map(|i| admit(&a, "10.0.0.1", i, t0).expect("under the bound").0)
            .collect();
        let other = admit(&a, "10.0.0.2", 1000, t0).expect("another source").0;
        // Young handshakes are not cut short: the newcomer is refused.
        assert!(admit(&a, "10.0.0.1", 1500, t0 + GRACE / 2).is_none());
        assert!(tickets.iter().all(|t| !t.is_evicted()));
        // Past the grace, the oldest from that source makes room.
        let (newest, evicted) = admit(&a, "10.0.0.1", 2000, t0 + GRACE).expect("evicts");
        assert_eq!(evicted, 1);
        assert!(tickets[0].is_evicted());
        assert!(tickets[1..].iter().all(|t| !t.is_evicted()));
        assert!(!other.is_evicted() && !newest.is_evicted());
        // A finished handshake frees its place.
        tickets.truncate(1);
        let (_, evicted) = admit(&a, "10.0.0.1", 3000, t0 + GRACE).expect("room");
        assert_eq!(evicted, 0);
    }

    #[test]
    fn the_socket_bound_evicts_the_oldest_of_any_source_once_past_its_grace() {
        let a = Arc::new(Admission::default());
        let t0 = Instant::now();
        let tickets: Vec<Ticket> = (0..MAX_PER_SOCKET as u64)
            .map(|i| {
                let source = format!("10.0.{}.{}", i / 250, i % 250);
                admit(&a, &source, i, t0).expect("under the bound").0
            })
            .collect();
        assert!(
            admit(&a, "10.9.9.9", 9998, t0).is_none(),
            "all young: refused"
        );
        let (_, evicted) = admit(&a, "10.9.9.9", 9999, t0 + GRACE).expect("evicts");
        assert_eq!(evicted, 1);
        assert!(tickets[0].is_evicted());
        assert_eq!(tickets.iter().filter(|t| t.is_evicted()).count(), 1);
    }

    #[test]
    fn a_refusal_evicts_nothing() {
        let a = Arc::new(Admission::default());
        let t0 = Instant::now();
        // The socket is full; its oldest handshake is aged, but the newcomer's own source is
        // at its bound with young handshakes only.
        let old: Vec<Ticket> = (0..(MAX_PER_SOCKET - MAX_PER_SOURCE) as u64)
            .map(|i| {
                admit(&a, &format!("10.1.{}.{}", i / 250, i % 250), i, t0)
                    .expect("room")
                    .0
            })
            .collect();
        let young: Vec<Ticket> = (0..MAX_PER_SOURCE as u64)
            .map(|i| admit(&a, "10.0.0.1", 5000 + i, t0 + GRACE).expect("room").0)
            .collect();
        assert!(admit(&a, "10.0.0.1", 9999, t0 + GRACE).is_none());
        assert!(old.iter().chain(&young).all(|t| !t.is_evicted()));
    }
}
