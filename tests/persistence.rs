//! Persistence through the real binary: RDB snapshots (SAVE, BGSAVE, save
//! points, SHUTDOWN), round trips with Debian's redis-server 7.0.15, and
//! damaged RDB files. The append-only file has its own suite (`tests/aof.rs`).

mod common;

use common::disk::{digest, info, redis_dump, save, start_fails, take_dir};

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::{cmd, free_port, info_names, run_within, wait_for, RedisServer, TestNode};
use redis::Connection;

/// Keys of every kind of string the RDB format encodes differently: integers
/// (8/16/32-bit and beyond), empty, long, compressible, binary, with and
/// without TTLs, in two databases.
fn fill(c: &mut Connection, tag: &str) {
    let q = |c: &mut Connection, args: &[&[u8]]| {
        let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("name"));
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query::<redis::Value>(c).expect("write");
    };
    let ints = [
        "0",
        "-1",
        "127",
        "-128",
        "32767",
        "40000",
        "-2147483648",
        "9223372036854775807",
        "-9223372036854775808",
    ];
    for (i, n) in ints.iter().enumerate() {
        q(
            c,
            &[b"SET", format!("{tag}:int:{i}").as_bytes(), n.as_bytes()],
        );
    }
    // Look like integers but are not canonical: kept as strings.
    for (i, s) in ["007", "+5", "1e3", " 1", "9223372036854775808"]
        .iter()
        .enumerate()
    {
        q(
            c,
            &[b"SET", format!("{tag}:notint:{i}").as_bytes(), s.as_bytes()],
        );
    }
    q(c, &[b"SET", format!("{tag}:empty").as_bytes(), b""]);
    q(
        c,
        &[
            b"SET",
            format!("{tag}:binary").as_bytes(),
            b"\x00\r\n\xff\xfe zero and CRLF",
        ],
    );
    q(
        c,
        &[
            b"SET",
            format!("{tag}:long").as_bytes(),
            "abcdefghij".repeat(2000).as_bytes(),
        ],
    );
    let noise: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    q(c, &[b"SET", format!("{tag}:noise").as_bytes(), &noise]);
    for len in [63usize, 64, 16383, 16384] {
        q(
            c,
            &[
                b"SET",
                format!("{tag}:len:{len}").as_bytes(),
                "x".repeat(len).as_bytes(),
            ],
        );
    }
    q(c, &[b"SET", b"12345", tag.as_bytes()]);
    q(
        c,
        &[
            b"SET",
            format!("{tag}:ttl:str").as_bytes(),
            b"v",
            b"PX",
            b"500000",
        ],
    );
    q(
        c,
        &[
            b"SET",
            format!("{tag}:ttl:int").as_bytes(),
            b"42",
            b"EX",
            b"9000",
        ],
    );
    q(
        c,
        &[b"APPEND", format!("{tag}:appended").as_bytes(), b"grown "],
    );
    q(
        c,
        &[b"APPEND", format!("{tag}:appended").as_bytes(), b"in place"],
    );
    for i in 0..500 {
        q(
            c,
            &[
                b"SET",
                format!("{tag}:many:{i}").as_bytes(),
                format!("value-{i}").as_bytes(),
            ],
        );
    }
    q(c, &[b"SELECT", b"3"]);
    q(c, &[b"SET", format!("{tag}:db3").as_bytes(), b"in db 3"]);
    q(
        c,
        &[
            b"SET",
            format!("{tag}:db3:ttl").as_bytes(),
            b"7",
            b"PX",
            b"800000",
        ],
    );
    q(c, &[b"SELECT", b"0"]);
}

/// (db, key) → (value, absolute expiry in ms or -1), read with PEXPIRETIME so
/// two servers compare exactly.
type Dataset = BTreeMap<(u8, Vec<u8>), (Vec<u8>, i64)>;

fn dataset(c: &mut Connection) -> Dataset {
    let mut out = Dataset::new();
    for db in 0..16u8 {
        redis::cmd("SELECT").arg(db).query::<()>(c).expect("SELECT");
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(c).expect("KEYS");
        for k in keys {
            let v: Vec<u8> = redis::cmd("GET").arg(&k).query(c).expect("GET");
            let at: i64 = redis::cmd("PEXPIRETIME")
                .arg(&k)
                .query(c)
                .expect("PEXPIRETIME");
            out.insert((db, k), (v, at));
        }
    }
    redis::cmd("SELECT").arg(0).query::<()>(c).expect("SELECT");
    out
}

