//! Introspection: what this node knows of the cluster (`CLUSTER INFO`,
//! `NODES`, `SLOTS`, `SHARDS`, `LINKS`, `MYID`, `MYSHARDID`, `REPLICAS`,
//! `COUNT-FAILURE-REPORTS`) and of its keys by slot (`KEYSLOT`,
//! `COUNTKEYSINSLOT`, `GETKEYSINSLOT`).

use std::fmt::Write as _;

use super::{cluster, unknown_node};
use crate::clock::monotonic_ms;
use crate::cluster::topology::{Node, NodeFlags, NodeId, Topology};
use crate::commands::{parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::slot::{key_slot, SLOTS};

/// `CLUSTER INFO`
pub(super) fn info(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    let text = {
        let t = c.view();
        let (ok, pfail, fail) = t.slot_health();
        let my_epoch = t
            .my_master()
            .map_or(t.me().config_epoch, |m| m.config_epoch);
        let mut s = String::with_capacity(640);
        let _ = write!(
            s,
            "cluster_state:{}\r\ncluster_slots_assigned:{}\r\ncluster_slots_ok:{ok}\r\n\
             cluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:{}\r\n\
             cluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{my_epoch}\r\n",
            // A primary without its lease refuses key commands: say so.
            if c.serving() { "ok" } else { "fail" },
            t.assigned(),
            t.nodes().len(),
            t.size(),
            t.current_epoch(),
        );
        let stats = t.stats();
        for (dir, counts) in [("sent", &stats.sent), ("received", &stats.received)] {
            let mut total = 0;
            for (name, n) in crate::cluster::message::KIND_NAMES
                .iter()
                .zip(counts.iter())
            {
                if *n > 0 {
                    let _ = write!(s, "cluster_stats_messages_{name}_{dir}:{n}\r\n");
                    total += n;
                }
            }
            let _ = write!(s, "cluster_stats_messages_{dir}:{total}\r\n");
        }
        s.push_str("total_cluster_links_buffer_limit_exceeded:0\r\n");
        s
    };
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// `CLUSTER NODES`
pub(super) fn nodes(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let text = cluster(ctx)?.view().describe_all();
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// `CLUSTER MYID`
pub(super) fn myid(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let id = cluster(ctx)?.myself();
    ctx.out.bulk(id.as_bytes());
    Ok(())
}

/// `CLUSTER MYSHARDID`
pub(super) fn myshardid(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let id = cluster(ctx)?.view().me().shard_id;
    ctx.out.bulk(id.as_bytes());
    Ok(())
}

/// A replica is listed in SLOTS unless it is failing.
fn listed_replicas<'t>(t: &'t Topology, master: &NodeId) -> Vec<&'t Node> {
    t.replicas_of(master)
        .filter(|r| !r.flags.has(NodeFlags::FAIL))
        .collect()
}

/// `CLUSTER SLOTS`
pub(super) fn slots(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    let t = c.view();
    let runs = t.slot_runs();
    let out = &mut *ctx.out;
    out.array_len(runs.len());
    for (start, end, owner) in runs {
        let Some(m) = t.node(&owner) else {
            out.array_len(2);
            out.int(start as i64);
            out.int(end as i64);
            continue;
        };
        let reps = listed_replicas(&t, &owner);
        out.array_len(3 + reps.len());
        out.int(start as i64);
        out.int(end as i64);
        for n in std::iter::once(m).chain(reps) {
            out.array_len(4);
            out.bulk(n.ip.as_bytes());
            out.int(n.port as i64);
            out.bulk(n.id.as_bytes());
            if n.hostname.is_empty() {
                out.map_len(0);
            } else {
                out.map_len(1);
                out.bulk(b"hostname");
                out.bulk(n.hostname.as_bytes());
            }
        }
    }
    Ok(())
}

/// `CLUSTER SHARDS`
pub(super) fn shards(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    let my_offset = ctx.srv.replication_offset();
    let t = c.view();
    let masters: Vec<&Node> = t.nodes().filter(|n| n.is_master()).collect();
    let out = &mut *ctx.out;
    out.array_len(masters.len());
    for m in masters {
        out.map_len(2);
        out.bulk(b"slots");
        let ranges = m.slots.ranges();
        out.array_len(ranges.len() * 2);
        for (a, b) in ranges {
            out.int(a as i64);
            out.int(b as i64);
        }
        out.bulk(b"nodes");
        let members: Vec<&Node> = std::iter::once(m).chain(t.replicas_of(&m.id)).collect();
        out.array_len(members.len());
        for n in members {
            let offset = if n.id == t.myself() {
                my_offset
            } else {
                n.repl_offset
            };
            out.map_len(if n.hostname.is_empty() { 7 } else { 8 });
            out.bulk(b"id");
            out.bulk(n.id.as_bytes());
            out.bulk(b"port");
            out.int(n.port as i64);
            out.bulk(b"ip");
            out.bulk(n.ip.as_bytes());
            out.bulk(b"endpoint");
            out.bulk(n.ip.as_bytes());
            if !n.hostname.is_empty() {
                out.bulk(b"hostname");
                out.bulk(n.hostname.as_bytes());
            }
            out.bulk(b"role");
            out.bulk(if n.is_replica() {
                b"replica" as &[u8]
            } else {
                b"master"
            });
            out.bulk(b"replication-offset");
            out.int(offset as i64);
            out.bulk(b"health");
            let health: &[u8] = if n.flags.has(NodeFlags::FAIL) {
                b"fail"
            } else if n.is_replica() && offset == 0 {
                b"loading"
            } else {
                b"online"
            };
            out.bulk(health);
        }
    }
    Ok(())
}

/// `CLUSTER LINKS`
pub(super) fn links(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    let t = c.view();
    let open = c.links.lock();
    let mut rows: Vec<(&'static str, NodeId, u64)> = Vec::new();
    for n in t.nodes() {
        if let Some(l) = n.link.filter(|l| l.connected) {
            if let Some(tx) = open.get(&l.id) {
                rows.push(("to", n.id, tx.created));
            }
        }
        if let Some((l, _)) = n.inbound {
            if let Some(tx) = open.get(&l).filter(|tx| tx.inbound) {
                rows.push(("from", n.id, tx.created));
            }
        }
    }
    drop(open);
    let out = &mut *ctx.out;
    out.array_len(rows.len());
    for (dir, id, created) in rows {
        out.map_len(6);
        out.bulk(b"direction");
        out.bulk(dir.as_bytes());
        out.bulk(b"node");
        out.bulk(id.as_bytes());
        out.bulk(b"create-time");
        out.int(created as i64);
        out.bulk(b"events");
        out.bulk(b"r");
        out.bulk(b"send-buffer-allocated");
        out.int(0);
        out.bulk(b"send-buffer-used");
        out.int(0);
    }
    Ok(())
}

/// `CLUSTER KEYSLOT key`
pub(super) fn keyslot(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    ctx.out.int(key_slot(argv.get(2)) as i64);
    Ok(())
}

/// A slot number argument: not an integer is one error, out of range is the
/// caller's own.
fn slot_number(arg: &[u8]) -> Result<(i64, bool), CmdError> {
    let v = parse_i64(arg)?;
    Ok((v, (0..SLOTS as i64).contains(&v)))
}

/// `CLUSTER COUNTKEYSINSLOT slot`
pub(super) fn countkeysinslot(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    let (slot, ok) = slot_number(argv.get(2))?;
    if !ok {
        return Err(CmdError::err("Invalid slot"));
    }
    let n = ctx.srv.keyspace.lock_slot(0, slot as u16, ctx.now_ms).len();
    ctx.out.int(n as i64);
    Ok(())
}

/// `CLUSTER GETKEYSINSLOT slot count`
pub(super) fn getkeysinslot(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    let (slot, ok) = slot_number(argv.get(2))?;
    let max = parse_i64(argv.get(3))?;
    if !ok || max < 0 {
        return Err(CmdError::err("Invalid slot or number of keys"));
    }
    let keys: Vec<Vec<u8>> = {
        let g = ctx.srv.keyspace.lock_slot(0, slot as u16, ctx.now_ms);
        g.iter()
            .take(max as usize)
            .map(|(k, _)| k.to_vec())
            .collect()
    };
    ctx.out.array_len(keys.len());
    for k in keys {
        ctx.out.bulk(&k);
    }
    Ok(())
}

/// `CLUSTER COUNT-FAILURE-REPORTS node-id`
pub(super) fn count_failure_reports(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    let now = monotonic_ms();
    let n = c.with(|t, _| {
        let id = t.lookup(argv.get(2)).map(|n| n.id)?;
        Some(t.failure_reports(&id, now))
    });
    ctx.out
        .int(n.ok_or_else(|| unknown_node(argv.get(2)))? as i64);
    Ok(())
}

/// `CLUSTER REPLICAS node-id` (and SLAVES)
pub(super) fn replicas(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    let lines = {
        let t = c.view();
        let n = t
            .lookup(argv.get(2))
            .ok_or_else(|| unknown_node(argv.get(2)))?;
        if n.is_replica() {
            return Err(CmdError::err("The specified node is not a master"));
        }
        t.replicas_of(&n.id)
            .map(|r| t.describe(r))
            .collect::<Vec<_>>()
    };
    ctx.out.array_len(lines.len());
    for l in lines {
        ctx.out.bulk(l.as_bytes());
    }
    Ok(())
}
