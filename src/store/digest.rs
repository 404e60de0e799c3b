//! Dataset digests as Redis's `DEBUG DIGEST` and `DEBUG DIGEST-VALUE` compute
//! them (SHA-1 mixing, order-independent over keys), so two nodes, or a node
//! and a Redis server, can tell whether they hold the same data.

use sha1_smol::Sha1;

use super::{Keyspace, Record};
use crate::slot::SLOTS;

/// A 20-byte digest.
pub type Digest = [u8; 20];

fn sha1(data: &[u8]) -> Digest {
    let mut h = Sha1::new();
    h.update(data);
    h.digest().bytes()
}

/// `digest ^= sha1(data)` (Redis's `xorDigest`).
pub(crate) fn xor(digest: &mut Digest, data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// `digest = sha1(digest ^ sha1(data))` (Redis's `mixDigest`): order matters.
pub(crate) fn mix(digest: &mut Digest, data: &[u8]) {
    xor(digest, data);
    *digest = sha1(digest);
}

/// The digest of one stored value, with its type and whether it has a TTL
/// (Redis's `xorObjectDigest` into a zero digest).
pub fn value_digest(e: &Record) -> Digest {
    let mut d = [0u8; 20];
    mix_value(&mut d, e);
    d
}

fn mix_value(d: &mut Digest, e: &Record) {
    e.value().digest(d);
    if e.is_volatile() {
        xor(d, b"!!expire!!");
    }
}

/// The digest of everything stored (Redis's `computeDatasetDigest`); all zeros
/// for an empty dataset.
pub fn dataset_digest(ks: &Keyspace, now: u64) -> Digest {
    let mut fin = [0u8; 20];
    for db in 0..ks.db_count() {
        if ks.db(db).is_empty() {
            continue;
        }
        mix(&mut fin, &(db as u32).to_be_bytes());
        for slot in 0..SLOTS as u16 {
            let g = ks.lock_slot(db, slot, now);
            for (key, e) in g.entries_from(0) {
                let mut d = [0u8; 20];
                mix(&mut d, key);
                mix_value(&mut d, e);
                xor(&mut fin, &d);
            }
        }
    }
    fin
}

/// Lowercase hex, as DEBUG prints digests.
pub fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use crate::store::Value;
    use std::sync::Arc;

    use super::*;
    use crate::store::keyspace::NoSink;

    #[test]
    fn empty_is_zero_and_order_does_not_matter() {
        let a = Keyspace::new(1, Arc::new(NoSink));
        assert_eq!(hex(&dataset_digest(&a, 0)), "0".repeat(40));
        for k in [&b"x"[..], b"y", b"z"] {
            a.lock_key(0, k, 0).set(k, Value::string(b"v"), Some(0));
        }
        let b = Keyspace::new(1, Arc::new(NoSink));
        for k in [&b"z"[..], b"x", b"y"] {
            b.lock_key(0, k, 0).set(k, Value::string(b"v"), Some(0));
        }
        assert_eq!(dataset_digest(&a, 0), dataset_digest(&b, 0));
        b.lock_key(0, b"y", 0)
            .set(b"y", Value::string(b"w"), Some(0));
        assert_ne!(dataset_digest(&a, 0), dataset_digest(&b, 0));
        // A TTL changes the value digest; an integer digests as its text.
        let e = |v: Value, t| Record::new(b"k", v, t, 0);
        assert_ne!(
            value_digest(&e(Value::string(b"1"), 0)),
            value_digest(&e(Value::string(b"1"), 5))
        );
        assert_eq!(
            value_digest(&e(Value::int(12), 0)),
            value_digest(&e(Value::raw(b"12".to_vec()), 0))
        );
    }
}
