//! FUNCTION and FCALL: Redis 7 function libraries (`crate::script::functions`
//! runs them). A library change is a write that replicates as the command
//! itself; snapshots carry the libraries (RDB function opcode, FUNCTION LOAD
//! at the top of a rewritten AOF), and FUNCTION DUMP/RESTORE move them
//! between servers in Redis's payload format.

use super::scripting::{check_numkeys, kill, run_prepared};
use super::server::{container, help};
use super::spec::{command_table, CommandSpec, NOKEYS};
use super::{is, Argv, CmdError, CmdResult, Ctx};
use crate::node::{FunctionCodes, Server};
use crate::persist;
use crate::script::functions::{library_name, Functions};
use crate::script::RunKind;

// FCALL's key specs are EVAL's, remark included, as in Redis 7.0.
use super::scripting::{KS_EVAL as KS_FCALL, KS_EVAL_RO as KS_FCALL_RO};

/// FCALL and FCALL_RO.
pub static COMMANDS: &[CommandSpec] = command_table! {
    "fcall" -3 [NOSCRIPT|SKIP_MONITOR|MAY_REPLICATE|NO_MANDATORY_KEYS|STALE|ALONE] KS_FCALL, "slow scripting" "scripting" "7.0.0" fcall, "Invokes a function.";
    "fcall_ro" -3 [NOSCRIPT|SKIP_MONITOR|NO_MANDATORY_KEYS|STALE|READONLY|ALONE] KS_FCALL_RO, "slow scripting" "scripting" "7.0.0" fcall_ro, "Invokes a read-only function.";
};

/// `FUNCTION` subcommands.
pub static SUBCOMMANDS: &[CommandSpec] = command_table! {
    "delete" 3 [NOSCRIPT|WRITE] NOKEYS, "write slow scripting" "scripting" "7.0.0" delete, "Deletes a library and its functions.";
    "dump" 2 [NOSCRIPT] NOKEYS, "slow scripting" "scripting" "7.0.0" dump, "Dumps all libraries into a serialized binary payload.";
    "flush" -2 [NOSCRIPT|WRITE] NOKEYS, "write slow scripting" "scripting" "7.0.0" flush, "Deletes all libraries and functions.";
    "help" 2 [LOADING|STALE] NOKEYS, "slow scripting" "scripting" "7.0.0" help_cmd, "Returns helpful text about the different subcommands.";
    "kill" 2 [NOSCRIPT|ALLOW_BUSY] NOKEYS, "slow scripting" "scripting" "7.0.0" function_kill, "Terminates a function during execution.";
    "list" -2 [NOSCRIPT] NOKEYS, "slow scripting" "scripting" "7.0.0" list, "Returns information about all libraries.";
    "load" -3 [NOSCRIPT|WRITE|DENYOOM] NOKEYS, "write slow scripting" "scripting" "7.0.0" load, "Creates a library.";
    "restore" -3 [NOSCRIPT|WRITE|DENYOOM] NOKEYS, "write slow scripting" "scripting" "7.0.0" restore, "Restores all libraries from a payload.";
    "stats" 2 [NOSCRIPT|ALLOW_BUSY] NOKEYS, "slow scripting" "scripting" "7.0.0" stats, "Returns information about a function during execution.";
};

/// The container's handler (a missing or unknown subcommand).
pub fn function(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    container(ctx, argv)
}

/// The libraries, made on first use.
fn functions(srv: &Server) -> Result<parking_lot::MappedMutexGuard<'_, Functions>, CmdError> {
    let mut g = srv.functions.lock();
    if g.is_none() {
        *g = Some(Functions::new(srv.script_watch.clone()).map_err(CmdError::err)?);
    }
    parking_lot::MutexGuard::try_map(g, |f| f.as_mut()).map_err(|_| CmdError::err("no engine"))
}

