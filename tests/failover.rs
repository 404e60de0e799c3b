//! Failover on a real 3 primaries × 1 replica cluster with a node timeout of
//! 1 s: a SIGKILLed or SIGSTOPped primary is replaced by its replica under
//! write load, clients follow, the old primary comes back as a replica, and
//! no write acknowledged with `WAIT 1` is lost; `CLUSTER FAILOVER` in its
//! three modes. After a failover the old primary and a sibling replica
//! continue from the promoted replica with a partial resync (PSYNC2).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{cmd, signature, wait_for, TestCluster, TestNode};
use ringcache::slot::key_slot;

const NODE_TIMEOUT: u64 = 1000;

/// The first line of a node's `CLUSTER NODES` that `pick` accepts, as fields.
fn nodes_line(n: &TestNode, pick: impl Fn(&[&str]) -> bool) -> Option<Vec<String>> {
    let text = match n.query(&["CLUSTER", "NODES"]).ok()? {
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        redis::Value::VerbatimString { text, .. } => text,
        _ => return None,
    };
    text.lines()
        .map(|l| l.split(' ').collect::<Vec<&str>>())
        .find(|f| f.len() >= 8 && pick(f))
        .map(|f| f.iter().map(|s| s.to_string()).collect())
}

fn myid(n: &TestNode) -> String {
    n.text(&["CLUSTER", "MYID"])
}

/// The id of the primary `n` replicates, as `n` sees itself.
fn master_of(n: &TestNode) -> Option<String> {
    let me = nodes_line(n, |f| f[2].contains("myself"))?;
    me[2].contains("slave").then(|| me[3].clone())
}

/// Index of the replica of `nodes[primary]`.
fn replica_of(c: &TestCluster, primary: usize) -> usize {
    let id = myid(&c.nodes[primary]);
    (0..c.nodes.len())
        .find(|&i| master_of(&c.nodes[i]).as_deref() == Some(id.as_str()))
        .expect("every primary has a replica")
}

/// Waits until `n` says of itself that it is a primary owning `slot`.
fn owns(n: &TestNode, slot: u16) -> bool {
    nodes_line(n, |f| f[2].contains("myself")).is_some_and(|f| {
        f[2].contains("master")
            && f[8..].iter().any(|r| match r.split_once('-') {
                Some((a, b)) => {
                    a.parse::<u16>().unwrap_or(u16::MAX) <= slot && slot <= b.parse().unwrap_or(0)
                }
                None => r.parse::<u16>().ok() == Some(slot),
            })
    })
}

/// The first slot `n` owns, by its own `CLUSTER NODES` line.
fn first_slot(n: &TestNode) -> u16 {
    let me = nodes_line(n, |f| f[2].contains("myself")).expect("own line");
    me[8].split('-').next().unwrap().parse().expect("a slot")
}

