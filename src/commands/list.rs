//! The list commands. Handlers reach the value through the slot guard's typed
//! lookups (`List`), so WRONGTYPE and removing an emptied list happen there.
//! The blocking forms (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) are in
//! `list_blocking`; the pops they share with LPOP/LMPOP/LMOVE are here.

use std::sync::atomic::Ordering;

use super::key_specs::key_flags::{ACCESS, DELETE, INSERT, RW};
use super::list_blocking::{blmove, blmpop, blpop, brpop, brpoplpush};
use super::spec::{command_table, CommandSpec, KeySpec, KeySpecs};
use super::table::{KS_RO, KS_RO_ACCESS, KS_RW_DELETE, KS_RW_INSERT, KS_RW_UPDATE};
use super::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::{GENERIC, LIST};
use crate::store::types::list::{element_is, ListFill};
use crate::store::{List, SlotGuard};

const KS_RW_ACCESS_DELETE: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RW | ACCESS | DELETE)]);
const KS_MOVE: KeySpecs = KeySpecs::new(&[
    KeySpec::at(1, RW | ACCESS | DELETE),
    KeySpec::at(2, RW | INSERT),
]);
const KS_LMPOP: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RW | ACCESS | DELETE).keynum(0, 1, 1)]);
const KS_BLMPOP: KeySpecs = KeySpecs::new(&[KeySpec::at(2, RW | ACCESS | DELETE).keynum(0, 1, 1)]);
const KS_BPOP: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RW | ACCESS | DELETE).range(-2, 1, 0)]);

/// The list commands' table rows.
pub static COMMANDS: &[CommandSpec] = command_table! {
    "lpush" -3 [WRITE|DENYOOM|FAST] KS_RW_INSERT, "write list fast" "list" "1.0.0" lpush, "Prepend one or multiple elements to a list";
    "rpush" -3 [WRITE|DENYOOM|FAST] KS_RW_INSERT, "write list fast" "list" "1.0.0" rpush, "Append one or multiple elements to a list";
    "lpushx" -3 [WRITE|DENYOOM|FAST] KS_RW_INSERT, "write list fast" "list" "2.2.0" lpushx, "Prepend an element to a list, only if the list exists";
    "rpushx" -3 [WRITE|DENYOOM|FAST] KS_RW_INSERT, "write list fast" "list" "2.2.0" rpushx, "Append an element to a list, only if the list exists";
    "lpop" -2 [WRITE|FAST] KS_RW_ACCESS_DELETE, "write list fast" "list" "1.0.0" lpop, "Remove and get the first elements in a list";
    "rpop" -2 [WRITE|FAST] KS_RW_ACCESS_DELETE, "write list fast" "list" "1.0.0" rpop, "Remove and get the last elements in a list";
    "llen" 2 [READONLY|FAST] KS_RO, "read list fast" "list" "1.0.0" llen, "Get the length of a list";
    "lrange" 4 [READONLY] KS_RO_ACCESS, "read list slow" "list" "1.0.0" lrange, "Get a range of elements from a list";
    "lindex" 3 [READONLY] KS_RO_ACCESS, "read list slow" "list" "1.0.0" lindex, "Get an element from a list by its index";
    "lset" 4 [WRITE|DENYOOM] KS_RW_UPDATE, "write list slow" "list" "1.0.0" lset, "Set the value of an element in a list by its index";
    "linsert" 5 [WRITE|DENYOOM] KS_RW_INSERT, "write list slow" "list" "2.2.0" linsert, "Insert an element before or after another element in a list";
    "lrem" 4 [WRITE] KS_RW_DELETE, "write list slow" "list" "1.0.0" lrem, "Remove elements from a list";
    "ltrim" 4 [WRITE] KS_RW_DELETE, "write list slow" "list" "1.0.0" ltrim, "Trim a list to the specified range";
    "lpos" -3 [READONLY] KS_RO_ACCESS, "read list slow" "list" "6.0.6" lpos, "Return the index of matching elements on a list";
    "lmove" 5 [WRITE|DENYOOM] KS_MOVE, "write list slow" "list" "6.2.0" lmove, "Pop an element from a list, push it to another list and return it";
    "rpoplpush" 3 [WRITE|DENYOOM] KS_MOVE, "write list slow" "list" "1.2.0" rpoplpush, "Remove the last element in a list, prepend it to another list and return it";
    "lmpop" -4 [WRITE] KS_LMPOP, "write list slow" "list" "7.0.0" lmpop, "Pop elements from a list";
    "blpop" -3 [WRITE|NOSCRIPT|BLOCKING] KS_BPOP, "write list slow blocking" "list" "2.0.0" blpop, "Remove and get the first element in a list, or block until one is available";
    "brpop" -3 [WRITE|NOSCRIPT|BLOCKING] KS_BPOP, "write list slow blocking" "list" "2.0.0" brpop, "Remove and get the last element in a list, or block until one is available";
    "blmove" 6 [WRITE|DENYOOM|NOSCRIPT|BLOCKING] KS_MOVE, "write list slow blocking" "list" "6.2.0" blmove, "Pop an element from a list, push it to another list and return it; or block until one is available";
    "brpoplpush" 4 [WRITE|DENYOOM|NOSCRIPT|BLOCKING] KS_MOVE, "write list slow blocking" "list" "2.2.0" brpoplpush, "Pop an element from a list, push it to another list and return it; or block until one is available";
    "blmpop" -5 [WRITE|BLOCKING] KS_BLMPOP, "write list slow blocking" "list" "7.0.0" blmpop, "Pop elements from a list, or block until one is available";
};

