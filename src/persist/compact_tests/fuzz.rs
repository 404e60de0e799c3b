//! Hostile input: thousands of random and mutated buffers through every
//! validator. None may panic, and whatever validates must iterate to the
//! length it reported, from both ends where the format allows.

use fastrand::Rng;

use super::legacy::{build_ziplist, build_zipmap};
use super::redis::{self, unframe};
use crate::store::compact::intset::{self, Intset};
use crate::store::compact::listpack::{self, Listpack};
use crate::store::compact::ziplist::Ziplist;
use crate::store::compact::zipmap::Zipmap;

/// Mutated buffers per seed buffer, and fully random buffers per format.
const MUTATIONS: usize = 1000;
const RANDOM: usize = 5000;

/// Encoding and length bytes where the formats change meaning.
const EDGES: [u8; 16] = [
    0x00, 0x01, 0x3F, 0x40, 0x7F, 0x80, 0xBF, 0xC0, 0xDF, 0xE0, 0xEF, 0xF0, 0xF4, 0xF5, 0xFE, 0xFF,
];

fn hex(buf: &[u8]) -> String {
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random element: an integer of a random width, or a string of a random
/// length class.
fn random_item(rng: &mut Rng) -> Vec<u8> {
    match rng.u8(0..6) {
        0 => rng.i64(-200..200).to_string().into_bytes(),
        1 => rng.i64(..).to_string().into_bytes(),
        2 => (rng.i64(-1 << 40..1 << 40) >> rng.u32(0..40))
            .to_string()
            .into_bytes(),
        3 => vec![b'a' + rng.u8(0..26); rng.usize(0..70)],
        4 => vec![b'k'; rng.usize(60..300)],
        _ => (0..rng.usize(0..20)).map(|_| rng.u8(..)).collect(),
    }
}

fn random_items(rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..rng.usize(0..40)).map(|_| random_item(rng)).collect()
}

/// One random change: truncate, flip bits, set edge bytes, rewrite a header
/// count, insert or delete bytes, or splice in another buffer's tail.
fn mutate(rng: &mut Rng, buf: &mut Vec<u8>, other: &[u8]) {
    if buf.is_empty() {
        buf.push(rng.u8(..));
        return;
    }
    let at = rng.usize(0..buf.len());
    match rng.u8(0..8) {
        0 => buf.truncate(at),
        1 => buf[at] ^= 1 << rng.u8(0..8),
        2 => buf[at] = EDGES[rng.usize(0..EDGES.len())],
        3 => buf[at] = rng.u8(..),
        4 => {
            // A count or length field in the header (all four formats keep
            // theirs in the first ten bytes).
            let field = rng.usize(0..buf.len().min(10));
            buf[field] = buf[field].wrapping_add(if rng.bool() { 1 } else { 255 });
        }
        5 => {
            let extra: Vec<u8> = (0..rng.usize(1..6)).map(|_| rng.u8(..)).collect();
            buf.splice(at..at, extra);
        }
        6 => {
            let end = (at + rng.usize(1..6)).min(buf.len());
            buf.drain(at..end);
        }
        _ => {
            buf.truncate(at);
            buf.extend_from_slice(&other[rng.usize(0..=other.len())..]);
        }
    }
}

/// Mutants of every seed (one to three changes each), half of them with
/// the total-bytes field and end byte repaired so deeper checks are reached.
fn mutants(rng: &mut Rng, seeds: &[Vec<u8>], total_bytes: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for seed in seeds {
        for _ in 0..MUTATIONS {
            let mut buf = seed.clone();
            let other = &seeds[rng.usize(0..seeds.len())];
            for _ in 0..rng.usize(1..4) {
                mutate(rng, &mut buf, other);
            }
            if total_bytes && rng.bool() && buf.len() >= 4 {
                let len = buf.len() as u32;
                buf[..4].copy_from_slice(&len.to_le_bytes());
                if let Some(last) = buf.last_mut() {
                    *last = 0xFF;
                }
            }
            out.push(buf);
        }
    }
    for _ in 0..RANDOM {
        let len = rng.usize(0..64);
        out.push(
            (0..len)
                .map(|_| EDGES[rng.usize(0..EDGES.len())] ^ rng.u8(0..2))
                .collect(),
        );
    }
    out
}

/// Runs `check` (true when the buffer validated) over every buffer and
/// makes sure both outcomes happened, so the mutations reach past the
/// header checks without making everything invalid.
fn run_all(buffers: Vec<Vec<u8>>, check: impl Fn(&[u8]) -> bool) {
    let total = buffers.len();
    let valid = buffers.iter().filter(|b| check(b)).count();
    assert!(valid > 0 && valid < total, "{valid} of {total} validated");
}

