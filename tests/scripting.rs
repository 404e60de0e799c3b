//! Lua scripting against the real binary: EVAL/EVALSHA/SCRIPT, errors as a
//! client sees them, RESP3 conversions, atomicity, client tracking, and a
//! script's effects reaching a replica (which never runs Lua).

mod common;

use std::time::Duration;

use common::{cmd, cmd_err, wait_for, TestNode};
use redis::Value;

fn eval(c: &mut redis::Connection, body: &str, keys: &[&str], args: &[&str]) -> Value {
    let mut q = redis::cmd("EVAL");
    q.arg(body).arg(keys.len());
    for k in keys.iter().chain(args) {
        q.arg(*k);
    }
    q.query(c).expect("EVAL")
}

fn eval_err(c: &mut redis::Connection, body: &str) -> String {
    let e = redis::cmd("EVAL")
        .arg(body)
        .arg(0)
        .query::<Value>(c)
        .expect_err("an error");
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

#[test]
fn eval_evalsha_and_script_cache() {
    let n = TestNode::start(&[]);
    let mut c = n.conn();
    assert_eq!(
        eval(
            &mut c,
            "return redis.call('set', KEYS[1], ARGV[1])",
            &["k"],
            &["v"]
        ),
        Value::Okay
    );
    assert_eq!(
        eval(&mut c, "return {1, 'two', {3}, false, 4.7}", &[], &[]),
        Value::Array(vec![
            Value::Int(1),
            Value::BulkString(b"two".to_vec()),
            Value::Array(vec![Value::Int(3)]),
            Value::Nil,
            Value::Int(4),
        ])
    );
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg("return redis.call('get', KEYS[1])")
        .query(&mut c)
        .expect("SCRIPT LOAD");
    assert_eq!(sha.len(), 40);
    let got: String = redis::cmd("EVALSHA")
        .arg(&sha)
        .arg(1)
        .arg("k")
        .query(&mut c)
        .expect("EVALSHA");
    assert_eq!(got, "v");
    cmd(&mut c, &["SCRIPT", "FLUSH"]);
    let e = cmd_err(&mut c, &["EVALSHA", &sha, "1", "k"]);
    assert_eq!(e.code(), Some("NOSCRIPT"));
    assert_eq!(e.detail(), Some("No matching script. Please use EVAL."));
    // INFO counts the cache.
    eval(&mut c, "return 1", &[], &[]);
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query(&mut c)
        .expect("INFO");
    assert!(info.contains("number_of_cached_scripts:1"), "{info}");
}

#[test]
fn errors_as_redis_words_them() {
    let n = TestNode::start(&[]);
    let mut c = n.conn();
    let e = eval_err(&mut c, "return redis.call('nosuchcommand')");
    assert!(
        e.starts_with("ERR Unknown Redis command called from script script: "),
        "{e}"
    );
    assert!(e.ends_with("on @user_script:1."), "{e}");
    let e = eval_err(&mut c, "return redis.call('get', 'a', 'b')");
    assert!(
        e.starts_with("ERR Wrong number of args calling Redis command from script"),
        "{e}"
    );
    cmd(&mut c, &["SET", "str", "x"]);
    // pcall hands the error to the script; returning it replies with it.
    let e = eval_err(&mut c, "return redis.pcall('lpush', 'str', 1)");
    assert_eq!(
        e,
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    let ok = eval(
        &mut c,
        "local r = redis.pcall('incr', 'str') return r['err']",
        &[],
        &[],
    );
    assert_eq!(
        ok,
        Value::BulkString(b"ERR value is not an integer or out of range".to_vec())
    );
    let e = eval_err(&mut c, "return redis.call('incr', 'str')");
    assert!(
        e.starts_with("ERR value is not an integer or out of range script: "),
        "{e}"
    );
    let e = eval_err(&mut c, "return x");
    assert!(
        e.contains("Script attempted to access nonexistent global variable 'x'"),
        "{e}"
    );
    let e = eval_err(&mut c, "x = 1");
    assert!(e.contains("Attempt to modify a readonly table"), "{e}");
    let e = eval_err(&mut c, "return redis.error_reply('MY custom')");
    assert_eq!(e, "MY custom");
    let e = eval_err(
        &mut c,
        "#!lua flags=no-writes\nreturn redis.call('del', 'str')",
    );
    assert!(
        e.starts_with("ERR Write commands are not allowed from read-only scripts."),
        "{e}"
    );
    let e = cmd_err(&mut c, &["EVAL_RO", "return redis.call('del', 'str')", "0"]);
    assert!(
        e.detail()
            .unwrap_or("")
            .starts_with("Write commands are not allowed from read-only scripts."),
        "{e:?}"
    );
}

#[test]
fn resp3_conversions() {
    let n = TestNode::start(&[]);
    let mut c = n.raw();
    c.call(&["HELLO", "3"]);
    assert_eq!(
        c.call(&[
            "EVAL",
            "redis.setresp(3) return redis.call('hgetall', 'none')",
            "0"
        ]),
        b"%0\r\n"
    );
    c.call(&["HSET", "h", "f", "v"]);
    assert_eq!(
        c.call(&[
            "EVAL",
            "redis.setresp(3) return redis.call('hgetall', 'h')",
            "0"
        ]),
        b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
    assert_eq!(c.call(&["EVAL", "return {double=3.25}", "0"]), b",3.25\r\n");
    assert_eq!(
        c.call(&["EVAL", "redis.setresp(3) return true", "0"]),
        b"#t\r\n"
    );
    assert_eq!(c.call(&["EVAL", "return false", "0"]), b"_\r\n");
    // A RESP3 null seen by a RESP3 script is nil.
    assert_eq!(
        c.call(&[
            "EVAL",
            "redis.setresp(3) return type(redis.call('get', 'missing'))",
            "0"
        ]),
        b"$3\r\nnil\r\n"
    );
    // A RESP2 script sees false.
    assert_eq!(
        c.call(&["EVAL", "return type(redis.call('get', 'missing'))", "0"]),
        b"$7\r\nboolean\r\n"
    );
}

#[test]
fn a_script_runs_alone() {
    let n = TestNode::start(&[]);
    let url = n.url();
    // Writers on other connections never see the key between a script's
    // two writes.
    let body = "redis.call('set', 'a', 1) redis.call('set', 'b', 1) \
                redis.call('del', 'a') redis.call('del', 'b') return 1";
    let h = std::thread::spawn(move || {
        let mut c = redis::Client::open(url.as_str())
            .expect("url")
            .get_connection()
            .expect("connect");
        for _ in 0..300 {
            let _: Value = redis::cmd("EVAL")
                .arg(body)
                .arg(0)
                .query(&mut c)
                .expect("EVAL");
        }
    });
    let mut c = n.conn();
    let mut seen = 0;
    while !h.is_finished() {
        let v: Vec<Option<String>> = redis::cmd("MGET")
            .arg("a")
            .arg("b")
            .query(&mut c)
            .expect("MGET");
        assert!(
            v.iter().all(|x| x.is_none()),
            "saw a script half done: {v:?}"
        );
        seen += 1;
    }
    h.join().expect("writer");
    assert!(seen > 0);
}

#[test]
fn tracking_remembers_the_declared_keys_of_a_reading_script() {
    let n = TestNode::start(&[]);
    let mut c = n.raw();
    c.call(&["HELLO", "3"]);
    assert_eq!(c.call(&["CLIENT", "TRACKING", "on"]), b"+OK\r\n");
    c.call(&["EVAL", "return redis.call('get', KEYS[1])", "1", "tracked"]);
    let mut other = n.conn();
    cmd(&mut other, &["SET", "tracked", "1"]);
    // The invalidation push arrives before the next reply.
    let r = c.call(&["PING"]);
    let text = String::from_utf8_lossy(&r);
    assert!(
        text.contains("invalidate") && text.contains("tracked"),
        "{text}"
    );
}

#[test]
fn a_replica_gets_the_effects_not_the_script() {
    let primary = TestNode::start(&[]);
    let replica = TestNode::start(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let mut pc = primary.conn();
    let mut rc = replica.conn();
    eval(
        &mut pc,
        "redis.call('set', KEYS[1], 'a') redis.call('incr', KEYS[2]) \
         redis.call('expire', KEYS[2], 1000) return redis.call('spop', KEYS[3])",
        &["s{t}", "n{t}", "set{t}"],
        &[],
    );
    cmd(&mut pc, &["SADD", "set2", "x", "y", "z"]);
    eval(
        &mut pc,
        "return redis.call('spop', KEYS[1])",
        &["set2"],
        &[],
    );
    // A script that only exists on the primary: the replica never needs it.
    eval(
        &mut pc,
        "redis.call('set', 'last', 'done') return 1",
        &[],
        &[],
    );
    let synced = wait_for(Duration::from_secs(10), || {
        replica.query(&["GET", "last"]).ok() == Some(Value::BulkString(b"done".to_vec()))
    });
    assert!(synced, "the replica caught up");
    assert_eq!(replica.text(&["GET", "s{t}"]), "a");
    assert_eq!(replica.text(&["GET", "n{t}"]), "1");
    let ttl: i64 = redis::cmd("TTL").arg("n{t}").query(&mut rc).expect("TTL");
    assert!(ttl > 900, "{ttl}");
    let left: i64 = redis::cmd("SCARD")
        .arg("set2")
        .query(&mut rc)
        .expect("SCARD");
    let left_p: i64 = redis::cmd("SCARD")
        .arg("set2")
        .query(&mut pc)
        .expect("SCARD");
    assert_eq!(
        (left, left_p),
        (2, 2),
        "SPOP reached the replica as its SREM"
    );
    let exists: Vec<i64> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg("9c5ba5ec3cb5d54a2fa6a7e3c2b7a35ab7cbc1d3")
        .query(&mut rc)
        .expect("SCRIPT EXISTS");
    assert_eq!(exists, vec![0]);
    // A writing script is refused on the read-only replica.
    let e = cmd_err(&mut rc, &["EVAL", "return redis.call('set', 'x', 1)", "0"]);
    assert_eq!(e.code(), Some("READONLY"), "{e:?}");
    let e = cmd_err(&mut rc, &["EVAL", "#!lua\nreturn 1", "0"]);
    assert_eq!(e.code(), Some("READONLY"), "{e:?}");
    let v: Value = redis::cmd("EVAL")
        .arg("#!lua flags=no-writes\nreturn redis.call('get', 'last')")
        .arg(0)
        .query(&mut rc)
        .expect("a read-only script on the replica");
    assert_eq!(v, Value::BulkString(b"done".to_vec()));
}

#[test]
fn the_aof_keeps_a_scripts_effects() {
    let mut n = TestNode::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = n.conn();
    eval(
        &mut c,
        "redis.call('set', KEYS[1], 1) redis.call('incrby', KEYS[1], 41) \
         redis.call('rpush', KEYS[2], 'a', 'b') return 1",
        &["x{t}", "l{t}"],
        &[],
    );
    eval(&mut c, "return redis.call('set', 'one', 'write')", &[], &[]);
    n.restart();
    let mut c = n.conn();
    let x: String = redis::cmd("GET").arg("x{t}").query(&mut c).expect("GET");
    assert_eq!(x, "42");
    let l: Vec<String> = redis::cmd("LRANGE")
        .arg("l{t}")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .expect("LRANGE");
    assert_eq!(l, ["a", "b"]);
    assert_eq!(n.text(&["GET", "one"]), "write");
}

#[test]
fn in_a_cluster_a_script_touches_only_local_keys_of_one_slot() {
    let cluster = common::TestCluster::start(3, 0);
    let n0 = &cluster.nodes[0];
    let mut c = n0.conn();
    // A key this node serves (slots 0-5460 after create) and one it does not.
    let slot_of = |k: &str| -> i64 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(k)
            .query(&mut n0.conn())
            .expect("KEYSLOT")
    };
    let local = (0..200)
        .map(|i| format!("k{i}"))
        .find(|k| slot_of(k) < 5461)
        .expect("a local key");
    let remote = (0..200)
        .map(|i| format!("k{i}"))
        .find(|k| slot_of(k) >= 5461)
        .expect("a remote key");
    assert_eq!(
        eval(
            &mut c,
            "return redis.call('set', KEYS[1], 'v')",
            &[&local],
            &[]
        ),
        Value::Okay
    );
    // Declared keys elsewhere are redirected before the script runs.
    let e = cmd_err(&mut c, &["EVAL", "return 1", "1", &remote]);
    assert_eq!(e.code(), Some("MOVED"), "{e:?}");
    // Undeclared ones are refused inside it.
    let body = format!("return redis.call('get', '{remote}')");
    let e = cmd_err(&mut c, &["EVAL", &body, "0"]);
    assert!(
        e.detail()
            .unwrap_or("")
            .starts_with("Script attempted to access a non local key in a cluster node"),
        "{e:?}"
    );
    // Two local keys of different slots: fine without a shebang (Redis's
    // compatibility mode), refused for a script declaring flags unless it
    // allows cross-slot keys.
    let other = (0..400)
        .map(|i| format!("o{i}"))
        .find(|k| slot_of(k) < 5461 && slot_of(k) != slot_of(&local))
        .expect("another local slot");
    let two = format!("redis.call('set', '{local}', 1) return redis.call('set', '{other}', 1)");
    assert_eq!(eval(&mut c, &two, &[], &[]), Value::Okay);
    let e = cmd_err(&mut c, &["EVAL", &format!("#!lua\n{two}"), "0"]);
    assert!(
        e.detail()
            .unwrap_or("")
            .starts_with("Script attempted to access keys that do not hash to the same slot"),
        "{e:?}"
    );
    let allowed = format!("#!lua flags=allow-cross-slot-keys\n{two}");
    assert_eq!(eval(&mut c, &allowed, &[], &[]), Value::Okay);
    let e = cmd_err(&mut c, &["EVAL", "#!lua flags=no-cluster\nreturn 1", "0"]);
    assert!(
        e.detail()
            .unwrap_or("")
            .starts_with("Can not run script on cluster, 'no-cluster' flag is set."),
        "{e:?}"
    );
}

/// Past busy-reply-threshold other clients get -BUSY; SCRIPT KILL stops a
/// script that did not write, and the server then serves everyone again;
/// one that wrote cannot be killed, and SHUTDOWN needs NOSAVE then.
#[test]
fn a_busy_script_answers_busy_and_is_killed_by_script_kill() {
    let n = TestNode::start(&[]);
    let mut c = n.conn();
    cmd(&mut c, &["CONFIG", "SET", "lua-time-limit", "20"]);
    cmd(&mut c, &["SET", "k", "1"]);
    let e = cmd_err(&mut c, &["SCRIPT", "KILL"]);
    assert_eq!(e.code(), Some("NOTBUSY"));

    let runner = |body: &'static str, n: &TestNode| {
        let mut rc = n.conn();
        std::thread::spawn(move || {
            redis::cmd("EVAL")
                .arg(body)
                .arg(0)
                .query::<Value>(&mut rc)
                .map_err(|e| e.to_string())
        })
    };
    let looping = runner("while true do end", &n);
    assert!(
        wait_for(Duration::from_secs(5), || {
            matches!(redis::cmd("GET").arg("k").query::<Value>(&mut c),
                Err(e) if e.code() == Some("BUSY"))
        }),
        "other clients get -BUSY"
    );
    // A connection made while the script runs is answered too.
    let mut late = n.conn();
    assert_eq!(
        cmd_err(&mut late, &["PING"]).code(),
        Some("BUSY"),
        "a new client is refused with -BUSY"
    );
    assert_eq!(cmd(&mut late, &["SCRIPT", "KILL"]), Value::Okay);
    let got = looping.join().expect("runner").expect_err("killed");
    assert!(
        got.contains("Script killed by user with SCRIPT KILL"),
        "{got}"
    );
    assert_eq!(cmd(&mut c, &["GET", "k"]), Value::BulkString(b"1".to_vec()));

    let writer = runner("redis.call('set', 'k', '2') while true do end", &n);
    assert!(wait_for(Duration::from_secs(5), || {
        matches!(redis::cmd("PING").query::<Value>(&mut c),
            Err(e) if e.code() == Some("BUSY"))
    }));
    assert_eq!(
        cmd_err(&mut c, &["SCRIPT", "KILL"]).code(),
        Some("UNKILLABLE")
    );
    assert_eq!(cmd_err(&mut c, &["SHUTDOWN"]).code(), Some("BUSY"));
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<Value>(&mut c);
    assert!(
        writer.join().expect("runner").is_err(),
        "the server went away"
    );
    assert!(
        wait_for(Duration::from_secs(5), || {
            std::net::TcpStream::connect(("127.0.0.1", n.port)).is_err()
        }),
        "SHUTDOWN NOSAVE ends a server whose busy script wrote"
    );
}

/// Tables and argument lists past mlua's ~8,000-slot reference stack
/// convert whole (a BullMQ queue with 10,000 completed jobs returned only
/// its first 7,990 ids before).
#[test]
fn big_tables_and_long_argument_lists_convert_whole() {
    let n = TestNode::start(&[]);
    let mut c = n.conn();
    let pushed = eval(
        &mut c,
        "local t = {} for i = 1, 7000 do t[i] = 'v' .. i end \
         for _ = 1, 3 do redis.call('RPUSH', KEYS[1], unpack(t)) end \
         return redis.call('LLEN', KEYS[1])",
        &["big"],
        &[],
    );
    assert_eq!(pushed, Value::Int(21_000));
    let Value::Array(all) = eval(
        &mut c,
        "return redis.call('LRANGE', KEYS[1], 0, -1)",
        &["big"],
        &[],
    ) else {
        panic!("not an array")
    };
    assert_eq!(all.len(), 21_000);
    assert_eq!(all[20_999], Value::BulkString(b"v7000".to_vec()));
    let Value::Array(nested) = eval(
        &mut c,
        "local t = {} for i = 1, 9000 do t[i] = 'x' .. i end return {t}",
        &[],
        &[],
    ) else {
        panic!("not an array")
    };
    assert!(matches!(&nested[0], Value::Array(inner) if inner.len() == 9000));
}
