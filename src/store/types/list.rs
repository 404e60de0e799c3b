//! The list type: Redis 7.0's quicklist (a deque of listpack nodes, see
//! `quicklist`), which `OBJECT ENCODING` names `quicklist` whatever its size,
//! as Redis 7.0 does. This file owns what the formats see: the digest, the
//! RDB payload (quicklist v2 written; v2, ziplist quicklists, single
//! ziplists and plain linked lists read), `MEMORY USAGE`'s figure and the AOF
//! rewrite. `list-compress-depth` is accepted but nodes are kept
//! uncompressed (RDB still writes Redis's uncompressed node form).

use std::borrow::Cow;

use super::quicklist::{Fill, Quicklist};
use super::redis_size::{jemalloc_size, ROBJ};
use super::{BadPayload, Kind, RdbSink, RdbSource, Value, ValueType};
use crate::store::compact::listpack::Listpack;
use crate::store::compact::ziplist::Ziplist;
use crate::store::compact::Element;
use crate::store::digest::{mix, Digest};

pub use super::quicklist::element_is;
pub use super::quicklist::Fill as ListFill;

/// `RDB_TYPE_LIST`: a count, then the elements as strings (Redis ≤ 3.0).
pub const RDB_TYPE_LINKED: u8 = 1;
/// `RDB_TYPE_LIST_ZIPLIST`: one ziplist (Redis ≤ 3.0, small lists).
pub const RDB_TYPE_ZIPLIST: u8 = 10;
/// `RDB_TYPE_LIST_QUICKLIST`: a count of ziplists (Redis 3.2 – 6.2).
pub const RDB_TYPE_QUICKLIST: u8 = 14;
/// `RDB_TYPE_LIST_QUICKLIST_2`: a count of nodes, each a container kind
/// (1 plain, 2 packed listpack) and a string (Redis 7.0).
pub const RDB_TYPE_QUICKLIST_2: u8 = 18;

/// RDB type bytes this type reads.
pub const RDB_TYPES: &[u8] = &[
    RDB_TYPE_LINKED,
    RDB_TYPE_ZIPLIST,
    RDB_TYPE_QUICKLIST,
    RDB_TYPE_QUICKLIST_2,
];

/// A quicklist v2 node holding one element as it is.
const CONTAINER_PLAIN: u64 = 1;
/// A quicklist v2 node holding a listpack.
const CONTAINER_PACKED: u64 = 2;

/// Elements per command in an AOF rewrite (Redis's `AOF_REWRITE_ITEMS_PER_CMD`).
const REWRITE_BATCH: usize = 64;
/// Redis's `sizeof(quicklist)` and `sizeof(quicklistNode)` (36 bytes of
/// fields, padded to 40).
const QUICKLIST_STRUCT: usize = 40;
const QUICKLIST_NODE: usize = 40;

/// Listpack elements as bytes (integers in decimal, as Redis shows them).
pub fn bytes(e: Element<'_>) -> Cow<'_, [u8]> {
    match e {
        Element::Str(s) => Cow::Borrowed(s),
        Element::Int(n) => Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec()),
    }
}

/// A list value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct List {
    q: Quicklist,
}

impl List {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// True with no elements (the key is then removed).
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// `OBJECT ENCODING` name (Redis 7.0 has one list encoding).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Adds `s` at the head (`front`) or the tail.
    pub fn push(&mut self, s: &[u8], front: bool, fill: Fill) {
        if front {
            self.q.push_front(s, fill);
        } else {
            self.q.push_back(s, fill);
        }
    }

    /// Removes the head (`front`) or tail element and hands it to `f`.
    pub fn pop<R>(&mut self, front: bool, f: impl FnOnce(Element<'_>) -> R) -> Option<R> {
        if front {
            self.q.pop_front(f)
        } else {
            self.q.pop_back(f)
        }
    }

    /// Removes the head or tail element, as bytes.
    pub fn pop_bytes(&mut self, front: bool) -> Option<Vec<u8>> {
        self.pop(front, |e| e.to_vec())
    }

    /// Every element, head to tail (`.rev()` walks back).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Element<'_>> + '_ {
        self.q.iter()
    }

