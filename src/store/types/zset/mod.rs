//! The sorted set type: a listpack (member, score, member, score, … ordered
//! by score then member, as Redis lays it out) while small, the large
//! encoding (`skiplist` to `OBJECT ENCODING`; an order-statistics treap plus
//! a member index, see [`tree`]) once it passes `zset-max-listpack-entries`
//! members or a member passes `zset-max-listpack-value` bytes. It never goes
//! back on deletes, as in Redis; stores build the smallest that fits.

pub mod geohash;
pub mod score;
pub mod tree;

use std::borrow::Cow;
use std::cmp::Ordering;

use super::redis_size::{jemalloc_size, sds_header, ROBJ};
use super::{BadPayload, Kind, RdbSink, RdbSource, Value, ValueType};
use crate::store::compact::listpack::{Listpack, ListpackWriter};
use crate::store::compact::ziplist::Ziplist;
use crate::store::compact::Element;
use crate::store::digest::{mix, xor, Digest};
pub use score::{d2string, g17};
pub use tree::{cmp_elem, Tree};

/// `RDB_TYPE_ZSET`: a count, then member strings and text doubles.
pub const RDB_TYPE_ZSET: u8 = 3;
/// `RDB_TYPE_ZSET_2`: a count, then member strings and binary doubles.
pub const RDB_TYPE_ZSET_2: u8 = 5;
/// `RDB_TYPE_ZSET_ZIPLIST` (Redis ≤ 6.2).
pub const RDB_TYPE_ZSET_ZIPLIST: u8 = 12;
/// `RDB_TYPE_ZSET_LISTPACK`.
pub const RDB_TYPE_ZSET_LISTPACK: u8 = 17;
/// RDB type bytes this type reads.
pub const RDB_TYPES: &[u8] = &[
    RDB_TYPE_ZSET,
    RDB_TYPE_ZSET_2,
    RDB_TYPE_ZSET_ZIPLIST,
    RDB_TYPE_ZSET_LISTPACK,
];

/// Members per command in an AOF rewrite (Redis's `AOF_REWRITE_ITEMS_PER_CMD`).
const REWRITE_BATCH: usize = 64;

/// When a sorted set leaves the listpack (`zset-max-listpack-entries`, `-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZSetLimits {
    /// Most members a listpack sorted set holds.
    pub entries: usize,
    /// Longest member a listpack sorted set holds.
    pub value: usize,
}

impl Default for ZSetLimits {
    fn default() -> Self {
        // Redis 7.0's defaults.
        ZSetLimits {
            entries: 128,
            value: 64,
        }
    }
}

/// A member and its score, borrowed where the encoding allows.
pub type Entry<'a> = (Cow<'a, [u8]>, f64);

/// A sorted set value.
#[derive(Debug, Clone, PartialEq)]
pub enum ZSet {
    /// Small: Redis's listpack bytes, members and scores alternating, ordered.
    Listpack(Box<[u8]>),
    /// Large: the order-statistics tree with its member index.
    Skiplist(Box<Tree>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Listpack(Listpack::empty().as_bytes().into())
    }
}

fn elem_bytes(e: Element<'_>) -> Cow<'_, [u8]> {
    match e {
        Element::Str(s) => Cow::Borrowed(s),
        Element::Int(n) => Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec()),
    }
}

/// A listpack score element as a double (`None` when it is not a number).
fn elem_score(e: Element<'_>) -> Option<f64> {
    match e {
        Element::Int(n) => Some(n as f64),
        Element::Str(s) => score::parse(s),
    }
}

/// Appends a score as Redis's `zzlInsertAt` does (`d2string`, integers as integers).
fn push_score(w: &mut ListpackWriter, s: f64) {
    let mut buf = [0u8; 32];
    let n = d2string(s, &mut buf);
    w.push_str(&buf[..n]);
}

fn build_listpack<'a>(entries: impl Iterator<Item = (&'a [u8], f64)>) -> Option<Box<[u8]>> {
    let mut w = ListpackWriter::new();
    for (m, s) in entries {
        w.push_str(m);
        push_score(&mut w, s);
    }
    w.finish().ok().map(Vec::into_boxed_slice)
}

/// Decodes a listpack's pairs; `None` when it is not a sorted set listpack.
fn lp_pairs(buf: &[u8]) -> Option<Vec<Entry<'_>>> {
    let lp = Listpack::trusted(buf).ok()?;
    let mut out = Vec::with_capacity(lp.len() / 2);
    let mut it = lp.iter();
    while let Some(m) = it.next() {
        let s = elem_score(it.next()?)?;
        out.push((elem_bytes(m), s));
    }
    Some(out)
}

