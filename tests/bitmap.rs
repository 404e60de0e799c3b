//! Bitmap commands through the real binary, side by side with Debian's
//! redis-server 7.0.15: replies (BITCOUNT/BITPOS ranges, BITOP, BITFIELD
//! overflow), offsets past the string limit refused without allocating, and
//! what the writes leave in the append-only file.

mod common;

use common::{info_field, RedisServer, TestNode};
use redis::Connection;

/// A reply as comparable text: the value, or the error's code and message.
fn reply(c: &mut Connection, args: &[&[u8]]) -> String {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("name"));
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<redis::Value>(c) {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("error {:?} {:?}", e.code(), e.detail()),
    }
}

fn words(line: &str) -> Vec<&[u8]> {
    line.split(' ').map(str::as_bytes).collect()
}

const SCRIPT: &[&str] = &[
    "SETBIT b 7 1",
    "SETBIT b 100 1",
    "GET b",
    "GETBIT b 100",
    "SETBIT b -1 1",
    "SETBIT b 1 2",
    "SET n 1234",
    "BITCOUNT n",
    "GETBIT n 2",
    "SETBIT n 3 1",
    "OBJECT ENCODING n",
    "SET s foobar",
    "BITCOUNT s 1 1",
    "BITCOUNT s 5 30 BIT",
    "BITCOUNT s -1 -2 nonsense",
    "BITCOUNT s 0 -1 nonsense",
    "BITCOUNT s 0",
    "BITCOUNT nokey 0",
    "BITCOUNT s -100 -90",
    "BITPOS s 0",
    "BITPOS s 1 2 -1",
    "BITPOS s 0 3 20 BIT",
    "BITPOS s 1 7 15 BYTE",
    "BITPOS s 2",
    "BITPOS nokey 0",
    "BITPOS nokey 1",
    "SET e x",
    "SETRANGE e 0 ",
    "BITOP AND d s n nokey",
    "GET d",
    "BITOP OR d s n",
    "GET d",
    "BITOP XOR d s n",
    "GET d",
    "BITOP NOT d s",
    "GET d",
    "BITOP NOT d s n",
    "BITOP NAND d s",
    "BITOP OR d nokey",
    "EXISTS d",
    "HSET h f v",
    "BITOP OR d s h",
    "BITCOUNT h",
    "BITFIELD f SET i8 0 100 INCRBY i8 0 100 GET u4 0",
    "BITFIELD f OVERFLOW SAT INCRBY i8 0 -300 OVERFLOW FAIL INCRBY i8 0 -1 OVERFLOW WRAP INCRBY i8 0 -1",
    "BITFIELD f OVERFLOW SAT INCRBY u8 8 300 INCRBY u8 8 -1000 OVERFLOW FAIL INCRBY u8 8 1",
    "BITFIELD f SET i64 0 -1 GET i64 0 GET u63 1 INCRBY i64 0 -9223372036854775807 INCRBY i64 0 -10",
    "BITFIELD f OVERFLOW SAT INCRBY i64 64 9223372036854775807 INCRBY i64 64 1 INCRBY u63 128 -1",
    "BITFIELD f SET u2 #3 7 GET u2 #3 OVERFLOW FAIL SET u2 #4 7 SET i3 #5 -4 SET i3 #5 -5",
    "BITFIELD f GET u64 0",
    "BITFIELD f GET i65 0",
    "BITFIELD f GET I8 0",
    "BITFIELD f GET u8 #-1",
    "BITFIELD f OVERFLOW maybe",
    "BITFIELD f GET u8",
    "BITFIELD f SET u8 0 x",
    "BITFIELD f",
    "BITFIELD_RO f GET u8 0 GET i5 3",
    "BITFIELD_RO f INCRBY u8 0 1",
    "BITFIELD h GET u8 0",
    "BITFIELD new OVERFLOW FAIL INCRBY u2 0 5",
    "GET new",
    "GET f",
];

