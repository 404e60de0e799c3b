//! Isolation of whole-keyspace work from single commands. Every command holds
//! the keyspace *shared* while it runs; EXEC and FLUSHALL/FLUSHDB (and,
//! later, scripts) hold it *exclusively*, so no other client's command and no
//! active expiry runs meanwhile. Their effects then reach the replication
//! stream as one uninterrupted block in execution order, which Redis's single
//! thread gives for free. A pause barrier uses it too: once the exclusive hold
//! was taken, every command that passed a pause check before has finished.
//!
//! Lock order: isolation → slot fence → slot table → topology. A thread takes
//! it at most once (a waiting exclusive request blocks new shared ones) and
//! never holds it across an `.await`.

use std::time::Duration;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// How often a waiter looks at its give-up condition.
const GIVE_UP_STEP: Duration = Duration::from_millis(5);

/// The keyspace-wide reader/writer lock described above.
#[derive(Debug, Default)]
pub struct Isolation(RwLock<()>);

/// A held share or exclusive hold; released on drop.
#[must_use = "the hold ends when dropped"]
pub enum Hold<'a> {
    /// Other commands run alongside.
    Shared(#[allow(dead_code)] RwLockReadGuard<'a, ()>),
    /// Nothing else runs.
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'a, ()>),
}

impl Isolation {
    /// Holds the keyspace shared (an ordinary command).
    pub fn shared(&self) -> Hold<'_> {
        Hold::Shared(self.0.read())
    }

    /// Holds the keyspace alone, once every current holder is done.
    pub fn exclusive(&self) -> Hold<'_> {
        Hold::Exclusive(self.0.write())
    }

    /// `shared()`, waiting in short steps: None once `give_up` turns true
    /// (a script past its busy threshold holds it: the caller answers -BUSY
    /// instead of waiting for the script's end).
    pub fn shared_unless(&self, give_up: impl Fn() -> bool) -> Option<Hold<'_>> {
        if let Some(g) = self.0.try_read() {
            return Some(Hold::Shared(g));
        }
        loop {
            if give_up() {
                return None;
            }
            if let Some(g) = self.0.try_read_for(GIVE_UP_STEP) {
                return Some(Hold::Shared(g));
            }
        }
    }

    /// `exclusive()`, giving up as `shared_unless` does.
    pub fn exclusive_unless(&self, give_up: impl Fn() -> bool) -> Option<Hold<'_>> {
        if let Some(g) = self.0.try_write() {
            return Some(Hold::Exclusive(g));
        }
        loop {
            if give_up() {
                return None;
            }
            if let Some(g) = self.0.try_write_for(GIVE_UP_STEP) {
                return Some(Hold::Exclusive(g));
            }
        }
    }

    /// `exclusive()` when `alone`, else `shared()`.
    pub fn hold(&self, alone: bool) -> Hold<'_> {
        if alone {
            self.exclusive()
        } else {
            self.shared()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn exclusive_waits_for_shared_holders_and_excludes_them() {
        let iso = Arc::new(Isolation::default());
        let inside = Arc::new(AtomicBool::new(false));
        let shared = iso.shared();
        let (i2, in2) = (iso.clone(), inside.clone());
        let t = std::thread::spawn(move || {
            let _x = i2.exclusive();
            in2.store(true, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(50));
            in2.store(false, Ordering::SeqCst);
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            !inside.load(Ordering::SeqCst),
            "exclusive while shared is held"
        );
        drop(shared);
        while !inside.load(Ordering::SeqCst) && !t.is_finished() {
            std::thread::yield_now();
        }
        // The exclusive holder is inside (or done): a new share waits for it.
        let _s = iso.shared();
        assert!(
            !inside.load(Ordering::SeqCst),
            "shared while exclusive is held"
        );
        t.join().expect("thread");
    }
}