/// Live nodes agree on slot owners and all say the cluster is ok.
fn converged(nodes: &[&TestNode]) -> bool {
    let sigs: Vec<Option<String>> = nodes.iter().map(|n| signature(n)).collect();
    sigs.iter().all(|s| s.is_some())
        && sigs.windows(2).all(|w| w[0] == w[1])
        && nodes
            .iter()
            .all(|n| n.text(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
}

/// A key of the slots `owner` serves (by the slot ranges on its own line).
fn key_on(n: &TestNode, prefix: &str, i: usize) -> String {
    let me = nodes_line(n, |f| f[2].contains("myself")).expect("own line");
    let (a, b) = me[8]
        .split_once('-')
        .map(|(a, b)| (a.parse::<u16>().unwrap(), b.parse::<u16>().unwrap()))
        .expect("a slot range");
    (0..)
        .map(|j| format!("{prefix}:{i}:{j}"))
        .find(|k| (a..=b).contains(&key_slot(k.as_bytes())))
        .expect("some key hashes there")
}

/// Writes `SET key value` + `WAIT 1 1000` to one node over a plain
/// connection and records the writes the replica confirmed.
struct WaitWriter {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<BTreeMap<String, String>>>,
    handle: Option<thread::JoinHandle<()>>,
}

impl WaitWriter {
    fn start(n: &TestNode, prefix: &str) -> WaitWriter {
        let keys: Vec<String> = (0..50).map(|i| key_on(n, prefix, i)).collect();
        let url = n.url();
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(BTreeMap::new()));
        let (s, a) = (stop.clone(), acked.clone());
        let handle = thread::spawn(move || {
            let Ok(client) = redis::Client::open(url) else {
                return;
            };
            let Ok(mut c) = client.get_connection() else {
                return;
            };
            let _ = c.set_read_timeout(Some(Duration::from_millis(1500)));
            let mut i = 0u64;
            while !s.load(Ordering::Relaxed) {
                let k = &keys[i as usize % keys.len()];
                let v = format!("v{i}");
                i += 1;
                let set: redis::RedisResult<String> =
                    redis::cmd("SET").arg(k).arg(&v).query(&mut c);
                if set.is_err() {
                    // Redirected or refused: this node no longer takes writes.
                    return;
                }
                let waited: redis::RedisResult<i64> =
                    redis::cmd("WAIT").arg(1).arg(1000).query(&mut c);
                if waited.is_ok_and(|n| n >= 1) {
                    a.lock().unwrap().insert(k.clone(), v);
                }
            }
        });
        WaitWriter {
            stop,
            acked,
            handle: Some(handle),
        }
    }

    /// Stops the writer; returns the confirmed writes.
    fn finish(mut self) -> BTreeMap<String, String> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        std::mem::take(&mut *self.acked.lock().unwrap())
    }
}

/// A redis-rs cluster client writing counters on every node's slots; counts
/// the writes that succeeded.
struct ClusterLoad {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    handle: Option<thread::JoinHandle<()>>,
}

impl ClusterLoad {
    fn start(c: &TestCluster) -> ClusterLoad {
        let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let (s, o) = (stop.clone(), ok.clone());
        let handle = thread::spawn(move || {
            let client = redis::cluster::ClusterClientBuilder::new(urls)
                .retries(2)
                .connection_timeout(Duration::from_millis(300))
                .response_timeout(Duration::from_millis(500))
                .build()
                .expect("cluster client");
            let mut conn = None;
            let (mut i, mut errors) = (0u64, 0u64);
            while !s.load(Ordering::Relaxed) {
                if conn.is_none() {
                    conn = client.get_connection().ok();
                }
                let Some(c) = conn.as_mut() else {
                    thread::sleep(Duration::from_millis(20));
                    continue;
                };
                i += 1;
                let r: redis::RedisResult<i64> =
                    redis::cmd("INCR").arg(format!("load:{}", i % 300)).query(c);
                match r {
                    Ok(_) => {
                        o.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        errors += 1;
                        if errors % 50 == 1 {
                            eprintln!("cluster client error #{errors}: {e}");
                        }
                        // A paused node never answers, so it never redirects
                        // either: this client refreshes its slot map only when
                        // it reconnects, as an application would after timeouts.
                        if e.is_timeout() || e.is_io_error() {
                            conn = None;
                        }
                        thread::sleep(Duration::from_millis(10))
                    }
                }
            }
        });
        ClusterLoad {
            stop,
            ok,
            handle: Some(handle),
        }
    }

