//! The hash table behind large hashes: field/value pairs, the heap bytes it
//! owns kept up to date (O(1) to read), a SCAN cursor, and random picks.
//!
//! The SCAN cursor is a bucket index tagged with the table's bucket count.
//! Removals and inserts that do not grow the table leave every other element in
//! its bucket, so a scan that walks the buckets in order returns every element
//! present from start to end once. When the table grew since the cursor was
//! handed out (its tag differs) the walk starts over: elements may come twice,
//! as Redis allows, never not at all; the table only ever grows, so a scan
//! restarts at most once per doubling and ends once the set stops growing
//! (Redis promises an end only for a set of bounded size too).

use std::hash::BuildHasher;
use std::sync::LazyLock;

use hashbrown::{DefaultHashBuilder, HashTable};

static HASHER: LazyLock<DefaultHashBuilder> = LazyLock::new(DefaultHashBuilder::default);

fn hash(key: &[u8]) -> u64 {
    HASHER.hash_one(key)
}

/// Bits of a cursor that hold the bucket index (the tag sits above them).
const INDEX_BITS: u32 = 40;

/// The SCAN walk over `table`'s buckets (see the module doc).
fn scan_buckets<T>(table: &HashTable<T>, cursor: u64, count: usize, mut f: impl FnMut(&T)) -> u64 {
    let buckets = table.num_buckets();
    if buckets == 0 {
        return 0;
    }
    let tag = u64::from(buckets.trailing_zeros()) + 1;
    let mut i = if cursor >> INDEX_BITS == tag {
        (cursor & ((1 << INDEX_BITS) - 1)) as usize
    } else {
        0
    };
    let mut seen = 0;
    while i < buckets && seen < count.max(1) {
        if let Some(t) = table.get_bucket(i) {
            f(t);
            seen += 1;
        }
        i += 1;
    }
    if i >= buckets {
        0
    } else {
        (tag << INDEX_BITS) | i as u64
    }
}

/// A uniformly random element of `table`.
fn random_bucket<T>(table: &HashTable<T>) -> Option<&T> {
    if table.is_empty() {
        return None;
    }
    let buckets = table.num_buckets();
    // Most tables are at least ~40% full: a few probes find an element.
    for _ in 0..64 {
        if let Some(t) = table.get_bucket(fastrand::usize(..buckets)) {
            return Some(t);
        }
    }
    table.iter().nth(fastrand::usize(..table.len()))
}

/// Field/value pairs of a large hash, one allocation each (the field's
/// length in 4 bytes, the field, the value): half the allocations and a
/// bucket of one fat pointer, against a key and a value boxed apart.
#[derive(Debug, Clone, Default)]
pub struct PairTable {
    table: HashTable<Box<[u8]>>,
    /// Bytes the pairs own on the heap.
    bytes: usize,
}

/// A pair's field and value (only this type builds pairs).
fn split(pair: &[u8]) -> (&[u8], &[u8]) {
    let mut n = [0u8; 4];
    n.copy_from_slice(&pair[..4]);
    pair[4..].split_at(u32::from_le_bytes(n) as usize)
}

fn pair(field: &[u8], value: &[u8]) -> Box<[u8]> {
    let mut b = Vec::with_capacity(4 + field.len() + value.len());
    b.extend_from_slice(&(field.len() as u32).to_le_bytes());
    b.extend_from_slice(field);
    b.extend_from_slice(value);
    b.into_boxed_slice()
}

impl PartialEq for PairTable {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

impl PairTable {
    /// An empty table with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        PairTable {
            table: HashTable::with_capacity(n),
            bytes: 0,
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True with no fields.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.table
            .find(hash(field), |p| split(p).0 == field)
            .map(|p| split(p).1)
    }

