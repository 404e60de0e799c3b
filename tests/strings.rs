//! String commands through redis-rs against the real binary.

mod common;

use common::{RawConn, RedisServer, TestNode};
use redis::{Commands, RedisResult, Value};

#[test]
fn set_get_and_options() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    let r: Option<String> = redis::cmd("SET")
        .arg("k")
        .arg("w")
        .arg("NX")
        .query(&mut c)
        .unwrap();
    assert_eq!(r, None);
    let r: Option<String> = redis::cmd("SET")
        .arg("k")
        .arg("w")
        .arg("XX")
        .arg("GET")
        .query(&mut c)
        .unwrap();
    assert_eq!(r.as_deref(), Some("v"));
    let r: RedisResult<Value> = redis::cmd("SET")
        .arg("k")
        .arg("w")
        .arg("EX")
        .arg("0")
        .query(&mut c);
    assert!(r
        .unwrap_err()
        .to_string()
        .contains("invalid expire time in 'set' command"));
    let r: RedisResult<Value> = redis::cmd("SET")
        .arg("k")
        .arg("w")
        .arg("NX")
        .arg("XX")
        .query(&mut c);
    assert!(r.unwrap_err().to_string().contains("syntax error"));
}

#[test]
fn counters() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    assert_eq!(c.incr::<_, _, i64>("n", 5).unwrap(), 5);
    assert_eq!(c.decr::<_, _, i64>("n", 7).unwrap(), -2);
    let _: () = c.set("big", i64::MAX).unwrap();
    let r: RedisResult<i64> = c.incr("big", 1);
    assert!(r
        .unwrap_err()
        .to_string()
        .contains("increment or decrement would overflow"));
    let _: () = c.set("s", "abc").unwrap();
    let r: RedisResult<i64> = c.incr("s", 1);
    assert!(r
        .unwrap_err()
        .to_string()
        .contains("value is not an integer or out of range"));
    let f: String = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("10.5")
        .query(&mut c)
        .unwrap();
    assert_eq!(f, "10.5");
    let f: String = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("0.1")
        .query(&mut c)
        .unwrap();
    assert_eq!(f, "10.6");
}

/// Runs `args` on both servers and asserts the raw replies are identical;
/// returns ringcache's.
fn same_reply(ours: &mut RawConn, theirs: &mut RawConn, args: &[&str]) -> String {
    let (a, b) = (ours.call(args), theirs.call(args));
    let show = |r: &[u8]| String::from_utf8_lossy(&r[..r.len().min(120)]).into_owned();
    assert_eq!(show(&a), show(&b), "{args:?}: ringcache vs redis-server");
    assert_eq!(a, b, "{args:?}: ringcache vs redis-server");
    show(&a)
}

/// LCS's table of (|a|+1)*(|b|+1) four-byte cells must fit in
/// proto-max-bulk-len, as in redis-server, and is refused before anything is
/// allocated (the old bound, 2^32 cells, let two 64 KB strings ask for 16 GiB).
#[test]
fn lcs_table_is_bounded_by_proto_max_bulk_len() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (mut ours, mut theirs) = (node.raw(), redis.raw());
    let refused =
        "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n";
    // At 1mb, 511-byte strings need 512*512*4 bytes = exactly the limit; 512 bytes need more.
    same_reply(
        &mut ours,
        &mut theirs,
        &["CONFIG", "SET", "proto-max-bulk-len", "1mb"],
    );
    for (n, fits) in [(511, true), (512, false)] {
        let v = "x".repeat(n);
        same_reply(&mut ours, &mut theirs, &["MSET", "a", &v, "b", &v]);
        for extra in [&[][..], &["LEN"], &["IDX", "WITHMATCHLEN"]] {
            let mut args = vec!["LCS", "a", "b"];
            args.extend_from_slice(extra);
            let r = same_reply(&mut ours, &mut theirs, &args);
            assert_eq!(r == refused, !fits, "{n} bytes, {extra:?}: {r}");
        }
    }
    // The default limit (512mb) and two 70,000-byte strings: 19.6 GB of cells.
    same_reply(
        &mut ours,
        &mut theirs,
        &["CONFIG", "SET", "proto-max-bulk-len", "512mb"],
    );
    let v = "y".repeat(70_000);
    same_reply(&mut ours, &mut theirs, &["MSET", "a", &v, "b", &v]);
    for extra in [&[][..], &["LEN"], &["IDX"]] {
        let mut args = vec!["LCS", "a", "b"];
        args.extend_from_slice(extra);
        assert_eq!(same_reply(&mut ours, &mut theirs, &args), refused);
    }
    assert_eq!(ours.call(&["PING"]), b"+PONG\r\n");
}
