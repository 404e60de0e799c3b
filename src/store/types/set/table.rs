//! The large-set table: members (short ones inline, as keys are) in a
//! [`DenseTable`], whose positions SSCAN walks from the top down.

use super::super::dense_table::{DenseTable, Keyed};
use crate::store::key::Key;

impl Keyed for Key {
    fn key(&self) -> &[u8] {
        self.as_bytes()
    }

    fn heap(&self) -> usize {
        self.heap_size()
    }
}

/// Members plus an index of their positions.
#[derive(Debug, Clone, Default)]
pub struct Table(DenseTable<Key>);

impl PartialEq for Table {
    fn eq(&self, other: &Table) -> bool {
        self.len() == other.len() && self.iter().all(|m| other.contains(m.as_bytes()))
    }
}

impl Table {
    /// An empty table with room for `n` members.
    pub fn with_capacity(n: usize) -> Table {
        Table(DenseTable::with_capacity(n))
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when `m` is a member.
    pub fn contains(&self, m: &[u8]) -> bool {
        self.0.find(m).is_some()
    }

    /// Adds `m`; true when it was not there.
    pub fn insert(&mut self, m: &[u8]) -> bool {
        self.0.put(m, false, || Key::new(m))
    }

    /// Removes `m`; true when it was there.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        self.0.remove(m).is_some()
    }

    /// The member at `pos` in the array.
    pub fn get(&self, pos: usize) -> Option<&[u8]> {
        self.0.at(pos).map(Key::as_bytes)
    }

    /// Removes and returns the member at `pos`.
    pub fn remove_at(&mut self, pos: usize) -> Option<Vec<u8>> {
        self.0.remove_at(pos).map(|k| k.as_bytes().to_vec())
    }

    /// Every member, in array order.
    pub fn iter(&self) -> crate::store::types::chunks::Iter<'_, Key> {
        self.0.iter()
    }

    /// One SSCAN step (see `DenseTable::scan`).
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(&'a [u8])) -> u64 {
        self.0.scan(cursor, count, |k| f(k.as_bytes()))
    }

    /// Heap bytes owned, in O(1).
    pub fn heap_size(&self) -> usize {
        self.0.heap_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_keep_the_index_right() {
        let mut t = Table::default();
        for i in 0..3000u32 {
            assert!(t.insert(format!("member:{i}").as_bytes()));
        }
        assert!(!t.insert(b"member:7"));
        for i in (0..3000u32).step_by(3) {
            assert!(t.remove(format!("member:{i}").as_bytes()));
        }
        for i in 0..3000u32 {
            assert_eq!(t.contains(format!("member:{i}").as_bytes()), i % 3 != 0);
        }
        assert_eq!(t.len(), 2000);
        while t.len() > 0 {
            assert!(t.remove_at(t.len() / 2).is_some());
        }
        assert!(!t.contains(b"member:1"));
        let long = vec![b'l'; 100];
        assert!(t.insert(&long));
        assert!(t.heap_size() >= 100);
        assert!(t.remove(&long));
        assert_eq!(t.0.owned_bytes(), 0);
    }

    #[test]
    fn a_copy_keeps_the_members_as_they_were() {
        let mut t = Table::default();
        for i in 0..5000u32 {
            t.insert(format!("m{i}").as_bytes());
        }
        let kept = t.clone();
        for i in 0..2500u32 {
            t.remove(format!("m{i}").as_bytes());
        }
        t.insert(b"new");
        assert_eq!(kept.len(), 5000);
        assert!((0..5000u32).all(|i| kept.contains(format!("m{i}").as_bytes())));
        assert!(!kept.contains(b"new") && t.contains(b"new"));
        assert_eq!(t.len(), 2501);
    }
}
