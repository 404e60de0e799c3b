//! CLUSTER SLOTS / SHARDS / NODES / INFO replies compared byte for byte with
//! Redis 7.0.15's for the same topology. The expected bytes come from the
//! reference capture of a real Redis Cluster (../shared/reference/redis-cluster/
//! samples_raw_replies.txt); the six ringcache nodes here start from
//! `nodes.conf` files with the same node ids, epochs, slots and roles, on free
//! ports that take the place of 30001..30006.

mod common;

use std::io::Write as _;
use std::time::Duration;

use common::{free_port, wait_for, TestNode};

const IDS: [&str; 6] = [
    "324e5b712c48a628c9dd49ae7591adf35aedc92f", // 30001 master 0-5460, epoch 1
    "f2443298b479d5787dd5c1974adfee50ead16465", // 30002 master 5461-10922, epoch 2
    "e21d617ab9a310d2fa752dcdb0cf00a4c850690a", // 30003 master 10923-16383, epoch 3
    "68fdba5ccc07a928cb350b0094a21950e744fd12", // 30004 replica of 30002
    "17aabca95fc25a7b27821e4571a56cf3e74d73e4", // 30005 replica of 30003
    "6713a6b554918fef397cea27f8600290974462aa", // 30006 replica of 30001
];

/// The reference CLUSTER NODES of 30001, as Redis printed it.
const REF_NODES: &str = "\
f2443298b479d5787dd5c1974adfee50ead16465 127.0.0.1:30002@40002 master - 0 1795411205548 2 connected 5461-10922
324e5b712c48a628c9dd49ae7591adf35aedc92f 127.0.0.1:30001@40001 myself,master - 0 1795411205000 1 connected 0-5460
68fdba5ccc07a928cb350b0094a21950e744fd12 127.0.0.1:30004@40004 slave f2443298b479d5787dd5c1974adfee50ead16465 0 1795411206051 2 connected
17aabca95fc25a7b27821e4571a56cf3e74d73e4 127.0.0.1:30005@40005 slave e21d617ab9a310d2fa752dcdb0cf00a4c850690a 0 1795411205047 3 connected
6713a6b554918fef397cea27f8600290974462aa 127.0.0.1:30006@40006 slave 324e5b712c48a628c9dd49ae7591adf35aedc92f 0 1795411205000 1 connected
e21d617ab9a310d2fa752dcdb0cf00a4c850690a 127.0.0.1:30003@40003 master - 0 1795411206554 3 connected 10923-16383
";

/// The reference CLUSTER SLOTS (RESP2), `|` for CRLF.
const REF_SLOTS: &str =
    "*3|*4|:0|:5460|*4|$9|127.0.0.1|:30001|$40|324e5b712c48a628c9dd49ae7591adf35aedc92f|*0|\
*4|$9|127.0.0.1|:30006|$40|6713a6b554918fef397cea27f8600290974462aa|*0|\
*4|:5461|:10922|*4|$9|127.0.0.1|:30002|$40|f2443298b479d5787dd5c1974adfee50ead16465|*0|\
*4|$9|127.0.0.1|:30004|$40|68fdba5ccc07a928cb350b0094a21950e744fd12|*0|\
*4|:10923|:16383|*4|$9|127.0.0.1|:30003|$40|e21d617ab9a310d2fa752dcdb0cf00a4c850690a|*0|\
*4|$9|127.0.0.1|:30005|$40|17aabca95fc25a7b27821e4571a56cf3e74d73e4|*0|";

/// One shard of the reference CLUSTER SHARDS (RESP3), `|` for CRLF. Redis's
/// offsets (97) and `online` replicas reflect its replication stream; this
/// fresh ringcache cluster has written nothing, so its offsets are 0 and its
/// replicas, by Redis's rule for a replica at offset 0, `loading`: those values
/// are the placeholders OFFSET/RHEALTH/ROFFSET.
const REF_SHARD: &str = "%2|$5|slots|*2|:START|:END|$5|nodes|*2|\
%7|$2|id|$40|MASTER|$4|port|:MPORT|$2|ip|$9|127.0.0.1|$8|endpoint|$9|127.0.0.1|$4|role|$6|master|$18|replication-offset|:OFFSET|$6|health|$6|online|\
%7|$2|id|$40|REPLICA|$4|port|:RPORT|$2|ip|$9|127.0.0.1|$8|endpoint|$9|127.0.0.1|$4|role|$7|replica|$18|replication-offset|:ROFFSET|$6|health|RHEALTH|";

