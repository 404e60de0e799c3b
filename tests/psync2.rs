//! PSYNC2 through the real binary: after a promotion the sibling replica and
//! the old primary continue from the promoted replica with a partial resync
//! (the old id stays valid up to the promotion offset), a node that wrote
//! past that point syncs fully, a replica restarted from its saved RDB
//! continues partially, and Debian's redis-server 7.0.15 switches to a
//! promoted ringcache replica partially too.

mod common;

use std::time::Duration;

use common::{cmd, info_field, sync_counts as syncs, wait_replicas, RedisServer, TestNode};
use redis::Connection;

fn repl(c: &mut Connection, field: &str) -> String {
    info_field(c, "replication", field)
}

fn replicaof(c: &mut Connection, port: u16) {
    cmd(c, &["REPLICAOF", "127.0.0.1", &port.to_string()]);
}

/// Waits until `replica`'s link is up and its data equals the primary's.
fn wait_in_sync(primary: &mut Connection, replica: &mut Connection) {
    common::wait_in_sync(primary, replica, Duration::from_secs(20));
}

/// Writes in two databases, leaving the stream in database 3 (a replica
/// that continues must know the stream's database without a new SELECT).
fn write(c: &mut Connection, tag: &str) {
    for i in 0..50 {
        cmd(c, &["SET", &format!("{tag}:{i}"), &i.to_string()]);
    }
    cmd(c, &["SELECT", "3"]);
    cmd(c, &["SET", &format!("{tag}:db3"), "three"]);
    cmd(c, &["INCR", &format!("{tag}:n")]);
}

/// WAITs on the connection that wrote (WAIT counts its own last write).
fn wait_acked(c: &mut Connection, replicas: i64) {
    assert_eq!(
        wait_replicas(c, replicas, 5000),
        replicas,
        "replicas acknowledging the writes"
    );
}

#[test]
fn the_sibling_and_the_old_primary_continue_partially_from_a_promoted_replica() {
    let a = TestNode::start(&[]);
    let (b, c) = (TestNode::start(&[]), TestNode::start(&[]));
    let (mut ac, mut bc, mut cc) = (a.conn(), b.conn(), c.conn());
    replicaof(&mut bc, a.port);
    replicaof(&mut cc, a.port);
    write(&mut ac, "before");
    wait_acked(&mut ac, 2);
    wait_in_sync(&mut ac, &mut bc);
    wait_in_sync(&mut ac, &mut cc);
    let old_id = repl(&mut ac, "master_replid");
    let offset: u64 = repl(&mut ac, "master_repl_offset").parse().expect("offset");
    assert_eq!(
        repl(&mut bc, "master_replid"),
        old_id,
        "a replica's log is its primary's history"
    );

    cmd(&mut bc, &["REPLICAOF", "NO", "ONE"]);
    assert_ne!(repl(&mut bc, "master_replid"), old_id, "a new history");
    assert_eq!(repl(&mut bc, "master_replid2"), old_id);
    assert_eq!(
        repl(&mut bc, "second_repl_offset"),
        (offset + 1).to_string()
    );
    replicaof(&mut cc, b.port);
    replicaof(&mut ac, b.port);
    // The promoted primary's own writes start with their SELECT.
    write(&mut bc, "after");
    wait_acked(&mut bc, 2);
    wait_in_sync(&mut bc, &mut cc);
    wait_in_sync(&mut bc, &mut ac);
    assert_eq!(
        syncs(&mut bc),
        (0, 2),
        "(full, partial) syncs on the promoted replica"
    );
    let new_id = repl(&mut bc, "master_replid");
    for (name, conn) in [("sibling", &mut cc), ("old primary", &mut ac)] {
        assert_eq!(repl(conn, "master_replid"), new_id, "{name}");
        assert_eq!(repl(conn, "master_replid2"), old_id, "{name}");
    }
}

#[test]
fn an_old_primary_that_wrote_past_the_promotion_syncs_fully() {
    let a = TestNode::start(&[]);
    let b = TestNode::start(&[]);
    let (mut ac, mut bc) = (a.conn(), b.conn());
    replicaof(&mut bc, a.port);
    write(&mut ac, "shared");
    wait_acked(&mut ac, 1);
    cmd(&mut bc, &["REPLICAOF", "NO", "ONE"]);
    // Writes the promoted replica never had: the histories diverged.
    cmd(&mut ac, &["SET", "diverged", "1"]);
    replicaof(&mut ac, b.port);
    wait_in_sync(&mut bc, &mut ac);
    assert_eq!(syncs(&mut bc), (1, 0), "(full, partial) syncs");
    let gone: Option<String> = redis::cmd("GET")
        .arg("diverged")
        .query(&mut ac)
        .expect("GET");
    assert_eq!(gone, None, "the old primary's own write is replaced");
}

#[test]
fn a_replica_restarted_from_its_saved_rdb_continues_partially() {
    let a = TestNode::start(&[]);
    let p = a.port.to_string();
    let mut r = TestNode::start(&["--replicaof", "127.0.0.1", &p]);
    let mut ac = a.conn();
    write(&mut ac, "before");
    wait_acked(&mut ac, 1);
    wait_in_sync(&mut ac, &mut r.conn());
    // A clean shutdown that saves (the repl-id and repl-offset go in the file).
    let _ = redis::cmd("SHUTDOWN")
        .arg("SAVE")
        .query::<redis::Value>(&mut r.conn());
    assert!(
        r.wait_exit(Duration::from_secs(10)),
        "the replica did not exit"
    );
    write(&mut ac, "while-away");
    r.restart();
    let mut rc = r.conn();
    wait_in_sync(&mut ac, &mut rc);
    assert_eq!(
        syncs(&mut ac),
        (1, 1),
        "(full, partial) syncs on the primary"
    );
    wait_acked(&mut ac, 1);
}

#[test]
fn redis_server_switches_to_a_promoted_ringcache_replica_partially() {
    let a = TestNode::start(&[]);
    let b = TestNode::start(&[]);
    let p = a.port.to_string();
    let theirs = RedisServer::start(&["--replicaof", "127.0.0.1", &p]);
    let (mut ac, mut bc, mut rc) = (a.conn(), b.conn(), theirs.conn());
    replicaof(&mut bc, a.port);
    write(&mut ac, "before");
    wait_acked(&mut ac, 2);
    wait_in_sync(&mut ac, &mut rc);
    cmd(&mut bc, &["REPLICAOF", "NO", "ONE"]);
    replicaof(&mut rc, b.port);
    write(&mut bc, "after");
    wait_acked(&mut bc, 1);
    wait_in_sync(&mut bc, &mut rc);
    assert_eq!(syncs(&mut bc), (0, 1), "(full, partial) syncs");
}
