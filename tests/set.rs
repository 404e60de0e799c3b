//! Set commands through redis-rs against the real binary, with redis-server
//! 7.0.15 answering the same commands as the reference.

mod common;

use std::time::Duration;

use common::{encoding, info_field, wait_for, RedisServer, TestNode};
use redis::Connection;

/// A reply as comparable text (arrays sorted, since a set's order is its
/// table's): the value, or the error's code and message.
fn reply(c: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<redis::Value>(c) {
        Ok(v) => format!("{:?}", sorted(v)),
        Err(e) => format!("error {:?} {:?}", e.code(), e.detail()),
    }
}

/// DEBUG DIGEST, which must be a real digest of a non-empty dataset.
fn dataset_digest(c: &mut Connection) -> String {
    let d: String = redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(c)
        .expect("DEBUG DIGEST");
    assert!(d.len() == 40 && d != "0".repeat(40), "digest {d}");
    d
}

/// Arrays (at any depth) in a stable order.
fn sorted(v: redis::Value) -> redis::Value {
    match v {
        redis::Value::Array(items) => {
            let mut items: Vec<redis::Value> = items.into_iter().map(sorted).collect();
            items.sort_by_key(|v| format!("{v:?}"));
            redis::Value::Array(items)
        }
        v => v,
    }
}

/// Commands whose replies do not depend on randomness.
const SCRIPT: &[&[&str]] = &[
    &["SADD", "i", "3", "1", "2", "2"],
    &["OBJECT", "ENCODING", "i"],
    &["SMEMBERS", "i"],
    &["SADD", "i", "a"],
    &["OBJECT", "ENCODING", "i"],
    &["SREM", "i", "a"],
    &["OBJECT", "ENCODING", "i"],
    &["SADD", "s", "x", "y", "z"],
    &["OBJECT", "ENCODING", "s"],
    &["SADD", "s", "1"],
    &["SCARD", "s"],
    &["SISMEMBER", "s", "1"],
    &["SISMEMBER", "i", "01"],
    &["SMISMEMBER", "s", "x", "nope", "1"],
    &["SMISMEMBER", "nokey", "x"],
    &[
        "SADD",
        "n",
        "1",
        "2",
        "5",
        "9223372036854775807",
        "-9223372036854775808",
    ],
    &["OBJECT", "ENCODING", "n"],
    &["SADD", "n", "9223372036854775808"],
    &["OBJECT", "ENCODING", "n"],
    &["CONFIG", "SET", "set-max-intset-entries", "4"],
    &["SADD", "lim", "1", "2", "3", "4"],
    &["OBJECT", "ENCODING", "lim"],
    &["SADD", "lim", "5"],
    &["OBJECT", "ENCODING", "lim"],
    &["CONFIG", "SET", "set-max-intset-entries", "512"],
    &["SINTER", "i", "s"],
    &["SINTER", "i", "n", "lim"],
    &["SUNION", "i", "s", "nokey"],
    &["SDIFF", "lim", "i"],
    &["SDIFF", "nokey", "i"],
    &["SINTERCARD", "2", "lim", "n"],
    &["SINTERCARD", "2", "lim", "n", "LIMIT", "1"],
    &["SINTERCARD", "0", "lim"],
    &["SINTERCARD", "3", "lim"],
    &["SINTERCARD", "1", "lim", "LIMIT", "-1"],
    &["SINTERSTORE", "dst", "i", "n"],
    &["OBJECT", "ENCODING", "dst"],
    &["SUNIONSTORE", "dst", "i", "s"],
    &["OBJECT", "ENCODING", "dst"],
    &["SMEMBERS", "dst"],
    &["SET", "str", "v"],
    &["SINTER", "i", "str"],
    &["SUNIONSTORE", "str", "i"],
    &["TYPE", "str"],
    &["SDIFFSTORE", "str", "i", "i"],
    &["EXISTS", "str"],
    &["SET", "str", "v"],
    &["SADD", "str", "a"],
    &["SMOVE", "i", "str", "1"],
    &["SMOVE", "str", "i", "1"],
    &["SMOVE", "i", "moved", "1"],
    &["OBJECT", "ENCODING", "moved"],
    &["SMOVE", "i", "moved", "1"],
    &["SMOVE", "s", "s", "x"],
    &["SMEMBERS", "i"],
    &["SPOP", "nokey"],
    &["SPOP", "nokey", "2"],
    &["SPOP", "i", "-1"],
    &["SPOP", "i", "0"],
    &["SRANDMEMBER", "nokey", "3"],
    &["SRANDMEMBER", "i", "-9223372036854775808"],
    &["SRANDMEMBER", "i", "10"],
    &["SSCAN", "i", "0"],
    &["SSCAN", "i", "0", "COUNT", "0"],
    &["SSCAN", "i", "x"],
    &["SSCAN", "nokey", "0", "COUNT", "0"],
];

