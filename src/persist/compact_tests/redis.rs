//! Byte-for-byte agreement with redis-server 7.0.15.
//!
//! Every payload below comes from redis-server 7.0.15 `DUMP` (Debian's
//! package), started as `redis-server --port P --save '' --hash-max-listpack-value
//! 8192 --zset-max-listpack-value 8192 --list-max-listpack-size -5
//! --hash-max-listpack-entries 1024` so that long strings stay in listpacks,
//! after the commands each constant's comment names. A DUMP payload is the
//! RDB type byte, the value's RDB body, the RDB version (u16 LE) and a CRC-64;
//! the compact buffer is an RDB string inside the body (LZF-compressed when
//! that is shorter, which is why 4096-byte strings fit in a few hex digits).

use crate::persist::rdb::{RdbString, Reader};
use crate::persist::{verify, FOOTER_LEN};
use crate::store::compact::listpack::{self, Listpack};
use crate::store::compact::{check_pairs, intset, Element, Format};

/// RDB types of the payloads below.
const HASH_LISTPACK: u8 = 16;
const ZSET_LISTPACK: u8 = 17;
const LIST_QUICKLIST_2: u8 = 18;
const SET_INTSET: u8 = 11;
/// A quicklist node holding a listpack (not one plain element).
const NODE_PACKED: u64 = 2;

/// `RPUSH list:ints` + [`INTS`].
pub(super) const LIST_INTS: &str = "120102c3406940711c71000000150000017f01c08002cfff02dfff02d00002f1001003f1ff7f20030eef03f1008003f200800004f2ffff7f2004087fff04f200008004f32004030005f3ff20154005027fff05201103008005f440052003020009f4201b4000017f0940134000028009ff0a007af84111da7019b6";
/// `RPUSH list:strs` + [`strs`].
pub(super) const LIST_STRS: &str = "120102c340d560fb0cfb20000010008001816102bf78e035000340e04079e036000342efff7ae0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e07d00022081f0308f010077e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e07e001020858330303704822b3103822d30038220200719312003933932323333373230333638353437373538303814942de0091514391583312e3504812d029731323334353637383930e004090118ff0a0099e52aafb671505b";
/// `HSET hash:mixed f0 INTS[0] f1 INTS[1] ...`.
pub(super) const HASH_INTS: &str = "10c340bf40d010d00000002a00826630030001826631037f20050a3203c0800282663303cfff2006023403df4006033503d000200d0c3603f100100382663703f1ff7f20070038200700ef2007003920170b80038366313004f2008000042009053104f2ffff7f400900322009017fff40090033201d0100804009023404f320090100052028033504f3ff2029400a0036400a017fff400a00374020010080400a023804f4400a2003010009202f023904f4202f4000007f200e013230601d4000028009ff0a00964123e322cf220b";
/// `HSET hash:strs strs[0] 0 strs[1] 1 ...`.
pub(super) const HASH_STRS: &str = "10c340f6611b101b2100002000800100018161020101bf78e0350005400201e04079e0360005420301efff7ae0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e07d000920810401f00010000077e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e0ff00e07e001f2085050183303037040601822b31030701822d300308018220310309018231201b030a019339323233333732303336383534373735383038140b01942de009171a39150c0183312e35040d01812d020e019731323334353637383930e0040903180f01ff0a001074940ef9452c57";
/// `HSET hash:small name ringcache port 6379`.
pub(super) const HASH_SMALL: &str =
    "1022220000000400846e616d65058972696e6763616368650a84706f727405f1eb1803ff0a000dc3da382f73ffee";
/// `ZADD zset 1 one 2.5 two.five -3 minus 100000 big 1e300 huge -inf ninf 7 12`.
pub(super) const ZSET: &str = "11c3405740600d600000000e00846e696e6605842d40051f856d696e757306dffd02836f6e650401018874776f2e666976650983322e3504170c0107018362696704f2a086010484687567650597312e30e005000731652b33303018ff0a007b63275e94bde09c";
/// `SADD set16 5 -3 32767 -32768 0`.
pub(super) const INTSET_16: &str = "0b1202000000050000000080fdff00000500ff7f0a009ca504b834e3d938";
/// `SADD set32 5 -3 32768 -2147483648 2147483647`.
pub(super) const INTSET_32: &str =
    "0b1c040000000500000000000080fdffffff0500000000800000ffffff7f0a001cebc2052092288f";
/// `SADD set64 5 -3 2147483648 -9223372036854775808 9223372036854775807 1`.
pub(super) const INTSET_64: &str = "0bc325380408000000062003a0000280fdff80000001a0100005a0072000008020030000801d01ff7f0a006df01dff3daeb63d";

/// Integers at both edges of every listpack integer width, as pushed.
const INTS: [i64; 21] = [
    0,
    127,
    128,
    4095,
    -1,
    -4096,
    4096,
    32767,
    -4097,
    -32768,
    32768,
    8388607,
    -32769,
    -8388608,
    8388608,
    2147483647,
    -8388609,
    -2147483648,
    2147483648,
    i64::MAX,
    i64::MIN,
];

/// Strings at the edges of every string length width, then strings that
/// look like integers but are not by `string2ll`'s rules.
fn strs() -> Vec<Vec<u8>> {
    let mut out = vec![
        b"".to_vec(),
        b"a".to_vec(),
        vec![b'x'; 63],
        vec![b'y'; 64],
        vec![b'z'; 4095],
        vec![b'w'; 4096],
    ];
    for s in [
        "007",
        "+1",
        "-0",
        " 1",
        "1 ",
        "9223372036854775808",
        "-9223372036854775809",
        "1.5",
        "-",
        "12345678901234567890123",
    ] {
        out.push(s.as_bytes().to_vec());
    }
    out
}

