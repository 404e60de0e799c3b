//! Server and client commands against the real binary: INFO, CONFIG, CLIENT,
//! SLOWLOG, MONITOR, SHUTDOWN and friends.

mod common;

use std::time::{Duration, Instant};

use common::{wait_for, RawConn, TestNode};

fn info(c: &mut redis::Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd("INFO");
    for a in args {
        cmd.arg(*a);
    }
    cmd.query(c).expect("INFO")
}

/// `field:value` from INFO text.
fn field(info: &str, name: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(str::to_string)
}

#[test]
fn info_sections_follow_redis_selection_rules() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    for arg in [None, Some("all"), Some("default"), Some("everything")] {
        let text = info(&mut c, arg.as_slice());
        assert!(text.contains("redis_version:7.0.15"), "{arg:?}");
        assert!(text.contains("used_cpu_user"), "{arg:?}");
        assert!(text.contains("used_memory"), "{arg:?}");
        assert!(!text.contains("sentinel_tilt"));
        let full = matches!(arg, Some("all") | Some("everything"));
        assert_eq!(text.contains("rejected_calls"), full, "{arg:?}");
    }
    let cpu = info(&mut c, &["cpu"]);
    assert!(cpu.starts_with("# CPU\r\n"));
    assert!(!cpu.contains("used_memory"));
    let stats = info(&mut c, &["commandSTATS"]);
    assert!(stats.contains("rejected_calls"));
    assert!(!stats.contains("used_memory"));
    let both = info(&mut c, &["cpu", "all"]);
    assert_eq!(both.matches("used_cpu_user_children").count(), 1);
    assert!(both.contains("master_repl_offset"));
    let def = info(&mut c, &["cpu", "default"]);
    assert!(def.contains("master_repl_offset") && !def.contains("rejected_calls"));
    assert_eq!(info(&mut c, &["nosuchsection"]), "");
}

#[test]
fn info_reports_live_counters() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    // Client libraries may send handshake commands first; count from here.
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg("v")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    let _: Option<String> = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    let _: Option<String> = redis::cmd("GET").arg("missing").query(&mut c).unwrap();
    let _: redis::RedisResult<()> = redis::cmd("INCR").arg("k").query(&mut c);
    let text = info(&mut c, &["everything"]);
    assert_eq!(field(&text, "redis_mode").as_deref(), Some("standalone"));
    assert_eq!(field(&text, "tcp_port"), Some(node.port.to_string()));
    assert_eq!(field(&text, "keyspace_hits").as_deref(), Some("1"));
    assert_eq!(field(&text, "keyspace_misses").as_deref(), Some("1"));
    assert_eq!(
        field(&text, "db0").as_deref(),
        Some("keys=2,expires=1,avg_ttl=0")
    );
    assert_eq!(field(&text, "errorstat_ERR").as_deref(), Some("count=1"));
    assert_eq!(field(&text, "total_error_replies").as_deref(), Some("1"));
    assert_eq!(
        field(&text, "rdb_changes_since_last_save").as_deref(),
        Some("2")
    );
    let get = field(&text, "cmdstat_get").expect("cmdstat_get");
    assert!(get.starts_with("calls=2,usec="), "{get}");
    assert!(get.ends_with(",rejected_calls=0,failed_calls=0"), "{get}");
    let incr = field(&text, "cmdstat_incr").expect("cmdstat_incr");
    assert!(incr.ends_with("rejected_calls=0,failed_calls=1"), "{incr}");
    let used: u64 = field(&text, "used_memory").unwrap().parse().unwrap();
    let peak: u64 = field(&text, "used_memory_peak").unwrap().parse().unwrap();
    assert!(used > 0 && peak >= used);
    assert_eq!(field(&text, "role").as_deref(), Some("master"));
    assert_eq!(field(&text, "cluster_enabled").as_deref(), Some("0"));
    assert!(text.contains("\r\n\r\n# Keyspace\r\n"));
}

