//! Generic key commands: DEL, EXISTS, TYPE, expiry, renames, copies, iteration,
//! OBJECT, DUMP/RESTORE.

use std::sync::atomic::Ordering;

use super::expire_args::{deadline, ExpireUnit};
use super::spec::{Arity, CommandSpec, Flags, KeySpec};
use super::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::glob;
use crate::persist;
use crate::slot::SLOTS;
use crate::store::evict::{self, Policy};
use crate::store::{Entry, Keyspace, SlotGuard, Value};

/// `DEL key [key …]` (also UNLINK)
pub fn del(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let db = ctx.client.db;
    let mut m = ctx.lock_keys(argv.tail(1).iter());
    let mut n = 0;
    for key in argv.tail(1).iter() {
        if m.slot(db, key).remove(key).is_some() {
            ctx.propagate(&[b"DEL", key]);
            n += 1;
        }
    }
    drop(m);
    ctx.out.int(n);
    Ok(())
}

/// `EXISTS key [key …]`: counts repeats.
pub fn exists(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let db = ctx.client.db;
    let mut m = ctx.lock_keys(argv.tail(1).iter());
    let n = argv
        .tail(1)
        .iter()
        .filter(|k| m.slot(db, k).contains(k))
        .count();
    drop(m);
    ctx.out.int(n as i64);
    Ok(())
}

/// `TYPE key`
pub fn type_(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let name = ctx
        .lock(key)
        .peek(key)
        .map_or("none", |e| e.value.kind().name());
    ctx.out.simple(name);
    Ok(())
}

// ---- shared helpers ----

/// Redis's `LOOKUP_NOTOUCH` read: hit/miss statistics, but the access time is
/// left alone (TTL, OBJECT).
fn peek_counted<'g>(ks: &Keyspace, g: &'g mut SlotGuard<'_>, key: &[u8]) -> Option<&'g Entry> {
    let e = g.peek(key);
    let counter = if e.is_some() {
        &ks.stats.hits
    } else {
        &ks.stats.misses
    };
    counter.fetch_add(1, Ordering::Relaxed);
    e
}

fn lossy(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

fn same_object() -> CmdError {
    CmdError::err("source and destination objects are the same")
}

/// A database index argument: Redis's `getIntFromObjectOrReply`, then a range check.
fn parse_db(ctx: &Ctx<'_>, arg: &[u8]) -> Result<usize, CmdError> {
    let v = parse_i64(arg)?;
    let v = i32::try_from(v).map_err(|_| {
        CmdError::err("value is out of range, value must between -2147483648 and 2147483647")
    })?;
    usize::try_from(v)
        .ok()
        .filter(|&d| d < ctx.srv.keyspace.db_count())
        .ok_or_else(|| CmdError::err("DB index is out of range"))
}

// ---- expiry ----

/// The NX/XX/GT/LT conditions of the EXPIRE family.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct ExpireCond {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireCond {
    fn parse(args: Argv<'_>) -> Result<Self, CmdError> {
        let mut c = ExpireCond::default();
        for a in args.iter() {
            if is(a, "NX") {
                c.nx = true;
            } else if is(a, "XX") {
                c.xx = true;
            } else if is(a, "GT") {
                c.gt = true;
            } else if is(a, "LT") {
                c.lt = true;
            } else {
                return Err(CmdError::err(format!("Unsupported option {}", lossy(a))));
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(CmdError::err(
                "NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if c.gt && c.lt {
            return Err(CmdError::err(
                "GT and LT options at the same time are not compatible",
            ));
        }
        Ok(c)
    }

    /// Whether the new deadline `when` may replace `current` (None = no TTL,
    /// which GT treats as infinite).
    fn allows(self, when: i64, current: Option<i64>) -> bool {
        match current {
            None => !(self.xx || self.gt),
            Some(cur) => !(self.nx || (self.gt && when <= cur) || (self.lt && when >= cur)),
        }
    }
}

fn expire_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, unit: ExpireUnit, cmd: &str) -> CmdResult {
    let cond = ExpireCond::parse(argv.tail(3))?;
    let when = deadline(argv.get(2), unit, ctx.now_ms, cmd, false)?;
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let Some(e) = g.get_mut(key) else {
        ctx.out.int(0);
        return Ok(());
    };
    let current = (e.expire_at != 0).then_some(e.expire_at as i64);
    if !cond.allows(when, current) {
        ctx.out.int(0);
        return Ok(());
    }
    if ctx.already_expired(when) {
        g.remove(key);
        ctx.propagate(&[b"DEL", key]);
    } else {
        g.set_expire(key, when as u64);
        let mut b = itoa::Buffer::new();
        let mut parts: Vec<&[u8]> = vec![b"PEXPIREAT", key, b.format(when).as_bytes()];
        parts.extend(argv.tail(3).iter());
        ctx.propagate(&parts);
    }
    drop(g);
    ctx.out.int(1);
    Ok(())
}

/// `EXPIRE key seconds [NX|XX|GT|LT]`
pub fn expire(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, ExpireUnit::Seconds, "expire")
}

/// `PEXPIRE key milliseconds [NX|XX|GT|LT]`
pub fn pexpire(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, ExpireUnit::Millis, "pexpire")
}