/// Copies the libraries' codes where snapshots and FUNCTION STATS read them.
fn publish(srv: &Server, f: &Functions) {
    let codes = f.libraries().map(|l| l.code.clone()).collect();
    *srv.function_codes.write() = FunctionCodes {
        codes,
        functions: f.counts().1,
    };
}

/// Replaces every library with those of `codes` (an RDB being loaded, a
/// full resync); nothing changes when one of them fails to load.
pub fn install(srv: &Server, codes: &[Vec<u8>]) -> Result<(), String> {
    let mut g = srv.functions.lock();
    if codes.is_empty() && g.as_ref().is_none_or(|f| f.counts().0 == 0) {
        return Ok(());
    }
    let fresh = build(srv, codes.iter().map(|c| c.as_slice()))?;
    publish(srv, &fresh);
    *g = Some(fresh);
    Ok(())
}

/// A new set of libraries loaded from `codes`, in order.
fn build<'c>(srv: &Server, codes: impl Iterator<Item = &'c [u8]>) -> Result<Functions, String> {
    let mut f = Functions::new(srv.script_watch.clone())?;
    for code in codes {
        f.load(code, false)?;
    }
    Ok(f)
}

/// Number of libraries and functions (INFO, FUNCTION STATS), and the
/// interpreter's bytes if it exists.
pub fn usage(srv: &Server) -> (usize, usize, usize) {
    let c = srv.function_codes.read();
    let lua = srv
        .functions
        .try_lock()
        .and_then(|g| g.as_ref().map(|f| f.lua_memory()))
        .unwrap_or(0);
    (c.codes.len(), c.functions, lua)
}

fn fcall(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    call(ctx, argv, false)
}

fn fcall_ro(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    call(ctx, argv, true)
}

fn call(ctx: &mut Ctx<'_>, argv: &Argv<'_>, ro: bool) -> CmdResult {
    ctx.srv
        .feed_monitors(ctx.client.db, &ctx.client.info.addr, argv.iter());
    let srv = ctx.srv;
    let mut f = functions(srv)?;
    let name = String::from_utf8_lossy(argv.get(1)).into_owned();
    let flags = f
        .function(&name)
        .map(|(_, def)| def.flags)
        .ok_or_else(|| CmdError::err("Function not found"))?;
    let numkeys =
        super::parse_i64(argv.get(2)).map_err(|_| CmdError::err("Bad number of keys provided"))?;
    let n = check_numkeys(numkeys, argv)?;
    run_prepared(
        ctx,
        argv,
        n,
        flags,
        ro,
        RunKind::Function,
        |host, out, keys, args| f.call(&name, keys, args, host, out),
    )
}

fn load(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut replace = false;
    let mut i = 2;
    while i < argv.len() - 1 {
        if is(argv.get(i), "REPLACE") {
            replace = true;
            i += 1;
        } else {
            return Err(CmdError::err(format!(
                "Unknown option given: {}",
                String::from_utf8_lossy(argv.get(i))
            )));
        }
    }
    if i != argv.len() - 1 {
        return Err(CmdError::err("Function code is missing"));
    }
    let srv = ctx.srv;
    let mut f = functions(srv)?;
    let name = f.load(argv.get(i), replace).map_err(CmdError::Other)?;
    publish(srv, &f);
    drop(f);
    ctx.propagate_verbatim(argv);
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

fn delete(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let srv = ctx.srv;
    let mut f = functions(srv)?;
    let name = String::from_utf8_lossy(argv.get(2));
    if !f.remove(&name) {
        return Err(CmdError::err("Library not found"));
    }
    publish(srv, &f);
    drop(f);
    ctx.propagate_verbatim(argv);
    ctx.out.ok();
    Ok(())
}

/// Redis's reply to a FUNCTION subcommand given too many arguments.
fn syntax_error(argv: &Argv<'_>) -> CmdError {
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        String::from_utf8_lossy(argv.get(1))
    ))
}

