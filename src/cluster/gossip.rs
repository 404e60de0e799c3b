//! The gossip protocol as pure functions over the `Topology`: what to do with a
//! message that arrived, and what the periodic tick sends. Each call returns an
//! `Outbox` (messages to send, links to open or close, slots whose keys must go)
//! that the bus carries out, so the rules are tested without sockets.

use super::message::{Body, Extension, Gossip, Header, Message};
use super::topology::{Link, Node, NodeFlags, NodeId, Topology};

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

/// An outbound connection to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The link id the topology recorded for it.
    pub link: u64,
    /// `ip:busport`.
    pub addr: String,
}

/// What the bus must do after a topology call.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Messages, each with the links to send it on.
    pub sends: Vec<(Vec<u64>, Message)>,
    /// Links to open.
    pub connects: Vec<Connect>,
    /// Links to close.
    pub closes: Vec<u64>,
    /// Slots this node lost while holding keys: delete their keys.
    pub dirty_slots: Vec<u16>,
    /// Cluster-wide PUBLISH messages to deliver locally.
    pub publish: Vec<(Vec<u8>, Vec<u8>)>,
    /// Pause client writes until this monotonic ms (0: end the pause), for
    /// a manual failover.
    pub pause_writes: Option<u64>,
}

impl Outbox {
    fn send(&mut self, link: u64, m: Message) {
        self.sends.push((vec![link], m));
    }
}

/// Nodes in each gossip section: a tenth of the cluster, at least 3.
fn gossip_wanted(known: usize) -> usize {
    (known / 10).max(3).min(known.saturating_sub(2))
}

impl Topology {
    /// A fresh link id; the I/O layer uses it to find the connection.
    pub fn next_link_id(&mut self) -> u64 {
        self.link_seq += 1;
        self.link_seq
    }

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