fn crlf(s: &str) -> String {
    s.replace('|', "\r\n")
}

/// Replaces the reference ports (30001.., 40001..) by this test's.
fn remap(s: &str, ports: &[u16]) -> String {
    let mut out = s.to_string();
    for (i, p) in ports.iter().enumerate() {
        out = out.replace(&format!("4000{}", i + 1), &(p + 10000).to_string());
        out = out.replace(&format!("3000{}", i + 1), &p.to_string());
    }
    out
}

/// Starts the six nodes of the reference topology.
fn reference_cluster() -> (Vec<TestNode>, Vec<u16>) {
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < 6 {
        let p = free_port();
        if !ports.contains(&p) && (10000..55000).contains(&p) {
            ports.push(p);
        }
    }
    let conf_lines: Vec<String> = REF_NODES
        .lines()
        .map(|l| remap(&l.replace("myself,", ""), &ports))
        .collect();
    let mut nodes = Vec::new();
    for (i, id) in IDS.iter().enumerate() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut f = std::fs::File::create(dir.path().join("nodes.conf")).expect("nodes.conf");
        for l in &conf_lines {
            let mine = l.starts_with(id);
            let line = if mine {
                l.replacen(" master ", " myself,master ", 1).replacen(
                    " slave ",
                    " myself,slave ",
                    1,
                )
            } else {
                l.clone()
            };
            writeln!(f, "{line}").expect("write nodes.conf");
        }
        writeln!(f, "vars currentEpoch 6 lastVoteEpoch 0").expect("write nodes.conf");
        drop(f);
        nodes.push(TestNode::start_in(
            ports[i],
            dir,
            &["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"],
        ));
    }
    let connected = |n: &TestNode| {
        let text = n.text(&["CLUSTER", "NODES"]);
        text.lines().count() == 6
            && text
                .lines()
                .all(|l| l.ends_with("connected") || l.contains(" connected "))
            && !text.contains("disconnected")
            && n.text(&["CLUSTER", "INFO"]).contains("cluster_state:ok")
    };
    assert!(
        wait_for(Duration::from_secs(30), || nodes.iter().all(connected)),
        "reference cluster did not come up"
    );
    (nodes, ports)
}

/// Switches a raw connection to RESP3, consuming HELLO's reply (a map that
/// ends with the empty `modules` array).
fn hello3(c: &mut common::RawConn) {
    c.send(b"HELLO 3\r\n");
    let mut seen = Vec::new();
    while !seen.ends_with(b"modules\r\n*0\r\n") {
        let b = c.read_n(1);
        assert!(!b.is_empty(), "HELLO 3 reply ended early");
        seen.extend_from_slice(&b);
    }
}

