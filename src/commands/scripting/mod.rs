//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT: Lua scripts run by the
//! engine in `crate::script`, alone in the keyspace (as EXEC runs), their
//! `redis.call`s going through the server's one dispatch path (`Ctx::run`,
//! the gate's `call`) after the checks Redis makes for a script's command.
//! A script's writes reach the replication stream as the commands it ran:
//! one write alone, more wrapped in MULTI/EXEC; replicas never run Lua.

use std::sync::atomic::Ordering;

use super::server::{container, help};
use super::spec::key_flags::{ACCESS, RO, RW, UPDATE};
use super::spec::{command_table, CommandSpec, KeySpec, KeySpecs, NOKEYS};
use super::table::Resolved;
use super::{is, parse_i64, transactions, Argv, Client, CmdError, CmdResult, Ctx, Flags, Run};
use crate::node::Server;
use crate::resp::reply::Reply;
use crate::script::{Engine, Host, KillError, RunKind, ScriptFlags};

/// EVAL's (and FCALL's) key specs.
pub(crate) const KS_EVAL: KeySpecs = KeySpecs::new(&[KeySpec::at(2, RW | ACCESS | UPDATE)
    .keynum(0, 1, 1)
    .notes("We cannot tell how the keys will be used so we assume the worst, RW and UPDATE")]);
// EVALSHA's specs carry no remark in Redis 7.0.
const KS_EVALSHA: KeySpecs = KeySpecs::new(&[KeySpec::at(2, RW | ACCESS | UPDATE).keynum(0, 1, 1)]);
const KS_EVALSHA_RO: KeySpecs = KeySpecs::new(&[KeySpec::at(2, RO | ACCESS).keynum(0, 1, 1)]);
/// EVAL_RO's (and FCALL_RO's) key specs.
pub(crate) const KS_EVAL_RO: KeySpecs = KeySpecs::new(&[KeySpec::at(2, RO | ACCESS)
    .keynum(0, 1, 1)
    .notes("We cannot tell how the keys will be used so we assume the worst, RO and ACCESS")]);

/// The scripting commands.
pub static COMMANDS: &[CommandSpec] = command_table! {
    "eval" -3 [NOSCRIPT|SKIP_MONITOR|MAY_REPLICATE|NO_MANDATORY_KEYS|STALE|ALONE] KS_EVAL, "slow scripting" "scripting" "2.6.0" eval, "Executes a server-side Lua script.";
    "evalsha" -3 [NOSCRIPT|SKIP_MONITOR|MAY_REPLICATE|NO_MANDATORY_KEYS|STALE|ALONE] KS_EVALSHA, "slow scripting" "scripting" "2.6.0" evalsha, "Executes a server-side Lua script by SHA1 digest.";
    "eval_ro" -3 [NOSCRIPT|SKIP_MONITOR|NO_MANDATORY_KEYS|STALE|READONLY|ALONE] KS_EVAL_RO, "slow scripting" "scripting" "7.0.0" eval_ro, "Executes a read-only server-side Lua script.";
    "evalsha_ro" -3 [NOSCRIPT|SKIP_MONITOR|NO_MANDATORY_KEYS|STALE|READONLY|ALONE] KS_EVALSHA_RO, "slow scripting" "scripting" "7.0.0" evalsha_ro, "Executes a read-only server-side Lua script by SHA1 digest.";
    "script" -2 [] NOKEYS, "slow" "scripting" "2.6.0" container, "A container for Lua scripts management commands.", subs SCRIPT_SUBCOMMANDS;
};

