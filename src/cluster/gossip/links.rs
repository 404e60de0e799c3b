//! The links between nodes, as the topology records them: ids handed to
//! the I/O layer, the handshake a MEET starts, connections coming up and
//! going down, and a node's address changing under its link.

use crate::cluster::message::{Header, Message};
use crate::cluster::outbox::Outbox;
use crate::cluster::topology::{Node, NodeFlags, NodeId, Topology};

impl Topology {
    /// A fresh link id; the I/O layer uses it to find the connection.
    pub fn next_link_id(&mut self) -> u64 {
        self.link_seq += 1;
        self.link_seq
    }

    /// Starts a handshake with `ip:port` (`CLUSTER MEET`, or a gossiped address
    /// is not used this way: gossip adds nodes under their real id). False when
    /// that address is already in handshake.
    pub fn start_handshake(&mut self, ip: &str, port: u16, bus_port: u16, now: u64) -> bool {
        let busy = self
            .nodes
            .values()
            .any(|n| n.in_handshake() && n.ip == ip && n.port == port && n.bus_port == bus_port);
        if busy {
            return false;
        }
        let mut n = Node::new(
            NodeId::random(),
            NodeFlags::HANDSHAKE.with(NodeFlags::MEET),
            now,
        );
        n.ip = ip.to_string();
        n.port = port;
        n.bus_port = bus_port;
        self.add_node(n);
        true
    }

    /// The TCP connection of `link` is up: returns the first message for it (MEET
    /// for a node being met, else PING). None when the link was dropped meanwhile.
    pub fn link_connected(&mut self, link: u64, now: u64) -> Option<Message> {
        let id = *self.link_nodes.get(&link)?;
        let n = self.nodes.get_mut(&id)?;
        let l = n.link.as_mut().filter(|l| l.id == link)?;
        l.connected = true;
        let meet = n.flags.has(NodeFlags::MEET);
        n.flags.set(NodeFlags::MEET, false);
        // A reconnect keeps the pending ping's time so failure detection goes on.
        let old_ping = n.ping_sent;
        let m = self.ping(if meet { 2 } else { 0 }, Some(id), now);
        if old_ping != 0 {
            if let Some(n) = self.nodes.get_mut(&id) {
                n.ping_sent = old_ping;
            }
        }
        Some(m)
    }

    /// `link` failed or closed: forget it so the tick reconnects. A node we
    /// could not even connect to counts as pinged, so it turns PFAIL in time.
    pub fn link_closed(&mut self, link: u64, now: u64) {
        if let Some(id) = self.link_nodes.remove(&link) {
            if let Some(n) = self.nodes.get_mut(&id) {
                if let Some(l) = n.link.filter(|l| l.id == link) {
                    if !l.connected && n.ping_sent == 0 {
                        n.ping_sent = now;
                    }
                    n.link = None;
                }
            }
        }
    }

    pub(super) fn drop_link(&mut self, id: &NodeId, out: &mut Outbox) {
        if let Some(n) = self.nodes.get_mut(id) {
            if let Some(l) = n.link.take() {
                self.link_nodes.remove(&l.id);
                out.closes.push(l.id);
            }
        }
    }

    /// The connection `link` that a peer opened to us closed.
    pub fn inbound_closed(&mut self, link: u64) {
        for n in self.nodes.values_mut() {
            if n.inbound.is_some_and(|(l, _)| l == link) {
                n.inbound = None;
            }
        }
    }

    /// Updates a node's address from a message that came on another connection
    /// than our link to it; the link is re-opened to the new address.
    pub(super) fn update_address(&mut self, id: &NodeId, ip: &str, h: &Header, out: &mut Outbox) {
        if *id == self.myself {
            return;
        }
        let Some(n) = self.nodes.get(id) else { return };
        if n.ip == ip && n.port == h.port && n.bus_port == h.bus_port {
            return;
        }
        let n = self.nodes.get_mut(id).expect("looked up above");
        n.ip = ip.to_string();
        n.port = h.port;
        n.bus_port = h.bus_port;
        n.flags.set(NodeFlags::NOADDR, false);
        tracing::info!("Address updated for node {id}, now {}:{}", ip, h.port);
        self.drop_link(id, out);
        self.touch();
    }
}
