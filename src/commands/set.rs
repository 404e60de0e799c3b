//! The set commands. Handlers reach values through the slot guard's typed
//! lookups (`Set`); commands over several keys lock every slot involved at
//! once (`lock_keys`), so they see and change all their keys atomically.

use std::sync::atomic::Ordering;

use super::args::ArgCursor;
use super::keys::scan::{parse_cursor, ElementScan};
use super::spec::key_flags::{ACCESS, DELETE, INSERT, OW, RO, RW, UPDATE};
use super::spec::{command_table, CommandSpec, KeySpec, KeySpecs};
use super::table::{
    KS_ALL_RO_ACCESS, KS_RO, KS_RO_ACCESS, KS_RW_ACCESS_DELETE, KS_RW_DELETE, KS_RW_INSERT,
};
use super::transactions::ExecWrap;
use super::{parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::{GENERIC, SET};
use crate::store::types::set::Member;
use crate::store::types::Set;

const KS_SMISMEMBER: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RO | ACCESS)]);
const KS_SMOVE: KeySpecs = KeySpecs::new(&[
    KeySpec::at(1, RW | ACCESS | DELETE),
    KeySpec::at(2, RW | INSERT),
]);
const KS_SINTERCARD: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RO | ACCESS).keynum(0, 1, 1)]);
const KS_SINTERSTORE: KeySpecs = KeySpecs::new(&[
    KeySpec::at(1, RW | UPDATE),
    KeySpec::at(2, RO | ACCESS).range(-1, 1, 0),
]);
const KS_STORE_OW: KeySpecs = KeySpecs::new(&[
    KeySpec::at(1, OW | UPDATE),
    KeySpec::at(2, RO | ACCESS).range(-1, 1, 0),
]);

/// The set commands' table rows.
pub static COMMANDS: &[CommandSpec] = command_table! {
    "sadd" -3 [WRITE|DENYOOM|FAST] KS_RW_INSERT, "write set fast" "set" "1.0.0" sadd, "Adds one or more members to a set. Creates the key if it doesn't exist.";
    "srem" -3 [WRITE|FAST] KS_RW_DELETE, "write set fast" "set" "1.0.0" srem, "Removes one or more members from a set. Deletes the set if the last member was removed.";
    "smembers" 2 [READONLY] KS_RO_ACCESS, "read set slow" "set" "1.0.0" smembers, "Returns all members of a set.";
    "sismember" 3 [READONLY|FAST] KS_RO, "read set fast" "set" "1.0.0" sismember, "Determines whether a member belongs to a set.";
    "smismember" -3 [READONLY|FAST] KS_SMISMEMBER, "read set fast" "set" "6.2.0" smismember, "Determines whether multiple members belong to a set.";
    "scard" 2 [READONLY|FAST] KS_RO, "read set fast" "set" "1.0.0" scard, "Returns the number of members in a set.";
    "spop" -2 [WRITE|FAST] KS_RW_ACCESS_DELETE, "write set fast" "set" "1.0.0" spop, "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.";
    "srandmember" -2 [READONLY] KS_RO_ACCESS, "read set slow" "set" "1.0.0" srandmember, "Get one or multiple random members from a set";
    "smove" 4 [WRITE|FAST] KS_SMOVE, "write set fast" "set" "1.0.0" smove, "Moves a member from one set to another.";
    "sinter" -2 [READONLY] KS_ALL_RO_ACCESS, "read set slow" "set" "1.0.0" sinter, "Returns the intersect of multiple sets.";
    "sintercard" -3 [READONLY] KS_SINTERCARD, "read set slow" "set" "7.0.0" sintercard, "Returns the number of members of the intersect of multiple sets.";
    "sinterstore" -3 [WRITE|DENYOOM] KS_SINTERSTORE, "write set slow" "set" "1.0.0" sinterstore, "Stores the intersect of multiple sets in a key.";
    "sunion" -2 [READONLY] KS_ALL_RO_ACCESS, "read set slow" "set" "1.0.0" sunion, "Returns the union of multiple sets.";
    "sunionstore" -3 [WRITE|DENYOOM] KS_STORE_OW, "write set slow" "set" "1.0.0" sunionstore, "Stores the union of multiple sets in a key.";
    "sdiff" -2 [READONLY] KS_ALL_RO_ACCESS, "read set slow" "set" "1.0.0" sdiff, "Returns the difference of multiple sets.";
    "sdiffstore" -3 [WRITE|DENYOOM] KS_STORE_OW, "write set slow" "set" "1.0.0" sdiffstore, "Stores the difference of multiple sets in a key.";
    "sscan" -3 [READONLY] KS_RO_ACCESS, "read set slow" "set" "2.8.0" sscan, "Iterates over members of a set.";
};

