//! The cluster as this node sees it: the node table (ids, addresses, roles,
//! flags, epochs, links), slot ownership (`SlotMap`), open slots (importing /
//! migrating), the epochs and the derived cluster state. Pure data and rules:
//! no I/O, so gossip, failure detection and the commands are unit-testable.
//!
//! Every time here (`now` arguments, the fields that record one) is in ms of
//! `clock::monotonic_ms`: the lease and the failure and election timers
//! compare durations, which a step of the wall clock must not stretch.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::slot::{SlotSet, SLOTS};

/// A node id: 40 characters of `[0-9a-z]` (Redis generates lowercase hex).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId([u8; 40]);

impl NodeId {
    /// A fresh random id (40 lowercase hex characters).
    pub fn random() -> NodeId {
        let mut b = [0u8; 40];
        for c in b.iter_mut() {
            *c = b"0123456789abcdef"[fastrand::usize(..16)];
        }
        NodeId(b)
    }

    /// Parses an id as Redis's `verifyClusterNodeId` accepts it.
    pub fn parse(b: &[u8]) -> Option<NodeId> {
        if b.len() != 40
            || !b
                .iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        {
            return None;
        }
        let mut a = [0u8; 40];
        a.copy_from_slice(b);
        Some(NodeId(a))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Every constructor checks for ASCII.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8; 40] {
        &self.0
    }
}

impl std::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_str()[..8])
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Node flags, with Redis's bit values (they travel in gossip).
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct NodeFlags(pub u16);

impl NodeFlags {
    /// This node.
    pub const MYSELF: NodeFlags = NodeFlags(1);
    /// A primary.
    pub const MASTER: NodeFlags = NodeFlags(2);
    /// A replica.
    pub const REPLICA: NodeFlags = NodeFlags(4);
    /// Possibly failing: no PONG within the node timeout (`fail?`).
    pub const PFAIL: NodeFlags = NodeFlags(8);
    /// Failing, by agreement of a majority of primaries.
    pub const FAIL: NodeFlags = NodeFlags(16);
    /// Met but not yet introduced: its id is a placeholder.
    pub const HANDSHAKE: NodeFlags = NodeFlags(32);
    /// Its address is unknown.
    pub const NOADDR: NodeFlags = NodeFlags(64);
    /// Send MEET, not PING, on the next link to it.
    pub const MEET: NodeFlags = NodeFlags(128);
    /// A replica eligible for replica migration.
    pub const MIGRATE_TO: NodeFlags = NodeFlags(256);
    /// A replica that never starts a failover.
    pub const NOFAILOVER: NodeFlags = NodeFlags(512);

    /// Flags in `CLUSTER NODES` order with their names.
    const NAMES: [(NodeFlags, &'static str); 8] = [
        (NodeFlags::MYSELF, "myself"),
        (NodeFlags::MASTER, "master"),
        (NodeFlags::REPLICA, "slave"),
        (NodeFlags::PFAIL, "fail?"),
        (NodeFlags::FAIL, "fail"),
        (NodeFlags::HANDSHAKE, "handshake"),
        (NodeFlags::NOADDR, "noaddr"),
        (NodeFlags::NOFAILOVER, "nofailover"),
    ];

    /// True when every bit of `f` is set.
    pub const fn has(self, f: NodeFlags) -> bool {
        self.0 & f.0 == f.0
    }

    /// True when any bit of `f` is set.
    pub const fn any(self, f: NodeFlags) -> bool {
        self.0 & f.0 != 0
    }

    /// These flags plus `f`.
    pub const fn with(self, f: NodeFlags) -> NodeFlags {
        NodeFlags(self.0 | f.0)
    }

    /// Sets or clears `f`.
    pub fn set(&mut self, f: NodeFlags, on: bool) {
        if on {
            self.0 |= f.0;
        } else {
            self.0 &= !f.0;
        }
    }

    /// The comma-joined names (`myself,master`), or `noflags`.
    pub fn describe(self) -> String {
        let names: Vec<&str> = Self::NAMES
            .iter()
            .filter(|(f, _)| self.has(*f))
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            "noflags".into()
        } else {
            names.join(",")
        }
    }

    /// Parses a `CLUSTER NODES` flags field (for `nodes.conf`).
    pub fn parse(s: &str) -> NodeFlags {
        let mut f = NodeFlags::default();
        for name in s.split(',') {
            if let Some((flag, _)) = Self::NAMES.iter().find(|(_, n)| *n == name) {
                f = f.with(*flag);
            }
        }
        f
    }
}

