//! The gossip protocol as pure functions over the `Topology`: what to do with a
//! message that arrived, and what the periodic tick sends. Each call returns an
//! `Outbox` (messages to send, links to open or close, slots whose keys must go)
//! that the bus carries out, so the rules are tested without sockets.
//!
//! - `receive`: a message that arrived, one handler per message kind.
//! - `heartbeat`: what a PING/PONG/MEET says about its sender and others.
//! - `send`: the messages this node sends.
//! - `links`: link ids, handshakes, connections up and down, addresses.

mod heartbeat;
mod links;
mod receive;
mod send;

use super::message::Header;
use super::outbox::{Connect, Outbox};
use super::topology::{Link, NodeFlags, NodeId, Topology};

/// Where a message came from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Our outbound link with this id (its node is in `Topology::link_nodes`).
    Outbound(u64),
    /// A connection a peer opened to us.
    Inbound {
        /// Its link id (replies go back on it).
        link: u64,
        /// The peer's IP address.
        peer_ip: String,
        /// Our IP address on that connection.
        local_ip: String,
    },
}

impl Origin {
    fn link(&self) -> u64 {
        match self {
            Origin::Outbound(l) => *l,
            Origin::Inbound { link, .. } => *link,
        }
    }
}

impl Topology {
    /// The periodic work, every 100 ms (Redis's `clusterCron`): drop stale
    /// handshakes, open missing links, send heartbeats, detect failures.
    pub fn tick(&mut self, iteration: u64, now: u64) -> Outbox {
        let mut out = Outbox::default();
        self.update_myself_flags();
        let nt = self.settings.node_timeout;
        let handshake_timeout = nt.max(1000);
        let stale: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.in_handshake() && now.saturating_sub(n.ctime) > handshake_timeout)
            .map(|n| n.id)
            .collect();
        for id in stale {
            self.forget_node(&id, &mut out);
        }
        // Open a link to every node that has none.
        let need: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| {
                n.id != self.myself
                    && n.link.is_none()
                    && !n.flags.has(NodeFlags::NOADDR)
                    && !n.ip.is_empty()
            })
            .map(|n| n.id)
            .collect();
        for id in need {
            let link = self.next_link_id();
            let n = self.nodes.get_mut(&id).expect("collected above");
            n.link = Some(Link {
                id: link,
                created: now,
                connected: false,
            });
            out.connects.push(Connect {
                link,
                addr: format!("{}:{}", n.ip, n.bus_port),
            });
            self.link_nodes.insert(link, id);
        }
        // Once a second, ping the node we heard from least recently among a few.
        if iteration.is_multiple_of(10) {
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            let mut best: Option<(u64, NodeId)> = None;
            for _ in 0..5 {
                if ids.is_empty() {
                    break;
                }
                let n = &self.nodes[&ids[fastrand::usize(..ids.len())]];
                if n.id == self.myself
                    || n.in_handshake()
                    || n.ping_sent != 0
                    || !n.link.is_some_and(|l| l.connected)
                {
                    continue;
                }
                if best.is_none_or(|(p, _)| n.pong_received < p) {
                    best = Some((n.pong_received, n.id));
                }
            }
            if let Some((_, id)) = best {
                self.send_ping(&id, now, &mut out);
            }
        }
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            let Some(n) = self.nodes.get(&id) else {
                continue;
            };
            if id == self.myself || n.flags.any(NodeFlags::NOADDR.with(NodeFlags::HANDSHAKE)) {
                continue;
            }
            if let Some(link) = n.link.filter(|l| l.connected) {
                // Pings pending for long and nothing heard: the connection may be
                // broken even if the node is alive, so reconnect.
                if now.saturating_sub(link.created) > nt
                    && n.ping_sent != 0
                    && now.saturating_sub(n.ping_sent) > nt / 2
                    && now.saturating_sub(n.data_received) > nt / 2
                {
                    self.drop_link(&id, &mut out);
                    continue;
                }
                if n.ping_sent == 0 && now.saturating_sub(n.pong_received) > nt / 2 {
                    self.send_ping(&id, now, &mut out);
                    continue;
                }
            }
        }
        self.detect_failures(now, &mut out);
        self.update_state(now);
        self.manual_failover_tick(now, &mut out);
        self.handle_replica_failover(now, &mut out);
        self.handle_replica_migration(now);
        self.renew_lease(now, &mut out);
        out
    }
}

