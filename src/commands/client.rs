//! `CLIENT` subcommands: identity (ID, SETNAME, GETNAME, SETINFO, INFO), listing
//! and killing connections, reply control, PAUSE/UNPAUSE, NO-EVICT and
//! SYNC-WRITES (ringcache's synchronous replication per connection).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::server::help;
use super::spec::{command_table, CommandSpec, NOKEYS};
use super::{is, parse_int_strict, Argv, CmdError, CmdResult, Ctx};
use crate::clock::unix_ms;
use crate::commands::ReplyMode;
use crate::node::clients::ClientInfo;
use crate::node::Pause;

/// `CLIENT` subcommands.
pub static SUBCOMMANDS: &[CommandSpec] = command_table! {
    "getname" 2 [NOSCRIPT|LOADING|STALE] NOKEYS, "slow connection" "server" "7.0.0" getname, "Returns the name of the connection.";
    "caching" 3 [NOSCRIPT|LOADING|STALE] NOKEYS, "slow connection" "server" "6.0.0" super::tracking::caching, "Instructs the server whether to track the keys in the next request.";
    "getredir" 2 [NOSCRIPT|LOADING|STALE] NOKEYS, "slow connection" "server" "6.0.0" super::tracking::getredir, "Returns the client ID to which the connection's tracking notifications are redirected.";
    "help" 2 [LOADING|STALE] NOKEYS, "slow connection" "server" "7.0.0" help_cmd, "Returns helpful text about the different subcommands.";
    "id" 2 [NOSCRIPT|LOADING|STALE] NOKEYS, "slow connection" "server" "7.0.0" id, "Returns the unique client ID of the connection.";
    "info" 2 [NOSCRIPT|LOADING|STALE] NOKEYS, "slow connection" "server" "7.0.0" info, "Returns information about the connection.";
    "kill" -3 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous connection" "server" "7.0.0" kill, "Terminates open connections.";
    "list" -2 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous connection" "server" "7.0.0" list, "Lists open connections.";
    "no-evict" 3 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous connection" "server" "7.0.0" no_evict, "Sets the client eviction mode of the connection.";
    "pause" -3 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous connection" "server" "7.0.0" pause, "Suspends commands processing.";
    "reply" 3 [NOSCRIPT|LOADING|STALE] NOKEYS, "slow connection" "server" "7.0.0" reply, "Instructs the server whether to reply to commands.";
    "setinfo" 4 [NOSCRIPT|LOADING|STALE] NOKEYS, "slow connection" "server" "7.0.0" setinfo, "Sets information specific to the client or connection.";
    "sync-writes" 3 [NOSCRIPT|LOADING|STALE] NOKEYS, "slow connection" "server" "7.0.0" sync_writes, "Sets how many replicas must acknowledge this connection's writes before their replies (ringcache).";
    "setname" 3 [NOSCRIPT|LOADING|STALE] NOKEYS, "slow connection" "server" "7.0.0" setname, "Sets the connection name.";
    "tracking" -3 [NOSCRIPT|LOADING|STALE] NOKEYS, "slow connection" "server" "6.0.0" super::tracking::tracking, "Controls server-assisted client-side caching for the connection.";
    "trackinginfo" 2 [NOSCRIPT|LOADING|STALE] NOKEYS, "slow connection" "server" "6.2.0" super::tracking::trackinginfo, "Returns information about server-assisted client-side caching for the connection.";
    "unblock" -3 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous connection" "server" "5.0.0" unblock, "Unblocks a client blocked by a blocking command from a different connection.";
    "unpause" 2 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous connection" "server" "7.0.0" unpause, "Resumes processing of clients that were paused.";
};

/// Bytes of reply buffer a connection starts with (CLIENT LIST `rbs`/`rbp`).
const REPLY_BUF: usize = 16 * 1024;

