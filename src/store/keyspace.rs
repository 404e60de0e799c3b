//! The keyspace: per database, 16384 lazily allocated slot tables, each behind its
//! own lock (the Valkey `kvstore` shape). A command that touches one key takes one
//! lock; multi-key commands lock their slots in ascending (db, slot) order.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use std::hash::BuildHasher;
use std::sync::{LazyLock, OnceLock};

use hashbrown::DefaultHashBuilder;
use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;

use super::access::{self, Policy};
use super::entry::Entry;
use super::eviction::EvictionPool;
use super::key::Key;
use super::record::Record;
use super::record_table::RecordTable;
use super::slot_bits::SlotBits;
use super::snapshot::SnapState;
use super::types::Value;
use super::watch::Touch;
use crate::slot::{key_slot, SLOTS};

/// A clock reading at which no TTL has passed: a guard taken with it sees every
/// stored key as live and expires none. Loading a file and applying the
/// primary's stream use it, so keys leave them only by the stream's own DELs
/// (Redis never expires keys while loading or for its master client).
pub const NEVER_EXPIRED: u64 = 0;

/// Why a key left the keyspace without a command deleting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Its TTL passed (lazily on access or by the active cycle).
    Expired,
    /// `maxmemory` eviction chose it.
    Evicted,
}

/// Told about keys removed by the server (expirations, evictions), created,
/// and missed by a read, while the slot lock is still held, so the
/// replication stream sees the resulting `DEL` in order and keyspace events
/// (`expired`, `evicted`, `new`, `keymiss`) follow the data.
pub trait KeyEventSink: Send + Sync {
    /// `key` in `db` was removed for `why`.
    fn removed(&self, db: usize, key: &[u8], why: Removal);
    /// `key` in `db` was created.
    fn created(&self, _db: usize, _key: &[u8]) {}
    /// A read of `key` in `db` found nothing.
    fn missed(&self, _db: usize, _key: &[u8]) {}
    /// `key` in `db` changed (written, removed, given a TTL, expired):
    /// client-side caches holding it must drop it.
    fn changed(&self, _db: usize, _key: &[u8]) {}
}

/// A sink that ignores removals (unit tests, tools).
pub struct NoSink;
impl KeyEventSink for NoSink {
    fn removed(&self, _: usize, _: &[u8], _: Removal) {}
}

/// Counters owned by the keyspace (reported by `INFO stats`).
#[derive(Debug, Default)]
pub struct KeyspaceStats {
    /// Reads that found their key.
    pub hits: AtomicU64,
    /// Reads that did not.
    pub misses: AtomicU64,
    /// Keys removed because their TTL passed.
    pub expired: AtomicU64,
    /// Keys removed by eviction.
    pub evicted: AtomicU64,
}

static HASHER: LazyLock<DefaultHashBuilder> = LazyLock::new(DefaultHashBuilder::default);

/// The hash slot tables (and the TinyLFU sketch and window) key by.
pub(crate) fn hash_key(key: &[u8]) -> u64 {
    HASHER.hash_one(key)
}

/// The keys of one hash slot.
#[derive(Debug, Default)]
pub struct SlotTable {
    map: RecordTable,
    /// How many entries have a TTL.
    volatile: usize,
    /// Where active expiry resumes in this table (a position in its order).
    expire_cursor: usize,
    /// While a running snapshot has yet to write this slot: the keys changed
    /// since its point, as they were then (`None`: absent then).
    pub(crate) originals: Option<Box<Originals>>,
}

/// Keys of a slot as they were at a snapshot's point.
pub(crate) type Originals = hashbrown::HashMap<Box<[u8]>, Option<Record>>;

/// Bytes a kept original holds (INFO's copy-on-write size).
pub(crate) fn original_bytes(key: &[u8], e: &Option<Record>) -> u64 {
    let record = e.as_ref().map_or(0, Record::footprint);
    (std::mem::size_of::<(Box<[u8]>, Option<Record>)>() + key.len() + record) as u64
}

