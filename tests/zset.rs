//! Sorted set commands through redis-rs against the real binary, with
//! redis-server 7.0.15 answering the same commands as the reference.

mod common;

use common::{reply_text as reply, RedisServer, TestNode};
use redis::Connection;

const LONG: &str = "0123456789012345678901234567890123456789012345678901234567890123456789";

/// Deterministic commands: encodings, conversions, score formatting, errors.
const SCRIPT: &[&[&str]] = &[
    &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
    &[
        "ZADD", "z", "1.5", "d", "-inf", "e", "+inf", "f", "0.1", "g", "1e-5", "h",
    ],
    &[
        "ZADD",
        "z",
        "-0",
        "i",
        "1e17",
        "j",
        "123456789012345678",
        "k",
    ],
    &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    &["ZSCORE", "z", "g"],
    &["ZSCORE", "z", "i"],
    &["OBJECT", "ENCODING", "z"],
    &["ZADD", "z", "NX", "XX", "1", "a"],
    &["ZADD", "z", "GT", "LT", "1", "a"],
    &["ZADD", "z", "INCR", "1", "a", "2", "b"],
    &["ZADD", "z", "nan", "a"],
    &["ZADD", "z", "1e400", "a"],
    &["ZADD", "z", "INCR", "5", "a"],
    &["ZADD", "z", "XX", "CH", "10", "a", "20", "new"],
    &["ZADD", "z", "GT", "CH", "5", "a", "50", "b"],
    &["ZINCRBY", "z", "+inf", "e"],
    &["ZINCRBY", "z", "-inf", "f"],
    &["ZADD", "z", "INCR", "-inf", "f"],
    &["ZRANK", "z", "a"],
    &["ZREVRANK", "z", "a"],
    &["ZMSCORE", "z", "a", "nope", "b"],
    &["ZCOUNT", "z", "(1", "3"],
    &["ZCOUNT", "z", "a", "b"],
    &[
        "ZRANGE",
        "z",
        "(1",
        "+inf",
        "BYSCORE",
        "LIMIT",
        "1",
        "2",
        "WITHSCORES",
    ],
    &["ZRANGE", "z", "+inf", "(1", "BYSCORE", "REV", "WITHSCORES"],
    &["ZRANGE", "z", "0", "-1", "LIMIT", "1", "2"],
    &["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"],
    &[
        "ZREVRANGEBYSCORE",
        "z",
        "+inf",
        "-inf",
        "WITHSCORES",
        "LIMIT",
        "0",
        "3",
    ],
    &["ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d"],
    &["ZRANGEBYLEX", "l", "[b", "(d"],
    &["ZREVRANGEBYLEX", "l", "+", "(b"],
    &["ZLEXCOUNT", "l", "a", "c"],
    &["ZREMRANGEBYLEX", "l", "[a", "(c"],
    &["ZREMRANGEBYRANK", "l", "0", "0"],
    &["ZPOPMIN", "z"],
    &["ZPOPMAX", "z", "2"],
    &["ZPOPMIN", "z", "-1"],
    &["ZMPOP", "2", "nokey", "z", "MAX", "COUNT", "2"],
    &["ZMPOP", "0", "z", "MIN"],
    &["ZADD", "y", "10", "b", "20", "c", "30", "d"],
    &[
        "ZUNION",
        "2",
        "z",
        "y",
        "WEIGHTS",
        "2",
        "3",
        "AGGREGATE",
        "MAX",
        "WITHSCORES",
    ],
    &["ZINTER", "2", "z", "y", "WITHSCORES"],
    &["ZDIFF", "2", "z", "y", "WITHSCORES"],
    &["ZINTERCARD", "2", "z", "y", "LIMIT", "-1"],
    &["ZUNIONSTORE", "dst", "2", "z", "y"],
    &["ZRANGE", "dst", "0", "-1", "WITHSCORES"],
    &["ZINTERSTORE", "dst", "2", "z", "nokey"],
    &["EXISTS", "dst"],
    &["ZRANGESTORE", "dst", "z", "0", "-1", "WITHSCORES"],
    &["SET", "s", "x"],
    &["ZADD", "s", "1", "a"],
    &["ZUNION", "2", "z", "s"],
    &["CONFIG", "SET", "zset-max-ziplist-entries", "2"],
    &["ZADD", "tiny", "1", "a", "2", "b", "3", "c"],
    &["OBJECT", "ENCODING", "tiny"],
    &["CONFIG", "SET", "zset-max-listpack-entries", "128"],
    &["ZADD", "big", "1", LONG, "2", "b"],
    &["OBJECT", "ENCODING", "big"],
    &["ZRANGE", "big", "0", "-1", "WITHSCORES"],
    &["ZREM", "big", LONG, "b"],
    &["EXISTS", "big"],
];

