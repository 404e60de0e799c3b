//! The `redis-cli --cluster` tool chain (add-node, reshard, rebalance, del-node,
//! fix) driven against real ringcache nodes; every outcome is read back from the
//! nodes themselves (CLUSTER NODES / SLOTS / INFO, DBSIZE, GET on the owner, a
//! cluster-aware client), not taken from the tool's word.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use common::{cluster_node, redis_cli_within, wait_for, TestCluster, TestNode};

/// Bound on every wait for gossip to spread a change.
const SPREAD: Duration = Duration::from_secs(20);
/// Read/write timeout of every connection the tests open.
const IO: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// redis-cli with a deadline
// ---------------------------------------------------------------------------

/// Runs redis-cli with `args`, writing `input` to its stdin; (exit success,
/// stdout + stderr). Panics when it has not exited within `timeout`.
fn cli(args: &[&str], input: Option<&str>, timeout: Duration) -> (bool, String) {
    redis_cli_within(args, input, timeout)
}

/// `redis-cli --cluster check addr`.
fn check(addr: &str) -> (bool, String) {
    cli(&["--cluster", "check", addr], None, Duration::from_secs(30))
}

/// True when a check output reports agreement, full coverage, and nothing wrong.
fn is_clean(ok: bool, out: &str) -> bool {
    ok && out.contains("[OK] All nodes agree about slots configuration.")
        && out.contains("[OK] All 16384 slots covered.")
        && !out.contains("[WARNING]")
        && !out.contains("[ERR]")
}

/// Polls `redis-cli --cluster check addr` until it is clean; returns its output.
fn wait_check_clean(addr: &str, why: &str) -> String {
    let mut last = String::new();
    let clean = wait_for(SPREAD, || {
        let (ok, out) = check(addr);
        last = out;
        is_clean(ok, &last)
    });
    assert!(
        clean,
        "{why}: check via {addr} never became clean; last:\n{last}"
    );
    last
}

// ---------------------------------------------------------------------------
// Talking to nodes (with timeouts)
// ---------------------------------------------------------------------------

fn connect(addr: &str) -> redis::Connection {
    let client = redis::Client::open(format!("redis://{addr}/")).expect("client");
    let conn = client
        .get_connection_with_timeout(IO)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    conn.set_read_timeout(Some(IO)).expect("read timeout");
    conn.set_write_timeout(Some(IO)).expect("write timeout");
    conn
}

fn query(addr: &str, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(&mut connect(addr))
}

fn as_text(v: &redis::Value) -> Option<String> {
    match v {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        redis::Value::VerbatimString { text, .. } => Some(text.clone()),
        redis::Value::Okay => Some("OK".into()),
        _ => None,
    }
}

/// A reply as text, panicking on anything else (errors included).
fn text(addr: &str, args: &[&str]) -> String {
    match query(addr, args) {
        Ok(v) => as_text(&v).unwrap_or_else(|| panic!("{args:?} on {addr}: {v:?}")),
        Err(e) => panic!("{args:?} on {addr}: {e}"),
    }
}

fn int(addr: &str, args: &[&str]) -> i64 {
    match query(addr, args) {
        Ok(redis::Value::Int(i)) => i,
        other => panic!("{args:?} on {addr}: {other:?}"),
    }
}

fn ok(addr: &str, args: &[&str]) {
    let r = query(addr, args);
    assert!(
        matches!(r, Ok(redis::Value::Okay)),
        "{args:?} on {addr}: {r:?}"
    );
}

fn myid(n: &TestNode) -> String {
    text(&n.addr(), &["CLUSTER", "MYID"])
}

fn dbsize(n: &TestNode) -> i64 {
    int(&n.addr(), &["DBSIZE"])
}