impl SlotTable {
    /// The stored entry of `key`, expired or not.
    pub(super) fn entry(&self, key: &[u8]) -> Option<&Record> {
        self.map.find(hash_key(key), |r| r.key_is(key))
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    /// Every record, expired or not.
    pub(crate) fn records(&self) -> impl Iterator<Item = (&[u8], &Record)> + Clone {
        self.map.iter().map(|r| (r.key(), r))
    }

    fn insert_new(&mut self, hash: u64, record: Record) {
        self.map.insert_unique(hash, record, |r| hash_key(r.key()));
    }

    fn take(&mut self, key: &[u8]) -> Option<Record> {
        let h = hash_key(key);
        let i = self.map.find_index(h, |r| r.key_is(key))?;
        self.map.remove_at(i)
    }
}

/// One logical database (`SELECT n`).
pub struct Db {
    /// Allocated on first use: an unused database costs a few bytes. Tables sit
    /// inline in the array, so reaching a slot's table is one pointer hop fewer.
    slots: OnceLock<Box<[Mutex<SlotTable>]>>,
    keys: AtomicU64,
    volatile: AtomicU64,
    occupied: SlotBits,
    with_ttl: SlotBits,
    /// Slots a running snapshot has not taken yet: copy before changing them.
    pub(super) pending: SlotBits,
}

impl Db {
    fn new() -> Self {
        Db {
            slots: OnceLock::new(),
            keys: AtomicU64::new(0),
            volatile: AtomicU64::new(0),
            occupied: SlotBits::new(),
            with_ttl: SlotBits::new(),
            pending: SlotBits::new(),
        }
    }

    /// True once some slot of the database was used.
    pub fn is_allocated(&self) -> bool {
        self.slots.get().is_some()
    }

    /// The slot's table, locked, without the guard's side effects.
    pub(crate) fn raw_lock(&self, slot: u16) -> MutexGuard<'_, SlotTable> {
        self.slots()[slot as usize].lock()
    }

    pub(crate) fn mark_all_pending(&self) {
        self.pending.fill(true);
    }

    pub(crate) fn clear_pending(&self) {
        self.pending.fill(false);
    }

    /// True (and no longer pending) when the snapshot has yet to take the slot.
    pub(crate) fn take_pending(&self, slot: u16) -> bool {
        self.pending.take(slot)
    }

    fn slots(&self) -> &[Mutex<SlotTable>] {
        self.slots.get_or_init(|| {
            (0..SLOTS)
                .map(|_| Mutex::new(SlotTable::default()))
                .collect()
        })
    }

    /// Number of keys (including expired ones not yet collected).
    pub fn len(&self) -> u64 {
        self.keys.load(Ordering::Relaxed)
    }

    /// True when the database holds no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of keys with a TTL.
    pub fn volatile_len(&self) -> u64 {
        self.volatile.load(Ordering::Relaxed)
    }

    /// A random slot that holds keys (keys with a TTL when `volatile`), found
    /// from a bitmap without locking any slot; `None` when there is none. The
    /// slot may have emptied since: callers re-check under its lock.
    pub fn random_slot(&self, volatile: bool) -> Option<u16> {
        let bits = if volatile {
            &self.with_ttl
        } else {
            &self.occupied
        };
        bits.random_set()
    }
}