#[test]
fn info_counts_rejected_calls() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let _: redis::RedisResult<()> = redis::cmd("GET").query(&mut c);
    let text = info(&mut c, &["commandstats"]);
    assert_eq!(
        field(&text, "cmdstat_get").as_deref(),
        Some("calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0")
    );
}

fn cmd<T: redis::FromRedisValue>(
    c: &mut redis::Connection,
    args: &[&str],
) -> redis::RedisResult<T> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c)
}

fn err_text(r: redis::RedisResult<redis::Value>) -> String {
    let e = r.expect_err("expected an error");
    format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""))
        .trim()
        .to_string()
}

#[test]
fn config_get_set_round_trips_and_errors() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let ok: String = cmd(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "maxmemory",
            "100mb",
            "maxmemory-policy",
            "allkeys-lru",
        ],
    )
    .unwrap();
    assert_eq!(ok, "OK");
    let v: Vec<String> = cmd(&mut c, &["CONFIG", "GET", "maxmemory"]).unwrap();
    assert_eq!(v, ["maxmemory", "104857600"]);
    let v: Vec<String> = cmd(&mut c, &["CONFIG", "GET", "MAXMEMORY-POLICY"]).unwrap();
    assert_eq!(v, ["MAXMEMORY-POLICY", "allkeys-lru"]);
    let text = info(&mut c, &["memory"]);
    assert_eq!(
        field(&text, "maxmemory_policy").as_deref(),
        Some("allkeys-lru")
    );
    assert_eq!(field(&text, "maxmemory_human").as_deref(), Some("100.00M"));
    let v: Vec<String> = cmd(&mut c, &["CONFIG", "GET", "save", "appendonly"]).unwrap();
    assert_eq!(v, ["save", "", "appendonly", "no"]);
    let v: Vec<String> = cmd(&mut c, &["CONFIG", "GET", "maxmemory*"]).unwrap();
    assert!(v.chunks(2).all(|p| p[0].starts_with("maxmemory")) && v.len() >= 6);
    let v: Vec<String> = cmd(&mut c, &["CONFIG", "GET", "nosuch"]).unwrap();
    assert!(v.is_empty());
    assert_eq!(
        err_text(cmd(&mut c, &["CONFIG", "SET", "nosuch", "1"])),
        "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
    );
    assert_eq!(
        err_text(cmd(&mut c, &["CONFIG", "SET", "maxmemory", "abc"])),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
    );
    assert_eq!(
        err_text(cmd(&mut c, &["CONFIG", "SET", "databases", "3"])),
        "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"
    );
    // All or nothing: the good pair before the bad one is not applied.
    let _ = err_text(cmd(&mut c, &["CONFIG", "SET", "hz", "20", "timeout", "-1"]));
    let v: Vec<String> = cmd(&mut c, &["CONFIG", "GET", "hz"]).unwrap();
    assert_eq!(v, ["hz", "10"]);
    assert_eq!(
        err_text(cmd(&mut c, &["CONFIG", "REWRITE"])),
        "ERR The server is running without a config file"
    );
}

