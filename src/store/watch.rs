//! Keys WATCHed by clients, and the "key changed" signal that makes their
//! next EXEC fail (optimistic locking, Redis 7.0's rules).
//!
//! The keyspace reports a change of a key (a write, a TTL change, a removal
//! by DEL, expiry or eviction, FLUSH, SWAPDB) with [`Watched::touch`]; it costs
//! one atomic load while nobody watches. A client's [`Watches`] remembers
//! what it watches and whether one of those keys changed since; EXEC checks
//! it while it holds the keyspace alone.
//!
//! A key that had already expired (but was not yet removed) when it was
//! WATCHed is *stale*: removing it changes nothing a client could have read,
//! so only a write that brings it back to life counts, as in Redis.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// What happened to a watched key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    /// A write or a TTL change.
    Written,
    /// Removed (DEL, expiry, eviction, FLUSH, SWAPDB).
    Removed,
}

/// A key of a database.
type DbKey = (usize, Box<[u8]>);

/// Per database number, per key: keyed so a borrowed key looks one up
/// without a copy (a touch runs on every write while anyone watches).
type PerDb<V> = HashMap<usize, HashMap<Box<[u8]>, V>>;

/// One client's watch session: its keys and whether one changed.
#[derive(Debug, Default)]
struct Session {
    dirty: AtomicBool,
    /// Stale when watched, per key.
    keys: Mutex<PerDb<bool>>,
}

type Sessions = Vec<Arc<Session>>;

/// The registry of watched keys, per database number and key.
#[derive(Default)]
pub struct Watched {
    keys: Mutex<PerDb<Sessions>>,
    /// Watched (database, key) pairs over all clients: 0 means no work.
    count: AtomicUsize,
}

impl Watched {
    /// True when some client watches something.
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// `key` of database `db` changed as `how` says.
    pub fn touch(&self, db: usize, key: &[u8], how: Touch) {
        if !self.any() {
            return;
        }
        let map = self.keys.lock();
        let Some(sessions) = map.get(&db).and_then(|m| m.get(key)) else {
            return;
        };
        for s in sessions {
            let mut keys = s.keys.lock();
            match keys.get_mut(&db).and_then(|m| m.get_mut(key)) {
                // A stale key's removal changes nothing; after it the key is
                // an ordinary missing one.
                Some(stale) if *stale && how == Touch::Removed => *stale = false,
                _ => s.dirty.store(true, Ordering::Release),
            }
        }
    }

    /// Every watched key of `db`, for FLUSH and SWAPDB to check.
    pub fn keys_of(&self, db: usize) -> Vec<Box<[u8]>> {
        if !self.any() {
            return Vec::new();
        }
        self.keys
            .lock()
            .get(&db)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn add(&self, db: usize, key: &[u8], session: &Arc<Session>) {
        let mut map = self.keys.lock();
        let list = map
            .entry(db)
            .or_default()
            .entry(Box::from(key))
            .or_default();
        if !list.iter().any(|s| Arc::ptr_eq(s, session)) {
            list.push(session.clone());
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn remove(&self, db: usize, key: &[u8], session: &Arc<Session>) {
        let mut map = self.keys.lock();
        let Some(keys) = map.get_mut(&db) else {
            return;
        };
        if let Some(list) = keys.get_mut(key) {
            let before = list.len();
            list.retain(|s| !Arc::ptr_eq(s, session));
            if list.len() < before {
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
            if list.is_empty() {
                keys.remove(key);
            }
        }
        if keys.is_empty() {
            map.remove(&db);
        }
    }
}

/// A client's WATCH state; unwatches everything when dropped.
pub struct Watches {
    registry: Arc<Watched>,
    session: Arc<Session>,
    /// Keys watched, kept beside the table so reading it takes no lock
    /// (client eviction counts them after every batch).
    count: AtomicUsize,
}

impl Watches {
    /// An empty watch state over `registry`.
    pub fn new(registry: Arc<Watched>) -> Watches {
        Watches {
            registry,
            session: Arc::default(),
            count: AtomicUsize::new(0),
        }
    }

    /// Watches `key` of `db`; `stale` when it is stored but expired now.
    pub fn watch(&self, db: usize, key: &[u8], stale: bool) {
        let fresh = self
            .session
            .keys
            .lock()
            .entry(db)
            .or_default()
            .insert(Box::from(key), stale)
            .is_none();
        if fresh {
            self.registry.add(db, key, &self.session);
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The watched keys that were live when watched (EXEC checks whether
    /// one expired since).
    pub fn live_keys(&self) -> Vec<DbKey> {
        let keys = self.session.keys.lock();
        keys.iter()
            .flat_map(|(db, m)| m.iter().map(move |(k, stale)| (*db, k, *stale)))
            .filter(|(_, _, stale)| !stale)
            .map(|(db, k, _)| (db, k.clone()))
            .collect()
    }

    /// True when a watched key changed since it was watched.
    pub fn dirty(&self) -> bool {
        self.session.dirty.load(Ordering::Acquire)
    }

    /// Number of keys watched (CLIENT LIST `watch=`).
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// True when nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every key and the dirty flag (EXEC, DISCARD, UNWATCH, RESET).
    pub fn clear(&self) {
        let keys: Vec<DbKey> = self
            .session
            .keys
            .lock()
            .drain()
            .flat_map(|(db, m)| m.into_keys().map(move |k| (db, k)))
            .collect();
        for (db, key) in keys {
            self.registry.remove(db, &key, &self.session);
        }
        self.count.store(0, Ordering::Relaxed);
        self.session.dirty.store(false, Ordering::Release);
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_dirty_watchers_and_stale_keys_ignore_their_removal() {
        let reg = Arc::new(Watched::default());
        reg.touch(0, b"a", Touch::Written);
        let w = Watches::new(reg.clone());
        w.watch(0, b"a", false);
        w.watch(0, b"s", true);
        w.watch(0, b"a", false);
        assert_eq!((w.len(), reg.count.load(Ordering::Relaxed)), (2, 2));
        reg.touch(1, b"a", Touch::Written);
        reg.touch(0, b"s", Touch::Removed);
        assert!(!w.dirty(), "another db, and a stale key's removal");
        reg.touch(0, b"s", Touch::Removed);
        assert!(w.dirty(), "after its removal the key is an ordinary one");
        assert_eq!(w.live_keys().len(), 2);
        w.clear();
        assert!(!w.dirty() && w.is_empty() && !reg.any());
        w.watch(0, b"a", false);
        let other = Watches::new(reg.clone());
        other.watch(0, b"a", false);
        reg.touch(0, b"a", Touch::Removed);
        assert!(w.dirty() && other.dirty());
        drop(other);
        assert_eq!(reg.keys_of(0), vec![Box::<[u8]>::from(&b"a"[..])]);
        drop(w);
        assert!(!reg.any() && reg.keys_of(0).is_empty());
    }
}
