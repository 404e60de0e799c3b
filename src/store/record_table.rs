//! `RecordTable`: one slot's keys, an open-addressing table of record
//! pointers with a one-byte tag per bucket, sized in the allocator's own size
//! classes.
//!
//! A power-of-two table (hashbrown's) doubles when 7/8 full, so right after
//! growing it is 7/16 full: a slot of 61 keys pays 128 buckets of 9 bytes,
//! 19 bytes per key. Here a bucket array grows by one jemalloc size class at
//! a time (×1.14–1.25), so the load stays between about 0.7 and 7/8 and a
//! key pays about 11.5 bytes. Buckets are found by multiplying the hash into
//! the capacity (no power of two needed) and probed linearly; the tag (seven
//! low hash bits) filters buckets before a record is read, so a lookup reads
//! the tag line, the pointer and the one record whose key it compares.
//! Removal leaves a tombstone unless the next bucket is empty; a rehash at
//! the same size clears tombstones when they, not keys, fill the table.

use super::record::Record;
use super::types::redis_size::jemalloc_size;

const EMPTY: u8 = 0;
const DELETED: u8 = 1;

/// The keys of one slot.
#[derive(Debug, Default)]
pub struct RecordTable {
    tags: Box<[u8]>,
    buckets: Box<[Option<Record>]>,
    len: usize,
    /// Empty buckets that may still be filled before the table rehashes
    /// (keeps live and deleted buckets at most 7/8 of the capacity).
    growth_left: usize,
}

fn tag(h: u64) -> u8 {
    0x80 | (h as u8 & 0x7F)
}

fn home(h: u64, cap: usize) -> usize {
    ((h as u128 * cap as u128) >> 64) as usize
}

fn usable(cap: usize) -> usize {
    cap * 7 / 8
}

/// The next capacity: the bucket array's next jemalloc size class.
fn next_cap(cap: usize) -> usize {
    (jemalloc_size(8 * cap + 1) / 8).max(8)
}

impl RecordTable {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Buckets allocated.
    pub fn capacity(&self) -> usize {
        self.tags.len()
    }

    /// The bucket holding the record with hash `h` for which `eq` holds.
    #[inline]
    pub fn find_index(&self, h: u64, mut eq: impl FnMut(&Record) -> bool) -> Option<usize> {
        let cap = self.capacity();
        if cap == 0 {
            return None;
        }
        let want = tag(h);
        let mut i = home(h, cap);
        // Ends: at least one bucket is always empty (`usable` < capacity).
        loop {
            match self.tags[i] {
                EMPTY => return None,
                t if t == want => {
                    if let Some(r) = &self.buckets[i] {
                        if eq(r) {
                            return Some(i);
                        }
                    }
                }
                _ => {}
            }
            i += 1;
            if i == cap {
                i = 0;
            }
        }
    }

    /// The record with hash `h` for which `eq` holds.
    #[inline]
    pub fn find(&self, h: u64, eq: impl FnMut(&Record) -> bool) -> Option<&Record> {
        self.find_index(h, eq)
            .and_then(|i| self.buckets[i].as_ref())
    }

    /// The record in bucket `i` (from `find_index`).
    pub fn at(&self, i: usize) -> Option<&Record> {
        self.buckets.get(i).and_then(Option::as_ref)
    }

    /// The record in bucket `i`, mutably.
    pub fn at_mut(&mut self, i: usize) -> Option<&mut Record> {
        self.buckets.get_mut(i).and_then(Option::as_mut)
    }

    /// Inserts `record` (hash `h`), which must not be in the table; `hash`
    /// rehashes the records already there if the table has to grow.
    pub fn insert_unique(&mut self, h: u64, record: Record, hash: impl Fn(&Record) -> u64) {
        let mut i = self.free_bucket(h);
        if self.tags.get(i) != Some(&DELETED) && self.growth_left == 0 {
            self.resize(&hash);
            i = self.free_bucket(h);
        }
        if self.tags[i] == EMPTY {
            self.growth_left -= 1;
        }
        self.tags[i] = tag(h);
        self.buckets[i] = Some(record);
        self.len += 1;
    }

    /// The first empty or deleted bucket on `h`'s probe path (capacity 0:
    /// index 0, which the caller grows before using).
    fn free_bucket(&self, h: u64) -> usize {
        let cap = self.capacity();
        if cap == 0 {
            return 0;
        }
        let mut i = home(h, cap);
        while self.tags[i] >= 0x80 {
            i += 1;
            if i == cap {
                i = 0;
            }
        }
        i
    }

    /// Removes the record in bucket `i`.
    pub fn remove_at(&mut self, i: usize) -> Option<Record> {
        let r = self.buckets.get_mut(i)?.take()?;
        self.len -= 1;
        let cap = self.capacity();
        if self.len == 0 {
            // Give an emptied slot's memory back (a drained slot after migration).
            *self = RecordTable::default();
            return Some(r);
        }
        if self.tags[(i + 1) % cap] != EMPTY {
            // A probe path may run through here: keep it going.
            self.tags[i] = DELETED;
            return Some(r);
        }
        // Nothing probes past an empty bucket: this one, and the tombstones
        // just before it, end their paths now.
        let mut j = i;
        loop {
            self.tags[j] = EMPTY;
            self.growth_left += 1;
            j = if j == 0 { cap - 1 } else { j - 1 };
            if self.tags[j] != DELETED {
                break;
            }
        }
        Some(r)
    }

