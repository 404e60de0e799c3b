//! Blocking commands, the command side (the registry and the "key is ready"
//! signal are `store::blocking`).
//!
//! Dispatch stays one path. A blocking handler first does what its
//! non-blocking form does; when there is nothing to take it calls [`block`],
//! which, with the keys' slot locks held, checks they are still missing and
//! registers a waiter (a copy of the command), then records it on the
//! client: the handler returns with no reply and the session, seeing
//! `client.blocked`, flushes and waits (no lock held) for the waiter to end:
//! served, timed out, `CLIENT UNBLOCK`ed, or the connection closing.
//!
//! Serving happens on the writer's side: after every top-level command (a
//! client's, or one applied from the primary's stream or EXEC as a whole,
//! so a transaction's pushes serve after EXEC), [`serve_ready`] takes the
//! keys the keyspace reported as stored while someone waited on them and,
//! key by key, re-runs each waiter's command in the order they blocked. The
//! re-run is the same handler with `client.serving` set: it pops and
//! propagates its effect (BLPOP as LPOP, BLMOVE as LMOVE, BLMPOP as LPOP
//! count), and when the list is empty again it replies nothing, which ends
//! the key's turn. The reply bytes go to the waiter; its session sends them.
//!
//! Inside MULTI/EXEC, or for a replayed stream, `block` refuses and the
//! handler answers as a timeout would (Redis's `CLIENT_DENY_BLOCKING`).

use std::ops::Range;
use std::sync::Arc;

use super::transactions::ExecWrap;
use super::{parse_f64, Argv, CmdError, Ctx, Run};
use crate::node::Server;
use crate::resp::reply::{Protocol, Reply};
use crate::slot::key_slot;
use crate::store::blocking::{Waiter, Wake};
use crate::store::MultiGuard;

/// When a blocked command gives up: unix ms, or never (0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout(pub u64);

impl Timeout {
    /// Parses a timeout in seconds (fractions allowed) as Redis does.
    pub fn parse(arg: &[u8], now_ms: u64) -> Result<Timeout, CmdError> {
        let secs = parse_f64(arg)
            .ok()
            .filter(|f| f.is_finite())
            .ok_or_else(|| CmdError::err("timeout is not a float or out of range"))?;
        let ms = (secs * 1000.0).ceil();
        if ms < 0.0 {
            return Err(CmdError::err("timeout is negative"));
        }
        if ms == 0.0 {
            return Ok(Timeout(0));
        }
        Ok(Timeout(now_ms.saturating_add(ms as u64)))
    }
}

/// A client's blocked command, for its session.
pub struct Block {
    /// The registered waiter.
    pub waiter: Arc<Waiter>,
    /// When it times out (unix ms; 0 never).
    pub deadline: u64,
}

/// What [`block`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parked {
    /// The client waits (or, re-run while serving, found nothing): no reply.
    Yes,
    /// Blocking is not allowed here: reply as a timeout.
    Denied,
    /// A key appeared meanwhile: try the command again.
    Retry,
}

/// Blocks the client on the keys at `keys` of `argv` until `timeout`, unless
/// one of them exists by now (`Retry`).
pub fn block(ctx: &mut Ctx<'_>, argv: &Argv<'_>, keys: Range<usize>, timeout: Timeout) -> Parked {
    let args: Vec<Vec<u8>> = argv.iter().map(<[u8]>::to_vec).collect();
    let names: Vec<Vec<u8>> = keys.clone().map(|i| argv.get(i).to_vec()).collect();
    let none_exists =
        |mg: &mut MultiGuard<'_>, db: usize| !names.iter().any(|k| mg.slot(db, k).contains(k));
    block_args(ctx, args, keys.collect(), timeout, &none_exists)
}

