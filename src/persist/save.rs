//! RDB snapshots of the running server: SAVE and BGSAVE (a point-in-time
//! copy-on-write snapshot written slot by slot, no fork, no global stop
//! beyond the instant that marks the point), save points, the MISCONF rule,
//! and loading an RDB file at start.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use thiserror::Error;

use super::snapshot::{self, Aux, SnapshotError, SnapshotWriter};
use crate::clock::unix_ms;
use crate::server::{Server, REDIS_VERSION};
use crate::store::snapshot::SnapshotSink;
use crate::store::{evict, Entry};

/// The `MISCONF` error for a failed background save.
pub const MISCONF_RDB: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// After a failed background save, save points wait this long before retrying.
const RETRY_DELAY_MS: u64 = 5000;

/// Counters and status of RDB saving (INFO persistence).
#[derive(Debug)]
pub struct RdbState {
    /// A save (SAVE or BGSAVE) is running.
    pub in_progress: AtomicBool,
    /// Unix ms when the running save started.
    pub started_ms: AtomicU64,
    /// The last background save succeeded.
    pub last_bgsave_ok: AtomicBool,
    /// Seconds the last save took (-1 before the first).
    pub last_duration_sec: AtomicI64,
    /// Saves completed.
    pub saves: AtomicU64,
    /// Peak bytes the last save's copies held (`rdb_last_cow_size`).
    pub last_cow: AtomicU64,
    /// Keys written by the running save, and the total to write.
    pub keys_processed: AtomicU64,
    /// Keys in the dataset when the running save started.
    pub keys_total: AtomicU64,
    /// Unix ms of the last attempt (for the retry delay).
    pub last_try_ms: AtomicU64,
    /// Keys loaded at start, and keys skipped because they had expired.
    pub loaded: AtomicU64,
    /// Keys found expired while loading.
    pub load_expired: AtomicU64,
    /// A BGSAVE waits for a running snapshot to end (BGSAVE SCHEDULE).
    pub scheduled: AtomicBool,
}

impl Default for RdbState {
    fn default() -> Self {
        RdbState {
            in_progress: AtomicBool::new(false),
            started_ms: AtomicU64::new(0),
            last_bgsave_ok: AtomicBool::new(true),
            last_duration_sec: AtomicI64::new(-1),
            saves: AtomicU64::new(0),
            last_cow: AtomicU64::new(0),
            keys_processed: AtomicU64::new(0),
            keys_total: AtomicU64::new(0),
            last_try_ms: AtomicU64::new(0),
            loaded: AtomicU64::new(0),
            load_expired: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
        }
    }
}

/// Why a save did not happen.
#[derive(Debug, Error)]
pub enum SaveError {
    /// Another snapshot (save or AOF rewrite) is running.
    #[error("a snapshot is already in progress")]
    Busy,
    /// Writing the file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Feeds a keyspace snapshot into an RDB writer, counting keys.
pub(crate) struct RdbSink<'s, W: Write> {
    pub(crate) w: SnapshotWriter<W>,
    pub(crate) keys: u64,
    pub(crate) progress: Option<&'s AtomicU64>,
}

impl<W: Write> SnapshotSink for RdbSink<'_, W> {
    fn db(&mut self, db: usize, keys: u64, expires: u64) -> std::io::Result<()> {
        self.w.select_db(db, keys, expires)
    }

    fn entry(&mut self, key: &[u8], e: &Entry) {
        self.w.entry(key, e);
        self.keys += 1;
    }

    fn slot_done(&mut self) -> std::io::Result<()> {
        if let Some(p) = self.progress {
            p.store(self.keys, Ordering::Relaxed);
        }
        self.w.flush_if_full()
    }
}

/// What a written snapshot covered.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// Replication offset at the point.
    pub offset: u64,
    /// Changes counted (`dirty`) at the point.
    pub dirty: u64,
    /// Keys written.
    pub keys: u64,
    /// Peak bytes held by copy-on-write copies.
    pub cow_peak: u64,
}

