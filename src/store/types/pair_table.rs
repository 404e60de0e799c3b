//! The table behind large hashes: field/value pairs in a [`DenseTable`]
//! (whose positions HSCAN walks from the top down and whose random pick is
//! uniform), the heap bytes it owns kept up to date (O(1) to read).

use super::dense_table::{DenseTable, Keyed};

/// One field and its value in one allocation: the field's length in 4
/// bytes, the field, the value (half the allocations of a key and a value
/// boxed apart).
#[derive(Debug, Clone)]
struct Pair(Box<[u8]>);

impl Pair {
    fn new(field: &[u8], value: &[u8]) -> Pair {
        let mut b = Vec::with_capacity(4 + field.len() + value.len());
        b.extend_from_slice(&(field.len() as u32).to_le_bytes());
        b.extend_from_slice(field);
        b.extend_from_slice(value);
        Pair(b.into_boxed_slice())
    }

    /// The field and the value (only `Pair::new` builds pairs).
    fn split(&self) -> (&[u8], &[u8]) {
        let mut n = [0u8; 4];
        n.copy_from_slice(&self.0[..4]);
        self.0[4..].split_at(u32::from_le_bytes(n) as usize)
    }
}

impl Keyed for Pair {
    fn key(&self) -> &[u8] {
        self.split().0
    }

    fn heap(&self) -> usize {
        self.0.len()
    }
}

/// Field/value pairs of a large hash.
#[derive(Debug, Clone, Default)]
pub struct PairTable(DenseTable<Pair>);

impl PartialEq for PairTable {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

impl PairTable {
    /// An empty table with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        PairTable(DenseTable::with_capacity(n))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True with no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.0.find(field).map(|p| p.split().1)
    }

    /// Sets `field` to `value`; true when the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        self.0.put(field, true, || Pair::new(field, value))
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        self.0.remove(field).is_some()
    }

    /// Every field and value, in array order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.0.iter().map(Pair::split)
    }

    /// Heap bytes: the array, the index and the pairs.
    pub fn heap_size(&self) -> usize {
        self.0.heap_size()
    }

    /// One HSCAN step (see `DenseTable::scan`).
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        self.0.scan(cursor, count, |p| {
            let (k, v) = p.split();
            f(k, v)
        })
    }

    /// A uniformly random pair (None when empty).
    pub fn random(&self) -> Option<(&[u8], &[u8])> {
        self.0.random().map(Pair::split)
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
        assert_eq!(t.0.owned_bytes(), (4 + 1 + 3) + 4);
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
        assert_eq!((t.len(), t.0.owned_bytes()), (1, 4));
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
