//! Sorted set commands. Handlers reach the value through the slot guard's
//! typed lookups (`ZSet`), so WRONGTYPE and removing an emptied sorted set
//! happen there. Ranges are in `range`, the multi-key algebra in `store`,
//! the blocking pops in `blocking`.

mod blocking;
mod range;
pub(crate) mod store;

use std::sync::atomic::Ordering;

use super::args::ArgCursor;
use super::keys::scan::{parse_cursor, ElementScan};
use super::spec::key_flags::{ACCESS, DELETE, OW, RO, RW, UPDATE};
use super::spec::{command_table, CommandSpec, KeySpec, KeySpecs};
use super::table::{
    KS_RO, KS_RO_ACCESS, KS_RW_ACCESS_DELETE, KS_RW_ACCESS_UPDATE, KS_RW_DELETE, KS_RW_UPDATE,
};
use super::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::{GENERIC, ZSET};
use crate::resp::reply::Reply;
use crate::store::types::zset::{d2string, Entry, ZSetLimits};
use crate::store::types::ZSet;

use blocking::{bzmpop, bzpopmax, bzpopmin};
use range::{
    zcount, zlexcount, zrange, zrangebylex, zrangebyscore, zrangestore, zremrangebylex,
    zremrangebyrank, zremrangebyscore, zrevrange, zrevrangebylex, zrevrangebyscore,
};
use store::{zdiff, zdiffstore, zinter, zintercard, zinterstore, zunion, zunionstore};

/// ZRANGESTORE: the destination, then the source.
const KS_ZRANGESTORE: KeySpecs =
    KeySpecs::new(&[KeySpec::at(1, OW | UPDATE), KeySpec::at(2, RO | ACCESS)]);
/// ZUNION, ZINTER, ZDIFF, ZINTERCARD: `numkeys key [key …]`.
const KS_NUMKEYS_RO: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RO | ACCESS).keynum(0, 1, 1)]);
/// ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE: `destination numkeys key [key …]`.
const KS_NUMKEYS_STORE: KeySpecs = KeySpecs::new(&[
    KeySpec::at(1, OW | UPDATE),
    KeySpec::at(2, RO | ACCESS).keynum(0, 1, 1),
]);
/// ZMPOP: `numkeys key [key …]`, each possibly emptied.
const KS_BZPOP: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RW | ACCESS | DELETE).range(-2, 1, 0)]);
const KS_BZMPOP: KeySpecs = KeySpecs::new(&[KeySpec::at(2, RW | ACCESS | DELETE).keynum(0, 1, 1)]);
const KS_ZMPOP: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RW | ACCESS | DELETE).keynum(0, 1, 1)]);

