//! The table behind large sets and hashes: items in a dense array of shared
//! chunks ([`Chunks`]), found through a hash index of array positions.
//!
//! Removal moves the last item into the hole, so items only ever move *down*
//! the array. A cursor that walks positions from the top down therefore meets
//! every item present for the whole walk at least once: an item not yet
//! visited sits below the cursor and can only move further down; items added
//! during the walk land above it. SSCAN and HSCAN use this, and a random
//! pick is one uniform position.
//!
//! A copy (a snapshot keeping the value as it was) shares the chunks and
//! copies the index, 5 bytes a bucket: 1 M items in a few milliseconds.

use std::hash::BuildHasher;
use std::sync::LazyLock;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::chunks::Chunks;

static HASHER: LazyLock<DefaultHashBuilder> = LazyLock::new(DefaultHashBuilder::default);

fn hash(k: &[u8]) -> u64 {
    HASHER.hash_one(k)
}

/// An item of a [`DenseTable`]: found by its key.
pub trait Keyed: Clone + std::fmt::Debug {
    /// The bytes the item is found by.
    fn key(&self) -> &[u8];
    /// Heap bytes the item owns beyond its place in the array.
    fn heap(&self) -> usize;
}

/// Items plus an index of their positions (see the module doc).
#[derive(Debug, Clone)]
pub struct DenseTable<T: Clone + std::fmt::Debug> {
    items: Chunks<T>,
    index: HashTable<u32>,
    /// Heap bytes the items own (kept up to date so the size reads in O(1)).
    owned: usize,
}

impl<T: Clone + std::fmt::Debug> Default for DenseTable<T> {
    fn default() -> Self {
        DenseTable {
            items: Chunks::default(),
            index: HashTable::new(),
            owned: 0,
        }
    }
}

impl<T: Keyed> DenseTable<T> {
    /// An empty table with room for `n` items.
    pub fn with_capacity(n: usize) -> Self {
        DenseTable {
            items: Chunks::with_capacity(n),
            index: HashTable::with_capacity(n),
            owned: 0,
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True with no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The item whose key is `k`.
    pub fn find(&self, k: &[u8]) -> Option<&T> {
        let items = &self.items;
        let pos = self.index.find(hash(k), |&i| {
            items.get(i as usize).is_some_and(|t| t.key() == k)
        })?;
        items.get(*pos as usize)
    }

    /// Stores the item `make` builds for key `k`: added when `k` is new
    /// (true), in place of the present one with `replace`, else left alone.
    pub fn put(&mut self, k: &[u8], replace: bool, make: impl FnOnce() -> T) -> bool {
        let DenseTable {
            items,
            index,
            owned,
        } = self;
        let Ok(pos) = u32::try_from(items.len()) else {
            return false;
        };
        let entry = index.entry(
            hash(k),
            |&i| items.get(i as usize).is_some_and(|t| t.key() == k),
            |&i| items.get(i as usize).map_or(0, |t| hash(t.key())),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(e) => {
                if replace {
                    if let Some(slot) = items.get_mut(*e.get() as usize) {
                        let new = make();
                        *owned = (*owned + new.heap()).saturating_sub(slot.heap());
                        *slot = new;
                    }
                }
                false
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(pos);
                let t = make();
                *owned += t.heap();
                items.push(t);
                true
            }
        }
    }

    /// Removes the item whose key is `k`.
    pub fn remove(&mut self, k: &[u8]) -> Option<T> {
        let items = &self.items;
        let found = self
            .index
            .find_entry(hash(k), |&i| {
                items.get(i as usize).is_some_and(|t| t.key() == k)
            })
            .ok()?;
        let (pos, _) = found.remove();
        self.take_at(pos as usize)
    }

    /// The item at array position `pos`.
    pub fn at(&self, pos: usize) -> Option<&T> {
        self.items.get(pos)
    }

    /// Removes and returns the item at array position `pos`.
    pub fn remove_at(&mut self, pos: usize) -> Option<T> {
        let k = self.items.get(pos)?.key();
        let entry = self
            .index
            .find_entry(hash(k), |&i| i as usize == pos)
            .ok()?;
        entry.remove();
        self.take_at(pos)
    }

    /// Removes the item at `pos` (already gone from the index), moving the
    /// last one into its place.
    fn take_at(&mut self, pos: usize) -> Option<T> {
        let last = self.items.len().checked_sub(1)?;
        if pos != last {
            let moved = hash(self.items.get(last)?.key());
            if let Some(slot) = self.index.find_mut(moved, |&i| i as usize == last) {
                *slot = pos as u32;
            }
        }
        let out = self.items.swap_remove(pos)?;
        self.owned = self.owned.saturating_sub(out.heap());
        self.shrink();
        Some(out)
    }

    /// Gives memory back once the table is mostly empty (Redis resizes a
    /// dict under 10 % fill).
    fn shrink(&mut self) {
        let cap = self.index.capacity();
        if cap > 64 && self.items.len() < cap / 8 {
            self.items.shrink_to_fit();
            let items = &self.items;
            self.index.shrink_to(items.len() * 2, |&i| {
                items.get(i as usize).map_or(0, |t| hash(t.key()))
            });
        }
    }

    /// Every item, in array order.
    pub fn iter(&self) -> super::chunks::Iter<'_, T> {
        self.items.iter()
    }

    /// A uniformly random item.
    pub fn random(&self) -> Option<&T> {
        match self.len() {
            0 => None,
            n => self.items.get(fastrand::usize(..n)),
        }
    }

    /// One SCAN step: up to `count` items from `cursor` down (0 starts at the
    /// top), and the next cursor (0 when done). See the module doc.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(&'a T)) -> u64 {
        let len = self.len() as u64;
        let top = if cursor == 0 || cursor > len {
            len
        } else {
            cursor
        };
        let stop = top.saturating_sub(count.max(1) as u64);
        for pos in (stop..top).rev() {
            if let Some(t) = self.items.get(pos as usize) {
                f(t);
            }
        }
        stop
    }

    /// Heap bytes owned, in O(1).
    pub fn heap_size(&self) -> usize {
        self.items.heap_size() + self.owned + (self.index.capacity() * 8).div_ceil(7) * 5
    }

    /// Heap bytes the items own (beyond the array).
    pub fn owned_bytes(&self) -> usize {
        self.owned
    }
}
