//! Transactions: MULTI queues commands, EXEC runs them one after another with
//! nothing of the same slot in between (cluster mode holds the slot's fence),
//! DISCARD drops them. Errors found while queueing (unknown command, arity,
//! OOM, a redirect) abort the transaction: EXEC then answers EXECABORT.
//!
//! WATCH makes EXEC fail (a null reply, nothing run) when a watched key
//! changed since, or was live when watched and has expired since
//! (`store::watch` has the rules). EXEC decides while it holds the keyspace
//! alone, so no write slips between the check and the queued commands.

use super::table::Resolved;
use super::{Argv, CmdError, CmdResult, Ctx};
use crate::cluster::routing::KeySource;
use crate::commands::Client;
use crate::store::watch::Watches;

/// A command waiting in a transaction, with its own copy of the arguments.
pub struct Queued {
    cmd: Resolved,
    buf: Vec<u8>,
    ranges: Vec<(usize, usize)>,
}

impl Queued {
    fn argv(&self) -> Argv<'_> {
        Argv::new(&self.buf, &self.ranges)
    }
}

/// The state of a client between MULTI and EXEC/DISCARD.
#[derive(Default)]
pub struct Transaction {
    queue: Vec<Queued>,
    /// A command was refused while queueing: EXEC must abort.
    aborted: bool,
    /// Bytes the queued commands hold (client eviction counts them).
    mem: usize,
}

impl Transaction {
    /// Bytes the queued commands hold.
    pub fn mem(&self) -> usize {
        self.mem
    }

    /// True when a queued command may write.
    pub fn writes(&self) -> bool {
        self.queue.iter().any(|q| q.cmd.spec.is_write())
    }
}

impl KeySource for Transaction {
    fn each_key<'s>(&'s self, f: &mut dyn FnMut(&'s [u8])) {
        for q in &self.queue {
            let argv = q.argv();
            q.cmd.spec.keys.each(&argv, &mut |i| f(argv.get(i)));
        }
    }
}

/// Marks the client's open transaction (if any) as failed.
pub fn flag(client: &mut Client) {
    if let Some(t) = client.multi.as_mut() {
        t.aborted = true;
    }
}

/// Queues a command that passed the checks.
pub fn queue(client: &mut Client, argv: &Argv<'_>, cmd: Resolved) {
    let Some(t) = client.multi.as_mut() else {
        return;
    };
    let mut buf = Vec::new();
    let mut ranges = Vec::with_capacity(argv.len());
    for a in argv.iter() {
        let start = buf.len();
        buf.extend_from_slice(a);
        ranges.push((start, buf.len()));
    }
    t.mem += std::mem::size_of::<Queued>()
        + buf.capacity()
        + ranges.capacity() * std::mem::size_of::<(usize, usize)>();
    t.queue.push(Queued { cmd, buf, ranges });
}

/// `MULTI`
pub fn multi(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Transaction::default());
    ctx.out.ok();
    Ok(())
}

/// `DISCARD`
pub fn discard(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    ctx.client.unwatch();
    ctx.out.ok();
    Ok(())
}

/// `WATCH key [key ...]`
pub fn watch(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let (db, now) = (ctx.db(), ctx.now_ms);
    let registry = &ctx.srv.keyspace.watched;
    let watches = ctx
        .client
        .watches
        .get_or_insert_with(|| Watches::new(registry.clone()));
    for key in argv.iter().skip(1) {
        let g = ctx.srv.keyspace.lock_key(db, key, now);
        let stale = g.stored(key).is_some_and(|e| e.is_expired(now));
        // Registered under the slot lock: a write after it is seen.
        watches.watch(db, key, stale);
        drop(g);
    }
    ctx.out.ok();
    Ok(())
}

/// `UNWATCH`
pub fn unwatch(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.client.unwatch();
    ctx.out.ok();
    Ok(())
}

/// True when EXEC must fail: a watched key changed, or expired after it was
/// watched live (Redis's `isWatchedKeyExpired`).
fn watched_changed(ctx: &Ctx<'_>) -> bool {
    let Some(w) = &ctx.client.watches else {
        return false;
    };
    if w.dirty() {
        return true;
    }
    let now = ctx.now_ms;
    w.live_keys().iter().any(|(db, key)| {
        let g = ctx.srv.keyspace.lock_key(*db, key, now);
        g.stored(key).is_some_and(|e| e.is_expired(now))
    })
}

/// `EXEC`: every queued command's reply in one array. Writes reach the
/// replication stream wrapped in MULTI/EXEC.
pub fn exec(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let Some(t) = ctx.client.multi.take() else {
        return Err(CmdError::err("EXEC without MULTI"));
    };
    if t.aborted {
        ctx.client.unwatch();
        return Err(CmdError::Other(
            "EXECABORT Transaction discarded because of previous errors.".into(),
        ));
    }
    let changed = watched_changed(ctx);
    ctx.client.unwatch();
    if changed {
        ctx.out.null_array();
        return Ok(());
    }
    ctx.out.array_len(t.queue.len());
    ctx.client.exec_wrap = ExecWrap::Pending;
    for q in &t.queue {
        (ctx.run)(ctx.srv, ctx.client, ctx.out, &q.argv(), q.cmd, ctx.now_ms);
    }
    if ctx.client.exec_wrap == ExecWrap::Open {
        let off = ctx.srv.propagate(ctx.client.db, &[b"EXEC"]);
        ctx.client.write_offset = ctx.client.write_offset.max(off);
    }
    ctx.client.exec_wrap = ExecWrap::Off;
    // An ASKING inside the transaction does not reach past it (as in Redis).
    ctx.client.asking_next = false;
    Ok(())
}

