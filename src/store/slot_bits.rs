//! `SlotBits`: one bit per hash slot, readable without locks (which slots hold
//! keys, keys with a TTL, or still wait for a running snapshot).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::slot::SLOTS;

const SLOT_WORDS: usize = SLOTS / 64;

/// One bit per slot, kept in step with the slot tables by `SlotGuard`'s drop, so
/// eviction can pick a random non-empty slot without locking empty ones.
pub(crate) struct SlotBits(Box<[AtomicU64]>);

impl SlotBits {
    pub(crate) fn new() -> Self {
        SlotBits((0..SLOT_WORDS).map(|_| AtomicU64::new(0)).collect())
    }

    pub(crate) fn get(&self, slot: u16) -> bool {
        self.0[slot as usize / 64].load(Ordering::Relaxed) & (1u64 << (slot % 64)) != 0
    }

    /// Clears the bit; true when it was set.
    pub(crate) fn take(&self, slot: u16) -> bool {
        let mask = 1u64 << (slot % 64);
        self.0[slot as usize / 64].fetch_and(!mask, Ordering::Relaxed) & mask != 0
    }

    pub(crate) fn fill(&self, on: bool) {
        for w in self.0.iter() {
            w.store(if on { u64::MAX } else { 0 }, Ordering::Relaxed);
        }
    }

    pub(crate) fn set(&self, slot: u16, on: bool) {
        let word = &self.0[slot as usize / 64];
        let mask = 1u64 << (slot % 64);
        // A plain load first: the bit rarely changes, and a read keeps the line shared.
        if (word.load(Ordering::Relaxed) & mask != 0) != on {
            if on {
                word.fetch_or(mask, Ordering::Relaxed);
            } else {
                word.fetch_and(!mask, Ordering::Relaxed);
            }
        }
    }

    /// A set slot chosen uniformly: a few random probes (enough when most slots
    /// hold keys), else a select over the popcounts (sparse keyspaces, where
    /// "first set bit after a random point" would favour slots after long gaps).
    pub(crate) fn random_set(&self) -> Option<u16> {
        for _ in 0..8 {
            let s = fastrand::usize(..SLOTS);
            if self.0[s / 64].load(Ordering::Relaxed) & (1u64 << (s % 64)) != 0 {
                return Some(s as u16);
            }
        }
        let total: u32 = self
            .0
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones())
            .sum();
        if total == 0 {
            return None;
        }
        let mut r = fastrand::u32(..total);
        for (i, w) in self.0.iter().enumerate() {
            let mut bits = w.load(Ordering::Relaxed);
            let c = bits.count_ones();
            if r < c {
                for _ in 0..r {
                    bits &= bits.wrapping_sub(1);
                }
                return Some((i * 64 + bits.trailing_zeros() as usize) as u16);
            }
            r -= c;
        }
        // Bits cleared between the two passes.
        self.first_from(fastrand::usize(..SLOTS))
    }

    /// The first set slot at or after `start`, wrapping around.
    pub(crate) fn first_from(&self, start: usize) -> Option<u16> {
        let start = start % SLOTS;
        let (w0, b0) = (start / 64, start % 64);
        for i in 0..=SLOT_WORDS {
            let w = (w0 + i) % SLOT_WORDS;
            let mut bits = self.0[w].load(Ordering::Relaxed);
            if i == 0 {
                bits &= !0u64 << b0;
            } else if i == SLOT_WORDS {
                bits &= (1u64 << b0).wrapping_sub(1);
            }
            if bits != 0 {
                return Some((w * 64 + bits.trailing_zeros() as usize) as u16);
            }
        }
        None
    }
}
