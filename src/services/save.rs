//! Saving and loading RDB snapshots of the running server: SAVE and BGSAVE (a
//! point-in-time copy-on-write snapshot written slot by slot, no fork, no
//! global stop beyond the instant that marks the point), save points, and
//! loading an RDB image (a file at start, a replica's full sync).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::clock::unix_ms;
use crate::node::{Server, REDIS_VERSION};
use crate::persist::rdb_file::{self, Aux, SnapshotWriter};
use crate::persist::save::{sync_dir, Expired, LoadError, RdbSink, SaveError, Written};
use crate::store::{access, Entry};

/// After a failed background save, save points wait this long before retrying.
const RETRY_DELAY_MS: u64 = 5000;

/// Writes a point-in-time snapshot of the keyspace as an RDB image to `out`.
/// `aof_base` marks it as an AOF preamble; `at_point` runs at the point, with
/// every command stopped (the AOF rewrite starts its tail capture there).
pub fn write_snapshot<W: Write>(
    srv: &Server,
    out: W,
    aof_base: bool,
    at_point: impl FnOnce(),
) -> Result<(W, Written), SaveError> {
    let (snap, ((ids, offset), stream_db, dirty, codes)) = srv
        .keyspace
        .begin_snapshot(|| {
            at_point();
            (
                srv.repl.position(),
                srv.repl.stream_db(),
                srv.dirty.load(Ordering::Relaxed),
                srv.function_codes.read().codes.clone(),
            )
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
        ("repl-stream-db", Aux::Int(stream_db as i64)),
        ("repl-id", Aux::Str(&ids.replid)),
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
    for code in &codes {
        w.function(code);
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

/// Puts the keys of an RDB image into the keyspace. Returns the load summary
/// and how many keys it held.
pub fn load_image(
    srv: &Server,
    buf: &[u8],
    expired_keys: Expired,
) -> Result<(rdb_file::Loaded, u64), LoadError> {
    let now = unix_ms();
    let policy = srv.keyspace.policy();
    let dbs = srv.keyspace.db_count();
    let (mut loaded, mut expired, mut bad_db) = (0u64, 0u64, false);
    let delay = srv.config.read().key_load_delay;
    let summary = rdb_file::load(buf, |r| {
        key_load_delay(delay, loaded);
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
                access: access::initial_access(policy),
            },
        );
        loaded += 1;
    })?;
    if bad_db {
        return Err(LoadError::Databases(dbs));
    }
    crate::commands::functions::install(srv, &summary.functions).map_err(LoadError::Functions)?;
    let st = &srv.persistence.rdb;
    st.loaded.fetch_add(loaded, Ordering::Relaxed);
    st.load_expired.fetch_add(expired, Ordering::Relaxed);
    Ok((summary, loaded))
}

/// `key-load-delay` (a testing knob, as Redis's `debugDelay`): each key waits
/// `delay` µs; a negative -N makes one key in N wait 1 µs.
fn key_load_delay(delay: i64, nth: u64) {
    let us = match delay {
        0 => return,
        d if d > 0 => d as u64,
        d if nth.is_multiple_of(d.unsigned_abs()) => 1,
        _ => return,
    };
    std::thread::sleep(std::time::Duration::from_micros(us));
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
    let (summary, n) = load_image(srv, &buf, expired)?;
    restore_history(srv, &summary);
    Ok(n)
}

/// Takes on the replication history the file was saved at (`repl-id`,
/// `repl-offset`, `repl-stream-db`), so a replica restarted from it asks its
/// primary to continue from there (PSYNC2). A primary's log records nothing
/// until a consumer attaches, which starts a new id (`Log::activate`).
fn restore_history(srv: &Server, summary: &crate::persist::rdb_file::Loaded) {
    let id = summary.aux_value("repl-id").filter(|id| id.len() == 40);
    let offset = summary
        .aux_int("repl-offset")
        .and_then(|o| u64::try_from(o).ok());
    let (Some(id), Some(offset)) = (id, offset) else {
        return;
    };
    let db = summary.stream_db(srv.keyspace.db_count());
    srv.repl.reset_to(&String::from_utf8_lossy(id), offset, db);
}
