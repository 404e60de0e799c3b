use super::*;
use crate::store::types::mem_rdb::MemRdb as Buf;
use crate::store::types::RdbSink;

fn filled(n: u64, limits: NodeLimits) -> Stream {
    let mut s = Stream::default();
    for i in 1..=n {
        let v = i.to_string();
        s.add(
            NewId::Exact(StreamId::new(i, 0)),
            &[(b"f", v.as_bytes())],
            limits,
        )
        .expect("adds");
    }
    s
}

#[test]
fn add_range_delete_and_nodes() {
    let limits = NodeLimits {
        bytes: 4096,
        entries: 10,
    };
    let mut s = filled(25, limits);
    assert_eq!((s.len(), s.node_count()), (25, 3));
    assert_eq!(
        s.add(NewId::Exact(StreamId::new(3, 0)), &[(b"a", b"b")], limits),
        Err(AddError::NotGreater)
    );
    let r = s.range(StreamId::new(9, 0), StreamId::new(12, 0), 0, false);
    let ids: Vec<u64> = r.iter().map(|e| e.id.ms).collect();
    assert_eq!(ids, vec![9, 10, 11, 12]);
    let r = s.range(StreamId::MIN, StreamId::MAX, 2, true);
    assert_eq!(r[0].id.ms, 25);
    assert_eq!(r[0].fields, vec![(b"f".to_vec(), b"25".to_vec())]);
    assert!(s.delete(StreamId::new(1, 0)));
    assert!(!s.delete(StreamId::new(1, 0)));
    assert_eq!(s.first_id, StreamId::new(2, 0));
    assert_eq!(s.max_deleted, StreamId::new(1, 0));
    assert!(!s.contains(StreamId::new(1, 0)) && s.contains(StreamId::new(2, 0)));
    let id = s.add(NewId::Ms(25), &[(b"x", b"y")], limits).expect("adds");
    assert_eq!(id, StreamId::new(25, 1));
    assert_eq!(
        s.add(NewId::Auto(3), &[(b"x", b"y")], limits),
        Ok(StreamId::new(25, 2))
    );
}

#[test]
fn trim_exact_and_approx() {
    let limits = NodeLimits {
        bytes: 4096,
        entries: 10,
    };
    let mut s = filled(25, limits);
    let approx = Trim {
        strategy: TrimBy::MaxLen(12),
        approx: true,
        limit: 0,
    };
    assert_eq!(s.trim(approx), 10);
    assert_eq!(s.len(), 15);
    let exact = Trim {
        strategy: TrimBy::MaxLen(12),
        approx: false,
        limit: 0,
    };
    assert_eq!(s.trim(exact), 3);
    assert_eq!(s.first_id, StreamId::new(14, 0));
    let minid = Trim {
        strategy: TrimBy::MinId(StreamId::new(20, 0)),
        approx: false,
        limit: 0,
    };
    assert_eq!(s.trim(minid), 6);
    assert_eq!(s.range(StreamId::MIN, StreamId::MAX, 0, false)[0].id.ms, 20);
}

#[test]
fn rdb_round_trip_with_groups_and_refuses_garbage() {
    let mut s = filled(30, NodeLimits::default());
    s.delete(StreamId::new(4, 0));
    let mut g = Group::new(StreamId::new(10, 0), 10);
    g.create_consumer(b"alice", 5);
    g.create_consumer(b"bob", 6);
    g.deliver(StreamId::new(9, 0), b"alice", 7);
    g.deliver(StreamId::new(10, 0), b"bob", 8);
    s.groups.insert(Box::from(&b"g1"[..]), g);
    let mut b = Buf::default();
    s.write_rdb(&mut b);
    let back = Stream::read_rdb(s.rdb_type(), &mut b).expect("reads back");
    assert_eq!(back, s);
    let mut cut = Buf::from_bytes(b.out[..b.out.len() - 3].to_vec());
    assert!(Stream::read_rdb(s.rdb_type(), &mut cut).is_err());
    let mut flipped = Buf::from_bytes(b.out.clone());
    flipped.out[40] ^= 0x55;
    let _ = Stream::read_rdb(s.rdb_type(), &mut flipped);
}

#[test]
fn lag_and_read_counters() {
    let mut s = filled(5, NodeLimits::default());
    let mut g = Group::new(StreamId::MIN, 0);
    assert_eq!(s.lag(&g), Some(5));
    s.advance_group(&mut g, StreamId::new(1, 0));
    assert_eq!((g.entries_read, s.lag(&g)), (1, Some(4)));
    s.delete(StreamId::new(3, 0));
    assert_eq!(s.lag(&g), None);
    // ENTRIESREAD past what was added: a negative lag, as Redis 7.0.
    let fresh = filled(1, NodeLimits::default());
    let g = Group::new(StreamId::new(1, 0), 2);
    assert_eq!(fresh.lag(&g), Some(-1));
}

#[test]
fn the_redis_5_to_6_2_payload_derives_what_it_lacks() {
    // RDB_TYPE_STREAM_LISTPACKS: no first id, deleted id or entries added,
    // and no read counters; Redis 7.0 derives them on load.
    let mut s = filled(12, NodeLimits::default());
    s.delete(StreamId::new(1, 0));
    let mut b = Buf::default();
    RdbSink::length(&mut b, s.node_count() as u64);
    for (master, lp) in s.nodes() {
        RdbSink::string(&mut b, &master.encode());
        RdbSink::string(&mut b, lp);
    }
    RdbSink::length(&mut b, s.len());
    RdbSink::length(&mut b, s.last_id.ms);
    RdbSink::length(&mut b, s.last_id.seq);
    RdbSink::length(&mut b, 1);
    RdbSink::string(&mut b, b"g");
    RdbSink::length(&mut b, 12);
    RdbSink::length(&mut b, 0);
    RdbSink::length(&mut b, 0);
    RdbSink::length(&mut b, 0);
    let old = Stream::read_rdb(RDB_TYPE_STREAM_LISTPACKS, &mut b).expect("reads");
    assert_eq!(old.len(), 11);
    assert_eq!(old.entries_added, 11);
    assert_eq!(old.first_id, StreamId::new(2, 0));
    assert_eq!(old.max_deleted, StreamId::MIN);
    assert_eq!(old.groups[&b"g"[..]].entries_read, 11);
    assert_eq!(
        old.range(StreamId::MIN, StreamId::MAX, 0, false),
        s.range(StreamId::MIN, StreamId::MAX, 0, false)
    );
}
