//! A dense array kept in shared chunks of 1,024 items, so a copy of a large
//! value is cheap and a change after it copies little.
//!
//! A running snapshot keeps a key's value as it was before a command changes
//! it (`Keyspace::keep_original`). For a collection of a million elements a
//! deep copy took 120–380 ms under the slot lock. Cloning `Chunks` copies one
//! pointer per chunk; the first change to a chunk still shared with a kept
//! original copies that chunk alone, as fork's copy-on-write copies one
//! page. Without a snapshot every chunk is unshared and a change
//! costs one reference-count check.

use std::ops::{Index, IndexMut};
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

/// The chunk, for a change: copied first when a clone shares it.
///
/// `Arc::make_mut` pays a compare-and-swap on every call, and a treap insert
/// reaches ~50 nodes: the common case (no snapshot, so no clone) is checked
/// with a plain load instead.
#[inline]
fn unique<T: Clone>(c: &mut Arc<Vec<T>>) -> &mut Vec<T> {
    if Arc::strong_count(c) == 1 {
        // Pairs with the release of the last other clone's drop.
        fence(Ordering::Acquire);
        // SAFETY: no chunk is ever downgraded to a Weak, so a strong count of
        // one means this Arc, held mutably here, is the only way to the
        // chunk: nobody else can read or clone it meanwhile.
        unsafe { &mut *Arc::as_ptr(c).cast_mut() }
    } else {
        Arc::make_mut(c)
    }
}

/// Items per full chunk.
const N: usize = 1024;

/// A growable array in shared chunks of `N` items (see the module doc).
#[derive(Clone)]
pub struct Chunks<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> Default for Chunks<T> {
    fn default() -> Self {
        Chunks {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: std::fmt::Debug + Clone> std::fmt::Debug for Chunks<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Clone> Chunks<T> {
    /// An empty array with room for `n` items in its first chunk.
    pub fn with_capacity(n: usize) -> Self {
        if n == 0 {
            return Self::default();
        }
        Chunks {
            chunks: vec![Arc::new(Vec::with_capacity(n.min(N)))],
            len: 0,
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True with no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The item at `i`.
    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / N)?.get(i % N)
    }

    /// The item at `i`, for a change (its chunk is copied first if shared).
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i >= self.len {
            return None;
        }
        unique(self.chunks.get_mut(i / N)?).get_mut(i % N)
    }

    /// Appends `v`.
    pub fn push(&mut self, v: T) {
        let room = self.chunks.last().is_some_and(|c| c.len() < N);
        if !room {
            // A first chunk grows as a Vec does; later ones start full size.
            let cap = if self.chunks.is_empty() { 4 } else { N };
            self.chunks.push(Arc::new(Vec::with_capacity(cap)));
        }
        if let Some(last) = self.chunks.last_mut() {
            let last = unique(last);
            if last.len() == last.capacity() {
                // Double, but never past a chunk, so every full chunk holds
                // exactly N items' room (heap_size relies on it).
                let want = (last.capacity() * 2).clamp(4, N);
                last.reserve_exact(want - last.len());
            }
            last.push(v);
            self.len += 1;
        }
    }

    /// Removes and returns the last item.
    pub fn pop(&mut self) -> Option<T> {
        let last = self.chunks.last_mut()?;
        let v = unique(last).pop();
        if last.is_empty() {
            self.chunks.pop();
        }
        if v.is_some() {
            self.len -= 1;
        }
        v
    }

    /// Removes the item at `i`, moving the last item into its place.
    pub fn swap_remove(&mut self, i: usize) -> Option<T> {
        if i >= self.len {
            return None;
        }
        let last = self.pop()?;
        if i == self.len {
            return Some(last);
        }
        self.get_mut(i).map(|slot| std::mem::replace(slot, last))
    }

    /// Every item, in order.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            chunks: self.chunks.iter(),
            inner: [].iter(),
        }
    }

    /// Heap bytes of the array itself (not what the items own), in O(1).
    pub fn heap_size(&self) -> usize {
        // Each chunk: its items' room, the Arc's two counts and the Vec.
        const PER_N: usize = 16 + 24;
        let last_cap = self.chunks.last().map_or(0, |c| c.capacity());
        let full = self.chunks.len().saturating_sub(1);
        (full * N + last_cap) * std::mem::size_of::<T>()
            + self.chunks.len() * PER_N
            + self.chunks.capacity() * std::mem::size_of::<usize>()
    }

    /// Gives back the unused room of the last chunk and of the chunk list.
    pub fn shrink_to_fit(&mut self) {
        if let Some(last) = self.chunks.last_mut() {
            if last.capacity() > last.len() {
                unique(last).shrink_to_fit();
            }
        }
        self.chunks.shrink_to_fit();
    }
}

impl<T: Clone> Index<usize> for Chunks<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        &self.chunks[i / N][i % N]
    }
}

impl<T: Clone> IndexMut<usize> for Chunks<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut unique(&mut self.chunks[i / N])[i % N]
    }
}

/// The items of a [`Chunks`], in order.
pub struct Iter<'a, T> {
    chunks: std::slice::Iter<'a, Arc<Vec<T>>>,
    inner: std::slice::Iter<'a, T>,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        loop {
            if let Some(v) = self.inner.next() {
                return Some(v);
            }
            self.inner = self.chunks.next()?.iter();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_vec_and_a_clone_shares_until_a_change() {
        let mut c: Chunks<u32> = Chunks::with_capacity(3);
        let mut v: Vec<u32> = Vec::new();
        for i in 0..5000 {
            c.push(i);
            v.push(i);
        }
        assert_eq!(c.len(), 5000);
        let before = c.clone();
        for i in (0..4000).step_by(5) {
            assert_eq!(c.swap_remove(i), Some(v.swap_remove(i)));
        }
        c[3] = 77;
        v[3] = 77;
        *c.get_mut(1500).expect("in range") += 1;
        v[1500] += 1;
        assert_eq!(c.iter().copied().collect::<Vec<_>>(), v);
        assert_eq!(c.get(v.len()), None);
        assert_eq!(c.get_mut(v.len()), None);
        // The clone still holds the array as it was.
        assert_eq!(
            before.iter().copied().collect::<Vec<_>>(),
            (0..5000).collect::<Vec<_>>()
        );
        // Only the chunks a change touched were copied.
        let shared = before
            .chunks
            .iter()
            .zip(&c.chunks)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert_eq!(shared, 0, "every chunk had a swap_remove");
        let mut d = before.clone();
        d[4096] = 1;
        let untouched = before
            .chunks
            .iter()
            .zip(&d.chunks)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert_eq!(untouched, before.chunks.len() - 1);
        while c.pop().is_some() {}
        assert!(c.is_empty() && c.chunks.is_empty());
        assert_eq!(c.swap_remove(0), None);
    }

    #[test]
    fn full_chunks_hold_exactly_a_chunk_of_room() {
        let mut c: Chunks<u64> = Chunks::with_capacity(600);
        for i in 0..(N as u64 * 3 + 5) {
            c.push(i);
        }
        assert!(c.chunks[..3].iter().all(|ch| ch.capacity() == N));
        let exact: usize = c
            .chunks
            .iter()
            .map(|ch| ch.capacity() * 8 + 40)
            .sum::<usize>()
            + c.chunks.capacity() * 8;
        assert_eq!(c.heap_size(), exact);
    }
}
