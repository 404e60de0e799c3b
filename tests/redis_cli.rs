//! Drives the real `redis-cli` and `redis-benchmark` binaries against ringcache.
//! CI installs them (`redis-tools`); without them these tests fail with a clear message.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::TestNode;
use redis::Commands;

fn need(tool: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "`{tool}` is not installed: apt-get install -y redis-tools (CI does this)"
    );
}

/// Runs `tool args…` with `stdin`, returning its output.
fn run(tool: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {tool}: {e}"));
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // Feed from a thread so a large stdin cannot deadlock against a full stdout pipe.
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

/// Commands covering every reply type redis-cli formats (RESP2).
const SESSION: &str = "FLUSHALL
SET a ohmytext
SET b mynewtext
GET a
INCR n
GET nosuch
INCR a
MGET a nosuch b
LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN
LCS a b IDX MINMATCHLEN 100
COMMAND LIST FILTERBY PATTERN nomatch*
";

/// What `redis-cli --no-raw` prints for SESSION against redis-server 7.0.15.
const REDIS_OUTPUT: &str = r#"OK
OK
OK
"ohmytext"
(integer) 1
(nil)
(error) ERR value is not an integer or out of range
1) "ohmytext"
2) (nil)
3) "mynewtext"
1) "matches"
2) 1) 1) 1) (integer) 4
         2) (integer) 7
      2) 1) (integer) 5
         2) (integer) 8
      3) (integer) 4
3) "len"
4) (integer) 6
1) "matches"
2) (empty array)
3) "len"
4) (integer) 6
(empty array)
"#;

fn cli_session(port: u16) -> String {
    let p = port.to_string();
    let out = run(
        "redis-cli",
        &["-h", "127.0.0.1", "-p", &p, "--no-raw"],
        SESSION.as_bytes(),
    );
    assert!(out.status.success(), "redis-cli failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn no_raw_formatting_matches_redis() {
    need("redis-cli");
    let node = TestNode::start(&[]);
    let ours = cli_session(node.port);
    assert_eq!(ours, REDIS_OUTPUT);
    let redis = common::RedisServer::start(&[]);
    assert_eq!(ours, cli_session(redis.port), "live redis-server differs");
}

/// `SET key:NNNNNNN value` as RESP for keys `0..n`.
fn mass_insert_stream(n: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(n * 60);
    for i in 0..n {
        let key = format!("key:{i:07}");
        let val = format!("value-{i:026}");
        buf.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{val}\r\n",
                key.len(),
                val.len()
            )
            .as_bytes(),
        );
    }
    buf
}

#[test]
fn pipe_mass_insertion_of_a_million_keys() {
    need("redis-cli");
    let node = TestNode::start(&[]);
    let n = 1_000_000;
    let p = node.port.to_string();
    let out = run(
        "redis-cli",
        &["-h", "127.0.0.1", "-p", &p, "--pipe"],
        &mass_insert_stream(n),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "redis-cli --pipe failed: {out:?}");
    assert!(
        text.contains(&format!("errors: 0, replies: {n}")),
        "unexpected --pipe summary: {text}"
    );
    let mut c = node.conn();
    let size: usize = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, n);
    let v: String = c.get("key:0999999").unwrap();
    assert_eq!(v, format!("value-{:026}", 999_999));
}

#[test]
fn redis_benchmark_runs_clean() {
    need("redis-benchmark");
    let node = TestNode::start(&[]);
    // Debug builds are ~10x slower: fewer requests keep the test short there.
    let requests = if cfg!(debug_assertions) {
        "20000"
    } else {
        "100000"
    };
    let p = node.port.to_string();
    let out = run(
        "redis-benchmark",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &p,
            "-q",
            "-t",
            "ping,set,get,incr,mset",
            "-n",
            requests,
        ],
        b"",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "redis-benchmark failed: {stderr}");
    // -q prints one `NAME: N requests per second, p50=…` line per test; progress
    // lines end in \r and are overwritten.
    let results: Vec<&str> = stdout
        .split(['\r', '\n'])
        .filter(|l| l.contains("requests per second"))
        .collect();
    for test in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "MSET (10 keys)",
    ] {
        assert!(
            results.iter().any(|l| l.starts_with(&format!("{test}: "))),
            "no result for {test} in:\n{stdout}"
        );
    }
    let bad: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| l.contains("ERR") || l.contains("rror"))
        .collect();
    assert!(bad.is_empty(), "error lines: {bad:?}");
    let mut c = node.conn();
    let counter: i64 = c.get("counter:__rand_int__").unwrap();
    assert_eq!(counter.to_string(), requests);
}
