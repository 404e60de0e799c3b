//! Replication commands: REPLICAOF/SLAVEOF, REPLCONF, PSYNC, SYNC, WAIT, ROLE.
//! PSYNC and WAIT only record what the connection must do; its session does
//! the waiting (no handler awaits).

use std::sync::atomic::Ordering;

use super::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::repl::links::{LinkState, SyncRequest};

/// `REPLICAOF host port` | `REPLICAOF NO ONE` (and `SLAVEOF`).
pub fn replicaof(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if ctx.srv.cluster.is_some() {
        return Err(CmdError::err("REPLICAOF not allowed in cluster mode."));
    }
    if is(argv.get(1), "NO") && is(argv.get(2), "ONE") {
        ctx.services()?.stop_replicating(ctx.srv, "user request");
        ctx.out.ok();
        return Ok(());
    }
    let port = parse_i64(argv.get(2))?;
    let port = u16::try_from(port).map_err(|_| CmdError::err("Invalid master port"))?;
    let host = String::from_utf8_lossy(argv.get(1)).into_owned();
    if let Some(up) = ctx.srv.upstream.get() {
        if up.host.eq_ignore_ascii_case(&host) && up.port == port {
            ctx.out.simple("OK Already connected to specified master");
            return Ok(());
        }
    }
    let srv = ctx.srv.me().ok_or(CmdError::Other("ERR".into()))?;
    ctx.services()?.replicate(&srv, host, port);
    ctx.out.ok();
    Ok(())
}

/// `REPLCONF option value [option value ...]`: a replica's settings before
/// PSYNC. `ACK` from a client that is not a replica link gets no reply.
pub fn replconf(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if argv.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let mut i = 1;
    while i < argv.len() {
        let (opt, val) = (argv.get(i), argv.get(i + 1));
        if is(opt, "listening-port") {
            let p = parse_i64(val)?;
            ctx.client.repl_listening_port = u16::try_from(p).map_err(|_| CmdError::NotInteger)?;
        } else if is(opt, "capa") {
            // A replica that reads an EOF-marked snapshot gets it streamed.
            if is(val, "eof") {
                ctx.client.repl_capa_eof = true;
            }
        } else if is(opt, "ack") || is(opt, "fack") {
            return Ok(());
        } else if is(opt, "getack") {
            // Only a primary's stream asks this of a replica.
            return Ok(());
        } else if !(is(opt, "ip-address") || is(opt, "rdb-only") || is(opt, "rdb-filter-only")) {
            return Err(CmdError::Other(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
        i += 2;
    }
    ctx.out.ok();
    Ok(())
}

/// `PSYNC replid offset`: the connection becomes a replica link once the
/// replies before it are flushed.
pub fn psync(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let offset = parse_i64(argv.get(2))?;
    take_over(
        ctx,
        String::from_utf8_lossy(argv.get(1)).into_owned(),
        offset,
        true,
    )
}

/// `SYNC`: the pre-PSYNC form, always a full sync.
pub fn sync(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    take_over(ctx, "?".into(), -1, false)
}

fn take_over(ctx: &mut Ctx<'_>, replid: String, offset: i64, psync: bool) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("Replica can't interact with the keyspace"));
    }
    if let Some(up) = ctx.srv.upstream.get() {
        if !up.link_up.load(Ordering::Relaxed) {
            return Err(CmdError::Other(
                "NOMASTERLINK Can't SYNC while not connected with my master".into(),
            ));
        }
    }
    ctx.client.takeover = Some(SyncRequest {
        replid,
        offset,
        psync,
        listening_port: ctx.client.repl_listening_port,
        eof: ctx.client.repl_capa_eof,
    });
    Ok(())
}

/// `WAIT numreplicas timeout`: the session waits for the ACKs and replies.
pub fn wait(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if ctx.srv.upstream.is_replica() {
        return Err(CmdError::err("WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let n = parse_i64(argv.get(1))?;
    let timeout = parse_i64(argv.get(2))?;
    if timeout < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let n = usize::try_from(n.max(0)).unwrap_or(0);
    if ctx.client.multi.is_some() || ctx.client.exec_wrap != super::transactions::ExecWrap::Off {
        // Inside a transaction WAIT does not block (as in Redis).
        let have = ctx.srv.replicas.acked_at_least(ctx.client.write_offset);
        ctx.out.int(have as i64);
        return Ok(());
    }
    ctx.client.wait = Some((n, timeout as u64));
    Ok(())
}

/// `ROLE`
pub fn role(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let out = &mut *ctx.out;
    if let Some(up) = ctx.srv.upstream.get() {
        let state = if up.link_up.load(Ordering::Relaxed) {
            "connected"
        } else if up.sync_in_progress.load(Ordering::Relaxed) {
            "sync"
        } else {
            "connect"
        };
        out.array_len(5);
        out.bulk(b"slave");
        out.bulk(up.host.as_bytes());
        out.int(i64::from(up.port));
        out.bulk(state.as_bytes());
        out.int(up.applied(&ctx.srv.repl).max(0));
        return Ok(());
    }
    let links: Vec<_> = ctx
        .srv
        .replicas
        .list()
        .into_iter()
        .filter(|l| l.state() == LinkState::Online)
        .collect();
    out.array_len(3);
    out.bulk(b"master");
    out.int(ctx.srv.repl.offset() as i64);
    out.array_len(links.len());
    for l in links {
        out.array_len(3);
        out.bulk(l.ip.to_string().as_bytes());
        out.bulk(l.port.to_string().as_bytes());
        out.bulk(l.ack.load(Ordering::Relaxed).to_string().as_bytes());
    }
    Ok(())
}
