//! The keyspace events the command handlers publish, command family by
//! family, against what Redis 7.0.15 publishes for the same commands (its
//! `notifyKeyspaceEvent` calls and their conditions). `m` (keymiss) and `n`
//! (new key) come from the store's lookups, not the handlers: not here.

use std::sync::Arc;

use crate::commands::testkit::Kit;
use crate::node::clients::ClientInfo;
use crate::persist;
use crate::store::Value;

/// A server with `notify-keyspace-events KEA` and a client listening on
/// every keyspace and keyevent channel.
struct Listened {
    kit: Kit,
    listener: Arc<ClientInfo>,
}

fn client_info(id: u64) -> Arc<ClientInfo> {
    let addr = "127.0.0.1:2".parse().expect("literal address");
    Arc::new(ClientInfo::new(id, addr, addr))
}

impl Listened {
    fn new(flags: &str) -> Self {
        let mut kit = Kit::new();
        assert_eq!(
            kit.run(&["CONFIG", "SET", "notify-keyspace-events", flags]),
            "+OK\r\n"
        );
        let listener = client_info(2);
        assert_eq!(kit.srv.pubsub.psubscribe(&listener, b"__key*__:*"), 1);
        Listened { kit, listener }
    }

    /// Runs `cmd`, asserting it did not fail.
    fn run(&mut self, cmd: &[&str]) -> String {
        let r = self.kit.run(cmd);
        assert!(!r.starts_with('-'), "{cmd:?} failed: {r}");
        r
    }

    /// The (channel, message) pairs published since the last call.
    fn published(&self) -> Vec<(String, String)> {
        let bytes = self
            .listener
            .mailbox
            .take()
            .map(|b| b.to_vec())
            .unwrap_or_default();
        self.listener.mailbox.sent(bytes.len());
        parse_pmessages(&bytes)
    }
}

/// Reads `*4 pmessage pattern channel message` frames into (channel, message).
fn parse_pmessages(mut b: &[u8]) -> Vec<(String, String)> {
    fn line<'a>(b: &mut &'a [u8]) -> &'a [u8] {
        let end = b.windows(2).position(|w| w == b"\r\n").expect("CRLF");
        let l = &b[..end];
        *b = &b[end + 2..];
        l
    }
    fn bulk(b: &mut &[u8]) -> String {
        let head = line(b);
        assert_eq!(head[0], b'$', "a bulk string");
        let n: usize = std::str::from_utf8(&head[1..]).unwrap().parse().unwrap();
        let s = String::from_utf8_lossy(&b[..n]).into_owned();
        *b = &b[n + 2..];
        s
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        assert_eq!(line(&mut b), b"*4");
        assert_eq!(bulk(&mut b), "pmessage");
        assert_eq!(bulk(&mut b), "__key*__:*");
        let channel = bulk(&mut b);
        let message = bulk(&mut b);
        out.push((channel, message));
    }
    out
}

/// The pairs Redis publishes for events `(event, key)` in `db`: the
/// keyspace channel with the event, then the keyevent channel with the key.
fn expand(db: usize, events: &[(&str, &str)]) -> Vec<(String, String)> {
    events
        .iter()
        .flat_map(|(event, key)| {
            [
                (format!("__keyspace@{db}__:{key}"), event.to_string()),
                (format!("__keyevent@{db}__:{event}"), key.to_string()),
            ]
        })
        .collect()
}

