//! Hash maps keyed by [`PipeId`] with a cheap hasher.
//!
//! Pipe ids are chosen by the caller, never by a peer, so they need no protection against
//! hash flooding; a multiply-rotate hash (FxHash's) costs a few cycles where SipHash costs tens,
//! and the distributor looks pipes up once per matching subscriber per message. Not the
//! identity either: hashbrown tags each entry with the hash's top seven bits, which are all zero
//! for small counters, so that every lookup would compare the keys of a whole group of entries
//! (the socket's pipe table did, and `fanout tcp 16 B x100` spent about 150 instructions a
//! delivery there).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::PipeId;

/// A map keyed by pipe.
pub type PipeMap<V> = HashMap<PipeId, V, BuildHasherDefault<PipeHasher>>;

/// A set of pipes.
pub type PipeSet = HashSet<PipeId, BuildHasherDefault<PipeHasher>>;

/// FxHash's mixing step; only ever fed the `u64` inside a [`PipeId`].
#[derive(Default, Clone, Copy)]
pub struct PipeHasher(u64);

impl Hasher for PipeHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(SEED);
    }
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn consecutive_ids_get_different_top_bits() {
        // hashbrown's tag is the hash's top seven bits: ids counted up from 1 must spread over
        // them, or each lookup compares the keys of a whole group.
        let build = BuildHasherDefault::<PipeHasher>::default();
        let tags: HashSet<u64> = (1..=128u64)
            .map(|id| build.hash_one(PipeId(id)) >> 57)
            .collect();
        assert!(tags.len() > 32, "{} distinct tags for 128 ids", tags.len());
    }
}
