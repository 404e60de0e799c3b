//! Stream commands through redis-rs against the real binary, with
//! redis-server 7.0.15 answering the same commands as the reference: replies,
//! DUMP/RESTORE and RDB files both ways, AOF rewrite and restart, blocking
//! reads woken from another connection.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::disk::{digest, redis_dump, rewrite_and_wait, save, take_dir};
use common::{free_port, reply_text as reply, RedisServer, TestNode};
use redis::Connection;

/// Deterministic commands (explicit ids, no idle times): replies and errors.
const SCRIPT: &[&[&str]] = &[
    &["XADD", "s", "1-1", "a", "1", "b", "2"],
    &["XADD", "s", "1-*", "a", "3", "b", "4"],
    &["XADD", "s", "2", "c", "5"],
    &["XADD", "s", "0-0", "x", "y"],
    &["XADD", "s", "1-1", "x", "y"],
    &["XADD", "s", "bad-id", "x", "y"],
    &["XADD", "s", "3-1", "x"],
    &["XADD", "nokey", "NOMKSTREAM", "*", "x", "y"],
    &["XADD", "s", "MAXLEN", "2", "LIMIT", "5", "7-1", "x", "y"],
    &["XADD", "s", "MAXLEN", "2", "MINID", "3", "8-1", "x", "y"],
    &["XADD", "s", "LIMIT", "5", "9-1", "x", "y"],
    &["XADD", "s", "MAXLEN", "-1", "9-1", "x", "y"],
    &["XADD", "s", "MINID", "=", "1-2", "9-1", "x", "y"],
    &["XLEN", "s"],
    &["XRANGE", "s", "-", "+"],
    &["XRANGE", "s", "(1-2", "+", "COUNT", "1"],
    &["XRANGE", "s", "-", "+", "COUNT", "0"],
    &["XRANGE", "s", "-", "(0-0"],
    &["XREVRANGE", "s", "+", "-", "COUNT", "2"],
    &["XRANGE", "s", "-", "+", "FOO", "1"],
    &["XDEL", "s", "2-0", "99-1"],
    &["XDEL", "s", "x"],
    &["XTRIM", "s", "MAXLEN", "1"],
    &["XTRIM", "s"],
    &["XTRIM", "s", "MAXLEN", "=", "0", "LIMIT", "1"],
    &["XSETID", "s", "1-1"],
    &[
        "XSETID",
        "s",
        "100-1",
        "ENTRIESADDED",
        "50",
        "MAXDELETEDID",
        "50-0",
    ],
    &["XSETID", "s", "100-1", "MAXDELETEDID", "200-0"],
    &["XSETID", "nokey", "1-1"],
    &["XINFO", "STREAM", "s"],
    &["XINFO", "STREAM", "nokey"],
    &["XINFO", "HELP"],
    &["XGROUP", "HELP"],
    &["XGROUP", "CREATE", "s", "g1", "$"],
    &["XGROUP", "CREATE", "s", "g1", "$"],
    &["XGROUP", "CREATE", "s", "g2", "0", "ENTRIESREAD", "3"],
    &["XGROUP", "CREATE", "nokey", "g1", "$"],
    &["XGROUP", "CREATE", "made", "g1", "$", "MKSTREAM"],
    &["XGROUP", "SETID", "s", "nope", "$"],
    &["XGROUP", "CREATECONSUMER", "s", "g1", "alice"],
    &["XGROUP", "CREATECONSUMER", "s", "g1", "alice"],
    &["XGROUP", "DELCONSUMER", "s", "g1", "alice"],
    &["XGROUP", "DESTROY", "s", "g2"],
    &["XGROUP", "DESTROY", "s", "g2"],
    &["XADD", "s", "101-1", "f", "v1"],
    &["XADD", "s", "102-1", "f", "v2"],
    &["XADD", "s", "103-1", "f", "v3"],
    &[
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "2",
        "STREAMS",
        "s",
        ">",
    ],
    &[
        "XREADGROUP",
        "GROUP",
        "g1",
        "bob",
        "NOACK",
        "STREAMS",
        "s",
        ">",
    ],
    &["XREADGROUP", "GROUP", "g1", "alice", "STREAMS", "s", "0"],
    &["XREADGROUP", "GROUP", "nope", "bob", "STREAMS", "s", ">"],
    &["XREADGROUP", "GROUP", "g1", "bob", "STREAMS", "s", "$"],
    &["XREAD", "COUNT", "1", "STREAMS", "s", "nokey", "0", "0"],
    &["XREAD", "STREAMS", "s", ">"],
    &["XREAD", "STREAMS", "s"],
    &["XINFO", "GROUPS", "s"],
    &["XPENDING", "s", "g1"],
    &["XPENDING", "s", "nope"],
    &["XACK", "s", "g1", "101-1", "999-0"],
    &["XACK", "s", "g1", "x"],
    &["XCLAIM", "s", "g1", "bob", "0", "102-1", "JUSTID"],
    &["XCLAIM", "s", "g1", "bob", "0", "102-1", "FOO"],
    &["XCLAIM", "s", "nope", "bob", "0", "102-1"],
    &["XAUTOCLAIM", "s", "g1", "carol", "0", "0", "COUNT", "0"],
    &["XAUTOCLAIM", "s", "g1", "carol", "0", "0", "JUSTID"],
    &["XDEL", "s", "102-1"],
    &["XAUTOCLAIM", "s", "g1", "carol", "0", "0", "JUSTID"],
    &["XPENDING", "s", "g1"],
    &["XINFO", "CONSUMERS", "s", "nope"],
    &["XINFO", "GROUPS", "s"],
    &["TYPE", "s"],
    &["OBJECT", "ENCODING", "s"],
    &["SET", "str", "x"],
    &["XADD", "str", "*", "a", "b"],
    &["XREAD", "STREAMS", "str", "0"],
    &[
        "COMMAND", "GETKEYS", "XREAD", "COUNT", "2", "STREAMS", "a", "b", "1", "2",
    ],
    &["COMMAND", "GETKEYS", "XGROUP", "CREATE", "k", "g", "$"],
];

