//! The ordered checks a command passes before its handler runs, then the call
//! itself with its statistics. Order (one small function each), as Redis 7:
//! command lookup → arity → protected (DEBUG) → auth → (hold the keyspace: shared, or alone for
//! EXEC/FLUSHALL) → CLIENT PAUSE → cluster routing → memory (OOM) → queue
//! (inside MULTI) or execute. A rejection inside MULTI also aborts the
//! transaction. The pause is checked under the hold, so a pause barrier (an
//! exclusive hold taken after pausing) knows no paused command still runs.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::cluster::routing::{Fence, KeySource, Request};
use crate::commands::table::{Lookup, Resolved};
use crate::commands::transactions;
use crate::commands::{Argv, CmdError, CommandSpec, Ctx, Flags};
use crate::commands::{Client, ReplyMode};
use crate::config::ProtectedAction;
use crate::node::Server;
use crate::resp::reply::Reply;
use crate::store::eviction;
use crate::store::isolation::{Hold, Isolation};

/// What `dispatch` did with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It ran (or was refused, or queued): its reply is in `out`.
    Done,
    /// CLIENT PAUSE holds it for up to this long: nothing ran and nothing was
    /// written; dispatch it again after waiting.
    Paused(Duration),
}

/// The keyspace hold of a batch of commands: taken shared by its first
/// command and kept for the next ones; a command that runs alone swaps it for
/// an exclusive one. Dropped before its session waits for anything.
pub struct BatchHold<'a> {
    isolation: &'a Isolation,
    held: Option<Hold<'a>>,
}

impl<'a> BatchHold<'a> {
    /// Nothing held yet.
    pub fn new(isolation: &'a Isolation) -> Self {
        BatchHold {
            isolation,
            held: None,
        }
    }

    /// The share, unless a script turns busy while this waits for it
    /// (false: the command gets -BUSY instead of waiting on).
    fn shared(&mut self, srv: &Server) -> bool {
        if self.held.is_none() {
            self.held = self
                .isolation
                .shared_unless(|| srv.script_watch.busy().is_some());
        }
        self.held.is_some()
    }

    /// The keyspace alone, for one command (the share is given up first: a
    /// thread never waits for a write lock while holding a read one); None
    /// when a script turns busy meanwhile.
    fn alone(&mut self, srv: &Server) -> Option<Hold<'a>> {
        self.held = None;
        self.isolation
            .exclusive_unless(|| srv.script_watch.busy().is_some())
    }
}

/// Runs one command from a connection, writing its reply to `out`. `now_ms` is
/// the batch's clock reading (one per read, not one per pipelined command).
pub fn dispatch(
    srv: &Server,
    client: &mut Client,
    out: &mut Reply,
    argv: &Argv<'_>,
    now_ms: u64,
    hold: &mut BatchHold<'_>,
) -> Outcome {
    let mark = out.buf.len();
    out.pushed_to = mark;
    let offset_before = client.write_offset;
    match resolve(argv)
        .and_then(|r| check_arity(argv, r))
        .and_then(|r| check_protected(srv, client, r))
        .and_then(|r| check_auth(client, r))
        .and_then(|r| check_multi(client, r))
    {
        Ok(r) => {
            // While a script runs past busy-reply-threshold only the few
            // ALLOW_BUSY commands run, and without the hold it has.
            let allowed_busy = r.spec.flags.has(Flags::ALLOW_BUSY);
            let busy = srv.script_watch.busy();
            let _alone = match busy {
                Some(kind) if !allowed_busy => return busy_reject(srv, client, out, r, kind),
                Some(_) => None,
                None => match take_hold(srv, client, r, hold) {
                    Ok(h) => h,
                    Err(kind) => return busy_reject(srv, client, out, r, kind),
                },
            };
            if let Some(wait) = paused(srv, client, r) {
                return Outcome::Paused(wait);
            }
            admit(srv, client, out, argv, r, now_ms);
        }
        Err((r, e)) => {
            transactions::flag(client);
            reject(srv, out, r, &e);
        }
    }
    // Commands blocked on keys this one stored are served now (after a
    // whole EXEC, not inside it).
    crate::commands::blocking::serve_ready(srv, call, now_ms);
    srv.tracking_settle();
    apply_reply_mode(client, out, mark);
    let reply_start = out.pushed_to.clamp(mark, out.buf.len());
    super::sync_writes::note(srv, client, out, reply_start, offset_before);
    // ASKING covers the next command only, or the whole transaction inside MULTI.
    client.asking =
        std::mem::take(&mut client.asking_next) || (client.asking && client.multi.is_some());
    Outcome::Done
}

