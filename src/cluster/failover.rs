//! Failover, as rules over the `Topology` (no I/O, like `gossip`):
//!
//! - a replica whose primary is FAIL runs an election: it waits 500 ms plus
//!   up to 499 ms plus 1 s per sibling with a larger replication offset, bumps
//!   the current epoch and asks every primary for its vote;
//! - a primary with slots votes at most once per epoch, only for a replica
//!   whose primary is FAIL (unless the request is a manual failover's), not
//!   twice for the same primary's replicas within two node timeouts, and only
//!   when no slot the replica claims has an owner with a newer config epoch;
//!   the vote is on disk before it is sent;
//! - a replica with votes from a majority of the primaries with slots takes
//!   its primary's slots under the election's epoch and tells everyone;
//! - `CLUSTER FAILOVER`: the primary pauses writes, the replica catches up to
//!   the primary's offset and then runs the election at once; FORCE skips the
//!   handshake with the primary, TAKEOVER skips the vote;
//! - replica migration: a replica of the primary with the most replicas moves
//!   to a primary left without any;
//! - the write lease: a primary serves keys only while a majority of the
//!   primaries with slots (itself included) confirmed within one node timeout
//!   that it still owns its slots, so a primary that was paused or cut off
//!   does not take writes that a promoted replica will never see.

use super::message::{Body, Extension, Header};
use super::outbox::Outbox;
use super::topology::{NodeFlags, NodeId, Topology};

/// Header flag of a primary whose writes are paused for a manual failover.
pub const MF_PAUSED: u8 = 1;
/// Auth-request flag: vote even though the primary is not FAIL (manual).
pub const MF_FORCEACK: u8 = 2;
/// How often "unable to failover" is logged again (ms).
const CANT_FAILOVER_RELOG_MS: u64 = 10_000;
/// How long a manual failover may take (ms).
pub const MF_TIMEOUT_MS: u64 = 5000;
/// A primary keeps at least this many replicas before one may migrate.
const MIGRATION_BARRIER: usize = 1;
/// An orphaned primary gets a migrated replica after this long (ms).
const ORPHAN_GRACE_MS: u64 = 5000;

/// A replica's election and a manual failover in progress.
#[derive(Debug, Default, Clone)]
pub struct Election {
    /// When the election starts (or started); 0 = none scheduled.
    pub auth_time: u64,
    /// Siblings with a larger offset when the election was scheduled.
    pub auth_rank: usize,
    /// The epoch this election runs in.
    pub auth_epoch: u64,
    /// When the vote request went out (0: not yet).
    pub auth_sent_at: u64,
    /// Primaries that voted for us in `auth_epoch`.
    voters: Vec<NodeId>,
    /// Manual failover deadline (monotonic ms); 0 = none.
    pub mf_end: u64,
    /// On a primary: the replica doing the manual failover.
    pub mf_replica: Option<NodeId>,
    /// On a primary: writes are paused and none admitted before the pause
    /// still runs (the server's barrier said so), so the offset in our
    /// headers is final.
    pub mf_paused: bool,
    /// On a replica: the primary's offset once it paused writes.
    pub mf_master_offset: Option<u64>,
    /// On a replica: caught up (or FORCE), the election may start.
    pub mf_can_start: bool,
    /// When "unable to failover" was last logged.
    pub cant_failover_logged: u64,
}

impl Election {
    /// The vote request went out.
    pub fn auth_sent(&self) -> bool {
        self.auth_sent_at != 0
    }
}

/// How `CLUSTER FAILOVER` was asked to proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualMode {
    /// Pause the primary, catch up, then elect.
    Coordinated,
    /// Elect without the primary's help.
    Force,
    /// Take the slots without a vote.
    Takeover,
}

/// Why `CLUSTER FAILOVER` cannot start (Redis's error texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ManualError {
    /// This node is a primary.
    #[error("You should send CLUSTER FAILOVER to a replica")]
    NotReplica,
    /// Its primary is unknown.
    #[error("I'm a replica but my master is unknown to me")]
    NoMaster,
    /// The primary is down and neither FORCE nor TAKEOVER was given.
    #[error("Master is down or failed, please use CLUSTER FAILOVER FORCE")]
    MasterDown,
}

impl Topology {
    fn node_timeout(&self) -> u64 {
        self.settings.node_timeout
    }

