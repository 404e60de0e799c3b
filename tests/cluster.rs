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