/// The sorted set commands' table rows.
pub static COMMANDS: &[CommandSpec] = command_table! {
    "zadd" -4 [WRITE|DENYOOM|FAST] KS_RW_UPDATE, "write sortedset fast" "sorted_set" "1.2.0" zadd, "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.";
    "zincrby" 4 [WRITE|DENYOOM|FAST] KS_RW_ACCESS_UPDATE, "write sortedset fast" "sorted_set" "1.2.0" zincrby, "Increments the score of a member in a sorted set.";
    "zrem" -3 [WRITE|FAST] KS_RW_DELETE, "write sortedset fast" "sorted_set" "1.2.0" zrem, "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.";
    "zcard" 2 [READONLY|FAST] KS_RO, "read sortedset fast" "sorted_set" "1.2.0" zcard, "Returns the number of members in a sorted set.";
    "zcount" 4 [READONLY|FAST] KS_RO_ACCESS, "read sortedset fast" "sorted_set" "2.0.0" zcount, "Returns the count of members in a sorted set that have scores within a range.";
    "zscore" 3 [READONLY|FAST] KS_RO_ACCESS, "read sortedset fast" "sorted_set" "1.2.0" zscore, "Returns the score of a member in a sorted set.";
    "zmscore" -3 [READONLY|FAST] KS_RO_ACCESS, "read sortedset fast" "sorted_set" "6.2.0" zmscore, "Returns the score of one or more members in a sorted set.";
    "zrank" 3 [READONLY|FAST] KS_RO_ACCESS, "read sortedset fast" "sorted_set" "2.0.0" zrank, "Returns the index of a member in a sorted set ordered by ascending scores.";
    "zrevrank" 3 [READONLY|FAST] KS_RO_ACCESS, "read sortedset fast" "sorted_set" "2.0.0" zrevrank, "Returns the index of a member in a sorted set ordered by descending scores.";
    "zrange" -4 [READONLY] KS_RO_ACCESS, "read sortedset slow" "sorted_set" "1.2.0" zrange, "Returns members in a sorted set within a range of indexes.";
    "zrangestore" -5 [WRITE|DENYOOM] KS_ZRANGESTORE, "write sortedset slow" "sorted_set" "6.2.0" zrangestore, "Stores a range of members from sorted set in a key.";
    "zrangebyscore" -4 [READONLY] KS_RO_ACCESS, "read sortedset slow" "sorted_set" "1.0.5" zrangebyscore, "Returns members in a sorted set within a range of scores.";
    "zrevrangebyscore" -4 [READONLY] KS_RO_ACCESS, "read sortedset slow" "sorted_set" "2.2.0" zrevrangebyscore, "Returns members in a sorted set within a range of scores in reverse order.";
    "zrangebylex" -4 [READONLY] KS_RO_ACCESS, "read sortedset slow" "sorted_set" "2.8.9" zrangebylex, "Returns members in a sorted set within a lexicographical range.";
    "zrevrangebylex" -4 [READONLY] KS_RO_ACCESS, "read sortedset slow" "sorted_set" "2.8.9" zrevrangebylex, "Returns members in a sorted set within a lexicographical range in reverse order.";
    "zrevrange" -4 [READONLY] KS_RO_ACCESS, "read sortedset slow" "sorted_set" "1.2.0" zrevrange, "Returns members in a sorted set within a range of indexes in reverse order.";
    "zlexcount" 4 [READONLY|FAST] KS_RO_ACCESS, "read sortedset fast" "sorted_set" "2.8.9" zlexcount, "Returns the number of members in a sorted set within a lexicographical range.";
    "zpopmin" -2 [WRITE|FAST] KS_RW_ACCESS_DELETE, "write sortedset fast" "sorted_set" "5.0.0" zpopmin, "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.";
    "zpopmax" -2 [WRITE|FAST] KS_RW_ACCESS_DELETE, "write sortedset fast" "sorted_set" "5.0.0" zpopmax, "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.";
    "bzpopmin" -3 [WRITE|NOSCRIPT|BLOCKING|FAST] KS_BZPOP, "write sortedset fast blocking" "sorted_set" "5.0.0" bzpopmin, "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.";
    "bzpopmax" -3 [WRITE|NOSCRIPT|BLOCKING|FAST] KS_BZPOP, "write sortedset fast blocking" "sorted_set" "5.0.0" bzpopmax, "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.";
    "bzmpop" -5 [WRITE|BLOCKING] KS_BZMPOP, "write sortedset slow blocking" "sorted_set" "7.0.0" bzmpop, "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.";
    "zmpop" -4 [WRITE] KS_ZMPOP, "write sortedset slow" "sorted_set" "7.0.0" zmpop, "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.";
    "zunion" -3 [READONLY] KS_NUMKEYS_RO, "read sortedset slow" "sorted_set" "6.2.0" zunion, "Returns the union of multiple sorted sets.";
    "zinter" -3 [READONLY] KS_NUMKEYS_RO, "read sortedset slow" "sorted_set" "6.2.0" zinter, "Returns the intersect of multiple sorted sets.";
    "zintercard" -3 [READONLY] KS_NUMKEYS_RO, "read sortedset slow" "sorted_set" "7.0.0" zintercard, "Returns the number of members of the intersect of multiple sorted sets.";
    "zdiff" -3 [READONLY] KS_NUMKEYS_RO, "read sortedset slow" "sorted_set" "6.2.0" zdiff, "Returns the difference between multiple sorted sets.";
    "zunionstore" -4 [WRITE|DENYOOM] KS_NUMKEYS_STORE, "write sortedset slow" "sorted_set" "2.0.0" zunionstore, "Stores the union of multiple sorted sets in a key.";
    "zinterstore" -4 [WRITE|DENYOOM] KS_NUMKEYS_STORE, "write sortedset slow" "sorted_set" "2.0.0" zinterstore, "Stores the intersect of multiple sorted sets in a key.";
    "zdiffstore" -4 [WRITE|DENYOOM] KS_NUMKEYS_STORE, "write sortedset slow" "sorted_set" "6.2.0" zdiffstore, "Stores the difference of multiple sorted sets in a key.";
    "zrandmember" -2 [READONLY] KS_RO_ACCESS, "read sortedset slow" "sorted_set" "6.2.0" zrandmember, "Returns one or more random members from a sorted set.";
    "zremrangebyrank" 4 [WRITE] KS_RW_DELETE, "write sortedset slow" "sorted_set" "2.0.0" zremrangebyrank, "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.";
    "zremrangebyscore" 4 [WRITE] KS_RW_DELETE, "write sortedset slow" "sorted_set" "1.2.0" zremrangebyscore, "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.";
    "zremrangebylex" 4 [WRITE] KS_RW_DELETE, "write sortedset slow" "sorted_set" "2.8.9" zremrangebylex, "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.";
    "zscan" -3 [READONLY] KS_RO_ACCESS, "read sortedset slow" "sorted_set" "2.8.0" zscan, "Iterates over members and scores of a sorted set.";
};

