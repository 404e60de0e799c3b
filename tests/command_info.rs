//! `COMMAND INFO`, `COMMAND GETKEYS` and `COMMAND GETKEYSANDFLAGS` against the
//! real binary, byte for byte. Every expected reply below was captured from
//! redis-server 7.0.15 (Debian's build, `--save ''`).

mod common;

use common::{RawConn, TestNode};

/// Whole `COMMAND INFO <name>` replies of commands whose every field ringcache
/// matches (key specs with notes, several specs, a subcommand's).
const WHOLE_INFO: &[(&str, &[u8])] = &[
    (
        "get",
        b"*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n\
        +@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n\
        +access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n\
        *2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n\
        $4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n\
        :0\r\n*0\r\n",
    ),
    (
        "set",
        b"*1\r\n*10\r\n$3\r\nset\r\n:-3\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:1\r\n:1\r\n\
        *3\r\n+@write\r\n+@string\r\n+@slow\r\n*0\r\n*1\r\n*8\r\n$5\r\nnotes\r\n$48\r\n\
        RW and ACCESS due to the optional `GET` argument\r\n$5\r\nflags\r\n*4\r\n+RW\r\n\
        +access\r\n+update\r\n+variable_flags\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n\
        $5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n\
        $4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\n\
        keystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n",
    ),
    (
        "getex",
        b"*1\r\n*10\r\n$5\r\ngetex\r\n:-2\r\n*2\r\n+write\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n\
        +@write\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*8\r\n$5\r\nnotes\r\n$40\r\n\
        RW and UPDATE because it changes the TTL\r\n$5\r\nflags\r\n*3\r\n+RW\r\n+access\r\n\
        +update\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n\
        *2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n\
        $4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n\
        :0\r\n*0\r\n",
    ),
    (
        "rename",
        b"*1\r\n*10\r\n$6\r\nrename\r\n:3\r\n*1\r\n+write\r\n:1\r\n:2\r\n:1\r\n*3\r\n\
        +@keyspace\r\n+@write\r\n+@slow\r\n*0\r\n*2\r\n*6\r\n$5\r\nflags\r\n*3\r\n+RW\r\n\
        +access\r\n+delete\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n\
        $4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n\
        $5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n\
        $5\r\nlimit\r\n:0\r\n*6\r\n$5\r\nflags\r\n*2\r\n+OW\r\n+update\r\n$12\r\n\
        begin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\n\
        index\r\n:2\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n\
        *6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n",
    ),
    (
        "copy",
        b"*1\r\n*10\r\n$4\r\ncopy\r\n:-3\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:2\r\n:1\r\n\
        *3\r\n+@keyspace\r\n+@write\r\n+@slow\r\n*0\r\n*2\r\n*6\r\n$5\r\nflags\r\n*2\r\n\
        +RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\n\
        spec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\n\
        range\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\n\
        limit\r\n:0\r\n*6\r\n$5\r\nflags\r\n*2\r\n+OW\r\n+update\r\n$12\r\nbegin_search\r\n\
        *4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:2\r\n$9\r\n\
        find_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\n\
        lastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n",
    ),
    (
        "memory|usage",
        b"*1\r\n*10\r\n$12\r\nmemory|usage\r\n:-3\r\n*1\r\n+readonly\r\n:2\r\n:2\r\n:1\r\n\
        *2\r\n+@read\r\n+@slow\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*1\r\n+RO\r\n$12\r\n\
        begin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\n\
        index\r\n:2\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n\
        *6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n",
    ),
];

/// The key fields of `COMMAND INFO <name>`, for commands with tips (which
/// ringcache does not show yet).
struct KeyFields {
    /// The command.
    name: &'static str,
    /// Field 3: the command flags (`movablekeys` among them).
    flags: &'static [u8],
    /// Fields 4 to 6: the legacy first/last/step triple.
    legacy: &'static [u8],
    /// Field 9: the key specs.
    specs: &'static [u8],
}

const KEY_FIELDS: &[KeyFields] = &[
    KeyFields {
        name: "migrate",
        flags: b"*2\r\n+write\r\n+movablekeys\r\n",
        legacy: b":3\r\n:3\r\n:1\r\n",
        specs: b"*2\r\n*6\r\n$5\r\nflags\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n$12\r\n\
        begin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\n\
        index\r\n:3\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n\
        *6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*6\r\n\
        $5\r\nflags\r\n*4\r\n+RW\r\n+access\r\n+delete\r\n+incomplete\r\n$12\r\n\
        begin_search\r\n*4\r\n$4\r\ntype\r\n$7\r\nkeyword\r\n$4\r\nspec\r\n*4\r\n$7\r\n\
        keyword\r\n$4\r\nKEYS\r\n$9\r\nstartfrom\r\n:-2\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\n\
        type\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n\
        :1\r\n$5\r\nlimit\r\n:0\r\n",
    },
    KeyFields {
        name: "mset",
        flags: b"*2\r\n+write\r\n+denyoom\r\n",
        legacy: b":1\r\n:-1\r\n:2\r\n",
        specs: b"*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+OW\r\n+update\r\n$12\r\nbegin_search\r\n*4\r\n\
        $4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\n\
        find_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\n\
        lastkey\r\n:-1\r\n$7\r\nkeystep\r\n:2\r\n$5\r\nlimit\r\n:0\r\n",
    },
];

