//! Stream commands (Redis 7.0's `t_stream.c` semantics and error lines).
//! This file: the table, id parsing and reply helpers, XADD, XLEN, XRANGE,
//! XREVRANGE, XDEL, XTRIM, XSETID. Reading (XREAD, XREADGROUP, blocking) is
//! in `read`, the consumer-group commands in `group`, XINFO in `info`.
//!
//! Writes propagate their effect: XADD with the id it generated and an
//! approximate trim turned exact; XREADGROUP and XCLAIM as the XCLAIM /
//! XGROUP SETID / XGROUP CREATECONSUMER commands Redis emits.

mod group;
mod info;
mod read;

use std::sync::atomic::Ordering;

use super::spec::key_flags::{ACCESS, DELETE, INSERT, RO, RW, UPDATE};
use super::spec::{command_table, CommandSpec, KeySpec, KeySpecs, NOKEYS};
use super::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::STREAM;
use crate::resp::reply::Reply;
use crate::store::types::stream::{
    AddError, NewId, NodeLimits, StreamEntry, StreamId, Trim, TrimBy,
};
use crate::store::types::Stream;

use group::{xack, xautoclaim, xclaim, xgroup_create, xgroup_createconsumer};
use group::{xgroup_delconsumer, xgroup_destroy, xgroup_help, xgroup_setid, xpending};
use info::{xinfo_consumers, xinfo_groups, xinfo_help, xinfo_stream};
use read::{xread, xreadgroup};

const KS_RW_UPDATE: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RW | UPDATE)]);
const KS_XADD: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RW | UPDATE)
    .notes("UPDATE instead of INSERT because of the optional trimming feature")]);
const KS_RW_DELETE: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RW | DELETE)]);
const KS_RO: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RO)]);
const KS_RO_ACCESS: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RO | ACCESS)]);
const KS2_RW_INSERT: KeySpecs = KeySpecs::new(&[KeySpec::at(2, RW | INSERT)]);
const KS2_RW_DELETE: KeySpecs = KeySpecs::new(&[KeySpec::at(2, RW | DELETE)]);
const KS2_RW_UPDATE: KeySpecs = KeySpecs::new(&[KeySpec::at(2, RW | UPDATE)]);
const KS2_RO_ACCESS: KeySpecs = KeySpecs::new(&[KeySpec::at(2, RO | ACCESS)]);
/// XREAD: the first half of the arguments after STREAMS.
const KS_XREAD: KeySpecs =
    KeySpecs::new(&[KeySpec::after("STREAMS", 1, RO | ACCESS).range(-1, 1, 2)]);
/// XREADGROUP: the same, searched from argument 4.
const KS_XREADGROUP: KeySpecs =
    KeySpecs::new(&[KeySpec::after("STREAMS", 4, RO | ACCESS).range(-1, 1, 2)]);

/// The stream commands' table rows.
pub static COMMANDS: &[CommandSpec] = command_table! {
    "xadd" -5 [WRITE|DENYOOM|FAST] KS_XADD, "write stream fast" "stream" "5.0.0" xadd, "Appends a new entry to a stream";
    "xlen" 2 [READONLY|FAST] KS_RO, "read stream fast" "stream" "5.0.0" xlen, "Return the number of entries in a stream";
    "xrange" -4 [READONLY] KS_RO_ACCESS, "read stream slow" "stream" "5.0.0" xrange, "Return a range of elements in a stream, with IDs matching the specified IDs interval";
    "xrevrange" -4 [READONLY] KS_RO_ACCESS, "read stream slow" "stream" "5.0.0" xrevrange, "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE";
    "xdel" -3 [WRITE|FAST] KS_RW_DELETE, "write stream fast" "stream" "5.0.0" xdel, "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.";
    "xtrim" -4 [WRITE] KS_RW_DELETE, "write stream slow" "stream" "5.0.0" xtrim, "Trims the stream to (approximately if '~' is passed) a certain size";
    "xsetid" -3 [WRITE|DENYOOM|FAST] KS_RW_UPDATE, "write stream fast" "stream" "5.0.0" xsetid, "An internal command for replicating stream values";
    "xread" -4 [READONLY|BLOCKING] KS_XREAD, "read stream slow blocking" "stream" "5.0.0" xread, "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.";
    "xreadgroup" -7 [WRITE|BLOCKING] KS_XREADGROUP, "write stream slow blocking" "stream" "5.0.0" xreadgroup, "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.";
    "xgroup" -2 [] NOKEYS, "slow" "stream" "5.0.0" super::server::container, "A container for consumer groups commands", subs XGROUP_SUBCOMMANDS;
    "xack" -4 [WRITE|FAST] KS_RW_UPDATE, "write stream fast" "stream" "5.0.0" xack, "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.";
    "xpending" -3 [READONLY] KS_RO_ACCESS, "read stream slow" "stream" "5.0.0" xpending, "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.";
    "xclaim" -6 [WRITE|FAST] KS_RW_UPDATE, "write stream fast" "stream" "5.0.0" xclaim, "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.";
    "xautoclaim" -6 [WRITE|FAST] KS_RW_DELETE, "write stream fast" "stream" "6.2.0" xautoclaim, "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.";
    "xinfo" -2 [] NOKEYS, "slow" "stream" "5.0.0" super::server::container, "A container for stream introspection commands", subs XINFO_SUBCOMMANDS;
};

