//! Who is in the cluster and in which role: nodes are added, renamed and
//! removed; primaries and replicas change roles; `CLUSTER FORGET` and
//! `CLUSTER RESET` take nodes out of this node's view.

use super::{Node, NodeFlags, NodeId, Topology, FORGET_TTL_MS};
use crate::cluster::outbox::Outbox;

impl Topology {
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

    /// True while `id` is forgotten (gossip must not re-add it).
    pub fn blacklisted(&mut self, id: &NodeId, now: u64) -> bool {
        self.blacklist.retain(|_, until| *until > now);
        self.blacklist.contains_key(id)
    }

    /// Removes a node and closes its link.
    pub fn forget_node(&mut self, id: &NodeId, out: &mut Outbox) {
        if let Some(l) = self.del_node(id) {
            out.closes.push(l);
        }
    }

    /// `CLUSTER FORGET`: removes `id`, and gossip may not add it back for
    /// `FORGET_TTL_MS`.
    pub fn forget(&mut self, id: &NodeId, now: u64, out: &mut Outbox) {
        self.blacklist.insert(*id, now + FORGET_TTL_MS);
        self.forget_node(id, out);
    }

    /// `CLUSTER RESET`: this node becomes a primary with no slots, no open
    /// slots and no other node. A hard reset also zeroes the epochs and
    /// takes a new id and shard id, as a node never seen before.
    pub fn reset(&mut self, hard: bool, out: &mut Outbox) {
        let me = self.myself;
        self.set_node_as_master(&me);
        self.migrating.clear();
        self.importing.clear();
        self.del_node_slots(&me);
        let others: Vec<NodeId> = self.nodes.keys().copied().filter(|id| *id != me).collect();
        for id in others {
            self.forget_node(&id, out);
        }
        if hard {
            self.current_epoch = 0;
            self.last_vote_epoch = 0;
            self.me_mut().config_epoch = 0;
            let new = NodeId::random();
            self.rename(&me, new);
            self.myself = new;
            self.me_mut().shard_id = NodeId::random();
            tracing::info!("Node hard reset, now I'm {new}");
        }
        self.touch_durable();
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{id, master, topo};

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