#[test]
fn zset_commands_answer_as_redis_does() {
    common::replies_match_redis(SCRIPT, reply);
}

#[test]
fn resp3_replies_pair_members_with_double_scores() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let mut ours = node.raw();
    let mut theirs = redis.raw();
    for args in [
        &["HELLO", "3"][..],
        &["ZADD", "z", "1.5", "a", "2", "b", "3", "c"],
        &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        &["ZSCORE", "z", "a"],
        &["ZPOPMIN", "z", "1"],
        &["ZPOPMIN", "z"],
        &["ZMPOP", "1", "z", "MAX"],
        &["ZRANDMEMBER", "nokey", "2", "WITHSCORES"],
    ] {
        let (a, b) = (ours.call(args), theirs.call(args));
        if args[0] != "HELLO" {
            assert_eq!(a, b, "{args:?}");
        }
    }
}

/// Fills `key` with `n` members scored `i * 1.5` (fractions and integers).
fn fill(c: &mut Connection, key: &str, n: usize) {
    let mut cmd = redis::cmd("ZADD");
    cmd.arg(key);
    for i in 0..n {
        cmd.arg(i as f64 * 1.5).arg(format!("member:{i}"));
    }
    let _: i64 = cmd.query(c).expect("ZADD");
}

#[test]
fn zsets_move_between_ringcache_and_redis_by_dump_with_equal_digests() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (mut ours, mut theirs) = (node.conn(), redis.conn());
    for (key, n, encoding) in [("small", 10, "listpack"), ("large", 300, "skiplist")] {
        fill(&mut ours, key, n);
        fill(&mut theirs, key, n);
        for (server, c) in [("ringcache", &mut ours), ("redis", &mut theirs)] {
            assert_eq!(common::encoding(c, key), encoding, "{key} on {server}");
        }
        common::dump_restore_both_ways(&mut ours, &mut theirs, key, |to, copy| {
            assert_eq!(
                reply(to, &["OBJECT", "ENCODING", copy]),
                reply(to, &["OBJECT", "ENCODING", key])
            );
        });
    }
}

#[test]
fn zsets_survive_a_restart_from_the_rdb_file_and_an_aof_rewrite() {
    let mut node = TestNode::start(&["--appendonly", "yes"]);
    let mut c = node.conn();
    fill(&mut c, "small", 5);
    fill(&mut c, "large", 700);
    let _: i64 = redis::cmd("ZADD")
        .arg("odd")
        .arg("-0")
        .arg("a")
        .arg("1e-5")
        .arg("b")
        .query(&mut c)
        .expect("ZADD");
    let before = reply(&mut c, &["DEBUG", "DIGEST"]);
    let _: () = redis::cmd("SAVE").query(&mut c).expect("SAVE");
    node.restart();
    let mut c = node.conn();
    assert_eq!(reply(&mut c, &["DEBUG", "DIGEST"]), before);
    assert_eq!(reply(&mut c, &["ZCARD", "large"]), "int(700)");
    assert_eq!(reply(&mut c, &["ZRANK", "large", "member:650"]), "int(650)");
    let _: redis::Value = redis::cmd("BGREWRITEAOF").query(&mut c).expect("rewrite");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(reply(&mut c, &["DEBUG", "DIGEST"]), before);
}

#[test]
fn a_large_zset_answers_rank_and_range_queries() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (mut ours, mut theirs) = (node.conn(), redis.conn());
    for c in [&mut ours, &mut theirs] {
        fill(c, "z", 2000);
        let _: i64 = redis::cmd("ZREM")
            .arg("z")
            .arg("member:7")
            .arg("member:1500")
            .query(c)
            .expect("ZREM");
    }
    for args in [
        &["ZRANK", "z", "member:1999"][..],
        &["ZREVRANK", "z", "member:3"],
        &["ZRANGE", "z", "100", "105", "WITHSCORES"],
        &["ZRANGE", "z", "-3", "-1"],
        &[
            "ZRANGE", "z", "(30", "60", "BYSCORE", "REV", "LIMIT", "2", "3",
        ],
        &["ZCOUNT", "z", "100", "(2000"],
        &["ZREMRANGEBYSCORE", "z", "10", "20"],
        &["ZREMRANGEBYRANK", "z", "-10", "-5"],
        &["ZPOPMAX", "z", "3"],
        &["ZCARD", "z"],
        &["DEBUG", "DIGEST-VALUE", "z"],
    ] {
        assert_eq!(reply(&mut ours, args), reply(&mut theirs, args), "{args:?}");
    }
}
