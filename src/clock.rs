//! The two clocks. Wall time (`unix_ms`) is for what other processes and files
//! share: TTLs are absolute unix milliseconds in commands, RDB files and the
//! replication stream. Monotonic time (`monotonic_ms`) is for durations that
//! must not move when the wall clock is stepped: the cluster's write lease and
//! failure detection, the LRU clock, cached readings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds (the wall clock; it can step backwards).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Milliseconds on a clock that never goes backwards. It starts at the unix
/// time of its first reading, so its values read like unix milliseconds (for
/// logs and CLUSTER NODES) while a step of the wall clock leaves it alone.
pub fn monotonic_ms() -> u64 {
    static START: OnceLock<(Instant, u64)> = OnceLock::new();
    let (at, unix) = START.get_or_init(|| (Instant::now(), unix_ms()));
    unix + at.elapsed().as_millis() as u64
}

/// Microseconds on the monotonic clock, from an arbitrary origin: for
/// timing one command (command statistics, the slow log), read twice per
/// command, where `Instant::elapsed`'s checked `Duration` arithmetic cost
/// more than the clock read itself.
pub fn monotonic_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// How often `coarse_monotonic_ms` is refreshed.
const COARSE_STEP: std::time::Duration = std::time::Duration::from_millis(2);

/// `monotonic_ms` as of at most 2 ms ago, from a cache a ticker thread
/// refreshes: for per-key access stamps (the LRU clock ticks every 10 ms),
/// read on every lookup, where a clock read costs more than the lookup's
/// own work. Redis caches its LRU clock the same way (in its cron).
pub fn coarse_monotonic_ms() -> u64 {
    static NOW: AtomicU64 = AtomicU64::new(0);
    static TICKER: Once = Once::new();
    TICKER.call_once(|| {
        NOW.store(monotonic_ms(), Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("coarse-clock".into())
            .spawn(|| loop {
                std::thread::sleep(COARSE_STEP);
                NOW.store(monotonic_ms(), Ordering::Relaxed);
            });
        if spawned.is_err() {
            // No ticker: every reading goes to the clock (0 marks it).
            NOW.store(0, Ordering::Relaxed);
        }
    });
    match NOW.load(Ordering::Relaxed) {
        0 => monotonic_ms(),
        t => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_starts_near_unix_time_and_never_goes_back() {
        let a = monotonic_ms();
        assert!(a.abs_diff(unix_ms()) < 1000, "{a} vs {}", unix_ms());
        let mut last = a;
        for _ in 0..1000 {
            let t = monotonic_ms();
            assert!(t >= last);
            last = t;
        }
    }

    #[test]
    fn microseconds_advance_with_the_monotonic_clock() {
        let (a, t) = (monotonic_us(), Instant::now());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (b, spent) = (monotonic_us(), t.elapsed().as_micros() as u64);
        assert!(b > a);
        assert!(
            (b - a).abs_diff(spent) < 5_000,
            "{} us vs {spent} us",
            b - a
        );
    }

    #[test]
    fn the_coarse_clock_follows_the_monotonic_one() {
        let c = coarse_monotonic_ms();
        assert!(
            c.abs_diff(monotonic_ms()) <= 50,
            "{c} vs {}",
            monotonic_ms()
        );
        std::thread::sleep(std::time::Duration::from_millis(30));
        let later = coarse_monotonic_ms();
        assert!(later >= c + 20, "{c} then {later}");
    }
}