/// `EXPIREAT key unix-seconds [NX|XX|GT|LT]`
pub fn expireat(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, ExpireUnit::UnixSeconds, "expireat")
}

/// `PEXPIREAT key unix-ms [NX|XX|GT|LT]`
pub fn pexpireat(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, ExpireUnit::UnixMillis, "pexpireat")
}

/// TTL and friends: `ms` picks the unit, `abs` reports the deadline itself.
fn ttl_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, ms: bool, abs: bool) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let reply = match peek_counted(&ctx.srv.keyspace, &mut g, key) {
        None => -2,
        Some(e) if e.expire_at == 0 => -1,
        Some(e) => {
            let at = e.expire_at as i64;
            let t = if abs { at } else { at - ctx.now_ms as i64 }.max(0);
            if ms {
                t
            } else {
                (t + 500) / 1000
            }
        }
    };
    drop(g);
    ctx.out.int(reply);
    Ok(())
}

/// `TTL key`
pub fn ttl(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, false, false)
}

/// `PTTL key`
pub fn pttl(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, true, false)
}

/// `EXPIRETIME key`
pub fn expiretime(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, false, true)
}

/// `PEXPIRETIME key`
pub fn pexpiretime(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, true, true)
}

/// `PERSIST key`
pub fn persist(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let volatile = g.get_mut(key).is_some_and(|e| e.expire_at != 0);
    if volatile {
        g.set_expire(key, 0);
        ctx.propagate(&[b"PERSIST", key]);
    }
    drop(g);
    ctx.out.int(volatile as i64);
    Ok(())
}

// ---- renames, copies, moves ----

fn rename_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, nx: bool) -> CmdResult {
    let (src, dst) = (argv.get(1), argv.get(2));
    let db = ctx.db();
    let mut m = ctx.lock_keys([src, dst]);
    if m.slot(db, src).get_mut(src).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    let blocked = src == dst || (nx && m.slot(db, dst).get_mut(dst).is_some());
    let done = if blocked {
        false
    } else {
        let Some(entry) = m.slot(db, src).remove(src) else {
            return Err(CmdError::NoSuchKey);
        };
        // The value object moves, so its TTL and access metadata come along.
        m.slot(db, dst).put_entry(dst, entry);
        ctx.propagate_verbatim(argv);
        true
    };
    drop(m);
    match (nx, done) {
        (true, d) => ctx.out.int(d as i64),
        (false, _) => ctx.out.ok(),
    }
    Ok(())
}

/// `RENAME key newkey`
pub fn rename(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    rename_generic(ctx, argv, false)
}

/// `RENAMENX key newkey`
pub fn renamenx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    rename_generic(ctx, argv, true)
}