/// All databases plus the shared eviction settings.
pub struct Keyspace {
    dbs: Box<[Db]>,
    /// Database number → index in `dbs` (SWAPDB swaps two entries).
    map: Box<[AtomicUsize]>,
    /// Hit/miss/expired/evicted counters.
    pub stats: KeyspaceStats,
    policy: AtomicU8,
    sink: Arc<dyn KeyEventSink>,
    /// Eviction candidates kept between eviction calls, as Redis keeps its pool.
    pub(crate) eviction_pool: Mutex<EvictionPool>,
    /// The running snapshot, if any.
    pub(crate) snapshot: Mutex<Option<Arc<SnapState>>>,
    /// Expired keys read as missing but stay (a replica waits for its
    /// primary's DEL).
    keep_expired: AtomicBool,
    /// Bytes the running snapshot's kept originals hold.
    pub(crate) snap_bytes: AtomicU64,
    /// The largest `snap_bytes` of the running snapshot.
    pub(crate) snap_peak: AtomicU64,
    /// Commands hold it shared, EXEC and FLUSHALL alone (see `isolation`).
    pub isolation: super::isolation::Isolation,
    /// Held (shared) while a database is first used; a snapshot holds it
    /// alone at its point, so every database used before the point is one
    /// whose slots it holds.
    pub(crate) first_use: parking_lot::RwLock<()>,
    /// Frees large values and flushed databases in the background.
    pub lazy_free: super::lazy_free::LazyFree,
    /// Commands blocked on keys, and the keys made ready for them.
    pub blocked: super::blocking::Blocked,
    /// Keys WATCHed by clients (the "key changed" signal's listener).
    pub watched: Arc<super::watch::Watched>,
    /// The TinyLFU sketch and window (empty under the other policies).
    pub tinylfu: super::tinylfu::TinyLfu,
}

impl Keyspace {
    /// A keyspace with `dbs` databases (1 in cluster mode).
    pub fn new(dbs: usize, sink: Arc<dyn KeyEventSink>) -> Self {
        Keyspace {
            dbs: (0..dbs.max(1)).map(|_| Db::new()).collect(),
            map: (0..dbs.max(1)).map(AtomicUsize::new).collect(),
            stats: KeyspaceStats::default(),
            policy: AtomicU8::new(Policy::NoEviction as u8),
            sink,
            eviction_pool: Mutex::new(EvictionPool::default()),
            snapshot: Mutex::new(None),
            keep_expired: AtomicBool::new(false),
            snap_bytes: AtomicU64::new(0),
            snap_peak: AtomicU64::new(0),
            isolation: Default::default(),
            first_use: parking_lot::RwLock::new(()),
            lazy_free: Default::default(),
            blocked: Default::default(),
            watched: Default::default(),
            tinylfu: Default::default(),
        }
    }

    /// Number of databases.
    pub fn db_count(&self) -> usize {
        self.dbs.len()
    }

    /// Database `i` (callers validate the index at SELECT time).
    pub fn db(&self, i: usize) -> &Db {
        &self.dbs[self.physical(i)]
    }

    /// Where database `i` lives in `dbs` now.
    pub(crate) fn physical(&self, i: usize) -> usize {
        self.map[i].load(Ordering::Relaxed)
    }

    /// The database at index `p` of `dbs` (a snapshot reads the ones it
    /// mapped at its point).
    pub(crate) fn physical_db(&self, p: usize) -> &Db {
        &self.dbs[p]
    }

    /// SWAPDB: databases `a` and `b` trade contents. The caller holds the
    /// keyspace exclusively (no slot guard exists, and every guard taken later
    /// maps afresh); a snapshot's point is taken under `first_use`, so it maps
    /// either before or after the swap, never half.
    pub fn swap_dbs(&self, a: usize, b: usize, now: u64) {
        self.touch_swapped(a, b, now);
        // XREADGROUP waiters on a stream that the swap takes away end.
        let mut gone = Vec::new();
        for (db, other) in [(a, b), (b, a)] {
            for key in self.blocked.keys_of(db) {
                if self.holds_stream(db, &key, now) && !self.holds_stream(other, &key, now) {
                    gone.push((db, key));
                }
            }
        }
        let _point = self.first_use.write();
        let (pa, pb) = (self.physical(a), self.physical(b));
        self.map[a].store(pb, Ordering::Relaxed);
        self.map[b].store(pa, Ordering::Relaxed);
        for (db, key) in gone {
            self.blocked.mark_ready(db, &key);
        }
    }

    /// True when `key` in `db` holds a stream (stored, expired or not).
    fn holds_stream(&self, db: usize, key: &[u8], now: u64) -> bool {
        let g = self.lock_key(db, key, now);
        g.stored(key)
            .is_some_and(|e| e.value().kind() == super::types::Kind::Stream)
    }

