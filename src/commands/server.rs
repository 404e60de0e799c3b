//! Server commands: DBSIZE, FLUSHDB, FLUSHALL, TIME, INFO, CONFIG, CLIENT, SLOWLOG,
//! MEMORY, MONITOR, LATENCY, DEBUG, SHUTDOWN, LASTSAVE.

mod config_cmd;
mod debug;
mod diag;
mod info;

use std::sync::atomic::Ordering;

pub use debug::debug;
pub use diag::{bytes_estimate, jemalloc_size};
pub use info::info;

use super::spec::{command_table, CommandSpec, K2, NOKEYS};
use super::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};

/// `DBSIZE`
pub fn dbsize(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let n = ctx.srv.keyspace.db(ctx.client.db).len();
    ctx.out.int(n as i64);
    Ok(())
}

/// Validates the optional `SYNC|ASYNC` argument of FLUSHDB/FLUSHALL.
/// Whether a FLUSHALL/FLUSHDB frees in the background: ASYNC, SYNC, or
/// `lazyfree-lazy-user-flush` when neither is given.
fn flush_lazily(ctx: &Ctx<'_>, argv: &Argv<'_>) -> Result<bool, CmdError> {
    match argv.len() {
        1 => Ok(ctx.srv.hot.lazyfree[4].load(Ordering::Relaxed)),
        2 if is(argv.get(1), "SYNC") => Ok(false),
        2 if is(argv.get(1), "ASYNC") => Ok(true),
        _ => Err(CmdError::Syntax),
    }
}

/// `FLUSHDB [SYNC|ASYNC]`
pub fn flushdb(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let lazy = flush_lazily(ctx, argv)?;
    ctx.srv.keyspace.flush_db(ctx.client.db, lazy);
    ctx.srv.tracking_flushed();
    ctx.propagate(&[b"FLUSHDB"]);
    ctx.out.ok();
    Ok(())
}

/// `FLUSHALL [SYNC|ASYNC]`
pub fn flushall(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let lazy = flush_lazily(ctx, argv)?;
    for db in 0..ctx.srv.keyspace.db_count() {
        ctx.srv.keyspace.flush_db(db, lazy);
    }
    ctx.srv.tracking_flushed();
    ctx.propagate(&[b"FLUSHALL"]);
    ctx.out.ok();
    Ok(())
}

/// `SWAPDB index1 index2`: two databases trade contents, atomically (the
/// command runs alone).
pub fn swapdb(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if ctx.srv.cluster.is_some() {
        return Err(CmdError::err("SWAPDB is not allowed in cluster mode"));
    }
    let a = parse_i64(argv.get(1)).map_err(|_| CmdError::err("invalid first DB index"))?;
    let b = parse_i64(argv.get(2)).map_err(|_| CmdError::err("invalid second DB index"))?;
    let n = ctx.srv.keyspace.db_count() as i64;
    if !(0..n).contains(&a) || !(0..n).contains(&b) {
        return Err(CmdError::err("DB index is out of range"));
    }
    if a != b {
        let ks = &ctx.srv.keyspace;
        ks.swap_dbs(a as usize, b as usize, ctx.now_ms);
        // Clients blocked in either database may find their keys there now.
        for w in ks.blocked.all() {
            if w.db == a as usize || w.db == b as usize {
                for k in w.key_args() {
                    ks.blocked.mark_ready(w.db, k);
                }
            }
        }
    }
    ctx.propagate_verbatim(argv);
    ctx.out.ok();
    Ok(())
}

/// `TIME`
pub fn time(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ctx.out.array_len(2);
    ctx.out.bulk(now.as_secs().to_string().as_bytes());
    ctx.out.bulk(now.subsec_micros().to_string().as_bytes());
    Ok(())
}

