//! ringcache's admission-filtered eviction (`allkeys-tinylfu`,
//! `volatile-tinylfu`), in the W-TinyLFU family (Einziger, Friedman and
//! Manes, "TinyLFU: A Highly Efficient Cache Admission Policy"; Caffeine's
//! design): a frequency sketch remembers how often every key was asked for,
//! resident or not, and a newcomer that has left a small window of recent
//! insertions stays only if the sketch saw it more often than the victim
//! Redis-style sampling picked. `eviction` runs the contest; this file holds
//! the two structures it reads:
//!
//! - [`Sketch`]: a count-min sketch of 4-bit counters (4 per key, in one
//!   64-byte block so an access touches one cache line), raised only where
//!   at their minimum (conservative update), all halved every
//!   `AGING_FACTOR` (20) × capacity additions so old popularity fades;
//! - [`Window`]: a ring of the last insertions (hash, database, slot); the
//!   newest `WINDOW_PERCENT` % of the capacity are in the window and not
//!   judged yet, older ones wait there for their contest.
//!
//! Both are sized by the keyspace's capacity in keys (what it holds when
//! eviction runs), so memory is O(1) per key of capacity, none in `Entry`.
//! The hot path (every keyed access counts, every insertion is pushed) takes
//! no lock: relaxed atomics, racy by design (a lost increment is noise in a
//! sketch). The tables are replaced when the capacity moves by 2× or more;
//! each thread keeps an `Arc` to the current ones and refetches it only when
//! a new generation was published.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

/// Sketch bytes per key of capacity (16 counters of 4 bits, as Caffeine).
const SKETCH_BYTES_PER_KEY: usize = 8;
/// Counters are halved after this many additions per key of capacity. The
/// paper and Caffeine use 10; at 20 a key at the edge of a Zipf cache is
/// counted about twice per period instead of once, which tells it from a
/// one-off key (measured with scripts/hit-ratio.sh: +1 point on every
/// workload, +1.5 with a scan).
const AGING_FACTOR: u64 = 20;
/// Share of the capacity that is the window: newcomers not judged yet.
const WINDOW_PERCENT: u64 = 1;
/// Ring cells per window entry: room for newcomers waiting to be judged.
const RING_PER_WINDOW: u64 = 4;
/// The smallest capacity tables are built for.
const MIN_CAPACITY: u64 = 1024;
/// Every nibble's top bit cleared: a shifted word with this mask is halved.
const HALF_MASK: u64 = 0x7777_7777_7777_7777;

/// A count-min sketch of 4-bit counters with aging.
#[derive(Debug)]
pub struct Sketch {
    words: Box<[AtomicU64]>,
    /// Blocks of 8 words, minus one (a power of two).
    block_mask: usize,
    additions: AtomicU64,
    /// Additions between two halvings.
    period: u64,
}

impl Sketch {
    /// A sketch for `capacity` keys.
    pub fn new(capacity: u64) -> Sketch {
        let words = (capacity.max(MIN_CAPACITY) as usize * SKETCH_BYTES_PER_KEY / 8)
            .next_power_of_two()
            .max(8);
        Sketch {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            block_mask: words / 8 - 1,
            additions: AtomicU64::new(0),
            period: AGING_FACTOR * capacity.max(MIN_CAPACITY),
        }
    }

    /// The key's four counters as (word, bit shift): one per pair of words
    /// of its block, so two keys sharing a block rarely share all four.
    fn spots(&self, h: u64) -> [(usize, u32); 4] {
        let block = ((h >> 32) as usize & self.block_mask) * 8;
        std::array::from_fn(|i| {
            let word = block + 2 * i + ((h >> i) & 1) as usize;
            let shift = (((h >> (8 + 4 * i)) & 15) * 4) as u32;
            (word, shift)
        })
    }

    fn counter(&self, (word, shift): (usize, u32)) -> u8 {
        ((self.words[word].load(Relaxed) >> shift) & 15) as u8
    }

    /// How often the key with hash `h` was seen lately (0–15).
    pub fn estimate(&self, h: u64) -> u8 {
        self.spots(h)
            .iter()
            .map(|&s| self.counter(s))
            .min()
            .unwrap_or(0)
    }

    /// Counts one access to the key with hash `h`.
    pub fn record(&self, h: u64) {
        let spots = self.spots(h);
        let values = spots.map(|s| self.counter(s));
        let min = values.iter().copied().min().unwrap_or(15);
        if min == 15 {
            return;
        }
        // Conservative update: a counter above the minimum already holds
        // other keys' counts, raising it would only add error.
        for (&(word, shift), &v) in spots.iter().zip(&values) {
            if v == min {
                let _ = self.words[word].fetch_update(Relaxed, Relaxed, |x| {
                    ((x >> shift) & 15 < 15).then_some(x + (1 << shift))
                });
            }
        }
        if self.additions.fetch_add(1, Relaxed) + 1 == self.period {
            self.age();
        }
    }

