//! The list's storage, shaped like Redis 7.0's quicklist: a deque of nodes,
//! each a listpack (byte for byte Redis's, so RDB and DUMP write a node as it
//! is). `list-max-listpack-size` ([`Fill`]) bounds a node by bytes (negative:
//! -1 4 KB … -5 64 KB) or by entries (positive, within 8 KB), with Redis's
//! own estimate, so nodes split where Redis's do.
//!
//! Pushes and pops at either end edit the end node in place (no rebuild);
//! edits in the middle rebuild the one node they touch and split it when it
//! outgrows the limit. A node is never empty and never holds 65535 entries
//! (the listpack header then stops counting).
//!
//! A node is a boxed slice of exactly its bytes, grown and shrunk by
//! reallocation as Redis reallocates its listpacks (in place while the size
//! stays in the allocator's class), so a node costs its bytes rounded to
//! that class, and a one-node list a deque of one 16-byte handle.

use std::collections::VecDeque;

use crate::store::compact::listpack::{self, Listpack, ListpackWriter, HEADER_BYTES};
use crate::store::compact::Element;

/// The listpack's end byte.
const END: u8 = 0xFF;
/// Redis's `SIZE_ESTIMATE_OVERHEAD`: bytes added to an element's length when
/// estimating whether it fits a node.
const ESTIMATE_OVERHEAD: usize = 8;
/// Redis's `SIZE_SAFETY_LIMIT`: a count-bounded node still stays within this.
const SAFETY_LIMIT: usize = 8192;
/// Node size classes of the negative fills (-1 … -5).
const SIZE_CLASSES: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Entries a node may hold at most (the header's count stays exact).
const MAX_NODE_COUNT: usize = 65534;

/// `list-max-listpack-size`: how full a node may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill(pub i64);

impl Default for Fill {
    fn default() -> Self {
        // Redis's default: 8 KB nodes.
        Fill(-2)
    }
}

impl Fill {
    /// True when a node of `count` entries may grow to about `new_size`
    /// bytes (Redis's `_quicklistNodeAllowInsert` rule).
    fn allows(self, new_size: usize, count: usize) -> bool {
        if count >= MAX_NODE_COUNT {
            return false;
        }
        if self.0 < 0 {
            let class = usize::try_from(-(self.0 + 1)).ok();
            if class
                .and_then(|c| SIZE_CLASSES.get(c))
                .is_some_and(|&l| new_size <= l)
            {
                return true;
            }
        }
        new_size <= SAFETY_LIMIT && (count as i64) < self.0
    }
}

/// Entries of a node this file built (its header count is exact).
fn count(node: &[u8]) -> usize {
    Listpack::trusted(node).map_or(0, |lp| lp.len())
}

fn view(node: &[u8]) -> Listpack<'_> {
    Listpack::trusted(node).unwrap_or(Listpack::empty())
}

/// True when element `e` equals `want` as bytes (integers in decimal).
pub fn element_is(e: Element<'_>, want: &[u8]) -> bool {
    match e {
        Element::Str(s) => s == want,
        Element::Int(n) => itoa::Buffer::new().format(n).as_bytes() == want,
    }
}

/// A node holding `s` alone.
fn node_of(s: &[u8]) -> Node {
    let mut node = Vec::with_capacity(HEADER_BYTES + listpack::entry_size(Element::Str(s)) + 1);
    node.resize(HEADER_BYTES, 0);
    listpack::write_entry(&mut node, s);
    node.push(END);
    listpack::set_header(&mut node, 1);
    node.into_boxed_slice()
}

/// A node: a listpack, exactly sized.
type Node = Box<[u8]>;

/// Edits a node as a vector (no copy), then boxes it back exactly sized.
fn edit<R>(node: &mut Node, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut v = std::mem::take(node).into_vec();
    let r = f(&mut v);
    *node = v.into_boxed_slice();
    r
}

/// The elements of a list, in nodes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Quicklist {
    nodes: VecDeque<Node>,
    len: usize,
}

