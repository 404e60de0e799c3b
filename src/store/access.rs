//! The per-key access metadata the eviction policies read (LRU and LFU clocks,
//! the LFU counter, FIFO order) and each policy's score; `eviction` acts on it.
//!
//! `Entry::access` is one u32 whose meaning depends on the policy in force, as
//! Redis's 24-bit `lru` field does: the LRU clock (10 ms ticks) for LRU,
//! TinyLFU, random, TTL and noeviction; `minutes << 8 | log-counter` for LFU; an insertion
//! sequence number for FIFO.

use std::sync::atomic::{AtomicU32, Ordering};

/// LRU clock ticks per second. Redis counts whole seconds, which cannot tell a
/// hot key from one written in the same second; when memory turns over in under a
/// second (a fast cache under write load) LRU then degrades to random. 10 ms ticks
/// in 32 bits still wrap only after 497 days (Redis: 194).
pub const LRU_TICKS_PER_SEC: u32 = 100;
/// Counter a new key starts with under LFU, so it is not evicted at once.
pub const LFU_INIT_VAL: u8 = 5;

/// Eviction policy (`maxmemory-policy`); configuration parses it.
pub use crate::config::EvictionPolicy as Policy;

static FIFO_SEQ: AtomicU32 = AtomicU32::new(0);

/// The LRU and LFU clocks run on monotonic time: a step of the wall clock
/// must not make recently used keys look idle for years (or the reverse);
/// on its cached reading, as every key access stamps the clock.
fn now_ms() -> u64 {
    crate::clock::coarse_monotonic_ms()
}

/// The LRU clock (10 ms ticks, wrapping).
pub fn lru_clock() -> u32 {
    (now_ms() / (1000 / LRU_TICKS_PER_SEC as u64)) as u32
}

/// Redis's 24-bit seconds LRU clock, for `INFO server` `lru_clock`.
pub fn lru_clock_seconds() -> u32 {
    ((now_ms() / 1000) as u32) & ((1 << 24) - 1)
}

/// LRU ticks since `access`, with wrap-around.
pub fn idle_ticks(access: u32) -> u64 {
    lru_clock().wrapping_sub(access) as u64
}

/// Seconds since `access` under the LRU clock.
pub fn idle_seconds(access: u32) -> u64 {
    idle_ticks(access) / LRU_TICKS_PER_SEC as u64
}

/// The access value of a key last used `secs` seconds ago (RESTORE … IDLETIME).
pub fn access_idle_for(secs: u64) -> u32 {
    lru_clock().wrapping_sub((secs as u32).wrapping_mul(LRU_TICKS_PER_SEC))
}

fn lfu_minutes() -> u32 {
    ((now_ms() / 60_000) as u32) & 0xFFFF
}

/// The LFU counter after decay (what `OBJECT FREQ` shows), with 1-minute decay.
pub fn lfu_counter(access: u32) -> u8 {
    let counter = (access & 0xFF) as u8;
    let then = (access >> 8) & 0xFFFF;
    let now = lfu_minutes();
    let elapsed = if now >= then {
        now - then
    } else {
        65535 - then + now
    };
    counter.saturating_sub(elapsed.min(255) as u8)
}

/// Logarithmic increment with Redis's default `lfu-log-factor` of 10.
fn lfu_increment(counter: u8) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * 10.0 + 1.0);
    if fastrand::f64() < p {
        counter + 1
    } else {
        counter
    }
}

/// Metadata for a newly inserted key.
pub fn initial_access(policy: Policy) -> u32 {
    match policy {
        Policy::AllKeysLfu | Policy::VolatileLfu => (lfu_minutes() << 8) | LFU_INIT_VAL as u32,
        Policy::AllKeysFifo => FIFO_SEQ.fetch_add(1, Ordering::Relaxed),
        _ => lru_clock(),
    }
}

/// Updates metadata on access.
pub fn touch(access: &mut u32, policy: Policy) {
    match policy {
        Policy::AllKeysLfu | Policy::VolatileLfu => {
            let c = lfu_increment(lfu_counter(*access));
            *access = (lfu_minutes() << 8) | c as u32;
        }
        Policy::AllKeysFifo => {}
        _ => *access = lru_clock(),
    }
}

/// Eviction score: higher means evict sooner. `expire_at` is used by volatile-ttl.
pub fn score(policy: Policy, access: u32, expire_at: u64) -> u64 {
    match policy {
        Policy::AllKeysLru | Policy::VolatileLru => idle_ticks(access),
        // The victim finder is LRU; the sketch judges newcomers (see `tinylfu`).
        Policy::AllKeysTinyLfu | Policy::VolatileTinyLfu => idle_ticks(access),
        Policy::AllKeysLfu | Policy::VolatileLfu => 255 - lfu_counter(access) as u64,
        Policy::VolatileTtl => u64::MAX - expire_at,
        Policy::AllKeysFifo => FIFO_SEQ.load(Ordering::Relaxed).wrapping_sub(access) as u64,
        Policy::NoEviction | Policy::AllKeysRandom | Policy::VolatileRandom => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfu_counter_grows_logarithmically() {
        let mut a = initial_access(Policy::AllKeysLfu);
        assert_eq!(lfu_counter(a), LFU_INIT_VAL);
        for _ in 0..1000 {
            touch(&mut a, Policy::AllKeysLfu);
        }
        let c = lfu_counter(a);
        assert!(c > LFU_INIT_VAL && c < 40, "counter {c}");
    }

    #[test]
    fn fifo_scores_older_higher() {
        let a = initial_access(Policy::AllKeysFifo);
        let b = initial_access(Policy::AllKeysFifo);
        assert!(score(Policy::AllKeysFifo, a, 0) > score(Policy::AllKeysFifo, b, 0));
    }
}
