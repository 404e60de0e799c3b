//! Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET.

use std::sync::atomic::Ordering;

use super::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::commands::ReplyMode;
use crate::node::REDIS_VERSION;
use crate::resp::reply::Protocol;

/// `PING [message]`
pub fn ping(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if ctx.client.info.subscribed() > 0 && !ctx.out.resp3() {
        // A subscribed RESP2 connection reads arrays only.
        ctx.out.array_len(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(argv.opt(1).unwrap_or_default());
        return Ok(());
    }
    match argv.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(argv.get(1)),
        _ => return Err(CmdError::Arity("ping".into())),
    }
    Ok(())
}

/// `ECHO message`
pub fn echo(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ctx.out.bulk(argv.get(1));
    Ok(())
}

/// `QUIT`: replies OK, then the session closes.
pub fn quit(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
    ctx.client.info.quitting.store(true, Ordering::Relaxed);
    Ok(())
}

/// `SELECT index`
pub fn select(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let idx = parse_i64(argv.get(1))?;
    if ctx.srv.cluster.is_some() && idx != 0 {
        return Err(CmdError::err("SELECT is not allowed in cluster mode"));
    }
    if idx < 0 || idx as usize >= ctx.srv.keyspace.db_count() {
        return Err(CmdError::err("DB index is out of range"));
    }
    ctx.client.select(idx as usize);
    ctx.out.ok();
    Ok(())
}

fn wrongpass() -> CmdError {
    CmdError::Other("WRONGPASS invalid username-password pair or user is disabled.".into())
}

/// Checks a username/password pair against `requirepass` (the `default` user).
fn check_password(ctx: &mut Ctx<'_>, user: Option<&[u8]>, pass: &[u8]) -> CmdResult {
    let required = ctx.srv.config.read().requirepass.clone();
    if let Some(u) = user {
        if u != b"default" {
            return Err(wrongpass());
        }
    }
    if required.is_empty() {
        if user.is_none() {
            return Err(CmdError::err(
                "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            ));
        }
        ctx.client.authenticated = true;
        return Ok(());
    }
    if required.as_bytes() == pass {
        ctx.client.authenticated = true;
        Ok(())
    } else {
        Err(wrongpass())
    }
}

/// `AUTH [username] password`
pub fn auth(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    match argv.len() {
        2 => check_password(ctx, None, argv.get(1))?,
        3 => check_password(ctx, Some(argv.get(1)), argv.get(2))?,
        _ => return Err(CmdError::Syntax),
    }
    ctx.out.ok();
    Ok(())
}

/// Checks a client name (HELLO SETNAME, CLIENT SETNAME): printable ASCII, no spaces.
pub fn check_client_name(name: &[u8]) -> CmdResult {
    if name.iter().all(|&c| (b'!'..=b'~').contains(&c)) {
        Ok(())
    } else {
        Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`
pub fn hello(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut proto = ctx.out.proto;
    let mut i = 1;
    if argv.len() > 1 {
        let v = parse_i64(argv.get(1))
            .map_err(|_| CmdError::err("Protocol version is not an integer or out of range"))?;
        proto = match v {
            2 => Protocol::Resp2,
            3 => Protocol::Resp3,
            _ => {
                return Err(CmdError::Other(
                    "NOPROTO unsupported protocol version".into(),
                ))
            }
        };
        i = 2;
    }
    let mut setname: Option<&[u8]> = None;
    while i < argv.len() {
        let a = argv.get(i);
        if is(a, "AUTH") && i + 2 < argv.len() {
            check_password(ctx, Some(argv.get(i + 1)), argv.get(i + 2))?;
            i += 3;
        } else if is(a, "SETNAME") && i + 1 < argv.len() {
            let n = argv.get(i + 1);
            check_client_name(n)?;
            setname = Some(n);
            i += 2;
        } else {
            return Err(CmdError::err(format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(a)
            )));
        }
    }
    if !ctx.client.authenticated {
        return Err(CmdError::Other(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into(),
        ));
    }
    if let Some(n) = setname {
        *ctx.client.info.name.lock() = String::from_utf8_lossy(n).into_owned();
    }
    ctx.out.proto = proto;
    ctx.client.info.resp.store(
        if proto == Protocol::Resp3 { 3 } else { 2 },
        Ordering::Relaxed,
    );
    let cluster = ctx.srv.cluster.is_some();
    let replica = ctx.srv.cluster.as_ref().is_some_and(|c| c.is_replica());
    let out = &mut *ctx.out;
    out.map_len(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if proto == Protocol::Resp3 { 3 } else { 2 });
    out.bulk(b"id");
    out.int(ctx.client.id() as i64);
    out.bulk(b"mode");
    out.bulk(if cluster {
        b"cluster" as &[u8]
    } else {
        b"standalone"
    });
    out.bulk(b"role");
    out.bulk(if replica {
        b"replica" as &[u8]
    } else {
        b"master"
    });
    out.bulk(b"modules");
    out.array_len(0);
    Ok(())
}

/// `RESET`: back to a fresh connection's state.
pub fn reset(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.client.select(0);
    ctx.client.reply_mode = ReplyMode::On;
    ctx.client.readonly = false;
    ctx.client.asking = false;
    ctx.client.asking_next = false;
    ctx.client.multi = None;
    ctx.client.unwatch();
    ctx.srv.pubsub.leave(&ctx.client.info);
    ctx.srv.tracking.disable(&ctx.client.info);
    ctx.client.tracking = false;
    ctx.client.tracking_mem = 0;
    ctx.client.caching = false;
    ctx.client.authenticated = !ctx.srv.hot.auth_required.load(Ordering::Relaxed);
    ctx.client.info.name.lock().clear();
    if ctx.client.info.monitor.swap(false, Ordering::Relaxed) {
        ctx.srv.monitors.fetch_sub(1, Ordering::Relaxed);
    }
    ctx.client.info.no_evict.store(false, Ordering::Relaxed);
    ctx.out.proto = Protocol::Resp2;
    ctx.client.info.resp.store(2, Ordering::Relaxed);
    ctx.out.simple("RESET");
    Ok(())
}