    fn successes(&self) -> usize {
        self.ok.load(Ordering::Relaxed)
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Every write confirmed with WAIT is on `n` with its value.
fn assert_all_present(n: &TestNode, acked: &BTreeMap<String, String>) {
    let mut c = n.conn();
    let mut missing = Vec::new();
    for (k, v) in acked {
        let got: Option<String> = redis::cmd("GET").arg(k).query(&mut c).expect("GET");
        // A later write of the same key may have reached the replica
        // without its WAIT completing: the confirmed one or a newer one.
        let newer = got
            .as_deref()
            .and_then(|g| g.strip_prefix('v'))
            .and_then(|g| g.parse::<u64>().ok())
            .zip(v.strip_prefix('v').and_then(|v| v.parse::<u64>().ok()))
            .is_some_and(|(g, v)| g >= v);
        if !newer {
            missing.push((k.clone(), v.clone(), got));
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} WAIT-confirmed writes lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

/// The primary in `nodes[victim]` fails (by `fault`); its replica takes over,
/// everyone agrees, the cluster client carries on; returns the replica index.
fn fail_primary_and_check(
    c: &mut TestCluster,
    victim: usize,
    fault: impl FnOnce(&mut TestNode),
) -> usize {
    let replica = replica_of(c, victim);
    let slot_owned = first_slot(&c.nodes[victim]);
    let load = ClusterLoad::start(c);
    let waiter = WaitWriter::start(&c.nodes[victim], "w");
    assert!(
        wait_for(Duration::from_secs(10), || waiter
            .acked
            .lock()
            .unwrap()
            .len()
            >= 20
            && load.successes() >= 50),
        "load did not start"
    );
    let t0 = Instant::now();
    fault(&mut c.nodes[victim]);
    assert!(
        wait_for(Duration::from_secs(15), || owns(
            &c.nodes[replica],
            slot_owned
        )),
        "replica did not take over: {:?}",
        nodes_line(&c.nodes[replica], |f| f[2].contains("myself"))
    );
    eprintln!("replica promoted {:?} after the fault", t0.elapsed());
    let live: Vec<&TestNode> = (0..c.nodes.len())
        .filter(|&i| i != victim)
        .map(|i| &c.nodes[i])
        .collect();
    assert!(
        wait_for(Duration::from_secs(10), || converged(&live)),
        "CLUSTER NODES did not converge: {:?}",
        live.iter().map(|n| signature(n)).collect::<Vec<_>>()
    );
    let before = load.successes();
    assert!(
        wait_for(Duration::from_secs(10), || load.successes() > before + 100),
        "the cluster client did not carry on after the failover"
    );
    load.finish();
    let acked = waiter.finish();
    assert!(acked.len() >= 20);
    assert_all_present(&c.nodes[replica], &acked);
    replica
}

/// `n` replicates the node `primary_id` and its link is up.
fn streams_from(n: &TestNode, primary_id: &str) -> bool {
    master_of(n).as_deref() == Some(primary_id)
        && n.text(&["INFO", "replication"])
            .contains("master_link_status:up")
}

/// `old` rejoins as a replica of `new_primary`, in sync; all six agree.
fn assert_rejoined_as_replica(c: &TestCluster, old: usize, new_primary: usize) {
    let id = myid(&c.nodes[new_primary]);
    assert!(
        wait_for(Duration::from_secs(15), || streams_from(&c.nodes[old], &id)),
        "old primary did not rejoin as a replica: {:?}",
        nodes_line(&c.nodes[old], |f| f[2].contains("myself"))
    );
    c.wait_converged(Duration::from_secs(15));
    let digest = |n: &TestNode| cmd(&mut n.conn(), &["DEBUG", "DIGEST"]);
    assert!(
        wait_for(Duration::from_secs(10), || digest(&c.nodes[old])
            == digest(&c.nodes[new_primary])),
        "the rejoined replica's data differs from its primary's"
    );
}

#[test]
fn a_killed_primary_is_replaced_and_rejoins_as_a_replica() {
    let mut c = TestCluster::start_timeout(3, 1, NODE_TIMEOUT, &[]);
    let replica = fail_primary_and_check(&mut c, 0, |n| n.kill());
    c.nodes[0].restart();
    assert_rejoined_as_replica(&c, 0, replica);
}

#[test]
fn a_replica_set_to_no_failover_waits_until_that_is_lifted() {
    let mut c = TestCluster::start_timeout(3, 1, NODE_TIMEOUT, &[]);
    let victim = 2;
    let replica = replica_of(&c, victim);
    let slot = first_slot(&c.nodes[victim]);
    let set = |n: &TestNode, v: &str| n.text(&["CONFIG", "SET", "cluster-replica-no-failover", v]);
    assert_eq!(set(&c.nodes[replica], "yes"), "OK");
    let rid = myid(&c.nodes[replica]);
    assert!(
        wait_for(Duration::from_secs(5), || c
            .nodes
            .iter()
            .all(|n| nodes_line(n, |f| f[0] == rid).is_some_and(|f| f[2]
                .contains("slave")
                && f[2].ends_with("nofailover")))),
        "the flag did not reach every node"
    );
    let vid = myid(&c.nodes[victim]);
    c.nodes[victim].kill();
    assert!(
        wait_for(Duration::from_secs(5), || nodes_line(
            &c.nodes[replica],
            |f| f[0] == vid
        )
        .is_some_and(|f| f[2].split(',').any(|x| x == "fail"))),
        "the killed primary was not marked FAIL"
    );
    // An election would have started 0.5-1 s after FAIL.
    thread::sleep(Duration::from_millis(2500));
    assert!(
        !owns(&c.nodes[replica], slot),
        "promoted despite nofailover"
    );
    assert_eq!(set(&c.nodes[replica], "no"), "OK");
    assert!(
        wait_for(Duration::from_secs(10), || owns(&c.nodes[replica], slot)),
        "not promoted once nofailover was lifted"
    );
}

#[test]
fn a_paused_primary_is_replaced_and_acknowledges_nothing_after_it_resumes() {
    let mut c = TestCluster::start_timeout(3, 1, NODE_TIMEOUT, &[]);
    let victim = 1;
    let key = key_on(&c.nodes[victim], "paused", 0);
    // A connection opened before the pause: what it sends during the pause
    // is read when the process resumes, before it hears from anyone.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", c.nodes[victim].port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let replica = fail_primary_and_check(&mut c, victim, |n| n.signal("STOP"));
    let set = format!(
        "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$5\r\nstale\r\n",
        key.len()
    );
    raw.write_all(set.as_bytes()).unwrap();
    thread::sleep(Duration::from_millis(200));
    c.nodes[victim].signal("CONT");
    let mut buf = [0u8; 256];
    let n = raw.read(&mut buf).expect("a reply after resuming");
    let reply = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(
        reply.starts_with("-MOVED") || reply.starts_with("-CLUSTERDOWN"),
        "the resumed old primary must not acknowledge a write: {reply:?}"
    );
    let got: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query(&mut c.nodes[replica].conn())
        .unwrap();
    assert_eq!(got, None);
    assert_rejoined_as_replica(&c, victim, replica);
}

#[test]
fn manual_failover_in_each_mode() {
    let c = TestCluster::start_timeout(3, 1, NODE_TIMEOUT, &[]);
    let primary = 2;
    let replica = replica_of(&c, primary);
    let slot = first_slot(&c.nodes[primary]);
    let err = c.nodes[primary]
        .query(&["CLUSTER", "FAILOVER"])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("You should send CLUSTER FAILOVER to a replica"),
        "{err}"
    );
    assert!(c.nodes[replica]
        .query(&["CLUSTER", "FAILOVER", "SOMETIMES"])
        .is_err());
    // Default: the primary pauses, the replica catches up; every write the
    // primary acknowledged, even without WAIT, is on the new primary.
    let keys: Vec<String> = (0..30)
        .map(|i| key_on(&c.nodes[primary], "mf", i))
        .collect();
    let url = c.nodes[primary].url();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let writer = thread::spawn(move || {
        let mut acked = BTreeMap::new();
        let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
        let mut i = 0u64;
        while !s.load(Ordering::Relaxed) {
            let k = &keys[i as usize % keys.len()];
            let r: redis::RedisResult<String> = redis::cmd("SET")
                .arg(k)
                .arg(format!("v{i}"))
                .query(&mut conn);
            match r {
                Ok(_) => {
                    acked.insert(k.clone(), format!("v{i}"));
                }
                Err(_) => break,
            }
            i += 1;
        }
        acked
    });
    thread::sleep(Duration::from_millis(300));
    let syncs_before = syncs(&c.nodes[replica]);
    assert_eq!(c.nodes[replica].text(&["CLUSTER", "FAILOVER"]), "OK");
    assert!(
        wait_for(Duration::from_secs(10), || owns(&c.nodes[replica], slot)),
        "manual failover did not complete"
    );
    thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let acked = writer.join().unwrap();
    assert!(
        acked.len() >= 10,
        "writes before the failover: {}",
        acked.len()
    );
    assert_all_present(&c.nodes[replica], &acked);
    assert_follows(&c, primary, replica);
    // PSYNC2: the old primary continues the history it shares.
    assert_rejoined_as_replica(&c, primary, replica);
    let (full, partial) = syncs(&c.nodes[replica]);
    assert_eq!(
        (full - syncs_before.0, partial - syncs_before.1),
        (0, 1),
        "(full, partial) syncs the promoted replica served"
    );
    // FORCE: an election without the primary's help; then TAKEOVER: no vote.
    let (a, b) = (primary, replica);
    for (mode, now_replica, now_primary) in [("FORCE", a, b), ("TAKEOVER", b, a)] {
        let epoch_before: u64 = info_line(&c.nodes[now_replica], "cluster_current_epoch");
        assert_eq!(
            c.nodes[now_replica].text(&["CLUSTER", "FAILOVER", mode]),
            "OK"
        );
        assert!(
            wait_for(Duration::from_secs(10), || owns(
                &c.nodes[now_replica],
                slot
            )),
            "FAILOVER {mode} did not complete"
        );
        assert_follows(&c, now_primary, now_replica);
        assert!(info_line(&c.nodes[now_replica], "cluster_my_epoch") > epoch_before);
    }
}

/// `(sync_full, sync_partial_ok)`: the syncs `n` served as a primary.
fn syncs(n: &TestNode) -> (u64, u64) {
    common::sync_counts(&mut n.conn())
}

#[test]
fn the_sibling_of_a_promoted_replica_continues_partially() {
    let mut c = TestCluster::start_timeout(3, 2, NODE_TIMEOUT, &[]);
    let victim = 0;
    let id = myid(&c.nodes[victim]);
    let siblings: Vec<usize> = (0..c.nodes.len())
        .filter(|&i| master_of(&c.nodes[i]).as_deref() == Some(id.as_str()))
        .collect();
    assert_eq!(siblings.len(), 2, "two replicas of the victim");
    let slot = first_slot(&c.nodes[victim]);
    let key = (0..)
        .map(|i| format!("k{i}"))
        .find(|k| key_slot(k.as_bytes()) == slot)
        .unwrap();
    let mut conn = c.nodes[victim].conn();
    for i in 0..100 {
        cmd(&mut conn, &["SET", &key, &i.to_string()]);
    }
    let acked: i64 = redis::cmd("WAIT")
        .arg(2)
        .arg(5000)
        .query(&mut conn)
        .unwrap();
    assert_eq!(acked, 2);
    c.nodes[victim].kill();
    assert!(
        wait_for(Duration::from_secs(15), || siblings
            .iter()
            .any(|&j| owns(&c.nodes[j], slot))),
        "no replica took over"
    );
    let winner = *siblings.iter().find(|&&i| owns(&c.nodes[i], slot)).unwrap();
    let other = siblings.into_iter().find(|&i| i != winner).unwrap();
    let winner_id = myid(&c.nodes[winner]);
    assert!(
        wait_for(Duration::from_secs(15), || streams_from(
            &c.nodes[other],
            &winner_id
        )),
        "the sibling did not follow the promoted replica"
    );
    assert_eq!(
        syncs(&c.nodes[winner]),
        (0, 1),
        "(full, partial) syncs the promoted replica served"
    );
    assert_eq!(c.nodes[winner].text(&["GET", &key]), "99");
    let digest = |n: &TestNode| cmd(&mut n.conn(), &["DEBUG", "DIGEST"]);
    assert!(
        wait_for(Duration::from_secs(10), || digest(&c.nodes[other])
            == digest(&c.nodes[winner])),
        "the sibling's data differs from the promoted replica's"
    );
}

/// The demoted `old` replicates `new`, and every node agrees.
fn assert_follows(c: &TestCluster, old: usize, new: usize) {
    let id = myid(&c.nodes[new]);
    assert!(wait_for(Duration::from_secs(10), || master_of(
        &c.nodes[old]
    )
    .as_deref()
        == Some(id.as_str())));
    c.wait_converged(Duration::from_secs(10));
}

fn info_line(n: &TestNode, field: &str) -> u64 {
    n.text(&["CLUSTER", "INFO"])
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in CLUSTER INFO"))
}

/// The bus proxy of `scripts/chaos/`: every node's cluster bus reached through
/// it, so that a control file cuts chosen nodes off each other.
struct BusProxy {
    child: std::process::Child,
    control: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl BusProxy {
    /// `maps`: (ip, announced bus port, real bus port) per node.
    fn start(maps: &[(String, u16, u16)]) -> BusProxy {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let control = dir.path().join("cuts");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/chaos/busproxy.py");
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(script).arg(&control);
        for (ip, listen, target) in maps {
            cmd.arg(format!("{ip}:{listen}:{target}"));
        }
        let mut child = cmd
            .env("BUSPROXY_EXIT_WITH_PARENT", "1")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the bus proxy");
        let out = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(out).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "bus proxy did not start");
        BusProxy {
            child,
            control,
            _dir: dir,
        }
    }

    /// Cuts `ip` off every other node (or heals with `None`).
    fn isolate(&self, ip: Option<&str>) {
        let text = ip.map(|ip| format!("{ip} *\n")).unwrap_or_default();
        let tmp = self.control.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.control).unwrap();
    }
}

impl Drop for BusProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_primary_cut_off_in_the_minority_stops_taking_writes_and_rejoins_after_healing() {
    // Each node on its own loopback address: the proxy tells nodes apart by
    // the source address of their bus connections.
    let mut maps = Vec::new();
    let mut nodes = Vec::new();
    for i in 0..6 {
        let ip = format!("127.0.0.{}", 41 + i);
        let port = common::free_port();
        let real_bus = common::free_port();
        let (nt, rb, ab) = (
            NODE_TIMEOUT.to_string(),
            real_bus.to_string(),
            (port + 10000).to_string(),
        );
        // Replicas and MIGRATE connect from their node's own 127.0.0.x,
        // which protected mode (as Redis's) refuses: the nodes run without it.
        let args = [
            "--protected-mode",
            "no",
            "--bind",
            &ip,
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            &nt,
            "--cluster-announce-ip",
            &ip,
            "--cluster-port",
            &rb,
            "--cluster-announce-bus-port",
            &ab,
        ];
        let args = args.map(String::from);
        maps.push((ip.clone(), port + 10000, real_bus));
        nodes.push((ip, port, args));
    }
    let proxy = BusProxy::start(&maps);
    let nodes: Vec<TestNode> = nodes
        .iter()
        .map(|(ip, port, args)| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            TestNode::start_at(ip, *port, tempfile::tempdir().unwrap(), &args)
        })
        .collect();
    let c = TestCluster::create(nodes, 1);
    let victim = 0;
    let replica = replica_of(&c, victim);
    let other = (1..3).find(|&i| i != replica).unwrap();
    let slot = first_slot(&c.nodes[victim]);
    let victim_writes = WaitWriter::start(&c.nodes[victim], "minority");
    let other_writes = WaitWriter::start(&c.nodes[other], "majority");
    assert!(wait_for(Duration::from_secs(10), || {
        victim_writes.acked.lock().unwrap().len() >= 20
    }));

    let cut = Instant::now();
    proxy.isolate(Some(&c.nodes[victim].host));
    // The isolated primary refuses writes within a node timeout or so of
    // losing the majority, and keeps refusing while cut off.
    let key = key_on(&c.nodes[victim], "probe", 0);
    let refused = |n: &TestNode| {
        let r: redis::RedisResult<String> = redis::cmd("SET")
            .arg(&key)
            .arg("minority")
            .query(&mut n.conn());
        // redis-rs names the error kind in its own spelling.
        matches!(&r, Err(e) if e.to_string().to_ascii_uppercase().contains("CLUSTERDOWN"))
    };
    assert!(
        wait_for(Duration::from_secs(3), || refused(&c.nodes[victim])),
        "the isolated primary still takes writes: it sees\n{}\nits log:\n{}",
        c.nodes[victim].text(&["CLUSTER", "NODES"]),
        c.nodes[victim].log()
    );
    let refused_after = cut.elapsed();
    eprintln!("isolated primary refuses writes {refused_after:?} after the cut");
    assert!(refused_after <= Duration::from_millis(2 * NODE_TIMEOUT + 500));
    let minority_acked = victim_writes.finish();

    // The majority side promotes the replica and goes on with WAIT writes.
    assert!(
        wait_for(Duration::from_secs(15), || owns(&c.nodes[replica], slot)),
        "the majority did not promote the replica"
    );
    // Its WAITs succeed once the old primary, healed, replicates it.
    let new_writes = WaitWriter::start(&c.nodes[replica], "promoted");
    for _ in 0..5 {
        assert!(
            refused(&c.nodes[victim]),
            "the cut-off primary took a write"
        );
        thread::sleep(Duration::from_millis(100));
    }

    proxy.isolate(None);
    let new_id = myid(&c.nodes[replica]);
    assert!(
        wait_for(Duration::from_secs(15), || master_of(&c.nodes[victim])
            .as_deref()
            == Some(new_id.as_str())),
        "after healing, the old primary did not follow the new one"
    );
    // One primary per slot range, everyone agreeing.
    c.wait_converged(Duration::from_secs(15));
    assert!(
        wait_for(Duration::from_secs(10), || {
            new_writes.acked.lock().unwrap().len() >= 20
        }),
        "WAIT on the new primary did not succeed after healing"
    );
    let masters_with_slots = nodes_text_lines(&c.nodes[other])
        .iter()
        .filter(|f| f[2].contains("master") && f.len() > 8)
        .count();
    assert_eq!(masters_with_slots, 3);
    let promoted_acked = new_writes.finish();
    let other_acked = other_writes.finish();
    assert_all_present(&c.nodes[replica], &minority_acked);
    assert_all_present(&c.nodes[replica], &promoted_acked);
    assert_all_present(&c.nodes[other], &other_acked);
}

fn nodes_text_lines(n: &TestNode) -> Vec<Vec<String>> {
    let text = n.text(&["CLUSTER", "NODES"]);
    text.lines()
        .map(|l| l.split(' ').map(String::from).collect())
        .collect()
}

#[test]
fn a_replica_moves_from_the_primary_with_most_replicas_to_an_orphaned_one() {
    // 7 nodes, --cluster-replicas 1: three primaries, one of them with two replicas.
    let nodes = (0..7)
        .map(|_| common::cluster_node_timeout(NODE_TIMEOUT, &[]))
        .collect();
    let mut c = TestCluster::create(nodes, 1);
    let ids: Vec<String> = c.nodes.iter().map(myid).collect();
    let index = |id: &str| ids.iter().position(|i| i == id).expect("a known node");
    let replicas_of = |c: &TestCluster, skip: Option<usize>, primary: &str| -> Vec<usize> {
        (0..c.nodes.len())
            .filter(|&i| Some(i) != skip && master_of(&c.nodes[i]).as_deref() == Some(primary))
            .collect()
    };
    let primaries: Vec<usize> = (0..7)
        .filter(|&i| master_of(&c.nodes[i]).is_none())
        .collect();
    assert_eq!(primaries.len(), 3);
    let rich = *primaries
        .iter()
        .find(|&&p| replicas_of(&c, None, &ids[p]).len() == 2)
        .expect("a primary with two replicas");
    let poor = *primaries
        .iter()
        .find(|&&p| replicas_of(&c, None, &ids[p]).len() == 1)
        .expect("a primary with one replica");
    let victim = replicas_of(&c, None, &ids[poor])[0];
    c.nodes[victim].kill();
    // Redis's rule: once `poor` has had no working replica for 5 s, the
    // replica of `rich` with the smallest id moves over.
    let mover = replicas_of(&c, Some(victim), &ids[rich])
        .into_iter()
        .min_by_key(|&i| ids[i].clone())
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || master_of(&c.nodes[mover])
            .as_deref()
            == Some(ids[poor].as_str())),
        "no replica migrated: {:?}",
        nodes_line(&c.nodes[mover], |f| f[2].contains("myself"))
    );
    assert_eq!(replicas_of(&c, Some(victim), &ids[rich]).len(), 1);
    assert!(
        wait_for(Duration::from_secs(10), || c.nodes[mover]
            .text(&["INFO", "replication"])
            .contains("master_link_status:up")),
        "the migrated replica did not sync with its new primary"
    );
    // Every live node agrees on the new role.
    let live: Vec<&TestNode> = (0..7)
        .filter(|&i| i != victim)
        .map(|i| &c.nodes[i])
        .collect();
    assert!(wait_for(Duration::from_secs(10), || live.iter().all(|n| {
        nodes_text_lines(n)
            .iter()
            .any(|f| f.len() > 3 && index(&f[0]) == mover && f[3] == ids[poor])
    })));
}

