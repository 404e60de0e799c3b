//! List commands through redis-rs against the real binary, with redis-server
//! 7.0.15 answering the same commands as the reference; DUMP/RESTORE both
//! ways with equal digests; lists across a restart from the RDB file.

mod common;

use common::{reply_text as reply, RedisServer, TestNode};
use redis::Connection;

const SCRIPT: &[&[&str]] = &[
    &["LPUSH", "l", "a", "b", "c", "1", "-3", "12345678901", "x"],
    &["RPUSH", "l", "z", "99"],
    &["LLEN", "l"],
    &["LRANGE", "l", "0", "-1"],
    &["LRANGE", "l", "-3", "-1"],
    &["LRANGE", "l", "5", "2"],
    &["LRANGE", "l", "-100", "100"],
    &["LRANGE", "l", "a", "1"],
    &["LINDEX", "l", "-1"],
    &["LINDEX", "l", "100"],
    &["LSET", "l", "0", "first"],
    &["LSET", "l", "100", "x"],
    &["LSET", "nokey", "0", "x"],
    &["LINSERT", "l", "BEFORE", "b", "B"],
    &["LINSERT", "l", "AFTER", "b", "C"],
    &["LINSERT", "l", "MIDDLE", "b", "C"],
    &["LINSERT", "l", "BEFORE", "nothere", "C"],
    &["LRANGE", "l", "0", "-1"],
    &["RPUSH", "r", "a", "b", "a", "c", "a", "d", "a"],
    &["LREM", "r", "2", "a"],
    &["LREM", "r", "-1", "a"],
    &["LRANGE", "r", "0", "-1"],
    &["LTRIM", "r", "1", "-2"],
    &["LRANGE", "r", "0", "-1"],
    &["LTRIM", "r", "5", "1"],
    &["EXISTS", "r"],
    &["LPOP", "l"],
    &["RPOP", "l", "3"],
    &["LPOP", "l", "0"],
    &["LPOP", "l", "-1"],
    &["LPOP", "nokey"],
    &["LPOP", "nokey", "2"],
    &["LPOP", "l", "1", "2"],
    &["LPUSHX", "nokey", "a"],
    &["RPUSHX", "l", "y", "w"],
    &["SET", "s", "str"],
    &["LPUSH", "s", "a"],
    &["LRANGE", "s", "0", "1"],
    &["RPUSH", "p", "a", "b", "c", "a", "b", "c", "a"],
    &["LPOS", "p", "a", "RANK", "-2", "COUNT", "0"],
    &["LPOS", "p", "a", "MAXLEN", "3", "COUNT", "0"],
    &["LPOS", "p", "a", "RANK", "0"],
    &["LPOS", "p", "a", "COUNT", "-1"],
    &["LPOS", "nokey", "a", "COUNT", "1"],
    &["RPUSH", "src", "1", "2", "3"],
    &["LMOVE", "src", "dst", "LEFT", "RIGHT"],
    &["LMOVE", "src", "dst", "UP", "LEFT"],
    &["LMOVE", "src", "s", "LEFT", "LEFT"],
    &["RPOPLPUSH", "src", "src"],
    &["LRANGE", "src", "0", "-1"],
    &["LMPOP", "2", "nokey", "dst", "RIGHT", "COUNT", "10"],
    &["LMPOP", "0", "a", "LEFT"],
    &["LMPOP", "1", "a", "LEFT", "COUNT", "0"],
    &["LMPOP", "5", "a", "LEFT"],
    &["BLPOP", "nokey", "-1"],
    &["BLPOP", "nokey", "x"],
    &["BLMPOP", "0", "1", "nokey", "UP"],
    &["RPUSH", "bl", "a", "b"],
    &["BRPOP", "nokey", "bl", "0"],
    &["BLMOVE", "bl", "dst", "LEFT", "LEFT", "0"],
    &["OBJECT", "ENCODING", "p"],
    &["TYPE", "p"],
];

#[test]
fn list_commands_answer_as_redis_does() {
    common::replies_match_redis(SCRIPT, reply);
}

/// Fills `key` with `n` elements mixing small integers, long strings and
/// short ones (several quicklist nodes past a few hundred).
fn fill(c: &mut Connection, key: &str, n: usize) {
    let mut cmd = redis::cmd("RPUSH");
    cmd.arg(key);
    for i in 0..n {
        cmd.arg(match i % 3 {
            0 => i.to_string(),
            1 => format!("element-{i}-{}", "x".repeat(i % 50)),
            _ => format!("-{i}"),
        });
    }
    let _: i64 = cmd.query(c).expect("RPUSH");
}

#[test]
fn lists_move_between_ringcache_and_redis_by_dump_with_equal_digests() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (mut ours, mut theirs) = (node.conn(), redis.conn());
    for (key, n) in [("small", 5), ("large", 5000)] {
        fill(&mut ours, key, n);
        fill(&mut theirs, key, n);
        assert_eq!(
            reply(&mut ours, &["OBJECT", "ENCODING", key]),
            reply(&mut theirs, &["OBJECT", "ENCODING", key])
        );
        common::dump_restore_both_ways(&mut ours, &mut theirs, key, |to, copy| {
            assert_eq!(
                reply(to, &["LRANGE", copy, "0", "-1"]),
                reply(to, &["LRANGE", key, "0", "-1"])
            );
        });
    }
}

#[test]
fn a_damaged_list_payload_is_refused() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    fill(&mut c, "l", 300);
    let payload: Vec<u8> = redis::cmd("DUMP").arg("l").query(&mut c).expect("DUMP");
    // Flip a byte inside the payload and fix nothing: the checksum refuses it;
    // cutting it short is refused too. Neither may take the server down.
    let mut flipped = payload.clone();
    flipped[20] ^= 0x55;
    for bad in [flipped, payload[..payload.len() / 2].to_vec()] {
        let r = redis::cmd("RESTORE")
            .arg("bad")
            .arg(0)
            .arg(bad)
            .query::<()>(&mut c);
        assert!(r.is_err(), "a damaged payload was accepted");
    }
    assert_eq!(reply(&mut c, &["LLEN", "l"]), "int(300)");
}

#[test]
fn lists_survive_a_restart_from_the_rdb_file_and_honour_the_node_size() {
    let mut node = TestNode::start(&[]);
    let mut c = node.conn();
    fill(&mut c, "small", 5);
    fill(&mut c, "large", 20_000);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("list-max-listpack-size")
        .arg("4")
        .query(&mut c)
        .expect("CONFIG SET");
    fill(&mut c, "counted", 50);
    let before = reply(&mut c, &["DEBUG", "DIGEST"]);
    let _: () = redis::cmd("SAVE").query(&mut c).expect("SAVE");
    node.restart();
    let mut c = node.conn();
    assert_eq!(reply(&mut c, &["DEBUG", "DIGEST"]), before);
    assert_eq!(reply(&mut c, &["LLEN", "large"]), "int(20000)");
    let want = format!("element-19999-{}", "x".repeat(19999 % 50));
    assert_eq!(
        reply(&mut c, &["LINDEX", "large", "19999"]),
        reply(&mut c, &["ECHO", &want])
    );
    assert_eq!(
        reply(&mut c, &["LINDEX", "large", "19998"]),
        reply(&mut c, &["ECHO", "19998"])
    );
    assert_eq!(
        reply(&mut c, &["LINDEX", "counted", "-3"]),
        reply(&mut c, &["ECHO", "-47"])
    );
}
