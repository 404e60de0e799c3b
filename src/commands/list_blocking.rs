//! The blocking list pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP. Each
//! first tries its non-blocking form; when every list is empty it either
//! answers as a timeout (inside MULTI/EXEC, a replayed stream) or asks the
//! session to block (see `commands::blocking`).

use super::blocking::{self, Timeout};
use super::list::{move_one, mpop_args, mpop_first, notify_popped, side, write_element};
use super::{Argv, CmdError, CmdResult, Ctx};
use crate::resp::reply::Reply;
use crate::store::List;

/// `BLPOP key [key …] timeout`
pub fn blpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    bpop(ctx, argv, true)
}

/// `BRPOP key [key …] timeout`
pub fn brpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    bpop(ctx, argv, false)
}

fn bpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>, front: bool) -> CmdResult {
    let timeout = Timeout::parse(argv.get(argv.len() - 1), ctx.now_ms)?;
    let keys = 1..argv.len() - 1;
    loop {
        if pop_first(ctx, keys.clone().map(|i| argv.get(i)), front)? {
            return Ok(());
        }
        if !blocking::wait_or_retry(ctx, argv, keys.clone(), timeout, Reply::null_array) {
            return Ok(());
        }
    }
}

/// Pops one element from the first non-empty list among `keys`, replying
/// `[key, element]` and propagating `LPOP|RPOP key`; false when all are missing.
pub(crate) fn pop_first<'k>(
    ctx: &mut Ctx<'_>,
    keys: impl Iterator<Item = &'k [u8]>,
    front: bool,
) -> Result<bool, CmdError> {
    for key in keys {
        let mut g = ctx.lock(key);
        if g.read::<List>(key)?.is_none() {
            continue;
        }
        let out = &mut *ctx.out;
        let popped = g.update::<List, _>(key, |l| {
            let popped = l.pop(front, |e| {
                out.array_len(2);
                out.bulk(key);
                write_element(out, e);
            });
            (popped, l.is_empty())
        })?;
        if let Some((Some(()), emptied)) = popped {
            let cmd: &[u8] = if front { b"LPOP" } else { b"RPOP" };
            ctx.propagate(&[cmd, key]);
            notify_popped(ctx, key, front, emptied);
            return Ok(true);
        }
    }
    Ok(false)
}

/// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout`
pub fn blmove(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let from = side(argv.get(3))?;
    let to = side(argv.get(4))?;
    bmove(ctx, argv, from, to, 5)
}

/// `BRPOPLPUSH source destination timeout`
pub fn brpoplpush(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    bmove(ctx, argv, false, true, 3)
}

fn bmove(ctx: &mut Ctx<'_>, argv: &Argv<'_>, from: bool, to: bool, at: usize) -> CmdResult {
    let timeout = Timeout::parse(argv.get(at), ctx.now_ms)?;
    let (src, dst) = (argv.get(1), argv.get(2));
    loop {
        if move_one(ctx, src, dst, from, to)? {
            propagate_move(ctx, src, dst, from, to, at == 3);
            return Ok(());
        }
        if !blocking::wait_or_retry(ctx, argv, 1..2, timeout, Reply::null) {
            return Ok(());
        }
    }
}

/// The effect of a served BLMOVE/BRPOPLPUSH: LMOVE/RPOPLPUSH.
pub(crate) fn propagate_move(
    ctx: &mut Ctx<'_>,
    src: &[u8],
    dst: &[u8],
    from: bool,
    to: bool,
    rpoplpush: bool,
) {
    if rpoplpush {
        ctx.propagate(&[b"RPOPLPUSH", src, dst]);
    } else {
        let name = |front: bool| -> &'static [u8] {
            if front {
                b"LEFT"
            } else {
                b"RIGHT"
            }
        };
        ctx.propagate(&[b"LMOVE", src, dst, name(from), name(to)]);
    }
}

/// `BLMPOP timeout numkeys key [key …] LEFT|RIGHT [COUNT count]`
pub fn blmpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (first, n, front, count) = mpop_args(argv, 2)?;
    let timeout = Timeout::parse(argv.get(1), ctx.now_ms)?;
    let keys = first..first + n;
    loop {
        if mpop_first(ctx, keys.clone().map(|i| argv.get(i)), front, count)? {
            return Ok(());
        }
        if !blocking::wait_or_retry(ctx, argv, keys.clone(), timeout, Reply::null_array) {
            return Ok(());
        }
    }
}
