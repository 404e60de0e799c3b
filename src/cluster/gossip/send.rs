//! What this node sends: the header on every message, PING/PONG/MEET with
//! their gossip sections, broadcasts, and messages to one node.

use crate::cluster::message::{Body, Extension, Gossip, Header, Message};
use crate::cluster::outbox::Outbox;
use crate::cluster::topology::{Node, NodeFlags, NodeId, Topology};

/// Nodes in each gossip section: a tenth of the cluster, at least 3.
fn gossip_wanted(known: usize) -> usize {
    (known / 10).max(3).min(known.saturating_sub(2))
}

impl Topology {
    /// The header this node puts on every message.
    pub fn header(&self) -> Header {
        let me = self.me();
        let master = self.my_master();
        Header {
            sender: me.id,
            current_epoch: self.current_epoch,
            config_epoch: master.map_or(me.config_epoch, |m| m.config_epoch),
            repl_offset: self.repl_offset,
            flags: NodeFlags(
                me.flags.0 & (NodeFlags::MASTER.0 | NodeFlags::REPLICA.0 | NodeFlags::NOFAILOVER.0),
            ),
            master: if me.is_replica() { me.master } else { None },
            ip: self.settings.announce_ip.clone(),
            port: me.port,
            bus_port: me.bus_port,
            state_ok: self.state_ok,
            mflags: self.mflags(),
            slots: master.map(|m| m.slots.clone()).unwrap_or_default(),
        }
    }

    pub(in crate::cluster) fn message(&self, body: Body) -> Message {
        let me = self.me();
        let mut extensions = vec![Extension::ShardId(me.shard_id)];
        if !me.hostname.is_empty() {
            extensions.push(Extension::Hostname(me.hostname.clone()));
        }
        Message {
            header: self.header(),
            body,
            extensions,
        }
    }

    fn count_sent(&mut self, m: &Message, n: usize) {
        if let Some(c) = self.stats.sent.get_mut(m.body.code() as usize) {
            *c += n as u64;
        }
    }

    /// A PING, PONG or MEET with a gossip section: some random healthy nodes
    /// plus every PFAIL node, so failure reports spread fast.
    pub fn ping(&mut self, kind: u16, to: Option<NodeId>, now: u64) -> Message {
        let candidates: Vec<&Node> = self
            .nodes
            .values()
            .filter(|n| {
                // PFAIL nodes are added below, every time.
                let skip = n.id == self.myself
                    || n.flags.any(NodeFlags(
                        NodeFlags::HANDSHAKE.0 | NodeFlags::NOADDR.0 | NodeFlags::PFAIL.0,
                    ))
                    || (n.link.is_none() && n.slots.is_empty());
                !skip
            })
            .collect();
        let wanted = gossip_wanted(self.nodes.len()).min(candidates.len());
        let mut picked: Vec<Gossip> = Vec::with_capacity(wanted + 4);
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        fastrand::shuffle(&mut order);
        for &i in order.iter().take(wanted) {
            picked.push(gossip_entry(candidates[i]));
        }
        for n in self.nodes.values() {
            if n.flags.has(NodeFlags::PFAIL)
                && !n.flags.any(NodeFlags::HANDSHAKE.with(NodeFlags::NOADDR))
            {
                picked.push(gossip_entry(n));
            }
        }
        if kind == 0 {
            if let Some(n) = to.and_then(|t| self.nodes.get_mut(&t)) {
                n.ping_sent = now;
            }
        }
        let body = match kind {
            0 => Body::Ping(picked),
            1 => Body::Pong(picked),
            _ => Body::Meet(picked),
        };
        let m = self.message(body);
        self.count_sent(&m, 1);
        m
    }

    /// Links of every node we can talk to (for broadcasts).
    fn broadcast_links(&self) -> Vec<u64> {
        self.nodes
            .values()
            .filter(|n| n.id != self.myself && !n.in_handshake())
            .filter_map(|n| n.link.filter(|l| l.connected).map(|l| l.id))
            .collect()
    }

    /// A PONG to every node, so a configuration change spreads at once.
    pub fn broadcast_pong(&mut self, out: &mut Outbox, now: u64) {
        let links = self.broadcast_links();
        if links.is_empty() {
            return;
        }
        let m = self.ping(1, None, now);
        self.count_sent(&m, links.len() - 1);
        out.sends.push((links, m));
    }

    /// A PUBLISH for every node, or an SPUBLISH (`shard`) for the other
    /// nodes of this node's shard (its primary and that primary's replicas),
    /// with the links to send it on.
    pub fn publish_message(
        &mut self,
        shard: bool,
        channel: &[u8],
        message: &[u8],
    ) -> (Vec<u64>, Message) {
        let links = if shard {
            let me = self.me();
            let primary = if me.is_replica() {
                me.master
            } else {
                Some(me.id)
            };
            let myself = self.myself;
            let mut shard_nodes: Vec<NodeId> = primary
                .map(|p| self.replicas_of(&p).map(|n| n.id).chain([p]).collect())
                .unwrap_or_default();
            shard_nodes.retain(|id| *id != myself);
            shard_nodes
                .iter()
                .filter_map(|id| self.connected_link(id))
                .collect()
        } else {
            self.broadcast_links()
        };
        let (channel, message) = (channel.to_vec(), message.to_vec());
        let m = self.message(if shard {
            Body::PublishShard { channel, message }
        } else {
            Body::Publish { channel, message }
        });
        self.count_sent(&m, links.len());
        (links, m)
    }

    pub(in crate::cluster) fn broadcast(&mut self, out: &mut Outbox, body: Body) {
        let m = self.message(body);
        self.broadcast_message(out, m);
    }

    /// Sends `m` to every node we can talk to.
    pub(in crate::cluster) fn broadcast_message(&mut self, out: &mut Outbox, m: Message) {
        let links = self.broadcast_links();
        if links.is_empty() {
            return;
        }
        self.count_sent(&m, links.len());
        out.sends.push((links, m));
    }

    pub(in crate::cluster) fn send_ping(&mut self, id: &NodeId, now: u64, out: &mut Outbox) {
        if let Some(link) = self.connected_link(id) {
            let m = self.ping(0, Some(*id), now);
            out.send(link, m);
        }
    }

    /// Sends `body` to `id` when our link to it is connected.
    pub(in crate::cluster) fn send_to(&mut self, id: &NodeId, body: Body, out: &mut Outbox) {
        if let Some(link) = self.connected_link(id) {
            let m = self.message(body);
            self.count_sent(&m, 1);
            out.send(link, m);
        }
    }

    /// The id of our connected outbound link to `id`.
    pub(in crate::cluster) fn connected_link(&self, id: &NodeId) -> Option<u64> {
        self.nodes
            .get(id)
            .and_then(|n| n.link)
            .filter(|l| l.connected)
            .map(|l| l.id)
    }
}

fn gossip_entry(n: &Node) -> Gossip {
    Gossip {
        id: n.id,
        ping_sent: n.ping_sent,
        pong_received: n.pong_received,
        ip: n.ip.clone(),
        port: n.port,
        bus_port: n.bus_port,
        flags: NodeFlags(n.flags.0 & !(NodeFlags::MYSELF.0 | NodeFlags::MEET.0)),
    }
}