/// `XGROUP` subcommands, in the order Redis lists them.
pub static XGROUP_SUBCOMMANDS: &[CommandSpec] = command_table! {
    "delconsumer" 5 [WRITE] KS2_RW_DELETE, "write stream slow" "stream" "5.0.0" xgroup_delconsumer, "Delete a consumer from a consumer group.";
    "destroy" 4 [WRITE] KS2_RW_DELETE, "write stream slow" "stream" "5.0.0" xgroup_destroy, "Destroy a consumer group.";
    "createconsumer" 5 [WRITE|DENYOOM] KS2_RW_INSERT, "write stream slow" "stream" "6.2.0" xgroup_createconsumer, "Create a consumer in a consumer group.";
    "setid" -5 [WRITE] KS2_RW_UPDATE, "write stream slow" "stream" "5.0.0" xgroup_setid, "Set a consumer group to an arbitrary last delivered ID value.";
    "create" -5 [WRITE|DENYOOM] KS2_RW_INSERT, "write stream slow" "stream" "5.0.0" xgroup_create, "Create a consumer group.";
    "help" 2 [LOADING|STALE] NOKEYS, "stream slow" "stream" "5.0.0" xgroup_help, "Show helpful text about the different subcommands";
};

/// `XINFO` subcommands, in the order Redis lists them.
pub static XINFO_SUBCOMMANDS: &[CommandSpec] = command_table! {
    "consumers" 4 [READONLY] KS2_RO_ACCESS, "read stream slow" "stream" "5.0.0" xinfo_consumers, "List the consumers in a consumer group";
    "stream" -3 [READONLY] KS2_RO_ACCESS, "read stream slow" "stream" "5.0.0" xinfo_stream, "Get information about a stream";
    "groups" 3 [READONLY] KS2_RO_ACCESS, "read stream slow" "stream" "5.0.0" xinfo_groups, "List the consumer groups of a stream";
    "help" 2 [LOADING|STALE] NOKEYS, "stream slow" "stream" "5.0.0" xinfo_help, "Show helpful text about the different subcommands";
};

/// `ERR Invalid stream ID specified as stream command argument`.
pub(crate) fn invalid_id() -> CmdError {
    CmdError::err("Invalid stream ID specified as stream command argument")
}

/// Redis's `string2ull`: `string2ll` when it reads the text (negative
/// refused), else `strtoull`'s rules (spaces, a sign, digits, all used).
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::store::compact::parse_int(s) {
        return u64::try_from(v).ok();
    }
    let mut i = s.iter().take_while(|c| c.is_ascii_whitespace()).count();
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = s.get(i..)?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// A parsed id argument: the id, and false for the `ms-*` form.
pub(crate) fn parse_id_full(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_star: bool,
) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 127 {
        return Err(invalid_id());
    }
    if arg == b"-" || arg == b"+" {
        if strict {
            return Err(invalid_id());
        }
        return Ok((
            if arg == b"-" {
                StreamId::MIN
            } else {
                StreamId::MAX
            },
            true,
        ));
    }
    let (ms_part, seq_part) = match arg.iter().position(|&c| c == b'-') {
        Some(p) => (&arg[..p], Some(&arg[p + 1..])),
        None => (arg, None),
    };
    let ms = string2ull(ms_part).ok_or_else(invalid_id)?;
    match seq_part {
        Some(b"*") if seq_star => Ok((StreamId::new(ms, 0), false)),
        Some(s) => Ok((
            StreamId::new(ms, string2ull(s).ok_or_else(invalid_id)?),
            true,
        )),
        None => Ok((StreamId::new(ms, missing_seq), true)),
    }
}