/// Writes a point-in-time snapshot of the keyspace as an RDB image to `out`.
/// `aof_base` marks it as an AOF preamble; `at_point` runs at the point, with
/// every command stopped (the AOF rewrite starts its tail capture there).
pub(crate) fn write_snapshot<W: Write>(
    srv: &Server,
    out: W,
    aof_base: bool,
    at_point: impl FnOnce(),
) -> Result<(W, Written), SaveError> {
    let (snap, (offset, dirty)) = srv
        .keyspace
        .begin_snapshot(|| {
            at_point();
            (srv.repl.offset(), srv.dirty.load(Ordering::Relaxed))
        })
        .map_err(|_| SaveError::Busy)?;
    let (compress, checksum) = {
        let c = srv.config.read();
        (c.rdbcompression, c.rdbchecksum)
    };
    let aux = [
        ("redis-ver", Aux::Str(REDIS_VERSION)),
        ("redis-bits", Aux::Int(64)),
        ("ctime", Aux::Int((unix_ms() / 1000) as i64)),
        ("used-mem", Aux::Int(srv.used_memory() as i64)),
        ("repl-stream-db", Aux::Int(0)),
        ("repl-id", Aux::Str(srv.repl.repl_id())),
        ("repl-offset", Aux::Int(offset as i64)),
        ("aof-base", Aux::Int(aof_base as i64)),
    ];
    let st = &srv.persistence.rdb;
    st.keys_total
        .store(srv.keyspace.total_keys(), Ordering::Relaxed);
    st.keys_processed.store(0, Ordering::Relaxed);
    let mut w = SnapshotWriter::new(out, &aux, compress)?;
    if !checksum {
        w = w.without_checksum();
    }
    let mut sink = RdbSink {
        w,
        keys: 0,
        progress: Some(&st.keys_processed),
    };
    snap.write(&mut sink)?;
    let cow_peak = snap.copy_bytes().1;
    drop(snap);
    let keys = sink.keys;
    let out = sink.w.finish()?;
    Ok((
        out,
        Written {
            offset,
            dirty,
            keys,
            cow_peak,
        },
    ))
}

/// Flushes `path`'s directory entry (after a rename into it).
pub(crate) fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// Writes the RDB file now (SAVE, BGSAVE, save points, SHUTDOWN): a temporary
/// file, fsync, rename over `dbfilename`, fsync of the directory.
pub fn save(srv: &Server) -> Result<Written, SaveError> {
    claim(srv)?;
    save_claimed(srv, false)
}

/// Marks a save as running; `Err(Busy)` when one already is.
fn claim(srv: &Server) -> Result<(), SaveError> {
    srv.persistence
        .rdb
        .in_progress
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .map(|_| ())
        .map_err(|_| SaveError::Busy)
}

/// Saves (the claim is taken). Another snapshot that started in the meantime
/// (a replica's full sync) is not a failed save: a background save is tried
/// again by the save cron once it ended.
fn save_claimed(srv: &Server, background: bool) -> Result<Written, SaveError> {
    let st = &srv.persistence.rdb;
    let started = Instant::now();
    st.started_ms.store(unix_ms(), Ordering::Relaxed);
    st.last_try_ms.store(unix_ms(), Ordering::Relaxed);
    let name = srv.config.read().dbfilename.clone();
    let tmp = format!("temp-{}.rdb", std::process::id());
    let result = (|| -> Result<Written, SaveError> {
        let f = File::create(&tmp)?;
        let (w, written) = write_snapshot(srv, BufWriter::with_capacity(1 << 20, f), false, || {})?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &name)?;
        sync_dir(Path::new(&name))?;
        Ok(written)
    })();
    match &result {
        Ok(w) => {
            let _ = srv
                .dirty
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                    Some(d.saturating_sub(w.dirty))
                });
            srv.lastsave.store(unix_ms() / 1000, Ordering::Relaxed);
            st.saves.fetch_add(1, Ordering::Relaxed);
            st.last_cow.store(w.cow_peak, Ordering::Relaxed);
            st.last_bgsave_ok.store(true, Ordering::Relaxed);
            tracing::info!(
                "DB saved on disk ({} keys in {:?})",
                w.keys,
                started.elapsed()
            );
        }
        Err(SaveError::Busy) => {
            let _ = std::fs::remove_file(&tmp);
            if background {
                st.scheduled.store(true, Ordering::Relaxed);
                tracing::info!(
                    "A snapshot for a replica is running: the background save waits for it"
                );
            }
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            st.last_bgsave_ok.store(false, Ordering::Relaxed);
            tracing::warn!("Failed saving the DB: {e}");
        }
    }
    st.last_duration_sec
        .store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
    st.started_ms.store(0, Ordering::Relaxed);
    st.in_progress.store(false, Ordering::Release);
    result
}

/// Starts a save in a background thread. `Err(Busy)` when one is running.
pub fn bgsave(srv: &Arc<Server>) -> Result<(), SaveError> {
    if srv.persistence.snapshot_busy() || srv.keyspace.snapshot_running() {
        return Err(SaveError::Busy);
    }
    // Claimed here, not in the thread, so INFO shows it running as soon as
    // BGSAVE has answered.
    claim(srv)?;
    let srv2 = srv.clone();
    let spawned = std::thread::Builder::new()
        .name("bgsave".into())
        .spawn(move || {
            let _ = save_claimed(&srv2, true);
        });
    if let Err(e) = spawned {
        srv.persistence
            .rdb
            .in_progress
            .store(false, Ordering::Release);
        return Err(e.into());
    }
    Ok(())
}

