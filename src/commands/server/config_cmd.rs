//! `CONFIG GET|SET|RESETSTAT|REWRITE|HELP`, driven by the option table in
//! `crate::config`.

use std::sync::atomic::Ordering;

use super::help;
use crate::commands::{Argv, CmdError, CmdResult, Ctx};
use crate::config::{
    find_option, names_for_patterns, parse_value, to_toml, ConfigOption, ProtectedAction,
};
use crate::glob;
use crate::node::Server;
use crate::store::access::Policy;

/// `CONFIG GET pattern [pattern …]`: each name once (as Redis, an option and
/// its alias are two names: `*of` gives `replicaof` and `slaveof`).
pub fn get(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut found: Vec<(String, &'static ConfigOption)> = Vec::new();
    let seen =
        |found: &[(String, _)], name: &str| found.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    for pat in argv.iter().skip(2) {
        let pat = String::from_utf8_lossy(pat);
        // A plain name (hidden options too) echoes the name as given.
        if !pat.contains(['[', '*', '?']) {
            if let Some(o) = find_option(&pat).filter(|_| !seen(&found, &pat)) {
                found.push((pat.into_owned(), o));
            }
            continue;
        }
        for (name, o) in names_for_patterns() {
            if !seen(&found, name) && glob::matches(pat.as_bytes(), name.as_bytes(), true) {
                found.push((name.to_string(), o));
            }
        }
    }
    let cfg = ctx.srv.config.read();
    ctx.out.map_len(found.len());
    for (name, o) in found {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk((o.get)(&cfg).as_bytes());
    }
    Ok(())
}

fn set_failed(name: &str, why: &str) -> CmdError {
    CmdError::err(format!(
        "CONFIG SET failed (possibly related to argument '{name}') - {why}"
    ))
}

/// Looks every name up before parsing any value, as Redis does: the first
/// unknown, immutable, protected (unless `allow_protected`) or repeated name
/// is the error, ahead of any bad value.
fn lookup_all(
    argv: &Argv<'_>,
    allow_protected: bool,
) -> Result<Vec<(&'static ConfigOption, String)>, CmdError> {
    let mut pairs: Vec<(&'static ConfigOption, String)> = Vec::new();
    let mut first_err: Option<CmdError> = None;
    for i in (2..argv.len()).step_by(2) {
        let name = String::from_utf8_lossy(argv.get(i)).into_owned();
        let Some(o) = find_option(&name) else {
            first_err.get_or_insert_with(|| {
                CmdError::err(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{name}'"
                ))
            });
            continue;
        };
        if first_err.is_none() {
            if !o.mutable {
                first_err = Some(set_failed(&name, "can't set immutable config"));
            } else if o.protected && !allow_protected {
                first_err = Some(set_failed(&name, "can't set protected config"));
            } else if pairs.iter().any(|(p, _)| std::ptr::eq(*p, o)) {
                first_err = Some(set_failed(&name, "duplicate parameter"));
            }
        }
        let value = String::from_utf8_lossy(argv.get(i + 1)).into_owned();
        pairs.push((o, value));
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(pairs),
    }
}

/// `CONFIG SET name value [name value …]`: all or nothing.
pub fn set(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if !argv.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let allow_protected = {
        let cfg = ctx.srv.config.read();
        ProtectedAction::parse(&cfg.enable_protected_configs)
            .unwrap_or_default()
            .allows(crate::net::is_local_peer(&ctx.client.info.addr))
    };
    let pairs = lookup_all(argv, allow_protected)?;
    let _one_at_a_time = serialize(ctx.srv);
    let mut next = ctx.srv.config.read().clone();
    for (o, raw) in &pairs {
        let v = parse_value(o, raw).map_err(|why| set_failed(o.name, &why))?;
        (o.set)(&mut next, v).map_err(|why| set_failed(o.name, &why))?;
    }
    let (was_aof, old_addr, old_maxclients) = {
        let cur = ctx.srv.config.read();
        (cur.appendonly, (cur.bind.clone(), cur.port), cur.maxclients)
    };
    if next.maxclients > old_maxclients {
        fit_maxclients(next.maxclients)?;
    }
    if pairs.iter().any(|(o, _)| o.name == "dir") {
        std::env::set_current_dir(&next.dir)
            .map_err(|e| set_failed("dir", &crate::net::strerror(&e)))?;
    }
    if (next.bind.clone(), next.port) != old_addr {
        relisten(ctx.srv, &next, next.port != old_addr.1)?;
    }
    apply(ctx.srv, &next);
    let now_aof = next.appendonly;
    *ctx.srv.config.write() = next;
    if now_aof != was_aof {
        switch_aof(ctx.srv, ctx.services()?, now_aof)?;
    }
    ctx.out.ok();
    Ok(())
}

/// CONFIG SET maxclients above the old value: the open-file limit is raised
/// for it first, and when it cannot be, the whole CONFIG SET fails with the
/// number the limit allows (Redis's `updateMaxclients`).
fn fit_maxclients(wanted: u32) -> CmdResult {
    use crate::net::{fit_open_files, FdFit};
    match fit_open_files(u64::from(wanted)) {
        FdFit::Enough | FdFit::Raised(..) => Ok(()),
        FdFit::Lowered { maxclients, .. } => Err(set_failed(
            "maxclients",
            &format!("The operating system is not able to handle the specified number of clients, try with {maxclients}"),
        )),
        FdFit::TooLow(_) => Err(set_failed(
            "maxclients",
            "The operating system is not able to handle the specified number of clients, try with 0",
        )),
    }
}

/// CONFIG SET port/bind: opens the new listening socket before anything is
/// applied (a port in use fails the whole CONFIG SET, as Redis's does) and
/// hands it to the accept loop.
fn relisten(
    srv: &crate::node::Server,
    cfg: &crate::config::Config,
    port_changed: bool,
) -> CmdResult {
    let bound = crate::net::listen(&cfg.bind, cfg.port, cfg.tcp_backlog).and_then(|l| l.into_std());
    match bound {
        Ok(l) => {
            srv.relisten.offer(l);
            Ok(())
        }
        Err(e) if port_changed => Err(set_failed(
            "port",
            &format!("Unable to listen on this port: {e}"),
        )),
        Err(_) => Err(set_failed("bind", "Failed to bind to specified addresses.")),
    }
}

/// Waits for the CONFIG SET in progress, if any. That can take a whole AOF
/// rewrite (`appendonly yes`), so a waiter first hands this worker's other
/// connections to another thread.
fn serialize(srv: &Server) -> parking_lot::MutexGuard<'_, ()> {
    srv.config_set
        .try_lock()
        .unwrap_or_else(|| crate::node::blocking(|| srv.config_set.lock()))
}

