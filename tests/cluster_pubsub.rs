//! Pub/sub across a real cluster: PUBLISH on any node reaches subscribers on
//! every node over the bus (none lost, each publisher's order kept), and
//! shard channels live with their slot: SSUBSCRIBE is redirected to the
//! owner, SPUBLISH reaches the shard's replicas, subscribers are told when
//! the slot moves and when its primary fails over, and subscribe again
//! where it went.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{wait_for, RawConn, TestCluster, TestNode};

fn raw(n: &TestNode) -> RawConn {
    RawConn::connect("127.0.0.1", n.port)
}

/// Parses one RESP2 `*N` frame of bulk strings/integers into words.
fn words(frame: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(frame);
    let lines: Vec<&str> = text.split("\r\n").collect();
    let mut out = Vec::new();
    let mut i = 1;
    while i < lines.len() {
        let l = lines[i];
        if let Some(n) = l.strip_prefix(':') {
            out.push(n.to_string());
            i += 1;
        } else if l.starts_with('$') {
            out.push(lines.get(i + 1).unwrap_or(&"").to_string());
            i += 2;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn every_publish_reaches_a_subscriber_on_each_of_six_nodes_in_order() {
    const PER_PUBLISHER: usize = 5_000;
    let c = TestCluster::start(3, 1);
    let mut subs: Vec<RawConn> = c
        .nodes
        .iter()
        .map(|n| {
            let mut s = raw(n);
            assert_eq!(
                s.call(&["SUBSCRIBE", "events"]),
                b"*3\r\n$9\r\nsubscribe\r\n$6\r\nevents\r\n:1\r\n"
            );
            s.s.set_read_timeout(Some(Duration::from_secs(20)))
                .expect("timeout");
            s
        })
        .collect();
    // Two publishers on different nodes (a primary and another primary's
    // replica), pipelining their messages.
    let publishers: Vec<_> = [0usize, 4]
        .into_iter()
        .map(|i| {
            let port = c.nodes[i].port;
            std::thread::spawn(move || {
                let mut p = RawConn::connect("127.0.0.1", port);
                for seq in 0..PER_PUBLISHER {
                    let msg = format!("p{i}:{seq}");
                    p.command(&[b"PUBLISH", b"events", msg.as_bytes()]);
                }
                let mut local = 0;
                for _ in 0..PER_PUBLISHER {
                    // Only this node's own subscriber counts in the reply.
                    local += (p.line() == ":1\r\n") as usize;
                }
                local
            })
        })
        .collect();
    for p in publishers {
        assert_eq!(p.join().expect("publisher"), PER_PUBLISHER);
    }
    for (node, s) in subs.iter_mut().enumerate() {
        let mut next: HashMap<String, usize> = HashMap::new();
        for n in 0..2 * PER_PUBLISHER {
            let w = words(&s.reply());
            assert_eq!(w.len(), 3, "node {node}, message {n}: {w:?}");
            assert_eq!((w[0].as_str(), w[1].as_str()), ("message", "events"));
            let (publisher, seq) = w[2].split_once(':').expect("p:seq");
            let seq: usize = seq.parse().expect("seq");
            let want = next.entry(publisher.to_string()).or_default();
            assert_eq!(seq, *want, "node {node}: {publisher} out of order or lost");
            *want += 1;
        }
        assert!(
            next.values().all(|&n| n == PER_PUBLISHER),
            "node {node}: {next:?}"
        );
    }
}

/// The id of `n`'s primary, when it is a replica.
fn primary_id(n: &TestNode) -> Option<String> {
    let nodes = n.text(&["CLUSTER", "NODES"]);
    let me = nodes.lines().find(|l| l.contains("myself"))?;
    let f: Vec<&str> = me.split(' ').collect();
    f[2].contains("slave").then(|| f[3].to_string())
}

#[test]
fn shard_channels_follow_their_slot_through_a_move_and_a_failover() {
    let c = TestCluster::start_timeout(3, 1, 1000, &[]);
    let (n0, n1) = (&c.nodes[0], &c.nodes[1]);
    // A channel in the first primary's slots (0-5460 after create).
    let (channel, slot) = (0..100)
        .map(|i| format!("ch{i}"))
        .map(|ch| (ch.clone(), ringcache::slot::key_slot(ch.as_bytes())))
        .find(|(_, s)| *s < 5461)
        .expect("a channel of node 0");
    let id0 = n0.text(&["CLUSTER", "MYID"]);
    let replica0 = c
        .nodes
        .iter()
        .find(|n| primary_id(n).as_deref() == Some(id0.as_str()))
        .expect("node 0 has a replica");
    // Another primary redirects; the owner and its replica take it.
    assert_eq!(
        String::from_utf8_lossy(&raw(n1).call(&["SSUBSCRIBE", &channel])),
        format!("-MOVED {slot} {}\r\n", n0.addr())
    );
    let mut on_owner = raw(n0);
    let mut on_replica = raw(replica0);
    for s in [&mut on_owner, &mut on_replica] {
        assert_eq!(words(&s.call(&["SSUBSCRIBE", &channel]))[2], "1");
    }
    // SPUBLISH counts the local subscriber and reaches the replica's over the bus.
    assert_eq!(raw(n0).call(&["SPUBLISH", &channel, "one"]), b":1\r\n");
    for s in [&mut on_owner, &mut on_replica] {
        assert_eq!(words(&s.reply()), ["smessage", &channel, "one"]);
    }
    // The slot moves to node 1: both are told, and subscribe there.
    let id1 = n1.text(&["CLUSTER", "MYID"]);
    // On every primary, as `redis-cli --cluster reshard` ends a move; the
    // new owner's epoch then wins the slot everywhere, replicas included.
    for n in &c.nodes[..3] {
        assert_eq!(
            n.text(&["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &id1]),
            "OK"
        );
    }
    assert!(n1.text(&["CLUSTER", "BUMPEPOCH"]).starts_with("BUMPED"));
    for s in [&mut on_owner, &mut on_replica] {
        assert_eq!(words(&s.reply()), ["sunsubscribe", &channel, "0"]);
    }
    assert_eq!(
        String::from_utf8_lossy(&raw(n0).call(&["SSUBSCRIBE", &channel])),
        format!("-MOVED {slot} {}\r\n", n1.addr())
    );
    let mut moved = raw(n1);
    assert_eq!(words(&moved.call(&["SSUBSCRIBE", &channel]))[2], "1");
    assert_eq!(raw(n1).call(&["SPUBLISH", &channel, "two"]), b":1\r\n");
    assert_eq!(words(&moved.reply()), ["smessage", &channel, "two"]);
    // Node 1's primary dies: its replica takes over, and a subscriber
    // whose connection died subscribes again on the new primary.
    let replica1 = c
        .nodes
        .iter()
        .position(|n| primary_id(n).as_deref() == Some(id1.as_str()))
        .expect("node 1 has a replica");
    drop(moved);
    let mut c = c;
    c.nodes[1].kill();
    let promoted = &c.nodes[replica1];
    assert!(
        wait_for(Duration::from_secs(10), || primary_id(promoted).is_none()),
        "the replica was not promoted"
    );
    let started = Instant::now();
    let mut again = raw(promoted);
    let mut last = Vec::new();
    assert!(
        wait_for(Duration::from_secs(5), || {
            last = again.call(&["SSUBSCRIBE", &channel]);
            words(&last).first().map(String::as_str) == Some("ssubscribe")
        }),
        "SSUBSCRIBE on the new primary: {}",
        String::from_utf8_lossy(&last)
    );
    assert_eq!(
        raw(promoted).call(&["SPUBLISH", &channel, "three"]),
        b":1\r\n"
    );
    assert_eq!(words(&again.reply()), ["smessage", &channel, "three"]);
    assert!(started.elapsed() < Duration::from_secs(5));
}
