//! `notify-keyspace-events`: the keyspace-event classes, their letters, and
//! the option's text as Redis parses and renders it. Publishing the events
//! is the node's (`node::notify`).

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