/// The listpack limits `zset-max-listpack-entries` / `-value` set now.
pub(crate) fn limits(ctx: &Ctx<'_>) -> ZSetLimits {
    let enc = &ctx.srv.hot.encodings;
    ZSetLimits {
        entries: enc.zset_max_listpack_entries.load(Ordering::Relaxed) as usize,
        value: enc.zset_max_listpack_value.load(Ordering::Relaxed) as usize,
    }
}

/// A score argument as Redis's `getDoubleFromObject` reads it (no NaN, no
/// overflow to infinity from a finite number).
pub(crate) fn parse_score(arg: &[u8]) -> Result<f64, CmdError> {
    let v = super::parse_f64(arg)?;
    if v.is_infinite() && !arg.iter().any(|c| matches!(c, b'i' | b'I')) {
        return Err(CmdError::NotFloat);
    }
    Ok(v)
}

/// Writes elements as ZRANGE does: members, with scores after each (RESP2),
/// or as [member, score] pairs (RESP3).
pub(crate) fn reply_entries(out: &mut Reply, entries: &[Entry<'_>], withscores: bool) {
    let pairs = withscores && out.resp3();
    let n = if withscores && !pairs {
        entries.len() * 2
    } else {
        entries.len()
    };
    out.array_len(n);
    for (m, s) in entries {
        if pairs {
            out.array_len(2);
        }
        out.bulk(m);
        if withscores {
            out.double(*s);
        }
    }
}

/// Popped members with their scores, in pop order.
pub type Popped = Vec<(Vec<u8>, f64)>;

/// How a pop reply is shaped (Redis's four, by command and protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopShape {
    /// `[m, s, m, s]`: ZPOPMIN/ZPOPMAX in RESP2 or without a count.
    Flat,
    /// `[[m, s], …]`: ZPOPMIN/ZPOPMAX with a count in RESP3.
    Nested,
    /// `[key, m, s, …]`: BZPOPMIN/BZPOPMAX.
    KeyFlat,
    /// `[key, [[m, s], …]]`: ZMPOP/BZMPOP.
    KeyNested,
}

/// Writes popped elements in `shape` (reused by the blocking pops).
pub fn reply_popped(out: &mut Reply, key: &[u8], popped: &[(Vec<u8>, f64)], shape: PopShape) {
    let n = popped.len();
    match shape {
        PopShape::Flat => out.array_len(n * 2),
        PopShape::Nested => out.array_len(n),
        PopShape::KeyFlat => {
            out.array_len(n * 2 + 1);
            out.bulk(key);
        }
        PopShape::KeyNested => {
            out.array_len(2);
            out.bulk(key);
            out.array_len(n);
        }
    }
    let nested = matches!(shape, PopShape::Nested | PopShape::KeyNested);
    for (m, s) in popped {
        if nested {
            out.array_len(2);
        }
        out.bulk(m);
        out.double(*s);
    }
}

/// ZADD's options.
#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What one ZADD element did.
enum AddOutcome {
    Added(f64),
    Updated(f64),
    Unchanged(f64),
    Skipped,
}

