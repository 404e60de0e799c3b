//! Freeing large values away from the serving path (UNLINK, FLUSHALL/FLUSHDB
//! ASYNC and the `lazyfree-lazy-user-*` options): the value leaves the
//! keyspace under its lock as usual, and a background thread drops it, so a
//! 10 M-element set costs the command a channel send, not the free.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

use parking_lot::Mutex;

use super::record::Record;
#[cfg(test)]
use super::types::Value;

/// Values that cost less than this many frees to drop are dropped at once
/// (Redis's `LAZYFREE_THRESHOLD`): the hand-off would cost more.
pub const THRESHOLD: usize = 64;

/// Something to drop and how many objects it counts as in `INFO`.
type Garbage = (Box<dyn Send>, u64);

/// The background freer and its counters.
#[derive(Default)]
pub struct LazyFree {
    tx: Mutex<Option<Sender<Garbage>>>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    pending: AtomicU64,
    freed: AtomicU64,
}

impl LazyFree {
    /// Drops a removed key's `record` here when it is cheap, else on the
    /// background thread; true when it went to the background.
    pub fn free_record(&self, record: Record) -> bool {
        if record.value().free_effort() <= THRESHOLD {
            return false;
        }
        self.free_later(Box::new(record), 1);
        true
    }

    /// Drops `garbage` (counted as `objects`) on the background thread.
    pub fn free_later(&self, garbage: Box<dyn Send>, objects: u64) {
        self.counters.pending.fetch_add(objects, Ordering::Relaxed);
        let mut tx = self.tx.lock();
        let sender = tx.get_or_insert_with(|| self.spawn());
        if let Err(e) = sender.send((garbage, objects)) {
            // The thread is gone (it never panics on a drop; only at exit):
            // free here rather than lose the count.
            *tx = None;
            drop(e.0);
            self.finish(objects);
        }
    }

    fn spawn(&self) -> Sender<Garbage> {
        let (tx, rx) = channel::<Garbage>();
        let counters = self.counters.clone();
        let started = std::thread::Builder::new()
            .name("lazyfree".into())
            .spawn(move || {
                for (garbage, objects) in rx {
                    drop(garbage);
                    counters.pending.fetch_sub(objects, Ordering::Relaxed);
                    counters.freed.fetch_add(objects, Ordering::Relaxed);
                }
            });
        if started.is_err() {
            // No thread: the receiver is dropped, sends fail and free inline.
            return channel().0;
        }
        tx
    }

    fn finish(&self, objects: u64) {
        self.counters.pending.fetch_sub(objects, Ordering::Relaxed);
        self.counters.freed.fetch_add(objects, Ordering::Relaxed);
    }

    /// Objects handed off and not freed yet (`lazyfree_pending_objects`).
    pub fn pending(&self) -> u64 {
        self.counters.pending.load(Ordering::Relaxed)
    }

    /// Objects freed in the background (`lazyfreed_objects`).
    pub fn freed(&self) -> u64 {
        self.counters.freed.load(Ordering::Relaxed)
    }

    /// `CONFIG RESETSTAT`.
    pub fn reset_stats(&self) {
        self.counters.freed.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::types::{Hash, HashLimits, ValueType};

    #[test]
    fn small_values_drop_inline_large_ones_in_the_background() {
        let lf = LazyFree::default();
        assert!(!lf.free_record(Record::new(b"k", Value::string(b"x"), 0, 0)));
        let mut h = Hash::default();
        for i in 0..1000 {
            h.set(format!("f{i}").as_bytes(), b"v", HashLimits::default());
        }
        assert!(lf.free_record(Record::new(b"k", h.into_value(), 0, 0)));
        for _ in 0..1000 {
            if lf.pending() == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!((lf.pending(), lf.freed()), (0, 1));
        lf.reset_stats();
        assert_eq!(lf.freed(), 0);
    }
}
