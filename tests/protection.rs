//! Protected mode, `enable-debug-command`, `enable-protected-configs` and
//! `rename-command` against the real binary, side by side with redis-server
//! 7.0.15 (issue 17, "protected mode").
//!
//! A non-local client is made without leaving the machine: a socket bound
//! to 127.0.0.2 (on the loopback interface, but not an address Redis 7.0
//! calls local: its `islocalClient` accepts exactly 127.0.0.1 and ::1)
//! connects to the server on 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{cmd, cmd_err, info_field, RawConn, RedisServer, TestNode};

/// A connection to 127.0.0.1:`port` from `source` (another loopback address).
fn connect_from(source: &str, port: u16) -> RawConn {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    let source: std::net::IpAddr = source.parse().expect("source address");
    let stream = rt
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind((source, 0).into())?;
            socket.connect(([127, 0, 0, 1], port).into()).await
        })
        .expect("connect from a second loopback address");
    let s = stream.into_std().expect("std stream");
    s.set_nonblocking(false).expect("blocking");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    RawConn { s }
}

/// Sends PING from `source`; what came back until the server closed (or
/// went quiet), and whether it closed.
fn ping_from(source: &str, port: u16) -> (Vec<u8>, bool) {
    let mut c = connect_from(source, port);
    let _ = c.s.write_all(b"PING\r\n");
    c.s.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (got, true),
            Err(_) => return (got, false),
        }
    }
}

const DENIED_START: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user.";

#[test]
fn protected_mode_refuses_non_local_clients_as_redis() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (ours, ours_closed) = ping_from("127.0.0.2", node.port);
    let (theirs, theirs_closed) = ping_from("127.0.0.2", redis.port);
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs),
        "the refusal differs from redis-server's"
    );
    assert!(String::from_utf8_lossy(&ours).starts_with(DENIED_START));
    assert!(ours.ends_with(b"from the outside.\r\n"));
    assert!(ours_closed && theirs_closed, "a refused client is closed");
    // 127.0.0.1 itself is served.
    assert_eq!(ping_from("127.0.0.1", node.port).0, b"+PONG\r\n");
    let mut c = node.conn();
    assert_eq!(info_field(&mut c, "stats", "rejected_connections"), "1");
    // No protected mode, or a password: the same client is served.
    cmd(&mut c, &["CONFIG", "SET", "protected-mode", "no"]);
    assert_eq!(ping_from("127.0.0.2", node.port).0, b"+PONG\r\n");
    cmd(&mut c, &["CONFIG", "SET", "protected-mode", "yes"]);
    assert!(ping_from("127.0.0.2", node.port).0.starts_with(b"-DENIED"));
    cmd(&mut c, &["CONFIG", "SET", "requirepass", "pw"]);
    let (reply, _) = ping_from("127.0.0.2", node.port);
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "-NOAUTH Authentication required.\r\n"
    );
}

#[test]
fn protected_mode_off_at_start_serves_everyone() {
    let node = TestNode::start(&["--protected-mode", "no"]);
    assert_eq!(ping_from("127.0.0.2", node.port).0, b"+PONG\r\n");
    let pw = TestNode::start(&["--requirepass", "pw"]);
    let mut c = connect_from("127.0.0.2", pw.port);
    c.send(b"AUTH pw\r\nPING\r\n");
    assert_eq!(c.line(), "+OK\r\n");
    assert_eq!(c.line(), "+PONG\r\n");
}

/// The same commands on both servers give the same raw replies.
fn same_replies(ours: &mut RawConn, theirs: &mut RawConn, script: &[&[&str]]) {
    for args in script {
        let a = ours.call(args);
        let b = theirs.call(args);
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "{args:?}"
        );
    }
}