/// This node's outbound connection to another node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Identifies the connection to the I/O layer.
    pub id: u64,
    /// When it was created (monotonic ms).
    pub created: u64,
    /// True once the TCP connection is established.
    pub connected: bool,
}

/// One node of the cluster.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its id (a random placeholder while in handshake).
    pub id: NodeId,
    /// IP address ("" when not yet known).
    pub ip: String,
    /// Client port.
    pub port: u16,
    /// Cluster bus port.
    pub bus_port: u16,
    /// Announced hostname ("" for none).
    pub hostname: String,
    /// Shard id (a replica reports its primary's).
    pub shard_id: NodeId,
    /// Role and state flags.
    pub flags: NodeFlags,
    /// The primary of a replica.
    pub master: Option<NodeId>,
    /// Config epoch (for a primary: the version of its slot claims).
    pub config_epoch: u64,
    /// The slots it serves (primaries only).
    pub slots: SlotSet,
    /// Monotonic ms of the ping awaiting a PONG (0 = none).
    pub ping_sent: u64,
    /// Monotonic ms of the last PONG.
    pub pong_received: u64,
    /// Monotonic ms of the last message of any kind from it.
    pub data_received: u64,
    /// When it was marked FAIL.
    pub fail_time: u64,
    /// When this record was created (handshake timeout).
    pub ctime: u64,
    /// Its replication offset, as it last reported.
    pub repl_offset: u64,
    /// Primaries that reported it failing, with the time of their last report.
    pub fail_reports: Vec<(NodeId, u64)>,
    /// When this node last voted for one of its replicas (monotonic ms).
    pub voted_time: u64,
    /// For a primary: when it was last seen with no working replica while it
    /// had slots (0 = it has one), for replica migration.
    pub orphaned_since: u64,
    /// Our outbound connection to it.
    pub link: Option<Link>,
    /// The inbound connection it last talked to us on (id, created ms).
    pub inbound: Option<(u64, u64)>,
}

impl Node {
    /// A node record with no slots, epoch 0, no link.
    pub fn new(id: NodeId, flags: NodeFlags, now: u64) -> Node {
        Node {
            id,
            ip: String::new(),
            port: 0,
            bus_port: 0,
            hostname: String::new(),
            shard_id: NodeId::random(),
            flags,
            master: None,
            config_epoch: 0,
            slots: SlotSet::new(),
            ping_sent: 0,
            pong_received: 0,
            data_received: 0,
            fail_time: 0,
            ctime: now,
            repl_offset: 0,
            fail_reports: Vec::new(),
            voted_time: 0,
            orphaned_since: 0,
            link: None,
            inbound: None,
        }
    }

    /// True for a primary.
    pub fn is_master(&self) -> bool {
        self.flags.has(NodeFlags::MASTER)
    }

    /// True for a primary that serves slots: one that votes in elections
    /// and counts in the cluster size.
    pub fn is_slot_owner(&self) -> bool {
        self.is_master() && !self.slots.is_empty()
    }

    /// True for a replica.
    pub fn is_replica(&self) -> bool {
        self.flags.has(NodeFlags::REPLICA)
    }

    /// True while the node is PFAIL or FAIL.
    pub fn is_failing(&self) -> bool {
        self.flags.any(NodeFlags::PFAIL.with(NodeFlags::FAIL))
    }

    /// True while in handshake.
    pub fn in_handshake(&self) -> bool {
        self.flags.has(NodeFlags::HANDSHAKE)
    }

    /// `ip:port@busport`, with `,hostname` when it has one.
    pub fn address(&self) -> String {
        let mut s = format!("{}:{}@{}", self.ip, self.port, self.bus_port);
        if !self.hostname.is_empty() {
            s.push(',');
            s.push_str(&self.hostname);
        }
        s
    }
}

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

/// Which node serves each hash slot. Kept in step with every node's `slots`
/// set by `Topology::add_slot`/`del_slot`, its only writers.
#[derive(Debug, Clone)]
pub struct SlotMap(Vec<Option<NodeId>>);

impl Default for SlotMap {
    fn default() -> Self {
        SlotMap(vec![None; SLOTS])
    }
}

