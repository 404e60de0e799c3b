//! Blocking list pops against the real binary: first blocked, first served;
//! a client that leaves while blocked takes nothing; timeouts; CLIENT
//! UNBLOCK; pushes inside MULTI/EXEC serve after EXEC; a served pop reaches a
//! replica as its effect; a node that becomes a replica, or loses the slot,
//! ends its blocked commands as Redis does.

mod common;

use std::time::{Duration, Instant};

use common::{wait_for, RawConn, TestCluster, TestNode};

fn blocked_clients(node: &TestNode) -> i64 {
    let info = val(node, &["INFO", "clients"]);
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1)
}

fn wait_blocked(node: &TestNode, n: i64) {
    assert!(
        wait_for(Duration::from_secs(10), || blocked_clients(node) == n),
        "expected {n} blocked clients, INFO says {}",
        blocked_clients(node)
    );
}

/// A reply as text: an integer, a bulk string, an array's elements joined
/// by commas, `nil`.
fn val(node: &TestNode, args: &[&str]) -> String {
    use redis::Value;
    let one = |v: &Value| match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(n) => n.to_string(),
        Value::Nil => "nil".into(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        other => format!("{other:?}"),
    };
    match node.query(args) {
        Ok(Value::Array(items)) => items.iter().map(one).collect::<Vec<_>>().join(","),
        Ok(v) => one(&v),
        Err(e) => format!("error {e}"),
    }
}

fn raw(node: &TestNode) -> RawConn {
    RawConn::connect("127.0.0.1", node.port)
}

/// The RESP2 reply `[key, element]`.
fn pair(key: &str, element: &str) -> Vec<u8> {
    format!(
        "*2\r\n${}\r\n{key}\r\n${}\r\n{element}\r\n",
        key.len(),
        element.len()
    )
    .into_bytes()
}

#[test]
fn two_hundred_blocked_clients_are_served_in_the_order_they_blocked() {
    let node = TestNode::start(&[]);
    let mut waiting: Vec<RawConn> = Vec::new();
    for i in 0..200 {
        let mut c = raw(&node);
        c.command(&[b"BLPOP", b"queue", b"0"]);
        waiting.push(c);
        wait_blocked(&node, i + 1);
    }
    let mut pushers: Vec<RawConn> = (0..4).map(|_| raw(&node)).collect();
    for i in 0..200 {
        let p = &mut pushers[i % 4];
        let v = format!("e{i}");
        let _ = p.call(&["RPUSH", "queue", &v]);
    }
    for (i, c) in waiting.iter_mut().enumerate() {
        assert_eq!(c.reply(), pair("queue", &format!("e{i}")), "client {i}");
    }
    assert_eq!(val(&node, &["LLEN", "queue"]), "0");
    assert_eq!(blocked_clients(&node), 0);
}

#[test]
fn a_client_that_leaves_while_blocked_takes_nothing_and_loses_nothing() {
    let node = TestNode::start(&[]);
    let mut leaving = raw(&node);
    leaving.command(&[b"BRPOP", b"q", b"0"]);
    wait_blocked(&node, 1);
    let mut staying = raw(&node);
    staying.command(&[b"BRPOP", b"q", b"0"]);
    wait_blocked(&node, 2);
    drop(leaving);
    wait_blocked(&node, 1);
    let _ = val(&node, &["LPUSH", "q", "x"]);
    assert_eq!(staying.reply(), pair("q", "x"));
    let mut gone = raw(&node);
    gone.command(&[b"BLMOVE", b"q", b"dst", b"LEFT", b"LEFT", b"0"]);
    wait_blocked(&node, 1);
    drop(gone);
    wait_blocked(&node, 0);
    let _ = val(&node, &["LPUSH", "q", "y"]);
    assert_eq!(val(&node, &["LRANGE", "q", "0", "-1"]), "y");
    assert_eq!(val(&node, &["EXISTS", "dst"]), "0");
}

#[test]
fn timeouts_are_fractional_seconds_and_bad_ones_are_refused() {
    let node = TestNode::start(&[]);
    let mut c = raw(&node);
    let started = Instant::now();
    assert_eq!(c.call(&["BLPOP", "none", "0.3"]), b"*-1\r\n");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(
        c.call(&["BLMOVE", "none", "d", "LEFT", "LEFT", "0.05"]),
        b"*-1\r\n"
    );
    assert_eq!(
        c.call(&["BLPOP", "none", "-0.5"]),
        b"-ERR timeout is negative\r\n"
    );
    assert_eq!(
        c.call(&["BRPOP", "none", "soon"]),
        b"-ERR timeout is not a float or out of range\r\n"
    );
    assert_eq!(blocked_clients(&node), 0);
}

