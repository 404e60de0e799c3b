//! Prefetching for pipelined commands: the keys of the commands waiting
//! behind the one that runs are looked up level by level ahead of time.

use parking_lot::Mutex;
use smallvec::SmallVec;

use super::{hash_key, Keyspace, Record, SlotTable, INLINE_GUARDS};
use crate::slot::key_slot;

impl Keyspace {
    /// Warms the CPU caches for up to 16 `keys` of `db` before the commands
    /// that read them run: their slot tables, then their records, then
    /// string values, each level for all keys before the next, so the cache
    /// misses of different keys overlap instead of coming one after another.
    /// A single key has nothing to overlap with and is left alone; a
    /// contended slot is skipped, not waited for.
    pub fn prefetch<'k>(&self, db: usize, keys: impl IntoIterator<Item = &'k [u8]>) {
        let at: SmallVec<[(usize, u64, &[u8]); INLINE_GUARDS]> = keys
            .into_iter()
            .take(INLINE_GUARDS)
            .map(|k| (key_slot(k) as usize, hash_key(k), k))
            .collect();
        let d = &self.dbs[self.physical(db)];
        let Some(slots) = d.slots.get().filter(|_| at.len() > 1) else {
            return;
        };
        for &(slot, _, _) in &at {
            prefetch_line(&slots[slot] as *const Mutex<SlotTable> as *const u8);
        }
        for &(slot, h, _) in &at {
            if let Some(t) = slots[slot].try_lock() {
                for r in t.map.iter_hash(h) {
                    prefetch_line(&**r as *const Record as *const u8);
                }
            }
        }
        for &(slot, h, key) in &at {
            if let Some(t) = slots[slot].try_lock() {
                let found = t.map.find(h, |r| r.key.as_bytes() == key);
                if let Some(p) = found.and_then(|r| r.entry.value.string_bytes_ptr()) {
                    prefetch_line(p);
                }
            }
        }
    }
}

/// Asks the CPU to load the cache line at `p` (a hint: never faults, never
/// reads on other targets).
#[inline(always)]
fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it does not dereference `p` in the
    // language's sense and cannot fault, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