impl SlotMap {
    /// The owner of `slot`.
    pub fn owner(&self, slot: u16) -> Option<NodeId> {
        self.0[slot as usize]
    }

    fn set(&mut self, slot: u16, owner: Option<NodeId>) -> Option<NodeId> {
        std::mem::replace(&mut self.0[slot as usize], owner)
    }

    /// Maximal runs of slots with the same owner, in slot order.
    pub fn runs(&self) -> Vec<(u16, u16, NodeId)> {
        let mut out: Vec<(u16, u16, NodeId)> = Vec::new();
        for (s, o) in self.0.iter().enumerate() {
            let Some(o) = o else { continue };
            match out.last_mut() {
                Some((_, end, id)) if id == o && *end as usize + 1 == s => *end = s as u16,
                _ => out.push((s as u16, s as u16, *o)),
            }
        }
        out
    }
}

/// How long a forgotten node may not be re-added by gossip (ms).
pub const FORGET_TTL_MS: u64 = 60_000;
/// A primary waits this long after start before it declares the cluster ok.
pub const WRITABLE_DELAY_MS: u64 = 2000;

/// The whole cluster configuration as this node knows it.
#[derive(Debug)]
pub struct Topology {
    /// This node's id.
    pub myself: NodeId,
    /// Every known node, myself included.
    pub nodes: BTreeMap<NodeId, Node>,
    /// Owner of each slot.
    slot_map: SlotMap,
    /// Slots this node is handing over, and to whom.
    pub migrating: BTreeMap<u16, NodeId>,
    /// Slots this node is taking over, and from whom.
    pub importing: BTreeMap<u16, NodeId>,
    /// The cluster's logical clock.
    pub current_epoch: u64,
    /// The last epoch this node voted in.
    pub last_vote_epoch: u64,
    /// True when the cluster state is `ok`.
    pub state_ok: bool,
    /// Primaries serving at least one slot.
    pub size: usize,
    /// Forgotten ids and when they may be re-learned (monotonic ms).
    pub blacklist: HashMap<NodeId, u64>,
    /// Settings.
    pub settings: Settings,
    /// Message counters.
    pub stats: BusStats,
    /// Outstanding work for the caller after a change.
    pub changes: Changes,
    /// Outbound link id → node, for messages that arrive on it.
    pub link_nodes: HashMap<u64, NodeId>,
    /// This node's replication offset, refreshed by the caller.
    pub repl_offset: u64,
    /// On a replica: ms since it last heard from its primary (or since the
    /// link went down), refreshed by the caller.
    pub repl_data_age: u64,
    /// Last link id handed out.
    pub(crate) link_seq: u64,
    started: u64,
    /// Last time this node found itself in a minority partition.
    among_minority: Option<u64>,
    /// This replica's election and manual failover, when one runs.
    pub election: super::failover::Election,
    /// For each primary, when this node sent the PING that primary answered
    /// with a confirmation of this node's slots (the write lease).
    pub confirmed: HashMap<NodeId, u64>,
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
    pub fn touch(&mut self) {
        self.changes.save = true;
        self.changes.routes = true;
    }

    /// As `touch`, for epoch changes: the file is fsynced before going on.
    pub fn touch_durable(&mut self) {
        self.touch();
        self.changes.durable = true;
    }

    /// This node.
    pub fn me(&self) -> &Node {
        &self.nodes[&self.myself]
    }

