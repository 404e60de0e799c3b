//! Sorted-set DUMP payloads: Redis's own decode and re-dump byte-exact,
//! hostile ones are refused (through persist's reader, so here, not in store).

use crate::store::types::{ValueType, ZSet};

/// DUMP payloads redis-server 7.0.15 produced for `ZADD dz 1.5 a 2 b -inf c
/// 1e-5 d`: a listpack, and (with `zset-max-listpack-entries 1`) a skiplist.
const REDIS_LISTPACK_DUMP: &[u8] = &[
    17, 195, 47, 56, 21, 56, 0, 0, 0, 8, 0, 129, 99, 2, 132, 45, 105, 110, 102, 5, 129, 100, 2,
    150, 49, 46, 48, 224, 5, 0, 19, 49, 101, 45, 48, 53, 23, 129, 97, 2, 131, 49, 46, 53, 4, 129,
    98, 2, 2, 1, 255, 10, 0, 239, 249, 213, 245, 16, 111, 254, 3,
];
const REDIS_SKIPLIST_DUMP: &[u8] = &[
    5, 4, 1, 98, 0, 0, 0, 0, 0, 0, 0, 64, 1, 97, 0, 0, 0, 0, 0, 0, 248, 63, 1, 100, 241, 104, 227,
    136, 181, 248, 228, 62, 1, 99, 0, 0, 0, 0, 0, 0, 240, 255, 10, 0, 117, 88, 121, 112, 1, 151,
    117, 149,
];

#[test]
fn redis_dump_payloads_decode_and_hostile_ones_are_refused() {
    for (payload, rdb_type) in [(REDIS_LISTPACK_DUMP, 17u8), (REDIS_SKIPLIST_DUMP, 5)] {
        assert_eq!(payload[0], rdb_type);
        let v = crate::persist::undump(payload).expect("Redis's payload decodes");
        let z = ZSet::of(&v).expect("a sorted set");
        let entries: Vec<(Vec<u8>, f64)> = z
            .entries()
            .into_iter()
            .map(|(m, s)| (m.into_owned(), s))
            .collect();
        assert_eq!(
            entries,
            vec![
                (b"c".to_vec(), f64::NEG_INFINITY),
                (b"d".to_vec(), 1e-5),
                (b"a".to_vec(), 1.5),
                (b"b".to_vec(), 2.0),
            ]
        );
        // Every truncation is refused without a panic.
        for cut in 0..payload.len() {
            assert!(crate::persist::undump(&payload[..cut]).is_err());
        }
    }
    // Ours, re-dumped, is Redis's listpack payload byte for byte.
    let v = crate::persist::undump(REDIS_LISTPACK_DUMP).expect("decodes");
    assert_eq!(crate::persist::dump(&v), REDIS_LISTPACK_DUMP);
}

/// A DUMP payload around `body` with a valid footer.
fn payload(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&crate::persist::rdb::RDB_VERSION.to_le_bytes());
    let crc = crate::persist::crc64::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn hostile_bodies_with_valid_checksums_are_refused() {
    let bodies: &[&[u8]] = &[
        // ZSET_2 claiming 2^32-1 members with one present.
        &[
            5, 0x80, 0xFF, 0xFF, 0xFF, 0xFF, 1, b'a', 0, 0, 0, 0, 0, 0, 0xF0, 0x3F,
        ],
        // ZSET_2 with a NaN score.
        &[5, 1, 1, b'a', 0, 0, 0, 0, 0, 0, 0xF8, 0x7F],
        // ZSET_2 with a member twice.
        &[
            5, 2, 1, b'a', 0, 0, 0, 0, 0, 0, 0, 0, 1, b'a', 0, 0, 0, 0, 0, 0, 0, 0,
        ],
        // An empty ZSET_2 and an empty listpack.
        &[5, 0],
        &[17, 7, 7, 0, 0, 0, 0, 0, 0xFF],
        // ZSET v1 with a text NaN.
        &[3, 1, 1, b'a', 253],
        // A listpack whose total-bytes header lies.
        &[17, 9, 0xFF, 0, 0, 0, 2, 0, 0x81, b'a', 2],
    ];
    for body in bodies {
        assert!(
            crate::persist::undump(&payload(body)).is_err(),
            "{body:?} was accepted"
        );
    }
    // ZSET v1 text doubles still load (Redis ≤ 2.x files).
    let v = crate::persist::undump(&payload(&[3, 1, 1, b'a', 3, b'1', b'.', b'5'])).expect("ok");
    assert_eq!(ZSet::of(&v).and_then(|z| z.score(b"a")), Some(1.5));
}
