//! The eviction loop: when `used_memory` exceeds `maxmemory`, sample keys, keep a
//! small pool of the best candidates between calls (Redis's `evictionPoolPopulate`
//! and `EvictionPoolLRU`), and remove the best until the allocator's figure is
//! back under the limit.
//!
//! Memory is tracked as Redis does it: an estimate of the bytes each eviction
//! frees decides when to look again, and a fresh allocator reading (every
//! `REFRESH_EVERY` evictions at most) decides whether to go on. The estimate alone
//! would drift (hash tables keep their capacity, size classes round up); the
//! readings alone would cost an epoch advance per key.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::access::{self, Policy};
use super::keyspace::{hash_key, Keyspace, Removal, SlotGuard};
use super::memory::MemoryGauge;
use super::record::Record;

/// Candidates kept between sampling rounds (Redis's `EVPOOL_SIZE`).
const POOL_SIZE: usize = 16;
/// Per-key bytes freed besides the record's footprint (the key's share of
/// its table); a guess corrected by the next reading.
const ENTRY_OVERHEAD: u64 = 16;
/// Most evictions between two allocator readings inside one call.
const REFRESH_EVERY: u32 = 64;
/// Longest one call evicts; the next command carries on (Redis limits a cycle too,
/// so one client is not stalled behind a large backlog of evictions).
const TIME_LIMIT: Duration = Duration::from_millis(5);
/// Sampling rounds tried before concluding there is nothing to evict.
const MAX_TRIES: usize = 16;
/// Bits of a TinyLFU score that hold idle ticks (348 years of 10 ms).
const IDLE_BITS: u32 = 40;

/// Memory could not be brought under `maxmemory`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("OOM command not allowed when used memory > 'maxmemory'.")]
pub struct OutOfMemory;

#[derive(Debug)]
struct Candidate {
    score: u64,
    db: usize,
    key: Box<[u8]>,
}

/// The best eviction candidates seen so far, worst first and best last, so the
/// next victim is popped from the end. Kept in the keyspace across calls.
#[derive(Debug, Default)]
pub struct EvictionPool {
    policy: Option<Policy>,
    entries: Vec<Candidate>,
}

impl EvictionPool {
    /// Scores of different policies do not compare: start over on a change.
    fn reset_for(&mut self, policy: Policy) {
        if self.policy != Some(policy) {
            self.entries.clear();
            self.policy = Some(policy);
        }
    }

    /// Adds a candidate when the pool has room or it beats the worst entry.
    fn offer(&mut self, score: u64, db: usize, key: &[u8]) {
        let full = self.entries.len() >= POOL_SIZE;
        if full && self.entries.first().is_some_and(|w| score <= w.score) {
            return;
        }
        if let Some(i) = self
            .entries
            .iter()
            .position(|c| c.db == db && *c.key == *key)
        {
            self.entries.remove(i);
        } else if full {
            self.entries.remove(0);
        }
        let at = self.entries.partition_point(|c| c.score < score);
        self.entries.insert(
            at,
            Candidate {
                score,
                db,
                key: key.into(),
            },
        );
    }

    fn pop_best(&mut self) -> Option<Candidate> {
        self.entries.pop()
    }

    fn best_score(&self) -> Option<u64> {
        self.entries.last().map(|c| c.score)
    }

    fn reinsert(&mut self, c: Candidate) {
        let at = self.entries.partition_point(|e| e.score < c.score);
        self.entries.insert(at, c);
        if self.entries.len() > POOL_SIZE {
            self.entries.remove(0);
        }
    }
}