#[test]
fn stream_commands_answer_as_redis_does() {
    common::replies_match_redis(SCRIPT, reply);
}

#[test]
fn resp3_reads_are_maps_keyed_by_stream() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (mut ours, mut theirs) = (node.raw(), redis.raw());
    for args in [
        &["HELLO", "3"][..],
        &["XADD", "a", "1-1", "f", "v"],
        &["XADD", "b", "2-1", "f", "v"],
        &["XREAD", "STREAMS", "a", "b", "0", "0"],
        &["XGROUP", "CREATE", "a", "g", "0"],
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", ">"],
        &["XINFO", "GROUPS", "a"],
        &["XINFO", "STREAM", "a"],
        &["XREAD", "STREAMS", "a", "$"],
    ] {
        let (x, y) = (ours.call(args), theirs.call(args));
        if args[0] != "HELLO" {
            assert_eq!(x, y, "{args:?}");
        }
    }
}

/// A stream of `n` entries over several nodes, a tombstone, a group with
/// pending entries and two consumers (one idle with none).
fn build(c: &mut Connection, key: &str, n: usize) {
    let mut p = redis::pipe();
    for i in 1..=n {
        p.cmd("XADD")
            .arg(key)
            .arg(format!("{i}-1"))
            .arg(format!("f{}", i % 3))
            .arg(format!("value-{i}"))
            .arg("n")
            .arg(i);
    }
    p.cmd("XDEL").arg(key).arg("5-1");
    p.cmd("XGROUP").arg("CREATE").arg(key).arg("grp").arg("0");
    p.cmd("XREADGROUP")
        .arg("GROUP")
        .arg("grp")
        .arg("alice")
        .arg("COUNT")
        .arg(4)
        .arg("STREAMS")
        .arg(key)
        .arg(">");
    p.cmd("XGROUP")
        .arg("CREATECONSUMER")
        .arg(key)
        .arg("grp")
        .arg("bob");
    p.cmd("XGROUP").arg("CREATE").arg(key).arg("late").arg("$");
    let _: redis::Value = p.query(c).expect("build");
}

/// What must survive a copy: entries, metadata, groups, pending entries.
fn shape(c: &mut Connection, key: &str) -> Vec<String> {
    let mut out: Vec<String> = [
        &["XRANGE", key, "-", "+"][..],
        &["XLEN", key],
        &["XINFO", "GROUPS", key],
        &["XPENDING", key, "grp"],
        &["XPENDING", key, "grp", "-", "+", "10", "alice"],
        &["DEBUG", "DIGEST-VALUE", key],
    ]
    .iter()
    .map(|a| {
        let r = reply(c, a);
        // Idle times differ between servers and moments: keep the shape.
        if a[0] == "XPENDING" && a.len() > 3 {
            return r.split("int(").count().to_string();
        }
        r
    })
    .collect();
    out.push(xinfo_stream(c, key));
    out
}

