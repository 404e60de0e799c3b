//! Unmodified cluster-aware clients against a real ringcache cluster: redis-py's
//! `RedisCluster` (through `tests/py/cluster_check.py`), redis-rs `cluster-async`,
//! `redis-cli -c` and `redis-benchmark --cluster`, each following MOVED and ASK
//! while a slot is moved by hand (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE,
//! CLUSTER SETSLOT NODE).

mod common;

use std::process::Command;
use std::time::Duration;

use redis::AsyncCommands;

use common::{
    need_redis_py, redis_cli_within, run_within, wait_for, wait_replicas, TestCluster, TestNode,
};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/cluster_check.py");

/// The hash slot of a key, honouring `{hash tags}` (the server's own function,
/// checked against the contract's vectors in its unit tests).
fn key_slot(key: &str) -> u16 {
    ringcache::slot::key_slot(key.as_bytes())
}

// ---- cluster views and hand-made slot moves ----

fn int(v: &redis::Value) -> i64 {
    match v {
        redis::Value::Int(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

/// `CLUSTER SLOTS` on one node: (start, end, primary port, replica ports).
fn cluster_slots(n: &TestNode) -> Vec<(u16, u16, u16, Vec<u16>)> {
    let Ok(redis::Value::Array(ranges)) = n.query(&["CLUSTER", "SLOTS"]) else {
        return Vec::new();
    };
    ranges
        .iter()
        .filter_map(|r| {
            let redis::Value::Array(f) = r else {
                return None;
            };
            let port = |v: &redis::Value| match v {
                redis::Value::Array(node) if node.len() >= 2 => Some(int(&node[1]) as u16),
                _ => None,
            };
            Some((
                int(&f[0]) as u16,
                int(&f[1]) as u16,
                port(&f[2])?,
                f[3..].iter().filter_map(port).collect(),
            ))
        })
        .collect()
}

/// The port of `slot`'s owner, as `n` sees it.
fn owner(n: &TestNode, slot: u16) -> Option<u16> {
    cluster_slots(n)
        .into_iter()
        .find(|r| r.0 <= slot && slot <= r.1)
        .map(|r| r.2)
}

fn node(c: &TestCluster, port: u16) -> &TestNode {
    c.nodes
        .iter()
        .find(|n| n.port == port)
        .unwrap_or_else(|| panic!("no node on port {port}"))
}

fn myid(n: &TestNode) -> String {
    n.text(&["CLUSTER", "MYID"])
}

/// Ports of the nodes that own slots.
fn primaries(c: &TestCluster) -> Vec<u16> {
    let mut p: Vec<u16> = cluster_slots(&c.nodes[0]).iter().map(|r| r.2).collect();
    p.sort();
    p.dedup();
    p
}

/// The tail of every node's `ringcache.log`, for failure messages.
fn logs(c: &TestCluster) -> String {
    c.nodes
        .iter()
        .map(|n| {
            let log = n.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            format!("--- node {} ringcache.log (tail) ---\n{tail}\n", n.port)
        })
        .collect()
}

/// Asserts `args` on `n` replies +OK.
fn ok(n: &TestNode, args: &[&str]) {
    assert_eq!(
        n.query(args),
        Ok(redis::Value::Okay),
        "{args:?} on {}",
        n.port
    );
}

/// Starts moving `slot` from `src` to `dst`: IMPORTING on the target first,
/// then MIGRATING on the source, as redis-cli's reshard does.
fn begin_move(src: &TestNode, dst: &TestNode, slot: u16) {
    let s = slot.to_string();
    ok(dst, &["CLUSTER", "SETSLOT", &s, "IMPORTING", &myid(src)]);
    ok(src, &["CLUSTER", "SETSLOT", &s, "MIGRATING", &myid(dst)]);
}

/// `MIGRATE 127.0.0.1 <dst> "" 0 5000 KEYS k…` on the source.
fn migrate(src: &TestNode, dst: &TestNode, keys: &[String]) {
    let port = dst.port.to_string();
    let mut args = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
    args.extend(keys.iter().map(String::as_str));
    ok(src, &args);
}

/// Moves every key left in `slot`, then `CLUSTER SETSLOT slot NODE <dst>` on the
/// target, the source and every other primary; waits until every node says
/// `dst` owns it.
fn finish_move(c: &TestCluster, src: &TestNode, dst: &TestNode, slot: u16) {
    let s = slot.to_string();
    for _ in 0..100 {
        let Ok(redis::Value::Array(left)) = src.query(&["CLUSTER", "GETKEYSINSLOT", &s, "100"])
        else {
            panic!("GETKEYSINSLOT on {}", src.port);
        };
        if left.is_empty() {
            break;
        }
        let keys: Vec<String> = left
            .iter()
            .map(|k| match k {
                redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("key {other:?}"),
            })
            .collect();
        migrate(src, dst, &keys);
    }
    assert_eq!(
        src.query(&["CLUSTER", "COUNTKEYSINSLOT", &s]),
        Ok(redis::Value::Int(0))
    );
    let dst_id = myid(dst);
    ok(dst, &["CLUSTER", "SETSLOT", &s, "NODE", &dst_id]);
    ok(src, &["CLUSTER", "SETSLOT", &s, "NODE", &dst_id]);
    for p in primaries(c) {
        if p != src.port && p != dst.port {
            ok(node(c, p), &["CLUSTER", "SETSLOT", &s, "NODE", &dst_id]);
        }
    }
    assert!(
        wait_for(Duration::from_secs(10), || c
            .nodes
            .iter()
            .all(|n| owner(n, slot) == Some(dst.port))),
        "not every node sees {} own slot {slot}: {:?}\n{}",
        dst.port,
        c.nodes.iter().map(|n| owner(n, slot)).collect::<Vec<_>>(),
        logs(c)
    );
}

// ---- bounded child processes ----

/// `redis-cli -h 127.0.0.1 -p <port> args…`, bounded to 15 s; stdout + stderr.
fn cli(port: u16, args: &[&str]) -> String {
    let p = port.to_string();
    let mut all = vec!["-h", "127.0.0.1", "-p", &p];
    all.extend_from_slice(args);
    redis_cli_within(&all, None, Duration::from_secs(15)).1
}

// ---- redis-py ----

const BASIC_CHECKS: &[&str] = &[
    "basic/discovers_every_node_from_one",
    "basic/set_get_1000_keys_over_all_primaries",
    "basic/non_owner_replies_moved",
    "basic/mget_in_one_hash_tag",
    "basic/pipeline_across_slots",
    "basic/cluster_nodes_parsed",
    "basic/cluster_slots_parsed",
];
const ASK_CHECKS: &[&str] = &["ask/ask_then_moved"];
const PUBSUB_CHECKS: &[&str] = &[
    "pubsub/publish_reaches_subscribers_on_every_primary",
    "pubsub/sharded_pubsub_over_every_primary",
];
const REPLICA_CHECKS: &[&str] = &[
    "replica/replicas_serve_reads_after_readonly",
    "replica/read_from_replicas_client",
];

/// Runs the redis-py script over `protocol` for `groups`, the first node as the
/// only startup node; asserts every check in `expect` passed and nothing failed.
fn redispy(c: &TestCluster, protocol: u8, groups: &str, expect: &[&str]) {
    need_redis_py();
    let ports: Vec<String> = c.nodes.iter().map(|n| n.port.to_string()).collect();
    let r = run_within(
        Command::new("python3")
            .arg(SCRIPT)
            .arg(protocol.to_string())
            .arg(groups)
            .args(&ports),
        None,
        Duration::from_secs(60),
    );
    let out = &r.stdout;
    println!("{out}");
    let summary = format!("{} passed, 0 failed", expect.len());
    let missing: Vec<&&str> = expect
        .iter()
        .filter(|name| {
            !out.lines()
                .any(|l| l.starts_with(&format!("ok   {name} (RESP{protocol}")))
        })
        .collect();
    assert!(
        r.success && missing.is_empty() && out.lines().last() == Some(summary.as_str()),
        "redis-py RedisCluster checks failed (RESP{protocol}, {groups}); not passed: {missing:?}\n\
         {out}\n{}\n{}",
        r.stderr,
        logs(c)
    );
}

#[test]
fn redispy_cluster_resp2_routes_and_follows_ask_and_moved() {
    let c = TestCluster::start(3, 0);
    redispy(&c, 2, "basic,ask", &[BASIC_CHECKS, ASK_CHECKS].concat());
}

#[test]
fn redispy_cluster_resp3_routes_and_follows_ask_and_moved() {
    let c = TestCluster::start(3, 0);
    redispy(&c, 3, "basic,ask", &[BASIC_CHECKS, ASK_CHECKS].concat());
}

#[test]
fn redispy_cluster_publishes_and_shards_channels_over_three_primaries() {
    let c = TestCluster::start(3, 0);
    redispy(&c, 2, "pubsub", PUBSUB_CHECKS);
    redispy(&c, 3, "pubsub", PUBSUB_CHECKS);
}

#[test]
fn redispy_reads_from_replicas_with_readonly() {
    let c = TestCluster::start(3, 1);
    // Replica roles reach every node with the heartbeats after create.
    let complete = |n: &TestNode| {
        let s = cluster_slots(n);
        !s.is_empty() && s.iter().all(|r| r.3.len() == 1)
    };
    assert!(
        wait_for(Duration::from_secs(15), || c.nodes.iter().all(complete)),
        "CLUSTER SLOTS without one replica per range: {:?}",
        c.nodes.iter().map(cluster_slots).collect::<Vec<_>>()
    );
    // Byte for byte: READONLY is +OK, then a read of the primary's key is
    // answered here from the replicated data; without READONLY it is MOVED.
    for (_, _, primary, replicas) in cluster_slots(&c.nodes[0]) {
        let replica = node(&c, replicas[0]);
        let key = (0..100_000)
            .map(|i| format!("raw:{i}"))
            .find(|k| owner(replica, key_slot(k)) == Some(primary))
            .expect("a key of this primary");
        // WAIT counts acknowledgements of this connection's own last write,
        // so the SET and the WAIT share one connection.
        let mut writer = node(&c, primary).conn();
        let set: redis::Value = redis::cmd("SET")
            .arg(&key)
            .arg("on-primary")
            .query(&mut writer)
            .expect("SET on the primary");
        assert_eq!(set, redis::Value::Okay, "SET {key} on {primary}");
        assert_eq!(
            wait_replicas(&mut writer, 1, 5000),
            1,
            "the replica of {primary} acknowledges the SET"
        );
        let get = format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len());
        let mut plain = replica.raw();
        plain.send(get.as_bytes());
        assert_eq!(
            plain.line(),
            format!("-MOVED {} 127.0.0.1:{primary}\r\n", key_slot(&key)),
            "GET {key} on replica {} without READONLY",
            replica.port
        );
        let mut ro = replica.raw();
        ro.send(b"READONLY\r\n");
        assert_eq!(ro.line(), "+OK\r\n", "READONLY on {}", replica.port);
        ro.send(get.as_bytes());
        assert_eq!(
            (ro.line(), ro.line()),
            ("$10\r\n".to_string(), "on-primary\r\n".to_string()),
            "GET {key} on {} after READONLY",
            replica.port
        );
    }
    redispy(
        &c,
        3,
        "basic,replica",
        &[BASIC_CHECKS, REPLICA_CHECKS].concat(),
    );
    redispy(&c, 2, "replica", REPLICA_CHECKS);
}

// ---- redis-rs cluster-async ----

#[test]
fn redisrs_cluster_async_keeps_working_while_a_slot_moves() {
    let c = TestCluster::start(3, 0);
    // 1000 keys over 50 hash tags: 20 keys per slot, slots on every primary.
    let keys: Vec<String> = (0..1000).map(|i| format!("{{rs{}}}:{i}", i % 50)).collect();
    let owners: std::collections::BTreeSet<u16> = keys
        .iter()
        .map(|k| owner(&c.nodes[0], key_slot(k)).expect("owner"))
        .collect();
    assert_eq!(owners.into_iter().collect::<Vec<_>>(), primaries(&c));
    let slot = key_slot("{rs0}");
    assert_eq!(
        c.nodes[0].query(&["CLUSTER", "KEYSLOT", "{rs0}:0"]),
        Ok(redis::Value::Int(i64::from(slot)))
    );
    let moving: Vec<String> = keys
        .iter()
        .filter(|k| key_slot(k) == slot)
        .cloned()
        .collect();
    assert_eq!(moving.len(), 20);
    let others: Vec<String> = keys
        .iter()
        .filter(|k| key_slot(k) != slot)
        .cloned()
        .collect();
    let src = node(&c, owner(&c.nodes[0], slot).expect("owner"));
    let dst = node(
        &c,
        primaries(&c)
            .into_iter()
            .find(|&p| p != src.port)
            .expect("another primary"),
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = redis::cluster::ClusterClient::new(vec![c.nodes[0].url()]).expect("client");
    let mut con = rt
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(30), client.get_async_connection()).await
        })
        .expect("connected within 30 s")
        .expect("cluster connection");

    // Reads and writes every key in `ks`; `tag` names the values.
    async fn write_read(
        con: &mut redis::cluster_async::ClusterConnection,
        ks: &[String],
        tag: &str,
    ) -> redis::RedisResult<()> {
        for k in ks {
            let () = con.set(k, format!("{tag}:{k}")).await?;
        }
        for k in ks {
            let v: Option<String> = con.get(k).await?;
            assert_eq!(v, Some(format!("{tag}:{k}")), "GET {k}");
        }
        Ok(())
    }
    async fn read(
        con: &mut redis::cluster_async::ClusterConnection,
        ks: &[String],
        tag: &str,
    ) -> redis::RedisResult<()> {
        for k in ks {
            let v: Option<String> = con.get(k).await?;
            assert_eq!(v, Some(format!("{tag}:{k}")), "GET {k}");
        }
        Ok(())
    }

    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), write_read(&mut con, &keys, "v1")).await
    })
    .expect("bounded")
    .expect("SET/GET 1000 keys");
    // The keys are where the slot map says, on the real nodes.
    let total: i64 = primaries(&c)
        .iter()
        .map(|&p| int(&node(&c, p).query(&["DBSIZE"]).expect("DBSIZE")))
        .sum();
    assert_eq!(total, 1000);
    assert_eq!(src.text(&["GET", &moving[0]]), format!("v1:{}", moving[0]));

    // Half of the slot's keys moved: the source says ASK for those.
    begin_move(src, dst, slot);
    let (gone, stay) = moving.split_at(10);
    migrate(src, dst, gone);
    let ask = src
        .query(&["GET", &gone[0]])
        .expect_err("GET of a moved key");
    assert_eq!(
        (ask.code(), ask.redirect_node()),
        (Some("ASK"), Some((dst.addr().as_str(), slot))),
        "{ask:?}"
    );
    let fresh = "{rs0}:fresh".to_string();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), async {
            read(&mut con, &moving, "v1").await?;
            write_read(&mut con, &moving, "v2").await?;
            write_read(&mut con, std::slice::from_ref(&fresh), "v2").await?;
            read(&mut con, &others[..300], "v1").await
        })
        .await
    })
    .unwrap_or_else(|_| panic!("redis-rs stalled during the migration\n{}", logs(&c)))
    .unwrap_or_else(|e| panic!("redis-rs error during the migration: {e:?}\n{}", logs(&c)));
    // The writes landed where the data is: unmoved keys on the source, moved
    // and new ones on the target (readable there only after ASKING).
    for k in stay {
        assert_eq!(src.text(&["GET", k]), format!("v2:{k}"));
    }
    let mut asking = dst.conn();
    for k in gone.iter().chain([&fresh]) {
        let () = redis::cmd("ASKING").query(&mut asking).expect("ASKING");
        let v: Option<String> = redis::cmd("GET").arg(k).query(&mut asking).expect("GET");
        assert_eq!(v, Some(format!("v2:{k}")), "{k} on the target");
    }
    let ask = src
        .query(&["EXISTS", &fresh])
        .expect_err("EXISTS of the new key");
    assert_eq!(
        (ask.code(), ask.redirect_node()),
        (Some("ASK"), Some((dst.addr().as_str(), slot))),
        "the new key is not on the source: {ask:?}"
    );

    // Move finished: the source says MOVED; the same connection follows it.
    finish_move(&c, src, dst, slot);
    let moved = src
        .query(&["GET", &stay[0]])
        .expect_err("GET after the move");
    assert_eq!(
        (moved.code(), moved.redirect_node()),
        (Some("MOVED"), Some((dst.addr().as_str(), slot))),
        "{moved:?}"
    );
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), async {
            read(&mut con, &moving, "v2").await?;
            write_read(&mut con, &moving, "v3").await?;
            read(&mut con, &others, "v1").await
        })
        .await
    })
    .unwrap_or_else(|_| panic!("redis-rs stalled after the move\n{}", logs(&c)))
    .unwrap_or_else(|e| panic!("redis-rs error after the move: {e:?}\n{}", logs(&c)));
    let s = slot.to_string();
    assert_eq!(
        dst.query(&["CLUSTER", "COUNTKEYSINSLOT", &s]),
        Ok(redis::Value::Int(21))
    );
    assert_eq!(
        src.query(&["CLUSTER", "COUNTKEYSINSLOT", &s]),
        Ok(redis::Value::Int(0))
    );
    assert_eq!(dst.text(&["GET", &stay[0]]), format!("v3:{}", stay[0]));
}

