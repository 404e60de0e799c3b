//! Picking a random key of a database (RANDOMKEY). Dense databases are sampled
//! by random slot; sparse ones by a uniform pick over a full walk. As in every
//! walk, one slot lock is held at a time and never across an `.await`.

use super::keyspace::Keyspace;
use crate::slot::SLOTS;

/// Random slots probed before falling back to a counting walk.
const RANDOM_PROBES: usize = 16;

/// Random slots a replica probes before it answers a key that may be
/// logically expired (Redis's `dbRandomKey` gives up after 100 tries).
const REPLICA_PROBES: usize = 100;

/// Counting walks tried when keys vanish under one (expiry, other clients).
const WALK_TRIES: usize = 3;

impl Keyspace {
    /// A random live key of `db`, for a primary. Expired keys met on the way
    /// are deleted (the removal sink is told, as Redis deletes the expired keys
    /// RANDOMKEY draws), so an all-expired database ends in `None` rather than
    /// a loop.
    pub fn random_key(&self, db: usize, now: u64) -> Option<Box<[u8]>> {
        let mut key = None;
        if self.db(db).len() as usize >= SLOTS {
            key = (0..RANDOM_PROBES)
                .find_map(|_| self.random_in_slot(db, fastrand::u16(..SLOTS as u16), now));
        }
        for _ in 0..WALK_TRIES {
            if key.is_some() {
                break;
            }
            let total = self.db(db).len() as usize;
            if total == 0 {
                break;
            }
            key = self.nth_key_walk(db, fastrand::usize(..total), now);
        }
        key
    }

    /// A random live key of slot `slot`, purging its expired keys first.
    fn random_in_slot(&self, db: usize, slot: u16, now: u64) -> Option<Box<[u8]>> {
        let mut g = self.lock_slot(db, slot, now);
        if g.is_empty() {
            return None;
        }
        g.purge_all_expired();
        let n = g.len();
        (n > 0)
            .then(|| g.nth(fastrand::usize(..n)).map(|(k, _)| Box::from(k)))
            .flatten()
    }

    /// The `r`-th live key counting over all slots, or None when fewer exist.
    fn nth_key_walk(&self, db: usize, mut r: usize, now: u64) -> Option<Box<[u8]>> {
        for slot in 0..SLOTS as u16 {
            let mut g = self.lock_slot(db, slot, now);
            if g.is_empty() {
                continue;
            }
            g.purge_all_expired();
            if r < g.len() {
                return g.nth(r).map(|(k, _)| Box::from(k));
            }
            r -= g.len();
        }
        None
    }

    /// A random key of `db` for a replica, which must delete nothing: expiry
    /// reaches it as the primary's DEL. A live key when one is met; else, as
    /// Redis does rather than loop or answer nil, a logically expired one (in a
    /// dense database only when every key has a TTL, Redis's condition).
    pub fn random_key_keeping_expired(&self, db: usize, now: u64) -> Option<Box<[u8]>> {
        let mut expired = None;
        if self.db(db).len() as usize >= SLOTS {
            for _ in 0..REPLICA_PROBES {
                let g = self.lock_slot(db, fastrand::u16(..SLOTS as u16), now);
                let live = g.iter().count();
                if live > 0 {
                    return g
                        .iter()
                        .nth(fastrand::usize(..live))
                        .map(|(k, _)| Box::from(k));
                }
                if expired.is_none() && !g.is_empty() {
                    expired = g.nth(fastrand::usize(..g.len())).map(|(k, _)| Box::from(k));
                }
            }
            // Redis gives up only when every key has a TTL; otherwise it keeps
            // drawing until it meets a key without one, which the walk finds.
            let d = self.db(db);
            if expired.is_some() && d.volatile_len() == d.len() {
                return expired;
            }
        }
        self.uniform_pick(db, now).or(expired)
    }

    /// One walk, picking uniformly (reservoir sampling) among the live keys,
    /// and among the expired ones in case no key is live.
    fn uniform_pick(&self, db: usize, now: u64) -> Option<Box<[u8]>> {
        let (mut live, mut dead) = (0usize, 0usize);
        let (mut pick, mut expired) = (None, None);
        for slot in 0..SLOTS as u16 {
            let g = self.lock_slot(db, slot, now);
            if g.is_empty() {
                continue;
            }
            for (k, e) in g.entries_from(0) {
                if !e.is_expired(now) {
                    live += 1;
                    if fastrand::usize(..live) == 0 {
                        pick = Some(Box::from(k));
                    }
                } else if live == 0 {
                    dead += 1;
                    if fastrand::usize(..dead) == 0 {
                        expired = Some(Box::from(k));
                    }
                }
            }
        }
        pick.or(expired)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::store::keyspace::{Keyspace, NoSink};
    use crate::store::Value;

    #[test]
    fn replica_randomkey_deletes_nothing() {
        let ks = &Keyspace::new(1, Arc::new(NoSink));
        let put = |k: &str, expire_at: Option<u64>| {
            ks.lock_key(0, k.as_bytes(), 0)
                .set(k.as_bytes(), Value::int(1), expire_at);
        };
        let pick = || ks.random_key_keeping_expired(0, 1000);
        assert_eq!(pick(), None);
        for i in 0..50 {
            put(&format!("gone{i}"), Some(1));
        }
        let got = pick().expect("an expired key, as Redis answers");
        assert!(got.starts_with(b"gone"), "{got:?}");
        put("live", None);
        for _ in 0..50 {
            assert_eq!(pick().as_deref(), Some(&b"live"[..]));
        }
        // Dense: sampled by random slot; a key without a TTL is still found.
        for i in 0..20_000 {
            put(&format!("dense{i}"), Some(1));
        }
        for _ in 0..5 {
            assert_eq!(pick().as_deref(), Some(&b"live"[..]));
        }
        ks.lock_key(0, b"live", 0).remove(b"live");
        for _ in 0..20 {
            assert!(pick().is_some_and(|k| !k.starts_with(b"live")));
        }
        assert_eq!(ks.db(0).len(), 20_050, "nothing was deleted");
    }

    #[test]
    fn primary_randomkey_deletes_the_expired_keys_it_meets() {
        let ks = Keyspace::new(1, Arc::new(NoSink));
        for i in 0..50 {
            let k = format!("k{i}");
            ks.lock_key(0, k.as_bytes(), 0)
                .set(k.as_bytes(), Value::int(i), Some(1));
        }
        assert_eq!(ks.random_key(0, 1000), None);
        assert_eq!(ks.db(0).len(), 0);
    }
}