/// `COPY source destination [DB n] [REPLACE]`
pub fn copy(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (src, dst) = (argv.get(1), argv.get(2));
    let src_db = ctx.db();
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < argv.len() {
        let a = argv.get(i);
        if is(a, "REPLACE") {
            replace = true;
        } else if is(a, "DB") && i + 1 < argv.len() {
            if ctx.srv.cluster.is_some() {
                if parse_i64(argv.get(i + 1))? != src_db as i64 {
                    return Err(CmdError::err(
                        "Copying to another database is not allowed in cluster mode",
                    ));
                }
            } else {
                dst_db = parse_db(ctx, argv.get(i + 1))?;
            }
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if src_db == dst_db && src == dst {
        return Err(same_object());
    }
    let ks = &ctx.srv.keyspace;
    let mut m = ks.lock_many([(src_db, src), (dst_db, dst)], ctx.expiry_now());
    let Some(e) = m.slot(src_db, src).get(src) else {
        drop(m);
        ctx.out.int(0);
        return Ok(());
    };
    let (value, expire_at) = (e.value.clone(), e.expire_at);
    let target = m.slot(dst_db, dst);
    if target.get_mut(dst).is_some() && !replace {
        drop(m);
        ctx.out.int(0);
        return Ok(());
    }
    // A copy is a new object: fresh access metadata, same TTL.
    let access = evict::initial_access(ks.policy());
    target.remove(dst);
    target.put_entry(
        dst,
        Entry {
            value,
            expire_at,
            access,
        },
    );
    ctx.propagate_verbatim(argv);
    drop(m);
    ctx.out.int(1);
    Ok(())
}

/// `MOVE key db`
pub fn move_(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if ctx.srv.cluster.is_some() {
        return Err(CmdError::err("MOVE is not allowed in cluster mode"));
    }
    let key = argv.get(1);
    let src_db = ctx.db();
    let dst_db = parse_db(ctx, argv.get(2))?;
    if dst_db == src_db {
        return Err(same_object());
    }
    let mut m = ctx
        .srv
        .keyspace
        .lock_many([(src_db, key), (dst_db, key)], ctx.expiry_now());
    let moved =
        m.slot(src_db, key).get_mut(key).is_some() && m.slot(dst_db, key).get_mut(key).is_none();
    if moved {
        if let Some(entry) = m.slot(src_db, key).remove(key) {
            m.slot(dst_db, key).put_entry(key, entry);
            ctx.propagate_verbatim(argv);
        }
    }
    drop(m);
    ctx.out.int(moved as i64);
    Ok(())
}

// ---- iteration ----

/// `KEYS pattern`
pub fn keys(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let pattern = argv.get(1);
    let all = pattern == b"*";
    let (db, ks) = (ctx.db(), &ctx.srv.keyspace);
    let mut found: Vec<Box<[u8]>> = Vec::new();
    for slot in 0..SLOTS as u16 {
        let g = ks.lock_slot(db, slot, ctx.now_ms);
        found.extend(
            g.iter()
                .filter(|(k, _)| all || glob::matches(pattern, k, false))
                .map(|(k, _)| Box::from(k)),
        );
    }
    ctx.out.array_len(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// Parses a SCAN cursor as Redis's `strtoul` call does: optional sign (a
/// negative value wraps), digits, nothing else; an empty string is 0.
fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::err("invalid cursor");
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if arg.is_empty() {
        return Ok(0);
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((d - b'0') as u64))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// SCAN's MATCH/COUNT/TYPE options.
struct ScanOpts<'a> {
    count: usize,
    pattern: Option<&'a [u8]>,
    kind: Option<&'a [u8]>,
}

impl<'a> ScanOpts<'a> {
    fn parse(args: Argv<'a>) -> Result<Self, CmdError> {
        let mut o = ScanOpts {
            count: 10,
            pattern: None,
            kind: None,
        };
        let mut i = 0;
        while i < args.len() {
            let (a, val) = (args.get(i), args.opt(i + 1));
            match val {
                Some(v) if is(a, "COUNT") => {
                    let n = parse_i64(v)?;
                    if n < 1 {
                        return Err(CmdError::Syntax);
                    }
                    o.count = usize::try_from(n).unwrap_or(usize::MAX);
                }
                Some(v) if is(a, "MATCH") => o.pattern = (v != b"*").then_some(v),
                Some(v) if is(a, "TYPE") => o.kind = Some(v),
                _ => return Err(CmdError::Syntax),
            }
            i += 2;
        }
        Ok(o)
    }

    fn wants(&self, key: &[u8], e: &Entry) -> bool {
        self.pattern.is_none_or(|p| glob::matches(p, key, false))
            && self
                .kind
                .is_none_or(|t| t.eq_ignore_ascii_case(e.value.kind().name().as_bytes()))
    }
}

/// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]`. The cursor is the slot
/// to resume at; whole slots are returned, so a key present for the whole scan
/// is always reported (at least once).
pub fn scan(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let cursor = parse_cursor(argv.get(1))?;
    let opts = ScanOpts::parse(argv.tail(2))?;
    let (db, ks) = (ctx.db(), &ctx.srv.keyspace);
    let mut found: Vec<Box<[u8]>> = Vec::new();
    let mut slot = cursor.min(SLOTS as u64) as usize;
    while slot < SLOTS && found.len() < opts.count {
        let g = ks.lock_slot(db, slot as u16, ctx.now_ms);
        found.extend(
            g.iter()
                .filter(|(k, e)| opts.wants(k, e))
                .map(|(k, _)| Box::from(k)),
        );
        slot += 1;
    }
    let next = if slot >= SLOTS { 0 } else { slot };
    ctx.out.array_len(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array_len(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// Random slots probed before falling back to a counting walk.
const RANDOM_PROBES: usize = 16;

/// A random live key of slot `slot`, purging its expired keys first (as Redis
/// deletes the expired keys RANDOMKEY draws).
fn random_in_slot(ks: &Keyspace, db: usize, slot: u16, now: u64) -> Option<Box<[u8]>> {
    let mut g = ks.lock_slot(db, slot, now);
    if g.is_empty() {
        return None;
    }
    g.purge_all_expired();
    let n = g.len();
    (n > 0)
        .then(|| g.nth(fastrand::usize(..n)).map(|(k, _)| Box::from(k)))
        .flatten()
}

/// The `r`-th live key counting over all slots, or None when fewer exist.
fn nth_key_walk(ks: &Keyspace, db: usize, mut r: usize, now: u64) -> Option<Box<[u8]>> {
    for slot in 0..SLOTS as u16 {
        let mut g = ks.lock_slot(db, slot, now);
        if g.is_empty() {
            continue;
        }
        g.purge_all_expired();
        if r < g.len() {
            return g.nth(r).map(|(k, _)| Box::from(k));
        }
        r -= g.len();
    }
    None
}

/// Random slots a replica probes before it answers a key that may be
/// logically expired (Redis's `dbRandomKey` gives up after 100 tries).
const REPLICA_PROBES: usize = 100;

/// A random key for a replica, which must delete nothing: expiry reaches it
/// as the primary's DEL. A live key when one is met; else, as Redis does
/// rather than loop or answer nil, a logically expired one (in a dense
/// database only when every key has a TTL, Redis's condition).
fn random_key_keeping_expired(ks: &Keyspace, db: usize, now: u64) -> Option<Box<[u8]>> {
    let mut expired = None;
    if ks.db(db).len() as usize >= SLOTS {
        for _ in 0..REPLICA_PROBES {
            let g = ks.lock_slot(db, fastrand::u16(..SLOTS as u16), now);
            let live = g.iter().count();
            if live > 0 {
                return g
                    .iter()
                    .nth(fastrand::usize(..live))
                    .map(|(k, _)| Box::from(k));
            }
            if expired.is_none() && !g.is_empty() {
                expired = g.nth(fastrand::usize(..g.len())).map(|(k, _)| Box::from(k));
            }
        }
        // Redis gives up only when every key has a TTL; otherwise it keeps
        // drawing until it meets a key without one, which the walk finds.
        let d = ks.db(db);
        if expired.is_some() && d.volatile_len() == d.len() {
            return expired;
        }
    }
    // One walk, picking uniformly (reservoir sampling) among the live keys,
    // and among the expired ones in case no key is live.
    let (mut live, mut dead) = (0usize, 0usize);
    let mut pick = None;
    for slot in 0..SLOTS as u16 {
        let g = ks.lock_slot(db, slot, now);
        if g.is_empty() {
            continue;
        }
        for (k, e) in g.entries_from(0) {
            if !e.is_expired(now) {
                live += 1;
                if fastrand::usize(..live) == 0 {
                    pick = Some(Box::from(k));
                }
            } else if live == 0 {
                dead += 1;
                if fastrand::usize(..dead) == 0 {
                    expired = Some(Box::from(k));
                }
            }
        }
    }
    pick.or(expired)
}

/// `RANDOMKEY`. Dense databases are sampled by random slot; sparse ones by a
/// uniform pick over a full walk. On a primary, expired keys met on the way
/// are deleted, so an all-expired database ends in a nil reply rather than a
/// loop; a replica deletes nothing (`random_key_keeping_expired`).
pub fn randomkey(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let (db, ks, now) = (ctx.db(), &ctx.srv.keyspace, ctx.now_ms);
    let mut key = None;
    if ctx.srv.upstream.is_replica() {
        key = random_key_keeping_expired(ks, db, now);
    } else {
        if ks.db(db).len() as usize >= SLOTS {
            key = (0..RANDOM_PROBES)
                .find_map(|_| random_in_slot(ks, db, fastrand::u16(..SLOTS as u16), now));
        }
        // Keys can vanish under us (expiry, other clients): retry a few walks.
        for _ in 0..3 {
            if key.is_some() {
                break;
            }
            let total = ks.db(db).len() as usize;
            if total == 0 {
                break;
            }
            key = nth_key_walk(ks, db, fastrand::usize(..total), now);
        }
    }
    match key {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `TOUCH key [key …]`: counts existing keys, updating their access time.
pub fn touch(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let db = ctx.db();
    let mut m = ctx.lock_keys(argv.tail(1).iter());
    let n = argv
        .tail(1)
        .iter()
        .filter(|k| m.slot(db, k).get(k).is_some())
        .count();
    drop(m);
    ctx.out.int(n as i64);
    Ok(())
}

// ---- OBJECT ----

/// Values Redis shares (and reports with this refcount): integers below 10000.
const SHARED_INTEGERS: i64 = 10_000;
/// `OBJ_SHARED_REFCOUNT`.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

const fn object_sub(
    name: &'static str,
    handler: super::Handler,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        arity: Arity(3),
        flags: Flags::READONLY,
        keys: KeySpec::range(2, 2, 1),
        acl: "keyspace read slow",
        group: "generic",
        since: "2.2.3",
        handler,
        summary,
        subcommands: &[],
    }
}

/// `OBJECT` subcommands, in Redis's order.
pub static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "help",
        arity: Arity(2),
        flags: Flags::LOADING.or(Flags::STALE),
        keys: KeySpec::None,
        acl: "keyspace slow",
        group: "generic",
        since: "6.2.0",
        handler: object_help,
        summary: "Show helpful text about the different subcommands",
        subcommands: &[],
    },
    CommandSpec {
        since: "4.0.0",
        ..object_sub(
            "freq",
            object_freq,
            "Get the logarithmic access frequency counter of a Redis object",
        )
    },
    object_sub(
        "encoding",
        object_encoding,
        "Inspect the internal encoding of a Redis object",
    ),
    object_sub(
        "idletime",
        object_idletime,
        "Get the time since a Redis object was last accessed",
    ),
    object_sub(
        "refcount",
        object_refcount,
        "Get the number of references to the value of the key",
    ),
];

/// `OBJECT` itself; the table routes every known subcommand, so only an
/// unknown one can land here.
pub fn object(_ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    Err(CmdError::UnknownSubcommand {
        sub: lossy(argv.opt(1).unwrap_or_default()),
        cmd: "OBJECT".into(),
    })
}

/// Looks the key up without touching it; replies nil and returns None when missing.
fn object_lookup<T>(ctx: &mut Ctx<'_>, argv: &Argv<'_>, f: impl FnOnce(&Entry) -> T) -> Option<T> {
    let key = argv.get(2);
    let mut g = ctx.lock(key);
    let r = peek_counted(&ctx.srv.keyspace, &mut g, key).map(f);
    drop(g);
    if r.is_none() {
        ctx.out.null();
    }
    r
}

fn object_encoding(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if let Some(enc) = object_lookup(ctx, argv, |e| e.value.encoding()) {
        ctx.out.bulk(enc.as_bytes());
    }
    Ok(())
}

fn object_refcount(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let shared_ok = ctx.srv.hot.maxmemory.load(Ordering::Relaxed) == 0
        || !matches!(
            ctx.srv.keyspace.policy(),
            Policy::AllKeysLru | Policy::VolatileLru | Policy::AllKeysLfu | Policy::VolatileLfu
        );
    let refcount = object_lookup(ctx, argv, |e| match e.value {
        Value::Int(n) if shared_ok && (0..SHARED_INTEGERS).contains(&n) => SHARED_REFCOUNT,
        _ => 1,
    });
    if let Some(n) = refcount {
        ctx.out.int(n);
    }
    Ok(())
}

fn object_idletime(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let Some(access) = object_lookup(ctx, argv, |e| e.access) else {
        return Ok(());
    };
    match ctx.srv.keyspace.policy() {
        p if p.is_lfu() => Err(CmdError::err(
            "An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        )),
        Policy::AllKeysFifo => Err(CmdError::err(
            "A FIFO maxmemory policy is selected, idle time not tracked.",
        )),
        _ => {
            ctx.out.int(evict::idle_seconds(access) as i64);
            Ok(())
        }
    }
}

fn object_freq(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let Some(access) = object_lookup(ctx, argv, |e| e.access) else {
        return Ok(());
    };
    if !ctx.srv.keyspace.policy().is_lfu() {
        return Err(CmdError::err(
            "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    ctx.out.int(evict::lfu_counter(access) as i64);
    Ok(())
}

fn object_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let lines = [
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    ctx.out.array_len(lines.len());
    for l in lines {
        ctx.out.simple(l);
    }
    Ok(())
}

// ---- DUMP / RESTORE ----

/// `DUMP key`
pub fn dump(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let payload = ctx.lock(key).get(key).map(|e| persist::dump(&e.value));
    match payload {
        Some(p) => ctx.out.bulk(&p),
        None => ctx.out.null(),
    }
    Ok(())
}

/// RESTORE's options after the payload.
#[derive(Default)]
struct RestoreOpts {
    replace: bool,
    absttl: bool,
    idle: Option<i64>,
    freq: Option<u8>,
}

impl RestoreOpts {
    fn parse(args: Argv<'_>) -> Result<Self, CmdError> {
        let mut o = RestoreOpts::default();
        let mut i = 0;
        while i < args.len() {
            let (a, val) = (args.get(i), args.opt(i + 1));
            match val {
                _ if is(a, "REPLACE") => o.replace = true,
                _ if is(a, "ABSTTL") => o.absttl = true,
                Some(v) if is(a, "IDLETIME") && o.freq.is_none() => {
                    let n = parse_i64(v)?;
                    if n < 0 {
                        return Err(CmdError::err("Invalid IDLETIME value, must be >= 0"));
                    }
                    o.idle = Some(n);
                    i += 1;
                }
                Some(v) if is(a, "FREQ") && o.idle.is_none() => {
                    let n = parse_i64(v)?;
                    o.freq = Some(u8::try_from(n).map_err(|_| {
                        CmdError::err("Invalid FREQ value, must be >= 0 and <= 255")
                    })?);
                    i += 1;
                }
                _ => return Err(CmdError::Syntax),
            }
            i += 1;
        }
        Ok(o)
    }

    /// The access metadata the restored key starts with (Redis's
    /// `objectSetLRUOrLFU`): FREQ applies under LFU, IDLETIME under the others.
    fn access(&self, policy: Policy) -> u32 {
        let fresh = evict::initial_access(policy);
        if policy.is_lfu() {
            // The fresh value carries the current LFU minute in its high bits.
            return self.freq.map_or(fresh, |f| (fresh & !0xff) | f as u32);
        }
        match (self.idle, policy) {
            (Some(idle), p) if p != Policy::AllKeysFifo => {
                evict::access_idle_for(idle.max(0) as u64)
            }
            _ => fresh,
        }
    }
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`
pub fn restore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let opts = RestoreOpts::parse(argv.tail(4))?;
    let mut g = ctx.lock(key);
    if !opts.replace && g.contains(key) {
        return Err(CmdError::Other(
            "BUSYKEY Target key name already exists.".into(),
        ));
    }
    let ttl = parse_i64(argv.get(2))?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let value = persist::undump(argv.get(3)).map_err(CmdError::err)?;
    let deleted = opts.replace && g.remove(key).is_some();
    // Redis adds without an overflow check; wrapping keeps its outcome (an
    // absurd TTL lands in the past and the key is not created).
    let at = if ttl != 0 && !opts.absttl {
        ttl.wrapping_add(ctx.now_ms as i64)
    } else {
        ttl
    };
    if at != 0 && ctx.already_expired(at) {
        if deleted {
            ctx.propagate(&[b"DEL", key]);
        }
        drop(g);
        ctx.out.ok();
        return Ok(());
    }
    let access = opts.access(ctx.srv.keyspace.policy());
    g.put_entry(
        key,
        Entry {
            value,
            expire_at: at as u64,
            access,
        },
    );
    propagate_restore(ctx, argv, at, opts.absttl);
    drop(g);
    ctx.out.ok();
    Ok(())
}

/// Propagates RESTORE with an absolute TTL, as Redis rewrites it.
fn propagate_restore(ctx: &mut Ctx<'_>, argv: &Argv<'_>, at: i64, absttl: bool) {
    if at == 0 || absttl {
        ctx.propagate_verbatim(argv);
        return;
    }
    let mut b = itoa::Buffer::new();
    let mut parts: Vec<&[u8]> = argv.iter().collect();
    parts[2] = b.format(at).as_bytes();
    parts.push(b"ABSTTL");
    ctx.propagate(&parts);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::unix_ms;
    use crate::commands::testkit::Kit;
    use crate::node::Server;

    /// The shared in-process kit, with the stream read back as raw RESP text.
    struct Harness {
        kit: Kit,
        srv: Arc<Server>,
    }

    impl Harness {
        fn new() -> Self {
            let kit = Kit::new();
            let srv = kit.srv.clone();
            Harness { kit, srv }
        }

        fn run(&mut self, words: &[&[u8]]) -> String {
            self.kit.run_bytes(words)
        }

        fn stream(&self) -> String {
            String::from_utf8_lossy(&self.srv.repl.backlog().1).into_owned()
        }
    }

    fn resp(parts: &[&str]) -> String {
        let mut s = format!("*{}\r\n", parts.len());
        for p in parts {
            s.push_str(&format!("${}\r\n{}\r\n", p.len(), p));
        }
        s
    }

    #[test]
    fn expire_propagates_absolute_deadline_or_del() {
        let mut h = Harness::new();
        h.run(&[b"SET", b"k", b"v"]);
        let before = unix_ms();
        assert_eq!(h.run(&[b"EXPIRE", b"k", b"100", b"nx"]), ":1\r\n");
        let after = unix_ms();
        let stream = h.stream();
        let at = (before + 100_000..=after + 100_000)
            .find(|t| stream.contains(&resp(&["PEXPIREAT", "k", &t.to_string(), "nx"])));
        assert!(at.is_some(), "{stream:?}");
        assert_eq!(h.run(&[b"PEXPIRE", b"k", b"-1"]), ":1\r\n");
        assert!(h.stream().ends_with(&resp(&["DEL", "k"])));
        let offset = h.srv.repl.offset();
        assert_eq!(h.run(&[b"EXPIRE", b"k", b"100"]), ":0\r\n");
        assert_eq!(h.srv.repl.offset(), offset, "a no-op is not propagated");
    }

    #[test]
    fn persist_rename_and_restore_propagation() {
        let mut h = Harness::new();
        h.run(&[b"SET", b"k", b"v"]);
        assert_eq!(h.run(&[b"PERSIST", b"k"]), ":0\r\n");
        h.run(&[b"PEXPIREAT", b"k", b"4102444800000"]);
        assert_eq!(h.run(&[b"PERSIST", b"k"]), ":1\r\n");
        assert!(h.stream().ends_with(&resp(&["PERSIST", "k"])));
        assert_eq!(h.run(&[b"rename", b"k", b"j"]), "+OK\r\n");
        assert!(h.stream().ends_with(&resp(&["rename", "k", "j"])));
        let payload = persist::dump(&Value::string(b"hello"));
        let p = payload.as_slice();
        let before = unix_ms();
        assert_eq!(h.run(&[b"RESTORE", b"r", b"5000", p]), "+OK\r\n");
        let after = unix_ms();
        let stream = h.srv.repl.backlog().1;
        let found = (before + 5000..=after + 5000).any(|t| {
            let ts = t.to_string();
            let mut want = format!(
                "*5\r\n$7\r\nRESTORE\r\n$1\r\nr\r\n${}\r\n{}\r\n",
                ts.len(),
                ts
            )
            .into_bytes();
            want.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
            want.extend_from_slice(p);
            want.extend_from_slice(b"\r\n$6\r\nABSTTL\r\n");
            stream.ends_with(&want)
        });
        assert!(found, "{:?}", String::from_utf8_lossy(&stream));
    }

    #[test]
    fn randomkey_ends_when_every_key_expired() {
        let mut h = Harness::new();
        for i in 0..50 {
            let k = format!("k{i}");
            h.srv
                .keyspace
                .lock_key(0, k.as_bytes(), 0)
                .set(k.as_bytes(), Value::Int(i), Some(1));
        }
        assert_eq!(h.srv.keyspace.db(0).len(), 50);
        assert_eq!(h.run(&[b"RANDOMKEY"]), "$-1\r\n");
        assert_eq!(h.srv.keyspace.db(0).len(), 0);
    }

    #[test]
    fn replica_randomkey_deletes_nothing() {
        let h = Harness::new();
        let ks = &h.srv.keyspace;
        let put = |k: &str, expire_at: Option<u64>| {
            ks.lock_key(0, k.as_bytes(), 0)
                .set(k.as_bytes(), Value::Int(1), expire_at);
        };
        let pick = || super::random_key_keeping_expired(ks, 0, 1000);
        assert_eq!(pick(), None);
        for i in 0..50 {
            put(&format!("gone{i}"), Some(1));
        }
        let got = pick().expect("an expired key, as Redis answers");
        assert!(got.starts_with(b"gone"), "{got:?}");
        put("live", None);
        for _ in 0..50 {
            assert_eq!(pick().as_deref(), Some(&b"live"[..]));
        }
        // Dense: sampled by random slot; a key without a TTL is still found.
        for i in 0..20_000 {
            put(&format!("dense{i}"), Some(1));
        }
        for _ in 0..5 {
            assert_eq!(pick().as_deref(), Some(&b"live"[..]));
        }
        ks.lock_key(0, b"live", 0).remove(b"live");
        for _ in 0..20 {
            assert!(pick().is_some_and(|k| !k.starts_with(b"live")));
        }
        assert_eq!(ks.db(0).len(), 20_050, "nothing was deleted");
    }

    #[test]
    fn randomkey_reaches_every_key() {
        let mut h = Harness::new();
        h.run(&[b"MSET", b"a", b"1", b"b", b"2", b"c", b"3"]);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..300 {
            seen.insert(h.run(&[b"RANDOMKEY"]));
        }
        assert_eq!(seen.len(), 3, "{seen:?}");
    }

    #[test]
    fn scan_cursor_parsing() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b""), Ok(0));
        assert_eq!(parse_cursor(b"+12"), Ok(12));
        assert_eq!(parse_cursor(b"007"), Ok(7));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"-0"), Ok(0));
        for bad in [
            &b"abc"[..],
            b" 1",
            b"1 ",
            b"-",
            b"+",
            b"99999999999999999999999",
        ] {
            assert!(parse_cursor(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scan_visits_every_key_across_calls() {
        let mut h = Harness::new();
        for i in 0..500 {
            let k = format!("key:{i}");
            h.run(&[b"SET", k.as_bytes(), b"v"]);
        }
        let mut cursor = "0".to_string();
        let mut seen = std::collections::HashSet::new();
        let mut calls = 0;
        loop {
            let r = h.run(&[b"SCAN", cursor.as_bytes(), b"COUNT", b"7"]);
            let mut lines = r.split("\r\n");
            lines.next();
            lines.next();
            cursor = lines.next().unwrap_or_default().to_string();
            seen.extend(lines.filter(|l| l.starts_with("key:")).map(String::from));
            calls += 1;
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 500);
        assert!(calls > 10, "COUNT bounds each call ({calls} calls)");
    }

    #[test]
    fn expire_conditions() {
        let c = |nx, xx, gt, lt| ExpireCond { nx, xx, gt, lt };
        assert!(c(true, false, false, false).allows(5, None));
        assert!(!c(true, false, false, false).allows(5, Some(3)));
        assert!(!c(false, true, false, false).allows(5, None));
        assert!(c(false, true, false, false).allows(5, Some(3)));
        assert!(!c(false, false, true, false).allows(5, None));
        assert!(c(false, false, true, false).allows(5, Some(3)));
        assert!(!c(false, false, true, false).allows(3, Some(3)));
        assert!(c(false, false, false, true).allows(5, None));
        assert!(c(false, false, false, true).allows(2, Some(3)));
        assert!(!c(false, false, false, true).allows(3, Some(3)));
    }

    #[test]
    fn restore_access_metadata() {
        let idle = RestoreOpts {
            idle: Some(100),
            ..Default::default()
        };
        let a = idle.access(Policy::AllKeysLru);
        assert!((100..=101).contains(&evict::idle_seconds(a)));
        let freq = RestoreOpts {
            freq: Some(42),
            ..Default::default()
        };
        assert_eq!(evict::lfu_counter(freq.access(Policy::AllKeysLfu)), 42);
    }
}