fn decimal(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digits"))
        .collect()
}

fn string_bytes(s: RdbString<'_>) -> Vec<u8> {
    match s {
        RdbString::Bytes(b) => b.into_owned(),
        RdbString::Int(v) => panic!("a compact buffer, not the integer {v}"),
    }
}

/// The RDB type and the compact buffers (one, or a quicklist's nodes) of a
/// DUMP payload whose footer checks.
pub(super) fn unframe(hex: &str) -> (u8, Vec<Vec<u8>>) {
    let payload = from_hex(hex);
    assert_eq!(verify(&payload), Ok(10), "RDB version 10 and a good CRC");
    let mut body = Reader::new(&payload[..payload.len() - FOOTER_LEN]);
    let rdb_type = body.read_u8().expect("type byte");
    let buffers = if rdb_type == LIST_QUICKLIST_2 {
        let nodes = body.read_len().expect("node count");
        (0..nodes)
            .map(|_| {
                assert_eq!(body.read_len(), Ok(NODE_PACKED));
                string_bytes(body.read_string().expect("node"))
            })
            .collect()
    } else {
        vec![string_bytes(body.read_string().expect("buffer"))]
    };
    assert_eq!(body.remaining(), 0, "nothing after the value");
    (rdb_type, buffers)
}

/// Our listpack of `items` equals Redis's byte for byte, and reading Redis's
/// gives `items` back from either end.
fn assert_same_listpack(hex: &str, rdb_type: u8, items: &[Vec<u8>]) {
    let (found_type, buffers) = unframe(hex);
    assert_eq!(found_type, rdb_type);
    assert_eq!(buffers.len(), 1, "one listpack");
    let redis = &buffers[0];
    let ours = listpack::encode(items.iter().map(|s| Element::Str(s))).expect("small");
    assert_eq!(&ours, redis, "our bytes differ from Redis's");
    let parsed = Listpack::parse(redis).expect("Redis's listpack validates");
    let forward: Vec<Vec<u8>> = parsed.iter().map(|e| e.to_vec()).collect();
    assert_eq!(forward, items);
    let mut backward: Vec<Vec<u8>> = parsed.iter().rev().map(|e| e.to_vec()).collect();
    backward.reverse();
    assert_eq!(backward, items);
    // Re-encoding what we read (integers as integers) gives the same bytes.
    assert_eq!(&listpack::encode(parsed.iter()).expect("small"), redis);
}

/// Redis's hash and zset listpacks pass the loader's pair checks.
fn assert_pairs(hex: &str) {
    let (_, buffers) = unframe(hex);
    let parsed = Listpack::parse(&buffers[0]).expect("valid");
    assert_eq!(check_pairs(Format::Listpack, parsed.iter()), Ok(()));
}

#[test]
fn list_listpacks_match_redis() {
    let ints: Vec<Vec<u8>> = INTS.iter().map(|&v| decimal(v)).collect();
    assert_same_listpack(LIST_INTS, LIST_QUICKLIST_2, &ints);
    assert_same_listpack(LIST_STRS, LIST_QUICKLIST_2, &strs());
}

#[test]
fn hash_listpacks_match_redis() {
    let mixed: Vec<Vec<u8>> = INTS
        .iter()
        .enumerate()
        .flat_map(|(i, &v)| [format!("f{i}").into_bytes(), decimal(v)])
        .collect();
    assert_same_listpack(HASH_INTS, HASH_LISTPACK, &mixed);
    let by_string: Vec<Vec<u8>> = strs()
        .into_iter()
        .enumerate()
        .flat_map(|(i, s)| [s, decimal(i as i64)])
        .collect();
    assert_same_listpack(HASH_STRS, HASH_LISTPACK, &by_string);
    let small: Vec<Vec<u8>> = ["name", "ringcache", "port", "6379"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    assert_same_listpack(HASH_SMALL, HASH_LISTPACK, &small);
    for hex in [HASH_INTS, HASH_STRS, HASH_SMALL, ZSET] {
        assert_pairs(hex);
    }
}

#[test]
fn zset_listpack_matches_redis() {
    // Member then score, by score; Redis writes scores as `d2string` does.
    let pairs = [
        "ninf",
        "-inf",
        "minus",
        "-3",
        "one",
        "1",
        "two.five",
        "2.5",
        "12",
        "7",
        "big",
        "100000",
        "huge",
        "1.0000000000000001e+300",
    ];
    let items: Vec<Vec<u8>> = pairs.iter().map(|s| s.as_bytes().to_vec()).collect();
    assert_same_listpack(ZSET, ZSET_LISTPACK, &items);
}

#[test]
fn intsets_match_redis() {
    for (hex, members, width) in [
        (INTSET_16, &[5, -3, 32767, -32768, 0][..], 2),
        (INTSET_32, &[5, -3, 32768, -2147483648, 2147483647][..], 4),
        (
            INTSET_64,
            &[5, -3, 2147483648, i64::MIN, i64::MAX, 1][..],
            8,
        ),
    ] {
        let (rdb_type, buffers) = unframe(hex);
        assert_eq!((rdb_type, buffers.len()), (SET_INTSET, 1));
        let redis = &buffers[0];
        assert_eq!(&intset::encode(members).expect("small"), redis);
        let parsed = intset::Intset::parse(redis).expect("Redis's intset validates");
        assert_eq!(parsed.width(), width);
        let mut sorted = members.to_vec();
        sorted.sort_unstable();
        assert_eq!(parsed.iter().collect::<Vec<_>>(), sorted);
    }
}