/// Writes Redis's `addReplyHelp` reply: a header, the lines, then HELP.
pub fn help(ctx: &mut Ctx<'_>, cmd: &str, lines: &[&str]) -> CmdResult {
    ctx.out.array_len(lines.len() + 3);
    ctx.out.simple(&format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
    Ok(())
}

/// A container's own handler; the table resolves subcommands before it could run.
pub fn container(_ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    Err(CmdError::UnknownSubcommand {
        sub: String::from_utf8_lossy(argv.opt(1).unwrap_or_default()).into_owned(),
        cmd: String::from_utf8_lossy(argv.get(0)).to_ascii_uppercase(),
    })
}

/// `CONFIG` subcommands.
pub static CONFIG_SUBCOMMANDS: &[CommandSpec] = command_table! {
    "get" -3 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous" "server" "7.0.0" config_cmd::get, "Returns the effective values of configuration parameters.";
    "help" 2 [LOADING|STALE] NOKEYS, "slow" "server" "7.0.0" config_cmd::help_cmd, "Returns helpful text about the different subcommands.";
    "resetstat" 2 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous" "server" "7.0.0" config_cmd::resetstat, "Resets the server's statistics.";
    "rewrite" 2 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous" "server" "7.0.0" config_cmd::rewrite, "Persists the effective configuration to file.";
    "set" -4 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous" "server" "7.0.0" config_cmd::set, "Sets configuration parameters in-flight.";
};

/// `SLOWLOG` subcommands.
pub static SLOWLOG_SUBCOMMANDS: &[CommandSpec] = command_table! {
    "get" -2 [ADMIN|LOADING|STALE] NOKEYS, "admin slow dangerous" "server" "7.0.0" diag::slowlog_get, "Returns the slow log's entries.";
    "help" 2 [LOADING|STALE] NOKEYS, "slow" "server" "7.0.0" diag::slowlog_help, "Show helpful text about the different subcommands";
    "len" 2 [ADMIN|LOADING|STALE] NOKEYS, "admin slow dangerous" "server" "7.0.0" diag::slowlog_len, "Returns the number of entries in the slow log.";
    "reset" 2 [ADMIN|LOADING|STALE] NOKEYS, "admin slow dangerous" "server" "7.0.0" diag::slowlog_reset, "Clears all entries from the slow log.";
};

/// `LATENCY` subcommands.
pub static LATENCY_SUBCOMMANDS: &[CommandSpec] = command_table! {
    "doctor" 2 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous" "server" "7.0.0" diag::latency_doctor, "Returns a human-readable latency analysis report.";
    "graph" 3 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous" "server" "7.0.0" diag::latency_graph, "Returns a latency graph for an event.";
    "help" 2 [LOADING|STALE] NOKEYS, "slow" "server" "7.0.0" diag::latency_help, "Returns helpful text about the different subcommands.";
    "histogram" -2 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous" "server" "7.0.0" diag::latency_histogram, "Returns the cumulative distribution of latencies of a subset or all commands.";
    "history" 3 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous" "server" "7.0.0" diag::latency_history, "Returns timestamp-latency samples for an event.";
    "latest" 2 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous" "server" "7.0.0" diag::latency_latest, "Returns the latest latency samples for all events.";
    "reset" -2 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous" "server" "7.0.0" diag::latency_reset, "Resets the latency data for one or more events.";
};

/// `MEMORY` subcommands.
pub static MEMORY_SUBCOMMANDS: &[CommandSpec] = command_table! {
    "doctor" 2 [] NOKEYS, "slow" "server" "7.0.0" diag::memory_doctor, "Outputs a memory problems report.";
    "help" 2 [LOADING|STALE] NOKEYS, "slow" "server" "7.0.0" diag::memory_help, "Returns helpful text about the different subcommands.";
    "malloc-stats" 2 [] NOKEYS, "slow" "server" "7.0.0" diag::memory_malloc_stats, "Returns the allocator statistics.";
    "purge" 2 [] NOKEYS, "slow" "server" "7.0.0" diag::memory_purge, "Asks the allocator to release memory.";
    "stats" 2 [] NOKEYS, "slow" "server" "7.0.0" diag::memory_stats, "Returns details about memory usage.";
    "usage" -3 [READONLY] K2, "read slow" "server" "7.0.0" diag::memory_usage, "Estimates the memory usage of a key.";
};

/// `LASTSAVE`
pub fn lastsave(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.out.int(ctx.srv.lastsave.load(Ordering::Relaxed) as i64);
    Ok(())
}

/// `MONITOR`: the session streams every later command to this connection.
pub fn monitor(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    if !ctx.client.info.monitor.swap(true, Ordering::Relaxed) {
        ctx.srv.monitors.fetch_add(1, Ordering::Relaxed);
    }
    ctx.out.ok();
    Ok(())
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: no reply on success; the
/// process exits once the listener stops.
pub fn shutdown(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (mut save, mut nosave, mut abort, mut other) = (false, false, false, false);
    let mut force = false;
    for a in argv.iter().skip(1) {
        if is(a, "NOSAVE") {
            nosave = true;
        } else if is(a, "SAVE") {
            save = true;
        } else if is(a, "NOW") {
            other = true;
        } else if is(a, "FORCE") {
            other = true;
            force = true;
        } else if is(a, "ABORT") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if (abort && (save || nosave || other)) || (save && nosave) {
        return Err(CmdError::Syntax);
    }
    if abort {
        return Err(CmdError::err("No shutdown in progress."));
    }
    let srv = ctx.srv;
    if let Some(kind) = srv.script_watch.busy() {
        // As Redis: only NOSAVE ends a busy script's server.
        if !nosave {
            return Err(CmdError::Other(kind.busy_line().into()));
        }
        if srv.script_watch.kill_for_shutdown() {
            // Its writes so far must not reach a file as a finished block;
            // the process ends with nothing of it saved, as Redis's does.
            tracing::warn!(
                "User requested shutdown while a script that wrote was running: exiting now"
            );
            std::process::exit(0);
        }
    }
    tracing::warn!("User requested shutdown...");
    let points = srv.config.read().has_save_points();
    if !nosave && (save || points) {
        tracing::info!("Saving the final RDB snapshot before exiting.");
        let services = ctx.services()?;
        if let Err(e) = crate::node::blocking(|| services.save(srv)) {
            tracing::warn!("Error trying to save the DB: {e}");
            if !force {
                return Err(CmdError::err("Errors trying to SHUTDOWN. Check logs."));
            }
        }
    }
    srv.persistence
        .skip_shutdown_save
        .store(true, Ordering::Relaxed);
    srv.shutdown.trigger();
    Ok(())
}
