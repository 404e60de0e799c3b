//! The hash type: a listpack (field, value, field, value, … as Redis lays it
//! out) while small, a hash table once it passes `hash-max-listpack-entries`
//! fields or a field or value passes `hash-max-listpack-value` bytes; it never
//! goes back, as in Redis.

use std::borrow::Cow;

use super::pack_box::PackBox;
use super::pair_table::PairTable;
use super::redis_size::{jemalloc_size, sds_header, ROBJ};
use super::{BadPayload, Kind, RdbSink, RdbSource, Value, ValueType};
use crate::store::compact::listpack::{Listpack, ListpackWriter};
use crate::store::compact::ziplist::Ziplist;
use crate::store::compact::zipmap::Zipmap;
use crate::store::compact::Element;
use crate::store::digest::{mix, xor, Digest};

/// `RDB_TYPE_HASH`: a count, then field and value strings.
pub const RDB_TYPE: u8 = 4;
/// `RDB_TYPE_HASH_LISTPACK`: one string holding the listpack.
pub const RDB_TYPE_LISTPACK: u8 = 16;
/// `RDB_TYPE_HASH_ZIPMAP` (Redis ≤ 2.4): one string holding a zipmap.
pub const RDB_TYPE_ZIPMAP: u8 = 9;
/// `RDB_TYPE_HASH_ZIPLIST` (Redis ≤ 6.2): one string holding a ziplist.
pub const RDB_TYPE_ZIPLIST: u8 = 13;
/// Every RDB type byte a hash is read from.
pub const RDB_TYPES: &[u8] = &[
    RDB_TYPE,
    RDB_TYPE_ZIPMAP,
    RDB_TYPE_ZIPLIST,
    RDB_TYPE_LISTPACK,
];

/// Fields per command in an AOF rewrite (Redis's `AOF_REWRITE_ITEMS_PER_CMD`).
const REWRITE_BATCH: usize = 64;

/// When a hash leaves the listpack (`hash-max-listpack-entries`, `-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    /// Most fields a listpack hash holds.
    pub entries: usize,
    /// Longest field or value a listpack hash holds.
    pub value: usize,
}

impl Default for HashLimits {
    fn default() -> Self {
        // Redis 7.0's defaults.
        HashLimits {
            entries: 512,
            value: 64,
        }
    }
}

/// A field and its value, borrowed where the encoding allows.
pub type Pair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// A hash value.
#[derive(Debug, Clone, PartialEq)]
pub enum Hash {
    /// Small: Redis's listpack bytes, fields and values alternating.
    Listpack(PackBox),
    /// Large: a table (boxed, so a hash is two words and sits in `Value`).
    Table(Box<PairTable>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Listpack(empty_listpack())
    }
}

fn empty_listpack() -> PackBox {
    PackBox::new(Listpack::empty().as_bytes().to_vec())
}

/// Listpack elements as bytes (integers in decimal, as Redis shows them).
fn bytes(e: Element<'_>) -> Cow<'_, [u8]> {
    match e {
        Element::Str(s) => Cow::Borrowed(s),
        Element::Int(n) => Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec()),
    }
}

fn element_is(e: Element<'_>, want: &[u8]) -> bool {
    match e {
        Element::Str(s) => s == want,
        Element::Int(n) => itoa::Buffer::new().format(n).as_bytes() == want,
    }
}