#[test]
fn set_commands_answer_as_redis_does() {
    common::replies_match_redis(SCRIPT, reply);
}

/// Fills `key` with `n` members: integers, or strings when `ints` is false.
fn fill(c: &mut Connection, key: &str, n: usize, ints: bool) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut cmd = redis::cmd("SADD");
        cmd.arg(key);
        for i in chunk {
            if ints {
                cmd.arg(*i as i64 * 7 - 300);
            } else {
                cmd.arg(format!("member:{i}"));
            }
        }
        let _: i64 = cmd.query(c).expect("SADD");
    }
}

#[test]
fn sets_move_between_ringcache_and_redis_by_dump_with_equal_digests() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (mut ours, mut theirs) = (node.conn(), redis.conn());
    for (key, n, ints, enc) in [
        ("small-int", 10, true, "intset"),
        ("big-int", 600, true, "hashtable"),
        ("small-str", 3, false, "hashtable"),
        ("big-str", 2000, false, "hashtable"),
    ] {
        fill(&mut ours, key, n, ints);
        fill(&mut theirs, key, n, ints);
        assert_eq!(encoding(&mut ours, key), enc, "{key} on ringcache");
        assert_eq!(encoding(&mut theirs, key), enc, "{key} on redis");
        common::dump_restore_both_ways(&mut ours, &mut theirs, key, |to, copy| {
            assert_eq!(encoding(to, copy), enc, "{key} restored");
        });
    }
}

#[test]
fn sets_survive_a_restart_from_the_rdb_file() {
    let mut node = TestNode::start(&[]);
    let mut c = node.conn();
    fill(&mut c, "ints", 100, true);
    fill(&mut c, "strs", 5, false);
    fill(&mut c, "large", 3000, false);
    let before = dataset_digest(&mut c);
    let _: () = redis::cmd("SAVE").query(&mut c).expect("SAVE");
    node.restart();
    let mut c = node.conn();
    assert_eq!(dataset_digest(&mut c), before);
    assert_eq!(encoding(&mut c, "ints"), "intset");
    assert_eq!(encoding(&mut c, "strs"), "hashtable");
    assert_eq!(reply(&mut c, &["SCARD", "large"]), "int(3000)");
}

#[test]
fn spop_reaches_a_redis_replica_as_its_effects() {
    let primary = TestNode::start(&[]);
    let p = primary.port.to_string();
    let replica = RedisServer::start(&["--replicaof", "127.0.0.1", &p]);
    let (mut pc, mut rc) = (primary.conn(), replica.conn());
    // Random pops only agree on both sides if they travel as SREM/DEL.
    fill(&mut pc, "a", 50, false);
    fill(&mut pc, "b", 40, true);
    fill(&mut pc, "c", 10, false);
    for args in [
        &["SPOP", "a"][..],
        &["SPOP", "a", "3"],
        &["SPOP", "a", "40"],
        &["SPOP", "b", "1"],
        &["SPOP", "b", "5"],
        &["SPOP", "c", "100"],
    ] {
        let _: redis::Value = redis::cmd(args[0])
            .arg(&args[1..])
            .query(&mut pc)
            .expect("SPOP");
    }
    // The SRANDMEMBER below must not have changed anything.
    let _: redis::Value = redis::cmd("SRANDMEMBER")
        .arg("a")
        .arg(-5)
        .query(&mut pc)
        .expect("SRANDMEMBER");
    // The replica's digest is all zeros until its first sync: compare raw
    // replies while waiting, then require a real digest.
    let digest = |c: &mut Connection| reply(c, &["DEBUG", "DIGEST"]);
    let synced = wait_for(Duration::from_secs(10), || {
        info_field(&mut rc, "replication", "master_link_status") == "up"
            && digest(&mut pc) == digest(&mut rc)
    });
    assert!(synced, "{} vs {}", digest(&mut pc), digest(&mut rc));
    assert_eq!(dataset_digest(&mut rc), dataset_digest(&mut pc));
    assert_eq!(reply(&mut rc, &["EXISTS", "c"]), "int(0)");
    // 40 members, 1 + 5 popped.
    assert_eq!(reply(&mut rc, &["SCARD", "b"]), "int(34)");
    assert_eq!(
        reply(&mut rc, &["SCARD", "a"]),
        reply(&mut pc, &["SCARD", "a"])
    );
}