/// `SCRIPT` subcommands (DEBUG, the Lua debugger, is not offered).
static SCRIPT_SUBCOMMANDS: &[CommandSpec] = command_table! {
    "exists" -3 [NOSCRIPT] NOKEYS, "slow scripting" "scripting" "2.6.0" script_exists, "Determines whether server-side Lua scripts exist in the script cache.";
    "flush" -2 [NOSCRIPT] NOKEYS, "slow scripting" "scripting" "2.6.0" script_flush, "Removes all server-side Lua scripts from the script cache.";
    "help" 2 [LOADING|STALE] NOKEYS, "slow scripting" "scripting" "5.0.0" script_help, "Returns helpful text about the different subcommands.";
    "kill" 2 [NOSCRIPT|ALLOW_BUSY] NOKEYS, "slow scripting" "scripting" "2.6.0" script_kill, "Terminates a server-side Lua script during execution.";
    "load" 3 [NOSCRIPT|STALE] NOKEYS, "slow scripting" "scripting" "2.6.0" script_load, "Loads a server-side Lua script to the script cache.";
};

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// True for EVAL_RO/EVALSHA_RO (read-only commands whose own keys tracking
/// does not remember: their scripts' read commands do).
pub fn is_script_runner(spec: &CommandSpec) -> bool {
    matches!(spec.name, "eval_ro" | "evalsha_ro")
}

/// The interpreter, made on first use.
fn engine(srv: &Server) -> Result<parking_lot::MappedMutexGuard<'_, Engine>, CmdError> {
    let mut g = srv.scripts.lock();
    if g.is_none() {
        *g = Some(Engine::new(srv.script_watch.clone()).map_err(CmdError::err)?);
    }
    parking_lot::MutexGuard::try_map(g, |e| e.as_mut()).map_err(|_| CmdError::err("no engine"))
}

/// Number of cached scripts, their bytes and the interpreter's (INFO).
pub fn usage(srv: &Server) -> (usize, usize, usize) {
    match srv.scripts.lock().as_ref() {
        Some(e) => {
            let (n, bytes) = e.usage();
            (n, bytes, e.lua_memory())
        }
        None => (0, 0, 0),
    }
}

fn eval(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run_script(ctx, argv, false, false)
}

fn evalsha(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run_script(ctx, argv, true, false)
}

fn eval_ro(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run_script(ctx, argv, false, true)
}

fn evalsha_ro(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run_script(ctx, argv, true, true)
}

/// What a script may do, from its flags and how it was called.
#[derive(Debug, Clone, Copy)]
struct Limits {
    read_only: bool,
    allow_oom: bool,
    allow_cross_slot: bool,
    /// Over `maxmemory` when the script started.
    oom: bool,
}

fn run_script(ctx: &mut Ctx<'_>, argv: &Argv<'_>, by_sha: bool, ro: bool) -> CmdResult {
    ctx.srv
        .feed_monitors(ctx.client.db, &ctx.client.info.addr, argv.iter());
    let numkeys = parse_i64(argv.get(2))?;
    let n = check_numkeys(numkeys, argv)?;
    let srv = ctx.srv;
    let mut engine = engine(srv)?;
    let loaded;
    let sha = if by_sha {
        argv.get(1)
    } else {
        loaded = engine.load(argv.get(1)).map_err(CmdError::Other)?;
        loaded.as_bytes()
    };
    let Some(script) = engine.find(sha) else {
        return Err(CmdError::Other(NOSCRIPT.into()));
    };
    run_prepared(
        ctx,
        argv,
        n,
        script.flags,
        ro,
        RunKind::Eval,
        |host, out, keys, args| engine.run(script, keys, args, host, out),
    )
}

/// Checks a script call's key count against its arguments.
pub(crate) fn check_numkeys(numkeys: i64, argv: &Argv<'_>) -> Result<usize, CmdError> {
    if numkeys > argv.len() as i64 - 3 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    Ok(numkeys as usize)
}

