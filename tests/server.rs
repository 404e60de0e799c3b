//! Server and client commands against the real binary: INFO, CONFIG, CLIENT,
//! SLOWLOG, MONITOR, SHUTDOWN and friends.

mod common;

use common::TestNode;

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
    assert_eq!(field(&text, "rdb_changes_since_last_save").as_deref(), Some("2"));
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
