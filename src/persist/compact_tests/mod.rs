//! Tests of the compact codecs (`store::compact`), kept with the RDB format
//! their Redis payloads are framed in: each codec's behaviour, byte-for-byte
//! agreement with buffers redis-server wrote, and hostile input.

mod fuzz;
mod intset;
mod legacy;
mod list;
mod listpack;
mod redis;

use crate::store::compact::*;

#[test]
fn parse_int_follows_string2ll() {
    for (s, v) in [
        (&b"0"[..], 0),
        (b"-1", -1),
        (b"127", 127),
        (b"9223372036854775807", i64::MAX),
        (b"-9223372036854775808", i64::MIN),
    ] {
        assert_eq!(parse_int(s), Some(v), "{s:?}");
    }
    for s in [
        &b""[..],
        b"-",
        b"-0",
        b"+1",
        b"007",
        b"00",
        b" 1",
        b"1 ",
        b"1.5",
        b"1e3",
        b"9223372036854775808",
        b"-9223372036854775809",
        b"99999999999999999999",
        b"123456789012345678901",
    ] {
        assert_eq!(parse_int(s), None, "{s:?}");
    }
}

#[test]
fn elements_print_as_redis_shows_them() {
    assert_eq!(Element::Int(-42).to_vec(), b"-42");
    assert_eq!(Element::Str(b"x").to_vec(), b"x");
}

#[test]
fn pairs_need_an_even_count_and_unique_fields() {
    let ok = [
        Element::Str(b"a"),
        Element::Int(1),
        Element::Int(5),
        Element::Str(b"x"),
    ];
    assert_eq!(check_pairs(Format::Listpack, ok.into_iter()), Ok(()));
    assert_eq!(check_pairs(Format::Listpack, [].into_iter()), Ok(()));
    let odd = &ok[..3];
    assert_eq!(
        check_pairs(Format::Listpack, odd.iter().copied()),
        Err(CompactError::Corrupt(
            Format::Listpack,
            "a field without a value"
        ))
    );
    // An integer field and the same digits as a string are one field.
    let twice = [
        Element::Int(5),
        Element::Str(b"v"),
        Element::Str(b"5"),
        Element::Str(b"w"),
    ];
    assert_eq!(
        check_pairs(Format::Ziplist, twice.into_iter()),
        Err(CompactError::Corrupt(
            Format::Ziplist,
            "a field appears twice"
        ))
    );
    // Values may repeat.
    let same_values = [
        Element::Str(b"a"),
        Element::Int(1),
        Element::Str(b"b"),
        Element::Int(1),
    ];
    assert_eq!(
        check_pairs(Format::Listpack, same_values.into_iter()),
        Ok(())
    );
}
mod set_payloads;
mod zset_payloads;