/// Runs a script or function (`run`) with `n` keys after `argv[2]`, once
/// its flags allow it here: alone in the keyspace, its commands through the
/// host, its state (database, blocking, transaction) restored after.
pub(crate) fn run_prepared(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    n: usize,
    flags: ScriptFlags,
    ro: bool,
    kind: RunKind,
    run: impl FnOnce(
        &mut dyn Host,
        &mut crate::resp::reply::Reply,
        &[&[u8]],
        &[&[u8]],
    ) -> Result<(), crate::script::ScriptError>,
) -> CmdResult {
    let srv = ctx.srv;
    let limits = prepare(ctx, flags, ro)?;
    let keys: Vec<&[u8]> = (3..3 + n).map(|i| argv.get(i)).collect();
    let args: Vec<&[u8]> = (3 + n..argv.len()).map(|i| argv.get(i)).collect();

    let client = &mut *ctx.client;
    let saved_db = client.db;
    let saved_deny = std::mem::replace(&mut client.deny_blocking, true);
    client.in_script = true;
    let own_block = transactions::script_begin(client);
    let slot = keys.first().map(|k| crate::slot::key_slot(k));
    let mut host = ScriptHost {
        srv,
        client,
        run: ctx.run,
        now_ms: ctx.now_ms,
        limits,
        dirty: false,
        slot,
        eval_spec: ctx.spec,
        eval_argv: argv,
    };
    let result = {
        let _running = Running::begin(srv, kind);
        if kind == RunKind::Function {
            srv.script_watch.set_details(
                String::from_utf8_lossy(argv.get(1)).into_owned(),
                argv.iter().map(|a| a.to_vec()).collect(),
            );
        }
        run(&mut host, ctx.out, &keys, &args)
    };
    let client = &mut *ctx.client;
    if own_block {
        transactions::script_end(srv, client);
    }
    client.in_script = false;
    client.script_repl = 0;
    client.deny_blocking = saved_deny;
    if client.db != saved_db {
        client.select(saved_db);
    }
    result.map_err(|e| {
        if e.counted {
            CmdError::Counted(e.line)
        } else {
            CmdError::Other(e.line)
        }
    })
}

/// The script is running (for the gate's -BUSY and for KILL) until dropped.
pub(crate) struct Running<'s>(&'s Server);

impl<'s> Running<'s> {
    /// A script of `kind` starts now.
    pub(crate) fn begin(srv: &'s Server, kind: RunKind) -> Self {
        let threshold = srv.hot.busy_reply_threshold.load(Ordering::Relaxed);
        srv.script_watch.begin(kind, threshold);
        Running(srv)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.script_watch.end();
    }
}

/// SCRIPT KILL (`Eval`) and FUNCTION KILL (`Function`).
pub(crate) fn kill(ctx: &mut Ctx<'_>, kind: RunKind) -> CmdResult {
    match ctx.srv.script_watch.kill(kind) {
        Ok(()) => {
            ctx.out.ok();
            Ok(())
        }
        Err(KillError::OtherKind(k)) => Err(CmdError::Other(k.busy_line().into())),
        Err(e) => Err(CmdError::Other(e.to_string())),
    }
}

fn script_kill(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    kill(ctx, RunKind::Eval)
}

/// Redis's checks before a script runs (`scriptPrepareForRun`): a script
/// that declared flags is refused up front where it could not write.
fn prepare(ctx: &Ctx<'_>, flags: ScriptFlags, ro: bool) -> Result<Limits, CmdError> {
    let srv = ctx.srv;
    let compat = flags.has(ScriptFlags::COMPAT);
    let max = srv.hot.maxmemory.load(Ordering::Relaxed);
    let oom = max > 0
        && !ctx.client.replaying
        && srv.memory.used() > max.saturating_add(srv.not_counted_memory());
    if !compat {
        if flags.has(ScriptFlags::NO_CLUSTER) && srv.cluster.is_some() {
            return Err(CmdError::err(
                "Can not run script on cluster, 'no-cluster' flag is set.",
            ));
        }
        if !flags.has(ScriptFlags::NO_WRITES) {
            if srv.upstream.is_replica()
                && srv.config.read().replica_read_only
                && !ctx.client.replaying
            {
                return Err(CmdError::Other(
                    "READONLY Can not run script with write flag on readonly replica".into(),
                ));
            }
            if let Some(line) = disk_error(srv) {
                return Err(CmdError::Other(line));
            }
            if ro {
                return Err(CmdError::err(
                    "Can not execute a script with write flag using *_ro command.",
                ));
            }
            if !enough_replicas(srv, ctx.now_ms) {
                return Err(CmdError::Other(
                    "NOREPLICAS Not enough good replicas to write.".into(),
                ));
            }
        }
        if oom && !flags.has(ScriptFlags::ALLOW_OOM) && !flags.has(ScriptFlags::NO_WRITES) {
            return Err(CmdError::Other(
                "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'".into(),
            ));
        }
    }
    Ok(Limits {
        read_only: ro || (!compat && flags.has(ScriptFlags::NO_WRITES)),
        allow_oom: !compat && flags.has(ScriptFlags::ALLOW_OOM),
        allow_cross_slot: compat || flags.has(ScriptFlags::ALLOW_CROSS_SLOT),
        oom,
    })
}

