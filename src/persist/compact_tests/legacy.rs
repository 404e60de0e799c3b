//! Ziplist and zipmap, read from buffers built here by the formats' own
//! description (Redis 6.2's ziplist.c and zipmap.c headers): Redis 7.0 no
//! longer writes either, so there is no server to capture them from.

use crate::store::compact::ziplist::Ziplist;
use crate::store::compact::zipmap::Zipmap;
use crate::store::compact::{parse_int, CompactError, Element, Format};

/// The ziplist encoding and data of one element, as Redis 6.2 picks them:
/// strings under 32 bytes that read as integers become integers.
pub fn ziplist_body(item: &[u8]) -> Vec<u8> {
    let int = if item.len() < 32 {
        parse_int(item)
    } else {
        None
    };
    if let Some(v) = int {
        return match v {
            0..=12 => vec![0xF1 + v as u8],
            -128..=127 => vec![0xFE, v as u8],
            -32_768..=32_767 => [&[0xC0][..], &(v as i16).to_le_bytes()].concat(),
            -8_388_608..=8_388_607 => [&[0xF0][..], &v.to_le_bytes()[..3]].concat(),
            -2_147_483_648..=2_147_483_647 => [&[0xD0][..], &(v as i32).to_le_bytes()].concat(),
            _ => [&[0xE0][..], &v.to_le_bytes()].concat(),
        };
    }
    let mut out = match item.len() {
        0..=0x3F => vec![item.len() as u8],
        0x40..=0x3FFF => vec![0x40 | (item.len() >> 8) as u8, item.len() as u8],
        _ => [&[0x80][..], &(item.len() as u32).to_be_bytes()].concat(),
    };
    out.extend_from_slice(item);
    out
}

/// A ziplist of `items`; `wide_prevlen` writes every previous-entry size in
/// five bytes, as Redis may leave them after a cascade update.
pub fn build_ziplist(items: &[&[u8]], wide_prevlen: bool) -> Vec<u8> {
    let mut out = vec![0u8; 10];
    let (mut previous, mut tail) = (0usize, 10usize);
    for item in items {
        tail = out.len();
        if previous < 254 && !wide_prevlen {
            out.push(previous as u8);
        } else {
            out.push(0xFE);
            out.extend_from_slice(&(previous as u32).to_le_bytes());
        }
        out.extend_from_slice(&ziplist_body(item));
        previous = out.len() - tail;
    }
    out.push(0xFF);
    let total = out.len() as u32;
    out[..4].copy_from_slice(&total.to_le_bytes());
    out[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
    let count = u16::try_from(items.len()).unwrap_or(u16::MAX);
    out[8..10].copy_from_slice(&count.to_le_bytes());
    out
}

/// A zipmap of `(field, value, free bytes)` triples.
pub fn build_zipmap(pairs: &[(&[u8], &[u8], u8)]) -> Vec<u8> {
    fn len(out: &mut Vec<u8>, n: usize) {
        if n < 254 {
            out.push(n as u8);
        } else {
            out.push(0xFE);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
    }
    let mut out = vec![pairs.len().min(254) as u8];
    for (field, value, free) in pairs {
        len(&mut out, field.len());
        out.extend_from_slice(field);
        len(&mut out, value.len());
        out.push(*free);
        out.extend_from_slice(value);
        out.extend(std::iter::repeat_n(b'#', usize::from(*free)));
    }
    out.push(0xFF);
    out
}

fn legacy_items() -> Vec<Vec<u8>> {
    let mut items: Vec<Vec<u8>> = [
        "0",
        "12",
        "13",
        "-1",
        "-128",
        "127",
        "128",
        "-32768",
        "32767",
        "32768",
        "-8388608",
        "8388607",
        "8388608",
        "-2147483648",
        "2147483647",
        "2147483648",
        "-9223372036854775808",
        "9223372036854775807",
        "",
        "007",
        "-0",
        "hello",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for len in [63, 64, 253, 254, 300, 16383, 16384] {
        items.push(vec![b'z'; len]);
    }
    items
}

fn as_text<'a>(elements: impl Iterator<Item = Element<'a>>) -> Vec<Vec<u8>> {
    elements.map(|e| e.to_vec()).collect()
}

#[test]
fn ziplist_reads_every_encoding() {
    let items = legacy_items();
    let refs: Vec<&[u8]> = items.iter().map(|v| v.as_slice()).collect();
    for wide in [false, true] {
        let zl = build_ziplist(&refs, wide);
        let parsed = Ziplist::parse(&zl).expect("valid");
        assert_eq!(parsed.len(), items.len());
        assert_eq!(as_text(parsed.iter()), items, "wide {wide}");
    }
    let zl = build_ziplist(&[b"13", b"12"], false);
    let parsed = Ziplist::parse(&zl).expect("valid");
    assert_eq!(
        parsed.iter().collect::<Vec<_>>(),
        [Element::Int(13), Element::Int(12)]
    );
    let empty = build_ziplist(&[], false);
    assert_eq!(empty, [11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xFF]);
    assert!(Ziplist::parse(&empty).expect("valid").is_empty());
}

#[test]
fn ziplist_refuses_inconsistent_buffers() {
    let good = build_ziplist(&[b"a", b"1000", b"hello"], false);
    let check = |buf: &[u8], why: &'static str| {
        let got = Ziplist::parse(buf).map(|z| z.len());
        assert_eq!(
            got,
            Err(CompactError::Corrupt(Format::Ziplist, why)),
            "{buf:?}"
        );
    };
    check(&good[..10], "shorter than a header and end byte");
    check(
        &good[..good.len() - 1],
        "header's total bytes differ from the buffer's",
    );
    let mut b = good.clone();
    *b.last_mut().expect("end") = 0;
    check(&b, "last byte is not the end byte");
    let mut b = good.clone();
    b[4] = 0xF0;
    check(&b, "tail offset past the end");
    let mut b = good.clone();
    b[4] = 10;
    check(&b, "tail offset is not the last entry");
    let mut b = good.clone();
    b[8] = 2;
    check(&b, "header's count differs from the entries");
    let mut b = good.clone();
    b[10] = 1; // the first entry's previous size must be 0
    check(&b, "previous-entry size does not match");
    let mut b = good.clone();
    b[11] = 0xC1;
    check(&b, "unknown entry encoding");
    let mut b = good.clone();
    b[11] = 0x3F; // "a" claims 63 bytes
    check(&b, "entry runs past the end");
    let mut b = good.clone();
    b[8] = 0xFF;
    b[9] = 0xFF;
    assert_eq!(Ziplist::parse(&b).map(|z| z.len()), Ok(3), "unknown count");
}

#[test]
fn zipmap_reads_pairs_and_skips_free_bytes() {
    let long = vec![b'f'; 300];
    let zm = build_zipmap(&[
        (b"name", b"ringcache", 3),
        (&long, b"", 0),
        (b"", b"v", 255),
    ]);
    let parsed = Zipmap::parse(&zm).expect("valid");
    assert_eq!(
        parsed.iter().collect::<Vec<_>>(),
        [
            (&b"name"[..], &b"ringcache"[..]),
            (&long[..], &b""[..]),
            (&b""[..], &b"v"[..])
        ]
    );
    // From 254 pairs on the count byte says "count them".
    let fields: Vec<Vec<u8>> = (0..300).map(|i| i.to_string().into_bytes()).collect();
    let pairs: Vec<(&[u8], &[u8], u8)> = fields.iter().map(|f| (&f[..], &f[..], 0)).collect();
    let zm = build_zipmap(&pairs);
    assert_eq!(zm[0], 254);
    let parsed = Zipmap::parse(&zm).expect("valid");
    assert_eq!(parsed.len(), 300);
    assert_eq!(parsed.check_unique_fields(), Ok(()));
    let twice = build_zipmap(&[(b"f", b"1", 0), (b"f", b"2", 0)]);
    let parsed = Zipmap::parse(&twice).expect("valid as a zipmap");
    assert_eq!(
        parsed.check_unique_fields(),
        Err(CompactError::Corrupt(
            Format::Zipmap,
            "a field appears twice"
        ))
    );
}

#[test]
fn zipmap_refuses_inconsistent_buffers() {
    let good = build_zipmap(&[(b"a", b"b", 1), (b"c", b"d", 0)]);
    let check = |buf: &[u8], why: &'static str| {
        let got = Zipmap::parse(buf).map(|z| z.len());
        assert_eq!(
            got,
            Err(CompactError::Corrupt(Format::Zipmap, why)),
            "{buf:?}"
        );
    };
    check(&[0xFF], "shorter than a count and end byte");
    check(&good[..good.len() - 1], "last byte is not the end byte");
    check(&[0, 0xFF], "empty");
    let mut b = good.clone();
    b[0] = 3;
    check(&b, "count byte differs from the pairs");
    let mut b = good.clone();
    b[1] = 9; // field "a" claims 9 bytes
    check(&b, "pair runs past the end");
    let mut b = good.clone();
    b[4] = 200; // free bytes past the end
    check(&b, "pair runs past the end");
    let mut b = good.clone();
    b[1] = 0xFE; // five-byte length with no room
    b.truncate(4);
    b.push(0xFF);
    check(&b, "length runs past the end");
}