fn flush(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if argv.len() > 3 {
        return Err(syntax_error(argv));
    }
    match argv.opt(2) {
        None => {}
        Some(m) if argv.len() == 3 && (is(m, "ASYNC") || is(m, "SYNC")) => {}
        Some(_) => {
            return Err(CmdError::err(
                "FUNCTION FLUSH only supports SYNC|ASYNC option",
            ))
        }
    }
    let srv = ctx.srv;
    install(srv, &[]).map_err(CmdError::err)?;
    ctx.propagate_verbatim(argv);
    ctx.out.ok();
    Ok(())
}

fn dump(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let codes = srv_codes(ctx.srv);
    let refs: Vec<&[u8]> = codes.iter().map(|c| c.as_slice()).collect();
    ctx.out.bulk(&persist::function_payload(&refs));
    Ok(())
}

fn srv_codes(srv: &Server) -> Vec<Vec<u8>> {
    srv.function_codes.read().codes.clone()
}

fn restore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    #[derive(PartialEq)]
    enum Policy {
        Flush,
        Append,
        Replace,
    }
    if argv.len() > 4 {
        return Err(syntax_error(argv));
    }
    let policy = match argv.opt(3) {
        None => Policy::Append,
        Some(p) if argv.len() == 4 && is(p, "FLUSH") => Policy::Flush,
        Some(p) if argv.len() == 4 && is(p, "APPEND") => Policy::Append,
        Some(p) if argv.len() == 4 && is(p, "REPLACE") => Policy::Replace,
        Some(_) => {
            return Err(CmdError::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ))
        }
    };
    let incoming =
        persist::read_function_payload(argv.get(2)).map_err(|e| CmdError::err(e.to_string()))?;
    let srv = ctx.srv;
    let mut g = srv.functions.lock();
    let mut merged: Vec<(String, Vec<u8>)> = Vec::new();
    if policy != Policy::Flush {
        if let Some(f) = g.as_ref() {
            merged.extend(f.libraries().map(|l| (l.name.clone(), l.code.clone())));
        }
    }
    for code in incoming {
        let (name, _) = library_name(&code).map_err(CmdError::Other)?;
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some(_) if policy == Policy::Append => {
                return Err(CmdError::err(format!("Library {name} already exists")))
            }
            Some(slot) => slot.1 = code,
            None => merged.push((name, code)),
        }
    }
    let fresh = build(srv, merged.iter().map(|(_, c)| c.as_slice())).map_err(CmdError::Other)?;
    publish(srv, &fresh);
    *g = Some(fresh);
    drop(g);
    ctx.propagate_verbatim(argv);
    ctx.out.ok();
    Ok(())
}

