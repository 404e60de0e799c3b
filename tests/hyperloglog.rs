//! HyperLogLog commands through the real binary, side by side with Debian's
//! redis-server 7.0.15: the same replies, the same HLL bytes (sparse and
//! dense), HLLs moving between the two servers by DUMP/RESTORE and RDB, and
//! what PFADD/PFCOUNT leave in the append-only file.

mod common;

use common::disk::redis_dump;
use common::{free_port, RedisServer, TestNode};
use redis::Connection;

/// A reply as comparable text: the value, or the error's code and message.
fn reply(c: &mut Connection, args: &[&[u8]]) -> String {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("name"));
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<redis::Value>(c) {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("error {:?} {:?}", e.code(), e.detail()),
    }
}

fn get(c: &mut Connection, key: &str) -> Vec<u8> {
    redis::cmd("GET").arg(key).query(c).expect("GET")
}

fn pfcount(c: &mut Connection, keys: &[&str]) -> i64 {
    redis::cmd("PFCOUNT").arg(keys).query(c).expect("PFCOUNT")
}

/// Adds `n` elements named `<tag><i>` to `key`.
fn pfadd(c: &mut Connection, key: &str, tag: &str, n: usize) -> i64 {
    let mut cmd = redis::cmd("PFADD");
    cmd.arg(key);
    for i in 0..n {
        cmd.arg(format!("{tag}{i}"));
    }
    cmd.query(c).expect("PFADD")
}

/// Both servers get the same commands; every reply and every HLL's bytes
/// must be equal.
#[test]
fn hll_replies_and_bytes_match_redis() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (mut ours, mut theirs) = (node.conn(), redis.conn());
    let corrupt_tail = {
        let mut v = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80".to_vec();
        v.extend_from_slice(&[0x7f, 0xff, 0x00]);
        v
    };
    let bad_magic = b"HYLX\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff".to_vec();
    let short_dense = b"HYLL\x00\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff".to_vec();
    let script: Vec<Vec<&[u8]>> = vec![
        vec![b"PFADD", b"h"],
        vec![b"GET", b"h"],
        vec![b"PFCOUNT", b"h"],
        vec![b"GET", b"h"],
        vec![b"PFADD", b"h", b"a", b"b", b"c", b""],
        vec![b"PFADD", b"h", b"a"],
        vec![b"PFCOUNT", b"h", b"nokey"],
        vec![b"PFDEBUG", b"DECODE", b"h"],
        vec![b"PFDEBUG", b"ENCODING", b"h"],
        vec![b"PFDEBUG", b"ENCODING", b"nokey"],
        vec![b"PFDEBUG", b"NOPE", b"h"],
        vec![b"PFMERGE", b"m", b"h", b"nokey"],
        vec![b"GET", b"m"],
        vec![b"SET", b"n", b"123"],
        vec![b"PFADD", b"n", b"x"],
        vec![b"PFCOUNT", b"h", b"n"],
        vec![b"HSET", b"hs", b"f", b"v"],
        vec![b"PFADD", b"hs", b"x"],
        vec![b"PFCOUNT", b"hs", b"h"],
        vec![b"SET", b"c", &corrupt_tail],
        vec![b"PFCOUNT", b"c"],
        vec![b"PFADD", b"c", b"q"],
        vec![b"PFMERGE", b"m", b"c"],
        vec![b"SET", b"bm", &bad_magic],
        vec![b"PFCOUNT", b"bm"],
        vec![b"SET", b"sd", &short_dense],
        vec![b"PFADD", b"sd", b"a"],
        vec![b"CONFIG", b"SET", b"hll-sparse-max-bytes", b"40"],
        vec![
            b"PFADD", b"tiny", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8",
        ],
        vec![b"PFDEBUG", b"ENCODING", b"tiny"],
        vec![b"GET", b"tiny"],
        vec![b"CONFIG", b"SET", b"hll-sparse-max-bytes", b"3000"],
        vec![b"PFSELFTEST"],
        vec![b"PFSELFTEST", b"x"],
    ];
    for args in &script {
        assert_eq!(reply(&mut ours, args), reply(&mut theirs, args), "{args:?}");
    }
    // Growing one HLL step by step: the same sparse bytes at every step, the
    // same promotion to dense, the same counts.
    for step in 0..60 {
        let tag = format!("s{step}-");
        assert_eq!(
            pfadd(&mut ours, "grow", &tag, 40),
            pfadd(&mut theirs, "grow", &tag, 40)
        );
        assert_eq!(
            get(&mut ours, "grow"),
            get(&mut theirs, "grow"),
            "step {step}"
        );
        if step % 7 == 0 {
            assert_eq!(
                pfcount(&mut ours, &["grow"]),
                pfcount(&mut theirs, &["grow"])
            );
        }
    }
    let encoding = |c: &mut Connection| reply(c, &[b"PFDEBUG", b"ENCODING", b"grow"]);
    assert_eq!(encoding(&mut ours), "simple-string(\"dense\")");
    assert_eq!(encoding(&mut theirs), encoding(&mut ours));
    for args in [
        &[&b"PFMERGE"[..], b"u", b"grow", b"h"][..],
        &[b"GET", b"u"],
        &[b"PFCOUNT", b"grow", b"h", b"m"],
        &[b"PFDEBUG", b"GETREG", b"h"],
        &[b"GET", b"h"],
    ] {
        assert_eq!(reply(&mut ours, args), reply(&mut theirs, args), "{args:?}");
    }
}

