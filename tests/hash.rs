//! Hash commands through redis-rs against the real binary, with redis-server
//! 7.0.15 answering the same commands as the reference.

mod common;

use common::{reply_text as reply, RedisServer, TestNode};
use redis::Connection;

/// Commands whose replies do not depend on a table's iteration order.
const SCRIPT: &[&[&str]] = &[
    &["HSET", "h", "f1", "v1", "f2", "v2"],
    &["HSET", "h", "f1", "x"],
    &["HSET", "h", "f1"],
    &["HMSET", "h", "a", "1", "b", "2"],
    &["HSETNX", "h", "a", "9"],
    &["HSETNX", "h", "c", "3"],
    &["HGET", "h", "a"],
    &["HGET", "h", "nosuch"],
    &["HMGET", "h", "a", "b", "nosuch"],
    &["HMGET", "nokey", "a"],
    &["HLEN", "h"],
    &["HEXISTS", "h", "a"],
    &["HSTRLEN", "h", "f1"],
    &["HGETALL", "h"],
    &["HKEYS", "h"],
    &["HVALS", "h"],
    &["HGETALL", "nokey"],
    &["HINCRBY", "h", "n", "5"],
    &["HINCRBY", "h", "f1", "1"],
    &["HINCRBY", "h", "n", "abc"],
    &["HINCRBY", "h", "n", "9223372036854775807"],
    &["HINCRBYFLOAT", "h", "fl", "1.5"],
    &["HINCRBYFLOAT", "h", "fl", "0.1"],
    &["HINCRBYFLOAT", "h", "f1", "1"],
    &["HINCRBYFLOAT", "h", "fl", "+inf"],
    &["CONFIG", "SET", "hash-max-ziplist-entries", "2"],
    &["HSET", "tiny", "a", "1", "b", "2", "c", "3"],
    &["OBJECT", "ENCODING", "tiny"],
    &["CONFIG", "GET", "hash-max-ziplist-entries"],
    &["CONFIG", "SET", "hash-max-listpack-entries", "512"],
    &["HDEL", "h", "a", "b", "nosuch"],
    &["HSCAN", "h", "0", "MATCH", "f*"],
    &["HRANDFIELD", "nokey"],
    &["HRANDFIELD", "h", "0"],
    &["HRANDFIELD", "h", "1", "BAD"],
    &["OBJECT", "ENCODING", "h"],
    &["TYPE", "h"],
    &["SET", "s", "str"],
    &["HGET", "s", "a"],
    &["HSET", "s", "a", "b"],
    &["GET", "h"],
    &["HSET", "d", "x", "1"],
    &["HDEL", "d", "x"],
    &["EXISTS", "d"],
    &["HSET", "big", "f", LONG],
    &["OBJECT", "ENCODING", "big"],
    &["HGET", "big", "f"],
];

const LONG: &str = "0123456789012345678901234567890123456789012345678901234567890123456789";

#[test]
fn hash_commands_answer_as_redis_does() {
    common::replies_match_redis(SCRIPT, reply);
}

/// Fills `key` with `n` fields whose values are `v<i>` (a listpack for small
/// `n`, a table past 512 fields).
fn fill(c: &mut Connection, key: &str, n: usize) {
    let mut cmd = redis::cmd("HSET");
    cmd.arg(key);
    for i in 0..n {
        cmd.arg(format!("field:{i}")).arg(if i % 3 == 0 {
            i.to_string()
        } else {
            format!("v{i}")
        });
    }
    let _: i64 = cmd.query(c).expect("HSET");
}

#[test]
fn hashes_move_between_ringcache_and_redis_by_dump_with_equal_digests() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (mut ours, mut theirs) = (node.conn(), redis.conn());
    for (key, n, encoding) in [("small", 10, "listpack"), ("large", 600, "hashtable")] {
        fill(&mut ours, key, n);
        fill(&mut theirs, key, n);
        for (server, c) in [("ringcache", &mut ours), ("redis", &mut theirs)] {
            assert_eq!(common::encoding(c, key), encoding, "{key} on {server}");
        }
        // Each side restores the other's payload under a new name.
        common::dump_restore_both_ways(&mut ours, &mut theirs, key, |_, _| {});
    }
}

#[test]
fn hashes_survive_a_restart_from_the_rdb_file() {
    let mut node = TestNode::start(&[]);
    let mut c = node.conn();
    fill(&mut c, "small", 5);
    fill(&mut c, "large", 700);
    let before = reply(&mut c, &["DEBUG", "DIGEST"]);
    let _: () = redis::cmd("SAVE").query(&mut c).expect("SAVE");
    node.restart();
    let mut c = node.conn();
    assert_eq!(reply(&mut c, &["DEBUG", "DIGEST"]), before);
    assert_eq!(reply(&mut c, &["HLEN", "large"]), "int(700)");
    assert_eq!(
        reply(&mut c, &["HGET", "small", "field:3"]),
        reply(&mut c, &["ECHO", "3"])
    );
}

#[test]
fn hscan_walks_a_large_hash_in_steps_and_returns_every_field() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    fill(&mut c, "big", 1000);
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("big")
        .query(&mut c)
        .unwrap();
    assert_eq!(enc, "hashtable");
    let mut seen = std::collections::HashMap::new();
    let (mut cursor, mut calls) = (0u64, 0);
    loop {
        let (next, flat): (u64, Vec<String>) = redis::cmd("HSCAN")
            .arg("big")
            .arg(cursor)
            .arg("COUNT")
            .arg(10)
            .query(&mut c)
            .unwrap();
        assert!(flat.len() <= 40, "COUNT bounds a step: {}", flat.len());
        for pair in flat.chunks(2) {
            seen.insert(pair[0].clone(), pair[1].clone());
        }
        // A write between steps that grows the table must not lose fields.
        if calls == 20 {
            fill(&mut c, "big", 3000);
        }
        calls += 1;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert!(calls > 50, "a table is walked in steps ({calls} calls)");
    let all: std::collections::HashMap<String, String> =
        redis::cmd("HGETALL").arg("big").query(&mut c).unwrap();
    let original = |f: &str| f["field:".len()..].parse::<usize>().unwrap() < 1000;
    for (f, v) in all.iter().filter(|(f, _)| original(f)) {
        assert_eq!(seen.get(f), Some(v), "{f}");
    }
    let (next, flat): (u64, Vec<String>) = redis::cmd("HSCAN")
        .arg("big")
        .arg(0)
        .arg("MATCH")
        .arg("field:99*")
        .arg("COUNT")
        .arg(100000)
        .query(&mut c)
        .unwrap();
    // field:99 and field:990 … field:999, each with its value.
    assert_eq!((next, flat.len()), (0, 22));
}