/// Brings memory under `maxmemory` by evicting keys as the keyspace's policy says;
/// returns the number of keys evicted, or `OutOfMemory` when over the limit with
/// nothing left to evict. Must not be called while holding a slot lock.
pub fn free_memory(
    ks: &Keyspace,
    gauge: &MemoryGauge,
    maxmemory: u64,
    samples: usize,
    now_ms: u64,
) -> Result<u64, OutOfMemory> {
    if maxmemory == 0 || gauge.used() <= maxmemory {
        return Ok(0);
    }
    // Over on a cached figure: decide on a fresh one, so a write right after a
    // DEL that made room is not refused (the slow path can afford the read).
    if gauge.refresh() <= maxmemory {
        return Ok(0);
    }
    let policy = ks.policy();
    if policy == Policy::NoEviction {
        return Err(OutOfMemory);
    }
    let mut pool = ks.eviction_pool.lock();
    pool.reset_for(policy);
    let started = Instant::now();
    let mut evicted = 0;
    // Read again: another connection may have evicted while this one waited.
    let mut used = gauge.used();
    while used > maxmemory {
        let mut to_free = used - maxmemory;
        let mut batch = 0;
        while to_free > 0 && batch < REFRESH_EVERY {
            let Some(freed) = evict_one(ks, &mut pool, policy, samples.max(1), now_ms) else {
                return if gauge.refresh() > maxmemory {
                    Err(OutOfMemory)
                } else {
                    Ok(evicted)
                };
            };
            to_free = to_free.saturating_sub(freed);
            batch += 1;
            evicted += 1;
        }
        used = gauge.refresh();
        if started.elapsed() > TIME_LIMIT {
            break;
        }
    }
    Ok(evicted)
}

/// Evicts one key chosen by `policy`; returns the estimated bytes freed, or `None`
/// when no candidate exists.
fn evict_one(
    ks: &Keyspace,
    pool: &mut EvictionPool,
    policy: Policy,
    samples: usize,
    now_ms: u64,
) -> Option<u64> {
    if policy.is_random() {
        random_victim(ks, policy.volatile_only(), now_ms)
    } else if policy.is_tinylfu() {
        admission_victim(ks, pool, policy, samples, now_ms)
    } else {
        pooled_victim(ks, pool, policy, samples, now_ms)
    }
}

fn candidates_in(ks: &Keyspace, db: usize, volatile: bool) -> u64 {
    let d = ks.db(db);
    if volatile {
        d.volatile_len()
    } else {
        d.len()
    }
}

/// A database chosen with probability proportional to its candidate count, so
/// random eviction is uniform over keys rather than over databases.
fn weighted_db(ks: &Keyspace, volatile: bool) -> Option<usize> {
    let total: u64 = (0..ks.db_count())
        .map(|d| candidates_in(ks, d, volatile))
        .sum();
    if total == 0 {
        return None;
    }
    let mut r = fastrand::u64(..total);
    for d in 0..ks.db_count() {
        let n = candidates_in(ks, d, volatile);
        if r < n {
            return Some(d);
        }
        r -= n;
    }
    // The counts moved between the two passes; any database with keys will do.
    (0..ks.db_count()).find(|&d| candidates_in(ks, d, volatile) > 0)
}

/// allkeys-random / volatile-random: one random key of a random non-empty slot.
fn random_victim(ks: &Keyspace, volatile: bool, now_ms: u64) -> Option<u64> {
    for _ in 0..MAX_TRIES {
        let db = weighted_db(ks, volatile)?;
        let Some(slot) = ks.db(db).random_slot(volatile) else {
            continue;
        };
        let mut g = ks.lock_slot(db, slot, now_ms);
        let n = g.len();
        if n == 0 {
            continue;
        }
        let key: Option<Box<[u8]>> = g
            .entries_from(fastrand::usize(..n))
            .find(|(_, e)| !volatile || e.is_volatile())
            .map(|(k, _)| k.into());
        if let Some(k) = key {
            if let Some(freed) = evict_key(&mut g, &k) {
                return Some(freed);
            }
        }
    }
    None
}

/// Pool policies: sample every database into the pool, then evict the best
/// candidate that still exists and still scores as well as when it was sampled.
fn pooled_victim(
    ks: &Keyspace,
    pool: &mut EvictionPool,
    policy: Policy,
    samples: usize,
    now_ms: u64,
) -> Option<u64> {
    match judged_victim(ks, pool, policy, samples, now_ms, |_, _| true) {
        Judged::Evicted(freed) => Some(freed),
        Judged::Spared | Judged::Nothing => None,
    }
}

/// What became of the pool's best victim.
enum Judged {
    /// It was evicted, freeing about this many bytes.
    Evicted(u64),
    /// The judge spared it; it went back to the pool.
    Spared,
    /// No candidate exists.
    Nothing,
}

