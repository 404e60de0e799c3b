//! A keyspace entry: a value with its expiry and eviction metadata.

use super::types::Value;

/// One key's record in a slot table.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Absolute expiry in unix milliseconds; 0 means no TTL.
    pub expire_at: u64,
    /// Eviction metadata: LRU clock, LFU time+counter, or FIFO sequence (see `access`).
    pub access: u32,
}

impl Entry {
    /// True when the entry has a TTL.
    pub fn is_volatile(&self) -> bool {
        self.expire_at != 0
    }

    /// True when the entry's TTL has passed at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }
}