/// The batch's share, or the keyspace alone for a command that runs alone;
/// the kind of script that turned busy while this waited, if one did.
fn take_hold<'a>(
    srv: &Server,
    client: &Client,
    r: Resolved,
    hold: &mut BatchHold<'a>,
) -> Result<Option<Hold<'a>>, crate::script::RunKind> {
    loop {
        if runs_alone(client, r) {
            if let Some(h) = hold.alone(srv) {
                return Ok(Some(h));
            }
        } else if hold.shared(srv) {
            return Ok(None);
        }
        // Gave up because a script is busy, unless it ended just now.
        if let Some(kind) = srv.script_watch.busy() {
            return Err(kind);
        }
    }
}

/// Refuses a command while a script is busy, as Redis: inside MULTI the
/// transaction is flagged, and an EXEC discards it with EXECABORT.
fn busy_reject(
    srv: &Server,
    client: &mut Client,
    out: &mut Reply,
    r: Resolved,
    kind: crate::script::RunKind,
) -> Outcome {
    let line = kind.busy_line();
    let e = if r.spec.keys.is_transaction() && client.multi.is_some() {
        client.multi = None;
        client.unwatch();
        CmdError::Other(format!(
            "EXECABORT Transaction discarded because of: {line}"
        ))
    } else {
        transactions::flag(client);
        CmdError::Other(line.to_string())
    };
    reject(srv, out, Some(r), &e);
    apply_reply_mode(client, out, out.pushed_to);
    Outcome::Done
}

/// True when the command must have the keyspace to itself: EXEC of an open
/// transaction, FLUSHALL/FLUSHDB run directly (inside MULTI they are only
/// queued; the EXEC holds it).
fn runs_alone(client: &Client, r: Resolved) -> bool {
    r.spec.flags.has(Flags::ALONE)
        && (client.multi.is_none() || r.spec.flags.has(Flags::TXN_CONTROL))
}

/// How long CLIENT PAUSE holds this command: every command in ALL mode; in
/// WRITE mode writes, commands that may replicate, and an EXEC whose queue
/// holds one, as Redis 7.
fn paused(srv: &Server, client: &Client, r: Resolved) -> Option<Duration> {
    let p = srv.pause.get();
    if p.until_ms == 0 {
        return None;
    }
    let now = crate::clock::unix_ms();
    if now >= p.until_ms {
        return None;
    }
    if p.writes_only && !writes(client, r) && !r.spec.flags.has(Flags::MAY_REPLICATE) {
        return None;
    }
    Some(Duration::from_millis(p.until_ms - now))
}

/// Routing and memory checks, then queue or call; the slot fence (cluster
/// mode) is held until the command has run.
fn admit(
    srv: &Server,
    client: &mut Client,
    out: &mut Reply,
    argv: &Argv<'_>,
    r: Resolved,
    mut now_ms: u64,
) {
    let fence = match route(srv, client, argv, r, now_ms) {
        // A wait for the fence (a MIGRATE, an EXEC of the slot) makes the
        // batch's time stale for this command's keys.
        Ok(f) if f.as_ref().is_some_and(|f| f.waited) => {
            now_ms = crate::clock::unix_ms();
            f
        }
        Ok(f) => f,
        Err(e) => {
            if r.spec.keys.is_transaction() {
                client.multi = None;
                client.unwatch();
            } else {
                transactions::flag(client);
            }
            reject(srv, out, Some(r), &e);
            return;
        }
    };
    if let Err(e) = check_memory(srv, r, now_ms)
        .and_then(|()| check_disk(srv, client, r))
        .and_then(|()| check_good_replicas(srv, client, r, now_ms))
        .and_then(|()| check_replica(srv, client, r))
        .and_then(|()| check_subscribed(client, out, r))
    {
        transactions::flag(client);
        reject(srv, out, Some(r), &e);
        return;
    }
    if client.multi.is_some() && !r.spec.flags.has(Flags::TXN_CONTROL) {
        transactions::queue(client, argv, r);
        out.simple("QUEUED");
    } else {
        // What other connections sent it goes out before this reply (an
        // invalidation of a key evicted to make room for this command, as
        // Redis orders it); what the command causes for itself comes after.
        if client.info.mailbox.pending() > 0 {
            client.info.mailbox.drain_into(&mut out.buf);
            out.keep_pushed();
        }
        client.fenced_slot = fence.as_ref().map(|f| f.slot);
        call(srv, client, out, argv, r, now_ms);
        client.fenced_slot = None;
    }
    drop(fence);
}

