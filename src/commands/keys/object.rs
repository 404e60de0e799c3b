//! OBJECT and its subcommands: a key's encoding, refcount, idle time, frequency.

use std::sync::atomic::Ordering;

use super::{lossy, peek_counted};
use crate::commands::server::help;
use crate::commands::spec::{command_table, CommandSpec, K2, NOKEYS};
use crate::commands::{Argv, CmdError, CmdResult, Ctx};
use crate::store::access::{self, Policy};
use crate::store::{Record, StrRef, ValueRef};

/// Values Redis shares (and reports with this refcount): integers below 10000.
const SHARED_INTEGERS: i64 = 10_000;
/// `OBJ_SHARED_REFCOUNT`.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// `OBJECT` subcommands, in Redis's order.
pub static OBJECT_SUBCOMMANDS: &[CommandSpec] = command_table! {
    "help" 2 [LOADING|STALE] NOKEYS, "keyspace slow" "generic" "6.2.0" object_help, "Show helpful text about the different subcommands";
    "freq" 3 [READONLY] K2, "keyspace read slow" "generic" "4.0.0" object_freq, "Get the logarithmic access frequency counter of a Redis object";
    "encoding" 3 [READONLY] K2, "keyspace read slow" "generic" "2.2.3" object_encoding, "Inspect the internal encoding of a Redis object";
    "idletime" 3 [READONLY] K2, "keyspace read slow" "generic" "2.2.3" object_idletime, "Get the time since a Redis object was last accessed";
    "refcount" 3 [READONLY] K2, "keyspace read slow" "generic" "2.2.3" object_refcount, "Get the number of references to the value of the key";
};

/// `OBJECT` itself; the table routes every known subcommand, so only an
/// unknown one can land here.
pub fn object(_ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    Err(CmdError::UnknownSubcommand {
        sub: lossy(argv.opt(1).unwrap_or_default()),
        cmd: "OBJECT".into(),
    })
}

/// Looks the key up without touching it; replies nil and returns None when missing.
fn object_lookup<T>(ctx: &mut Ctx<'_>, argv: &Argv<'_>, f: impl FnOnce(&Record) -> T) -> Option<T> {
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
    if let Some(enc) = object_lookup(ctx, argv, |e| e.value().encoding()) {
        ctx.out.bulk(enc.as_bytes());
    }
    Ok(())
}

fn object_refcount(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let shared_ok = ctx.srv.hot.maxmemory.load(Ordering::Relaxed) == 0
        || !matches!(
            ctx.srv.keyspace.policy(),
            Policy::AllKeysLru
                | Policy::VolatileLru
                | Policy::AllKeysLfu
                | Policy::VolatileLfu
                | Policy::AllKeysTinyLfu
                | Policy::VolatileTinyLfu
        );
    let refcount = object_lookup(ctx, argv, |e| match e.value() {
        ValueRef::Str(StrRef::Int(n)) if shared_ok && (0..SHARED_INTEGERS).contains(&n) => {
            SHARED_REFCOUNT
        }
        _ => 1,
    });
    if let Some(n) = refcount {
        ctx.out.int(n);
    }
    Ok(())
}

fn object_idletime(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let Some(access) = object_lookup(ctx, argv, |e| e.access()) else {
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
            ctx.out.int(access::idle_seconds(access) as i64);
            Ok(())
        }
    }
}

fn object_freq(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let Some(access) = object_lookup(ctx, argv, |e| e.access()) else {
        return Ok(());
    };
    if ctx.srv.keyspace.policy().is_tinylfu() {
        // The sketch's estimate (0-15) of how often the key was asked for.
        let freq = ctx.srv.keyspace.frequency(argv.get(2)).unwrap_or(0);
        ctx.out.int(freq as i64);
        return Ok(());
    }
    if !ctx.srv.keyspace.policy().is_lfu() {
        return Err(CmdError::err(
            "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    ctx.out.int(access::lfu_counter(access) as i64);
    Ok(())
}

fn object_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let lines = [
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
    ];
    help(ctx, "OBJECT", &lines)
}
