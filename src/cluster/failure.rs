//! Failure detection: PFAIL is local (no PONG within the node timeout); FAIL
//! needs reports from a majority of the primaries with slots, gathered from
//! their gossip, and is then broadcast. Reports expire after twice the timeout.

use super::message::Body;
use super::outbox::Outbox;
use super::topology::{Node, NodeFlags, NodeId, Topology};

/// A FAIL flag on a primary with slots is undone after this many node timeouts
/// if the node is reachable again (no replica took over).
const FAIL_UNDO_TIME_MULT: u64 = 2;
/// Failure reports older than this many node timeouts are ignored.
const REPORT_VALIDITY_MULT: u64 = 2;

impl Topology {
    fn may_fail(&self, n: &Node) -> bool {
        n.id != self.myself
            && !n.flags.any(NodeFlags::NOADDR.with(NodeFlags::HANDSHAKE))
            && n.ping_sent != 0
            && !n.is_failing()
    }

    /// Marks PFAIL every node with a ping pending and nothing heard from it
    /// for more than the node timeout. The news goes out at once in a PONG
    /// to every node (its gossip lists PFAIL nodes), so the other primaries'
    /// reports meet without waiting for the next heartbeats.
    pub fn detect_failures(&mut self, now: u64, out: &mut Outbox) {
        let nt = self.settings.node_timeout;
        let mut new = Vec::new();
        for n in self.nodes.values() {
            let silent = now
                .saturating_sub(n.ping_sent)
                .min(now.saturating_sub(n.data_received));
            if self.may_fail(n) && silent > nt {
                new.push(n.id);
            }
        }
        if new.is_empty() {
            return;
        }
        for id in &new {
            tracing::info!("*** NODE {id} possibly failing");
            if let Some(n) = self.nodes.get_mut(id) {
                n.flags.set(NodeFlags::PFAIL, true);
            }
            if self.mark_failing_if_needed(id, now) {
                self.broadcast(out, Body::Fail { id: *id });
            }
        }
        self.changes.routes = true;
        self.broadcast_pong(out, now);
    }

    /// When the next node turns PFAIL if nothing arrives from it (monotonic ms),
    /// so the bus checks then rather than at its next tick.
    pub fn next_pfail(&self) -> Option<u64> {
        let nt = self.settings.node_timeout;
        self.nodes
            .values()
            .filter(|n| self.may_fail(n))
            .map(|n| n.ping_sent.max(n.data_received) + nt + 1)
            .min()
    }

    /// Records that primary `by` sees `node` failing. True when the report is new.
    pub fn add_failure_report(&mut self, node: &NodeId, by: &NodeId, now: u64) -> bool {
        let Some(n) = self.nodes.get_mut(node) else {
            return false;
        };
        if let Some(r) = n.fail_reports.iter_mut().find(|(b, _)| b == by) {
            r.1 = now;
            return false;
        }
        n.fail_reports.push((*by, now));
        true
    }

    /// Drops `by`'s report about `node` (it sees the node healthy again).
    pub fn del_failure_report(&mut self, node: &NodeId, by: &NodeId, now: u64) {
        self.expire_failure_reports(node, now);
        if let Some(n) = self.nodes.get_mut(node) {
            n.fail_reports.retain(|(b, _)| b != by);
        }
    }

    fn expire_failure_reports(&mut self, node: &NodeId, now: u64) {
        let max_age = self.settings.node_timeout * REPORT_VALIDITY_MULT;
        if let Some(n) = self.nodes.get_mut(node) {
            n.fail_reports
                .retain(|(_, t)| now.saturating_sub(*t) <= max_age);
        }
    }

    /// Valid failure reports about `node` (`CLUSTER COUNT-FAILURE-REPORTS`).
    pub fn failure_reports(&mut self, node: &NodeId, now: u64) -> usize {
        self.expire_failure_reports(node, now);
        self.nodes.get(node).map_or(0, |n| n.fail_reports.len())
    }

