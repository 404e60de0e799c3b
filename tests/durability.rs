//! Acknowledged writes that must survive, and replicas that must not diverge
//! (issue 19): a stream applied late (AOF load, a replica, a chained
//! replica, a full sync) never expires keys by itself; replicas leave
//! eviction to their primary. Each test failed before its fix.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::disk::{digest, rewrite_and_wait};
use common::{cmd, info_field, wait_for, RedisServer, TestNode};
use redis::Connection;

/// Keys whose TTL passes right after a command that keeps them (PERSIST,
/// PEXPIRE, GETEX PERSIST, SET without TTL) or keeps their TTL (INCR,
/// APPEND): whoever applies the stream after the TTL has passed must end
/// where the primary did.
const TTL_SCRIPT: &[&[&str]] = &[
    &["SET", "persisted", "v", "PX", "300"],
    &["PERSIST", "persisted"],
    &["SET", "extended", "v", "PX", "300"],
    &["PEXPIRE", "extended", "600000"],
    &["SET", "getex", "v", "PX", "300"],
    &["GETEX", "getex", "PERSIST"],
    &["SET", "overwritten", "v", "PX", "300"],
    &["SET", "overwritten", "w"],
    &["SET", "counter", "1", "PX", "300"],
    &["INCR", "counter"],
    &["SET", "appended", "a", "PX", "300"],
    &["APPEND", "appended", "b"],
    &["SET", "renamed", "v", "PX", "300"],
    &["PERSIST", "renamed"],
    &["RENAME", "renamed", "renamed2"],
];

/// Which keys exist after the script's TTLs passed, with value and TTL class.
fn observe(c: &mut Connection) -> Vec<(String, Option<String>, i64)> {
    [
        "persisted",
        "extended",
        "getex",
        "overwritten",
        "counter",
        "appended",
        "renamed2",
    ]
    .iter()
    .map(|k| {
        let v: Option<String> = redis::cmd("GET").arg(k).query(c).expect("GET");
        let ttl: i64 = redis::cmd("TTL").arg(k).query(c).expect("TTL");
        // -2 absent, -1 no TTL, 1 some TTL left.
        (k.to_string(), v, ttl.clamp(-2, 1))
    })
    .collect()
}

fn run_script(c: &mut Connection, script: &[&[&str]]) {
    for args in script {
        cmd(c, args);
    }
}

fn expected() -> Vec<(String, Option<String>, i64)> {
    let v = |s: &str| Some(s.to_string());
    vec![
        ("persisted".into(), v("v"), -1),
        ("extended".into(), v("v"), 1),
        ("getex".into(), v("v"), -1),
        ("overwritten".into(), v("w"), -1),
        ("counter".into(), None, -2),
        ("appended".into(), None, -2),
        ("renamed2".into(), v("v"), -1),
    ]
}

#[test]
fn an_aof_replayed_after_the_ttls_passed_keeps_what_the_primary_kept() {
    // Redis 7.0.15 first, as the reference for the same script.
    let mut redis = RedisServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    run_script(&mut redis.conn(), TTL_SCRIPT);
    std::thread::sleep(Duration::from_millis(600));
    let before = observe(&mut redis.conn());
    let dir = std::mem::replace(&mut redis.dir, tempfile::tempdir().expect("dir"));
    drop(redis);
    let redis = RedisServer::start_in(dir, &["--appendonly", "yes"]);
    let reference = observe(&mut redis.conn());
    assert_eq!(before, expected());
    assert_eq!(reference, expected(), "redis-server after its AOF restart");

    for preamble in ["no", "yes"] {
        let mut n = TestNode::start(&[
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--aof-use-rdb-preamble",
            preamble,
        ]);
        let mut c = n.conn();
        // Half the script, a rewrite (the keys go into its base with their
        // TTLs), then the rest in the tail.
        run_script(&mut c, &TTL_SCRIPT[..7]);
        rewrite_and_wait(&mut c);
        run_script(&mut c, &TTL_SCRIPT[7..]);
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(observe(&mut c), expected(), "live, preamble {preamble}");
        let live = digest(&mut c);
        n.restart();
        let mut c = n.conn();
        assert_eq!(
            observe(&mut c),
            expected(),
            "after the AOF restart, preamble {preamble}"
        );
        assert_eq!(digest(&mut c), live, "preamble {preamble}");
    }
}

