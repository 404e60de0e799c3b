//! Intset: widths, lookups, refusals.

use crate::store::compact::intset::{encode, width_for, Intset};
use crate::store::compact::{CompactError, Format};

#[test]
fn widths_follow_the_widest_member() {
    assert_eq!(width_for(i16::MIN as i64), 2);
    assert_eq!(width_for(i16::MAX as i64 + 1), 4);
    assert_eq!(width_for(i32::MIN as i64), 4);
    assert_eq!(width_for(i32::MIN as i64 - 1), 8);
    let set = encode(&[3, -1, 70000, 3]).expect("small");
    assert_eq!(
        set,
        [
            4, 0, 0, 0, 3, 0, 0, 0, //
            0xFF, 0xFF, 0xFF, 0xFF, 3, 0, 0, 0, 0x70, 0x11, 0x01, 0x00
        ]
    );
    let parsed = Intset::parse(&set).expect("valid");
    assert_eq!(parsed.width(), 4);
    assert_eq!(parsed.iter().collect::<Vec<_>>(), [-1, 3, 70000]);
    assert_eq!(parsed.iter().rev().collect::<Vec<_>>(), [70000, 3, -1]);
}

#[test]
fn round_trips_and_finds_members() {
    for members in [
        vec![0i64],
        vec![i16::MIN as i64, 0, i16::MAX as i64],
        vec![i32::MIN as i64, -5, i32::MAX as i64],
        vec![i64::MIN, -1, 0, 1, i64::MAX],
        (0..1000).map(|i| i * 37 - 9000).collect(),
    ] {
        let set = encode(&members).expect("fits");
        let parsed = Intset::parse(&set).expect("valid");
        assert_eq!(parsed.len(), members.len());
        assert_eq!(parsed.iter().collect::<Vec<_>>(), members);
        for &m in &members {
            assert!(parsed.contains(m), "{m}");
            assert!(!parsed.contains(m.wrapping_add(1)) || members.contains(&m.wrapping_add(1)));
        }
        assert_eq!(parsed.get(members.len()), None);
    }
}

#[test]
fn refuses_inconsistent_buffers() {
    let good = encode(&[1, 2, 3]).expect("small");
    let check = |buf: &[u8], why: &'static str| {
        let got = Intset::parse(buf).map(|s| s.len());
        assert_eq!(
            got,
            Err(CompactError::Corrupt(Format::Intset, why)),
            "{buf:?}"
        );
    };
    check(&good[..7], "shorter than a header");
    check(&good[..good.len() - 1], "count does not fill the buffer");
    let mut b = good.clone();
    b.push(0);
    check(&b, "count does not fill the buffer");
    let mut b = good.clone();
    b[0] = 3;
    check(&b, "unknown width");
    let mut b = good.clone();
    b[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    check(&b, "count does not fill the buffer");
    check(&[2, 0, 0, 0, 0, 0, 0, 0], "empty");
    let mut b = good.clone();
    b[10] = 1; // [1, 1, 3]
    check(&b, "members not strictly ascending");
    let mut b = good.clone();
    b[12] = 0; // [1, 2, 0]
    check(&b, "members not strictly ascending");
}