/// XINFO STREAM without the node count (an estimate of Redis's tree).
fn xinfo_stream(c: &mut Connection, key: &str) -> String {
    let r = reply(c, &["XINFO", "STREAM", key]);
    r.replace("radix-tree-nodes", "")
}

#[test]
fn streams_move_between_ringcache_and_redis_by_dump_with_equal_digests() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (mut ours, mut theirs) = (node.conn(), redis.conn());
    for (key, n) in [("small", 3), ("large", 450)] {
        build(&mut ours, key, n);
        build(&mut theirs, key, n);
        assert_eq!(shape(&mut ours, key), shape(&mut theirs, key), "{key}");
        common::dump_restore_both_ways(&mut ours, &mut theirs, key, |to, copy| {
            let mut a = shape(to, copy);
            let mut b = shape(to, key);
            a.pop();
            b.pop();
            assert_eq!(a, b, "{key} restored");
        });
    }
}

#[test]
fn a_damaged_stream_payload_is_refused_with_bad_data_format() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    build(&mut c, "s", 20);
    let payload: Vec<u8> = redis::cmd("DUMP").arg("s").query(&mut c).expect("DUMP");
    // Keep the footer (version and CRC) valid around a damaged body, so the
    // stream codec itself has to refuse it.
    let body = &payload[..payload.len() - 10];
    let mut tried = 0;
    for cut in [body.len() / 3, body.len() / 2, body.len() - 1] {
        for flip in [None, Some(cut / 2)] {
            let mut bad = body[..cut].to_vec();
            if let Some(i) = flip {
                bad[i] ^= 0x5a;
            }
            let mut framed = bad.clone();
            framed.extend_from_slice(&[10, 0]);
            let crc = ringcache::persist::crc64::crc64(&framed);
            framed.extend_from_slice(&crc.to_le_bytes());
            let r = redis::cmd("RESTORE")
                .arg("bad")
                .arg(0)
                .arg(framed)
                .query::<()>(&mut c);
            let e = r.expect_err("a damaged stream was accepted");
            assert_eq!(e.detail(), Some("Bad data format"), "{e:?}");
            tried += 1;
        }
    }
    assert_eq!(tried, 6);
    assert_eq!(reply(&mut c, &["XLEN", "s"]), "int(19)");
}

#[test]
fn rdb_files_carry_streams_between_ringcache_and_redis() {
    // redis-server's file, loaded here.
    let redis = RedisServer::start(&[]);
    let mut rc = redis.conn();
    build(&mut rc, "s", 300);
    build(&mut rc, "t", 2);
    let _: redis::Value = redis::cmd("XADD")
        .arg("empty")
        .arg("MAXLEN")
        .arg("0")
        .arg("5-5")
        .arg("a")
        .arg("b")
        .query(&mut rc)
        .expect("XADD");
    let want: Vec<Vec<String>> = ["s", "t"].iter().map(|k| shape(&mut rc, k)).collect();
    let want_empty = xinfo_stream(&mut rc, "empty");
    let want_digest = digest(&mut rc);
    let dir = redis_dump(&redis);
    let mut node = TestNode::start_in(free_port(), dir, &[]);
    let mut c = node.conn();
    let got: Vec<Vec<String>> = ["s", "t"].iter().map(|k| shape(&mut c, k)).collect();
    assert_eq!(got, want);
    assert_eq!(xinfo_stream(&mut c, "empty"), want_empty);
    assert_eq!(digest(&mut c), want_digest);
    // Ours, loaded by redis-server.
    let _: redis::Value = redis::cmd("XADD")
        .arg("s")
        .arg("*")
        .arg("more")
        .arg("x")
        .query(&mut c)
        .expect("XADD");
    let want: Vec<String> = shape(&mut c, "s");
    let want_digest = digest(&mut c);
    save(&mut c);
    let dir = take_dir(&mut node);
    let redis = RedisServer::start_in(dir, &[]);
    let mut rc = redis.conn();
    assert_eq!(shape(&mut rc, "s"), want);
    assert_eq!(digest(&mut rc), want_digest);
}