#[test]
fn a_primary_whose_wall_clock_steps_back_still_stops_taking_writes_when_cut_off() {
    // The victim's wall clock follows `clock`; its monotonic clock stays real.
    let clock = common::FakeClock::new();
    let env = clock.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let nt = NODE_TIMEOUT.to_string();
    let args = ["--cluster-enabled", "yes", "--cluster-node-timeout", &nt];
    let victim = TestNode::start_with_env(&args, &env);
    let others: Vec<TestNode> = (0..2)
        .map(|_| common::cluster_node_timeout(NODE_TIMEOUT, &[]))
        .collect();
    let mut nodes = vec![victim];
    nodes.extend(others);
    let mut c = TestCluster::create(nodes, 0);
    let key = key_on(&c.nodes[0], "stepped", 0);
    let set = |n: &TestNode| -> redis::RedisResult<String> {
        redis::cmd("SET").arg(&key).arg("v").query(&mut n.conn())
    };
    assert_eq!(set(&c.nodes[0]).unwrap(), "OK");
    let server_secs = |n: &TestNode| -> i64 {
        let t: Vec<String> = redis::cmd("TIME").query(&mut n.conn()).unwrap();
        t[0].parse().unwrap()
    };

    // Cut the victim off the majority (the other primaries stop), then step
    // its wall clock back an hour while its PINGs to them are outstanding.
    let cut = Instant::now();
    c.nodes[1].signal("STOP");
    c.nodes[2].signal("STOP");
    clock.step_to(-3600);
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let lag = real - server_secs(&c.nodes[0]);
    assert!(
        (3590..=3610).contains(&lag),
        "the victim's wall clock did not step back (lag {lag} s)"
    );

    let refused = wait_for(
        Duration::from_millis(2 * NODE_TIMEOUT + 500),
        || matches!(set(&c.nodes[0]), Err(e) if e.to_string().to_ascii_uppercase().contains("CLUSTERDOWN")),
    );
    let after = cut.elapsed();
    let last = set(&c.nodes[0]);
    c.nodes[1].signal("CONT");
    c.nodes[2].signal("CONT");
    let pid = c.nodes[0].pid();
    c.nodes[0].kill();
    common::FakeClock::forget(pid);
    assert!(
        refused,
        "a cut-off primary whose wall clock stepped back still takes writes \
         {after:?} after the cut (last SET: {last:?})"
    );
    eprintln!("the cut-off primary refuses writes {after:?} after the cut");
}