/// A hash value of RDB type `rdb_type` whose payload is `buf` as one string.
fn read_hash(
    rdb_type: u8,
    buf: &[u8],
) -> Result<crate::store::Value, crate::persist::rdb::RdbError> {
    let mut payload = Vec::new();
    crate::persist::rdb::write_string(&mut payload, buf, false);
    crate::store::Value::read_rdb(rdb_type, &mut crate::persist::rdb::Reader::new(&payload))
}

#[test]
fn ziplist_and_zipmap_hashes_load_as_redis_7_does() {
    use crate::store::types::{hash, Hash};
    let items: Vec<&[u8]> = vec![b"f1", b"v1", b"n", b"-12", b"big", &[b'x'; 70]];
    let zl = build_ziplist(&items, false);
    let v = read_hash(hash::RDB_TYPE_ZIPLIST, &zl).expect("a ziplist hash loads");
    let h = v.as_type::<Hash>().expect("a hash");
    // A 70-byte value passes hash-max-listpack-value: a table, as Redis converts.
    assert_eq!((h.len(), h.encoding()), (3, "hashtable"));
    assert_eq!(h.get(b"n").as_deref(), Some(&b"-12"[..]));
    let zm = build_zipmap(&[(b"a", b"1", 0), (b"b", b"two", 2)]);
    let v = read_hash(hash::RDB_TYPE_ZIPMAP, &zm).expect("a zipmap hash loads");
    let h = v.as_type::<Hash>().expect("a hash");
    assert_eq!((h.len(), h.encoding()), (2, "listpack"));
    assert_eq!(h.get(b"b").as_deref(), Some(&b"two"[..]));
    // Odd item counts, duplicate fields and empty hashes are refused.
    assert!(read_hash(hash::RDB_TYPE_ZIPLIST, &build_ziplist(&items[..3], false)).is_err());
    let dup: Vec<&[u8]> = vec![b"f", b"1", b"f", b"2"];
    assert!(read_hash(hash::RDB_TYPE_ZIPLIST, &build_ziplist(&dup, false)).is_err());
    assert!(read_hash(hash::RDB_TYPE_ZIPMAP, &build_zipmap(&[])).is_err());
}
