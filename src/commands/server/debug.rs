//! `DEBUG SLEEP|OBJECT|SET-ACTIVE-EXPIRE|DIGEST|DIGEST-VALUE|HELP`: the subset
//! test suites and `redis-cli --cluster` rely on.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::help;
use crate::commands::{is, parse_f64, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::store::{access, digest, Record, ValueRef};

/// `DEBUG subcommand …` (DEBUG is not a container in Redis: it parses its own words).
pub fn debug(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let sub = argv.get(1);
    match argv.len() {
        2 if is(sub, "HELP") => debug_help(ctx),
        3 if is(sub, "SLEEP") => sleep(ctx, argv.get(2)),
        3 if is(sub, "OBJECT") => object(ctx, argv.get(2)),
        2 if is(sub, "DIGEST") => {
            let d = digest::dataset_digest(&ctx.srv.keyspace, ctx.now_ms);
            ctx.out.simple(&digest::hex(&d));
            Ok(())
        }
        _ if is(sub, "DIGEST-VALUE") => {
            let db = ctx.client.db;
            ctx.out.array_len(argv.len() - 2);
            for key in argv.tail(2).iter() {
                let d = ctx
                    .srv
                    .keyspace
                    .lock_key(db, key, ctx.now_ms)
                    .stored(key)
                    .map_or([0u8; 20], digest::value_digest);
                ctx.out.simple(&digest::hex(&d));
            }
            Ok(())
        }
        3 if is(sub, "SET-ACTIVE-EXPIRE") => {
            let on = parse_i64(argv.get(2))? != 0;
            ctx.srv.hot.active_expire.store(on, Ordering::Relaxed);
            ctx.out.ok();
            Ok(())
        }
        _ => Err(CmdError::UnknownSubcommand {
            sub: String::from_utf8_lossy(sub).into_owned(),
            cmd: "DEBUG".into(),
        }),
    }
}

/// Sleeps for the given seconds in the command: a slow command, which holds
/// what commands hold (the keyspace, shared) as Redis blocks its event loop.
/// The worker hands its other tasks on first, so the bus and replication
/// keep running as they would beside a slow command in Redis's threads.
fn sleep(ctx: &mut Ctx<'_>, secs: &[u8]) -> CmdResult {
    // Redis reads the value with strtod and never complains.
    let secs = parse_f64(secs).unwrap_or(0.0);
    if secs > 0.0 && secs.is_finite() {
        crate::node::blocking(|| std::thread::sleep(Duration::from_secs_f64(secs.min(3600.0))));
    }
    ctx.out.ok();
    Ok(())
}

/// Length of the value's RDB payload, uncompressed (`serializedlength`).
fn serialized_len(v: ValueRef<'_>) -> usize {
    let mut body = Vec::new();
    crate::persist::rdb::write_value(&mut body, v, false);
    body.len()
}

/// The `DEBUG OBJECT` status line.
pub fn object_line(entry: &Record) -> String {
    format!(
        "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
        entry.as_ptr(),
        entry.value().encoding(),
        serialized_len(entry.value()),
        entry.access() & 0xFF_FFFF,
        access::idle_seconds(entry.access())
    )
}

fn object(ctx: &mut Ctx<'_>, key: &[u8]) -> CmdResult {
    let mut slot = ctx.lock(key);
    let line = slot.peek(key).map(object_line).ok_or(CmdError::NoSuchKey)?;
    drop(slot);
    ctx.out.simple(&line);
    Ok(())
}

fn debug_help(ctx: &mut Ctx<'_>) -> CmdResult {
    help(
        ctx,
        "DEBUG",
        &[
            "DIGEST",
            "    Output a hex signature representing the current DB content.",
            "DIGEST-VALUE <key> [<key> ...]",
            "    Output a hex signature of the values of all the specified keys.",
            "OBJECT <key>",
            "    Show low level info about `key` and associated value.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Value;

    #[test]
    fn serialized_lengths_follow_rdb_encoding() {
        assert_eq!(serialized_len(Value::string(b"bar").as_ref()), 4);
        assert_eq!(serialized_len(Value::int(100).as_ref()), 2);
        assert_eq!(serialized_len(Value::int(1000).as_ref()), 3);
        assert_eq!(serialized_len(Value::int(100_000).as_ref()), 5);
        assert_eq!(serialized_len(Value::raw(vec![b'x'; 100]).as_ref()), 102);
    }

    #[test]
    fn object_line_shape() {
        let e = Record::new(b"k", Value::string(b"bar"), 0, access::lru_clock());
        let l = object_line(&e);
        assert!(l.starts_with("Value at:0x"), "{l}");
        assert!(
            l.contains(" refcount:1 encoding:embstr serializedlength:4 lru:"),
            "{l}"
        );
        assert!(l.ends_with(" lru_seconds_idle:0"), "{l}");
    }
}
