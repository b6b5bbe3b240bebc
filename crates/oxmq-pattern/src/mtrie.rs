//! [`SubscriptionMap`]: which pipes subscribed to which topic prefixes, on PUB and XPUB (libzmq's
//! `mtrie_t`).

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::pipe_map::PipeMap;
use crate::prefix_tree::{NodeValue, PrefixTree};
use crate::PipeId;

/// Topic prefix → set of subscribed pipes.
///
/// As in libzmq, a pipe is subscribed to a topic or not: subscribing the same pipe twice to a
/// topic needs one unsubscribe (the SUB side counts, and only forwards the last cancel).
/// Matching walks the topic once and collects the pipes on the way: its cost grows with the
/// topic's length and the number of matching pipes, not with the number of subscriptions.
#[derive(Debug)]
pub struct SubscriptionMap {
    tree: PrefixTree<PipeSet>,
    by_pipe: PipeMap<BTreeSet<Bytes>>,
    topics: usize,
}

/// What [`SubscriptionMap::remove`] did, as libzmq's `mtrie_t::rm_result`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoveOutcome {
    /// The pipe was not subscribed to the topic.
    NotFound,
    /// The pipe was the topic's last subscriber.
    LastRemoved,
    /// Other pipes still subscribe to the topic.
    ValuesRemain,
}

impl SubscriptionMap {
    /// No subscriptions.
    pub fn new() -> SubscriptionMap {
        SubscriptionMap {
            tree: PrefixTree::new(),
            by_pipe: PipeMap::default(),
            topics: 0,
        }
    }

    /// Subscribes `pipe` to `topic`. Returns whether `topic` had no subscriber before.
    pub fn add(&mut self, topic: &[u8], pipe: PipeId) -> bool {
        let n = self.tree.find_or_insert(topic);
        let set = self.tree.value_mut(n);
        let first = set.is_empty();
        if set.insert(pipe) {
            self.by_pipe
                .entry(pipe)
                .or_default()
                .insert(Bytes::copy_from_slice(topic));
        }
        if first {
            self.topics += 1;
        }
        first
    }

    /// Unsubscribes `pipe` from `topic`.
    pub fn remove(&mut self, topic: &[u8], pipe: PipeId) -> RemoveOutcome {
        let Some(n) = self.tree.find(topic) else {
            return RemoveOutcome::NotFound;
        };
        let set = self.tree.value_mut(n);
        if !set.remove(pipe) {
            return RemoveOutcome::NotFound;
        }
        let last = set.is_empty();
        if let Some(topics) = self.by_pipe.get_mut(&pipe) {
            topics.remove(topic);
            if topics.is_empty() {
                self.by_pipe.remove(&pipe);
            }
        }
        if last {
            self.topics -= 1;
            self.tree.prune(topic);
            RemoveOutcome::LastRemoved
        } else {
            RemoveOutcome::ValuesRemain
        }
    }

    /// Removes every subscription of `pipe`, calling `f(topic, last)` for each in lexicographic
    /// order, `last` saying whether the topic lost its last subscriber. Costs the length of the
    /// pipe's own topics, not the size of the map.
    pub fn remove_pipe(&mut self, pipe: PipeId, mut f: impl FnMut(&[u8], bool)) {
        let Some(topics) = self.by_pipe.remove(&pipe) else {
            return;
        };
        for topic in topics {
            let Some(n) = self.tree.find(&topic) else {
                continue;
            };
            let set = self.tree.value_mut(n);
            set.remove(pipe);
            let last = set.is_empty();
            if last {
                self.topics -= 1;
                self.tree.prune(&topic);
            }
            f(&topic, last);
        }
    }

    /// Writes into `out` (cleared first) every pipe subscribed to a prefix of `data`, each once.
    /// Reusing `out` keeps the steady state free of allocations.
    pub fn matching(&self, data: &[u8], out: &mut Vec<PipeId>) {
        out.clear();
        let mut sources = 0;
        self.tree.any_prefix(data, |set| {
            if !set.is_empty() {
                sources += 1;
                out.extend_from_slice(&set.list);
            }
            false
        });
        if sources > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }

    /// Calls `f` with every pipe subscribed to a prefix of `data`; a pipe subscribed to several
    /// such prefixes is passed once per prefix.
    #[inline]
    pub fn for_each_match(&self, data: &[u8], mut f: impl FnMut(PipeId)) {
        self.tree.any_prefix(data, |set| {
            set.list.iter().for_each(|&p| f(p));
            false
        });
    }

    /// How many pipes subscribe to the empty topic, which every message matches.
    #[inline]
    pub fn everything_subscribers(&self) -> usize {
        self.tree
            .find(&[])
            .map_or(0, |root| self.tree.value(root).list.len())
    }

    /// Whether `pipe` subscribes to `topic`.
    pub fn contains(&self, topic: &[u8], pipe: PipeId) -> bool {
        self.by_pipe
            .get(&pipe)
            .is_some_and(|topics| topics.contains(topic))
    }

    /// Calls `f(topic, pipes)` for each topic with subscribers, in lexicographic order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[PipeId])) {
        self.tree.for_each(|k, set| f(k, &set.list));
    }

    /// Number of distinct topics with at least one subscriber.
    pub fn len(&self) -> usize {
        self.topics
    }

    /// Whether there is no subscription.
    pub fn is_empty(&self) -> bool {
        self.topics == 0
    }
}

impl Default for SubscriptionMap {
    fn default() -> SubscriptionMap {
        SubscriptionMap::new()
    }
}

/// The pipes subscribed to one topic: a list for matching, an index for O(1) removal.
#[derive(Debug, Default)]
struct PipeSet {
    list: Vec<PipeId>,
    pos: PipeMap<usize>,
}