fn check_listpack(buf: &[u8]) -> bool {
    let Ok(lp) = Listpack::parse(buf) else {
        return false;
    };
    let forward: Vec<_> = lp.iter().collect();
    assert_eq!(forward.len(), lp.len(), "{}", hex(buf));
    let mut backward: Vec<_> = lp.iter().rev().collect();
    backward.reverse();
    assert_eq!(forward, backward, "{}", hex(buf));
    for (i, element) in forward.iter().enumerate() {
        assert_eq!(lp.get(i).as_ref(), Some(element), "{}", hex(buf));
    }
    // What we read re-encodes to a listpack holding the same texts.
    let again = listpack::encode(forward.iter().copied()).expect("small");
    let reread = Listpack::parse(&again).expect("our own listpack validates");
    let texts = |l: &Listpack<'_>| l.iter().map(|e| e.to_vec()).collect::<Vec<_>>();
    assert_eq!(texts(&reread), texts(&lp), "{}", hex(buf));
    true
}

#[test]
fn listpack_survives_hostile_buffers() {
    let mut rng = Rng::with_seed(0x11574ac);
    let mut seeds: Vec<Vec<u8>> = [
        redis::LIST_INTS,
        redis::LIST_STRS,
        redis::HASH_INTS,
        redis::HASH_STRS,
        redis::HASH_SMALL,
        redis::ZSET,
    ]
    .iter()
    .flat_map(|hex| unframe(hex).1)
    .collect();
    for _ in 0..20 {
        let items = random_items(&mut rng);
        let elements = items.iter().map(|s| crate::store::compact::Element::Str(s));
        seeds.push(listpack::encode(elements).expect("small"));
    }
    for seed in &seeds {
        assert!(Listpack::parse(seed).is_ok(), "seed {}", hex(seed));
    }
    run_all(mutants(&mut rng, &seeds, true), check_listpack);
}

#[test]
fn intset_survives_hostile_buffers() {
    let mut rng = Rng::with_seed(0x1275e7);
    let mut seeds: Vec<Vec<u8>> = [redis::INTSET_16, redis::INTSET_32, redis::INTSET_64]
        .iter()
        .flat_map(|hex| unframe(hex).1)
        .collect();
    for shift in [48, 32, 16, 1] {
        let members: Vec<i64> = (0..rng.usize(1..30))
            .map(|_| rng.i64(..) >> shift)
            .collect();
        seeds.push(intset::encode(&members).expect("small"));
    }
    run_all(mutants(&mut rng, &seeds, false), |buf| {
        let Ok(set) = Intset::parse(buf) else {
            return false;
        };
        let members: Vec<i64> = set.iter().collect();
        assert_eq!(members.len(), set.len(), "{}", hex(buf));
        assert!(members.windows(2).all(|w| w[0] < w[1]), "{}", hex(buf));
        assert!(members.iter().all(|&m| set.contains(m)), "{}", hex(buf));
        let again = intset::encode(&members).expect("small");
        let reread = Intset::parse(&again).expect("our own intset validates");
        assert!(reread.iter().eq(members.iter().copied()), "{}", hex(buf));
        true
    });
}

#[test]
fn ziplist_survives_hostile_buffers() {
    let mut rng = Rng::with_seed(0x21b1157);
    let seeds: Vec<Vec<u8>> = (0..24)
        .map(|i| {
            let items = random_items(&mut rng);
            let refs: Vec<&[u8]> = items.iter().map(|v| v.as_slice()).collect();
            build_ziplist(&refs, i % 4 == 0)
        })
        .collect();
    run_all(mutants(&mut rng, &seeds, true), |buf| {
        let Ok(zl) = Ziplist::parse(buf) else {
            return false;
        };
        let texts: Vec<Vec<u8>> = zl.iter().map(|e| e.to_vec()).collect();
        assert_eq!(texts.len(), zl.len(), "{}", hex(buf));
        let refs: Vec<&[u8]> = texts.iter().map(|t| t.as_slice()).collect();
        let again = build_ziplist(&refs, false);
        let reread = Ziplist::parse(&again).expect("a rebuilt ziplist validates");
        assert!(reread.iter().map(|e| e.to_vec()).eq(texts), "{}", hex(buf));
        true
    });
}

#[test]
fn zipmap_survives_hostile_buffers() {
    let mut rng = Rng::with_seed(0x21b3a9);
    let seeds: Vec<Vec<u8>> = (0..24)
        .map(|_| {
            let items = random_items(&mut rng);
            let mut pairs: Vec<(&[u8], &[u8], u8)> = items
                .chunks_exact(2)
                .map(|p| (p[0].as_slice(), p[1].as_slice(), rng.u8(0..4)))
                .collect();
            if pairs.is_empty() {
                pairs.push((b"field", b"value", 0));
            }
            build_zipmap(&pairs)
        })
        .collect();
    run_all(mutants(&mut rng, &seeds, false), |buf| {
        let Ok(zm) = Zipmap::parse(buf) else {
            return false;
        };
        let pairs: Vec<(&[u8], &[u8], u8)> = zm.iter().map(|(f, v)| (f, v, 0)).collect();
        assert_eq!(pairs.len(), zm.len(), "{}", hex(buf));
        let again = build_zipmap(&pairs);
        let reread = Zipmap::parse(&again).expect("a rebuilt zipmap validates");
        assert!(reread.iter().eq(zm.iter()), "{}", hex(buf));
        true
    });
}