/// A RESP2 connection with subscriptions only reads pushes: it may only
/// change its subscriptions, PING, QUIT or RESET.
fn check_subscribed(client: &Client, out: &Reply, r: Resolved) -> Result<(), CmdError> {
    if client.info.subscribed() == 0
        || out.resp3()
        || crate::commands::pubsub::allowed_while_subscribed(r.full_name)
    {
        return Ok(());
    }
    Err(CmdError::err(format!(
        "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
        r.full_name
    )))
}

type Rejection = (Option<Resolved>, CmdError);

fn resolve(argv: &Argv<'_>) -> Result<Resolved, Rejection> {
    match crate::commands::table::index().resolve(argv.get(0), argv.opt(1)) {
        Ok(r) => Ok(r),
        Err(Lookup::Unknown) => Err((None, unknown_command(argv))),
        Err(Lookup::UnknownSubcommand(_)) => Err((
            None,
            CmdError::UnknownSubcommand {
                sub: truncated(argv.get(1), 128),
                cmd: String::from_utf8_lossy(argv.get(0)).to_ascii_uppercase(),
            },
        )),
    }
}

fn check_auth(client: &Client, r: Resolved) -> Result<Resolved, Rejection> {
    if client.authenticated || r.spec.flags.has(Flags::NO_AUTH) {
        Ok(r)
    } else {
        Err((Some(r), CmdError::NoAuth))
    }
}

/// DEBUG runs only as `enable-debug-command` allows (Redis 7.0, before the
/// auth check): the one protected command, so the message names it.
fn check_protected(srv: &Server, client: &Client, r: Resolved) -> Result<Resolved, Rejection> {
    if !r.spec.flags.has(Flags::PROTECTED) {
        return Ok(r);
    }
    let allowed = ProtectedAction::from_u8(srv.hot.debug_command.load(Ordering::Relaxed));
    if allowed.allows(crate::net::is_local_peer(&client.info.addr)) {
        return Ok(r);
    }
    Err((
        Some(r),
        CmdError::err(
            "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", \
             you can run it from a local connection, otherwise you need to set this option \
             in the configuration file, and then restart the server.",
        ),
    ))
}

fn check_arity(argv: &Argv<'_>, r: Resolved) -> Result<Resolved, Rejection> {
    if r.spec.arity.accepts(argv.len()) {
        Ok(r)
    } else {
        Err((Some(r), CmdError::Arity(r.full_name.to_string())))
    }
}

fn check_multi(client: &Client, r: Resolved) -> Result<Resolved, Rejection> {
    if client.multi.is_some() && r.spec.flags.has(Flags::NO_MULTI) {
        Err((
            Some(r),
            CmdError::err("Command not allowed inside a transaction"),
        ))
    } else {
        Ok(r)
    }
}

/// The keys of one command.
struct CommandKeys<'a, 'b> {
    spec: &'static CommandSpec,
    argv: &'b Argv<'a>,
}

impl KeySource for CommandKeys<'_, '_> {
    fn each_key<'s>(&'s self, f: &mut dyn FnMut(&'s [u8])) {
        let argv = self.argv;
        self.spec.keys.each(argv, &mut |i| f(argv.get(i)));
    }
}

/// In cluster mode, decides whether this node runs the command (Redis's
/// `getNodeByQuery`); EXEC is routed by the keys of everything it queued.
fn route<'s>(
    srv: &'s Server,
    client: &Client,
    argv: &Argv<'_>,
    r: Resolved,
    now_ms: u64,
) -> Result<Option<Fence<'s>>, CmdError> {
    let Some(cluster) = srv.cluster.as_deref() else {
        return Ok(None);
    };
    if r.spec.flags.has(Flags::PUBSUB) && client.multi.is_none() {
        let mut slots = Vec::new();
        r.spec.keys.each_not_key(argv, &mut |i| {
            slots.push(crate::slot::key_slot(argv.get(i)))
        });
        cluster
            .route_shard_channels(&slots)
            .map_err(|e| CmdError::Other(e.to_string()))?;
        return Ok(None);
    }
    let one = CommandKeys { spec: r.spec, argv };
    let (keys, write): (&dyn KeySource, bool) = match &client.multi {
        Some(t) if r.spec.keys.is_transaction() => (t, t.writes()),
        _ if !r.spec.keys.has_keys() => return Ok(None),
        _ => (&one, r.spec.is_write()),
    };
    let req = Request {
        keys,
        write,
        readonly_client: client.readonly,
        asking: client.asking || r.spec.flags.has(Flags::ASKING),
        migrate: r.spec.flags.has(Flags::MOVES_KEYS),
        exclusive: r.spec.flags.has(Flags::MOVES_KEYS) || r.spec.keys.is_transaction(),
    };
    cluster
        .route(&srv.keyspace, &req, now_ms)
        .map_err(|e| CmdError::Other(e.to_string()))
}

