//! Epochs and the cluster state: the config epochs that version slot claims,
//! the current epoch, and whether the cluster is `ok` (every slot served, a
//! majority of the primaries reachable).

use super::{NodeFlags, Topology, WRITABLE_DELAY_MS};
use crate::slot::SLOTS;

impl Topology {
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

    /// `CLUSTER SET-CONFIG-EPOCH`: this node's config epoch, given by hand to a
    /// node that knows no other; the current epoch is raised to it.
    pub fn set_my_config_epoch(&mut self, epoch: u64) {
        self.me_mut().config_epoch = epoch;
        self.current_epoch = self.current_epoch.max(epoch);
        self.touch_durable();
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
}

#[cfg(test)]
mod tests {
    use super::super::tests::{id, master, topo};
    use super::*;

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
}
