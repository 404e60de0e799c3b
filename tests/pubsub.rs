//! Pub/sub against the real binary with the `redis` crate: channels,
//! patterns, shard channels, keyspace events, RESP3 pushes interleaved with
//! replies, and the pubsub output-buffer limit on a subscriber that stops
//! reading.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{RawConn, TestNode};

fn publish(c: &mut redis::Connection, channel: &str, msg: &[u8]) -> i64 {
    redis::cmd("PUBLISH")
        .arg(channel)
        .arg(msg)
        .query(c)
        .expect("publish")
}

#[test]
fn subscribers_receive_channel_and_pattern_messages_in_publish_order() {
    let node = TestNode::start(&[]);
    let mut sub = node.conn();
    let mut ps = sub.as_pubsub();
    ps.subscribe("news").expect("subscribe");
    ps.psubscribe("n*").expect("psubscribe");
    ps.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut publisher = node.conn();
    for i in 0..100 {
        assert_eq!(
            publish(&mut publisher, "news", format!("m{i}").as_bytes()),
            2
        );
    }
    assert_eq!(publish(&mut publisher, "other", b"x"), 0);
    for i in 0..100 {
        let m = ps.get_message().expect("message");
        assert_eq!((m.get_channel_name(), m.from_pattern()), ("news", false));
        assert_eq!(m.get_payload::<String>().expect("payload"), format!("m{i}"));
        let p = ps.get_message().expect("pmessage");
        assert!(p.from_pattern());
        assert_eq!(p.get_pattern::<String>().expect("pattern"), "n*");
        assert_eq!(p.get_payload::<String>().expect("payload"), format!("m{i}"));
    }
    ps.unsubscribe("news").expect("unsubscribe");
    ps.punsubscribe("n*").expect("punsubscribe");
    drop(ps);
    let numsub: Vec<redis::Value> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("news")
        .query(&mut publisher)
        .expect("numsub");
    assert_eq!(numsub[1], redis::Value::Int(0));
}

#[test]
fn shard_channels_are_their_own_namespace() {
    let node = TestNode::start(&[]);
    let mut raw = RawConn::connect("127.0.0.1", node.port);
    assert_eq!(
        raw.call(&["SSUBSCRIBE", "orders"]),
        b"*3\r\n$10\r\nssubscribe\r\n$6\r\norders\r\n:1\r\n"
    );
    let mut c = node.conn();
    assert_eq!(publish(&mut c, "orders", b"classic"), 0);
    let n: i64 = redis::cmd("SPUBLISH")
        .arg("orders")
        .arg("one")
        .query(&mut c)
        .expect("spublish");
    assert_eq!(n, 1);
    assert_eq!(
        raw.reply(),
        b"*3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$3\r\none\r\n"
    );
    // RESP2 subscribed mode refuses other commands, allows PING.
    assert_eq!(raw.call(&["PING"]), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    assert!(String::from_utf8_lossy(&raw.call(&["GET", "k"]))
        .starts_with("-ERR Can't execute 'get': only (P|S)SUBSCRIBE"));
}

#[test]
fn resp3_pushes_interleave_with_ordinary_replies() {
    let node = TestNode::start(&[]);
    let mut raw = RawConn::connect("127.0.0.1", node.port);
    raw.call(&["HELLO", "3"]);
    assert_eq!(
        raw.call(&["SUBSCRIBE", "c"]),
        b">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"
    );
    // Still a normal connection: commands run and answer in place.
    assert_eq!(raw.call(&["SET", "k", "v"]), b"+OK\r\n");
    let mut other = node.conn();
    publish(&mut other, "c", b"hi");
    assert_eq!(
        raw.reply(),
        b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n"
    );
    // Its own PUBLISH: the message comes before the count, as Redis sends it.
    raw.command(&[b"PUBLISH", b"c", b"me"]);
    assert_eq!(
        raw.reply(),
        b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nme\r\n"
    );
    assert_eq!(raw.reply(), b":1\r\n");
}

#[test]
fn keyspace_events_reach_pattern_subscribers() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("KEA")
        .query(&mut c)
        .expect("config set");
    let mut sub = node.conn();
    let mut ps = sub.as_pubsub();
    ps.psubscribe("__key*__:*").expect("psubscribe");
    ps.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .arg("PX")
        .arg(50)
        .query(&mut c)
        .expect("set");
    let mut got = Vec::new();
    for _ in 0..6 {
        let m = ps.get_message().expect("event");
        got.push(format!(
            "{} {}",
            m.get_channel_name(),
            m.get_payload::<String>().expect("payload")
        ));
    }
    // SET … PX: set, expire; then the key expires (active expiry).
    assert_eq!(
        got,
        [
            "__keyspace@0__:k set",
            "__keyevent@0__:set k",
            "__keyspace@0__:k expire",
            "__keyevent@0__:expire k",
            "__keyspace@0__:k expired",
            "__keyevent@0__:expired k",
        ]
    );
}