#[test]
fn save_and_bgsave_survive_a_kill_and_count_in_info() {
    let mut n = TestNode::start(&[]);
    let mut c = n.conn();
    fill(&mut c, "a");
    assert!(
        info(&mut c, "rdb_changes_since_last_save")
            .parse::<u64>()
            .expect("n")
            > 500
    );
    let before: u64 = redis::cmd("LASTSAVE").query(&mut c).expect("LASTSAVE");
    std::thread::sleep(Duration::from_millis(1100));
    save(&mut c);
    let after: u64 = redis::cmd("LASTSAVE").query(&mut c).expect("LASTSAVE");
    assert!(after > before, "LASTSAVE {before} → {after}");
    assert_eq!(info(&mut c, "rdb_changes_since_last_save"), "0");
    assert_eq!(info(&mut c, "rdb_saves"), "1");
    assert_eq!(info(&mut c, "rdb_last_bgsave_status"), "ok");

    fill(&mut c, "b");
    // A key that expires between the save and the restart is skipped at load.
    cmd(&mut c, &["SET", "short", "x", "PX", "1500"]);
    let started: String = redis::cmd("BGSAVE").query(&mut c).expect("BGSAVE");
    assert_eq!(started, "Background saving started");
    assert!(wait_for(Duration::from_secs(20), || info(
        &mut c,
        "rdb_bgsave_in_progress"
    ) == "0"));
    assert_eq!(info(&mut c, "rdb_saves"), "2");
    assert_eq!(info(&mut c, "rdb_last_bgsave_status"), "ok");
    cmd(&mut c, &["DEL", "short"]);
    let want = dataset(&mut c);
    let want_digest = digest(&mut c);
    std::thread::sleep(Duration::from_millis(1600));

    n.restart();
    let mut c = n.conn();
    assert_eq!(dataset(&mut c), want);
    assert_eq!(digest(&mut c), want_digest);
    assert_eq!(
        info(&mut c, "rdb_last_load_keys_loaded"),
        want.len().to_string()
    );
    assert_eq!(info(&mut c, "rdb_last_load_keys_expired"), "1");
    assert_eq!(info(&mut c, "rdb_changes_since_last_save"), "0");
}

/// `SHUTDOWN args` over `c`, waits for the exit, starts the node again and
/// returns a new connection.
fn shutdown_and_restart(n: &mut TestNode, mut c: Connection, args: &[&str]) -> Connection {
    // The connection closes instead of a reply.
    let _ = redis::cmd("SHUTDOWN").arg(args).query::<()>(&mut c);
    assert!(
        n.wait_exit(Duration::from_secs(10)),
        "SHUTDOWN {args:?} did not exit"
    );
    n.restart();
    n.conn()
}

#[test]
fn save_points_and_shutdown_decide_what_reaches_the_disk() {
    let mut n = TestNode::start(&["--save", "1 1"]);
    let dump = n.dir.path().join("dump.rdb");
    let mut c = n.conn();
    cmd(&mut c, &["SET", "a", "1"]);
    assert!(
        wait_for(Duration::from_secs(5), || info(
            &mut c,
            "rdb_changes_since_last_save"
        ) == "0"),
        "the save point '1 1' did not save"
    );
    assert!(dump.exists());
    // SHUTDOWN with save points saves; NOSAVE does not.
    cmd(&mut c, &["SET", "b", "2"]);
    let mut c = shutdown_and_restart(&mut n, c, &[]);
    let got: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["a", "b"])
        .query(&mut c)
        .expect("MGET");
    assert_eq!(got, vec![Some("1".into()), Some("2".into())]);
    cmd(&mut c, &["CONFIG", "SET", "save", ""]);
    cmd(&mut c, &["SET", "c", "3"]);
    // No save points: a plain SHUTDOWN leaves the file as it was…
    let mut c = shutdown_and_restart(&mut n, c, &[]);
    let got: Option<String> = redis::cmd("GET").arg("c").query(&mut c).expect("GET");
    assert_eq!(got, None);
    // …SHUTDOWN SAVE writes it anyway, and so does SIGTERM with save points.
    cmd(&mut c, &["SET", "d", "4"]);
    let mut c = shutdown_and_restart(&mut n, c, &["SAVE"]);
    cmd(&mut c, &["SET", "e", "5"]);
    n.signal("TERM");
    assert!(n.wait_exit(Duration::from_secs(10)), "SIGTERM did not exit");
    n.restart();
    let mut c = n.conn();
    let got: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["d", "e"])
        .query(&mut c)
        .expect("MGET");
    assert_eq!(got, vec![Some("4".into()), Some("5".into())]);
    cmd(&mut c, &["SET", "f", "6"]);
    let mut c = shutdown_and_restart(&mut n, c, &["NOSAVE"]);
    let got: Option<String> = redis::cmd("GET").arg("f").query(&mut c).expect("GET");
    assert_eq!(got, None);
}

#[test]
fn a_redis_dump_loads_with_every_key_value_and_ttl() {
    let redis = RedisServer::start(&[]);
    let mut rc = redis.conn();
    fill(&mut rc, "r");
    let want = dataset(&mut rc);
    let want_digest = digest(&mut rc);
    let dir = redis_dump(&redis);
    let ours = TestNode::start_in(free_port(), dir, &[]);
    let mut c = ours.conn();
    assert_eq!(dataset(&mut c), want);
    assert_eq!(digest(&mut c), want_digest);
    assert_eq!(
        info(&mut c, "rdb_last_load_keys_loaded"),
        want.len().to_string()
    );
}

