//! WATCH against the real binary: optimistic locking under contention, and
//! the keys that make EXEC fail.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::TestNode;

#[test]
fn fifty_clients_incrementing_one_key_by_watch_and_retry_lose_no_increment() {
    const CLIENTS: usize = 50;
    const EACH: usize = 200;
    let node = TestNode::start(&[]);
    let aborted = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let mut c = node.conn();
            let aborted = aborted.clone();
            std::thread::spawn(move || {
                for _ in 0..EACH {
                    loop {
                        let _: () = redis::cmd("WATCH")
                            .arg("counter")
                            .query(&mut c)
                            .expect("watch");
                        let v: Option<i64> =
                            redis::cmd("GET").arg("counter").query(&mut c).expect("get");
                        let next = v.unwrap_or(0) + 1;
                        let done: Option<(String,)> = redis::pipe()
                            .atomic()
                            .cmd("SET")
                            .arg("counter")
                            .arg(next)
                            .query(&mut c)
                            .expect("exec");
                        if done.is_some() {
                            break;
                        }
                        aborted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
    let total: i64 = redis::cmd("GET")
        .arg("counter")
        .query(&mut node.conn())
        .expect("get");
    let aborted = aborted.load(Ordering::Relaxed);
    println!(
        "{} increments, {aborted} EXECs aborted by WATCH",
        CLIENTS * EACH
    );
    assert_eq!(total, (CLIENTS * EACH) as i64);
    assert!(
        aborted > 0,
        "50 clients on one key must collide at least once"
    );
}

#[test]
fn exec_fails_after_a_write_an_expiry_or_a_flush_and_not_for_a_stale_key() {
    let node = TestNode::start(&[]);
    let mut c = node.raw();
    let mut other = node.raw();
    let abort_after = |c: &mut common::RawConn, other: &mut common::RawConn, change: &[&str]| {
        assert_eq!(c.call(&["WATCH", "k"]), b"+OK\r\n");
        if !change.is_empty() {
            other.call(change);
        }
        assert_eq!(c.call(&["MULTI"]), b"+OK\r\n");
        assert_eq!(c.call(&["PING"]), b"+QUEUED\r\n");
        c.call(&["EXEC"])
    };
    c.call(&["SET", "k", "1"]);
    assert_eq!(abort_after(&mut c, &mut other, &[]), b"*1\r\n+PONG\r\n");
    assert_eq!(abort_after(&mut c, &mut other, &["INCR", "k"]), b"*-1\r\n");
    assert_eq!(
        abort_after(&mut c, &mut other, &["EXPIRE", "k", "100"]),
        b"*-1\r\n"
    );
    // Another database's key of the same name is another key.
    other.call(&["SELECT", "3"]);
    assert_eq!(
        abort_after(&mut c, &mut other, &["SET", "k", "x"]),
        b"*1\r\n+PONG\r\n"
    );
    other.call(&["SELECT", "0"]);
    assert_eq!(abort_after(&mut c, &mut other, &["FLUSHALL"]), b"*-1\r\n");
    // A key that expires after WATCH fails EXEC; one stale at WATCH does not.
    c.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    c.call(&["SET", "k", "1", "PX", "50"]);
    assert_eq!(c.call(&["WATCH", "k"]), b"+OK\r\n");
    std::thread::sleep(std::time::Duration::from_millis(80));
    c.call(&["MULTI"]);
    c.call(&["PING"]);
    assert_eq!(c.call(&["EXEC"]), b"*-1\r\n");
    c.call(&["SET", "k", "1", "PX", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(
        abort_after(&mut c, &mut other, &["EXISTS", "k"]),
        b"*1\r\n+PONG\r\n"
    );
    // Inside MULTI, WATCH is refused and the transaction goes on.
    c.call(&["MULTI"]);
    assert_eq!(
        c.call(&["WATCH", "k"]),
        b"-ERR WATCH inside MULTI is not allowed\r\n"
    );
    assert_eq!(c.call(&["EXEC"]), b"*0\r\n");
    // UNWATCH forgets; a closed connection leaves nothing watched.
    c.call(&["WATCH", "k"]);
    c.call(&["UNWATCH"]);
    other.call(&["SET", "k", "2"]);
    c.call(&["MULTI"]);
    c.call(&["PING"]);
    assert_eq!(c.call(&["EXEC"]), b"*1\r\n+PONG\r\n");
}