#[test]
fn debug_and_protected_configs_are_refused_by_default_as_redis() {
    let node = TestNode::start(&["--enable-debug-command", "no"]);
    let redis = RedisServer::start(&["--enable-debug-command", "no"]);
    let (mut ours, mut theirs) = (node.raw(), redis.raw());
    same_replies(
        &mut ours,
        &mut theirs,
        &[
            &["DEBUG", "SLEEP", "0"],
            &["DEBUG"],
            &["CONFIG", "SET", "dir", "/tmp"],
            &["CONFIG", "SET", "dbfilename", "x.rdb"],
            &["CONFIG", "SET", "maxmemory", "1mb", "dir", "/tmp"],
            &["CONFIG", "GET", "enable-debug-command"],
            &["CONFIG", "GET", "enable-protected-configs"],
            &["CONFIG", "SET", "enable-debug-command", "yes"],
            &["MULTI"],
            &["DEBUG", "SLEEP", "0"],
            &["EXEC"],
        ],
    );
    let e = node
        .query(&["DEBUG", "SLEEP", "0"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection"),
        "{e}"
    );
    // DEBUG is refused before the password is asked for, as in Redis.
    let mut c = node.conn();
    cmd(&mut c, &["CONFIG", "SET", "requirepass", "pw"]);
    let mut stranger = node.raw();
    let reply = String::from_utf8_lossy(&stranger.call(&["DEBUG", "SLEEP", "0"])).into_owned();
    assert!(
        reply.starts_with("-ERR DEBUG command not allowed."),
        "{reply}"
    );
}

#[test]
fn enable_options_yes_and_local_allow_as_redis() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().to_str().unwrap();
    let node = TestNode::start(&[
        "--enable-debug-command",
        "yes",
        "--enable-protected-configs",
        "yes",
    ]);
    let mut c = node.conn();
    assert_eq!(cmd(&mut c, &["DEBUG", "SLEEP", "0"]), redis::Value::Okay);
    cmd(&mut c, &["CONFIG", "SET", "dir", target]);
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg(&["GET", "dir"])
        .query(&mut c)
        .unwrap();
    let canonical = std::fs::canonicalize(target).unwrap();
    assert_eq!(got[1], canonical.to_str().unwrap());
    cmd(&mut c, &["CONFIG", "SET", "dbfilename", "other.rdb"]);
    cmd(&mut c, &["SET", "k", "v"]);
    cmd(&mut c, &["SAVE"]);
    assert!(
        canonical.join("other.rdb").exists(),
        "SAVE wrote into the new dir"
    );
    // A directory that does not exist: strerror's words, as Redis.
    let redis = RedisServer::start(&["--enable-protected-configs", "yes"]);
    same_replies(
        &mut node.raw(),
        &mut redis.raw(),
        &[&["CONFIG", "SET", "dir", "/nonexistent/ringcache-test"]],
    );
    // `local`: 127.0.0.1 may, 127.0.0.2 may not.
    let local = TestNode::start(&[
        "--enable-debug-command",
        "local",
        "--enable-protected-configs",
        "local",
        "--protected-mode",
        "no",
    ]);
    assert_eq!(
        cmd(&mut local.conn(), &["DEBUG", "SLEEP", "0"]),
        redis::Value::Okay
    );
    let mut far = connect_from("127.0.0.2", local.port);
    let reply = String::from_utf8_lossy(&far.call(&["DEBUG", "SLEEP", "0"])).into_owned();
    assert!(
        reply.starts_with("-ERR DEBUG command not allowed."),
        "{reply}"
    );
    let reply = String::from_utf8_lossy(&far.call(&["CONFIG", "SET", "dir", target])).into_owned();
    assert_eq!(
        reply,
        "-ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config\r\n"
    );
    // Bad values stop the start, as they are not Redis's words.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_ringcache"))
        .args(["--port", "0", "--enable-debug-command", "maybe"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("enable-debug-command"));
}

#[test]
fn rename_command_renames_and_removes_as_redis() {
    let args = [
        "--rename-command",
        "config",
        "",
        "--rename-command",
        "FLUSHALL",
        "nukeall",
    ];
    let node = TestNode::start(&args);
    let redis = RedisServer::start(&args);
    same_replies(
        &mut node.raw(),
        &mut redis.raw(),
        &[
            &["CONFIG", "GET", "port"],
            &["FLUSHALL"],
            &["SET", "k", "v"],
            &["NUKEALL"],
            &["EXISTS", "k"],
            &["nukeall", "SYNC"],
        ],
    );
    // Statistics keep the real name, as Redis's do.
    let mut c = node.conn();
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut c)
        .unwrap();
    assert!(stats.contains("cmdstat_flushall:calls=2"), "{stats}");
}

#[test]
fn renamed_writes_reach_the_aof_under_their_real_names() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("ringcache.toml");
    std::fs::write(
        &conf,
        "rename-command = [[\"SETBIT\", \"sb\"], [\"GEOADD\", \"ga\"]]\n",
    )
    .unwrap();
    let conf = conf.to_str().unwrap().to_string();
    let mut node = TestNode::start(&[
        "--config",
        &conf,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]);
    let mut c = node.conn();
    cmd(&mut c, &["SB", "bits", "7", "1"]);
    cmd(&mut c, &["GA", "geo", "13.361389", "38.115556", "Palermo"]);
    let e = cmd_err(&mut c, &["SETBIT", "bits", "1", "1"]).to_string();
    assert!(e.contains("unknown command"), "{e}");
    node.restart();
    let mut c = node.conn();
    let bit: i64 = redis::cmd("GETBIT")
        .arg(&["bits", "7"])
        .query(&mut c)
        .unwrap();
    assert_eq!(bit, 1, "the AOF replayed the renamed SETBIT");
    let n: i64 = redis::cmd("ZCARD").arg("geo").query(&mut c).unwrap();
    assert_eq!(n, 1, "the AOF replayed the renamed GEOADD");
}

#[test]
fn a_bad_rename_stops_the_start() {
    for (args, why) in [
        (
            &["--rename-command", "nosuch", "x"][..],
            "No such command in rename-command",
        ),
        (
            &["--rename-command", "get", "set"][..],
            "Target command name already exists",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringcache"))
            .args(["--port", "0"])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{args:?}: {err}");
    }
}
