//! Synchronous replication through the real binary: with
//! `replica-sync-writes 1` a write's reply leaves only once the replica has
//! it; without a replica, or with a stopped one, the write is answered with
//! `-NOREPLICAS` after `replica-sync-timeout` (and stays applied locally);
//! reads never wait; `CLIENT SYNC-WRITES` sets it per connection.

mod common;

use std::time::{Duration, Instant};

use common::{cmd, info_field, wait_for, TestNode};
use redis::Connection;

const NOT_REPLICATED: &str = "NOREPLICAS";

fn set(c: &mut Connection, k: &str, v: &str) -> redis::RedisResult<redis::Value> {
    redis::cmd("SET").arg(k).arg(v).query(c)
}

fn get(c: &mut Connection, k: &str) -> Option<String> {
    redis::cmd("GET").arg(k).query(c).expect("GET")
}

fn refused(r: redis::RedisResult<redis::Value>) -> bool {
    matches!(&r, Err(e) if e.code() == Some(NOT_REPLICATED))
}

#[test]
fn a_write_is_answered_once_the_replica_has_it_and_refused_without_one() {
    let primary = TestNode::start(&[
        "--replica-sync-writes",
        "1",
        "--replica-sync-timeout",
        "300",
    ]);
    let mut pc = primary.conn();
    // No replica: refused at once, applied locally, reads unaffected.
    let t = Instant::now();
    assert!(
        refused(set(&mut pc, "alone", "1")),
        "a write with no replica"
    );
    assert!(
        t.elapsed() < Duration::from_millis(250),
        "no wait without replicas"
    );
    assert_eq!(
        get(&mut pc, "alone").as_deref(),
        Some("1"),
        "applied locally"
    );

    let p = primary.port.to_string();
    let replica = TestNode::start(&["--replicaof", "127.0.0.1", &p]);
    let mut rc = replica.conn();
    assert!(wait_for(Duration::from_secs(10), || {
        info_field(&mut rc, "replication", "master_link_status") == "up"
            && info_field(&mut pc, "replication", "slave0").contains("online")
    }));
    // Each reply means the replica applied that write: read it there at once.
    for i in 0..50 {
        let k = format!("k{i}");
        assert_eq!(set(&mut pc, &k, &i.to_string()), Ok(redis::Value::Okay));
        assert_eq!(get(&mut rc, &k), Some(i.to_string()), "{k} on the replica");
    }
    // A pipeline waits once for its batch.
    let mut pipe = redis::pipe();
    for i in 0..100 {
        pipe.cmd("SET").arg(format!("p{i}")).arg(i);
    }
    let replies: Vec<redis::Value> = pipe.query(&mut pc).expect("pipeline");
    assert!(
        replies.iter().all(|r| *r == redis::Value::Okay),
        "{replies:?}"
    );
    assert_eq!(get(&mut rc, "p99").as_deref(), Some("99"));
    // A transaction is one write: its EXEC waits too.
    let exec: Vec<redis::Value> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("t")
        .arg("1")
        .cmd("INCR")
        .arg("n")
        .query(&mut pc)
        .expect("EXEC");
    assert_eq!(exec, vec![redis::Value::Okay, redis::Value::Int(1)]);
    assert_eq!(get(&mut rc, "n").as_deref(), Some("1"));

    // A replica that stops answering: refused after the timeout.
    replica.signal("STOP");
    let t = Instant::now();
    let r = set(&mut pc, "late", "1");
    let waited = t.elapsed();
    replica.signal("CONT");
    assert!(refused(r), "a write the stopped replica never acknowledged");
    assert!(
        waited >= Duration::from_millis(300),
        "answered before the timeout: {waited:?}"
    );
    assert_eq!(
        get(&mut pc, "late").as_deref(),
        Some("1"),
        "applied locally"
    );
    let read: Option<String> = redis::cmd("GET").arg("k1").query(&mut pc).expect("GET");
    assert_eq!(read.as_deref(), Some("1"), "reads never wait");
}

#[test]
fn client_sync_writes_sets_it_for_one_connection() {
    let primary = TestNode::start(&["--replica-sync-timeout", "100"]);
    let (mut a, mut b) = (primary.conn(), primary.conn());
    assert_eq!(
        set(&mut a, "x", "1"),
        Ok(redis::Value::Okay),
        "asynchronous by default"
    );
    cmd(&mut a, &["CLIENT", "SYNC-WRITES", "1"]);
    assert!(refused(set(&mut a, "x", "2")), "this connection now waits");
    assert_eq!(
        set(&mut b, "y", "1"),
        Ok(redis::Value::Okay),
        "the other does not"
    );
    cmd(&mut a, &["CLIENT", "SYNC-WRITES", "DEFAULT"]);
    assert_eq!(set(&mut a, "x", "3"), Ok(redis::Value::Okay));
    let err = redis::cmd("CLIENT")
        .arg("SYNC-WRITES")
        .arg("-1")
        .query::<redis::Value>(&mut a)
        .unwrap_err();
    assert!(err.to_string().contains("non-negative"), "{err}");
}