#[test]
fn spop_with_count_is_one_transaction_in_the_aof_and_replays() {
    let mut node = TestNode::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = node.conn();
    fill(&mut c, "k", 20, false);
    let popped: Vec<String> = redis::cmd("SPOP")
        .arg("k")
        .arg(3)
        .query(&mut c)
        .expect("SPOP");
    let _: redis::Value = redis::cmd("SPOP")
        .arg("k")
        .arg(100)
        .query(&mut c)
        .expect("SPOP");
    let aof = std::fs::read(node.dir.path().join("appendonly.aof")).expect("aof");
    let text = String::from_utf8_lossy(&aof);
    assert!(!text.contains("SPOP"), "SPOP itself was logged");
    let multi = text.find("MULTI").expect("a MULTI");
    let exec = text.find("EXEC").expect("an EXEC");
    let block = &text[multi..exec];
    assert_eq!(block.matches("SREM").count(), popped.len());
    for m in &popped {
        assert!(block.contains(m.as_str()), "{m} not removed in the log");
    }
    assert!(
        text[exec..].contains("DEL"),
        "the last pop empties the set: a DEL"
    );
    fill(&mut c, "k2", 5, true);
    let before = dataset_digest(&mut c);
    node.restart();
    let mut c = node.conn();
    assert_eq!(dataset_digest(&mut c), before);
}

#[test]
fn sscan_returns_every_member_of_a_large_set_under_churn() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    fill(&mut c, "big", 5000, false);
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let (next, batch): (String, Vec<String>) = redis::cmd("SSCAN")
            .arg("big")
            .arg(&cursor)
            .arg("COUNT")
            .arg(100)
            .query(&mut c)
            .expect("SSCAN");
        seen.extend(batch);
        calls += 1;
        // Churn: drop members below 1000, add new ones.
        let _: i64 = redis::cmd("SREM")
            .arg("big")
            .arg(format!("member:{calls}"))
            .query(&mut c)
            .expect("SREM");
        let _: i64 = redis::cmd("SADD")
            .arg("big")
            .arg(format!("new:{calls}"))
            .query(&mut c)
            .expect("SADD");
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    assert!(calls > 10, "a large set is scanned in steps");
    for i in 1000..5000 {
        assert!(seen.contains(&format!("member:{i}")), "member:{i} missed");
    }
}

#[test]
fn rdb_files_with_sets_move_between_redis_and_ringcache() {
    let redis = RedisServer::start(&[]);
    let mut rc = redis.conn();
    fill(&mut rc, "ints", 300, true);
    fill(&mut rc, "many-ints", 2000, true);
    fill(&mut rc, "strs", 4, false);
    fill(&mut rc, "many-strs", 3000, false);
    let _: () = redis::cmd("SAVE").query(&mut rc).expect("SAVE");
    let want = dataset_digest(&mut rc);
    // Redis's file, loaded by ringcache.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        redis.dir.path().join("dump.rdb"),
        dir.path().join("dump.rdb"),
    )
    .expect("copy");
    let node = TestNode::start_in(common::free_port(), dir, &[]);
    let mut c = node.conn();
    assert_eq!(dataset_digest(&mut c), want);
    for (key, enc) in [
        ("ints", "intset"),
        ("many-ints", "hashtable"),
        ("strs", "hashtable"),
    ] {
        assert_eq!(encoding(&mut c, key), enc, "{key}");
    }
    // ringcache's file, loaded by Redis.
    let _: () = redis::cmd("SAVE").query(&mut c).expect("SAVE");
    let back = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        node.dir.path().join("dump.rdb"),
        back.path().join("dump.rdb"),
    )
    .expect("copy");
    let theirs = RedisServer::start_in(back, &[]);
    assert_eq!(dataset_digest(&mut theirs.conn()), want);
}

#[test]
fn an_aof_rewrite_recreates_sets_in_batches_of_64() {
    let mut node = TestNode::start(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--aof-use-rdb-preamble",
        "no",
    ]);
    let mut c = node.conn();
    fill(&mut c, "ints", 100, true);
    fill(&mut c, "strs", 200, false);
    fill(&mut c, "tiny", 2, false);
    let before = dataset_digest(&mut c);
    let _: String = redis::cmd("BGREWRITEAOF")
        .query(&mut c)
        .expect("BGREWRITEAOF");
    assert!(wait_for(Duration::from_secs(20), || {
        info_field(&mut c, "persistence", "aof_rewrite_in_progress") == "0"
            && info_field(&mut c, "persistence", "aof_rewrites") == "1"
    }));
    let aof = std::fs::read(node.dir.path().join("appendonly.aof")).expect("aof");
    let text = String::from_utf8_lossy(&aof);
    // SADD key + at most 64 members: an array header of at most 66.
    let headers: Vec<usize> = text
        .split("\r\n")
        .filter_map(|l| l.strip_prefix('*')?.parse().ok())
        .collect();
    assert!(headers.iter().all(|&n| n <= 66), "{headers:?}");
    assert_eq!(
        text.matches("SADD").count(),
        2 + 4 + 1,
        "100, 200 and 2 members"
    );
    node.restart();
    let mut c = node.conn();
    assert_eq!(dataset_digest(&mut c), before);
}
