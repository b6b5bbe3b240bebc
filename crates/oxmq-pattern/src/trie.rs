//! [`SubTrie`]: a SUB socket's own subscriptions, counted (libzmq's `trie_t`).

use crate::prefix_tree::{NodeValue, PrefixTree};

/// A set of subscribed topic prefixes with a count per topic: subscribing twice needs two
/// unsubscribes. A message matches when one of the subscribed topics is a prefix of its first
/// frame (the empty topic matches everything).
///
/// Matching walks the message's first bytes once: its cost grows with the length of the topic,
/// not with the number of subscriptions.
#[derive(Debug)]
pub struct SubTrie {
    tree: PrefixTree<u64>,
    topics: usize,
}

impl SubTrie {
    /// No subscriptions.
    pub fn new() -> SubTrie {
        SubTrie {
            tree: PrefixTree::new(),
            topics: 0,
        }
    }

    /// Subscribes to `topic` once more. Returns whether it is new (was not subscribed).
    pub fn add(&mut self, topic: &[u8]) -> bool {
        let n = self.tree.find_or_insert(topic);
        let count = self.tree.value_mut(n);
        *count = count.saturating_add(1);
        let new = *count == 1;
        if new {
            self.topics += 1;
        }
        new
    }

    /// Unsubscribes from `topic` once. Returns whether that removed its last count (`false` too
    /// when it was not subscribed).
    pub fn remove(&mut self, topic: &[u8]) -> bool {
        let Some(n) = self.tree.find(topic) else {
            return false;
        };
        let count = self.tree.value_mut(n);
        if *count == 0 {
            return false;
        }
        *count -= 1;
        if *count > 0 {
            return false;
        }
        self.topics -= 1;
        self.tree.prune(topic);
        true
    }

    /// Whether a subscribed topic is a prefix of `data`.
    #[inline]
    pub fn matches(&self, data: &[u8]) -> bool {
        self.tree.any_prefix(data, |&c| c > 0)
    }

    /// How many times `topic` is subscribed.
    pub fn count(&self, topic: &[u8]) -> u64 {
        self.tree.find(topic).map_or(0, |n| *self.tree.value(n))
    }

    /// Calls `f` with each subscribed topic once, in lexicographic order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        self.tree.for_each(|k, _| f(k));
    }

    /// Number of distinct subscribed topics.
    pub fn len(&self) -> usize {
        self.topics
    }

    /// Whether nothing is subscribed.
    pub fn is_empty(&self) -> bool {
        self.topics == 0
    }
}

impl Default for SubTrie {
    fn default() -> SubTrie {
        SubTrie::new()
    }
}

impl NodeValue for u64 {
    fn is_empty(&self) -> bool {
        *self == 0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn counted_subscriptions() {
        let mut t = SubTrie::new();
        assert!(t.add(b"ab"));
        assert!(!t.add(b"ab"));
        assert!(t.matches(b"abc"));
        assert!(!t.matches(b"a"));
        assert!(!t.remove(b"ab"));
        assert!(t.matches(b"ab"));
        assert!(t.remove(b"ab"));
        assert!(!t.matches(b"ab"));
        assert!(!t.remove(b"ab"));
        assert!(t.is_empty());
        assert_eq!(t.tree.node_count(), 1);
    }

    #[test]
    fn empty_topic_matches_everything() {
        let mut t = SubTrie::new();
        assert!(!t.matches(b""));
        t.add(b"");
        assert!(t.matches(b""));
        assert!(t.matches(b"anything"));
        assert!(t.remove(b""));
        assert!(!t.matches(b"anything"));
    }

    #[test]
    fn removing_a_prefix_keeps_longer_topics() {
        let mut t = SubTrie::new();
        t.add(b"a");
        t.add(b"abc");
        t.add(b"abd");
        assert!(t.remove(b"a"));
        assert!(t.matches(b"abcx") && t.matches(b"abd") && !t.matches(b"ab"));
        assert!(t.remove(b"abc"));
        assert!(t.matches(b"abd"));
        assert!(t.remove(b"abd"));
        assert_eq!(t.tree.node_count(), 1);
    }

    #[test]
    fn long_topics_do_not_recurse() {
        let mut t = SubTrie::new();
        let long = vec![7u8; 200_000];
        t.add(&long);
        assert!(t.matches(&long));
        let mut n = 0;
        t.for_each(|k| {
            assert_eq!(k.len(), long.len());
            n += 1;
        });
        assert_eq!(n, 1);
        assert!(t.remove(&long));
        assert_eq!(t.tree.node_count(), 1);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(Vec<u8>),
        Remove(Vec<u8>),
        Match(Vec<u8>),
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(0u8..3, 0..4)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            key().prop_map(Op::Add),
            key().prop_map(Op::Remove),
            proptest::collection::vec(0u8..3, 0..6).prop_map(Op::Match),
        ]
    }

    proptest! {
        #[test]
        fn matches_linear_oracle(ops in proptest::collection::vec(op(), 0..80)) {
            let mut t = SubTrie::new();
            let mut oracle: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Add(k) => {
                        let c = oracle.entry(k.clone()).or_insert(0);
                        *c += 1;
                        prop_assert_eq!(t.add(&k), *c == 1);
                    }
                    Op::Remove(k) => {
                        let expect = match oracle.get_mut(&k) {
                            Some(c) => {
                                *c -= 1;
                                *c == 0
                            }
                            None => false,
                        };
                        if expect {
                            oracle.remove(&k);
                        }
                        prop_assert_eq!(t.remove(&k), expect);
                    }
                    Op::Match(d) => {
                        let expect = oracle.keys().any(|k| d.starts_with(k));
                        prop_assert_eq!(t.matches(&d), expect);
                    }
                }
                prop_assert_eq!(t.len(), oracle.len());
                let mut listed = Vec::new();
                t.for_each(|k| listed.push(k.to_vec()));
                prop_assert_eq!(listed, oracle.keys().cloned().collect::<Vec<_>>());
            }
            for k in oracle.keys().cloned().collect::<Vec<_>>() {
                while !t.remove(&k) {}
            }
            prop_assert_eq!(t.tree.node_count(), 1);
        }
    }
}