/// An id where `-`/`+` are refused (Redis's strict parse).
pub(crate) fn parse_strict_id(arg: &[u8]) -> Result<StreamId, CmdError> {
    parse_id_full(arg, 0, true, false).map(|(id, _)| id)
}

/// A range bound: `(` makes it exclusive (then strict); incomplete ids take
/// `missing_seq`.
pub(crate) fn parse_interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        Ok((parse_id_full(&arg[1..], missing_seq, true, false)?.0, true))
    } else {
        Ok((parse_id_full(arg, missing_seq, false, false)?.0, false))
    }
}

/// A range's start (exclusive bumps it up).
pub(crate) fn parse_start(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (id, ex) = parse_interval(arg, 0)?;
    if ex {
        return id
            .incr()
            .ok_or_else(|| CmdError::err("invalid start ID for the interval"));
    }
    Ok(id)
}

/// A range's end (exclusive takes it down).
pub(crate) fn parse_end(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (id, ex) = parse_interval(arg, u64::MAX)?;
    if ex {
        return id
            .decr()
            .ok_or_else(|| CmdError::err("invalid end ID for the interval"));
    }
    Ok(id)
}

/// Writes an id as a bulk string.
pub(crate) fn reply_id(out: &mut Reply, id: StreamId) {
    out.bulk(id.render().as_bytes());
}

/// Writes one entry: `[id, [field, value, …]]`.
pub(crate) fn reply_entry(out: &mut Reply, e: &StreamEntry) {
    out.array_len(2);
    reply_id(out, e.id);
    out.array_len(e.fields.len() * 2);
    for (f, v) in &e.fields {
        out.bulk(f);
        out.bulk(v);
    }
}

/// Writes entries as an array.
pub(crate) fn reply_entries(out: &mut Reply, entries: &[StreamEntry]) {
    out.array_len(entries.len());
    for e in entries {
        reply_entry(out, e);
    }
}

/// The node limits the configuration sets now.
pub(crate) fn limits(ctx: &Ctx<'_>) -> NodeLimits {
    let enc = &ctx.srv.hot.encodings;
    NodeLimits {
        bytes: enc.stream_node_max_bytes.load(Ordering::Relaxed).max(0) as u64,
        entries: enc.stream_node_max_entries.load(Ordering::Relaxed),
    }
}

/// Signals blocked readers that `key` changed (new data, a group or the key gone).
pub(crate) fn signal_ready(ctx: &Ctx<'_>, key: &[u8]) {
    ctx.srv.keyspace.blocked.key_added(ctx.db(), key);
}

/// XADD/XTRIM options as parsed.
struct AddTrim {
    trim: Option<Trim>,
    /// Index of the MAXLEN/MINID value (to rewrite for propagation).
    trim_arg: usize,
    nomkstream: bool,
    /// The id argument's index (XADD).
    id_at: usize,
    id: Option<(StreamId, bool)>,
}

