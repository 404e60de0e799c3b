//! `used_memory`: bytes allocated through jemalloc, read from its statistics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tikv_jemalloc_ctl::{epoch, stats};

/// A cached reading of jemalloc's allocated bytes. Refreshing needs an epoch
/// advance, so hot paths read the cache and refresh at most once per millisecond.
#[derive(Debug, Default)]
pub struct MemoryGauge {
    cached: AtomicU64,
    read_at_us: AtomicU64,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl MemoryGauge {
    /// A gauge with no reading yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads jemalloc's statistics now.
    pub fn refresh(&self) -> u64 {
        let bytes = epoch::advance()
            .ok()
            .and_then(|_| stats::allocated::read().ok())
            .unwrap_or(0) as u64;
        self.cached.store(bytes, Ordering::Relaxed);
        self.read_at_us.store(now_us(), Ordering::Relaxed);
        bytes
    }

    /// The last reading if it is under a millisecond old, else a fresh one.
    pub fn used(&self) -> u64 {
        if now_us().saturating_sub(self.read_at_us.load(Ordering::Relaxed)) < 1000 {
            self.cached.load(Ordering::Relaxed)
        } else {
            self.refresh()
        }
    }

    /// Resident bytes jemalloc holds from the OS (`used_memory_rss` falls back to it).
    pub fn resident(&self) -> u64 {
        epoch::advance()
            .ok()
            .and_then(|_| stats::resident::read().ok())
            .unwrap_or(0) as u64
    }
}

/// Resident set size of this process from /proc (0 when unavailable).
pub fn process_rss() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
