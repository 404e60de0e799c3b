//! The cluster as this node sees it: the node table (ids, addresses, roles,
//! flags, epochs, links), slot ownership (`SlotMap`), open slots (importing /
//! migrating), the epochs and the derived cluster state. Pure data and rules:
//! no I/O, so gossip, failure detection and the commands are unit-testable.
//!
//! - `node`: node ids, flags, links and the record kept for each node.
//! - `slots`: who serves each slot, open slots, and slot claims.
//! - `membership`: adding, renaming, forgetting nodes; roles; RESET.
//! - `state`: epochs and the cluster state (`ok` / `fail`).
//! - `describe`: the `CLUSTER NODES` lines.
//!
//! `Topology`'s fields are visible within `cluster/` only: the state machines
//! there (gossip, failure detection, failover) are `Topology` methods kept in
//! their own files. Commands and drivers read through accessors and change
//! the topology only through methods, each one a whole transition.
//!
//! Every time here (`now` arguments, the fields that record one) is in ms of
//! `clock::monotonic_ms`: the lease and the failure and election timers
//! compare durations, which a step of the wall clock must not stretch.

mod describe;
mod membership;
mod node;
mod slots;
mod state;

use std::collections::{btree_map, BTreeMap, HashMap};

pub use node::{Link, Node, NodeFlags, NodeId};
use slots::SlotMap;

/// Settings the rules depend on; configuration builds them.
pub use crate::config::ClusterSettings as Settings;

/// What a change needs done once the topology lock is released.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    /// `nodes.conf` must be rewritten.
    pub save: bool,
    /// ... and reach the disk before the change's messages are sent: epochs
    /// changed, and an election relies on them never going backwards.
    pub durable: bool,
    /// Slot routing (owners, open slots, roles) may have changed.
    pub routes: bool,
}

/// Message counters by type, for `CLUSTER INFO`.
#[derive(Debug, Default, Clone)]
pub struct BusStats {
    /// Sent, by type code.
    pub sent: [u64; super::message::KINDS],
    /// Received, by type code.
    pub received: [u64; super::message::KINDS],
}

/// How long a forgotten node may not be re-added by gossip (ms).
pub const FORGET_TTL_MS: u64 = 60_000;
/// A primary waits this long after start before it declares the cluster ok.
pub const WRITABLE_DELAY_MS: u64 = 2000;

/// The whole cluster configuration as this node knows it.
#[derive(Debug)]
pub struct Topology {
    /// This node's id.
    pub(in crate::cluster) myself: NodeId,
    /// Every known node, myself included.
    pub(in crate::cluster) nodes: BTreeMap<NodeId, Node>,
    /// Owner of each slot.
    slot_map: SlotMap,
    /// Slots this node is handing over, and to whom.
    pub(in crate::cluster) migrating: BTreeMap<u16, NodeId>,
    /// Slots this node is taking over, and from whom.
    pub(in crate::cluster) importing: BTreeMap<u16, NodeId>,
    /// The cluster's logical clock.
    pub(in crate::cluster) current_epoch: u64,
    /// The last epoch this node voted in.
    pub(in crate::cluster) last_vote_epoch: u64,
    /// True when the cluster state is `ok`.
    pub(in crate::cluster) state_ok: bool,
    /// Primaries serving at least one slot.
    pub(in crate::cluster) size: usize,
    /// Forgotten ids and when they may be re-learned (monotonic ms).
    pub(in crate::cluster) blacklist: HashMap<NodeId, u64>,
    /// Settings.
    pub(in crate::cluster) settings: Settings,
    /// Message counters.
    pub(in crate::cluster) stats: BusStats,
    /// Outstanding work for the caller after a change.
    pub(in crate::cluster) changes: Changes,
    /// Outbound link id → node, for messages that arrive on it.
    pub(in crate::cluster) link_nodes: HashMap<u64, NodeId>,
    /// This node's replication offset, refreshed by the caller.
    pub(in crate::cluster) repl_offset: u64,
    /// On a replica: ms since it last heard from its primary (or since the
    /// link went down), refreshed by the caller.
    pub(in crate::cluster) repl_data_age: u64,
    /// Last link id handed out.
    pub(in crate::cluster) link_seq: u64,
    /// When this process loaded the topology (monotonic ms).
    started: u64,
    /// Last time this node found itself in a minority partition.
    among_minority: Option<u64>,
    /// This replica's election and manual failover, when one runs.
    pub(in crate::cluster) election: super::failover::Election,
    /// For each primary, when this node sent the PING that primary answered
    /// with a confirmation of this node's slots (the write lease).
    pub(in crate::cluster) confirmed: HashMap<NodeId, u64>,
}

