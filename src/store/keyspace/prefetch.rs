//! Prefetching for pipelined commands: the keys of the commands waiting
//! behind the one that runs are looked up level by level ahead of time.

use parking_lot::Mutex;
use smallvec::SmallVec;

use super::{hash_key, Keyspace, SlotTable, INLINE_GUARDS};
use crate::slot::key_slot;

impl Keyspace {
    /// Warms the CPU caches for up to 16 `keys` of `db` before the commands
    /// that read them run: their slot tables, their buckets, then their
    /// records (which hold
    /// short strings inline), each level for all keys before the next, so the
    /// cache misses of different keys overlap instead of coming one after
    /// another.
    /// A single key has nothing to overlap with and is left alone; a
    /// contended slot is skipped, not waited for.
    pub fn prefetch<'k>(&self, db: usize, keys: impl IntoIterator<Item = &'k [u8]>) {
        let at: SmallVec<[(usize, u64); INLINE_GUARDS]> = keys
            .into_iter()
            .take(INLINE_GUARDS)
            .map(|k| (key_slot(k) as usize, hash_key(k)))
            .collect();
        let d = &self.dbs[self.physical(db)];
        let Some(slots) = d.slots.get().filter(|_| at.len() > 1) else {
            return;
        };
        for &(slot, _) in &at {
            prefetch_line(&slots[slot] as *const Mutex<SlotTable> as *const u8);
        }
        for &(slot, h) in &at {
            if let Some(lines) = slots[slot].try_lock().and_then(|t| t.map.home_lines(h)) {
                lines.into_iter().for_each(prefetch_line);
            }
        }
        for &(slot, h) in &at {
            if let Some(t) = slots[slot].try_lock() {
                for r in t.map.candidates(h) {
                    prefetch_line(r.as_ptr());
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