#[test]
fn a_recorded_stream_replayed_after_every_ttl_passed_matches_the_primary() {
    let mut primary = TestNode::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = primary.conn();
    // A random mix over 300 keys: short TTLs that pass, long ones that stay,
    // and every command that keeps a key or its TTL alive.
    let mut rng = fastrand::Rng::with_seed(19);
    for _ in 0..3000 {
        let k = format!("k{}", rng.u32(..300));
        let ms = if rng.bool() { "200" } else { "3600000" };
        let args: Vec<String> = match rng.u32(..10) {
            0 | 1 => vec!["SET".into(), k, "v".into(), "PX".into(), ms.into()],
            2 => vec!["PERSIST".into(), k],
            3 => vec!["INCR".into(), format!("n{}", rng.u32(..50))],
            4 => vec![
                "SET".into(),
                format!("n{}", rng.u32(..50)),
                "1".into(),
                "PX".into(),
                ms.into(),
            ],
            5 => vec!["APPEND".into(), k, "x".into()],
            6 => vec!["PEXPIRE".into(), k, ms.into()],
            7 => vec!["GETEX".into(), k, "PERSIST".into()],
            8 => vec!["SET".into(), k, "w".into(), "KEEPTTL".into()],
            _ => vec!["DEL".into(), k],
        };
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let _: redis::Value = {
            let mut q = redis::cmd(args[0]);
            for a in &args[1..] {
                q.arg(*a);
            }
            q.query(&mut c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
        };
    }
    // Every short TTL passes and the primary's expiry removes those keys (its
    // DELs are part of the recorded stream).
    std::thread::sleep(Duration::from_millis(400));
    let settled = wait_for(Duration::from_secs(10), || {
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).expect("KEYS");
        keys.iter().all(|k| {
            let pttl: i64 = redis::cmd("PTTL").arg(k).query(&mut c).expect("PTTL");
            pttl == -1 || pttl > 1_000_000
        }) && info_field(&mut c, "stats", "expired_keys")
            .parse::<u64>()
            .expect("n")
            > 0
    });
    assert!(settled, "the primary did not expire its short-TTL keys");
    // The expiry DELs ride in the stream before this acknowledged write: once
    // it is acknowledged (appendfsync always), the file holds them all.
    cmd(&mut c, &["SET", "sentinel", "last"]);
    let want = digest(&mut c);
    let keys: i64 = redis::cmd("DBSIZE").query(&mut c).expect("DBSIZE");
    assert!(keys > 50, "a dataset worth comparing: {keys} keys");
    // Replay the recorded stream in a fresh process, after every TTL passed.
    let dir = common::disk::take_dir(&mut primary);
    let replay = TestNode::start_in(
        common::free_port(),
        dir,
        &["--appendonly", "yes", "--appendfsync", "always"],
    );
    assert_eq!(digest(&mut replay.conn()), want);
}

/// `n` small keys, in MSETs of 1000.
fn populate(c: &mut Connection, n: usize) {
    for chunk in 0..n / 1000 {
        let mut q = redis::cmd("MSET");
        for i in chunk * 1000..(chunk + 1) * 1000 {
            q.arg(format!("key:{i:07}")).arg(i);
        }
        q.query::<()>(c).expect("MSET");
    }
}

fn replica_of(port: u16) -> TestNode {
    TestNode::start(&["--replicaof", "127.0.0.1", &port.to_string()])
}

fn offset(c: &mut Connection, field: &str) -> i64 {
    info_field(c, "replication", field).parse().expect("offset")
}

/// Waits until `r` applied everything `p` sent and both hold the same data.
fn assert_converges(p: &mut Connection, r: &mut Connection, what: &str) {
    let ok = wait_for(Duration::from_secs(10), || {
        offset(r, "slave_repl_offset") >= offset(p, "master_repl_offset") && digest(p) == digest(r)
    });
    assert!(
        ok,
        "{what} diverged: primary {:?} vs replica {:?}",
        observe(p),
        observe(r)
    );
}

#[test]
fn replicas_applying_the_stream_late_never_expire_keys_themselves() {
    // A chain: primary -> r1 -> r2. Both replicas are stopped while the
    // primary runs the script, so they apply it after its TTLs passed.
    let primary = TestNode::start(&[]);
    let r1 = replica_of(primary.port);
    let r2 = replica_of(r1.port);
    let (mut pc, mut c1, mut c2) = (primary.conn(), r1.conn(), r2.conn());
    cmd(&mut pc, &["SET", "warm", "up"]);
    assert_converges(&mut pc, &mut c1, "r1 before");
    assert_converges(&mut c1, &mut c2, "r2 before");
    r1.signal("STOP");
    r2.signal("STOP");
    run_script(&mut pc, TTL_SCRIPT);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(observe(&mut pc), expected());
    r1.signal("CONT");
    r2.signal("CONT");
    assert_converges(&mut pc, &mut c1, "r1");
    assert_converges(&mut c1, &mut c2, "r2 (chained)");
    assert_eq!(observe(&mut c2), expected());
}

#[test]
fn a_full_sync_keeps_keys_whose_ttl_passes_during_the_transfer() {
    let primary = TestNode::start(&[]);
    let mut pc = primary.conn();
    // A snapshot large enough that the replica cannot have loaded it in the
    // moment between the point and the SIGSTOP below.
    populate(&mut pc, 300_000);
    cmd(&mut pc, &["SET", "late", "v", "PX", "4000"]);
    let set_at = Instant::now();
    let replica = replica_of(primary.port);
    let mut rc = replica.conn();
    // Stop the replica as soon as the primary has it: it cannot have loaded
    // 300,000 keys by then. The primary marks its snapshot's point on PSYNC.
    let attached = wait_for(Duration::from_secs(10), || {
        info_field(&mut pc, "replication", "connected_slaves") == "1"
    });
    replica.signal("STOP");
    assert!(attached, "the replica never attached");
    std::thread::sleep(Duration::from_millis(100));
    // After the point: the stream, not the snapshot, keeps the key.
    let kept: i64 = redis::cmd("PERSIST")
        .arg("late")
        .query(&mut pc)
        .expect("PERSIST");
    assert_eq!(kept, 1, "PERSIST came too late for this test");
    std::thread::sleep(Duration::from_millis(4100).saturating_sub(set_at.elapsed()));
    replica.signal("CONT");
    let ok = wait_for(Duration::from_secs(30), || {
        info_field(&mut rc, "replication", "master_link_status") == "up"
            && offset(&mut rc, "slave_repl_offset") >= offset(&mut pc, "master_repl_offset")
    });
    assert!(
        ok,
        "the replica did not finish its sync:\n{}\n{}",
        primary.log(),
        replica.log()
    );
    let got: Option<String> = redis::cmd("GET").arg("late").query(&mut rc).expect("GET");
    assert_eq!(got.as_deref(), Some("v"));
    assert_eq!(digest(&mut rc), digest(&mut pc));
}

