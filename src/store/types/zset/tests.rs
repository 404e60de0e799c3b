use super::*;

use crate::store::types::mem_rdb::MemRdb as Buf;

fn round_trip(z: &ZSet) -> ZSet {
    let mut b = Buf::default();
    z.write_rdb(&mut b);
    ZSet::read_rdb(z.rdb_type(), &mut b).expect("reads back")
}

#[test]
fn listpack_until_a_limit_then_skiplist() {
    let limits = ZSetLimits {
        entries: 3,
        value: 8,
    };
    let mut z = ZSet::default();
    assert_eq!(z.insert(b"b", 2.0, limits), None);
    assert_eq!(z.insert(b"a", 2.0, limits), None);
    assert_eq!(z.insert(b"c", 1.5, limits), None);
    assert_eq!(z.insert(b"c", 3.0, limits), Some(1.5));
    assert_eq!(z.encoding(), "listpack");
    let members: Vec<Vec<u8>> = z.entries().into_iter().map(|e| e.0.into_owned()).collect();
    assert_eq!(members, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    assert_eq!(z.rank(b"c"), Some(2));
    assert_eq!(z.score(b"b"), Some(2.0));
    assert_eq!(round_trip(&z), z);
    z.insert(b"d", -1.0, limits);
    assert_eq!(z.encoding(), "skiplist");
    assert_eq!(z.rank(b"d"), Some(0));
    assert_eq!(z.range(0, 2, true)[0].0.as_ref(), b"c");
    let back = round_trip(&z);
    assert_eq!(back.encoding(), "listpack", "small sets load compact");
    assert_eq!(back.entries(), z.entries());
    let mut long = ZSet::default();
    long.insert(b"123456789", 1.0, limits);
    assert_eq!(long.encoding(), "skiplist");
}

#[test]
fn pops_and_rank_removal() {
    let mut z = ZSet::default();
    for (i, m) in [b"a", b"b", b"c", b"d", b"e"].iter().enumerate() {
        z.insert(*m, i as f64, ZSetLimits::default());
    }
    assert_eq!(
        z.pop(true, 2),
        vec![(b"e".to_vec(), 4.0), (b"d".to_vec(), 3.0)]
    );
    assert_eq!(z.pop(false, 1), vec![(b"a".to_vec(), 0.0)]);
    assert_eq!(z.remove_ranks(0, 1), 1);
    assert_eq!(z.len(), 1);
    assert_eq!(z.remove(b"c"), Some(2.0));
    assert!(z.is_emptied());
}

#[test]
fn scores_in_listpack_as_redis_writes_them() {
    let mut z = ZSet::default();
    z.insert(b"m", 1.5, ZSetLimits::default());
    z.insert(b"n", 10.0, ZSetLimits::default());
    let ZSet::Listpack(b) = &z else {
        panic!("listpack")
    };
    // Redis 7.0: ZADK k 1.5 m 10 n, DEBUG LISTPACK shows "m","1.5","n",10.
    let want = crate::store::compact::listpack::encode([
        Element::Str(b"m"),
        Element::Str(b"1.5"),
        Element::Str(b"n"),
        Element::Int(10),
    ])
    .expect("encodes");
    assert_eq!(&b[..], &want[..]);
}

#[test]
fn hostile_payloads_are_refused() {
    // Duplicates, NaN, odd element counts, truncation, huge claimed counts.
    let dup = crate::store::compact::listpack::encode([
        Element::Str(b"a"),
        Element::Int(1),
        Element::Str(b"a"),
        Element::Int(2),
    ])
    .expect("encodes");
    assert!(ZSet::from_compact(RDB_TYPE_ZSET_LISTPACK, dup, ZSetLimits::default()).is_err());
    let odd = crate::store::compact::listpack::encode([Element::Str(b"a")]).expect("encodes");
    assert!(ZSet::from_compact(RDB_TYPE_ZSET_LISTPACK, odd, ZSetLimits::default()).is_err());
    let bad_score =
        crate::store::compact::listpack::encode([Element::Str(b"a"), Element::Str(b"x")])
            .expect("encodes");
    assert!(ZSet::from_compact(RDB_TYPE_ZSET_LISTPACK, bad_score, ZSetLimits::default()).is_err());
    let mut b = Buf::default();
    RdbSink::length(&mut b, u64::MAX);
    RdbSink::string(&mut b, b"a");
    assert!(ZSet::read_rdb(RDB_TYPE_ZSET_2, &mut b).is_err());
    let mut b = Buf::default();
    RdbSink::length(&mut b, 1);
    RdbSink::string(&mut b, b"a");
    RdbSink::binary_double(&mut b, f64::NAN);
    assert!(ZSet::read_rdb(RDB_TYPE_ZSET_2, &mut b).is_err());
    assert!(
        ZSet::from_compact(RDB_TYPE_ZSET_LISTPACK, vec![1, 2, 3], ZSetLimits::default()).is_err()
    );
}

#[test]
fn an_unordered_listpack_is_put_in_order() {
    let lp = crate::store::compact::listpack::encode([
        Element::Str(b"b"),
        Element::Int(2),
        Element::Str(b"a"),
        Element::Int(1),
    ])
    .expect("encodes");
    let z = ZSet::from_compact(RDB_TYPE_ZSET_LISTPACK, lp, ZSetLimits::default()).expect("ok");
    assert_eq!(z.rank(b"a"), Some(0));
}

#[test]
fn rewrite_batches_of_64() {
    let mut z = ZSet::default();
    for i in 0..130 {
        z.insert(
            format!("m{i}").as_bytes(),
            f64::from(i) / 2.0,
            ZSetLimits::default(),
        );
    }
    let mut sizes = Vec::new();
    z.rewrite(b"k", &mut |argv| sizes.push(argv.len()));
    assert_eq!(sizes, vec![2 + 128, 2 + 128, 2 + 4]);
}