    pub(super) fn message(&self, body: Body) -> Message {
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

    pub(super) fn broadcast(&mut self, out: &mut Outbox, body: Body) {
        let m = self.message(body);
        self.broadcast_message(out, m);
    }

    /// Sends `m` to every node we can talk to.
    pub(super) fn broadcast_message(&mut self, out: &mut Outbox, m: Message) {
        let links = self.broadcast_links();
        if links.is_empty() {
            return;
        }
        self.count_sent(&m, links.len());
        out.sends.push((links, m));
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

    fn drop_link(&mut self, id: &NodeId, out: &mut Outbox) {
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
    fn update_address(&mut self, id: &NodeId, ip: &str, h: &Header, out: &mut Outbox) {
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

    /// Handles one message (Redis's `clusterProcessPacket`).
    pub fn on_message(&mut self, msg: Message, origin: &Origin, now: u64) -> Outbox {
        let mut out = Outbox::default();
        let code = msg.body.code();
        if let Some(c) = self.stats.received.get_mut(code as usize) {
            *c += 1;
        }
        let h = &msg.header;
        let link_node = match origin {
            Origin::Outbound(l) => self.link_nodes.get(l).copied(),
            Origin::Inbound { .. } => None,
        };
        let sender = self
            .nodes
            .get(&h.sender)
            .filter(|n| !n.in_handshake())
            .map(|n| n.id);
        if let Some(s) = sender {
            if h.current_epoch > self.current_epoch {
                self.current_epoch = h.current_epoch;
                self.touch_durable();
            }
            let n = self.nodes.get_mut(&s).expect("sender is known");
            n.data_received = now;
            n.repl_offset = h.repl_offset;
            if let Origin::Inbound { link, .. } = origin {
                if n.inbound.map(|(l, _)| l) != Some(*link) {
                    n.inbound = Some((*link, now));
                }
            }
            let mut changed = false;
            if h.config_epoch > n.config_epoch {
                n.config_epoch = h.config_epoch;
                changed = true;
            }
            for x in &msg.extensions {
                match x {
                    Extension::ShardId(sh) if n.shard_id != *sh => {
                        n.shard_id = *sh;
                        changed = true;
                    }
                    Extension::Hostname(name) if n.hostname != *name => {
                        n.hostname = name.clone();
                        changed = true;
                    }
                    _ => {}
                }
            }
            if changed {
                self.touch();
            }
        }
        let gossip: &[Gossip] = match &msg.body {
            Body::Ping(g) | Body::Pong(g) | Body::Meet(g) => g,
            _ => &[],
        };
        let is_ping = matches!(msg.body, Body::Ping(_));
        let is_meet = matches!(msg.body, Body::Meet(_));
        let mut pong_at = None;
        if is_ping || is_meet {
            if let Origin::Inbound { local_ip, .. } = origin {
                let learn = is_meet || self.me().ip.is_empty();
                if learn && self.settings.announce_ip.is_empty() && self.me().ip != *local_ip {
                    tracing::info!("IP address for this node updated to {local_ip}");
                    self.me_mut().ip = local_ip.clone();
                    self.touch();
                }
            }
            if sender.is_none() && is_meet {
                // Only MEET adds an unknown node: as a handshake, under a
                // placeholder id until our own PING gets its PONG.
                let mut n = Node::new(NodeId::random(), NodeFlags::HANDSHAKE, now);
                n.ip = sender_ip(origin, h);
                n.port = h.port;
                n.bus_port = h.bus_port;
                self.add_node(n);
            }
            let pong = self.ping(1, None, now);
            pong_at = Some(out.sends.len());
            out.send(origin.link(), pong);
        }
        if matches!(msg.body, Body::Ping(_) | Body::Pong(_) | Body::Meet(_)) {
            if let Some(ln) = link_node {
                let in_handshake = self.nodes.get(&ln).is_some_and(|n| n.in_handshake());
                if in_handshake {
                    if let Some(s) = sender {
                        // We met a node we already knew: keep the known record,
                        // with the address we reached it at.
                        let ip = self.nodes[&ln].ip.clone();
                        self.update_address(&s, &ip, h, &mut out);
                        self.forget_node(&ln, &mut out);
                        return out;
                    }
                    tracing::info!("Handshake with node {} completed.", h.sender);
                    self.rename(&ln, h.sender);
                    let n = self.nodes.get_mut(&h.sender).expect("just renamed");
                    n.flags.set(NodeFlags::HANDSHAKE, false);
                    let role = if h.master.is_some() {
                        NodeFlags::REPLICA
                    } else {
                        NodeFlags::MASTER
                    };
                    n.flags.set(role, true);
                    self.touch();
                } else if ln != h.sender {
                    // The node at that address has another id now: it is not the
                    // node we knew. Forget the address, keep the record.
                    tracing::info!("PONG from {} contains mismatching id for {ln}", h.sender);
                    let n = self.nodes.get_mut(&ln).expect("link node is known");
                    n.flags.set(NodeFlags::NOADDR, true);
                    n.ip.clear();
                    n.port = 0;
                    n.bus_port = 0;
                    self.drop_link(&ln, &mut out);
                    self.touch();
                    return out;
                }
            }
            if let Some(s) = sender {
                let nofailover = h.flags.has(NodeFlags::NOFAILOVER);
                if let Some(n) = self.nodes.get_mut(&s) {
                    n.flags.set(NodeFlags::NOFAILOVER, nofailover);
                }
                // A PING on a connection the sender opened tells where it is.
                if is_ping && matches!(origin, Origin::Inbound { .. }) {
                    let ip = sender_ip(origin, h);
                    if !ip.is_empty() {
                        self.update_address(&s, &ip, h, &mut out);
                    }
                }
            }
            if let (Origin::Outbound(_), Body::Pong(_), Some(ln)) = (origin, &msg.body, link_node) {
                let id = if self.nodes.contains_key(&ln) {
                    ln
                } else {
                    h.sender
                };
                if let Some(n) = self.nodes.get_mut(&id) {
                    let ping_sent = std::mem::take(&mut n.ping_sent);
                    n.pong_received = now;
                    self.on_pong_extensions(&id, ping_sent, &msg.extensions);
                    let n = self.nodes.get_mut(&id).expect("looked up above");
                    if n.flags.has(NodeFlags::PFAIL) {
                        tracing::info!("Clear PFAIL state for node {id}: it is reachable again.");
                        n.flags.set(NodeFlags::PFAIL, false);
                        self.changes.routes = true;
                    }
                }
                self.clear_failure_if_needed(&id, now);
            }
            if let Some(s) = sender {
                self.apply_role(&s, h);
                self.apply_slot_claims(&s, h, &mut out);
                self.resolve_epoch_collision(&s);
                self.process_gossip(gossip, s, now, &mut out);
                if self.me().master == Some(s) {
                    self.on_master_header(&s, h);
                }
                // Decided after the claims are applied: a stale claimer gets
                // no confirmation.
                if let Some(i) = pong_at {
                    if self.confirms(&s, h) {
                        out.sends[i].1.extensions.push(Extension::Confirm);
                    }
                }
            }
        }
        match msg.body {
            Body::Fail { id } if sender.is_some() => {
                self.set_failed(&id, now);
                if self.me().master == Some(id) {
                    // Schedule the election now rather than at the next tick.
                    self.handle_replica_failover(now, &mut out);
                }
            }
            Body::FailoverAuthRequest => {
                if let Some(s) = sender {
                    self.on_auth_request(&s, &msg.header, now, &mut out);
                }
            }
            Body::FailoverAuthAck => {
                if let Some(s) = sender {
                    self.on_auth_ack(&s, &msg.header, now, &mut out);
                }
            }
            Body::MfStart => {
                if let Some(s) = sender {
                    self.on_mf_start(&s, now, &mut out);
                }
            }
            Body::Update {
                id,
                config_epoch,
                slots,
            } if sender.is_some() => {
                if let Some(n) = self.nodes.get(&id) {
                    if n.config_epoch < config_epoch {
                        self.set_node_as_master(&id);
                        if let Some(n) = self.nodes.get_mut(&id) {
                            n.config_epoch = config_epoch;
                        }
                        self.touch();
                        let dirty = self.update_slots_with(&id, config_epoch, &slots, &|_| true);
                        out.dirty_slots.extend(dirty);
                    }
                }
            }
            Body::Publish { channel, message } | Body::PublishShard { channel, message }
                if sender.is_some() =>
            {
                out.publish.push((channel, message));
            }
            _ => {}
        }
        if self.election.mf_replica.is_some() && !self.me().is_master() {
            // Demoted while paused for a manual failover: the paused writes
            // go on, and are redirected to the new primary.
            self.reset_manual_failover(&mut out);
        }
        out
    }

    /// Takes the sender's word about its own role.
    fn apply_role(&mut self, s: &NodeId, h: &Header) {
        match h.master {
            None => self.set_node_as_master(s),
            Some(m) => {
                let known_master = self.nodes.contains_key(&m).then_some(m);
                let Some(n) = self.nodes.get_mut(s) else {
                    return;
                };
                let mut changed = false;
                if n.is_master() {
                    n.flags.set(NodeFlags::MASTER, false);
                    n.flags.set(NodeFlags::REPLICA, true);
                    n.flags.set(NodeFlags::MIGRATE_TO, false);
                    changed = true;
                }
                if n.master != known_master {
                    n.master = known_master;
                    changed = true;
                }
                if changed {
                    self.del_node_slots(s);
                    self.touch();
                }
            }
        }
    }

    /// Applies a primary's slot claims; tells a stale claimer about the newer
    /// owner with an UPDATE.
    fn apply_slot_claims(&mut self, s: &NodeId, h: &Header, out: &mut Outbox) {
        let Some(n) = self.nodes.get(s) else { return };
        let sender_master = if n.is_master() { Some(*s) } else { n.master };
        let dirty = sender_master
            .and_then(|m| self.nodes.get(&m))
            .is_some_and(|m| m.slots != h.slots);
        if !dirty {
            return;
        }
        if n.is_master() {
            let lost = self.update_slots_with(s, h.config_epoch, &h.slots, &|_| true);
            out.dirty_slots.extend(lost);
        }
        // A claim on a slot whose owner has a newer epoch: correct the sender.
        for slot in h.slots.iter() {
            let Some(owner) = self.owner(slot) else {
                continue;
            };
            if owner == *s {
                continue;
            }
            let owner_node = &self.nodes[&owner];
            if owner_node.config_epoch > h.config_epoch {
                let body = Body::Update {
                    id: owner,
                    config_epoch: owner_node.config_epoch,
                    slots: owner_node.slots.clone(),
                };
                self.send_to(s, body, out);
                break;
            }
        }
    }

    /// Two primaries with the same config epoch: the one with the smaller id
    /// takes a new epoch, so every epoch names one claim.
    fn resolve_epoch_collision(&mut self, s: &NodeId) {
        let Some(n) = self.nodes.get(s) else { return };
        let me = self.me();
        if !n.is_master() || !me.is_master() || n.config_epoch != me.config_epoch {
            return;
        }
        if n.id.as_bytes() <= me.id.as_bytes() {
            return;
        }
        self.current_epoch += 1;
        let e = self.current_epoch;
        self.me_mut().config_epoch = e;
        tracing::info!("configEpoch collision with node {s}. configEpoch set to {e}");
        self.touch_durable();
    }

    /// What a known sender says about other nodes: failure reports (from
    /// primaries), fresher PONG times, addresses, and nodes we did not know.
    fn process_gossip(&mut self, gossip: &[Gossip], sender: NodeId, now: u64, out: &mut Outbox) {
        let sender_is_master = self.nodes.get(&sender).is_some_and(|n| n.is_master());
        for g in gossip {
            let failing = g.flags.any(NodeFlags::PFAIL.with(NodeFlags::FAIL));
            if let Some(n) = self.nodes.get(&g.id) {
                let id = n.id;
                if sender_is_master && id != self.myself {
                    if failing {
                        self.add_failure_report(&id, &sender, now);
                        if self.mark_failing_if_needed(&id, now) {
                            self.broadcast(out, Body::Fail { id });
                        }
                    } else {
                        self.del_failure_report(&id, &sender, now);
                    }
                }
                let n = self.nodes.get_mut(&id).expect("looked up above");
                if !failing
                    && n.ping_sent == 0
                    && n.fail_reports.is_empty()
                    && g.pong_received <= now + 500
                    && g.pong_received > n.pong_received
                {
                    n.pong_received = g.pong_received;
                }
                // Someone reaches it at another address while we cannot: follow.
                if n.is_failing()
                    && !g.flags.has(NodeFlags::NOADDR)
                    && !failing
                    && (n.ip != g.ip || n.port != g.port || n.bus_port != g.bus_port)
                {
                    n.ip = g.ip.clone();
                    n.port = g.port;
                    n.bus_port = g.bus_port;
                    n.flags.set(NodeFlags::NOADDR, false);
                    self.drop_link(&id, out);
                    self.touch();
                }
            } else if !g.flags.has(NodeFlags::NOADDR)
                && !self.blacklisted(&g.id, now)
                && !g.ip.is_empty()
            {
                let keep = NodeFlags::MASTER.0 | NodeFlags::REPLICA.0 | NodeFlags::NOFAILOVER.0;
                let mut n = Node::new(g.id, NodeFlags(g.flags.0 & keep), now);
                n.ip = g.ip.clone();
                n.port = g.port;
                n.bus_port = g.bus_port;
                self.add_node(n);
            }
        }
    }

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
            out.connects.push(super::gossip::Connect {
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

    pub(super) fn send_ping(&mut self, id: &NodeId, now: u64, out: &mut Outbox) {
        if let Some(link) = self.connected_link(id) {
            let m = self.ping(0, Some(*id), now);
            out.send(link, m);
        }
    }

    /// Sends `body` to `id` when our link to it is connected.
    pub(super) fn send_to(&mut self, id: &NodeId, body: Body, out: &mut Outbox) {
        if let Some(link) = self.connected_link(id) {
            let m = self.message(body);
            self.count_sent(&m, 1);
            out.send(link, m);
        }
    }

    /// The id of our connected outbound link to `id`.
    pub(super) fn connected_link(&self, id: &NodeId) -> Option<u64> {
        self.nodes
            .get(id)
            .and_then(|n| n.link)
            .filter(|l| l.connected)
            .map(|l| l.id)
    }
}

/// The sender's address: what it announces, else where its connection comes from.
fn sender_ip(origin: &Origin, h: &Header) -> String {
    match origin {
        Origin::Inbound { peer_ip, .. } if h.ip.is_empty() => peer_ip.clone(),
        _ => h.ip.clone(),
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

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
