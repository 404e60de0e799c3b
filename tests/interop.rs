//! Every type in every encoding moves between ringcache and redis-server 7.0.15
//! with nothing changed: RDB files both ways (`redis-check-rdb` accepts ours),
//! DUMP/RESTORE both ways, and replication both ways. "Nothing changed" is
//! Redis's own measure: `DEBUG DIGEST-VALUE` per key (it counts a TTL's
//! presence), `DEBUG DIGEST` overall (TTLs included), and `OBJECT ENCODING`
//! per key. Encodings are compared between two servers that loaded the same
//! bytes: loading turns a short raw string (a sparse HyperLogLog) into embstr
//! on both, as it does on Redis.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::disk::{redis_dump, save, take_dir};
use common::{free_port, wait_for, RedisServer, TestNode};
use redis::Connection;

fn run(c: &mut Connection, args: &[&str]) {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let r: redis::RedisResult<redis::Value> = cmd.query(c);
    if let Err(e) = r {
        panic!("{args:?}: {e}");
    }
}

/// Runs `name key <items…>` with the items `f(i)` for `i` in `0..n`.
fn many(c: &mut Connection, name: &str, key: &str, n: usize, f: impl Fn(usize) -> Vec<String>) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut cmd = redis::cmd(name);
        cmd.arg(key);
        for &i in chunk {
            for item in f(i) {
                cmd.arg(item);
            }
        }
        let _: redis::Value = cmd.query(c).unwrap_or_else(|e| panic!("{name} {key}: {e}"));
    }
}

/// One key of every type in every encoding Redis 7.0 has, small and large,
/// some with a TTL.
fn populate(c: &mut Connection) {
    run(c, &["SET", "str:int", "12345"]);
    run(c, &["SET", "str:emb", "a short string"]);
    run(c, &["SET", "str:raw", &"r".repeat(200), "EX", "5000"]);
    run(c, &["HSET", "hash:lp", "a", "1", "b", "two", "c", "-3"]);
    many(c, "HSET", "hash:ht", 700, |i| {
        vec![format!("f{i}"), format!("v{i}")]
    });
    run(c, &["HSET", "hash:long", "f", &"x".repeat(100)]);
    run(
        c,
        &[
            "RPUSH",
            "list:small",
            "a",
            "1",
            "-200",
            "long string element",
        ],
    );
    many(c, "RPUSH", "list:large", 20_000, |i| {
        vec![format!("e{}", i % 977)]
    });
    many(c, "RPUSH", "list:ints", 3000, |i| {
        vec![(i as i64 * 7919 - 100_000).to_string()]
    });
    run(
        c,
        &[
            "LPUSH",
            "list:big-elements",
            &"y".repeat(10_000),
            &"z".repeat(9000),
        ],
    );
    run(c, &["SADD", "set:int", "1", "-5", "100000", "7"]);
    many(c, "SADD", "set:int-large", 600, |i| {
        vec![(i * 3).to_string()]
    });
    many(c, "SADD", "set:ht", 300, |i| vec![format!("m{i}")]);
    run(
        c,
        &[
            "ZADD", "zset:lp", "1", "a", "2.5", "b", "-inf", "c", "inf", "d",
        ],
    );
    many(c, "ZADD", "zset:sl", 400, |i| {
        vec![(i as f64 / 3.0).to_string(), format!("m{i}")]
    });
    run(c, &["ZADD", "zset:long", "1", &"m".repeat(100)]);
    run(c, &["PEXPIRE", "zset:sl", "9000000"]);
    run(c, &["PFADD", "hll:sparse", "a", "b", "c"]);
    many(c, "PFADD", "hll:dense", 5000, |i| vec![format!("e{i}")]);
    run(c, &["SETBIT", "bits", "100000", "1"]);
    run(
        c,
        &[
            "GEOADD",
            "geo",
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
        ],
    );
}

/// Every key with its `DEBUG DIGEST-VALUE` and `OBJECT ENCODING`.
fn fingerprint(c: &mut Connection) -> BTreeMap<String, (String, String)> {
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(c).expect("KEYS");
    keys.into_iter()
        .map(|k| {
            let digest: Vec<String> = redis::cmd("DEBUG")
                .arg("DIGEST-VALUE")
                .arg(&k)
                .query(c)
                .expect("DIGEST-VALUE");
            let enc: String = redis::cmd("OBJECT")
                .arg("ENCODING")
                .arg(&k)
                .query(c)
                .expect("OBJECT ENCODING");
            (k, (digest.concat(), enc))
        })
        .collect()
}

