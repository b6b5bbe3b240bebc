//! [`RoutingTable`]: ROUTER's routing ids, unique in both directions.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;

use bytes::Bytes;

use crate::pipe_map::PipeMap;
use crate::PipeId;

/// Routing id ↔ pipe, both unique.
///
/// Generated ids are libzmq's: 5 bytes, a zero byte then a 32-bit counter in network byte order.
/// libzmq starts the counter at a random value per socket; so does [`RoutingTable::new`].
/// Ids starting with a zero byte are reserved for generated ones by convention only (libzmq does
/// not enforce it); a generated id already taken by a peer is skipped.
#[derive(Debug)]
pub struct RoutingTable {
    by_id: HashMap<Bytes, PipeId>,
    /// By pipe; `by_id` keeps std's keyed hasher, as its keys come from peers.
    by_pipe: PipeMap<Bytes>,
    next_integral: u32,
}

impl RoutingTable {
    /// An empty table whose generated ids start at a random counter value.
    pub fn new() -> RoutingTable {
        RoutingTable::with_seed(random_u32())
    }

    /// An empty table whose first generated id is `[0, seed in big-endian]`.
    pub fn with_seed(seed: u32) -> RoutingTable {
        RoutingTable {
            by_id: HashMap::new(),
            by_pipe: PipeMap::default(),
            next_integral: seed,
        }
    }

    /// Maps `id` to `pipe`. Returns `false`, changing nothing, if either is already mapped.
    pub fn insert(&mut self, id: Bytes, pipe: PipeId) -> bool {
        if self.by_id.contains_key(&id) || self.by_pipe.contains_key(&pipe) {
            return false;
        }
        self.by_id.insert(id.clone(), pipe);
        self.by_pipe.insert(pipe, id);
        true
    }

    /// A fresh 5-byte routing id not in the table.
    pub fn generate(&mut self) -> Bytes {
        loop {
            let n = self.next_integral;
            self.next_integral = n.wrapping_add(1);
            let mut id = [0u8; 5];
            id[1..].copy_from_slice(&n.to_be_bytes());
            if !self.by_id.contains_key(&id[..]) {
                return Bytes::copy_from_slice(&id);
            }
        }
    }

    /// Gives `pipe` the id `new_id` (which must be unused); returns the old id.
    pub fn rename(&mut self, pipe: PipeId, new_id: Bytes) -> Option<Bytes> {
        if self.by_id.contains_key(&new_id) {
            return None;
        }
        let old = self.by_pipe.remove(&pipe)?;
        self.by_id.remove(&old);
        self.by_id.insert(new_id.clone(), pipe);
        self.by_pipe.insert(pipe, new_id);
        Some(old)
    }

    /// The pipe with routing id `id`.
    #[inline]
    pub fn pipe(&self, id: &[u8]) -> Option<PipeId> {
        self.by_id.get(id).copied()
    }

    /// The routing id of `pipe`.
    #[inline]
    pub fn id(&self, pipe: PipeId) -> Option<&Bytes> {
        self.by_pipe.get(&pipe)
    }

    /// Forgets `pipe`; returns its id.
    pub fn remove_pipe(&mut self, pipe: PipeId) -> Option<Bytes> {
        let id = self.by_pipe.remove(&pipe)?;
        self.by_id.remove(&id);
        Some(id)
    }

    /// Every mapped pipe.
    pub fn pipes(&self) -> impl Iterator<Item = PipeId> + '_ {
        self.by_pipe.keys().copied()
    }

    /// Number of mapped pipes.
    pub fn len(&self) -> usize {
        self.by_pipe.len()
    }

    /// Whether no pipe is mapped.
    pub fn is_empty(&self) -> bool {
        self.by_pipe.is_empty()
    }
}

impl Default for RoutingTable {
    fn default() -> RoutingTable {
        RoutingTable::new()
    }
}

/// A random-enough 32-bit value without a dependency: std seeds every `RandomState` from the
/// OS's random source (then per-thread increments), which is plenty for a counter start.
pub(crate) fn random_u32() -> u32 {
    let h = RandomState::new().hash_one(0x6f78_6d71_u64);
    (h ^ (h >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_zero_then_big_endian_counter() {
        let mut t = RoutingTable::with_seed(0x0102_03ff);
        assert_eq!(&t.generate()[..], &[0, 1, 2, 3, 0xff]);
        assert_eq!(&t.generate()[..], &[0, 1, 2, 4, 0]);
    }

    #[test]
    fn generated_ids_skip_taken_ones_and_wrap() {
        let mut t = RoutingTable::with_seed(u32::MAX);
        assert!(t.insert(Bytes::from_static(&[0, 0xff, 0xff, 0xff, 0xff]), PipeId(1)));
        assert_eq!(&t.generate()[..], &[0, 0, 0, 0, 0]);
    }

    #[test]
    fn ids_and_pipes_are_unique() {
        let mut t = RoutingTable::with_seed(0);
        assert!(t.insert(Bytes::from_static(b"A"), PipeId(1)));
        assert!(!t.insert(Bytes::from_static(b"A"), PipeId(2)));
        assert!(!t.insert(Bytes::from_static(b"B"), PipeId(1)));
        assert_eq!(t.pipe(b"A"), Some(PipeId(1)));
        assert_eq!(
            t.rename(PipeId(1), Bytes::from_static(b"C")).as_deref(),
            Some(&b"A"[..])
        );
        assert_eq!(t.pipe(b"A"), None);
        assert_eq!(t.id(PipeId(1)).map(|b| &b[..]), Some(&b"C"[..]));
        assert_eq!(t.remove_pipe(PipeId(1)).as_deref(), Some(&b"C"[..]));
        assert!(t.is_empty());
    }

    #[test]
    fn random_seeds_differ_between_tables() {
        let a = RoutingTable::new().next_integral;
        let b = RoutingTable::new().next_integral;
        let c = RoutingTable::new().next_integral;
        assert!(a != b || b != c);
    }
}