#[test]
fn bitmap_commands_answer_as_redis_does() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (mut ours, mut theirs) = (node.conn(), redis.conn());
    for line in SCRIPT {
        let args = words(line);
        assert_eq!(reply(&mut ours, &args), reply(&mut theirs, &args), "{line}");
    }
    // Ranges over a longer bitmap with runs of ones and zeros.
    let mut bytes = vec![0u8; 3000];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = match i % 300 {
            0..=99 => 0xff,
            100..=199 => 0,
            _ => (i * 31) as u8,
        };
    }
    for c in [&mut ours, &mut theirs] {
        let _: () = redis::cmd("SET")
            .arg("big")
            .arg(&bytes)
            .query(c)
            .expect("SET");
    }
    for (start, end) in [
        (0, -1),
        (5, 2999),
        (99, 101),
        (-1500, -3),
        (250, 250),
        (-1, 0),
    ] {
        for unit in ["BYTE", "BIT"] {
            for bit in ["0", "1"] {
                let (s, e) = (start.to_string(), end.to_string());
                let args = [
                    &b"BITPOS"[..],
                    b"big",
                    bit.as_bytes(),
                    s.as_bytes(),
                    e.as_bytes(),
                    unit.as_bytes(),
                ];
                assert_eq!(
                    reply(&mut ours, &args),
                    reply(&mut theirs, &args),
                    "{args:?}"
                );
                let args = [&b"BITPOS"[..], b"big", bit.as_bytes(), s.as_bytes()];
                assert_eq!(
                    reply(&mut ours, &args),
                    reply(&mut theirs, &args),
                    "{args:?}"
                );
            }
            let (s, e) = (start.to_string(), end.to_string());
            let args = [
                &b"BITCOUNT"[..],
                b"big",
                s.as_bytes(),
                e.as_bytes(),
                unit.as_bytes(),
            ];
            assert_eq!(
                reply(&mut ours, &args),
                reply(&mut theirs, &args),
                "{args:?}"
            );
        }
    }
}

fn used_memory(c: &mut Connection) -> i64 {
    info_field(c, "memory", "used_memory")
        .parse()
        .expect("used_memory")
}

/// Offsets past 512 MB (or a lowered proto-max-bulk-len) are refused with
/// Redis's error before anything is allocated.
#[test]
fn huge_offsets_are_refused_without_allocating() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (mut ours, mut theirs) = (node.conn(), redis.conn());
    let before = used_memory(&mut ours);
    for line in [
        "SETBIT k 4294967296 1",
        "SETBIT k 99999999999999999999 1",
        "GETBIT k 4294967296",
        "BITFIELD k SET u8 4294967296 1",
        "BITFIELD k SET u8 #536870912 1",
        "BITFIELD k SET i64 #67108864 1",
        "BITFIELD k SET u8 #9223372036854775807 1",
        "BITFIELD_RO k GET u8 4294967296",
        "CONFIG SET proto-max-bulk-len 1mb",
        "SETBIT k 8388608 1",
        "BITFIELD k INCRBY u8 8388608 1",
        "SETBIT k 8388607 1",
        "STRLEN k",
        "CONFIG SET proto-max-bulk-len 512mb",
        "EXISTS k",
    ] {
        let args = words(line);
        assert_eq!(reply(&mut ours, &args), reply(&mut theirs, &args), "{line}");
    }
    let grown = used_memory(&mut ours) - before;
    assert!(grown < 4 << 20, "refused offsets allocated {grown} bytes");
}

/// SETBIT, BITOP and BITFIELD write what changed to the AOF (BITFIELD only
/// when it wrote), and a restart replays it to the same data.
#[test]
fn bit_writes_replay_from_the_aof() {
    let mut node = TestNode::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = node.conn();
    for line in [
        "SETBIT a 10 1",
        "SETBIT a 10 1",
        "SETBIT a 3000 1",
        "SET n 77",
        "SETBIT n 0 0",
        "BITFIELD f SET u8 0 200 INCRBY i5 3 9 OVERFLOW SAT INCRBY u4 #9 99",
        "BITFIELD f GET u8 0",
        "BITOP XOR x a f n",
        "BITOP NOT y a",
        "BITOP AND a nokey",
    ] {
        reply(&mut c, &words(line));
    }
    let digest = |c: &mut Connection| reply(c, &[b"DEBUG", b"DIGEST"]);
    let before = digest(&mut c);
    let field = reply(&mut c, &words("BITFIELD f GET u8 0"));
    assert_eq!(field, "array([int(209)])");
    node.restart();
    let mut c = node.conn();
    assert_eq!(digest(&mut c), before);
    assert_eq!(reply(&mut c, &words("EXISTS a")), "int(0)");
    assert_eq!(reply(&mut c, &words("BITFIELD f GET u8 0")), field);
}