impl PipeSet {
    fn insert(&mut self, pipe: PipeId) -> bool {
        if self.pos.contains_key(&pipe) {
            return false;
        }
        self.pos.insert(pipe, self.list.len());
        self.list.push(pipe);
        true
    }

    fn remove(&mut self, pipe: PipeId) -> bool {
        let Some(i) = self.pos.remove(&pipe) else {
            return false;
        };
        self.list.swap_remove(i);
        if let Some(&moved) = self.list.get(i) {
            self.pos.insert(moved, i);
        }
        true
    }
}

impl NodeValue for PipeSet {
    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn first_and_last_subscriber() {
        let mut m = SubscriptionMap::new();
        assert!(m.add(b"a", PipeId(1)));
        assert!(!m.add(b"a", PipeId(2)));
        assert!(!m.add(b"a", PipeId(2)));
        assert_eq!(m.remove(b"a", PipeId(3)), RemoveOutcome::NotFound);
        assert_eq!(m.remove(b"a", PipeId(1)), RemoveOutcome::ValuesRemain);
        assert_eq!(m.remove(b"a", PipeId(2)), RemoveOutcome::LastRemoved);
        assert_eq!(m.remove(b"a", PipeId(2)), RemoveOutcome::NotFound);
        assert!(m.is_empty());
        assert_eq!(m.tree.node_count(), 1);
    }

    #[test]
    fn matching_dedups_pipes_with_several_prefixes() {
        let mut m = SubscriptionMap::new();
        m.add(b"", PipeId(1));
        m.add(b"ab", PipeId(1));
        m.add(b"a", PipeId(2));
        m.add(b"b", PipeId(3));
        let mut out = Vec::new();
        m.matching(b"abc", &mut out);
        assert_eq!(out, vec![PipeId(1), PipeId(2)]);
        m.matching(b"x", &mut out);
        assert_eq!(out, vec![PipeId(1)]);
    }

    #[test]
    fn remove_pipe_reports_topics_in_order() {
        let mut m = SubscriptionMap::new();
        m.add(b"b", PipeId(1));
        m.add(b"a", PipeId(1));
        m.add(b"a", PipeId(2));
        m.add(b"", PipeId(1));
        let mut seen = Vec::new();
        m.remove_pipe(PipeId(1), |t, last| seen.push((t.to_vec(), last)));
        assert_eq!(
            seen,
            vec![
                (b"".to_vec(), true),
                (b"a".to_vec(), false),
                (b"b".to_vec(), true)
            ]
        );
        assert_eq!(m.len(), 1);
        let mut out = Vec::new();
        m.matching(b"abc", &mut out);
        assert_eq!(out, vec![PipeId(2)]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(Vec<u8>, u64),
        Remove(Vec<u8>, u64),
        RemovePipe(u64),
        Match(Vec<u8>),
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(0u8..3, 0..4)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (key(), 0u64..4).prop_map(|(k, p)| Op::Add(k, p)),
            (key(), 0u64..4).prop_map(|(k, p)| Op::Remove(k, p)),
            (0u64..4).prop_map(Op::RemovePipe),
            proptest::collection::vec(0u8..3, 0..6).prop_map(Op::Match),
        ]
    }

    proptest! {
        #[test]
        fn matches_linear_oracle(ops in proptest::collection::vec(op(), 0..80)) {
            let mut m = SubscriptionMap::new();
            let mut oracle: BTreeSet<(Vec<u8>, u64)> = BTreeSet::new();
            let mut out = Vec::new();
            for op in ops {
                match op {
                    Op::Add(k, p) => {
                        let first = !oracle.iter().any(|(t, _)| *t == k);
                        oracle.insert((k.clone(), p));
                        prop_assert_eq!(m.add(&k, PipeId(p)), first);
                    }
                    Op::Remove(k, p) => {
                        let expect = if !oracle.remove(&(k.clone(), p)) {
                            RemoveOutcome::NotFound
                        } else if oracle.iter().any(|(t, _)| *t == k) {
                            RemoveOutcome::ValuesRemain
                        } else {
                            RemoveOutcome::LastRemoved
                        };
                        prop_assert_eq!(m.remove(&k, PipeId(p)), expect);
                    }
                    Op::RemovePipe(p) => {
                        let mine: Vec<Vec<u8>> = oracle.iter().filter(|(_, q)| *q == p).map(|(t, _)| t.clone()).collect();
                        oracle.retain(|(_, q)| *q != p);
                        let expect: Vec<(Vec<u8>, bool)> = mine.into_iter().map(|t| {
                            let last = !oracle.iter().any(|(u, _)| *u == t);
                            (t, last)
                        }).collect();
                        let mut got = Vec::new();
                        m.remove_pipe(PipeId(p), |t, last| got.push((t.to_vec(), last)));
                        prop_assert_eq!(got, expect);
                    }
                    Op::Match(d) => {
                        let expect: BTreeSet<PipeId> = oracle.iter().filter(|(t, _)| d.starts_with(t)).map(|(_, p)| PipeId(*p)).collect();
                        m.matching(&d, &mut out);
                        let got: Vec<PipeId> = out.clone();
                        prop_assert_eq!(got.len(), expect.len(), "no duplicates");
                        prop_assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expect);
                    }
                }
                let topics: BTreeSet<&Vec<u8>> = oracle.iter().map(|(t, _)| t).collect();
                prop_assert_eq!(m.len(), topics.len());
            }
            for p in 0..4 {
                m.remove_pipe(PipeId(p), |_, _| {});
            }
            prop_assert!(m.is_empty());
            prop_assert_eq!(m.tree.node_count(), 1);
        }
    }
}
