//! Consumer-group commands: XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER,
//! DELCONSUMER, HELP), XACK, XPENDING, XCLAIM, XAUTOCLAIM. XCLAIM and
//! XAUTOCLAIM propagate one XCLAIM per entry they touched (Redis's
//! `streamPropagateXCLAIM`), never themselves.

use super::read::{setid_effect, xclaim_effect};
use super::{
    parse_end, parse_id_full, parse_interval, parse_start, parse_strict_id, reply_entry, reply_id,
    signal_ready,
};
use crate::commands::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::STREAM;
use crate::store::types::stream::{Group, Nack, StreamId};
use crate::store::types::Stream;

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Redis's `addReplySubcommandSyntaxError` for XGROUP.
fn subcommand_syntax(argv: &Argv<'_>) -> CmdError {
    let sub = argv.get(1);
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
        lossy(&sub[..sub.len().min(128)])
    ))
}

/// `XGROUP HELP`
pub fn xgroup_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    crate::commands::server::help(
        ctx,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    )
}

/// XGROUP's shared options (`MKSTREAM`, `ENTRIESREAD n`) from argument 5.
fn group_options(argv: &Argv<'_>, create: bool, setid: bool) -> Result<(bool, i64), CmdError> {
    let (mut mkstream, mut read) = (false, -1i64);
    let mut i = 5;
    while i < argv.len() {
        let a = argv.get(i);
        if create && is(a, "mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid) && is(a, "entriesread") && i + 1 < argv.len() {
            read = parse_i64(argv.get(i + 1))?;
            if read < 0 && read != -1 {
                return Err(CmdError::err(
                    "value for ENTRIESREAD must be positive or -1",
                ));
            }
            i += 2;
        } else {
            return Err(subcommand_syntax(argv));
        }
    }
    Ok((mkstream, read))
}

fn no_key() -> CmdError {
    CmdError::err("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")
}

fn no_group(argv: &Argv<'_>) -> CmdError {
    CmdError::Other(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        lossy(argv.get(3)),
        lossy(argv.get(2))
    ))
}

/// `XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n]`
pub fn xgroup_create(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (mkstream, read) = group_options(argv, true, false)?;
    let (key, name) = (argv.get(2), argv.get(3));
    let mut g = ctx.lock(key);
    let exists = g.read::<Stream>(key)?.is_some();
    if !exists && !mkstream {
        return Err(no_key());
    }
    if argv.len() > 8 {
        return Err(subcommand_syntax(argv));
    }
    let last = g.read::<Stream>(key)?.map_or(StreamId::MIN, |s| s.last_id);
    let id = if argv.get(4) == b"$" {
        last
    } else {
        parse_strict_id(argv.get(4))?
    };
    let created = g.update_or_create::<Stream, _>(key, |s| {
        if s.groups.contains_key(name) {
            return false;
        }
        s.groups.insert(name.into(), Group::new(id, read));
        true
    })?;
    if !created {
        return Err(CmdError::Other(
            "BUSYGROUP Consumer Group name already exists".into(),
        ));
    }
    ctx.notify(STREAM, "xgroup-create", key);
    ctx.propagate_verbatim(argv);
    drop(g);
    ctx.out.ok();
    Ok(())
}

/// Runs `f` on the group named by argument 3 of the stream at argument 2,
/// with XGROUP's missing key and group errors.
fn with_group<R>(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    f: impl FnOnce(&mut Stream, &mut Group) -> R,
) -> Result<R, CmdError> {
    let (key, name) = (argv.get(2), argv.get(3));
    let mut g = ctx.lock(key);
    let Some(s) = g.read::<Stream>(key)? else {
        return Err(no_key());
    };
    if !s.groups.contains_key(name) {
        return Err(no_group(argv));
    }
    let r = g.update::<Stream, _>(key, |s| {
        let mut grp = s.groups.remove(name)?;
        let r = f(s, &mut grp);
        s.groups.insert(name.into(), grp);
        Some(r)
    })?;
    r.flatten().ok_or_else(|| no_group(argv))
}