    /// Grows to the next size class, or rehashes in place when deleted
    /// buckets, not records, used up the room.
    #[cold]
    fn resize(&mut self, hash: &impl Fn(&Record) -> u64) {
        let cap = self.capacity();
        let mut new_cap = if self.len < usable(cap) * 3 / 4 {
            cap
        } else {
            next_cap(cap)
        };
        while usable(new_cap) <= self.len {
            new_cap = next_cap(new_cap);
        }
        let old = std::mem::take(&mut self.buckets);
        self.tags = vec![EMPTY; new_cap].into_boxed_slice();
        self.buckets = std::iter::repeat_with(|| None).take(new_cap).collect();
        self.growth_left = usable(new_cap);
        self.len = 0;
        for r in old.into_vec().into_iter().flatten() {
            let h = hash(&r);
            let i = self.free_bucket(h);
            self.tags[i] = tag(h);
            self.buckets[i] = Some(r);
            self.growth_left -= 1;
            self.len += 1;
        }
    }

    /// Every record, in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = &Record> + Clone {
        self.buckets.iter().flatten()
    }

    /// The records on `h`'s probe path whose tag matches (prefetching).
    pub fn candidates(&self, h: u64) -> impl Iterator<Item = &Record> {
        let cap = self.capacity();
        let start = if cap == 0 { 0 } else { home(h, cap) };
        let want = tag(h);
        (0..cap)
            .map(move |k| (start + k) % cap)
            .take_while(move |&i| self.tags[i] != EMPTY)
            .filter(move |&i| self.tags[i] == want)
            .filter_map(move |i| self.buckets[i].as_ref())
    }

    /// Where `h`'s probe starts: its tag and its bucket (prefetching).
    pub fn home_lines(&self, h: u64) -> Option<[*const u8; 2]> {
        let cap = self.capacity();
        if cap == 0 {
            return None;
        }
        let i = home(h, cap);
        Some([
            &self.tags[i] as *const u8,
            &self.buckets[i] as *const Option<Record> as *const u8,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keyspace::hash_key;
    use crate::store::types::Value;

    fn rec(i: u32) -> Record {
        Record::new(format!("key:{i}").as_bytes(), Value::int(i as i64), 0, 0)
    }

    fn h(r: &Record) -> u64 {
        hash_key(r.key())
    }

    fn find(t: &RecordTable, i: u32) -> Option<i64> {
        let k = format!("key:{i}");
        let r = t.find(hash_key(k.as_bytes()), |r| r.key_is(k.as_bytes()))?;
        match r.value().as_str() {
            Ok(crate::store::types::StrRef::Int(n)) => Some(n),
            _ => None,
        }
    }

    #[test]
    fn inserts_finds_and_removes_through_growth_and_tombstones() {
        let mut t = RecordTable::default();
        for i in 0..5000 {
            let r = rec(i);
            t.insert_unique(h(&r), r, h);
        }
        assert_eq!(t.len(), 5000);
        assert!((0..5000).all(|i| find(&t, i) == Some(i as i64)));
        assert_eq!(find(&t, 5000), None);
        // Remove every other key, then insert new ones: tombstones are
        // reused or cleared, never lose a key.
        for i in (0..5000).step_by(2) {
            let k = format!("key:{i}");
            let at = t.find_index(hash_key(k.as_bytes()), |r| r.key_is(k.as_bytes()));
            assert!(t.remove_at(at.expect("present")).is_some());
        }
        for i in 5000..9000 {
            let r = rec(i);
            t.insert_unique(h(&r), r, h);
        }
        for i in 0..9000 {
            let want = (i >= 5000 || i % 2 == 1).then_some(i as i64);
            assert_eq!(find(&t, i), want, "key:{i}");
        }
        assert_eq!(t.len(), 2500 + 4000);
        assert_eq!(t.iter().count(), t.len());
    }

    #[test]
    fn load_stays_between_the_size_classes() {
        let mut t = RecordTable::default();
        let mut lowest = 1.0f64;
        for i in 0..20_000 {
            let r = rec(i);
            t.insert_unique(h(&r), r, h);
            if t.len() > 64 {
                lowest = lowest.min(t.len() as f64 / t.capacity() as f64);
            }
            assert!(t.len() <= usable(t.capacity()));
        }
        // One size class up from 7/8 full: never below 7/8 ÷ 1.25.
        assert!(lowest >= 0.69, "load fell to {lowest}");
    }

    #[test]
    fn emptied_table_frees_its_buckets() {
        let mut t = RecordTable::default();
        let r = rec(1);
        t.insert_unique(h(&r), r, h);
        assert!(t.capacity() >= 8);
        let at = t.find_index(hash_key(b"key:1"), |r| r.key_is(b"key:1"));
        t.remove_at(at.expect("present"));
        assert_eq!((t.len(), t.capacity()), (0, 0));
    }
}
