//! Elections, votes, epochs and the lease, on topologies built by hand.

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

/// Runs the replica's failover step afresh at 200,000 ms; returns when its
/// election starts (0: it does not start one).
fn scheduled_election(t: &mut Topology) -> u64 {
    let mut out = Outbox::default();
    t.election = Election::default();
    t.handle_replica_failover(200_000, &mut out);
    t.election.auth_time
}

#[test]
fn a_replica_with_stale_data_or_no_failover_set_does_not_elect_itself() {
    let elects = |t: &mut Topology| scheduled_election(t) != 0;
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
    let start_after = |t: &mut Topology| scheduled_election(t) - 200_000;
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