    /// SWAPDB changes a watched key of `a` or `b` when it is live in either
    /// (a stale or missing key replaced by a stale or missing one is no
    /// change, as Redis judges it).
    fn touch_swapped(&self, a: usize, b: usize, now: u64) {
        let mut keys = self.watched.keys_of(a);
        keys.extend(self.watched.keys_of(b));
        for key in keys {
            let live = |db: usize| {
                let g = self.lock_key(db, &key, now);
                g.stored(&key).is_some_and(|e| !e.is_expired(now))
            };
            if live(a) || live(b) {
                self.watched.touch(a, &key, Touch::Written);
                self.watched.touch(b, &key, Touch::Written);
            }
        }
    }

    /// The one "key changed" signal (a write, a removal, a TTL change, an
    /// expiry or eviction): WATCH, the commands blocked on the key and the
    /// sink (client tracking) all hear it here. Each costs one atomic load
    /// while nobody listens. Only a stored value (`set`) may serve blocked
    /// commands: a blocked command's own re-run takes its key for writing,
    /// and waking it again for that would loop.
    fn changed(&self, db: usize, key: &[u8], how: Touch) {
        self.watched.touch(db, key, how);
        self.sink.changed(db, key);
    }

    /// `changed` for a value just stored: it may also serve blocked commands.
    fn stored_value(&self, db: usize, key: &[u8]) {
        self.blocked.key_added(db, key);
        self.changed(db, key, Touch::Written);
    }

    /// The eviction policy (also decides what `Entry::access` means).
    pub fn policy(&self) -> Policy {
        Policy::from_u8(self.policy.load(Ordering::Relaxed))
    }

    /// Changes the eviction policy.
    pub fn set_policy(&self, p: Policy) {
        self.policy.store(p as u8, Ordering::Relaxed);
        if !p.is_tinylfu() {
            self.tinylfu.clear();
        }
    }

    /// Locks the slot table that holds `key` in `db`.
    pub fn lock_key(&self, db: usize, key: &[u8], now: u64) -> SlotGuard<'_> {
        self.lock_slot(db, key_slot(key), now)
    }

    /// Locks one slot table.
    pub fn lock_slot(&self, db: usize, slot: u16, now: u64) -> SlotGuard<'_> {
        let phys = self.physical(db);
        let d = &self.dbs[phys];
        let slots = match d.slots.get() {
            Some(s) => s,
            None => self.first_use_of(d),
        };
        SlotGuard {
            table: slots[slot as usize].lock(),
            ks: self,
            db,
            phys,
            slot,
            now,
        }
    }

    /// Allocates a database's slot tables on its first use, never while a
    /// snapshot takes its point (see `first_use`).
    #[cold]
    #[inline(never)]
    fn first_use_of<'a>(&self, d: &'a Db) -> &'a [Mutex<SlotTable>] {
        let _first = self.first_use.read();
        d.slots()
    }

    /// Locks every slot holding one of `keys` (each `(db, key)`), in ascending
    /// (db, slot) order so concurrent multi-key commands cannot deadlock.
    pub fn lock_many<'a, I>(&'a self, keys: I, now: u64) -> MultiGuard<'a>
    where
        I: IntoIterator<Item = (usize, &'a [u8])>,
    {
        let mut ids: SmallVec<[(usize, u16); INLINE_GUARDS]> =
            keys.into_iter().map(|(db, k)| (db, key_slot(k))).collect();
        ids.sort_unstable();
        ids.dedup();
        let guards = ids
            .into_iter()
            .map(|(db, s)| ((db, s), self.lock_slot(db, s, now)))
            .collect();
        MultiGuard { guards }
    }

    /// On a replica: expired keys read as missing but are not removed.
    pub fn set_keep_expired(&self, on: bool) {
        self.keep_expired.store(on, Ordering::Relaxed);
    }

    /// Total keys over all databases.
    pub fn total_keys(&self) -> u64 {
        self.dbs.iter().map(Db::len).sum()
    }

    /// Removes every key of database `db`; returns how many were removed.
    /// `lazy` frees them on the background thread (FLUSHDB ASYNC).
    pub fn flush_db(&self, db: usize, lazy: bool) -> u64 {
        let phys = self.physical(db);
        let d = &self.dbs[phys];
        let Some(slots) = d.slots.get() else { return 0 };
        let streams: Vec<Box<[u8]>> = (self.blocked.keys_of(db).into_iter())
            .filter(|k| self.holds_stream(db, k, 0))
            .collect();
        for key in self.watched.keys_of(db) {
            // Stored at all, expired or not: FLUSH removes it.
            if self.lock_key(db, &key, 0).stored(&key).is_some() {
                self.watched.touch(db, &key, Touch::Removed);
            }
        }
        let mut removed = 0;
        for (i, slot) in slots.iter().enumerate() {
            let mut table = slot.lock();
            if d.pending.get(i as u16) {
                let keys: Vec<Key> = table.records().map(|(k, _)| Key::new(k)).collect();
                for k in &keys {
                    self.keep_original(phys, i as u16, &mut table, k.as_bytes());
                }
            }
            let originals = table.originals.take();
            let t = std::mem::take(&mut *table);
            table.originals = originals;
            // Cleared under the slot's lock so a concurrent insert's bit survives.
            d.occupied.set(i as u16, false);
            d.with_ttl.set(i as u16, false);
            drop(table);
            let n = t.len() as u64;
            removed += n;
            d.keys.fetch_sub(n, Ordering::Relaxed);
            d.volatile.fetch_sub(t.volatile as u64, Ordering::Relaxed);
            if lazy && n > 0 {
                self.lazy_free.free_later(Box::new(t), n);
            }
        }
        for key in streams {
            self.blocked.mark_ready(db, &key);
        }
        removed
    }
}