/// One row: commands run first (their events ignored), the commands under
/// test, and the events they publish in order, as `(event, key)` in db 0.
type Row = (
    &'static [&'static [&'static str]],
    &'static [&'static [&'static str]],
    &'static [(&'static str, &'static str)],
);

fn check(rows: &[Row]) {
    let mut l = Listened::new("KEA");
    for (setup, cmds, want) in rows {
        l.run(&["FLUSHALL"]);
        for c in *setup {
            l.run(c);
        }
        l.published();
        for c in *cmds {
            l.run(c);
        }
        assert_eq!(
            l.published(),
            expand(0, want),
            "after {setup:?} then {cmds:?}"
        );
    }
}

#[test]
fn one_event_is_a_keyspace_then_a_keyevent_message() {
    let mut l = Listened::new("KEA");
    l.run(&["SET", "foo", "bar"]);
    assert_eq!(
        l.published(),
        vec![
            ("__keyspace@0__:foo".to_string(), "set".to_string()),
            ("__keyevent@0__:set".to_string(), "foo".to_string()),
        ]
    );
    // Another database, its number in both channels.
    l.run(&["SELECT", "3"]);
    l.run(&["LPUSH", "l", "a"]);
    assert_eq!(l.published(), expand(3, &[("lpush", "l")]));
}

#[test]
fn classes_and_channels_are_filtered() {
    // Only list events, only on the keyevent channel.
    let mut l = Listened::new("El");
    l.run(&["SET", "foo", "bar"]);
    l.run(&["LPUSH", "mylist", "a"]);
    l.run(&["DEL", "mylist"]);
    assert_eq!(
        l.published(),
        vec![("__keyevent@0__:lpush".to_string(), "mylist".to_string())]
    );
    // Off: nothing at all.
    l.run(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    l.run(&["SET", "foo", "baz"]);
    l.run(&["RPUSH", "mylist", "a"]);
    assert_eq!(l.published(), vec![]);
}

#[test]
fn string_events() {
    check(&[
        (&[], &[&["SET", "k", "v"]], &[("set", "k")]),
        (
            &[],
            &[&["SET", "k", "v", "EX", "100"]],
            &[("set", "k"), ("expire", "k")],
        ),
        (&[&["SET", "k", "v"]], &[&["SET", "k", "w", "NX"]], &[]),
        (&[], &[&["SET", "k", "w", "XX"]], &[]),
        (
            &[&["SET", "k", "v"]],
            &[&["SET", "k", "w", "XX", "GET", "KEEPTTL"]],
            &[("set", "k")],
        ),
        (&[], &[&["SETNX", "k", "v"]], &[("set", "k")]),
        (&[&["SET", "k", "v"]], &[&["SETNX", "k", "v"]], &[]),
        (
            &[],
            &[&["SETEX", "k", "10", "v"]],
            &[("set", "k"), ("expire", "k")],
        ),
        (
            &[],
            &[&["PSETEX", "k", "10000", "v"]],
            &[("set", "k"), ("expire", "k")],
        ),
        (
            &[],
            &[&["MSET", "a", "1", "b", "2", "a", "3"]],
            &[("set", "a"), ("set", "b"), ("set", "a")],
        ),
        (
            &[],
            &[&["MSETNX", "a", "1", "b", "2"]],
            &[("set", "a"), ("set", "b")],
        ),
        (
            &[&["SET", "b", "x"]],
            &[&["MSETNX", "a", "1", "b", "2"]],
            &[],
        ),
        (&[], &[&["GETSET", "k", "v"]], &[("set", "k")]),
        (&[&["SET", "k", "v"]], &[&["GETDEL", "k"]], &[("del", "k")]),
        (&[], &[&["GETDEL", "k"]], &[]),
        (&[&["SET", "k", "v"]], &[&["GETEX", "k"]], &[]),
        (
            &[&["SET", "k", "v"]],
            &[&["GETEX", "k", "EX", "100"]],
            &[("expire", "k")],
        ),
        (
            &[&["SET", "k", "v"]],
            &[&["GETEX", "k", "PXAT", "1"]],
            &[("del", "k")],
        ),
        (
            &[&["SET", "k", "v", "EX", "100"]],
            &[&["GETEX", "k", "PERSIST"]],
            &[("persist", "k")],
        ),
        (&[&["SET", "k", "v"]], &[&["GETEX", "k", "PERSIST"]], &[]),
        (&[], &[&["APPEND", "k", "v"]], &[("append", "k")]),
        (
            &[&["SET", "k", "v"]],
            &[&["APPEND", "k", "w"]],
            &[("append", "k")],
        ),
        (
            &[],
            &[
                &["INCR", "n"],
                &["DECR", "n"],
                &["INCRBY", "n", "5"],
                &["DECRBY", "n", "2"],
            ],
            &[
                ("incrby", "n"),
                ("incrby", "n"),
                ("incrby", "n"),
                ("incrby", "n"),
            ],
        ),
        (
            &[],
            &[&["INCRBYFLOAT", "f", "1.5"]],
            &[("incrbyfloat", "f")],
        ),
        (&[], &[&["SETRANGE", "k", "2", "ab"]], &[("setrange", "k")]),
        // Writing nothing changes nothing.
        (&[], &[&["SETRANGE", "k", "2", ""]], &[]),
        (&[&["SET", "k", "v"]], &[&["SETRANGE", "k", "0", ""]], &[]),
        // Reads publish nothing.
        (
            &[&["SET", "k", "v"]],
            &[
                &["GET", "k"],
                &["STRLEN", "k"],
                &["GETRANGE", "k", "0", "-1"],
            ],
            &[],
        ),
    ]);
}

#[test]
fn generic_key_events() {
    check(&[
        (
            &[&["SET", "a", "1"], &["SET", "c", "1"]],
            &[&["DEL", "a", "b", "c"]],
            &[("del", "a"), ("del", "c")],
        ),
        (
            &[&["SET", "a", "1"]],
            &[&["UNLINK", "a", "b"]],
            &[("del", "a")],
        ),
        (
            &[&["SET", "k", "v"]],
            &[&["EXPIRE", "k", "100"]],
            &[("expire", "k")],
        ),
        (
            &[&["SET", "k", "v"]],
            &[&["PEXPIRE", "k", "100000"]],
            &[("expire", "k")],
        ),
        (
            &[&["SET", "k", "v"]],
            &[&["EXPIREAT", "k", "4102444800"]],
            &[("expire", "k")],
        ),
        (
            &[&["SET", "k", "v"]],
            &[&["PEXPIREAT", "k", "4102444800000"]],
            &[("expire", "k")],
        ),
        // A deadline already passed deletes the key.
        (
            &[&["SET", "k", "v"]],
            &[&["EXPIRE", "k", "-1"]],
            &[("del", "k")],
        ),
        // No key, or a condition that fails: nothing.
        (&[], &[&["EXPIRE", "k", "100"]], &[]),
        (&[&["SET", "k", "v"]], &[&["EXPIRE", "k", "100", "XX"]], &[]),
        (
            &[&["SET", "k", "v", "EX", "100"]],
            &[&["PERSIST", "k"]],
            &[("persist", "k")],
        ),
        (&[&["SET", "k", "v"]], &[&["PERSIST", "k"]], &[]),
        (
            &[&["SET", "a", "1"]],
            &[&["RENAME", "a", "b"]],
            &[("rename_from", "a"), ("rename_to", "b")],
        ),
        (
            &[&["SET", "a", "1"], &["SET", "b", "2"]],
            &[&["RENAME", "a", "b"]],
            &[("rename_from", "a"), ("rename_to", "b")],
        ),
        (
            &[&["SET", "a", "1"]],
            &[&["RENAMENX", "a", "b"]],
            &[("rename_from", "a"), ("rename_to", "b")],
        ),
        (
            &[&["SET", "a", "1"], &["SET", "b", "2"]],
            &[&["RENAMENX", "a", "b"]],
            &[],
        ),
        (&[&["SET", "a", "1"]], &[&["RENAME", "a", "a"]], &[]),
        (
            &[&["SET", "a", "1"]],
            &[&["COPY", "a", "b"]],
            &[("copy_to", "b")],
        ),
        (
            &[&["SET", "a", "1"], &["SET", "b", "2"]],
            &[&["COPY", "a", "b", "REPLACE"]],
            &[("copy_to", "b")],
        ),
        (
            &[&["SET", "a", "1"], &["SET", "b", "2"]],
            &[&["COPY", "a", "b"]],
            &[],
        ),
        (&[], &[&["COPY", "a", "b"]], &[]),
        // Reads, FLUSHDB/FLUSHALL and SWAPDB publish nothing per key.
        (
            &[&["SET", "a", "1"], &["LPUSH", "l", "x"]],
            &[
                &["EXISTS", "a"],
                &["TYPE", "a"],
                &["TTL", "a"],
                &["TOUCH", "a"],
                &["SWAPDB", "0", "1"],
                &["FLUSHDB"],
                &["FLUSHALL"],
            ],
            &[],
        ),
    ]);
}

#[test]
fn move_and_copy_publish_in_their_databases() {
    let mut l = Listened::new("KEA");
    l.run(&["SET", "k", "v"]);
    l.published();
    assert_eq!(l.run(&["MOVE", "k", "5"]), ":1\r\n");
    let mut want = expand(0, &[("move_from", "k")]);
    want.extend(expand(5, &[("move_to", "k")]));
    assert_eq!(l.published(), want);
    // Nothing to move: nothing published.
    assert_eq!(l.run(&["MOVE", "k", "5"]), ":0\r\n");
    assert_eq!(l.published(), vec![]);
    l.run(&["SET", "k", "w"]);
    l.published();
    assert_eq!(l.run(&["COPY", "k", "c", "DB", "7"]), ":1\r\n");
    assert_eq!(l.published(), expand(7, &[("copy_to", "c")]));
}

#[test]
fn restore_events() {
    let mut l = Listened::new("KEA");
    let payload = persist::dump(&Value::string(b"hello"));
    let p = payload.as_slice();
    let run = |l: &mut Listened, words: &[&[u8]]| {
        let r = l.kit.run_bytes(words);
        assert!(!r.starts_with('-'), "{r}");
    };
    run(&mut l, &[b"RESTORE", b"r", b"0", p]);
    assert_eq!(l.published(), expand(0, &[("restore", "r")]));
    run(&mut l, &[b"RESTORE", b"r", b"5000", p, b"REPLACE"]);
    assert_eq!(l.published(), expand(0, &[("restore", "r")]));
    // Replaced by a value whose absolute TTL has passed: only the delete.
    run(&mut l, &[b"RESTORE", b"r", b"1", p, b"REPLACE", b"ABSTTL"]);
    assert_eq!(l.published(), expand(0, &[("del", "r")]));
    // Nothing replaced and already expired: nothing happened.
    run(&mut l, &[b"RESTORE", b"r", b"1", p, b"ABSTTL"]);
    assert_eq!(l.published(), vec![]);
}

#[test]
fn list_events() {
    check(&[
        (&[], &[&["LPUSH", "l", "a", "b", "c"]], &[("lpush", "l")]),
        (&[], &[&["RPUSH", "l", "a", "b"]], &[("rpush", "l")]),
        (&[], &[&["LPUSHX", "l", "a"], &["RPUSHX", "l", "a"]], &[]),
        (
            &[&["RPUSH", "l", "a"]],
            &[&["LPUSHX", "l", "b"], &["RPUSHX", "l", "c"]],
            &[("lpush", "l"), ("rpush", "l")],
        ),
        (
            &[&["RPUSH", "l", "a", "b"]],
            &[&["LPOP", "l"]],
            &[("lpop", "l")],
        ),
        (
            &[&["RPUSH", "l", "a"]],
            &[&["RPOP", "l"]],
            &[("rpop", "l"), ("del", "l")],
        ),
        (
            &[&["RPUSH", "l", "a", "b"]],
            &[&["LPOP", "l", "5"]],
            &[("lpop", "l"), ("del", "l")],
        ),
        (&[&["RPUSH", "l", "a"]], &[&["LPOP", "l", "0"]], &[]),
        (&[], &[&["LPOP", "l"]], &[]),
        (
            &[&["RPUSH", "l", "a", "b"]],
            &[&["LMPOP", "2", "nol", "l", "RIGHT", "COUNT", "1"]],
            &[("rpop", "l")],
        ),
        (
            &[&["RPUSH", "l", "a"]],
            &[&["LSET", "l", "0", "b"]],
            &[("lset", "l")],
        ),
        (
            &[&["RPUSH", "l", "a"]],
            &[&["LINSERT", "l", "BEFORE", "a", "b"]],
            &[("linsert", "l")],
        ),
        (
            &[&["RPUSH", "l", "a"]],
            &[&["LINSERT", "l", "BEFORE", "x", "b"]],
            &[],
        ),
        (
            &[&["RPUSH", "l", "a", "b", "a"]],
            &[&["LREM", "l", "1", "a"]],
            &[("lrem", "l")],
        ),
        (
            &[&["RPUSH", "l", "a", "a"]],
            &[&["LREM", "l", "0", "a"]],
            &[("lrem", "l"), ("del", "l")],
        ),
        (&[&["RPUSH", "l", "a"]], &[&["LREM", "l", "0", "x"]], &[]),
        (
            &[&["RPUSH", "l", "a", "b", "c"]],
            &[&["LTRIM", "l", "0", "1"]],
            &[("ltrim", "l")],
        ),
        // As Redis: `ltrim` on an existing list even when nothing went.
        (
            &[&["RPUSH", "l", "a", "b"]],
            &[&["LTRIM", "l", "0", "-1"]],
            &[("ltrim", "l")],
        ),
        (
            &[&["RPUSH", "l", "a", "b"]],
            &[&["LTRIM", "l", "5", "10"]],
            &[("ltrim", "l"), ("del", "l")],
        ),
        (&[], &[&["LTRIM", "l", "0", "1"]], &[]),
        // LMOVE: the push on the destination first, then the pop.
        (
            &[&["RPUSH", "s", "a", "b"]],
            &[&["LMOVE", "s", "d", "LEFT", "RIGHT"]],
            &[("rpush", "d"), ("lpop", "s")],
        ),
        (
            &[&["RPUSH", "s", "a"]],
            &[&["RPOPLPUSH", "s", "d"]],
            &[("lpush", "d"), ("rpop", "s"), ("del", "s")],
        ),
        // A rotation of a one-element list leaves it there: no `del`.
        (
            &[&["RPUSH", "s", "a"]],
            &[&["LMOVE", "s", "s", "RIGHT", "LEFT"]],
            &[("lpush", "s"), ("rpop", "s")],
        ),
        (&[], &[&["LMOVE", "s", "d", "LEFT", "LEFT"]], &[]),
        // The blocking forms, served at once, publish what the others do.
        (
            &[&["RPUSH", "l", "a"]],
            &[&["BLPOP", "nol", "l", "0"]],
            &[("lpop", "l"), ("del", "l")],
        ),
        (
            &[&["RPUSH", "l", "a", "b"]],
            &[&["BRPOP", "l", "0"]],
            &[("rpop", "l")],
        ),
        (
            &[&["RPUSH", "s", "a"]],
            &[&["BLMOVE", "s", "d", "RIGHT", "LEFT", "0"]],
            &[("lpush", "d"), ("rpop", "s"), ("del", "s")],
        ),
        (
            &[&["RPUSH", "s", "a", "b"]],
            &[&["BRPOPLPUSH", "s", "d", "0"]],
            &[("lpush", "d"), ("rpop", "s")],
        ),
        (
            &[&["RPUSH", "l", "a"]],
            &[&["BLMPOP", "0", "1", "l", "LEFT", "COUNT", "3"]],
            &[("lpop", "l"), ("del", "l")],
        ),
        (
            &[&["RPUSH", "l", "a"]],
            &[
                &["LRANGE", "l", "0", "-1"],
                &["LLEN", "l"],
                &["LINDEX", "l", "0"],
            ],
            &[],
        ),
    ]);
}

#[test]
fn served_blocked_pops_publish_like_the_plain_ones() {
    let mut l = Listened::new("KEA");
    // A second client blocks on `q`; the kit's own client pushes.
    let waiter = client_info(3);
    l.kit.srv.clients.add(waiter.clone());
    let mut blocked = crate::commands::Client::new(waiter, true);
    std::mem::swap(&mut l.kit.client, &mut blocked);
    assert_eq!(l.kit.run(&["BLPOP", "q", "0"]), "");
    std::mem::swap(&mut l.kit.client, &mut blocked);
    assert!(blocked.blocked.is_some(), "BLPOP blocked");
    l.run(&["RPUSH", "q", "x"]);
    assert_eq!(
        l.published(),
        expand(0, &[("rpush", "q"), ("lpop", "q"), ("del", "q")])
    );
    // BLMOVE served later: push on the destination, then the pop.
    std::mem::swap(&mut l.kit.client, &mut blocked);
    blocked.blocked = None;
    assert_eq!(l.kit.run(&["BLMOVE", "q", "d", "LEFT", "RIGHT", "0"]), "");
    std::mem::swap(&mut l.kit.client, &mut blocked);
    l.run(&["LPUSH", "q", "a", "b"]);
    assert_eq!(
        l.published(),
        expand(0, &[("lpush", "q"), ("rpush", "d"), ("lpop", "q")])
    );
    // BZPOPMIN likewise.
    std::mem::swap(&mut l.kit.client, &mut blocked);
    blocked.blocked = None;
    assert_eq!(l.kit.run(&["BZPOPMIN", "z", "0"]), "");
    std::mem::swap(&mut l.kit.client, &mut blocked);
    l.run(&["ZADD", "z", "1", "m"]);
    assert_eq!(
        l.published(),
        expand(0, &[("zadd", "z"), ("zpopmin", "z"), ("del", "z")])
    );
}

#[test]
fn hash_events() {
    check(&[
        (&[], &[&["HSET", "h", "a", "1", "b", "2"]], &[("hset", "h")]),
        // HSET publishes even when no field changed, as Redis's does.
        (
            &[&["HSET", "h", "a", "1"]],
            &[&["HSET", "h", "a", "1"]],
            &[("hset", "h")],
        ),
        (&[], &[&["HMSET", "h", "a", "1"]], &[("hset", "h")]),
        (&[], &[&["HSETNX", "h", "a", "1"]], &[("hset", "h")]),
        (
            &[&["HSET", "h", "a", "1"]],
            &[&["HSETNX", "h", "a", "2"]],
            &[],
        ),
        (
            &[&["HSET", "h", "a", "1", "b", "2"]],
            &[&["HDEL", "h", "a", "x"]],
            &[("hdel", "h")],
        ),
        (
            &[&["HSET", "h", "a", "1"]],
            &[&["HDEL", "h", "a", "b"]],
            &[("hdel", "h"), ("del", "h")],
        ),
        (&[&["HSET", "h", "a", "1"]], &[&["HDEL", "h", "x"]], &[]),
        (&[], &[&["HDEL", "h", "x"]], &[]),
        (&[], &[&["HINCRBY", "h", "n", "10"]], &[("hincrby", "h")]),
        (
            &[],
            &[&["HINCRBYFLOAT", "h", "f", "1.5"]],
            &[("hincrbyfloat", "h")],
        ),
        (
            &[&["HSET", "h", "a", "1"]],
            &[&["HGET", "h", "a"], &["HGETALL", "h"], &["HLEN", "h"]],
            &[],
        ),
    ]);
}

#[test]
fn set_events() {
    check(&[
        (&[], &[&["SADD", "s", "a", "b"]], &[("sadd", "s")]),
        (&[&["SADD", "s", "a"]], &[&["SADD", "s", "a"]], &[]),
        (
            &[&["SADD", "s", "a", "b"]],
            &[&["SREM", "s", "a", "x"]],
            &[("srem", "s")],
        ),
        (
            &[&["SADD", "s", "a"]],
            &[&["SREM", "s", "a", "b"]],
            &[("srem", "s"), ("del", "s")],
        ),
        (&[&["SADD", "s", "a"]], &[&["SREM", "s", "x"]], &[]),
        (&[], &[&["SREM", "s", "x"]], &[]),
        (
            &[&["SADD", "s", "a", "b"]],
            &[&["SPOP", "s"]],
            &[("spop", "s")],
        ),
        (
            &[&["SADD", "s", "a"]],
            &[&["SPOP", "s"]],
            &[("spop", "s"), ("del", "s")],
        ),
        (
            &[&["SADD", "s", "a", "b", "c"]],
            &[&["SPOP", "s", "2"]],
            &[("spop", "s")],
        ),
        (
            &[&["SADD", "s", "a", "b"]],
            &[&["SPOP", "s", "2"]],
            &[("spop", "s"), ("del", "s")],
        ),
        (&[&["SADD", "s", "a"]], &[&["SPOP", "s", "0"]], &[]),
        (&[], &[&["SPOP", "s"], &["SPOP", "s", "3"]], &[]),
        (
            &[&["SADD", "s", "a", "b"]],
            &[&["SMOVE", "s", "d", "a"]],
            &[("srem", "s"), ("sadd", "d")],
        ),
        (
            &[&["SADD", "s", "a"], &["SADD", "d", "a"]],
            &[&["SMOVE", "s", "d", "a"]],
            &[("srem", "s"), ("del", "s")],
        ),
        (&[&["SADD", "s", "a"]], &[&["SMOVE", "s", "d", "x"]], &[]),
        (&[&["SADD", "s", "a"]], &[&["SMOVE", "s", "s", "a"]], &[]),
        (
            &[&["SADD", "a", "1", "2"], &["SADD", "b", "2", "3"]],
            &[
                &["SINTERSTORE", "i", "a", "b"],
                &["SUNIONSTORE", "u", "a", "b"],
                &["SDIFFSTORE", "d", "a", "b"],
            ],
            &[
                ("sinterstore", "i"),
                ("sunionstore", "u"),
                ("sdiffstore", "d"),
            ],
        ),
        // An empty result deletes the destination: `del`, if there was one.
        (
            &[&["SADD", "a", "1"], &["SET", "i", "x"]],
            &[
                &["SINTERSTORE", "i", "a", "none"],
                &["SDIFFSTORE", "i", "a", "a"],
            ],
            &[("del", "i")],
        ),
        (
            &[&["SADD", "s", "a"]],
            &[
                &["SMEMBERS", "s"],
                &["SISMEMBER", "s", "a"],
                &["SINTER", "s", "s"],
            ],
            &[],
        ),
    ]);
}

#[test]
fn sorted_set_events() {
    check(&[
        (&[], &[&["ZADD", "z", "1", "a", "2", "b"]], &[("zadd", "z")]),
        (
            &[&["ZADD", "z", "1", "a"]],
            &[&["ZADD", "z", "1", "a"]],
            &[],
        ),
        (
            &[&["ZADD", "z", "1", "a"]],
            &[&["ZADD", "z", "2", "a"]],
            &[("zadd", "z")],
        ),
        (&[], &[&["ZADD", "z", "XX", "1", "a"]], &[]),
        (&[], &[&["ZADD", "z", "INCR", "1", "a"]], &[("zincr", "z")]),
        (&[], &[&["ZINCRBY", "z", "1", "a"]], &[("zincr", "z")]),
        (
            &[&["ZADD", "z", "1", "a", "2", "b"]],
            &[&["ZREM", "z", "a", "x"]],
            &[("zrem", "z")],
        ),
        (
            &[&["ZADD", "z", "1", "a"]],
            &[&["ZREM", "z", "a"]],
            &[("zrem", "z"), ("del", "z")],
        ),
        (&[&["ZADD", "z", "1", "a"]], &[&["ZREM", "z", "x"]], &[]),
        (
            &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"]],
            &[
                &["ZREMRANGEBYRANK", "z", "0", "0"],
                &["ZREMRANGEBYSCORE", "z", "2", "2"],
                &["ZREMRANGEBYLEX", "z", "[c", "[c"],
            ],
            &[
                ("zremrangebyrank", "z"),
                ("zremrangebyscore", "z"),
                ("zremrangebylex", "z"),
                ("del", "z"),
            ],
        ),
        (
            &[&["ZADD", "z", "1", "a"]],
            &[&["ZREMRANGEBYSCORE", "z", "5", "9"]],
            &[],
        ),
        (
            &[&["ZADD", "z", "1", "a", "2", "b"]],
            &[&["ZPOPMIN", "z"]],
            &[("zpopmin", "z")],
        ),
        (
            &[&["ZADD", "z", "1", "a", "2", "b"]],
            &[&["ZPOPMAX", "z", "5"]],
            &[("zpopmax", "z"), ("del", "z")],
        ),
        (&[&["ZADD", "z", "1", "a"]], &[&["ZPOPMIN", "z", "0"]], &[]),
        (&[], &[&["ZPOPMIN", "z"]], &[]),
        (
            &[&["ZADD", "z", "1", "a", "2", "b"]],
            &[&["ZMPOP", "2", "none", "z", "MAX"]],
            &[("zpopmax", "z")],
        ),
        (
            &[&["ZADD", "z", "1", "a"]],
            &[&["BZPOPMIN", "z", "0"]],
            &[("zpopmin", "z"), ("del", "z")],
        ),
        (
            &[&["ZADD", "z", "1", "a", "2", "b"]],
            &[&["BZMPOP", "0", "1", "z", "MIN", "COUNT", "1"]],
            &[("zpopmin", "z")],
        ),
        (
            &[&["ZADD", "a", "1", "x", "2", "y"], &["ZADD", "b", "1", "y"]],
            &[
                &["ZUNIONSTORE", "u", "2", "a", "b"],
                &["ZINTERSTORE", "i", "2", "a", "b"],
                &["ZDIFFSTORE", "d", "2", "a", "b"],
                &["ZRANGESTORE", "r", "a", "0", "-1"],
            ],
            &[
                ("zunionstore", "u"),
                ("zinterstore", "i"),
                ("zdiffstore", "d"),
                ("zrangestore", "r"),
            ],
        ),
        (
            &[
                &["ZADD", "a", "1", "x"],
                &["SET", "d", "v"],
                &["SET", "r", "v"],
            ],
            &[
                &["ZINTERSTORE", "d", "2", "a", "none"],
                &["ZINTERSTORE", "d", "2", "a", "none"],
                &["ZRANGESTORE", "r", "a", "5", "9"],
            ],
            &[("del", "d"), ("del", "r")],
        ),
        (
            &[&["ZADD", "z", "1", "a"]],
            &[
                &["ZRANGE", "z", "0", "-1"],
                &["ZSCORE", "z", "a"],
                &["ZCARD", "z"],
            ],
            &[],
        ),
    ]);
}

#[test]
fn geo_events() {
    check(&[
        // GEOADD runs as ZADD: `zadd`.
        (
            &[],
            &[&["GEOADD", "g", "13.361389", "38.115556", "p"]],
            &[("zadd", "g")],
        ),
        (
            &[&["GEOADD", "g", "13.361389", "38.115556", "p"]],
            &[&["GEOADD", "g", "NX", "13.361389", "38.115556", "p"]],
            &[],
        ),
        (
            &[&["GEOADD", "g", "13.361389", "38.115556", "p"]],
            &[
                &["GEORADIUS", "g", "13", "38", "200", "km", "STORE", "r"],
                &["GEORADIUSBYMEMBER", "g", "p", "10", "km", "STOREDIST", "m"],
                &[
                    "GEOSEARCHSTORE",
                    "s",
                    "g",
                    "FROMLONLAT",
                    "13",
                    "38",
                    "BYRADIUS",
                    "200",
                    "km",
                ],
            ],
            &[
                ("georadiusstore", "r"),
                ("georadiusstore", "m"),
                ("geosearchstore", "s"),
            ],
        ),
        // Nothing found, or no source: the destination is deleted.
        (
            &[
                &["GEOADD", "g", "13.361389", "38.115556", "p"],
                &["SET", "r", "v"],
                &["SET", "s", "v"],
            ],
            &[
                &["GEORADIUS", "g", "-100", "-40", "1", "km", "STORE", "r"],
                &[
                    "GEOSEARCHSTORE",
                    "s",
                    "none",
                    "FROMLONLAT",
                    "0",
                    "0",
                    "BYRADIUS",
                    "1",
                    "km",
                ],
                &[
                    "GEOSEARCHSTORE",
                    "s",
                    "none",
                    "FROMLONLAT",
                    "0",
                    "0",
                    "BYRADIUS",
                    "1",
                    "km",
                ],
            ],
            &[("del", "r"), ("del", "s")],
        ),
    ]);
}

#[test]
fn bitmap_and_hyperloglog_events() {
    check(&[
        (&[], &[&["SETBIT", "b", "7", "1"]], &[("setbit", "b")]),
        (
            &[&["SETBIT", "b", "7", "1"]],
            &[&["SETBIT", "b", "7", "1"]],
            &[],
        ),
        (
            &[&["SETBIT", "b", "7", "1"]],
            &[&["SETBIT", "b", "7", "0"]],
            &[("setbit", "b")],
        ),
        // A longer string is a change even with the bit unchanged.
        (
            &[&["SETBIT", "b", "7", "1"]],
            &[&["SETBIT", "b", "100", "0"]],
            &[("setbit", "b")],
        ),
        (
            &[],
            &[&[
                "BITFIELD", "f", "SET", "u8", "0", "1", "INCRBY", "u8", "0", "1",
            ]],
            &[("setbit", "f")],
        ),
        (
            &[&["SET", "f", "a"]],
            &[&["BITFIELD", "f", "SET", "u8", "0", "97"]],
            &[],
        ),
        (
            &[&["SET", "f", "a"]],
            &[&["BITFIELD", "f", "GET", "u8", "0"]],
            &[],
        ),
        (
            &[&["SET", "f", "a"]],
            &[&["BITFIELD_RO", "f", "GET", "u8", "0"]],
            &[],
        ),
        (
            &[&["SET", "a", "x"], &["SET", "b", "y"]],
            &[&["BITOP", "AND", "d", "a", "b"]],
            &[("set", "d")],
        ),
        (
            &[&["SET", "d", "v"]],
            &[&["BITOP", "OR", "d", "none"]],
            &[("del", "d")],
        ),
        (&[], &[&["BITOP", "OR", "d", "none"]], &[]),
        (&[], &[&["PFADD", "h", "a", "b"]], &[("pfadd", "h")]),
        (&[], &[&["PFADD", "h"]], &[("pfadd", "h")]),
        (&[&["PFADD", "h", "a"]], &[&["PFADD", "h", "a"]], &[]),
        (&[&["PFADD", "h", "a"]], &[&["PFCOUNT", "h"]], &[]),
        (
            &[&["PFADD", "a", "x"], &["PFADD", "b", "y"]],
            &[&["PFMERGE", "d", "a", "b"]],
            &[("pfadd", "d")],
        ),
    ]);
}

#[test]
fn sort_store_events() {
    check(&[
        (
            &[&["RPUSH", "l", "3", "1", "2"]],
            &[&["SORT", "l", "STORE", "d"]],
            &[("sortstore", "d")],
        ),
        (
            &[&["SET", "d", "v"]],
            &[&["SORT", "none", "STORE", "d"]],
            &[("del", "d")],
        ),
        (&[], &[&["SORT", "none", "STORE", "d"]], &[]),
        (
            &[&["RPUSH", "l", "3", "1", "2"]],
            &[&["SORT", "l"], &["SORT_RO", "l"]],
            &[],
        ),
    ]);
}

#[test]
fn transactions_publish_each_command_as_it_runs() {
    check(&[(
        &[],
        &[
            &["MULTI"],
            &["SET", "a", "1"],
            &["LPUSH", "l", "x"],
            &["DEL", "a"],
            &["EXEC"],
        ],
        &[("set", "a"), ("lpush", "l"), ("del", "a")],
    )]);
}
