//! Redis 7 functions against the real binary: libraries loaded, listed and
//! called; their files and payloads moving between ringcache and Debian's
//! redis-server both ways (RDB function opcode, FUNCTION DUMP/RESTORE);
//! kept across a restart by the RDB and by a rewritten AOF; reaching a
//! replica (which then calls them itself).

mod common;

use std::time::Duration;

use common::{cmd, cmd_err, wait_for, RedisServer, TestNode};
use redis::Value;

const LIB: &str = "#!lua name=counters\n\
    redis.register_function('bump', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)\n\
    redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads a counter'}";

fn fcall(
    c: &mut redis::Connection,
    f: &str,
    keys: &[&str],
    args: &[&str],
) -> redis::RedisResult<Value> {
    let mut q = redis::cmd("FCALL");
    q.arg(f).arg(keys.len());
    for a in keys.iter().chain(args) {
        q.arg(*a);
    }
    q.query(c)
}

fn load(c: &mut redis::Connection) {
    assert_eq!(
        cmd(c, &["FUNCTION", "LOAD", LIB]),
        Value::BulkString(b"counters".to_vec())
    );
}

/// The functions a server has, as `name:flags` pairs, sorted.
fn functions_of(c: &mut redis::Connection) -> Vec<String> {
    let list: Vec<Vec<Value>> = redis::cmd("FUNCTION").arg("LIST").query(c).expect("LIST");
    let mut out = Vec::new();
    for lib in list {
        let Some(Value::Array(fs)) = lib.get(5) else {
            panic!("library reply {lib:?}")
        };
        for f in fs {
            let Value::Array(f) = f else { panic!("{f:?}") };
            let name = match &f[1] {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("{other:?}"),
            };
            out.push(format!("{name}:{:?}", f[5]));
        }
    }
    out.sort();
    out
}

#[test]
fn functions_load_call_and_refuse_as_redis_does() {
    let n = TestNode::start(&[]);
    let r = RedisServer::start(&[]);
    for c in [&mut n.conn(), &mut r.conn()] {
        load(c);
        assert_eq!(
            fcall(c, "bump", &["k"], &["5"]).expect("bump"),
            Value::Int(5)
        );
        assert_eq!(
            fcall(c, "BUMP", &["k"], &["1"]).expect("any case"),
            Value::Int(6)
        );
        let ro = redis::cmd("FCALL_RO")
            .arg("bump")
            .arg(1)
            .arg("k")
            .arg(1)
            .query::<Value>(c);
        assert!(ro
            .expect_err("writes from FCALL_RO")
            .to_string()
            .contains("Can not execute a script with write flag using *_ro command"),);
        assert_eq!(
            redis::cmd("FCALL_RO")
                .arg("peek")
                .arg(1)
                .arg("k")
                .query::<Value>(c)
                .expect("peek"),
            Value::BulkString(b"6".to_vec())
        );
        let e = cmd_err(c, &["FUNCTION", "LOAD", LIB]);
        assert_eq!(e.detail(), Some("Library 'counters' already exists"));
        let e = fcall(c, "nope", &[], &[]).expect_err("no such function");
        assert_eq!(e.detail(), Some("Function not found"));
    }
    assert_eq!(functions_of(&mut n.conn()), functions_of(&mut r.conn()));
}

