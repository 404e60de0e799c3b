//! Persistence commands: SAVE, BGSAVE, BGREWRITEAOF (LASTSAVE and SHUTDOWN are
//! server commands that read the same state).

use std::sync::atomic::Ordering;

use super::{is, Argv, CmdError, CmdResult, Ctx};
use crate::persist::save::SaveError;

/// `SAVE`: writes the RDB file before answering (other clients keep going).
pub fn save_cmd(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    if ctx.srv.persistence.rdb.in_progress.load(Ordering::Acquire) {
        return Err(CmdError::err("Background save already in progress"));
    }
    let srv = ctx.srv;
    let services = ctx.services()?;
    match crate::node::blocking(|| services.save(srv)) {
        Ok(_) => {
            ctx.out.ok();
            Ok(())
        }
        Err(SaveError::Busy) => Err(CmdError::err("Background save already in progress")),
        Err(SaveError::Io(_)) => Err(CmdError::Other("ERR".into())),
    }
}

/// `BGSAVE [SCHEDULE]`
pub fn bgsave(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let schedule = match argv.opt(1) {
        None => false,
        Some(a) if is(a, "SCHEDULE") && argv.len() == 2 => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    let p = &ctx.srv.persistence;
    if p.rdb.in_progress.load(Ordering::Acquire) {
        return Err(CmdError::err("Background save already in progress"));
    }
    if p.snapshot_busy() {
        if schedule {
            p.rdb.scheduled.store(true, Ordering::Relaxed);
            ctx.out.simple("Background saving scheduled");
            return Ok(());
        }
        return Err(CmdError::err(
            "Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
        ));
    }
    // What remains is a replica's full sync: an RDB snapshot, as Redis's is
    // an RDB child.
    if ctx.srv.keyspace.snapshot_running() {
        return Err(CmdError::err("Background save already in progress"));
    }
    let srv = ctx.srv.me().ok_or(CmdError::Other("ERR".into()))?;
    match ctx.services()?.bgsave(&srv) {
        Ok(()) => {
            ctx.out.simple("Background saving started");
            Ok(())
        }
        Err(SaveError::Busy) => Err(CmdError::err("Background save already in progress")),
        Err(SaveError::Io(_)) => Err(CmdError::Other("ERR".into())),
    }
}

/// `BGREWRITEAOF`
pub fn bgrewriteaof(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let p = &ctx.srv.persistence;
    if p.rewrite.in_progress.load(Ordering::Acquire) {
        return Err(CmdError::err(
            "Background append only file rewriting already in progress",
        ));
    }
    if p.snapshot_busy() {
        p.rewrite.scheduled.store(true, Ordering::Relaxed);
        p.rewrite.consecutive_failures.store(0, Ordering::Relaxed);
        ctx.out
            .simple("Background append only file rewriting scheduled");
        return Ok(());
    }
    let srv = ctx.srv.me().ok_or(CmdError::Other("ERR".into()))?;
    match ctx.services()?.bgrewriteaof(&srv) {
        Ok(()) => {
            ctx.out.simple("Background append only file rewriting started");
            Ok(())
        }
        Err(_) => Err(CmdError::err(
            "Can't execute an AOF background rewriting. Please check the server logs for more information.",
        )),
    }
}
