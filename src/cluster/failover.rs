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
mod tests;