/// The node limit `list-max-listpack-size` sets now.
pub(crate) fn fill(ctx: &Ctx<'_>) -> ListFill {
    ListFill(
        ctx.srv
            .hot
            .encodings
            .list_max_listpack_size
            .load(Ordering::Relaxed),
    )
}

/// `LPUSH key element [element …]`: the new length.
pub fn lpush(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    push(ctx, argv, true, false)
}

/// `RPUSH key element [element …]`
pub fn rpush(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    push(ctx, argv, false, false)
}

/// `LPUSHX key element [element …]`: only onto an existing list.
pub fn lpushx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    push(ctx, argv, true, true)
}

/// `RPUSHX key element [element …]`
pub fn rpushx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    push(ctx, argv, false, true)
}

fn push(ctx: &mut Ctx<'_>, argv: &Argv<'_>, front: bool, existing: bool) -> CmdResult {
    let key = argv.get(1);
    let fill = fill(ctx);
    let mut g = ctx.lock(key);
    let each = |l: &mut List| {
        for e in argv.tail(2).iter() {
            l.push(e, front, fill);
        }
        l.len()
    };
    let len = if existing {
        g.update::<List, _>(key, each)?
    } else {
        Some(g.update_or_create::<List, _>(key, each)?)
    };
    match len {
        Some(n) => {
            ctx.propagate_verbatim(argv);
            ctx.notify(LIST, if front { "lpush" } else { "rpush" }, key);
            ctx.out.int(n as i64);
        }
        None => ctx.out.int(0),
    }
    Ok(())
}

/// The events of elements popped from the `front` or back of `key`, as
/// Redis's `listElementsRemoved`: `lpop`/`rpop`, then `del` when the pop
/// emptied the list (and so removed the key).
pub(crate) fn notify_popped(ctx: &Ctx<'_>, key: &[u8], front: bool, emptied: bool) {
    ctx.notify(LIST, if front { "lpop" } else { "rpop" }, key);
    if emptied {
        ctx.notify(GENERIC, "del", key);
    }
}

/// A count argument of the pops (`value is out of range, must be positive`
/// for anything but a non-negative integer).
fn pop_count(arg: &[u8]) -> Result<usize, CmdError> {
    match parse_i64(arg) {
        Ok(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Err(CmdError::err("value is out of range, must be positive")),
    }
}

/// `LPOP key [count]`
pub fn lpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    pop(ctx, argv, true)
}

/// `RPOP key [count]`
pub fn rpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    pop(ctx, argv, false)
}