/// `XGROUP SETID key group id|$ [ENTRIESREAD n]`
pub fn xgroup_setid(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (_, read) = group_options(argv, false, true)?;
    let key = argv.get(2);
    {
        let mut g = ctx.lock(key);
        match g.read::<Stream>(key)? {
            None => return Err(no_key()),
            Some(s) if !s.groups.contains_key(argv.get(3)) => return Err(no_group(argv)),
            Some(_) => {}
        }
    }
    if argv.len() != 5 && argv.len() != 7 {
        return Err(subcommand_syntax(argv));
    }
    let given = if argv.get(4) == b"$" {
        None
    } else {
        Some(parse_id_full(argv.get(4), 0, false, false)?.0)
    };
    with_group(ctx, argv, |s, grp| {
        grp.last_id = given.unwrap_or(s.last_id);
        grp.entries_read = read;
    })?;
    let g = ctx.lock(key);
    ctx.notify(STREAM, "xgroup-setid", key);
    ctx.propagate_verbatim(argv);
    drop(g);
    ctx.out.ok();
    Ok(())
}

/// `XGROUP DESTROY key group`
pub fn xgroup_destroy(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (key, name) = (argv.get(2), argv.get(3));
    let mut g = ctx.lock(key);
    if g.read::<Stream>(key)?.is_none() {
        return Err(no_key());
    }
    let gone = g
        .update::<Stream, _>(key, |s| s.groups.remove(name).is_some())?
        .unwrap_or(false);
    if gone {
        ctx.notify(STREAM, "xgroup-destroy", key);
        ctx.propagate_verbatim(argv);
        signal_ready(ctx, key);
    }
    drop(g);
    ctx.out.int(i64::from(gone));
    Ok(())
}

/// `XGROUP CREATECONSUMER key group consumer`
pub fn xgroup_createconsumer(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let now = ctx.now_ms as i64;
    let consumer = argv.get(4);
    let created = with_group(ctx, argv, |_, grp| grp.create_consumer(consumer, now))?;
    if created {
        let key = argv.get(2);
        let g = ctx.lock(key);
        ctx.notify(STREAM, "xgroup-createconsumer", key);
        ctx.propagate_verbatim(argv);
        drop(g);
    }
    ctx.out.int(i64::from(created));
    Ok(())
}

/// `XGROUP DELCONSUMER key group consumer`
pub fn xgroup_delconsumer(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let consumer = argv.get(4);
    let pending = with_group(ctx, argv, |_, grp| grp.delete_consumer(consumer))?;
    if pending.is_some() {
        let key = argv.get(2);
        let g = ctx.lock(key);
        ctx.notify(STREAM, "xgroup-delconsumer", key);
        ctx.propagate_verbatim(argv);
        drop(g);
    }
    ctx.out.int(pending.unwrap_or(0) as i64);
    Ok(())
}

/// `XACK key group id [id …]`
pub fn xack(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (key, name) = (argv.get(1), argv.get(2));
    let mut g = ctx.lock(key);
    let has = g
        .read::<Stream>(key)?
        .is_some_and(|s| s.groups.contains_key(name));
    if !has {
        drop(g);
        ctx.out.int(0);
        return Ok(());
    }
    let ids = (3..argv.len())
        .map(|i| parse_strict_id(argv.get(i)))
        .collect::<Result<Vec<_>, _>>()?;
    let acked = g
        .update::<Stream, _>(key, |s| {
            s.groups
                .get_mut(name)
                .map_or(0, |grp| ids.iter().filter(|id| grp.ack(**id)).count())
        })?
        .unwrap_or(0);
    if acked > 0 {
        ctx.propagate_verbatim(argv);
    }
    drop(g);
    ctx.out.int(acked as i64);
    Ok(())
}

