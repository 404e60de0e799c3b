//! Node identity and records: ids, flags, links and what this node knows of each node.

use crate::slot::SlotSet;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
