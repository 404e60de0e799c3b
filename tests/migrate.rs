//! MIGRATE between real servers: single key and KEYS forms, COPY, REPLACE,
//! AUTH, AUTH2, TTLs, the cached connection, and a Redis 7.0 target; a
//! target that does not answer in time.

mod common;

use std::time::{Duration, Instant};

use common::{wait_for, RedisServer, TestNode};
use redis::Value;

fn line(n: &TestNode, cmd: &str) -> String {
    let mut c = n.raw();
    c.send(cmd.as_bytes());
    c.line()
}

fn get(n: &TestNode, k: &str) -> Option<String> {
    match n.query(&["GET", k]) {
        Ok(Value::BulkString(b)) => Some(String::from_utf8_lossy(&b).into_owned()),
        Ok(Value::Nil) => None,
        other => panic!("GET {k}: {other:?}"),
    }
}

fn int(n: &TestNode, args: &[&str]) -> i64 {
    match n.query(args) {
        Ok(Value::Int(i)) => i,
        other => panic!("{args:?}: {other:?}"),
    }
}

#[test]
fn migrate_moves_copies_replaces_and_keeps_ttls() {
    let src = TestNode::start(&[]);
    let dst = TestNode::start(&[]);
    let p = dst.port.to_string();
    let mig = |rest: &str| line(&src, &format!("MIGRATE 127.0.0.1 {p} {rest}\r\n"));
    assert_eq!(mig("nokey 0 1000"), "+NOKEY\r\n");
    src.query(&["SET", "a", "1"]).unwrap();
    src.query(&["SET", "t", "v", "PX", "60000"]).unwrap();
    assert_eq!(mig("a 0 1000"), "+OK\r\n");
    assert_eq!(get(&src, "a"), None, "moved away");
    assert_eq!(get(&dst, "a").as_deref(), Some("1"));
    assert_eq!(mig("t 0 1000"), "+OK\r\n");
    let ttl = int(&dst, &["PTTL", "t"]);
    assert!((50_000..=60_000).contains(&ttl), "TTL travels: {ttl}");
    // The target has the key now: without REPLACE it refuses and the source keeps it.
    src.query(&["SET", "a", "2"]).unwrap();
    assert_eq!(
        mig("a 0 1000"),
        "-ERR Target instance replied with error: BUSYKEY Target key name already exists.\r\n"
    );
    assert_eq!(get(&src, "a").as_deref(), Some("2"));
    assert_eq!(mig("a 0 1000 COPY REPLACE"), "+OK\r\n");
    assert_eq!(
        get(&src, "a").as_deref(),
        Some("2"),
        "COPY keeps the source key"
    );
    assert_eq!(get(&dst, "a").as_deref(), Some("2"));
    // KEYS form, into another database, some keys missing.
    for k in ["k1", "k2", "k3"] {
        src.query(&["SET", k, k]).unwrap();
    }
    assert_eq!(mig("\"\" 3 1000 KEYS k1 nosuch k2 k3"), "+OK\r\n");
    assert_eq!(int(&src, &["EXISTS", "k1", "k2", "k3"]), 0);
    let mut c = dst.conn();
    let (got,): (Vec<Option<String>>,) = redis::pipe()
        .cmd("SELECT")
        .arg(3)
        .ignore()
        .cmd("MGET")
        .arg(&["k1", "k2", "k3"])
        .query(&mut c)
        .unwrap();
    assert_eq!(
        got,
        vec![Some("k1".into()), Some("k2".into()), Some("k3".into())]
    );
    // The cached connection serves further MIGRATEs: no new connections.
    let accepted = |c: &mut redis::Connection| -> u64 {
        let info: String = redis::cmd("INFO").arg("stats").query(c).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("total_connections_received:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("total_connections_received")
    };
    let before = accepted(&mut c);
    for i in 0..3 {
        src.query(&["SET", &format!("m{i}"), "x"]).unwrap();
        assert_eq!(mig(&format!("m{i} 0 1000")), "+OK\r\n");
    }
    assert_eq!(accepted(&mut c), before, "MIGRATE reused its connection");
    // A target that went away: IOERR, and the key stays.
    drop(dst);
    src.query(&["SET", "z", "1"]).unwrap();
    assert!(
        mig("z 0 300").starts_with("-IOERR error or timeout"),
        "dead target"
    );
    assert_eq!(get(&src, "z").as_deref(), Some("1"));
}

#[test]
fn migrate_authenticates_with_auth_and_auth2() {
    let src = TestNode::start(&[]);
    let dst = TestNode::start(&["--requirepass", "s3cret"]);
    let p = dst.port.to_string();
    src.query(&["SET", "a", "1"]).unwrap();
    let refused = line(&src, &format!("MIGRATE 127.0.0.1 {p} a 0 1000\r\n"));
    assert_eq!(
        refused,
        "-ERR Target instance replied with error: NOAUTH Authentication required.\r\n"
    );
    assert_eq!(get(&src, "a").as_deref(), Some("1"));
    assert_eq!(
        line(&src, &format!("MIGRATE 127.0.0.1 {p} a 0 1000 AUTH wrong\r\n")),
        "-ERR Target instance replied with error: WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        line(
            &src,
            &format!("MIGRATE 127.0.0.1 {p} a 0 1000 AUTH s3cret\r\n")
        ),
        "+OK\r\n"
    );
    src.query(&["SET", "b", "2"]).unwrap();
    assert_eq!(
        line(
            &src,
            &format!("MIGRATE 127.0.0.1 {p} \"\" 0 1000 AUTH2 default s3cret KEYS b\r\n")
        ),
        "+OK\r\n"
    );
    let mut c = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{p}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let got: Vec<Option<String>> = redis::cmd("MGET").arg(&["a", "b"]).query(&mut c).unwrap();
    assert_eq!(got, vec![Some("1".into()), Some("2".into())]);
}