/// Blocks the client on the keys at `keys` of `args` (a rewritten form of
/// the command, re-run when one of them is signalled) until `timeout`, unless
/// `waiting`, asked with the keys' locks held, says the command could now
/// be served (`Retry`). For commands that wait on an existing key (XREAD).
pub fn block_args(
    ctx: &mut Ctx<'_>,
    args: Vec<Vec<u8>>,
    keys: Vec<usize>,
    timeout: Timeout,
    waiting: &dyn Fn(&mut MultiGuard<'_>, usize) -> bool,
) -> Parked {
    if ctx.client.serving {
        return Parked::Yes;
    }
    if ctx.client.replaying || ctx.client.deny_blocking || ctx.client.exec_wrap != ExecWrap::Off {
        return Parked::Denied;
    }
    let db = ctx.db();
    let names: Vec<Vec<u8>> = keys.iter().filter_map(|&i| args.get(i)).cloned().collect();
    let mut mg = ctx.lock_keys(names.iter().map(Vec::as_slice));
    if !waiting(&mut mg, db) {
        return Parked::Retry;
    }
    let resp = if ctx.out.resp3() { 3 } else { 2 };
    let w = Arc::new(Waiter::new(ctx.client.info.id, db, args, keys, resp));
    ctx.srv.keyspace.blocked.register(w.clone());
    drop(mg);
    ctx.client.blocked = Some(Block {
        waiter: w,
        deadline: timeout.0,
    });
    Parked::Yes
}

/// A blocking command found nothing: blocks the client on `keys` (no reply
/// now), or where blocking is denied answers with `denied`, as a timeout
/// would. True when a key appeared meanwhile and the command should try again.
pub fn wait_or_retry(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    keys: Range<usize>,
    timeout: Timeout,
    denied: fn(&mut Reply),
) -> bool {
    match block(ctx, argv, keys, timeout) {
        Parked::Yes => false,
        Parked::Denied => {
            denied(ctx.out);
            false
        }
        Parked::Retry => true,
    }
}

/// Serves the commands blocked on keys made ready, first blocked first
/// served per key (see the module doc). Cheap when nothing is blocked.
pub fn serve_ready(srv: &Server, run: Run, now_ms: u64) {
    let blocked = &srv.keyspace.blocked;
    loop {
        let ready = blocked.take_ready();
        if ready.is_empty() {
            return;
        }
        let mut busy = false;
        for (db, key) in ready {
            for w in blocked.waiters(db, &key) {
                if !w.claim() {
                    // Another writer is re-running it: look at the key again.
                    if !w.is_done() {
                        busy = true;
                        blocked.mark_ready(db, &key);
                    }
                    continue;
                }
                match rerun(srv, run, &w, now_ms) {
                    Rerun::Served(reply) => {
                        blocked.unregister(&w);
                        w.serve(Wake::Served(reply));
                    }
                    Rerun::Gone => {
                        blocked.unregister(&w);
                        w.serve(Wake::Gone);
                    }
                    Rerun::Nothing => {
                        w.release();
                        // A list or sorted set that cannot serve its first
                        // waiter serves none; stream readers wait for
                        // different ids, so each is asked.
                        if !is_stream_reader(&w) {
                            break;
                        }
                    }
                }
            }
        }
        if busy {
            std::thread::yield_now();
        }
    }
}

/// XREAD and XREADGROUP waiters.
fn is_stream_reader(w: &Waiter) -> bool {
    w.argv
        .first()
        .is_some_and(|c| c.eq_ignore_ascii_case(b"xread") || c.eq_ignore_ascii_case(b"xreadgroup"))
}

enum Rerun {
    Served(Vec<u8>),
    Nothing,
    Gone,
}

/// Runs a waiter's command again on its behalf.
fn rerun(srv: &Server, run: Run, w: &Waiter, now_ms: u64) -> Rerun {
    let Some(info) = srv.clients.get(w.client_id) else {
        return Rerun::Gone;
    };
    let mut buf = Vec::new();
    let mut ranges = Vec::with_capacity(w.argv.len());
    for a in &w.argv {
        let start = buf.len();
        buf.extend_from_slice(a);
        ranges.push((start, buf.len()));
    }
    let argv = Argv::new(&buf, &ranges);
    let Ok(r) = super::table::index().resolve(argv.get(0), None) else {
        return Rerun::Gone;
    };
    let mut client = super::Client::new(info, true);
    client.db = w.db;
    client.serving = true;
    let mut out = Reply::new(if w.resp == 3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    });
    let result = {
        let mut ctx = Ctx {
            srv,
            client: &mut client,
            out: &mut out,
            now_ms,
            spec: r.spec,
            run,
        };
        (r.spec.handler)(&mut ctx, &argv)
    };
    match result {
        // The key now holds another type: it is not ready for this command
        // (Redis serves a key only to commands blocked for its type).
        Err(CmdError::WrongType) => return Rerun::Nothing,
        Err(e) => {
            // The waiter's error reply counts as one (INFO errorstats).
            let line = e.to_string();
            srv.stats.count_error(&line);
            srv.command_stats[r.id]
                .failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            out.error(&line);
        }
        Ok(()) => {}
    }
    if out.buf.is_empty() {
        Rerun::Nothing
    } else {
        Rerun::Served(out.buf.to_vec())
    }
}

/// Ends client `id`'s blocked command as `CLIENT UNBLOCK` asks: true when
/// it was blocked.
pub fn unblock(srv: &Server, id: u64, error: bool) -> bool {
    let Some(w) = srv.keyspace.blocked.of_client(id) else {
        return false;
    };
    let wake = if error {
        Wake::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    } else {
        Wake::Timeout
    };
    if w.try_end(wake) {
        srv.keyspace.blocked.unregister(&w);
        true
    } else {
        false
    }
}

/// The node became a replica: every blocked command ends with Redis's
/// `-UNBLOCKED` line and its connection closes after it (a replica's data
/// now follows another node; the client must find the new primary).
pub fn end_all_for_replica(srv: &Server) {
    end_each(srv, |_| {
        Some(Wake::Closing(
            "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)"
                .into(),
        ))
    });
}

/// In cluster mode, ends each blocked command whose slot this node no longer
/// serves, with the redirect a new command would get (`-MOVED`, or
/// `-CLUSTERDOWN` when the slot has no owner or the cluster is down), as
/// Redis's cron does. A slot being imported keeps its waiters.
pub fn redirect_moved(srv: &Server) {
    let Some(cluster) = &srv.cluster else {
        return;
    };
    end_each(srv, |w| {
        // Every key of a blocked command is in one slot (CROSSSLOT otherwise).
        let key = w.key_args().next()?;
        cluster
            .blocked_redirect(key_slot(key))
            .map(|r| Wake::Error(r.to_string()))
    });
}

/// Ends every blocked command for which `why` gives an ending.
fn end_each(srv: &Server, why: impl Fn(&Waiter) -> Option<Wake>) {
    let blocked = &srv.keyspace.blocked;
    if blocked.is_empty() {
        return;
    }
    for w in blocked.all() {
        if let Some(wake) = why(&w) {
            if w.try_end(wake) {
                blocked.unregister(&w);
            }
        }
    }
}

/// Writes a timed-out blocked command's reply (a null array, as Redis for
/// every list, sorted-set and stream block).
pub fn timeout_reply(out: &mut Reply) {
    out.null_array();
}
