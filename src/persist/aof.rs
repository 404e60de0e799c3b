//! The append-only file: the RESP command stream of the write log (its
//! deterministic forms), written by one thread that takes the log's tap in
//! chunks. A connection's replies wait until its writes are in the file
//! (`everysec`, `no`) or on the disk (`always`), so an acknowledged write
//! survives a crash of the process (and of the machine with `always`);
//! `everysec` fsyncs once a second.
//!
//! BGREWRITEAOF writes a point-in-time snapshot (an RDB preamble, or SET
//! commands) to a temporary file, then the log's capture of everything since
//! the snapshot point. To finish, it holds the writer off the old file, ends
//! the capture at an offset (a moment under the log's lock), and writes,
//! syncs and renames the new file while writes go on; the writer then
//! continues in the new file past that offset. Until the rename, the old file
//! is the one on disk, and replies of writes it lacks wait. If anything fails
//! before the rename, the writer gets back the bytes the rewrite held and
//! carries on in the old file; nothing fallible follows the rename.
//! At start the file is replayed through the command handlers; a command cut
//! short at the end is dropped (`aof-load-truncated yes`), a bad one in the
//! middle stops start-up with its offset.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::sync::watch;

use super::save::{self, sync_dir, SaveError};
use crate::repl::Log;
use crate::resp::parser::{Limits, Parsed, RequestParser};
use crate::resp::Argv;
use crate::store::snapshot::SnapshotSink;
use crate::store::Record;

/// When the file reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Before a write is acknowledged.
    Always = 0,
    /// Once a second.
    EverySec = 1,
    /// When the OS decides.
    No = 2,
}

impl Fsync {
    /// Parses `always|everysec|no`.
    pub fn parse(s: &str) -> Option<Fsync> {
        match s {
            "always" => Some(Fsync::Always),
            "everysec" => Some(Fsync::EverySec),
            "no" => Some(Fsync::No),
            _ => None,
        }
    }

    fn from_u8(v: u8) -> Fsync {
        match v {
            0 => Fsync::Always,
            1 => Fsync::EverySec,
            _ => Fsync::No,
        }
    }
}

/// The open file and what is known of it.
struct FileState {
    file: File,
    /// The file holds the stream up to this offset at least (set when a
    /// rewrite swaps the file in): chunks ending there are already in it.
    covers: u64,
}

#[derive(Default)]
struct Wake {
    /// Highest offset some connection waits for.
    wanted: u64,
    stop: bool,
}

/// Counters of AOF rewrites (INFO persistence).
#[derive(Debug)]
pub struct RewriteState {
    /// A rewrite runs.
    pub in_progress: AtomicBool,
    /// One waits for a running snapshot to end.
    pub scheduled: AtomicBool,
    /// The last rewrite succeeded.
    pub last_ok: AtomicBool,
    /// Seconds the last one took (-1 before the first).
    pub last_duration_sec: AtomicI64,
    /// Unix ms when the running one started (0 = none).
    pub started_ms: AtomicU64,
    /// Rewrites done.
    pub rewrites: AtomicU64,
    /// Failures in a row.
    pub consecutive_failures: AtomicU64,
    /// Peak copy-on-write bytes of the last rewrite.
    pub last_cow: AtomicU64,
}

impl RewriteState {
    /// Marks a rewrite as running; `Err(Busy)` when one already is.
    pub fn claim(&self) -> Result<(), SaveError> {
        self.in_progress
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|_| SaveError::Busy)
    }
}

impl Default for RewriteState {
    fn default() -> Self {
        RewriteState {
            in_progress: AtomicBool::new(false),
            scheduled: AtomicBool::new(false),
            last_ok: AtomicBool::new(true),
            last_duration_sec: AtomicI64::new(-1),
            started_ms: AtomicU64::new(0),
            rewrites: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            last_cow: AtomicU64::new(0),
        }
    }
}