    /// Element `index` from the head.
    pub fn get(&self, index: usize) -> Option<Element<'_>> {
        self.q.get(index)
    }

    /// Elements `start..start + n`, head to tail.
    pub fn range(&self, start: usize, n: usize) -> impl Iterator<Item = Element<'_>> + '_ {
        self.q.range(start, n)
    }

    /// Replaces element `index`; false when out of range.
    pub fn set(&mut self, index: usize, s: &[u8], fill: Fill) -> bool {
        self.q.set(index, s, fill)
    }

    /// Inserts `s` before or after the first `pivot`; false with no pivot.
    pub fn insert(&mut self, pivot: &[u8], after: bool, s: &[u8], fill: Fill) -> bool {
        self.q.insert(pivot, after, s, fill)
    }

    /// Removes up to `limit` (0: all) elements equal to `s`, from the head
    /// or the tail; the number removed.
    pub fn remove(&mut self, s: &[u8], limit: usize, from_tail: bool) -> usize {
        self.q.remove(s, limit, from_tail)
    }

    /// Keeps elements `start..=stop` only (both within range, start ≤ stop),
    /// or empties the list when `keep` is false.
    pub fn trim(&mut self, start: usize, stop: usize, keep: bool) {
        if !keep {
            let n = self.len();
            self.q.drop_front(n);
            return;
        }
        let tail = self.len().saturating_sub(stop + 1);
        self.q.drop_back(tail);
        self.q.drop_front(start);
    }

    /// Heap bytes the value owns.
    pub fn heap_size(&self) -> usize {
        self.q.heap_size()
    }

    /// What Redis would allocate for the list (`MEMORY USAGE`).
    pub fn redis_usage(&self) -> usize {
        ROBJ + QUICKLIST_STRUCT
            + self
                .q
                .nodes()
                .map(|n| QUICKLIST_NODE + jemalloc_size(n.len()))
                .sum::<usize>()
    }

    /// Mixes the list into `d` as Redis does: every element in order.
    pub fn digest(&self, d: &mut Digest) {
        let mut num = itoa::Buffer::new();
        for e in self.q.iter() {
            match e {
                Element::Str(s) => mix(d, s),
                Element::Int(n) => mix(d, num.format(n).as_bytes()),
            }
        }
    }

    /// The RDB type byte of the current encoding.
    pub fn rdb_type(&self) -> u8 {
        RDB_TYPE_QUICKLIST_2
    }

    /// Writes the RDB payload: the node count, then each node as a packed
    /// container holding its listpack.
    pub fn write_rdb(&self, out: &mut dyn RdbSink) {
        out.length(self.q.nodes().len() as u64);
        for node in self.q.nodes() {
            out.length(CONTAINER_PACKED);
            out.string(node);
        }
    }

    /// Reads an RDB payload of one of `RDB_TYPES`. An empty result is refused
    /// (Redis never stores an empty list).
    pub fn read_rdb<S: RdbSource>(rdb_type: u8, src: &mut S) -> Result<List, S::Error> {
        let fill = Fill::default();
        let mut list = List::default();
        match rdb_type {
            RDB_TYPE_QUICKLIST_2 => {
                let nodes = src.length()?;
                for _ in 0..nodes {
                    let container = src.length()?;
                    let buf = src.string()?;
                    let buf = buf.to_bytes();
                    match container {
                        CONTAINER_PLAIN => list.q.push_back(&buf, fill),
                        CONTAINER_PACKED => {
                            let lp = Listpack::parse(&buf)
                                .map_err(|_| BadPayload::Invalid("list listpack"))?;
                            list.q.push_node(lp, fill);
                        }
                        _ => return Err(BadPayload::Invalid("list node container").into()),
                    }
                }
            }
            RDB_TYPE_QUICKLIST | RDB_TYPE_ZIPLIST => {
                let count = if rdb_type == RDB_TYPE_ZIPLIST {
                    1
                } else {
                    src.length()?
                };
                let mut text = Vec::new();
                for _ in 0..count {
                    let buf = src.string()?;
                    let buf = buf.to_bytes();
                    let zl =
                        Ziplist::parse(&buf).map_err(|_| BadPayload::Invalid("list ziplist"))?;
                    for e in zl.iter() {
                        text.clear();
                        e.write_to(&mut text);
                        list.q.push_back(&text, fill);
                    }
                }
            }
            RDB_TYPE_LINKED => {
                let n = src.length()?;
                for _ in 0..n {
                    let s = src.string()?;
                    list.q.push_back(&s.to_bytes(), fill);
                }
            }
            other => return Err(BadPayload::UnsupportedType(other).into()),
        }
        if list.is_empty() {
            return Err(BadPayload::Invalid("empty list").into());
        }
        Ok(list)
    }

    /// Emits RPUSH commands recreating the list, 64 elements each (AOF rewrite).
    pub fn rewrite(&self, key: &[u8], emit: &mut dyn FnMut(&[&[u8]])) {
        let mut batch: Vec<Cow<'_, [u8]>> = Vec::with_capacity(REWRITE_BATCH);
        let mut flush = |batch: &mut Vec<Cow<'_, [u8]>>| {
            if batch.is_empty() {
                return;
            }
            let mut argv: Vec<&[u8]> = Vec::with_capacity(2 + batch.len());
            argv.push(b"RPUSH");
            argv.push(key);
            argv.extend(batch.iter().map(|c| &c[..]));
            emit(&argv);
            batch.clear();
        };
        for e in self.q.iter() {
            batch.push(bytes(e));
            if batch.len() == REWRITE_BATCH {
                flush(&mut batch);
            }
        }
        flush(&mut batch);
    }
}

impl ValueType for List {
    const KIND: Kind = Kind::List;

    fn of(v: &Value) -> Option<&List> {
        match v {
            Value::List(x) => Some(x),
            _ => None,
        }
    }

    fn of_mut(v: &mut Value) -> Option<&mut List> {
        match v {
            Value::List(x) => Some(x),
            _ => None,
        }
    }

    fn into_value(self) -> Value {
        Value::List(Box::new(self))
    }

    fn is_emptied(&self) -> bool {
        self.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_batches_and_digest_follow_the_elements() {
        let mut l = List::default();
        for i in 0..130 {
            l.push(i.to_string().as_bytes(), false, Fill::default());
        }
        let mut sizes = Vec::new();
        l.rewrite(b"k", &mut |argv| sizes.push(argv.len() - 2));
        assert_eq!(sizes, vec![64, 64, 2]);
        let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
        l.digest(&mut a);
        for i in 0..130 {
            mix(&mut b, i.to_string().as_bytes());
        }
        assert_eq!(a, b);
        l.trim(10, 19, true);
        let got: Vec<Vec<u8>> = l.iter().map(|e| e.to_vec()).collect();
        let want: Vec<Vec<u8>> = (10..20).map(|i: i32| i.to_string().into_bytes()).collect();
        assert_eq!(got, want);
        l.trim(0, 0, false);
        assert!(l.is_emptied());
    }
}