#[test]
fn migrate_to_and_from_redis() {
    let ours = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    ours.query(&["SET", "int", "12345"]).unwrap();
    ours.query(&["SET", "str", "hello world"]).unwrap();
    ours.query(&["SET", "ttl", "x", "EX", "100"]).unwrap();
    let p = redis.port.to_string();
    assert_eq!(
        line(
            &ours,
            &format!("MIGRATE 127.0.0.1 {p} \"\" 0 1000 KEYS int str ttl\r\n")
        ),
        "+OK\r\n"
    );
    let mut r = redis::Client::open(format!("redis://127.0.0.1:{p}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let got: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["int", "str", "ttl"])
        .query(&mut r)
        .unwrap();
    assert_eq!(
        got,
        vec![
            Some("12345".into()),
            Some("hello world".into()),
            Some("x".into())
        ]
    );
    let ttl: i64 = redis::cmd("TTL").arg("ttl").query(&mut r).unwrap();
    assert!((90..=100).contains(&ttl), "{ttl}");
    // And back: Redis's MIGRATE into ringcache.
    let back: String = redis::cmd("MIGRATE")
        .arg(&[
            "127.0.0.1",
            &ours.port.to_string(),
            "",
            "0",
            "1000",
            "KEYS",
            "int",
            "str",
            "ttl",
        ])
        .query(&mut r)
        .unwrap();
    assert_eq!(back, "OK");
    assert_eq!(get(&ours, "str").as_deref(), Some("hello world"));
    assert_eq!(get(&ours, "int").as_deref(), Some("12345"));
    assert!(int(&ours, &["TTL", "ttl"]) > 80);
}

/// Connections to the server on `port` holding bytes it has not read: the
/// requests queued at a stopped server (Linux's /proc/net/tcp; listening
/// sockets, whose queue counts connections, are left out).
fn unread_requests(port: u16) -> usize {
    let text = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    text.lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local = f[1].rsplit(':').next().map(|p| u16::from_str_radix(p, 16));
            let rx = f[4].split(':').nth(1).map(|q| u64::from_str_radix(q, 16));
            f[3] != "0A" && local == Some(Ok(port)) && matches!(rx, Some(Ok(n)) if n > 0)
        })
        .count()
}

