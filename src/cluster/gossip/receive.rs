//! A message that arrived (Redis's `clusterProcessPacket`): first what its
//! header says about a known sender, then one handler per message kind.
//! PING, PONG and MEET are the heartbeat; the election's messages (vote
//! request, vote, MFSTART) are handled by `failover`.

use std::ops::ControlFlow;

use super::{sender_ip, Origin};
use crate::cluster::message::{Body, Extension, Message};
use crate::cluster::outbox::Outbox;
use crate::cluster::topology::{Node, NodeFlags, NodeId, Topology};
use crate::slot::SlotSet;

/// A message being handled, with what its handlers share.
struct Received<'m> {
    msg: &'m Message,
    /// The sender, when it is a known node past its handshake.
    sender: Option<NodeId>,
    /// For a message on one of our outbound links: the node it leads to.
    link_node: Option<NodeId>,
    origin: &'m Origin,
    now: u64,
}

impl Topology {
    /// Handles one message (Redis's `clusterProcessPacket`).
    pub fn on_message(&mut self, msg: Message, origin: &Origin, now: u64) -> Outbox {
        let mut out = Outbox::default();
        if let Some(c) = self.stats.received.get_mut(msg.body.code() as usize) {
            *c += 1;
        }
        let link_node = match origin {
            Origin::Outbound(l) => self.link_nodes.get(l).copied(),
            Origin::Inbound { .. } => None,
        };
        let sender = self
            .nodes
            .get(&msg.header.sender)
            .filter(|n| !n.in_handshake())
            .map(|n| n.id);
        if let Some(s) = sender {
            self.note_sender(&s, &msg, origin, now);
        }
        let m = Received {
            msg: &msg,
            sender,
            link_node,
            origin,
            now,
        };
        let heartbeat = match msg.body {
            Body::Ping(_) | Body::Meet(_) => self.on_ping(&m, &mut out),
            Body::Pong(_) => self.on_pong(&m, &mut out),
            _ => ControlFlow::Continue(()),
        };
        if heartbeat.is_break() {
            return out;
        }
        let h = &msg.header;
        match msg.body {
            Body::Fail { id } if sender.is_some() => self.on_fail(&id, now, &mut out),
            Body::FailoverAuthRequest => {
                if let Some(s) = sender {
                    self.on_auth_request(&s, h, now, &mut out);
                }
            }
            Body::FailoverAuthAck => {
                if let Some(s) = sender {
                    self.on_auth_ack(&s, h, now, &mut out);
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
            } if sender.is_some() => self.on_update(&id, config_epoch, &slots, &mut out),
            Body::Publish { channel, message } if sender.is_some() => {
                out.publish.push((false, channel, message));
            }
            Body::PublishShard { channel, message } if sender.is_some() => {
                out.publish.push((true, channel, message));
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

    /// What any message's header and extensions say about its known sender:
    /// the current epoch, that it is alive, its replication offset, the
    /// connection it talks to us on, its config epoch, shard id and hostname.
    fn note_sender(&mut self, s: &NodeId, msg: &Message, origin: &Origin, now: u64) {
        let h = &msg.header;
        if h.current_epoch > self.current_epoch {
            self.current_epoch = h.current_epoch;
            self.touch_durable();
        }
        let Some(n) = self.nodes.get_mut(s) else {
            return;
        };
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

    /// PING and MEET: answered at once with a PONG, then handled as a
    /// heartbeat. They tell this node its own address when it has none (a
    /// MEET always does), a MEET from an unknown node adds it, and a PING on
    /// a connection the sender opened tells where the sender is.
    fn on_ping(&mut self, m: &Received<'_>, out: &mut Outbox) -> ControlFlow<()> {
        let h = &m.msg.header;
        let is_meet = matches!(m.msg.body, Body::Meet(_));
        if let Origin::Inbound { local_ip, .. } = m.origin {
            let learn = is_meet || self.me().ip.is_empty();
            if learn && self.settings.announce_ip.is_empty() && self.me().ip != *local_ip {
                tracing::info!("IP address for this node updated to {local_ip}");
                self.me_mut().ip = local_ip.clone();
                self.touch();
            }
        }
        if m.sender.is_none() && is_meet {
            // Only MEET adds an unknown node: as a handshake, under a
            // placeholder id until our own PING gets its PONG.
            let mut n = Node::new(NodeId::random(), NodeFlags::HANDSHAKE, m.now);
            n.ip = sender_ip(m.origin, h);
            n.port = h.port;
            n.bus_port = h.bus_port;
            self.add_node(n);
        }
        let pong = self.ping(1, None, m.now);
        let pong_at = out.sends.len();
        out.send(m.origin.link(), pong);
        self.resolve_link(m, out)?;
        if let (Some(s), false, Origin::Inbound { .. }) = (m.sender, is_meet, m.origin) {
            let ip = sender_ip(m.origin, h);
            if !ip.is_empty() {
                self.update_address(&s, &ip, h, out);
            }
        }
        self.apply_heartbeat(m, Some(pong_at), out);
        ControlFlow::Continue(())
    }

    /// PONG: a heartbeat; on our outbound link, the answer to our PING.
    fn on_pong(&mut self, m: &Received<'_>, out: &mut Outbox) -> ControlFlow<()> {
        self.resolve_link(m, out)?;
        if let (Origin::Outbound(_), Some(ln)) = (m.origin, m.link_node) {
            self.pong_answered(ln, m);
        }
        self.apply_heartbeat(m, None, out);
        ControlFlow::Continue(())
    }

    /// The node our link leads to, as a heartbeat on that link shows it: a
    /// handshake completes, the placeholder record taking the sender's id and
    /// role. Breaks when the record is not the sender's: it is dropped when
    /// the sender was known already (under its address from our record), or
    /// loses its address when another id answers there.
    fn resolve_link(&mut self, m: &Received<'_>, out: &mut Outbox) -> ControlFlow<()> {
        let Some(ln) = m.link_node else {
            return ControlFlow::Continue(());
        };
        let h = &m.msg.header;
        let in_handshake = self.nodes.get(&ln).is_some_and(|n| n.in_handshake());
        if in_handshake {
            if let Some(s) = m.sender {
                // We met a node we already knew: keep the known record,
                // with the address we reached it at.
                let ip = self.nodes[&ln].ip.clone();
                self.update_address(&s, &ip, h, out);
                self.forget_node(&ln, out);
                return ControlFlow::Break(());
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
            self.drop_link(&ln, out);
            self.touch();
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// A PONG on our link to `ln` answers our PING: the ping is no longer
    /// pending, a confirmation in it counts for the lease, and a node that
    /// was failing is reachable again.
    fn pong_answered(&mut self, ln: NodeId, m: &Received<'_>) {
        let id = if self.nodes.contains_key(&ln) {
            ln
        } else {
            m.msg.header.sender
        };
        if let Some(n) = self.nodes.get_mut(&id) {
            let ping_sent = std::mem::take(&mut n.ping_sent);
            n.pong_received = m.now;
            self.on_pong_extensions(&id, ping_sent, &m.msg.extensions);
            let n = self.nodes.get_mut(&id).expect("looked up above");
            if n.flags.has(NodeFlags::PFAIL) {
                tracing::info!("Clear PFAIL state for node {id}: it is reachable again.");
                n.flags.set(NodeFlags::PFAIL, false);
                self.changes.routes = true;
            }
        }
        self.clear_failure_if_needed(&id, m.now);
    }

    /// What a heartbeat from a known sender carries: its flags, role, slot
    /// claims and gossip. The PONG answering it (at `pong_at` in `out`)
    /// confirms the sender's claims if they hold once applied.
    fn apply_heartbeat(&mut self, m: &Received<'_>, pong_at: Option<usize>, out: &mut Outbox) {
        let Some(s) = m.sender else {
            return;
        };
        let h = &m.msg.header;
        let gossip = match &m.msg.body {
            Body::Ping(g) | Body::Pong(g) | Body::Meet(g) => g.as_slice(),
            _ => &[],
        };
        let nofailover = h.flags.has(NodeFlags::NOFAILOVER);
        if let Some(n) = self.nodes.get_mut(&s) {
            n.flags.set(NodeFlags::NOFAILOVER, nofailover);
        }
        self.apply_role(&s, h);
        self.apply_slot_claims(&s, h, out);
        self.resolve_epoch_collision(&s);
        self.process_gossip(gossip, s, m.now, out);
        if self.me().master == Some(s) {
            self.on_master_header(&s, h);
        }
        // Decided after the claims are applied: a stale claimer gets no
        // confirmation.
        if let Some(i) = pong_at {
            if self.confirms(&s, h) {
                out.sends[i].1.extensions.push(Extension::Confirm);
            }
        }
    }

    /// FAIL: a majority of the primaries saw `id` failing.
    fn on_fail(&mut self, id: &NodeId, now: u64, out: &mut Outbox) {
        self.set_failed(id, now);
        if self.me().master == Some(*id) {
            // Schedule the election now rather than at the next tick.
            self.handle_replica_failover(now, out);
        }
    }

    /// UPDATE: `id` serves `slots` at `config_epoch`, a correction sent to a
    /// node whose claims were stale; applied when newer than what we know.
    fn on_update(&mut self, id: &NodeId, config_epoch: u64, slots: &SlotSet, out: &mut Outbox) {
        let Some(n) = self.nodes.get(id) else {
            return;
        };
        if n.config_epoch < config_epoch {
            self.set_node_as_master(id);
            if let Some(n) = self.nodes.get_mut(id) {
                n.config_epoch = config_epoch;
            }
            self.touch();
            let dirty = self.update_slots_with(id, config_epoch, slots, &|_| true);
            out.dirty_slots.extend(dirty);
        }
    }
}
