//! Clients blocked on keys, and the "key is ready" signal.
//!
//! A blocking command (BLPOP, BLMOVE, later BZPOPMIN, XREAD BLOCK…) that
//! finds nothing to take registers a [`Waiter`] here while it still holds
//! the slot locks of its keys, so a write that creates one of those keys
//! (it takes the same lock) either happens before (and the command served
//! itself) or after, and then sees the waiter: [`Blocked::key_added`],
//! called by the keyspace whenever a key is stored, queues the key as ready.
//! The server, after each top-level command, takes the ready keys and
//! re-runs the blocked commands of each key's waiters in the order they
//! blocked (first blocked, first served), on the writer's thread; the
//! served command's reply is handed to its waiter, whose session sends it.
//!
//! A waiter moves `WAITING → CLAIMED → (WAITING | DONE)` while a writer
//! re-runs it, and `WAITING → DONE` when it times out, is unblocked or its
//! connection goes: exactly one of these wins, so an element is popped for a
//! waiter only while it is claimed, and a waiter that left is never served.
//!
//! The registry knows nothing of commands: a waiter carries its command's
//! arguments and the family's code decides what serving means.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

const WAITING: u8 = 0;
const CLAIMED: u8 = 1;
const DONE: u8 = 2;

/// How a blocked command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// A writer served it: the reply bytes.
    Served(Vec<u8>),
    /// Its timeout passed, or `CLIENT UNBLOCK … TIMEOUT`.
    Timeout,
    /// `CLIENT UNBLOCK … ERROR` or a redirect: the error line (without `-`).
    Error(String),
    /// The node stopped being a primary: the error line, then the
    /// connection closes (Redis's `CLIENT_CLOSE_AFTER_REPLY`).
    Closing(String),
    /// Its connection went away.
    Gone,
}

/// One blocked command.
pub struct Waiter {
    /// The blocked connection's id.
    pub client_id: u64,
    /// The database of its keys.
    pub db: usize,
    /// The command's arguments, as received.
    pub argv: Vec<Vec<u8>>,
    /// Which arguments are the keys it waits on.
    pub keys: Vec<usize>,
    /// The connection's protocol (2 or 3) when it blocked.
    pub resp: u8,
    state: AtomicU8,
    /// Taken off the key queues already.
    removed: AtomicBool,
    wake: Mutex<Option<Wake>>,
    notify: Notify,
}

impl Waiter {
    /// A waiter for `argv`, waiting on the arguments at `keys`.
    pub fn new(client_id: u64, db: usize, argv: Vec<Vec<u8>>, keys: Vec<usize>, resp: u8) -> Self {
        Waiter {
            client_id,
            db,
            argv,
            keys,
            resp,
            state: AtomicU8::new(WAITING),
            removed: AtomicBool::new(false),
            wake: Mutex::new(None),
            notify: Notify::new(),
        }
    }

    /// The keys it waits on.
    pub fn key_args(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.keys
            .iter()
            .filter_map(|&i| self.argv.get(i).map(Vec::as_slice))
    }