fn add_one(
    z: &mut ZSet,
    f: AddFlags,
    member: &[u8],
    mut score: f64,
    limits: ZSetLimits,
) -> Result<AddOutcome, CmdError> {
    match z.score(member) {
        Some(cur) => {
            if f.nx {
                return Ok(AddOutcome::Skipped);
            }
            if f.incr {
                score += cur;
                if score.is_nan() {
                    return Err(CmdError::err("resulting score is not a number (NaN)"));
                }
            }
            if (f.lt && score >= cur) || (f.gt && score <= cur) {
                return Ok(AddOutcome::Skipped);
            }
            if score == cur {
                return Ok(AddOutcome::Unchanged(score));
            }
            z.insert(member, score, limits);
            Ok(AddOutcome::Updated(score))
        }
        None if f.xx => Ok(AddOutcome::Skipped),
        None => {
            z.insert(member, score, limits);
            Ok(AddOutcome::Added(score))
        }
    }
}

fn parse_add_flags(argv: &Argv<'_>) -> (AddFlags, usize) {
    let mut f = AddFlags::default();
    let mut i = 2;
    while let Some(a) = argv.opt(i) {
        match a.to_ascii_lowercase().as_slice() {
            b"nx" => f.nx = true,
            b"xx" => f.xx = true,
            b"gt" => f.gt = true,
            b"lt" => f.lt = true,
            b"ch" => f.ch = true,
            b"incr" => f.incr = true,
            _ => break,
        }
        i += 1;
    }
    (f, i)
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member …]`
pub fn zadd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (f, first) = parse_add_flags(argv);
    let elements = argv.len() - first;
    if elements == 0 || !elements.is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if f.incr && elements > 2 {
        return Err(CmdError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    if f.nx && f.xx {
        return Err(CmdError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    let mut scores = Vec::with_capacity(elements / 2);
    for i in (first..argv.len()).step_by(2) {
        scores.push(parse_score(argv.get(i))?);
    }
    zadd_apply(ctx, argv, f, first, &scores)
}

fn zadd_apply(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    f: AddFlags,
    first: usize,
    scores: &[f64],
) -> CmdResult {
    let key = argv.get(1);
    let limits = limits(ctx);
    let mut g = ctx.lock(key);
    let exists = g.read::<ZSet>(key)?.is_some();
    let (mut added, mut updated, mut last) = (0i64, 0i64, None);
    if exists || !f.xx {
        g.update_or_create::<ZSet, _>(key, |z| -> CmdResult {
            for (k, score) in scores.iter().enumerate() {
                let member = argv.get(first + 2 * k + 1);
                match add_one(z, f, member, *score, limits)? {
                    AddOutcome::Added(s) => (added, last) = (added + 1, Some(s)),
                    AddOutcome::Updated(s) => (updated, last) = (updated + 1, Some(s)),
                    AddOutcome::Unchanged(s) => last = Some(s),
                    AddOutcome::Skipped => {}
                }
            }
            Ok(())
        })??;
    }
    if added + updated > 0 {
        ctx.propagate_verbatim(argv);
        ctx.notify(ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    drop(g);
    if f.incr {
        match last {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.int(if f.ch { added + updated } else { added });
    }
    Ok(())
}

/// `ZINCRBY key increment member`
pub fn zincrby(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let by = parse_score(argv.get(2))?;
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    // ZADD's element layout is `score member` from index 2, as here.
    zadd_apply(ctx, argv, f, 2, &[by])
}

/// `ZREM key member [member …]`
pub fn zrem(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let (removed, emptied) = g
        .update::<ZSet, _>(key, |z| {
            let n = argv
                .tail(2)
                .iter()
                .filter(|m| z.remove(m).is_some())
                .count();
            (n, z.is_empty())
        })?
        .unwrap_or((0, false));
    if removed > 0 {
        ctx.propagate_verbatim(argv);
        ctx.notify(ZSET, "zrem", key);
        if emptied {
            ctx.notify(GENERIC, "del", key);
        }
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// `ZCARD key`
pub fn zcard(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let n = g.read::<ZSet>(key)?.map_or(0, ZSet::len);
    ctx.out.int(n as i64);
    Ok(())
}

/// `ZSCORE key member`
pub fn zscore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    match g.read::<ZSet>(key)?.and_then(|z| z.score(argv.get(2))) {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `ZMSCORE key member [member …]`
pub fn zmscore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let z = g.read::<ZSet>(key)?;
    ctx.out.array_len(argv.len() - 2);
    for m in argv.tail(2).iter() {
        match z.and_then(|z| z.score(m)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn rank(ctx: &mut Ctx<'_>, argv: &Argv<'_>, rev: bool) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let found = g.read::<ZSet>(key)?.and_then(|z| {
        z.rank(argv.get(2))
            .map(|r| if rev { z.len() - 1 - r } else { r })
    });
    match found {
        Some(r) => ctx.out.int(r as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `ZRANK key member`
pub fn zrank(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    rank(ctx, argv, false)
}

/// `ZREVRANK key member`
pub fn zrevrank(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    rank(ctx, argv, true)
}

/// Pops up to `count` elements of `key` (`max`: the highest), propagating
/// the pop as `ZPOPMIN|ZPOPMAX key count`; `Ok(None)` when the key is
/// missing. The blocking pops call this once a key has elements.
pub fn pop_and_propagate(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    max: bool,
    count: usize,
) -> Result<Option<Popped>, CmdError> {
    let mut g = ctx.lock(key);
    let popped = g.update::<ZSet, _>(key, |z| (z.pop(max, count), z.is_empty()))?;
    let Some((p, emptied)) = popped else {
        return Ok(None);
    };
    if !p.is_empty() {
        let n = itoa::Buffer::new().format(p.len()).to_string();
        let cmd: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        ctx.propagate(&[cmd, key, n.as_bytes()]);
        ctx.notify(ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
        if emptied {
            ctx.notify(GENERIC, "del", key);
        }
    }
    Ok(Some(p))
}

fn zpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>, max: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match argv.opt(2) {
        Some(a) => {
            let n = parse_i64(a)?;
            if n < 0 {
                return Err(CmdError::err("value is out of range, must be positive"));
            }
            Some(n as usize)
        }
        None => None,
    };
    let key = argv.get(1);
    if count == Some(0) {
        // Redis checks the type before answering an empty array.
        ctx.lock(key).read::<ZSet>(key)?;
        ctx.out.array_len(0);
        return Ok(());
    }
    let popped = pop_and_propagate(ctx, key, max, count.unwrap_or(1))?.unwrap_or_default();
    let shape = if count.is_some() && ctx.out.resp3() {
        PopShape::Nested
    } else {
        PopShape::Flat
    };
    reply_popped(ctx.out, key, &popped, shape);
    Ok(())
}

/// `ZPOPMIN key [count]`
pub fn zpopmin(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zpop(ctx, argv, false)
}

/// `ZPOPMAX key [count]`
pub fn zpopmax(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zpop(ctx, argv, true)
}

/// ZMPOP's / BZMPOP's arguments from `numkeys`: the keys, MAX, the count.
pub fn parse_mpop<'a>(
    argv: &Argv<'a>,
    numkeys_at: usize,
) -> Result<(Vec<&'a [u8]>, bool, usize), CmdError> {
    let numkeys_err = || CmdError::err("numkeys should be greater than 0");
    let n = parse_i64(argv.get(numkeys_at)).map_err(|_| numkeys_err())?;
    if n < 1 {
        return Err(numkeys_err());
    }
    let where_at = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_add(numkeys_at + 1))
        .filter(|&w| w < argv.len())
        .ok_or(CmdError::Syntax)?;
    let keys: Vec<&[u8]> = (numkeys_at + 1..where_at).map(|i| argv.get(i)).collect();
    let max = match argv.get(where_at) {
        w if is(w, "MIN") => false,
        w if is(w, "MAX") => true,
        _ => return Err(CmdError::Syntax),
    };
    let mut count = None;
    let mut args = ArgCursor::new(argv, where_at + 1);
    while let Some(a) = args.next_word() {
        if count.is_none() && is(a, "COUNT") && args.has_value() {
            let err = || CmdError::err("count should be greater than 0");
            let c = parse_i64(args.value()?).map_err(|_| err())?;
            if c < 1 {
                return Err(err());
            }
            count = Some(c as usize);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok((keys, max, count.unwrap_or(1)))
}

/// `ZMPOP numkeys key [key …] MIN|MAX [COUNT count]`
pub fn zmpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (keys, max, count) = parse_mpop(argv, 1)?;
    for key in keys {
        if let Some(popped) = pop_and_propagate(ctx, key, max, count)? {
            reply_popped(ctx.out, key, &popped, PopShape::KeyNested);
            return Ok(());
        }
    }
    ctx.out.null_array();
    Ok(())
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`
pub fn zrandmember(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let with_count = argv.len() >= 3;
    let count = if with_count {
        let n = parse_i64(argv.get(2))?;
        if n == i64::MIN {
            return Err(CmdError::err(format!(
                "value is out of range, value must between {} and {}",
                -i64::MAX,
                i64::MAX
            )));
        }
        let withscores = argv.len() == 4 && is(argv.get(3), "WITHSCORES");
        if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
            return Err(CmdError::err("value is out of range"));
        }
        n
    } else {
        1
    };
    let scores = match argv.opt(3) {
        None => false,
        Some(a) if is(a, "WITHSCORES") && argv.len() == 4 => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    let mut g = ctx.lock(key);
    let Some(z) = g.read::<ZSet>(key)? else {
        if with_count {
            ctx.out.array_len(0);
        } else {
            ctx.out.null();
        }
        return Ok(());
    };
    if !with_count {
        let pick = z.range(fastrand::usize(..z.len().max(1)), 1, false);
        match pick.first() {
            Some((m, _)) => ctx.out.bulk(m),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    // Each pick is one O(log n) select, so a few picks from a large set
    // never walk the whole set; repeated picks are written as drawn.
    let len = z.len();
    if count < 0 {
        let n = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        let pairs = scores && ctx.out.resp3();
        ctx.out.array_len(if scores && !pairs {
            n.saturating_mul(2)
        } else {
            n
        });
        for _ in 0..n {
            if let Some((m, s)) = z.range(fastrand::usize(..len), 1, false).first() {
                if pairs {
                    ctx.out.array_len(2);
                }
                ctx.out.bulk(m);
                if scores {
                    ctx.out.double(*s);
                }
            }
        }
        return Ok(());
    }
    let chosen: Vec<Entry<'_>> = distinct_picks(len, count as u64)
        .into_iter()
        .filter_map(|i| z.range(i, 1, false).into_iter().next())
        .collect();
    reply_entries(ctx.out, &chosen, scores);
    Ok(())
}

/// `count` distinct random indices below `len` (all of them, in order,
/// when `count` reaches `len`).
fn distinct_picks(len: usize, count: u64) -> Vec<usize> {
    let want = usize::try_from(count).unwrap_or(usize::MAX);
    if want >= len {
        // The whole set, walked from the top down as Redis's iterator does.
        return (0..len).rev().collect();
    }
    if want.saturating_mul(4) < len {
        let mut seen = hashbrown::HashSet::with_capacity(want);
        let mut out = Vec::with_capacity(want);
        while out.len() < want {
            let i = fastrand::usize(..len);
            if seen.insert(i) {
                out.push(i);
            }
        }
        return out;
    }
    let mut all: Vec<usize> = (0..len).collect();
    fastrand::shuffle(&mut all);
    all.truncate(want);
    all
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`: a listpack answers in
/// one call, a large set walks its nodes (`Tree::scan`).
pub fn zscan(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let cursor = parse_cursor(argv.get(2))?;
    let mut g = ctx.lock(key);
    let Some(z) = g.read::<ZSet>(key)? else {
        drop(g);
        ElementScan::reply_empty(ctx);
        return Ok(());
    };
    let scan = ElementScan::options(argv, cursor)?;
    let compact = z.encoding() == "listpack";
    let mut flat: Vec<Box<[u8]>> = Vec::new();
    let mut buf = [0u8; 32];
    let next = z.scan(scan.cursor, scan.count, |m, s| {
        if scan.wants(m) {
            flat.push(m.into());
            if compact {
                let n = d2string(s, &mut buf);
                flat.push(buf[..n].into());
            } else {
                flat.push(crate::store::types::zset::g17(s).as_bytes().into());
            }
        }
    });
    drop(g);
    ElementScan::reply(ctx, next, &flat);
    Ok(())
}