/// `set-max-intset-entries` now.
fn max_intset(ctx: &Ctx<'_>) -> usize {
    let n = ctx
        .srv
        .hot
        .encodings
        .set_max_intset_entries
        .load(Ordering::Relaxed);
    usize::try_from(n).unwrap_or(0)
}

fn member(ctx: &mut Ctx<'_>, m: Member<'_>) {
    match m {
        Member::Int(n) => ctx.out.bulk_int(n),
        Member::Bytes(b) => ctx.out.bulk(b),
    }
}

/// `SADD key member [member …]`
pub fn sadd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let max = max_intset(ctx);
    let mut g = ctx.lock(key);
    let add_all = |s: &mut Set| argv.tail(2).iter().filter(|m| s.add(m, max)).count();
    // An existing set takes one lookup; a missing key is created.
    let added = match g.update::<Set, _>(key, &add_all)? {
        Some(n) => n,
        None => g.update_or_create::<Set, _>(key, &add_all)?,
    };
    if added > 0 {
        ctx.propagate_verbatim(argv);
        ctx.notify(SET, "sadd", key);
    }
    drop(g);
    ctx.out.int(added as i64);
    Ok(())
}

/// `SREM key member [member …]`
pub fn srem(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let (removed, emptied) = g
        .update::<Set, _>(key, |s| {
            let mut n = 0;
            for m in argv.tail(2).iter() {
                n += usize::from(s.remove(m));
                if s.is_empty() {
                    break;
                }
            }
            (n, s.is_empty())
        })?
        .unwrap_or((0, false));
    if removed > 0 {
        ctx.propagate_verbatim(argv);
        ctx.notify(SET, "srem", key);
        if emptied {
            ctx.notify(GENERIC, "del", key);
        }
    }
    drop(g);
    ctx.out.int(removed as i64);
    Ok(())
}

/// `SMEMBERS key` (Redis runs it as a one-key SINTER).
pub fn smembers(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let Some(s) = g.read::<Set>(key)? else {
        ctx.out.set_len(0);
        return Ok(());
    };
    ctx.out.set_len(s.len());
    for m in s.iter() {
        member(ctx, m);
    }
    Ok(())
}

/// `SISMEMBER key member`
pub fn sismember(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let found = g.read::<Set>(key)?.is_some_and(|s| s.contains(argv.get(2)));
    drop(g);
    ctx.out.int(i64::from(found));
    Ok(())
}

/// `SMISMEMBER key member [member …]`
pub fn smismember(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let s = g.read::<Set>(key)?;
    ctx.out.array_len(argv.len() - 2);
    for m in argv.tail(2).iter() {
        ctx.out.int(i64::from(s.is_some_and(|s| s.contains(m))));
    }
    Ok(())
}

/// `SCARD key`
pub fn scard(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let n = g.read::<Set>(key)?.map_or(0, Set::len);
    drop(g);
    ctx.out.int(n as i64);
    Ok(())
}

/// `SPOP key [count]`: replicated as SREM of what was popped (DEL when the
/// whole set went), as Redis 7.0 does.
pub fn spop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    match argv.len() {
        2 => spop_one(ctx, argv.get(1)),
        3 => spop_count(ctx, argv),
        _ => Err(CmdError::Syntax),
    }
}

fn spop_one(ctx: &mut Ctx<'_>, key: &[u8]) -> CmdResult {
    let mut g = ctx.lock(key);
    let popped = g.update::<Set, _>(key, |s| (s.pop_random(), s.is_empty()))?;
    match popped {
        Some((Some(m), emptied)) => {
            ctx.propagate(&[b"SREM", key, &m]);
            ctx.notify(SET, "spop", key);
            if emptied {
                ctx.notify(GENERIC, "del", key);
            }
            drop(g);
            ctx.out.bulk(&m);
        }
        _ => ctx.out.null(),
    }
    Ok(())
}

