//! Hash commands. Handlers reach the value through the slot guard's typed
//! lookups (`Hash`), so WRONGTYPE and removing an emptied hash happen there.

use std::sync::atomic::Ordering;

use super::keys::scan::{parse_cursor, ElementScan};
use super::spec::{command_table, CommandSpec};
use super::table::{
    KS_RO, KS_RO_ACCESS, KS_RW_ACCESS_UPDATE, KS_RW_DELETE, KS_RW_INSERT, KS_RW_UPDATE,
};
use super::{is, parse_f64, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::{GENERIC, HASH};
use crate::resp::reply::format_long_double;
use crate::store::types::hash::Pair;
use crate::store::{Hash, HashLimits};

/// The hash commands' table rows.
pub static COMMANDS: &[CommandSpec] = command_table! {
    "hset" -4 [WRITE|DENYOOM|FAST] KS_RW_UPDATE, "write hash fast" "hash" "2.0.0" hset, "Set the string value of a hash field";
    "hsetnx" 4 [WRITE|DENYOOM|FAST] KS_RW_INSERT, "write hash fast" "hash" "2.0.0" hsetnx, "Set the value of a hash field, only if the field does not exist";
    "hmset" -4 [WRITE|DENYOOM|FAST] KS_RW_UPDATE, "write hash fast" "hash" "2.0.0" hmset, "Set multiple hash fields to multiple values";
    "hget" 3 [READONLY|FAST] KS_RO_ACCESS, "read hash fast" "hash" "2.0.0" hget, "Get the value of a hash field";
    "hmget" -3 [READONLY|FAST] KS_RO_ACCESS, "read hash fast" "hash" "2.0.0" hmget, "Get the values of all the given hash fields";
    "hdel" -3 [WRITE|FAST] KS_RW_DELETE, "write hash fast" "hash" "2.0.0" hdel, "Delete one or more hash fields";
    "hexists" 3 [READONLY|FAST] KS_RO, "read hash fast" "hash" "2.0.0" hexists, "Determine if a hash field exists";
    "hlen" 2 [READONLY|FAST] KS_RO, "read hash fast" "hash" "2.0.0" hlen, "Get the number of fields in a hash";
    "hkeys" 2 [READONLY] KS_RO_ACCESS, "read hash slow" "hash" "2.0.0" hkeys, "Get all the fields in a hash";
    "hvals" 2 [READONLY] KS_RO_ACCESS, "read hash slow" "hash" "2.0.0" hvals, "Get all the values in a hash";
    "hgetall" 2 [READONLY] KS_RO_ACCESS, "read hash slow" "hash" "2.0.0" hgetall, "Get all the fields and values in a hash";
    "hincrby" 4 [WRITE|DENYOOM|FAST] KS_RW_ACCESS_UPDATE, "write hash fast" "hash" "2.0.0" hincrby, "Increment the integer value of a hash field by the given number";
    "hincrbyfloat" 4 [WRITE|DENYOOM|FAST] KS_RW_ACCESS_UPDATE, "write hash fast" "hash" "2.6.0" hincrbyfloat, "Increment the float value of a hash field by the given amount";
    "hstrlen" 3 [READONLY|FAST] KS_RO, "read hash fast" "hash" "3.2.0" hstrlen, "Get the length of the value of a hash field";
    "hrandfield" -2 [READONLY] KS_RO_ACCESS, "read hash slow" "hash" "6.2.0" hrandfield, "Get one or multiple random fields from a hash";
    "hscan" -3 [READONLY] KS_RO_ACCESS, "read hash slow" "hash" "2.8.0" hscan, "Incrementally iterate hash fields and associated values";
};

/// The listpack limits `hash-max-listpack-entries` / `-value` set now.
fn limits(ctx: &Ctx<'_>) -> HashLimits {
    let hot = &ctx.srv.hot;
    HashLimits {
        entries: hot
            .encodings
            .hash_max_listpack_entries
            .load(Ordering::Relaxed) as usize,
        value: hot
            .encodings
            .hash_max_listpack_value
            .load(Ordering::Relaxed) as usize,
    }
}

/// `HSET key field value [field value …]`: the number of new fields.
pub fn hset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let added = set_pairs(ctx, argv, "hset")?;
    ctx.out.int(added as i64);
    Ok(())
}

/// `HMSET key field value [field value …]`: HSET answering OK.
pub fn hmset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    set_pairs(ctx, argv, "hmset")?;
    ctx.out.ok();
    Ok(())
}

