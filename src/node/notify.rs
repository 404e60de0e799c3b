//! Keyspace notifications (`notify-keyspace-events`): the event classes,
//! their letters, and publishing an event on `__keyspace@<db>__:<key>` and
//! `__keyevent@<db>__:<event>` as Redis does.

use std::sync::atomic::Ordering;

use super::mailbox::Limit;
use super::pubsub::{Delivery, Kind};

/// `K`: events on `__keyspace@<db>__:<key>`.
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: events on `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u32 = 1 << 1;
/// `g`: generic commands (DEL, EXPIRE, RENAME, …).
pub const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const SET: u32 = 1 << 5;
/// `h`: hash commands.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted-set commands.
pub const ZSET: u32 = 1 << 7;
/// `x`: a key expired.
pub const EXPIRED: u32 = 1 << 8;
/// `e`: a key was evicted.
pub const EVICTED: u32 = 1 << 9;
/// `t`: stream commands.
pub const STREAM: u32 = 1 << 10;
/// `m`: a key was read and missed (not part of `A`).
pub const KEY_MISS: u32 = 1 << 11;
/// `d`: module events.
pub const MODULE: u32 = 1 << 13;
/// `n`: a key was created (not part of `A`).
pub const NEW: u32 = 1 << 14;
/// `A`: every class letter but `m` and `n`.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

const LETTERS: [(u8, u32); 13] = [
    (b'g', GENERIC),
    (b'$', STRING),
    (b'l', LIST),
    (b's', SET),
    (b'h', HASH),
    (b'z', ZSET),
    (b'x', EXPIRED),
    (b'e', EVICTED),
    (b't', STREAM),
    (b'd', MODULE),
    (b'n', NEW),
    (b'K', KEYSPACE),
    (b'E', KEYEVENT),
];

/// The classes a `notify-keyspace-events` string names; `None` for a letter
/// that is not a class.
pub fn parse(text: &str) -> Option<u32> {
    let mut flags = 0;
    for c in text.bytes() {
        flags |= match c {
            b'A' => ALL,
            b'm' => KEY_MISS,
            _ => LETTERS.iter().find(|(l, _)| *l == c)?.1,
        };
    }
    Some(flags)
}

/// The string `CONFIG GET notify-keyspace-events` shows for `flags`.
pub fn render(flags: u32) -> String {
    let mut s = String::new();
    let (classes, channels) = LETTERS.split_at(11);
    if flags & ALL == ALL {
        // As Redis: `A` stands for the classes, `n` included (so it is lost).
        s.push('A');
    } else {
        for (letter, class) in classes {
            if flags & class != 0 {
                s.push(*letter as char);
            }
        }
    }
    for (letter, class) in channels {
        if flags & class != 0 {
            s.push(*letter as char);
        }
    }
    if flags & KEY_MISS != 0 {
        s.push('m');
    }
    s
}

/// The two channels of an event: (`__keyspace@db__:key`, `__keyevent@db__:event`).
pub fn channels(db: usize, key: &[u8], event: &str) -> (Vec<u8>, Vec<u8>) {
    let prefix = |kind: &str| format!("__key{kind}@{db}__:").into_bytes();
    let mut space = prefix("space");
    space.extend_from_slice(key);
    let mut ev = prefix("event");
    ev.extend_from_slice(event.as_bytes());
    (space, ev)
}

impl super::Server {
    /// How a publish made now delivers (the pubsub output limit).
    pub fn delivery(&self, now_ms: u64) -> Delivery {
        let l = &self.hot.pubsub_limit;
        Delivery {
            limit: Limit {
                hard: l[0].load(Ordering::Relaxed),
                soft: l[1].load(Ordering::Relaxed),
                soft_ms: l[2].load(Ordering::Relaxed),
            },
            now_ms,
        }
    }

    /// Publishes keyspace event `event` of `class` on `key` in `db`, when
    /// `notify-keyspace-events` asks for it (one atomic load otherwise).
    pub fn notify_keyspace_event(&self, db: usize, class: u32, event: &str, key: &[u8]) {
        let flags = self.hot.notify_keyspace_events.load(Ordering::Relaxed);
        if flags & class == 0 || flags & (KEYSPACE | KEYEVENT) == 0 {
            return;
        }
        let (space, ev) = channels(db, key, event);
        let how = self.delivery(crate::clock::unix_ms());
        if flags & KEYSPACE != 0 {
            self.pubsub
                .publish(Kind::Channel, &space, event.as_bytes(), how);
        }
        if flags & KEYEVENT != 0 {
            self.pubsub.publish(Kind::Channel, &ev, key, how);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_round_trip_as_redis_renders_them() {
        for (text, shown) in [
            ("", ""),
            ("KEA", "AKE"),
            ("Ex", "xE"),
            ("AKEm", "AKEm"),
            ("An", "A"),
            ("g$lshzxetdKE", "AKE"),
            ("Kz", "zK"),
            ("nK", "nK"),
        ] {
            let flags = parse(text).expect(text);
            assert_eq!(render(flags), shown, "{text}");
        }
        assert_eq!(parse("KEQ"), None);
    }
}