/// One `CLUSTER INFO` field.
fn info_field(n: &TestNode, field: &str) -> String {
    let info = text(&n.addr(), &["CLUSTER", "INFO"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {field} in CLUSTER INFO of {}:\n{info}", n.addr()))
}

/// One line of CLUSTER NODES.
#[derive(Debug, Clone)]
struct NodeLine {
    id: String,
    /// ip:port (without the bus port).
    addr: String,
    flags: String,
    master: String,
    /// Every slot it serves, expanded.
    slots: Vec<u16>,
    /// `[s->-id]` / `[s-<-id]` tokens.
    open: Vec<String>,
}

impl NodeLine {
    fn has_flag(&self, f: &str) -> bool {
        self.flags.split(',').any(|x| x == f)
    }
}

fn parse_nodes(text: &str) -> Vec<NodeLine> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert!(f.len() >= 8, "short CLUSTER NODES line {l:?}");
            let mut slots = Vec::new();
            let mut open = Vec::new();
            for t in &f[8..] {
                if t.starts_with('[') {
                    open.push(t.to_string());
                } else if let Some((a, b)) = t.split_once('-') {
                    let (a, b): (u16, u16) = (
                        a.parse().expect("slot range start"),
                        b.parse().expect("slot range end"),
                    );
                    slots.extend(a..=b);
                } else {
                    slots.push(t.parse().expect("slot"));
                }
            }
            NodeLine {
                id: f[0].to_string(),
                addr: f[1].split('@').next().unwrap_or("").to_string(),
                flags: f[2].to_string(),
                master: f[3].to_string(),
                slots,
                open,
            }
        })
        .collect()
}

/// `n`'s CLUSTER NODES, parsed.
fn nodes_of(n: &TestNode) -> Vec<NodeLine> {
    parse_nodes(&text(&n.addr(), &["CLUSTER", "NODES"]))
}

/// The line `n` has about `id`.
fn line_about(n: &TestNode, id: &str) -> Option<NodeLine> {
    nodes_of(n).into_iter().find(|l| l.id == id)
}

/// How many slots `n` thinks `id` serves.
fn slots_of(n: &TestNode, id: &str) -> usize {
    line_about(n, id).map_or(0, |l| l.slots.len())
}

/// The owner (ip:port, id) of each slot per `n`'s CLUSTER SLOTS.
fn slot_owners(n: &TestNode) -> Vec<Option<(String, String)>> {
    let mut owners = vec![None; 16384];
    let reply = query(&n.addr(), &["CLUSTER", "SLOTS"])
        .unwrap_or_else(|e| panic!("CLUSTER SLOTS on {}: {e}", n.addr()));
    let redis::Value::Array(ranges) = reply else {
        panic!("CLUSTER SLOTS on {}: {reply:?}", n.addr());
    };
    for r in &ranges {
        let redis::Value::Array(items) = r else {
            panic!("CLUSTER SLOTS range {r:?}");
        };
        let (redis::Value::Int(start), redis::Value::Int(end), redis::Value::Array(master)) =
            (&items[0], &items[1], &items[2])
        else {
            panic!("CLUSTER SLOTS range {r:?}");
        };
        let ip = as_text(&master[0]).expect("ip");
        let redis::Value::Int(port) = master[1] else {
            panic!("CLUSTER SLOTS port {r:?}");
        };
        let id = as_text(&master[2]).expect("id");
        for s in *start..=*end {
            let slot = &mut owners[s as usize];
            assert!(
                slot.is_none(),
                "slot {s} listed twice by CLUSTER SLOTS: {ranges:?}"
            );
            *slot = Some((format!("{ip}:{port}"), id.clone()));
        }
    }
    owners
}

/// How many slots `id` serves per `n`'s CLUSTER SLOTS.
fn slots_in_cluster_slots(n: &TestNode, id: &str) -> usize {
    slot_owners(n)
        .iter()
        .filter(|o| o.as_ref().is_some_and(|(_, i)| i == id))
        .count()
}

/// Waits until each of `nodes` sees (3 masters, 3 slaves)-like role counts.
fn wait_roles(nodes: &[&TestNode], masters: usize, slaves: usize) {
    let roles = |n: &TestNode| {
        let v = nodes_of(n);
        (
            v.iter().filter(|l| l.has_flag("master")).count(),
            v.iter().filter(|l| l.has_flag("slave")).count(),
        )
    };
    for n in nodes {
        assert!(
            wait_for(SPREAD, || roles(n) == (masters, slaves)),
            "{} sees roles {:?}, want ({masters}, {slaves}):\n{}",
            n.addr(),
            roles(n),
            text(&n.addr(), &["CLUSTER", "NODES"])
        );
    }
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// The Redis Cluster hash slot of a key (the server's own function, checked
/// against the contract's vectors in its unit tests).
fn key_slot(key: &str) -> u16 {
    ringcache::slot::key_slot(key.as_bytes())
}

/// `n` distinct keys with distinct values.
fn make_keys(prefix: &str, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("{prefix}:{i}"),
                format!("value-{prefix}-{i}-{}", i * 7919),
            )
        })
        .collect()
}