impl Hash {
    fn listpack(buf: &[u8]) -> Listpack<'_> {
        // Only this file builds the buffer, always through the writer.
        Listpack::trusted(buf).unwrap_or(Listpack::empty())
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(b) => Self::listpack(b).len() / 2,
            Hash::Table(t) => t.len(),
        }
    }

    /// True with no fields (the key is then removed).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<Cow<'_, [u8]>> {
        match self {
            Hash::Listpack(b) => {
                let mut it = Self::listpack(b).iter();
                while let (Some(f), Some(v)) = (it.next(), it.next()) {
                    if element_is(f, field) {
                        return Some(bytes(v));
                    }
                }
                None
            }
            Hash::Table(t) => t.get(field).map(Cow::Borrowed),
        }
    }

    /// True when `field` is present.
    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Every (field, value) pair, in the encoding's order.
    pub fn pairs(&self) -> Vec<Pair<'_>> {
        match self {
            Hash::Listpack(b) => {
                let mut out = Vec::with_capacity(self.len());
                let mut it = Self::listpack(b).iter();
                while let (Some(f), Some(v)) = (it.next(), it.next()) {
                    out.push((bytes(f), bytes(v)));
                }
                out
            }
            Hash::Table(t) => t
                .iter()
                .map(|(f, v)| (Cow::Borrowed(f), Cow::Borrowed(v)))
                .collect(),
        }
    }

    /// A random field (O(1) for a table).
    pub fn random_field(&self) -> Option<Cow<'_, [u8]>> {
        match self {
            Hash::Listpack(b) => {
                let n = self.len();
                let mut it = Self::listpack(b).iter();
                it.nth(2 * fastrand::usize(..n.max(1))).map(bytes)
            }
            Hash::Table(t) => t.random().map(|(f, _)| Cow::Borrowed(f)),
        }
    }

    /// Visits pairs from a SCAN `cursor` (0 starts) until about `count` were
    /// visited; the cursor to go on from, 0 when done. A listpack hash is
    /// visited whole in one call, as Redis does.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match self {
            Hash::Listpack(_) => {
                for (k, v) in self.pairs() {
                    f(&k, &v);
                }
                0
            }
            Hash::Table(t) => t.scan(cursor, count, |k, v| f(k, v)),
        }
    }

    /// Sets `field` to `value`; true when the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        if let Hash::Listpack(b) = self {
            let lp = Self::listpack(b);
            let fits = field.len() <= limits.value && value.len() <= limits.value;
            let mut w = ListpackWriter::with_capacity(b.len() + field.len() + value.len() + 16);
            let mut it = lp.iter();
            let mut found = false;
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                w.push(f);
                if !found && element_is(f, field) {
                    found = true;
                    w.push_str(value);
                } else {
                    w.push(v);
                }
            }
            let count = lp.len() / 2 + usize::from(!found);
            if fits && count <= limits.entries {
                if !found {
                    w.push_str(field);
                    w.push_str(value);
                }
                if let Ok(buf) = w.finish() {
                    *b = PackBox::new(buf);
                    return !found;
                }
            }
            self.convert_to_table();
        }
        match self {
            Hash::Table(t) => t.insert(field, value),
            // Never reached: the listpack branch above returns or converts.
            Hash::Listpack(_) => false,
        }
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(b) => {
                let lp = Self::listpack(b);
                let mut w = ListpackWriter::with_capacity(b.len());
                let mut it = lp.iter();
                let mut found = false;
                while let (Some(f), Some(v)) = (it.next(), it.next()) {
                    if !found && element_is(f, field) {
                        found = true;
                    } else {
                        w.push(f);
                        w.push(v);
                    }
                }
                if found {
                    if let Ok(buf) = w.finish() {
                        *b = PackBox::new(buf);
                    }
                }
                found
            }
            Hash::Table(t) => t.remove(field),
        }
    }

    fn convert_to_table(&mut self) {
        if let Hash::Listpack(_) = self {
            let pairs = self.pairs();
            let mut t = PairTable::with_capacity(pairs.len());
            for (f, v) in &pairs {
                t.insert(f, v);
            }
            *self = Hash::Table(Box::new(t));
        }
    }

    /// Heap bytes the value owns.
    pub fn heap_size(&self) -> usize {
        match self {
            Hash::Listpack(b) => b.len(),
            Hash::Table(t) => t.heap_size(),
        }
    }

    /// What Redis would allocate for the hash (`MEMORY USAGE`; a table is
    /// estimated from all its fields, Redis samples).
    pub fn redis_usage(&self) -> usize {
        match self {
            Hash::Listpack(b) => ROBJ + jemalloc_size(b.len()),
            Hash::Table(t) => {
                let sds = |n: usize| jemalloc_size(sds_header(n, false) + n + 1);
                let buckets = t.len().next_power_of_two() * 8;
                ROBJ + 96
                    + jemalloc_size(buckets)
                    + t.iter()
                        .map(|(f, v)| 24 + sds(f.len()) + sds(v.len()))
                        .sum::<usize>()
            }
        }
    }

    /// Mixes the hash into `d` as Redis does: each pair's own digest, xored
    /// in, so field order does not matter.
    pub fn digest(&self, d: &mut Digest) {
        for (f, v) in self.pairs() {
            let mut pair = [0u8; 20];
            mix(&mut pair, &f);
            mix(&mut pair, &v);
            xor(d, &pair);
        }
    }

    /// The RDB type byte of the current encoding.
    pub fn rdb_type(&self) -> u8 {
        match self {
            Hash::Listpack(_) => RDB_TYPE_LISTPACK,
            Hash::Table(_) => RDB_TYPE,
        }
    }

    /// Writes the RDB payload: the listpack as one string, or the pairs.
    pub fn write_rdb(&self, out: &mut dyn RdbSink) {
        match self {
            Hash::Listpack(b) => out.string(b),
            Hash::Table(t) => {
                out.length(t.len() as u64);
                for (f, v) in t.iter() {
                    out.string(f);
                    out.string(v);
                }
            }
        }
    }

    /// Reads an RDB payload of one of `RDB_TYPES`. The older compact forms
    /// (zipmap, ziplist) are rebuilt as Redis 7.0 does on load.
    pub fn read_rdb<S: RdbSource>(rdb_type: u8, src: &mut S) -> Result<Hash, S::Error> {
        let limits = HashLimits::default();
        match rdb_type {
            RDB_TYPE_LISTPACK => {
                let buf = src.string()?.to_bytes().into_owned();
                let lp = Listpack::parse(&buf).map_err(|_| BadPayload::Invalid("hash listpack"))?;
                if lp.len() % 2 != 0 || lp.is_empty() {
                    return Err(BadPayload::Invalid("hash listpack").into());
                }
                let mut h = Hash::Listpack(PackBox::new(buf));
                if has_duplicates(&h) {
                    return Err(BadPayload::Invalid("hash listpack with duplicate fields").into());
                }
                if h.len() > limits.entries {
                    h.convert_to_table();
                }
                return Ok(h);
            }
            RDB_TYPE_ZIPLIST | RDB_TYPE_ZIPMAP => {
                let buf = src.string()?.to_bytes().into_owned();
                return Ok(Self::from_legacy(rdb_type, &buf, limits)?);
            }
            _ => {}
        }
        let n = src.length()?;
        if n == 0 {
            return Err(BadPayload::Invalid("empty hash").into());
        }
        let mut h = Hash::default();
        for _ in 0..n {
            let f = src.string()?.to_bytes().into_owned();
            let v = src.string()?.to_bytes().into_owned();
            if !h.set(&f, &v, limits) {
                return Err(BadPayload::Invalid("hash with duplicate fields").into());
            }
        }
        Ok(h)
    }

    /// Emits HSET commands recreating the hash, 64 fields each (AOF rewrite).
    pub fn rewrite(&self, key: &[u8], emit: &mut dyn FnMut(&[&[u8]])) {
        let pairs = self.pairs();
        for chunk in pairs.chunks(REWRITE_BATCH) {
            let mut argv: Vec<&[u8]> = Vec::with_capacity(2 + 2 * chunk.len());
            argv.push(b"HSET");
            argv.push(key);
            for (f, v) in chunk {
                argv.push(f);
                argv.push(v);
            }
            emit(&argv);
        }
    }
}

