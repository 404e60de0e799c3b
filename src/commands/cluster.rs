//! Cluster commands: the `CLUSTER` family, `ASKING`, `MIGRATE` and
//! `RESTORE-ASKING`. Replies and error strings are Redis 7.0's, byte for byte:
//! redis-cli, redis-benchmark and cluster clients parse them.

use std::fmt::Write as _;
use std::time::Duration;

use super::spec::{CommandSpec, Flags};
use super::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::clock::monotonic_ms;
use crate::cluster::migrate::{Batch, MigrateError};
use crate::cluster::topology::{Node, NodeFlags, NodeId, Topology};
use crate::cluster::Cluster;
use crate::persist;
use crate::slot::{key_slot, SLOTS};

const ADMIN: Flags = Flags(Flags::ADMIN.0 | Flags::STALE.0 | Flags::NO_ASYNC_LOADING.0);
const ADMIN_ONLY: Flags = Flags(Flags::ADMIN.0 | Flags::STALE.0);
const STALE: Flags = Flags::STALE;
const DANGER: &str = "admin slow dangerous";

/// A `cluster` group subcommand entry.
const fn sub(
    name: &'static str,
    arity: i32,
    flags: Flags,
    acl: &'static str,
    since: &'static str,
    handler: super::Handler,
    summary: &'static str,
) -> CommandSpec {
    super::server::sub_in("cluster", since, name, arity, flags, acl, handler, summary)
}

/// `CLUSTER` subcommands.
pub static SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        "addslots",
        -3,
        ADMIN,
        DANGER,
        "3.0.0",
        addslots,
        "Assign new hash slots to receiving node",
    ),
    sub(
        "addslotsrange",
        -4,
        ADMIN,
        DANGER,
        "7.0.0",
        addslotsrange,
        "Assign new hash slots to receiving node",
    ),
    sub(
        "bumpepoch",
        2,
        ADMIN,
        DANGER,
        "3.0.0",
        bumpepoch,
        "Advance the cluster config epoch",
    ),
    sub(
        "count-failure-reports",
        3,
        ADMIN_ONLY,
        DANGER,
        "3.0.0",
        count_failure_reports,
        "Return the number of failure reports active for a given node",
    ),
    sub(
        "countkeysinslot",
        3,
        STALE,
        "slow",
        "3.0.0",
        countkeysinslot,
        "Return the number of local keys in the specified hash slot",
    ),
    sub(
        "delslots",
        -3,
        ADMIN,
        DANGER,
        "3.0.0",
        delslots,
        "Set hash slots as unbound in receiving node",
    ),
    sub(
        "delslotsrange",
        -4,
        ADMIN,
        DANGER,
        "7.0.0",
        delslotsrange,
        "Set hash slots as unbound in receiving node",
    ),
    sub(
        "flushslots",
        2,
        ADMIN,
        DANGER,
        "3.0.0",
        flushslots,
        "Delete a node's own slots information",
    ),
    sub(
        "failover",
        -2,
        ADMIN,
        DANGER,
        "3.0.0",
        failover,
        "Forces a replica to perform a manual failover of its master.",
    ),
    sub(
        "forget",
        3,
        ADMIN,
        DANGER,
        "3.0.0",
        forget,
        "Remove a node from the nodes table",
    ),
    sub(
        "getkeysinslot",
        4,
        STALE,
        "slow",
        "3.0.0",
        getkeysinslot,
        "Return local key names in the specified hash slot",
    ),
    sub(
        "help",
        2,
        Flags(Flags::LOADING.0 | Flags::STALE.0),
        "slow",
        "5.0.0",
        help,
        "Show helpful text about the different subcommands",
    ),
    sub(
        "info",
        2,
        STALE,
        "slow",
        "3.0.0",
        info,
        "Provides info about Redis Cluster node state",
    ),
    sub(
        "keyslot",
        3,
        STALE,
        "slow",
        "3.0.0",
        keyslot,
        "Returns the hash slot of the specified key",
    ),
    sub(
        "links",
        2,
        STALE,
        "slow",
        "7.0.0",
        links,
        "Returns a list of all TCP links to and from peer nodes in cluster",
    ),
    sub(
        "meet",
        -4,
        ADMIN,
        DANGER,
        "3.0.0",
        meet,
        "Force a node cluster to handshake with another node",
    ),
    sub(
        "myid",
        2,
        STALE,
        "slow",
        "3.0.0",
        myid,
        "Return the node id",
    ),
    sub(
        "myshardid",
        2,
        STALE,
        "slow",
        "7.2.0",
        myshardid,
        "Return the node shard id",
    ),
    sub(
        "nodes",
        2,
        STALE,
        "slow",
        "3.0.0",
        nodes,
        "Get Cluster config for the node",
    ),
    sub(
        "replicas",
        3,
        ADMIN_ONLY,
        DANGER,
        "5.0.0",
        replicas,
        "List replica nodes of the specified master node",
    ),
    sub(
        "replicate",
        3,
        ADMIN,
        DANGER,
        "3.0.0",
        replicate,
        "Reconfigure a node as a replica of the specified master node",
    ),
    sub(
        "reset",
        -2,
        Flags(Flags::ADMIN.0 | Flags::NOSCRIPT.0 | Flags::STALE.0),
        DANGER,
        "3.0.0",
        reset,
        "Reset a Redis Cluster node",
    ),
    sub(
        "saveconfig",
        2,
        ADMIN,
        DANGER,
        "3.0.0",
        saveconfig,
        "Forces the node to save cluster state on disk",
    ),
    sub(
        "set-config-epoch",
        3,
        ADMIN,
        DANGER,
        "3.0.0",
        set_config_epoch,
        "Set the configuration epoch in a new node",
    ),
    sub(
        "setslot",
        -4,
        ADMIN,
        DANGER,
        "3.0.0",
        setslot,
        "Bind a hash slot to a specific node",
    ),
    sub(
        "shards",
        2,
        STALE,
        "slow",
        "7.0.0",
        shards,
        "Get array of cluster slots to node mappings",
    ),
    sub(
        "slaves",
        3,
        ADMIN_ONLY,
        DANGER,
        "3.0.0",
        replicas,
        "List replica nodes of the specified master node",
    ),
    sub(
        "slots",
        2,
        STALE,
        "slow",
        "3.0.0",
        slots,
        "Get array of Cluster slot to node mappings",
    ),
];