/// The periodic check of the save points (Redis's `serverCron` part).
pub fn cron(srv: &Arc<Server>, now_ms: u64) {
    let points = {
        let c = srv.config.read();
        crate::config::parse_save(&c.save).unwrap_or_default()
    };
    let st = &srv.persistence.rdb;
    if st.in_progress.load(Ordering::Acquire)
        || srv.persistence.snapshot_busy()
        || srv.keyspace.snapshot_running()
    {
        return;
    }
    if st.scheduled.swap(false, Ordering::Relaxed) {
        let _ = bgsave(srv);
        return;
    }
    if points.is_empty() {
        return;
    }
    let dirty = srv.dirty.load(Ordering::Relaxed);
    let since = now_ms / 1000 - srv.lastsave.load(Ordering::Relaxed).min(now_ms / 1000);
    let retry_ok = st.last_bgsave_ok.load(Ordering::Relaxed)
        || now_ms.saturating_sub(st.last_try_ms.load(Ordering::Relaxed)) > RETRY_DELAY_MS;
    if retry_ok
        && points
            .iter()
            .any(|&(secs, changes)| dirty >= changes && since >= secs)
    {
        tracing::info!("{dirty} changes since the last save: saving...");
        let _ = bgsave(srv);
    }
}

/// The MISCONF line for writes while the disk refuses our files, if any.
pub fn disk_error(srv: &Server) -> Option<String> {
    {
        let c = srv.config.read();
        if c.stop_writes_on_bgsave_error
            && c.has_save_points()
            && !srv.persistence.rdb.last_bgsave_ok.load(Ordering::Relaxed)
        {
            return Some(MISCONF_RDB.to_string());
        }
    }
    srv.persistence.aof_error()
}

/// Why a file could not be loaded at start.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Its content is not a valid RDB image.
    #[error("{0}")]
    Format(#[from] SnapshotError),
    /// A key for a database this server does not have.
    #[error(
        "Data file was created with a Redis server configured to handle more than {0} databases"
    )]
    Databases(usize),
}

/// Which keys whose TTL has passed a load keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// Dropped: a primary loading its own RDB file (nothing after the file
    /// can refer to them), as Redis does.
    Drop,
    /// Kept: an AOF's preamble (its tail may still PERSIST them) or a
    /// replica's snapshot (the primary's stream decides). They expire only by
    /// a DEL of the stream, or the primary's own expiry after loading.
    Keep,
}

/// Puts the keys of an RDB image into the keyspace. Returns the load summary
/// and how many keys it held.
pub fn load_image(
    srv: &Server,
    buf: &[u8],
    expired_keys: Expired,
) -> Result<(snapshot::Loaded, u64), LoadError> {
    let now = unix_ms();
    let policy = srv.keyspace.policy();
    let dbs = srv.keyspace.db_count();
    let (mut loaded, mut expired, mut bad_db) = (0u64, 0u64, false);
    let summary = snapshot::load(buf, |r| {
        if r.db >= dbs {
            bad_db = true;
            return;
        }
        if expired_keys == Expired::Drop && r.expire_at != 0 && r.expire_at <= now {
            expired += 1;
            return;
        }
        let mut g = srv
            .keyspace
            .lock_key(r.db, r.key, crate::store::NEVER_EXPIRED);
        g.put_entry(
            r.key,
            Entry {
                value: r.value,
                expire_at: r.expire_at,
                access: evict::initial_access(policy),
            },
        );
        loaded += 1;
    })?;
    if bad_db {
        return Err(LoadError::Databases(dbs));
    }
    let st = &srv.persistence.rdb;
    st.loaded.fetch_add(loaded, Ordering::Relaxed);
    st.load_expired.fetch_add(expired, Ordering::Relaxed);
    Ok((summary, loaded))
}

/// Loads `path` (an RDB file) into an empty server; a replica keeps the keys
/// whose TTL has passed for its primary's DELs.
pub fn load_file(srv: &Server, path: &Path) -> Result<u64, LoadError> {
    let buf = std::fs::read(path)?;
    let expired = if srv.upstream.is_replica() {
        Expired::Keep
    } else {
        Expired::Drop
    };
    let (_, n) = load_image(srv, &buf, expired)?;
    Ok(n)
}
