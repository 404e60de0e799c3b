//! String commands through redis-rs against the real binary.

mod common;

use common::TestNode;
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
