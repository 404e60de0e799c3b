//! Moving a value to another name or database: RENAME, RENAMENX, COPY, MOVE.

use crate::commands::args::ArgCursor;
use crate::commands::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::GENERIC;
use crate::store::access;
use crate::store::Entry;

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
        m.slot(db, dst).put_entry(dst, entry.into_entry());
        ctx.propagate_verbatim(argv);
        ctx.notify(GENERIC, "rename_from", src);
        ctx.notify(GENERIC, "rename_to", dst);
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
    let mut args = ArgCursor::new(argv, 3);
    while let Some(a) = args.next_word() {
        if is(a, "REPLACE") {
            replace = true;
        } else if is(a, "DB") && args.has_value() {
            let db = args.value()?;
            if ctx.srv.cluster.is_some() {
                if parse_i64(db)? != src_db as i64 {
                    return Err(CmdError::err(
                        "Copying to another database is not allowed in cluster mode",
                    ));
                }
            } else {
                dst_db = parse_db(ctx, db)?;
            }
        } else {
            return Err(CmdError::Syntax);
        }
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
    let (value, expire_at) = (e.value().to_value(), e.expire_at());
    let target = m.slot(dst_db, dst);
    if target.get_mut(dst).is_some() && !replace {
        drop(m);
        ctx.out.int(0);
        return Ok(());
    }
    // A copy is a new object: fresh access metadata, same TTL.
    let access = access::initial_access(ks.policy());
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
    ctx.srv
        .notify_keyspace_event(dst_db, GENERIC, "copy_to", dst);
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
            m.slot(dst_db, key).put_entry(key, entry.into_entry());
            ctx.propagate_verbatim(argv);
            let srv = ctx.srv;
            srv.notify_keyspace_event(src_db, GENERIC, "move_from", key);
            srv.notify_keyspace_event(dst_db, GENERIC, "move_to", key);
        }
    }
    drop(m);
    ctx.out.int(moved as i64);
    Ok(())
}