// ---- redis-cli -c ----

#[test]
fn redis_cli_follows_moved_and_ask() {
    let c = TestCluster::start(3, 0);
    let slot = key_slot("foo");
    assert_eq!(slot, 12182);
    let owner_port = owner(&c.nodes[0], slot).expect("owner");
    let other = primaries(&c)
        .into_iter()
        .find(|&p| p != owner_port)
        .expect("another primary");

    // Without -c the non-owner's MOVED is shown; with -c it is followed.
    let plain = cli(other, &["SET", "foo", "bar"]);
    assert!(
        plain.contains(&format!("MOVED {slot} 127.0.0.1:{owner_port}")),
        "{plain}"
    );
    assert_eq!(cli(other, &["-c", "SET", "foo", "bar"]).trim(), "OK");
    assert_eq!(cli(other, &["-c", "GET", "foo"]).trim(), "bar");
    assert_eq!(node(&c, owner_port).text(&["GET", "foo"]), "bar");
    assert_eq!(
        node(&c, other).query(&["DBSIZE"]),
        Ok(redis::Value::Int(0)),
        "nothing was written on the non-owner"
    );

    // A hand migration: {cli}:a moved, {cli}:b still on the source.
    let slot = key_slot("{cli}");
    let src = node(&c, owner(&c.nodes[0], slot).expect("owner"));
    let dst = node(
        &c,
        primaries(&c)
            .into_iter()
            .find(|&p| p != src.port)
            .expect("another primary"),
    );
    ok(src, &["SET", "{cli}:a", "va"]);
    ok(src, &["SET", "{cli}:b", "vb"]);
    begin_move(src, dst, slot);
    migrate(src, dst, &["{cli}:a".to_string()]);
    let plain = cli(src.port, &["GET", "{cli}:a"]);
    assert!(
        plain.contains(&format!("ASK {slot} 127.0.0.1:{}", dst.port)),
        "{plain}"
    );
    assert_eq!(cli(src.port, &["-c", "GET", "{cli}:a"]).trim(), "va");
    assert_eq!(cli(src.port, &["-c", "GET", "{cli}:b"]).trim(), "vb");
    // Through the target: MOVED back to the source, which says ASK.
    assert_eq!(cli(dst.port, &["-c", "GET", "{cli}:a"]).trim(), "va");
    // A new key goes to the target.
    assert_eq!(cli(src.port, &["-c", "SET", "{cli}:c", "vc"]).trim(), "OK");
    let plain = cli(src.port, &["EXISTS", "{cli}:c"]);
    assert!(
        plain.contains(&format!("ASK {slot} 127.0.0.1:{}", dst.port)),
        "the new key is not on the source: {plain}"
    );

    finish_move(&c, src, dst, slot);
    let plain = cli(src.port, &["GET", "{cli}:b"]);
    assert!(
        plain.contains(&format!("MOVED {slot} 127.0.0.1:{}", dst.port)),
        "{plain}"
    );
    for (k, v) in [("{cli}:a", "va"), ("{cli}:b", "vb"), ("{cli}:c", "vc")] {
        assert_eq!(cli(src.port, &["-c", "GET", k]).trim(), v, "GET {k}");
        assert_eq!(dst.text(&["GET", k]), v, "{k} on the new owner");
    }
}