    /// Sets `field` to `value`; true when the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        let h = hash(field);
        let new = pair(field, value);
        self.bytes += new.len();
        match self.table.find_mut(h, |p| split(p).0 == field) {
            Some(p) => {
                self.bytes -= p.len();
                *p = new;
                false
            }
            None => {
                self.table.insert_unique(h, new, |p| hash(split(p).0));
                true
            }
        }
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self.table.find_entry(hash(field), |p| split(p).0 == field) {
            Ok(e) => {
                let (p, _) = e.remove();
                self.bytes -= p.len();
                true
            }
            Err(_) => false,
        }
    }

    /// Every field and value, in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.table.iter().map(|p| split(p))
    }

    /// Heap bytes: the buckets plus the pairs.
    pub fn heap_size(&self) -> usize {
        self.table.num_buckets() * (std::mem::size_of::<Box<[u8]>>() + 1) + self.bytes
    }

    /// SCAN from `cursor`, as `FieldTable::scan`.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        scan_buckets(&self.table, cursor, count, |p| {
            let (k, v) = split(p);
            f(k, v)
        })
    }

    /// A uniformly random pair (None when empty).
    pub fn random(&self) -> Option<(&[u8], &[u8])> {
        random_bucket(&self.table).map(|p| split(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_keep_field_and_value_in_one_allocation() {
        let mut t = PairTable::default();
        assert!(t.insert(b"f", b"one"));
        assert!(!t.insert(b"f", b"uno"));
        assert!(t.insert(b"", b""));
        assert_eq!(
            (t.get(b"f"), t.get(b""), t.get(b"x")),
            (Some(&b"uno"[..]), Some(&b""[..]), None)
        );
        assert_eq!(t.bytes, (4 + 1 + 3) + 4);
        let mut seen: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        assert_eq!(
            t.scan(0, 100, |f, v| seen.push((f.to_vec(), v.to_vec()))),
            0
        );
        seen.sort();
        assert_eq!(
            seen,
            vec![(vec![], vec![]), (b"f".to_vec(), b"uno".to_vec())]
        );
        assert!(t.remove(b"f") && !t.remove(b"f"));
        assert_eq!((t.len(), t.bytes), (1, 4));
    }

    #[test]
    fn a_scan_returns_every_element_present_throughout() {
        let mut t = PairTable::default();
        for i in 0..1000 {
            t.insert(format!("m{i}").as_bytes(), b"v");
        }
        let (mut seen, mut removed) = (std::collections::HashSet::new(), Vec::new());
        let (mut cursor, mut calls, mut next) = (0, 0, 1000);
        loop {
            cursor = t.scan(cursor, 10, |k, _| {
                seen.insert(k.to_vec());
            });
            calls += 1;
            // Writes between calls: a removal, and inserts that grow the table
            // (up to a bound, as SCAN only promises to end on a bounded set).
            if calls % 7 == 0 && next < 4000 {
                let gone = format!("m{}", 999 - calls);
                t.remove(gone.as_bytes());
                removed.push(gone);
                for _ in 0..50 {
                    t.insert(format!("m{next}").as_bytes(), b"v");
                    next += 1;
                }
            }
            if cursor == 0 {
                break;
            }
            assert!(calls < 10_000, "the scan ends");
        }
        assert!(t.len() > 1500, "the table grew during the scan");
        for i in 0..1000 {
            let name = format!("m{i}");
            assert!(
                removed.contains(&name) || seen.contains(name.as_bytes()),
                "{name} missing"
            );
        }
    }

    #[test]
    fn random_picks_come_from_the_table() {
        let mut t = PairTable::default();
        assert!(t.random().is_none());
        for i in 0..100 {
            t.insert(format!("{i}").as_bytes(), format!("{}", i * 2).as_bytes());
        }
        for _ in 0..1000 {
            let (k, v) = t.random().expect("not empty");
            let k: usize = std::str::from_utf8(k).unwrap().parse().unwrap();
            assert_eq!(v, format!("{}", k * 2).as_bytes());
        }
    }
}