    /// Marks `node` FAIL when it is PFAIL here and enough primaries agree.
    /// Returns true when it was marked (the caller broadcasts a FAIL message).
    pub fn mark_failing_if_needed(&mut self, node: &NodeId, now: u64) -> bool {
        let quorum = self.quorum();
        let me_master = self.me().is_master();
        match self.nodes.get(node) {
            Some(n) if n.flags.has(NodeFlags::PFAIL) && !n.flags.has(NodeFlags::FAIL) => {}
            _ => return false,
        }
        let mut failures = self.failure_reports(node, now);
        if me_master {
            failures += 1;
        }
        if failures < quorum {
            return false;
        }
        tracing::info!("Marking node {node} as failing (quorum reached).");
        if let Some(n) = self.nodes.get_mut(node) {
            n.flags.set(NodeFlags::PFAIL, false);
            n.flags.set(NodeFlags::FAIL, true);
            n.fail_time = now;
        }
        self.touch();
        true
    }

    /// Marks `node` FAIL because another node said so (a FAIL message).
    pub fn set_failed(&mut self, node: &NodeId, now: u64) {
        if *node == self.myself {
            return;
        }
        if let Some(n) = self.nodes.get_mut(node) {
            if !n.flags.has(NodeFlags::FAIL) {
                tracing::info!("FAIL message received about {node}");
                n.flags.set(NodeFlags::PFAIL, false);
                n.flags.set(NodeFlags::FAIL, true);
                n.fail_time = now;
                self.touch();
            }
        }
    }

    /// Clears FAIL on a node that answers again: at once for replicas and empty
    /// primaries, after a grace period for a primary that still has its slots.
    pub fn clear_failure_if_needed(&mut self, node: &NodeId, now: u64) {
        let undo_after = self.settings.node_timeout * FAIL_UNDO_TIME_MULT;
        let Some(n) = self.nodes.get_mut(node) else {
            return;
        };
        if !n.flags.has(NodeFlags::FAIL) {
            return;
        }
        if n.is_replica() || n.slots.is_empty() || now.saturating_sub(n.fail_time) > undo_after {
            tracing::info!("Clear FAIL state for node {node}: it is reachable again.");
            n.flags.set(NodeFlags::FAIL, false);
            self.touch();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::topology::tests::{id, master, topo};
    use super::*;

    #[test]
    fn fail_needs_a_majority_of_primaries() {
        let mut t = topo(b'a');
        for (c, port) in [(b'b', 7001), (b'c', 7002), (b'd', 7003)] {
            t.add_node(master(c, port));
        }
        for (s, c) in [(0, b'a'), (1, b'b'), (2, b'c'), (3, b'd')] {
            t.add_slot(s, id(c));
        }
        t.update_state(1_000_000);
        assert_eq!(t.quorum(), 3);
        let d = id(b'd');
        assert!(!t.mark_failing_if_needed(&d, 10), "not even PFAIL here");
        t.nodes
            .get_mut(&d)
            .unwrap()
            .flags
            .set(NodeFlags::PFAIL, true);
        assert!(t.add_failure_report(&d, &id(b'b'), 10));
        assert!(!t.add_failure_report(&d, &id(b'b'), 11), "same reporter");
        assert!(!t.mark_failing_if_needed(&d, 12), "me + b = 2 < 3");
        t.add_failure_report(&d, &id(b'c'), 12);
        assert!(t.mark_failing_if_needed(&d, 13));
        let n = &t.nodes[&d];
        assert!(n.flags.has(NodeFlags::FAIL) && !n.flags.has(NodeFlags::PFAIL));
        // A primary with slots stays FAIL for a while after it answers again.
        t.clear_failure_if_needed(&d, 14);
        assert!(t.nodes[&d].flags.has(NodeFlags::FAIL));
        t.clear_failure_if_needed(&d, 13 + 2 * 15000 + 1);
        assert!(!t.nodes[&d].flags.has(NodeFlags::FAIL));
    }

    #[test]
    fn reports_expire() {
        let mut t = topo(b'a');
        t.add_node(master(b'b', 7001));
        t.add_node(master(b'c', 7002));
        t.add_failure_report(&id(b'c'), &id(b'b'), 0);
        assert_eq!(t.failure_reports(&id(b'c'), 30_000), 1);
        assert_eq!(t.failure_reports(&id(b'c'), 30_001), 0);
        t.add_failure_report(&id(b'c'), &id(b'b'), 40_000);
        t.del_failure_report(&id(b'c'), &id(b'b'), 40_001);
        assert_eq!(t.failure_reports(&id(b'c'), 40_002), 0);
    }
}