impl ZSet {
    /// A sorted set of `entries` (members unique, any order), in the smallest
    /// encoding `limits` allow.
    pub fn from_entries(mut entries: Vec<(Vec<u8>, f64)>, limits: ZSetLimits) -> ZSet {
        let fits =
            entries.len() <= limits.entries && entries.iter().all(|(m, _)| m.len() <= limits.value);
        if fits {
            entries.sort_by(|a, b| cmp_elem(a.1, &a.0, b.1, &b.0));
            if let Some(b) = build_listpack(entries.iter().map(|(m, s)| (&m[..], *s))) {
                return ZSet::Listpack(b);
            }
        }
        let mut t = Tree::with_capacity(entries.len());
        for (m, s) in &entries {
            t.insert(m, *s);
        }
        ZSet::Skiplist(Box::new(t))
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            ZSet::Listpack(b) => Listpack::trusted(b).map_or(0, |l| l.len() / 2),
            ZSet::Skiplist(t) => t.len(),
        }
    }

    /// True with no members (the key is then removed).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Listpack(_) => "listpack",
            ZSet::Skiplist(_) => "skiplist",
        }
    }

    /// Every member with its score, ascending.
    pub fn entries(&self) -> Vec<Entry<'_>> {
        match self {
            ZSet::Listpack(b) => lp_pairs(b).unwrap_or_default(),
            ZSet::Skiplist(t) => t
                .range(0, t.len(), false)
                .into_iter()
                .map(|(m, s)| (Cow::Borrowed(m), s))
                .collect(),
        }
    }

    /// One ZSCAN step: a listpack answers whole (cursor 0 back); a tree
    /// walks its node array from `cursor` (see `Tree::scan`).
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match self {
            ZSet::Listpack(_) => {
                for (m, s) in self.entries() {
                    f(&m, s);
                }
                0
            }
            ZSet::Skiplist(t) => t.scan(cursor, count, f),
        }
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack(b) => {
                let lp = Listpack::trusted(b).ok()?;
                let mut it = lp.iter();
                while let (Some(m), Some(s)) = (it.next(), it.next()) {
                    if *elem_bytes(m) == *member {
                        return elem_score(s);
                    }
                }
                None
            }
            ZSet::Skiplist(t) => t.score(member),
        }
    }

    /// The 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSet::Listpack(_) => self.entries().iter().position(|(m, _)| **m == *member),
            ZSet::Skiplist(t) => t.rank(member),
        }
    }

    /// How many leading elements satisfy `before` (true on a prefix of the order).
    pub fn count_before(&self, before: &dyn Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Listpack(_) => self
                .entries()
                .iter()
                .take_while(|(m, s)| before(*s, m))
                .count(),
            ZSet::Skiplist(t) => t.count_before(before),
        }
    }

    /// Up to `n` elements from rank `start`: ascending, or with `rev` from
    /// the `start`-th greatest downwards.
    pub fn range(&self, start: usize, n: usize, rev: bool) -> Vec<Entry<'_>> {
        match self {
            ZSet::Listpack(_) => {
                let mut all = self.entries();
                if rev {
                    all.reverse();
                }
                all.into_iter().skip(start).take(n).collect()
            }
            ZSet::Skiplist(t) => t
                .range(start, n, rev)
                .into_iter()
                .map(|(m, s)| (Cow::Borrowed(m), s))
                .collect(),
        }
    }

    /// Sets `member`'s score (adding it when new); the previous score.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: ZSetLimits) -> Option<f64> {
        if let ZSet::Listpack(b) = self {
            let entries = lp_pairs(b).unwrap_or_default();
            let old = entries.iter().find(|(m, _)| **m == *member).map(|e| e.1);
            if let Some(o) = old {
                if o.to_bits() == score.to_bits() {
                    return old;
                }
            }
            let grown = entries.len() + usize::from(old.is_none());
            if grown <= limits.entries && member.len() <= limits.value {
                let mut rest: Vec<(&[u8], f64)> = entries
                    .iter()
                    .filter(|(m, _)| **m != *member)
                    .map(|(m, s)| (&m[..], *s))
                    .collect();
                let at = rest
                    .iter()
                    .position(|(m, s)| cmp_elem(*s, m, score, member) == Ordering::Greater)
                    .unwrap_or(rest.len());
                rest.insert(at, (member, score));
                if let Some(nb) = build_listpack(rest.into_iter()) {
                    *b = nb;
                    return old;
                }
            }
            self.convert_to_tree();
        }
        match self {
            ZSet::Skiplist(t) => t.insert(member, score),
            ZSet::Listpack(_) => None,
        }
    }

    /// Removes `member`; its score when it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack(b) => {
                let entries = lp_pairs(b).unwrap_or_default();
                let old = entries.iter().find(|(m, _)| **m == *member)?.1;
                let nb = build_listpack(
                    entries
                        .iter()
                        .filter(|(m, _)| **m != *member)
                        .map(|(m, s)| (&m[..], *s)),
                )?;
                *b = nb;
                Some(old)
            }
            ZSet::Skiplist(t) => t.remove(member),
        }
    }

    /// Removes the elements of ascending ranks `start..end`; how many.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        let doomed: Vec<Vec<u8>> = self
            .range(start, end.saturating_sub(start), false)
            .into_iter()
            .map(|(m, _)| m.into_owned())
            .collect();
        if let ZSet::Listpack(b) = self {
            let entries = lp_pairs(b).unwrap_or_default();
            let kept = entries
                .iter()
                .enumerate()
                .filter(|(i, _)| *i < start || *i >= end)
                .map(|(_, (m, s))| (&m[..], *s));
            if let Some(nb) = build_listpack(kept) {
                *b = nb;
            }
            return doomed.len();
        }
        for m in &doomed {
            self.remove(m);
        }
        doomed.len()
    }

    /// Removes and returns up to `count` of the lowest (or, with `max`, the
    /// highest) elements, in the order popped (ZPOPMIN/ZPOPMAX, BZPOPMIN…).
    pub fn pop(&mut self, max: bool, count: usize) -> Vec<(Vec<u8>, f64)> {
        let len = self.len();
        let n = count.min(len);
        let out: Vec<(Vec<u8>, f64)> = self
            .range(0, n, max)
            .into_iter()
            .map(|(m, s)| (m.into_owned(), s))
            .collect();
        if max {
            self.remove_ranks(len - n, len);
        } else {
            self.remove_ranks(0, n);
        }
        out
    }

    fn convert_to_tree(&mut self) {
        if let ZSet::Listpack(_) = self {
            let entries = self.entries();
            let mut t = Tree::with_capacity(entries.len());
            for (m, s) in &entries {
                t.insert(m, *s);
            }
            *self = ZSet::Skiplist(Box::new(t));
        }
    }

    /// Heap bytes the value owns (O(1)).
    pub fn heap_size(&self) -> usize {
        match self {
            ZSet::Listpack(b) => b.len(),
            ZSet::Skiplist(t) => t.heap_size(),
        }
    }

    /// What Redis would allocate for the sorted set (`MEMORY USAGE`; the
    /// large encoding is estimated from its members, Redis samples).
    pub fn redis_usage(&self) -> usize {
        match self {
            ZSet::Listpack(b) => ROBJ + jemalloc_size(b.len()),
            ZSet::Skiplist(t) => {
                let n = t.len();
                let avg_member = t.member_bytes() / n.max(1);
                let sds = jemalloc_size(sds_header(avg_member, false) + avg_member + 1);
                // Redis's objectComputeSize: robj, zset, skiplist and dict
                // structs, the bucket array, the 32-level header node, then per
                // member a dict entry, the sds and a node (1.33 levels on
                // average: 53⅓ bytes in jemalloc's classes).
                let slots = (n + 1).next_power_of_two().max(4);
                ROBJ + 16
                    + 32
                    + 56
                    + 8 * slots
                    + jemalloc_size(24 + 32 * 16)
                    + n * (24 + sds + 53)
                    + n / 3
            }
        }
    }

    /// Mixes the sorted set into `d` as Redis does: each member's digest
    /// (member, then its score as `%.17g`), xored in.
    pub fn digest(&self, d: &mut Digest) {
        for (m, s) in self.entries() {
            let mut el = [0u8; 20];
            mix(&mut el, &m);
            mix(&mut el, g17(s).as_bytes());
            xor(d, &el);
        }
    }

    /// The RDB type byte of the current encoding.
    pub fn rdb_type(&self) -> u8 {
        match self {
            ZSet::Listpack(_) => RDB_TYPE_ZSET_LISTPACK,
            ZSet::Skiplist(_) => RDB_TYPE_ZSET_2,
        }
    }

    /// Writes the RDB payload: the listpack as one string, or the count then
    /// members and binary scores from the greatest down, as Redis does.
    pub fn write_rdb(&self, out: &mut dyn RdbSink) {
        match self {
            ZSet::Listpack(b) => out.string(b),
            ZSet::Skiplist(t) => {
                out.length(t.len() as u64);
                for (m, s) in t.range(0, t.len(), true) {
                    out.string(m);
                    out.binary_double(s);
                }
            }
        }
    }

    /// Reads an RDB payload of one of `RDB_TYPES`.
    pub fn read_rdb<S: RdbSource>(rdb_type: u8, src: &mut S) -> Result<ZSet, S::Error> {
        let limits = ZSetLimits::default();
        match rdb_type {
            RDB_TYPE_ZSET_LISTPACK | RDB_TYPE_ZSET_ZIPLIST => {
                let buf = src.string()?.to_bytes().into_owned();
                Ok(Self::from_compact(rdb_type, buf, limits)?)
            }
            _ => {
                let n = src.length()?;
                if n == 0 {
                    return Err(BadPayload::Invalid("empty sorted set").into());
                }
                let mut t = Tree::with_capacity(usize::try_from(n).unwrap_or(usize::MAX));
                let mut longest = 0;
                for _ in 0..n {
                    let m = src.string()?.to_bytes().into_owned();
                    let s = if rdb_type == RDB_TYPE_ZSET_2 {
                        src.binary_double()?
                    } else {
                        src.text_double()?
                    };
                    if s.is_nan() {
                        return Err(BadPayload::Invalid("sorted set with a NaN score").into());
                    }
                    longest = longest.max(m.len());
                    if t.insert(&m, s).is_some() {
                        return Err(BadPayload::Invalid("sorted set with duplicate members").into());
                    }
                }
                if t.len() <= limits.entries && longest <= limits.value {
                    let entries = t.range(0, t.len(), false);
                    if let Some(b) = build_listpack(entries.into_iter()) {
                        return Ok(ZSet::Listpack(b));
                    }
                }
                Ok(ZSet::Skiplist(Box::new(t)))
            }
        }
    }

    /// A sorted set from a Redis listpack (kept byte for byte when ordered)
    /// or legacy ziplist, checked as Redis's loader checks them.
    fn from_compact(rdb_type: u8, buf: Vec<u8>, limits: ZSetLimits) -> Result<ZSet, BadPayload> {
        let bad = BadPayload::Invalid("sorted set listpack");
        let elements: Vec<Element<'_>> = if rdb_type == RDB_TYPE_ZSET_LISTPACK {
            Listpack::parse(&buf)
                .map_err(|_| bad.clone())?
                .iter()
                .collect()
        } else {
            Ziplist::parse(&buf)
                .map_err(|_| bad.clone())?
                .iter()
                .collect()
        };
        crate::store::compact::check_pairs(
            crate::store::compact::Format::Listpack,
            elements.iter().copied(),
        )
        .map_err(|_| bad.clone())?;
        if elements.is_empty() {
            return Err(BadPayload::Invalid("empty sorted set"));
        }
        let mut pairs = Vec::with_capacity(elements.len() / 2);
        for pair in elements.chunks(2) {
            let (m, s) = match pair {
                [m, s] => (
                    elem_bytes(*m).into_owned(),
                    elem_score(*s).ok_or(bad.clone())?,
                ),
                _ => return Err(bad),
            };
            pairs.push((m, s));
        }
        let ordered = pairs
            .windows(2)
            .all(|w| cmp_elem(w[0].1, &w[0].0, w[1].1, &w[1].0) == Ordering::Less);
        if rdb_type == RDB_TYPE_ZSET_LISTPACK && ordered && pairs.len() <= limits.entries {
            return Ok(ZSet::Listpack(buf.into_boxed_slice()));
        }
        if pairs.len() <= limits.entries {
            // A ziplist (or an unordered listpack) becomes Redis's listpack.
            let mut z = ZSet::from_entries(
                pairs,
                ZSetLimits {
                    value: usize::MAX,
                    ..limits
                },
            );
            if let ZSet::Skiplist(_) = z {
                z = ZSet::default();
            }
            return Ok(z);
        }
        let mut t = Tree::with_capacity(pairs.len());
        for (m, s) in &pairs {
            t.insert(m, *s);
        }
        Ok(ZSet::Skiplist(Box::new(t)))
    }

    /// Emits ZADD commands recreating the sorted set, 64 members each.
    pub fn rewrite(&self, key: &[u8], emit: &mut dyn FnMut(&[&[u8]])) {
        let entries = self.entries();
        for chunk in entries.chunks(REWRITE_BATCH) {
            let scores: Vec<String> = chunk.iter().map(|(_, s)| g17(*s)).collect();
            let mut argv: Vec<&[u8]> = Vec::with_capacity(2 + 2 * chunk.len());
            argv.push(b"ZADD");
            argv.push(key);
            for ((m, _), s) in chunk.iter().zip(&scores) {
                argv.push(s.as_bytes());
                argv.push(m);
            }
            emit(&argv);
        }
    }
}

impl ValueType for ZSet {
    const KIND: Kind = Kind::ZSet;

    fn of(v: &Value) -> Option<&ZSet> {
        match v {
            Value::ZSet(x) => Some(x),
            _ => None,
        }
    }

    fn of_mut(v: &mut Value) -> Option<&mut ZSet> {
        match v {
            Value::ZSet(x) => Some(x),
            _ => None,
        }
    }

    fn into_value(self) -> Value {
        Value::ZSet(Box::new(self))
    }

    fn is_emptied(&self) -> bool {
        self.is_empty()
    }
}

#[cfg(test)]
mod tests;