/// `pooled_victim`, with the last word to `evict(db, key)`: false spares the
/// victim (back to the pool, as the best candidate it still is).
fn judged_victim(
    ks: &Keyspace,
    pool: &mut EvictionPool,
    policy: Policy,
    samples: usize,
    now_ms: u64,
    mut evict: impl FnMut(usize, &[u8]) -> bool,
) -> Judged {
    let volatile = policy.volatile_only();
    for _ in 0..MAX_TRIES {
        let mut any = false;
        for db in 0..ks.db_count() {
            if candidates_in(ks, db, volatile) > 0 {
                any = true;
                populate(ks, pool, db, policy, samples, now_ms);
            }
        }
        if !any {
            return Judged::Nothing;
        }
        for _ in 0..2 * POOL_SIZE {
            let Some(c) = pool.pop_best() else {
                break;
            };
            let mut g = ks.lock_key(c.db, &c.key, now_ms);
            // Gone (deleted, expired) or no longer a candidate since sampled.
            let Some(e) = g.peek(&c.key).filter(|e| !volatile || e.is_volatile()) else {
                continue;
            };
            let fresh = score_of(ks, policy, &c.key, e);
            if fresh < c.score && pool.best_score().is_some_and(|b| fresh < b) {
                // Read since it was sampled: no longer the best candidate.
                drop(g);
                pool.reinsert(Candidate { score: fresh, ..c });
                continue;
            }
            if !evict(c.db, &c.key) {
                drop(g);
                pool.reinsert(Candidate { score: fresh, ..c });
                return Judged::Spared;
            }
            if let Some(freed) = evict_key(&mut g, &c.key) {
                return Judged::Evicted(freed);
            }
        }
    }
    Judged::Nothing
}

/// allkeys-tinylfu / volatile-tinylfu: the oldest newcomer that has left the
/// window meets the pool's best victim (the sampled key the sketch saw least
/// often, the longest idle of those), and the one the sketch saw less often
/// goes; a tie keeps the resident (a one-off key, such as a scan's, then
/// never displaces one that was asked for before). A newcomer is judged once:
/// kept, it is an ordinary key. With no newcomer waiting, the victim goes.
fn admission_victim(
    ks: &Keyspace,
    pool: &mut EvictionPool,
    policy: Policy,
    samples: usize,
    now_ms: u64,
) -> Option<u64> {
    let tables = ks.tinylfu.fit(ks.total_keys());
    let volatile = policy.volatile_only();
    for _ in 0..MAX_TRIES {
        let Some(n) = tables.window.next_to_judge() else {
            break;
        };
        // Gone since (deleted, evicted, expired), or not a candidate: no contest.
        let Some(key) = ks
            .lock_slot(n.db, n.slot, now_ms)
            .key_with_hash(n.hash, volatile)
        else {
            continue;
        };
        let theirs = tables.sketch.estimate(n.hash);
        let mut admitted = false;
        let judged = judged_victim(ks, pool, policy, samples, now_ms, |db, victim| {
            let itself = (db, victim) == (n.db, &*key);
            admitted = !itself && theirs > tables.sketch.estimate(hash_key(victim));
            admitted || itself
        });
        if let Judged::Evicted(freed) = judged {
            let count = if admitted {
                &ks.tinylfu.admitted
            } else {
                &ks.tinylfu.rejected
            };
            count.fetch_add(1, Ordering::Relaxed);
            return Some(freed);
        }
        let mut g = ks.lock_slot(n.db, n.slot, now_ms);
        if let Some(freed) = evict_key(&mut g, &key) {
            ks.tinylfu.rejected.fetch_add(1, Ordering::Relaxed);
            return Some(freed);
        }
    }
    pooled_victim(ks, pool, policy, samples, now_ms)
}

/// Offers up to `samples` keys of `db` to the pool, taken in runs from random
/// slots as Redis's `dictGetSomeKeys` takes runs of buckets.
fn populate(
    ks: &Keyspace,
    pool: &mut EvictionPool,
    db: usize,
    policy: Policy,
    samples: usize,
    now_ms: u64,
) {
    let volatile = policy.volatile_only();
    let mut taken = 0;
    for _ in 0..samples {
        let Some(slot) = ks.db(db).random_slot(volatile) else {
            return;
        };
        let g = ks.lock_slot(db, slot, now_ms);
        let n = g.len();
        if n == 0 {
            continue;
        }
        let run = g
            .entries_from(fastrand::usize(..n))
            .filter(|(_, e)| !volatile || e.is_volatile())
            .take(samples - taken);
        for (k, e) in run {
            pool.offer(score_of(ks, policy, k, e), db, k);
            taken += 1;
        }
        if taken >= samples {
            return;
        }
    }
}

