//! `COMMAND` and its subcommands, all derived from the command table.

use super::spec::{
    command_table, key_flags, BeginSearch, CommandSpec, FindKeys, Flags, KeyFlags, NOKEYS,
};
use super::{is, Argv, CmdError, CmdResult, Ctx};
use crate::glob;
use crate::resp::reply::Reply;

/// `COMMAND` subcommands.
pub static SUBCOMMANDS: &[CommandSpec] = command_table! {
    "count" 2 [LOADING|STALE] NOKEYS, "slow connection" "server" "7.0.0" count, "Returns a count of commands.";
    "docs" -2 [LOADING|STALE] NOKEYS, "slow connection" "server" "7.0.0" docs, "Returns documentary information about one, multiple or all commands.";
    "getkeys" -4 [LOADING|STALE] NOKEYS, "slow connection" "server" "7.0.0" getkeys, "Extracts the key names from an arbitrary command.";
    "getkeysandflags" -4 [LOADING|STALE] NOKEYS, "slow connection" "server" "7.0.0" getkeysandflags, "Extracts the key names and access flags for an arbitrary command.";
    "help" 2 [LOADING|STALE] NOKEYS, "slow connection" "server" "7.0.0" help, "Returns helpful text about the different subcommands.";
    "info" -2 [LOADING|STALE] NOKEYS, "slow connection" "server" "7.0.0" info, "Returns information about one, multiple or all commands.";
    "list" -2 [LOADING|STALE] NOKEYS, "slow connection" "server" "7.0.0" list, "Returns a list of command names.";
};

/// `COMMAND`: every top-level command.
pub fn command(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if argv.len() > 1 {
        return Err(CmdError::UnknownSubcommand {
            sub: String::from_utf8_lossy(argv.get(1)).into_owned(),
            cmd: "COMMAND".into(),
        });
    }
    let top: Vec<&CommandSpec> = super::table::top_level().collect();
    ctx.out.array_len(top.len());
    for c in top {
        write_info(ctx, c, c.name);
    }
    Ok(())
}

fn count(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.out.int(super::table::top_level().count() as i64);
    Ok(())
}

fn find(name: &[u8]) -> Option<(&'static CommandSpec, &'static str)> {
    let (parent, sub) = match name.iter().position(|&c| c == b'|') {
        Some(i) => (&name[..i], Some(&name[i + 1..])),
        None => (name, None),
    };
    let r = crate::commands::table::index().resolve(parent, sub).ok()?;
    // `get|key` names no subcommand: GET has none (resolve treats `key` as
    // an ordinary argument), so it is unknown, as in Redis.
    if sub.is_some() && !r.full_name.contains('|') {
        return None;
    }
    Some((r.spec, r.full_name))
}