/// Concurrent CONFIG SETs of different options lose nothing: each thread
/// sets its own option to ever new values and reads it back before the next
/// one. Unserialized, a CONFIG SET copied the whole configuration, changed
/// its option and wrote the copy back, undoing another's change in between.
#[test]
fn concurrent_config_sets_lose_no_update() {
    const OPTIONS: [&str; 8] = [
        "slowlog-max-len",
        "latency-monitor-threshold",
        "lfu-log-factor",
        "lfu-decay-time",
        "tcp-keepalive",
        "auto-aof-rewrite-percentage",
        "maxmemory-eviction-tenacity",
        "cluster-replica-validity-factor",
    ];
    let node = TestNode::start(&[]);
    let stop_at = Instant::now() + Duration::from_millis(1500);
    let threads: Vec<_> = OPTIONS
        .iter()
        .map(|&name| {
            let mut c = node.conn();
            std::thread::spawn(move || -> Result<u64, String> {
                let mut v = 0u64;
                while Instant::now() < stop_at {
                    v += 1;
                    let value = (v % 100).to_string();
                    let ok: String = cmd(&mut c, &["CONFIG", "SET", name, &value])
                        .map_err(|e| format!("{name} {value}: {e}"))?;
                    assert_eq!(ok, "OK");
                    let got: Vec<String> = cmd(&mut c, &["CONFIG", "GET", name])
                        .map_err(|e| format!("{name}: {e}"))?;
                    if got[1] != value {
                        return Err(format!("{name}: set {value}, read {} (set #{v})", got[1]));
                    }
                }
                Ok(v)
            })
        })
        .collect();
    for t in threads {
        let sets = t
            .join()
            .expect("thread")
            .unwrap_or_else(|e| panic!("lost update: {e}"));
        assert!(sets > 0);
    }
}

#[test]
fn config_resetstat_clears_counters() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let _: Option<String> = cmd(&mut c, &["GET", "nokey"]).unwrap();
    let _ = err_text(cmd(&mut c, &["INCR"]));
    let _: () = cmd(&mut c, &["CONFIG", "RESETSTAT"]).unwrap();
    let text = info(&mut c, &["all"]);
    assert_eq!(field(&text, "keyspace_misses").as_deref(), Some("0"));
    assert_eq!(field(&text, "total_error_replies").as_deref(), Some("0"));
    assert!(field(&text, "cmdstat_get").is_none(), "{text}");
    assert!(field(&text, "errorstat_ERR").is_none());
}

