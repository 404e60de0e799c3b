//! Cluster commands: the `CLUSTER` family, `ASKING`, `READONLY`,
//! `READWRITE` and `MIGRATE` (whose `RESTORE-ASKING` is the keys family's
//! `restore`). Replies and error strings are Redis 7.0's, byte for byte:
//! redis-cli, redis-benchmark and cluster clients parse them.
//!
//! - this file: the `CLUSTER` subcommand table, `CLUSTER HELP`, the
//!   connection flags and what the handlers share;
//! - `info`: introspection (what the node knows of the cluster and its slots);
//! - `admin`: changes made by hand (slots, epochs, membership, roles);
//! - `migrate`: the `MIGRATE` command.

mod admin;
mod info;
mod migrate;

use admin::{
    addslots, addslotsrange, bumpepoch, delslots, delslotsrange, failover, flushslots, forget,
    meet, replicate, reset, saveconfig, set_config_epoch, setslot,
};
use info::{
    count_failure_reports, countkeysinslot, getkeysinslot, info, keyslot, links, myid, myshardid,
    nodes, replicas, shards, slots,
};
pub use migrate::{migrate, migrate_keys};

use super::spec::{command_table, CommandSpec, NOKEYS};
use super::{Argv, CmdError, CmdResult, Ctx};
use crate::cluster::Cluster;

/// `CLUSTER` subcommands.
pub static SUBCOMMANDS: &[CommandSpec] = command_table! {
    "addslots" -3 [ADMIN|STALE|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "cluster" "3.0.0" addslots, "Assign new hash slots to receiving node";
    "addslotsrange" -4 [ADMIN|STALE|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "cluster" "7.0.0" addslotsrange, "Assign new hash slots to receiving node";
    "bumpepoch" 2 [ADMIN|STALE|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "cluster" "3.0.0" bumpepoch, "Advance the cluster config epoch";
    "count-failure-reports" 3 [ADMIN|STALE] NOKEYS, "admin slow dangerous" "cluster" "3.0.0" count_failure_reports, "Return the number of failure reports active for a given node";
    "countkeysinslot" 3 [STALE] NOKEYS, "slow" "cluster" "3.0.0" countkeysinslot, "Return the number of local keys in the specified hash slot";
    "delslots" -3 [ADMIN|STALE|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "cluster" "3.0.0" delslots, "Set hash slots as unbound in receiving node";
    "delslotsrange" -4 [ADMIN|STALE|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "cluster" "7.0.0" delslotsrange, "Set hash slots as unbound in receiving node";
    "flushslots" 2 [ADMIN|STALE|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "cluster" "3.0.0" flushslots, "Delete a node's own slots information";
    "failover" -2 [ADMIN|STALE|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "cluster" "3.0.0" failover, "Forces a replica to perform a manual failover of its master.";
    "forget" 3 [ADMIN|STALE|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "cluster" "3.0.0" forget, "Remove a node from the nodes table";
    "getkeysinslot" 4 [STALE] NOKEYS, "slow" "cluster" "3.0.0" getkeysinslot, "Return local key names in the specified hash slot";
    "help" 2 [LOADING|STALE] NOKEYS, "slow" "cluster" "5.0.0" help, "Show helpful text about the different subcommands";
    "info" 2 [STALE] NOKEYS, "slow" "cluster" "3.0.0" info, "Provides info about Redis Cluster node state";
    "keyslot" 3 [STALE] NOKEYS, "slow" "cluster" "3.0.0" keyslot, "Returns the hash slot of the specified key";
    "links" 2 [STALE] NOKEYS, "slow" "cluster" "7.0.0" links, "Returns a list of all TCP links to and from peer nodes in cluster";
    "meet" -4 [ADMIN|STALE|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "cluster" "3.0.0" meet, "Force a node cluster to handshake with another node";
    "myid" 2 [STALE] NOKEYS, "slow" "cluster" "3.0.0" myid, "Return the node id";
    "myshardid" 2 [STALE] NOKEYS, "slow" "cluster" "7.2.0" myshardid, "Return the node shard id";
    "nodes" 2 [STALE] NOKEYS, "slow" "cluster" "3.0.0" nodes, "Get Cluster config for the node";
    "replicas" 3 [ADMIN|STALE] NOKEYS, "admin slow dangerous" "cluster" "5.0.0" replicas, "List replica nodes of the specified master node";
    "replicate" 3 [ADMIN|STALE|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "cluster" "3.0.0" replicate, "Reconfigure a node as a replica of the specified master node";
    "reset" -2 [ADMIN|NOSCRIPT|STALE] NOKEYS, "admin slow dangerous" "cluster" "3.0.0" reset, "Reset a Redis Cluster node";
    "saveconfig" 2 [ADMIN|STALE|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "cluster" "3.0.0" saveconfig, "Forces the node to save cluster state on disk";
    "set-config-epoch" 3 [ADMIN|STALE|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "cluster" "3.0.0" set_config_epoch, "Set the configuration epoch in a new node";
    "setslot" -4 [ADMIN|STALE|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "cluster" "3.0.0" setslot, "Bind a hash slot to a specific node";
    "shards" 2 [STALE] NOKEYS, "slow" "cluster" "7.0.0" shards, "Get array of cluster slots to node mappings";
    "slaves" 3 [ADMIN|STALE] NOKEYS, "admin slow dangerous" "cluster" "3.0.0" replicas, "List replica nodes of the specified master node";
    "slots" 2 [STALE] NOKEYS, "slow" "cluster" "3.0.0" slots, "Get array of Cluster slot to node mappings";
};

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

/// Redis's error for a node id that names no known node.
fn unknown_node(arg: &[u8]) -> CmdError {
    CmdError::err(format!("Unknown node {}", String::from_utf8_lossy(arg)))
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

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cluster::topology::{Node, NodeFlags, NodeId, Settings, Topology};
    use crate::commands::spec::{BeginSearch, FindKeys};
    use crate::commands::testkit::{argv_of, Kit};
    use crate::config::Config;
    use crate::node::Server;
    use crate::slot::{key_slot, SLOTS};

    /// A kit whose server is a one-node cluster.
    pub(super) fn kit() -> Kit {
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
            for key in spec.keys.specs {
                // Room for two keys where an index range is open-ended.
                if let (BeginSearch::Index(pos), FindKeys::Range { lastkey, step, .. }) =
                    (key.begin, key.find)
                {
                    if !fixed && lastkey < 0 {
                        argc = argc.max((pos + 2 * step + (-lastkey - 1)) as usize);
                    }
                }
                // XREAD's `STREAMS key key id id`: two keys after the keyword.
                if let BeginSearch::Keyword {
                    keyword: "STREAMS",
                    startfrom,
                } = key.begin
                {
                    words.resize(words.len().max(startfrom as usize), "1".to_string());
                    words.push("STREAMS".to_string());
                    words.extend(["1", "1", "0", "0"].map(String::from));
                }
                // A key count then its keys (EVAL's numkeys): room for one.
                if let (BeginSearch::Index(pos), FindKeys::Keynum { firstkey, .. }) =
                    (key.begin, key.find)
                {
                    argc = argc.max((pos + firstkey + 1) as usize);
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
}
