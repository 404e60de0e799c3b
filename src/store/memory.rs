//! `used_memory`: bytes allocated through jemalloc, read from its statistics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use tikv_jemalloc_ctl::{epoch, epoch_mib, stats};

/// How long a reading is trusted by `used()`: a refresh costs a few
/// microseconds, and a write burst within a stale reading's life overshoots
/// `maxmemory` (1 ms let four pipelining writers pass the limit by 5%).
const CACHE_US: u64 = 200;
/// `read_at_us` before the first reading.
const NEVER: u64 = u64::MAX;
/// A thread that allocated this much since it last looked refreshes even a
/// young reading: one command that grew a value by 200 KB must be seen by the
/// next command's `maxmemory` check, however soon it comes.
const GREW_BYTES: u64 = 64 * 1024;

thread_local! {
    /// jemalloc's counter of bytes this thread allocated, and its value when
    /// this thread last consulted the gauge.
    static THREAD_ALLOCATED: (Option<tikv_jemalloc_ctl::thread::ThreadLocal<u64>>, std::cell::Cell<u64>) =
        (tikv_jemalloc_ctl::thread::allocatedp::read().ok(), std::cell::Cell::new(0));
}

/// True when this thread allocated `GREW_BYTES` or more since it last asked
/// (a pointer read: cheap enough for every command).
fn this_thread_grew() -> bool {
    THREAD_ALLOCATED.with(|(counter, seen)| {
        let Some(now) = counter.map(|c| c.get()) else {
            return false;
        };
        if now.wrapping_sub(seen.get()) >= GREW_BYTES {
            seen.set(now);
            true
        } else {
            false
        }
    })
}

/// Where readings come from: jemalloc, or a function (unit tests, which run on
/// the system allocator and need a figure they control).
enum Source {
    Jemalloc,
    Func(Box<dyn Fn() -> u64 + Send + Sync>),
}

/// A cached reading of jemalloc's allocated bytes. Refreshing needs an epoch
/// advance, so hot paths read the cache and refresh at most every `CACHE_US`.
pub struct MemoryGauge {
    cached: AtomicU64,
    read_at_us: AtomicU64,
    source: Source,
}

impl std::fmt::Debug for MemoryGauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryGauge")
            .field("cached", &self.cached.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Default for MemoryGauge {
    fn default() -> Self {
        Self::new()
    }
}

/// Microseconds on a monotonic clock: a cached reading must expire even when
/// the wall clock steps back.
fn now_us() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_micros() as u64
}

/// The two control names resolved once: a by-name lookup costs more than the read.
fn mibs() -> Option<&'static (epoch_mib, stats::allocated_mib)> {
    static MIBS: OnceLock<Option<(epoch_mib, stats::allocated_mib)>> = OnceLock::new();
    MIBS.get_or_init(|| Some((epoch::mib().ok()?, stats::allocated::mib().ok()?)))
        .as_ref()
}

fn jemalloc_allocated() -> u64 {
    mibs()
        .and_then(|(e, a)| e.advance().ok().and_then(|_| a.read().ok()))
        .unwrap_or(0) as u64
}

impl MemoryGauge {
    /// A gauge reading jemalloc, with no reading yet.
    pub fn new() -> Self {
        Self::with_source(Source::Jemalloc)
    }

    /// A gauge whose readings come from `f` (tests that need a controlled figure).
    pub fn from_fn(f: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Self::with_source(Source::Func(Box::new(f)))
    }

    fn with_source(source: Source) -> Self {
        MemoryGauge {
            cached: AtomicU64::new(0),
            // Never read yet: the process clock may still be under `CACHE_US`.
            read_at_us: AtomicU64::new(NEVER),
            source,
        }
    }

    /// After a write on this thread: when it allocated `GREW_BYTES` or more
    /// since the thread last looked, the cached reading is dropped, so the
    /// next `maxmemory` check (on any thread) reads afresh.
    pub fn note_growth(&self) {
        if matches!(self.source, Source::Jemalloc) && this_thread_grew() {
            self.read_at_us.store(NEVER, Ordering::Relaxed);
        }
    }

    /// Reads the allocator's statistics now (an epoch advance: a few microseconds).
    pub fn refresh(&self) -> u64 {
        let bytes = match &self.source {
            Source::Jemalloc => jemalloc_allocated(),
            Source::Func(f) => f(),
        };
        self.cached.store(bytes, Ordering::Relaxed);
        self.read_at_us.store(now_us(), Ordering::Relaxed);
        bytes
    }

    /// The last reading if it is under `CACHE_US` old, else a fresh one.
    pub fn used(&self) -> u64 {
        let at = self.read_at_us.load(Ordering::Relaxed);
        if at != NEVER && now_us().saturating_sub(at) < CACHE_US {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn used_serves_the_cache_while_it_is_fresh() {
        let n = Arc::new(AtomicU64::new(100));
        let src = n.clone();
        let g = MemoryGauge::from_fn(move || src.load(Ordering::Relaxed));
        assert_eq!(g.refresh(), 100);
        n.store(200, Ordering::Relaxed);
        // Read right after the refresh: still the cached figure (unless this
        // thread was descheduled meanwhile, in which case it is fresh).
        let v = g.used();
        assert!(v == 100 || v == 200, "{v}");
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(g.used(), 200);
        n.store(300, Ordering::Relaxed);
        assert_eq!(g.refresh(), 300);
    }

    #[test]
    fn jemalloc_gauge_reads_without_error() {
        // The test binary allocates through the system allocator, so jemalloc's
        // own figure is small but the control names must resolve.
        assert!(mibs().is_some());
        let g = MemoryGauge::new();
        let _ = g.refresh();
    }
}