#[test]
fn client_unblock_ends_a_block_as_a_timeout_or_an_error() {
    let node = TestNode::start(&[]);
    let mut c = raw(&node);
    let id = String::from_utf8(c.call(&["CLIENT", "ID"])).expect("utf8");
    let id = id.trim_start_matches(':').trim().to_string();
    let mut admin = raw(&node);
    assert_eq!(admin.call(&["CLIENT", "UNBLOCK", &id]), b":0\r\n");
    c.command(&[b"BLPOP", b"k", b"0"]);
    wait_blocked(&node, 1);
    assert!(val(&node, &["CLIENT", "LIST"]).contains("flags=b"));
    assert_eq!(
        admin.call(&["CLIENT", "UNBLOCK", &id, "TIMEOUT"]),
        b":1\r\n"
    );
    assert_eq!(c.reply(), b"*-1\r\n");
    c.command(&[b"BLMPOP", b"0", b"1", b"k", b"LEFT"]);
    wait_blocked(&node, 1);
    assert_eq!(admin.call(&["CLIENT", "UNBLOCK", &id, "ERROR"]), b":1\r\n");
    assert_eq!(
        c.reply(),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    assert_eq!(
        admin.call(&["CLIENT", "UNBLOCK", &id, "LATER"]),
        b"-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"
    );
    assert_eq!(c.call(&["PING"]), b"+PONG\r\n");
}

#[test]
fn pushes_inside_exec_serve_after_it_and_blocking_inside_multi_does_not_block() {
    let node = TestNode::start(&[]);
    let mut blocked = raw(&node);
    blocked.command(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&node, 1);
    let mut t = raw(&node);
    assert_eq!(t.call(&["MULTI"]), b"+OK\r\n");
    assert_eq!(t.call(&["RPUSH", "q", "a", "b"]), b"+QUEUED\r\n");
    assert_eq!(t.call(&["LPOP", "q"]), b"+QUEUED\r\n");
    assert_eq!(t.call(&["BLPOP", "empty", "0"]), b"+QUEUED\r\n");
    // The transaction saw the whole list: nothing was taken before EXEC ended.
    assert_eq!(t.call(&["EXEC"]), b"*3\r\n:2\r\n$1\r\na\r\n*-1\r\n");
    assert_eq!(blocked.reply(), pair("q", "b"));
    assert_eq!(val(&node, &["EXISTS", "q"]), "0");
}

#[test]
fn a_served_pop_reaches_the_replica_as_its_effect() {
    let primary = TestNode::start(&[]);
    let p = primary.port.to_string();
    let replica = TestNode::start(&["--replicaof", "127.0.0.1", &p]);
    assert!(wait_for(Duration::from_secs(10), || val(
        &replica,
        &["INFO", "replication"]
    )
    .contains("master_link_status:up")));
    let mut b1 = raw(&primary);
    b1.command(&[b"BLMOVE", b"src", b"dst", b"RIGHT", b"LEFT", b"0"]);
    wait_blocked(&primary, 1);
    let mut b2 = raw(&primary);
    b2.command(&[b"BLPOP", b"src", b"0"]);
    wait_blocked(&primary, 2);
    let _ = val(&primary, &["RPUSH", "src", "1", "2", "3"]);
    assert_eq!(b1.reply(), b"$1\r\n3\r\n");
    assert_eq!(b2.reply(), pair("src", "1"));
    let digest = val(&primary, &["DEBUG", "DIGEST"]);
    assert!(
        wait_for(Duration::from_secs(10), || val(
            &replica,
            &["DEBUG", "DIGEST"]
        ) == digest),
        "replica's digest differs: {:?} vs {:?}",
        val(&replica, &["LRANGE", "src", "0", "-1"]),
        val(&primary, &["LRANGE", "src", "0", "-1"])
    );
    assert_eq!(val(&replica, &["LRANGE", "src", "0", "-1"]), "2");
    assert_eq!(val(&replica, &["LRANGE", "dst", "0", "-1"]), "3");
}

#[test]
fn a_primary_that_becomes_a_replica_unblocks_and_closes_its_blocked_clients() {
    let other = TestNode::start(&[]);
    let node = TestNode::start(&[]);
    let mut c = raw(&node);
    c.command(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&node, 1);
    let port = other.port.to_string();
    assert_eq!(val(&node, &["REPLICAOF", "127.0.0.1", &port]), "OK");
    assert_eq!(
        c.line(),
        "-UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)\r\n"
    );
    assert!(c.is_closed(), "the connection closes after the error");
    wait_blocked(&node, 0);
}

#[test]
fn a_blocked_client_whose_slot_moves_away_gets_moved() {
    let c = TestCluster::start(3, 0);
    let (n0, n1) = (&c.nodes[0], &c.nodes[1]);
    // A key in the first primary's slots (0-5460 after create).
    let (key, slot) = (0..100)
        .map(|i| format!("k{i}"))
        .map(|k| {
            let slot: u16 = val(n0, &["CLUSTER", "KEYSLOT", &k])
                .parse()
                .unwrap_or(u16::MAX);
            (k, slot)
        })
        .find(|(_, s)| *s < 5461)
        .expect("a key of node 0");
    let mut blocked = raw(n0);
    blocked.command(&[b"BLPOP", key.as_bytes(), b"0"]);
    wait_blocked(n0, 1);
    // Another slot moving leaves it blocked.
    let id1 = n1.text(&["CLUSTER", "MYID"]);
    let other = if slot == 0 { 1 } else { slot - 1 }.to_string();
    for n in [n0, n1] {
        assert_eq!(n.text(&["CLUSTER", "SETSLOT", &other, "NODE", &id1]), "OK");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(blocked_clients(n0), 1);
    let s = slot.to_string();
    for n in [n0, n1] {
        assert_eq!(n.text(&["CLUSTER", "SETSLOT", &s, "NODE", &id1]), "OK");
    }
    assert_eq!(blocked.line(), format!("-MOVED {slot} {}\r\n", n1.addr()));
    wait_blocked(n0, 0);
    // The connection stays usable, and the key is served where it moved.
    assert_eq!(blocked.call(&["PING"]), b"+PONG\r\n");
    assert_eq!(
        String::from_utf8_lossy(&blocked.call(&["LPUSH", &key, "x"])),
        format!("-MOVED {slot} {}\r\n", n1.addr())
    );
}
