//! Generic key commands. This file holds the per-key ones (DEL, EXISTS, TYPE,
//! TOUCH) and the helpers the family shares; the rest sits by concern: expiry,
//! renames and copies, iteration, OBJECT, DUMP/RESTORE.

pub mod dump;
pub mod expire;
pub mod object;
pub mod rename;
pub mod scan;

use std::sync::atomic::Ordering;

use super::{Argv, CmdResult, Ctx};
use crate::node::notify::GENERIC;
use crate::store::{Keyspace, Record, SlotGuard};

/// `DEL key [key …]`; frees large values in the background when
/// `lazyfree-lazy-user-del` is on.
pub fn del(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let lazy = ctx.srv.hot.lazyfree[3].load(Ordering::Relaxed);
    remove_keys(ctx, argv, lazy)
}

/// `UNLINK key [key …]`: DEL that frees large values in the background.
pub fn unlink(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    remove_keys(ctx, argv, true)
}

fn remove_keys(ctx: &mut Ctx<'_>, argv: &Argv<'_>, lazy: bool) -> CmdResult {
    let db = ctx.client.db;
    let mut m = ctx.lock_keys(argv.tail(1).iter());
    let mut n = 0;
    for key in argv.tail(1).iter() {
        if let Some(e) = m.slot(db, key).remove(key) {
            if lazy {
                ctx.srv.keyspace.lazy_free.free_record(e);
            }
            ctx.propagate(&[b"DEL", key]);
            ctx.notify(GENERIC, "del", key);
            n += 1;
        }
    }
    drop(m);
    ctx.out.int(n);
    Ok(())
}

/// `EXISTS key [key …]`: counts repeats.
pub fn exists(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let db = ctx.client.db;
    let mut m = ctx.lock_keys(argv.tail(1).iter());
    let n = argv
        .tail(1)
        .iter()
        .filter(|k| m.slot(db, k).contains(k))
        .count();
    drop(m);
    ctx.out.int(n as i64);
    Ok(())
}

/// `TYPE key`
pub fn type_(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let name = ctx
        .lock(key)
        .peek(key)
        .map_or("none", |e| e.value().kind().name());
    ctx.out.simple(name);
    Ok(())
}

/// `TOUCH key [key …]`: counts existing keys, updating their access time.
pub fn touch(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let db = ctx.db();
    let mut m = ctx.lock_keys(argv.tail(1).iter());
    let n = argv
        .tail(1)
        .iter()
        .filter(|k| m.slot(db, k).get(k).is_some())
        .count();
    drop(m);
    ctx.out.int(n as i64);
    Ok(())
}

// ---- shared helpers ----

/// Redis's `LOOKUP_NOTOUCH` read: hit/miss statistics, but the access time is
/// left alone (TTL, OBJECT).
fn peek_counted<'g>(ks: &Keyspace, g: &'g mut SlotGuard<'_>, key: &[u8]) -> Option<&'g Record> {
    let e = g.peek(key);
    let counter = if e.is_some() {
        &ks.stats.hits
    } else {
        &ks.stats.misses
    };
    counter.fetch_add(1, Ordering::Relaxed);
    e
}

/// An argument as text for an error message (Redis prints it as sent).
fn lossy(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

/// The in-process harness the family's tests share.
#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::clock::unix_ms;
    use crate::commands::testkit::Kit;
    use crate::node::Server;
    use crate::persist;
    use crate::store::Value;

    /// The shared in-process kit, with the stream read back as raw RESP text.
    pub(super) struct Harness {
        kit: Kit,
        pub(super) srv: Arc<Server>,
    }

    impl Harness {
        pub(super) fn new() -> Self {
            let kit = Kit::new();
            let srv = kit.srv.clone();
            Harness { kit, srv }
        }

        pub(super) fn run(&mut self, words: &[&[u8]]) -> String {
            self.kit.run_bytes(words)
        }

        pub(super) fn stream(&self) -> String {
            String::from_utf8_lossy(&self.srv.repl.backlog().1).into_owned()
        }
    }

    /// A command as RESP text, to find it in the stream.
    pub(super) fn resp(parts: &[&str]) -> String {
        let mut s = format!("*{}\r\n", parts.len());
        for p in parts {
            s.push_str(&format!("${}\r\n{}\r\n", p.len(), p));
        }
        s
    }

    #[test]
    fn persist_rename_and_restore_propagation() {
        let mut h = Harness::new();
        h.run(&[b"SET", b"k", b"v"]);
        assert_eq!(h.run(&[b"PERSIST", b"k"]), ":0\r\n");
        h.run(&[b"PEXPIREAT", b"k", b"4102444800000"]);
        assert_eq!(h.run(&[b"PERSIST", b"k"]), ":1\r\n");
        assert!(h.stream().ends_with(&resp(&["PERSIST", "k"])));
        assert_eq!(h.run(&[b"rename", b"k", b"j"]), "+OK\r\n");
        assert!(h.stream().ends_with(&resp(&["rename", "k", "j"])));
        let payload = persist::dump(&Value::string(b"hello"));
        let p = payload.as_slice();
        let before = unix_ms();
        assert_eq!(h.run(&[b"RESTORE", b"r", b"5000", p]), "+OK\r\n");
        let after = unix_ms();
        let stream = h.srv.repl.backlog().1;
        let found = (before + 5000..=after + 5000).any(|t| {
            let ts = t.to_string();
            let mut want = format!(
                "*5\r\n$7\r\nRESTORE\r\n$1\r\nr\r\n${}\r\n{}\r\n",
                ts.len(),
                ts
            )
            .into_bytes();
            want.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
            want.extend_from_slice(p);
            want.extend_from_slice(b"\r\n$6\r\nABSTTL\r\n");
            stream.ends_with(&want)
        });
        assert!(found, "{:?}", String::from_utf8_lossy(&stream));
    }
}
