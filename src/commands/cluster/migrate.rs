//! `MIGRATE`: moves keys to another node (or instance) with `DUMP`-format
//! payloads and `RESTORE` (`RESTORE-ASKING` in cluster mode), deleting them
//! here once the target acknowledged them, unless `COPY`.

use std::time::Duration;

use crate::cluster::migrate::{Batch, MigrateError};
use crate::commands::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::GENERIC;
use crate::persist;

/// MIGRATE's keys: the key argument, or everything after `KEYS` when it is empty
/// (Redis's `migrateGetKeys`, which skips over AUTH/AUTH2 values).
pub fn migrate_keys(argv: &Argv<'_>, f: &mut dyn FnMut(usize)) {
    let mut i = 6;
    while i < argv.len() {
        let a = argv.get(i);
        if is(a, "KEYS") {
            if !argv.get(3).is_empty() {
                return;
            }
            for k in i + 1..argv.len() {
                f(k);
            }
            return;
        }
        if is(a, "AUTH") {
            i += 1;
        } else if is(a, "AUTH2") {
            i += 2;
        }
        i += 1;
    }
    if argv.len() > 3 {
        f(3);
    }
}

/// MIGRATE's options.
#[derive(Default)]
struct MigrateOpts<'a> {
    copy: bool,
    replace: bool,
    auth: Option<Vec<&'a [u8]>>,
    first_key: usize,
    num_keys: usize,
}

