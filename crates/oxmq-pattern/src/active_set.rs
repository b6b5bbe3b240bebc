//! [`ActiveSet`]: pipes split into an active and an inactive part, with a round-robin cursor.
//!
//! libzmq keeps a socket's pipes in one array whose first `active` entries are the active ones;
//! activating or deactivating a pipe swaps it across that boundary, so every change is O(1).
//! The same array, with an index from pipe to position, backs the [`crate::Distributor`].

use crate::pipe_map::PipeMap;
use crate::PipeId;

/// Pipes split into active and inactive, with O(1) activate, deactivate and remove, and a
/// round-robin cursor over the active ones.
///
/// Activating an active pipe, deactivating an inactive one or removing an unknown one does
/// nothing, so callers may forward spurious events.
#[derive(Debug, Default)]
pub struct ActiveSet {
    arr: PipeArray,
    active: usize,
    current: usize,
}

impl ActiveSet {
    /// An empty set.
    pub fn new() -> ActiveSet {
        ActiveSet::default()
    }

    /// Adds `pipe`, active or not. Adding a known pipe only (de)activates it.
    pub fn insert(&mut self, pipe: PipeId, active: bool) {
        if !self.arr.contains(pipe) {
            self.arr.push(pipe);
        }
        if active {
            self.activate(pipe);
        } else {
            self.deactivate(pipe);
        }
    }

    /// Moves `pipe` into the active part (at its end, so it is visited last in this round).
    pub fn activate(&mut self, pipe: PipeId) {
        if let Some(i) = self.arr.index_of(pipe) {
            if i >= self.active {
                self.arr.swap(i, self.active);
                self.active += 1;
            }
        }
    }

    /// Moves `pipe` out of the active part.
    pub fn deactivate(&mut self, pipe: PipeId) {
        if let Some(i) = self.arr.index_of(pipe) {
            if i < self.active {
                self.remove_from_active(i);
            }
        }
    }

    /// Deactivates the pipe under the cursor; the cursor then points at the pipe swapped into
    /// its place (or wraps to the first one).
    pub fn deactivate_current(&mut self) {
        if self.current < self.active {
            self.active -= 1;
            self.arr.swap(self.current, self.active);
            if self.current == self.active {
                self.current = 0;
            }
        }
    }

    /// Forgets `pipe`. Returns whether it was known.
    pub fn remove(&mut self, pipe: PipeId) -> bool {
        let Some(i) = self.arr.index_of(pipe) else {
            return false;
        };
        if i < self.active {
            self.remove_from_active(i);
        }
        self.arr.remove(pipe);
        true
    }

    /// The active pipe under the round-robin cursor.
    #[inline]
    pub fn current(&self) -> Option<PipeId> {
        if self.current < self.active {
            self.arr.get(self.current)
        } else {
            None
        }
    }

    /// Moves the cursor to the next active pipe, wrapping around.
    #[inline]
    pub fn advance(&mut self) {
        // A compare rather than `% active`: a division per message showed in the profile.
        self.current += 1;
        if self.current >= self.active {
            self.current = 0;
        }
    }

    /// Number of active pipes.
    #[inline]
    pub fn active_len(&self) -> usize {
        self.active
    }

    /// Number of pipes, active or not.
    pub fn len(&self) -> usize {
        self.arr.len()
    }

    /// Whether the set holds no pipe.
    pub fn is_empty(&self) -> bool {
        self.arr.len() == 0
    }

    /// Whether `pipe` is in the set.
    pub fn contains(&self, pipe: PipeId) -> bool {
        self.arr.contains(pipe)
    }

    /// Whether `pipe` is in the active part.
    pub fn is_active(&self, pipe: PipeId) -> bool {
        self.arr.index_of(pipe).is_some_and(|i| i < self.active)
    }

    /// The active pipes in round-robin order, starting at the cursor.
    pub fn iter_active(&self) -> impl Iterator<Item = PipeId> + '_ {
        let n = self.active;
        let start = self.current;
        (0..n).filter_map(move |k| self.arr.get((start + k) % n))
    }

    /// Every pipe, active ones first.
    pub fn iter(&self) -> impl Iterator<Item = PipeId> + '_ {
        self.arr.iter()
    }

    fn remove_from_active(&mut self, i: usize) {
        self.active -= 1;
        self.arr.swap(i, self.active);
        if self.current == self.active {
            self.current = 0;
        }
    }
}

/// An array of pipes with an index from pipe to position, so that swapping two entries and
/// finding a pipe are O(1).
#[derive(Debug, Default)]
pub(crate) struct PipeArray {
    pipes: Vec<PipeId>,
    index: PipeMap<usize>,
}

impl PipeArray {
    pub(crate) fn push(&mut self, pipe: PipeId) {
        self.index.insert(pipe, self.pipes.len());
        self.pipes.push(pipe);
    }

    /// Removes `pipe` by swapping the last entry into its place.
    pub(crate) fn remove(&mut self, pipe: PipeId) {
        if let Some(i) = self.index.remove(&pipe) {
            self.pipes.swap_remove(i);
            if let Some(&moved) = self.pipes.get(i) {
                self.index.insert(moved, i);
            }
        }
    }

    #[inline]
    pub(crate) fn swap(&mut self, i: usize, j: usize) {
        if i == j || i >= self.pipes.len() || j >= self.pipes.len() {
            return;
        }
        self.pipes.swap(i, j);
        self.index.insert(self.pipes[i], i);
        self.index.insert(self.pipes[j], j);
    }

    #[inline]
    pub(crate) fn index_of(&self, pipe: PipeId) -> Option<usize> {
        self.index.get(&pipe).copied()
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<PipeId> {
        self.pipes.get(i).copied()
    }

    pub(crate) fn contains(&self, pipe: PipeId) -> bool {
        self.index.contains_key(&pipe)
    }

    pub(crate) fn len(&self) -> usize {
        self.pipes.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = PipeId> + '_ {
        self.pipes.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u64) -> PipeId {
        PipeId(n)
    }

    #[test]
    fn activate_deactivate_remove_keep_partition() {
        let mut s = ActiveSet::new();
        s.insert(p(1), true);
        s.insert(p(2), false);
        s.insert(p(3), true);
        assert_eq!(s.active_len(), 2);
        assert!(s.is_active(p(1)) && !s.is_active(p(2)) && s.is_active(p(3)));
        s.activate(p(2));
        s.activate(p(2));
        assert_eq!(s.active_len(), 3);
        s.deactivate(p(1));
        s.deactivate(p(1));
        assert_eq!(s.active_len(), 2);
        assert!(!s.is_active(p(1)));
        assert!(s.remove(p(3)));
        assert!(!s.remove(p(3)));
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter_active().collect::<Vec<_>>(), vec![p(2)]);
    }

    #[test]
    fn round_robin_visits_every_active_pipe() {
        let mut s = ActiveSet::new();
        for i in 0..4 {
            s.insert(p(i), true);
        }
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(s.current().map(|x| x.0));
            s.advance();
        }
        seen.sort();
        assert_eq!(seen, vec![Some(0), Some(1), Some(2), Some(3)]);
        s.deactivate_current();
        assert_eq!(s.active_len(), 3);
        assert_eq!(s.iter_active().count(), 3);
    }

    #[test]
    fn empty_set_has_no_current() {
        let mut s = ActiveSet::new();
        assert_eq!(s.current(), None);
        s.advance();
        s.deactivate_current();
        assert!(s.is_empty());
    }
}
