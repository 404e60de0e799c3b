//! The hash table behind large hashes, sets and sorted sets: byte-string keys
//! with a value each, the heap bytes it owns kept up to date (O(1) to read),
//! a SCAN cursor, and random picks.
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

/// Heap bytes a table value owns beyond its inline size.
pub trait HeapBytes {
    /// Bytes on the heap.
    fn heap_bytes(&self) -> usize;
}

impl HeapBytes for Box<[u8]> {
    fn heap_bytes(&self) -> usize {
        self.len()
    }
}

impl HeapBytes for () {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl HeapBytes for f64 {
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// Bits of a cursor that hold the bucket index (the tag sits above them).
const INDEX_BITS: u32 = 40;

/// A hash table of byte-string keys.
#[derive(Debug, Clone)]
pub struct FieldTable<V> {
    table: HashTable<(Box<[u8]>, V)>,
    /// Bytes the keys and values own on the heap.
    bytes: usize,
}

impl<V> Default for FieldTable<V> {
    fn default() -> Self {
        FieldTable {
            table: HashTable::new(),
            bytes: 0,
        }
    }
}

impl<V: HeapBytes + PartialEq> PartialEq for FieldTable<V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .all(|(k, v)| other.get(k).is_some_and(|o| o == v))
    }
}

impl<V: HeapBytes> FieldTable<V> {
    /// An empty table with room for `n` keys.
    pub fn with_capacity(n: usize) -> Self {
        FieldTable {
            table: HashTable::with_capacity(n),
            bytes: 0,
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True with no keys.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.table
            .find(hash(key), |(k, _)| &k[..] == key)
            .map(|(_, v)| v)
    }

    /// True when `key` is present.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`; the previous value, if any.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        let h = hash(key);
        let added = value.heap_bytes();
        match self.table.find_mut(h, |(k, _)| &k[..] == key) {
            Some((_, v)) => {
                self.bytes = self.bytes + added - v.heap_bytes();
                Some(std::mem::replace(v, value))
            }
            None => {
                self.bytes += key.len() + added;
                self.table
                    .insert_unique(h, (key.into(), value), |(k, _)| hash(k));
                None
            }
        }
    }

    /// Changes the value of `key` in place with `f` (the byte count follows).
    pub fn update<R>(&mut self, key: &[u8], f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let (_, v) = self.table.find_mut(hash(key), |(k, _)| &k[..] == key)?;
        let before = v.heap_bytes();
        let r = f(v);
        self.bytes = self.bytes + v.heap_bytes() - before;
        Some(r)
    }

    /// Removes `key`; its value, if it was present.
    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        let entry = self
            .table
            .find_entry(hash(key), |(k, _)| &k[..] == key)
            .ok()?;
        let ((k, v), _) = entry.remove();
        self.bytes -= k.len() + v.heap_bytes();
        Some(v)
    }

    /// Every key and value, in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> + '_ {
        self.table.iter().map(|(k, v)| (&k[..], v))
    }

    /// Heap bytes: the buckets plus what keys and values own.
    pub fn heap_size(&self) -> usize {
        self.table.num_buckets() * (std::mem::size_of::<(Box<[u8]>, V)>() + 1) + self.bytes
    }

    /// Visits elements from `cursor` (0 starts) until `count` were visited or
    /// the buckets end; the cursor to continue from, 0 when done.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &V)) -> u64 {
        let buckets = self.table.num_buckets();
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
            if let Some((k, v)) = self.table.get_bucket(i) {
                f(k, v);
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

    /// A uniformly random element (None when empty).
    pub fn random(&self) -> Option<(&[u8], &V)> {
        let buckets = self.table.num_buckets();
        if self.is_empty() {
            return None;
        }
        // Most tables are at least ~40% full: a few probes find an element.
        for _ in 0..64 {
            if let Some((k, v)) = self.table.get_bucket(fastrand::usize(..buckets)) {
                return Some((k, v));
            }
        }
        self.iter().nth(fastrand::usize(..self.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_update_remove_keep_the_byte_count() {
        let mut t: FieldTable<Box<[u8]>> = FieldTable::default();
        assert_eq!(t.insert(b"ab", b"xyz"[..].into()), None);
        assert_eq!(t.bytes, 5);
        assert_eq!(
            t.insert(b"ab", b"x"[..].into()).as_deref(),
            Some(&b"xyz"[..])
        );
        assert_eq!(t.bytes, 3);
        t.update(b"ab", |v| *v = b"12345"[..].into());
        assert_eq!(t.bytes, 7);
        assert_eq!(t.remove(b"ab").as_deref(), Some(&b"12345"[..]));
        assert_eq!((t.bytes, t.len(), t.remove(b"ab")), (0, 0, None));
    }

    #[test]
    fn a_scan_returns_every_element_present_throughout() {
        let mut t: FieldTable<()> = FieldTable::default();
        for i in 0..1000 {
            t.insert(format!("m{i}").as_bytes(), ());
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
                    t.insert(format!("m{next}").as_bytes(), ());
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
        let mut t: FieldTable<f64> = FieldTable::default();
        assert!(t.random().is_none());
        for i in 0..100 {
            t.insert(format!("{i}").as_bytes(), i as f64);
        }
        for _ in 0..1000 {
            let (k, v) = t.random().expect("not empty");
            assert_eq!(
                std::str::from_utf8(k).ok().and_then(|s| s.parse().ok()),
                Some(*v)
            );
        }
    }
}
