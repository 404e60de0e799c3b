//! Unit tests of the keyspace and its slot guards.
use super::*;

fn ks() -> Keyspace {
    Keyspace::new(2, Arc::new(NoSink))
}

#[test]
fn set_get_remove_keep_counts() {
    let ks = ks();
    let mut g = ks.lock_key(0, b"a", 1000);
    assert!(g.set(b"a", Value::string(b"1"), Some(0)).is_none());
    assert_eq!(
        g.get(b"a").map(|e| e.value().to_value()),
        Some(Value::int(1))
    );
    drop(g);
    assert_eq!(ks.db(0).len(), 1);
    assert_eq!(ks.db(1).len(), 0);
    let mut g = ks.lock_key(0, b"a", 1000);
    assert!(g.remove(b"a").is_some());
    assert!(g.get(b"a").is_none());
    drop(g);
    assert_eq!(ks.db(0).len(), 0);
    assert_eq!(ks.stats.hits.load(Ordering::Relaxed), 1);
    assert_eq!(ks.stats.misses.load(Ordering::Relaxed), 1);
}

#[test]
fn lazy_expiry_and_volatile_counts() {
    let ks = ks();
    ks.lock_key(0, b"k", 1000)
        .set(b"k", Value::string(b"v"), Some(1500));
    assert_eq!(ks.db(0).volatile_len(), 1);
    assert!(ks.lock_key(0, b"k", 1499).get(b"k").is_some());
    assert!(ks.lock_key(0, b"k", 1500).get(b"k").is_none());
    assert_eq!(ks.db(0).len(), 0);
    assert_eq!(ks.db(0).volatile_len(), 0);
    assert_eq!(ks.stats.expired.load(Ordering::Relaxed), 1);
}

#[test]
fn keepttl_and_persist() {
    let ks = ks();
    let mut g = ks.lock_key(0, b"k", 0);
    g.set(b"k", Value::string(b"v"), Some(5000));
    g.set(b"k", Value::string(b"w"), None);
    assert_eq!(g.peek(b"k").map(|e| e.expire_at()), Some(5000));
    g.set_expire(b"k", 0);
    assert_eq!(g.volatile_len(), 0);
}

#[test]
fn lock_many_orders_and_finds_slots() {
    let ks = ks();
    let keys: [&[u8]; 3] = [b"x", b"y", b"{x}z"];
    let mut m = ks.lock_many(keys.iter().map(|k| (0, *k)), 0);
    for k in keys {
        m.slot(0, k).set(k, Value::string(b"1"), Some(0));
    }
    drop(m);
    assert_eq!(ks.db(0).len(), 3);
    assert_eq!(ks.flush_db(0, false), 3);
    assert_eq!(ks.db(0).len(), 0);
}

#[test]
fn slot_bitmaps_follow_the_tables() {
    let ks = ks();
    assert_eq!(ks.db(0).random_slot(false), None);
    let slot = key_slot(b"k");
    ks.lock_key(0, b"k", 0)
        .set(b"k", Value::string(b"v"), Some(0));
    assert_eq!(ks.db(0).random_slot(false), Some(slot));
    assert_eq!(ks.db(0).random_slot(true), None);
    assert_eq!(ks.db(1).random_slot(false), None);
    ks.lock_key(0, b"k", 0).set_expire(b"k", 5000);
    assert_eq!(ks.db(0).random_slot(true), Some(slot));
    ks.lock_key(0, b"k", 0).remove(b"k");
    assert_eq!(ks.db(0).random_slot(false), None);
    assert_eq!(ks.db(0).random_slot(true), None);
    ks.lock_key(0, b"k", 0)
        .set(b"k", Value::string(b"v"), Some(5000));
    ks.flush_db(0, false);
    assert_eq!(ks.db(0).random_slot(false), None);
    assert_eq!(ks.db(0).random_slot(true), None);
}

#[test]
fn random_slot_is_uniform_over_sparse_slots() {
    let ks = ks();
    // Two adjacent slots and a distant one: picking "the first set bit after a
    // random point" would almost never return the second of the pair.
    let keys: [&[u8]; 3] = [b"{06S}", b"{Qi}", b"foo"];
    let slots: Vec<u16> = keys.iter().map(|k| key_slot(k)).collect();
    assert_eq!(slots[0] + 1, slots[1]);
    for k in keys {
        ks.lock_key(0, k, 0).set(k, Value::string(b"v"), Some(0));
    }
    let mut hits = [0u32; 3];
    for _ in 0..3000 {
        let s = ks.db(0).random_slot(false);
        let i = slots.iter().position(|x| Some(*x) == s);
        hits[i.expect("a slot that holds a key")] += 1;
    }
    assert!(hits.iter().all(|&h| h > 700), "{hits:?}");
}

#[test]
fn entries_from_wraps_around_every_entry() {
    let ks = ks();
    let mut g = ks.lock_slot(0, key_slot(b"{t}a"), 0);
    for k in [&b"{t}a"[..], b"{t}b", b"{t}c"] {
        g.set(k, Value::string(b"v"), Some(0));
    }
    let all: Vec<Vec<u8>> = g.entries_from(0).map(|(k, _)| k.to_vec()).collect();
    for start in 0..5 {
        let got: Vec<Vec<u8>> = g.entries_from(start).map(|(k, _)| k.to_vec()).collect();
        let mut want = all.clone();
        want.rotate_left(start % 3);
        assert_eq!(got, want);
    }
}