impl Topology {
    /// A fresh one-node cluster: `myself` is a primary with no slots.
    pub fn new(myself: NodeId, port: u16, bus_port: u16, settings: Settings, now: u64) -> Topology {
        let mut me = Node::new(myself, NodeFlags::MYSELF.with(NodeFlags::MASTER), now);
        me.ip = settings.announce_ip.clone();
        me.port = port;
        me.bus_port = bus_port;
        let mut nodes = BTreeMap::new();
        nodes.insert(myself, me);
        Topology {
            myself,
            nodes,
            slot_map: SlotMap::default(),
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            current_epoch: 0,
            last_vote_epoch: 0,
            state_ok: false,
            size: 0,
            blacklist: HashMap::new(),
            settings,
            stats: BusStats::default(),
            changes: Changes::default(),
            link_nodes: HashMap::new(),
            repl_offset: 0,
            repl_data_age: 0,
            link_seq: 0,
            started: now,
            among_minority: None,
            election: Default::default(),
            confirmed: HashMap::new(),
        }
    }

    /// Records that `nodes.conf` must be written and routing recomputed.
    pub(in crate::cluster) fn touch(&mut self) {
        self.changes.save = true;
        self.changes.routes = true;
    }

    /// As `touch`, for epoch changes: the file is fsynced before going on.
    pub(in crate::cluster) fn touch_durable(&mut self) {
        self.touch();
        self.changes.durable = true;
    }

    /// This node.
    pub fn me(&self) -> &Node {
        &self.nodes[&self.myself]
    }

    /// This node, mutably.
    pub(in crate::cluster) fn me_mut(&mut self) -> &mut Node {
        let id = self.myself;
        self.nodes
            .get_mut(&id)
            .expect("myself is always in the node table")
    }

    /// The primary whose slots this node serves or replicates (itself for a primary).
    pub fn my_master(&self) -> Option<&Node> {
        let me = self.me();
        if me.is_master() {
            Some(me)
        } else {
            me.master.and_then(|m| self.nodes.get(&m))
        }
    }

    /// A node by id.
    pub fn node(&self, id: &NodeId) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// A node by the id text a command gave (Redis's `clusterLookupNode`).
    pub fn lookup(&self, text: &[u8]) -> Option<&Node> {
        NodeId::parse(text).and_then(|id| self.nodes.get(&id))
    }

    /// Takes the work a change left for the caller (`Cluster` settles it).
    pub(in crate::cluster) fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    /// Applies changed settings; the cluster state is recomputed with them.
    pub fn set_settings(&mut self, settings: Settings) {
        self.settings = settings;
        self.changes.routes = true;
    }

    /// The client and bus ports this node announces (CONFIG SET
    /// cluster-announce-port / -bus-port): other nodes learn them from the
    /// next heartbeat, `nodes.conf` is rewritten.
    pub fn set_announced_ports(&mut self, port: u16, bus_port: u16) {
        let myself = self.myself;
        let Some(me) = self.nodes.get_mut(&myself) else {
            return;
        };
        if (me.port, me.bus_port) != (port, bus_port) {
            me.port = port;
            me.bus_port = bus_port;
            self.touch();
        }
    }

    /// Records this node's replication offset and, on a replica, how long
    /// ago it last heard from its primary (ms): the election ranks by them.
    pub fn set_replication(&mut self, offset: u64, data_age: u64) {
        self.repl_offset = offset;
        self.repl_data_age = data_age;
    }

    /// This node's id.
    pub fn myself(&self) -> NodeId {
        self.myself
    }

    /// Every known node, myself included, in id order.
    pub fn nodes(&self) -> btree_map::Values<'_, NodeId, Node> {
        self.nodes.values()
    }

    /// The settings the rules run with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The cluster's logical clock.
    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }

    /// True when the cluster state is `ok`.
    pub fn state_ok(&self) -> bool {
        self.state_ok
    }

    /// Primaries serving at least one slot (`cluster_size`).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Bus message counters.
    pub fn stats(&self) -> &BusStats {
        &self.stats
    }

    /// The primaries serving slots, other than this node.
    pub fn other_slot_owners(&self) -> impl Iterator<Item = &Node> + '_ {
        let me = self.myself;
        self.nodes
            .values()
            .filter(move |n| n.id != me && n.is_slot_owner())
    }

    /// The replicas of `id`.
    pub fn replicas_of(&self, id: &NodeId) -> impl Iterator<Item = &Node> + '_ {
        let id = *id;
        self.nodes
            .values()
            .filter(move |n| n.is_replica() && n.master == Some(id))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn id(c: u8) -> NodeId {
        NodeId::parse(&[c; 40]).expect("test id")
    }

    pub(crate) fn topo(me: u8) -> Topology {
        Topology::new(id(me), 7000, 17000, Settings::default(), 0)
    }

    pub(crate) fn master(c: u8, port: u16) -> Node {
        let mut n = Node::new(id(c), NodeFlags::MASTER, 0);
        n.ip = "127.0.0.1".into();
        n.port = port;
        n.bus_port = port + 10000;
        n
    }
}
