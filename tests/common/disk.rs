//! Helpers for the persistence suites (`tests/persistence.rs`, `tests/aof.rs`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use redis::Connection;

use super::{free_port, info_field, run_within, wait_for, RedisServer, TestNode};

/// One field of `INFO persistence`.
pub fn info(c: &mut Connection, field: &str) -> String {
    info_field(c, "persistence", field)
}

/// `DEBUG DIGEST`: one hash of every key, value and TTL (Redis's algorithm).
pub fn digest(c: &mut Connection) -> String {
    redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(c)
        .expect("DEBUG DIGEST")
}

/// `SAVE`, which must answer OK.
pub fn save(c: &mut Connection) {
    let r: String = redis::cmd("SAVE").query(c).expect("SAVE");
    assert_eq!(r, "OK");
}

/// Saves a redis-server's dataset and copies its `dump.rdb` into a new
/// directory, for a ringcache to start in.
pub fn redis_dump(redis: &RedisServer) -> tempfile::TempDir {
    save(&mut redis.conn());
    let dir = tempfile::tempdir().expect("dir");
    std::fs::copy(
        redis.dir.path().join("dump.rdb"),
        dir.path().join("dump.rdb"),
    )
    .expect("copy");
    dir
}

/// Runs BGREWRITEAOF and waits until it has finished.
pub fn rewrite_and_wait(c: &mut Connection) {
    let _: String = redis::cmd("BGREWRITEAOF").query(c).expect("BGREWRITEAOF");
    assert!(
        wait_for(Duration::from_secs(20), || info(
            c,
            "aof_rewrite_in_progress"
        ) == "0"),
        "the rewrite did not finish"
    );
}

/// Kills the node and moves its directory out, to start another process on it.
pub fn take_dir(n: &mut TestNode) -> tempfile::TempDir {
    n.kill();
    std::mem::replace(&mut n.dir, tempfile::tempdir().expect("temp dir"))
}

/// Starts ringcache in `dir` and expects it to refuse: returns what it printed.
pub fn start_fails(dir: &Path, args: &[&str]) -> String {
    let o = run_within(
        Command::new(env!("CARGO_BIN_EXE_ringcache"))
            .args(["--port", &free_port().to_string(), "--dir"])
            .arg(dir)
            .args(args),
        None,
        Duration::from_secs(20),
    );
    let text = o.stdout + &o.stderr;
    // Exit code 1 is a refusal; 101 would be a panic, None a signal.
    assert_eq!(
        o.code,
        Some(1),
        "expected a clean refusal, got {:?}:\n{text}",
        o.code
    );
    text
}
