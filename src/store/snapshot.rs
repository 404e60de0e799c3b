//! Point-in-time snapshots of the keyspace without stopping it (BGSAVE, AOF
//! rewrite), by copy-on-write per key.
//!
//! `Keyspace::begin_snapshot` holds every slot lock for an instant, marks every
//! slot *pending*, and runs a callback at that instant (the caller reads the
//! replication offset there, so the snapshot holds exactly the writes before
//! it). Then the writer walks the slots. A command about to change a key in a
//! pending slot first keeps the key as it was (its entry, or "absent") in the
//! slot's `originals` (`SlotGuard::cow`); the walker writes a slot under its
//! lock from its records, with the originals in place of the changed keys, and
//! clears its pending bit. Reads never copy. The extra memory is what the
//! originals hold until the walker reaches their slot, as fork's copy-on-write
//! is for Redis, but per key instead of per 4 KiB page.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::keyspace::SlotTable;
use super::keyspace::{original_bytes, Keyspace, Originals};
use super::Record;
use crate::slot::SLOTS;

/// State shared between a running snapshot and the keyspace.
#[derive(Default)]
pub(crate) struct SnapState {
    /// Each database number's index in the keyspace at the point, for those
    /// that existed then (the others were empty): SWAPDB after the point
    /// changes where a number leads, not what the snapshot writes under it.
    dbs: Vec<Option<usize>>,
}

impl SnapState {
    /// (database number, physical index) of every database in the snapshot.
    fn mapped(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.dbs
            .iter()
            .enumerate()
            .filter_map(|(d, p)| p.map(|p| (d, p)))
    }
}

/// Another snapshot is running (one at a time, as Redis has one child).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// A running point-in-time snapshot; ends (and stops copy-on-write) on drop.
pub struct Snapshot<'a> {
    ks: &'a Keyspace,
    state: Arc<SnapState>,
}

/// Where a snapshot's contents go.
pub trait SnapshotSink {
    /// A database begins; `keys`/`expires` are its sizes now (sizing hints).
    fn db(&mut self, db: usize, keys: u64, expires: u64) -> std::io::Result<()>;
    /// One key, as it was at the point. Called with a slot lock held: keep it
    /// to memory work.
    fn entry(&mut self, key: &[u8], e: &Record);
    /// A slot is done and its lock released: a good time for I/O.
    fn slot_done(&mut self) -> std::io::Result<()>;
}

impl Keyspace {
    /// True while a snapshot (a save, a rewrite, a replica's full sync) runs.
    pub fn snapshot_running(&self) -> bool {
        self.snapshot.lock().is_some()
    }

    /// Bytes the running snapshot's kept originals hold (0 without one).
    pub fn copy_on_write_bytes(&self) -> u64 {
        self.snap_bytes.load(Ordering::Relaxed)
    }

    /// Before `key` changes in a slot a running snapshot has not written yet,
    /// keeps the key as it was at the point (copy-on-write, per key). Called
    /// with the slot's lock held, so the walker sees either the change with the
    /// original or neither.
    pub(super) fn keep_original(&self, phys: usize, slot: u16, table: &mut SlotTable, key: &[u8]) {
        if !self.physical_db(phys).pending.get(slot) {
            return;
        }
        let t = table;
        if t.originals.as_ref().is_some_and(|o| o.contains_key(key)) {
            return;
        }
        let old = t.entry(key).cloned();
        self.snapshot_bytes_added(original_bytes(key, &old));
        t.originals
            .get_or_insert_with(Default::default)
            .insert(key.into(), old);
    }

    /// Accounts kept originals (the copy-on-write size and its peak).
    fn snapshot_bytes_added(&self, n: u64) {
        let now = self.snap_bytes.fetch_add(n, Ordering::Relaxed) + n;
        self.snap_peak.fetch_max(now, Ordering::Relaxed);
    }

