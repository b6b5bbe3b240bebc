//! The byte-wise prefix tree shared by [`crate::SubTrie`] and [`crate::SubscriptionMap`].
//!
//! Nodes live in one arena (`Vec`) and point at their children by index, so lookups, inserts and
//! removals walk the key once, iteratively: a peer-controlled topic length never becomes
//! recursion depth. Children are kept sorted by byte, which also gives the lexicographic order
//! of [`PrefixTree::for_each`] (libzmq's trie order).

/// A value stored at a node; a node whose value is empty and that has no children is removed.
pub(crate) trait NodeValue: Default {
    fn is_empty(&self) -> bool;
}

#[derive(Debug)]
pub(crate) struct PrefixTree<V> {
    nodes: Vec<Node<V>>,
    free: Vec<u32>,
}

#[derive(Debug, Default)]
struct Node<V> {
    value: V,
    children: Vec<(u8, u32)>,
}

impl<V: NodeValue> PrefixTree<V> {
    pub(crate) fn new() -> PrefixTree<V> {
        PrefixTree {
            nodes: vec![Node::default()],
            free: Vec::new(),
        }
    }

    /// The node for `key`, if it exists.
    pub(crate) fn find(&self, key: &[u8]) -> Option<u32> {
        let mut n = ROOT;
        for &b in key {
            n = self.child(n, b)?;
        }
        Some(n)
    }

    /// The node for `key`, created with its missing ancestors if needed.
    pub(crate) fn find_or_insert(&mut self, key: &[u8]) -> u32 {
        let mut n = ROOT;
        for &b in key {
            n = match self.child_slot(n, b) {
                Ok(c) => c,
                Err(pos) => {
                    let c = self.alloc();
                    self.nodes[n as usize].children.insert(pos, (b, c));
                    c
                }
            };
        }
        n
    }

    #[inline]
    pub(crate) fn value(&self, node: u32) -> &V {
        &self.nodes[node as usize].value
    }

    #[inline]
    pub(crate) fn value_mut(&mut self, node: u32) -> &mut V {
        &mut self.nodes[node as usize].value
    }

    /// Calls `f` with the value of every existing node whose key is a prefix of `key` (the root
    /// included), shortest first, until `f` returns `true`. Returns whether it did.
    #[inline]
    pub(crate) fn any_prefix(&self, key: &[u8], mut f: impl FnMut(&V) -> bool) -> bool {
        let mut n = ROOT;
        if f(self.value(n)) {
            return true;
        }
        for &b in key {
            match self.child(n, b) {
                Some(c) => n = c,
                None => return false,
            }
            if f(self.value(n)) {
                return true;
            }
        }
        false
    }

    /// Removes the nodes that only existed for `key`, after its value became empty.
    pub(crate) fn prune(&mut self, key: &[u8]) {
        // The deepest edge above which a node must stay: the root, a node with a value, or a
        // node with another child. Everything below that edge on `key`'s path goes.
        let mut cut: Option<(u32, usize)> = None;
        let mut n = ROOT;
        for (depth, &b) in key.iter().enumerate() {
            let node = &self.nodes[n as usize];
            if n == ROOT || !node.value.is_empty() || node.children.len() > 1 {
                cut = Some((n, depth));
            }
            match self.child(n, b) {
                Some(c) => n = c,
                None => return,
            }
        }
        let last = &self.nodes[n as usize];
        if n == ROOT || !last.value.is_empty() || !last.children.is_empty() {
            return;
        }
        let Some((parent, depth)) = cut else {
            return;
        };
        let Some(&b) = key.get(depth) else {
            return;
        };
        let Ok(pos) = self.child_pos(parent, b) else {
            return;
        };
        let (_, mut c) = self.nodes[parent as usize].children.remove(pos);
        for &b in key.get(depth + 1..).unwrap_or_default() {
            let next = self.child(c, b);
            self.release(c);
            match next {
                Some(x) => c = x,
                None => return,
            }
        }
        self.release(c);
    }

    /// Calls `f` with every key whose value is not empty, in lexicographic order.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&[u8], &V)) {
        let mut key = Vec::new();
        let mut stack: Vec<(u32, usize)> = vec![(ROOT, 0)];
        if !self.value(ROOT).is_empty() {
            f(&key, self.value(ROOT));
        }
        while let Some(top) = stack.last_mut() {
            let (n, next) = *top;
            if let Some(&(b, c)) = self.nodes[n as usize].children.get(next) {
                top.1 += 1;
                key.push(b);
                if !self.value(c).is_empty() {
                    f(&key, self.value(c));
                }
                stack.push((c, 0));
            } else {
                stack.pop();
                if !stack.is_empty() {
                    key.pop();
                }
            }
        }
    }

    /// Number of live nodes, the root included.
    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    #[inline]
    fn child(&self, n: u32, b: u8) -> Option<u32> {
        self.child_slot(n, b).ok()
    }

    #[inline]
    fn child_slot(&self, n: u32, b: u8) -> Result<u32, usize> {
        let children = &self.nodes[n as usize].children;
        children
            .binary_search_by_key(&b, |&(k, _)| k)
            .map(|i| children[i].1)
    }

    #[inline]
    fn child_pos(&self, n: u32, b: u8) -> Result<usize, usize> {
        self.nodes[n as usize]
            .children
            .binary_search_by_key(&b, |&(k, _)| k)
    }

    fn alloc(&mut self) -> u32 {
        if let Some(i) = self.free.pop() {
            return i;
        }
        self.nodes.push(Node::default());
        // A tree holds at most one node per byte of subscribed topic; u32 indices cover far
        // more subscription memory than a process can hold.
        u32::try_from(self.nodes.len() - 1).unwrap_or(u32::MAX)
    }

    fn release(&mut self, n: u32) {
        let node = &mut self.nodes[n as usize];
        node.value = V::default();
        node.children.clear();
        self.free.push(n);
    }
}

const ROOT: u32 = 0;
