//! Active expiry: a periodic cycle that removes keys whose TTL has passed even when
//! nobody reads them (lazy expiry handles the keys that are read).

use std::time::{Duration, Instant};

use super::keyspace::Keyspace;
use crate::slot::SLOTS;

/// Keys examined between checks of the expired ratio.
const SAMPLE: usize = 20;

/// Entries active expiry reads per slot lock: a crowded slot is visited in
/// steps, the lock released between them.
const STEP: usize = 512;

/// Where each database's cycle resumes, so successive cycles walk the whole ring.
#[derive(Debug, Default)]
pub struct ExpireCursor {
    next_slot: Vec<usize>,
}

impl ExpireCursor {
    /// A cursor starting at slot 0 of every database.
    pub fn new() -> Self {
        Self::default()
    }
}

/// One active-expiry cycle over every database: walks slots that hold volatile
/// keys, purging expired ones, and keeps going while more than 25% of what it
/// examined had expired, within `budget`. Returns the number of keys expired.
pub fn active_cycle(
    ks: &Keyspace,
    cursor: &mut ExpireCursor,
    now_ms: u64,
    budget: Duration,
) -> usize {
    let start = Instant::now();
    cursor.next_slot.resize(ks.db_count(), 0);
    let mut total = 0;
    for db in 0..ks.db_count() {
        if ks.db(db).volatile_len() == 0 {
            continue;
        }
        let (mut examined, mut expired) = (0usize, 0usize);
        for _ in 0..SLOTS {
            let slot = cursor.next_slot[db];
            cursor.next_slot[db] = (slot + 1) % SLOTS;
            // A crowded slot: further steps while they keep finding expired
            // keys, as Redis keeps sampling while a quarter has expired.
            loop {
                let (e, x) = {
                    // Its DELs must not land inside an EXEC's block in the stream.
                    let _hold = ks.isolation.shared();
                    ks.lock_slot(db, slot as u16, now_ms).purge_expired(STEP)
                };
                examined += e;
                expired += x;
                total += x;
                if e < STEP / 2 || x * 4 <= e || start.elapsed() >= budget {
                    break;
                }
            }
            if examined >= SAMPLE {
                if expired * 4 <= examined || start.elapsed() >= budget {
                    break;
                }
                examined = 0;
                expired = 0;
            }
        }
        if start.elapsed() >= budget {
            break;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keyspace::NoSink;
    use crate::store::Value;
    use std::sync::Arc;

    #[test]
    fn cycle_removes_expired_keys_only() {
        let ks = Keyspace::new(1, Arc::new(NoSink));
        for i in 0..1000 {
            let k = format!("k{i}");
            let exp = if i % 2 == 0 { 100 } else { 0 };
            ks.lock_key(0, k.as_bytes(), 0)
                .set(k.as_bytes(), Value::string(b"v"), Some(exp));
        }
        let mut cur = ExpireCursor::new();
        let mut removed = 0;
        for _ in 0..10 {
            removed += active_cycle(&ks, &mut cur, 200, Duration::from_millis(50));
        }
        assert_eq!(removed, 500);
        assert_eq!(ks.db(0).len(), 500);
        assert_eq!(ks.db(0).volatile_len(), 0);
    }

    #[test]
    fn a_crowded_slot_is_purged_in_steps_until_done() {
        let ks = Keyspace::new(1, Arc::new(NoSink));
        // One hash tag: 20,000 keys in one slot, a quarter of them expired,
        // the expired ones also past the first step.
        for i in 0..20_000 {
            let k = format!("{{t}}{i}");
            let exp = if i % 4 == 0 { 100 } else { 1_000_000 };
            ks.lock_key(0, k.as_bytes(), 0)
                .set(k.as_bytes(), Value::string(b"v"), Some(exp));
        }
        let slot = crate::slot::key_slot(b"{t}0");
        let (e, x) = ks.lock_slot(0, slot, 200).purge_expired(STEP);
        assert_eq!(e, STEP, "one step reads {STEP} entries, not the slot");
        assert!(x > 0 && x < STEP);
        let mut cur = ExpireCursor::new();
        let mut removed = x;
        for _ in 0..200 {
            removed += active_cycle(&ks, &mut cur, 200, Duration::from_millis(50));
        }
        assert_eq!(removed, 5000);
        assert_eq!(ks.db(0).len(), 15_000);
    }
}