#[test]
fn streams_survive_an_aof_rewrite_and_a_restart() {
    let mut node = TestNode::start(&["--appendonly", "yes"]);
    let mut c = node.conn();
    build(&mut c, "s", 250);
    let _: redis::Value = redis::cmd("XADD")
        .arg("gone")
        .arg("MAXLEN")
        .arg("0")
        .arg("*")
        .arg("a")
        .arg("b")
        .query(&mut c)
        .expect("XADD");
    let want = (
        shape(&mut c, "s"),
        xinfo_stream(&mut c, "gone"),
        digest(&mut c),
    );
    rewrite_and_wait(&mut c);
    // A write after the rewrite lands in the new AOF's incremental part.
    let id: String = redis::cmd("XADD")
        .arg("s")
        .arg("*")
        .arg("after")
        .arg("rewrite")
        .query(&mut c)
        .expect("XADD");
    let _: i64 = redis::cmd("XDEL")
        .arg("s")
        .arg(&id)
        .query(&mut c)
        .expect("XDEL");
    let _: i64 = redis::cmd("XACK")
        .arg("s")
        .arg("grp")
        .arg("9-1")
        .query(&mut c)
        .unwrap();
    let want = (
        shape(&mut c, "s"),
        want.1,
        digest(&mut c),
        reply(&mut c, &["XINFO", "STREAM", "s", "FULL"]).contains("alice"),
    );
    node.restart();
    let mut c = node.conn();
    let got = (
        shape(&mut c, "s"),
        xinfo_stream(&mut c, "gone"),
        digest(&mut c),
        reply(&mut c, &["XINFO", "STREAM", "s", "FULL"]).contains("alice"),
    );
    assert_eq!(got, want);
}

#[test]
fn a_blocked_xread_is_woken_by_xadd_from_another_connection() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let _: String = redis::cmd("XADD")
        .arg("s")
        .arg("1-1")
        .arg("old")
        .arg("x")
        .query(&mut c)
        .unwrap();
    let mut reader = node.conn();
    let waiter = thread::spawn(move || {
        let started = Instant::now();
        let r = reply(
            &mut reader,
            &["XREAD", "BLOCK", "10000", "STREAMS", "s", "$"],
        );
        (r, started.elapsed())
    });
    assert!(common::wait_for(Duration::from_secs(5), || {
        common::info_field(&mut c, "clients", "blocked_clients") == "1"
    }));
    let _: String = redis::cmd("XADD")
        .arg("s")
        .arg("2-1")
        .arg("new")
        .arg("y")
        .query(&mut c)
        .unwrap();
    let (r, took) = waiter.join().expect("reader");
    assert!(
        r.contains("2-1") && r.contains("new") && !r.contains("old"),
        "{r}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    // A timeout answers nil.
    let r = reply(&mut c, &["XREAD", "BLOCK", "50", "STREAMS", "s", "$"]);
    assert_eq!(r, "nil");
}

#[test]
fn a_blocked_xreadgroup_gets_new_entries_and_errors_when_its_group_or_key_goes() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let _: String = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("s")
        .arg("g")
        .arg("$")
        .arg("MKSTREAM")
        .query(&mut c)
        .unwrap();
    let blocked = |c: &mut Connection, n: &str| {
        assert!(common::wait_for(Duration::from_secs(5), || {
            common::info_field(c, "clients", "blocked_clients") == n
        }));
    };
    let spawn = |node: &TestNode| {
        let mut r = node.conn();
        thread::spawn(move || {
            reply(
                &mut r,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "alice",
                    "BLOCK",
                    "0",
                    "STREAMS",
                    "s",
                    ">",
                ],
            )
        })
    };
    let w = spawn(&node);
    blocked(&mut c, "1");
    let _: String = redis::cmd("XADD")
        .arg("s")
        .arg("5-1")
        .arg("f")
        .arg("v")
        .query(&mut c)
        .unwrap();
    let r = w.join().unwrap();
    assert!(r.contains("5-1"), "{r}");
    assert_eq!(
        reply(&mut c, &["XPENDING", "s", "g"]),
        reply(&mut c, &["XPENDING", "s", "g"])
    );
    assert!(reply(&mut c, &["XPENDING", "s", "g"]).starts_with("array([int(1)"));
    let w = spawn(&node);
    blocked(&mut c, "1");
    let _: i64 = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg("s")
        .arg("g")
        .query(&mut c)
        .unwrap();
    let r = w.join().unwrap();
    assert!(
        r.contains("NOGROUP") && r.contains("no longer exists"),
        "{r}"
    );
    let _: String = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("s")
        .arg("g")
        .arg("$")
        .query(&mut c)
        .unwrap();
    let w = spawn(&node);
    blocked(&mut c, "1");
    let _: i64 = redis::cmd("DEL").arg("s").query(&mut c).unwrap();
    let r = w.join().unwrap();
    assert!(
        r.contains("UNBLOCKED") && r.contains("no longer exists"),
        "{r}"
    );
}

