//! Client eviction (`maxmemory-clients`) on the real binary, after Redis's
//! unit/client-eviction (which its suite runs only against a server it starts
//! itself): clients are disconnected, largest first, once all clients together
//! hold the limit; CLIENT NO-EVICT clients count but stay; a percentage is
//! taken of `maxmemory`; INFO and CLIENT LIST show what is counted.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{cmd, wait_for, RawConn, TestNode};

/// CLIENT LIST as `name -> (tot-mem, qbuf)` for the named clients.
fn clients(c: &mut redis::Connection) -> HashMap<String, (u64, u64)> {
    let list: String = redis::cmd("CLIENT").arg("LIST").query(c).expect("list");
    let field = |line: &str, f: &str| -> String {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(f).and_then(|v| v.strip_prefix('=')))
            .unwrap_or_default()
            .to_string()
    };
    list.lines()
        .filter(|l| !field(l, "name").is_empty())
        .map(|l| {
            let n = |f| field(l, f).parse::<u64>().expect("number");
            (field(l, "name"), (n("tot-mem"), n("qbuf")))
        })
        .collect()
}

fn info_field(c: &mut redis::Connection, section: &str, name: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg(section).query(c).expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no {name}"))
}

fn config_set(c: &mut redis::Connection, name: &str, value: &str) {
    cmd(c, &["CONFIG", "SET", name, value]);
}

/// A raw client named `name` that has sent `bulk` bytes of an argument of a
/// command it never completes (its query buffer holds them).
fn holding(node: &TestNode, name: &str, args: usize, bulk: usize) -> RawConn {
    holding_as(node, name, args, bulk, false)
}

/// `holding`, after `CLIENT NO-EVICT on` when `no_evict`.
fn holding_as(node: &TestNode, name: &str, args: usize, bulk: usize, no_evict: bool) -> RawConn {
    let mut r = node.raw();
    assert_eq!(r.call(&["CLIENT", "SETNAME", name]), b"+OK\r\n");
    if no_evict {
        assert_eq!(r.call(&["CLIENT", "NO-EVICT", "on"]), b"+OK\r\n");
    }
    let mut frame = format!("*{args}\r\n${bulk}\r\n").into_bytes();
    frame.resize(frame.len() + bulk, b'v');
    // An evicted client's socket may refuse the rest: that is the point.
    let _ = std::io::Write::write_all(&mut r.s, &frame);
    r
}

fn gone(c: &mut redis::Connection, name: &str) -> bool {
    wait_for(Duration::from_secs(5), || !clients(c).contains_key(name))
}

fn control(node: &TestNode) -> redis::Connection {
    let mut c = node.conn();
    cmd(&mut c, &["CLIENT", "SETNAME", "control"]);
    cmd(&mut c, &["CLIENT", "NO-EVICT", "on"]);
    c
}

#[test]
fn a_request_over_the_limit_gets_its_client_evicted_before_it_runs() {
    let node = TestNode::start(&["--maxmemory-clients", "3000000"]);
    let mut c = control(&node);
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg(&["GET", "maxmemory-clients"])
        .query(&mut c)
        .expect("get");
    assert_eq!(got, ["maxmemory-clients", "3000000"]);
    // Under the limit: it runs.
    let mut rr = node.conn();
    cmd(&mut rr, &["CLIENT", "SETNAME", "small"]);
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg(vec![b'v'; 1_000_000])
        .query(&mut rr)
        .expect("1 MB fits");
    assert!(clients(&mut c).contains_key("small"));
    // Over it, even unfinished: the client goes, its command never runs.
    let mut big = holding(&node, "big", 2, 3_000_000);
    assert!(gone(&mut c, "big"), "{:?}", clients(&mut c));
    assert!(big.is_closed());
    assert_eq!(info_field(&mut c, "stats", "evicted_clients"), 1);
    assert!(
        clients(&mut c).contains_key("small"),
        "only the largest goes"
    );
    cmd(&mut c, &["CONFIG", "RESETSTAT"]);
    assert_eq!(info_field(&mut c, "stats", "evicted_clients"), 0);
}

#[test]
fn a_percentage_limit_is_taken_of_maxmemory() {
    let node = TestNode::start(&[]);
    let mut c = control(&node);
    let err = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory-clients", "200%"])
        .query::<()>(&mut c)
        .unwrap_err();
    assert_eq!(
        err.detail(),
        Some("CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100")
    );
    config_set(&mut c, "maxmemory", "6mb");
    config_set(&mut c, "maxmemory-clients", "7%");
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg(&["GET", "maxmemory-clients"])
        .query(&mut c)
        .expect("get");
    assert_eq!(got, ["maxmemory-clients", "7%"]);
    let limit = 6 * 1024 * 1024 * 7 / 100;
    let _half = holding(&node, "half", 1, limit / 2);
    assert!(wait_for(Duration::from_secs(5), || clients(&mut c)
        .get("half")
        .is_some_and(|&(_, qbuf)| qbuf as usize >= limit / 2)));
    let (tot, _) = clients(&mut c)["half"];
    assert!(tot as usize >= limit / 2 && (tot as usize) < limit, "{tot}");
    let _full = holding(&node, "full", 1, limit);
    assert!(gone(&mut c, "full"));
    assert!(clients(&mut c).contains_key("half"));
    // Without maxmemory a percentage is no limit.
    config_set(&mut c, "maxmemory", "0");
    let _again = holding(&node, "again", 1, limit * 2);
    std::thread::sleep(Duration::from_millis(300));
    assert!(clients(&mut c).contains_key("again"));
}