    /// True when this replica lost its primary too long ago to take over
    /// (Redis's rule: the data age beyond the node timeout that detection
    /// needs exceeds the ping period plus `node-timeout * validity-factor`).
    fn data_too_old(&self) -> bool {
        let factor = self.settings.replica_validity_factor;
        let nt = self.node_timeout();
        let mut age = self.repl_data_age;
        if age > nt {
            age -= nt;
        }
        factor != 0 && age > crate::repl::log::PING_PERIOD_MS + nt.saturating_mul(factor)
    }

    /// Keeps this node's NOFAILOVER flag, which is gossiped and shown in
    /// CLUSTER NODES, in step with `cluster-replica-no-failover`.
    pub fn update_myself_flags(&mut self) {
        let want = self.settings.replica_no_failover;
        if self.me().flags.has(NodeFlags::NOFAILOVER) != want {
            self.me_mut().flags.set(NodeFlags::NOFAILOVER, want);
            self.changes.save = true;
        }
    }

    /// Siblings (replicas of my primary) with a larger replication offset,
    /// or whose offset is unknown because nothing came from them yet: a
    /// replica that has not heard from its siblings waits as if each were
    /// ahead of it, so an empty new replica cannot win.
    fn my_rank(&self) -> usize {
        let Some(m) = self.me().master else { return 0 };
        let mine = self.repl_offset;
        self.replicas_of(&m)
            .filter(|n| n.id != self.myself && (n.repl_offset > mine || n.data_received == 0))
            .count()
    }

    /// The election's delay unit D (the contract): min(500 ms, NT/30), as
    /// Valkey 9. Redis's fixed 500 ms gives a FAIL time to spread; on the
    /// bus a FAIL reaches every node in one round trip, and 500 ms is a
    /// fixed cost that was made for 15-second node timeouts.
    fn election_unit(&self) -> u64 {
        (self.node_timeout() / 30).clamp(1, 500)
    }

    /// The replica's side of automatic and manual failover, run by the tick
    /// and when a vote arrives (Redis's `clusterHandleSlaveFailover`).
    pub fn handle_replica_failover(&mut self, now: u64, out: &mut Outbox) {
        let me = self.me();
        if !me.is_replica() {
            return;
        }
        let manual = self.election.mf_end != 0 && self.election.mf_can_start;
        let Some(master) = me.master.and_then(|m| self.nodes.get(&m)) else {
            return;
        };
        let master_id = master.id;
        let master_failed = master.flags.has(NodeFlags::FAIL);
        if (!master_failed && !manual)
            || master.slots.is_empty()
            || (me.flags.has(NodeFlags::NOFAILOVER) && !manual)
        {
            return;
        }
        if !manual && self.data_too_old() {
            if now.saturating_sub(self.election.cant_failover_logged) >= CANT_FAILOVER_RELOG_MS {
                self.election.cant_failover_logged = now;
                tracing::warn!(
                    "Currently unable to failover: Disconnected from master for longer than allowed. Please check the 'cluster-replica-validity-factor' configuration option."
                );
            }
            return;
        }
        let auth_timeout = (self.node_timeout() * 2).max(2000);
        let auth_retry = auth_timeout * 2;
        let e = &mut self.election;
        if now.saturating_sub(e.auth_time) > auth_retry {
            // A new election: give the FAIL time to spread, let the replica
            // with the most data go first.
            e.auth_sent_at = 0;
            e.voters.clear();
            if manual {
                e.auth_time = now;
                e.auth_rank = 0;
            } else {
                // Start at D + random(0..D) + rank·2D; with no sibling there
                // is nobody to split the votes with, so no random part.
                let rank = self.my_rank();
                let d = self.election_unit();
                let alone = self.replicas_of(&master_id).count() <= 1;
                let jitter = if alone { 0 } else { fastrand::u64(0..d) };
                let e = &mut self.election;
                e.auth_rank = rank;
                e.auth_time = now + d + jitter + rank as u64 * 2 * d;
            }
            tracing::info!(
                "Start of election delayed for {} milliseconds (rank #{}, offset {}).",
                self.election.auth_time.saturating_sub(now),
                self.election.auth_rank,
                self.repl_offset
            );
            // Siblings learn our offset, so they rank themselves against it.
            self.broadcast_pong(out, now);
            return;
        }
        if !self.election.auth_sent() && !manual {
            let rank = self.my_rank();
            let d = self.election_unit();
            let e = &mut self.election;
            if rank > e.auth_rank {
                e.auth_time += (rank - e.auth_rank) as u64 * 2 * d;
                e.auth_rank = rank;
            }
        }
        let e = &self.election;
        if now < e.auth_time || now - e.auth_time > auth_timeout {
            return;
        }
        if !e.auth_sent() {
            self.current_epoch += 1;
            let epoch = self.current_epoch;
            let e = &mut self.election;
            e.auth_epoch = epoch;
            e.auth_sent_at = now;
            tracing::info!("Starting a failover election for epoch {epoch}.");
            self.touch_durable();
            let mut m = self.message(Body::FailoverAuthRequest);
            if manual {
                m.header.mflags |= MF_FORCEACK;
            }
            self.broadcast_message(out, m);
            return;
        }
        if self.election.voters.len() >= self.quorum() {
            tracing::info!("Failover election won: I'm the new master.");
            let epoch = self.election.auth_epoch;
            if self.me().config_epoch < epoch {
                self.me_mut().config_epoch = epoch;
                tracing::info!("configEpoch set to {epoch} after successful failover");
            }
            self.replace_my_master(now, out);
        }
    }