/// Writes every key straight to the owner of its slot (per CLUSTER SLOTS of
/// `entry`), pipelined per node; every reply must be OK.
fn write_keys(entry: &TestNode, kv: &[(String, String)]) {
    let owners = slot_owners(entry);
    let mut by_node: HashMap<String, Vec<&(String, String)>> = HashMap::new();
    for e in kv {
        let (addr, _) = owners[key_slot(&e.0) as usize]
            .clone()
            .unwrap_or_else(|| panic!("slot of {} has no owner", e.0));
        by_node.entry(addr).or_default().push(e);
    }
    for (addr, entries) in by_node {
        let mut p = redis::pipe();
        for (k, v) in &entries {
            p.cmd("SET").arg(k).arg(v);
        }
        let replies: Vec<redis::Value> = p
            .query(&mut connect(&addr))
            .unwrap_or_else(|e| panic!("SET pipeline on {addr}: {e}"));
        assert_eq!(replies.len(), entries.len());
        for (r, (k, _)) in replies.iter().zip(&entries) {
            assert!(matches!(r, redis::Value::Okay), "SET {k} on {addr}: {r:?}");
        }
    }
}

/// Every key sits, with its value, on the node CLUSTER SLOTS of `primaries[0]`
/// names as its slot's owner (a plain GET there, no redirection followed), and
/// each primary's DBSIZE is exactly the number of those keys it owns.
fn assert_keys_on_owners(primaries: &[&TestNode], kv: &[(String, String)]) {
    let owners = slot_owners(primaries[0]);
    let mut by_node: HashMap<String, Vec<&(String, String)>> = HashMap::new();
    for e in kv {
        let (addr, _) = owners[key_slot(&e.0) as usize]
            .clone()
            .unwrap_or_else(|| panic!("slot {} of {} has no owner", key_slot(&e.0), e.0));
        by_node.entry(addr).or_default().push(e);
    }
    for (addr, entries) in &by_node {
        let mut conn = connect(addr);
        for (k, v) in entries {
            let got: redis::RedisResult<Option<String>> = redis::cmd("GET").arg(k).query(&mut conn);
            match got {
                Ok(Some(g)) if g == *v => {}
                other => panic!(
                    "GET {k} (slot {}) on its owner {addr}: {other:?}, want {v:?}",
                    key_slot(k)
                ),
            }
        }
    }
    for n in primaries {
        let want = by_node.get(&n.addr()).map_or(0, |e| e.len()) as i64;
        assert_eq!(
            dbsize(n),
            want,
            "DBSIZE of {} vs keys of the slots it owns",
            n.addr()
        );
    }
}

/// Every key reads back with its value through redis-rs's cluster client (slot
/// map from CLUSTER SLOTS, MOVED/ASK followed), entering at `entry`.
fn assert_cluster_reads(entry: &TestNode, kv: &[(String, String)]) {
    let client = redis::cluster::ClusterClient::builder(vec![entry.url()])
        .connection_timeout(IO)
        .response_timeout(IO)
        .build()
        .expect("cluster client");
    let mut conn = client
        .get_connection()
        .unwrap_or_else(|e| panic!("cluster connection via {}: {e}", entry.addr()));
    for (k, v) in kv {
        let got: redis::RedisResult<Option<String>> = redis::cmd("GET").arg(k).query(&mut conn);
        match got {
            Ok(Some(g)) if g == *v => {}
            other => panic!(
                "cluster GET {k} (slot {}): {other:?}, want {v:?}",
                key_slot(k)
            ),
        }
    }
}

/// Runs `add-node new existing` (primary) and waits until every node lists the
/// new node as a master and is in state ok (a new primary, like Redis's, stays
/// `fail` for about two seconds after it starts).
fn add_primary(new: &TestNode, existing: &TestNode, all: &[&TestNode]) {
    let (ok, out) = cli(
        &["--cluster", "add-node", &new.addr(), &existing.addr()],
        None,
        Duration::from_secs(60),
    );
    assert!(
        ok && out.contains("[OK] New node added correctly."),
        "add-node:\n{out}"
    );
    let new_id = myid(new);
    for n in all {
        assert!(
            wait_for(SPREAD, || line_about(n, &new_id)
                .is_some_and(|l| l.has_flag("master") && l.addr == new.addr())
                && info_field(n, "cluster_state") == "ok"),
            "{} does not list the new node {new_id} as a master, or is not ok:\n{}\n{}",
            n.addr(),
            text(&n.addr(), &["CLUSTER", "NODES"]),
            text(&n.addr(), &["CLUSTER", "INFO"])
        );
    }
}

// ---------------------------------------------------------------------------
// The tools
// ---------------------------------------------------------------------------