fn digest(c: &mut Connection) -> String {
    redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(c)
        .expect("DEBUG DIGEST")
}

fn assert_same(ours: &mut Connection, theirs: &mut Connection, what: &str) {
    let (a, b) = (fingerprint(ours), fingerprint(theirs));
    assert_eq!(a.len(), 20, "{what}: every key is there");
    for (k, v) in &b {
        assert_eq!(a.get(k), Some(v), "{what}: {k} (digest, encoding)");
    }
    assert_eq!(digest(ours), digest(theirs), "{what}: DEBUG DIGEST");
}

/// Copies `dir`'s dump.rdb into a new directory.
fn copy_dump(dir: &std::path::Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().expect("dir");
    std::fs::copy(dir.join("dump.rdb"), to.path().join("dump.rdb")).expect("copy dump.rdb");
    to
}

#[test]
fn a_redis_dump_of_every_type_loads_into_ringcache_unchanged() {
    let redis = RedisServer::start(&[]);
    let mut theirs = redis.conn();
    populate(&mut theirs);
    let before = digest(&mut theirs);
    let dir = redis_dump(&redis);
    let node = TestNode::start_in(free_port(), copy_dump(dir.path()), &[]);
    let reloaded = RedisServer::start_in(dir, &[]);
    let mut ours = node.conn();
    assert_same(
        &mut ours,
        &mut reloaded.conn(),
        "both loaded Redis's dump.rdb",
    );
    assert_eq!(digest(&mut ours), before, "the dataset Redis saved");
}

#[test]
fn a_ringcache_dump_passes_redis_check_rdb_and_loads_into_redis_unchanged() {
    let mut node = TestNode::start(&[]);
    let mut ours = node.conn();
    populate(&mut ours);
    save(&mut ours);
    let before = digest(&mut ours);
    let dir = take_dir(&mut node);
    let check = Command::new("redis-check-rdb")
        .arg(dir.path().join("dump.rdb"))
        .output()
        .expect("redis-check-rdb (from redis-tools) must be on PATH");
    let text = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(
        check.status.success() && text.contains("RDB looks OK"),
        "{text}"
    );
    let reloaded = TestNode::start_in(free_port(), copy_dump(dir.path()), &[]);
    let redis = RedisServer::start_in(dir, &[]);
    let mut theirs = redis.conn();
    assert_same(
        &mut reloaded.conn(),
        &mut theirs,
        "both loaded our dump.rdb",
    );
    assert_eq!(digest(&mut theirs), before, "the dataset ringcache saved");
}

/// DUMPs every key of db `from` on `src` and RESTOREs it, with its TTL, into
/// db `to` on each of `dsts`.
fn restore_all(src: &mut Connection, from: u8, dsts: &mut [&mut Connection], to: u8) {
    let _: () = redis::cmd("SELECT").arg(from).query(src).unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(src).unwrap();
    for d in dsts.iter_mut() {
        let _: () = redis::cmd("SELECT").arg(to).query(*d).unwrap();
    }
    for k in &keys {
        let payload: Vec<u8> = redis::cmd("DUMP").arg(k).query(src).unwrap();
        let pttl: i64 = redis::cmd("PTTL").arg(k).query(src).unwrap();
        for d in dsts.iter_mut() {
            let _: () = redis::cmd("RESTORE")
                .arg(k)
                .arg(pttl.max(0))
                .arg(&payload)
                .query(*d)
                .unwrap_or_else(|e| panic!("RESTORE {k}: {e}"));
        }
    }
}

#[test]
fn dump_payloads_of_every_type_restore_on_the_other_server_unchanged() {
    let source = RedisServer::start(&[]);
    let mut src = source.conn();
    populate(&mut src);
    // Redis's payloads restored on a ringcache and on a fresh redis-server.
    let (node, redis) = (TestNode::start(&[]), RedisServer::start(&[]));
    let (mut ours, mut theirs) = (node.conn(), redis.conn());
    restore_all(&mut src, 0, &mut [&mut ours, &mut theirs], 0);
    assert_same(&mut ours, &mut theirs, "restored from Redis's payloads");
    // Then ringcache's own payloads, the same way.
    let (node2, redis2) = (TestNode::start(&[]), RedisServer::start(&[]));
    let (mut ours2, mut theirs2) = (node2.conn(), redis2.conn());
    restore_all(&mut ours, 0, &mut [&mut ours2, &mut theirs2], 0);
    assert_same(
        &mut ours2,
        &mut theirs2,
        "restored from ringcache's payloads",
    );
}