/// Resident set size of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

#[test]
fn a_subscriber_that_stops_reading_is_cut_off_at_the_pubsub_limit() {
    const LIMIT: u64 = 32 << 20;
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg(format!("pubsub {LIMIT} 0 0"))
        .query(&mut c)
        .expect("config set");
    // A subscriber with a tiny receive buffer that never reads again.
    let mut sub = RawConn::connect("127.0.0.1", node.port);
    sub.send(b"SUBSCRIBE feed\r\n");
    assert!(sub.line().starts_with("*3"));
    let before = rss(node.pid());
    // 1 GB in 1 MB messages, pipelined in groups so the publisher is not
    // the one holding replies back.
    let msg = vec![b'x'; 1 << 20];
    let mut publisher = RawConn::connect("127.0.0.1", node.port);
    let mut frame = Vec::new();
    frame.extend_from_slice(b"*3\r\n$7\r\nPUBLISH\r\n$4\r\nfeed\r\n");
    frame.extend_from_slice(format!("${}\r\n", msg.len()).as_bytes());
    frame.extend_from_slice(&msg);
    frame.extend_from_slice(b"\r\n");
    let started = Instant::now();
    let mut peak = before;
    let mut receivers = Vec::new();
    for _ in 0..1024 / 16 {
        for _ in 0..16 {
            publisher.s.write_all(&frame).expect("publish");
        }
        for _ in 0..16 {
            receivers.push(publisher.line());
        }
        peak = peak.max(rss(node.pid()));
    }
    assert!(started.elapsed() < Duration::from_secs(120));
    // It received while under the limit, and nothing once cut off.
    assert_eq!(receivers.first().map(String::as_str), Some(":1\r\n"));
    assert_eq!(receivers.last().map(String::as_str), Some(":0\r\n"));
    let info = node.text(&["INFO", "stats"]);
    assert!(
        info.contains("client_output_buffer_limit_disconnections:1\r\n"),
        "{info}"
    );
    let growth = peak.saturating_sub(before);
    eprintln!(
        "published 1 GB in {:?}; RSS {} MB before, peak growth {} MB",
        started.elapsed(),
        before >> 20,
        growth >> 20
    );
    assert!(
        growth < LIMIT + (64 << 20),
        "RSS grew by {} MB (limit {} MB)",
        growth >> 20,
        LIMIT >> 20
    );
    sub.s
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // The connection is gone: after what the socket buffers held, EOF.
    let drained = sub.read_n(usize::MAX);
    assert!((drained.len() as u64) < LIMIT + (8 << 20));
}

#[test]
fn a_replicas_subscribers_get_what_is_published_on_its_primary() {
    let primary = TestNode::start(&[]);
    let p = primary.port.to_string();
    let replica = TestNode::start(&["--replicaof", "127.0.0.1", &p]);
    assert!(common::wait_for(Duration::from_secs(10), || {
        replica
            .text(&["INFO", "replication"])
            .contains("master_link_status:up")
    }));
    let mut sub = RawConn::connect("127.0.0.1", replica.port);
    assert!(sub.call(&["SUBSCRIBE", "news"]).starts_with(b"*3"));
    let mut c = primary.conn();
    // Counted on the primary: nobody listens there.
    assert_eq!(publish(&mut c, "news", b"via replication"), 0);
    assert_eq!(
        sub.reply(),
        b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$15\r\nvia replication\r\n"
    );
}
