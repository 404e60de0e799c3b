//! Walking one database's live keys slot by slot: a cursor's page (SCAN) and a
//! full pass (KEYS). A walk holds one slot lock at a time, released before the
//! next slot is locked, and is synchronous, so no lock is held across an
//! `.await`. Expired keys are skipped, not deleted: a walk only reads.

use super::keyspace::Keyspace;
use super::record::Record;
use crate::slot::SLOTS;

impl Keyspace {
    /// One step of a cursor walk over `db` (SCAN). The cursor is the slot to
    /// resume at (0 starts the walk); whole slots are visited, in order, until
    /// `visit` has taken `budget` keys or the last slot is done. Returns the
    /// cursor to resume at, 0 once the walk is complete (also for a cursor past
    /// the last slot, which visits nothing).
    ///
    /// `visit` sees each live key under its slot's lock (it must not lock
    /// another slot) and says whether it took it. Because slots are visited
    /// whole, a key present for the whole walk is reported at least once.
    pub fn scan_keys(
        &self,
        db: usize,
        cursor: u64,
        budget: usize,
        now: u64,
        mut visit: impl FnMut(&[u8], &Record) -> bool,
    ) -> u64 {
        let mut taken = 0;
        let mut slot = cursor.min(SLOTS as u64) as usize;
        while slot < SLOTS && taken < budget {
            let g = self.lock_slot(db, slot as u16, now);
            taken += g.iter().filter(|(k, e)| visit(k, e)).count();
            slot += 1;
        }
        if slot >= SLOTS {
            0
        } else {
            slot as u64
        }
    }

    /// Visits every live key of `db` (KEYS), slot by slot, each under its
    /// slot's lock (`visit` must not lock another slot).
    pub fn for_each_key(&self, db: usize, now: u64, mut visit: impl FnMut(&[u8], &Record)) {
        for slot in 0..SLOTS as u16 {
            let g = self.lock_slot(db, slot, now);
            for (k, e) in g.iter() {
                visit(k, e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use crate::slot::key_slot;
    use crate::store::keyspace::{Keyspace, NoSink};
    use crate::store::Value;

    /// A keyspace holding `n` keys `k0…`, and the expired key `gone`.
    fn filled(n: usize) -> Keyspace {
        let ks = Keyspace::new(1, Arc::new(NoSink));
        for i in 0..n {
            let k = format!("k{i}");
            ks.lock_key(0, k.as_bytes(), 0)
                .set(k.as_bytes(), Value::int(1), Some(0));
        }
        ks.lock_key(0, b"gone", 0)
            .set(b"gone", Value::int(1), Some(5));
        ks
    }

    #[test]
    fn scan_steps_visit_every_live_key_once_and_end_at_zero() {
        let ks = filled(300);
        let (mut cursor, mut steps) = (0, 0);
        let mut seen = HashSet::new();
        loop {
            cursor = ks.scan_keys(0, cursor, 7, 10, |k, _| {
                assert!(seen.insert(k.to_vec()), "visited twice: {k:?}");
                true
            });
            steps += 1;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 300, "every live key, not the expired one");
        assert!(steps > 10, "the budget bounds each step ({steps} steps)");
        assert_eq!(ks.db(0).len(), 301, "the expired key is left in place");
    }

    #[test]
    fn scan_budget_counts_taken_keys_and_finishes_the_slot() {
        let ks = Keyspace::new(1, Arc::new(NoSink));
        let slot = key_slot(b"{t}");
        for k in [&b"{t}a"[..], b"{t}b", b"{t}c"] {
            ks.lock_key(0, k, 0).set(k, Value::int(1), Some(0));
        }
        let mut taken = Vec::new();
        let next = ks.scan_keys(0, slot as u64, 1, 0, |k, _| {
            taken.push(k.to_vec());
            true
        });
        assert_eq!(taken.len(), 3, "the whole slot, past the budget");
        assert_eq!(next, slot as u64 + 1);
        // A filter that takes nothing walks on to the end.
        assert_eq!(ks.scan_keys(0, 0, 1, 0, |_, _| false), 0);
    }

    #[test]
    fn a_cursor_past_the_last_slot_visits_nothing() {
        let ks = filled(10);
        let mut visited = 0;
        assert_eq!(
            ks.scan_keys(0, u64::MAX, 10, 10, |_, _| {
                visited += 1;
                true
            }),
            0
        );
        assert_eq!(visited, 0);
    }

    #[test]
    fn for_each_key_sees_the_live_keys() {
        let ks = filled(50);
        let mut seen = HashSet::new();
        ks.for_each_key(0, 10, |k, _| {
            seen.insert(k.to_vec());
        });
        assert_eq!(seen.len(), 50);
        assert!(!seen.contains(&b"gone"[..]));
    }
}
