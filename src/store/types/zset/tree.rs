//! The large sorted set: an order-statistics treap whose nodes live in one
//! `Vec` (linked by `u32` indices, each node counting its subtree), plus a
//! hash table of node indices keyed by member for O(1) member → score.
//!
//! A node holds only numbers (24 bytes, `Copy`); the members sit beside the
//! nodes in shared chunks (`Chunks`), at the same index. A snapshot's copy is
//! then a `memcpy` of the nodes and index plus one pointer per 1,024 members
//! (1 M members: a few milliseconds, no allocation per member), and a descent
//! touches only the nodes unless scores tie.
//!
//! Why a treap and not Redis's skip list: rank, select, insert and delete are
//! all O(log n) expected with one simple invariant, and the arena layout costs
//! 24 bytes a node plus 16 for its member's pointer, with no per-node
//! allocation besides the member itself (a skip list node has a variable
//! tower of forward pointers and spans, and Redis keeps a separate dict entry
//! per member). The member bytes are stored once; the index holds 4-byte node
//! numbers. Ranges walk an explicit stack from the first rank, O(log n + m).

use std::cmp::Ordering;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::super::chunks::Chunks;

/// No node.
const NIL: u32 = u32::MAX;

/// Orders two elements as Redis does: by score, then by member bytes.
pub fn cmp_elem(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2)
        .unwrap_or(Ordering::Equal)
        .then_with(|| m1.cmp(m2))
}

#[derive(Clone, Copy)]
struct Node {
    score: f64,
    left: u32,
    right: u32,
    size: u32,
    prio: u32,
}

/// The large encoding (reported as `skiplist`, Redis's name for it).
#[derive(Clone, Default)]
pub struct Tree {
    nodes: Vec<Node>,
    /// Node `i`'s member is `members[i]` (empty for a free node).
    members: Chunks<Box<[u8]>>,
    free: Vec<u32>,
    root: u32,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    member_bytes: usize,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree").field("len", &self.len()).finish()
    }
}

impl PartialEq for Tree {
    fn eq(&self, other: &Tree) -> bool {
        self.len() == other.len()
            && self
                .range(0, self.len(), false)
                .iter()
                .zip(other.range(0, other.len(), false).iter())
                .all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits())
    }
}

impl Tree {
    /// An empty tree with room for `n` members (capped: a header's claim is
    /// never trusted for the whole allocation).
    pub fn with_capacity(n: usize) -> Tree {
        let n = n.min(1 << 16);
        Tree {
            nodes: Vec::with_capacity(n),
            members: Chunks::with_capacity(n),
            free: Vec::new(),
            root: NIL,
            index: HashTable::with_capacity(n),
            hasher: DefaultHashBuilder::default(),
            member_bytes: 0,
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.size(self.root)
    }

    /// True with no members.
    pub fn is_empty(&self) -> bool {
        self.root == NIL
    }

    /// Sum of member lengths.
    pub fn member_bytes(&self) -> usize {
        self.member_bytes
    }

    /// Heap bytes owned (O(1)).
    pub fn heap_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.members.heap_size()
            + self.free.capacity() * 4
            + self.index.capacity() * 5
            + self.member_bytes
    }

    fn size(&self, t: u32) -> usize {
        if t == NIL {
            0
        } else {
            self.nodes[t as usize].size as usize
        }
    }

    fn fix(&mut self, t: u32) {
        let (l, r) = {
            let n = &self.nodes[t as usize];
            (n.left, n.right)
        };
        let s = 1 + self.size(l) + self.size(r);
        self.nodes[t as usize].size = s as u32;
    }

    fn less(&self, a: u32, b: u32) -> bool {
        let (x, y) = (self.nodes[a as usize].score, self.nodes[b as usize].score);
        // Members only on a tie: fetching them costs a chunk lookup each.
        match x.partial_cmp(&y) {
            Some(Ordering::Less) => true,
            Some(Ordering::Greater) => false,
            _ => self.member(a) < self.member(b),
        }
    }