#[test]
fn client_identity_list_and_kill() {
    let node = TestNode::start(&[]);
    let mut a = node.conn();
    let mut b = node.conn();
    let _: () = cmd(&mut b, &["CLIENT", "SETNAME", "victim"]).unwrap();
    let bid: i64 = cmd(&mut b, &["CLIENT", "ID"]).unwrap();
    let name: Option<String> = cmd(&mut b, &["CLIENT", "GETNAME"]).unwrap();
    assert_eq!(name.as_deref(), Some("victim"));
    assert_eq!(
        err_text(cmd(&mut b, &["CLIENT", "SETNAME", "a b"])),
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    let list: String = cmd(&mut a, &["CLIENT", "LIST"]).unwrap();
    let line = list
        .lines()
        .find(|l| l.contains("name=victim"))
        .expect("victim listed");
    assert!(
        line.starts_with(&format!("id={bid} addr=127.0.0.1:")),
        "{line}"
    );
    assert!(
        line.contains(" flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf="),
        "{line}"
    );
    assert!(line.ends_with(" user=default redir=-1 resp=2"), "{line}");
    let me: String = cmd(&mut a, &["CLIENT", "INFO"]).unwrap();
    assert!(me.contains(" cmd=client|info "), "{me}");
    let one: String = cmd(&mut a, &["CLIENT", "LIST", "ID", &bid.to_string()]).unwrap();
    assert_eq!(one.lines().count(), 1);
    let killed: i64 = cmd(&mut a, &["CLIENT", "KILL", "ID", &bid.to_string()]).unwrap();
    assert_eq!(killed, 1);
    assert!(
        cmd::<String>(&mut b, &["PING"]).is_err(),
        "killed client still served"
    );
    assert!(wait_for(Duration::from_secs(2), || {
        let l: String = cmd(&mut a, &["CLIENT", "LIST"]).unwrap();
        !l.contains("name=victim")
    }));
    assert_eq!(
        err_text(cmd(&mut a, &["CLIENT", "KILL", "1.2.3.4:5"])),
        "ERR No such client"
    );
    // SKIPME defaults to yes in the new form.
    let n: i64 = cmd(&mut a, &["CLIENT", "KILL", "TYPE", "normal"]).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn client_kill_old_form_by_address() {
    let node = TestNode::start(&[]);
    let mut a = node.conn();
    let mut raw = node.raw();
    raw.send(b"CLIENT INFO\r\n");
    let header = raw.line();
    assert!(header.starts_with('$'));
    let body = raw.line();
    let addr = body
        .split(' ')
        .find_map(|kv| kv.strip_prefix("addr="))
        .expect("addr field")
        .to_string();
    let ok: String = cmd(&mut a, &["CLIENT", "KILL", &addr]).unwrap();
    assert_eq!(ok, "OK");
    raw.line();
    assert!(raw.is_closed());
}

#[test]
fn client_reply_off_skip_on() {
    let node = TestNode::start(&[]);
    let mut raw = node.raw();
    raw.send(b"CLIENT REPLY OFF\r\nPING a\r\nCLIENT REPLY ON\r\nCLIENT REPLY SKIP\r\nPING b\r\nPING c\r\n");
    assert_eq!(raw.line(), "+OK\r\n");
    assert_eq!(raw.line(), "$1\r\n");
    assert_eq!(raw.line(), "c\r\n");
}

#[test]
fn client_pause_holds_writes_until_unpause() {
    let node = TestNode::start(&[]);
    let mut a = node.conn();
    let _: () = cmd(&mut a, &["CLIENT", "PAUSE", "100000", "WRITE"]).unwrap();
    let mut raw = node.raw();
    raw.send(b"GET k\r\n");
    assert_eq!(raw.line(), "$-1\r\n", "reads are not paused in WRITE mode");
    raw.send(b"SET k v\r\n");
    raw.s
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert_eq!(raw.line(), "", "write answered during pause");
    raw.s
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _: () = cmd(&mut a, &["CLIENT", "UNPAUSE"]).unwrap();
    assert_eq!(raw.line(), "+OK\r\n");
    assert_eq!(
        err_text(cmd(&mut a, &["CLIENT", "PAUSE", "10", "foo"])),
        "ERR CLIENT PAUSE mode must be WRITE or ALL"
    );
}

/// CLIENT PAUSE with a timeout that overflows the pause's encoding (here
/// near i64::MAX ms) replies +OK as redis-server 7.0.15 does and lasts: it
/// used to lose the end time's top bit and end at once.
#[test]
fn client_pause_with_a_huge_timeout_lasts() {
    let mut node = TestNode::start(&[]);
    let mut a = node.conn();
    for t in ["9223372036854775807", "9223372036854774807"] {
        let ok: String = cmd(&mut a, &["CLIENT", "PAUSE", t, "WRITE"]).unwrap();
        assert_eq!(ok, "OK");
        let mut raw = node.raw();
        raw.s
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        raw.send(b"SET k v\r\n");
        assert_eq!(raw.line(), "", "CLIENT PAUSE {t}: a write was answered");
        raw.s
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _: () = cmd(&mut a, &["CLIENT", "UNPAUSE"]).unwrap();
        assert_eq!(raw.line(), "+OK\r\n", "the write runs after UNPAUSE");
    }
    let ok: String = cmd(&mut a, &["CLIENT", "PAUSE", "9223372036854775807"]).unwrap();
    assert_eq!(ok, "OK");
    let mut raw = node.raw();
    raw.s
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    raw.send(b"PING\r\n");
    assert_eq!(raw.line(), "", "ALL mode: a read was answered");
    assert!(node.exit_status().is_none(), "the server died");
}

#[test]
fn slowlog_records_with_zero_threshold() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let _: () = cmd(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]).unwrap();
    let _: () = cmd(&mut c, &["SLOWLOG", "RESET"]).unwrap();
    let _: () = cmd(&mut c, &["CLIENT", "SETNAME", "slowpoke"]).unwrap();
    let _: () = cmd(&mut c, &["SET", "key", "value"]).unwrap();
    let entries: Vec<redis::Value> = cmd(&mut c, &["SLOWLOG", "GET", "1"]).unwrap();
    assert_eq!(entries.len(), 1);
    let redis::Value::Array(e) = &entries[0] else {
        panic!("entry is not an array: {:?}", entries[0]);
    };
    assert_eq!(e.len(), 6);
    let args: Vec<String> = redis::from_redis_value(e[3].clone()).unwrap();
    assert_eq!(args, ["SET", "key", "value"]);
    let name: String = redis::from_redis_value(e[5].clone()).unwrap();
    assert_eq!(name, "slowpoke");
    let len: i64 = cmd(&mut c, &["SLOWLOG", "LEN"]).unwrap();
    assert!(len >= 2);
    let _: () = cmd(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]).unwrap();
    let _: () = cmd(&mut c, &["SLOWLOG", "RESET"]).unwrap();
    let _: () = cmd(&mut c, &["SET", "key", "value"]).unwrap();
    let len: i64 = cmd(&mut c, &["SLOWLOG", "LEN"]).unwrap();
    assert_eq!(len, 0);
}