/// The running append-only file.
pub struct Aof {
    path: PathBuf,
    policy: AtomicU8,
    file: Mutex<FileState>,
    wake: (Mutex<Wake>, Condvar),
    written: watch::Sender<u64>,
    synced: watch::Sender<u64>,
    /// The last write (or fsync) succeeded (shared with `Persistence`, so the
    /// per-command check is one load).
    pub last_write_ok: Arc<AtomicBool>,
    last_error: Mutex<String>,
    /// Size after the last rewrite (or at start).
    pub base_size: AtomicU64,
    /// Size now.
    pub current_size: AtomicU64,
    /// Bytes taken from the log but not yet written.
    pub pending: AtomicU64,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// An AOF that cannot be replayed.
#[derive(Debug, Error)]
pub enum AofLoadError {
    /// The file could not be read (or truncated).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The RDB preamble is bad.
    #[error("Bad RDB preamble in the append only file {path}: {source}")]
    Preamble {
        /// The file.
        path: String,
        /// What is wrong with it.
        source: save::LoadError,
    },
    /// A command in the middle is malformed or unknown.
    #[error("Bad file format reading the append only file {path} at offset {offset}: {why}")]
    Corrupt {
        /// The file.
        path: String,
        /// Byte offset of the bad command.
        offset: usize,
        /// What is wrong.
        why: String,
    },
    /// The last command is cut short and `aof-load-truncated` is off.
    #[error("Unexpected end of file reading the append only file {path} at offset {offset}; set aof-load-truncated yes to load it anyway")]
    Truncated {
        /// The file.
        path: String,
        /// Where the incomplete command starts.
        offset: usize,
    },
}

impl Aof {
    /// Opens (or creates) the file for appending and starts its writer thread.
    /// The log's tap must be attached by the caller once the file holds
    /// everything before it.
    pub fn open(
        path: &Path,
        policy: Fsync,
        log_offset: u64,
        ok: Arc<AtomicBool>,
    ) -> std::io::Result<Arc<Aof>> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        let aof = Arc::new(Aof {
            path: path.to_path_buf(),
            policy: AtomicU8::new(policy as u8),
            file: Mutex::new(FileState {
                file,
                covers: log_offset,
            }),
            wake: (Mutex::new(Wake::default()), Condvar::new()),
            written: watch::Sender::new(log_offset),
            synced: watch::Sender::new(log_offset),
            last_write_ok: ok,
            last_error: Mutex::new(String::new()),
            base_size: AtomicU64::new(size),
            current_size: AtomicU64::new(size),
            pending: AtomicU64::new(0),
            thread: Mutex::new(None),
        });
        aof.last_write_ok.store(true, Ordering::Relaxed);
        Ok(aof)
    }

    /// Starts the thread that writes what the log's tap collects.
    pub fn start(self: &Arc<Self>, log: &Arc<Log>) -> std::io::Result<()> {
        let (aof, log) = (self.clone(), Arc::downgrade(log));
        let h = std::thread::Builder::new()
            .name("aof".into())
            .spawn(move || aof.run(log))?;
        if let Ok(mut t) = self.thread.lock() {
            *t = Some(h);
        }
        Ok(())
    }

    /// The fsync policy.
    pub fn policy(&self) -> Fsync {
        Fsync::from_u8(self.policy.load(Ordering::Relaxed))
    }

    /// Changes the fsync policy (CONFIG SET appendfsync).
    pub fn set_policy(&self, p: Fsync) {
        self.policy.store(p as u8, Ordering::Relaxed);
    }

    /// The error text of the last failed write, when writes fail.
    pub fn error(&self) -> Option<String> {
        if self.last_write_ok.load(Ordering::Relaxed) {
            return None;
        }
        let e = self
            .last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        Some(format!("MISCONF Errors writing to the AOF file: {e}"))
    }

    /// Waits until the writes up to `offset` are in the file (and on the disk
    /// with `always`). Connections call it before sending their replies.
    pub async fn wait_durable(&self, offset: u64) {
        let target = if self.policy() == Fsync::Always {
            &self.synced
        } else {
            &self.written
        };
        if *target.borrow() >= offset {
            return;
        }
        let mut rx = target.subscribe();
        {
            if let Ok(mut w) = self.wake.0.lock() {
                if w.wanted < offset {
                    w.wanted = offset;
                    self.wake.1.notify_one();
                }
            }
        }
        let _ = rx.wait_for(|v| *v >= offset).await;
    }

