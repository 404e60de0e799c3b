//! The large-set table: members in a dense array (short ones inline, as keys
//! are), found through a hash index of array positions.
//!
//! Removal moves the last member into the hole (`swap_remove`), so members
//! only ever move *down* the array. A cursor that walks positions from the top
//! down therefore meets every member present for the whole walk at least once:
//! a member not yet visited sits below the cursor and can only move further
//! down; members added during the walk land above it. SSCAN uses this.

use std::hash::BuildHasher;
use std::sync::LazyLock;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::store::key::Key;

static HASHER: LazyLock<DefaultHashBuilder> = LazyLock::new(DefaultHashBuilder::default);

fn hash(m: &[u8]) -> u64 {
    HASHER.hash_one(m)
}

/// Members plus an index of their positions.
#[derive(Debug, Clone, Default)]
pub struct Table {
    items: Vec<Key>,
    index: HashTable<u32>,
    /// Heap bytes of the members too long to sit inline (kept up to date so
    /// the size reads in O(1)).
    spilled: usize,
}

impl PartialEq for Table {
    fn eq(&self, other: &Table) -> bool {
        self.len() == other.len() && self.items.iter().all(|m| other.contains(m.as_bytes()))
    }
}

impl Table {
    /// An empty table with room for `n` members.
    pub fn with_capacity(n: usize) -> Table {
        Table {
            items: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            spilled: 0,
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when `m` is a member.
    pub fn contains(&self, m: &[u8]) -> bool {
        let items = &self.items;
        self.index
            .find(hash(m), |&i| {
                items.get(i as usize).is_some_and(|k| k.as_bytes() == m)
            })
            .is_some()
    }

    /// Adds `m`; true when it was not there.
    pub fn insert(&mut self, m: &[u8]) -> bool {
        let Table {
            items,
            index,
            spilled,
        } = self;
        let Ok(pos) = u32::try_from(items.len()) else {
            return false;
        };
        let entry = index.entry(
            hash(m),
            |&i| items.get(i as usize).is_some_and(|k| k.as_bytes() == m),
            |&i| items.get(i as usize).map_or(0, |k| hash(k.as_bytes())),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(pos);
                let k = Key::new(m);
                *spilled += k.heap_size();
                items.push(k);
                true
            }
        }
    }

    /// Removes `m`; true when it was there.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        let Table { items, index, .. } = self;
        let found = index.find_entry(hash(m), |&i| {
            items.get(i as usize).is_some_and(|k| k.as_bytes() == m)
        });
        let Ok(found) = found else {
            return false;
        };
        let (pos, _) = found.remove();
        self.take_at(pos as usize);
        true
    }

    /// Removes the member at `pos` (already gone from the index), moving the
    /// last one into its place.
    fn take_at(&mut self, pos: usize) -> Option<Key> {
        let last = self.items.len().checked_sub(1)?;
        if pos != last {
            let moved = hash(self.items.get(last)?.as_bytes());
            if let Some(slot) = self.index.find_mut(moved, |&i| i as usize == last) {
                *slot = pos as u32;
            }
        }
        let out = self.items.swap_remove(pos);
        self.spilled = self.spilled.saturating_sub(out.heap_size());
        self.shrink();
        Some(out)
    }

    /// Gives memory back once the table is mostly empty (Redis resizes a
    /// dict under 10 % fill).
    fn shrink(&mut self) {
        let cap = self.items.capacity();
        if cap > 64 && self.items.len() < cap / 8 {
            self.items.shrink_to(self.items.len() * 2);
            let items = &self.items;
            self.index.shrink_to(items.len() * 2, |&i| {
                items.get(i as usize).map_or(0, |k| hash(k.as_bytes()))
            });
        }
    }

    /// The member at `pos` in the array.
    pub fn get(&self, pos: usize) -> Option<&[u8]> {
        self.items.get(pos).map(Key::as_bytes)
    }

    /// Removes and returns the member at `pos`.
    pub fn remove_at(&mut self, pos: usize) -> Option<Vec<u8>> {
        let m = self.items.get(pos)?.as_bytes();
        let entry = self
            .index
            .find_entry(hash(m), |&i| i as usize == pos)
            .ok()?;
        entry.remove();
        self.take_at(pos).map(|k| k.as_bytes().to_vec())
    }

    /// Every member, in array order.
    pub fn iter(&self) -> std::slice::Iter<'_, Key> {
        self.items.iter()
    }

    /// Heap bytes owned, in O(1).
    pub fn heap_size(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<Key>()
            + self.spilled
            + (self.index.capacity() * 8).div_ceil(7) * 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_keep_the_index_right() {
        let mut t = Table::default();
        for i in 0..1000u32 {
            assert!(t.insert(format!("member:{i}").as_bytes()));
        }
        assert!(!t.insert(b"member:7"));
        for i in (0..1000u32).step_by(3) {
            assert!(t.remove(format!("member:{i}").as_bytes()));
        }
        for i in 0..1000u32 {
            assert_eq!(t.contains(format!("member:{i}").as_bytes()), i % 3 != 0);
        }
        assert_eq!(t.len(), 666);
        while t.len() > 0 {
            assert!(t.remove_at(t.len() / 2).is_some());
        }
        assert!(!t.contains(b"member:1"));
        let long = vec![b'l'; 100];
        assert!(t.insert(&long));
        assert!(t.heap_size() >= 100);
        assert!(t.remove(&long));
        assert_eq!(t.spilled, 0);
    }
}
