//! Primary/replica replication through the real binary: full sync and the
//! stream, WAIT, read-only replicas, expiry on replicas, partial vs full
//! resync, a 1,000,000-key sync, and both directions with Debian's
//! redis-server 7.0.15.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::disk::digest;
use common::{
    cmd, cmd_err, info_field, info_names, wait_for, wait_in_sync, wait_replicas, RedisServer,
    TestNode,
};
use redis::Connection;

fn repl(c: &mut Connection, field: &str) -> String {
    info_field(c, "replication", field)
}

fn stat(c: &mut Connection, field: &str) -> u64 {
    info_field(c, "stats", field).parse().expect("number")
}

/// A few keys of every shape: integers, binary, TTLs, another database.
fn fill(c: &mut Connection, tag: &str) {
    for i in 0..200 {
        cmd(c, &["SET", &format!("{tag}:{i}"), &format!("v{i}")]);
    }
    cmd(c, &["SET", &format!("{tag}:int"), "12345"]);
    cmd(c, &["SET", &format!("{tag}:ttl"), "x", "PX", "600000"]);
    cmd(c, &["APPEND", &format!("{tag}:raw"), "grown"]);
    cmd(c, &["SELECT", "4"]);
    cmd(c, &["SET", &format!("{tag}:db4"), "in db 4"]);
    cmd(c, &["SELECT", "0"]);
}

/// Writers that INCR their own counter until stopped; returns the last
/// acknowledged value of each.
fn writers(url: String, n: usize, stop: Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<u64>> {
    (0..n)
        .map(|w| {
            let (url, stop) = (url.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut c = redis::Client::open(url)
                    .and_then(|c| c.get_connection())
                    .expect("connect");
                let mut last = 0;
                while !stop.load(Ordering::Relaxed) {
                    last = redis::cmd("INCR")
                        .arg(format!("ctr:{w}"))
                        .query(&mut c)
                        .expect("INCR");
                    redis::cmd("SET")
                        .arg(format!("w:{w}:{last}"))
                        .arg(last)
                        .query::<()>(&mut c)
                        .expect("SET");
                }
                last
            })
        })
        .collect()
}

fn replica_of(primary_port: u16, extra: &[&str]) -> TestNode {
    let p = primary_port.to_string();
    let mut args = vec!["--replicaof", "127.0.0.1", &p];
    args.extend_from_slice(extra);
    TestNode::start(&args)
}