/// `CONFIG SET appendonly yes|no` at run time: turning it on writes the whole
/// dataset to the file first (this client waits; the others do not).
fn switch_aof(srv: &Server, services: &dyn crate::node::Services, on: bool) -> CmdResult {
    if !on {
        services.disable_aof(srv);
        return Ok(());
    }
    let Some(me) = srv.me() else { return Ok(()) };
    let r = crate::node::blocking(|| services.enable_aof(&me));
    r.map_err(|e| {
        srv.config.write().appendonly = false;
        set_failed("appendonly", &e.to_string())
    })
}

/// Pushes a new configuration into the parts of the server that cache it.
fn apply(srv: &Server, cfg: &crate::config::Config) {
    srv.hot.apply(cfg);
    srv.repl.set_feed_limit(crate::node::feed_limit(cfg));
    // As at start-up: never under 16 KB (Redis's minimum).
    srv.repl
        .set_backlog_size(cfg.repl_backlog_size.max(16 * 1024) as usize);
    // Synchronous writes are known by their stream offsets.
    if cfg.replica_sync_writes > 0 {
        srv.repl.activate();
    }
    if let Some(p) = Policy::parse(&cfg.maxmemory_policy) {
        srv.keyspace.set_policy(p);
    }
    srv.slowlog.lock().set_max_len(cfg.slowlog_max_len as usize);
    // A lower maxmemory-clients (or maxmemory, for a percentage) evicts now.
    srv.clients.mem.retry();
    srv.clients
        .evict_over(srv.hot.client_eviction_limit.load(Ordering::Relaxed));
    if let Some(c) = &srv.cluster {
        c.set_settings(cfg.cluster_settings());
        let real = srv.port.load(Ordering::Relaxed) as u16;
        let announce = |v: u16, real: u16| if v != 0 { v } else { real };
        c.with(|t, _| {
            t.set_announced_ports(
                announce(cfg.cluster_announce_port, real),
                announce(cfg.cluster_announce_bus_port, cfg.bus_port()),
            )
        });
    }
    if let (Some(aof), Some(p)) = (
        srv.persistence.aof(),
        crate::persist::aof::Fsync::parse(&cfg.appendfsync),
    ) {
        aof.set_policy(p);
    }
}

/// `CONFIG RESETSTAT`
pub fn resetstat(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let srv = ctx.srv;
    srv.stats.reset();
    srv.command_stats.reset();
    let ks = &srv.keyspace.stats;
    let lfu = &srv.keyspace.tinylfu;
    for c in [
        &ks.hits,
        &ks.misses,
        &ks.expired,
        &ks.evicted,
        &lfu.admitted,
        &lfu.rejected,
    ] {
        c.store(0, Ordering::Relaxed);
    }
    srv.keyspace.lazy_free.reset_stats();
    srv.clients.mem.reset_stats();
    srv.mem_peak.store(srv.memory.refresh(), Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

/// `CONFIG REWRITE`: rewrites the TOML file the server was started with.
pub fn rewrite(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let cfg = ctx.srv.config.read().clone();
    if cfg.config_file.is_empty() {
        return Err(CmdError::err("The server is running without a config file"));
    }
    let tmp = format!("{}.tmp-rewrite", cfg.config_file);
    let written =
        std::fs::write(&tmp, to_toml(&cfg)).and_then(|_| std::fs::rename(&tmp, &cfg.config_file));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        tracing::warn!("CONFIG REWRITE failed: {e}");
        return Err(CmdError::err(format!("Rewriting config file: {e}")));
    }
    ctx.out.ok();
    Ok(())
}

/// `CONFIG HELP`
pub fn help_cmd(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    help(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    )
}
