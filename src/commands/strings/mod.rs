//! String commands: GET/SET and friends, counters, ranges; LCS, an algorithm
//! of its own, is in `lcs`.

pub mod lcs;

use std::borrow::Cow;

use super::args::ArgCursor;
use super::expire_args::{deadline, ExpireUnit};
use super::{is, parse_f64, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::{GENERIC, STRING};
use crate::resp::reply::format_long_double;
use crate::store::{Record, Str, StrRef, Value, ValueRef};

/// Largest string a command may build (Redis's 512 MB default).
const MAX_STRING: u64 = 512 * 1024 * 1024;

/// The bytes of a string value (integers are formatted).
pub fn string_bytes(v: ValueRef<'_>) -> Result<Cow<'_, [u8]>, CmdError> {
    Ok(v.as_str()?.to_bytes())
}

fn ensure_string(e: &Record) -> Result<(), CmdError> {
    e.value().as_str()?;
    Ok(())
}

fn reply_str(ctx: &mut Ctx<'_>, s: StrRef<'_>) {
    match s {
        StrRef::Int(n) => ctx.out.bulk_int(n),
        StrRef::Bytes(b) | StrRef::Raw(b) => ctx.out.bulk(b),
    }
}

fn reply_value(ctx: &mut Ctx<'_>, v: &Value) -> CmdResult {
    reply_str(ctx, v.as_ref().as_str()?);
    Ok(())
}

fn reply_entry(ctx: &mut Ctx<'_>, e: Option<&Record>) -> CmdResult {
    match e {
        None => ctx.out.null(),
        Some(e) => reply_str(ctx, e.value().as_str()?),
    }
    Ok(())
}

/// `GET key`
pub fn get(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    match g.read_str(key)? {
        None => ctx.out.null(),
        Some(s) => reply_str(ctx, s),
    }
    Ok(())
}

/// Expiry requested by SET/GETEX options.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ttl {
    /// No option: SET clears the TTL, GETEX leaves it.
    Unset,
    /// KEEPTTL.
    Keep,
    /// PERSIST (GETEX).
    Persist,
    /// An absolute deadline in unix ms.
    At(i64),
}

fn expire_option(word: &[u8]) -> Option<ExpireUnit> {
    if is(word, "EX") {
        Some(ExpireUnit::Seconds)
    } else if is(word, "PX") {
        Some(ExpireUnit::Millis)
    } else if is(word, "EXAT") {
        Some(ExpireUnit::UnixSeconds)
    } else if is(word, "PXAT") {
        Some(ExpireUnit::UnixMillis)
    } else {
        None
    }
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]`
pub fn set(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (key, val) = (argv.get(1), argv.get(2));
    let (mut nx, mut xx, mut want_get) = (false, false, false);
    let mut ttl = Ttl::Unset;
    let mut args = ArgCursor::new(argv, 3);
    while let Some(a) = args.next_word() {
        if is(a, "NX") && !xx {
            nx = true;
        } else if is(a, "XX") && !nx {
            xx = true;
        } else if is(a, "GET") {
            want_get = true;
        } else if is(a, "KEEPTTL") && ttl == Ttl::Unset {
            ttl = Ttl::Keep;
        } else if let (Some(unit), true, true) =
            (expire_option(a), ttl == Ttl::Unset, args.has_value())
        {
            ttl = Ttl::At(deadline(args.value()?, unit, ctx.now_ms, "set", true)?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let mut g = ctx.lock(key);
    // Only NX/XX/GET need to look at the old value; a plain SET is one lookup.
    let mut old: Option<Value> = None;
    if nx || xx || want_get {
        let existing = g.get_mut(key);
        let exists = existing.is_some();
        if let Some(e) = existing {
            if want_get {
                ensure_string(e)?;
                old = Some(e.value().to_value());
            }
        }
        if (nx && exists) || (xx && !exists) {
            drop(g);
            match old.as_ref().filter(|_| want_get) {
                Some(v) => return reply_value(ctx, v),
                None => ctx.out.null(),
            }
            return Ok(());
        }
    }
    let expire = match ttl {
        Ttl::Unset | Ttl::Persist => Some(0),
        Ttl::Keep => None,
        Ttl::At(t) => Some(t.max(1) as u64),
    };
    g.set_string(key, val, expire);
    match ttl {
        Ttl::At(t) => {
            let mut b = itoa::Buffer::new();
            ctx.propagate(&[b"SET", key, val, b"PXAT", b.format(t).as_bytes()]);
        }
        Ttl::Keep => ctx.propagate(&[b"SET", key, val, b"KEEPTTL"]),
        _ => ctx.propagate(&[b"SET", key, val]),
    }
    ctx.notify(STRING, "set", key);
    if matches!(ttl, Ttl::At(_)) {
        ctx.notify(GENERIC, "expire", key);
    }
    drop(g);
    match (want_get, old) {
        (true, Some(v)) => reply_value(ctx, &v),
        (true, None) => {
            ctx.out.null();
            Ok(())
        }
        (false, _) => {
            ctx.out.ok();
            Ok(())
        }
    }
}

/// `SETNX key value`
pub fn setnx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (key, val) = (argv.get(1), argv.get(2));
    let mut g = ctx.lock(key);
    if g.contains(key) {
        ctx.out.int(0);
        return Ok(());
    }
    g.set(key, Value::string(val), Some(0));
    ctx.propagate(&[b"SET", key, val]);
    ctx.notify(STRING, "set", key);
    ctx.out.int(1);
    Ok(())
}

fn set_with_expire(ctx: &mut Ctx<'_>, argv: &Argv<'_>, unit: ExpireUnit, name: &str) -> CmdResult {
    let (key, val) = (argv.get(1), argv.get(3));
    let at = deadline(argv.get(2), unit, ctx.now_ms, name, true)?;
    let g = &mut ctx.lock(key);
    g.set(key, Value::string(val), Some(at as u64));
    let mut b = itoa::Buffer::new();
    ctx.propagate(&[b"SET", key, val, b"PXAT", b.format(at).as_bytes()]);
    ctx.notify(STRING, "set", key);
    ctx.notify(GENERIC, "expire", key);
    ctx.out.ok();
    Ok(())
}

/// `SETEX key seconds value`
pub fn setex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    set_with_expire(ctx, argv, ExpireUnit::Seconds, "setex")
}

/// `PSETEX key milliseconds value`
pub fn psetex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    set_with_expire(ctx, argv, ExpireUnit::Millis, "psetex")
}

/// `MGET key [key …]`
pub fn mget(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let n = argv.len() - 1;
    ctx.out.array_len(n);
    // Their cache misses overlap instead of following one another.
    ctx.srv
        .keyspace
        .prefetch(ctx.client.db, argv.tail(1).iter());
    let mut m = ctx.lock_keys(argv.tail(1).iter());
    for key in argv.tail(1).iter() {
        match m.slot(ctx.client.db, key).get(key) {
            Some(e) => match e.value() {
                ValueRef::Str(s) => reply_str(ctx, s),
                // Other types read as missing, as in Redis.
                ValueRef::Other(_) => ctx.out.null(),
            },
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, only_new: bool) -> CmdResult {
    if argv.len().is_multiple_of(2) {
        return Err(CmdError::Arity(ctx.spec.name.to_string()));
    }
    let db = ctx.client.db;
    ctx.srv
        .keyspace
        .prefetch(db, argv.tail(1).iter().step_by(2));
    let mut m = ctx.lock_keys(argv.tail(1).iter().step_by(2));
    if only_new {
        for key in argv.tail(1).iter().step_by(2) {
            if m.slot(db, key).contains(key) {
                ctx.out.int(0);
                return Ok(());
            }
        }
    }
    let mut i = 1;
    while i < argv.len() {
        let (k, v) = (argv.get(i), argv.get(i + 1));
        m.slot(db, k).set_string(k, v, Some(0));
        i += 2;
    }
    // MSETNX replicates as MSET; an MSET of up to 15 pairs stays off the heap.
    let mut parts: smallvec::SmallVec<[&[u8]; 31]> = argv.iter().collect();
    parts[0] = b"MSET";
    ctx.propagate(&parts);
    for key in argv.tail(1).iter().step_by(2) {
        ctx.notify(STRING, "set", key);
    }
    drop(m);
    if only_new {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

/// `MSET key value [key value …]`
pub fn mset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    mset_generic(ctx, argv, false)
}

/// `MSETNX key value [key value …]`
pub fn msetnx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    mset_generic(ctx, argv, true)
}

/// `GETSET key value`
pub fn getset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (key, val) = (argv.get(1), argv.get(2));
    let mut g = ctx.lock(key);
    let old = g.get(key).map(|e| e.clone());
    if let Some(e) = &old {
        ensure_string(e)?;
    }
    g.set(key, Value::string(val), Some(0));
    ctx.propagate(&[b"SET", key, val]);
    ctx.notify(STRING, "set", key);
    drop(g);
    reply_entry(ctx, old.as_ref())
}

/// `GETDEL key`
pub fn getdel(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let Some(e) = g.get(key) else {
        ctx.out.null();
        return Ok(());
    };
    ensure_string(e)?;
    let e = g.remove(key);
    ctx.propagate(&[b"DEL", key]);
    ctx.notify(GENERIC, "del", key);
    drop(g);
    reply_entry(ctx, e.as_ref())
}

/// `GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]`
pub fn getex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut ttl = Ttl::Unset;
    let mut args = ArgCursor::new(argv, 2);
    while let Some(a) = args.next_word() {
        if is(a, "PERSIST") && ttl == Ttl::Unset {
            ttl = Ttl::Persist;
        } else if let (Some(unit), true, true) =
            (expire_option(a), ttl == Ttl::Unset, args.has_value())
        {
            ttl = Ttl::At(deadline(args.value()?, unit, ctx.now_ms, "getex", true)?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let mut g = ctx.lock(key);
    let Some(e) = g.get(key) else {
        ctx.out.null();
        return Ok(());
    };
    ensure_string(e)?;
    let value = e.value().to_value();
    match ttl {
        Ttl::At(t) if ctx.already_expired(t) => {
            g.remove(key);
            ctx.propagate(&[b"DEL", key]);
            ctx.notify(GENERIC, "del", key);
        }
        Ttl::At(t) => {
            g.set_expire(key, t as u64);
            let mut b = itoa::Buffer::new();
            ctx.propagate(&[b"PEXPIREAT", key, b.format(t).as_bytes()]);
            ctx.notify(GENERIC, "expire", key);
        }
        Ttl::Persist => {
            if g.peek(key).is_some_and(|e| e.is_volatile()) {
                g.set_expire(key, 0);
                ctx.propagate(&[b"PERSIST", key]);
                ctx.notify(GENERIC, "persist", key);
            }
        }
        Ttl::Unset | Ttl::Keep => {}
    }
    drop(g);
    reply_value(ctx, &value)
}

fn too_big(len: u64, ctx: &Ctx<'_>) -> Result<(), CmdError> {
    let max = ctx
        .srv
        .hot
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed)
        .max(MAX_STRING);
    if len > max {
        Err(CmdError::err(
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        ))
    } else {
        Ok(())
    }
}

/// `APPEND key value`
pub fn append(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (key, val) = (argv.get(1), argv.get(2));
    let mut g = ctx.lock(key);
    let new_len = match g.get_mut(key) {
        None => {
            g.set(key, Value::string(val), Some(0));
            val.len()
        }
        Some(e) => {
            ensure_string(e)?;
            let cur = string_bytes(e.value())?;
            too_big((cur.len() + val.len()) as u64, ctx)?;
            let mut buf = Vec::with_capacity(cur.len() + val.len());
            buf.extend_from_slice(&cur);
            buf.extend_from_slice(val);
            let n = buf.len();
            e.replace_value(Value::raw(buf));
            n
        }
    };
    ctx.propagate(&[b"APPEND", key, val]);
    ctx.notify(STRING, "append", key);
    drop(g);
    ctx.out.int(new_len as i64);
    Ok(())
}

/// `STRLEN key`
pub fn strlen(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let n = match g.get(key) {
        None => 0,
        Some(e) => e.value().as_str()?.len(),
    };
    drop(g);
    ctx.out.int(n as i64);
    Ok(())
}

fn incr_generic(ctx: &mut Ctx<'_>, key: &[u8], by: i64) -> CmdResult {
    let mut g = ctx.lock(key);
    let next = match g.get_mut(key) {
        None => {
            g.set(key, Value::int(by), Some(0));
            by
        }
        Some(e) => {
            let cur = match e.value().as_str()? {
                StrRef::Int(n) => n,
                StrRef::Bytes(s) | StrRef::Raw(s) => {
                    super::parse_int_strict(s).ok_or(CmdError::NotInteger)?
                }
            };
            let next = cur.checked_add(by).ok_or(CmdError::Overflow)?;
            match e.value_mut() {
                Value::Str(s) => *s = Str::Int(next),
                other => *other = Value::int(next),
            }
            next
        }
    };
    let mut b = itoa::Buffer::new();
    ctx.propagate(&[b"INCRBY", key, b.format(by).as_bytes()]);
    ctx.notify(STRING, "incrby", key);
    drop(g);
    ctx.out.int(next);
    Ok(())
}

/// `INCR key`
pub fn incr(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    incr_generic(ctx, argv.get(1), 1)
}

/// `DECR key`
pub fn decr(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    incr_generic(ctx, argv.get(1), -1)
}

/// `INCRBY key increment`
pub fn incrby(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let by = parse_i64(argv.get(2))?;
    incr_generic(ctx, argv.get(1), by)
}

/// `DECRBY key decrement`
pub fn decrby(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let by = parse_i64(argv.get(2))?;
    let neg = by
        .checked_neg()
        .ok_or_else(|| CmdError::err("decrement would overflow"))?;
    incr_generic(ctx, argv.get(1), neg)
}

/// `INCRBYFLOAT key increment`, propagated as `SET key result KEEPTTL`.
pub fn incrbyfloat(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let by = parse_f64(argv.get(2))?;
    let mut g = ctx.lock(key);
    let cur = match g.get_mut(key) {
        None => 0.0,
        Some(e) => {
            ensure_string(e)?;
            parse_f64(&string_bytes(e.value())?).map_err(|_| CmdError::NotFloat)?
        }
    };
    let next = cur + by;
    if next.is_nan() || next.is_infinite() {
        return Err(CmdError::err("increment would produce NaN or Infinity"));
    }
    let text = format_long_double(next);
    g.set(key, Value::string(text.as_bytes()), None);
    ctx.propagate(&[b"SET", key, text.as_bytes(), b"KEEPTTL"]);
    ctx.notify(STRING, "incrbyfloat", key);
    drop(g);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// Resolves a GETRANGE start/end pair against a length, as Redis 7.0 does.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    s = s.max(0);
    e = e.max(0);
    if e >= len {
        e = len - 1;
    }
    if s > e || len == 0 {
        return None;
    }
    Some((s as usize, e as usize))
}

/// `GETRANGE key start end` (also SUBSTR)
pub fn getrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let start = parse_i64(argv.get(2))?;
    let end = parse_i64(argv.get(3))?;
    let mut g = ctx.lock(key);
    let Some(e) = g.get(key) else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    ensure_string(e)?;
    let bytes = string_bytes(e.value())?;
    match clamp_range(start, end, bytes.len()) {
        Some((s, e)) => ctx.out.bulk(&bytes[s..=e]),
        None => ctx.out.bulk(b""),
    }
    Ok(())
}

/// `SETRANGE key offset value`
pub fn setrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (key, val) = (argv.get(1), argv.get(3));
    let offset = parse_i64(argv.get(2))?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let offset = offset as usize;
    let mut g = ctx.lock(key);
    let cur: Option<Vec<u8>> = match g.get_mut(key) {
        None => None,
        Some(e) => {
            ensure_string(e)?;
            Some(string_bytes(e.value())?.into_owned())
        }
    };
    if val.is_empty() {
        // Nothing to write: report the current length without creating the key.
        ctx.out.int(cur.map_or(0, |c| c.len()) as i64);
        return Ok(());
    }
    too_big((offset + val.len()) as u64, ctx)?;
    let mut buf = cur.unwrap_or_default();
    if buf.len() < offset + val.len() {
        buf.resize(offset + val.len(), 0);
    }
    buf[offset..offset + val.len()].copy_from_slice(val);
    let n = buf.len();
    g.set(key, Value::raw(buf), None);
    ctx.propagate(&[b"SETRANGE", key, argv.get(2), val]);
    ctx.notify(STRING, "setrange", key);
    drop(g);
    ctx.out.int(n as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::clamp_range;
    use crate::commands::testkit::Kit;

    #[test]
    fn writes_propagate_deterministic_forms() {
        let mut k = Kit::new();
        let now = crate::clock::unix_ms();
        assert_eq!(k.run(&["SET", "k", "v", "EX", "100"]), "+OK\r\n");
        let s = k.stream();
        assert_eq!(s[0], vec!["SELECT", "0"]);
        assert_eq!(s[1][..4], ["SET", "k", "v", "PXAT"]);
        let at: u64 = s[1][4].parse().unwrap();
        assert!(
            at >= now + 100_000 && at < now + 102_000,
            "PXAT {at} vs now {now}"
        );
        k.run(&["SET", "k", "w", "KEEPTTL", "GET"]);
        assert_eq!(k.last_propagated(), "SET k w KEEPTTL");
        k.run(&["SET", "k", "x", "NX"]);
        assert_eq!(
            k.last_propagated(),
            "SET k w KEEPTTL",
            "a failed NX writes nothing"
        );
        k.run(&["SETEX", "e", "10", "v"]);
        assert!(k.last_propagated().starts_with("SET e v PXAT "));
        k.run(&["INCRBYFLOAT", "f", "1.5"]);
        assert_eq!(k.last_propagated(), "SET f 1.5 KEEPTTL");
        k.run(&["INCR", "n"]);
        assert_eq!(k.last_propagated(), "INCRBY n 1");
        k.run(&["GETEX", "k", "PX", "5000"]);
        assert!(k.last_propagated().starts_with("PEXPIREAT k "));
        k.run(&["GETEX", "k", "PERSIST"]);
        assert_eq!(k.last_propagated(), "PERSIST k");
        k.run(&["GETDEL", "k"]);
        assert_eq!(k.last_propagated(), "DEL k");
        k.run(&["MSET", "a", "1", "b", "2"]);
        assert_eq!(k.last_propagated(), "MSET a 1 b 2");
        k.run(&["SELECT", "3"]);
        k.run(&["APPEND", "a", "z"]);
        let s = k.stream();
        assert_eq!(s[s.len() - 2], vec!["SELECT", "3"]);
        assert_eq!(k.last_propagated(), "APPEND a z");
    }

    #[test]
    fn replies_match_redis() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["GET", "nokey"]), "$-1\r\n");
        assert_eq!(k.run(&["SET", "n", "10"]), "+OK\r\n");
        assert_eq!(k.run(&["GET", "n"]), "$2\r\n10\r\n");
        assert_eq!(k.run(&["APPEND", "n", "x"]), ":3\r\n");
        assert_eq!(
            k.run(&["INCR", "n"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            k.run(&["GET"]),
            "-ERR wrong number of arguments for 'get' command\r\n"
        );
        assert_eq!(k.run(&["SETRANGE", "s", "2", "ab"]), ":4\r\n");
        assert_eq!(k.run(&["GET", "s"]), "$4\r\n\0\0ab\r\n");
        assert_eq!(k.run(&["SET", "k1", "ohmytext"]), "+OK\r\n");
        assert_eq!(k.run(&["SET", "k2", "mynewtext"]), "+OK\r\n");
        assert_eq!(k.run(&["LCS", "k1", "k2"]), "$6\r\nmytext\r\n");
        assert_eq!(
            k.run(&["LCS", "k1", "k2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]),
            "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"
        );
    }

    #[test]
    fn getrange_clamping() {
        assert_eq!(clamp_range(0, 3, 13), Some((0, 3)));
        assert_eq!(clamp_range(-3, -1, 13), Some((10, 12)));
        assert_eq!(clamp_range(0, -1, 13), Some((0, 12)));
        assert_eq!(clamp_range(10, 100, 13), Some((10, 12)));
        assert_eq!(clamp_range(5, 3, 13), None);
        assert_eq!(clamp_range(-1, -5, 13), None);
        assert_eq!(clamp_range(0, 0, 0), None);
    }
}
