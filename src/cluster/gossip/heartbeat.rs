//! What a heartbeat (PING, PONG, MEET) says about its sender and, in its
//! gossip section, about other nodes: roles, slot claims (a stale claimer is
//! corrected with an UPDATE), config epoch collisions, failure reports,
//! addresses and nodes not known yet.

use crate::cluster::message::{Body, Gossip, Header};
use crate::cluster::outbox::Outbox;
use crate::cluster::topology::{Node, NodeFlags, NodeId, Topology};

impl Topology {
    /// Takes the sender's word about its own role.
    pub(super) fn apply_role(&mut self, s: &NodeId, h: &Header) {
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
    pub(super) fn apply_slot_claims(&mut self, s: &NodeId, h: &Header, out: &mut Outbox) {
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
    pub(super) fn resolve_epoch_collision(&mut self, s: &NodeId) {
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
    pub(super) fn process_gossip(
        &mut self,
        gossip: &[Gossip],
        sender: NodeId,
        now: u64,
        out: &mut Outbox,
    ) {
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
}
