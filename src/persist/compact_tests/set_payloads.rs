//! Set DUMP payloads: Redis's own load and dump back byte-exact, hostile
//! ones are refused, and every encoding survives a round trip (through
//! persist's reader, so here, not in store).

use crate::persist::{dump, undump};
use crate::store::types::{Set, Value};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn sorted(s: &Set) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = s.members().into_iter().map(|m| m.into_owned()).collect();
    v.sort();
    v
}

fn set_of(members: &[&[u8]], max: usize) -> Set {
    let mut s = Set::default();
    for m in members {
        s.add(m, max);
    }
    s
}

#[test]
fn redis_dump_payloads_load_and_dump_back_byte_exact() {
    // From redis-server 7.0.15: SADD is 1 2 3; SADD wide 1 70000 -5000000000.
    for (payload, want) in [
        ("0b0e02000000030000000100020003000a00a5025ce26d6e4d1b", vec!["1", "2", "3"]),
        (
            "0b200800000003000000000efad5feffffff010000000000000070110100000000000a00efdd381b9dc91177",
            vec!["-5000000000", "1", "70000"],
        ),
    ] {
        let bytes = hex(payload);
        let v = undump(&bytes).expect("redis payload");
        let Value::Set(s) = &v else {
            panic!("not a set")
        };
        assert_eq!(s.encoding(), "intset");
        let want: Vec<Vec<u8>> = want.iter().map(|w| w.as_bytes().to_vec()).collect();
        assert_eq!(sorted(s), want);
        // Short payloads are byte for byte Redis's; a longer intset may be
        // LZF-compressed differently (the RDB layer's compressor finds other
        // matches), so compare the intset bytes themselves.
        let Set::Intset(mine) = &**s else {
            panic!("not an intset")
        };
        assert_eq!(&mine[..], &bytes[2..bytes.len() - 10]);
        if mine.len() <= 20 {
            assert_eq!(dump(&v), bytes);
        }
        assert_eq!(undump(&dump(&v)).expect("own payload"), v);
    }
    // SADD hs a b c; SADD mix 1 x (hashtable sets, member order is Redis's).
    for (payload, want) in [
        ("02030161016301620a000d7e8a014cfe326c", vec!["a", "b", "c"]),
        ("0202c00101780a002d1a8a175e6e4bd2", vec!["1", "x"]),
    ] {
        let v = undump(&hex(payload)).expect("redis payload");
        let Value::Set(s) = &v else {
            panic!("not a set")
        };
        assert_eq!(s.encoding(), "hashtable");
        let want: Vec<Vec<u8>> = want.iter().map(|w| w.as_bytes().to_vec()).collect();
        assert_eq!(sorted(s), want);
        let back = undump(&dump(&v)).expect("own payload");
        assert_eq!(back, v);
    }
}

#[test]
fn hostile_payloads_are_refused_without_panicking() {
    let good = hex("0b0e02000000030000000100020003000a00a5025ce26d6e4d1b");
    // Truncations and every single-byte mutation of the body (the checksum
    // is recomputed so the value decoder itself is exercised).
    for cut in 0..good.len() {
        let _ = undump(&good[..cut]);
    }
    let body_len = good.len() - 10;
    for i in 0..body_len {
        for b in [0u8, 1, 2, 3, 0x7f, 0x80, 0xff] {
            let mut body = good[..body_len].to_vec();
            body[i] = b;
            let _ = undump(&reframe(&body));
        }
    }
    // Unsorted and duplicate intsets, duplicate members, an empty set, and a
    // count far beyond the data.
    let unsorted = reframe(&hex("0b0e020000000300000003000200010000"));
    assert!(undump(&unsorted).is_err());
    let dup_int = reframe(&hex("0b0e020000000300000001000100020000"));
    assert!(undump(&dup_int).is_err());
    assert!(undump(&reframe(&hex("020301610161016200"))).is_err());
    assert!(undump(&reframe(&hex("0200"))).is_err());
    assert!(undump(&reframe(&hex("02c0ffffffff0161"))).is_err());
}

/// Wraps a body (type byte + value) with the version and checksum a DUMP
/// payload carries.
fn reframe(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&[0x0a, 0x00]);
    let crc = crate::persist::crc64::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn rdb_type_2_loads_as_redis_does() {
    // A hashtable set of integers written as type 2 comes back an intset (as
    // after DEBUG RELOAD in Redis); more than 512 stays a hashtable.
    let mut s = set_of(&[b"a", b"1", b"2"], 512);
    s.remove(b"a");
    let back = undump(&dump(&Value::Set(Box::new(s)))).expect("round trip");
    assert_eq!(back.encoding(), "intset");
    let many: Vec<String> = (0..600).map(|i| i.to_string()).collect();
    let big = set_of(&many.iter().map(|m| m.as_bytes()).collect::<Vec<_>>(), 1000);
    assert_eq!(big.encoding(), "intset");
    let back = undump(&dump(&Value::Set(Box::new(big)))).expect("round trip");
    assert_eq!(
        (back.encoding(), back.redis_usage() > 0),
        ("hashtable", true)
    );
}

#[test]
fn random_operations_agree_with_a_model_in_every_encoding() {
    let mut rng = fastrand::Rng::with_seed(12);
    for max in [0usize, 3, 20, 512] {
        let mut s = Set::default();
        let mut model = std::collections::HashSet::<Vec<u8>>::new();
        for _ in 0..4000 {
            let m: Vec<u8> = match rng.u8(0..4) {
                0 => rng.i64(-40..40).to_string().into_bytes(),
                1 => rng.i64(..).to_string().into_bytes(),
                2 => format!("s{}", rng.u8(0..60)).into_bytes(),
                _ => vec![b'L'; rng.usize(20..90)],
            };
            match rng.u8(0..5) {
                0 | 1 => assert_eq!(s.add(&m, max), model.insert(m.clone())),
                2 => assert_eq!(s.remove(&m), model.remove(&m)),
                3 => {
                    if let Some(p) = s.pop_random() {
                        assert!(model.remove(&p));
                    }
                }
                _ => assert_eq!(s.contains(&m), model.contains(&m)),
            }
            assert_eq!(s.len(), model.len());
            if s.encoding() == "intset" {
                assert!(s.len() <= max);
            }
        }
        let mut got: Vec<Vec<u8>> = s.members().into_iter().map(|m| m.into_owned()).collect();
        let mut want: Vec<Vec<u8>> = model.into_iter().collect();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        let v = Value::Set(Box::new(s));
        assert_eq!(undump(&dump(&v)).map(|b| b.len_hint()), Ok(v.len_hint()));
    }
}

trait LenHint {
    fn len_hint(&self) -> usize;
}

impl LenHint for Value {
    fn len_hint(&self) -> usize {
        match self {
            Value::Set(s) => s.len(),
            _ => usize::MAX,
        }
    }
}