fn disk_error(srv: &Server) -> Option<String> {
    if !srv.persistence.may_refuse_writes() {
        return None;
    }
    crate::persist::save::disk_error(&srv.config.read(), &srv.persistence)
}

fn enough_replicas(srv: &Server, now_ms: u64) -> bool {
    let min = srv.hot.min_replicas.load(Ordering::Relaxed);
    if min == 0 || srv.upstream.is_replica() {
        return true;
    }
    let lag = srv.hot.min_replicas_max_lag.load(Ordering::Relaxed);
    srv.replicas.good(lag, now_ms) as u64 >= min
}

/// What `redis.call` reaches: the caller's client, the dispatch entry.
struct ScriptHost<'s, 'c, 'v> {
    srv: &'s Server,
    client: &'c mut Client,
    run: Run,
    now_ms: u64,
    limits: Limits,
    /// The script wrote already: later writes are not refused any more.
    dirty: bool,
    /// The slot of the keys the script touched so far.
    slot: Option<u16>,
    eval_spec: &'static CommandSpec,
    eval_argv: &'v Argv<'v>,
}

impl ScriptHost<'_, '_, '_> {
    /// Redis's checks of one command of a script (`scriptCall`).
    fn check(&mut self, argv: &Argv<'_>) -> Result<Resolved, (Option<Resolved>, String)> {
        let r = crate::commands::table::index()
            .resolve(argv.get(0), argv.opt(1))
            .map_err(|_| (None, "Unknown Redis command called from script".to_string()))?;
        self.check_resolved(r, argv).map_err(|e| (Some(r), e))?;
        Ok(r)
    }

    fn check_resolved(&mut self, r: Resolved, argv: &Argv<'_>) -> Result<(), String> {
        if !r.spec.arity.accepts(argv.len()) {
            return Err("Wrong number of args calling Redis command from script".into());
        }
        let flags = r.spec.flags;
        if flags.has(Flags::NOSCRIPT) {
            return Err("This Redis command is not allowed from script".into());
        }
        if self.limits.read_only && (flags.has(Flags::WRITE) || flags.has(Flags::MAY_REPLICATE)) {
            return Err("Write commands are not allowed from read-only scripts.".into());
        }
        let write = flags.has(Flags::WRITE);
        if write && !self.dirty && !self.client.replaying {
            if self.srv.upstream.is_replica() && self.srv.config.read().replica_read_only {
                return Err("-READONLY You can't write against a read only replica.".into());
            }
            if let Some(line) = disk_error(self.srv) {
                return Err(format!("-{line}"));
            }
            if !enough_replicas(self.srv, self.now_ms) {
                return Err("-NOREPLICAS Not enough good replicas to write.".into());
            }
        }
        if !self.limits.allow_oom
            && self.limits.oom
            && !self.dirty
            && !self.client.replaying
            && flags.has(Flags::DENYOOM)
        {
            return Err(format!("-{}", CmdError::Oom));
        }
        if write {
            self.dirty = true;
            self.srv.script_watch.note_write();
        }
        self.check_cluster(r, argv)
    }

    /// A refusal counts as the command's rejected call and in the error
    /// statistics (the script's own error reply then does not count again).
    fn count_rejection(&self, r: Option<Resolved>, msg: &str) {
        if let Some(r) = r {
            self.srv.command_stats[r.id]
                .rejected
                .fetch_add(1, Ordering::Relaxed);
        }
        let line = match msg.strip_prefix('-') {
            Some(rest) => rest.to_string(),
            None => format!("ERR {msg}"),
        };
        self.srv.stats.count_error(&line);
    }

    /// In cluster mode a script may only touch keys this node serves, and
    /// (unless it allows cross-slot keys) all in one slot.
    fn check_cluster(&mut self, r: Resolved, argv: &Argv<'_>) -> Result<(), String> {
        let Some(cluster) = self.srv.cluster.as_deref() else {
            return Ok(());
        };
        if self.client.replaying {
            return Ok(());
        }
        let mut slots = Vec::new();
        r.spec.keys.each(argv, &mut |i| {
            slots.push(crate::slot::key_slot(argv.get(i)))
        });
        for slot in slots {
            let bits = cluster.route_bits(slot);
            let local = bits & crate::cluster::route::MINE != 0
                || (bits & crate::cluster::route::MY_MASTER != 0 && !r.spec.is_write());
            if !local {
                return Err("Script attempted to access a non local key in a cluster node".into());
            }
            if !self.limits.allow_cross_slot {
                match self.slot {
                    None => self.slot = Some(slot),
                    Some(s) if s != slot => {
                        return Err(
                            "Script attempted to access keys that do not hash to the same slot"
                                .into(),
                        )
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }
}

impl Host for ScriptHost<'_, '_, '_> {
    fn call(
        &mut self,
        argv: &Argv<'_>,
        _resp: u8,
        repl: u8,
        out: &mut Reply,
    ) -> Result<(), String> {
        let r = match self.check(argv) {
            Ok(r) => r,
            Err((r, msg)) => {
                self.count_rejection(r, &msg);
                return Err(msg);
            }
        };
        self.client.script_repl = repl;
        (self.run)(self.srv, self.client, out, argv, r, self.now_ms);
        if self.client.tracking && r.spec.flags.has(Flags::READONLY) {
            super::tracking::remember_keys_of(
                self.srv,
                self.client,
                self.eval_spec,
                self.eval_argv,
            );
        }
        Ok(())
    }
}

fn script_load(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let sha = engine(ctx.srv)?
        .load(argv.get(2))
        .map_err(CmdError::Other)?;
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

fn script_exists(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let found: Vec<bool> = {
        let engine = engine(ctx.srv)?;
        argv.iter().skip(2).map(|sha| engine.exists(sha)).collect()
    };
    ctx.out.array_len(found.len());
    for f in found {
        ctx.out.int(f as i64);
    }
    Ok(())
}

fn script_flush(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    match argv.opt(2) {
        None => {}
        Some(m) if argv.len() == 3 && (is(m, "ASYNC") || is(m, "SYNC")) => {}
        Some(_) => return Err(CmdError::err("SCRIPT FLUSH only support SYNC|ASYNC option")),
    }
    engine(ctx.srv)?.flush().map_err(CmdError::err)?;
    ctx.out.ok();
    Ok(())
}

fn script_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    help(
        ctx,
        "SCRIPT",
        &[
            "EXISTS <sha1> [<sha1> ...]",
            "    For each SHA1 digest, 1 when that script is cached, else 0.",
            "FLUSH [ASYNC|SYNC]",
            "    Forget every cached script and start a fresh Lua interpreter.",
            "KILL",
            "    Stop the script running now, unless it wrote already.",
            "LOAD <script>",
            "    Compile and cache a script without running it; reply with its SHA1 digest.",
        ],
    )
}

#[cfg(test)]
mod tests;