    /// Takes over the slots of this replica's primary and becomes a primary
    /// (Redis's `clusterFailoverReplaceYourMaster`).
    fn replace_my_master(&mut self, now: u64, out: &mut Outbox) {
        let me = self.myself;
        let Some(old) = self.me().master else { return };
        let slots: Vec<u16> = self
            .nodes
            .get(&old)
            .map(|n| n.slots.iter().collect())
            .unwrap_or_default();
        self.set_node_as_master(&me);
        for s in slots {
            self.add_slot(s, me);
        }
        // The lease starts with the votes: each voter saw the old primary
        // failed and no newer claim when the request went out, and votes for
        // no other replica of it for two node timeouts. (TAKEOVER has none
        // and waits for confirmations.)
        let e = std::mem::take(&mut self.election);
        self.confirmed = e.voters.iter().map(|v| (*v, e.auth_sent_at)).collect();
        self.touch_durable();
        self.update_state(now);
        self.broadcast_pong(out, now);
        // Confirmations of the new claim come back at once.
        let masters: Vec<NodeId> = self.other_slot_owners().map(|n| n.id).collect();
        for m in masters {
            self.send_ping(&m, now, out);
        }
    }

    /// A vote request from `sender` (Redis's `clusterSendFailoverAuthIfNeeded`).
    pub fn on_auth_request(&mut self, sender: &NodeId, h: &Header, now: u64, out: &mut Outbox) {
        if !self.me().is_slot_owner() {
            return;
        }
        let epoch = self.current_epoch;
        if h.current_epoch < epoch {
            tracing::warn!(
                "Failover auth denied to {sender}: reqEpoch ({}) < curEpoch({epoch})",
                h.current_epoch
            );
            return;
        }
        if self.last_vote_epoch == epoch {
            tracing::warn!("Failover auth denied to {sender}: already voted for epoch {epoch}");
            return;
        }
        let force = h.mflags & MF_FORCEACK != 0;
        let Some(node) = self.nodes.get(sender) else {
            return;
        };
        let Some(master_id) = node.master.filter(|_| node.is_replica()) else {
            tracing::warn!("Failover auth denied to {sender}: it is not a replica");
            return;
        };
        let Some(master) = self.nodes.get(&master_id) else {
            return;
        };
        if !master.flags.has(NodeFlags::FAIL) && !force {
            tracing::warn!("Failover auth denied to {sender}: its master is up");
            return;
        }
        let nt2 = self.node_timeout() * 2;
        if now.saturating_sub(master.voted_time) < nt2 {
            tracing::warn!(
                "Failover auth denied to {sender}: can't vote about this master before {} ms",
                nt2 - now.saturating_sub(master.voted_time)
            );
            return;
        }
        for s in h.slots.iter() {
            let Some(owner) = self.owner(s).and_then(|o| self.nodes.get(&o)) else {
                continue;
            };
            if owner.config_epoch > h.config_epoch {
                tracing::warn!(
                    "Failover auth denied to {sender}: slot {s} epoch ({}) > reqEpoch ({})",
                    owner.config_epoch,
                    h.config_epoch
                );
                return;
            }
        }
        self.last_vote_epoch = epoch;
        if let Some(m) = self.nodes.get_mut(&master_id) {
            m.voted_time = now;
        }
        // Cluster::with writes and fsyncs nodes.conf before the ACK is sent.
        self.touch_durable();
        self.send_to(sender, Body::FailoverAuthAck, out);
        tracing::info!("Failover auth granted to {sender} for epoch {epoch}");
    }

    /// A vote for this replica's election.
    pub fn on_auth_ack(&mut self, sender: &NodeId, h: &Header, now: u64, out: &mut Outbox) {
        let voter = self.nodes.get(sender).is_some_and(|n| n.is_slot_owner());
        let e = &mut self.election;
        if voter && h.current_epoch >= e.auth_epoch && !e.voters.contains(sender) {
            e.voters.push(*sender);
            self.handle_replica_failover(now, out);
        }
    }