/// The cluster, or Redis's error when cluster mode is off.
pub fn cluster<'a>(ctx: &Ctx<'a>) -> Result<&'a Cluster, CmdError> {
    ctx.srv
        .cluster
        .as_deref()
        .ok_or_else(|| CmdError::err("This instance has cluster support disabled"))
}

/// `CLUSTER` itself (only subcommands run).
pub fn container(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    super::server::container(ctx, argv)
}

fn slot_arg(arg: &[u8]) -> Result<u16, CmdError> {
    match super::parse_int_strict(arg) {
        Some(s) if (0..SLOTS as i64).contains(&s) => Ok(s as u16),
        _ => Err(CmdError::err("Invalid or out of range slot")),
    }
}

fn unknown_node(arg: &[u8]) -> CmdError {
    CmdError::err(format!("Unknown node {}", String::from_utf8_lossy(arg)))
}

// ---- introspection ----

/// `CLUSTER INFO`
fn info(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
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
fn nodes(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let text = cluster(ctx)?.view().describe_all();
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// `CLUSTER MYID`
fn myid(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let id = cluster(ctx)?.myself();
    ctx.out.bulk(id.as_bytes());
    Ok(())
}

/// `CLUSTER MYSHARDID`
fn myshardid(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
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
fn slots(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
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
fn shards(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
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
fn links(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
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
fn keyslot(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
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
fn countkeysinslot(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
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
fn getkeysinslot(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
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
fn count_failure_reports(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
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
fn replicas(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
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

// ---- configuration ----

/// Slots named by ADDSLOTS/DELSLOTS (one per argument) or by the RANGE forms.
fn collect_slots(argv: &Argv<'_>, ranges: bool) -> Result<Vec<u16>, CmdError> {
    let args = argv.tail(2);
    if !ranges {
        return args.iter().map(slot_arg).collect();
    }
    if args.len() % 2 == 1 {
        return Err(CmdError::Arity(format!(
            "cluster|{}",
            String::from_utf8_lossy(argv.get(1)).to_ascii_lowercase()
        )));
    }
    let mut bounds = Vec::new();
    for pair in args.iter().collect::<Vec<_>>().chunks(2) {
        let (a, b) = (slot_arg(pair[0])?, slot_arg(pair[1])?);
        if a > b {
            return Err(CmdError::err(format!(
                "start slot number {a} is greater than end slot number {b}"
            )));
        }
        bounds.push((a, b));
    }
    Ok(bounds.into_iter().flat_map(|(a, b)| a..=b).collect())
}

fn assign_slots(ctx: &mut Ctx<'_>, argv: &Argv<'_>, ranges: bool, del: bool) -> CmdResult {
    let c = cluster(ctx)?;
    let wanted = collect_slots(argv, ranges)?;
    let now = monotonic_ms();
    c.with(|t, out| {
        let mut seen = vec![false; SLOTS];
        for &s in &wanted {
            match (del, t.owner(s)) {
                (true, None) => {
                    return Err(CmdError::err(format!("Slot {s} is already unassigned")))
                }
                (false, Some(_)) => return Err(CmdError::err(format!("Slot {s} is already busy"))),
                _ => {}
            }
            if std::mem::replace(&mut seen[s as usize], true) {
                return Err(CmdError::err(format!("Slot {s} specified multiple times")));
            }
        }
        let owner = (!del).then_some(t.myself());
        t.assign_slots(&wanted, owner, now, out);
        Ok(())
    })?;
    ctx.out.ok();
    Ok(())
}

/// `CLUSTER ADDSLOTS slot…`
fn addslots(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    assign_slots(ctx, argv, false, false)
}

/// `CLUSTER DELSLOTS slot…`
fn delslots(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    assign_slots(ctx, argv, false, true)
}

/// `CLUSTER ADDSLOTSRANGE start end…`
fn addslotsrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    assign_slots(ctx, argv, true, false)
}

/// `CLUSTER DELSLOTSRANGE start end…`
fn delslotsrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    assign_slots(ctx, argv, true, true)
}

/// `CLUSTER FLUSHSLOTS`
fn flushslots(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    if !ctx.srv.keyspace.db(0).is_empty() {
        return Err(CmdError::err(
            "DB must be empty to perform CLUSTER FLUSHSLOTS.",
        ));
    }
    c.with(|t, _| {
        let me = t.myself();
        t.del_node_slots(&me);
    });
    ctx.out.ok();
    Ok(())
}

/// `CLUSTER SETSLOT slot IMPORTING|MIGRATING|STABLE|NODE [node-id]`
fn setslot(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    if c.is_replica() {
        return Err(CmdError::err("Please use SETSLOT only with masters."));
    }
    let slot = slot_arg(argv.get(2))?;
    let action = argv.get(3);
    let target = argv.opt(4);
    let bad_action =
        || CmdError::err("Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP");
    let arity_ok = if is(action, "STABLE") {
        argv.len() == 4
    } else {
        argv.len() == 5
    };
    if !arity_ok {
        return Err(bad_action());
    }
    // No command of this slot runs while its ownership changes (unless this
    // client's own EXEC holds the slot already).
    let _fence = (ctx.client.fenced_slot != Some(slot)).then(|| c.fence_exclusive(slot));
    let keys = ctx.srv.keyspace.lock_slot(0, slot, ctx.now_ms).len();
    c.with(|t, out| -> CmdResult {
        let me = t.myself();
        let lookup_master = |t: &Topology, missing: &dyn Fn() -> CmdError| -> Result<NodeId, CmdError> {
            let arg = target.unwrap_or_default();
            let n = t.lookup(arg).ok_or_else(missing)?;
            if n.is_replica() {
                return Err(CmdError::err("Target node is not a master"));
            }
            Ok(n.id)
        };
        let dont_know = || {
            CmdError::err(format!(
                "I don't know about node {}",
                String::from_utf8_lossy(target.unwrap_or_default())
            ))
        };
        if is(action, "MIGRATING") {
            if t.owner(slot) != Some(me) {
                return Err(CmdError::err(format!("I'm not the owner of hash slot {slot}")));
            }
            let to = lookup_master(t, &dont_know)?;
            t.set_slot_migrating(slot, to);
        } else if is(action, "IMPORTING") {
            if t.owner(slot) == Some(me) {
                return Err(CmdError::err(format!("I'm already the owner of hash slot {slot}")));
            }
            let from = lookup_master(t, &dont_know)?;
            t.set_slot_importing(slot, from);
        } else if is(action, "STABLE") {
            t.set_slot_stable(slot);
        } else if is(action, "NODE") {
            let n = lookup_master(t, &|| unknown_node(target.unwrap_or_default()))?;
            if t.owner(slot) == Some(me) && n != me && keys != 0 {
                return Err(CmdError::err(format!(
                    "Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
                )));
            }
            t.set_slot_node(slot, n, keys != 0, monotonic_ms(), out);
        } else {
            return Err(bad_action());
        }
        Ok(())
    })?;
    ctx.out.ok();
    Ok(())
}

/// `CLUSTER BUMPEPOCH`
fn bumpepoch(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    let now = monotonic_ms();
    let (bumped, epoch) = c.with(|t, out| {
        let bumped = t.bump_epoch_without_consensus();
        if bumped {
            t.broadcast_pong(out, now);
        }
        (bumped, t.me().config_epoch)
    });
    ctx.out.simple(&format!(
        "{} {epoch}",
        if bumped { "BUMPED" } else { "STILL" }
    ));
    Ok(())
}

/// `CLUSTER SET-CONFIG-EPOCH epoch`
fn set_config_epoch(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    let epoch = parse_i64(argv.get(2))?;
    c.with(|t, _| {
        if epoch < 0 {
            Err(CmdError::err(format!("Invalid config epoch specified: {epoch}")))
        } else if t.nodes().len() > 1 {
            Err(CmdError::err(
                "The user can assign a config epoch only when the node does not know any other node.",
            ))
        } else if t.me().config_epoch != 0 {
            Err(CmdError::err("Node config epoch is already non-zero"))
        } else {
            t.set_my_config_epoch(epoch as u64);
            Ok(())
        }
    })?;
    ctx.out.ok();
    Ok(())
}

/// `CLUSTER MEET ip port [bus-port]`
fn meet(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    if argv.len() > 5 {
        return Err(CmdError::err(
            "unknown subcommand or wrong number of arguments for 'meet'. Try CLUSTER HELP.",
        ));
    }
    let lossy = |a: &[u8]| String::from_utf8_lossy(a).into_owned();
    let port = super::parse_int_strict(argv.get(3)).ok_or_else(|| {
        CmdError::err(format!(
            "Invalid TCP base port specified: {}",
            lossy(argv.get(3))
        ))
    })?;
    let bus = match argv.opt(4) {
        Some(b) => super::parse_int_strict(b).ok_or_else(|| {
            CmdError::err(format!("Invalid TCP bus port specified: {}", lossy(b)))
        })?,
        None => port + 10000,
    };
    let ip: Option<std::net::IpAddr> = std::str::from_utf8(argv.get(2))
        .ok()
        .and_then(|s| s.parse().ok());
    let valid = |p: i64| (1..=65535).contains(&p);
    let (Some(ip), true, true) = (ip, valid(port), valid(bus)) else {
        return Err(CmdError::err(format!(
            "Invalid node address specified: {}:{}",
            lossy(argv.get(2)),
            lossy(argv.get(3))
        )));
    };
    let now = monotonic_ms();
    c.with(|t, _| t.start_handshake(&ip.to_string(), port as u16, bus as u16, now));
    ctx.out.ok();
    Ok(())
}

/// `CLUSTER FORGET node-id`
fn forget(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    let now = monotonic_ms();
    c.with(|t, out| {
        let id = t
            .lookup(argv.get(2))
            .map(|n| n.id)
            .ok_or_else(|| unknown_node(argv.get(2)))?;
        if id == t.myself() {
            return Err(CmdError::err("I tried hard but I can't forget myself..."));
        }
        if t.me().is_replica() && t.me().master == Some(id) {
            return Err(CmdError::err("Can't forget my master!"));
        }
        t.forget(&id, now, out);
        Ok(())
    })?;
    ctx.out.ok();
    Ok(())
}

/// `CLUSTER REPLICATE node-id`: records the role; the bus then starts
/// replicating from the new primary.
fn replicate(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    let has_keys = !ctx.srv.keyspace.db(0).is_empty();
    c.with(|t, out| {
        let n = t
            .lookup(argv.get(2))
            .ok_or_else(|| unknown_node(argv.get(2)))?;
        if n.id == t.myself() {
            return Err(CmdError::err("Can't replicate myself"));
        }
        if n.is_replica() {
            return Err(CmdError::err(
                "I can only replicate a master, not a replica.",
            ));
        }
        let id = n.id;
        if t.me().is_master() && (!t.me().slots.is_empty() || has_keys) {
            return Err(CmdError::err(
                "To set a master the node must be empty and without assigned slots.",
            ));
        }
        t.set_my_master(id);
        t.broadcast_pong(out, monotonic_ms());
        Ok(())
    })?;
    follow_topology(ctx);
    ctx.out.ok();
    Ok(())
}

/// Starts or stops replication now that the role changed, rather than at
/// the bus's next tick.
fn follow_topology(ctx: &Ctx<'_>) {
    if let (Some(srv), Ok(s)) = (ctx.srv.me(), ctx.services()) {
        s.follow_topology(&srv);
    }
}

/// `CLUSTER FAILOVER [FORCE|TAKEOVER]`: starts a manual failover on this
/// replica; the reply comes before it completes, as in Redis.
fn failover(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    use crate::cluster::failover::ManualMode;
    let c = cluster(ctx)?;
    let mode = match argv.opt(2) {
        None => ManualMode::Coordinated,
        Some(a) if is(a, "FORCE") && argv.len() == 3 => ManualMode::Force,
        Some(a) if is(a, "TAKEOVER") && argv.len() == 3 => ManualMode::Takeover,
        Some(_) => return Err(CmdError::Syntax),
    };
    c.with(|t, out| {
        t.start_manual_failover(mode, monotonic_ms(), out)
            .map_err(|e| CmdError::err(e.to_string()))
    })?;
    follow_topology(ctx);
    ctx.out.ok();
    Ok(())
}

/// `CLUSTER RESET [HARD|SOFT]`
fn reset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    let hard = match argv.opt(2) {
        None => false,
        Some(a) if is(a, "HARD") && argv.len() == 3 => true,
        Some(a) if is(a, "SOFT") && argv.len() == 3 => false,
        Some(_) => return Err(CmdError::Syntax),
    };
    let was_replica = c.is_replica();
    if !was_replica && !ctx.srv.keyspace.db(0).is_empty() {
        return Err(CmdError::err(
            "CLUSTER RESET can't be called with master nodes containing keys",
        ));
    }
    if was_replica {
        ctx.srv.keyspace.flush_db(0);
    }
    c.with(|t, out| t.reset(hard, out));
    ctx.out.ok();
    Ok(())
}

/// `CLUSTER SAVECONFIG`
fn saveconfig(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    c.save()
        .map_err(|e| CmdError::err(format!("error saving the cluster node config: {e}")))?;
    ctx.out.ok();
    Ok(())
}

/// `CLUSTER HELP`
fn help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    super::server::help(
        ctx,
        "CLUSTER",
        &[
            "ADDSLOTS <slot> [<slot> ...]",
            "    Assign slots to current node.",
            "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Assign slots which are between <start-slot> and <end-slot> to current node.",
            "BUMPEPOCH",
            "    Advance the cluster config epoch.",
            "COUNT-FAILURE-REPORTS <node-id>",
            "    Return number of failure reports for <node-id>.",
            "COUNTKEYSINSLOT <slot>",
            "    Return the number of keys in <slot>.",
            "DELSLOTS <slot> [<slot> ...]",
            "    Delete slots information from current node.",
            "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
            "FAILOVER [FORCE|TAKEOVER]",
            "    Promote current replica node to being a master.",
            "FORGET <node-id>",
            "    Remove a node from the cluster.",
            "GETKEYSINSLOT <slot> <count>",
            "    Return key names stored by current node in a slot.",
            "FLUSHSLOTS",
            "    Delete current node own slots information.",
            "INFO",
            "    Return information about the cluster.",
            "KEYSLOT <key>",
            "    Return the hash slot for <key>.",
            "MEET <ip> <port> [<bus-port>]",
            "    Connect nodes into a working cluster.",
            "MYID",
            "    Return the node id.",
            "MYSHARDID",
            "    Return the node's shard id.",
            "NODES",
            "    Return cluster configuration seen by node. Output format:",
            "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
            "REPLICATE <node-id>",
            "    Configure current node as replica to <node-id>.",
            "RESET [HARD|SOFT]",
            "    Reset current node (default: soft).",
            "SET-CONFIG-EPOCH <epoch>",
            "    Set config epoch of current node.",
            "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
            "    Set slot state.",
            "REPLICAS <node-id>",
            "    Return <node-id> replicas.",
            "SAVECONFIG",
            "    Force saving cluster configuration on disk.",
            "SLOTS",
            "    Return information about slots range mappings. Each range is made of:",
            "    start, end, master and replicas IP addresses, ports and ids",
            "SHARDS",
            "    Return information about slot range mappings and the nodes associated with them.",
            "LINKS",
            "    Return information about all network links between this node and its peers.",
            "    Output format is an array where each array element is a map containing attributes of a link",
        ],
    )
}

// ---- connection flags ----

/// `ASKING`: the next command may run in a slot this node is importing.
pub fn asking(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    ctx.client.asking_next = true;
    ctx.out.ok();
    Ok(())
}

/// `READONLY`: reads of the primary's slots are served by this replica.
pub fn readonly(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    ctx.client.readonly = true;
    ctx.out.ok();
    Ok(())
}

/// `READWRITE`
pub fn readwrite(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    cluster(ctx)?;
    ctx.client.readonly = false;
    ctx.out.ok();
    Ok(())
}

// ---- MIGRATE ----

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
        let ttl = if e.expire_at == 0 {
            0
        } else if e.expire_at <= now {
            continue;
        } else {
            (e.expire_at - now).max(1)
        };
        found.push((k, persist::dump(&e.value), ttl.to_string()));
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
    use std::sync::Arc;

    use super::*;
    use crate::cluster::topology::{Settings, Topology};
    use crate::commands::testkit::{argv_of, Kit};
    use crate::commands::KeySpec;
    use crate::config::Config;
    use crate::node::Server;

    /// A kit whose server is a one-node cluster.
    fn kit() -> Kit {
        let t = Topology::new(NodeId::random(), 7000, 17000, Settings::default(), 0);
        let c = Cluster::in_memory(t);
        let srv = Server::with_cluster(Config::defaults(), Some(Arc::new(c)));
        Kit::with_server(srv)
    }

    /// Every command of the table that has keys, with arguments that satisfy
    /// its arity and `key` at each key position.
    fn keyed_commands() -> Vec<(String, Vec<String>, usize)> {
        let mut out = Vec::new();
        for (_, spec, full) in crate::commands::table::index().entries() {
            if !spec.keys.has_keys() || spec.keys.is_transaction() {
                continue;
            }
            let mut words: Vec<String> = full.split('|').map(str::to_string).collect();
            let fixed = spec.arity.0 > 0;
            let mut argc = spec.arity.0.unsigned_abs() as usize;
            if let KeySpec::Range { first, last, step } = spec.keys {
                // Room for two keys where the range is open-ended.
                if !fixed && last < 0 {
                    argc = argc.max((first + 2 * step + (-last - 1)) as usize);
                }
            }
            words.resize(argc.max(words.len()), "1".to_string());
            let (src, ranges) = argv_of(&words);
            let n = spec.keys.positions(&Argv::new(&src, &ranges)).len();
            out.push((full.to_string(), words, n));
        }
        out
    }

    #[test]
    fn every_keyed_command_is_redirected_or_refused_across_slots() {
        // Another node serves every slot; the cluster is ok.
        let mut t = Topology::new(NodeId::random(), 7000, 17000, Settings::default(), 0);
        let other = NodeId::random();
        let mut n = Node::new(other, NodeFlags::MASTER, 0);
        n.ip = "127.0.0.1".into();
        n.port = 7001;
        t.add_node(n);
        for s in 0..SLOTS as u16 {
            t.add_slot(s, other);
        }
        t.update_state(u64::MAX / 2);
        let srv = Server::with_cluster(Config::defaults(), Some(Arc::new(Cluster::in_memory(t))));
        let mut k = Kit::with_server(srv.clone());
        let cmds = keyed_commands();
        assert!(cmds.len() >= 40, "only {} keyed commands found", cmds.len());
        let slot = key_slot(b"{user1000}");
        let (mut multi, mut single) = (0, 0);
        for (name, words, nkeys) in &cmds {
            assert!(*nkeys >= 1, "{name}: sample arguments give no key");
            let (src, ranges) = argv_of(words);
            let spec = crate::commands::table::index()
                .resolve(words[0].as_bytes(), words.get(1).map(|w| w.as_bytes()))
                .unwrap()
                .spec;
            let pos = spec.keys.positions(&Argv::new(&src, &ranges));
            let mut same = words.clone();
            for (i, p) in pos.iter().enumerate() {
                same[*p] = format!("{{user1000}}k{i}");
            }
            let refs: Vec<&str> = same.iter().map(String::as_str).collect();
            assert_eq!(
                k.run(&refs),
                format!("-MOVED {slot} 127.0.0.1:7001\r\n"),
                "{name} {same:?}"
            );
            if pos.len() >= 2 {
                multi += 1;
                let mut cross = words.clone();
                for (i, p) in pos.iter().enumerate() {
                    cross[*p] = format!("{{tag{i}}}k");
                }
                let refs: Vec<&str> = cross.iter().map(String::as_str).collect();
                assert_eq!(
                    k.run(&refs),
                    "-CROSSSLOT Keys in request don't hash to the same slot\r\n",
                    "{name} {cross:?}"
                );
            } else {
                single += 1;
            }
        }
        eprintln!(
            "{} keyed commands: {multi} multi-key, {single} single-key",
            cmds.len()
        );
        assert!(
            multi >= 8 && single >= 20,
            "{multi} multi-key, {single} single-key commands"
        );
        // EXEC is routed by the keys it queued.
        assert_eq!(k.run(&["MULTI"]), "+OK\r\n");
        assert_eq!(
            k.run(&["SET", "{user1000}a", "1"]),
            format!("-MOVED {slot} 127.0.0.1:7001\r\n")
        );
        assert_eq!(
            k.run(&["EXEC"]),
            "-EXECABORT Transaction discarded because of previous errors.\r\n"
        );
    }

    #[test]
    fn standalone_refuses_cluster_commands() {
        let mut k = Kit::new();
        let err = "-ERR This instance has cluster support disabled\r\n";
        assert_eq!(k.run(&["CLUSTER", "INFO"]), err);
        assert_eq!(k.run(&["READONLY"]), err);
        assert_eq!(k.run(&["ASKING"]), err);
    }

    #[test]
    fn slot_assignment_errors_match_redis() {
        let mut k = kit();
        assert_eq!(k.run(&["CLUSTER", "ADDSLOTS", "0", "1", "2"]), "+OK\r\n");
        assert_eq!(
            k.run(&["CLUSTER", "ADDSLOTS", "0"]),
            "-ERR Slot 0 is already busy\r\n"
        );
        assert_eq!(
            k.run(&["CLUSTER", "ADDSLOTSRANGE", "0", "5"]),
            "-ERR Slot 0 is already busy\r\n"
        );
        assert_eq!(
            k.run(&["CLUSTER", "ADDSLOTS", "9", "9"]),
            "-ERR Slot 9 specified multiple times\r\n"
        );
        assert_eq!(
            k.run(&["CLUSTER", "ADDSLOTS", "16384"]),
            "-ERR Invalid or out of range slot\r\n"
        );
        assert_eq!(
            k.run(&["CLUSTER", "ADDSLOTSRANGE", "10", "5"]),
            "-ERR start slot number 10 is greater than end slot number 5\r\n"
        );
        assert_eq!(
            k.run(&["CLUSTER", "ADDSLOTSRANGE", "10", "11", "12"]),
            "-ERR wrong number of arguments for 'cluster|addslotsrange' command\r\n"
        );
        assert_eq!(
            k.run(&["CLUSTER", "ADDSLOTSRANGE", "10", "20", "30", "40"]),
            "+OK\r\n"
        );
        assert_eq!(
            k.run(&["CLUSTER", "DELSLOTS", "5"]),
            "-ERR Slot 5 is already unassigned\r\n"
        );
        assert_eq!(k.run(&["CLUSTER", "DELSLOTSRANGE", "30", "40"]), "+OK\r\n");
        let nodes = k.run(&["CLUSTER", "NODES"]);
        assert!(nodes.contains(" connected 0-2 10-20\n"), "{nodes}");
        assert_eq!(
            k.run(&["CLUSTER", "COUNTKEYSINSLOT", "16384"]),
            "-ERR Invalid slot\r\n"
        );
        assert_eq!(
            k.run(&["CLUSTER", "GETKEYSINSLOT", "0", "-1"]),
            "-ERR Invalid slot or number of keys\r\n"
        );
        assert_eq!(k.run(&["CLUSTER", "KEYSLOT", "foo{bar}{zap}"]), ":5061\r\n");
        assert_eq!(k.run(&["CLUSTER", "BUMPEPOCH"]), "+BUMPED 1\r\n");
        assert_eq!(k.run(&["CLUSTER", "BUMPEPOCH"]), "+STILL 1\r\n");
        assert_eq!(
            k.run(&["CLUSTER", "SET-CONFIG-EPOCH", "5"]),
            "-ERR Node config epoch is already non-zero\r\n"
        );
        assert_eq!(
            k.run(&[
                "CLUSTER",
                "REPLICATE",
                "0000000000000000000000000000000000000000"
            ]),
            "-ERR Unknown node 0000000000000000000000000000000000000000\r\n"
        );
        assert_eq!(
            k.run(&[
                "CLUSTER",
                "FORGET",
                &k.srv.cluster.as_ref().unwrap().myself().to_string()
            ]),
            "-ERR I tried hard but I can't forget myself...\r\n"
        );
        assert_eq!(
            k.run(&["CLUSTER", "MEET", "999.1.1.1", "30001"]),
            "-ERR Invalid node address specified: 999.1.1.1:30001\r\n"
        );
        assert_eq!(k.run(&["CLUSTER", "MEET", "127.0.0.1", "30099"]), "+OK\r\n");
        let nodes = k.run(&["CLUSTER", "NODES"]);
        assert!(
            nodes.contains(" 127.0.0.1:30099@40099 handshake - 0 0 0 disconnected\n"),
            "{nodes}"
        );
        assert_eq!(
            k.run(&["CLUSTER", "SET-CONFIG-EPOCH", "5"]),
            "-ERR The user can assign a config epoch only when the node does not know any other node.\r\n"
        );
        assert_eq!(
            k.run(&["SELECT", "1"]),
            "-ERR SELECT is not allowed in cluster mode\r\n"
        );
        assert_eq!(k.run(&["SELECT", "0"]), "+OK\r\n");
    }

    #[test]
    fn setslot_rules_and_reset() {
        let mut k = kit();
        let c = k.srv.cluster.clone().unwrap();
        let other = NodeId::random();
        c.with(|t, _| {
            let mut n = Node::new(other, NodeFlags::MASTER, 0);
            n.ip = "127.0.0.1".into();
            n.port = 7001;
            n.bus_port = 17001;
            t.add_node(n);
            t.add_slot(5, other);
        });
        let o = other.to_string();
        assert_eq!(
            k.run(&["CLUSTER", "SETSLOT", "5", "MIGRATING", &o]),
            "-ERR I'm not the owner of hash slot 5\r\n"
        );
        assert_eq!(
            k.run(&["CLUSTER", "SETSLOT", "5", "IMPORTING", &o]),
            "+OK\r\n"
        );
        assert!(k
            .run(&["CLUSTER", "NODES"])
            .contains(&format!(" [5-<-{o}]")));
        assert_eq!(
            k.run(&["CLUSTER", "SETSLOT", "5", "BOGUS"]),
            "-ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP\r\n"
        );
        // Closing the import takes the slot with a new epoch.
        let me = c.myself().to_string();
        assert_eq!(k.run(&["CLUSTER", "SETSLOT", "5", "NODE", &me]), "+OK\r\n");
        let my_id = c.myself();
        assert_eq!(c.view().owner(5), Some(my_id));
        assert!(c.view().me().config_epoch > 0);
        assert!(c.view().importing().is_empty());
        // A slot with keys cannot be handed away.
        assert_eq!(k.run(&["CLUSTER", "ADDSLOTS", "0"]), "+OK\r\n");
        c.with(|t, _| {
            t.set_settings(Settings {
                require_full_coverage: false,
                ..t.settings().clone()
            });
            t.update_state(u64::MAX / 2);
        });
        assert_eq!(k.run(&["SET", "{06S}k", "v"]), "+OK\r\n");
        assert_eq!(
            k.run(&["CLUSTER", "SETSLOT", "0", "NODE", &o]),
            "-ERR Can't assign hashslot 0 to a different node while I still hold keys for this hash slot.\r\n"
        );
        assert_eq!(
            k.run(&["CLUSTER", "RESET"]),
            "-ERR CLUSTER RESET can't be called with master nodes containing keys\r\n"
        );
        k.run(&["FLUSHALL"]);
        assert_eq!(k.run(&["CLUSTER", "RESET", "HARD"]), "+OK\r\n");
        assert_ne!(c.myself().to_string(), me);
        assert_eq!(c.view().nodes().len(), 1);
        assert_eq!(c.view().assigned(), 0);
    }

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