    /// Takes it for a re-run; false when it ended or another writer has it.
    pub fn claim(&self) -> bool {
        self.state
            .compare_exchange(WAITING, CLAIMED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Gives a claimed waiter back: the re-run found nothing.
    pub fn release(&self) {
        self.state.store(WAITING, Ordering::Release);
    }

    /// Ends a claimed waiter with `wake`.
    pub fn serve(&self, wake: Wake) {
        *self.wake.lock() = Some(wake);
        self.state.store(DONE, Ordering::Release);
        self.notify.notify_one();
    }

    /// Ends a waiting waiter with `wake` (timeout, unblock, disconnect);
    /// false when it already ended or is being served (spinning out a claim,
    /// which is a re-run of one command, is left to the caller).
    pub fn try_end(&self, wake: Wake) -> bool {
        if self.claim() {
            self.serve(wake);
            true
        } else {
            false
        }
    }

    /// True once it ended.
    pub fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    /// How it ended, once it did.
    pub fn take_wake(&self) -> Option<Wake> {
        self.wake.lock().take()
    }

    /// Resolves once `serve` ran (a permit is kept if it ran first).
    pub async fn ended(&self) {
        self.notify.notified().await
    }
}

type Queues = HashMap<Box<[u8]>, VecDeque<Arc<Waiter>>>;

/// The registry: per database and key, its waiters in the order they blocked.
#[derive(Default)]
pub struct Blocked {
    queues: Mutex<HashMap<usize, Queues>>,
    ready: Mutex<Vec<(usize, Box<[u8]>)>>,
    has_ready: AtomicBool,
    count: AtomicUsize,
}

impl Blocked {
    /// Number of blocked commands (INFO `blocked_clients`).
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// True when nothing is blocked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `w` on each of its keys. Call with the keys' slot locks held.
    pub fn register(&self, w: Arc<Waiter>) {
        let mut q = self.queues.lock();
        let db = q.entry(w.db).or_default();
        for k in w.key_args() {
            let queue = db.entry(Box::from(k)).or_default();
            if !queue.iter().any(|x| Arc::ptr_eq(x, &w)) {
                queue.push_back(w.clone());
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes `w` off its keys' queues (once).
    pub fn unregister(&self, w: &Arc<Waiter>) {
        if w.removed.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut q = self.queues.lock();
        if let Some(db) = q.get_mut(&w.db) {
            for k in w.key_args() {
                if let Some(queue) = db.get_mut(k) {
                    queue.retain(|x| !Arc::ptr_eq(x, w));
                    if queue.is_empty() {
                        db.remove(k);
                    }
                }
            }
        }
        self.count.fetch_sub(1, Ordering::Relaxed);
    }

    /// The keyspace stored `key` in `db`: if a command waits on it, the key
    /// is ready. Cheap when nothing is blocked (one atomic load).
    pub fn key_added(&self, db: usize, key: &[u8]) {
        if self.is_empty() {
            return;
        }
        let waited = self
            .queues
            .lock()
            .get(&db)
            .is_some_and(|m| m.contains_key(key));
        if waited {
            self.mark_ready(db, key);
        }
    }

    /// Queues `key` as ready (again).
    pub fn mark_ready(&self, db: usize, key: &[u8]) {
        let mut r = self.ready.lock();
        if !r.iter().any(|(d, k)| *d == db && &k[..] == key) {
            r.push((db, Box::from(key)));
        }
        self.has_ready.store(true, Ordering::Release);
    }

    /// The keys made ready since the last call, oldest first.
    pub fn take_ready(&self) -> Vec<(usize, Box<[u8]>)> {
        // A plain load first: every command asks, and a swap would make the
        // flag's cache line bounce between threads for nothing.
        if !self.has_ready.load(Ordering::Acquire) || !self.has_ready.swap(false, Ordering::AcqRel)
        {
            return Vec::new();
        }
        std::mem::take(&mut *self.ready.lock())
    }

    /// The waiters on `key`, in the order they blocked.
    pub fn waiters(&self, db: usize, key: &[u8]) -> Vec<Arc<Waiter>> {
        self.queues
            .lock()
            .get(&db)
            .and_then(|m| m.get(key))
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The keys someone waits on in `db`.
    pub fn keys_of(&self, db: usize) -> Vec<Box<[u8]>> {
        if self.is_empty() {
            return Vec::new();
        }
        self.queues
            .lock()
            .get(&db)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The waiter of connection `client_id`, if it is blocked.
    pub fn of_client(&self, client_id: u64) -> Option<Arc<Waiter>> {
        let q = self.queues.lock();
        q.values()
            .flat_map(|m| m.values())
            .flat_map(|q| q.iter())
            .find(|w| w.client_id == client_id && !w.is_done())
            .cloned()
    }

    /// Every registered waiter, once each (cluster redirects, SWAPDB).
    pub fn all(&self) -> Vec<Arc<Waiter>> {
        let q = self.queues.lock();
        let mut out: Vec<Arc<Waiter>> = Vec::new();
        for w in q.values().flat_map(|m| m.values()).flat_map(|q| q.iter()) {
            if !out.iter().any(|x| Arc::ptr_eq(x, w)) {
                out.push(w.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(id: u64, keys: &[&str]) -> Arc<Waiter> {
        let mut argv = vec![b"blpop".to_vec()];
        argv.extend(keys.iter().map(|k| k.as_bytes().to_vec()));
        argv.push(b"0".to_vec());
        Arc::new(Waiter::new(id, 0, argv, (1..=keys.len()).collect(), 2))
    }

    #[test]
    fn fifo_per_key_ready_once_and_one_ending_wins() {
        let b = Blocked::default();
        b.key_added(0, b"a");
        assert!(b.take_ready().is_empty());
        let (w1, w2) = (waiter(1, &["a", "b"]), waiter(2, &["a"]));
        b.register(w1.clone());
        b.register(w2.clone());
        assert_eq!(b.len(), 2);
        b.key_added(0, b"a");
        b.key_added(0, b"a");
        b.key_added(0, b"c");
        assert_eq!(b.take_ready(), vec![(0, Box::from(&b"a"[..]))]);
        let ids: Vec<u64> = b.waiters(0, b"a").iter().map(|w| w.client_id).collect();
        assert_eq!(ids, vec![1, 2]);
        assert!(w1.claim());
        assert!(!w1.try_end(Wake::Timeout));
        w1.serve(Wake::Served(b"x".to_vec()));
        assert!(!w1.try_end(Wake::Gone));
        assert_eq!(w1.take_wake(), Some(Wake::Served(b"x".to_vec())));
        b.unregister(&w1);
        b.unregister(&w1);
        assert_eq!(b.len(), 1);
        assert!(b.waiters(0, b"b").is_empty());
        assert!(b.of_client(2).is_some());
        assert!(w2.try_end(Wake::Timeout));
        b.unregister(&w2);
        assert!(b.is_empty() && b.all().is_empty());
    }
}