    /// Starts a snapshot: stops every command for an instant (all slot locks),
    /// marks the point and runs `at_point` there.
    pub fn begin_snapshot<R>(
        &self,
        at_point: impl FnOnce() -> R,
    ) -> Result<(Snapshot<'_>, R), Busy> {
        let mut cur = self.snapshot.lock();
        if cur.is_some() {
            return Err(Busy);
        }
        self.snap_bytes.store(0, Ordering::Relaxed);
        self.snap_peak.store(0, Ordering::Relaxed);
        // Physical databases: the walk locks and marks storage, not numbers.
        let allocated = || -> Vec<bool> {
            (0..self.db_count())
                .map(|p| self.physical_db(p).is_allocated())
                .collect()
        };
        loop {
            let dbs = allocated();
            // Locks in (db, slot) order, as multi-key commands take them.
            let mut held = Vec::with_capacity(SLOTS * dbs.iter().filter(|d| **d).count());
            for (p, _) in dbs.iter().enumerate().filter(|(_, a)| **a) {
                for s in 0..SLOTS as u16 {
                    held.push(self.physical_db(p).raw_lock(s));
                }
            }
            // No database can be first used now (a first use holds no slot
            // lock, so this cannot wait on one of ours). One first used
            // during the sweep may have been written already: sweep again.
            let first_use = self.first_use.write();
            if allocated() != dbs {
                drop(first_use);
                continue;
            }
            for (p, _) in dbs.iter().enumerate().filter(|(_, a)| **a) {
                self.physical_db(p).mark_all_pending();
            }
            // SWAPDB takes `first_use` too: the numbers map as of the point.
            let mapped = (0..self.db_count())
                .map(|d| Some(self.physical(d)).filter(|&p| dbs[p]))
                .collect();
            let state = Arc::new(SnapState { dbs: mapped });
            *cur = Some(state.clone());
            let r = at_point();
            drop(first_use);
            drop(held);
            drop(cur);
            return Ok((Snapshot { ks: self, state }, r));
        }
    }
}