fn spop_count(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let count = parse_i64(argv.get(2))
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| CmdError::err("value is out of range, must be positive"))?;
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let mut g = ctx.lock(key);
    let size = g.read::<Set>(key)?.map_or(0, Set::len);
    if size == 0 || count == 0 {
        ctx.out.set_len(0);
        return Ok(());
    }
    if count >= size {
        // The whole set: reply with it, drop the key, replicate a DEL.
        let Some(entry) = g.remove(key) else {
            ctx.out.set_len(0);
            return Ok(());
        };
        ctx.propagate(&[b"DEL", key]);
        ctx.notify(SET, "spop", key);
        ctx.notify(GENERIC, "del", key);
        drop(g);
        if let Ok(s) = entry.value().as_type::<Set>() {
            ctx.out.set_len(s.len());
            for m in s.iter() {
                member(ctx, m);
            }
        }
        return Ok(());
    }
    let popped = g
        .update::<Set, _>(key, |s| {
            (0..count)
                .filter_map(|_| s.pop_random())
                .collect::<Vec<_>>()
        })?
        .unwrap_or_default();
    // Several effects of one command reach the stream as one transaction.
    let wrap = popped.len() > 1 && ctx.client.exec_wrap == ExecWrap::Off;
    if wrap {
        ctx.client.exec_wrap = ExecWrap::Pending;
    }
    for m in &popped {
        ctx.propagate(&[b"SREM", key, m]);
    }
    if wrap {
        if ctx.client.exec_wrap == ExecWrap::Open {
            ctx.propagate(&[b"EXEC"]);
        }
        ctx.client.exec_wrap = ExecWrap::Off;
    }
    ctx.notify(SET, "spop", key);
    drop(g);
    ctx.out.set_len(popped.len());
    for m in &popped {
        ctx.out.bulk(m);
    }
    Ok(())
}