/// One CLIENT LIST line (without the newline), in Redis 7.0.15's field order.
/// `cmd` overrides the recorded last command (the caller's own line shows the
/// command being run, as in Redis).
pub fn client_line(
    c: &ClientInfo,
    now_ms: u64,
    current: Option<(&str, &Argv<'_>)>,
    table: &crate::commands::table::CommandTable,
) -> String {
    let last = c.last_cmd.load(Ordering::Relaxed);
    let cmd = current
        .map(|(name, _)| name)
        .or_else(|| table.get(last).map(|(_, name)| name))
        .unwrap_or("NULL");
    // While a command runs, Redis still has it in the query buffer.
    let (qbuf, argv_mem) = match current {
        Some((_, argv)) => (
            c.qbuf.load(Ordering::Relaxed) + encoded_len(argv),
            argv.iter().map(<[u8]>::len).sum(),
        ),
        None => (c.qbuf.load(Ordering::Relaxed), 0),
    };
    let (flags, redir) = flags_and_redirect(c);
    let mut s = String::with_capacity(320);
    let _ = write!(
        s,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} \
         sub={} psub={} ssub={} multi=-1 qbuf={} qbuf-free={} argv-mem={} multi-mem=0 \
         rbs={} rbp={} obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user=default \
         redir={} resp={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        c.name.lock(),
        now_ms.saturating_sub(c.created_ms) / 1000,
        now_ms.saturating_sub(c.last_ms.load(Ordering::Relaxed)) / 1000,
        flags,
        c.db.load(Ordering::Relaxed),
        c.subscriptions[0].load(Ordering::Relaxed),
        c.subscriptions[1].load(Ordering::Relaxed),
        c.subscriptions[2].load(Ordering::Relaxed),
        qbuf,
        c.qbuf_cap.load(Ordering::Relaxed).saturating_sub(qbuf),
        argv_mem,
        REPLY_BUF,
        REPLY_BUF,
        c.mailbox.pending(),
        c.mem_usage() + argv_mem,
        cmd,
        redir,
        c.resp.load(Ordering::Relaxed),
    );
    s
}

/// CLIENT LIST `flags` (Redis's letters in Redis's order, `N` for none)
/// and `redir` (the tracking redirection; -1 when not tracking).
fn flags_and_redirect(c: &ClientInfo) -> (String, i64) {
    let mut f = String::new();
    if c.monitor.load(Ordering::Relaxed) {
        f.push('O');
    } else if c.replica.load(Ordering::Relaxed) {
        f.push('S');
    }
    if c.subscriptions
        .iter()
        .any(|n| n.load(Ordering::Relaxed) > 0)
    {
        f.push('P');
    }
    if c.blocked.load(Ordering::Relaxed) {
        f.push('b');
    }
    let mut redir = -1;
    if let Some(m) = c.tracking.lock().as_ref() {
        f.push('t');
        if m.broken {
            f.push('R');
        }
        if m.bcast {
            f.push('B');
        }
        redir = m.redirect as i64;
    }
    if c.no_evict.load(Ordering::Relaxed) {
        f.push('e');
    }
    if f.is_empty() {
        f.push('N');
    }
    (f, redir)
}

/// Bytes of `argv` as a RESP multibulk request.
fn encoded_len(argv: &Argv<'_>) -> usize {
    let digits = |n: usize| n.to_string().len();
    let args: usize = argv
        .iter()
        .map(|a| 1 + digits(a.len()) + 2 + a.len() + 2)
        .sum();
    1 + digits(argv.len()) + 2 + args
}

fn line_for(ctx: &Ctx<'_>, c: &ClientInfo, argv: &Argv<'_>, own_cmd: &str) -> String {
    let current = (c.id == ctx.client.id()).then_some((own_cmd, argv));
    client_line(c, ctx.now_ms, current, crate::commands::table::index())
}

/// `CLIENT ID`
fn id(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.out.int(ctx.client.id() as i64);
    Ok(())
}

/// `CLIENT INFO`
fn info(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let me = ctx.client.info.clone();
    let mut line = line_for(ctx, &me, argv, "client|info");
    line.push('\n');
    ctx.out.verbatim(line.as_bytes());
    Ok(())
}

/// A client type of CLIENT LIST/KILL: replica links are `replica` (`slave`),
/// every other connection `normal`; none is `master` or `pubsub` yet.
fn type_filter(name: &[u8]) -> Result<fn(&ClientInfo) -> bool, CmdError> {
    let replica = |c: &ClientInfo| c.replica.load(Ordering::Relaxed);
    if is(name, "normal") {
        Ok(|c| !c.replica.load(Ordering::Relaxed))
    } else if is(name, "slave") || is(name, "replica") {
        Ok(replica)
    } else if is(name, "master") || is(name, "pubsub") {
        Ok(|_| false)
    } else {
        Err(CmdError::err(format!(
            "Unknown client type '{}'",
            String::from_utf8_lossy(name)
        )))
    }
}

/// `CLIENT LIST [TYPE type] [ID id …]`
fn list(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    let mut type_ok: fn(&ClientInfo) -> bool = |_| true;
    if argv.len() == 4 && is(argv.get(2), "TYPE") {
        type_ok = type_filter(argv.get(3))?;
    } else if argv.len() > 3 && is(argv.get(2), "ID") {
        let mut v = Vec::new();
        for a in argv.iter().skip(3) {
            match parse_int_strict(a) {
                Some(n) if n > 0 => v.push(n as u64),
                _ => return Err(CmdError::err("Invalid client ID")),
            }
        }
        ids = Some(v);
    } else if argv.len() != 2 {
        return Err(CmdError::Syntax);
    }
    let mut text = String::new();
    let clients = match &ids {
        Some(ids) => ids.iter().filter_map(|i| ctx.srv.clients.get(*i)).collect(),
        None => ctx.srv.clients.snapshot(),
    };
    for c in clients.iter().filter(|c| type_ok(c)) {
        text.push_str(&line_for(ctx, c, argv, "client|list"));
        text.push('\n');
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// Filters of the new CLIENT KILL form.
#[derive(Default)]
struct KillFilter {
    addr: Option<String>,
    laddr: Option<String>,
    id: Option<u64>,
    type_ok: Option<fn(&ClientInfo) -> bool>,
    skipme: bool,
}

impl KillFilter {
    fn parse(argv: &Argv<'_>) -> Result<KillFilter, CmdError> {
        let mut f = KillFilter {
            skipme: true,
            ..KillFilter::default()
        };
        let mut i = 2;
        while i < argv.len() {
            let Some(val) = argv.opt(i + 1) else {
                return Err(CmdError::Syntax);
            };
            let opt = argv.get(i);
            if is(opt, "ID") {
                match parse_int_strict(val) {
                    Some(n) if n >= 1 => f.id = Some(n as u64),
                    _ => return Err(CmdError::err("client-id should be greater than 0")),
                }
            } else if is(opt, "TYPE") {
                f.type_ok = Some(type_filter(val)?);
            } else if is(opt, "ADDR") {
                f.addr = Some(String::from_utf8_lossy(val).into_owned());
            } else if is(opt, "LADDR") {
                f.laddr = Some(String::from_utf8_lossy(val).into_owned());
            } else if is(opt, "USER") {
                if val != b"default" {
                    return Err(CmdError::err(format!(
                        "No such user '{}'",
                        String::from_utf8_lossy(val)
                    )));
                }
            } else if is(opt, "SKIPME") {
                f.skipme = match () {
                    _ if is(val, "yes") => true,
                    _ if is(val, "no") => false,
                    _ => return Err(CmdError::Syntax),
                };
            } else {
                return Err(CmdError::Syntax);
            }
            i += 2;
        }
        Ok(f)
    }

    fn matches(&self, c: &ClientInfo, me: u64) -> bool {
        self.type_ok.is_none_or(|t| t(c))
            && self.addr.as_ref().is_none_or(|a| *a == c.addr.to_string())
            && self
                .laddr
                .as_ref()
                .is_none_or(|a| *a == c.laddr.to_string())
            && self.id.is_none_or(|id| id == c.id)
            && !(self.skipme && c.id == me)
    }
}

/// `CLIENT KILL ip:port` or `CLIENT KILL <filter> <value> …`
fn kill(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let old_form = argv.len() == 3;
    let filter = if old_form {
        KillFilter {
            addr: Some(String::from_utf8_lossy(argv.get(2)).into_owned()),
            skipme: false,
            ..KillFilter::default()
        }
    } else {
        KillFilter::parse(argv)?
    };
    let me = ctx.client.id();
    let mut killed = 0i64;
    for c in ctx.srv.clients.snapshot() {
        if !filter.matches(&c, me) {
            continue;
        }
        if c.id == me {
            // Our own reply must still go out first.
            ctx.client.close_after_reply = true;
        } else {
            c.kill();
        }
        killed += 1;
    }
    if !old_form {
        ctx.out.int(killed);
    } else if killed == 0 {
        return Err(CmdError::err("No such client"));
    } else {
        ctx.out.ok();
    }
    Ok(())
}

/// `CLIENT SETNAME name` ("" clears it).
fn setname(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let name = argv.get(2);
    super::connection::check_client_name(name)?;
    *ctx.client.info.name.lock() = String::from_utf8_lossy(name).into_owned();
    ctx.out.ok();
    Ok(())
}

/// `CLIENT GETNAME`
fn getname(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let name = ctx.client.info.name.lock().clone();
    if name.is_empty() {
        ctx.out.null();
    } else {
        ctx.out.bulk(name.as_bytes());
    }
    Ok(())
}

/// `CLIENT SETINFO LIB-NAME|LIB-VER value` (Redis 7.2; client libraries send it).
fn setinfo(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (attr, val) = (argv.get(2), argv.get(3));
    let slot = if is(attr, "LIB-NAME") {
        &ctx.client.info.lib_name
    } else if is(attr, "LIB-VER") {
        &ctx.client.info.lib_ver
    } else {
        return Err(CmdError::err(format!(
            "Unrecognized option '{}'",
            String::from_utf8_lossy(attr)
        )));
    };
    if super::connection::check_client_name(val).is_err() {
        return Err(CmdError::err(format!(
            "{} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(attr).to_ascii_lowercase()
        )));
    }
    *slot.lock() = String::from_utf8_lossy(val).into_owned();
    ctx.out.ok();
    Ok(())
}

/// `CLIENT REPLY ON|OFF|SKIP`: the gate drops replies according to the mode.
fn reply(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mode = argv.get(2);
    if is(mode, "ON") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else if is(mode, "OFF") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if is(mode, "SKIP") {
        // As in Redis, SKIP means nothing while replies are already OFF.
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::Skip;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

/// `CLIENT NO-EVICT ON|OFF`
fn no_evict(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let v = argv.get(2);
    let on = if is(v, "ON") {
        true
    } else if is(v, "OFF") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    ctx.client.info.no_evict.store(on, Ordering::Relaxed);
    if !on {
        ctx.srv.clients.mem.retry();
    }
    ctx.out.ok();
    Ok(())
}

/// `CLIENT SYNC-WRITES <replicas>|DEFAULT`: this connection's writes wait for
/// that many replicas (`replica-sync-writes` for DEFAULT).
fn sync_writes(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let v = argv.get(2);
    ctx.client.sync_writes = if is(v, "DEFAULT") {
        None
    } else {
        let n = parse_int_strict(v)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| CmdError::err("replicas must be a non-negative integer or DEFAULT"))?;
        // Synchronous writes are known by their stream offsets.
        if n > 0 {
            ctx.srv.repl.activate();
        }
        Some(n)
    };
    ctx.out.ok();
    Ok(())
}

/// Combines a new pause with one in force: the later end wins, and ALL beats WRITE.
fn merge_pause(old: Pause, now_ms: u64, until_ms: u64, writes_only: bool) -> Pause {
    if old.until_ms <= now_ms {
        return Pause {
            until_ms,
            writes_only,
        };
    }
    Pause {
        until_ms: old.until_ms.max(until_ms),
        writes_only: old.writes_only && writes_only,
    }
}

/// `CLIENT PAUSE timeout [WRITE|ALL]`
fn pause(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    // Redis's order: argument count, then the mode, then the timeout.
    if argv.len() > 4 {
        return Err(subcommand_syntax(argv));
    }
    let writes_only = match argv.opt(3) {
        None => false,
        Some(m) if is(m, "WRITE") => true,
        Some(m) if is(m, "ALL") => false,
        Some(_) => return Err(CmdError::err("CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let ms = parse_int_strict(argv.get(2))
        .ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let now = unix_ms();
    let until = now.saturating_add(ms as u64);
    ctx.srv
        .pause
        .update(|p| merge_pause(p, now, until, writes_only));
    ctx.out.ok();
    Ok(())
}

/// Redis's `addReplySubcommandSyntaxError`.
fn subcommand_syntax(argv: &Argv<'_>) -> CmdError {
    let sub = argv.get(1);
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)])
    ))
}

/// `CLIENT UNPAUSE`
fn unpause(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.srv.pause.update(|_| Pause::default());
    ctx.srv.unpause.notify_waiters();
    ctx.out.ok();
    Ok(())
}

/// `CLIENT HELP`
fn help_cmd(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    help(
        ctx,
        "CLIENT",
        &[
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <LIB-NAME|LIB-VER> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "SYNC-WRITES (<replicas>|DEFAULT)",
            "    Make the replies to this connection's writes wait for <replicas> acknowledgements.",
        ],
    )
}

/// `CLIENT UNBLOCK client-id [TIMEOUT|ERROR]`: 1 when the client was blocked.
pub fn unblock(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if argv.len() > 4 {
        return Err(CmdError::UnknownSubcommand {
            sub: String::from_utf8_lossy(argv.get(1)).into_owned(),
            cmd: "CLIENT".into(),
        });
    }
    let error = match argv.opt(3) {
        None => false,
        Some(a) if super::is(a, "TIMEOUT") => false,
        Some(a) if super::is(a, "ERROR") => true,
        Some(_) => {
            return Err(CmdError::err(
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let id = super::parse_i64(argv.get(2))?;
    let done = u64::try_from(id).is_ok_and(|id| super::blocking::unblock(ctx.srv, id, error));
    ctx.out.int(i64::from(done));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_checks_arguments_in_redis_order() {
        let mut k = crate::commands::testkit::Kit::new();
        let mode = "-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n";
        assert_eq!(k.run(&["CLIENT", "PAUSE", "abc", "foo"]), mode);
        assert_eq!(k.run(&["CLIENT", "PAUSE", "-1", "foo"]), mode);
        assert_eq!(
            k.run(&["CLIENT", "PAUSE", "abc", "WRITE", "x"]),
            "-ERR unknown subcommand or wrong number of arguments for 'PAUSE'. Try CLIENT HELP.\r\n"
        );
        assert_eq!(
            k.run(&["CLIENT", "PAUSE", "-1", "WRITE"]),
            "-ERR timeout is negative\r\n"
        );
        assert_eq!(
            k.run(&["CLIENT", "PAUSE", "abc", "ALL"]),
            "-ERR timeout is not an integer or out of range\r\n"
        );
        assert_eq!(k.run(&["CLIENT", "PAUSE", "0", "ALL"]), "+OK\r\n");
    }

    #[test]
    fn pause_merging_keeps_the_stricter_longer_pause() {
        let old = Pause {
            until_ms: 2000,
            writes_only: true,
        };
        let p = merge_pause(old, 1000, 1500, false);
        assert_eq!((p.until_ms, p.writes_only), (2000, false));
        let p = merge_pause(old, 3000, 3500, true);
        assert_eq!((p.until_ms, p.writes_only), (3500, true));
    }

    #[test]
    fn list_line_has_redis_fields_in_order() {
        let table = crate::commands::table::CommandTable::new();
        let addr = "127.0.0.1:5000".parse().unwrap();
        let laddr = "127.0.0.1:6379".parse().unwrap();
        let c = ClientInfo::new(7, addr, laddr).with_fd(9);
        *c.name.lock() = "worker".into();
        let line = client_line(&c, c.created_ms, None, &table);
        let keys: Vec<&str> = line
            .split(' ')
            .map(|kv| kv.split('=').next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "addr",
                "laddr",
                "fd",
                "name",
                "age",
                "idle",
                "flags",
                "db",
                "sub",
                "psub",
                "ssub",
                "multi",
                "qbuf",
                "qbuf-free",
                "argv-mem",
                "multi-mem",
                "rbs",
                "rbp",
                "obl",
                "oll",
                "omem",
                "tot-mem",
                "events",
                "cmd",
                "user",
                "redir",
                "resp"
            ]
        );
        assert!(line.starts_with(
            "id=7 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=9 name=worker age=0 idle=0 flags=N db=0 "
        ));
        assert!(line.contains(" cmd=NULL user=default redir=-1 resp=2"));
    }

    #[test]
    fn running_command_counts_in_qbuf_like_redis() {
        // Redis shows qbuf=26 for its own `CLIENT LIST`.
        let ranges = [(0, 6), (6, 10)];
        let argv = Argv::new(b"clientlist", &ranges);
        assert_eq!(encoded_len(&argv), 26);
    }

    #[test]
    fn client_types() {
        let c = ClientInfo::new(1, ([127, 0, 0, 1], 1).into(), ([127, 0, 0, 1], 2).into());
        let t = |name: &[u8]| type_filter(name).map(|f| f(&c));
        assert_eq!(t(b"NORMAL"), Ok(true));
        assert_eq!(t(b"replica"), Ok(false));
        assert_eq!(t(b"pubsub"), Ok(false));
        c.replica.store(true, Ordering::Relaxed);
        assert_eq!(t(b"normal"), Ok(false));
        assert_eq!(t(b"slave"), Ok(true));
        assert_eq!(
            t(b"foo").unwrap_err().to_string(),
            "ERR Unknown client type 'foo'"
        );
    }
}
