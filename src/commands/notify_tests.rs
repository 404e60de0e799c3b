//! The keyspace events the command handlers publish, command family by
//! family, against what Redis 7.0.15 publishes for the same commands (its
//! `notifyKeyspaceEvent` calls and their conditions). `m` (keymiss) and `n`
//! (new key) come from the store's lookups, not the handlers: not here.

use std::sync::Arc;

use crate::commands::testkit::Kit;
use crate::node::clients::ClientInfo;
use crate::node::pubsub::Subscriptions;

/// A server with `notify-keyspace-events KEA` and a client listening on
/// every keyspace and keyevent channel.
struct Listened {
    kit: Kit,
    listener: Arc<ClientInfo>,
    _subs: Subscriptions,
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
        let mut subs = Subscriptions::default();
        assert!(kit
            .srv
            .pubsub
            .psubscribe(&mut subs, &listener, b"__key*__:*"));
        Listened {
            kit,
            listener,
            _subs: subs,
        }
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