/// The raw reply to `cmd` (a RESP request), `expect_len` bytes long.
fn raw(n: &TestNode, resp3: bool, cmd: &str, expect_len: usize) -> String {
    let mut c = n.raw();
    if resp3 {
        hello3(&mut c);
    }
    c.send(cmd.as_bytes());
    let got = c.read_n(expect_len);
    // Nothing more may follow.
    c.s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let extra = c.read_n(1);
    assert!(
        extra.is_empty(),
        "reply longer than expected: {:?}",
        String::from_utf8_lossy(&got)
    );
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn replies_match_redis_for_the_same_topology() {
    let (nodes, ports) = reference_cluster();
    let n1 = &nodes[0];

    // CLUSTER SLOTS, RESP2: identical bytes.
    let want = crlf(&remap(REF_SLOTS, &ports));
    assert_eq!(raw(n1, false, "CLUSTER SLOTS\r\n", want.len()), want);
    // Every node gives the same answer.
    for n in &nodes[1..] {
        assert_eq!(
            raw(n, false, "CLUSTER SLOTS\r\n", want.len()),
            want,
            "node {}",
            n.port
        );
    }

    // CLUSTER SHARDS, RESP3: the three shards (in any order, as Redis's own
    // order is its hash table's), each byte for byte.
    let shard = |start: &str, end: &str, m: usize, r: usize| {
        crlf(
            &REF_SHARD
                .replace("START", start)
                .replace("END", end)
                .replace("MASTER", IDS[m])
                .replace("REPLICA", IDS[r])
                .replace("MPORT", &ports[m].to_string())
                .replace("RPORT", &ports[r].to_string())
                .replace("ROFFSET", "0")
                .replace("OFFSET", "0")
                .replace("RHEALTH", "$7|loading"),
        )
    };
    let shards = [
        shard("0", "5460", 0, 5),
        shard("5461", "10922", 1, 3),
        shard("10923", "16383", 2, 4),
    ];
    let total = 4 + shards.iter().map(String::len).sum::<usize>();
    let got = raw(n1, true, "CLUSTER SHARDS\r\n", total);
    let mut rest = got
        .strip_prefix("*3\r\n")
        .expect("an array of three shards")
        .to_string();
    for _ in 0..3 {
        let s = shards
            .iter()
            .find(|s| rest.starts_with(s.as_str()))
            .unwrap_or_else(|| panic!("unexpected shard bytes: {rest:?}"));
        rest = rest[s.len()..].to_string();
    }
    assert!(rest.is_empty());

    // CLUSTER NODES: the same lines (order and ping/pong times aside), one
    // `\n` after each, the `myself` flag on 30001's line.
    let mask = |text: &str| {
        let mut v: Vec<String> = text
            .lines()
            .map(|l| {
                let mut f: Vec<&str> = l.split(' ').collect();
                f[4] = "PING";
                f[5] = "PONG";
                f.join(" ")
            })
            .collect();
        v.sort();
        v
    };
    let nodes_text = n1.text(&["CLUSTER", "NODES"]);
    assert!(nodes_text.ends_with('\n') && !nodes_text.contains("\r"));
    assert_eq!(mask(&nodes_text), mask(&remap(REF_NODES, &ports)));
    // A replica's own view: `myself,slave`, its primary's epoch.
    let r = nodes[3].text(&["CLUSTER", "NODES"]);
    assert!(
        r.lines().any(|l| l.starts_with(&format!(
            "{} 127.0.0.1:{}@{} myself,slave {} 0 ",
            IDS[3],
            ports[3],
            ports[3] + 10000,
            IDS[1]
        )) && l.ends_with(" 2 connected")),
        "{r}"
    );

    // CLUSTER INFO: the state lines equal Redis's; the rest are message counters
    // with Redis's names, then the links line; RESP2 bulk, RESP3 verbatim.
    let info = n1.text(&["CLUSTER", "INFO"]);
    let head = "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\n\
                cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:6\r\n\
                cluster_size:3\r\ncluster_current_epoch:6\r\ncluster_my_epoch:1\r\n";
    assert!(info.starts_with(head), "{info}");
    assert!(
        info.ends_with("\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n"),
        "{info}"
    );
    let counters: Vec<&str> = info[head.len()..].trim_end().split("\r\n").collect();
    let allowed = [
        "ping", "pong", "meet", "fail", "publish", "auth-req", "auth-ack", "update", "mfstart",
    ];
    for l in &counters[..counters.len() - 1] {
        let (name, value) = l.split_once(':').expect("name:value");
        assert!(value.parse::<u64>().is_ok(), "{l}");
        let kind = name.strip_prefix("cluster_stats_messages_").and_then(|k| {
            k.strip_suffix("_sent")
                .or_else(|| k.strip_suffix("_received"))
        });
        assert!(
            kind.is_some_and(|k| k.is_empty() || allowed.contains(&k))
                || name == "cluster_stats_messages_sent"
                || name == "cluster_stats_messages_received",
            "{l}"
        );
    }
    assert!(
        info.contains("\r\ncluster_stats_messages_sent:")
            && info.contains("\r\ncluster_stats_messages_received:")
    );
    let resp3 = raw(n1, true, "CLUSTER MYID\r\n", 47);
    assert_eq!(resp3, format!("$40\r\n{}\r\n", IDS[0]));
    let mut c = n1.raw();
    hello3(&mut c);
    c.send(b"CLUSTER INFO\r\n");
    let line = c.line();
    assert!(
        line.starts_with('=') && line.ends_with("\r\n"),
        "RESP3 CLUSTER INFO is a verbatim string: {line:?}"
    );
    assert!(c.read_n(4).starts_with(b"txt:cluster_state:ok\r\n"));
}

#[test]
fn redirect_and_error_replies_match_redis() {
    let (nodes, ports) = reference_cluster();
    let n1 = &nodes[0];
    // k1 hashes to 12706, served by 30003.
    let line = |n: &TestNode, cmd: &str| {
        let mut c = n.raw();
        c.send(cmd.as_bytes());
        c.line()
    };
    assert_eq!(
        line(n1, "GET k1\r\n"),
        format!("-MOVED 12706 127.0.0.1:{}\r\n", ports[2])
    );
    assert_eq!(
        line(n1, "MSET a 1 b 2\r\n"),
        "-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    );
    assert_eq!(
        line(n1, "SELECT 1\r\n"),
        "-ERR SELECT is not allowed in cluster mode\r\n"
    );
    assert_eq!(line(n1, "SELECT 0\r\n"), "+OK\r\n");
    // The replica of 30003 redirects reads without READONLY, serves them with it,
    // and still redirects writes.
    let r = &nodes[4];
    assert_eq!(
        line(r, "GET k1\r\n"),
        format!("-MOVED 12706 127.0.0.1:{}\r\n", ports[2])
    );
    let mut c = r.raw();
    c.send(b"READONLY\r\nGET k1\r\nSET k1 x\r\n");
    assert_eq!(c.line(), "+OK\r\n");
    assert_eq!(c.line(), "$-1\r\n");
    assert_eq!(c.line(), format!("-MOVED 12706 127.0.0.1:{}\r\n", ports[2]));
    // A migration of slot 12706 from 30003 to 30001.
    let src = &nodes[2];
    assert_eq!(line(src, "SET k1 1\r\n"), "+OK\r\n");
    assert_eq!(
        line(
            n1,
            &format!("CLUSTER SETSLOT 12706 IMPORTING {}\r\n", IDS[2])
        ),
        "+OK\r\n"
    );
    assert_eq!(
        line(
            src,
            &format!("CLUSTER SETSLOT 12706 MIGRATING {}\r\n", IDS[0])
        ),
        "+OK\r\n"
    );
    let mine = |n: &TestNode| {
        n.text(&["CLUSTER", "NODES"])
            .lines()
            .find(|l| l.contains("myself"))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        mine(src).ends_with(&format!(" connected 10923-16383 [12706->-{}]", IDS[0])),
        "{}",
        mine(src)
    );
    assert!(
        mine(n1).ends_with(&format!(" connected 0-5460 [12706-<-{}]", IDS[2])),
        "{}",
        mine(n1)
    );
    assert_eq!(line(src, "GET k1\r\n"), "$1\r\n");
    assert_eq!(
        line(src, "GET {k1}missing\r\n"),
        format!("-ASK 12706 127.0.0.1:{}\r\n", ports[0])
    );
    assert_eq!(
        line(src, "MGET k1 {k1}missing\r\n"),
        "-TRYAGAIN Multiple keys request during rehashing of slot\r\n"
    );
    assert_eq!(
        line(n1, "GET {k1}missing\r\n"),
        format!("-MOVED 12706 127.0.0.1:{}\r\n", ports[2])
    );
    let mut c = n1.raw();
    c.send(b"ASKING\r\nMGET {k1}a {k1}b\r\nASKING\r\nGET {k1}missing\r\nGET {k1}missing\r\n");
    assert_eq!(c.line(), "+OK\r\n");
    assert_eq!(
        c.line(),
        "-TRYAGAIN Multiple keys request during rehashing of slot\r\n"
    );
    assert_eq!(c.line(), "+OK\r\n");
    assert_eq!(
        c.line(),
        "$-1\r\n",
        "ASKING lets one command run on the importing node"
    );
    assert_eq!(
        c.line(),
        format!("-MOVED 12706 127.0.0.1:{}\r\n", ports[2]),
        "for one command only"
    );
    assert_eq!(
        line(
            src,
            &format!("MIGRATE 127.0.0.1 {} {{k1}}nokey 0 5000\r\n", ports[0])
        ),
        "+NOKEY\r\n"
    );
    assert_eq!(
        line(
            src,
            &format!("MIGRATE 127.0.0.1 {} \"\" 0 5000 KEYS k1\r\n", ports[0])
        ),
        "+OK\r\n"
    );
    assert_eq!(
        line(src, "GET k1\r\n"),
        format!("-ASK 12706 127.0.0.1:{}\r\n", ports[0])
    );
    let mut c = n1.raw();
    c.send(b"ASKING\r\nGET k1\r\n");
    assert_eq!(c.line(), "+OK\r\n");
    assert_eq!(c.line(), "$1\r\n");
    assert_eq!(c.line(), "1\r\n");
    assert_eq!(
        line(src, &format!("CLUSTER SETSLOT 12706 NODE {}\r\n", IDS[0])),
        "+OK\r\n"
    );
    assert_eq!(
        line(n1, &format!("CLUSTER SETSLOT 12706 NODE {}\r\n", IDS[0])),
        "+OK\r\n"
    );
    assert!(wait_for(Duration::from_secs(10), || line(
        &nodes[1],
        "GET k1\r\n"
    ) == format!(
        "-MOVED 12706 127.0.0.1:{}\r\n",
        ports[0]
    )));
    assert_eq!(
        line(&nodes[3], "CLUSTER SETSLOT 1 STABLE\r\n"),
        "-ERR Please use SETSLOT only with masters.\r\n"
    );
    assert_eq!(
        line(n1, "CLUSTER ADDSLOTS 0\r\n"),
        "-ERR Slot 0 is already busy\r\n"
    );
    assert_eq!(
        line(n1, "CLUSTER ADDSLOTSRANGE 0 1\r\n"),
        "-ERR Slot 0 is already busy\r\n"
    );
    assert_eq!(
        line(n1, "CLUSTER COUNTKEYSINSLOT 16384\r\n"),
        "-ERR Invalid slot\r\n"
    );
    assert_eq!(
        line(n1, "CLUSTER SET-CONFIG-EPOCH 9\r\n"),
        "-ERR The user can assign a config epoch only when the node does not know any other node.\r\n"
    );
    assert_eq!(
        line(
            n1,
            "CLUSTER FORGET 324e5b712c48a628c9dd49ae7591adf35aedc92f\r\n"
        ),
        "-ERR I tried hard but I can't forget myself...\r\n"
    );
    assert_eq!(
        line(
            n1,
            "CLUSTER COUNT-FAILURE-REPORTS f2443298b479d5787dd5c1974adfee50ead16465\r\n"
        ),
        ":0\r\n"
    );
    let mut c = n1.raw();
    c.send(format!("CLUSTER REPLICAS {}\r\n", IDS[2]).as_bytes());
    assert_eq!(c.line(), "*1\r\n");
    let bulk = c.line();
    let body = c.line();
    assert_eq!(bulk, format!("${}\r\n", body.len() - 2));
    assert!(body.starts_with(&format!(
        "{} 127.0.0.1:{}@{} slave {} 0 ",
        IDS[4],
        ports[4],
        ports[4] + 10000,
        IDS[2]
    )));
    assert!(body.ends_with(" 3 connected\r\n"), "{body:?}");
}