/// The sender's address: what it announces, else where its connection comes from.
fn sender_ip(origin: &Origin, h: &Header) -> String {
    match origin {
        Origin::Inbound { peer_ip, .. } if h.ip.is_empty() => peer_ip.clone(),
        _ => h.ip.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::message::Message;
    use super::super::topology::{Settings, Topology};
    use super::*;
    use crate::slot::SLOTS;

    /// Several topologies wired together in memory: links are delivered by
    /// id, so gossip convergence is tested without sockets.
    struct Net {
        nodes: Vec<Topology>,
        /// link id → (owner index, peer index, owner is the connecting side)
        links: HashMap<u64, (usize, usize)>,
        /// (node index, link id on that node) → (peer index, peer's link id)
        wires: HashMap<(usize, u64), (usize, u64)>,
        next_inbound: u64,
        now: u64,
        iter: u64,
        /// Nodes that are stopped: they neither run nor receive.
        down: Vec<bool>,
    }

    impl Net {
        fn new(n: usize) -> Net {
            let nodes = (0..n)
                .map(|i| {
                    let mut t = Topology::new(
                        NodeId::random(),
                        7000 + i as u16,
                        17000 + i as u16,
                        Settings {
                            node_timeout: 1000,
                            ..Settings::default()
                        },
                        0,
                    );
                    t.me_mut().ip = "127.0.0.1".into();
                    t
                })
                .collect();
            Net {
                nodes,
                links: HashMap::new(),
                wires: HashMap::new(),
                next_inbound: 1_000_000,
                now: 10_000,
                iter: 0,
                down: vec![false; n],
            }
        }

        /// Nodes 0, 1, 2 serve the slots congruent to their index mod 3,
        /// at config epochs 1, 2, 3.
        fn three_primaries(&mut self) {
            for i in 0..3 {
                let me = self.nodes[i].myself;
                for s in (0..SLOTS).filter(|s| s % 3 == i) {
                    self.nodes[i].add_slot(s as u16, me);
                }
                self.nodes[i].me_mut().config_epoch = i as u64 + 1;
                self.nodes[i].current_epoch = i as u64 + 1;
            }
        }

        fn index_of_port(&self, bus_port: u16) -> Option<usize> {
            self.nodes.iter().position(|t| t.me().bus_port == bus_port)
        }

        fn deliver(&mut self, from: usize, out: Outbox, queue: &mut Vec<(usize, u64, Message)>) {
            for c in out.connects {
                let port: u16 = c.addr.rsplit(':').next().unwrap().parse().unwrap();
                let Some(peer) = self.index_of_port(port).filter(|&p| !self.down[p]) else {
                    self.nodes[from].link_closed(c.link, self.now);
                    continue;
                };
                self.next_inbound += 1;
                let inbound = self.next_inbound;
                self.links.insert(c.link, (from, peer));
                self.wires.insert((from, c.link), (peer, inbound));
                self.wires.insert((peer, inbound), (from, c.link));
                if let Some(m) = self.nodes[from].link_connected(c.link, self.now) {
                    queue.push((peer, inbound, m));
                }
            }
            for (links, m) in out.sends {
                for l in links {
                    if let Some(&(peer, peer_link)) = self.wires.get(&(from, l)) {
                        queue.push((peer, peer_link, m.clone()));
                    }
                }
            }
        }

        fn run(&mut self, rounds: usize) {
            for _ in 0..rounds {
                self.now += 100;
                self.iter += 1;
                let mut queue = Vec::new();
                for i in 0..self.nodes.len() {
                    if self.down[i] {
                        continue;
                    }
                    let out = self.nodes[i].tick(self.iter, self.now);
                    self.deliver(i, out, &mut queue);
                }
                while let Some((to, link, m)) = queue.pop() {
                    if self.down[to] {
                        continue;
                    }
                    let origin = if link >= 1_000_000 {
                        Origin::Inbound {
                            link,
                            peer_ip: "127.0.0.1".into(),
                            local_ip: "127.0.0.1".into(),
                        }
                    } else {
                        Origin::Outbound(link)
                    };
                    let out = self.nodes[to].on_message(m, &origin, self.now);
                    self.deliver(to, out, &mut queue);
                }
            }
        }

        fn signature(&self, i: usize) -> String {
            let t = &self.nodes[i];
            let mut lines: Vec<String> = t
                .nodes
                .values()
                .filter(|n| !n.slots.is_empty())
                .map(|n| format!("{}:{}", n.id, n.slots.ranges_text()))
                .collect();
            lines.sort();
            lines.join("|")
        }
    }

    #[test]
    fn meet_and_gossip_converge_with_slots() {
        let mut net = Net::new(6);
        let per = SLOTS / 3;
        for i in 0..3 {
            let me = net.nodes[i].myself;
            let end = if i == 2 { SLOTS } else { (i + 1) * per };
            for s in i * per..end {
                net.nodes[i].add_slot(s as u16, me);
            }
        }
        for (i, t) in net.nodes.iter_mut().enumerate() {
            t.me_mut().config_epoch = i as u64 + 1;
            t.current_epoch = i as u64 + 1;
        }
        // Everyone meets node 0, as redis-cli --cluster create does.
        for i in 1..6 {
            net.nodes[i].start_handshake("127.0.0.1", 7000, 17000, net.now);
        }
        net.run(30);
        let ids: Vec<NodeId> = net.nodes.iter().map(|t| t.myself).collect();
        for t in &net.nodes {
            assert_eq!(t.nodes.len(), 6, "every node knows every node");
            assert!(t.nodes.values().all(|n| !n.in_handshake()));
        }
        let sig = net.signature(0);
        for i in 1..6 {
            assert_eq!(net.signature(i), sig, "node {i} disagrees");
        }
        // Replicas: 3, 4, 5 follow 0, 1, 2.
        for i in 3..6 {
            let m = ids[i - 3];
            net.nodes[i].set_my_master(m);
        }
        net.run(30);
        for t in &net.nodes {
            for i in 3..6 {
                let n = &t.nodes[&ids[i]];
                assert!(
                    n.is_replica(),
                    "{:?} sees {:?} as {:?}",
                    t.myself,
                    ids[i],
                    n.flags
                );
                assert_eq!(n.master, Some(ids[i - 3]));
            }
            assert_eq!(t.current_epoch, 6);
        }
        for i in 0..6 {
            net.nodes[i].update_state(net.now);
            assert!(net.nodes[i].state_ok, "node {i}: cluster ok");
        }
    }

    #[test]
    fn a_stopped_primary_is_replaced_by_its_replica_and_rejoins_as_its_replica() {
        let mut net = Net::new(6);
        net.three_primaries();
        for i in 1..6 {
            net.nodes[i].start_handshake("127.0.0.1", 7000, 17000, net.now);
        }
        net.run(20);
        let ids: Vec<NodeId> = net.nodes.iter().map(|t| t.myself).collect();
        for i in 3..6 {
            net.nodes[i].set_my_master(ids[i - 3]);
        }
        net.run(40);
        let lease = net.nodes[0].lease_until();
        assert!(
            lease > net.now,
            "primaries confirm each other: {lease} vs {}",
            net.now
        );
        // Primary 0 stops; its replica (node 3) wins the election.
        net.down[0] = true;
        net.run(60);
        for i in 1..6 {
            let t = &net.nodes[i];
            assert_eq!(t.owner(0), Some(ids[3]), "node {i} sees slot 0 moved");
            assert!(t.nodes[&ids[3]].is_master());
        }
        let epoch = net.nodes[3].me().config_epoch;
        assert!(epoch > 3, "a new epoch won: {epoch}");
        assert_eq!(epoch, net.nodes[3].current_epoch);
        // Back after the failover, it learns the new configuration: its lease
        // lapsed while it was stopped, and it follows the winner.
        assert!(net.nodes[0].lease_until() < net.now);
        net.down[0] = false;
        net.run(40);
        let t0 = &net.nodes[0];
        assert!(t0.me().is_replica(), "{:?}", t0.me().flags);
        assert_eq!(t0.me().master, Some(ids[3]));
        for t in &net.nodes {
            assert_eq!(t.owner(0), Some(ids[3]));
        }
    }

    #[test]
    fn moved_slot_spreads_by_epoch_and_silent_node_gets_pfail_then_fail() {
        let mut net = Net::new(3);
        net.three_primaries();
        for i in 1..3 {
            net.nodes[i].start_handshake("127.0.0.1", 7000, 17000, net.now);
        }
        net.run(30);
        // Node 1 takes slot 0 from node 0 with a bumped epoch (end of a reshard).
        let n1 = net.nodes[1].myself;
        net.nodes[1].add_slot(0, n1);
        assert!(net.nodes[1].bump_epoch_without_consensus());
        net.run(20);
        for t in &net.nodes {
            assert_eq!(t.owner(0), Some(n1));
        }
        // Node 2 stops (as with SIGSTOP): nothing it sends or is sent arrives.
        let n2 = net.nodes[2].myself;
        net.down[2] = true;
        net.run(40);
        for i in 0..2 {
            let n = &net.nodes[i].nodes[&n2];
            assert!(n.flags.has(NodeFlags::FAIL), "node {i} sees {:?}", n.flags);
            net.nodes[i].update_state(net.now);
            assert!(!net.nodes[i].state_ok, "slots of a FAIL node: cluster down");
        }
    }
}
