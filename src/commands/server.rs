//! Server commands: DBSIZE, FLUSHDB, FLUSHALL, TIME, INFO, CONFIG, CLIENT, SLOWLOG,
//! MEMORY, MONITOR, LATENCY, DEBUG, SHUTDOWN, LASTSAVE.

mod info;

pub use info::info;

use super::{is, Argv, CmdError, CmdResult, Ctx};

/// `DBSIZE`
pub fn dbsize(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let n = ctx.srv.keyspace.db(ctx.client.db).len();
    ctx.out.int(n as i64);
    Ok(())
}

/// Validates the optional `SYNC|ASYNC` argument of FLUSHDB/FLUSHALL.
fn flush_mode(argv: &Argv<'_>) -> CmdResult {
    match argv.len() {
        1 => Ok(()),
        2 if is(argv.get(1), "SYNC") || is(argv.get(1), "ASYNC") => Ok(()),
        _ => Err(CmdError::Syntax),
    }
}

/// `FLUSHDB [SYNC|ASYNC]`
pub fn flushdb(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    flush_mode(argv)?;
    ctx.srv.keyspace.flush_db(ctx.client.db);
    ctx.propagate(&[b"FLUSHDB"]);
    ctx.out.ok();
    Ok(())
}

/// `FLUSHALL [SYNC|ASYNC]`
pub fn flushall(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    flush_mode(argv)?;
    for db in 0..ctx.srv.keyspace.db_count() {
        ctx.srv.keyspace.flush_db(db);
    }
    ctx.propagate(&[b"FLUSHALL"]);
    ctx.out.ok();
    Ok(())
}

/// `TIME`
pub fn time(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ctx.out.array_len(2);
    ctx.out.bulk(now.as_secs().to_string().as_bytes());
    ctx.out.bulk(now.subsec_micros().to_string().as_bytes());
    Ok(())
}