fn set_pairs(ctx: &mut Ctx<'_>, argv: &Argv<'_>, name: &str) -> Result<usize, CmdError> {
    if argv.len() % 2 == 1 {
        return Err(CmdError::Arity(name.into()));
    }
    let key = argv.get(1);
    let limits = limits(ctx);
    let mut g = ctx.lock(key);
    let added = g.update_or_create::<Hash, _>(key, |h| {
        let mut added = 0;
        let mut i = 2;
        while i + 1 < argv.len() {
            added += usize::from(h.set(argv.get(i), argv.get(i + 1), limits));
            i += 2;
        }
        added
    })?;
    ctx.propagate_verbatim(argv);
    ctx.notify(HASH, "hset", key);
    Ok(added)
}

/// `HSETNX key field value`: 1 when the field was set, 0 when it existed.
pub fn hsetnx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (key, field, value) = (argv.get(1), argv.get(2), argv.get(3));
    let mut g = ctx.lock(key);
    if g.read::<Hash>(key)?.is_some_and(|h| h.contains(field)) {
        ctx.out.int(0);
        return Ok(());
    }
    g.update_or_create::<Hash, _>(key, |h| h.set(field, value, limits(ctx)))?;
    ctx.propagate(&[b"HSET", key, field, value]);
    ctx.notify(HASH, "hset", key);
    ctx.out.int(1);
    Ok(())
}