fn parse_migrate<'a>(argv: &Argv<'a>) -> Result<MigrateOpts<'a>, CmdError> {
    let mut o = MigrateOpts {
        first_key: 3,
        num_keys: 1,
        ..MigrateOpts::default()
    };
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let a = argv.get(j);
        if is(a, "COPY") {
            o.copy = true;
        } else if is(a, "REPLACE") {
            o.replace = true;
        } else if is(a, "AUTH") {
            if more < 1 {
                return Err(CmdError::Syntax);
            }
            o.auth = Some(vec![argv.get(j + 1)]);
            j += 1;
        } else if is(a, "AUTH2") {
            if more < 2 {
                return Err(CmdError::Syntax);
            }
            o.auth = Some(vec![argv.get(j + 1), argv.get(j + 2)]);
            j += 2;
        } else if is(a, "KEYS") {
            if !argv.get(3).is_empty() {
                return Err(CmdError::err(
                    "When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            o.first_key = j + 1;
            o.num_keys = argv.len() - j - 1;
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// `MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS key…]`
pub fn migrate(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let o = parse_migrate(argv)?;
    let timeout = parse_i64(argv.get(5))?;
    let db = parse_i64(argv.get(4))?;
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    let keys: Vec<&[u8]> = (o.first_key..o.first_key + o.num_keys)
        .map(|i| argv.get(i))
        .collect();
    let dbi = ctx.client.db;
    let now = ctx.now_ms;
    let mut m = ctx.lock_keys(keys.iter().copied());
    let mut found: Vec<(&[u8], Vec<u8>, String)> = Vec::new();
    for &k in &keys {
        let g = m.slot(dbi, k);
        let Some(e) = g.get(k) else { continue };
        let ttl = if e.expire_at() == 0 {
            0
        } else if e.expire_at() <= now {
            continue;
        } else {
            (e.expire_at() - now).max(1)
        };
        found.push((k, persist::dump(e.value()), ttl.to_string()));
    }
    if found.is_empty() {
        drop(m);
        ctx.out.simple("NOKEY");
        return Ok(());
    }
    // In cluster mode the gate holds the slot's fence exclusively for
    // MIGRATE, so no client command touches these keys until it returns:
    // their slot lock is let go for the exchange, which can wait up to the
    // timeout. Held, it would stall a snapshot's start (every slot lock, in
    // order) and with it every command on the slots below. Only expiry and
    // eviction can remove a key meanwhile; the delete below sees that.
    // Without cluster mode there is no fence: the keys stay locked.
    let fenced = ctx.srv.cluster.is_some();
    let held = if fenced {
        drop(m);
        None
    } else {
        Some(m)
    };
    let restore: &[u8] = if fenced {
        b"RESTORE-ASKING"
    } else {
        b"RESTORE"
    };
    let batch = Batch {
        auth: o.auth.clone(),
        db,
        restores: found
            .iter()
            .map(|(k, payload, ttl)| {
                let mut r: Vec<&[u8]> = vec![restore, k, ttl.as_bytes(), payload];
                if o.replace {
                    r.push(b"REPLACE");
                }
                r
            })
            .collect(),
    };
    let host = String::from_utf8_lossy(argv.get(1)).into_owned();
    let port: u16 = std::str::from_utf8(argv.get(2))
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let pool = &ctx.srv.migrate;
    let replies = crate::node::blocking(|| pool.migrate(&host, port, timeout, &batch))
        .map_err(|e: MigrateError| CmdError::Other(e.message().into()))?;
    let mut m = match held {
        Some(m) => m,
        None => ctx.lock_keys(keys.iter().copied()),
    };
    let mut error = None;
    let setup_error = replies
        .auth
        .iter()
        .chain(replies.select.iter())
        .find(|l| l.starts_with('-'))
        .cloned();
    let mut deleted: Vec<&[u8]> = vec![b"DEL"];
    for ((k, _, _), reply) in found.iter().zip(&replies.restores) {
        if let Some(l) = setup_error
            .as_ref()
            .or_else(|| reply.starts_with('-').then_some(reply))
        {
            error.get_or_insert_with(|| l[1..].to_string());
        } else if !o.copy && m.slot(dbi, k).remove(k).is_some() {
            // A key that expired or was evicted during the exchange was
            // deleted (and its DEL propagated) by that: not again here.
            ctx.notify(GENERIC, "del", k);
            deleted.push(k);
        }
    }
    if deleted.len() > 1 {
        ctx.propagate(&deleted);
    }
    drop(m);
    // As Redis: the target's error first; else an I/O error, after deleting
    // the keys whose RESTORE was acknowledged before it.
    match (error, replies.failure) {
        (Some(e), _) => Err(CmdError::err(format!(
            "Target instance replied with error: {e}"
        ))),
        (None, Some(f)) => Err(CmdError::Other(f.error.message().into())),
        (None, None) => {
            ctx.out.ok();
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::{argv_of, Kit};

    #[test]
    fn migrate_arguments() {
        let mut k = Kit::new();
        assert_eq!(
            k.run(&["MIGRATE", "127.0.0.1", "1", "k", "0", "100", "KEYS", "a"]),
            "-ERR When using MIGRATE KEYS option, the key argument must be set to the empty string\r\n"
        );
        assert_eq!(
            k.run(&["MIGRATE", "127.0.0.1", "1", "k", "0", "100", "AUTH"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            k.run(&["MIGRATE", "127.0.0.1", "1", "k", "0", "100"]),
            "+NOKEY\r\n"
        );
        k.run(&["SET", "k", "v"]);
        assert_eq!(
            k.run(&["MIGRATE", "127.0.0.1", "1", "k", "0", "100"]),
            "-IOERR error or timeout connecting to the client\r\n"
        );
        assert_eq!(
            k.run(&["GET", "k"]),
            "$1\r\nv\r\n",
            "a failed MIGRATE keeps the key"
        );
        let (src, ranges) = argv_of(&[
            "MIGRATE", "h", "1", "", "0", "5", "AUTH2", "u", "KEYS", "KEYS", "a", "b",
        ]);
        let argv = Argv::new(&src, &ranges);
        let mut got = Vec::new();
        migrate_keys(&argv, &mut |i| got.push(i));
        assert_eq!(
            got,
            vec![10, 11],
            "AUTH2's values are skipped, even one spelled KEYS"
        );
    }
}