/// `SRANDMEMBER key [count]`
pub fn srandmember(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    if argv.len() == 2 {
        let mut g = ctx.lock(key);
        match g.read::<Set>(key)?.and_then(Set::random) {
            Some(m) => member(ctx, m),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    let n = parse_i64(argv.get(2))?;
    if n == i64::MIN {
        return Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let mut g = ctx.lock(key);
    let Some(s) = g.read::<Set>(key)? else {
        ctx.out.array_len(0);
        return Ok(());
    };
    let count = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
    let size = s.len();
    if count == 0 {
        ctx.out.array_len(0);
    } else if n < 0 || count == 1 {
        // Repeats allowed: independent picks.
        ctx.out.array_len(count);
        for _ in 0..count {
            if let Some(m) = s.random() {
                member(ctx, m);
            }
        }
    } else if count >= size {
        ctx.out.array_len(size);
        for m in s.iter() {
            member(ctx, m);
        }
    } else {
        let picks = distinct_picks(size, count);
        ctx.out.array_len(picks.len());
        for i in picks {
            if let Some(m) = s.get(i) {
                member(ctx, m);
            }
        }
    }
    Ok(())
}

/// `count` distinct positions out of `size` (count < size), in random order:
/// a partial shuffle when most are wanted, rejection sampling otherwise.
fn distinct_picks(size: usize, count: usize) -> Vec<usize> {
    if count.saturating_mul(3) > size {
        let mut all: Vec<usize> = (0..size).collect();
        for i in 0..count {
            let j = fastrand::usize(i..size);
            all.swap(i, j);
        }
        all.truncate(count);
        return all;
    }
    let mut seen = hashbrown::HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let i = fastrand::usize(..size);
        if seen.insert(i) {
            out.push(i);
        }
    }
    out
}

/// `SMOVE source destination member`
pub fn smove(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (src, dst, m) = (argv.get(1), argv.get(2), argv.get(3));
    let db = ctx.db();
    let max = max_intset(ctx);
    let mut mg = ctx.lock_keys([src, dst]);
    // Looked at, not taken for writing: only a set that changes is signalled
    // (WATCH, tracking), as in Redis.
    let src_has = match mg.slot(db, src).peek(src) {
        None => {
            drop(mg);
            ctx.out.int(0);
            return Ok(());
        }
        Some(e) => e.value().as_type::<Set>()?.contains(m),
    };
    let dst_has = match mg.slot(db, dst).peek(dst) {
        Some(e) => e.value().as_type::<Set>()?.contains(m),
        None => false,
    };
    if src == dst || !src_has {
        drop(mg);
        ctx.out.int(i64::from(src_has));
        return Ok(());
    }
    let emptied = mg
        .slot(db, src)
        .update::<Set, _>(src, |s| s.remove(m) && s.is_empty())?;
    let added = !dst_has
        && mg
            .slot(db, dst)
            .update_or_create::<Set, _>(dst, |s| s.add(m, max))?;
    ctx.propagate_verbatim(argv);
    // Redis's order: `srem` (and `del` when emptied) on the source, then
    // `sadd` on the destination unless it already had the member.
    ctx.notify(SET, "srem", src);
    if emptied == Some(true) {
        ctx.notify(GENERIC, "del", src);
    }
    if added {
        ctx.notify(SET, "sadd", dst);
    }
    drop(mg);
    ctx.out.int(1);
    Ok(())
}

/// What a multi-set command computes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// The result of `op` over `sets` (missing keys are empty sets), as a set
/// built by adding members one by one, so its encoding is what Redis's
/// result set gets; `limit` stops an intersection early (0: none).
fn compute(sets: &[Option<&Set>], op: Op, max: usize) -> Set {
    let mut out = Set::default();
    match op {
        Op::Inter => {
            if sets.iter().any(Option::is_none) {
                return out;
            }
            let mut sorted: Vec<&Set> = sets.iter().flatten().copied().collect();
            sorted.sort_by_key(|s| s.len());
            let Some((first, rest)) = sorted.split_first() else {
                return out;
            };
            for m in first.iter() {
                if rest
                    .iter()
                    .all(|s| std::ptr::eq(*s, *first) || s.contains_member(m))
                {
                    out.add_member(m, max);
                }
            }
        }
        Op::Union => {
            for s in sets.iter().flatten() {
                for m in s.iter() {
                    out.add_member(m, max);
                }
            }
        }
        Op::Diff => {
            let Some(Some(first)) = sets.first() else {
                return out;
            };
            let rest: Vec<&Set> = sets.iter().skip(1).flatten().copied().collect();
            if rest.iter().any(|s| std::ptr::eq(*s, *first)) {
                return out;
            }
            for m in first.iter() {
                if !rest.iter().any(|s| s.contains_member(m)) {
                    out.add_member(m, max);
                }
            }
        }
    }
    out
}

/// SINTER / SUNION / SDIFF: the result as a set reply.
fn reply_op(ctx: &mut Ctx<'_>, argv: &Argv<'_>, op: Op) -> CmdResult {
    let keys: Vec<&[u8]> = argv.tail(1).iter().collect();
    let db = ctx.db();
    let max = max_intset(ctx);
    let mut mg = ctx.lock_keys(keys.iter().copied());
    let sets = mg.read_all::<Set>(db, &keys)?;
    if op == Op::Inter {
        // Stream the intersection straight from the smallest set.
        return reply_inter(ctx, &sets);
    }
    let out = compute(&sets, op, max);
    drop(sets);
    drop(mg);
    ctx.out.set_len(out.len());
    for m in out.iter() {
        member(ctx, m);
    }
    Ok(())
}

fn reply_inter(ctx: &mut Ctx<'_>, sets: &[Option<&Set>]) -> CmdResult {
    if sets.iter().any(Option::is_none) {
        ctx.out.set_len(0);
        return Ok(());
    }
    let mut sorted: Vec<&Set> = sets.iter().flatten().copied().collect();
    sorted.sort_by_key(|s| s.len());
    let Some((first, rest)) = sorted.split_first() else {
        ctx.out.set_len(0);
        return Ok(());
    };
    let found: Vec<Member<'_>> = first
        .iter()
        .filter(|m| {
            rest.iter()
                .all(|s| std::ptr::eq(*s, *first) || s.contains_member(*m))
        })
        .collect();
    ctx.out.set_len(found.len());
    for m in found {
        member(ctx, m);
    }
    Ok(())
}

/// SINTERSTORE / SUNIONSTORE / SDIFFSTORE: the result replaces the
/// destination (of any type); an empty result deletes it.
fn store_op(ctx: &mut Ctx<'_>, argv: &Argv<'_>, op: Op) -> CmdResult {
    let dst = argv.get(1);
    let keys: Vec<&[u8]> = argv.tail(2).iter().collect();
    let db = ctx.db();
    let max = max_intset(ctx);
    let mut mg = ctx.lock_keys(keys.iter().copied().chain([dst]));
    let sets = mg.read_all::<Set>(db, &keys)?;
    let out = compute(&sets, op, max);
    drop(sets);
    let n = out.len();
    let g = mg.slot(db, dst);
    let changed = if n > 0 {
        g.set(dst, Value::Set(Box::new(out)), Some(0));
        true
    } else {
        g.remove(dst).is_some()
    };
    if changed {
        ctx.propagate_verbatim(argv);
        let event = match op {
            _ if n == 0 => "del",
            Op::Inter => "sinterstore",
            Op::Union => "sunionstore",
            Op::Diff => "sdiffstore",
        };
        ctx.notify(if n == 0 { GENERIC } else { SET }, event, dst);
    }
    drop(mg);
    ctx.out.int(n as i64);
    Ok(())
}

use crate::store::Value;

/// `SINTER key [key …]`
pub fn sinter(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    reply_op(ctx, argv, Op::Inter)
}

/// `SUNION key [key …]`
pub fn sunion(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    reply_op(ctx, argv, Op::Union)
}

/// `SDIFF key [key …]`
pub fn sdiff(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    reply_op(ctx, argv, Op::Diff)
}

/// `SINTERSTORE destination key [key …]`
pub fn sinterstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    store_op(ctx, argv, Op::Inter)
}

/// `SUNIONSTORE destination key [key …]`
pub fn sunionstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    store_op(ctx, argv, Op::Union)
}