fn info(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let names: Vec<&[u8]> = argv.tail(2).iter().collect();
    ctx.out.array_len(names.len());
    for n in names {
        match find(n) {
            Some((spec, full)) => write_info(ctx, spec, full),
            // Redis answers an unknown name with a null bulk string, not a null array.
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// Writes one command's `COMMAND INFO` entry (10 fields, subcommands nested).
fn write_info(ctx: &mut Ctx<'_>, c: &CommandSpec, full: &str) {
    let out = &mut *ctx.out;
    out.array_len(10);
    out.bulk(full.as_bytes());
    out.int(c.arity.0 as i64);
    let mut flags: Vec<&str> = Flags::NAMES
        .iter()
        // Redis hides may_replicate from COMMAND on purpose.
        .filter(|(f, _)| c.flags.has(*f) && *f != Flags::MAY_REPLICATE)
        .map(|(_, n)| *n)
        .collect();
    if c.keys.is_movable() {
        // Redis lists it just before allow_busy.
        let at = flags
            .iter()
            .position(|f| *f == "allow_busy")
            .unwrap_or(flags.len());
        flags.insert(at, "movablekeys");
    }
    out.set_len(flags.len());
    for f in flags {
        out.simple(f);
    }
    let (first, last, step) = c.keys.legacy();
    out.int(first as i64);
    out.int(last as i64);
    out.int(step as i64);
    let cats: Vec<&str> = c.acl.split_whitespace().collect();
    out.set_len(cats.len());
    for cat in cats {
        out.simple(&format!("@{cat}"));
    }
    out.set_len(0);
    write_key_specs(ctx, c);
    let subs = c.subcommands;
    ctx.out.set_len(subs.len());
    for s in subs {
        let name = format!("{}|{}", full, s.name);
        write_info(ctx, s, &name);
    }
}

/// The key specs of `COMMAND INFO` (its 9th field), as Redis 7.0 writes them.
fn write_key_specs(ctx: &mut Ctx<'_>, c: &CommandSpec) {
    let out = &mut *ctx.out;
    out.set_len(c.keys.specs.len());
    for spec in c.keys.specs {
        out.map_len(if spec.notes.is_some() { 4 } else { 3 });
        if let Some(notes) = spec.notes {
            out.bulk(b"notes");
            out.bulk(notes.as_bytes());
        }
        out.bulk(b"flags");
        write_key_flags(out, spec.flags);
        out.bulk(b"begin_search");
        out.map_len(2);
        out.bulk(b"type");
        match spec.begin {
            BeginSearch::Index(pos) => {
                out.bulk(b"index");
                out.bulk(b"spec");
                out.map_len(1);
                out.bulk(b"index");
                out.int(pos as i64);
            }
            BeginSearch::Keyword { keyword, startfrom } => {
                out.bulk(b"keyword");
                out.bulk(b"spec");
                out.map_len(2);
                out.bulk(b"keyword");
                out.bulk(keyword.as_bytes());
                out.bulk(b"startfrom");
                out.int(startfrom as i64);
            }
            BeginSearch::Unknown => write_unknown(out),
        }
        out.bulk(b"find_keys");
        out.map_len(2);
        out.bulk(b"type");
        match spec.find {
            FindKeys::Range {
                lastkey,
                step,
                limit,
            } => write_spec_fields(
                out,
                b"range",
                [("lastkey", lastkey), ("keystep", step), ("limit", limit)],
            ),
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                step,
            } => write_spec_fields(
                out,
                b"keynum",
                [
                    ("keynumidx", keynumidx),
                    ("firstkey", firstkey),
                    ("keystep", step),
                ],
            ),
            FindKeys::Unknown => write_unknown(out),
        }
    }
}

/// A find_keys map after its `type` key: the type's name, then its `spec` of
/// three numbers.
fn write_spec_fields(out: &mut Reply, kind: &[u8], fields: [(&str, i32); 3]) {
    out.bulk(kind);
    out.bulk(b"spec");
    out.map_len(fields.len());
    for (name, value) in fields {
        out.bulk(name.as_bytes());
        out.int(value as i64);
    }
}

/// A begin_search or find_keys map after its `type` key, for an unknown one.
fn write_unknown(out: &mut Reply) {
    out.bulk(b"unknown");
    out.bulk(b"spec");
    out.map_len(0);
}

/// Key-spec flags as the set of their names.
fn write_key_flags(out: &mut Reply, flags: KeyFlags) {
    let names = key_flags::NAMES.iter().filter(|(f, _)| flags & f != 0);
    out.set_len(names.clone().count());
    for (_, name) in names {
        out.simple(name);
    }
}

fn docs(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let wanted: Vec<(&'static CommandSpec, &'static str)> = if argv.len() == 2 {
        super::table::top_level().map(|c| (c, c.name)).collect()
    } else {
        argv.tail(2).iter().filter_map(|n| find(n)).collect()
    };
    ctx.out.map_len(wanted.len());
    for (c, full) in wanted {
        write_doc(ctx, c, full);
    }
    Ok(())
}

fn write_doc(ctx: &mut Ctx<'_>, c: &CommandSpec, full: &str) {
    ctx.out.bulk(full.as_bytes());
    let has_subs = !c.subcommands.is_empty();
    ctx.out.map_len(if has_subs { 4 } else { 3 });
    ctx.out.bulk(b"summary");
    ctx.out.bulk(c.summary.as_bytes());
    ctx.out.bulk(b"since");
    ctx.out.bulk(c.since.as_bytes());
    ctx.out.bulk(b"group");
    ctx.out.bulk(c.group.as_bytes());
    if has_subs {
        ctx.out.bulk(b"subcommands");
        ctx.out.map_len(c.subcommands.len());
        for s in c.subcommands {
            let name = format!("{}|{}", full, s.name);
            write_doc(ctx, s, &name);
        }
    }
}

fn getkeys(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    write_keys_of(ctx, argv, false)
}

fn getkeysandflags(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    write_keys_of(ctx, argv, true)
}

/// `COMMAND GETKEYS` / `GETKEYSANDFLAGS`: the keys of the command in
/// `argv[2..]`, with their flags when asked, checked in Redis's order.
fn write_keys_of(ctx: &mut Ctx<'_>, argv: &Argv<'_>, with_flags: bool) -> CmdResult {
    let inner = argv.tail(2);
    let r = crate::commands::table::index()
        .resolve(inner.get(0), inner.opt(1))
        .map_err(|_| CmdError::err("Invalid command specified"))?;
    if !r.spec.keys.has_keys() {
        return Err(CmdError::err("The command has no key arguments"));
    }
    if !r.spec.arity.accepts(inner.len()) {
        return Err(CmdError::err(
            "Invalid number of arguments specified for command",
        ));
    }
    let mut keys: Vec<(usize, KeyFlags)> = Vec::new();
    r.spec
        .keys
        .each_with_flags(&inner, &mut |i, flags| keys.push((i, flags)));
    if keys.is_empty() && !r.spec.flags.has(Flags::NO_MANDATORY_KEYS) {
        return Err(CmdError::err("Invalid arguments specified for command"));
    }
    let out = &mut *ctx.out;
    out.array_len(keys.len());
    for (i, flags) in keys {
        if with_flags {
            out.array_len(2);
            out.bulk(inner.get(i));
            write_key_flags(out, flags);
        } else {
            out.bulk(inner.get(i));
        }
    }
    Ok(())
}

fn list(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut names: Vec<&str> = crate::commands::table::index()
        .entries()
        .map(|(_, _, n)| n)
        .collect();
    if argv.len() > 2 {
        if argv.len() != 5 || !is(argv.get(2), "FILTERBY") {
            return Err(CmdError::Syntax);
        }
        let (kind, arg) = (argv.get(3), argv.get(4));
        if is(kind, "PATTERN") {
            names.retain(|n| glob::matches(arg, n.as_bytes(), true));
        } else if is(kind, "ACLCAT") {
            let cat = String::from_utf8_lossy(arg).to_ascii_lowercase();
            let specs: Vec<_> = crate::commands::table::index().entries().collect();
            names = specs
                .into_iter()
                .filter(|(_, s, _)| s.acl.split_whitespace().any(|c| c == cat))
                .map(|(_, _, n)| n)
                .collect();
        } else if is(kind, "MODULE") {
            names.clear();
        } else {
            return Err(CmdError::Syntax);
        }
    }
    ctx.out.array_len(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

fn help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let lines = [
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
    ];
    super::server::help(ctx, "COMMAND", &lines)
}