#[test]
fn add_node_as_primary() {
    let c = TestCluster::start(3, 0);
    let new = cluster_node(&[]);
    let new_id = myid(&new);
    let (ok, out) = cli(
        &["--cluster", "add-node", &new.addr(), &c.nodes[0].addr()],
        None,
        Duration::from_secs(60),
    );
    assert!(ok, "add-node failed:\n{out}");
    assert!(out.contains("[OK] New node added correctly."), "{out}");

    let all: Vec<&TestNode> = c.nodes.iter().chain([&new]).collect();
    let ids: BTreeSet<String> = all.iter().map(|n| myid(n)).collect();
    for n in &all {
        // Everyone lists the new node as a slot-less master, knows exactly the
        // four nodes (no handshake leftovers), and is in state ok.
        let good = || {
            let v = nodes_of(n);
            let listed: BTreeSet<String> = v.iter().map(|l| l.id.clone()).collect();
            listed == ids
                && v.iter().all(|l| !l.has_flag("handshake"))
                && v.iter().any(|l| {
                    l.id == new_id
                        && l.has_flag("master")
                        && l.addr == new.addr()
                        && l.slots.is_empty()
                        && l.master == "-"
                })
                && info_field(n, "cluster_state") == "ok"
                && info_field(n, "cluster_known_nodes") == "4"
        };
        assert!(
            wait_for(SPREAD, good),
            "{} does not see the new primary {new_id}:\n{}\n{}",
            n.addr(),
            text(&n.addr(), &["CLUSTER", "NODES"]),
            text(&n.addr(), &["CLUSTER", "INFO"])
        );
    }
    // The slot map did not move: the three old primaries keep theirs.
    for n in &all {
        for p in &c.nodes {
            let id = myid(p);
            assert_eq!(
                slots_of(n, &id),
                slots_of(p, &id),
                "{} about {id}",
                n.addr()
            );
        }
    }
    for entry in [&c.nodes[0], &new] {
        let out = wait_check_clean(&entry.addr(), "after add-node");
        assert!(
            out.contains(&format!("M: {new_id} {}", new.addr())),
            "check via {} does not show the new master:\n{out}",
            entry.addr()
        );
    }
}

#[test]
fn add_node_as_replica_of_a_given_primary() {
    let c = TestCluster::start(3, 0);
    let primary = &c.nodes[1];
    let pid = myid(primary);
    let new = cluster_node(&[]);
    let new_id = myid(&new);
    let (ok, out) = cli(
        &[
            "--cluster",
            "add-node",
            &new.addr(),
            &c.nodes[0].addr(),
            "--cluster-slave",
            "--cluster-master-id",
            &pid,
        ],
        None,
        Duration::from_secs(60),
    );
    assert!(ok, "add-node --cluster-slave failed:\n{out}");
    assert!(out.contains("[OK] New node added correctly."), "{out}");

    let all: Vec<&TestNode> = c.nodes.iter().chain([&new]).collect();
    for n in &all {
        let good = || {
            line_about(n, &new_id).is_some_and(|l| {
                l.has_flag("slave")
                    && !l.has_flag("master")
                    && l.master == pid
                    && l.slots.is_empty()
            }) && info_field(n, "cluster_known_nodes") == "4"
        };
        assert!(
            wait_for(SPREAD, good),
            "{} does not list {new_id} as a replica of {pid}:\n{}",
            n.addr(),
            text(&n.addr(), &["CLUSTER", "NODES"])
        );
    }
    // CLUSTER REPLICAS <pid> lists it, on its primary and on another primary.
    for n in [primary, &c.nodes[2]] {
        let listed = || match query(&n.addr(), &["CLUSTER", "REPLICAS", &pid]) {
            Ok(redis::Value::Array(lines)) => lines
                .iter()
                .filter_map(as_text)
                .flat_map(|t| parse_nodes(&t))
                .any(|l| l.id == new_id && l.master == pid && l.has_flag("slave")),
            _ => false,
        };
        assert!(
            wait_for(SPREAD, listed),
            "CLUSTER REPLICAS {pid} on {}: {:?}",
            n.addr(),
            query(&n.addr(), &["CLUSTER", "REPLICAS", &pid])
        );
    }
    // The primary keeps its slots; the new node's own view agrees.
    assert_eq!(slots_of(&new, &pid), slots_of(primary, &pid));
    let out = wait_check_clean(&c.nodes[0].addr(), "after add-node --cluster-slave");
    assert!(
        out.contains(&format!("S: {new_id} {}", new.addr()))
            && out.contains(&format!("replicates {pid}")),
        "{out}"
    );
}