    /// `CLUSTER FAILOVER [FORCE|TAKEOVER]` on this replica.
    pub fn start_manual_failover(
        &mut self,
        mode: ManualMode,
        now: u64,
        out: &mut Outbox,
    ) -> Result<(), ManualError> {
        let me = self.me();
        if !me.is_replica() {
            return Err(ManualError::NotReplica);
        }
        let Some(master) = me.master.and_then(|m| self.nodes.get(&m)) else {
            return Err(ManualError::NoMaster);
        };
        let master_id = master.id;
        if mode == ManualMode::Coordinated
            && (master.is_failing() || self.connected_link(&master_id).is_none())
        {
            return Err(ManualError::MasterDown);
        }
        self.election = Election {
            mf_end: now + MF_TIMEOUT_MS,
            ..Election::default()
        };
        match mode {
            ManualMode::Takeover => {
                // No vote: a new epoch of our own makes the claim win.
                tracing::info!("Taking over the master (user request).");
                self.current_epoch += 1;
                let e = self.current_epoch;
                self.me_mut().config_epoch = e;
                self.replace_my_master(now, out);
            }
            ManualMode::Force => {
                tracing::info!("Forced failover user request accepted.");
                self.election.mf_can_start = true;
            }
            ManualMode::Coordinated => {
                tracing::info!("Manual failover user request accepted.");
                self.send_to(&master_id, Body::MfStart, out);
            }
        }
        Ok(())
    }

    /// MFSTART from one of our replicas: pause writes so it can catch up.
    pub fn on_mf_start(&mut self, sender: &NodeId, now: u64, out: &mut Outbox) {
        let is_my_replica = self
            .nodes
            .get(sender)
            .is_some_and(|n| n.is_replica() && n.master == Some(self.myself));
        if !is_my_replica || !self.me().is_master() {
            return;
        }
        tracing::info!("Manual failover requested by replica {sender}.");
        self.election = Election {
            mf_end: now + MF_TIMEOUT_MS,
            mf_replica: Some(*sender),
            ..Election::default()
        };
        out.pause_writes = Some(now + MF_TIMEOUT_MS * 2);
    }

    /// A message from our primary during a manual failover: once it says it
    /// paused, its offset is the one to reach. The latest one counts, though
    /// the primary only says so once its offset is final.
    pub fn on_master_header(&mut self, sender: &NodeId, h: &Header) {
        let e = &mut self.election;
        if e.mf_end != 0
            && !e.mf_can_start
            && e.mf_master_offset != Some(h.repl_offset)
            && h.mflags & MF_PAUSED != 0
            && self.nodes[&self.myself].master == Some(*sender)
        {
            e.mf_master_offset = Some(h.repl_offset);
            tracing::info!(
                "Received replication offset for paused master manual failover: {}",
                h.repl_offset
            );
        }
    }

    /// Manual-failover housekeeping for the tick: time out, keep the paused
    /// primary's replica informed, let a caught-up replica start.
    pub fn manual_failover_tick(&mut self, now: u64, out: &mut Outbox) {
        if self.election.mf_end == 0 {
            return;
        }
        if self.election.mf_end < now {
            tracing::warn!("Manual failover timed out.");
            self.reset_manual_failover(out);
            return;
        }
        if self.me().is_master() {
            if let Some(r) = self.election.mf_replica {
                // Each PING's header carries the offset, read at this step.
                if self.election.mf_paused {
                    self.send_ping(&r, now, out);
                }
            }
            return;
        }
        let e = &mut self.election;
        if !e.mf_can_start && e.mf_master_offset == Some(self.repl_offset) {
            e.mf_can_start = true;
            tracing::info!("All master replication stream processed, manual failover can start.");
        }
    }

    /// On a primary pausing for a manual failover: every write admitted
    /// before the pause has finished and the stream ends at `offset`, so it
    /// is announced to the replica as final (at once, and every tick after).
    pub fn on_mf_pause_settled(&mut self, offset: u64, now: u64, out: &mut Outbox) {
        let Some(r) = self.election.mf_replica else {
            return;
        };
        if self.election.mf_end == 0 || !self.me().is_master() {
            return;
        }
        self.repl_offset = self.repl_offset.max(offset);
        self.election.mf_paused = true;
        self.send_ping(&r, now, out);
    }

