//! redis-py (Python) against the real binary, over RESP2 and RESP3, through
//! `tests/py/redispy_check.py`. CI pip-installs redis-py; without it these tests
//! fail with a clear message.

mod common;

use std::process::Command;

use common::{need_redis_py, TestNode};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/redispy_check.py");

/// Runs the check script for `groups` over `protocol`; asserts a clean pass.
fn run_checks(protocol: u8, groups: &str) {
    need_redis_py();
    let node = TestNode::start(&[]);
    let out = Command::new("python3")
        .arg(SCRIPT)
        .arg(node.port.to_string())
        .arg(protocol.to_string())
        .arg(groups)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        out.status.success() && last.ends_with(" passed, 0 failed"),
        "redis-py checks failed (RESP{protocol}, {groups}):\n{stdout}\n{stderr}"
    );
}

#[test]
fn strings_and_pipelines_resp2() {
    run_checks(2, "strings,pipeline");
}

#[test]
fn strings_and_pipelines_resp3() {
    run_checks(3, "strings,pipeline");
}

#[test]
fn ttl_and_scan_resp2() {
    run_checks(2, "ttl,scan");
}

#[test]
fn ttl_and_scan_resp3() {
    run_checks(3, "ttl,scan");
}
