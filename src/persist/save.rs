//! RDB saving's state and vocabulary: its counters (INFO persistence), its
//! errors, the sink that writes a keyspace snapshot into an RDB writer, and
//! the MISCONF rule. Saving itself (SAVE, BGSAVE, save points, loading at
//! start) is driven by `services::save`.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use thiserror::Error;

use super::rdb_file::{SnapshotError, SnapshotWriter};
use crate::config::Config;
use crate::store::snapshot::SnapshotSink;
use crate::store::Record;

/// The `MISCONF` error for a failed background save.
pub const MISCONF_RDB: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

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
pub struct RdbSink<'s, W: Write> {
    /// The RDB writer.
    pub w: SnapshotWriter<W>,
    /// Keys written so far.
    pub keys: u64,
    /// Where the count is published (INFO's keys processed).
    pub progress: Option<&'s AtomicU64>,
}

impl<W: Write> SnapshotSink for RdbSink<'_, W> {
    fn db(&mut self, db: usize, keys: u64, expires: u64) -> std::io::Result<()> {
        self.w.select_db(db, keys, expires)
    }

    fn entry(&mut self, key: &[u8], e: &Record) {
        self.w.entry(key, e.value(), e.expire_at());
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

/// Flushes `path`'s directory entry (after a rename into it).
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// The MISCONF line for writes while the disk refuses our files, if any.
pub fn disk_error(cfg: &Config, p: &super::Persistence) -> Option<String> {
    if cfg.stop_writes_on_bgsave_error
        && cfg.has_save_points()
        && !p.rdb.last_bgsave_ok.load(Ordering::Relaxed)
    {
        return Some(MISCONF_RDB.to_string());
    }
    p.aof_error()
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
    /// A function library in it does not load.
    #[error("Failed loading library: {0}")]
    Functions(String),
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
