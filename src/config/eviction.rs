//! `maxmemory-policy`: the eviction policies and their names. The store's
//! eviction acts on them (`store::access::Policy` is this type).

/// Eviction policy (`maxmemory-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EvictionPolicy {
    /// Refuse writes with OOM.
    NoEviction = 0,
    /// Least recently used, any key.
    AllKeysLru,
    /// Least frequently used, any key.
    AllKeysLfu,
    /// Random key.
    AllKeysRandom,
    /// Least recently used among keys with a TTL.
    VolatileLru,
    /// Least frequently used among keys with a TTL.
    VolatileLfu,
    /// Random key with a TTL.
    VolatileRandom,
    /// Nearest expiry first.
    VolatileTtl,
    /// Oldest insertion first, any key.
    AllKeysFifo,
    /// ringcache's W-TinyLFU: a newcomer past the window stays only if a
    /// frequency sketch saw it more often than the sampled victim; any key.
    AllKeysTinyLfu,
    /// `AllKeysTinyLfu` among keys with a TTL.
    VolatileTinyLfu,
}

impl EvictionPolicy {
    /// All policies with their configuration names.
    pub const ALL: [(EvictionPolicy, &'static str); 11] = [
        (EvictionPolicy::NoEviction, "noeviction"),
        (EvictionPolicy::AllKeysLru, "allkeys-lru"),
        (EvictionPolicy::AllKeysLfu, "allkeys-lfu"),
        (EvictionPolicy::AllKeysRandom, "allkeys-random"),
        (EvictionPolicy::VolatileLru, "volatile-lru"),
        (EvictionPolicy::VolatileLfu, "volatile-lfu"),
        (EvictionPolicy::VolatileRandom, "volatile-random"),
        (EvictionPolicy::VolatileTtl, "volatile-ttl"),
        (EvictionPolicy::AllKeysFifo, "allkeys-fifo"),
        (EvictionPolicy::AllKeysTinyLfu, "allkeys-tinylfu"),
        (EvictionPolicy::VolatileTinyLfu, "volatile-tinylfu"),
    ];

    /// Parses a configuration name (case-insensitive).
    pub fn parse(name: &str) -> Option<EvictionPolicy> {
        Self::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(p, _)| *p)
    }

    /// The configuration name.
    pub fn name(self) -> &'static str {
        Self::ALL[self as usize].1
    }

    pub(crate) fn from_u8(v: u8) -> EvictionPolicy {
        Self::ALL
            .get(v as usize)
            .map_or(EvictionPolicy::NoEviction, |(p, _)| *p)
    }

    /// True for the LFU policies.
    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu
        )
    }

    /// True for the admission-filtered policies (a frequency sketch judges
    /// newcomers; `Entry::access` is the LRU clock, as under LRU).
    pub fn is_tinylfu(self) -> bool {
        matches!(
            self,
            EvictionPolicy::AllKeysTinyLfu | EvictionPolicy::VolatileTinyLfu
        )
    }

    /// True for the policies that pick victims at random (no pool, no score).
    pub fn is_random(self) -> bool {
        matches!(
            self,
            EvictionPolicy::AllKeysRandom | EvictionPolicy::VolatileRandom
        )
    }

    /// True when only keys with a TTL are candidates.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
                | EvictionPolicy::VolatileTinyLfu
        )
    }
}

/// `maxmemory-policy` words, in the order Redis lists them in its error.
pub(super) const POLICY_WORDS: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
    "allkeys-fifo",
    "allkeys-tinylfu",
    "volatile-tinylfu",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_round_trip() {
        for (p, n) in EvictionPolicy::ALL {
            assert_eq!(EvictionPolicy::parse(n), Some(p));
            assert_eq!(p.name(), n);
            assert_eq!(EvictionPolicy::from_u8(p as u8), p);
        }
        assert_eq!(
            EvictionPolicy::parse("ALLKEYS-LRU"),
            Some(EvictionPolicy::AllKeysLru)
        );
        assert_eq!(EvictionPolicy::parse("bogus"), None);
    }

    #[test]
    fn error_words_are_the_policy_names() {
        let mut words = POLICY_WORDS.to_vec();
        let mut names: Vec<&str> = EvictionPolicy::ALL.iter().map(|(_, n)| *n).collect();
        words.sort_unstable();
        names.sort_unstable();
        assert_eq!(words, names);
    }
}
