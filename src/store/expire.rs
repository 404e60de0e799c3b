//! Active expiry: a periodic cycle that removes keys whose TTL has passed even when
//! nobody reads them (lazy expiry handles the keys that are read).

use std::time::{Duration, Instant};

use super::keyspace::Keyspace;
use crate::cluster::slot::SLOTS;

/// Keys examined between checks of the expired ratio.
const SAMPLE: usize = 20;

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
            let (e, x) = {
                // Its DELs must not land inside an EXEC's block in the stream.
                let _hold = ks.isolation.shared();
                ks.lock_slot(db, slot as u16, now_ms).purge_expired()
            };
            examined += e;
            expired += x;
            total += x;
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
    use crate::store::value::Value;
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
}