#[test]
fn a_replica_syncs_then_follows_the_stream_and_refuses_writes() {
    let primary = TestNode::start(&[]);
    let mut pc = primary.conn();
    fill(&mut pc, "before");
    let replica = replica_of(primary.port, &[]);
    let mut rc = replica.conn();
    wait_in_sync(&mut pc, &mut rc, Duration::from_secs(10));
    // Writes while replicating, from several connections.
    let stop = Arc::new(AtomicBool::new(false));
    let hs = writers(primary.url(), 3, stop.clone());
    fill(&mut pc, "during");
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let last: Vec<u64> = hs.into_iter().map(|h| h.join().expect("writer")).collect();
    assert!(last.iter().all(|&n| n > 0));
    assert_eq!(
        wait_replicas(&mut pc, 1, 5000),
        1,
        "WAIT 1 after the writes"
    );
    wait_in_sync(&mut pc, &mut rc, Duration::from_secs(10));
    for (w, n) in last.iter().enumerate() {
        let got: u64 = redis::cmd("GET")
            .arg(format!("ctr:{w}"))
            .query(&mut rc)
            .expect("GET");
        assert_eq!(got, *n);
    }
    let ttl: i64 = redis::cmd("PTTL")
        .arg("before:ttl")
        .query(&mut rc)
        .expect("PTTL");
    assert!(ttl > 500_000 && ttl <= 600_000, "TTL kept: {ttl}");

    let err = cmd_err(&mut rc, &["SET", "x", "1"]);
    assert_eq!(err.code(), Some("READONLY"));
    assert_eq!(
        err.detail(),
        Some("You can't write against a read only replica.")
    );
    // INFO and ROLE on both sides.
    assert_eq!(repl(&mut pc, "role"), "master");
    assert_eq!(repl(&mut pc, "connected_slaves"), "1");
    let slave0 = repl(&mut pc, "slave0");
    assert!(
        slave0.starts_with(&format!(
            "ip=127.0.0.1,port={},state=online,offset=",
            replica.port
        )),
        "{slave0}"
    );
    assert_eq!(repl(&mut rc, "role"), "slave");
    assert_eq!(repl(&mut rc, "master_port"), primary.port.to_string());
    assert_eq!(
        repl(&mut rc, "master_replid"),
        repl(&mut pc, "master_replid")
    );
    assert!(wait_for(Duration::from_secs(5), || repl(
        &mut rc,
        "slave_repl_offset"
    ) == repl(
        &mut pc,
        "master_repl_offset"
    )));
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut rc).expect("ROLE");
    assert_eq!(role[0], redis::Value::BulkString(b"slave".to_vec()));
    assert_eq!(role[3], redis::Value::BulkString(b"connected".to_vec()));
    let listed: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("replica")
        .query(&mut pc)
        .expect("CLIENT LIST");
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains("flags=S"), "{listed}");
    // WAIT counts only replicas that acknowledged; asking for 2 times out at 1.
    cmd(&mut pc, &["SET", "one-more", "x"]);
    let started = Instant::now();
    assert_eq!(wait_replicas(&mut pc, 2, 300), 1);
    assert!(started.elapsed() >= Duration::from_millis(280));
    // REPLICAOF NO ONE: the data stays and writes are accepted.
    cmd(&mut rc, &["REPLICAOF", "NO", "ONE"]);
    assert_eq!(repl(&mut rc, "role"), "master");
    cmd(&mut rc, &["SET", "mine", "now"]);
    let got: String = redis::cmd("GET")
        .arg("before:1")
        .query(&mut rc)
        .expect("GET");
    assert_eq!(got, "v1");
}

