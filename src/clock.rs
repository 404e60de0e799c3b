//! The two clocks. Wall time (`unix_ms`) is for what other processes and files
//! share: TTLs are absolute unix milliseconds in commands, RDB files and the
//! replication stream. Monotonic time (`monotonic_ms`) is for durations that
//! must not move when the wall clock is stepped: the cluster's write lease and
//! failure detection, the LRU clock, cached readings.

use std::sync::OnceLock;
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
}
