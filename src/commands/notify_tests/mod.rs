//! The keyspace events the command handlers publish, command family by
//! family, against what Redis 7.0.15 publishes for the same commands (its
//! `notifyKeyspaceEvent` calls and their conditions); `m` (keymiss) and `n`
//! (new key), which come from the store's lookups, in one test of their own.

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
fn new_keys_and_read_misses_come_from_the_keyspace() {
    let mut l = Listened::new("KEnm");
    // A key created: `new` (from the insert) before the command's own `set`,
    // which `A` is not asked for here; overwriting it is not new.
    l.run(&["SET", "k", "1"]);
    l.run(&["SET", "k", "2"]);
    l.run(&["RPUSH", "l", "a"]);
    assert_eq!(l.published(), expand(0, &[("new", "k"), ("new", "l")]));
    // A read that finds nothing; a write's lookup is no miss.
    l.run(&["GET", "missing"]);
    l.run(&["GET", "k"]);
    l.run(&["DEL", "gone"]);
    assert_eq!(l.published(), expand(0, &[("keymiss", "missing")]));
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

mod collections;