#[test]
fn monitor_sees_other_clients_commands() {
    let node = TestNode::start(&[]);
    let mut mon = node.raw();
    mon.send(b"MONITOR\r\n");
    assert_eq!(mon.line(), "+OK\r\n");
    let mut c = node.conn();
    let _: () = cmd(&mut c, &["SET", "watched", "va\"l"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let line = mon.line();
        assert!(
            Instant::now() < deadline && !line.is_empty(),
            "no monitor line"
        );
        if line.contains("\"SET\"") {
            assert!(line.starts_with('+'), "{line}");
            assert!(
                line.ends_with(" \"SET\" \"watched\" \"va\\\"l\"\r\n"),
                "{line}"
            );
            assert!(line.contains(" [0 127.0.0.1:"), "{line}");
            break;
        }
    }
}

/// The monitor lines `m` receives until it is quiet for 300 ms, without their
/// `+<time> [<db> <addr>] ` prefix.
fn monitor_lines(m: &mut RawConn) -> Vec<String> {
    m.s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut lines = Vec::new();
    loop {
        let line = m.line();
        if line.is_empty() {
            break;
        }
        let args = line.split_once("] ").map_or(line.as_str(), |(_, a)| a);
        lines.push(args.trim_end().to_string());
    }
    m.s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    lines
}

/// A fresh MONITOR client sees exactly the commands `c` runs after its +OK.
fn assert_fresh_monitor_works(node: &TestNode, c: &mut redis::Connection, after: &str) {
    let mut m = node.raw();
    m.send(b"MONITOR\r\n");
    assert_eq!(m.line(), "+OK\r\n");
    let _: () = cmd(c, &["SET", "mk", after]).unwrap();
    let _: Option<String> = cmd(c, &["GET", "mk"]).unwrap();
    assert_eq!(
        monitor_lines(&mut m),
        [
            format!("\"SET\" \"mk\" \"{after}\""),
            "\"GET\" \"mk\"".to_string()
        ],
        "a fresh monitor after {after}"
    );
}

/// Waits until only `n` clients are connected (a closed one is gone).
fn wait_clients(c: &mut redis::Connection, n: usize) {
    let ok = wait_for(Duration::from_secs(5), || {
        cmd::<String>(c, &["CLIENT", "LIST"])
            .unwrap()
            .lines()
            .count()
            == n
    });
    assert!(ok, "clients did not go down to {n}");
}

/// However a MONITOR client ends (RESET, QUIT, close, CLIENT KILL, QUIT or
/// RESET in the same write as MONITOR), it leaves the monitor count exactly
/// once: RESET then a close used to decrement it twice, wrapping it, so the
/// next MONITOR brought it back to 0 and saw nothing.
#[test]
fn monitor_ends_cleanly_however_it_ends() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    assert_fresh_monitor_works(&node, &mut c, "start");

    let mut m = node.raw();
    m.send(b"MONITOR\r\n");
    assert_eq!(m.line(), "+OK\r\n");
    m.send(b"RESET\r\n");
    assert_eq!(m.line(), "+RESET\r\n");
    let _: () = cmd(&mut c, &["SET", "unseen", "1"]).unwrap();
    m.send(b"PING\r\n");
    assert_eq!(m.line(), "+PONG\r\n", "RESET leaves MONITOR mode");
    drop(m);
    wait_clients(&mut c, 1);
    assert_fresh_monitor_works(&node, &mut c, "reset");

    let mut m = node.raw();
    m.send(b"MONITOR\r\n");
    assert_eq!(m.line(), "+OK\r\n");
    m.send(b"QUIT\r\n");
    assert_eq!(m.line(), "+OK\r\n");
    assert!(m.is_closed());
    wait_clients(&mut c, 1);
    assert_fresh_monitor_works(&node, &mut c, "quit");

    let mut m = node.raw();
    m.send(b"CLIENT ID\r\nMONITOR\r\n");
    let id = m.line();
    assert_eq!(m.line(), "+OK\r\n");
    let id = id.trim().trim_start_matches(':');
    let killed: i64 = cmd(&mut c, &["CLIENT", "KILL", "ID", id]).unwrap();
    assert_eq!(killed, 1);
    wait_clients(&mut c, 1);
    assert_fresh_monitor_works(&node, &mut c, "kill");

    for (what, input) in [
        ("monitor+quit", &b"MONITOR\r\nQUIT\r\n"[..]),
        ("reset+monitor", b"MONITOR\r\nRESET\r\nMONITOR\r\n"),
    ] {
        let mut m = node.raw();
        m.send(input);
        let _ = m.line();
        drop(m);
        wait_clients(&mut c, 1);
        assert_fresh_monitor_works(&node, &mut c, what);
    }
}

