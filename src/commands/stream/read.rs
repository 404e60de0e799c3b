//! XREAD and XREADGROUP, with BLOCK. A read that finds nothing blocks as
//! the list pops do (`commands::blocking`), but on a rewritten command: `$`
//! becomes the id it meant when the command arrived, and a COUNT of 1000 is
//! added when none was given (Redis's `XREAD_BLOCKED_DEFAULT_COUNT`). XADD,
//! XGROUP DESTROY and the deletion of a stream key signal the key; the
//! re-run serves what is new, or for XREADGROUP answers the errors Redis
//! gives when the group or the key went away.

use super::{parse_strict_id, reply_entry, reply_id};
use crate::commands::blocking::{self, Parked, Timeout};
use crate::commands::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::STREAM;
use crate::resp::reply::Reply;
use crate::store::types::stream::{StreamEntry, StreamId};
use crate::store::types::{Stream, ValueType};
use crate::store::MultiGuard;

/// Count used when a blocked read gave none.
const BLOCKED_DEFAULT_COUNT: i64 = 1000;

/// What a read asks for one key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Entries after this id.
    After(StreamId),
    /// `>`: entries never delivered to the group.
    New,
}

struct ReadArgs<'a> {
    block: Option<u64>,
    count: i64,
    streams_at: usize,
    nkeys: usize,
    group: Option<(&'a [u8], &'a [u8])>,
    noack: bool,
}

/// `XREAD [COUNT count] [BLOCK ms] STREAMS key … id …`
pub fn xread(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    read(ctx, argv, false)
}

/// `XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key … id …`
pub fn xreadgroup(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    read(ctx, argv, true)
}

