//! Start-up, configuration layering and shutdown of the real binary.

mod common;

use std::time::Duration;

use common::TestNode;
use redis::RedisResult;

fn select(node: &TestNode, db: u32) -> RedisResult<()> {
    let mut c = node.conn();
    redis::cmd("SELECT").arg(db).query(&mut c)
}

#[test]
fn logs_ready_line_and_stops_cleanly_on_sigterm() {
    let mut node = TestNode::start(&[]);
    assert!(common::wait_for(Duration::from_secs(5), || node
        .log()
        .contains("Ready to accept connections")));
    node.signal("TERM");
    assert!(
        node.wait_exit(Duration::from_secs(5)),
        "no exit after SIGTERM"
    );
    assert!(
        node.exit_status().is_some_and(|s| s.success()),
        "exit status not 0"
    );
}

#[test]
fn sigint_stops_cleanly_too() {
    let mut node = TestNode::start(&[]);
    node.signal("INT");
    assert!(
        node.wait_exit(Duration::from_secs(5)),
        "no exit after SIGINT"
    );
    assert!(node.exit_status().is_some_and(|s| s.success()));
}

#[test]
fn config_layers_file_then_env_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rc.toml");
    std::fs::write(&file, "databases = 4\n").unwrap();
    let f = file.to_str().unwrap();

    // File alone: 4 databases.
    let node = TestNode::start(&["--config", f]);
    assert!(select(&node, 3).is_ok());
    let err = select(&node, 4).unwrap_err().to_string();
    assert!(err.contains("DB index is out of range"), "{err}");
    drop(node);

    // The environment beats the file.
    let node = TestNode::start_with_env(&["--config", f], &[("RINGCACHE_DATABASES", "2")]);
    assert!(select(&node, 1).is_ok());
    assert!(select(&node, 2).is_err());
    drop(node);

    // Flags beat both.
    let node = TestNode::start_with_env(
        &["--config", f, "--databases", "6"],
        &[("RINGCACHE_DATABASES", "2")],
    );
    assert!(select(&node, 5).is_ok());
    assert!(select(&node, 6).is_err());
}

#[test]
fn bad_configuration_is_refused_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringcache"))
        .args(["--port", "0", "--maxmemory-policy", "sometimes"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("maxmemory-policy"));
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let node = TestNode::start(&["--timeout", "1"]);
    let mut raw = node.raw();
    raw.send(b"PING\r\n");
    assert_eq!(raw.line(), "+PONG\r\n");
    raw.s
        .set_read_timeout(Some(Duration::from_secs(4)))
        .unwrap();
    assert!(raw.is_closed(), "idle connection still open after timeout");
}
