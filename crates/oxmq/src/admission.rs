//! Bounds on unauthenticated handshakes: at most [`MAX_PER_SOURCE`] accepted connections from
//! one peer address, and [`MAX_PER_SOCKET`] in all, may be in their handshake at once on a
//! socket.
//!
//! Reaching a bound evicts the *oldest* handshake in progress under it rather than refusing
//! the newcomer. A flood of connections that never finish their handshake (CVE-2020-15166's
//! starvation) then only evicts itself: a real client completes its handshake in
//! milliseconds, long before the flood can push it out, even from the same address. Each
//! eviction is counted ([`crate::Counters::handshakes_evicted`]) and logged; the evicted
//! connection is closed as a handshake that failed without detail.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::pipe::TaskWaker;

/// Handshakes in progress from one peer address (the IP for tcp, `localhost:uid:gid:pid` for ipc).
pub(crate) const MAX_PER_SOURCE: usize = 64;
/// Handshakes in progress on one socket, from any address.
pub(crate) const MAX_PER_SOCKET: usize = 512;

/// The handshakes in progress on one socket's accepted connections.
#[derive(Default)]
pub(crate) struct Admission {
    pending: Mutex<VecDeque<Entry>>,
}

struct Entry {
    id: u64,
    source: String,
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
    /// Admits a new handshake from `source`, whose engine `waker` wakes; evicts the oldest
    /// ones over the bounds. Returns the ticket and how many it evicted.
    pub(crate) fn admit(
        self: &Arc<Self>,
        source: &str,
        waker: Arc<TaskWaker>,
        next_id: u64,
    ) -> (Ticket, usize) {
        let state = Arc::new(TicketState {
            evicted: AtomicBool::new(false),
            waker,
        });
        let mut pending = self.lock();
        let mut evicted = 0;
        let same_source = pending.iter().filter(|e| e.source == source).count();
        if same_source >= MAX_PER_SOURCE {
            if let Some(pos) = pending.iter().position(|e| e.source == source) {
                evict(pending.remove(pos));
                evicted += 1;
            }
        }
        if pending.len() >= MAX_PER_SOCKET {
            evict(pending.pop_front());
            evicted += 1;
        }
        pending.push_back(Entry {
            id: next_id,
            source: source.to_owned(),
            state: Arc::clone(&state),
        });
        drop(pending);
        let ticket = Ticket {
            admission: Arc::clone(self),
            id: next_id,
            state,
        };
        (ticket, evicted)
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

    fn admit(a: &Arc<Admission>, source: &str, id: u64) -> (Ticket, usize) {
        a.admit(source, Arc::default(), id)
    }

    #[test]
    fn the_oldest_from_a_source_is_evicted_at_the_bound() {
        let a = Arc::new(Admission::default());
        let mut tickets: Vec<Ticket> = (0..MAX_PER_SOURCE as u64)
            .map(|i| admit(&a, "10.0.0.1", i).0)
            .collect();
        let other = admit(&a, "10.0.0.2", 1000).0;
        assert!(tickets.iter().all(|t| !t.is_evicted()));
        let (newest, evicted) = admit(&a, "10.0.0.1", 2000);
        assert_eq!(evicted, 1);
        assert!(tickets[0].is_evicted());
        assert!(tickets[1..].iter().all(|t| !t.is_evicted()));
        assert!(!other.is_evicted() && !newest.is_evicted());
        // A finished handshake frees its place.
        tickets.truncate(1);
        let (_, evicted) = admit(&a, "10.0.0.1", 3000);
        assert_eq!(evicted, 0);
    }

    #[test]
    fn the_socket_bound_evicts_the_oldest_of_any_source() {
        let a = Arc::new(Admission::default());
        let tickets: Vec<Ticket> = (0..MAX_PER_SOCKET as u64)
            .map(|i| admit(&a, &format!("10.0.{}.{}", i / 250, i % 250), i).0)
            .collect();
        let (_, evicted) = admit(&a, "10.9.9.9", 9999);
        assert_eq!(evicted, 1);
        assert!(tickets[0].is_evicted());
        assert_eq!(tickets.iter().filter(|t| t.is_evicted()).count(), 1);
    }
}
