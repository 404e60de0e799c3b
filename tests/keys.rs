//! Generic key commands through redis-rs against the real binary. Expected
//! replies are redis-server 7.0.15's.

mod common;

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{wait_for, RedisServer, TestNode};
use redis::{Commands, Connection, RedisResult, Value};

/// The full error line (`ERR syntax error`) of a failed command.
fn err_line(r: RedisResult<Value>) -> String {
    let e = r.expect_err("expected an error reply");
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

/// Runs a command given as words and returns the raw reply.
fn q(c: &mut Connection, words: &[&str]) -> RedisResult<Value> {
    let mut cmd = redis::cmd(words[0]);
    for w in &words[1..] {
        cmd.arg(*w);
    }
    cmd.query(c)
}

fn int(c: &mut Connection, words: &[&str]) -> i64 {
    match q(c, words) {
        Ok(Value::Int(n)) => n,
        other => panic!("{words:?}: expected an integer, got {other:?}"),
    }
}

fn err(c: &mut Connection, words: &[&str]) -> String {
    err_line(q(c, words))
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[test]
fn expire_family_options_and_errors() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(
        err(&mut c, &["EXPIRE", "k", "abc", "nx", "xx"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, &["EXPIRE", "k", "10", "gt", "lt"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, &["EXPIRE", "k", "10", "foo"]),
        "ERR Unsupported option foo"
    );
    assert_eq!(
        err(&mut c, &["EXPIRE", "k", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, &["EXPIRE", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'expire' command"
    );
    assert_eq!(
        err(&mut c, &["PEXPIRE", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'pexpire' command"
    );
    assert_eq!(
        err(&mut c, &["EXPIREAT", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'expireat' command"
    );
    assert_eq!(
        err(&mut c, &["EXPIRE", "k"]),
        "ERR wrong number of arguments for 'expire' command"
    );
    assert_eq!(int(&mut c, &["TTL", "k"]), -1);

    assert_eq!(int(&mut c, &["EXPIRE", "k", "100", "XX"]), 0);
    assert_eq!(int(&mut c, &["EXPIRE", "k", "100", "GT"]), 0);
    assert_eq!(int(&mut c, &["EXPIRE", "k", "100", "NX"]), 1);
    assert_eq!(int(&mut c, &["TTL", "k"]), 100);
    assert_eq!(int(&mut c, &["EXPIRE", "k", "50", "NX"]), 0);
    assert_eq!(int(&mut c, &["EXPIRE", "k", "50", "GT"]), 0);
    assert_eq!(int(&mut c, &["EXPIRE", "k", "200", "gt"]), 1);
    assert_eq!(int(&mut c, &["EXPIRE", "k", "300", "LT"]), 0);
    assert_eq!(int(&mut c, &["EXPIRE", "k", "20", "lt"]), 1);
    assert_eq!(int(&mut c, &["TTL", "k"]), 20);
    let pttl = int(&mut c, &["PTTL", "k"]);
    assert!((19_000..=20_000).contains(&pttl), "{pttl}");

    assert_eq!(int(&mut c, &["PERSIST", "k"]), 1);
    assert_eq!(int(&mut c, &["PERSIST", "k"]), 0);
    assert_eq!(int(&mut c, &["PERSIST", "nokey"]), 0);
    assert_eq!(int(&mut c, &["TTL", "k"]), -1);
    assert_eq!(int(&mut c, &["EXPIRE", "k", "50", "LT"]), 1);

    for cmd in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        assert_eq!(int(&mut c, &[cmd, "nokey"]), -2, "{cmd}");
    }
    assert_eq!(int(&mut c, &["EXPIRE", "nokey", "10"]), 0);

    let _: () = c.set("k2", "v").unwrap();
    assert_eq!(int(&mut c, &["EXPIRETIME", "k2"]), -1);
    assert_eq!(int(&mut c, &["PEXPIREAT", "k2", "4102444800123"]), 1);
    assert_eq!(int(&mut c, &["PEXPIRETIME", "k2"]), 4_102_444_800_123);
    assert_eq!(int(&mut c, &["EXPIRETIME", "k2"]), 4_102_444_800);
    assert_eq!(int(&mut c, &["EXPIREAT", "k2", "4102444801"]), 1);
    assert_eq!(int(&mut c, &["PEXPIRETIME", "k2"]), 4_102_444_801_000);
    let deadline = unix_ms() + 30_000;
    assert_eq!(int(&mut c, &["PEXPIRE", "k2", "30000"]), 1);
    let at = int(&mut c, &["PEXPIRETIME", "k2"]);
    assert!((deadline - 5..deadline + 1000).contains(&at), "{at}");

    // A deadline in the past deletes the key and still reports success.
    for (cmd, t) in [
        ("EXPIRE", "0"),
        ("PEXPIRE", "-100"),
        ("EXPIREAT", "1"),
        ("PEXPIREAT", "1"),
    ] {
        let _: () = c.set("gone", "v").unwrap();
        assert_eq!(int(&mut c, &[cmd, "gone", t]), 1, "{cmd}");
        assert_eq!(int(&mut c, &["EXISTS", "gone"]), 0, "{cmd}");
    }
}

#[test]
fn short_ttls_expire_keys() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(int(&mut c, &["PEXPIRE", "k", "50"]), 1);
    assert!(wait_for(Duration::from_secs(3), || int(
        &mut c,
        &["EXISTS", "k"]
    ) == 0));
    assert_eq!(int(&mut c, &["TTL", "k"]), -2);
}

#[test]
fn rename_and_renamenx() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    assert_eq!(err(&mut c, &["RENAME", "nokey", "x"]), "ERR no such key");
    assert_eq!(err(&mut c, &["RENAMENX", "nokey", "x"]), "ERR no such key");
    assert_eq!(
        err(&mut c, &["RENAME", "nokey", "nokey"]),
        "ERR no such key"
    );
    let _: () = c.set("a", "1").unwrap();
    assert_eq!(q(&mut c, &["RENAME", "a", "a"]).unwrap(), Value::Okay);
    assert_eq!(int(&mut c, &["RENAMENX", "a", "a"]), 0);
    assert_eq!(q(&mut c, &["RENAME", "a", "b"]).unwrap(), Value::Okay);
    assert_eq!(c.get::<_, Option<String>>("a").unwrap(), None);
    assert_eq!(c.get::<_, String>("b").unwrap(), "1");
    let _: () = c.set("c", "2").unwrap();
    assert_eq!(int(&mut c, &["RENAMENX", "b", "c"]), 0);
    assert_eq!(c.get::<_, String>("c").unwrap(), "2");
    assert_eq!(int(&mut c, &["RENAMENX", "b", "d"]), 1);
    assert_eq!(c.get::<_, String>("d").unwrap(), "1");

    // The TTL travels with the key; an overwritten target loses its own.
    let _: () = c.set("e", "5").unwrap();
    assert_eq!(int(&mut c, &["EXPIRE", "e", "100"]), 1);
    assert_eq!(int(&mut c, &["EXPIRE", "d", "500"]), 1);
    assert_eq!(q(&mut c, &["RENAME", "e", "d"]).unwrap(), Value::Okay);
    assert_eq!(int(&mut c, &["TTL", "d"]), 100);
    assert_eq!(int(&mut c, &["TTL", "e"]), -2);
    assert_eq!(c.get::<_, String>("d").unwrap(), "5");
    // Keys in different slots.
    assert_eq!(
        q(&mut c, &["RENAME", "d", "{other}x"]).unwrap(),
        Value::Okay
    );
    assert_eq!(int(&mut c, &["TTL", "{other}x"]), 100);
}

#[test]
fn copy_and_move() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let _: () = c.set("d", "v").unwrap();
    assert_eq!(
        err(&mut c, &["COPY", "d", "d"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        err(&mut c, &["COPY", "d", "x", "DB", "99"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err(&mut c, &["COPY", "d", "x", "DB", "-1"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err(&mut c, &["COPY", "d", "x", "DB", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, &["COPY", "d", "x", "DB", "99999999999"]),
        "ERR value is out of range, value must between -2147483648 and 2147483647"
    );
    assert_eq!(err(&mut c, &["COPY", "d", "x", "DB"]), "ERR syntax error");
    assert_eq!(
        err(&mut c, &["COPY", "d", "x", "REPLACE", "foo"]),
        "ERR syntax error"
    );
    assert_eq!(int(&mut c, &["COPY", "nokey", "x"]), 0);
    assert_eq!(int(&mut c, &["EXPIRE", "d", "100"]), 1);
    assert_eq!(int(&mut c, &["COPY", "d", "x"]), 1);
    assert_eq!(int(&mut c, &["TTL", "x"]), 100);
    assert_eq!(c.get::<_, String>("x").unwrap(), "v");
    assert_eq!(int(&mut c, &["COPY", "d", "x"]), 0);
    let _: () = c.set("d", "w").unwrap();
    assert_eq!(int(&mut c, &["COPY", "d", "x", "replace"]), 1);
    assert_eq!(c.get::<_, String>("x").unwrap(), "w");
    assert_eq!(int(&mut c, &["TTL", "x"]), -1);
    assert_eq!(int(&mut c, &["COPY", "d", "d", "DB", "1"]), 1);
    assert_eq!(int(&mut c, &["COPY", "d", "d", "DB", "1"]), 0);
    assert_eq!(int(&mut c, &["COPY", "d", "d", "db", "1", "REPLACE"]), 1);

    assert_eq!(
        err(&mut c, &["MOVE", "d", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, &["MOVE", "d", "99999999999"]),
        "ERR value is out of range, value must between -2147483648 and 2147483647"
    );
    assert_eq!(
        err(&mut c, &["MOVE", "d", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err(&mut c, &["MOVE", "d", "0"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(int(&mut c, &["MOVE", "nokey", "1"]), 0);
    assert_eq!(int(&mut c, &["MOVE", "d", "1"]), 0, "target exists in db 1");
    assert_eq!(int(&mut c, &["EXPIRE", "x", "100"]), 1);
    assert_eq!(int(&mut c, &["MOVE", "x", "2"]), 1);
    assert_eq!(int(&mut c, &["EXISTS", "x"]), 0);
    assert_eq!(q(&mut c, &["SELECT", "2"]).unwrap(), Value::Okay);
    assert_eq!(c.get::<_, String>("x").unwrap(), "w");
    assert_eq!(int(&mut c, &["TTL", "x"]), 100);
    assert_eq!(int(&mut c, &["DBSIZE"]), 1);
}

fn scan_all(c: &mut Connection, extra: &[&str]) -> (HashSet<String>, usize) {
    let mut cursor = "0".to_string();
    let mut keys = HashSet::new();
    let mut calls = 0;
    loop {
        let mut words = vec!["SCAN", cursor.as_str()];
        words.extend_from_slice(extra);
        let (next, batch): (String, Vec<String>) =
            redis::from_redis_value(q(c, &words).unwrap()).unwrap();
        keys.extend(batch);
        calls += 1;
        cursor = next;
        if cursor == "0" {
            return (keys, calls);
        }
    }
}

#[test]
fn keys_and_scan() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(c.keys::<_, Vec<String>>("*").unwrap(), Vec::<String>::new());
    let _: () = c
        .mset(&[
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("foo", "4"),
            ("foobar", "5"),
        ])
        .unwrap();
    assert_eq!(
        sorted(c.keys("*").unwrap()),
        ["a", "b", "c", "foo", "foobar"]
    );
    assert_eq!(sorted(c.keys("foo*").unwrap()), ["foo", "foobar"]);
    assert_eq!(sorted(c.keys("[ab]").unwrap()), ["a", "b"]);
    assert_eq!(sorted(c.keys("?").unwrap()), ["a", "b", "c"]);
    assert_eq!(sorted(c.keys("FOO*").unwrap()), Vec::<String>::new());

    assert_eq!(err(&mut c, &["SCAN", "abc"]), "ERR invalid cursor");
    assert_eq!(err(&mut c, &["SCAN", " 1"]), "ERR invalid cursor");
    assert_eq!(
        err(&mut c, &["SCAN", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["SCAN", "0", "COUNT", "-1"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["SCAN", "0", "COUNT", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(err(&mut c, &["SCAN", "0", "MATCH"]), "ERR syntax error");
    assert_eq!(
        err(&mut c, &["SCAN", "0", "foo", "bar"]),
        "ERR syntax error"
    );

    let (all, _) = scan_all(&mut c, &["COUNT", "1000"]);
    assert_eq!(all.len(), 5);
    let (foo, _) = scan_all(&mut c, &["MATCH", "foo*"]);
    assert_eq!(
        foo,
        HashSet::from(["foo".to_string(), "foobar".to_string()])
    );
    let (strings, _) = scan_all(&mut c, &["TYPE", "STRING"]);
    assert_eq!(strings.len(), 5);
    let (none, _) = scan_all(&mut c, &["TYPE", "hash"]);
    assert!(none.is_empty());

    // Every key present for the whole scan is returned, COUNT bounds batches.
    let pairs: Vec<(String, String)> = (0..2000)
        .map(|i| (format!("k:{i}"), i.to_string()))
        .collect();
    let _: () = c.mset(&pairs).unwrap();
    let (all, calls) = scan_all(&mut c, &["COUNT", "20", "MATCH", "k:*"]);
    assert_eq!(all.len(), 2000);
    assert!(calls > 20, "{calls} calls");
}

#[test]
fn randomkey_and_touch() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    assert_eq!(q(&mut c, &["RANDOMKEY"]).unwrap(), Value::Nil);
    let _: () = c.mset(&[("a", "1"), ("b", "2")]).unwrap();
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let k: String = redis::cmd("RANDOMKEY").query(&mut c).unwrap();
        seen.insert(k);
    }
    assert_eq!(seen, HashSet::from(["a".to_string(), "b".to_string()]));
    assert_eq!(int(&mut c, &["TOUCH", "a", "b", "nokey", "a"]), 3);
    assert_eq!(int(&mut c, &["TOUCH", "nokey"]), 0);
    assert_eq!(
        err(&mut c, &["TOUCH"]),
        "ERR wrong number of arguments for 'touch' command"
    );

    // Only expired keys left: nil, not a hang.
    let _: () = c.del(&["a", "b"]).unwrap();
    for i in 0..20 {
        let k = format!("t{i}");
        let _: () = redis::cmd("SET")
            .arg(&k)
            .arg("v")
            .arg("PX")
            .arg(30)
            .query(&mut c)
            .unwrap();
    }
    assert!(wait_for(Duration::from_secs(3), || q(
        &mut c,
        &["RANDOMKEY"]
    )
    .is_ok_and(|v| v == Value::Nil)));
    assert_eq!(int(&mut c, &["DBSIZE"]), 0);
}

#[test]
fn object_subcommands() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let _: () = c.set("i", "12").unwrap();
    let _: () = c.set("big", "100000").unwrap();
    let _: () = c.set("s", "hello").unwrap();
    let _: () = c.set("long", "x".repeat(50)).unwrap();
    let enc = |c: &mut Connection, k: &str| -> Value { q(c, &["OBJECT", "ENCODING", k]).unwrap() };
    assert_eq!(enc(&mut c, "i"), Value::BulkString(b"int".to_vec()));
    assert_eq!(enc(&mut c, "s"), Value::BulkString(b"embstr".to_vec()));
    assert_eq!(enc(&mut c, "long"), Value::BulkString(b"raw".to_vec()));
    assert_eq!(enc(&mut c, "nokey"), Value::Nil);
    assert_eq!(int(&mut c, &["OBJECT", "REFCOUNT", "i"]), 2_147_483_647);
    assert_eq!(int(&mut c, &["OBJECT", "REFCOUNT", "big"]), 1);
    assert_eq!(int(&mut c, &["OBJECT", "REFCOUNT", "s"]), 1);
    assert_eq!(
        q(&mut c, &["OBJECT", "REFCOUNT", "nokey"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        q(&mut c, &["OBJECT", "IDLETIME", "nokey"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        err(&mut c, &["OBJECT", "FREQ", "s"]),
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
    );
    assert_eq!(
        err(&mut c, &["OBJECT", "ENCODING"]),
        "ERR wrong number of arguments for 'object|encoding' command"
    );
    assert_eq!(
        err(&mut c, &["OBJECT"]),
        "ERR wrong number of arguments for 'object' command"
    );
    assert_eq!(
        err(&mut c, &["OBJECT", "foo"]),
        "ERR unknown subcommand 'foo'. Try OBJECT HELP."
    );
    let help: Vec<String> =
        redis::from_redis_value(q(&mut c, &["OBJECT", "HELP"]).unwrap()).unwrap();
    assert_eq!(
        help.first().map(String::as_str),
        Some("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
    );
    assert_eq!(help.len(), 15);

    // OBJECT must not refresh the access time; a read does.
    let payload: Vec<u8> = redis::cmd("DUMP").arg("s").query(&mut c).unwrap();
    let r: RedisResult<Value> = redis::cmd("RESTORE")
        .arg("idle")
        .arg(0)
        .arg(&payload)
        .arg("IDLETIME")
        .arg(1000)
        .query(&mut c);
    assert_eq!(r.unwrap(), Value::Okay);
    for _ in 0..2 {
        let idle = int(&mut c, &["OBJECT", "IDLETIME", "idle"]);
        assert!((1000..1005).contains(&idle), "{idle}");
    }
    let _: String = c.get("idle").unwrap();
    assert!(int(&mut c, &["OBJECT", "IDLETIME", "idle"]) < 5);
}

#[test]
fn object_under_lfu() {
    let node = TestNode::start(&["--maxmemory-policy", "allkeys-lfu"]);
    let mut c = node.conn();
    let _: () = c.set("s", "hello").unwrap();
    assert_eq!(int(&mut c, &["OBJECT", "FREQ", "s"]), 5);
    assert_eq!(
        err(&mut c, &["OBJECT", "IDLETIME", "s"]),
        "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
    );
    let payload: Vec<u8> = redis::cmd("DUMP").arg("s").query(&mut c).unwrap();
    let r: RedisResult<Value> = redis::cmd("RESTORE")
        .arg("f")
        .arg(0)
        .arg(&payload)
        .arg("FREQ")
        .arg(100)
        .query(&mut c);
    assert_eq!(r.unwrap(), Value::Okay);
    assert_eq!(int(&mut c, &["OBJECT", "FREQ", "f"]), 100);
}

fn restore(
    c: &mut Connection,
    key: &str,
    ttl: i64,
    payload: &[u8],
    opts: &[&str],
) -> RedisResult<Value> {
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg(key).arg(ttl).arg(payload);
    for o in opts {
        cmd.arg(*o);
    }
    cmd.query(c)
}

fn dump(c: &mut Connection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("DUMP").arg(key).query(c).unwrap()
}

#[test]
fn dump_and_restore() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    assert_eq!(dump(&mut c, "nokey"), None);
    let _: () = c.set("s", "hello").unwrap();
    let _: () = c.set("i", "12").unwrap();
    // redis-server 7.0.15's payloads for these values.
    assert_eq!(
        dump(&mut c, "s").unwrap(),
        b"\x00\x05hello\n\x00cr\xdfve4 \n"
    );
    assert_eq!(
        dump(&mut c, "i").unwrap(),
        b"\x00\xc0\x0c\n\x00<*\xf8Q\\\x04\xbc\xd5"
    );
    let hello = dump(&mut c, "s").unwrap();

    assert_eq!(
        err_line(restore(&mut c, "s", 0, &hello, &[])),
        "BUSYKEY Target key name already exists."
    );
    assert_eq!(
        err_line(restore(&mut c, "new", -1, &hello, &[])),
        "ERR Invalid TTL value, must be >= 0"
    );
    assert_eq!(
        err(&mut c, &["RESTORE", "new", "abc", "xx"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err_line(restore(&mut c, "new", 0, b"xx", &[])),
        "ERR DUMP payload version or checksum are wrong"
    );
    let mut flipped = hello.clone();
    flipped[3] ^= 1;
    assert_eq!(
        err_line(restore(&mut c, "new", 0, &flipped, &[])),
        "ERR DUMP payload version or checksum are wrong"
    );
    let mut newer = hello.clone();
    newer[hello.len() - 10] = 11;
    assert_eq!(
        err_line(restore(&mut c, "new", 0, &newer, &[])),
        "ERR DUMP payload version or checksum are wrong"
    );
    // A valid footer around a body whose length runs past the payload
    // (redis-server 7.0.15 also answers Bad data format).
    let garbage = b"\x00?abc\n\x00\xf5_nP\xf8\x15\xbb\"";
    let r = restore(&mut c, "new", 0, garbage, &[]);
    assert_eq!(err_line(r), "ERR Bad data format");
    assert_eq!(
        err_line(restore(&mut c, "new", 0, &hello, &["IDLETIME", "-1"])),
        "ERR Invalid IDLETIME value, must be >= 0"
    );
    assert_eq!(
        err_line(restore(&mut c, "new", 0, &hello, &["FREQ", "256"])),
        "ERR Invalid FREQ value, must be >= 0 and <= 255"
    );
    assert_eq!(
        err_line(restore(
            &mut c,
            "new",
            0,
            &hello,
            &["FREQ", "1", "IDLETIME", "1"]
        )),
        "ERR syntax error"
    );
    assert_eq!(
        err_line(restore(&mut c, "new", 0, &hello, &["foo"])),
        "ERR syntax error"
    );

    assert_eq!(restore(&mut c, "new", 0, &hello, &[]).unwrap(), Value::Okay);
    assert_eq!(c.get::<_, String>("new").unwrap(), "hello");
    assert_eq!(int(&mut c, &["TTL", "new"]), -1);
    let i = dump(&mut c, "i").unwrap();
    assert_eq!(
        restore(&mut c, "new", 5000, &i, &["REPLACE"]).unwrap(),
        Value::Okay
    );
    assert_eq!(c.get::<_, i64>("new").unwrap(), 12);
    assert_eq!(int(&mut c, &["TTL", "new"]), 5);
    let at = unix_ms() + 100_000;
    assert_eq!(
        restore(&mut c, "abs", at, &hello, &["ABSTTL"]).unwrap(),
        Value::Okay
    );
    assert_eq!(int(&mut c, &["PEXPIRETIME", "abs"]), at);
    // A deadline already past: OK, but no key (and the old one is replaced away).
    assert_eq!(
        restore(&mut c, "abs", 1, &hello, &["ABSTTL", "REPLACE"]).unwrap(),
        Value::Okay
    );
    assert_eq!(int(&mut c, &["EXISTS", "abs"]), 0);
    assert_eq!(
        restore(&mut c, "huge", i64::MAX, &hello, &[]).unwrap(),
        Value::Okay
    );
    assert_eq!(int(&mut c, &["EXISTS", "huge"]), 0);

    let long = "abcdefghij".repeat(30);
    let _: () = c.set("long", &long).unwrap();
    let p = dump(&mut c, "long").unwrap();
    assert!(p.len() < 100, "compressed payload, {} bytes", p.len());
    assert_eq!(restore(&mut c, "long2", 0, &p, &[]).unwrap(), Value::Okay);
    assert_eq!(c.get::<_, String>("long2").unwrap(), long);
}

#[test]
fn dump_restore_interoperates_with_redis_server() {
    let redis = RedisServer::start(&[]);
    let node = TestNode::start(&[]);
    let mut theirs = redis.conn();
    let mut ours = node.conn();
    let values = [
        ("short", "hello".to_string()),
        ("int", "12345".to_string()),
        ("negative", "-7".to_string()),
        ("bigint", "1234567890123".to_string()),
        ("compressible", "0123456789".repeat(10)),
        (
            "incompressible",
            (0..30).map(|i| char::from(b'!' + i * 3)).collect(),
        ),
    ];
    for (key, value) in &values {
        for redis_to_ours in [true, false] {
            let (from, to) = if redis_to_ours {
                (&mut theirs, &mut ours)
            } else {
                (&mut ours, &mut theirs)
            };
            let _: () = from.set(*key, value).unwrap();
            let payload = dump(from, key).unwrap();
            assert_eq!(
                restore(to, key, 0, &payload, &["REPLACE"]).unwrap(),
                Value::Okay,
                "{key}"
            );
            assert_eq!(&to.get::<_, String>(*key).unwrap(), value, "{key}");
            let enc_from = q(from, &["OBJECT", "ENCODING", key]).unwrap();
            let enc_to = q(to, &["OBJECT", "ENCODING", key]).unwrap();
            assert_eq!(enc_from, enc_to, "{key}");
        }
    }
    // Same payload bytes for the values whose encoding is fully determined.
    for key in ["short", "int", "negative", "bigint", "incompressible"] {
        assert_eq!(dump(&mut theirs, key), dump(&mut ours, key), "{key}");
    }
}

fn info_field(c: &mut redis::Connection, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("memory").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO"))
}

/// Waits until nothing is pending and returns `lazyfreed_objects`.
fn lazyfreed(c: &mut redis::Connection) -> u64 {
    for _ in 0..500 {
        if info_field(c, "lazyfree_pending_objects") == 0 {
            return info_field(c, "lazyfreed_objects");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("lazyfree never finished");
}

fn big_hash(c: &mut redis::Connection, key: &str) {
    let mut cmd = redis::cmd("HSET");
    cmd.arg(key);
    for i in 0..1000 {
        cmd.arg(format!("f{i}")).arg("some value");
    }
    let _: i64 = cmd.query(c).unwrap();
}

#[test]
fn unlink_and_async_flushes_free_large_values_in_the_background() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    big_hash(&mut c, "big");
    let _: () = redis::cmd("SET")
        .arg("small")
        .arg("v")
        .query(&mut c)
        .unwrap();
    let n: i64 = redis::cmd("UNLINK")
        .arg("big")
        .arg("small")
        .arg("none")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 2);
    // Only the large value went to the background thread.
    assert_eq!(lazyfreed(&mut c), 1);
    big_hash(&mut c, "big");
    let _: i64 = redis::cmd("DEL").arg("big").query(&mut c).unwrap();
    assert_eq!(lazyfreed(&mut c), 1, "DEL frees inline by default");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("lazyfree-lazy-user-del")
        .arg("yes")
        .query(&mut c)
        .unwrap();
    big_hash(&mut c, "big");
    let _: i64 = redis::cmd("DEL").arg("big").query(&mut c).unwrap();
    assert_eq!(
        lazyfreed(&mut c),
        2,
        "lazyfree-lazy-user-del makes DEL an UNLINK"
    );
    for i in 0..10 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut c)
            .unwrap();
    }
    let _: () = redis::cmd("FLUSHALL").arg("ASYNC").query(&mut c).unwrap();
    assert_eq!(lazyfreed(&mut c), 12, "FLUSHALL ASYNC counts every key");
    let size: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 0);
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
    assert_eq!(lazyfreed(&mut c), 0);
}

#[test]
fn swapdb_trades_databases_and_the_files_follow() {
    let mut node = TestNode::start(&["--appendonly", "yes"]);
    let mut c = node.conn();
    let _: () = c.set("a", "in-zero").unwrap();
    let _: () = redis::cmd("SELECT").arg(1).query(&mut c).unwrap();
    let _: () = c.set("b", "in-one").unwrap();
    let _: () = redis::cmd("SWAPDB").arg(0).arg(1).query(&mut c).unwrap();
    // This connection stays on db 1, which now holds db 0's keys.
    assert_eq!(
        c.get::<_, Option<String>>("a").unwrap().as_deref(),
        Some("in-zero")
    );
    assert_eq!(c.get::<_, Option<String>>("b").unwrap(), None);
    let err = redis::cmd("SWAPDB")
        .arg(0)
        .arg(16)
        .query::<()>(&mut c)
        .unwrap_err();
    assert_eq!(err.detail(), Some("DB index is out of range"));
    let _: () = redis::cmd("SAVE").query(&mut c).unwrap();
    node.restart();
    let mut c = node.conn();
    assert_eq!(
        c.get::<_, Option<String>>("b").unwrap().as_deref(),
        Some("in-one")
    );
    let _: () = redis::cmd("SELECT").arg(1).query(&mut c).unwrap();
    assert_eq!(
        c.get::<_, Option<String>>("a").unwrap().as_deref(),
        Some("in-zero")
    );
}