impl Hash {
    /// A hash from a ziplist or zipmap payload (fields and values alternating).
    fn from_legacy(rdb_type: u8, buf: &[u8], limits: HashLimits) -> Result<Hash, BadPayload> {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        if rdb_type == RDB_TYPE_ZIPMAP {
            let zm = Zipmap::parse(buf).map_err(|_| BadPayload::Invalid("hash zipmap"))?;
            pairs.extend(zm.iter().map(|(f, v)| (f.to_vec(), v.to_vec())));
        } else {
            let zl = Ziplist::parse(buf).map_err(|_| BadPayload::Invalid("hash ziplist"))?;
            let mut it = zl.iter();
            while let Some(f) = it.next() {
                let v = it.next().ok_or(BadPayload::Invalid("hash ziplist"))?;
                pairs.push((f.to_vec(), v.to_vec()));
            }
        }
        if pairs.is_empty() {
            return Err(BadPayload::Invalid("empty hash"));
        }
        let mut h = Hash::default();
        for (f, v) in &pairs {
            if !h.set(f, v, limits) {
                return Err(BadPayload::Invalid("hash with duplicate fields"));
            }
        }
        Ok(h)
    }
}

fn has_duplicates(h: &Hash) -> bool {
    let pairs = h.pairs();
    let mut seen = hashbrown::HashSet::with_capacity(pairs.len());
    pairs.iter().any(|(f, _)| !seen.insert(f.clone()))
}

impl ValueType for Hash {
    const KIND: Kind = Kind::Hash;

    fn of(v: &Value) -> Option<&Hash> {
        match v {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }

    fn of_mut(v: &mut Value) -> Option<&mut Hash> {
        match v {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }

    fn into_value(self) -> Value {
        Value::Hash(self)
    }

    fn is_emptied(&self) -> bool {
        self.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_a_listpack_until_a_limit_then_a_table() {
        let limits = HashLimits {
            entries: 3,
            value: 8,
        };
        let mut h = Hash::default();
        assert!(h.set(b"a", b"1", limits));
        assert!(h.set(b"b", b"two", limits));
        assert!(!h.set(b"a", b"one", limits));
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.get(b"a").as_deref(), Some(&b"one"[..]));
        assert_eq!(h.len(), 2);
        assert!(h.set(b"c", b"123456789", limits));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"b").as_deref(), Some(&b"two"[..]));
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(h.len(), 2);
        let mut small = Hash::default();
        for f in [&b"x"[..], b"y", b"z", b"w"] {
            small.set(f, b"v", limits);
        }
        assert_eq!((small.encoding(), small.len()), ("hashtable", 4));
    }

    #[test]
    fn listpack_removal_keeps_the_rest_in_order() {
        let mut h = Hash::default();
        for (f, v) in [(&b"f1"[..], &b"10"[..]), (b"f2", b"x"), (b"f3", b"-7")] {
            h.set(f, v, HashLimits::default());
        }
        assert!(h.remove(b"f2"));
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = h
            .pairs()
            .into_iter()
            .map(|(f, v)| (f.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                (b"f1".to_vec(), b"10".to_vec()),
                (b"f3".to_vec(), b"-7".to_vec())
            ]
        );
        assert!(h.remove(b"f1") && h.remove(b"f3"));
        assert!(h.is_emptied());
    }
}