/// A candidate's score. Under TinyLFU the sketch ranks first (the least
/// often asked for goes first, the W-TinyLFU main region's purpose) and idle
/// time breaks ties; 0-15 in the top bits, ticks (capped) below.
fn score_of(ks: &Keyspace, policy: Policy, key: &[u8], e: &Record) -> u64 {
    let idle = access::score(policy, e.access(), e.expire_at());
    if !policy.is_tinylfu() {
        return idle;
    }
    let freq = ks.frequency(key).unwrap_or(0) as u64;
    ((15 - freq) << IDLE_BITS) | idle.min((1 << IDLE_BITS) - 1)
}

/// Removes `key` as evicted (the sink propagates a DEL and the counter moves);
/// returns the estimated bytes freed.
fn evict_key(g: &mut SlotGuard<'_>, key: &[u8]) -> Option<u64> {
    let e = g.remove_for(key, Removal::Evicted)?;
    Some(e.footprint() as u64 + ENTRY_OVERHEAD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keyspace::NoSink;
    use crate::store::{Entry, Value};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    /// Bytes the fake gauge charges per key: at most what `evict_key` estimates for
    /// the test keys, so a batch never overshoots and the counts are exact.
    const PER_KEY: u64 = 40;

    fn keyspace(policy: Policy) -> Arc<Keyspace> {
        let ks = Arc::new(Keyspace::new(2, Arc::new(NoSink)));
        ks.set_policy(policy);
        ks
    }

    /// A gauge that reads `PER_KEY` bytes for every key in the keyspace.
    fn gauge(ks: &Arc<Keyspace>) -> MemoryGauge {
        let ks = ks.clone();
        MemoryGauge::from_fn(move || ks.total_keys() * PER_KEY)
    }

    fn put(ks: &Keyspace, db: usize, key: &str, expire_at: u64, access: u32) {
        let entry = Entry {
            value: Value::string(b"some value"),
            expire_at,
            access,
        };
        ks.lock_key(db, key.as_bytes(), 0)
            .put_entry(key.as_bytes(), entry);
    }

    /// Calls `free_memory` as consecutive commands would, until it is done (one
    /// call stops at `TIME_LIMIT`, which a debug build can reach).
    fn evict_all(
        ks: &Keyspace,
        g: &MemoryGauge,
        max: u64,
        samples: usize,
        now: u64,
    ) -> Result<u64, OutOfMemory> {
        let mut total = 0;
        loop {
            match free_memory(ks, g, max, samples, now)? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    fn ago(now: u32, secs: u32) -> u32 {
        now.wrapping_sub(secs.wrapping_mul(access::LRU_TICKS_PER_SEC))
    }

    fn exists(ks: &Keyspace, db: usize, key: &str) -> bool {
        ks.lock_key(db, key.as_bytes(), 0).contains(key.as_bytes())
    }

    fn evicted(ks: &Keyspace) -> u64 {
        ks.stats.evicted.load(Ordering::Relaxed)
    }

    #[test]
    fn noeviction_reports_oom() {
        let ks = keyspace(Policy::NoEviction);
        put(&ks, 0, "k", 0, 0);
        let g = gauge(&ks);
        assert_eq!(evict_all(&ks, &g, 1, 5, 0), Err(OutOfMemory));
        assert_eq!(ks.total_keys(), 1);
    }

    #[test]
    fn under_the_limit_nothing_happens() {
        let ks = keyspace(Policy::AllKeysLru);
        for i in 0..10 {
            put(&ks, 0, &format!("k{i}"), 0, 0);
        }
        let g = gauge(&ks);
        assert_eq!(evict_all(&ks, &g, 10 * PER_KEY, 5, 0), Ok(0));
        assert_eq!(evict_all(&ks, &g, 0, 5, 0), Ok(0));
        assert_eq!(ks.total_keys(), 10);
    }

    #[test]
    fn evicts_down_to_the_limit_and_not_far_below() {
        for (policy, _) in Policy::ALL {
            if policy == Policy::NoEviction {
                continue;
            }
            let ks = keyspace(policy);
            for i in 0..1000u32 {
                // Every key volatile so the volatile policies have candidates too.
                put(
                    &ks,
                    i as usize % 2,
                    &format!("k{i}"),
                    u64::MAX / 2 + i as u64,
                    0,
                );
            }
            let g = gauge(&ks);
            let got = evict_all(&ks, &g, 400 * PER_KEY, 5, 0);
            assert_eq!(got, Ok(600), "{policy:?}");
            assert_eq!(ks.total_keys(), 400, "{policy:?}");
            assert_eq!(evicted(&ks), 600, "{policy:?}");
        }
    }

    #[test]
    fn volatile_policies_spare_persistent_keys_then_report_oom() {
        for policy in [
            Policy::VolatileLru,
            Policy::VolatileLfu,
            Policy::VolatileRandom,
            Policy::VolatileTtl,
            Policy::VolatileTinyLfu,
        ] {
            let ks = keyspace(policy);
            for i in 0..300u32 {
                let ttl = if i.is_multiple_of(3) { u64::MAX / 2 } else { 0 };
                put(&ks, 0, &format!("k{i}"), ttl, 0);
            }
            let g = gauge(&ks);
            // Room for 150 keys: the 100 volatile ones go, then nothing is left.
            assert_eq!(
                evict_all(&ks, &g, 150 * PER_KEY, 5, 0),
                Err(OutOfMemory),
                "{policy:?}"
            );
            assert_eq!(ks.total_keys(), 200, "{policy:?}");
            assert_eq!(ks.db(0).volatile_len(), 0, "{policy:?}");
            for i in (0..300u32).filter(|i| !i.is_multiple_of(3)) {
                assert!(exists(&ks, 0, &format!("k{i}")), "{policy:?} k{i}");
            }
        }
    }

    #[test]
    fn lru_keeps_recently_used_keys() {
        let ks = keyspace(Policy::AllKeysLru);
        let now = access::lru_clock();
        for i in 0..1000u32 {
            let access = if i.is_multiple_of(10) {
                now
            } else {
                ago(now, 1000)
            };
            put(&ks, 0, &format!("k{i}"), 0, access);
        }
        let g = gauge(&ks);
        assert_eq!(evict_all(&ks, &g, 500 * PER_KEY, 5, 0), Ok(500));
        for i in (0..1000).step_by(10) {
            assert!(exists(&ks, 0, &format!("k{i}")), "hot k{i} evicted");
        }
    }

    #[test]
    fn lfu_keeps_frequently_used_keys() {
        let ks = keyspace(Policy::AllKeysLfu);
        let cold = access::initial_access(Policy::AllKeysLfu);
        let hot = (cold & !0xFF) | 20;
        for i in 0..1000u32 {
            put(
                &ks,
                0,
                &format!("k{i}"),
                0,
                if i.is_multiple_of(10) { hot } else { cold },
            );
        }
        let g = gauge(&ks);
        assert_eq!(evict_all(&ks, &g, 500 * PER_KEY, 5, 0), Ok(500));
        for i in (0..1000).step_by(10) {
            assert!(exists(&ks, 0, &format!("k{i}")), "frequent k{i} evicted");
        }
    }

    /// Share of the first quarter of `0..n` (the best victims) still present.
    fn first_quarter_left(ks: &Keyspace, n: usize) -> usize {
        (0..n / 4)
            .filter(|i| exists(ks, 0, &format!("k{i}")))
            .count()
    }

    #[test]
    fn volatile_ttl_prefers_the_nearest_expiry() {
        let ks = keyspace(Policy::VolatileTtl);
        for i in 0..1000u64 {
            put(&ks, 0, &format!("k{i}"), 1_000_000_000_000 + i * 1000, 0);
        }
        let g = gauge(&ks);
        assert_eq!(evict_all(&ks, &g, 500 * PER_KEY, 5, 0), Ok(500));
        let left = first_quarter_left(&ks, 1000);
        // Random choice would leave about 125; sampling with a pool leaves ~10.
        assert!(left < 50, "{left} of the 250 nearest expiries survived");
    }

    #[test]
    fn fifo_prefers_the_oldest_insertion() {
        let ks = keyspace(Policy::AllKeysFifo);
        for i in 0..1000u32 {
            let k = format!("k{i}");
            ks.lock_key(0, k.as_bytes(), 0).set(
                k.as_bytes(),
                Value::string(b"some value"),
                Some(0),
            );
        }
        let g = gauge(&ks);
        assert_eq!(evict_all(&ks, &g, 500 * PER_KEY, 5, 0), Ok(500));
        let left = first_quarter_left(&ks, 1000);
        // Random choice would leave about 125; sampling with a pool leaves ~10.
        assert!(left < 50, "{left} of the 250 oldest survived");
    }

    /// Writes `k` after evicting down to 1,000 keys' worth, as the gate
    /// evicts before a write.
    fn write_within(ks: &Arc<Keyspace>, g: &MemoryGauge, k: &str) {
        evict_all(ks, g, 1000 * PER_KEY, 5, 0).expect("evicts");
        ks.lock_key(0, k.as_bytes(), 0)
            .set(k.as_bytes(), Value::string(b"some value"), Some(0));
        // As a server's write drops the gauge's cached reading.
        g.refresh();
    }

    /// Hot keys read a few times, then a one-pass scan of ten times the
    /// capacity, evicting before each write as the gate does; returns the
    /// hot keys left.
    fn hot_keys_after_a_scan(policy: Policy) -> usize {
        let ks = keyspace(policy);
        // Tables exist from the first eviction on; start them now so the
        // hot keys' reads are counted.
        ks.tinylfu.fit(1000);
        let g = gauge(&ks);
        let write = |k: &str| write_within(&ks, &g, k);
        for i in 0..500 {
            write(&format!("hot{i}"));
        }
        for _ in 0..3 {
            for i in 0..500 {
                let k = format!("hot{i}");
                assert!(ks.lock_key(0, k.as_bytes(), 0).get(k.as_bytes()).is_some());
            }
        }
        for i in 0..10_000 {
            write(&format!("scan{i}"));
        }
        (0..500)
            .filter(|i| exists(&ks, 0, &format!("hot{i}")))
            .count()
    }

    #[test]
    fn tinylfu_keeps_hot_keys_through_a_scan_that_lru_lets_in() {
        let lru = hot_keys_after_a_scan(Policy::AllKeysLru);
        let tinylfu = hot_keys_after_a_scan(Policy::AllKeysTinyLfu);
        // LRU keeps what is newest (scan keys); the sketch saw each scan key
        // once and each hot key four times, so no scan key displaces one.
        assert!(lru < 250, "LRU kept {lru} of 500 hot keys");
        assert!(
            tinylfu >= 490,
            "TinyLFU kept only {tinylfu} of 500 hot keys"
        );
    }

    #[test]
    fn tinylfu_admits_a_newcomer_asked_for_more_than_the_victim() {
        let ks = keyspace(Policy::AllKeysTinyLfu);
        let tables = ks.tinylfu.fit(1000);
        let g = gauge(&ks);
        for i in 0..1000 {
            put(&ks, 0, &format!("k{i}"), 0, 0);
        }
        // A newcomer read often while in the window, then past it.
        let fresh = |k: &str| write_within(&ks, &g, k);
        fresh("popular");
        for _ in 0..5 {
            ks.lock_key(0, b"popular", 0).get(b"popular");
        }
        // Past the window and the insertions still waiting in the ring.
        for i in 0..4 * tables.window_size() + 64 {
            fresh(&format!("once{i}"));
        }
        evict_all(&ks, &g, 1000 * PER_KEY, 5, 0).expect("evicts");
        assert!(
            exists(&ks, 0, "popular"),
            "the popular newcomer was rejected"
        );
        let admitted = ks.tinylfu.admitted.load(Ordering::Relaxed);
        let rejected = ks.tinylfu.rejected.load(Ordering::Relaxed);
        assert!(admitted >= 1, "admitted {admitted}");
        assert!(rejected >= 1, "rejected {rejected}");
        assert_eq!(
            admitted + rejected,
            evicted(&ks),
            "each contest evicts one key"
        );
    }

    #[test]
    fn stale_pool_entries_are_rescored_before_eviction() {
        let ks = keyspace(Policy::AllKeysLru);
        let now = access::lru_clock();
        put(&ks, 0, "old", 0, ago(now, 500));
        put(&ks, 0, "newer", 0, ago(now, 100));
        let mut pool = EvictionPool::default();
        pool.reset_for(Policy::AllKeysLru);
        let secs = |n: u64| n * access::LRU_TICKS_PER_SEC as u64;
        pool.offer(secs(1000), 0, b"old");
        pool.offer(secs(100), 0, b"newer");
        // "old" was sampled as idle 1000 s; it is 500 s idle now, still the best.
        assert_eq!(
            pooled_victim(&ks, &mut pool, Policy::AllKeysLru, 1, 0),
            Some(
                Record::new(b"old", Value::string(b"some value"), 0, 0).footprint() as u64
                    + ENTRY_OVERHEAD
            )
        );
        assert!(!exists(&ks, 0, "old"));
        // A pooled key that was read since is put back rather than evicted.
        put(&ks, 0, "touched", 0, now);
        pool.offer(secs(2000), 0, b"touched");
        assert!(pooled_victim(&ks, &mut pool, Policy::AllKeysLru, 1, 0).is_some());
        assert!(exists(&ks, 0, "touched"));
        assert!(!exists(&ks, 0, "newer"));
    }

    #[test]
    fn pool_keeps_the_best_sorted_and_unique() {
        let mut pool = EvictionPool::default();
        pool.reset_for(Policy::AllKeysLru);
        for i in 0..40u64 {
            pool.offer(i % 20, 0, format!("k{i}").as_bytes());
        }
        pool.offer(19, 0, b"k19");
        assert_eq!(pool.entries.len(), POOL_SIZE);
        assert!(pool.entries.windows(2).all(|w| w[0].score <= w[1].score));
        assert!(pool.entries.iter().all(|c| c.score >= 12));
        assert_eq!(pool.entries.iter().filter(|c| &*c.key == b"k19").count(), 1);
        pool.reset_for(Policy::AllKeysLfu);
        assert!(pool.entries.is_empty());
    }

    #[test]
    fn ghosts_are_skipped_and_empty_keyspace_is_oom() {
        let ks = keyspace(Policy::AllKeysLru);
        put(&ks, 0, "real", 0, 0);
        let mut pool = EvictionPool::default();
        pool.reset_for(Policy::AllKeysLru);
        pool.offer(u64::MAX, 0, b"ghost");
        assert!(pooled_victim(&ks, &mut pool, Policy::AllKeysLru, 5, 0).is_some());
        assert_eq!(ks.total_keys(), 0);
        let g = gauge(&ks);
        assert_eq!(evict_all(&ks, &g, 1, 5, 0), Ok(0));
        let always_over = MemoryGauge::from_fn(|| 10);
        assert_eq!(free_memory(&ks, &always_over, 1, 5, 0), Err(OutOfMemory));
    }

    #[test]
    fn sparse_and_dense_keyspaces_evict_quickly() {
        // Two keys: the old slot-by-slot scan locked thousands of empty slots per sample.
        for n in [2usize, 20_000] {
            let ks = keyspace(Policy::AllKeysLru);
            for i in 0..n {
                put(&ks, 0, &format!("k{i}"), 0, 0);
            }
            let g = gauge(&ks);
            let t = Instant::now();
            let want = (n as u64).div_ceil(2);
            assert_eq!(
                evict_all(&ks, &g, (n as u64 - want) * PER_KEY, 5, 0),
                Ok(want)
            );
            // Generous for a loaded debug build; the per-eviction cost is microseconds.
            let per_key = t.elapsed() / want as u32;
            assert!(
                per_key < Duration::from_millis(1),
                "{n} keys: {per_key:?} per eviction"
            );
        }
    }

    #[test]
    fn eviction_notifies_the_sink() {
        struct Count(std::sync::atomic::AtomicUsize);
        impl crate::store::KeyEventSink for Count {
            fn removed(&self, _: usize, _: &[u8], why: Removal) {
                assert_eq!(why, Removal::Evicted);
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let sink = Arc::new(Count(Default::default()));
        let ks = Arc::new(Keyspace::new(1, sink.clone()));
        ks.set_policy(Policy::AllKeysRandom);
        for i in 0..10 {
            put(&ks, 0, &format!("k{i}"), 0, 0);
        }
        let g = gauge(&ks);
        assert_eq!(evict_all(&ks, &g, 4 * PER_KEY, 5, 0), Ok(6));
        assert_eq!(sink.0.load(Ordering::Relaxed), 6);
    }
}