/// HLLs made by redis-server (sparse and dense) and RESTOREd into ringcache
/// count the same, and after the same PFADDs on both servers hold the same
/// bytes; the reverse way too.
#[test]
fn hlls_move_between_redis_and_ringcache_by_dump_and_restore() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (mut ours, mut theirs) = (node.conn(), redis.conn());
    for (key, n) in [("sparse", 150), ("dense", 5000)] {
        pfadd(&mut theirs, key, "r", n);
        let payload: Vec<u8> = redis::cmd("DUMP")
            .arg(key)
            .query(&mut theirs)
            .expect("DUMP");
        let _: () = redis::cmd("RESTORE")
            .arg(key)
            .arg(0)
            .arg(payload)
            .query(&mut ours)
            .expect("RESTORE");
        assert_eq!(get(&mut ours, key), get(&mut theirs, key), "{key} restored");
        assert_eq!(
            pfcount(&mut ours, &[key]),
            pfcount(&mut theirs, &[key]),
            "{key}"
        );
        assert_eq!(
            get(&mut ours, key),
            get(&mut theirs, key),
            "{key}: cached count"
        );
        for round in 0..3 {
            let tag = format!("more{round}-");
            assert_eq!(
                pfadd(&mut ours, key, &tag, 300),
                pfadd(&mut theirs, key, &tag, 300)
            );
            assert_eq!(
                get(&mut ours, key),
                get(&mut theirs, key),
                "{key} after PFADD"
            );
            assert_eq!(pfcount(&mut ours, &[key]), pfcount(&mut theirs, &[key]));
        }
    }
    // A ringcache HLL restored into redis-server.
    pfadd(&mut ours, "mine", "o", 900);
    let payload: Vec<u8> = redis::cmd("DUMP")
        .arg("mine")
        .query(&mut ours)
        .expect("DUMP");
    let _: () = redis::cmd("RESTORE")
        .arg("mine")
        .arg(0)
        .arg(payload)
        .query(&mut theirs)
        .expect("RESTORE into redis");
    assert_eq!(
        pfcount(&mut ours, &["mine"]),
        pfcount(&mut theirs, &["mine"])
    );
    assert_eq!(
        pfcount(&mut ours, &["mine", "dense", "sparse"]),
        pfcount(&mut theirs, &["mine", "dense", "sparse"])
    );
}