/// Writes of every type, including a blocking pop served by a later push, on
/// `c` (the blocked client connects to `url`).
fn mixed_workload(c: &mut Connection, url: String) {
    populate(c);
    for i in 0..200 {
        let s = i.to_string();
        run(c, &["HINCRBY", "hash:ht", &format!("n{}", i % 50), "3"]);
        run(c, &["LPUSH", "list:small", &s]);
        run(c, &["RPOP", "list:large"]);
        run(c, &["SADD", "set:ht", &format!("n{i}")]);
        run(c, &["SPOP", "set:int-large"]);
        run(c, &["ZINCRBY", "zset:sl", "1.5", &format!("m{}", i % 77)]);
        run(c, &["ZPOPMIN", "zset:lp"]);
        run(c, &["SETBIT", "bits", &(i * 13).to_string(), "1"]);
        run(c, &["PFADD", "hll:sparse", &s]);
    }
    // A blocked pop served by a later push propagates as the pop.
    let blocked = std::thread::spawn(move || {
        let mut b = redis::Client::open(url).unwrap().get_connection().unwrap();
        let got: Option<(String, String)> = redis::cmd("BLPOP")
            .arg("queue")
            .arg(10)
            .query(&mut b)
            .unwrap();
        got
    });
    let waiting = wait_for(Duration::from_secs(10), || {
        let info: String = redis::cmd("INFO").arg("clients").query(c).unwrap();
        info.contains("blocked_clients:1")
    });
    assert!(waiting, "the BLPOP blocks");
    run(c, &["RPUSH", "queue", "job1", "job2"]);
    assert_eq!(
        blocked.join().unwrap(),
        Some(("queue".into(), "job1".into()))
    );
}

fn in_sync(primary: &mut Connection, replica: &mut Connection) -> bool {
    wait_for(Duration::from_secs(20), || {
        digest(primary) == digest(replica)
    })
}

#[test]
fn redis_replicates_a_mixed_type_workload_from_ringcache_and_back() {
    let node = TestNode::start(&[]);
    let p = node.port.to_string();
    let redis = RedisServer::start(&["--replicaof", "127.0.0.1", &p]);
    let mut ours = node.conn();
    mixed_workload(&mut ours, node.url());
    let mut replica = redis.conn();
    assert!(
        in_sync(&mut ours, &mut replica),
        "redis-server replica of ringcache"
    );
    assert_eq!(fingerprint(&mut replica), fingerprint(&mut ours));

    let primary = RedisServer::start(&["--repl-diskless-sync-delay", "0"]);
    let rp = primary.port.to_string();
    let ours_replica = TestNode::start(&["--replicaof", "127.0.0.1", &rp]);
    let mut theirs = primary.conn();
    mixed_workload(&mut theirs, primary.url());
    let mut rc = ours_replica.conn();
    assert!(
        in_sync(&mut theirs, &mut rc),
        "ringcache replica of redis-server"
    );
    assert_eq!(fingerprint(&mut rc), fingerprint(&mut theirs));
}

/// MIGRATE `KEYS …` of every key from `src` (db 0) to 127.0.0.1:`port` db 0.
fn migrate_all(src: &mut Connection, port: u16) {
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(src).unwrap();
    let mut cmd = redis::cmd("MIGRATE");
    cmd.arg("127.0.0.1")
        .arg(port)
        .arg("")
        .arg(0)
        .arg(5000)
        .arg("COPY")
        .arg("KEYS");
    for k in &keys {
        cmd.arg(k);
    }
    let r: String = cmd.query(src).unwrap_or_else(|e| panic!("MIGRATE: {e}"));
    assert_eq!(r, "OK");
}

#[test]
fn migrate_moves_every_type_both_ways_unchanged() {
    // From a ringcache to a ringcache and to a redis-server (COPY keeps the
    // source), then from that redis-server on to a fresh pair.
    let source = TestNode::start(&[]);
    let mut src = source.conn();
    populate(&mut src);
    let (node, redis) = (TestNode::start(&[]), RedisServer::start(&[]));
    migrate_all(&mut src, node.port);
    migrate_all(&mut src, redis.port);
    let mut theirs = redis.conn();
    assert_same(&mut node.conn(), &mut theirs, "migrated from ringcache");
    let (node2, redis2) = (TestNode::start(&[]), RedisServer::start(&[]));
    migrate_all(&mut theirs, node2.port);
    migrate_all(&mut theirs, redis2.port);
    assert_same(&mut node2.conn(), &mut redis2.conn(), "migrated from Redis");
}