    /// Node `i`'s member.
    fn member(&self, i: u32) -> &[u8] {
        self.members.get(i as usize).map_or(&[], |m| m)
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let h = self.hasher.hash_one(member);
        self.index.find(h, |&i| self.member(i) == member).copied()
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|i| self.nodes[i as usize].score)
    }

    /// Sets `member`'s score; the previous score when it existed.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        if let Some(i) = self.find(member) {
            let old = self.nodes[i as usize].score;
            if old.to_bits() != score.to_bits() {
                self.unlink(i);
                let n = &mut self.nodes[i as usize];
                n.score = score;
                n.left = NIL;
                n.right = NIL;
                n.size = 1;
                self.link(i);
            }
            return Some(old);
        }
        let node = Node {
            score,
            left: NIL,
            right: NIL,
            size: 1,
            prio: fastrand::u32(..),
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                self.members[i as usize] = member.into();
                i
            }
            None => {
                self.nodes.push(node);
                self.members.push(member.into());
                (self.nodes.len() - 1) as u32
            }
        };
        self.member_bytes += member.len();
        let h = self.hasher.hash_one(member);
        let Tree {
            members,
            index,
            hasher,
            ..
        } = self;
        index.insert_unique(h, i, |&j| {
            hasher.hash_one(members.get(j as usize).map_or(&[][..], |m| m))
        });
        self.link(i);
        None
    }

    /// Removes `member`; its score when it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let h = self.hasher.hash_one(member);
        let members = &self.members;
        let entry = self
            .index
            .find_entry(h, |&i| {
                members.get(i as usize).is_some_and(|m| **m == *member)
            })
            .ok()?;
        let (i, _) = entry.remove();
        self.unlink(i);
        let n = &mut self.nodes[i as usize];
        let score = n.score;
        n.left = NIL;
        n.right = NIL;
        // A live node counts itself: size 0 marks a free one (ZSCAN skips it).
        n.size = 0;
        self.member_bytes -= self.member(i).len();
        self.members[i as usize] = Box::default();
        self.free.push(i);
        if self.root == NIL {
            // Emptied: give the memory back.
            *self = Tree::with_capacity(0);
        }
        Some(score)
    }

    /// One ZSCAN step: up to `count` members from node `cursor` up, and the
    /// next cursor (0 when done). Nodes never move (a freed one is reused in
    /// place), so a member present for the whole scan is returned exactly
    /// once; one added meanwhile may or may not be.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        let end = self.nodes.len();
        let mut i = usize::try_from(cursor).unwrap_or(usize::MAX);
        let mut seen = 0;
        while i < end && seen < count.max(1) {
            let n = &self.nodes[i];
            if n.size > 0 {
                f(self.member(i as u32), n.score);
                seen += 1;
            }
            i += 1;
        }
        if i >= end {
            0
        } else {
            i as u64
        }
    }

    /// Makes `child` the `left` (or right) child of `parent`, or the root.
    fn attach(&mut self, parent: u32, left: bool, child: u32) {
        if parent == NIL {
            self.root = child;
        } else if left {
            self.nodes[parent as usize].left = child;
        } else {
            self.nodes[parent as usize].right = child;
        }
    }

    /// Puts the lone node `x` in the tree: down from the root while the
    /// nodes outrank it (each gains one in size), then it takes the place it
    /// reached and the subtree there splits around it. Iterative: one pass
    /// down, no write on the way back.
    fn link(&mut self, x: u32) {
        let prio = self.nodes[x as usize].prio;
        let (mut parent, mut left, mut t) = (NIL, false, self.root);
        while t != NIL && self.nodes[t as usize].prio >= prio {
            self.nodes[t as usize].size += 1;
            parent = t;
            left = self.less(x, t);
            let n = &self.nodes[t as usize];
            t = if left { n.left } else { n.right };
        }
        let (a, b) = self.split_at(t, x);
        let n = &mut self.nodes[x as usize];
        n.left = a;
        n.right = b;
        self.fix(x);
        self.attach(parent, left, x);
    }

    /// Takes node `x` (which is in the tree) out: down from the root to it
    /// (each node passed loses one in size), then its children merge into
    /// its place.
    fn unlink(&mut self, x: u32) {
        let (mut parent, mut left, mut t) = (NIL, false, self.root);
        while t != x {
            if t == NIL {
                // Not in the tree (never happens: callers found it in the
                // index). The sizes on the way are off by one now; a rebuild
                // would be needed, so fail loudly in tests only.
                debug_assert!(false, "unlink of a node not in the tree");
                return;
            }
            self.nodes[t as usize].size -= 1;
            parent = t;
            left = self.less(x, t);
            let n = &self.nodes[t as usize];
            t = if left { n.left } else { n.right };
        }
        let (l, r) = (self.nodes[x as usize].left, self.nodes[x as usize].right);
        let m = self.merge(l, r);
        self.attach(parent, left, m);
    }

    /// Splits `t` into the nodes ordered before `x` and the rest.
    fn split_at(&mut self, t: u32, x: u32) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        if self.less(t, x) {
            let r = self.nodes[t as usize].right;
            let (a, b) = self.split_at(r, x);
            self.nodes[t as usize].right = a;
            self.fix(t);
            (t, b)
        } else {
            let l = self.nodes[t as usize].left;
            let (a, b) = self.split_at(l, x);
            self.nodes[t as usize].left = b;
            self.fix(t);
            (a, t)
        }
    }

    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].prio > self.nodes[b as usize].prio {
            let r = self.nodes[a as usize].right;
            self.nodes[a as usize].right = self.merge(r, b);
            self.fix(a);
            a
        } else {
            let l = self.nodes[b as usize].left;
            self.nodes[b as usize].left = self.merge(a, l);
            self.fix(b);
            b
        }
    }

    /// How many leading elements satisfy `before` (which must hold for a
    /// prefix of the order and fail for the rest).
    pub fn count_before(&self, before: &dyn Fn(f64, &[u8]) -> bool) -> usize {
        let (mut t, mut c) = (self.root, 0);
        while t != NIL {
            let n = &self.nodes[t as usize];
            if before(n.score, self.member(t)) {
                c += self.size(n.left) + 1;
                t = n.right;
            } else {
                t = n.left;
            }
        }
        c
    }

    /// The 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let i = self.find(member)?;
        let (s, m) = (self.nodes[i as usize].score, self.member(i));
        Some(self.count_before(&|s2, m2| cmp_elem(s2, m2, s, m) == Ordering::Less))
    }

    /// Up to `n` elements from rank `start`: ascending, or with `rev` from
    /// the `start`-th greatest downwards.
    pub fn range(&self, start: usize, n: usize, rev: bool) -> Vec<(&[u8], f64)> {
        let len = self.len();
        let n = n.min(len.saturating_sub(start));
        let mut out = Vec::with_capacity(n);
        if n == 0 {
            return out;
        }
        let side = |t: u32, far: bool| {
            let node = &self.nodes[t as usize];
            if far != rev {
                node.right
            } else {
                node.left
            }
        };
        let mut stack = Vec::with_capacity(48);
        let (mut t, mut k) = (self.root, start);
        while t != NIL {
            let near = self.size(side(t, false));
            match k.cmp(&near) {
                Ordering::Less => {
                    stack.push(t);
                    t = side(t, false);
                }
                Ordering::Equal => {
                    stack.push(t);
                    break;
                }
                Ordering::Greater => {
                    k -= near + 1;
                    t = side(t, true);
                }
            }
        }
        while out.len() < n {
            let Some(x) = stack.pop() else { break };
            out.push((self.member(x), self.nodes[x as usize].score));
            let mut t = side(x, true);
            while t != NIL {
                stack.push(t);
                t = side(t, false);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_ranges_and_updates_stay_ordered() {
        let mut t = Tree::with_capacity(0);
        let mut model: Vec<(Vec<u8>, f64)> = Vec::new();
        for i in 0..2000u32 {
            let m = format!("m{}", (i * 7919) % 1000).into_bytes();
            let s = f64::from((i * 31) % 97);
            if i % 5 == 0 {
                let had = model.iter().position(|(x, _)| *x == m);
                assert_eq!(t.remove(&m).is_some(), had.is_some());
                if let Some(p) = had {
                    model.remove(p);
                }
            } else {
                t.insert(&m, s);
                model.retain(|(x, _)| *x != m);
                model.push((m, s));
            }
        }
        model.sort_by(|a, b| cmp_elem(a.1, &a.0, b.1, &b.0));
        assert_eq!(t.len(), model.len());
        let all = t.range(0, usize::MAX, false);
        for (i, ((m, s), (wm, ws))) in all.iter().zip(model.iter()).enumerate() {
            assert_eq!((*m, *s), (&wm[..], *ws));
            assert_eq!(t.rank(m), Some(i));
            assert_eq!(t.score(m), Some(*ws));
        }
        let rev = t.range(3, 5, true);
        let want: Vec<_> = model.iter().rev().skip(3).take(5).collect();
        for (a, b) in rev.iter().zip(want) {
            assert_eq!(a.0, &b.0[..]);
        }
        assert_eq!(t.range(model.len(), 3, false).len(), 0);
        let below_50 = t.count_before(&|s, _| s < 50.0);
        assert_eq!(below_50, model.iter().filter(|e| e.1 < 50.0).count());
    }

    #[test]
    fn a_copy_keeps_the_set_as_it_was_and_a_scan_meets_every_lasting_member() {
        let mut t = Tree::with_capacity(0);
        for i in 0..5000u32 {
            t.insert(format!("m{i}").as_bytes(), f64::from(i));
        }
        let kept = t.clone();
        for i in 0..2000u32 {
            t.remove(format!("m{i}").as_bytes());
        }
        t.insert(b"m4999", -1.0);
        t.insert(b"new", 0.5);
        assert_eq!(kept.len(), 5000);
        assert_eq!(kept.score(b"m4999"), Some(4999.0));
        assert_eq!((kept.score(b"m7"), kept.score(b"new")), (Some(7.0), None));
        assert_eq!(t.rank(b"m4999"), Some(0));
        // A scan with removals and (slot-reusing) inserts between its steps.
        let (mut seen, mut cursor, mut step) = (std::collections::HashSet::new(), 0, 0u32);
        loop {
            cursor = t.scan(cursor, 100, |m, _| {
                seen.insert(m.to_vec());
            });
            step += 1;
            t.remove(format!("m{}", 2000 + step).as_bytes());
            t.insert(format!("x{step}").as_bytes(), 1.0);
            if cursor == 0 {
                break;
            }
        }
        for i in 2000 + step + 1..5000 {
            assert!(seen.contains(format!("m{i}").as_bytes()), "m{i}");
        }
    }
}
