//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS, XINFO HELP.

use super::{reply_entries, reply_entry, reply_id};
use crate::commands::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::resp::reply::Reply;
use crate::store::types::stream::{Group, StreamId};
use crate::store::types::Stream;

/// `XINFO HELP`
pub fn xinfo_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    crate::commands::server::help(
        ctx,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    )
}

fn subcommand_syntax(argv: &Argv<'_>) -> CmdError {
    let sub = argv.get(1);
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)])
    ))
}

/// Runs `f` on the stream at argument 2 (`ERR no such key` when missing).
fn with_stream(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    f: impl FnOnce(&Stream, &mut Reply, i64) -> CmdResult,
) -> CmdResult {
    let key = argv.get(2);
    let now = ctx.now_ms as i64;
    let mut g = ctx.lock(key);
    let Some(s) = g.read::<Stream>(key)? else {
        return Err(CmdError::NoSuchKey);
    };
    f(s, ctx.out, now)
}

fn lag(out: &mut Reply, s: &Stream, g: &Group) {
    match s.lag(g) {
        Some(n) => out.int(n),
        None => out.null(),
    }
}

fn entries_read(out: &mut Reply, g: &Group) {
    if g.entries_read >= 0 {
        out.int(g.entries_read);
    } else {
        out.null();
    }
}

/// `XINFO CONSUMERS key group`
pub fn xinfo_consumers(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let name = argv.get(3);
    with_stream(ctx, argv, |s, out, now| {
        let Some(g) = s.groups.get(name) else {
            return Err(CmdError::Other(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(argv.get(2))
            )));
        };
        out.array_len(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map_len(3);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"pending");
            out.int(c.pel.len() as i64);
            out.bulk(b"idle");
            out.int(now.saturating_sub(c.seen_time).max(0));
        }
        Ok(())
    })
}

/// `XINFO GROUPS key`
pub fn xinfo_groups(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    with_stream(ctx, argv, |s, out, _| {
        out.array_len(s.groups.len());
        for (name, g) in &s.groups {
            out.map_len(6);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"consumers");
            out.int(g.consumers.len() as i64);
            out.bulk(b"pending");
            out.int(g.pel.len() as i64);
            out.bulk(b"last-delivered-id");
            reply_id(out, g.last_id);
            out.bulk(b"entries-read");
            entries_read(out, g);
            out.bulk(b"lag");
            lag(out, s, g);
        }
        Ok(())
    })
}

/// `XINFO STREAM key [FULL [COUNT count]]`
pub fn xinfo_stream(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let opts = argv.len() - 3;
    let mut full = false;
    let mut count = 10i64;
    if opts > 0 {
        if (opts != 1 && opts != 3) || !is(argv.get(3), "full") {
            return Err(subcommand_syntax(argv));
        }
        full = true;
        if opts == 3 {
            if !is(argv.get(4), "count") {
                return Err(subcommand_syntax(argv));
            }
            count = parse_i64(argv.get(5))?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let limit = usize::try_from(count).unwrap_or(0);
    with_stream(ctx, argv, |s, out, _| {
        out.map_len(if full { 9 } else { 10 });
        out.bulk(b"length");
        out.int(s.len() as i64);
        out.bulk(b"radix-tree-keys");
        out.int(s.node_count() as i64);
        out.bulk(b"radix-tree-nodes");
        out.int(s.rax_node_count() as i64);
        out.bulk(b"last-generated-id");
        reply_id(out, s.last_id);
        out.bulk(b"max-deleted-entry-id");
        reply_id(out, s.max_deleted);
        out.bulk(b"entries-added");
        out.int(s.entries_added as i64);
        out.bulk(b"recorded-first-entry-id");
        reply_id(out, s.first_id);
        if !full {
            out.bulk(b"groups");
            out.int(s.groups.len() as i64);
            for (label, rev) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
                out.bulk(label);
                match s.range(StreamId::MIN, StreamId::MAX, 1, rev).first() {
                    Some(e) => reply_entry(out, e),
                    None => out.null(),
                }
            }
            return Ok(());
        }
        out.bulk(b"entries");
        reply_entries(out, &s.range(StreamId::MIN, StreamId::MAX, limit, false));
        out.bulk(b"groups");
        out.array_len(s.groups.len());
        let take = |n: usize| if limit == 0 { n } else { n.min(limit) };
        for (name, g) in &s.groups {
            out.map_len(7);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"last-delivered-id");
            reply_id(out, g.last_id);
            out.bulk(b"entries-read");
            entries_read(out, g);
            out.bulk(b"lag");
            lag(out, s, g);
            out.bulk(b"pel-count");
            out.int(g.pel.len() as i64);
            out.bulk(b"pending");
            out.array_len(take(g.pel.len()));
            for (id, n) in g.pel.iter().take(take(g.pel.len())) {
                out.array_len(4);
                reply_id(out, *id);
                out.bulk(&n.consumer);
                out.int(n.delivery_time);
                out.int(n.delivery_count as i64);
            }
            out.bulk(b"consumers");
            out.array_len(g.consumers.len());
            for (cname, c) in &g.consumers {
                out.map_len(4);
                out.bulk(b"name");
                out.bulk(cname);
                out.bulk(b"seen-time");
                out.int(c.seen_time);
                out.bulk(b"pel-count");
                out.int(c.pel.len() as i64);
                out.bulk(b"pending");
                out.array_len(take(c.pel.len()));
                for id in c.pel.iter().take(take(c.pel.len())) {
                    out.array_len(3);
                    reply_id(out, *id);
                    let n = g.pel.get(id);
                    out.int(n.map_or(0, |n| n.delivery_time));
                    out.int(n.map_or(0, |n| n.delivery_count as i64));
                }
            }
        }
        Ok(())
    })
}