/// (protocol, command, reply) for key extraction: flags from the specs, from
/// SET's and MIGRATE's key functions, and Redis's errors in Redis's order.
const GETKEYS: &[(u8, &[&str], &[u8])] = &[
    (2, &["COMMAND", "GETKEYS", "get", "k"], b"*1\r\n$1\r\nk\r\n"),
    (
        2,
        &["COMMAND", "GETKEYSANDFLAGS", "set", "k", "v"],
        b"*1\r\n*2\r\n$1\r\nk\r\n*2\r\n+OW\r\n+update\r\n",
    ),
    (
        2,
        &[
            "COMMAND",
            "GETKEYSANDFLAGS",
            "set",
            "k",
            "v",
            "EX",
            "10",
            "GET",
        ],
        b"*1\r\n*2\r\n$1\r\nk\r\n*3\r\n+RW\r\n+access\r\n+update\r\n",
    ),
    (
        2,
        &["COMMAND", "GETKEYSANDFLAGS", "mset", "a", "1", "b", "2"],
        b"*2\r\n*2\r\n$1\r\na\r\n*2\r\n+OW\r\n+update\r\n*2\r\n$1\r\nb\r\n*2\r\n+OW\r\n\
        +update\r\n",
    ),
    (
        2,
        &["COMMAND", "GETKEYSANDFLAGS", "rename", "a", "b"],
        b"*2\r\n*2\r\n$1\r\na\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n*2\r\n$1\r\nb\r\n*2\r\n\
        +OW\r\n+update\r\n",
    ),
    (
        2,
        &["COMMAND", "GETKEYSANDFLAGS", "object", "encoding", "k"],
        b"*1\r\n*2\r\n$1\r\nk\r\n*1\r\n+RO\r\n",
    ),
    (
        2,
        &[
            "COMMAND",
            "GETKEYSANDFLAGS",
            "migrate",
            "h",
            "6379",
            "k",
            "0",
            "5000",
        ],
        b"*1\r\n*2\r\n$1\r\nk\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n",
    ),
    (
        2,
        &[
            "COMMAND",
            "GETKEYSANDFLAGS",
            "migrate",
            "h",
            "6379",
            "",
            "0",
            "5000",
            "AUTH",
            "pw",
            "KEYS",
            "a",
            "b",
        ],
        b"*2\r\n*2\r\n$1\r\na\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n*2\r\n$1\r\nb\r\n*3\r\n\
        +RW\r\n+access\r\n+delete\r\n",
    ),
    (
        2,
        &[
            "COMMAND", "GETKEYS", "migrate", "h", "6379", "k", "0", "5000", "KEYS", "a",
        ],
        b"-ERR Invalid arguments specified for command\r\n",
    ),
    (
        2,
        &["COMMAND", "GETKEYS", "exec"],
        b"-ERR wrong number of arguments for 'command|getkeys' command\r\n",
    ),
    (
        2,
        &["COMMAND", "GETKEYS", "get", "a", "b"],
        b"-ERR Invalid number of arguments specified for command\r\n",
    ),
    (
        2,
        &["COMMAND", "GETKEYS", "nosuch", "a"],
        b"-ERR Invalid command specified\r\n",
    ),
    (
        3,
        &["COMMAND", "GETKEYSANDFLAGS", "copy", "a", "b"],
        b"*2\r\n*2\r\n$1\r\na\r\n~2\r\n+RO\r\n+access\r\n*2\r\n$1\r\nb\r\n~2\r\n+OW\r\n\
        +update\r\n",
    ),
];

/// The raw bytes of each element of an array reply.
fn elements(reply: &[u8]) -> Vec<&[u8]> {
    fn end_of(b: &[u8], i: usize) -> usize {
        let eol = i + b[i..].windows(2).position(|w| w == b"\r\n").unwrap();
        let n: i64 = std::str::from_utf8(&b[i + 1..eol])
            .unwrap()
            .parse()
            .unwrap_or(0);
        let mut at = eol + 2;
        match b[i] {
            b'$' | b'=' | b'!' if n >= 0 => at + n as usize + 2,
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let count = if matches!(b[i], b'%' | b'|') {
                    2 * n
                } else {
                    n
                };
                for _ in 0..count.max(0) {
                    at = end_of(b, at);
                }
                at
            }
            _ => at,
        }
    }
    let eol = reply.windows(2).position(|w| w == b"\r\n").unwrap();
    let mut at = eol + 2;
    let mut out = Vec::new();
    while at < reply.len() {
        let end = end_of(reply, at);
        out.push(&reply[at..end]);
        at = end;
    }
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn command_info_matches_redis() {
    let node = TestNode::start(&[]);
    let mut raw: RawConn = node.raw();
    for (name, expected) in WHOLE_INFO {
        let got = raw.call(&["COMMAND", "INFO", name]);
        assert_eq!(text(&got), text(expected), "COMMAND INFO {name}");
    }
    // An unknown name is a null bulk string in its place.
    let got = raw.call(&["COMMAND", "INFO", "get", "nosuch"]);
    assert_eq!(text(elements(&got)[1]), "$-1\r\n");
    for KeyFields {
        name,
        flags,
        legacy,
        specs,
    } in KEY_FIELDS
    {
        let got = raw.call(&["COMMAND", "INFO", name]);
        let entry = elements(&got)[0];
        let fields = elements(entry);
        assert_eq!(fields.len(), 10, "COMMAND INFO {name}");
        assert_eq!(text(fields[2]), text(flags), "{name}: flags");
        assert_eq!(
            text(&fields[3..6].concat()),
            text(legacy),
            "{name}: first/last/step"
        );
        assert_eq!(text(fields[8]), text(specs), "{name}: key specs");
    }
}

#[test]
fn getkeys_and_getkeysandflags_match_redis() {
    let node = TestNode::start(&[]);
    let mut resp2 = node.raw();
    let mut resp3 = node.raw();
    resp3.call(&["HELLO", "3"]);
    for (protocol, args, expected) in GETKEYS {
        let raw = if *protocol == 3 {
            &mut resp3
        } else {
            &mut resp2
        };
        assert_eq!(text(&raw.call(args)), text(expected), "{args:?}");
    }
}
