//! Changing the cluster by hand: slot assignment (`ADDSLOTS`, `DELSLOTS`
//! and their RANGE forms, `FLUSHSLOTS`, `SETSLOT`), epochs (`BUMPEPOCH`,
//! `SET-CONFIG-EPOCH`), membership (`MEET`, `FORGET`, `RESET`), roles
//! (`REPLICATE`, `FAILOVER`) and `SAVECONFIG`. Each checks its arguments and
//! Redis's preconditions, then makes one `Topology` transition.

use super::{cluster, unknown_node};
use crate::clock::monotonic_ms;
use crate::cluster::topology::{NodeId, Topology};
use crate::commands::{is, parse_i64, parse_int_strict, Argv, CmdError, CmdResult, Ctx};
use crate::slot::SLOTS;

/// A slot argument: an integer in `0..16384`.
fn slot_arg(arg: &[u8]) -> Result<u16, CmdError> {
    match parse_int_strict(arg) {
        Some(s) if (0..SLOTS as i64).contains(&s) => Ok(s as u16),
        _ => Err(CmdError::err("Invalid or out of range slot")),
    }
}

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
pub(super) fn addslots(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    assign_slots(ctx, argv, false, false)
}

/// `CLUSTER DELSLOTS slot…`
pub(super) fn delslots(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    assign_slots(ctx, argv, false, true)
}

/// `CLUSTER ADDSLOTSRANGE start end…`
pub(super) fn addslotsrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    assign_slots(ctx, argv, true, false)
}

/// `CLUSTER DELSLOTSRANGE start end…`
pub(super) fn delslotsrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    assign_slots(ctx, argv, true, true)
}

/// `CLUSTER FLUSHSLOTS`
pub(super) fn flushslots(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
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
pub(super) fn setslot(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
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
pub(super) fn bumpepoch(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
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
pub(super) fn set_config_epoch(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
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
pub(super) fn meet(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    if argv.len() > 5 {
        return Err(CmdError::err(
            "unknown subcommand or wrong number of arguments for 'meet'. Try CLUSTER HELP.",
        ));
    }
    let lossy = |a: &[u8]| String::from_utf8_lossy(a).into_owned();
    let port = parse_int_strict(argv.get(3)).ok_or_else(|| {
        CmdError::err(format!(
            "Invalid TCP base port specified: {}",
            lossy(argv.get(3))
        ))
    })?;
    let bus = match argv.opt(4) {
        Some(b) => parse_int_strict(b).ok_or_else(|| {
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
pub(super) fn forget(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
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
pub(super) fn replicate(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
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
pub(super) fn failover(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
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
pub(super) fn reset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
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
        ctx.srv.keyspace.flush_db(0, false);
    }
    c.with(|t, out| t.reset(hard, out));
    ctx.out.ok();
    Ok(())
}

/// `CLUSTER SAVECONFIG`
pub(super) fn saveconfig(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let c = cluster(ctx)?;
    c.save()
        .map_err(|e| CmdError::err(format!("error saving the cluster node config: {e}")))?;
    ctx.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::kit;
    use super::*;
    use crate::cluster::topology::{Node, NodeFlags, Settings};

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
}