#[test]
fn a_replica_leaves_eviction_to_its_primary() {
    let primary = TestNode::start(&[]);
    let mut pc = primary.conn();
    let p = primary.port.to_string();
    let replica = TestNode::start(&[
        "--replicaof",
        "127.0.0.1",
        &p,
        "--maxmemory",
        "10mb",
        "--maxmemory-policy",
        "allkeys-lru",
    ]);
    let mut rc = replica.conn();
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("replica-ignore-maxmemory")
        .query(&mut rc)
        .expect("CONFIG GET");
    assert_eq!(got, ["replica-ignore-maxmemory", "yes"], "Redis's default");
    populate(&mut pc, 200_000);
    assert_converges(&mut pc, &mut rc, "the replica");
    let used: u64 = info_field(&mut rc, "memory", "used_memory")
        .parse()
        .expect("n");
    assert!(
        used > 12 << 20,
        "the replica holds more than its maxmemory: {used}"
    );
    // Reads on the replica must not evict either.
    for i in 0..100 {
        let _: Option<String> = redis::cmd("GET")
            .arg(format!("key:{i:07}"))
            .query(&mut rc)
            .expect("GET");
    }
    let evicted = |c: &mut Connection| info_field(c, "stats", "evicted_keys");
    assert_eq!(evicted(&mut rc), "0");
    let dbsize = |c: &mut Connection| redis::cmd("DBSIZE").query::<i64>(c).expect("DBSIZE");
    assert_eq!(dbsize(&mut rc), dbsize(&mut pc));
    assert_eq!(digest(&mut rc), digest(&mut pc));
    // With the option off the replica evicts for itself, as in Redis.
    cmd(
        &mut rc,
        &["CONFIG", "SET", "replica-ignore-maxmemory", "no"],
    );
    let _: Option<String> = redis::cmd("GET")
        .arg("key:0000001")
        .query(&mut rc)
        .expect("GET");
    assert_ne!(evicted(&mut rc), "0");
}

/// Client threads writing until `finish`, which returns what each reports.
struct Load<T> {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<T>>,
}

impl<T> Load<T> {
    fn finish(self) -> Vec<T> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|t| t.join().expect("writer"))
            .collect()
    }
}

/// `n` writers that SET random keys of their own; each reports how many.
fn setters(url: &str, n: usize) -> Load<u64> {
    let stop = Arc::new(AtomicBool::new(false));
    let threads = (0..n)
        .map(|w| {
            let (url, stop) = (url.to_string(), stop.clone());
            std::thread::spawn(move || {
                let mut c = redis::Client::open(url)
                    .and_then(|c| c.get_connection())
                    .expect("connect");
                let mut done = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let k = format!("w:{w}:{}", fastrand::u32(..100_000));
                    let _: () = redis::cmd("SET")
                        .arg(k)
                        .arg(done)
                        .query(&mut c)
                        .expect("SET");
                    done += 1;
                }
                done
            })
        })
        .collect();
    Load { stop, threads }
}

#[test]
fn flushall_and_concurrent_writes_reach_the_replica_in_their_order() {
    let primary = TestNode::start(&[]);
    let replica = replica_of(primary.port);
    let (mut pc, mut rc) = (primary.conn(), replica.conn());
    let load = setters(&primary.url(), 4);
    for round in 0..5 {
        // A full keyspace makes the flush walk long enough for writes to
        // land in slots it already emptied.
        populate(&mut pc, 100_000);
        let what = if round % 2 == 0 {
            "FLUSHALL"
        } else {
            "FLUSHDB"
        };
        cmd(&mut pc, &[what]);
    }
    let writes: u64 = load.finish().into_iter().sum();
    assert!(writes > 1000, "the writers ran alongside: {writes}");
    assert_converges(&mut pc, &mut rc, "the replica");
}

#[test]
fn exec_runs_isolated_from_other_clients() {
    let n = TestNode::start(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (url, stop) = (n.url(), stop.clone());
        std::thread::spawn(move || {
            let mut c = redis::Client::open(url)
                .and_then(|c| c.get_connection())
                .expect("connect");
            let mut torn = Vec::new();
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let v: Option<i64> = redis::cmd("GET").arg("x").query(&mut c).expect("GET");
                reads += 1;
                if let Some(v) = v.filter(|v| v % 200 != 0) {
                    torn.push(v);
                }
            }
            (reads, torn)
        })
    };
    let mut c = n.conn();
    for _ in 0..300 {
        let mut p = redis::pipe();
        p.atomic();
        for _ in 0..200 {
            p.cmd("INCR").arg("x").ignore();
        }
        let () = p.query(&mut c).expect("EXEC");
    }
    stop.store(true, Ordering::Relaxed);
    let (reads, torn) = reader.join().expect("reader");
    assert!(reads > 100, "the reader ran alongside: {reads}");
    assert!(
        torn.is_empty(),
        "{} of {reads} reads saw a transaction half done, e.g. {:?}",
        torn.len(),
        &torn[..torn.len().min(5)]
    );
}