#[test]
fn reshard_moves_slots_and_their_keys() {
    let c = TestCluster::start(3, 0);
    let primaries: Vec<&TestNode> = c.nodes.iter().collect();
    let kv = make_keys("reshard", 2000);
    write_keys(&c.nodes[0], &kv);
    assert_keys_on_owners(&primaries, &kv);

    let (a, b, other) = (&c.nodes[0], &c.nodes[1], &c.nodes[2]);
    let (a_id, b_id) = (myid(a), myid(b));
    let owners_before = slot_owners(a);
    let (a_slots, b_slots) = (slots_of(a, &a_id), slots_of(a, &b_id));
    let (a_keys, b_keys, other_keys) = (dbsize(a), dbsize(b), dbsize(other));
    assert_eq!(a_keys + b_keys + dbsize(other), kv.len() as i64);

    let (ok, out) = cli(
        &[
            "--cluster",
            "reshard",
            &a.addr(),
            "--cluster-from",
            &a_id,
            "--cluster-to",
            &b_id,
            "--cluster-slots",
            "1000",
            "--cluster-yes",
        ],
        None,
        Duration::from_secs(120),
    );
    assert!(ok, "reshard failed:\n{out}");
    assert!(out.contains("Ready to move 1000 slots."), "{out}");

    // Every node agrees: B gained 1000 slots, A lost them (CLUSTER NODES and
    // CLUSTER SLOTS alike).
    for n in &c.nodes {
        let moved = || {
            slots_of(n, &b_id) == b_slots + 1000
                && slots_of(n, &a_id) == a_slots - 1000
                && slots_in_cluster_slots(n, &b_id) == b_slots + 1000
                && slots_in_cluster_slots(n, &a_id) == a_slots - 1000
        };
        assert!(
            wait_for(SPREAD, moved),
            "{} after reshard: B {} (was {b_slots}), A {} (was {a_slots}):\n{}",
            n.addr(),
            slots_of(n, &b_id),
            slots_of(n, &a_id),
            text(&n.addr(), &["CLUSTER", "NODES"])
        );
    }
    c.wait_converged(SPREAD);
    wait_check_clean(&a.addr(), "after reshard");

    // The 1000 slots that changed hands all went from A to B.
    let owners_after = slot_owners(a);
    let changed: Vec<usize> = (0..16384)
        .filter(|&s| owners_before[s] != owners_after[s])
        .collect();
    assert_eq!(changed.len(), 1000);
    for &s in &changed {
        assert_eq!(
            owners_before[s].as_ref().map(|o| &o.1),
            Some(&a_id),
            "slot {s}"
        );
        assert_eq!(
            owners_after[s].as_ref().map(|o| &o.1),
            Some(&b_id),
            "slot {s}"
        );
    }
    let moved: BTreeSet<usize> = changed.into_iter().collect();
    let moved_keys = kv
        .iter()
        .filter(|(k, _)| moved.contains(&(key_slot(k) as usize)))
        .count() as i64;
    assert!(moved_keys > 0, "no key lived in the moved slots");
    assert_eq!(dbsize(a), a_keys - moved_keys, "A's DBSIZE");
    assert_eq!(dbsize(b), b_keys + moved_keys, "B's DBSIZE");
    assert_eq!(dbsize(other), other_keys, "the third primary's DBSIZE");
    assert_keys_on_owners(&primaries, &kv);
    assert_cluster_reads(other, &kv);
}

#[test]
fn rebalance_fills_an_empty_primary() {
    let c = TestCluster::start(3, 0);
    let kv = make_keys("rebalance", 2000);
    write_keys(&c.nodes[0], &kv);
    let new = cluster_node(&[]);
    let all: Vec<&TestNode> = c.nodes.iter().chain([&new]).collect();
    add_primary(&new, &c.nodes[0], &all);
    wait_check_clean(&c.nodes[0].addr(), "after add-node");

    let (ok, out) = cli(
        &[
            "--cluster",
            "rebalance",
            &c.nodes[0].addr(),
            "--cluster-use-empty-masters",
        ],
        None,
        Duration::from_secs(150),
    );
    assert!(ok, "rebalance failed:\n{out}");
    assert!(out.contains("Rebalancing across 4 nodes"), "{out}");

    let ids: Vec<String> = all.iter().map(|n| myid(n)).collect();
    for n in &all {
        let balanced = || ids.iter().all(|id| slots_of(n, id) == 4096);
        assert!(
            wait_for(SPREAD, balanced),
            "{} after rebalance: {:?}",
            n.addr(),
            ids.iter().map(|id| slots_of(n, id)).collect::<Vec<_>>()
        );
    }
    wait_check_clean(&c.nodes[0].addr(), "after rebalance");
    assert!(dbsize(&new) > 0, "the new primary got no keys");
    assert_keys_on_owners(&all, &kv);
    assert_cluster_reads(&new, &kv);
}