#[test]
fn lowering_the_limit_evicts_the_largest_first_until_under_it() {
    let node = TestNode::start(&[]);
    let mut c = control(&node);
    let sizes = [
        ("s", 128 * 1024),
        ("m", 1024 * 1024),
        ("l", 3 * 1024 * 1024),
    ];
    let mut held = Vec::new();
    for (name, size) in sizes {
        for i in 0..2 {
            let name = format!("{name}{i}");
            held.push(holding(&node, &name, 2, size));
            assert!(wait_for(Duration::from_secs(5), || clients(&mut c)
                .get(&name)
                .is_some_and(|&(_, qbuf)| qbuf as usize >= size)));
        }
    }
    // A no-evict client holding the most counts, and stays.
    let _keeper = holding_as(&node, "keeper", 2, 4 * 1024 * 1024, true);
    assert!(wait_for(Duration::from_secs(5), || clients(&mut c)
        .get("keeper")
        .is_some_and(|&(_, qbuf)| qbuf as usize >= 4 * 1024 * 1024)));
    let all = clients(&mut c);
    let total: u64 = all.values().map(|&(tot, _)| tot).sum();
    let counted = info_field(&mut c, "memory", "mem_clients_normal");
    assert!(
        counted.abs_diff(total) < 64 * 1024,
        "INFO {counted} vs CLIENT LIST {total}"
    );
    // Limit = everything but the two large ones: exactly they go.
    let now = clients(&mut c);
    let total: u64 = now.values().map(|&(tot, _)| tot).sum();
    let large = now["l0"].0 + now["l1"].0;
    config_set(
        &mut c,
        "maxmemory-clients",
        &(total - large + 1).to_string(),
    );
    // An evicted connection leaves the list once its task has closed it.
    assert!(
        gone(&mut c, "l0") && gone(&mut c, "l1"),
        "{:?}",
        clients(&mut c)
    );
    let left = clients(&mut c);
    for name in ["s0", "s1", "m0", "m1", "keeper", "control"] {
        assert!(left.contains_key(name), "{name} evicted: {left:?}");
    }
    assert_eq!(info_field(&mut c, "stats", "evicted_clients"), 2);
    drop(held);
}

/// Runs `args(j)` for j = 0, 1, ... on one connection until it is closed;
/// returns how many ran (None if it never was, within `max`).
fn commands_until_evicted(
    node: &TestNode,
    max: usize,
    args: impl Fn(usize) -> Vec<String>,
) -> Option<usize> {
    let mut r = node.raw();
    for j in 0..max {
        let a = args(j);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        if r.call(&a).is_empty() {
            return Some(j);
        }
    }
    None
}

#[test]
fn watched_keys_subscriptions_and_tracking_prefixes_count() {
    let node = TestNode::start(&[]);
    let mut c = control(&node);
    config_set(&mut c, "maxmemory-clients", "200000");
    let watch = commands_until_evicted(&node, 200_000, |j| vec!["WATCH".into(), j.to_string()]);
    let psub = commands_until_evicted(&node, 200_000, |j| vec!["PSUBSCRIBE".into(), j.to_string()]);
    let sub = commands_until_evicted(&node, 200_000, |j| vec!["SUBSCRIBE".into(), j.to_string()]);
    let ssub = commands_until_evicted(&node, 200_000, |j| vec!["SSUBSCRIBE".into(), j.to_string()]);
    let prefix = commands_until_evicted(&node, 200_000, |j| {
        [
            "CLIENT",
            "TRACKING",
            "on",
            "PREFIX",
            &format!("{j:012}"),
            "BCAST",
        ]
        .map(String::from)
        .to_vec()
    });
    for (what, n) in [
        ("watch", watch),
        ("psubscribe", psub),
        ("subscribe", sub),
        ("ssubscribe", ssub),
        ("prefix", prefix),
    ] {
        // Some thousands of entries fill 200 KB; the client is then evicted.
        assert!(n.is_some_and(|n| n > 100), "{what}: {n:?}");
    }
    assert_eq!(info_field(&mut c, "stats", "evicted_clients"), 5);
    assert!(clients(&mut c).contains_key("control"));
}