/// `XPENDING key group [[IDLE min-idle] start end count [consumer]]`
pub fn xpending(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let n = argv.len();
    if n != 3 && !(6..=9).contains(&n) {
        return Err(CmdError::Syntax);
    }
    let mut range = None;
    if n >= 6 {
        let mut at = 3;
        let mut minidle = 0i64;
        if is(argv.get(3), "idle") {
            minidle = parse_i64(argv.get(4))?;
            if n < 8 {
                return Err(CmdError::Syntax);
            }
            at += 2;
        }
        let count = parse_i64(argv.get(at + 2))?.max(0);
        let start = parse_start(argv.get(at))?;
        let end = parse_end(argv.get(at + 1))?;
        let consumer = argv.opt(at + 3);
        range = Some((minidle, start, end, count, consumer));
    }
    let (key, name) = (argv.get(1), argv.get(2));
    let now = ctx.now_ms as i64;
    let mut g = ctx.lock(key);
    let s = g.read::<Stream>(key)?;
    let Some(grp) = s.and_then(|s| s.groups.get(name)) else {
        return Err(CmdError::Other(format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            lossy(key),
            lossy(name)
        )));
    };
    let out = &mut *ctx.out;
    let Some((minidle, start, end, count, consumer)) = range else {
        out.array_len(4);
        out.int(grp.pel.len() as i64);
        match (grp.pel.keys().next(), grp.pel.keys().next_back()) {
            (Some(first), Some(last)) => {
                reply_id(out, *first);
                reply_id(out, *last);
                let owners: Vec<_> = grp
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .collect();
                out.array_len(owners.len());
                for (cname, c) in owners {
                    out.array_len(2);
                    out.bulk(cname);
                    out.bulk_int(c.pel.len() as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(());
    };
    let ids: Vec<StreamId> = match consumer {
        Some(c) => match grp.consumers.get(c) {
            Some(c) => c.pel.iter().copied().collect(),
            None => {
                out.array_len(0);
                return Ok(());
            }
        },
        None => grp.pel.keys().copied().collect(),
    };
    let mut rows = Vec::new();
    let mut left = count;
    for id in ids.into_iter().filter(|id| *id >= start) {
        if left == 0 || id > end {
            break;
        }
        let Some(nack) = grp.pel.get(&id) else {
            continue;
        };
        if minidle != 0 && now.saturating_sub(nack.delivery_time) < minidle {
            continue;
        }
        left -= 1;
        rows.push((id, nack));
    }
    out.array_len(rows.len());
    for (id, nack) in rows {
        out.array_len(4);
        reply_id(out, id);
        out.bulk(&nack.consumer);
        out.int(now.saturating_sub(nack.delivery_time).max(0));
        out.int(nack.delivery_count as i64);
    }
    Ok(())
}

/// What one claim gives back.
enum Claimed {
    Id(StreamId),
    Entry(crate::store::types::stream::StreamEntry),
}

fn reply_claimed(ctx: &mut Ctx<'_>, claimed: &[Claimed]) {
    ctx.out.array_len(claimed.len());
    for c in claimed {
        match c {
            Claimed::Id(id) => reply_id(ctx.out, *id),
            Claimed::Entry(e) => reply_entry(ctx.out, e),
        }
    }
}

fn propagate_all(ctx: &mut Ctx<'_>, effects: &[Vec<Vec<u8>>]) {
    for e in effects {
        let parts: Vec<&[u8]> = e.iter().map(Vec::as_slice).collect();
        ctx.propagate(&parts);
    }
}

fn nogroup(key: &[u8], name: &[u8]) -> CmdError {
    CmdError::Other(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        lossy(key),
        lossy(name)
    ))
}

/// How a claimed entry's delivery is recorded.
#[derive(Clone, Copy)]
struct Delivery {
    /// Its new delivery time.
    time: i64,
    /// RETRYCOUNT, or -1: the count is then bumped, unless `justid`.
    retry: i64,
    justid: bool,
}

/// Gives pending entry `id` to `consumer` (XCLAIM, XAUTOCLAIM) and says
/// what the reply shows of it.
fn claim_entry(s: &Stream, grp: &mut Group, id: StreamId, consumer: &[u8], d: Delivery) -> Claimed {
    grp.assign(id, consumer);
    if let Some(n) = grp.pel.get_mut(&id) {
        n.delivery_time = d.time;
        if d.retry >= 0 {
            n.delivery_count = d.retry as u64;
        } else if !d.justid {
            n.delivery_count = n.delivery_count.saturating_add(1);
        }
    }
    match s.get(id) {
        Some(e) if !d.justid => Claimed::Entry(e),
        _ => Claimed::Id(id),
    }
}

/// XCLAIM's ids and options.
struct ClaimOpts {
    ids: Vec<StreamId>,
    force: bool,
    justid: bool,
    /// RETRYCOUNT, or -1.
    retry: i64,
    /// The delivery time claimed entries get.
    time: i64,
    /// LASTID, or the minimum.
    last: StreamId,
}

/// Parses XCLAIM's ids (from argument 5) and options, with Redis's errors.
fn claim_options(argv: &Argv<'_>, now: i64) -> Result<ClaimOpts, CmdError> {
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argv.len() {
        match parse_strict_id(argv.get(j)) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let (mut force, mut justid, mut retry, mut time) = (false, false, -1i64, -1i64);
    let mut last = StreamId::MIN;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let o = argv.get(j);
        let num = |arg: &[u8], what: &str| {
            parse_i64(arg)
                .map_err(|_| CmdError::err(format!("Invalid {what} option argument for XCLAIM")))
        };
        if is(o, "force") {
            force = true;
        } else if is(o, "justid") {
            justid = true;
        } else if is(o, "idle") && more > 0 {
            j += 1;
            time = now.saturating_sub(num(argv.get(j), "IDLE")?);
        } else if is(o, "time") && more > 0 {
            j += 1;
            time = num(argv.get(j), "TIME")?;
        } else if is(o, "retrycount") && more > 0 {
            j += 1;
            retry = num(argv.get(j), "RETRYCOUNT")?;
        } else if is(o, "lastid") && more > 0 {
            j += 1;
            last = parse_strict_id(argv.get(j))?;
        } else {
            return Err(CmdError::err(format!(
                "Unrecognized XCLAIM option '{}'",
                lossy(o)
            )));
        }
        j += 1;
    }
    let time = if time == -1 || time < 0 || time > now {
        now
    } else {
        time
    };
    Ok(ClaimOpts {
        ids,
        force,
        justid,
        retry,
        time,
        last,
    })
}

/// `XCLAIM key group consumer min-idle id [id …] [IDLE ms] [TIME ms]
/// [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]`
pub fn xclaim(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (key, name, consumer) = (argv.get(1), argv.get(2), argv.get(3));
    let now = ctx.now_ms as i64;
    let mut g = ctx.lock(key);
    let has = g
        .read::<Stream>(key)?
        .is_some_and(|s| s.groups.contains_key(name));
    if !has {
        return Err(nogroup(key, name));
    }
    let minidle = parse_i64(argv.get(4))
        .map_err(|_| CmdError::err("Invalid min-idle-time argument for XCLAIM"))?
        .max(0);
    let ClaimOpts {
        ids,
        force,
        justid,
        retry,
        time,
        last,
    } = claim_options(argv, now)?;
    let mut effects = Vec::new();
    let mut claimed = Vec::new();
    let mut created = false;
    g.update::<Stream, _>(key, |s| {
        let Some(mut grp) = s.groups.remove(name) else {
            return;
        };
        let mut propagate_last = false;
        if last > grp.last_id {
            grp.last_id = last;
            propagate_last = true;
        }
        let mut have_consumer = false;
        for id in &ids {
            let id = *id;
            if !s.contains(id) {
                if let Some(n) = grp.pel.get(&id) {
                    effects.push(xclaim_effect(key, name, id, n, grp.last_id));
                    propagate_last = false;
                    grp.ack(id);
                }
                continue;
            }
            let mut fresh = false;
            if force && !grp.pel.contains_key(&id) {
                grp.pel.insert(
                    id,
                    Nack {
                        delivery_time: now,
                        delivery_count: 1,
                        consumer: consumer.into(),
                    },
                );
                fresh = true;
            }
            let Some(n) = grp.pel.get(&id) else {
                continue;
            };
            if !fresh && minidle > 0 && now.saturating_sub(n.delivery_time) < minidle {
                continue;
            }
            if !have_consumer {
                created |= grp.touch_consumer(consumer, now);
                have_consumer = true;
            }
            let delivery = Delivery {
                time,
                retry,
                justid,
            };
            claimed.push(claim_entry(s, &mut grp, id, consumer, delivery));
            if let Some(n) = grp.pel.get(&id) {
                effects.push(xclaim_effect(key, name, id, n, grp.last_id));
            }
            propagate_last = false;
        }
        if propagate_last {
            effects.push(setid_effect(key, name, grp.last_id, grp.entries_read));
        }
        s.groups.insert(name.into(), grp);
    })?;
    if created {
        ctx.notify(STREAM, "xgroup-createconsumer", key);
    }
    propagate_all(ctx, &effects);
    drop(g);
    reply_claimed(ctx, &claimed);
    Ok(())
}

/// `XAUTOCLAIM key group consumer min-idle start [COUNT n] [JUSTID]`
pub fn xautoclaim(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (key, name, consumer) = (argv.get(1), argv.get(2), argv.get(3));
    let now = ctx.now_ms as i64;
    let minidle = parse_i64(argv.get(4))
        .map_err(|_| CmdError::err("Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let (mut start, ex) = parse_interval(argv.get(5), 0)?;
    if ex {
        start = start
            .incr()
            .ok_or_else(|| CmdError::err("invalid start ID for the interval"))?;
    }
    let (mut count, mut justid) = (100i64, false);
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let o = argv.get(j);
        if is(o, "count") && more > 0 {
            let max = i64::MAX / 16;
            count = parse_i64(argv.get(j + 1))
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| CmdError::err("COUNT must be > 0"))?;
            j += 1;
        } else if is(o, "justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let mut g = ctx.lock(key);
    let has = g
        .read::<Stream>(key)?
        .is_some_and(|s| s.groups.contains_key(name));
    if !has {
        return Err(nogroup(key, name));
    }
    let mut effects = Vec::new();
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut cursor = StreamId::MIN;
    let mut created = false;
    g.update::<Stream, _>(key, |s| {
        let Some(mut grp) = s.groups.remove(name) else {
            return;
        };
        let ids: Vec<StreamId> = grp.pel.range(start..).map(|(id, _)| *id).collect();
        let mut attempts = count.saturating_mul(10);
        let mut i = 0;
        let mut have_consumer = false;
        while attempts > 0 && count > 0 && i < ids.len() {
            attempts -= 1;
            let id = ids[i];
            i += 1;
            if !s.contains(id) {
                if let Some(n) = grp.pel.get(&id) {
                    effects.push(xclaim_effect(key, name, id, n, grp.last_id));
                }
                grp.ack(id);
                deleted.push(id);
                count -= 1;
                continue;
            }
            let Some(n) = grp.pel.get(&id) else {
                continue;
            };
            if minidle > 0 && now.saturating_sub(n.delivery_time) < minidle {
                continue;
            }
            if !have_consumer {
                created |= grp.touch_consumer(consumer, now);
                have_consumer = true;
            }
            let delivery = Delivery {
                time: now,
                retry: -1,
                justid,
            };
            claimed.push(claim_entry(s, &mut grp, id, consumer, delivery));
            count -= 1;
            if let Some(n) = grp.pel.get(&id) {
                effects.push(xclaim_effect(key, name, id, n, grp.last_id));
            }
        }
        cursor = ids.get(i).copied().unwrap_or(StreamId::MIN);
        s.groups.insert(name.into(), grp);
    })?;
    if created {
        ctx.notify(STREAM, "xgroup-createconsumer", key);
    }
    propagate_all(ctx, &effects);
    drop(g);
    ctx.out.array_len(3);
    reply_id(ctx.out, cursor);
    reply_claimed(ctx, &claimed);
    ctx.out.array_len(deleted.len());
    for id in deleted {
        reply_id(ctx.out, id);
    }
    Ok(())
}