#[test]
fn a_manual_failover_waits_for_writes_already_running() {
    let c = TestCluster::start_timeout(3, 1, NODE_TIMEOUT, &[]);
    let primary = 1;
    let replica = replica_of(&c, primary);
    let slot = first_slot(&c.nodes[primary]);
    let key = key_on(&c.nodes[primary], "slow", 0);
    // A transaction admitted before the failover starts that writes only
    // after sleeping 600 ms: well past any fixed settle time.
    let (url, k) = (c.nodes[primary].url(), key.clone());
    let tx = thread::spawn(move || {
        let mut conn = redis::Client::open(url)
            .and_then(|c| c.get_connection())
            .expect("connect");
        redis::pipe()
            .atomic()
            .cmd("DEBUG")
            .arg("SLEEP")
            .arg("0.6")
            .ignore()
            .cmd("SET")
            .arg(&k)
            .arg("v")
            .ignore()
            .query::<()>(&mut conn)
    });
    thread::sleep(Duration::from_millis(150));
    let r: String = redis::cmd("CLUSTER")
        .arg("FAILOVER")
        .query(&mut c.nodes[replica].conn())
        .expect("CLUSTER FAILOVER");
    assert_eq!(r, "OK");
    let took_over = wait_for(Duration::from_secs(10), || owns(&c.nodes[replica], slot));
    let acked = tx.join().expect("transaction thread");
    assert!(took_over, "the replica never took over");
    assert!(acked.is_ok(), "the running transaction failed: {acked:?}");
    let got: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query(&mut c.nodes[replica].conn())
        .expect("GET");
    assert_eq!(got.as_deref(), Some("v"), "an acknowledged write was lost");
}