fn list(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (mut with_code, mut pattern) = (false, None);
    let mut i = 2;
    while i < argv.len() {
        let a = argv.get(i);
        if is(a, "WITHCODE") && !with_code {
            with_code = true;
            i += 1;
        } else if is(a, "LIBRARYNAME") && pattern.is_none() {
            pattern = Some(
                argv.opt(i + 1)
                    .ok_or_else(|| CmdError::err("library name argument was not given"))?,
            );
            i += 2;
        } else {
            return Err(CmdError::err(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(a)
            )));
        }
    }
    let f = functions(ctx.srv)?;
    let libs: Vec<_> = f
        .libraries()
        .filter(|l| pattern.is_none_or(|p| crate::glob::matches(p, l.name.as_bytes(), true)))
        .collect();
    let out = &mut *ctx.out;
    out.array_len(libs.len());
    for lib in libs {
        out.map_len(3 + with_code as usize);
        out.bulk(b"library_name");
        out.bulk(lib.name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array_len(lib.functions.len());
        for (name, def) in &lib.functions {
            out.map_len(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"description");
            match &def.description {
                Some(d) => out.bulk(d.as_bytes()),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names = crate::script::shebang::flag_names(def.flags);
            out.set_len(names.len());
            for n in names {
                out.simple(n);
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

fn stats(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let srv = ctx.srv;
    let (libs, funcs, _) = usage(srv);
    let out = &mut *ctx.out;
    out.map_len(2);
    out.bulk(b"running_script");
    match (srv.script_watch.details(), srv.script_watch.running_ms()) {
        (Some((name, command)), Some(ms)) => {
            out.map_len(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"command");
            out.array_len(command.len());
            for a in &command {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.int(ms as i64);
        }
        _ => out.null(),
    }
    out.bulk(b"engines");
    out.map_len(1);
    out.bulk(b"LUA");
    out.map_len(2);
    out.bulk(b"libraries_count");
    out.int(libs as i64);
    out.bulk(b"functions_count");
    out.int(funcs as i64);
    Ok(())
}

fn function_kill(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    kill(ctx, RunKind::Function)
}

fn help_cmd(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    help(
        ctx,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
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
            .starts_with("-ERR DUMP payload version"));
    }

    #[test]
    fn libraries_load_list_call_dump_and_restore() {
        let mut k = Kit::new();
        let code = "#!lua name=lib1\nredis.register_function('f1', function(keys, args) return redis.call('set', keys[1], args[1]) end)";
        assert_eq!(k.run(&["FUNCTION", "LOAD", code]), "$4\r\nlib1\r\n");
        assert_eq!(k.run(&["FCALL", "f1", "1", "k", "v"]), "+OK\r\n");
        assert_eq!(k.run(&["GET", "k"]), "$1\r\nv\r\n");
        assert_eq!(
            k.run(&["FCALL_RO", "f1", "1", "k", "v"]),
            "-ERR Can not execute a script with write flag using *_ro command.\r\n"
        );
        assert_eq!(
            k.run(&["FUNCTION", "LIST"]),
            "*1\r\n*6\r\n$12\r\nlibrary_name\r\n$4\r\nlib1\r\n$6\r\nengine\r\n$3\r\nLUA\r\n$9\r\nfunctions\r\n*1\r\n*6\r\n$4\r\nname\r\n$2\r\nf1\r\n$11\r\ndescription\r\n$-1\r\n$5\r\nflags\r\n*0\r\n"
        );
        let payload = crate::persist::function_payload(&[code.as_bytes()]);
        assert!(k
            .run(&["FUNCTION", "DUMP"])
            .starts_with(&format!("${}\r\n", payload.len())));
        assert_eq!(k.run(&["FUNCTION", "FLUSH"]), "+OK\r\n");
        assert_eq!(k.run(&["FCALL", "f1", "0"]), "-ERR Function not found\r\n");
        assert_eq!(k.run_bytes(&[b"FUNCTION", b"RESTORE", &payload]), "+OK\r\n");
        assert_eq!(
            k.run_bytes(&[b"FUNCTION", b"RESTORE", &payload]),
            "-ERR Library lib1 already exists\r\n"
        );
        assert_eq!(
            k.run_bytes(&[b"FUNCTION", b"RESTORE", &payload, b"REPLACE"]),
            "+OK\r\n"
        );
        assert_eq!(k.run(&["FCALL", "f1", "1", "k", "w"]), "+OK\r\n");
        assert_eq!(k.run(&["FUNCTION", "DELETE", "lib1"]), "+OK\r\n");
        assert_eq!(
            k.run(&["FUNCTION", "DELETE", "lib1"]),
            "-ERR Library not found\r\n"
        );
        // The log carries the library commands and the function's effects.
        let stream = k.stream();
        assert!(
            stream.iter().any(|c| c[0] == "FUNCTION" && c[1] == "LOAD"),
            "{stream:?}"
        );
        assert!(
            stream
                .iter()
                .any(|c| c[0].eq_ignore_ascii_case("set") && c[2] == "w"),
            "{stream:?}"
        );
    }
}