impl Snapshot<'_> {
    /// Writes the snapshot's contents to `sink`, slot by slot.
    pub fn write(&self, sink: &mut dyn SnapshotSink) -> std::io::Result<()> {
        for (d, p) in self.state.mapped() {
            let db = self.ks.physical_db(p);
            sink.db(d, db.len(), db.volatile_len())?;
            for s in 0..SLOTS as u16 {
                let originals = {
                    let mut table = db.raw_lock(s);
                    db.take_pending(s);
                    let originals = table.originals.take();
                    let changed = |k: &[u8]| originals.as_ref().is_some_and(|o| o.contains_key(k));
                    for (k, e) in table.records() {
                        if !changed(k) {
                            sink.entry(k, e);
                        }
                    }
                    for (k, e) in originals.iter().flat_map(|o| o.iter()) {
                        if let Some(e) = e {
                            sink.entry(k, e);
                        }
                    }
                    originals
                };
                // Freed outside the lock.
                self.release(originals);
                sink.slot_done()?;
            }
        }
        Ok(())
    }

    fn release(&self, originals: Option<Box<Originals>>) {
        if let Some(o) = originals {
            let bytes: u64 = o.iter().map(|(k, e)| original_bytes(k, e)).sum();
            self.ks.snap_bytes.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// Bytes held by kept originals now, and at most so far.
    pub fn copy_bytes(&self) -> (u64, u64) {
        (
            self.ks.snap_bytes.load(Ordering::Relaxed),
            self.ks.snap_peak.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Snapshot<'_> {
    fn drop(&mut self) {
        // Slots the walk did not reach (it failed): stop keeping originals,
        // then drop the ones kept (under each lock, after the bits are clear).
        for (_, p) in self.state.mapped() {
            let db = self.ks.physical_db(p);
            db.clear_pending();
            for s in 0..SLOTS as u16 {
                let originals = db.raw_lock(s).originals.take();
                self.release(originals);
            }
        }
        *self.ks.snapshot.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slot::key_slot;
    use crate::store::keyspace::NoSink;
    use crate::store::Value;

    #[derive(Default)]
    struct Collect(Vec<(usize, Vec<u8>, Value)>, usize);

    impl SnapshotSink for Collect {
        fn db(&mut self, db: usize, _: u64, _: u64) -> std::io::Result<()> {
            self.1 = db;
            Ok(())
        }
        fn entry(&mut self, key: &[u8], e: &Record) {
            self.0.push((self.1, key.to_vec(), e.value().to_value()));
        }
        fn slot_done(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn set(ks: &Keyspace, db: usize, k: &[u8], v: &[u8]) {
        ks.lock_key(db, k, 0).set(k, Value::string(v), Some(0));
    }

    #[test]
    fn swapdb_after_the_point_changes_neither_numbers_nor_contents() {
        let ks = Keyspace::new(3, Arc::new(NoSink));
        set(&ks, 0, b"zero", b"0");
        set(&ks, 1, b"one", b"1");
        let (snap, ()) = ks.begin_snapshot(|| ()).expect("no snapshot running");
        ks.swap_dbs(0, 1, 0);
        // Writes through the new numbers land in the swapped storage.
        set(&ks, 0, b"one", b"changed");
        set(&ks, 1, b"zero", b"changed");
        ks.swap_dbs(1, 2, 0);
        set(&ks, 2, b"zero", b"again");
        let mut c = Collect::default();
        snap.write(&mut c).expect("write");
        drop(snap);
        let mut got = c.0;
        got.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        assert_eq!(
            got,
            vec![
                (0, b"zero".to_vec(), Value::string(b"0")),
                (1, b"one".to_vec(), Value::string(b"1")),
            ]
        );
        // Live: db 0 holds what db 1 held, db 2 what db 0 held (swapped twice).
        let live = |db: usize, k: &[u8]| ks.lock_key(db, k, 0).get(k).map(|e| e.value().to_value());
        assert_eq!(live(0, b"one"), Some(Value::string(b"changed")));
        assert_eq!(live(2, b"zero"), Some(Value::string(b"again")));
        assert_eq!(live(1, b"zero"), None);
        assert_eq!((ks.db(0).len(), ks.db(1).len(), ks.db(2).len()), (1, 0, 1));
    }

    #[test]
    fn the_snapshot_holds_exactly_the_state_at_the_point() {
        let ks = Keyspace::new(3, Arc::new(NoSink));
        for i in 0..500 {
            set(&ks, 0, format!("k{i}").as_bytes(), b"old");
        }
        set(&ks, 1, b"other", b"x");
        let (snap, marker) = ks.begin_snapshot(|| 42).expect("no snapshot running");
        assert_eq!(marker, 42);
        assert!(ks.begin_snapshot(|| ()).is_err(), "one at a time");
        // After the point: overwrite half, delete some, add new keys and a new db.
        for i in 0..250 {
            set(&ks, 0, format!("k{i}").as_bytes(), b"new");
        }
        for i in 250..300 {
            let k = format!("k{i}");
            ks.lock_key(0, k.as_bytes(), 0).remove(k.as_bytes());
        }
        set(&ks, 0, b"fresh", b"new");
        set(&ks, 2, b"late-db", b"new");
        let (held, peak) = snap.copy_bytes();
        assert!(held > 0 && peak >= held);
        let mut c = Collect::default();
        snap.write(&mut c).expect("write");
        assert_eq!(
            snap.copy_bytes().0,
            0,
            "copies are released as they are written"
        );
        drop(snap);
        let mut got = c.0;
        got.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut want: Vec<(usize, Vec<u8>, Value)> = (0..500)
            .map(|i| (0, format!("k{i}").into_bytes(), Value::string(b"old")))
            .collect();
        want.push((1, b"other".to_vec(), Value::string(b"x")));
        want.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        assert_eq!(got, want);
        // Copy-on-write stopped with the snapshot; the live data is the new one.
        assert!(ks
            .lock_key(0, b"k0", 0)
            .get(b"k0")
            .is_some_and(|e| e.value().to_value() == Value::string(b"new")));
        assert!(ks.begin_snapshot(|| ()).is_ok());
    }

    #[test]
    fn a_database_first_used_while_the_point_is_taken_is_not_missed() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        for _ in 0..40 {
            let ks = Arc::new(Keyspace::new(16, Arc::new(NoSink)));
            set(&ks, 0, b"k", b"0");
            // Databases 1..16 are first used one after the other; `done`
            // says how many writes finished.
            let done = Arc::new(AtomicUsize::new(0));
            let writer = {
                let (ks, done) = (ks.clone(), done.clone());
                std::thread::spawn(move || {
                    for db in 1..16 {
                        set(&ks, db, b"k", b"v");
                        done.store(db, Ordering::Release);
                    }
                })
            };
            std::thread::sleep(std::time::Duration::from_micros(fastrand::u64(0..3000)));
            let (snap, finished) = ks
                .begin_snapshot(|| done.load(Ordering::Acquire))
                .expect("snapshot");
            let dbs: Vec<usize> = collect(&snap).iter().map(|r| r.0).collect();
            drop(snap);
            writer.join().expect("writer");
            for db in 1..=finished {
                assert!(
                    dbs.contains(&db),
                    "database {db} was written before the point but is not in the snapshot: {dbs:?}"
                );
            }
        }
    }

    fn collect(snap: &Snapshot<'_>) -> Vec<(usize, Vec<u8>, Value)> {
        let mut c = Collect::default();
        snap.write(&mut c).expect("write");
        c.0.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        c.0
    }

    #[test]
    fn copies_are_per_key_and_cover_flush_and_lazy_expiry() {
        let ks = Keyspace::new(1, Arc::new(NoSink));
        // Many keys in one slot (one hash tag); one of them expires soon.
        for i in 0..200 {
            set(&ks, 0, format!("{{t}}k{i}").as_bytes(), b"old");
        }
        let now = 1_000;
        ks.lock_key(0, b"{t}dying", now)
            .set(b"{t}dying", Value::string(b"d"), Some(now + 10));
        let (snap, ()) = ks.begin_snapshot(|| ()).expect("snapshot");
        for round in 0..3 {
            let v = format!("new{round}");
            set(&ks, 0, b"{t}k0", v.as_bytes());
        }
        let one = snap.copy_bytes().0;
        assert!(
            one > 0 && one < 200,
            "one changed key keeps one original: {one} bytes"
        );
        // A read after the expiry time removes the key: the snapshot keeps it.
        assert!(ks
            .lock_key(0, b"{t}dying", now + 20)
            .get(b"{t}dying")
            .is_none());
        let mut want: Vec<(usize, Vec<u8>, Value)> = (0..200)
            .map(|i| (0, format!("{{t}}k{i}").into_bytes(), Value::string(b"old")))
            .collect();
        want.push((0, b"{t}dying".to_vec(), Value::string(b"d")));
        want.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        // FLUSHALL after the point: the snapshot still has everything.
        ks.flush_db(0, false);
        set(&ks, 0, b"{t}after", b"x");
        assert_eq!(collect(&snap), want);
        assert_eq!(snap.copy_bytes().0, 0);
        drop(snap);
        let (snap, ()) = ks.begin_snapshot(|| ()).expect("snapshot");
        assert_eq!(
            collect(&snap),
            vec![(0, b"{t}after".to_vec(), Value::string(b"x"))]
        );
    }

    #[test]
    fn reads_do_not_copy_and_an_abandoned_snapshot_stops_copying() {
        let ks = Keyspace::new(1, Arc::new(NoSink));
        set(&ks, 0, b"a", b"1");
        let (snap, ()) = ks.begin_snapshot(|| ()).expect("snapshot");
        assert!(ks.lock_key(0, b"a", 0).get(b"a").is_some());
        assert_eq!(snap.copy_bytes(), (0, 0));
        set(&ks, 0, b"a", b"2");
        drop(snap);
        set(&ks, 0, b"a", b"3");
        assert!(!ks.db(0).take_pending(key_slot(b"a")));
        // The abandoned snapshot's originals are gone: the next one is current.
        let (snap, ()) = ks.begin_snapshot(|| ()).expect("snapshot");
        assert_eq!(snap.copy_bytes(), (0, 0));
        assert_eq!(
            collect(&snap),
            vec![(0, b"a".to_vec(), Value::string(b"3"))]
        );
    }
}