/// Exclusive access to one slot table. Reads through it apply lazy expiry.
pub struct SlotGuard<'a> {
    table: MutexGuard<'a, SlotTable>,
    ks: &'a Keyspace,
    /// The database number (what removals are reported under).
    db: usize,
    /// Its index in `Keyspace::dbs`.
    phys: usize,
    slot: u16,
    now: u64,
}

impl Drop for SlotGuard<'_> {
    /// Publishes whether the slot holds keys (and keys with a TTL) while the lock
    /// is still held, whatever path changed the table.
    fn drop(&mut self) {
        let (keys, ttl) = (self.table.len() > 0, self.table.volatile > 0);
        let db = &self.ks.dbs[self.phys];
        db.occupied.set(self.slot, keys);
        db.with_ttl.set(self.slot, ttl);
    }
}

impl<'a> SlotGuard<'a> {
    /// The command's notion of "now" (unix ms).
    pub fn now(&self) -> u64 {
        self.now
    }

    fn counters(&self) -> &'a Db {
        &self.ks.dbs[self.phys]
    }

    /// Copy-on-write for a running snapshot: called before every change of `key`.
    fn cow(&mut self, key: &[u8]) {
        self.ks
            .keep_original(self.phys, self.slot, &mut self.table, key);
    }

    /// The live entry for `key` with one hash lookup; an expired entry is removed
    /// (lazy expiry) and reported as missing.
    fn live(&mut self, key: &[u8]) -> Option<&mut Record> {
        let (ks, now, dbi, phys) = (self.ks, self.now, self.db, self.phys);
        let h = hash_key(key);
        // An expired entry is removed below: a change the snapshot must not see.
        if ks.dbs[phys].pending.get(self.slot)
            && self
                .table
                .map
                .find(h, |r| r.key_is(key))
                .is_some_and(|r| r.is_expired(now))
        {
            self.cow(key);
        }
        let t = &mut *self.table;
        let i = t.map.find_index(h, |r| r.key_is(key))?;
        let expired = t.map.at(i).is_some_and(|r| r.is_expired(now));
        match i {
            // On a replica an expired key reads as missing but stays.
            _ if expired && ks.keep_expired.load(Ordering::Relaxed) => None,
            _ if expired => {
                t.map.remove_at(i);
                t.volatile -= 1;
                let db = &ks.dbs[phys];
                db.keys.fetch_sub(1, Ordering::Relaxed);
                db.volatile.fetch_sub(1, Ordering::Relaxed);
                ks.stats.expired.fetch_add(1, Ordering::Relaxed);
                ks.sink.removed(dbi, key, Removal::Expired);
                ks.changed(dbi, key, Touch::Removed);
                None
            }
            _ => t.map.at_mut(i),
        }
    }

    /// Looks a key up for reading: lazy expiry, access metadata, hit/miss stats.
    pub fn get(&mut self, key: &[u8]) -> Option<&mut Record> {
        let (ks, db) = (self.ks, self.db);
        let policy = ks.policy();
        match self.live(key) {
            Some(e) => {
                ks.stats.hits.fetch_add(1, Ordering::Relaxed);
                // A miss is not counted: the write that fills it is.
                ks.seen(policy, key);
                access::touch(e.access_mut(), policy);
                Some(e)
            }
            None => {
                ks.stats.misses.fetch_add(1, Ordering::Relaxed);
                ks.sink.missed(db, key);
                None
            }
        }
    }

    /// Looks a key up for writing: lazy expiry and access metadata, no hit/miss stats.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Record> {
        self.cow(key);
        let policy = self.ks.policy();
        let (ks, db) = (self.ks, self.db);
        ks.seen(policy, key);
        let e = self.live(key)?;
        // Taken for writing counts as written (Redis signals only a change
        // that happened: the one place WATCH may fail where Redis's would not).
        ks.changed(db, key, Touch::Written);
        access::touch(e.access_mut(), policy);
        Some(e)
    }

    /// Looks a key up without touching access metadata or stats (OBJECT, TTL-free peeks).
    pub fn peek(&mut self, key: &[u8]) -> Option<&Record> {
        self.live(key).map(|e| &*e)
    }

    /// The entry for `key` even when its TTL has passed, without expiring it
    /// (DEBUG DIGEST-VALUE sees what is stored, as Redis's does).
    pub fn stored(&self, key: &[u8]) -> Option<&Record> {
        self.table.entry(key)
    }

    /// True when `key` exists (after lazy expiry).
    pub fn contains(&mut self, key: &[u8]) -> bool {
        self.live(key).is_some()
    }

    /// Stores `value` under `key` with one hash lookup. `expire_at` 0 removes any
    /// TTL; `None` keeps the existing TTL (KEEPTTL). Returns the previous live entry.
    pub fn set(&mut self, key: &[u8], value: Value, expire_at: Option<u64>) -> Option<Record> {
        self.store(key, expire_at, Stored::Value(value))
    }

    /// `set` of a string from its bytes (SET, MSET): the record is built
    /// straight from them, or overwritten in place when its shape allows.
    pub fn set_string(&mut self, key: &[u8], bytes: &[u8], expire_at: Option<u64>) {
        self.store(key, expire_at, Stored::Bytes(bytes));
    }

    /// Stores `what` under `key`; returns the record it replaced, if it
    /// replaced one rather than overwrote it in place.
    fn store(&mut self, key: &[u8], expire_at: Option<u64>, what: Stored<'_>) -> Option<Record> {
        self.cow(key);
        let (ks, now, dbi, slot) = (self.ks, self.now, self.db, self.slot);
        let policy = ks.policy();
        let db = &ks.dbs[self.phys];
        let t = &mut *self.table;
        let h = hash_key(key);
        ks.seen_hash(policy, h);
        let found = t.map.find_index(h, |r| r.key_is(key));
        let old = match found.and_then(|i| t.map.at_mut(i)) {
            Some(e) => {
                let was_volatile = e.is_volatile();
                let old = if e.is_expired(now) {
                    // The old value died before this write: account its expiry.
                    ks.stats.expired.fetch_add(1, Ordering::Relaxed);
                    ks.sink.removed(dbi, key, Removal::Expired);
                    *e = what.record(key, expire_at.unwrap_or(0), access::initial_access(policy));
                    ks.newcomer(policy, h, dbi, slot);
                    ks.sink.created(dbi, key);
                    None
                } else {
                    let keep = expire_at.unwrap_or_else(|| e.expire_at());
                    let old = match what {
                        Stored::Bytes(b) if e.assign_string(b, keep) => None,
                        what => Some(std::mem::replace(e, what.record(key, keep, e.access()))),
                    };
                    access::touch(e.access_mut(), policy);
                    old
                };
                adjust_volatile(&mut t.volatile, db, was_volatile, e.is_volatile());
                old
            }
            None => {
                let e = what.record(key, expire_at.unwrap_or(0), access::initial_access(policy));
                let volatile = e.is_volatile();
                t.insert_new(h, e);
                ks.newcomer(policy, h, dbi, slot);
                db.keys.fetch_add(1, Ordering::Relaxed);
                adjust_volatile(&mut t.volatile, db, false, volatile);
                ks.sink.created(dbi, key);
                None
            }
        };
        ks.stored_value(dbi, key);
        old
    }

    /// Inserts a whole entry (RESTORE, COPY, RENAME), replacing any existing one.
    pub fn put_entry(&mut self, key: &[u8], entry: Entry) -> Option<Record> {
        let access = entry.access;
        let old = self.set(key, entry.value, Some(entry.expire_at));
        if let Some(e) = self.live(key) {
            *e.access_mut() = access;
        }
        old
    }

    /// Changes the TTL of an existing key (`0` = persist). False when missing.
    pub fn set_expire(&mut self, key: &[u8], expire_at: u64) -> bool {
        self.cow(key);
        let db = self.counters();
        let Some(e) = self.live(key) else {
            return false;
        };
        let was = e.is_volatile();
        e.set_expire_at(expire_at);
        let now = e.is_volatile();
        adjust_volatile(&mut self.table.volatile, db, was, now);
        self.ks.changed(self.db, key, Touch::Written);
        true
    }

    /// Deletes `key`; returns its entry when it existed (and had not expired).
    pub fn remove(&mut self, key: &[u8]) -> Option<Record> {
        if self.live(key).is_none() {
            // A replica keeps expired keys for its primary's DEL: this is it.
            if self.ks.keep_expired.load(Ordering::Relaxed) {
                self.remove_raw(key);
            }
            return None;
        }
        self.remove_raw(key)
    }

    fn remove_raw(&mut self, key: &[u8]) -> Option<Record> {
        self.cow(key);
        let db = self.counters();
        let t = &mut *self.table;
        let e = t.take(key)?;
        self.ks.changed(self.db, key, Touch::Removed);
        if e.value().kind() == super::types::Kind::Stream {
            // XREADGROUP waiters on it end (-UNBLOCKED / -NOGROUP).
            self.ks.blocked.key_added(self.db, key);
        }
        db.keys.fetch_sub(1, Ordering::Relaxed);
        if e.is_volatile() {
            t.volatile -= 1;
            db.volatile.fetch_sub(1, Ordering::Relaxed);
        }
        Some(e)
    }

    /// Removes a key for eviction or active expiry, telling the sink.
    pub fn remove_for(&mut self, key: &[u8], why: Removal) -> Option<Record> {
        let e = self.remove_raw(key)?;
        let counter = match why {
            Removal::Expired => &self.ks.stats.expired,
            Removal::Evicted => &self.ks.stats.evicted,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.ks.sink.removed(self.db, key, why);
        Some(e)
    }

    /// Number of keys in this slot.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when the slot holds no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of keys with a TTL in this slot.
    pub fn volatile_len(&self) -> usize {
        self.table.volatile
    }

    /// Iterates the slot's live (unexpired) entries without side effects.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Record)> {
        let now = self.now;
        self.table
            .records()
            .filter(move |(_, e)| !e.is_expired(now))
    }

    /// The `n`-th entry in table order (random sampling: callers pick `n`).
    pub fn nth(&self, n: usize) -> Option<(&[u8], &Record)> {
        self.table.records().nth(n)
    }

    /// Every entry, expired or not, in table order starting at position `start`
    /// and wrapping around (eviction sampling: callers pick `start` at random).
    pub fn entries_from(&self, start: usize) -> impl Iterator<Item = (&[u8], &Record)> {
        let start = start % self.table.len().max(1);
        let t = &*self.table;
        t.records().skip(start).chain(t.records().take(start))
    }

    /// Active expiry's step: looks at up to `limit` entries from where the
    /// last step stopped (wrapping around) and removes the expired ones;
    /// returns (volatile entries examined, expired). The work under the lock
    /// is `limit` entries plus stepping past the ones before the cursor, which
    /// reads no entry: a slot of millions of keys is never scanned whole.
    pub fn purge_expired(&mut self, limit: usize) -> (usize, usize) {
        let now = self.now;
        let t = &mut *self.table;
        let len = t.map.len();
        if t.volatile == 0 || len == 0 {
            return (0, 0);
        }
        let start = t.expire_cursor % len;
        let take = limit.min(len);
        t.expire_cursor = start + take;
        let mut examined = 0;
        let mut dead: Vec<Key> = Vec::new();
        for r in t.map.iter().skip(start).chain(t.map.iter()).take(take) {
            if r.is_volatile() {
                examined += 1;
                if r.is_expired(now) {
                    dead.push(Key::new(r.key()));
                }
            }
        }
        for k in &dead {
            self.remove_for(k.as_bytes(), Removal::Expired);
        }
        (examined, dead.len())
    }

    /// Removes every expired entry of the slot (RANDOMKEY on a primary, which
    /// must not draw one); returns how many.
    pub fn purge_all_expired(&mut self) -> usize {
        let len = self.table.map.len();
        let mut removed = 0;
        while self.table.volatile > 0 && removed < len {
            let (examined, expired) = self.purge_expired(len);
            removed += expired;
            if expired == 0 || examined == 0 {
                break;
            }
        }
        removed
    }
}