/// Evicts when over `maxmemory`; refuses commands that may grow memory when
/// eviction cannot make room. A replica leaves both to its primary unless
/// `replica-ignore-maxmemory` is off, as Redis.
fn check_memory(srv: &Server, r: Resolved, now_ms: u64) -> Result<(), CmdError> {
    let max = srv.hot.maxmemory.load(Ordering::Relaxed);
    if max == 0
        || (srv.upstream.is_replica() && srv.hot.replica_ignore_maxmemory.load(Ordering::Relaxed))
    {
        return Ok(());
    }
    let samples = srv.hot.maxmemory_samples.load(Ordering::Relaxed);
    let limit = max.saturating_add(srv.not_counted_memory());
    match eviction::free_memory(&srv.keyspace, &srv.memory, limit, samples, now_ms) {
        Ok(_) => Ok(()),
        Err(_) if r.spec.flags.has(Flags::DENYOOM) => Err(CmdError::Oom),
        Err(_) => Ok(()),
    }
}

/// Runs one command of a stream that was already accepted once (an AOF being
/// loaded, a primary's replication stream): no routing, no memory, disk or
/// role checks, no statistics, the reply discarded (as Redis's AOF and master
/// clients). Only an unknown command or a wrong argument count is the
/// stream's fault. A MULTI…EXEC block is queued and runs at its EXEC as one
/// block, alone in the keyspace, as the primary ran it.
pub fn replay(
    srv: &Server,
    client: &mut Client,
    argv: &Argv<'_>,
    now_ms: u64,
) -> Result<(), String> {
    // The stream carries the table's own names, whatever rename-command did.
    let r = crate::commands::table::index()
        .resolve_original(argv.get(0), argv.opt(1))
        .map_err(|_| format!("unknown command '{}'", truncated(argv.get(0), 128)))?;
    if !r.spec.arity.accepts(argv.len()) {
        return Err(format!("wrong number of arguments for '{}'", r.full_name));
    }
    if client.multi.is_some() && !r.spec.flags.has(Flags::TXN_CONTROL) {
        transactions::queue(client, argv, r);
        return Ok(());
    }
    let _hold = srv.keyspace.isolation.hold(runs_alone(client, r));
    let mut out = Reply::new(Default::default());
    let mut ctx = Ctx {
        srv,
        client,
        out: &mut out,
        now_ms,
        spec: r.spec,
        run: call,
    };
    // A command that fails (WRONGTYPE, say) failed when first run too.
    let _ = (r.spec.handler)(&mut ctx, argv);
    // The stream's writes serve this server's blocked clients too, as in Redis.
    crate::commands::blocking::serve_ready(srv, call, now_ms);
    Ok(())
}

/// True for a write command, and for an EXEC whose queue holds one.
fn writes(client: &Client, r: Resolved) -> bool {
    r.spec.is_write()
        || (r.spec.keys.is_transaction() && client.multi.as_ref().is_some_and(|t| t.writes()))
}

/// `min-replicas-to-write`: a primary without enough fresh replicas refuses
/// writes.
fn check_good_replicas(
    srv: &Server,
    client: &Client,
    r: Resolved,
    now_ms: u64,
) -> Result<(), CmdError> {
    let min = srv.hot.min_replicas.load(Ordering::Relaxed);
    if min == 0 || srv.upstream.is_replica() {
        return Ok(());
    }
    let lag = srv.hot.min_replicas_max_lag.load(Ordering::Relaxed);
    if writes(client, r) && (srv.replicas.good(lag, now_ms) as u64) < min {
        return Err(CmdError::Other(
            "NOREPLICAS Not enough good replicas to write.".into(),
        ));
    }
    Ok(())
}

/// A read-only replica refuses writes from its clients (its primary's stream
/// is applied without the gate).
fn check_replica(srv: &Server, client: &Client, r: Resolved) -> Result<(), CmdError> {
    if !srv.upstream.is_replica() {
        return Ok(());
    }
    if writes(client, r) && srv.config.read().replica_read_only {
        return Err(CmdError::Other(
            "READONLY You can't write against a read only replica.".into(),
        ));
    }
    Ok(())
}

/// Refuses writes (and PING, as Redis does) while the disk refuses our files:
/// a failed background save with save points set, or failing AOF writes.
fn check_disk(srv: &Server, client: &Client, r: Resolved) -> Result<(), CmdError> {
    if !srv.persistence.may_refuse_writes() || !(writes(client, r) || r.full_name == "ping") {
        return Ok(());
    }
    match crate::persist::save::disk_error(&srv.config.read(), &srv.persistence) {
        Some(line) => Err(CmdError::Other(line)),
        None => Ok(()),
    }
}