// ---- redis-benchmark --cluster ----

#[test]
fn redis_benchmark_cluster_set_get() {
    let c = TestCluster::start(3, 0);
    let r = run_within(
        Command::new("redis-benchmark").args([
            "--cluster",
            "-h",
            "127.0.0.1",
            "-p",
            &c.nodes[0].port.to_string(),
            "-t",
            "set,get",
            "-n",
            "20000",
            "-q",
        ]),
        None,
        Duration::from_secs(60),
    );
    let out = format!("{}{}", r.stdout, r.stderr);
    println!("{out}");
    // Progress lines end in \r; the result lines in \n.
    let lines: Vec<&str> = out
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let rps = |cmd: &str| {
        lines.iter().find_map(|l| {
            let rest = l.strip_prefix(cmd)?.strip_prefix(": ")?;
            let (n, tail) = rest.split_once(' ')?;
            tail.starts_with("requests per second")
                .then(|| n.parse::<f64>().ok())
                .flatten()
        })
    };
    assert!(r.success, "redis-benchmark failed:\n{out}\n{}", logs(&c));
    let (set, get) = (rps("SET"), rps("GET"));
    assert!(
        set.is_some_and(|r| r > 0.0) && get.is_some_and(|r| r > 0.0),
        "no SET/GET requests-per-second rows:\n{out}"
    );
    let bad: Vec<&&str> = lines
        .iter()
        .filter(|l| {
            l.contains("error") || l.contains("Error") || l.contains("MOVED") || l.contains("ASK")
        })
        .collect();
    assert!(bad.is_empty(), "{bad:?}\n{out}\n{}", logs(&c));
    // The SETs reached every primary, each key in a slot it owns, with the
    // benchmark's 3-byte payload.
    for p in primaries(&c) {
        let n = node(&c, p);
        assert!(
            int(&n.query(&["DBSIZE"]).expect("DBSIZE")) > 0,
            "no keys on {p}"
        );
        let key = n.text(&["RANDOMKEY"]);
        assert_eq!(owner(n, key_slot(&key)), Some(p), "{key} on {p}");
        assert_eq!(n.text(&["GET", &key]), "VXK", "{key} on {p}");
    }
}
