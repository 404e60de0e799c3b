//! Cluster mode end to end: real nodes, built and checked by redis-cli.

mod common;

use std::time::Duration;

use common::{redis_cli, signature, wait_for, TestCluster};

#[test]
fn create_and_check_a_three_by_one_cluster() {
    let c = TestCluster::start(3, 1);
    let (ok, out) = redis_cli(&["--cluster", "check", &c.nodes[0].addr()], None);
    assert!(ok, "{out}");
    assert!(
        out.contains("[OK] All nodes agree about slots configuration."),
        "{out}"
    );
    assert!(out.contains("[OK] All 16384 slots covered."), "{out}");
    assert!(
        !out.contains("[WARNING]") && !out.contains("[ERR]"),
        "{out}"
    );
    // Three primaries with slots, three replicas, on every node's view (roles
    // spread with the next heartbeats).
    for n in &c.nodes {
        let roles = || {
            let nodes = n.text(&["CLUSTER", "NODES"]);
            let count = |w: &str| {
                nodes
                    .lines()
                    .filter(|l| l.split(' ').nth(2).is_some_and(|f| f.contains(w)))
                    .count()
            };
            (count("master"), count("slave"))
        };
        assert!(
            wait_for(Duration::from_secs(10), || roles() == (3, 3)),
            "{:?}",
            roles()
        );
        let info = n.text(&["CLUSTER", "INFO"]);
        assert!(info.contains("cluster_known_nodes:6\r\n"), "{info}");
        assert!(info.contains("cluster_size:3\r\n"), "{info}");
    }
}

#[test]
fn restarted_node_rejoins_with_its_id_epochs_and_slots() {
    let mut c = TestCluster::start(3, 0);
    let node = &c.nodes[1];
    let id = node.text(&["CLUSTER", "MYID"]);
    let line = |n: &common::TestNode| {
        n.text(&["CLUSTER", "NODES"])
            .lines()
            .find(|l| l.contains("myself"))
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                // id, address, flags, master, epoch, slots (ping/pong times vary)
                format!(
                    "{} {} {} {} {} {}",
                    f[0],
                    f[1],
                    f[2],
                    f[3],
                    f[6],
                    f[8..].join(" ")
                )
            })
            .unwrap_or_default()
    };
    let before = line(node);
    let epoch_before = node.text(&["CLUSTER", "INFO"]);
    let current = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("cluster_current_epoch:"))
            .map(str::to_string)
    };
    c.nodes[1].restart();
    let node = &c.nodes[1];
    assert_eq!(node.text(&["CLUSTER", "MYID"]), id);
    assert_eq!(line(node), before);
    assert_eq!(
        current(&node.text(&["CLUSTER", "INFO"])),
        current(&epoch_before)
    );
    c.wait_converged(Duration::from_secs(30));
    let sig = signature(&c.nodes[0]);
    assert!(wait_for(Duration::from_secs(10), || signature(&c.nodes[1]) == sig));
}

/// Runs the binary in `dir` in cluster mode; it must exit within 10 s.
/// Returns (exit success, what it printed).
fn start_expecting_exit(dir: &std::path::Path) -> (bool, String) {
    let port = common::free_port().to_string();
    let out = common::run_within(
        std::process::Command::new(env!("CARGO_BIN_EXE_ringcache"))
            .args(["--port", &port, "--cluster-enabled", "yes", "--dir"])
            .arg(dir),
        None,
        Duration::from_secs(10),
    );
    (out.success, out.stdout + &out.stderr)
}

#[test]
fn a_corrupt_or_shared_nodes_conf_stops_start_up_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("nodes.conf"), "not a node line\n").expect("write");
    let (ok, out) = start_expecting_exit(dir.path());
    assert!(!ok);
    assert!(
        out.contains("nodes.conf") && out.contains("line 1"),
        "{out}"
    );
    // A second process on the same nodes.conf is refused while the first runs.
    let first = common::cluster_node(&[]);
    let (ok, out) = start_expecting_exit(first.dir.path());
    assert!(!ok);
    assert!(
        out.contains("is already used by a different Redis Cluster node"),
        "{out}"
    );
    assert_eq!(
        first.text(&["PING"]),
        "PONG",
        "the first node is unaffected"
    );
}

#[test]
fn garbage_on_the_cluster_bus_closes_that_link_only() {
    use std::io::{Read, Write};
    let n = common::cluster_node(&[]);
    let bus = n.port + 10000;
    let frames: [&[u8]; 3] = [
        b"GET / HTTP/1.1\r\n\r\n",
        // Right magic and version, absurd length.
        b"RCbu\x01\x00\x00\x00\xff\xff\xff\xff",
        // Right preamble, body too short for a header.
        b"RCbu\x01\x00\x00\x00\x00\x00\x00\x04abcd",
    ];
    for f in frames {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", bus)).expect("bus port");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(f).expect("write");
        let mut buf = [0u8; 64];
        // The node closes the connection rather than answering or crashing.
        assert!(
            matches!(s.read(&mut buf), Ok(0) | Err(_)),
            "link stays open after {f:?}"
        );
    }
    assert_eq!(n.text(&["PING"]), "PONG");
    assert!(n
        .text(&["CLUSTER", "INFO"])
        .contains("cluster_known_nodes:1\r\n"));
}
