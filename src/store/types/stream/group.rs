//! Consumer groups: the last delivered id, the read counter, the pending
//! entries list (PEL: id → owner, delivery time and count) and the
//! consumers, each with its own set of pending ids. The group's PEL names
//! the owner; the owner's set lists the same ids, as Redis keeps both.

use std::collections::{BTreeMap, BTreeSet};

use super::StreamId;

/// A pending (delivered, not acknowledged) entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    /// Last delivery, unix ms.
    pub delivery_time: i64,
    /// Deliveries so far.
    pub delivery_count: u64,
    /// The consumer that owns it.
    pub consumer: Box<[u8]>,
}

/// A consumer of a group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Consumer {
    /// Last time it was seen (unix ms).
    pub seen_time: i64,
    /// The ids it owns in the group's PEL.
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The greatest id delivered.
    pub last_id: StreamId,
    /// Entries read, when known (-1: unknown).
    pub entries_read: i64,
    /// Pending entries by id.
    pub pel: BTreeMap<StreamId, Nack>,
    /// Consumers by name.
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl Group {
    /// A group starting after `last_id`.
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Creates consumer `name` seen at `now`; false when it exists.
    pub fn create_consumer(&mut self, name: &[u8], now: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.into(),
            Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Looks consumer `name` up, refreshing its seen time; creates it when
    /// missing. True when it was created.
    pub fn touch_consumer(&mut self, name: &[u8], now: i64) -> bool {
        match self.consumers.get_mut(name) {
            Some(c) => {
                c.seen_time = now;
                false
            }
            None => self.create_consumer(name, now),
        }
    }

    /// Deletes consumer `name` and its pending entries; how many it had,
    /// `None` when there is no such consumer.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Acknowledges `id`; true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(n) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&n.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Records `id` as delivered to `consumer` now (a new pending entry, or
    /// one taken over from another consumer with its count reset).
    pub fn deliver(&mut self, id: StreamId, consumer: &[u8], now: i64) {
        if let Some(old) = self.pel.get(&id).map(|n| n.consumer.clone()) {
            if let Some(c) = self.consumers.get_mut(&old) {
                c.pel.remove(&id);
            }
        }
        self.pel.insert(
            id,
            Nack {
                delivery_time: now,
                delivery_count: 1,
                consumer: consumer.into(),
            },
        );
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }

    /// Gives pending entry `id` to `consumer` (which exists), as XCLAIM does.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8]) {
        let Some(n) = self.pel.get_mut(&id) else {
            return;
        };
        if *n.consumer != *consumer {
            if let Some(c) = self.consumers.get_mut(&n.consumer) {
                c.pel.remove(&id);
            }
            n.consumer = consumer.into();
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }

    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        let consumers: usize = self
            .consumers
            .iter()
            .map(|(n, c)| n.len() + 48 + c.pel.len() * 24)
            .sum();
        96 + self.pel.len() * 80 + consumers
    }
}