impl Quicklist {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True with no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The nodes' listpacks, head first (RDB writes them as they are).
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.nodes.iter().map(|n| &n[..])
    }

    /// Heap bytes held by the nodes and the deque.
    pub fn heap_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.nodes.iter().map(|n| n.len()).sum::<usize>()
    }

    /// Appends a validated listpack as a node of its own (RDB loading);
    /// an empty one is skipped, one past the entry bound is re-chunked.
    pub fn push_node(&mut self, lp: Listpack<'_>, fill: Fill) {
        if lp.is_empty() {
            return;
        }
        if lp.len() <= MAX_NODE_COUNT && Listpack::trusted(lp.as_bytes()).is_ok() {
            self.len += lp.len();
            self.grow_deque();
            self.nodes.push_back(lp.as_bytes().into());
        } else {
            let mut buf = Vec::new();
            for e in lp.iter() {
                buf.clear();
                e.write_to(&mut buf);
                self.push_back(&buf, fill);
            }
        }
    }

    /// Adds `s` at the tail.
    pub fn push_back(&mut self, s: &[u8], fill: Fill) {
        self.len += 1;
        if let Some(node) = self.nodes.back_mut() {
            let c = count(node);
            if fill.allows(node.len() + s.len() + ESTIMATE_OVERHEAD, c) {
                edit(node, |node| {
                    node.pop();
                    node.reserve_exact(listpack::entry_size(Element::Str(s)) + 1);
                    listpack::write_entry(node, s);
                    node.push(END);
                    listpack::set_header(node, c + 1);
                });
                return;
            }
        }
        self.grow_deque();
        self.nodes.push_back(node_of(s));
    }

    /// Adds `s` at the head.
    pub fn push_front(&mut self, s: &[u8], fill: Fill) {
        self.len += 1;
        if let Some(node) = self.nodes.front_mut() {
            let c = count(node);
            if fill.allows(node.len() + s.len() + ESTIMATE_OVERHEAD, c) {
                edit(node, |node| {
                    node.pop();
                    node.reserve_exact(listpack::entry_size(Element::Str(s)) + 1);
                    let before = node.len();
                    listpack::write_entry(node, s);
                    let entry = node.len() - before;
                    node[HEADER_BYTES..].rotate_right(entry);
                    node.push(END);
                    listpack::set_header(node, c + 1);
                });
                return;
            }
        }
        self.grow_deque();
        self.nodes.push_front(node_of(s));
    }

    /// Removes the head element and hands it to `f`.
    pub fn pop_front<R>(&mut self, f: impl FnOnce(Element<'_>) -> R) -> Option<R> {
        let node = self.nodes.front_mut()?;
        let c = count(node);
        let (e, size) = listpack::entry_at(node, HEADER_BYTES)?;
        let r = f(e);
        if c <= 1 {
            self.nodes.pop_front();
        } else {
            edit(node, |node| {
                node.drain(HEADER_BYTES..HEADER_BYTES + size);
                listpack::set_header(node, c - 1);
            });
        }
        self.len -= 1;
        Some(r)
    }

    /// Removes the tail element and hands it to `f`.
    pub fn pop_back<R>(&mut self, f: impl FnOnce(Element<'_>) -> R) -> Option<R> {
        let node = self.nodes.back_mut()?;
        let c = count(node);
        let start = listpack::entry_start_before(node, node.len() - 1)?;
        let (e, _) = listpack::entry_at(node, start)?;
        let r = f(e);
        if c <= 1 {
            self.nodes.pop_back();
        } else {
            edit(node, |node| {
                node.truncate(start);
                node.push(END);
                listpack::set_header(node, c - 1);
            });
        }
        self.len -= 1;
        Some(r)
    }

    /// Every element, head to tail (`.rev()` walks back).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Element<'_>> + '_ {
        self.nodes.iter().flat_map(|n| view(n).iter())
    }

    /// The node holding element `index` and the element's place in it.
    fn locate(&self, index: usize) -> Option<(usize, usize)> {
        if index >= self.len {
            return None;
        }
        if index < self.len / 2 {
            let mut at = index;
            for (i, n) in self.nodes.iter().enumerate() {
                let c = count(n);
                if at < c {
                    return Some((i, at));
                }
                at -= c;
            }
        } else {
            let mut from_end = self.len - 1 - index;
            for (i, n) in self.nodes.iter().enumerate().rev() {
                let c = count(n);
                if from_end < c {
                    return Some((i, c - 1 - from_end));
                }
                from_end -= c;
            }
        }
        None
    }

    /// Room for one more node: exact for the first (most lists have one),
    /// then a quarter more at a time.
    fn grow_deque(&mut self) {
        let n = self.nodes.len();
        if n == self.nodes.capacity() {
            self.nodes.reserve_exact((n / 4).max(1));
        }
    }

    /// Element `index` (from the head).
    pub fn get(&self, index: usize) -> Option<Element<'_>> {
        let (ni, at) = self.locate(index)?;
        view(self.nodes.get(ni)?).get(at)
    }

    /// Elements `start..start + n`, head to tail.
    pub fn range(&self, start: usize, n: usize) -> impl Iterator<Item = Element<'_>> + '_ {
        let (ni, at) = self.locate(start).unwrap_or((self.nodes.len(), 0));
        self.nodes
            .range(ni..)
            .flat_map(|n| view(n).iter())
            .skip(at)
            .take(n)
    }

    /// Rebuilds node `ni` through `edit` (given each element and the writer),
    /// then splits it if it outgrew `fill` or drops it if it emptied.
    fn rebuild(
        &mut self,
        ni: usize,
        fill: Option<Fill>,
        mut edit: impl FnMut(usize, Element<'_>, &mut ListpackWriter),
    ) {
        let Some(node) = self.nodes.get(ni) else {
            return;
        };
        let old = count(node);
        let mut w = ListpackWriter::with_capacity(node.len());
        for (i, e) in view(node).iter().enumerate() {
            edit(i, e, &mut w);
        }
        let new = w.len();
        self.len = self.len + new - old;
        match w.finish() {
            Ok(buf) if new == 0 => {
                drop(buf);
                self.nodes.remove(ni);
            }
            Ok(buf) => {
                let split = fill.filter(|f| new > 1 && !f.allows(buf.len(), new - 1));
                if let Some(slot) = self.nodes.get_mut(ni) {
                    *slot = buf.into_boxed_slice();
                }
                if let Some(f) = split {
                    self.split(ni, f);
                }
            }
            Err(_) => {}
        }
    }

    /// Re-chunks node `ni` into nodes within `fill`.
    fn split(&mut self, ni: usize, fill: Fill) {
        let Some(node) = self.nodes.get(ni) else {
            return;
        };
        let mut parts: Vec<Node> = Vec::new();
        let mut w = ListpackWriter::new();
        let mut text = Vec::new();
        for e in view(node).iter() {
            text.clear();
            e.write_to(&mut text);
            if !w.is_empty()
                && !fill.allows(w.encoded_len() + text.len() + ESTIMATE_OVERHEAD, w.len())
            {
                let done = std::mem::take(&mut w);
                if let Ok(buf) = done.finish() {
                    parts.push(buf.into_boxed_slice());
                }
            }
            w.push(e);
        }
        if let Ok(buf) = w.finish() {
            parts.push(buf.into_boxed_slice());
        }
        let mut parts = parts.into_iter();
        if let (Some(first), Some(slot)) = (parts.next(), self.nodes.get_mut(ni)) {
            *slot = first;
        }
        for (k, p) in parts.enumerate() {
            self.nodes.insert(ni + 1 + k, p);
        }
    }

    /// Replaces element `index` with `s`; false when out of range.
    pub fn set(&mut self, index: usize, s: &[u8], fill: Fill) -> bool {
        let Some((ni, at)) = self.locate(index) else {
            return false;
        };
        self.rebuild(ni, Some(fill), |i, e, w| {
            if i == at {
                w.push_str(s);
            } else {
                w.push(e);
            }
        });
        true
    }

    /// Inserts `s` before (or `after`) the first element equal to `pivot`;
    /// false when there is none.
    pub fn insert(&mut self, pivot: &[u8], after: bool, s: &[u8], fill: Fill) -> bool {
        let found = self.nodes.iter().enumerate().find_map(|(ni, n)| {
            view(n)
                .iter()
                .position(|e| element_is(e, pivot))
                .map(|at| (ni, at))
        });
        let Some((ni, at)) = found else {
            return false;
        };
        self.rebuild(ni, Some(fill), |i, e, w| {
            if i == at && !after {
                w.push_str(s);
            }
            w.push(e);
            if i == at && after {
                w.push_str(s);
            }
        });
        true
    }

    /// Removes up to `limit` elements equal to `s` (0: all), from the head
    /// or, `from_tail`, from the tail; the number removed.
    pub fn remove(&mut self, s: &[u8], limit: usize, from_tail: bool) -> usize {
        let mut removed = 0usize;
        let order: Vec<usize> = if from_tail {
            (0..self.nodes.len()).rev().collect()
        } else {
            (0..self.nodes.len()).collect()
        };
        for ni in order {
            let left = if limit == 0 {
                usize::MAX
            } else {
                limit - removed
            };
            if left == 0 {
                break;
            }
            let Some(node) = self.nodes.get(ni) else {
                continue;
            };
            let hits: Vec<usize> = view(node)
                .iter()
                .enumerate()
                .filter(|(_, e)| element_is(*e, s))
                .map(|(i, _)| i)
                .collect();
            if hits.is_empty() {
                continue;
            }
            let take = hits.len().min(left);
            let gone: &[usize] = if from_tail {
                &hits[hits.len() - take..]
            } else {
                &hits[..take]
            };
            removed += take;
            self.rebuild(ni, None, |i, e, w| {
                if gone.binary_search(&i).is_err() {
                    w.push(e);
                }
            });
        }
        removed
    }

    /// Removes `n` elements from the head.
    pub fn drop_front(&mut self, mut n: usize) {
        while n > 0 {
            let Some(c) = self.nodes.front().map(|f| count(f)) else {
                return;
            };
            if c <= n {
                self.nodes.pop_front();
                self.len -= c;
                n -= c;
            } else {
                self.rebuild(0, None, |i, e, w| {
                    if i >= n {
                        w.push(e);
                    }
                });
                return;
            }
        }
    }

    /// Removes `n` elements from the tail.
    pub fn drop_back(&mut self, mut n: usize) {
        while n > 0 {
            let Some(c) = self.nodes.back().map(|b| count(b)) else {
                return;
            };
            if c <= n {
                self.nodes.pop_back();
                self.len -= c;
                n -= c;
            } else {
                let last = self.nodes.len() - 1;
                self.rebuild(last, None, |i, e, w| {
                    if i < c - n {
                        w.push(e);
                    }
                });
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(q: &Quicklist) -> Vec<Vec<u8>> {
        q.iter().map(|e| e.to_vec()).collect()
    }

    fn check(q: &Quicklist) {
        let mut n = 0;
        for node in q.nodes() {
            let lp = Listpack::parse(node).expect("every node is a valid listpack");
            assert!(!lp.is_empty());
            n += lp.len();
        }
        assert_eq!(n, q.len());
    }

    #[test]
    fn pushes_and_pops_at_both_ends_across_nodes() {
        let mut q = Quicklist::default();
        let fill = Fill(3);
        for i in 0..10 {
            q.push_back(format!("v{i}").as_bytes(), fill);
            q.push_front(i.to_string().as_bytes(), fill);
        }
        check(&q);
        assert_eq!(q.len(), 20);
        assert!(q.nodes().len() >= 7);
        assert_eq!(q.get(0).map(|e| e.to_vec()), Some(b"9".to_vec()));
        assert_eq!(q.get(19).map(|e| e.to_vec()), Some(b"v9".to_vec()));
        assert_eq!(q.get(10).map(|e| e.to_vec()), Some(b"v0".to_vec()));
        assert_eq!(q.pop_front(|e| e.to_vec()), Some(b"9".to_vec()));
        assert_eq!(q.pop_back(|e| e.to_vec()), Some(b"v9".to_vec()));
        let got: Vec<Vec<u8>> = q.range(8, 3).map(|e| e.to_vec()).collect();
        assert_eq!(got, vec![b"0".to_vec(), b"v0".to_vec(), b"v1".to_vec()]);
        while q.pop_back(|_| ()).is_some() {}
        assert!(q.is_empty() && q.nodes().len() == 0);
    }

    #[test]
    fn middle_edits_split_and_remove() {
        let mut q = Quicklist::default();
        let fill = Fill(4);
        for s in ["a", "b", "a", "c", "a"] {
            q.push_back(s.as_bytes(), fill);
        }
        assert!(q.insert(b"c", true, b"d", fill));
        assert!(!q.insert(b"zz", false, b"d", fill));
        assert!(q.set(0, b"A", fill));
        assert!(!q.set(6, b"x", fill));
        check(&q);
        assert_eq!(
            all(&q),
            ["A", "b", "a", "c", "d", "a"].map(|s| s.as_bytes().to_vec())
        );
        assert_eq!(q.remove(b"a", 1, true), 1);
        assert_eq!(
            all(&q),
            ["A", "b", "a", "c", "d"].map(|s| s.as_bytes().to_vec())
        );
        q.drop_front(2);
        q.drop_back(1);
        check(&q);
        assert_eq!(all(&q), ["a", "c"].map(|s| s.as_bytes().to_vec()));
        assert_eq!(q.remove(b"a", 0, false), 1);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn size_fill_bounds_nodes_by_bytes() {
        let mut q = Quicklist::default();
        let big = vec![b'x'; 1000];
        for _ in 0..40 {
            q.push_back(&big, Fill(-1));
        }
        check(&q);
        assert!(q.nodes().all(|n| n.len() <= 4096));
        assert_eq!(q.len(), 40);
    }
}
