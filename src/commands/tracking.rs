//! CLIENT TRACKING, CLIENT CACHING, CLIENT GETREDIR and CLIENT TRACKINGINFO
//! (the tables and invalidation live in `node::tracking`), and what every
//! command does for tracking: remember the keys a read-only command read.

use super::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::tracking::Mode;

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP]`
pub fn tracking(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut mode = Mode::default();
    let mut i = 3;
    while i < argv.len() {
        let a = argv.get(i);
        let more = i + 1 < argv.len();
        if is(a, "redirect") && more {
            i += 1;
            if mode.redirect != 0 {
                return Err(CmdError::err(
                    "A client can only redirect to a single other client",
                ));
            }
            let id = parse_i64(argv.get(i))?;
            if id <= 0 || ctx.srv.clients.get(id as u64).is_none() {
                return Err(CmdError::err(
                    "The client ID you want redirect to does not exist",
                ));
            }
            mode.redirect = id as u64;
        } else if is(a, "bcast") {
            mode.bcast = true;
        } else if is(a, "optin") {
            mode.optin = true;
        } else if is(a, "optout") {
            mode.optout = true;
        } else if is(a, "noloop") {
            mode.noloop = true;
        } else if is(a, "prefix") && more {
            i += 1;
            mode.prefixes.push(argv.get(i).into());
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let info = ctx.client.info.clone();
    if is(argv.get(2), "off") {
        ctx.srv.tracking.disable(&info);
        ctx.client.tracking = false;
        ctx.client.tracking_mem = 0;
        ctx.out.ok();
        return Ok(());
    }
    if !is(argv.get(2), "on") {
        return Err(CmdError::Syntax);
    }
    check_compatible(&info, &mode)?;
    ctx.srv.tracking.enable(&info, mode);
    ctx.client.tracking = true;
    ctx.client.tracking_mem = info.tracking.lock().as_ref().map_or(0, |m| {
        m.prefixes
            .iter()
            .map(|p| p.len() + crate::node::client_mem::TRACKING_PREFIX_MEM)
            .sum()
    });
    ctx.out.ok();
    Ok(())
}

/// Redis's checks before turning tracking on, in its order.
fn check_compatible(info: &crate::node::clients::ClientInfo, mode: &Mode) -> CmdResult {
    if !mode.bcast && !mode.prefixes.is_empty() {
        return Err(CmdError::err(
            "PREFIX option requires BCAST mode to be enabled",
        ));
    }
    let cur = info.tracking.lock().clone();
    if let Some(c) = &cur {
        if c.bcast != mode.bcast {
            return Err(CmdError::err("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return Err(CmdError::err(
            "OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    if mode.optin && mode.optout {
        return Err(CmdError::err(
            "You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if let Some(c) = &cur {
        if (mode.optin && c.optout) || (mode.optout && c.optin) {
            return Err(CmdError::err("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
    }
    if mode.bcast {
        let had: &[Box<[u8]>] = cur.as_ref().map_or(&[], |c| &c.prefixes[..]);
        let overlaps = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
        let text = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
        for (i, p) in mode.prefixes.iter().enumerate() {
            if let Some(h) = had.iter().find(|h| overlaps(p, h)) {
                return Err(CmdError::err(format!(
                    "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    text(p),
                    text(h)
                )));
            }
            if let Some(q) = mode.prefixes[i + 1..].iter().find(|q| overlaps(p, q)) {
                return Err(CmdError::err(format!(
                    "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    text(p),
                    text(q)
                )));
            }
        }
    }
    Ok(())
}

/// `CLIENT CACHING YES|NO`: whether the next command's keys are tracked
/// (OPTIN / OPTOUT modes).
pub fn caching(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let Some(mode) = ctx.client.info.tracking.lock().clone() else {
        return Err(CmdError::err("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    };
    let opt = argv.get(2);
    if is(opt, "yes") {
        if !mode.optin {
            return Err(CmdError::err(
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if is(opt, "no") {
        if !mode.optout {
            return Err(CmdError::err(
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.client.caching = true;
    ctx.out.ok();
    Ok(())
}

/// `CLIENT GETREDIR`: the redirection id, 0 without one, -1 when not tracking.
pub fn getredir(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let redirect = ctx.client.info.tracking.lock().as_ref().map(|m| m.redirect);
    ctx.out.int(redirect.map_or(-1, |r| r as i64));
    Ok(())
}

/// `CLIENT TRACKINGINFO`
pub fn trackinginfo(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let mode = ctx.client.info.tracking.lock().clone();
    let caching = ctx.client.caching;
    let mut flags: Vec<&str> = Vec::new();
    match &mode {
        None => flags.push("off"),
        Some(m) => {
            flags.push("on");
            if m.bcast {
                flags.push("bcast");
            }
            if m.optin {
                flags.push("optin");
                if caching {
                    flags.push("caching-yes");
                }
            }
            if m.optout {
                flags.push("optout");
                if caching {
                    flags.push("caching-no");
                }
            }
            if m.noloop {
                flags.push("noloop");
            }
            if m.broken {
                flags.push("broken_redirect");
            }
        }
    }
    ctx.out.map_len(3);
    ctx.out.bulk(b"flags");
    ctx.out.set_len(flags.len());
    for f in flags {
        ctx.out.bulk(f.as_bytes());
    }
    ctx.out.bulk(b"redirect");
    ctx.out.int(mode.as_ref().map_or(-1, |m| m.redirect as i64));
    ctx.out.bulk(b"prefixes");
    let prefixes = mode.map(|m| m.prefixes).unwrap_or_default();
    ctx.out.array_len(prefixes.len());
    for p in &prefixes {
        ctx.out.bulk(p);
    }
    Ok(())
}

/// After a read-only command of a tracking client (default mode): remembers
/// the keys it read, unless OPTIN without `CLIENT CACHING yes` or OPTOUT
/// with `CLIENT CACHING no` says otherwise. Shard channels are not keys.
pub fn remember_keys(ctx: &Ctx<'_>, argv: &Argv<'_>) {
    remember_keys_of(ctx.srv, ctx.client, ctx.spec, argv);
}

/// `remember_keys` for command `spec` with `argv` (a script's read command
/// remembers the keys its EVAL declared, as Redis).
pub fn remember_keys_of(
    srv: &crate::node::Server,
    client: &super::Client,
    spec: &super::CommandSpec,
    argv: &Argv<'_>,
) {
    let Some(mode) = client.info.tracking.lock().clone() else {
        return;
    };
    if mode.bcast
        || (mode.optin && !client.caching)
        || (mode.optout && client.caching)
        || spec.flags.has(super::Flags::PUBSUB)
    {
        return;
    }
    let positions = spec.keys.positions(argv);
    srv.tracking
        .remember(client.id(), positions.into_iter().map(|i| argv.get(i)));
}
