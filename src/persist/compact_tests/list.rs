//! Lists through the RDB format: Redis 7.0's DUMP payloads (quicklist v2)
//! decode to the same elements, the formats Redis 7.0 no longer writes
//! (quicklist of ziplists, one ziplist, the linked list of 2.x) still load,
//! and hostile or truncated payloads are refused without a panic.

use super::legacy::build_ziplist;
use super::redis::{LIST_INTS, LIST_STRS};
use crate::persist::{crc64, dump, undump};
use crate::store::types::{List, Value};

fn from_hex_pub(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A DUMP payload of RDB type `t` with `body`, claiming RDB version 9
/// (Redis 6.2) and a correct checksum, so the body decoder is what is tested.
fn payload(t: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![t];
    out.extend_from_slice(body);
    out.extend_from_slice(&9u16.to_le_bytes());
    let crc = crc64::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// An RDB length (6- or 14-bit forms, enough here).
fn len(n: usize) -> Vec<u8> {
    if n < 64 {
        vec![n as u8]
    } else {
        vec![0x40 | (n >> 8) as u8, n as u8]
    }
}

fn string(s: &[u8]) -> Vec<u8> {
    [len(s.len()), s.to_vec()].concat()
}

fn elements(v: &Value) -> Vec<Vec<u8>> {
    match v {
        Value::List(l) => l.iter().map(|e| e.to_vec()).collect(),
        other => panic!("not a list: {other:?}"),
    }
}

fn list_of(v: &Value) -> &List {
    match v {
        Value::List(l) => l,
        other => panic!("not a list: {other:?}"),
    }
}

#[test]
fn redis_quicklist_payloads_decode_and_round_trip() {
    for hex in [LIST_INTS, LIST_STRS] {
        let redis = from_hex_pub(hex);
        let v = undump(&redis).expect("Redis's payload loads");
        let items = elements(&v);
        assert!(!items.is_empty());
        // Our own payload of it loads back to the same elements.
        let ours = dump(&v);
        assert_eq!(elements(&undump(&ours).expect("ours loads")), items);
        assert_eq!(list_of(&v).encoding(), "quicklist");
    }
}

#[test]
fn legacy_list_encodings_load() {
    let items: [&[u8]; 5] = [b"a", b"12", b"-7000", b"hello world", b"9999999999"];
    let want: Vec<Vec<u8>> = items.iter().map(|s| s.to_vec()).collect();
    // RDB_TYPE_LIST_QUICKLIST (14): ziplists, an empty one skipped.
    let mut body = len(3);
    body.extend(string(&build_ziplist(&items[..2], false)));
    body.extend(string(&build_ziplist(&[], false)));
    body.extend(string(&build_ziplist(&items[2..], true)));
    assert_eq!(
        elements(&undump(&payload(14, &body)).expect("type 14")),
        want
    );
    // RDB_TYPE_LIST_ZIPLIST (10): one ziplist.
    let body = string(&build_ziplist(&items, false));
    assert_eq!(
        elements(&undump(&payload(10, &body)).expect("type 10")),
        want
    );
    // RDB_TYPE_LIST (1): a count, then strings.
    let mut body = len(items.len());
    for s in items {
        body.extend(string(s));
    }
    assert_eq!(elements(&undump(&payload(1, &body)).expect("type 1")), want);
    // RDB_TYPE_LIST_QUICKLIST_2 (18) with a plain node between packed ones.
    let packed = crate::store::compact::listpack::encode(
        items[..2]
            .iter()
            .map(|s| crate::store::compact::Element::Str(s)),
    )
    .expect("small");
    let mut body = len(2);
    body.extend(len(1));
    body.extend(string(b"plain element"));
    body.extend(len(2));
    body.extend(string(&packed));
    assert_eq!(
        elements(&undump(&payload(18, &body)).expect("type 18")),
        vec![b"plain element".to_vec(), b"a".to_vec(), b"12".to_vec()]
    );
}

#[test]
fn hostile_list_payloads_are_refused() {
    let packed = crate::store::compact::listpack::encode(
        [&b"x"[..], b"y"]
            .iter()
            .map(|s| crate::store::compact::Element::Str(s)),
    )
    .expect("small");
    let empty = crate::store::compact::listpack::encode(std::iter::empty()).expect("empty");
    let mut corrupt = packed.clone();
    let last = corrupt.len() - 2;
    corrupt[last] ^= 0x7F;
    let cases: Vec<(u8, Vec<u8>)> = vec![
        // Four billion nodes claimed, none there.
        (
            18,
            [vec![0x80], 0xFFFF_FFFFu32.to_be_bytes().to_vec()].concat(),
        ),
        // An unknown container kind.
        (18, [len(1), len(3), string(&packed)].concat()),
        // A listpack with a broken backlen.
        (18, [len(1), len(2), string(&corrupt)].concat()),
        // Only an empty node: an empty list.
        (18, [len(1), len(2), string(&empty)].concat()),
        // A ziplist that is not one.
        (10, string(b"not a ziplist at all")),
        // A linked list claiming more elements than it has.
        (1, [len(60), string(b"a")].concat()),
        // No elements.
        (1, len(0)),
    ];
    for (t, body) in cases {
        assert!(
            undump(&payload(t, &body)).is_err(),
            "type {t} body {body:?}"
        );
    }
    // Every truncation of a real payload, re-checksummed, is refused or
    // yields a list; never a panic.
    let redis = from_hex_pub(LIST_STRS);
    let body = &redis[1..redis.len() - 10];
    for cut in 0..body.len() {
        let _ = undump(&payload(18, &body[..cut]));
    }
}