/// `SDIFFSTORE destination key [key …]`
pub fn sdiffstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    store_op(ctx, argv, Op::Diff)
}

/// `SINTERCARD numkeys key [key …] [LIMIT limit]`
pub fn sintercard(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let bad_numkeys = || CmdError::err("numkeys should be greater than 0");
    let numkeys = parse_i64(argv.get(1)).map_err(|_| bad_numkeys())?;
    if numkeys < 1 {
        return Err(bad_numkeys());
    }
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys > argv.len() - 2 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0usize;
    let mut args = ArgCursor::new(argv, 2 + numkeys);
    while let Some(a) = args.next_word() {
        if super::is(a, "LIMIT") && args.has_value() {
            let v = args.value()?;
            limit = parse_i64(v)
                .ok()
                .filter(|n| *n >= 0)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| CmdError::err("LIMIT can't be negative"))?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let keys: Vec<&[u8]> = (2..2 + numkeys).map(|i| argv.get(i)).collect();
    let db = ctx.db();
    let mut mg = ctx.lock_keys(keys.iter().copied());
    let sets = mg.read_all::<Set>(db, &keys)?;
    let mut n = 0usize;
    if sets.iter().all(Option::is_some) {
        let mut sorted: Vec<&Set> = sets.iter().flatten().copied().collect();
        sorted.sort_by_key(|s| s.len());
        if let Some((first, rest)) = sorted.split_first() {
            for m in first.iter() {
                if rest
                    .iter()
                    .all(|s| std::ptr::eq(*s, *first) || s.contains_member(m))
                {
                    n += 1;
                    if limit != 0 && n >= limit {
                        break;
                    }
                }
            }
        }
    }
    drop(sets);
    drop(mg);
    ctx.out.int(n as i64);
    Ok(())
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`. An intset (and a small
/// set) comes back whole with cursor 0, as Redis does for compact
/// encodings; a table is walked from the top of its member array down, so
/// every member present for the whole scan is returned at least once (see
/// the set type's table).
pub fn sscan(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let cursor = parse_cursor(argv.get(2))?;
    let mut g = ctx.lock(key);
    let Some(s) = g.read::<Set>(key)? else {
        drop(g);
        ElementScan::reply_empty(ctx);
        return Ok(());
    };
    let scan = ElementScan::options(argv, cursor)?;
    let mut found: Vec<Member<'_>> = Vec::new();
    let next = s.scan(scan.cursor, scan.count, |m| {
        if m.with_bytes(|b| scan.wants(b)) {
            found.push(m);
        }
    });
    ctx.out.array_len(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array_len(found.len());
    for m in found {
        member(ctx, m);
    }
    Ok(())
}
