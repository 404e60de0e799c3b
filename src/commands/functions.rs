//! `FUNCTION` over an empty function library. Scripting arrives later; until then
//! the library has no libraries, which tools that copy libraries between nodes
//! (`redis-cli --cluster add-node`) and Redis's test harness (`FUNCTION FLUSH`
//! before each unit) handle like any empty server.

use super::server::{container, help};
use super::spec::{command_table, CommandSpec, NOKEYS};
use super::{is, Argv, CmdError, CmdResult, Ctx};
use crate::persist;

/// `FUNCTION` subcommands.
pub static SUBCOMMANDS: &[CommandSpec] = command_table! {
    "dump" 2 [NOSCRIPT] NOKEYS, "slow scripting" "server" "7.0.0" dump, "Dumps all libraries into a serialized binary payload.";
    "flush" -2 [WRITE|NOSCRIPT] NOKEYS, "write slow scripting" "server" "7.0.0" flush, "Deletes all libraries and functions.";
    "help" 2 [LOADING|STALE] NOKEYS, "slow scripting" "server" "7.0.0" help_cmd, "Returns helpful text about the different subcommands.";
    "list" -2 [NOSCRIPT] NOKEYS, "slow scripting" "server" "7.0.0" list, "Returns information about all libraries.";
    "restore" -3 [WRITE|DENYOOM|NOSCRIPT] NOKEYS, "write slow scripting" "server" "7.0.0" restore, "Restores all libraries from a payload.";
};

/// The container's handler (a missing or unknown subcommand).
pub fn function(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    container(ctx, argv)
}

fn dump(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.out.bulk(&persist::empty_payload());
    Ok(())
}

fn flush(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    match argv.opt(2) {
        None => {}
        Some(m) if argv.len() == 3 && (is(m, "ASYNC") || is(m, "SYNC")) => {}
        Some(_) => {
            return Err(CmdError::err(
                "FUNCTION FLUSH only supports SYNC|ASYNC option",
            ))
        }
    }
    ctx.out.ok();
    Ok(())
}

fn list(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut i = 2;
    while i < argv.len() {
        let a = argv.get(i);
        if is(a, "WITHCODE") {
            i += 1;
        } else if is(a, "LIBRARYNAME") && i + 1 < argv.len() {
            i += 2;
        } else {
            return Err(CmdError::err(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(a)
            )));
        }
    }
    ctx.out.array_len(0);
    Ok(())
}

fn restore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if let Some(policy) = argv.opt(3) {
        if argv.len() > 4 || !(is(policy, "FLUSH") || is(policy, "APPEND") || is(policy, "REPLACE"))
        {
            return Err(CmdError::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ));
        }
    }
    let payload = argv.get(2);
    persist::verify(payload).map_err(|_| CmdError::err("payload version or checksum are wrong"))?;
    if payload.len() > persist::FOOTER_LEN {
        // A payload that carries libraries: there is no script engine to load them.
        return Err(CmdError::err(
            "function libraries cannot be restored: scripting is not available",
        ));
    }
    ctx.out.ok();
    Ok(())
}

fn help_cmd(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    help(
        ctx,
        "FUNCTION",
        &[
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries (none: scripting is not available).",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use crate::commands::testkit::Kit;

    #[test]
    fn empty_library_round_trips_like_redis() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["FUNCTION", "FLUSH"]), "+OK\r\n");
        assert_eq!(k.run(&["FUNCTION", "LIST"]), "*0\r\n");
        // Redis 7.0.15's DUMP of an empty library: RDB version 10 + CRC64.
        let want: &[u8] = b"\x0a\x00\x5d\x9b\x5c\x40\x0f\x7f\xa2\xda";
        assert_eq!(crate::persist::empty_payload(), want);
        assert!(k.run(&["FUNCTION", "DUMP"]).starts_with("$10\r\n"));
        assert_eq!(
            k.run(&["FUNCTION", "FLUSH", "BAD"]),
            "-ERR FUNCTION FLUSH only supports SYNC|ASYNC option\r\n"
        );
        assert_eq!(k.run_bytes(&[b"FUNCTION", b"RESTORE", want]), "+OK\r\n");
        assert!(k
            .run(&["FUNCTION", "RESTORE", "garbage-bytes-here"])
            .starts_with("-ERR payload version"));
    }
}