/// Whether writes of a running EXEC still need the opening MULTI in the stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum ExecWrap {
    /// Not inside EXEC.
    #[default]
    Off,
    /// Inside EXEC, nothing propagated yet.
    Pending,
    /// Inside EXEC, MULTI already propagated.
    Open,
    /// A script runs (outside EXEC), nothing propagated yet.
    Script,
    /// A script runs and its one write so far is held (`Client::script_held`).
    ScriptOne,
}

/// Starts a script's propagation block (unless inside EXEC, whose block it
/// joins).
pub fn script_begin(client: &mut Client) -> bool {
    if client.exec_wrap != ExecWrap::Off {
        return false;
    }
    client.exec_wrap = ExecWrap::Script;
    true
}

/// Ends a script's block: its one write goes out alone, more are closed
/// with EXEC.
pub fn script_end(srv: &crate::node::Server, client: &mut Client) {
    match client.exec_wrap {
        ExecWrap::ScriptOne => {
            if let Some((db, held)) = client.script_held.take() {
                let parts: Vec<&[u8]> = held.iter().map(|a| a.as_slice()).collect();
                let off = srv.propagate(db, &parts);
                client.write_offset = client.write_offset.max(off);
            }
        }
        ExecWrap::Open => {
            let off = srv.propagate(client.db, &[b"EXEC"]);
            client.write_offset = client.write_offset.max(off);
        }
        _ => {}
    }
    client.exec_wrap = ExecWrap::Off;
    client.script_held = None;
}

#[cfg(test)]
mod tests {
    use crate::commands::testkit::Kit;

    #[test]
    fn queue_exec_discard_and_abort() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
        assert_eq!(k.run(&["DISCARD"]), "-ERR DISCARD without MULTI\r\n");
        assert_eq!(k.run(&["MULTI"]), "+OK\r\n");
        assert_eq!(k.run(&["MULTI"]), "-ERR MULTI calls can not be nested\r\n");
        assert_eq!(k.run(&["SET", "a", "1"]), "+QUEUED\r\n");
        assert_eq!(k.run(&["INCR", "a"]), "+QUEUED\r\n");
        assert_eq!(k.run(&["GET", "a"]), "+QUEUED\r\n");
        assert_eq!(k.run(&["EXEC"]), "*3\r\n+OK\r\n:2\r\n$1\r\n2\r\n");
        // The writes reach the stream once, wrapped.
        let stream: Vec<String> = k.stream().into_iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            stream,
            ["SELECT 0", "MULTI", "SET a 1", "INCRBY a 1", "EXEC"]
        );
        assert_eq!(k.run(&["MULTI"]), "+OK\r\n");
        assert_eq!(k.run(&["SET", "a", "9"]), "+QUEUED\r\n");
        assert_eq!(k.run(&["DISCARD"]), "+OK\r\n");
        assert_eq!(k.run(&["GET", "a"]), "$1\r\n2\r\n");
        // An error while queueing aborts the whole transaction.
        assert_eq!(k.run(&["MULTI"]), "+OK\r\n");
        assert_eq!(k.run(&["SET", "a", "7"]), "+QUEUED\r\n");
        assert!(k.run(&["NOSUCHCMD"]).starts_with("-ERR unknown command"));
        assert_eq!(
            k.run(&["GET"]),
            "-ERR wrong number of arguments for 'get' command\r\n"
        );
        assert_eq!(
            k.run(&["EXEC"]),
            "-EXECABORT Transaction discarded because of previous errors.\r\n"
        );
        assert_eq!(k.run(&["GET", "a"]), "$1\r\n2\r\n");
        // Runtime errors are replies inside the array; the rest still runs.
        assert_eq!(k.run(&["MULTI"]), "+OK\r\n");
        k.run(&["SET", "s", "x"]);
        k.run(&["INCR", "s"]);
        k.run(&["SET", "t", "1"]);
        assert_eq!(
            k.run(&["EXEC"]),
            "*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n+OK\r\n"
        );
        // A read-only transaction propagates nothing.
        let before = k.stream().len();
        k.run(&["MULTI"]);
        k.run(&["GET", "t"]);
        assert_eq!(k.run(&["EXEC"]), "*1\r\n$1\r\n1\r\n");
        assert_eq!(k.stream().len(), before);
    }

    #[test]
    fn a_replayed_transaction_runs_at_its_exec_as_one_block() {
        let mut k = Kit::new();
        k.client.replaying = true;
        let replay = |k: &mut Kit, words: &[&str]| {
            let (src, ranges) = crate::commands::testkit::argv_of(words);
            let argv = crate::commands::Argv::new(&src, &ranges);
            crate::server::gate::replay(&k.srv, &mut k.client, &argv, 0).expect("replay");
        };
        replay(&mut k, &["MULTI"]);
        replay(&mut k, &["SET", "a", "1"]);
        replay(&mut k, &["INCR", "a"]);
        let stored = |k: &Kit| k.srv.keyspace.lock_key(0, b"a", 0).peek(b"a").is_some();
        assert!(!stored(&k), "queued until EXEC");
        replay(&mut k, &["EXEC"]);
        k.client.replaying = false;
        assert_eq!(k.run(&["GET", "a"]), "$1\r\n2\r\n");
        // Re-propagated (to chained replicas, a replica's AOF) still wrapped.
        let stream: Vec<String> = k.stream().into_iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            stream,
            ["SELECT 0", "MULTI", "SET a 1", "INCRBY a 1", "EXEC"]
        );
    }

    #[test]
    fn no_multi_commands_are_refused_inside() {
        let mut k = Kit::new();
        k.run(&["MULTI"]);
        assert_eq!(
            k.run(&["SHUTDOWN"]),
            "-ERR Command not allowed inside a transaction\r\n"
        );
        assert!(k.run(&["EXEC"]).starts_with("-EXECABORT"));
    }
}