#[test]
fn memory_usage_debug_object_and_lastsave() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let _: () = cmd(&mut c, &["SET", "foo", "bar"]).unwrap();
    // redis-server 7.0.15 answers 64 for this key.
    let n: i64 = cmd(&mut c, &["MEMORY", "USAGE", "foo"]).unwrap();
    assert_eq!(n, 64);
    let none: Option<i64> = cmd(&mut c, &["MEMORY", "USAGE", "nokey"]).unwrap();
    assert_eq!(none, None);
    let line: String = cmd(&mut c, &["DEBUG", "OBJECT", "foo"]).unwrap();
    assert!(line.starts_with("Value at:0x"), "{line}");
    assert!(
        line.contains(" refcount:1 encoding:embstr serializedlength:4 lru:"),
        "{line}"
    );
    assert_eq!(
        err_text(cmd(&mut c, &["DEBUG", "OBJECT", "nokey"])),
        "ERR no such key"
    );
    let t: i64 = cmd(&mut c, &["LASTSAVE"]).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(t <= now && t > now - 60);
    let started = Instant::now();
    let _: () = cmd(&mut c, &["DEBUG", "SLEEP", "0.2"]).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[test]
fn shutdown_exits_the_process() {
    let mut node = TestNode::start(&[]);
    let mut raw = node.raw();
    raw.send(b"SHUTDOWN FOO\r\n");
    assert_eq!(raw.line(), "-ERR syntax error\r\n");
    raw.send(b"SHUTDOWN ABORT\r\n");
    assert_eq!(raw.line(), "-ERR No shutdown in progress.\r\n");
    raw.send(b"SHUTDOWN NOSAVE\r\n");
    assert!(raw.is_closed(), "SHUTDOWN must not reply");
    assert!(
        node.wait_exit(Duration::from_secs(5)),
        "process still running"
    );
}