    /// Halves every counter. Only the thread whose addition reached the
    /// period runs it; increments racing with it may be lost (noise).
    fn age(&self) {
        for w in self.words.iter() {
            w.store((w.load(Relaxed) >> 1) & HALF_MASK, Relaxed);
        }
        self.additions.fetch_sub(self.period / 2, Relaxed);
    }

    /// Bytes the counters take.
    fn bytes(&self) -> usize {
        self.words.len() * 8
    }
}

/// One inserted key, as the window remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Newcomer {
    /// The key's hash (the slot table's).
    pub hash: u64,
    /// Its database.
    pub db: usize,
    /// Its slot.
    pub slot: u16,
}

#[derive(Debug, Default)]
struct Cell {
    hash: AtomicU64,
    /// `db << 16 | slot`.
    place: AtomicU64,
}

/// The ring of recent insertions: the newest `size` are the window, the
/// older ones still in the ring wait to be judged, and any the ring
/// overwrote before a contest were admitted unjudged (memory was not full).
#[derive(Debug)]
pub struct Window {
    cells: Box<[Cell]>,
    head: AtomicU64,
    /// Next newcomer to judge; moved by the eviction path only (under the
    /// pool's lock).
    tail: AtomicU64,
    size: u64,
}

impl Window {
    /// A window of `capacity` × `WINDOW_PERCENT` % keys (at least one).
    pub fn new(capacity: u64) -> Window {
        let size = (capacity * WINDOW_PERCENT / 100).max(1);
        let cells = (size * RING_PER_WINDOW).next_power_of_two().max(64);
        Window {
            cells: (0..cells).map(|_| Cell::default()).collect(),
            head: AtomicU64::new(0),
            tail: AtomicU64::new(0),
            size,
        }
    }

    /// Remembers a newly inserted key.
    pub fn push(&self, n: Newcomer) {
        let at = self.head.fetch_add(1, Relaxed);
        let cell = &self.cells[at as usize & (self.cells.len() - 1)];
        cell.hash.store(n.hash, Relaxed);
        cell.place
            .store((n.db as u64) << 16 | n.slot as u64, Relaxed);
    }

    /// The oldest newcomer that has left the window and was not judged yet.
    pub fn next_to_judge(&self) -> Option<Newcomer> {
        let head = self.head.load(Relaxed);
        let ring = self.cells.len() as u64;
        let tail = self.tail.load(Relaxed).max(head.saturating_sub(ring));
        if head.saturating_sub(tail) <= self.size {
            self.tail.store(tail, Relaxed);
            return None;
        }
        let cell = &self.cells[tail as usize & (self.cells.len() - 1)];
        self.tail.store(tail + 1, Relaxed);
        let place = cell.place.load(Relaxed);
        Some(Newcomer {
            hash: cell.hash.load(Relaxed),
            db: (place >> 16) as usize,
            slot: place as u16,
        })
    }
}

/// One generation of the sketch and the window.
#[derive(Debug)]
pub struct Tables {
    id: u64,
    /// Keys of capacity the tables were sized for (a power of two).
    capacity: u64,
    /// The frequency sketch.
    pub sketch: Sketch,
    /// Recent insertions.
    pub window: Window,
}

impl Tables {
    fn new(keys: u64) -> Tables {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let capacity = keys.max(MIN_CAPACITY).next_power_of_two();
        Tables {
            id: NEXT_ID.fetch_add(1, Relaxed),
            capacity,
            sketch: Sketch::new(capacity),
            window: Window::new(keys.max(MIN_CAPACITY)),
        }
    }

    /// Newcomers in the window (not judged yet).
    pub fn window_size(&self) -> usize {
        self.window.size as usize
    }

    /// Within 2× of what they were sized for: no rebuild (each would forget
    /// every frequency).
    fn fits(&self, keys: u64) -> bool {
        let keys = keys.max(MIN_CAPACITY);
        keys <= self.capacity * 2 && keys * 4 >= self.capacity
    }
}

thread_local! {
    /// This thread's reference to the current tables (see the module doc).
    static CACHED: RefCell<Option<Arc<Tables>>> = const { RefCell::new(None) };
}

/// The keyspace's TinyLFU state: the current tables and the admission counts.
#[derive(Debug, Default)]
pub struct TinyLfu {
    /// Id of the published tables; 0 while there are none.
    live: AtomicU64,
    tables: Mutex<Option<Arc<Tables>>>,
    /// Newcomers judged more frequent than the victim (the victim went).
    pub admitted: AtomicU64,
    /// Newcomers judged no more frequent than the victim (they went).
    pub rejected: AtomicU64,
}

impl TinyLfu {
    /// Runs `f` on the current tables without locking (but on a thread's
    /// first use of a generation); `None` before eviction first built them.
    fn with<R>(&self, f: impl FnOnce(&Tables) -> R) -> Option<R> {
        let live = self.live.load(Relaxed);
        if live == 0 {
            return None;
        }
        CACHED.with(|c| {
            let mut c = c.borrow_mut();
            if c.as_ref().map(|t| t.id) != Some(live) {
                c.clone_from(&self.tables.lock());
            }
            c.as_deref().map(f)
        })
    }