/// `HGET key field`
pub fn hget(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    match g.read::<Hash>(key)?.and_then(|h| h.get(argv.get(2))) {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `HMGET key field [field …]`
pub fn hmget(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let h = g.read::<Hash>(key)?;
    ctx.out.array_len(argv.len() - 2);
    for field in argv.tail(2).iter() {
        match h.and_then(|h| h.get(field)) {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// `HDEL key field [field …]`: the number removed; an emptied hash goes.
pub fn hdel(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let (removed, emptied) = g
        .update::<Hash, _>(key, |h| {
            let n = argv.tail(2).iter().filter(|f| h.remove(f)).count();
            (n, h.is_empty())
        })?
        .unwrap_or((0, false));
    if removed > 0 {
        ctx.propagate_verbatim(argv);
        ctx.notify(HASH, "hdel", key);
        if emptied {
            ctx.notify(GENERIC, "del", key);
        }
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// `HEXISTS key field`
pub fn hexists(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let found = g
        .read::<Hash>(key)?
        .is_some_and(|h| h.contains(argv.get(2)));
    ctx.out.int(i64::from(found));
    Ok(())
}

/// `HLEN key`
pub fn hlen(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let n = g.read::<Hash>(key)?.map_or(0, Hash::len);
    ctx.out.int(n as i64);
    Ok(())
}

/// `HSTRLEN key field`
pub fn hstrlen(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let n = g
        .read::<Hash>(key)?
        .and_then(|h| h.get(argv.get(2)))
        .map_or(0, |v| v.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// Which parts of each pair a listing replies with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parts {
    Fields,
    Values,
    Both,
}

fn list(ctx: &mut Ctx<'_>, argv: &Argv<'_>, parts: Parts) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let pairs = g.read::<Hash>(key)?.map(Hash::pairs).unwrap_or_default();
    match parts {
        Parts::Both => ctx.out.map_len(pairs.len()),
        _ => ctx.out.array_len(pairs.len()),
    }
    for (f, v) in &pairs {
        if parts != Parts::Values {
            ctx.out.bulk(f);
        }
        if parts != Parts::Fields {
            ctx.out.bulk(v);
        }
    }
    Ok(())
}

/// `HKEYS key`
pub fn hkeys(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    list(ctx, argv, Parts::Fields)
}

/// `HVALS key`
pub fn hvals(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    list(ctx, argv, Parts::Values)
}

/// `HGETALL key`: a map under RESP3.
pub fn hgetall(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    list(ctx, argv, Parts::Both)
}

/// `HINCRBY key field increment`
pub fn hincrby(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (key, field) = (argv.get(1), argv.get(2));
    let by = parse_i64(argv.get(3))?;
    let mut g = ctx.lock(key);
    let next = g.update_or_create::<Hash, _>(key, |h| -> Result<i64, CmdError> {
        let cur = match h.get(field) {
            None => 0,
            Some(v) => super::parse_int_strict(&v)
                .ok_or_else(|| CmdError::err("hash value is not an integer"))?,
        };
        let next = cur.checked_add(by).ok_or(CmdError::Overflow)?;
        h.set(
            field,
            itoa::Buffer::new().format(next).as_bytes(),
            limits(ctx),
        );
        Ok(next)
    })??;
    ctx.propagate_verbatim(argv);
    ctx.notify(HASH, "hincrby", key);
    ctx.out.int(next);
    Ok(())
}

/// `HINCRBYFLOAT key field increment`: replicated as the HSET of the result.
pub fn hincrbyfloat(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (key, field) = (argv.get(1), argv.get(2));
    let by = parse_f64(argv.get(3))?;
    if !by.is_finite() {
        return Err(CmdError::err("value is NaN or Infinity"));
    }
    let mut g = ctx.lock(key);
    let text = g.update_or_create::<Hash, _>(key, |h| -> Result<String, CmdError> {
        let cur = match h.get(field) {
            None => 0.0,
            Some(v) => parse_f64(&v).map_err(|_| CmdError::err("hash value is not a float"))?,
        };
        let next = cur + by;
        if next.is_nan() || next.is_infinite() {
            return Err(CmdError::err("increment would produce NaN or Infinity"));
        }
        let text = format_long_double(next);
        h.set(field, text.as_bytes(), limits(ctx));
        Ok(text)
    })??;
    ctx.propagate(&[b"HSET", key, field, text.as_bytes()]);
    ctx.notify(HASH, "hincrbyfloat", key);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// `HRANDFIELD key [count [WITHVALUES]]`
pub fn hrandfield(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let with_count = argv.len() >= 3;
    let count = if with_count {
        let n = parse_i64(argv.get(2))?;
        // Redis's bound, so `-count * 2` cannot overflow.
        if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
            return Err(CmdError::err("value is out of range"));
        }
        n
    } else {
        1
    };
    let values = match argv.opt(3) {
        None => false,
        Some(a) if is(a, "WITHVALUES") && argv.len() == 4 => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    let mut g = ctx.lock(key);
    if !with_count {
        match g.read::<Hash>(key)?.and_then(Hash::random_field) {
            Some(f) => ctx.out.bulk(&f),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    let pairs = g.read::<Hash>(key)?.map(Hash::pairs).unwrap_or_default();
    // A negative count repeats picks: stream them rather than hold |count| indices.
    let repeats = (count < 0 && !pairs.is_empty()).then(|| count.unsigned_abs());
    let picks = match repeats {
        Some(_) => Vec::new(),
        None => random_picks(pairs.len(), count),
    };
    let n = repeats.map_or(picks.len() as u64, |r| r) as usize;
    let resp3_pairs = values && ctx.out.resp3();
    ctx.out
        .array_len(if values && !resp3_pairs { n * 2 } else { n });
    let write = |out: &mut crate::resp::reply::Reply, (f, v): &Pair<'_>| {
        if resp3_pairs {
            out.array_len(2);
        }
        out.bulk(f);
        if values {
            out.bulk(v);
        }
    };
    if repeats.is_some() {
        for _ in 0..n {
            write(ctx.out, &pairs[fastrand::usize(..pairs.len())]);
        }
    } else {
        for i in picks {
            write(ctx.out, &pairs[i]);
        }
    }
    Ok(())
}

/// Indices for a positive count of distinct random elements out of `len`
/// (past `len`, the whole hash); negative counts are streamed by the caller.
fn random_picks(len: usize, count: i64) -> Vec<usize> {
    if len == 0 || count == 0 {
        return Vec::new();
    }
    if count < 0 {
        return Vec::new();
    }
    let want = usize::try_from(count).unwrap_or(usize::MAX);
    let mut all: Vec<usize> = (0..len).collect();
    if want >= len {
        return all;
    }
    fastrand::shuffle(&mut all);
    all.truncate(want);
    all
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`: a listpack hash whole in
/// one call (cursor 0, as Redis), a table in steps of about COUNT fields.
pub fn hscan(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let cursor = parse_cursor(argv.get(2))?;
    let mut g = ctx.lock(key);
    let Some(h) = g.read::<Hash>(key)? else {
        drop(g);
        ElementScan::reply_empty(ctx);
        return Ok(());
    };
    let scan = ElementScan::options(argv, cursor)?;
    let mut flat: Vec<Box<[u8]>> = Vec::new();
    let next = h.scan(scan.cursor, scan.count, |f, v| {
        if scan.wants(f) {
            flat.push(f.into());
            flat.push(v.into());
        }
    });
    drop(g);
    ElementScan::reply(ctx, next, &flat);
    Ok(())
}