fn pop(ctx: &mut Ctx<'_>, argv: &Argv<'_>, front: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Arity(ctx.spec.name.into()));
    }
    let count = argv.opt(2).map(pop_count).transpose()?;
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    if g.read::<List>(key)?.is_none() {
        match count {
            Some(_) => ctx.out.null_array(),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    match count {
        Some(0) => ctx.out.array_len(0),
        None => {
            let out = &mut *ctx.out;
            let emptied = g.update::<List, _>(key, |l| {
                l.pop(front, |e| write_element(out, e));
                l.is_empty()
            })?;
            ctx.propagate_verbatim(argv);
            notify_popped(ctx, key, front, emptied == Some(true));
        }
        Some(n) => {
            let (_, emptied) = pop_many(&mut g, ctx.out, key, front, n)?;
            ctx.propagate_verbatim(argv);
            notify_popped(ctx, key, front, emptied);
        }
    }
    Ok(())
}

/// Pops up to `n` elements from an existing list, replying with their array;
/// the number popped, and whether that emptied the list (so the key went).
pub(crate) fn pop_many(
    g: &mut SlotGuard<'_>,
    out: &mut crate::resp::reply::Reply,
    key: &[u8],
    front: bool,
    n: usize,
) -> Result<(usize, bool), CmdError> {
    let popped = g
        .update::<List, _>(key, |l| {
            let k = n.min(l.len());
            out.array_len(k);
            for _ in 0..k {
                l.pop(front, |e| write_element(out, e));
            }
            (k, l.is_empty())
        })?
        .unwrap_or((0, false));
    Ok(popped)
}

/// Writes a listpack element as a bulk string.
pub(crate) fn write_element(
    out: &mut crate::resp::reply::Reply,
    e: crate::store::compact::Element<'_>,
) {
    match e {
        crate::store::compact::Element::Str(s) => out.bulk(s),
        crate::store::compact::Element::Int(n) => out.bulk_int(n),
    }
}

/// `LLEN key`
pub fn llen(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let n = g.read::<List>(key)?.map_or(0, List::len);
    ctx.out.int(n as i64);
    Ok(())
}

/// Redis's index normalisation for a range over `len` elements: the first
/// index and the count, or `None` when the range is empty.
fn range_of(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (start + len).max(0)
    } else {
        start
    };
    let stop = if stop < 0 { stop + len } else { stop };
    if start > stop || start >= len {
        return None;
    }
    let stop = stop.min(len - 1);
    Some((start as usize, (stop - start + 1) as usize))
}

/// `LRANGE key start stop`
pub fn lrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let start = parse_i64(argv.get(2))?;
    let stop = parse_i64(argv.get(3))?;
    let mut g = ctx.lock(key);
    let Some(l) = g.read::<List>(key)? else {
        ctx.out.array_len(0);
        return Ok(());
    };
    match range_of(start, stop, l.len()) {
        None => ctx.out.array_len(0),
        Some((from, n)) => {
            ctx.out.array_len(n);
            for e in l.range(from, n) {
                write_element(ctx.out, e);
            }
        }
    }
    Ok(())
}

/// An index into `len` elements (negative from the end), if in range.
fn index_of(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { index + len as i64 } else { index };
    usize::try_from(i).ok().filter(|&i| i < len)
}

/// `LINDEX key index`
pub fn lindex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let index = parse_i64(argv.get(2))?;
    let mut g = ctx.lock(key);
    let e = g
        .read::<List>(key)?
        .and_then(|l| index_of(index, l.len()).and_then(|i| l.get(i)));
    match e {
        Some(e) => write_element(ctx.out, e),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `LSET key index element`
pub fn lset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let index = parse_i64(argv.get(2))?;
    let fill = fill(ctx);
    let mut g = ctx.lock(key);
    let done = g.update::<List, _>(key, |l| {
        index_of(index, l.len()).is_some_and(|i| l.set(i, argv.get(3), fill))
    })?;
    match done {
        None => Err(CmdError::NoSuchKey),
        Some(false) => Err(CmdError::err("index out of range")),
        Some(true) => {
            ctx.propagate_verbatim(argv);
            ctx.notify(LIST, "lset", key);
            ctx.out.ok();
            Ok(())
        }
    }
}

/// `LINSERT key BEFORE|AFTER pivot element`: the new length, -1 without the
/// pivot, 0 without the key.
pub fn linsert(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let after = match argv.get(2) {
        w if is(w, "AFTER") => true,
        w if is(w, "BEFORE") => false,
        _ => return Err(CmdError::Syntax),
    };
    let fill = fill(ctx);
    let mut g = ctx.lock(key);
    let r = g.update::<List, _>(key, |l| {
        l.insert(argv.get(3), after, argv.get(4), fill)
            .then(|| l.len())
    })?;
    match r {
        None => ctx.out.int(0),
        Some(None) => ctx.out.int(-1),
        Some(Some(n)) => {
            ctx.propagate_verbatim(argv);
            ctx.notify(LIST, "linsert", key);
            ctx.out.int(n as i64);
        }
    }
    Ok(())
}