/// Executes a command that passed the checks (also each command of EXEC),
/// with statistics, slow log and MONITOR feed.
pub(crate) fn call(
    srv: &Server,
    client: &mut Client,
    out: &mut Reply,
    argv: &Argv<'_>,
    r: Resolved,
    now_ms: u64,
) {
    srv.stats.commands.fetch_add(1, Ordering::Relaxed);
    let started = crate::clock::monotonic_us();
    let result = {
        let mut ctx = Ctx {
            srv,
            client: &mut *client,
            out: &mut *out,
            now_ms,
            spec: r.spec,
            run: call,
        };
        if ctx.client.tracking {
            let id = ctx.client.id();
            let result = crate::node::tracking::as_client(id, || (r.spec.handler)(&mut ctx, argv));
            // A script's read commands remember the keys its EVAL declared
            // (the script runner does it); EVAL_RO itself remembers nothing.
            let scripted = ctx.client.in_script;
            if r.spec.flags.has(Flags::READONLY)
                && !scripted
                && !crate::commands::scripting::is_script_runner(r.spec)
            {
                crate::commands::tracking::remember_keys(&ctx, argv);
            }
            // CLIENT CACHING covers the next command only.
            if r.full_name != "client|caching" && !scripted {
                ctx.client.caching = false;
            }
            result
        } else {
            (r.spec.handler)(&mut ctx, argv)
        }
    };
    let micros = crate::clock::monotonic_us().saturating_sub(started);
    if r.spec.flags.has(Flags::DENYOOM) && srv.hot.maxmemory.load(Ordering::Relaxed) > 0 {
        srv.memory.note_growth();
    }
    let stats = &srv.command_stats[r.id];
    stats.calls.fetch_add(1, Ordering::Relaxed);
    stats.usec.fetch_add(micros, Ordering::Relaxed);
    if let Err(e) = result {
        stats.failed.fetch_add(1, Ordering::Relaxed);
        write_error(srv, out, &e);
    }
    client.info.last_cmd.store(r.id, Ordering::Relaxed);
    let slower = srv.hot.slowlog_slower_than.load(Ordering::Relaxed);
    if slower >= 0 && micros >= slower as u64 && !r.spec.flags.has(Flags::SKIP_SLOWLOG) {
        srv.slowlog.lock().push(
            argv.iter(),
            argv.len(),
            now_ms / 1000,
            micros,
            client.info.addr.to_string(),
            client.info.name.lock().clone(),
        );
    }
    if srv.monitors.load(Ordering::Relaxed) > 0 && !r.spec.flags.has(Flags::SKIP_MONITOR) {
        // A script's commands show as `lua`, after their EVAL (as Redis).
        let who: &dyn std::fmt::Display = if client.in_script {
            &"lua"
        } else {
            &client.info.addr
        };
        srv.feed_monitors(client.db, who, argv.iter());
    }
}

fn reject(srv: &Server, out: &mut Reply, r: Option<Resolved>, e: &CmdError) {
    if let Some(r) = r {
        srv.command_stats[r.id]
            .rejected
            .fetch_add(1, Ordering::Relaxed);
    }
    write_error(srv, out, e);
}

fn write_error(srv: &Server, out: &mut Reply, e: &CmdError) {
    let line = e.to_string();
    if !matches!(e, CmdError::Counted(_)) {
        srv.stats.count_error(&line);
    }
    out.error(&line);
}

fn apply_reply_mode(client: &mut Client, out: &mut Reply, mark: usize) {
    let mark = mark.max(out.pushed_to.min(out.buf.len()));
    match client.reply_mode {
        ReplyMode::On => {}
        ReplyMode::Off => out.buf.truncate(mark),
        ReplyMode::SkipThis => {
            out.buf.truncate(mark);
            client.reply_mode = ReplyMode::On;
        }
        // SKIP itself is answered with nothing; the next command is skipped.
        ReplyMode::Skip => {
            out.buf.truncate(mark);
            client.reply_mode = ReplyMode::SkipThis;
        }
    }
}

fn truncated(arg: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&arg[..arg.len().min(max)]).into_owned()
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' ` as Redis words it.
fn unknown_command(argv: &Argv<'_>) -> CmdError {
    let mut args = String::new();
    for a in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let _ = write!(args, "'{}' ", truncated(a, room));
    }
    CmdError::Other(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        truncated(argv.get(0), 128),
        args
    ))
}
