//! Hash maps keyed by [`PipeId`] with a cheap hasher.
//!
//! Pipe ids are chosen by the caller, never by a peer, so they need no protection against
//! hash flooding; a multiply-rotate hash (FxHash's) costs a few cycles where SipHash costs tens,
//! and the distributor looks pipes up once per matching subscriber per message.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::PipeId;

/// A map keyed by pipe.
pub(crate) type PipeMap<V> = HashMap<PipeId, V, BuildHasherDefault<PipeHasher>>;

/// A set of pipes.
pub(crate) type PipeSet = HashSet<PipeId, BuildHasherDefault<PipeHasher>>;

/// FxHash's mixing step; only ever fed the `u64` inside a [`PipeId`].
#[derive(Default, Clone, Copy)]
pub(crate) struct PipeHasher(u64);

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