/// `LREM key count element`
pub fn lrem(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let count = parse_i64(argv.get(2))?;
    let mut g = ctx.lock(key);
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let (removed, emptied) = g
        .update::<List, _>(key, |l| {
            (l.remove(argv.get(3), limit, count < 0), l.is_empty())
        })?
        .unwrap_or((0, false));
    if removed > 0 {
        ctx.propagate_verbatim(argv);
        ctx.notify(LIST, "lrem", key);
        if emptied {
            ctx.notify(GENERIC, "del", key);
        }
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// `LTRIM key start stop`
pub fn ltrim(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let start = parse_i64(argv.get(2))?;
    let stop = parse_i64(argv.get(3))?;
    let mut g = ctx.lock(key);
    let changed = g.update::<List, _>(key, |l| {
        let before = l.len();
        match range_of(start, stop, before) {
            None => l.trim(0, 0, false),
            Some((from, n)) => l.trim(from, from + n - 1, true),
        }
        (l.len() != before, l.is_empty())
    })?;
    if let Some((changed, emptied)) = changed {
        if changed {
            ctx.propagate_verbatim(argv);
        }
        // As Redis: `ltrim` on every existing list, trimmed or not.
        ctx.notify(LIST, "ltrim", key);
        if emptied {
            ctx.notify(GENERIC, "del", key);
        }
    }
    ctx.out.ok();
    Ok(())
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`
pub fn lpos(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let want = argv.get(2);
    let (mut rank, mut count, mut maxlen) = (1i64, None::<usize>, 0usize);
    let mut i = 3;
    while i < argv.len() {
        let opt = argv.get(i);
        let has_value = i + 1 < argv.len();
        if is(opt, "RANK") && has_value {
            rank = parse_i64(argv.get(i + 1))?;
            if rank == 0 {
                return Err(CmdError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if is(opt, "COUNT") && has_value {
            count = Some(positive(argv.get(i + 1), "COUNT can't be negative")?);
        } else if is(opt, "MAXLEN") && has_value {
            maxlen = positive(argv.get(i + 1), "MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let mut g = ctx.lock(key);
    let Some(l) = g.read::<List>(key)? else {
        match count {
            Some(_) => ctx.out.array_len(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let len = l.len();
    let from_tail = rank < 0;
    let skip = rank.unsigned_abs() - 1;
    let limit = if maxlen == 0 { usize::MAX } else { maxlen };
    let want_n = match count {
        None => 1,
        Some(0) => usize::MAX,
        Some(n) => n,
    };
    let mut hits = Vec::new();
    let mut matches = 0u64;
    let mut scan = |(k, e): (usize, crate::store::compact::Element<'_>)| {
        if element_is(e, want) {
            matches += 1;
            if matches > skip {
                hits.push(if from_tail { len - 1 - k } else { k });
            }
        }
        hits.len() < want_n
    };
    if from_tail {
        for item in l.iter().rev().take(limit).enumerate() {
            if !scan(item) {
                break;
            }
        }
    } else {
        for item in l.iter().take(limit).enumerate() {
            if !scan(item) {
                break;
            }
        }
    }
    match count {
        Some(_) => {
            ctx.out.array_len(hits.len());
            for h in hits {
                ctx.out.int(h as i64);
            }
        }
        None => match hits.first() {
            Some(&h) => ctx.out.int(h as i64),
            None => ctx.out.null(),
        },
    }
    Ok(())
}

fn positive(arg: &[u8], msg: &str) -> Result<usize, CmdError> {
    match parse_i64(arg) {
        Ok(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Err(CmdError::err(msg)),
    }
}

/// `LEFT` (true) or `RIGHT` (false); `syntax error` otherwise.
pub(crate) fn side(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "LEFT") {
        Ok(true)
    } else if is(arg, "RIGHT") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT`
pub fn lmove(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let from = side(argv.get(3))?;
    let to = side(argv.get(4))?;
    if !move_one(ctx, argv.get(1), argv.get(2), from, to)? {
        ctx.out.null();
    } else {
        ctx.propagate_verbatim(argv);
    }
    Ok(())
}

/// `RPOPLPUSH source destination`
pub fn rpoplpush(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if !move_one(ctx, argv.get(1), argv.get(2), false, true)? {
        ctx.out.null();
    } else {
        ctx.propagate_verbatim(argv);
    }
    Ok(())
}

/// Moves one element from `src` (head when `from`) to `dst` (head when
/// `to`), replying with it; false (nothing replied) when `src` is missing.
/// The caller propagates.
pub(crate) fn move_one(
    ctx: &mut Ctx<'_>,
    src: &[u8],
    dst: &[u8],
    from: bool,
    to: bool,
) -> Result<bool, CmdError> {
    let fill = fill(ctx);
    let db = ctx.db();
    let mut mg = ctx.lock_keys([src, dst]);
    if mg.slot(db, src).read::<List>(src)?.is_none() {
        return Ok(false);
    }
    // The destination's type is checked before anything moves. Its error is
    // the command's answer even to a blocked command being served (a wrong
    // source type only means the key is not ready for it).
    mg.slot(db, dst)
        .read::<List>(dst)
        .map_err(|e| CmdError::Other(CmdError::from(e).to_string()))?;
    let Some((Some(v), emptied)) = mg
        .slot(db, src)
        .update::<List, _>(src, |l| (l.pop_bytes(from), l.is_empty()))?
    else {
        return Ok(false);
    };
    mg.slot(db, dst)
        .update_or_create::<List, _>(dst, |l| l.push(&v, to, fill))?;
    // Redis's order: the push on the destination, then the pop on the
    // source and its `del` if emptied (a rotation refills it: no `del`).
    ctx.notify(LIST, if to { "lpush" } else { "rpush" }, dst);
    notify_popped(ctx, src, from, emptied && src != dst);
    ctx.out.bulk(&v);
    Ok(true)
}

/// Parses `numkeys key… LEFT|RIGHT [COUNT n]` from `at`: the keys' range,
/// the side and the count.
pub(crate) fn mpop_args(
    argv: &Argv<'_>,
    at: usize,
) -> Result<(usize, usize, bool, usize), CmdError> {
    let numkeys = match parse_i64(argv.get(at)) {
        Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => return Err(CmdError::err("numkeys should be greater than 0")),
    };
    let where_at = at.saturating_add(numkeys).saturating_add(1);
    if where_at >= argv.len() {
        return Err(CmdError::Syntax);
    }
    let front = side(argv.get(where_at))?;
    let mut count = None;
    let mut i = where_at + 1;
    while i < argv.len() {
        if count.is_none() && is(argv.get(i), "COUNT") && i + 1 < argv.len() {
            count = Some(match parse_i64(argv.get(i + 1)) {
                Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
                _ => return Err(CmdError::err("count should be greater than 0")),
            });
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok((at + 1, numkeys, front, count.unwrap_or(1)))
}

/// Pops up to `count` from the first non-empty list among `keys`, replying
/// `[key, [elements]]` and propagating `LPOP|RPOP key n`; false when every
/// list is missing.
pub(crate) fn mpop_first<'k>(
    ctx: &mut Ctx<'_>,
    keys: impl Iterator<Item = &'k [u8]> + Clone,
    front: bool,
    count: usize,
) -> Result<bool, CmdError> {
    for key in keys {
        let mut g = ctx.lock(key);
        if g.read::<List>(key)?.is_none() {
            continue;
        }
        ctx.out.array_len(2);
        ctx.out.bulk(key);
        let (n, emptied) = pop_many(&mut g, ctx.out, key, front, count)?;
        let n = itoa::Buffer::new().format(n).to_owned();
        let cmd: &[u8] = if front { b"LPOP" } else { b"RPOP" };
        ctx.propagate(&[cmd, key, n.as_bytes()]);
        notify_popped(ctx, key, front, emptied);
        return Ok(true);
    }
    Ok(false)
}

/// `LMPOP numkeys key [key …] LEFT|RIGHT [COUNT count]`
pub fn lmpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (first, n, front, count) = mpop_args(argv, 1)?;
    let keys = (first..first + n).map(|i| argv.get(i));
    if !mpop_first(ctx, keys, front, count)? {
        ctx.out.null_array();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_normalise_as_redis() {
        assert_eq!(range_of(0, -1, 5), Some((0, 5)));
        assert_eq!(range_of(-100, 100, 5), Some((0, 5)));
        assert_eq!(range_of(3, 1, 5), None);
        assert_eq!(range_of(5, 10, 5), None);
        assert_eq!(range_of(-2, -1, 5), Some((3, 2)));
        assert_eq!(range_of(0, -6, 5), None);
        assert_eq!(index_of(-1, 3), Some(2));
        assert_eq!(index_of(-4, 3), None);
        assert_eq!(index_of(3, 3), None);
    }
}
