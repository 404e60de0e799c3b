//! The keyspace's side of TinyLFU (see `store::tinylfu`): what the hot path
//! tells the sketch and the window, and the lookup by hash the eviction path
//! uses to find a newcomer again. Under the other policies each hook is one
//! test of the policy the caller already loaded.

use super::{hash_key, Keyspace, SlotGuard};
use crate::store::access::Policy;
use crate::store::tinylfu::Newcomer;

impl Keyspace {
    /// Counts an access to `key` in the sketch under a TinyLFU policy.
    #[inline]
    pub(super) fn seen(&self, policy: Policy, key: &[u8]) {
        if policy.is_tinylfu() {
            self.tinylfu.record(hash_key(key));
        }
    }

    /// `seen` for a key whose hash the caller has.
    #[inline]
    pub(super) fn seen_hash(&self, policy: Policy, h: u64) {
        if policy.is_tinylfu() {
            self.tinylfu.record(h);
        }
    }

    /// Puts a key just created in the window under a TinyLFU policy.
    #[inline]
    pub(super) fn newcomer(&self, policy: Policy, hash: u64, db: usize, slot: u16) {
        if policy.is_tinylfu() {
            self.tinylfu.inserted(Newcomer { hash, db, slot });
        }
    }

    /// The sketch's estimate of how often `key` was asked for lately (0–15;
    /// `None` when no TinyLFU tables exist: another policy, or nothing was
    /// evicted yet).
    pub fn frequency(&self, key: &[u8]) -> Option<u8> {
        self.tinylfu.estimate(hash_key(key))
    }
}

impl SlotGuard<'_> {
    /// The name of the key of this slot whose hash is `h` (a key with a TTL
    /// when `volatile`), expired or not.
    pub(crate) fn key_with_hash(&self, h: u64, volatile: bool) -> Option<Box<[u8]>> {
        self.table
            .map
            .find(h, |r| hash_key(r.key()) == h)
            .filter(|r| !volatile || r.is_volatile())
            .map(|r| r.key().into())
    }
}