    /// Ends a manual failover; a primary resumes writes.
    pub fn reset_manual_failover(&mut self, out: &mut Outbox) {
        if self.election.mf_replica.is_some() {
            out.pause_writes = Some(0);
        }
        let e = &mut self.election;
        e.mf_end = 0;
        e.mf_replica = None;
        e.mf_paused = false;
        e.mf_master_offset = None;
        e.mf_can_start = false;
    }

    /// The header flags this node sends: PAUSED while its writes are paused
    /// for a replica's manual failover.
    pub fn mflags(&self) -> u8 {
        if self.election.mf_end != 0 && self.election.mf_paused {
            MF_PAUSED
        } else {
            0
        }
    }

    /// Replica migration (Redis's `clusterHandleSlaveMigration`): the replica
    /// with the smallest id among those of the primary with the most working
    /// replicas moves to a primary left with none for a while.
    pub fn handle_replica_migration(&mut self, now: u64) {
        let me = self.me();
        if !self.settings.allow_replica_migration || !me.is_replica() || !self.state_ok {
            return;
        }
        let Some(my_master) = me.master else { return };
        let good = |t: &Topology, m: &NodeId| t.replicas_of(m).filter(|r| !r.is_failing()).count();
        // Track orphans, and the largest replica set.
        let masters: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.is_slot_owner())
            .map(|n| n.id)
            .collect();
        let mut orphan = None;
        let mut max_replicas = 0;
        for m in &masters {
            let g = good(self, m);
            max_replicas = max_replicas.max(g);
            let n = self.nodes.get_mut(m).expect("collected above");
            if g == 0 && !n.is_failing() {
                if n.orphaned_since == 0 {
                    n.orphaned_since = now;
                }
                if now - n.orphaned_since > ORPHAN_GRACE_MS {
                    orphan = Some(*m);
                }
            } else {
                n.orphaned_since = 0;
            }
        }
        let mine = good(self, &my_master);
        if mine <= MIGRATION_BARRIER || mine < max_replicas {
            return;
        }
        let Some(target) = orphan else { return };
        let candidate = self
            .replicas_of(&my_master)
            .filter(|r| !r.is_failing())
            .map(|r| r.id)
            .min();
        if candidate == Some(self.myself) {
            tracing::info!("Migrating to orphaned master {target}");
            self.set_my_master(target);
            if let Some(n) = self.nodes.get_mut(&target) {
                n.orphaned_since = 0;
            }
        }
    }

    /// When the bus should call `on_deadline`, if there is something due
    /// between ticks: the next PFAIL deadline, or this replica's election.
    pub fn next_wake(&self, now: u64) -> Option<u64> {
        let e = &self.election;
        let election =
            (self.me().is_replica() && !e.auth_sent() && e.auth_time > now).then_some(e.auth_time);
        match (election, self.next_pfail()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The time-driven part of the tick, run at `next_wake`: failure
    /// detection, the cluster state it changes, and the election.
    pub fn on_deadline(&mut self, now: u64) -> Outbox {
        let mut out = Outbox::default();
        self.detect_failures(now, &mut out);
        self.update_state(now);
        self.handle_replica_failover(now, &mut out);
        out
    }

    /// Whether a PING's sender may count on us for its lease: we see it as a
    /// healthy primary that owns every slot it claimed.
    pub fn confirms(&self, sender: &NodeId, h: &Header) -> bool {
        let Some(n) = self.nodes.get(sender) else {
            return false;
        };
        // An empty claim is confirmed too: a primary that is given its first
        // slots (reshard, rebalance) then already holds a lease.
        n.is_master()
            && h.master.is_none()
            && !n.is_failing()
            && h.slots.iter().all(|s| self.owner(s) == Some(*sender))
    }

    /// Records a confirming PONG from `sender` for the PING sent at `ping_sent`.
    pub fn on_pong_extensions(&mut self, sender: &NodeId, ping_sent: u64, ext: &[Extension]) {
        if ping_sent != 0 && ext.contains(&Extension::Confirm) {
            let t = self.confirmed.entry(*sender).or_insert(0);
            *t = (*t).max(ping_sent);
        }
    }

    /// Until when (monotonic ms) this node may serve its slots: one node timeout
    /// past the confirmation that completes a majority of the primaries with
    /// slots. Unlimited for replicas and when no other primary has slots.
    pub fn lease_until(&self) -> u64 {
        if !self.me().is_slot_owner() {
            return u64::MAX;
        }
        let others: Vec<u64> = self
            .other_slot_owners()
            .map(|n| self.confirmed.get(&n.id).copied().unwrap_or(0))
            .collect();
        let size = others.len() + 1;
        let need = size / 2; // the majority size/2+1, myself included
        if need == 0 {
            return u64::MAX;
        }
        let mut times = others;
        times.sort_unstable_by(|a, b| b.cmp(a));
        match times.get(need - 1) {
            Some(&t) if t > 0 => t + self.node_timeout(),
            _ => 0,
        }
    }

    /// PINGs that keep the lease alive: every primary with slots whose last
    /// confirmation is older than a tenth of the node timeout and has no PING
    /// pending. Between primaries a PING is then nearly always outstanding,
    /// so a dead one turns PFAIL one node timeout after its last word rather
    /// than up to half a timeout later (the heartbeat rule's minimum pace).
    /// Primaries without slots renew too, to hold a lease when slots arrive.
    pub fn renew_lease(&mut self, now: u64, out: &mut Outbox) {
        if !self.me().is_master() {
            return;
        }
        let every = (self.node_timeout() / 10).max(100);
        let due: Vec<NodeId> = self
            .other_slot_owners()
            .filter(|n| n.ping_sent == 0 && n.link.is_some_and(|l| l.connected))
            .filter(|n| {
                let c = self.confirmed.get(&n.id).copied().unwrap_or(0);
                now.saturating_sub(c) >= every
            })
            .map(|n| n.id)
            .collect();
        for id in due {
            self.send_ping(&id, now, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::topology::tests::{id, master, topo};
    use super::super::topology::Node;
    use super::*;
    use crate::slot::SlotSet;

    /// a, b, c primaries with slots 0..3; r replicates c; seen from `me`.
    fn cluster(me: u8) -> Topology {
        let mut t = topo(me);
        for (c, port) in [(b'a', 7000), (b'b', 7001), (b'c', 7002)] {
            if c != me {
                t.add_node(master(c, port));
            }
        }
        if me != b'r' {
            let mut r = Node::new(id(b'r'), NodeFlags::REPLICA, 0);
            r.master = Some(id(b'c'));
            t.add_node(r);
        } else {
            t.set_my_master(id(b'c'));
        }
        for (s, c) in [(0, b'a'), (1, b'b'), (2, b'c')] {
            t.add_slot(s, id(c));
        }
        for c in [b'a', b'b', b'c'] {
            t.nodes.get_mut(&id(c)).unwrap().config_epoch = 1;
        }
        t.current_epoch = 3;
        t.update_state(100_000);
        t
    }

    fn request_from_r(epoch: u64, mflags: u8) -> Header {
        let mut slots = SlotSet::new();
        slots.set(2, true);
        Header {
            sender: id(b'r'),
            current_epoch: epoch,
            config_epoch: 1,
            repl_offset: 0,
            flags: NodeFlags::REPLICA,
            master: Some(id(b'c')),
            ip: String::new(),
            port: 0,
            bus_port: 0,
            state_ok: true,
            mflags,
            slots,
        }
    }

    fn fail(t: &mut Topology, c: u8) {
        t.nodes
            .get_mut(&id(c))
            .unwrap()
            .flags
            .set(NodeFlags::FAIL, true);
    }

    #[test]
    fn a_primary_votes_once_per_epoch_and_only_for_a_failed_primary() {
        let mut t = cluster(b'a');
        let mut out = Outbox::default();
        t.current_epoch = 4;
        t.on_auth_request(&id(b'r'), &request_from_r(4, 0), 200_000, &mut out);
        assert_eq!(t.last_vote_epoch, 0, "c is not FAIL: no vote");
        // A manual failover's request is voted for even with c up.
        t.on_auth_request(
            &id(b'r'),
            &request_from_r(4, MF_FORCEACK),
            200_000,
            &mut out,
        );
        assert_eq!(t.last_vote_epoch, 4);
        assert!(t.changes.durable, "the vote is persisted before it is sent");
        fail(&mut t, b'c');
        t.current_epoch = 5;
        // Within 2 node timeouts of the last vote for c's replicas: no vote.
        t.on_auth_request(&id(b'r'), &request_from_r(5, 0), 200_100, &mut out);
        assert_eq!(t.last_vote_epoch, 4);
        t.on_auth_request(&id(b'r'), &request_from_r(5, 0), 240_000, &mut out);
        assert_eq!(t.last_vote_epoch, 5);
        // A stale epoch, or a slot now owned at a newer config epoch: no vote.
        t.current_epoch = 7;
        t.on_auth_request(&id(b'r'), &request_from_r(6, 0), 300_000, &mut out);
        assert_eq!(t.last_vote_epoch, 5);
        t.nodes.get_mut(&id(b'c')).unwrap().config_epoch = 9;
        t.on_auth_request(&id(b'r'), &request_from_r(7, 0), 300_000, &mut out);
        assert_eq!(t.last_vote_epoch, 5);
    }

    #[test]
    fn a_replica_elects_itself_with_a_majority_and_takes_the_slots() {
        let mut t = cluster(b'r');
        let mut out = Outbox::default();
        t.handle_replica_failover(200_000, &mut out);
        assert_eq!(t.election.auth_time, 0, "master up: nothing happens");
        fail(&mut t, b'c');
        t.handle_replica_failover(200_000, &mut out);
        let start = t.election.auth_time;
        assert!(
            (200_500..201_000).contains(&start),
            "delay 500-999 ms: {start}"
        );
        t.handle_replica_failover(start - 1, &mut out);
        assert!(!t.election.auth_sent());
        t.handle_replica_failover(start, &mut out);
        assert!(t.election.auth_sent());
        assert_eq!(t.election.auth_epoch, 4, "current epoch bumped");
        let mut ack = request_from_r(4, 0);
        ack.master = None;
        t.on_auth_ack(&id(b'a'), &ack, start + 10, &mut out);
        t.on_auth_ack(&id(b'a'), &ack, start + 10, &mut out);
        assert!(t.me().is_replica(), "one voter counted once: 1 < quorum 2");
        t.on_auth_ack(&id(b'b'), &ack, start + 20, &mut out);
        assert!(t.me().is_master());
        assert_eq!(t.owner(2), Some(id(b'r')));
        assert_eq!(t.me().config_epoch, 4);
        assert_eq!(t.lease_until(), start + 15_000, "the votes start the lease");
    }

    #[test]
    fn a_replica_with_stale_data_or_no_failover_set_does_not_elect_itself() {
        let elects = |t: &mut Topology| {
            let mut out = Outbox::default();
            t.election = Election::default();
            t.handle_replica_failover(200_000, &mut out);
            t.election.auth_time != 0
        };
        let mut t = cluster(b'r');
        fail(&mut t, b'c');
        let nt = t.settings.node_timeout;
        // Allowed: the node timeout detection took, the ping period, and
        // node-timeout * factor (10).
        let limit = nt + crate::repl::log::PING_PERIOD_MS + nt * 10;
        t.repl_data_age = limit;
        assert!(elects(&mut t));
        t.repl_data_age = limit + 1;
        assert!(!elects(&mut t), "data too old");
        t.settings.replica_validity_factor = 0;
        assert!(elects(&mut t), "factor 0: any age");
        t.repl_data_age = 0;
        t.settings.replica_no_failover = true;
        t.update_myself_flags();
        assert!(t.me().flags.has(NodeFlags::NOFAILOVER));
        assert!(t.changes.save, "the flag is saved in nodes.conf");
        assert!(!elects(&mut t), "nofailover");
        t.settings.replica_no_failover = false;
        t.update_myself_flags();
        assert!(!t.me().flags.has(NodeFlags::NOFAILOVER));
        assert!(elects(&mut t));
    }

    #[test]
    fn a_lagging_replica_waits_a_second_per_better_sibling() {
        let mut t = cluster(b'r');
        let mut s = Node::new(id(b's'), NodeFlags::REPLICA, 0);
        s.master = Some(id(b'c'));
        s.repl_offset = 500;
        t.add_node(s);
        t.repl_offset = 100;
        fail(&mut t, b'c');
        let mut out = Outbox::default();
        t.handle_replica_failover(200_000, &mut out);
        assert_eq!(t.election.auth_rank, 1);
        assert!(t.election.auth_time >= 201_500);
    }

    #[test]
    fn election_delays_scale_with_the_node_timeout() {
        let start_after = |t: &mut Topology| {
            let mut out = Outbox::default();
            t.election = Election::default();
            t.handle_replica_failover(200_000, &mut out);
            t.election.auth_time - 200_000
        };
        let mut t = cluster(b'r');
        t.settings.node_timeout = 1000;
        fail(&mut t, b'c');
        // The only replica: D = 1000/30 = 33 ms, no random part.
        assert_eq!(start_after(&mut t), 33);
        // A sibling known to be behind: a random part of up to D, rank 0.
        let mut s = Node::new(id(b's'), NodeFlags::REPLICA, 0);
        s.master = Some(id(b'c'));
        s.data_received = 150_000;
        t.add_node(s);
        t.repl_offset = 100;
        for _ in 0..20 {
            let d = start_after(&mut t);
            assert!((33..66).contains(&d), "D + random(0..D): {d}");
        }
        // A sibling ahead: one rank, 2D more.
        t.nodes.get_mut(&id(b's')).unwrap().repl_offset = 200;
        assert!((99..132).contains(&start_after(&mut t)));
        // A sibling never heard from counts as ahead, whatever its offset.
        let n = t.nodes.get_mut(&id(b's')).unwrap();
        n.repl_offset = 0;
        n.data_received = 0;
        assert!((99..132).contains(&start_after(&mut t)));
        // Long node timeouts keep Redis's 500 ms.
        t.settings.node_timeout = 15_000;
        assert!((1500..2000).contains(&start_after(&mut t)));
    }

    #[test]
    fn the_lease_needs_a_majority_of_fresh_confirmations() {
        let mut t = cluster(b'a');
        assert_eq!(t.lease_until(), 0, "no confirmation yet");
        let mut slots = SlotSet::new();
        slots.set(0, true);
        t.on_pong_extensions(&id(b'b'), 5_000, &[Extension::Confirm]);
        assert_eq!(t.lease_until(), 5_000 + 15_000, "a + b of 3 is a majority");
        t.on_pong_extensions(&id(b'c'), 6_000, &[]);
        assert_eq!(
            t.lease_until(),
            20_000,
            "a PONG without Confirm adds nothing"
        );
        // b confirms a only while it sees a as the healthy owner of its claim.
        let b = cluster(b'b');
        let mut h = request_from_r(3, 0);
        h.sender = id(b'a');
        h.master = None;
        h.slots = slots;
        assert!(b.confirms(&id(b'a'), &h));
        let mut b2 = cluster(b'b');
        fail(&mut b2, b'a');
        assert!(!b2.confirms(&id(b'a'), &h));
        let mut b3 = cluster(b'b');
        b3.add_slot(0, id(b'c'));
        assert!(!b3.confirms(&id(b'a'), &h), "slot 0 has another owner");
        let mut empty = h.clone();
        empty.slots = SlotSet::new();
        assert!(b.confirms(&id(b'a'), &empty), "an empty claim is confirmed");
        // Replicas and lone primaries are not limited.
        assert_eq!(cluster(b'r').lease_until(), u64::MAX);
    }

    #[test]
    fn a_manual_failover_waits_for_the_paused_primarys_final_offset() {
        let mut c = cluster(b'c');
        let mut out = Outbox::default();
        c.on_mf_start(&id(b'r'), 10_000, &mut out);
        assert_eq!(out.pause_writes, Some(10_000 + MF_TIMEOUT_MS * 2));
        // Writes that passed the pause check may still be running: the
        // offset is not announced as final until the server says they ended,
        // however long that takes.
        c.manual_failover_tick(14_000, &mut out);
        assert_eq!(c.header().mflags & MF_PAUSED, 0);
        c.on_mf_pause_settled(150, 14_001, &mut out);
        let h = c.header();
        assert_ne!(h.mflags & MF_PAUSED, 0);
        assert_eq!(h.repl_offset, 150);

        let mut r = cluster(b'r');
        r.election.mf_end = 15_000;
        let mut paused = h.clone();
        paused.repl_offset = 100;
        r.on_master_header(&id(b'c'), &paused);
        r.on_master_header(&id(b'c'), &h);
        r.repl_offset = 100;
        r.manual_failover_tick(10_100, &mut out);
        assert!(!r.election.mf_can_start, "the latest offset counts");
        r.repl_offset = 150;
        r.manual_failover_tick(10_200, &mut out);
        assert!(r.election.mf_can_start);
        c.reset_manual_failover(&mut out);
        assert_eq!(out.pause_writes, Some(0), "writes resume");
    }

    #[test]
    fn a_replica_migrates_to_an_orphaned_primary() {
        let mut t = cluster(b'r');
        let mut s = Node::new(id(b's'), NodeFlags::REPLICA, 0);
        s.master = Some(id(b'c'));
        t.add_node(s);
        t.settings.require_full_coverage = false;
        t.update_state(100_000);
        assert!(t.state_ok);
        // a and b have no replica: they become orphans after the grace time.
        t.handle_replica_migration(200_000);
        assert_eq!(t.me().master, Some(id(b'c')));
        t.handle_replica_migration(200_000 + ORPHAN_GRACE_MS + 1);
        assert!(t.me().is_replica());
        let m = t.me().master.unwrap();
        assert!(m == id(b'a') || m == id(b'b'), "moved to an orphan");
    }
}