    /// Counts an access to the key with hash `h`.
    pub fn record(&self, h: u64) {
        self.with(|t| t.sketch.record(h));
    }

    /// Puts a newly inserted key in the window.
    pub fn inserted(&self, n: Newcomer) {
        self.with(|t| t.window.push(n));
    }

    /// The sketch's estimate for the key with hash `h` (`None`: no tables yet).
    pub fn estimate(&self, h: u64) -> Option<u8> {
        self.with(|t| t.sketch.estimate(h))
    }

    /// The tables for a keyspace of `keys` keys at capacity (the eviction
    /// path's view), built or rebuilt when they do not fit it.
    pub fn fit(&self, keys: u64) -> Arc<Tables> {
        let mut cur = self.tables.lock();
        if let Some(t) = cur.as_ref().filter(|t| t.fits(keys)) {
            return t.clone();
        }
        let t = Arc::new(Tables::new(keys));
        *cur = Some(t.clone());
        self.live.store(t.id, Relaxed);
        t
    }

    /// Drops the tables (the policy is no longer TinyLFU); threads let go of
    /// their references on their next use.
    pub fn clear(&self) {
        if self.live.swap(0, Relaxed) != 0 {
            *self.tables.lock() = None;
        }
    }

    /// Bytes the current tables hold.
    pub fn bytes(&self) -> usize {
        self.tables.lock().as_ref().map_or(0, |t| {
            t.sketch.bytes() + t.window.cells.len() * std::mem::size_of::<Cell>()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed, well-mixed hash (splitmix64's finaliser).
    fn hash(i: u64) -> u64 {
        let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn estimates_follow_counts_and_saturate() {
        let s = Sketch::new(4096);
        for i in 0..1000u64 {
            for _ in 0..(i % 8) {
                s.record(hash(i));
            }
        }
        let exact = (0..1000u64)
            .filter(|&i| s.estimate(hash(i)) == (i % 8) as u8)
            .count();
        // Count-min never underestimates; with 16 counters per key of
        // capacity nearly all of 1000 keys read exactly.
        assert!((0..1000u64).all(|i| s.estimate(hash(i)) >= (i % 8) as u8));
        assert!(exact >= 950, "{exact} of 1000 exact");
        for _ in 0..100 {
            s.record(hash(5000));
        }
        assert_eq!(s.estimate(hash(5000)), 15);
        assert_eq!(s.estimate(hash(99_999)), 0);
    }

    #[test]
    fn aging_halves_counters_after_the_period() {
        let s = Sketch::new(1024);
        let (hot, warm) = (hash(1), hash(2));
        for _ in 0..13 {
            s.record(hot);
        }
        s.record(warm);
        assert_eq!((s.estimate(hot), s.estimate(warm)), (13, 1));
        // The addition that completes the period halves every counter.
        s.additions.store(s.period - 1, Relaxed);
        s.record(hash(3));
        assert_eq!(s.estimate(hot), 6);
        assert_eq!(s.estimate(warm), 0);
        assert_eq!(s.additions.load(Relaxed), s.period / 2);
        // Saturated keys do not advance the period.
        for _ in 0..40 {
            s.record(hot);
        }
        assert_eq!(s.additions.load(Relaxed), s.period / 2 + 9);
    }

    #[test]
    fn window_holds_the_newest_and_yields_older_ones_in_order() {
        let w = Window::new(1000); // 10 in the window, 64 cells
        let n = |i: u64| Newcomer {
            hash: i,
            db: (i % 3) as usize,
            slot: i as u16,
        };
        for i in 0..10 {
            w.push(n(i));
        }
        assert_eq!(w.next_to_judge(), None, "all still in the window");
        for i in 10..13 {
            w.push(n(i));
        }
        assert_eq!(w.next_to_judge(), Some(n(0)));
        assert_eq!(w.next_to_judge(), Some(n(1)));
        assert_eq!(w.next_to_judge(), Some(n(2)));
        assert_eq!(w.next_to_judge(), None);
        // Far more insertions than the ring holds (memory was not full):
        // the overwritten ones were admitted, judging resumes at the oldest kept.
        for i in 13..1013 {
            w.push(n(i));
        }
        assert_eq!(w.next_to_judge(), Some(n(1013 - 64)));
    }

    #[test]
    fn tables_are_rebuilt_only_on_a_large_change() {
        let lfu = TinyLfu::default();
        assert_eq!(lfu.estimate(hash(1)), None);
        let t = lfu.fit(50_000);
        lfu.record(hash(1));
        assert_eq!(lfu.estimate(hash(1)), Some(1));
        assert!(Arc::ptr_eq(&t, &lfu.fit(60_000)));
        assert!(Arc::ptr_eq(&t, &lfu.fit(20_000)));
        let bigger = lfu.fit(200_000);
        assert!(!Arc::ptr_eq(&t, &bigger));
        assert_eq!(
            lfu.estimate(hash(1)),
            Some(0),
            "a new generation starts empty"
        );
        lfu.clear();
        assert_eq!(lfu.estimate(hash(1)), None);
        assert_eq!(lfu.bytes(), 0);
    }
}