    /// This node, mutably.
    pub fn me_mut(&mut self) -> &mut Node {
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

    /// The owner of `slot`.
    pub fn owner(&self, slot: u16) -> Option<NodeId> {
        self.slot_map.owner(slot)
    }

    /// Number of assigned slots.
    pub fn assigned(&self) -> usize {
        self.nodes.values().map(|n| n.slots.count()).sum()
    }

    /// True when some node serves `slot`.
    pub fn is_assigned(&self, slot: u16) -> bool {
        self.slot_map.owner(slot).is_some()
    }

    /// Assigns `slot` to `id` (which must be known), releasing any previous owner.
    pub fn add_slot(&mut self, slot: u16, id: NodeId) {
        self.del_slot(slot);
        if let Some(n) = self.nodes.get_mut(&id) {
            n.slots.set(slot, true);
            self.slot_map.set(slot, Some(id));
            self.touch();
        }
    }

    /// Unassigns `slot`; returns its previous owner.
    pub fn del_slot(&mut self, slot: u16) -> Option<NodeId> {
        let prev = self.slot_map.set(slot, None)?;
        if let Some(n) = self.nodes.get_mut(&prev) {
            n.slots.set(slot, false);
        }
        self.touch();
        Some(prev)
    }

    /// Unassigns every slot of `id`; returns how many it had.
    pub fn del_node_slots(&mut self, id: &NodeId) -> usize {
        let slots: Vec<u16> = match self.nodes.get(id) {
            Some(n) => n.slots.iter().collect(),
            None => return 0,
        };
        for &s in &slots {
            self.del_slot(s);
        }
        slots.len()
    }

    /// The replicas of `id`.
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

    /// Adds a node record (replacing one with the same id).
    pub fn add_node(&mut self, n: Node) {
        self.nodes.insert(n.id, n);
        self.touch();
    }

    /// Removes a node: its slots become unassigned, open slots that name it are
    /// closed, its failure reports are dropped, its replicas lose their primary.
    /// Returns its outbound link id so the caller can close the connection.
    pub fn del_node(&mut self, id: &NodeId) -> Option<u64> {
        if *id == self.myself {
            return None;
        }
        self.del_node_slots(id);
        self.migrating.retain(|_, to| to != id);
        self.importing.retain(|_, from| from != id);
        for n in self.nodes.values_mut() {
            n.fail_reports.retain(|(by, _)| by != id);
            if n.master == Some(*id) {
                n.master = None;
            }
        }
        let removed = self.nodes.remove(id)?;
        self.touch();
        let link = removed.link.map(|l| l.id);
        if let Some(l) = link {
            self.link_nodes.remove(&l);
        }
        link
    }

    /// Gives a handshake node its real id.
    pub fn rename(&mut self, old: &NodeId, new: NodeId) {
        if let Some(mut n) = self.nodes.remove(old) {
            n.id = new;
            if let Some(l) = n.link {
                self.link_nodes.insert(l.id, new);
            }
            self.nodes.insert(new, n);
            self.touch();
        }
    }

    /// Turns `id` into a primary (Redis's `clusterSetNodeAsMaster`).
    pub fn set_node_as_master(&mut self, id: &NodeId) {
        let Some(n) = self.nodes.get_mut(id) else {
            return;
        };
        if n.is_master() {
            return;
        }
        n.flags.set(NodeFlags::REPLICA, false);
        n.flags.set(NodeFlags::MIGRATE_TO, false);
        n.flags.set(NodeFlags::MASTER, true);
        n.master = None;
        self.touch();
    }

    /// Makes this node a replica of `master` (Redis's `clusterSetMaster`): it
    /// gives up its slots and closes its open slots.
    pub fn set_my_master(&mut self, master: NodeId) {
        let me = self.myself;
        if self.me().is_master() {
            self.del_node_slots(&me);
            self.migrating.clear();
            self.importing.clear();
        }
        let shard = self.nodes.get(&master).map(|m| m.shard_id);
        let n = self.me_mut();
        n.flags.set(NodeFlags::MASTER, false);
        n.flags.set(NodeFlags::REPLICA, true);
        n.master = Some(master);
        if let Some(s) = shard {
            n.shard_id = s;
        }
        self.touch();
    }

    /// The largest config epoch known, or the current epoch if larger.
    pub fn max_epoch(&self) -> u64 {
        self.nodes
            .values()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(self.current_epoch)
    }

    /// Gives this node a new, unique config epoch without an agreement, when
    /// its own is 0 or not the largest (`CLUSTER BUMPEPOCH`, closing an import).
    /// Returns true when it changed.
    pub fn bump_epoch_without_consensus(&mut self) -> bool {
        let max = self.max_epoch();
        let mine = self.me().config_epoch;
        if mine == 0 || mine != max {
            self.current_epoch += 1;
            let e = self.current_epoch;
            self.me_mut().config_epoch = e;
            self.touch_durable();
            true
        } else {
            false
        }
    }

    /// True while `id` is forgotten (gossip must not re-add it).
    pub fn blacklisted(&mut self, id: &NodeId, now: u64) -> bool {
        self.blacklist.retain(|_, until| *until > now);
        self.blacklist.contains_key(id)
    }

    /// Votes needed for a majority of the primaries serving slots.
    pub fn quorum(&self) -> usize {
        self.size / 2 + 1
    }

    /// Recomputes `state_ok` and `size` (Redis's `clusterUpdateState`): fail when
    /// a slot is unowned or owned by a FAIL node (with full coverage required),
    /// or when this node cannot reach a majority of the primaries with slots.
    pub fn update_state(&mut self, now: u64) {
        let was = self.state_ok;
        // A restarted primary waits a little before taking writes, so the
        // cluster can tell it about changes made while it was away.
        if self.me().is_master()
            && !self.state_ok
            && now.saturating_sub(self.started) < WRITABLE_DELAY_MS
        {
            return;
        }
        let mut ok = true;
        if self.settings.require_full_coverage {
            // Owners and the nodes' slot sets are kept in step: every slot is
            // covered when all are assigned and no failed node holds one.
            ok = self.assigned() == SLOTS
                && self
                    .nodes
                    .values()
                    .all(|n| !n.flags.has(NodeFlags::FAIL) || n.slots.is_empty());
        }
        let mut size = 0;
        let mut reachable = 0;
        for n in self.nodes.values() {
            if n.is_slot_owner() {
                size += 1;
                if !n.is_failing() {
                    reachable += 1;
                }
            }
        }
        self.size = size;
        if reachable < size / 2 + 1 {
            ok = false;
            self.among_minority = Some(now);
        }
        if ok != was {
            // A primary back from the minority side waits before serving again,
            // so that it first hears about a failover that happened without it.
            let rejoin = self.settings.node_timeout.clamp(500, 5000);
            let recently_minority = self
                .among_minority
                .is_some_and(|t| now.saturating_sub(t) < rejoin);
            if ok && self.me().is_master() && recently_minority {
                return;
            }
            tracing::info!("Cluster state changed: {}", if ok { "ok" } else { "fail" });
            self.state_ok = ok;
            self.changes.routes = true;
        }
    }

    /// Applies a primary's claim of `slots` at `epoch` (Redis's
    /// `clusterUpdateSlotsConfigWith`): a slot moves to the claimer when it is
    /// unassigned or its owner has a smaller config epoch (importing slots are
    /// left alone). A primary that loses its last slot this way becomes a
    /// replica of the claimer. Returns slots this node lost while still holding
    /// keys: the caller deletes those keys (`has_keys` tells which slots do).
    pub fn update_slots_with(
        &mut self,
        sender: &NodeId,
        epoch: u64,
        slots: &SlotSet,
        has_keys: &dyn Fn(u16) -> bool,
    ) -> Vec<u16> {
        if *sender == self.myself {
            return Vec::new();
        }
        let me = self.myself;
        let cur_master = if self.me().is_master() {
            Some(me)
        } else {
            self.me().master
        };
        let mut dirty = Vec::new();
        let mut new_master = None;
        let (mut sender_slots, mut migrated_ours) = (0usize, 0usize);
        for s in slots.iter() {
            sender_slots += 1;
            let owner = self.owner(s);
            if owner == Some(*sender) || self.importing.contains_key(&s) {
                continue;
            }
            let owner_epoch = owner
                .and_then(|o| self.nodes.get(&o))
                .map_or(0, |n| n.config_epoch);
            if owner.is_none() || owner_epoch < epoch {
                if owner == Some(me) && has_keys(s) {
                    dirty.push(s);
                }
                if owner.is_some() && owner == cur_master {
                    new_master = Some(*sender);
                    migrated_ours += 1;
                }
                self.add_slot(s, *sender);
            }
        }
        let cur_master_empty = cur_master
            .and_then(|m| self.nodes.get(&m))
            .is_some_and(|m| m.slots.is_empty());
        if let Some(nm) = new_master {
            if cur_master_empty
                && (self.settings.allow_replica_migration || sender_slots == migrated_ours)
            {
                tracing::warn!(
                    "Configuration change detected. Reconfiguring myself as a replica of {nm}"
                );
                self.set_my_master(nm);
                return Vec::new();
            }
        }
        dirty
    }

    /// The `CLUSTER NODES` line of `n` (no newline). Open-slot markers appear on
    /// this node's own line only.
    pub fn describe(&self, n: &Node) -> String {
        let mut s = String::with_capacity(128);
        let _ = write!(s, "{} {} {} ", n.id, n.address(), n.flags.describe());
        match n.master {
            Some(m) if n.is_replica() => s.push_str(m.as_str()),
            _ => s.push('-'),
        }
        let epoch = match n.master.and_then(|m| self.nodes.get(&m)) {
            Some(m) if n.is_replica() => m.config_epoch,
            _ => n.config_epoch,
        };
        let connected = n.flags.has(NodeFlags::MYSELF) || n.link.is_some_and(|l| l.connected);
        let _ = write!(
            s,
            " {} {} {} {}",
            n.ping_sent,
            n.pong_received,
            epoch,
            if connected {
                "connected"
            } else {
                "disconnected"
            }
        );
        for (a, b) in n.slots.ranges() {
            s.push(' ');
            crate::slot::push_range(&mut s, a, b);
        }
        if n.id == self.myself {
            for (slot, to) in &self.migrating {
                let _ = write!(s, " [{slot}->-{to}]");
            }
            for (slot, from) in &self.importing {
                let _ = write!(s, " [{slot}-<-{from}]");
            }
        }
        s
    }

    /// `CLUSTER NODES`: one line per node, each ending in `\n`.
    pub fn describe_all(&self) -> String {
        let mut s = String::new();
        for n in self.nodes.values() {
            s.push_str(&self.describe(n));
            s.push('\n');
        }
        s
    }

    /// Slots assigned to nodes that are ok / PFAIL / FAIL.
    pub fn slot_health(&self) -> (usize, usize, usize) {
        let (mut ok, mut pfail, mut fail) = (0, 0, 0);
        for n in self.nodes.values() {
            let c = n.slots.count();
            if n.flags.has(NodeFlags::FAIL) {
                fail += c;
            } else if n.flags.has(NodeFlags::PFAIL) {
                pfail += c;
            } else {
                ok += c;
            }
        }
        (ok, pfail, fail)
    }

    /// Maximal runs of slots with the same owner, in slot order (`CLUSTER SLOTS`).
    pub fn slot_runs(&self) -> Vec<(u16, u16, NodeId)> {
        self.slot_map.runs()
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

    #[test]
    fn ids_parse_and_flags_describe() {
        assert!(NodeId::parse(b"short").is_none());
        assert!(NodeId::parse(&[b'A'; 40]).is_none());
        let r = NodeId::random();
        assert_eq!(NodeId::parse(r.as_bytes()), Some(r));
        assert_eq!(
            NodeFlags::MYSELF.with(NodeFlags::MASTER).describe(),
            "myself,master"
        );
        assert_eq!(NodeFlags::default().describe(), "noflags");
        let f = NodeFlags::REPLICA
            .with(NodeFlags::PFAIL)
            .with(NodeFlags::NOFAILOVER);
        assert_eq!(f.describe(), "slave,fail?,nofailover");
        assert_eq!(NodeFlags::parse(&f.describe()), f);
    }

    #[test]
    fn node_lines_match_redis_format() {
        let mut t = topo(b'a');
        t.me_mut().ip = "127.0.0.1".into();
        t.me_mut().config_epoch = 1;
        t.me_mut().pong_received = 1795411197000;
        for s in 0..=5460 {
            t.add_slot(s, id(b'a'));
        }
        t.add_node(master(b'b', 7001));
        let mut r = Node::new(id(b'c'), NodeFlags::REPLICA, 0);
        r.ip = "127.0.0.1".into();
        r.port = 7002;
        r.bus_port = 17002;
        r.master = Some(id(b'a'));
        r.link = Some(Link {
            id: 1,
            created: 0,
            connected: true,
        });
        t.add_node(r);
        t.migrating.insert(100, id(b'b'));
        t.importing.insert(6000, id(b'b'));
        let me = t.describe(t.me());
        assert_eq!(
            me,
            format!(
                "{} 127.0.0.1:7000@17000 myself,master - 0 1795411197000 1 connected 0-5460 [100->-{}] [6000-<-{}]",
                id(b'a'),
                id(b'b'),
                id(b'b')
            )
        );
        let rep = t.describe(&t.nodes[&id(b'c')]);
        assert_eq!(
            rep,
            format!(
                "{} 127.0.0.1:7002@17002 slave {} 0 0 1 connected",
                id(b'c'),
                id(b'a')
            )
        );
        let other = t.describe(&t.nodes[&id(b'b')]);
        assert!(other.ends_with(" master - 0 0 0 disconnected"), "{other}");
        assert_eq!(t.describe_all().lines().count(), 3);
        assert!(t.describe_all().ends_with('\n'));
    }

    #[test]
    fn state_needs_coverage_and_a_majority() {
        let mut t = topo(b'a');
        t.update_state(WRITABLE_DELAY_MS);
        assert!(!t.state_ok, "no slots assigned");
        for s in 0..SLOTS as u16 {
            t.add_slot(s, id(b'a'));
        }
        // A primary with no slots counts as a minority: it waits out the rejoin delay.
        t.update_state(WRITABLE_DELAY_MS + 100);
        assert!(!t.state_ok);
        t.update_state(WRITABLE_DELAY_MS + 5000);
        assert!(t.state_ok);
        assert_eq!(t.size, 1);
        t.del_slot(5);
        t.update_state(WRITABLE_DELAY_MS + 1);
        assert!(!t.state_ok);
        t.settings.require_full_coverage = false;
        t.update_state(WRITABLE_DELAY_MS + 10_000);
        assert!(t.state_ok);
        // Three primaries, two of them unreachable: minority.
        t.add_node(master(b'b', 7001));
        t.add_node(master(b'c', 7002));
        t.add_slot(5, id(b'b'));
        t.add_slot(6, id(b'c'));
        for c in [b'b', b'c'] {
            t.nodes
                .get_mut(&id(c))
                .unwrap()
                .flags
                .set(NodeFlags::PFAIL, true);
        }
        t.update_state(WRITABLE_DELAY_MS + 20_000);
        assert!(!t.state_ok);
        assert_eq!(t.size, 3);
        // Healed: the primary waits out the rejoin delay first.
        for c in [b'b', b'c'] {
            t.nodes
                .get_mut(&id(c))
                .unwrap()
                .flags
                .set(NodeFlags::PFAIL, false);
        }
        t.update_state(WRITABLE_DELAY_MS + 20_100);
        assert!(!t.state_ok);
        t.update_state(WRITABLE_DELAY_MS + 40_000);
        assert!(t.state_ok);
    }

    #[test]
    fn higher_epoch_claims_win_and_the_loser_follows() {
        let mut t = topo(b'a');
        t.me_mut().config_epoch = 1;
        for s in 0..10 {
            t.add_slot(s, id(b'a'));
        }
        let mut b = master(b'b', 7001);
        b.config_epoch = 2;
        t.add_node(b);
        let mut claim = SlotSet::new();
        for s in 0..5 {
            claim.set(s, true);
        }
        let dirty = t.update_slots_with(&id(b'b'), 2, &claim, &|s| s == 3);
        assert_eq!(dirty, vec![3]);
        assert_eq!(t.owner(0), Some(id(b'b')));
        assert_eq!(t.owner(7), Some(id(b'a')));
        // A stale claim (lower epoch) changes nothing.
        let mut stale = SlotSet::new();
        stale.set(8, true);
        t.update_slots_with(&id(b'b'), 0, &stale, &|_| false);
        assert_eq!(t.owner(8), Some(id(b'a')));
        // Losing the last slot turns this primary into the claimer's replica.
        for s in 5..10 {
            claim.set(s, true);
        }
        let dirty = t.update_slots_with(&id(b'b'), 2, &claim, &|_| true);
        assert!(dirty.is_empty());
        assert!(t.me().is_replica());
        assert_eq!(t.me().master, Some(id(b'b')));
        // Importing slots are only closed by hand.
        let mut t = topo(b'a');
        t.add_node(master(b'b', 7001));
        t.importing.insert(1, id(b'b'));
        let mut one = SlotSet::new();
        one.set(1, true);
        t.update_slots_with(&id(b'b'), 5, &one, &|_| false);
        assert_eq!(t.owner(1), None);
    }

    #[test]
    fn bump_epoch_and_delete_node() {
        let mut t = topo(b'a');
        assert!(t.bump_epoch_without_consensus());
        assert_eq!(t.me().config_epoch, 1);
        assert!(!t.bump_epoch_without_consensus(), "already the largest");
        let mut b = master(b'b', 7001);
        b.config_epoch = 5;
        t.add_node(b);
        assert!(t.bump_epoch_without_consensus());
        assert_eq!(t.me().config_epoch, 2);
        t.current_epoch = 5;
        t.add_slot(9, id(b'b'));
        t.migrating.insert(3, id(b'b'));
        t.del_node(&id(b'b'));
        assert_eq!(t.owner(9), None);
        assert!(t.migrating.is_empty());
        assert_eq!(t.slot_runs(), vec![]);
    }
}