/// Redis's `streamParseAddOrTrimArgsOrReply`.
fn parse_add_trim(ctx: &Ctx<'_>, argv: &Argv<'_>, xadd: bool) -> Result<AddTrim, CmdError> {
    let mut r = AddTrim {
        trim: None,
        trim_arg: 0,
        nomkstream: false,
        id_at: argv.len(),
        id: None,
    };
    let (mut approx, mut limit, mut limit_given) = (false, 0i64, false);
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = argv.get(i);
        if xadd && opt == b"*" {
            r.id_at = i;
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if r.trim.is_some() {
                return Err(CmdError::err(
                    "syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            approx = false;
            let next = argv.get(i + 1);
            if more >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let v = argv.get(i + 1);
            let strategy = if is(opt, "maxlen") {
                let n = parse_i64(v)?;
                if n < 0 {
                    return Err(CmdError::err("The MAXLEN argument must be >= 0."));
                }
                TrimBy::MaxLen(n as u64)
            } else {
                TrimBy::MinId(parse_strict_id(v)?)
            };
            i += 1;
            r.trim_arg = i;
            r.trim = Some(Trim {
                strategy,
                approx,
                limit: 0,
            });
        } else if is(opt, "limit") && more > 0 {
            limit = parse_i64(argv.get(i + 1))?;
            if limit < 0 {
                return Err(CmdError::err("The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            r.nomkstream = true;
        } else if xadd {
            r.id = Some(parse_id_full(opt, 0, true, true)?);
            r.id_at = i;
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if limit != 0 && r.trim.is_none() {
        return Err(CmdError::err(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && r.trim.is_none() {
        return Err(CmdError::err(
            "syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if let Some(t) = &mut r.trim {
        if ctx.client.replaying {
            t.limit = 0;
        } else if limit_given {
            if !approx {
                return Err(CmdError::err(
                    "syntax error, LIMIT cannot be used without the special ~ option",
                ));
            }
            t.limit = limit;
        } else if approx {
            let per = ctx
                .srv
                .hot
                .encodings
                .stream_node_max_entries
                .load(Ordering::Relaxed);
            t.limit = per.saturating_mul(100);
            if t.limit <= 0 {
                t.limit = 10_000;
            }
            t.limit = t.limit.min(1_000_000);
        }
    }
    Ok(r)
}

/// The propagated form of an approximate trim: `=` and the exact result.
fn exact_trim_args(argv: &mut [Vec<u8>], s: &Stream, t: &Trim, at: usize) {
    if !t.approx {
        return;
    }
    argv[at - 1] = b"=".to_vec();
    argv[at] = match t.strategy {
        TrimBy::MaxLen(_) => s.len().to_string().into_bytes(),
        TrimBy::MinId(_) => s.edge_id(true, false).to_bytes(),
    };
}

fn owned(argv: &Argv<'_>) -> Vec<Vec<u8>> {
    argv.iter().map(<[u8]>::to_vec).collect()
}

fn propagate_owned(ctx: &mut Ctx<'_>, args: &[Vec<u8>]) {
    let parts: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    ctx.propagate(&parts);
}

/// `XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value …`
pub fn xadd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let p = parse_add_trim(ctx, argv, true)?;
    let fields_at = p.id_at + 1;
    let nfields = argv.len().saturating_sub(fields_at);
    if nfields < 2 || nfields % 2 == 1 {
        return Err(CmdError::Arity("xadd".into()));
    }
    if let Some((id, true)) = p.id {
        if id.is_zero() {
            return Err(CmdError::err(
                "The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let new = match p.id {
        None => NewId::Auto(ctx.now_ms),
        Some((id, false)) => NewId::Ms(id.ms),
        Some((id, true)) => NewId::Exact(id),
    };
    let fields: Vec<(&[u8], &[u8])> = (fields_at..argv.len())
        .step_by(2)
        .map(|i| (argv.get(i), argv.get(i + 1)))
        .collect();
    let key = argv.get(1);
    let limits = limits(ctx);
    let mut g = ctx.lock(key);
    if g.read::<Stream>(key)?.is_none() && p.nomkstream {
        drop(g);
        ctx.out.null();
        return Ok(());
    }
    // The replicas get the id this made (and an exact trim): the arguments
    // are copied only when the trim rewrites them.
    let mut trim_args = p.trim.is_some().then(|| owned(argv));
    let done = g.update_or_create::<Stream, _>(key, |s| {
        if s.last_id == StreamId::MAX {
            return Err(CmdError::err(
                "The stream has exhausted the last possible ID, unable to add more items",
            ));
        }
        let id = s.add(new, &fields, limits).map_err(|e| match e {
            AddError::NotGreater => CmdError::err(
                "The ID specified in XADD is equal or smaller than the target stream top item",
            ),
            AddError::TooLarge => CmdError::err("Elements are too large to be stored"),
        })?;
        let mut trimmed = 0;
        if let (Some(t), Some(args)) = (&p.trim, trim_args.as_mut()) {
            trimmed = s.trim(*t);
            exact_trim_args(args, s, t, p.trim_arg);
        }
        Ok((id, trimmed))
    })?;
    let (id, trimmed) = done?;
    reply_id(ctx.out, id);
    ctx.notify(STREAM, "xadd", key);
    if trimmed > 0 {
        ctx.notify(STREAM, "xtrim", key);
    }
    let id_text = id.render();
    let mut parts: Vec<&[u8]> = match &trim_args {
        Some(args) => args.iter().map(Vec::as_slice).collect(),
        None => argv.iter().collect(),
    };
    parts[p.id_at] = id_text.as_bytes();
    ctx.propagate(&parts);
    signal_ready(ctx, key);
    drop(g);
    Ok(())
}

/// `XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]`
pub fn xtrim(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let p = parse_add_trim(ctx, argv, false)?;
    let Some(t) = p.trim else {
        return Err(CmdError::Syntax);
    };
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let mut args = owned(argv);
    let trimmed = g
        .update::<Stream, _>(key, |s| {
            let n = s.trim(t);
            if n > 0 {
                exact_trim_args(&mut args, s, &t, p.trim_arg);
            }
            n
        })?
        .unwrap_or(0);
    if trimmed > 0 {
        ctx.notify(STREAM, "xtrim", key);
        propagate_owned(ctx, &args);
    }
    drop(g);
    ctx.out.int(trimmed as i64);
    Ok(())
}

/// `XLEN key`
pub fn xlen(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let n = g.read::<Stream>(key)?.map_or(0, |s| s.len());
    drop(g);
    ctx.out.int(n as i64);
    Ok(())
}

/// `XRANGE key start end [COUNT count]`
pub fn xrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    range(ctx, argv, false)
}

/// `XREVRANGE key end start [COUNT count]`
pub fn xrevrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    range(ctx, argv, true)
}

fn range(ctx: &mut Ctx<'_>, argv: &Argv<'_>, rev: bool) -> CmdResult {
    let (sa, ea) = if rev {
        (argv.get(3), argv.get(2))
    } else {
        (argv.get(2), argv.get(3))
    };
    let start = parse_start(sa)?;
    let end = parse_end(ea)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if is(argv.get(j), "count") && j + 1 < argv.len() {
            count = parse_i64(argv.get(j + 1))?.max(0);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let Some(s) = g.read::<Stream>(key)? else {
        drop(g);
        ctx.out.array_len(0);
        return Ok(());
    };
    if count == 0 {
        drop(g);
        ctx.out.null_array();
        return Ok(());
    }
    let n = if count < 0 { 0 } else { count as usize };
    let entries = s.range(start, end, n, rev);
    drop(g);
    reply_entries(ctx.out, &entries);
    Ok(())
}

/// `XDEL key id [id …]`
pub fn xdel(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    if g.read::<Stream>(key)?.is_none() {
        drop(g);
        ctx.out.int(0);
        return Ok(());
    }
    let ids = (2..argv.len())
        .map(|i| parse_strict_id(argv.get(i)))
        .collect::<Result<Vec<_>, _>>()?;
    let deleted = g
        .update::<Stream, _>(key, |s| ids.iter().filter(|id| s.delete(**id)).count())?
        .unwrap_or(0);
    if deleted > 0 {
        ctx.notify(STREAM, "xdel", key);
        ctx.propagate_verbatim(argv);
    }
    drop(g);
    ctx.out.int(deleted as i64);
    Ok(())
}

/// `XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]`
pub fn xsetid(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let id = parse_strict_id(argv.get(2))?;
    let (mut added, mut maxdel) = (-1i64, StreamId::MIN);
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = argv.get(i);
        if is(opt, "entriesadded") && more > 0 {
            added = parse_i64(argv.get(i + 1))?;
            if added < 0 {
                return Err(CmdError::err("entries_added must be positive"));
            }
        } else if is(opt, "maxdeletedid") && more > 0 {
            maxdel = parse_strict_id(argv.get(i + 1))?;
            if id < maxdel {
                return Err(CmdError::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let done = g.update::<Stream, _>(key, |s| {
        if !s.is_empty() {
            if id < s.last_valid_id() {
                return Err(CmdError::err(
                    "The ID specified in XSETID is smaller than the target stream top item",
                ));
            }
            if added != -1 && s.len() > added as u64 {
                return Err(CmdError::err(
                    "The entries_added specified in XSETID is smaller than the target stream length",
                ));
            }
        }
        s.last_id = id;
        if added != -1 {
            s.entries_added = added as u64;
        }
        if !maxdel.is_zero() {
            s.max_deleted = maxdel;
        }
        Ok(())
    })?;
    match done {
        None => Err(CmdError::NoSuchKey),
        Some(r) => {
            r?;
            ctx.notify(STREAM, "xsetid", key);
            ctx.propagate_verbatim(argv);
            drop(g);
            ctx.out.ok();
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis_does() {
        assert_eq!(parse_strict_id(b"5-3").ok(), Some(StreamId::new(5, 3)));
        assert_eq!(parse_strict_id(b"5").ok(), Some(StreamId::new(5, 0)));
        assert!(parse_strict_id(b"-").is_err());
        assert!(parse_strict_id(b"5-x").is_err());
        assert!(parse_strict_id(b"-1").is_err());
        assert_eq!(parse_end(b"5").ok(), Some(StreamId::new(5, u64::MAX)));
        assert_eq!(parse_start(b"(5-3").ok(), Some(StreamId::new(5, 4)));
        assert!(parse_end(b"(0-0").is_err());
        assert_eq!(
            parse_id_full(b"7-*", 0, true, true).ok(),
            Some((StreamId::new(7, 0), false))
        );
        assert_eq!(string2ull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(string2ull(b"18446744073709551616"), None);
    }
}