/// A redis-server RDB holding HLLs loads, and they count as in Redis.
#[test]
fn hlls_in_a_redis_rdb_keep_working() {
    let redis = RedisServer::start(&[]);
    let mut theirs = redis.conn();
    pfadd(&mut theirs, "a", "x", 50);
    pfadd(&mut theirs, "b", "y", 20000);
    let want = (pfcount(&mut theirs, &["a"]), pfcount(&mut theirs, &["b"]));
    let union = pfcount(&mut theirs, &["a", "b"]);
    pfadd(&mut theirs, "a", "z", 10);
    let dir = redis_dump(&redis);
    let node = TestNode::start_in(free_port(), dir, &[]);
    let mut ours = node.conn();
    assert_eq!(get(&mut ours, "a"), get(&mut theirs, "a"));
    assert_eq!(pfcount(&mut ours, &["b"]), want.1);
    assert_eq!(pfcount(&mut ours, &["a"]), pfcount(&mut theirs, &["a"]));
    assert!(pfcount(&mut ours, &["a"]) > want.0);
    assert!(pfcount(&mut ours, &["a", "b"]) >= union);
}

/// What PFADD, PFCOUNT (a refreshed cache), PFMERGE and PFDEBUG TODENSE write
/// to the AOF rebuilds the same bytes on restart.
#[test]
fn hll_writes_replay_from_the_aof_to_the_same_bytes() {
    let mut node = TestNode::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = node.conn();
    pfadd(&mut c, "a", "x", 30);
    pfcount(&mut c, &["a"]);
    pfadd(&mut c, "b", "y", 3000);
    let _: () = redis::cmd("PFMERGE")
        .arg(&["m", "a", "b"])
        .query(&mut c)
        .expect("PFMERGE");
    pfcount(&mut c, &["m"]);
    pfadd(&mut c, "t", "z", 5);
    let _: i64 = redis::cmd("PFDEBUG")
        .arg(&["TODENSE", "t"])
        .query(&mut c)
        .expect("TODENSE");
    let before: Vec<Vec<u8>> = ["a", "b", "m", "t"]
        .iter()
        .map(|k| get(&mut c, k))
        .collect();
    node.restart();
    let mut c = node.conn();
    let after: Vec<Vec<u8>> = ["a", "b", "m", "t"]
        .iter()
        .map(|k| get(&mut c, k))
        .collect();
    assert_eq!(before, after);
}

fn repl_offset(c: &mut Connection) -> String {
    common::info_field(c, "replication", "master_repl_offset")
}

/// A ringcache replica and a redis-server replica of a ringcache primary end
/// with the same HLL bytes (the refreshed cache included), and a PFCOUNT on
/// the replica leaves the replication stream alone.
#[test]
fn hll_writes_replicate_byte_for_byte() {
    let primary = TestNode::start(&[]);
    let p = primary.port.to_string();
    let ours = TestNode::start(&["--replicaof", "127.0.0.1", &p]);
    let theirs = RedisServer::start(&["--replicaof", "127.0.0.1", &p]);
    let mut pc = primary.conn();
    pfadd(&mut pc, "a", "x", 40);
    pfadd(&mut pc, "b", "y", 4000);
    pfcount(&mut pc, &["a"]);
    let _: () = redis::cmd("PFMERGE")
        .arg(&["m", "a", "b"])
        .query(&mut pc)
        .expect("PFMERGE");
    pfcount(&mut pc, &["m"]);
    let want: Vec<Vec<u8>> = ["a", "b", "m"].iter().map(|k| get(&mut pc, k)).collect();
    for (name, mut c) in [("ringcache", ours.conn()), ("redis", theirs.conn())] {
        let synced = common::wait_for(std::time::Duration::from_secs(20), || {
            repl_offset(&mut c) == repl_offset(&mut pc)
                && ["a", "b", "m"]
                    .iter()
                    .map(|k| get(&mut c, k))
                    .collect::<Vec<_>>()
                    == want
        });
        assert!(synced, "{name} replica did not reach the primary's bytes");
    }
    // PFCOUNT on our replica: a stale cache is refreshed locally only.
    pfadd(&mut pc, "b", "z", 10);
    let mut rc = ours.conn();
    assert!(common::wait_for(std::time::Duration::from_secs(20), || {
        repl_offset(&mut rc) == repl_offset(&mut pc)
    }));
    let offset = repl_offset(&mut rc);
    assert_eq!(
        pfcount(&mut rc, &["b"]),
        pfcount(&mut theirs.conn(), &["b"])
    );
    assert_eq!(repl_offset(&mut rc), offset);
}