/// After del-node of `gone_id`: no remaining node lists it (and it stays
/// forgotten for a while), and the deleted node was reset to know only itself.
fn assert_deleted(remaining: &[&TestNode], gone: &TestNode, gone_id: &str) {
    let n_left = remaining.len().to_string();
    for n in remaining {
        let forgotten =
            || line_about(n, gone_id).is_none() && info_field(n, "cluster_known_nodes") == n_left;
        assert!(
            wait_for(SPREAD, forgotten),
            "{} still lists {gone_id}:\n{}",
            n.addr(),
            text(&n.addr(), &["CLUSTER", "NODES"])
        );
    }
    let alone = || {
        let v = nodes_of(gone);
        v.len() == 1 && v[0].id == gone_id && v[0].has_flag("myself") && v[0].slots.is_empty()
    };
    assert!(
        wait_for(SPREAD, alone),
        "the deleted node was not reset:\n{}",
        text(&gone.addr(), &["CLUSTER", "NODES"])
    );
    // A soft reset keeps the node id and makes it a primary.
    assert_eq!(myid(gone), gone_id);
    assert!(nodes_of(gone)[0].has_flag("master"), "{:?}", nodes_of(gone));
    // Gossip does not bring it back (FORGET bans the id for 60 s), on either side.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        for n in remaining {
            assert!(
                line_about(n, gone_id).is_none(),
                "{gone_id} came back on {}:\n{}",
                n.addr(),
                text(&n.addr(), &["CLUSTER", "NODES"])
            );
        }
        assert_eq!(
            nodes_of(gone).len(),
            1,
            "the deleted node relearned the cluster"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn del_node_removes_a_replica() {
    let c = TestCluster::start(3, 1);
    let all: Vec<&TestNode> = c.nodes.iter().collect();
    wait_roles(&all, 3, 3);
    let replica = c
        .nodes
        .iter()
        .find(|n| {
            nodes_of(n)
                .iter()
                .any(|l| l.has_flag("myself") && l.has_flag("slave"))
        })
        .expect("a replica");
    let rid = myid(replica);
    let primary_id = line_about(replica, &rid).expect("own line").master;
    let primary = c
        .nodes
        .iter()
        .find(|n| myid(n) == primary_id)
        .expect("its primary");
    let entry = &c.nodes[0];
    assert_ne!(entry.port, replica.port);

    let (ok, out) = cli(
        &["--cluster", "del-node", &entry.addr(), &rid],
        None,
        Duration::from_secs(60),
    );
    assert!(ok, "del-node failed:\n{out}");
    assert!(out.contains("Sending CLUSTER FORGET"), "{out}");

    let remaining: Vec<&TestNode> = c.nodes.iter().filter(|n| n.port != replica.port).collect();
    assert_deleted(&remaining, replica, &rid);
    let replicas_of_primary = query(&primary.addr(), &["CLUSTER", "REPLICAS", &primary_id]);
    assert!(
        matches!(&replicas_of_primary, Ok(redis::Value::Array(l)) if l.iter().filter_map(as_text).all(|t| !t.contains(&rid))),
        "{replicas_of_primary:?}"
    );
    let out = wait_check_clean(&entry.addr(), "after del-node of a replica");
    assert!(!out.contains(&rid), "{out}");
    wait_roles(&remaining, 3, 2);
}

#[test]
fn del_node_removes_an_emptied_primary() {
    let c = TestCluster::start(3, 0);
    let kv = make_keys("delnode", 1000);
    write_keys(&c.nodes[0], &kv);
    let (target, victim) = (&c.nodes[0], &c.nodes[2]);
    let (target_id, victim_id) = (myid(target), myid(victim));
    let count = slots_of(victim, &victim_id);
    assert!(count > 0);
    let target_before = slots_of(target, &target_id);

    let (ok, out) = cli(
        &[
            "--cluster",
            "reshard",
            &target.addr(),
            "--cluster-from",
            &victim_id,
            "--cluster-to",
            &target_id,
            "--cluster-slots",
            &count.to_string(),
            "--cluster-yes",
        ],
        None,
        Duration::from_secs(150),
    );
    assert!(ok, "reshard away failed:\n{out}");
    for n in &c.nodes {
        assert!(
            wait_for(SPREAD, || slots_of(n, &victim_id) == 0
                && slots_of(n, &target_id) == target_before + count),
            "{} after reshard away:\n{}",
            n.addr(),
            text(&n.addr(), &["CLUSTER", "NODES"])
        );
    }
    wait_check_clean(&target.addr(), "after reshard away");
    // As in Redis 7 (cluster-allow-replica-migration yes), a primary left
    // without slots becomes a replica of the node that took its last slot,
    // and holds that node's data once in sync.
    let follows_target = || {
        text(&victim.addr(), &["CLUSTER", "NODES"])
            .lines()
            .any(|l| l.contains("myself,slave") && l.contains(&target_id))
            && dbsize(victim) == dbsize(target)
    };
    assert!(
        wait_for(SPREAD, follows_target),
        "the emptied primary does not replicate {target_id}:\n{}",
        text(&victim.addr(), &["CLUSTER", "NODES"])
    );

    let (ok, out) = cli(
        &["--cluster", "del-node", &target.addr(), &victim_id],
        None,
        Duration::from_secs(60),
    );
    assert!(ok, "del-node failed:\n{out}");
    let remaining = [&c.nodes[0], &c.nodes[1]];
    assert_deleted(&remaining, victim, &victim_id);
    let out = wait_check_clean(&target.addr(), "after del-node of a primary");
    assert!(!out.contains(&victim_id), "{out}");
    assert_keys_on_owners(&remaining, &kv);
    assert_cluster_reads(&c.nodes[1], &kv);
}

#[test]
fn fix_closes_an_open_slot() {
    let c = TestCluster::start(3, 0);
    let primaries: Vec<&TestNode> = c.nodes.iter().collect();
    let mut kv = make_keys("fixopen", 2000);
    let tagged = make_keys("{open}", 20);
    let slot = key_slot(&tagged[0].0);
    kv.extend(tagged.iter().cloned());
    write_keys(&c.nodes[0], &kv);

    let owners = slot_owners(&c.nodes[0]);
    let (src_addr, src_id) = owners[slot as usize].clone().expect("owner");
    let src = c.nodes.iter().find(|n| n.addr() == src_addr).expect("src");
    let dst = c.nodes.iter().find(|n| n.addr() != src_addr).expect("dst");
    let dst_id = myid(dst);
    let s = slot.to_string();
    assert_eq!(int(&src.addr(), &["CLUSTER", "COUNTKEYSINSLOT", &s]), 20);

    // A migration interrupted half-way: both ends open, some keys moved.
    ok(
        &dst.addr(),
        &["CLUSTER", "SETSLOT", &s, "IMPORTING", &src_id],
    );
    ok(
        &src.addr(),
        &["CLUSTER", "SETSLOT", &s, "MIGRATING", &dst_id],
    );
    let dst_port = dst.port.to_string();
    let mut migrate = vec!["MIGRATE", "127.0.0.1", &dst_port, "", "0", "5000", "KEYS"];
    migrate.extend(tagged[..8].iter().map(|(k, _)| k.as_str()));
    ok(&src.addr(), &migrate);
    assert_eq!(int(&src.addr(), &["CLUSTER", "COUNTKEYSINSLOT", &s]), 12);
    assert_eq!(int(&dst.addr(), &["CLUSTER", "COUNTKEYSINSLOT", &s]), 8);

    let (_, out) = check(&c.nodes[0].addr());
    assert!(
        out.contains(&format!("[WARNING] The following slots are open: {s}"))
            && out.contains(&format!(
                "[WARNING] Node {} has slots in migrating state {s}",
                src.addr()
            ))
            && out.contains(&format!(
                "[WARNING] Node {} has slots in importing state {s}",
                dst.addr()
            )),
        "check does not report the open slot {s}:\n{out}"
    );

    let (fixed, out) = cli(
        &["--cluster", "fix", &c.nodes[0].addr()],
        Some("yes\n"),
        Duration::from_secs(60),
    );
    assert!(out.contains(&format!(">>> Fixing open slot {s}")), "{out}");
    assert!(fixed, "fix failed:\n{out}");

    c.wait_converged(SPREAD);
    wait_check_clean(&c.nodes[0].addr(), "after fix of an open slot");
    for n in &c.nodes {
        let me = nodes_of(n)
            .into_iter()
            .find(|l| l.has_flag("myself"))
            .expect("myself");
        assert!(me.open.is_empty(), "{} still has {:?}", n.addr(), me.open);
    }
    // All 20 keys of the slot are together on its (agreed) owner.
    let (owner_addr, _) = slot_owners(&c.nodes[0])[slot as usize]
        .clone()
        .expect("owner");
    for n in &c.nodes {
        let want = if n.addr() == owner_addr { 20 } else { 0 };
        assert_eq!(
            int(&n.addr(), &["CLUSTER", "COUNTKEYSINSLOT", &s]),
            want,
            "keys of slot {s} on {}",
            n.addr()
        );
    }
    assert_keys_on_owners(&primaries, &kv);
    assert_cluster_reads(&c.nodes[2], &kv);
}

#[test]
fn fix_covers_uncovered_slots() {
    let c = TestCluster::start(3, 0);
    let primaries: Vec<&TestNode> = c.nodes.iter().collect();
    let mut kv = make_keys("fixcover", 2000);
    let tagged = make_keys("{lost}", 20);
    let full = key_slot(&tagged[0].0);
    kv.extend(tagged.iter().cloned());
    write_keys(&c.nodes[0], &kv);

    let owners = slot_owners(&c.nodes[0]);
    let (full_owner_addr, full_owner_id) = owners[full as usize].clone().expect("owner");
    // An empty slot owned by another primary.
    let used: BTreeSet<u16> = kv.iter().map(|(k, _)| key_slot(k)).collect();
    let empty = (0..16384u16)
        .find(|s| {
            !used.contains(s)
                && owners[*s as usize]
                    .as_ref()
                    .is_some_and(|(a, _)| *a != full_owner_addr)
        })
        .expect("an empty slot");
    let (empty_owner_addr, _) = owners[empty as usize].clone().expect("owner");
    let (sf, se) = (full.to_string(), empty.to_string());
    assert_eq!(
        int(&full_owner_addr, &["CLUSTER", "COUNTKEYSINSLOT", &sf]),
        20
    );
    assert_eq!(
        int(&empty_owner_addr, &["CLUSTER", "COUNTKEYSINSLOT", &se]),
        0
    );

    // Drop both slots everywhere, each on its owner first (so nobody relearns
    // it from the owner's heartbeats).
    for (s, owner) in [(&sf, &full_owner_addr), (&se, &empty_owner_addr)] {
        ok(owner, &["CLUSTER", "DELSLOTS", s]);
        for n in c.nodes.iter().filter(|n| n.addr() != **owner) {
            ok(&n.addr(), &["CLUSTER", "DELSLOTS", s]);
        }
    }
    for n in &c.nodes {
        assert!(
            wait_for(SPREAD, || info_field(n, "cluster_slots_assigned")
                == "16382"
                && info_field(n, "cluster_state") == "fail"),
            "{} after DELSLOTS:\n{}",
            n.addr(),
            text(&n.addr(), &["CLUSTER", "INFO"])
        );
    }
    // The keys stay where they were.
    assert_eq!(
        int(&full_owner_addr, &["CLUSTER", "COUNTKEYSINSLOT", &sf]),
        20
    );
    let (_, out) = check(&c.nodes[0].addr());
    assert!(
        out.contains("[ERR] Not all 16384 slots are covered by nodes."),
        "check does not report the uncovered slots:\n{out}"
    );

    let (fixed, out) = cli(
        &["--cluster", "fix", &c.nodes[0].addr()],
        Some("yes\nyes\n"),
        Duration::from_secs(60),
    );
    assert!(out.contains(">>> Fixing slots coverage..."), "{out}");
    assert!(fixed, "fix failed:\n{out}");

    c.wait_converged(SPREAD);
    wait_check_clean(&c.nodes[0].addr(), "after fix of uncovered slots");
    // The slot with keys went back to the only node holding them; every node
    // says so.
    for n in &c.nodes {
        let o = slot_owners(n);
        assert_eq!(
            o[full as usize].as_ref().map(|x| &x.1),
            Some(&full_owner_id),
            "owner of slot {full} per {}",
            n.addr()
        );
        assert!(o[empty as usize].is_some(), "slot {empty} per {}", n.addr());
        assert_eq!(info_field(n, "cluster_slots_assigned"), "16384");
    }
    assert_keys_on_owners(&primaries, &kv);
    assert_cluster_reads(&c.nodes[1], &kv);
}