/// `calls` of `cmdstat_restore` in INFO commandstats (0 before the first).
fn restore_calls(n: &TestNode) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut n.conn())
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_restore:calls="))
        .and_then(|v| v.split(',').next())
        .map_or(0, |v| v.parse().unwrap())
}

#[test]
fn a_migrate_that_timed_out_is_not_sent_again() {
    // Redis retries once on a socket error, never on a timeout: a target
    // that is only slow may still apply the first request.
    let src = TestNode::start(&[]);
    let dst = TestNode::start(&[]);
    src.query(&["SET", "k", "v"]).unwrap();
    dst.signal("STOP");
    let reply = line(&src, &format!("MIGRATE 127.0.0.1 {} k 0 300\r\n", dst.port));
    let queued = unread_requests(dst.port);
    dst.signal("CONT");
    assert_eq!(
        reply,
        "-IOERR error or timeout reading to target instance\r\n"
    );
    assert_eq!(
        get(&src, "k").as_deref(),
        Some("v"),
        "an IOERR keeps the key"
    );
    assert!(
        wait_for(Duration::from_secs(5), || unread_requests(dst.port) == 0
            && restore_calls(&dst) >= 1),
        "the resumed target did not run the RESTORE"
    );
    assert_eq!(
        (queued, restore_calls(&dst)),
        (1, 1),
        "(requests sent, RESTOREs the target ran)"
    );
}

#[test]
fn a_waiting_migrate_holds_up_neither_a_bgsave_nor_other_slots() {
    // The slot's fence keeps clients off the migrating keys; their slot lock
    // is not held while waiting for the target, so a snapshot (which takes
    // every slot lock in order) and the commands behind it go on.
    let src = common::cluster_node(&[]);
    src.query(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"])
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || src
        .text(&["CLUSTER", "INFO"])
        .contains("cluster_state:ok")));
    // "foo" is in slot 12182, "bar" in 5061.
    src.query(&["SET", "foo", "1"]).unwrap();
    src.query(&["SET", "bar", "2"]).unwrap();
    let dst = TestNode::start(&[]);
    dst.signal("STOP");
    let mut mig = src.raw();
    let sent = Instant::now();
    mig.send(format!("MIGRATE 127.0.0.1 {} foo 0 2000\r\n", dst.port).as_bytes());
    assert!(
        wait_for(Duration::from_secs(1), || unread_requests(dst.port) == 1),
        "the MIGRATE did not reach the target"
    );
    let mut save = src.raw();
    save.send(b"BGSAVE\r\n");
    assert_eq!(save.line(), "+Background saving started\r\n");
    let window = Instant::now();
    let mut slowest = Duration::ZERO;
    while window.elapsed() < Duration::from_millis(500) {
        let t = Instant::now();
        assert_eq!(get(&src, "bar").as_deref(), Some("2"));
        slowest = slowest.max(t.elapsed());
    }
    eprintln!("slowest GET in a lower slot while the MIGRATE waited: {slowest:?}");
    let checked = sent.elapsed();
    let migrate_reply = mig.line();
    dst.signal("CONT");
    assert!(
        slowest < Duration::from_millis(300),
        "a GET in a lower slot took {slowest:?} while a MIGRATE waited and a BGSAVE began"
    );
    // The MIGRATE waits 2 s for its reply: it was still waiting throughout.
    assert!(checked < Duration::from_millis(2000), "{checked:?}");
    assert_eq!(
        migrate_reply,
        "-IOERR error or timeout reading to target instance\r\n"
    );
    assert!(wait_for(Duration::from_secs(5), || {
        let p = src.text(&["INFO", "persistence"]);
        p.contains("rdb_bgsave_in_progress:0") && p.contains("rdb_last_bgsave_status:ok")
    }));
    assert_eq!(get(&src, "foo").as_deref(), Some("1"));
}