/// What a write stores: a value, or a string's bytes (SET).
enum Stored<'a> {
    Value(Value),
    Bytes(&'a [u8]),
}

impl Stored<'_> {
    fn record(self, key: &[u8], expire_at: u64, access: u32) -> Record {
        match self {
            Stored::Value(v) => Record::new(key, v, expire_at, access),
            Stored::Bytes(b) => Record::string(key, b, expire_at, access),
        }
    }
}

fn adjust_volatile(volatile: &mut usize, db: &Db, was: bool, now: bool) {
    match (was, now) {
        (false, true) => {
            *volatile += 1;
            db.volatile.fetch_add(1, Ordering::Relaxed);
        }
        (true, false) => {
            *volatile -= 1;
            db.volatile.fetch_sub(1, Ordering::Relaxed);
        }
        _ => {}
    }
}

/// Slots a multi-key command locks without allocating (MGET/MSET of up to
/// this many slots: the common pipelined sizes stay off the heap).
const INLINE_GUARDS: usize = 16;

/// Several slot locks held together (multi-key commands).
pub struct MultiGuard<'a> {
    guards: SmallVec<[((usize, u16), SlotGuard<'a>); INLINE_GUARDS]>,
}

impl<'a> MultiGuard<'a> {
    /// The guard for `key` in `db`; the key must have been passed to `lock_many`.
    pub fn slot(&mut self, db: usize, key: &[u8]) -> &mut SlotGuard<'a> {
        let id = (db, key_slot(key));
        let i = self
            .guards
            .binary_search_by(|(g, _)| g.cmp(&id))
            .expect("lock_many was given every key this command touches");
        &mut self.guards[i].1
    }

    /// The guard for `key` in `db`, shared, so values of several slots can be
    /// read at once; the key must have been passed to `lock_many`.
    pub fn slot_ref(&self, db: usize, key: &[u8]) -> Option<&SlotGuard<'a>> {
        let id = (db, key_slot(key));
        let i = self.guards.binary_search_by(|(g, _)| g.cmp(&id)).ok()?;
        self.guards.get(i).map(|(_, g)| g)
    }
}

mod admission;
mod prefetch;

#[cfg(test)]
mod tests;
