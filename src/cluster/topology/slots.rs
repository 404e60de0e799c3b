//! Who serves each hash slot: the slot map kept in step with the nodes'
//! slot sets, the slots this node is handing over or taking over (open
//! slots), the changes `CLUSTER ADDSLOTS`/`DELSLOTS`/`SETSLOT` make, and the
//! rule that settles competing claims by config epoch.

use std::collections::BTreeMap;

use super::{NodeFlags, NodeId, Topology};
use crate::cluster::outbox::Outbox;
use crate::slot::{SlotSet, SLOTS};

/// Which node serves each hash slot. Kept in step with every node's `slots`
/// set by `Topology::add_slot`/`del_slot`, its only writers.
#[derive(Debug, Clone)]
pub(super) struct SlotMap(Vec<Option<NodeId>>);

impl Default for SlotMap {
    fn default() -> Self {
        SlotMap(vec![None; SLOTS])
    }
}

impl SlotMap {
    /// The owner of `slot`.
    fn owner(&self, slot: u16) -> Option<NodeId> {
        self.0[slot as usize]
    }

    fn set(&mut self, slot: u16, owner: Option<NodeId>) -> Option<NodeId> {
        std::mem::replace(&mut self.0[slot as usize], owner)
    }

    /// Maximal runs of slots with the same owner, in slot order.
    fn runs(&self) -> Vec<(u16, u16, NodeId)> {
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

impl Topology {
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

    /// Slots this node is handing over, and to whom.
    pub fn migrating(&self) -> &BTreeMap<u16, NodeId> {
        &self.migrating
    }

    /// Slots this node is taking over, and from whom.
    pub fn importing(&self) -> &BTreeMap<u16, NodeId> {
        &self.importing
    }

    /// `CLUSTER ADDSLOTS`/`DELSLOTS`: `slots` go to `owner` (to nobody when
    /// None), and everyone hears it at once rather than at the next
    /// heartbeat. An import of one of them ends: whoever was importing the
    /// slot now owns it, or nobody does.
    pub fn assign_slots(
        &mut self,
        slots: &[u16],
        owner: Option<NodeId>,
        now: u64,
        out: &mut Outbox,
    ) {
        for &s in slots {
            self.importing.remove(&s);
            match owner {
                Some(id) => self.add_slot(s, id),
                None => {
                    self.del_slot(s);
                }
            }
        }
        self.broadcast_pong(out, now);
    }

    /// `CLUSTER SETSLOT slot MIGRATING node`: this node hands `slot` over to `to`.
    pub fn set_slot_migrating(&mut self, slot: u16, to: NodeId) {
        self.migrating.insert(slot, to);
        self.touch();
    }

    /// `CLUSTER SETSLOT slot IMPORTING node`: this node takes `slot` over from `from`.
    pub fn set_slot_importing(&mut self, slot: u16, from: NodeId) {
        self.importing.insert(slot, from);
        self.touch();
    }

    /// `CLUSTER SETSLOT slot STABLE`: `slot` is neither handed over nor taken over.
    pub fn set_slot_stable(&mut self, slot: u16) {
        self.importing.remove(&slot);
        self.migrating.remove(&slot);
        self.touch();
    }

    /// `CLUSTER SETSLOT slot NODE owner`, once the caller checked that this
    /// node gives away no slot it still holds keys of (`has_keys`: it holds
    /// keys of `slot`). A migration out of the slot ends once its keys are
    /// gone. A primary that gave away its last slot follows `owner` (when
    /// replica migration is allowed). An import that ends here takes a new
    /// config epoch, so this claim wins over the old owner's everywhere, and
    /// everyone hears it at once.
    pub fn set_slot_node(
        &mut self,
        slot: u16,
        owner: NodeId,
        has_keys: bool,
        now: u64,
        out: &mut Outbox,
    ) {
        let me = self.myself;
        let was_mine = self.owner(slot) == Some(me);
        if !has_keys {
            self.migrating.remove(&slot);
        }
        self.add_slot(slot, owner);
        if was_mine
            && owner != me
            && self.me().slots.is_empty()
            && self.settings.allow_replica_migration
        {
            tracing::warn!(
                "Configuration change detected. Reconfiguring myself as a replica of {owner}"
            );
            self.set_my_master(owner);
        }
        if owner == me && self.importing.remove(&slot).is_some() {
            if self.bump_epoch_without_consensus() {
                tracing::warn!("configEpoch updated after importing slot {slot}");
            }
            self.broadcast_pong(out, now);
        }
        self.touch();
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
mod tests {
    use super::super::tests::{id, master, topo};
    use super::*;

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
}
