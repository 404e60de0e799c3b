//! The eviction loop: when `used_memory` exceeds `maxmemory`, sample keys, keep a
//! small pool of the best candidates (Redis's eviction pool), and remove the best
//! until enough memory is estimated free.

use super::evict::{self, Policy};
use super::keyspace::{Keyspace, Removal};
use super::memory::MemoryGauge;
use crate::cluster::slot::SLOTS;

/// Candidates kept between sampling rounds.
const POOL_SIZE: usize = 16;
/// Per-key bookkeeping outside key and value bytes (table slot, entry, allocator).
const ENTRY_OVERHEAD: u64 = 64;

/// Memory could not be brought under `maxmemory`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("OOM command not allowed when used memory > 'maxmemory'.")]
pub struct OutOfMemory;

struct Candidate {
    score: u64,
    db: usize,
    key: Box<[u8]>,
}

/// Brings memory under `maxmemory` by evicting keys as `policy` says; returns the
/// number of keys evicted, or `OutOfMemory` when over the limit with nothing to evict.
pub fn free_memory(
    ks: &Keyspace,
    gauge: &MemoryGauge,
    maxmemory: u64,
    samples: usize,
    now_ms: u64,
) -> Result<u64, OutOfMemory> {
    if maxmemory == 0 {
        return Ok(0);
    }
    let used = gauge.used();
    if used <= maxmemory {
        return Ok(0);
    }
    let policy = ks.policy();
    if policy == Policy::NoEviction {
        return Err(OutOfMemory);
    }
    let mut to_free = used - maxmemory;
    let mut pool: Vec<Candidate> = Vec::with_capacity(POOL_SIZE + samples);
    let mut evicted = 0;
    while to_free > 0 {
        let Some((db, key)) = next_victim(ks, policy, samples.max(1), now_ms, &mut pool) else {
            // Nothing left to evict: re-read the real figure before giving up.
            return if gauge.refresh() > maxmemory {
                Err(OutOfMemory)
            } else {
                Ok(evicted)
            };
        };
        if let Some(e) = ks
            .lock_key(db, &key, now_ms)
            .remove_for(&key, Removal::Evicted)
        {
            let freed = key.len() as u64 + e.value.heap_size() as u64 + ENTRY_OVERHEAD;
            to_free = to_free.saturating_sub(freed);
            evicted += 1;
        }
    }
    gauge.refresh();
    Ok(evicted)
}

/// Picks the next key to evict: random policies take a random sample; the others
/// refill the pool with fresh samples and take its best candidate.
fn next_victim(
    ks: &Keyspace,
    policy: Policy,
    samples: usize,
    now_ms: u64,
    pool: &mut Vec<Candidate>,
) -> Option<(usize, Box<[u8]>)> {
    let volatile = policy.volatile_only();
    let random = matches!(policy, Policy::AllKeysRandom | Policy::VolatileRandom);
    for _ in 0..ks.db_count() * 2 + 2 {
        let dbs: Vec<usize> = (0..ks.db_count())
            .filter(|&d| {
                if volatile {
                    ks.db(d).volatile_len() > 0
                } else {
                    !ks.db(d).is_empty()
                }
            })
            .collect();
        if dbs.is_empty() {
            return None;
        }
        let take = if random { 1 } else { samples };
        for _ in 0..take {
            let db = dbs[fastrand::usize(..dbs.len())];
            if let Some(c) = sample(ks, db, policy, volatile, now_ms) {
                if !pool.iter().any(|p| p.db == c.db && p.key == c.key) {
                    pool.push(c);
                }
            }
        }
        if random {
            if let Some(c) = pool.pop() {
                return Some((c.db, c.key));
            }
            continue;
        }
        pool.sort_unstable_by_key(|c| std::cmp::Reverse(c.score));
        pool.truncate(POOL_SIZE);
        while !pool.is_empty() {
            let c = pool.remove(0);
            // A pooled key may have gone since it was sampled.
            if ks.lock_key(c.db, &c.key, now_ms).peek(&c.key).is_some() {
                return Some((c.db, c.key));
            }
        }
    }
    None
}

/// One random key of `db` (with a TTL when `volatile`), scored for `policy`.
fn sample(
    ks: &Keyspace,
    db: usize,
    policy: Policy,
    volatile: bool,
    now_ms: u64,
) -> Option<Candidate> {
    let start = fastrand::usize(..SLOTS);
    for i in 0..SLOTS {
        let slot = ((start + i) % SLOTS) as u16;
        let g = ks.lock_slot(db, slot, now_ms);
        let n = if volatile { g.volatile_len() } else { g.len() };
        if n == 0 {
            continue;
        }
        let pick = fastrand::usize(..g.len());
        let found = g
            .nth(pick)
            .filter(|(_, e)| !volatile || e.is_volatile())
            .or_else(|| {
                if volatile {
                    g.iter().find(|(_, e)| e.is_volatile())
                } else {
                    None
                }
            });
        let (key, e) = found?;
        return Some(Candidate {
            score: evict::score(policy, e.access, e.expire_at),
            db,
            key: key.into(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keyspace::NoSink;
    use crate::store::value::Value;
    use std::sync::Arc;

    #[test]
    fn noeviction_reports_oom() {
        let ks = Keyspace::new(1, Arc::new(NoSink));
        let gauge = MemoryGauge::new();
        assert_eq!(free_memory(&ks, &gauge, 1, 5, 0), Err(OutOfMemory));
    }

    #[test]
    fn volatile_policy_spares_persistent_keys() {
        let ks = Keyspace::new(1, Arc::new(NoSink));
        ks.set_policy(Policy::VolatileRandom);
        for i in 0..50 {
            let k = format!("p{i}");
            ks.lock_key(0, k.as_bytes(), 0)
                .set(k.as_bytes(), Value::string(b"x"), Some(0));
        }
        let gauge = MemoryGauge::new();
        // 1 byte of maxmemory can never be met: only the persistent keys remain.
        assert_eq!(free_memory(&ks, &gauge, 1, 5, 0), Err(OutOfMemory));
        assert_eq!(ks.db(0).len(), 50);
    }

    #[test]
    fn lru_evicts_until_nothing_left_when_limit_unreachable() {
        let ks = Keyspace::new(1, Arc::new(NoSink));
        ks.set_policy(Policy::AllKeysLru);
        for i in 0..100 {
            let k = format!("k{i}");
            ks.lock_key(0, k.as_bytes(), 0)
                .set(k.as_bytes(), Value::string(b"x"), Some(0));
        }
        let gauge = MemoryGauge::new();
        assert_eq!(free_memory(&ks, &gauge, 1, 5, 0), Err(OutOfMemory));
        assert_eq!(ks.db(0).len(), 0);
        assert_eq!(
            ks.stats.evicted.load(std::sync::atomic::Ordering::Relaxed),
            100
        );
    }
}