#[test]
fn expired_keys_on_a_replica_wait_for_the_primarys_del() {
    let primary = TestNode::start(&[]);
    let mut pc = primary.conn();
    cmd(&mut pc, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let replica = replica_of(primary.port, &[]);
    let mut rc = replica.conn();
    wait_in_sync(&mut pc, &mut rc, Duration::from_secs(10));
    cmd(&mut pc, &["SET", "short", "v", "PX", "300"]);
    wait_replicas(&mut pc, 1, 5000);
    std::thread::sleep(Duration::from_millis(500));
    // Logically expired on the replica, but kept until the primary says so.
    let got: Option<String> = redis::cmd("GET").arg("short").query(&mut rc).expect("GET");
    assert_eq!(got, None);
    let n: i64 = redis::cmd("DBSIZE").query(&mut rc).expect("DBSIZE");
    assert_eq!(n, 1, "the replica removed an expired key by itself");
    // The primary's lazy expiry propagates a DEL.
    let got: Option<String> = redis::cmd("GET").arg("short").query(&mut pc).expect("GET");
    assert_eq!(got, None);
    assert!(wait_for(Duration::from_secs(5), || redis::cmd("DBSIZE")
        .query::<i64>(&mut rc)
        .expect("DBSIZE")
        == 0));
}

/// RANDOMKEY on a replica deletes nothing (it used to purge the expired keys
/// it met): expired keys wait for the primary's DEL. As redis-server does, it
/// answers a live key when there is one, and a logically expired one, rather
/// than nil or a loop, when every key is expired; both in a sparse database
/// and in a dense one (more keys than slots, sampled by random slot).
#[test]
fn randomkey_on_a_replica_deletes_nothing() {
    let primary = TestNode::start(&[]);
    let mut pc = primary.conn();
    cmd(&mut pc, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let replica = replica_of(primary.port, &[]);
    let mut rc = replica.conn();
    wait_in_sync(&mut pc, &mut rc, Duration::from_secs(10));
    let dbsize = |c: &mut Connection| -> i64 { redis::cmd("DBSIZE").query(c).expect("DBSIZE") };
    let randomkey = |c: &mut Connection| -> Option<String> {
        redis::cmd("RANDOMKEY").query(c).expect("RANDOMKEY")
    };
    let expire_all = |pc: &mut Connection, rc: &mut Connection| {
        wait_in_sync(pc, rc, Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(400));
    };

    cmd(&mut pc, &["SET", "short", "v", "PX", "200"]);
    expire_all(&mut pc, &mut rc);
    let before = digest(&mut rc);
    for _ in 0..5 {
        assert_eq!(randomkey(&mut rc).as_deref(), Some("short"));
    }
    assert_eq!(
        dbsize(&mut rc),
        1,
        "RANDOMKEY deleted an expired key on the replica"
    );
    assert_eq!(digest(&mut rc), before);

    cmd(&mut pc, &["SET", "live", "1"]);
    wait_in_sync(&mut pc, &mut rc, Duration::from_secs(10));
    for _ in 0..20 {
        assert_eq!(randomkey(&mut rc).as_deref(), Some("live"));
    }
    assert_eq!(dbsize(&mut rc), 2);

    let mut pipe = redis::pipe();
    for i in 0..20_000 {
        pipe.cmd("SET")
            .arg(format!("dense:{i}"))
            .arg(i)
            .arg("PX")
            .arg(200)
            .ignore();
    }
    let _: () = pipe.query(&mut pc).expect("pipeline");
    cmd(&mut pc, &["DEL", "live"]);
    expire_all(&mut pc, &mut rc);
    let before = digest(&mut rc);
    for _ in 0..5 {
        assert!(
            randomkey(&mut rc).is_some(),
            "an expired key, as Redis answers"
        );
    }
    assert_eq!(
        dbsize(&mut rc),
        20_001,
        "RANDOMKEY deleted expired keys on the replica"
    );
    assert_eq!(digest(&mut rc), before);
}

#[test]
fn a_short_disconnect_resyncs_partially_a_long_one_fully() {
    let primary = TestNode::start(&["--repl-backlog-size", "16kb"]);
    let mut pc = primary.conn();
    fill(&mut pc, "a");
    let replica = replica_of(primary.port, &[]);
    let mut rc = replica.conn();
    wait_in_sync(&mut pc, &mut rc, Duration::from_secs(10));
    assert_eq!(stat(&mut pc, "sync_full"), 1);
    let kill = |c: &mut Connection| {
        let n: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("replica")
            .query(c)
            .expect("CLIENT KILL");
        assert_eq!(n, 1);
    };
    // Short: a few writes while the replica reconnects, well inside the backlog.
    kill(&mut pc);
    fill(&mut pc, "b");
    assert!(wait_for(Duration::from_secs(10), || stat(
        &mut pc,
        "sync_partial_ok"
    ) == 1));
    wait_in_sync(&mut pc, &mut rc, Duration::from_secs(10));
    assert_eq!(
        stat(&mut pc, "sync_full"),
        1,
        "a partial resync, not a full one"
    );
    // Long: more than the backlog written while it is away.
    kill(&mut pc);
    let big = "z".repeat(1000);
    for i in 0..100 {
        cmd(&mut pc, &["SET", &format!("big:{i}"), &big]);
    }
    assert!(wait_for(Duration::from_secs(10), || stat(
        &mut pc,
        "sync_full"
    ) == 2));
    assert_eq!(stat(&mut pc, "sync_partial_err"), 1);
    wait_in_sync(&mut pc, &mut rc, Duration::from_secs(10));
}

#[test]
fn a_million_key_full_sync_matches_the_primary() {
    let primary = TestNode::start(&[]);
    let mut pc = primary.conn();
    let n = 1_000_000;
    for chunk in 0..(n / 1000) {
        let mut cmd = redis::cmd("MSET");
        for i in chunk * 1000..(chunk + 1) * 1000 {
            cmd.arg(format!("key:{i:07}")).arg(format!("value-{i}"));
        }
        cmd.query::<()>(&mut pc).expect("MSET");
    }
    let started = Instant::now();
    let replica = replica_of(primary.port, &[]);
    let mut rc = replica.conn();
    wait_in_sync(&mut pc, &mut rc, Duration::from_secs(120));
    eprintln!(
        "1,000,000-key full sync in sync after {:?}",
        started.elapsed()
    );
    let size: i64 = redis::cmd("DBSIZE").query(&mut rc).expect("DBSIZE");
    assert_eq!(size, n as i64);
}

/// The primary's data reaches the replica (already syncing on `rc`): the
/// snapshot, then the stream, acknowledged to WAIT.
fn follows(pc: &mut Connection, rc: &mut Connection) {
    fill(pc, "before");
    wait_in_sync(pc, rc, Duration::from_secs(20));
    fill(pc, "after");
    cmd(pc, &["INCRBY", "n", "7"]);
    assert_eq!(wait_replicas(pc, 1, 5000), 1, "the replica acknowledged");
    wait_in_sync(pc, rc, Duration::from_secs(10));
    assert!(repl(pc, "slave0").contains("state=online"));
}

#[test]
fn redis_server_replicates_ringcache() {
    let primary = TestNode::start(&[]);
    let p = primary.port.to_string();
    let redis = RedisServer::start(&["--replicaof", "127.0.0.1", &p]);
    follows(&mut primary.conn(), &mut redis.conn());
}

#[test]
fn ringcache_replicates_redis_server() {
    let redis = RedisServer::start(&["--repl-diskless-sync-delay", "0"]);
    let replica = replica_of(redis.port, &[]);
    follows(&mut redis.conn(), &mut replica.conn());
}

#[test]
fn info_replication_has_redis_fields_in_both_roles() {
    // ringcache primary with a redis-server replica, and the other way round.
    let ours = TestNode::start(&[]);
    let p = ours.port.to_string();
    let their_replica = RedisServer::start(&["--replicaof", "127.0.0.1", &p]);
    let theirs = RedisServer::start(&["--repl-diskless-sync-delay", "0"]);
    let our_replica = replica_of(theirs.port, &[]);
    let (mut a, mut b) = (ours.conn(), their_replica.conn());
    let (mut c, mut d) = (theirs.conn(), our_replica.conn());
    wait_in_sync(&mut a, &mut b, Duration::from_secs(20));
    wait_in_sync(&mut c, &mut d, Duration::from_secs(20));
    assert_eq!(
        info_names(&mut a, "replication"),
        info_names(&mut c, "replication"),
        "as primary"
    );
    assert_eq!(
        info_names(&mut d, "replication"),
        info_names(&mut b, "replication"),
        "as replica"
    );
}

#[test]
fn min_replicas_to_write_refuses_writes_without_fresh_replicas() {
    let primary = TestNode::start(&["--min-replicas-to-write", "1"]);
    let mut pc = primary.conn();
    let err = cmd_err(&mut pc, &["SET", "a", "1"]);
    assert_eq!(err.code(), Some("NOREPLICAS"));
    assert_eq!(err.detail(), Some("Not enough good replicas to write."));
    let got: Option<String> = redis::cmd("GET")
        .arg("a")
        .query(&mut pc)
        .expect("reads work");
    assert_eq!(got, None);
    let replica = replica_of(primary.port, &[]);
    let mut rc = replica.conn();
    assert!(
        wait_for(Duration::from_secs(10), || redis::cmd("SET")
            .arg("a")
            .arg("1")
            .query::<()>(&mut pc)
            .is_ok()),
        "writes still refused with a replica online"
    );
    wait_in_sync(&mut pc, &mut rc, Duration::from_secs(10));
    // The replica goes away: writes are refused again.
    drop(replica);
    assert!(wait_for(Duration::from_secs(10), || redis::cmd("SET")
        .arg("b")
        .arg("2")
        .query::<()>(&mut pc)
        .is_err()));
}