/// The commands of a RESP file (an AOF without preamble), as strings.
fn aof_commands(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let line = |r: &mut &[u8]| -> String {
        let end = r.windows(2).position(|w| w == b"\r\n").expect("CRLF");
        let l = String::from_utf8_lossy(&r[..end]).into_owned();
        *r = &r[end + 2..];
        l
    };
    while !rest.is_empty() {
        let n: usize = line(&mut rest)[1..].parse().expect("array length");
        let mut argv = Vec::with_capacity(n);
        for _ in 0..n {
            let len: usize = line(&mut rest)[1..].parse().expect("bulk length");
            argv.push(String::from_utf8_lossy(&rest[..len]).into_owned());
            rest = &rest[len + 2..];
        }
        out.push(argv);
    }
    out
}

#[test]
fn a_transactions_writes_are_one_block_in_the_stream() {
    // appendfsync no: the writers are not slowed down by fsyncs.
    let n = TestNode::start(&["--appendonly", "yes", "--appendfsync", "no"]);
    let load = setters(&n.url(), 3);
    let mut c = n.conn();
    for i in 0..100 {
        let mut p = redis::pipe();
        p.atomic();
        for j in 0..100 {
            p.cmd("SET").arg(format!("tx:{i}:{j}")).arg(j).ignore();
        }
        let () = p.query(&mut c).expect("EXEC");
    }
    load.finish();
    let aof = std::fs::read(n.dir.path().join("appendonly.aof")).expect("AOF");
    let (mut inside, mut blocks, mut intruders) = (false, 0, Vec::new());
    for argv in aof_commands(&aof) {
        match argv[0].as_str() {
            "MULTI" => inside = true,
            "EXEC" => {
                inside = false;
                blocks += 1;
            }
            _ if inside && argv.get(1).is_some_and(|k| k.starts_with("w:")) => {
                intruders.push(argv.join(" "))
            }
            _ => {}
        }
    }
    assert_eq!(blocks, 100);
    assert!(
        intruders.is_empty(),
        "{} other clients' writes inside transactions, e.g. {:?}",
        intruders.len(),
        &intruders[..intruders.len().min(3)]
    );
}