#[test]
fn libraries_move_between_ringcache_and_redis_by_rdb_and_dump() {
    // Redis's RDB file with a library, loaded by ringcache.
    let r = RedisServer::start(&[]);
    let mut rc = r.conn();
    load(&mut rc);
    let _: () = redis::cmd("SAVE").query(&mut rc).expect("SAVE");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(r.dir.path().join("dump.rdb"), dir.path().join("dump.rdb")).expect("copy");
    let node = TestNode::start_in(common::free_port(), dir, &[]);
    let mut c = node.conn();
    assert_eq!(
        fcall(&mut c, "bump", &["x"], &["2"]).expect("loaded"),
        Value::Int(2)
    );
    assert_eq!(functions_of(&mut c), functions_of(&mut rc));

    // ringcache's RDB file, loaded by Redis.
    let _: () = redis::cmd("SAVE").query(&mut c).expect("SAVE");
    let back = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        node.dir.path().join("dump.rdb"),
        back.path().join("dump.rdb"),
    )
    .expect("copy");
    let theirs = RedisServer::start_in(back, &[]);
    let mut tc = theirs.conn();
    assert_eq!(
        fcall(&mut tc, "bump", &["x"], &["3"]).expect("Redis loads it"),
        Value::Int(5)
    );

    // DUMP payloads both ways.
    let ours: Vec<u8> = redis::cmd("FUNCTION")
        .arg("DUMP")
        .query(&mut c)
        .expect("DUMP");
    let fresh = RedisServer::start(&[]);
    let mut fc = fresh.conn();
    let ok: Value = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&ours)
        .query(&mut fc)
        .expect("Redis restores ours");
    assert_eq!(ok, Value::Okay);
    assert_eq!(functions_of(&mut fc), functions_of(&mut c));
    let redis_payload: Vec<u8> = redis::cmd("FUNCTION")
        .arg("DUMP")
        .query(&mut rc)
        .expect("DUMP");
    cmd(&mut c, &["FUNCTION", "FLUSH"]);
    assert_eq!(functions_of(&mut c), Vec::<String>::new());
    let ok: Value = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&redis_payload)
        .query(&mut c)
        .expect("we restore Redis's");
    assert_eq!(ok, Value::Okay);
    let again = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&redis_payload)
        .query::<Value>(&mut c);
    assert_eq!(
        again.expect_err("APPEND collides").detail(),
        Some("Library counters already exists")
    );
    assert_eq!(
        fcall(&mut c, "bump", &["y"], &["1"]).expect("restored"),
        Value::Int(1)
    );
}

#[test]
fn libraries_survive_restarts_and_reach_replicas() {
    let mut node = TestNode::start(&["--appendonly", "yes", "--aof-use-rdb-preamble", "no"]);
    let mut c = node.conn();
    load(&mut c);
    fcall(&mut c, "bump", &["k"], &["4"]).expect("bump");
    // The rewritten AOF loads the library before the keys.
    let _: Value = redis::cmd("BGREWRITEAOF")
        .query(&mut c)
        .expect("BGREWRITEAOF");
    assert!(wait_for(Duration::from_secs(10), || {
        node.text(&["INFO", "persistence"])
            .contains("aof_rewrite_in_progress:0")
    }));
    node.restart();
    let mut c = node.conn();
    assert_eq!(
        fcall(&mut c, "bump", &["k"], &["1"]).expect("after restart"),
        Value::Int(5)
    );

    let replica = TestNode::start(&["--replicaof", "127.0.0.1", &node.port.to_string()]);
    assert!(
        wait_for(Duration::from_secs(10), || {
            replica.query(&["FCALL_RO", "peek", "1", "k"]).ok()
                == Some(Value::BulkString(b"5".to_vec()))
        }),
        "a full sync carries the library"
    );
    cmd(
        &mut c,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=more\nredis.register_function{function_name='two', callback=function() return 2 end, flags={'no-writes'}}",
        ],
    );
    assert!(
        wait_for(Duration::from_secs(10), || {
            replica.query(&["FCALL_RO", "two", "0"]).ok() == Some(Value::Int(2))
        }),
        "FUNCTION LOAD reaches the replica"
    );
    cmd(&mut c, &["FUNCTION", "DELETE", "more"]);
    assert!(
        wait_for(Duration::from_secs(10), || {
            replica
                .query(&["FCALL_RO", "two", "0"])
                .is_err_and(|e| e.detail() == Some("Function not found"))
        }),
        "FUNCTION DELETE reaches the replica"
    );
}