/// XPENDING's entries without their idle times: (id, consumer, deliveries).
fn pending(c: &mut Connection, key: &str, group: &str) -> Vec<(String, String, i64)> {
    let rows: Vec<(String, String, i64, i64)> = redis::cmd("XPENDING")
        .arg(key)
        .arg(group)
        .arg("-")
        .arg("+")
        .arg(1000)
        .query(c)
        .expect("XPENDING");
    rows.into_iter()
        .map(|(id, who, _, n)| (id, who, n))
        .collect()
}

/// XINFO GROUPS without entries-read and lag: Redis 7.0 propagates a group
/// read as XCLAIM … LASTID, which moves a replica's last delivered id but
/// not its read counter (so ringcache's replica, like Redis's, may differ there).
fn groups(c: &mut Connection, key: &str) -> Vec<Vec<(String, String)>> {
    let rows: Vec<Vec<(String, redis::Value)>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(key)
        .query(c)
        .expect("XINFO GROUPS");
    rows.into_iter()
        .map(|row| {
            row.into_iter()
                .filter(|(k, _)| k != "entries-read" && k != "lag")
                .map(|(k, v)| (k, format!("{v:?}")))
                .collect()
        })
        .collect()
}

#[test]
fn a_replica_follows_stream_writes_and_group_reads() {
    let primary = TestNode::start(&[]);
    let port = primary.port.to_string();
    let replica = TestNode::start(&["--replicaof", "127.0.0.1", &port]);
    let (mut p, mut r) = (primary.conn(), replica.conn());
    let run = |c: &mut Connection, args: &[&str]| reply(c, args);
    // CONFIG is not replicated (as in Redis): both get the node size.
    run(&mut p, &["CONFIG", "SET", "stream-node-max-entries", "10"]);
    run(&mut r, &["CONFIG", "SET", "stream-node-max-entries", "10"]);
    for i in 0..95 {
        let v = i.to_string();
        run(&mut p, &["XADD", "s", "MAXLEN", "~", "60", "*", "f", &v]);
    }
    run(&mut p, &["XGROUP", "CREATE", "s", "g", "0"]);
    run(&mut p, &["XGROUP", "CREATE", "s", "quiet", "$"]);
    run(
        &mut p,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "a",
            "COUNT",
            "5",
            "STREAMS",
            "s",
            ">",
        ],
    );
    run(
        &mut p,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "b",
            "COUNT",
            "3",
            "NOACK",
            "STREAMS",
            "s",
            ">",
        ],
    );
    run(
        &mut p,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "COUNT",
            "4",
            "STREAMS",
            "s",
            ">",
        ],
    );
    let first: Vec<(String, String, i64)> = pending(&mut p, "s", "g");
    run(&mut p, &["XACK", "s", "g", &first[0].0]);
    run(
        &mut p,
        &["XCLAIM", "s", "g", "d", "0", &first[1].0, &first[2].0],
    );
    run(&mut p, &["XDEL", "s", &first[3].0]);
    run(
        &mut p,
        &["XAUTOCLAIM", "s", "g", "e", "0", "0", "COUNT", "3"],
    );
    run(&mut p, &["XTRIM", "s", "MINID", "~", &first[6].0]);
    // A blocked group read served by an XADD propagates from the serving side.
    let mut reader = primary.conn();
    let w = thread::spawn(move || {
        reply(
            &mut reader,
            &[
                "XREADGROUP",
                "GROUP",
                "quiet",
                "z",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        )
    });
    assert!(common::wait_for(Duration::from_secs(5), || {
        common::info_field(&mut p, "clients", "blocked_clients") == "1"
    }));
    run(&mut p, &["XADD", "s", "*", "last", "one"]);
    assert!(w.join().expect("reader").contains("last"));
    let shape = |c: &mut Connection| {
        (
            reply(c, &["XRANGE", "s", "-", "+"]),
            xinfo_stream(c, "s"),
            groups(c, "s"),
            reply(c, &["XPENDING", "s", "g"]),
            pending(c, "s", "g"),
            pending(c, "s", "quiet"),
            reply(c, &["XINFO", "CONSUMERS", "s", "g"])
                .matches("name")
                .count(),
        )
    };
    let want = shape(&mut p);
    assert!(want.4.len() >= 5, "{:?}", want.4);
    let synced = common::wait_for(Duration::from_secs(10), || shape(&mut r) == want);
    assert!(synced, "replica:\n{:?}\nprimary:\n{want:?}", shape(&mut r));
}