fn parse_args<'a>(
    ctx: &Ctx<'_>,
    argv: &Argv<'a>,
    xreadgroup: bool,
) -> Result<ReadArgs<'a>, CmdError> {
    let mut r = ReadArgs {
        block: None,
        count: 0,
        streams_at: 0,
        nkeys: 0,
        group: None,
        noack: false,
    };
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let o = argv.get(i);
        if is(o, "block") && more > 0 {
            if ctx.client.in_script {
                return Err(CmdError::err(format!(
                    "{} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(argv.get(0))
                )));
            }
            i += 1;
            let ms = parse_i64(argv.get(i))
                .map_err(|_| CmdError::err("timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(CmdError::err("timeout is negative"));
            }
            r.block = Some(ms as u64);
        } else if is(o, "count") && more > 0 {
            i += 1;
            r.count = parse_i64(argv.get(i))?.max(0);
        } else if is(o, "streams") && more > 0 {
            r.streams_at = i + 1;
            let n = argv.len() - r.streams_at;
            if !n.is_multiple_of(2) {
                return Err(CmdError::err(
                    "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            r.nkeys = n / 2;
            break;
        } else if is(o, "group") && more >= 2 {
            if !xreadgroup {
                return Err(CmdError::err(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((argv.get(i + 1), argv.get(i + 2)));
            i += 2;
        } else if is(o, "noack") {
            if !xreadgroup {
                return Err(CmdError::err(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if r.streams_at == 0 {
        return Err(CmdError::Syntax);
    }
    if xreadgroup && r.group.is_none() {
        return Err(CmdError::err("Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One key's part of the reply.
struct Served {
    key: Vec<u8>,
    /// Entries; `None` fields for a pending id whose entry is gone.
    entries: Vec<(StreamId, Option<StreamEntry>)>,
}

/// Each key's starting point (`$` resolved), or the error the read gives
/// before serving anything; `serving` when a blocked read is re-run.
fn resolve_wants(
    mg: &mut MultiGuard<'_>,
    db: usize,
    keys: &[&[u8]],
    a: &ReadArgs<'_>,
    argv: &Argv<'_>,
    xreadgroup: bool,
    serving: bool,
) -> Result<Vec<Want>, CmdError> {
    let mut wants = Vec::with_capacity(a.nkeys);
    for (k, key) in keys.iter().enumerate() {
        let arg = argv.get(a.streams_at + a.nkeys + k);
        let s = match mg.slot(db, key).read::<Stream>(key) {
            Ok(s) => s,
            Err(_) if serving && xreadgroup => {
                return Err(CmdError::Other(
                    "UNBLOCKED the stream key no longer exists".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if let Some((group, _)) = a.group {
            let exists = s.is_some_and(|s| s.groups.contains_key(group));
            if !exists {
                let missing = s.is_none();
                if serving {
                    return Err(CmdError::Other(if missing {
                        "UNBLOCKED the stream key no longer exists".into()
                    } else {
                        "NOGROUP the consumer group this client was blocked on no longer exists"
                            .into()
                    }));
                }
                return Err(CmdError::Other(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    lossy(key),
                    lossy(group)
                )));
            }
        }
        let want = if arg == b"$" {
            if xreadgroup {
                return Err(CmdError::err(
                    "The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                ));
            }
            Want::After(s.map_or(StreamId::MIN, |s| s.last_id))
        } else if arg == b">" {
            if !xreadgroup {
                return Err(CmdError::err(
                    "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            Want::New
        } else {
            Want::After(parse_strict_id(arg)?)
        };
        wants.push(want);
    }
    Ok(wants)
}

fn read(ctx: &mut Ctx<'_>, argv: &Argv<'_>, xreadgroup: bool) -> CmdResult {
    let a = parse_args(ctx, argv, xreadgroup)?;
    let keys: Vec<&[u8]> = (0..a.nkeys).map(|i| argv.get(a.streams_at + i)).collect();
    let db = ctx.db();
    let now = ctx.now_ms as i64;
    let mut mg = ctx.lock_keys(keys.iter().copied());
    // Resolve every id first (errors before anything is served).
    let wants = resolve_wants(&mut mg, db, &keys, &a, argv, xreadgroup, ctx.client.serving)?;
    let mut served: Vec<Served> = Vec::new();
    let mut effects: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut created: Vec<Vec<u8>> = Vec::new();
    let count = usize::try_from(a.count).unwrap_or(usize::MAX);
    for (k, key) in keys.iter().enumerate() {
        let guard = mg.slot(db, key);
        let Some(entry) = guard.get_mut(key) else {
            continue;
        };
        let Some(s) = Stream::of_mut(entry.value_mut()) else {
            continue;
        };
        let part = match (a.group, wants[k]) {
            (None, Want::After(gt)) => {
                if !s.is_empty() && s.last_valid_id() > gt {
                    let start = gt.incr().unwrap_or(StreamId::MIN);
                    let es = s.range(start, StreamId::MAX, count, false);
                    Some(es.into_iter().map(|e| (e.id, Some(e))).collect())
                } else {
                    None
                }
            }
            (None, Want::New) => None,
            (Some((group, consumer)), want) => serve_group(
                s,
                key,
                group,
                consumer,
                want,
                count,
                a.noack,
                now,
                &mut effects,
                &mut created,
            ),
        };
        if let Some(entries) = part {
            served.push(Served {
                key: key.to_vec(),
                entries,
            });
        }
    }
    if !served.is_empty() {
        for e in &effects {
            let parts: Vec<&[u8]> = e.iter().map(Vec::as_slice).collect();
            ctx.propagate(&parts);
        }
        drop(mg);
        for key in &created {
            ctx.notify(STREAM, "xgroup-createconsumer", key);
        }
        write_reply(ctx.out, &served);
        return Ok(());
    }
    drop(mg);
    if ctx.client.serving {
        // A blocked read re-run with nothing new: it keeps waiting.
        return Ok(());
    }
    let Some(ms) = a.block else {
        ctx.out.null_array();
        return Ok(());
    };
    block(ctx, argv, &a, &keys, &wants, ms, xreadgroup)
}

/// Parks a read that found nothing, on a rewritten command: `$`
/// resolved, a COUNT always given.
fn block(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    a: &ReadArgs<'_>,
    keys: &[&[u8]],
    wants: &[Want],
    ms: u64,
    xreadgroup: bool,
) -> CmdResult {
    let count = if a.count > 0 {
        a.count
    } else {
        BLOCKED_DEFAULT_COUNT
    };
    let mut args: Vec<Vec<u8>> = vec![argv.get(0).to_vec()];
    if let Some((group, consumer)) = a.group {
        args.extend([b"GROUP".to_vec(), group.to_vec(), consumer.to_vec()]);
    }
    args.extend([b"COUNT".to_vec(), count.to_string().into_bytes()]);
    if a.noack {
        args.push(b"NOACK".to_vec());
    }
    args.push(b"STREAMS".to_vec());
    let first_key = args.len();
    args.extend(keys.iter().map(|k| k.to_vec()));
    for w in wants {
        args.push(match w {
            Want::New => b">".to_vec(),
            Want::After(id) => id.to_bytes(),
        });
    }
    let key_idx: Vec<usize> = (first_key..first_key + keys.len()).collect();
    let timeout = Timeout(if ms == 0 {
        0
    } else {
        ctx.now_ms.saturating_add(ms)
    });
    let group = a.group.map(|(g, _)| g.to_vec());
    let check = |mg: &mut MultiGuard<'_>, db: usize| -> bool {
        // True while nothing could be served.
        keys.iter().zip(wants).all(|(key, want)| {
            let g = mg.slot(db, key);
            let Some(e) = g.peek(key) else {
                return group.is_none();
            };
            let Ok(s) = e.value().as_type::<Stream>() else {
                return group.is_none();
            };
            match (&group, want) {
                (None, Want::After(gt)) => s.is_empty() || s.last_valid_id() <= *gt,
                (Some(name), _) => match s.groups.get(&name[..]) {
                    Some(grp) => s.is_empty() || s.last_valid_id() <= grp.last_id,
                    None => false,
                },
                (None, Want::New) => true,
            }
        })
    };
    match blocking::block_args(ctx, args, key_idx, timeout, &check) {
        Parked::Yes => Ok(()),
        Parked::Denied => {
            ctx.out.null_array();
            Ok(())
        }
        Parked::Retry => read(ctx, argv, xreadgroup),
    }
}

/// Serves one key for a group read: new entries (`>`) or the consumer's
/// own pending history. Records the propagated effects.
#[allow(clippy::too_many_arguments)]
fn serve_group(
    s: &mut Stream,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    want: Want,
    count: usize,
    noack: bool,
    now: i64,
    effects: &mut Vec<Vec<Vec<u8>>>,
    created: &mut Vec<Vec<u8>>,
) -> Option<Vec<(StreamId, Option<StreamEntry>)>> {
    let mut g = s.groups.remove(group)?;
    // `>` with nothing new leaves the consumer alone (and unmade), as Redis.
    let serve = match want {
        Want::New => !s.is_empty() && s.last_valid_id() > g.last_id,
        Want::After(_) => true,
    };
    if serve && g.touch_consumer(consumer, now) {
        created.push(key.to_vec());
        if noack {
            effects.push(vec![
                b"XGROUP".to_vec(),
                b"CREATECONSUMER".to_vec(),
                key.to_vec(),
                group.to_vec(),
                consumer.to_vec(),
            ]);
        }
    }
    let out = match want {
        Want::New => {
            if serve {
                let start = g.last_id.incr().unwrap_or(StreamId::MIN);
                let entries = s.range(start, StreamId::MAX, count, false);
                let mut advanced = false;
                for e in &entries {
                    if e.id > g.last_id {
                        s.advance_group(&mut g, e.id);
                        advanced = true;
                    }
                    if !noack {
                        g.deliver(e.id, consumer, now);
                        if let Some(n) = g.pel.get(&e.id) {
                            effects.push(xclaim_effect(key, group, e.id, n, g.last_id));
                        }
                    }
                }
                if noack && advanced {
                    effects.push(setid_effect(key, group, g.last_id, g.entries_read));
                }
                Some(entries.into_iter().map(|e| (e.id, Some(e))).collect())
            } else {
                None
            }
        }
        Want::After(gt) => {
            let start = gt.incr().unwrap_or(StreamId::MIN);
            let ids: Vec<StreamId> = g
                .consumers
                .get(consumer)
                .map(|c| {
                    c.pel
                        .range(start..)
                        .take(if count == 0 { usize::MAX } else { count })
                        .copied()
                        .collect()
                })
                .unwrap_or_default();
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let e = s.get(id);
                if e.is_some() {
                    if let Some(n) = g.pel.get_mut(&id) {
                        n.delivery_time = now;
                        n.delivery_count = n.delivery_count.saturating_add(1);
                    }
                }
                out.push((id, e));
            }
            Some(out)
        }
    };
    s.groups.insert(group.into(), g);
    out
}

/// `XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID LASTID last`
pub(crate) fn xclaim_effect(
    key: &[u8],
    group: &[u8],
    id: StreamId,
    n: &crate::store::types::stream::Nack,
    last: StreamId,
) -> Vec<Vec<u8>> {
    vec![
        b"XCLAIM".to_vec(),
        key.to_vec(),
        group.to_vec(),
        n.consumer.to_vec(),
        b"0".to_vec(),
        id.to_bytes(),
        b"TIME".to_vec(),
        n.delivery_time.to_string().into_bytes(),
        b"RETRYCOUNT".to_vec(),
        n.delivery_count.to_string().into_bytes(),
        b"FORCE".to_vec(),
        b"JUSTID".to_vec(),
        b"LASTID".to_vec(),
        last.to_bytes(),
    ]
}

/// `XGROUP SETID key group id ENTRIESREAD n`
pub(crate) fn setid_effect(key: &[u8], group: &[u8], id: StreamId, read: i64) -> Vec<Vec<u8>> {
    vec![
        b"XGROUP".to_vec(),
        b"SETID".to_vec(),
        key.to_vec(),
        group.to_vec(),
        id.to_bytes(),
        b"ENTRIESREAD".to_vec(),
        read.to_string().into_bytes(),
    ]
}

fn write_reply(out: &mut Reply, served: &[Served]) {
    if out.resp3() {
        out.map_len(served.len());
    } else {
        out.array_len(served.len());
    }
    for p in served {
        if !out.resp3() {
            out.array_len(2);
        }
        out.bulk(&p.key);
        out.array_len(p.entries.len());
        for (id, e) in &p.entries {
            match e {
                Some(e) => reply_entry(out, e),
                None => {
                    out.array_len(2);
                    reply_id(out, *id);
                    out.null_array();
                }
            }
        }
    }
}