    /// Stops the writer once it wrote and fsynced everything the log has
    /// given it, and waits for that (turning AOF off, shutdown).
    pub fn stop(&self) {
        if let Ok(mut w) = self.wake.0.lock() {
            w.stop = true;
            self.wake.1.notify_one();
        }
        let h = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = h {
            let _ = h.join();
        }
    }

    fn run(self: Arc<Self>, log: std::sync::Weak<Log>) {
        let mut carry: Vec<u8> = Vec::new();
        let mut carry_end = 0u64;
        let mut last_fsync = Instant::now();
        loop {
            let stop = {
                let Ok(mut w) = self.wake.0.lock() else {
                    return;
                };
                let written = *self.written.borrow();
                let deadline = Duration::from_millis(if self.policy() == Fsync::EverySec {
                    1000
                } else {
                    100
                });
                if !w.stop && w.wanted <= written && carry.is_empty() {
                    w = match self.wake.1.wait_timeout(w, deadline) {
                        Ok((g, _)) => g,
                        Err(_) => return,
                    };
                }
                w.stop
            };
            let Some(log) = log.upgrade() else { return };
            if carry.is_empty() {
                (carry, carry_end) = log.take_tap();
            }
            drop(log);
            let mut f = match self.file.lock() {
                Ok(f) => f,
                Err(_) => return,
            };
            if carry_end <= f.covers {
                // Taken before a rewrite swapped the file in: the new file has it.
                carry.clear();
            }
            // Only bytes this thread wrote count: an empty take proves nothing
            // while a rewrite holds the tap's last bytes.
            let wrote = !carry.is_empty();
            let mut ok = true;
            while !carry.is_empty() {
                match f.file.write(&carry) {
                    Ok(0) => {
                        ok = self.failed("short write");
                        break;
                    }
                    Ok(n) => {
                        carry.drain(..n);
                        self.current_size.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        ok = self.failed(&e.to_string());
                        break;
                    }
                }
            }
            self.pending.store(carry.len() as u64, Ordering::Relaxed);
            if !ok {
                drop(f);
                // Keep the bytes and try again; writes are refused meanwhile.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            let policy = self.policy();
            let want_sync = policy == Fsync::Always
                || stop
                || (policy == Fsync::EverySec && last_fsync.elapsed() >= Duration::from_secs(1));
            if want_sync {
                if let Err(e) = f.file.sync_data() {
                    drop(f);
                    self.failed(&e.to_string());
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                last_fsync = Instant::now();
            }
            drop(f);
            self.recovered();
            if wrote {
                self.written.send_modify(|v| *v = (*v).max(carry_end));
                if want_sync {
                    self.synced.send_modify(|v| *v = (*v).max(carry_end));
                }
            }
            if stop {
                self.release_waiters();
                return;
            }
        }
    }

    fn failed(&self, why: &str) -> bool {
        if self.last_write_ok.swap(false, Ordering::Relaxed) {
            tracing::warn!("Error writing to the AOF file: {why}");
        }
        if let Ok(mut e) = self.last_error.lock() {
            *e = why.to_string();
        }
        false
    }

    fn recovered(&self) {
        if !self.last_write_ok.swap(true, Ordering::Relaxed) {
            tracing::info!("AOF write error looks solved, Redis can write again.");
        }
    }

    /// Lets every waiting connection go (the file is closed).
    fn release_waiters(&self) {
        self.written.send_replace(u64::MAX);
        self.synced.send_replace(u64::MAX);
    }

    /// Ends a rewrite whose snapshot and tail so far are in `f` (at `tmp`):
    /// the rest of the capture goes in, the file is synced and renamed over
    /// the AOF, and the writer continues in it past the capture's end. The
    /// writer is kept off the old file meanwhile and the log is locked only
    /// while the capture ends, so commands run on. Returns the new size.
    pub fn install(&self, log: &Log, mut f: File, tmp: &Path) -> Result<u64, SaveError> {
        let mut state = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("the AOF writer panicked"))?;
        let (rest, held, end) = log.finish_capture();
        let ready = (|| -> std::io::Result<(File, u64)> {
            f.write_all(&rest)?;
            f.sync_data()?;
            let size = f.metadata()?.len();
            // Opened before the rename, so nothing that can fail follows it.
            let appender = OpenOptions::new().append(true).open(tmp)?;
            std::fs::rename(tmp, &self.path)?;
            Ok((appender, size))
        })();
        let (appender, size) = match ready {
            Ok(r) => r,
            Err(e) => {
                // The old file stays: its writer still needs the bytes held here.
                log.restore_tap(held);
                return Err(e.into());
            }
        };
        state.file = appender;
        state.covers = end;
        drop(state);
        self.base_size.store(size, Ordering::Relaxed);
        self.current_size.store(size, Ordering::Relaxed);
        if let Err(e) = sync_dir(&self.path) {
            // The new file is in place and in use; only the directory entry's
            // durability is in doubt.
            tracing::warn!("Error fsyncing the directory of the rewritten AOF: {e}");
        }
        self.written.send_modify(|v| *v = (*v).max(end));
        self.synced.send_modify(|v| *v = (*v).max(end));
        Ok(size)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes a snapshot as SET/PEXPIREAT commands (a rewrite without RDB preamble).
pub struct RespSink<W: Write> {
    /// Where the commands go.
    pub w: W,
    /// Commands not written yet (flushed every 64 KiB at a slot's end).
    pub buf: Vec<u8>,
}

impl<W: Write> SnapshotSink for RespSink<W> {
    fn db(&mut self, db: usize, _: u64, _: u64) -> std::io::Result<()> {
        let d = db.to_string();
        crate::repl::log::encode_command(&mut self.buf, &[b"SELECT", d.as_bytes()]);
        Ok(())
    }

    fn entry(&mut self, key: &[u8], e: &Record) {
        let buf = &mut self.buf;
        e.value()
            .rewrite(key, &mut |argv| crate::repl::log::encode_command(buf, argv));
        if e.expire_at() != 0 {
            let t = e.expire_at().to_string();
            crate::repl::log::encode_command(&mut self.buf, &[b"PEXPIREAT", key, t.as_bytes()]);
        }
    }

    fn slot_done(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= 64 * 1024 {
            self.w.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// What replaying a file did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Commands read (MULTI and EXEC included).
    pub commands: u64,
    /// Keys loaded from an RDB preamble.
    pub preamble_keys: u64,
    /// Bytes dropped from a cut-short end.
    pub truncated: u64,
}

/// The commands of an AOF after its RDB preamble, read in order: the loader
/// runs them. Knows where a cut-short tail starts.
pub struct Commands<'a> {
    data: &'a [u8],
    pos: usize,
    parser: RequestParser,
    limits: Limits,
}

impl<'a> Commands<'a> {
    /// The commands of `data` from byte `start` (past a preamble).
    pub fn new(data: &'a [u8], start: usize, limits: Limits) -> Self {
        Commands {
            data,
            pos: start,
            parser: RequestParser::new(),
            limits,
        }
    }

    /// The next command with its byte offset; `None` at the end of the
    /// complete commands (see `pos` for where they end). `Err` is a command
    /// that cannot be parsed, with its offset.
    pub fn next_command(&mut self) -> Result<Option<(usize, Argv<'_>)>, (usize, String)> {
        loop {
            let rest = &self.data[self.pos..];
            if rest.is_empty() {
                return Ok(None);
            }
            match self.parser.parse(rest, &self.limits) {
                Ok(Parsed::Command { consumed }) => {
                    let at = self.pos;
                    self.pos += consumed;
                    let src = self.parser.inline_buffer().unwrap_or(rest);
                    return Ok(Some((at, Argv::new(src, self.parser.args()))));
                }
                Ok(Parsed::Empty { consumed }) => self.pos += consumed,
                Ok(Parsed::Incomplete) => return Ok(None),
                Err(e) => return Err((self.pos, e.to_string())),
            }
        }
    }

    /// Where the complete commands read so far end.
    pub fn pos(&self) -> usize {
        self.pos
    }
}
