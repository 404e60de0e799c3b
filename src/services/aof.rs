//! Driving the append-only file: turning it on and off, rewriting it
//! (BGREWRITEAOF, growth-triggered, turning it on at run time) and replaying
//! it at start. The file's writer and its format live in `persist::aof`.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::clock::unix_ms;
use crate::node::Server;
use crate::persist::aof::{Aof, AofLoadError, Commands, Fsync, Replayed, RespSink};
use crate::persist::save::{sync_dir, Expired, SaveError};
use crate::resp::parser::Limits;

/// Rewrites the AOF (BGREWRITEAOF, automatic rewrite, turning AOF on): a
/// snapshot plus the log since its point, swapped in atomically.
pub fn rewrite(srv: &Server, aof: &Aof) -> Result<(), SaveError> {
    let rw = &srv.persistence.rewrite;
    let started = Instant::now();
    rw.started_ms.store(unix_ms(), Ordering::Relaxed);
    let tmp = PathBuf::from(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    let result = (|| -> Result<u64, SaveError> {
        let f = File::create(&tmp)?;
        let out = BufWriter::with_capacity(1 << 20, f);
        let preamble = srv.config.read().aof_use_rdb_preamble;
        let mut out = if preamble {
            let (out, w) =
                super::save::write_snapshot(srv, out, true, || srv.repl.start_capture())?;
            rw.last_cow.store(w.cow_peak, Ordering::Relaxed);
            out
        } else {
            let (snap, codes) = srv
                .keyspace
                .begin_snapshot(|| {
                    srv.repl.start_capture();
                    srv.function_codes.read().codes.clone()
                })
                .map_err(|_| SaveError::Busy)?;
            let mut sink = RespSink {
                w: out,
                buf: Vec::new(),
            };
            // The libraries first, as Redis's rewrite loads them.
            for code in &codes {
                crate::repl::log::encode_command(&mut sink.buf, &[b"FUNCTION", b"LOAD", code]);
            }
            snap.write(&mut sink)?;
            rw.last_cow.store(snap.copy_bytes().1, Ordering::Relaxed);
            sink.w.write_all(&sink.buf)?;
            sink.w
        };
        // The tail: what was written since the point, until little is left.
        loop {
            let chunk = srv.repl.take_capture();
            out.write_all(&chunk)?;
            if chunk.len() < 64 * 1024 {
                break;
            }
        }
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_data()?;
        aof.install(&srv.repl, f, &tmp)
    })();
    match &result {
        Ok(size) => {
            rw.rewrites.fetch_add(1, Ordering::Relaxed);
            rw.last_ok.store(true, Ordering::Relaxed);
            rw.consecutive_failures.store(0, Ordering::Relaxed);
            tracing::info!("Background AOF rewrite finished successfully ({size} bytes)");
        }
        Err(e) => {
            // A capture left running would grow without bound.
            srv.repl.abort_capture();
            let _ = std::fs::remove_file(&tmp);
            rw.last_ok.store(false, Ordering::Relaxed);
            rw.consecutive_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("Background AOF rewrite failed: {e}");
        }
    }
    rw.last_duration_sec
        .store(started.elapsed().as_secs() as i64, Ordering::Relaxed);
    rw.started_ms.store(0, Ordering::Relaxed);
    result.map(|_| ())
}

/// Replays the AOF at `path` into an empty server. A cut-short last command
/// (or an unfinished MULTI) is dropped and the file truncated, when
/// `aof-load-truncated` allows it.
pub fn load(srv: &Server, path: &Path) -> Result<Replayed, AofLoadError> {
    let data = std::fs::read(path)?;
    let shown = path.display().to_string();
    let mut out = Replayed::default();
    let mut pos = 0usize;
    if data.starts_with(b"REDIS") {
        let (summary, keys) =
            super::save::load_image(srv, &data, Expired::Keep).map_err(|source| {
                AofLoadError::Preamble {
                    path: shown.clone(),
                    source,
                }
            })?;
        pos = summary.len;
        out.preamble_keys = keys;
    }
    let mut client = crate::commands::Client::new(
        Arc::new(crate::node::clients::ClientInfo::new(
            0,
            ([127, 0, 0, 1], 0).into(),
            ([127, 0, 0, 1], 0).into(),
        )),
        true,
    );
    client.replaying = true;
    let limits = Limits {
        max_bulk: srv.config.read().proto_max_bulk_len,
    };
    let corrupt = |offset: usize, why: String| AofLoadError::Corrupt {
        path: shown.clone(),
        offset,
        why,
    };
    // Where the open MULTI started: a transaction the file does not finish
    // is dropped, as Redis does (its commands wait in the client's queue).
    let mut multi_at: Option<usize> = None;
    let mut commands = Commands::new(&data, pos, limits);
    while let Some((at, argv)) = commands.next_command().map_err(|(at, w)| corrupt(at, w))? {
        let opens = client.multi.is_none() && argv.get(0).eq_ignore_ascii_case(b"MULTI");
        crate::server::gate::replay(srv, &mut client, &argv, unix_ms())
            .map_err(|w| corrupt(at, w))?;
        if opens {
            multi_at = Some(at);
        } else if client.multi.is_none() {
            multi_at = None;
        }
        out.commands += 1;
    }
    let good = multi_at.unwrap_or(commands.pos());
    if good < data.len() {
        if !srv.config.read().aof_load_truncated {
            return Err(AofLoadError::Truncated {
                path: shown,
                offset: good,
            });
        }
        tracing::warn!(
            "!!! Warning: short read while loading the AOF file {shown}!!! AOF loaded anyway because aof-load-truncated is enabled; dropping {} bytes at offset {good}",
            data.len() - good
        );
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(good as u64)?;
        f.sync_all()?;
        out.truncated = (data.len() - good) as u64;
    }
    Ok(out)
}

/// Turns the AOF on: opens (or creates) the file, taps the log, starts the
/// writer. With `rewrite`, the file is first made to hold the whole dataset
/// (turning AOF on at run time, or a dataset loaded from an RDB file).
pub fn enable(srv: &Arc<Server>, rewrite_first: bool) -> Result<(), SaveError> {
    if srv.persistence.aof().is_some() {
        return Ok(());
    }
    let (name, policy) = {
        let c = srv.config.read();
        (
            c.appendfilename.clone(),
            Fsync::parse(&c.appendfsync).unwrap_or(Fsync::EverySec),
        )
    };
    let path = PathBuf::from(name);
    let aof = Aof::open(
        &path,
        policy,
        srv.repl.offset(),
        srv.persistence.aof_ok.clone(),
    )?;
    srv.repl.attach_tap();
    aof.start(&srv.repl)?;
    srv.persistence.set_aof(Some(aof.clone()));
    if rewrite_first {
        let rw = &srv.persistence.rewrite;
        rw.claim()?;
        let r = rewrite(srv, &aof);
        rw.in_progress.store(false, Ordering::Release);
        if let Err(e) = r {
            disable(srv);
            return Err(e);
        }
    }
    Ok(())
}

/// Turns the AOF off once what it holds is written and fsynced.
pub fn disable(srv: &Server) {
    let aof = srv.persistence.set_aof(None);
    if let Some(aof) = aof {
        aof.stop();
        srv.repl.detach_tap();
        srv.persistence.aof_ok.store(true, Ordering::Relaxed);
    }
}

/// Starts a background rewrite; `Err(Busy)` while a snapshot runs. With the
/// AOF off it writes the file anyway (a snapshot in AOF form), as Redis does.
pub fn bgrewrite(srv: &Arc<Server>) -> Result<(), SaveError> {
    let rw = &srv.persistence.rewrite;
    if srv.persistence.rdb.in_progress.load(Ordering::Acquire) {
        return Err(SaveError::Busy);
    }
    rw.claim()?;
    rw.scheduled.store(false, Ordering::Relaxed);
    let (srv2, aof) = (srv.clone(), srv.persistence.aof());
    let spawned = std::thread::Builder::new()
        .name("aof-rewrite".into())
        .spawn(move || {
            let _ = match aof {
                Some(aof) => rewrite(&srv2, &aof),
                None => write_file(&srv2),
            };
            srv2.persistence
                .rewrite
                .in_progress
                .store(false, Ordering::Release);
        });
    if let Err(e) = spawned {
        rw.in_progress.store(false, Ordering::Release);
        return Err(e.into());
    }
    Ok(())
}

/// Writes `appendfilename` as an RDB-preamble AOF of the dataset while the
/// AOF itself is off: temporary file, fsync, rename, fsync of the directory.
fn write_file(srv: &Server) -> Result<(), SaveError> {
    let rw = &srv.persistence.rewrite;
    let name = srv.config.read().appendfilename.clone();
    let tmp = format!("temp-rewriteaof-bg-{}.aof", std::process::id());
    let r = (|| -> Result<(), SaveError> {
        let f = File::create(&tmp)?;
        let (w, _) = super::save::write_snapshot(srv, BufWriter::new(f), true, || {})?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &name)?;
        sync_dir(Path::new(&name))?;
        Ok(())
    })();
    if let Err(e) = &r {
        let _ = std::fs::remove_file(&tmp);
        tracing::warn!("Background AOF rewrite failed: {e}");
    } else {
        rw.rewrites.fetch_add(1, Ordering::Relaxed);
        tracing::info!("Background AOF rewrite finished successfully");
    }
    rw.last_ok.store(r.is_ok(), Ordering::Relaxed);
    r
}

/// The periodic AOF work: a scheduled rewrite, or one the file's growth calls for.
pub fn cron(srv: &Arc<Server>) {
    let Some(aof) = srv.persistence.aof() else {
        return;
    };
    if srv.persistence.snapshot_busy() {
        return;
    }
    if srv.persistence.rewrite.scheduled.load(Ordering::Relaxed) {
        let _ = bgrewrite(srv);
        return;
    }
    let (pct, min) = {
        let c = srv.config.read();
        (c.auto_aof_rewrite_percentage, c.auto_aof_rewrite_min_size)
    };
    let cur = aof.current_size.load(Ordering::Relaxed);
    let base = aof.base_size.load(Ordering::Relaxed).max(1);
    let failing = !srv.persistence.rewrite.last_ok.load(Ordering::Relaxed);
    if pct > 0 && cur > min && cur.saturating_sub(base) * 100 / base >= pct && !failing {
        tracing::info!(
            "Starting automatic rewriting of AOF on {}% growth",
            (cur - base) * 100 / base
        );
        let _ = bgrewrite(srv);
    }
}
