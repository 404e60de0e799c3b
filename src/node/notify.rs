//! Keyspace notifications: publishing an event of a class
//! `notify-keyspace-events` enables (classes in `config::keyspace_events`)
//! on `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>` as Redis does.

use std::sync::atomic::Ordering;

use super::mailbox::Limit;
use super::pubsub::{Delivery, Kind};
pub use crate::config::keyspace_events::*;

/// The two channels of an event: (`__keyspace@db__:key`, `__keyevent@db__:event`).
pub fn channels(db: usize, key: &[u8], event: &str) -> (Vec<u8>, Vec<u8>) {
    let prefix = |kind: &str| format!("__key{kind}@{db}__:").into_bytes();
    let mut space = prefix("space");
    space.extend_from_slice(key);
    let mut ev = prefix("event");
    ev.extend_from_slice(event.as_bytes());
    (space, ev)
}

impl super::Server {
    /// How a publish made now delivers (the pubsub output limit).
    pub fn delivery(&self, now_ms: u64) -> Delivery {
        let l = &self.hot.pubsub_limit;
        Delivery {
            limit: Limit {
                hard: l[0].load(Ordering::Relaxed),
                soft: l[1].load(Ordering::Relaxed),
                soft_ms: l[2].load(Ordering::Relaxed),
            },
            now_ms,
            count_mem: self.hot.client_eviction_limit.load(Ordering::Relaxed) > 0,
        }
    }

    /// Publishes keyspace event `event` of `class` on `key` in `db`, when
    /// `notify-keyspace-events` asks for it (one atomic load otherwise).
    pub fn notify_keyspace_event(&self, db: usize, class: u32, event: &str, key: &[u8]) {
        let flags = self.hot.notify_keyspace_events.load(Ordering::Relaxed);
        if flags & class == 0 || flags & (KEYSPACE | KEYEVENT) == 0 {
            return;
        }
        let (space, ev) = channels(db, key, event);
        let how = self.delivery(crate::clock::unix_ms());
        if flags & KEYSPACE != 0 {
            self.pubsub
                .publish(Kind::Channel, &space, event.as_bytes(), how);
        }
        if flags & KEYEVENT != 0 {
            self.pubsub.publish(Kind::Channel, &ev, key, how);
        }
    }
}
