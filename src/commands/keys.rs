//! Generic key commands: DEL, EXISTS, TYPE, expiry, renames, copies, iteration,
//! OBJECT, DUMP/RESTORE.

use super::{Argv, CmdResult, Ctx};

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