#[test]
fn client_pause_write_holds_an_exec_of_queued_writes() {
    let n = TestNode::start(&[]);
    let mut c = n.conn();
    cmd(&mut c, &["MULTI"]);
    cmd(&mut c, &["SET", "k", "v"]);
    let mut admin = n.conn();
    cmd(&mut admin, &["CLIENT", "PAUSE", "1000", "WRITE"]);
    let paused_at = Instant::now();
    let exec = std::thread::spawn(move || {
        let r: Vec<String> = redis::cmd("EXEC").query(&mut c).expect("EXEC");
        (r, paused_at.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    let got: Option<String> = redis::cmd("GET").arg("k").query(&mut admin).expect("GET");
    assert_eq!(got, None, "EXEC wrote during CLIENT PAUSE WRITE");
    let (r, took) = exec.join().expect("EXEC thread");
    assert_eq!(r, ["OK"]);
    assert!(
        took >= Duration::from_millis(800),
        "EXEC ran after {took:?}"
    );
}

#[test]
fn cluster_setslot_inside_transactions_cannot_deadlock() {
    let n = TestNode::start(&["--cluster-enabled", "yes"]);
    let mut c = n.conn();
    cmd(&mut c, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
    assert!(wait_for(Duration::from_secs(10), || {
        n.text(&["CLUSTER", "INFO"]).contains("cluster_state:ok")
    }));
    let me = n.text(&["CLUSTER", "MYID"]);
    let slot = |k: &str| -> String {
        let s: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(k)
            .query(&mut n.conn())
            .expect("KEYSLOT");
        s.to_string()
    };
    let pairs = [("{a}k", slot("{b}k")), ("{b}k", slot("{a}k"))];
    let threads: Vec<_> = pairs
        .into_iter()
        .map(|(key, other_slot)| {
            let (url, me) = (n.url(), me.clone());
            std::thread::spawn(move || {
                let mut c = redis::Client::open(url)
                    .and_then(|c| c.get_connection())
                    .expect("connect");
                c.set_read_timeout(Some(Duration::from_secs(5)))
                    .expect("timeout");
                c.set_write_timeout(Some(Duration::from_secs(5)))
                    .expect("timeout");
                for i in 0..300 {
                    let mut p = redis::pipe();
                    p.atomic();
                    // Writes first, so both transactions hold their own slot
                    // long enough to meet.
                    for _ in 0..100 {
                        p.cmd("SET").arg(key).arg(i).ignore();
                    }
                    p.cmd("CLUSTER")
                        .arg("SETSLOT")
                        .arg(&other_slot)
                        .arg("NODE")
                        .arg(&me)
                        .ignore();
                    p.query::<()>(&mut c)?;
                }
                Ok::<(), redis::RedisError>(())
            })
        })
        .collect();
    for t in threads {
        let r = t.join().expect("thread");
        assert!(r.is_ok(), "a transaction hung or failed: {r:?}");
    }
}

/// `n` writers that INCR their own counter until finished (or an error: the
/// kill); each reports the last value it saw acknowledged.
fn counters(url: &str, n: usize) -> Load<i64> {
    let stop = Arc::new(AtomicBool::new(false));
    let threads = (0..n)
        .map(|w| {
            let (url, stop) = (url.to_string(), stop.clone());
            std::thread::spawn(move || {
                let Ok(mut c) = redis::Client::open(url).and_then(|c| c.get_connection()) else {
                    return 0;
                };
                let mut acked = 0;
                while !stop.load(Ordering::Relaxed) {
                    match redis::cmd("INCR")
                        .arg(format!("ctr:{w}"))
                        .query::<i64>(&mut c)
                    {
                        Ok(v) => acked = v,
                        Err(_) => break,
                    }
                }
                acked
            })
        })
        .collect();
    Load { stop, threads }
}

/// Every counter holds at least what its writer saw acknowledged.
fn assert_no_counter_lost(c: &mut Connection, acked: &[i64]) {
    for (w, &a) in acked.iter().enumerate() {
        let v: Option<i64> = redis::cmd("GET")
            .arg(format!("ctr:{w}"))
            .query(c)
            .expect("GET");
        assert!(
            v.unwrap_or(0) >= a,
            "ctr:{w} acknowledged {a}, holds {v:?} after the restart"
        );
    }
}

#[test]
fn a_failed_aof_rewrite_keeps_every_acknowledged_write() {
    let mut n = TestNode::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = n.conn();
    // Snapshots of this take long enough for a rewrite to find one running.
    populate(&mut c, 200_000);
    let writers = counters(&n.url(), 4);
    let mut failed = 0;
    for _ in 0..10 {
        // A full sync (redis-cli's replica mode) holds the keyspace's one
        // snapshot; the rewrite started meanwhile fails.
        let mut sync = std::process::Command::new("redis-cli")
            .args(["-p", &n.port.to_string(), "--replica"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-cli --replica");
        wait_for(Duration::from_secs(5), || {
            info_field(&mut c, "replication", "connected_slaves") == "1"
        });
        let _: String = redis::cmd("BGREWRITEAOF")
            .query(&mut c)
            .expect("BGREWRITEAOF");
        wait_for(Duration::from_secs(10), || {
            info_field(&mut c, "persistence", "aof_rewrite_in_progress") == "0"
        });
        if info_field(&mut c, "persistence", "aof_last_bgrewrite_status") == "err" {
            failed += 1;
        }
        let _ = sync.kill();
        let _ = sync.wait();
    }
    assert!(
        failed > 0,
        "no rewrite failed: the test did not test anything"
    );
    std::thread::sleep(Duration::from_millis(200));
    n.restart();
    let acked = writers.finish();
    assert_no_counter_lost(&mut n.conn(), &acked);
}

/// `strace` attached to every thread of `pid` with `args` (syscall fault or
/// delay injection); returns once it is attached. Killed on drop.
struct Strace(std::process::Child);

impl Strace {
    fn attach(pid: u32, args: &[&str]) -> Strace {
        use std::io::BufRead;
        let mut child = std::process::Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "-p", &pid.to_string()])
            .args(args)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("strace is required (scripts/deps.sh installs it)");
        // -qq hides the attach messages; strace is attached once the target
        // shows it as its tracer.
        let status = format!("/proc/{pid}/status");
        let attached = wait_for(Duration::from_secs(10), || {
            std::fs::read_to_string(&status).is_ok_and(|s| {
                s.lines()
                    .any(|l| l.starts_with("TracerPid:") && !l.ends_with("\t0"))
            })
        });
        if !attached {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(e) = child.stderr.take() {
                for l in std::io::BufReader::new(e)
                    .lines()
                    .map_while(Result::ok)
                    .take(5)
                {
                    err.push_str(&l);
                }
            }
            panic!("strace did not attach: {err}");
        }
        Strace(child)
    }
}

impl Drop for Strace {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_aof_rewrite_finishing_slowly_does_not_stall_commands() {
    let n = TestNode::start(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    let mut c = n.conn();
    populate(&mut c, 20_000);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (url, stop) = (n.url(), stop.clone());
        std::thread::spawn(move || {
            let mut c = redis::Client::open(url)
                .and_then(|c| c.get_connection())
                .expect("connect");
            while !stop.load(Ordering::Relaxed) {
                let _: () = redis::cmd("SET")
                    .arg("hot")
                    .arg("v")
                    .query(&mut c)
                    .expect("SET");
            }
        })
    };
    // The rewrite's rename into place takes a second.
    let tracer = Strace::attach(
        n.pid(),
        &[
            "-e",
            "trace=rename,renameat,renameat2",
            "-e",
            "inject=rename,renameat,renameat2:delay_enter=1000000",
        ],
    );
    let _: String = redis::cmd("BGREWRITEAOF")
        .query(&mut c)
        .expect("BGREWRITEAOF");
    // For as long as the rewrite runs: GETs of the key the writer keeps
    // writing, and INFO replication, which reads the stream's offset.
    let mut worst = Duration::ZERO;
    let started = Instant::now();
    let mut gets = 0;
    loop {
        let t = Instant::now();
        let _: Option<String> = redis::cmd("GET").arg("hot").query(&mut c).expect("GET");
        let _: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut c)
            .expect("INFO");
        worst = worst.max(t.elapsed());
        gets += 1;
        if gets % 100 == 0 && info_field(&mut c, "persistence", "aof_rewrite_in_progress") == "0" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the rewrite did not end"
        );
    }
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the rename was not delayed"
    );
    drop(tracer);
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    assert_eq!(
        info_field(&mut c, "persistence", "aof_last_bgrewrite_status"),
        "ok"
    );
    assert!(
        worst < Duration::from_millis(300),
        "a command waited {worst:?}"
    );
}

#[test]
fn an_error_after_the_rewrites_rename_keeps_writing_the_new_file() {
    let mut n = TestNode::start(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    let mut c = n.conn();
    populate(&mut c, 1000);
    // The first fsync(2) of a rewrite is the directory's, after the rename
    // (file data is flushed with fdatasync).
    let tracer = Strace::attach(
        n.pid(),
        &["-e", "trace=fsync", "-e", "inject=fsync:error=EIO:when=1"],
    );
    rewrite_and_wait(&mut c);
    drop(tracer);
    let writers = counters(&n.url(), 2);
    std::thread::sleep(Duration::from_millis(500));
    let acked = writers.finish();
    assert!(acked.iter().all(|&a| a > 0));
    n.restart();
    let mut c = n.conn();
    assert_no_counter_lost(&mut c, &acked);
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("DBSIZE"),
        1002
    );
}

#[test]
fn a_rewrite_whose_rename_fails_leaves_the_old_file_complete() {
    let mut n = TestNode::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = n.conn();
    populate(&mut c, 20_000);
    let writers = counters(&n.url(), 4);
    let tracer = Strace::attach(
        n.pid(),
        &[
            "-e",
            "trace=rename,renameat,renameat2",
            "-e",
            "inject=rename,renameat,renameat2:delay_enter=300000:error=EIO",
        ],
    );
    rewrite_and_wait(&mut c);
    drop(tracer);
    assert_eq!(
        info_field(&mut c, "persistence", "aof_last_bgrewrite_status"),
        "err"
    );
    std::thread::sleep(Duration::from_millis(300));
    n.restart();
    let acked = writers.finish();
    let mut c = n.conn();
    assert_no_counter_lost(&mut c, &acked);
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("DBSIZE"),
        20_004
    );
}

/// `n` keys of `size`-byte random values (which LZF cannot shrink) named
/// `{prefix}:{i}`, in pipelines of 500 SETs.
fn fill_values(c: &mut Connection, prefix: &str, n: usize, size: usize) {
    let mut rng = fastrand::Rng::new();
    for chunk in 0..n.div_ceil(500) {
        let mut p = redis::pipe();
        for i in chunk * 500..((chunk + 1) * 500).min(n) {
            let value: String = (0..size).map(|_| rng.alphanumeric()).collect();
            p.cmd("SET")
                .arg(format!("{prefix}:{i}"))
                .arg(value)
                .ignore();
        }
        if let Err(e) = p.query::<()>(c) {
            let e = e.to_string();
            panic!("SET pipeline: {}", &e[..e.len().min(300)]);
        }
    }
}

fn used_memory(c: &mut Connection, field: &str) -> u64 {
    info_field(c, "memory", field).parse().expect("bytes")
}

#[test]
fn wait_counts_a_replica_only_once_it_acknowledged() {
    // The AOF keeps the stream recording, so the SET has an offset.
    let n = TestNode::start(&["--appendonly", "yes"]);
    let mut c = n.conn();
    cmd(&mut c, &["SET", "k", "v"]);
    // redis-cli's replica mode takes the full sync but never acknowledges.
    let mut sync = std::process::Command::new("redis-cli")
        .args(["-p", &n.port.to_string(), "--replica"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-cli --replica");
    let online = wait_for(Duration::from_secs(10), || {
        n.text(&["INFO", "replication"]).contains("state=online")
    });
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(300)
        .query(&mut c)
        .expect("WAIT");
    let _ = sync.kill();
    let _ = sync.wait();
    assert!(online, "the snapshot was never sent");
    assert_eq!(
        acked, 0,
        "a replica that acknowledged nothing counted for WAIT"
    );
}

#[test]
fn a_stopped_replica_is_dropped_at_its_output_buffer_limit() {
    let primary = TestNode::start(&["--client-output-buffer-limit", "replica 16mb 8mb 60"]);
    let mut pc = primary.conn();
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("client-output-buffer-limit")
        .query(&mut pc)
        .expect("CONFIG GET");
    assert_eq!(
        got[1], "normal 0 0 0 slave 16777216 8388608 60 pubsub 33554432 8388608 60",
        "Redis's form"
    );
    let replica = replica_of(primary.port);
    let mut rc = replica.conn();
    cmd(&mut pc, &["SET", "warm", "up"]);
    assert_converges(&mut pc, &mut rc, "before");
    let before = used_memory(&mut pc, "used_memory");
    replica.signal("STOP");
    // 64 MB of writes over 1,000 keys: the dataset stays small, the stopped
    // replica's share of the stream does not.
    for _ in 0..16 {
        fill_values(&mut pc, "big", 1000, 4000);
    }
    let dropped = wait_for(Duration::from_secs(5), || {
        info_field(&mut pc, "replication", "connected_slaves") == "0"
    });
    let after = used_memory(&mut pc, "used_memory");
    replica.signal("CONT");
    assert!(dropped, "the replica was never dropped");
    assert!(
        after < before + (24 << 20),
        "the primary kept the stopped replica's stream: {before} -> {after} bytes"
    );
    // It comes back with a full sync and catches up.
    assert_converges(&mut pc, &mut rc, "after the drop");
}

#[test]
fn a_full_sync_streams_the_snapshot_instead_of_building_it_in_memory() {
    let primary = TestNode::start(&[]);
    let mut pc = primary.conn();
    // About 60 MB of snapshot.
    fill_values(&mut pc, "v", 300_000, 200);
    let peak_before = used_memory(&mut pc, "used_memory");
    let replica = replica_of(primary.port);
    let mut rc = replica.conn();
    let mut peak = peak_before;
    let synced = wait_for(Duration::from_secs(60), || {
        peak = peak.max(used_memory(&mut pc, "used_memory"));
        info_field(&mut rc, "replication", "master_link_status") == "up"
    });
    assert!(synced, "the replica did not sync");
    peak = peak.max(used_memory(&mut pc, "used_memory_peak"));
    assert!(
        peak < peak_before + (24 << 20),
        "the full sync held the snapshot in memory: {peak_before} -> peak {peak} bytes"
    );
    assert_eq!(digest(&mut rc), digest(&mut pc));
}

#[test]
fn replication_buffers_do_not_make_a_primary_evict() {
    let primary = TestNode::start(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut pc = primary.conn();
    // 32 MB of data: well under maxmemory.
    fill_values(&mut pc, "k", 8000, 4000);
    let replica = replica_of(primary.port);
    let mut rc = replica.conn();
    assert_converges(&mut pc, &mut rc, "before");
    replica.signal("STOP");
    // Overwrite the same keys twice: 64 MB of stream for the stopped replica
    // (under its 256 MB limit), no growth of the data.
    for _ in 0..2 {
        fill_values(&mut pc, "k", 8000, 4000);
    }
    let evicted = info_field(&mut pc, "stats", "evicted_keys");
    replica.signal("CONT");
    assert_eq!(evicted, "0", "the primary evicted for its replica's buffer");
    assert_converges(&mut pc, &mut rc, "after");
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut pc).expect("DBSIZE"),
        8000
    );
}

#[test]
fn a_backward_wall_clock_step_keeps_lfu_counts() {
    let clock = common::FakeClock::new();
    let env = clock.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let n = TestNode::start_with_env(
        &[
            "--maxmemory",
            "24mb",
            "--maxmemory-policy",
            "allkeys-lfu",
            "--maxmemory-samples",
            "10",
        ],
        &env,
    );
    let mut c = n.conn();
    fill_values(&mut c, "cold", 8000, 1000);
    fill_values(&mut c, "hot", 1000, 1000);
    // Frequently used keys earn a higher LFU count.
    for _ in 0..200 {
        let mut p = redis::pipe();
        for i in 0..1000 {
            p.cmd("GET").arg(format!("hot:{i}")).ignore();
        }
        p.query::<()>(&mut c).expect("GET pipeline");
    }
    let freq = |c: &mut Connection| -> i64 {
        redis::cmd("OBJECT")
            .arg("FREQ")
            .arg("hot:7")
            .query(c)
            .expect("OBJECT FREQ")
    };
    let before = freq(&mut c);
    // An hour back: counts must not decay as if 45 days had passed.
    clock.step_to(-3600);
    let after = freq(&mut c);
    fill_values(&mut c, "new", 14_000, 1000);
    let evicted: u64 = info_field(&mut c, "stats", "evicted_keys")
        .parse()
        .expect("n");
    let hot_left: usize = (0..1000)
        .filter(|i| {
            redis::cmd("EXISTS")
                .arg(format!("hot:{i}"))
                .query::<i64>(&mut c)
                .expect("EXISTS")
                == 1
        })
        .count();
    let pid = n.pid();
    drop(n);
    common::FakeClock::forget(pid);
    assert!(before > 5, "the hot keys earned no count: {before}");
    assert_eq!(after, before, "the wall clock's step decayed the LFU count");
    assert!(evicted > 2000, "{evicted} evicted");
    assert!(
        hot_left >= 990,
        "frequently used keys were evicted: {} of 1000 gone ({evicted} evicted)",
        1000 - hot_left
    );
}

#[test]
fn a_save_racing_a_replicas_snapshot_is_not_a_failed_save() {
    // Save points every second, and MISCONF on a failed save (the default).
    let n = TestNode::start(&["--save", "1 1"]);
    let mut c = n.conn();
    // 40 MB of snapshot: more than the sockets can take from a stopped reader.
    fill_values(&mut c, "v", 200_000, 200);
    let mut sync = std::process::Command::new("redis-cli")
        .args(["-p", &n.port.to_string(), "--replica"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-cli --replica");
    let attached = wait_for(Duration::from_secs(10), || {
        info_field(&mut c, "replication", "connected_slaves") == "1"
    });
    // The stopped reader holds the keyspace's one snapshot open.
    let stop = std::process::Command::new("kill")
        .args(["-STOP", &sync.id().to_string()])
        .status();
    assert!(attached && stop.is_ok_and(|s| s.success()));
    let bgsave = redis::cmd("BGSAVE").query::<String>(&mut c);
    // Writes for three seconds, while save points come due every second.
    let started = Instant::now();
    let mut refused = None;
    while started.elapsed() < Duration::from_secs(3) && refused.is_none() {
        if let Err(e) = redis::cmd("SET").arg("k").arg("v").query::<()>(&mut c) {
            refused = Some(e.to_string());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = info_field(&mut c, "persistence", "rdb_last_bgsave_status");
    let _ = sync.kill();
    let _ = sync.wait();
    assert_eq!(
        refused, None,
        "writes refused while a replica's snapshot ran"
    );
    assert_eq!(
        status, "ok",
        "a save that found a snapshot running counted as failed"
    );
    match bgsave {
        Ok(r) => panic!("BGSAVE answered {r}"),
        Err(e) => assert!(
            e.to_string()
                .contains("Background save already in progress"),
            "{e}"
        ),
    }
    // Once the replica's snapshot ends, the save points save.
    assert!(
        wait_for(Duration::from_secs(10), || {
            info_field(&mut c, "persistence", "rdb_changes_since_last_save") == "0"
        }),
        "no save after the replica's snapshot ended"
    );
}

#[test]
fn active_expiry_holds_a_crowded_slot_only_briefly() {
    let n = TestNode::start(&[]);
    let mut c = n.conn();
    // 500,000 keys with a TTL, all in one slot (one hash tag); none expires.
    for chunk in 0..500 {
        let mut p = redis::pipe();
        for i in chunk * 1000..(chunk + 1) * 1000 {
            p.cmd("SET")
                .arg(format!("{{t}}:{i}"))
                .arg("v")
                .arg("PX")
                .arg(3_600_000)
                .ignore();
        }
        p.query::<()>(&mut c).expect("SET pipeline");
    }
    // Active expiry visits that slot ten times a second; a command on the
    // slot waits for each visit.
    let mut worst = Duration::ZERO;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        let t = Instant::now();
        let _: Option<String> = redis::cmd("GET").arg("{t}:7").query(&mut c).expect("GET");
        worst = worst.max(t.elapsed());
    }
    assert!(
        worst < Duration::from_millis(15),
        "a GET on the slot waited {worst:?} for active expiry"
    );
}

#[test]
fn a_command_that_waited_judges_expiry_at_its_own_time() {
    // WAIT, then a read in the same batch: the key expired during the wait.
    // (Active expiry off: only the reads' own judgement removes keys.)
    let n = TestNode::start(&[]);
    let mut c = n.conn();
    cmd(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    cmd(&mut c, &["SET", "k", "v", "PX", "300"]);
    let (_, got): (i64, Option<String>) = redis::pipe()
        .cmd("WAIT")
        .arg(1)
        .arg(500)
        .cmd("GET")
        .arg("k")
        .query(&mut c)
        .expect("WAIT + GET");
    assert_eq!(got, None, "GET after WAIT saw a key that had expired");

    // CLIENT PAUSE ALL holds a read past the key's TTL.
    cmd(&mut c, &["SET", "k", "v", "PX", "300"]);
    let mut admin = n.conn();
    cmd(&mut admin, &["CLIENT", "PAUSE", "500", "ALL"]);
    let got: Option<String> = redis::cmd("GET").arg("k").query(&mut c).expect("GET");
    assert_eq!(
        got, None,
        "GET after CLIENT PAUSE saw a key that had expired"
    );

    // In cluster mode, a read that waits for its slot's fence (held by a
    // MIGRATE to a target that does not answer).
    let node = TestNode::start(&["--cluster-enabled", "yes"]);
    let mut c = node.conn();
    cmd(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    cmd(&mut c, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
    assert!(wait_for(Duration::from_secs(10), || {
        node.text(&["CLUSTER", "INFO"]).contains("cluster_state:ok")
    }));
    let target = TestNode::start(&[]);
    target.signal("STOP");
    cmd(&mut c, &["SET", "{s}short", "v", "PX", "300"]);
    cmd(&mut c, &["SET", "{s}moving", "v"]);
    let port = target.port.to_string();
    let url = node.url();
    let migrate = std::thread::spawn(move || {
        let mut m = redis::Client::open(url)
            .and_then(|c| c.get_connection())
            .expect("connect");
        redis::cmd("MIGRATE")
            .arg("127.0.0.1")
            .arg(&port)
            .arg("{s}moving")
            .arg(0)
            .arg(800)
            .query::<redis::Value>(&mut m)
    });
    std::thread::sleep(Duration::from_millis(100));
    let got: Option<String> = redis::cmd("GET")
        .arg("{s}short")
        .query(&mut c)
        .expect("GET");
    let _ = migrate.join();
    target.signal("CONT");
    assert_eq!(
        got, None,
        "GET after waiting for the slot's fence saw a key that had expired"
    );
}