#[test]
fn a_ringcache_dump_passes_redis_check_rdb_and_loads_in_redis() {
    for flags in [
        &[][..],
        &["--rdbcompression", "no", "--rdbchecksum", "no"][..],
    ] {
        let mut n = TestNode::start(flags);
        let mut c = n.conn();
        fill(&mut c, "o");
        let want = dataset(&mut c);
        let want_digest = digest(&mut c);
        save(&mut c);
        let dir = take_dir(&mut n);
        let path = dir.path().join("dump.rdb");
        let check = run_within(
            Command::new("redis-check-rdb").arg(&path),
            None,
            Duration::from_secs(30),
        );
        assert!(
            check.success && check.stdout.contains("RDB looks OK"),
            "redis-check-rdb {flags:?}:\n{}{}",
            check.stdout,
            check.stderr
        );
        let redis = RedisServer::start_in(dir, &[]);
        let mut rc = redis.conn();
        assert_eq!(dataset(&mut rc), want, "{flags:?}");
        assert_eq!(digest(&mut rc), want_digest, "{flags:?}");
    }
}

#[test]
fn a_redis_dump_with_types_ringcache_lacks_is_refused_by_name() {
    // A module value (type 7) stands where redis-server wrote a stream: the
    // file has no checksum, so only the type is wrong.
    let redis = RedisServer::start(&["--rdbchecksum", "no"]);
    let mut rc = redis.conn();
    cmd(&mut rc, &["SET", "s", "v"]);
    cmd(&mut rc, &["HSET", "h", "f", "v"]);
    cmd(&mut rc, &["SADD", "set", "m"]);
    cmd(&mut rc, &["XADD", "module", "*", "f", "v"]);
    let dir = redis_dump(&redis);
    let path = dir.path().join("dump.rdb");
    let mut img = std::fs::read(&path).expect("read dump");
    let at = img
        .windows(8)
        .position(|w| w == b"\x13\x06module")
        .expect("the stream record");
    img[at] = 7;
    std::fs::write(&path, img).expect("write dump");
    let out = start_fails(dir.path(), &[]);
    assert!(
        out.contains("Unsupported content") && out.contains("key 'module'"),
        "{out}"
    );
}

#[test]
fn a_redis_dump_with_hashes_loads_with_equal_digests() {
    let redis = RedisServer::start(&[]);
    let mut rc = redis.conn();
    cmd(&mut rc, &["SET", "s", "v"]);
    cmd(
        &mut rc,
        &["HSET", "small", "f", "v", "n", "12", "neg", "-7"],
    );
    let mut big = redis::cmd("HSET");
    big.arg("big");
    for i in 0..600 {
        big.arg(format!("field:{i}")).arg(i * 7);
    }
    let _: i64 = big.query(&mut rc).expect("HSET");
    cmd(&mut rc, &["PEXPIRE", "small", "100000000"]);
    let want = cmd(&mut rc, &["DEBUG", "DIGEST"]);
    let dir = redis_dump(&redis);
    let node = TestNode::start_in(free_port(), dir, &[]);
    let mut c = node.conn();
    assert_eq!(cmd(&mut c, &["DEBUG", "DIGEST"]), want);
    assert_eq!(
        cmd(&mut c, &["HGET", "big", "field:599"]),
        cmd(&mut c, &["ECHO", "4193"])
    );
}

#[test]
fn damaged_rdb_files_are_refused_never_a_crash() {
    let mut n = TestNode::start(&[]);
    let mut c = n.conn();
    for i in 0..40 {
        let v = if i % 3 == 0 {
            "z".repeat(300)
        } else {
            format!("v{i}")
        };
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(v)
            .query(&mut c)
            .expect("SET");
    }
    cmd(&mut c, &["SET", "t", "1", "EX", "100"]);
    save(&mut c);
    let good = std::fs::read(n.dir.path().join("dump.rdb")).expect("read dump");
    n.kill();
    let mut rng = fastrand::Rng::with_seed(11);
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("dump.rdb");
    for round in 0..24 {
        let mut bad = good.clone();
        let what = if round % 2 == 0 {
            let at = rng.usize(9..bad.len());
            bad[at] ^= 1 << rng.u8(0..8);
            format!("bit flipped at {at}")
        } else {
            let cut = rng.usize(0..bad.len());
            bad.truncate(cut);
            format!("cut at {cut}")
        };
        std::fs::write(&path, &bad).expect("write");
        let out = start_fails(dir.path(), &[]);
        assert!(
            out.contains("dump.rdb")
                && (out.contains("checksum") || out.contains("offset") || out.contains("RDB")),
            "{what}: no clear error:\n{out}"
        );
    }
    // The intact file still loads: the refusals were the damage, not the setup.
    std::fs::write(&path, &good).expect("write");
    let ok = TestNode::start_in(free_port(), dir, &[]);
    assert_eq!(
        ok.query(&["DBSIZE"]).expect("DBSIZE"),
        redis::Value::Int(41)
    );
}

#[test]
fn info_persistence_has_redis_fields_in_redis_order() {
    for aof in ["no", "yes"] {
        let redis = RedisServer::start(&["--appendonly", aof]);
        let ours = TestNode::start(&["--appendonly", aof]);
        assert_eq!(
            info_names(&mut ours.conn(), "persistence"),
            info_names(&mut redis.conn(), "persistence"),
            "appendonly {aof}"
        );
    }
}
