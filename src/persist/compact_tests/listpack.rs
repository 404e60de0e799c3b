//! Listpack: encodings, both-end iteration, the unknown count, refusals.

use crate::store::compact::listpack::{encode, entry_size, Listpack, ListpackWriter};
use crate::store::compact::{CompactError, Element, Format};

fn strs(items: &[&[u8]]) -> Vec<u8> {
    encode(items.iter().map(|s| Element::Str(s))).expect("small listpack")
}

#[test]
fn empty_listpack_is_header_and_end() {
    let lp = encode([]).expect("empty");
    assert_eq!(lp, [7, 0, 0, 0, 0, 0, 0xFF]);
    let parsed = Listpack::parse(&lp).expect("valid");
    assert!(parsed.is_empty());
    assert_eq!(parsed.iter().next(), None);
    assert_eq!(parsed.iter().next_back(), None);
}

#[test]
fn integers_take_redis_widths() {
    let cases: &[(i64, &[u8])] = &[
        (0, &[0x00]),
        (127, &[0x7F]),
        (128, &[0xC0, 0x80]),
        (-1, &[0xDF, 0xFF]),
        (4095, &[0xCF, 0xFF]),
        (-4096, &[0xD0, 0x00]),
        (4096, &[0xF1, 0x00, 0x10]),
        (-32768, &[0xF1, 0x00, 0x80]),
        (32768, &[0xF2, 0x00, 0x80, 0x00]),
        (-8388608, &[0xF2, 0x00, 0x00, 0x80]),
        (8388608, &[0xF3, 0x00, 0x00, 0x80, 0x00]),
        (i32::MIN as i64, &[0xF3, 0x00, 0x00, 0x00, 0x80]),
        (1 << 31, &[0xF4, 0, 0, 0, 0x80, 0, 0, 0, 0]),
        (i64::MIN, &[0xF4, 0, 0, 0, 0, 0, 0, 0, 0x80]),
    ];
    for &(v, entry) in cases {
        let lp = encode([Element::Int(v)]).expect("one");
        assert_eq!(&lp[6..6 + entry.len()], entry, "{v}");
        assert_eq!(lp[6 + entry.len()], entry.len() as u8, "backlen of {v}");
        assert_eq!(lp.len(), 6 + entry.len() + 2, "{v}");
        assert_eq!(entry_size(Element::Int(v)), entry.len() + 1);
        let parsed = Listpack::parse(&lp).expect("valid");
        assert_eq!(parsed.get(0), Some(Element::Int(v)));
        // The decimal string is stored as the same integer.
        let text = itoa::Buffer::new().format(v).to_owned();
        assert_eq!(strs(&[text.as_bytes()]), lp, "{v} as a string");
    }
}

#[test]
fn string_lengths_take_redis_widths() {
    for (len, head) in [
        (0usize, vec![0x80]),
        (63, vec![0xBF]),
        (64, vec![0xE0, 64]),
        (4095, vec![0xEF, 0xFF]),
        (4096, vec![0xF0, 0x00, 0x10, 0x00, 0x00]),
    ] {
        let s = vec![b'q'; len];
        let lp = strs(&[&s]);
        assert_eq!(&lp[6..6 + head.len()], &head[..], "{len}");
        let entry_len = head.len() + len;
        assert_eq!(entry_size(Element::Str(&s)), lp.len() - 7, "{len}");
        assert_eq!(
            lp.len() - 7 - entry_len,
            if entry_len <= 127 { 1 } else { 2 }
        );
        let parsed = Listpack::parse(&lp).expect("valid");
        assert_eq!(parsed.get(0), Some(Element::Str(&s)));
    }
}

#[test]
fn backlen_widths_change_where_redis_changes_them() {
    // Entry sizes (encoding + data) 127 | 128 and 16382 | 16383 straddle
    // Redis's thresholds; the backlen is then 1 | 2 and 2 | 3 bytes.
    for (entry_len, backlen) in [(127, 1), (128, 2), (16382, 2), (16383, 3)] {
        let head = if entry_len - 1 < 64 {
            1
        } else if entry_len - 2 < 4096 {
            2
        } else {
            5
        };
        let s = vec![b'b'; entry_len - head];
        let lp = strs(&[&s, b"tail"]);
        assert_eq!(entry_size(Element::Str(&s)), entry_len + backlen);
        let parsed = Listpack::parse(&lp).expect("valid");
        let back: Vec<_> = parsed.iter().rev().collect();
        assert_eq!(back, [Element::Str(b"tail"), Element::Str(&s)]);
    }
}

#[test]
fn walks_from_both_ends_and_indexes() {
    let items: Vec<Vec<u8>> = (0..300)
        .map(|i| match i % 3 {
            0 => i.to_string().into_bytes(),
            1 => format!("s{i}").into_bytes(),
            _ => vec![b'x'; i * 7],
        })
        .collect();
    let refs: Vec<&[u8]> = items.iter().map(|v| v.as_slice()).collect();
    let lp = strs(&refs);
    let parsed = Listpack::parse(&lp).expect("valid");
    assert_eq!(parsed.len(), 300);
    let forward: Vec<Vec<u8>> = parsed.iter().map(|e| e.to_vec()).collect();
    assert_eq!(forward, items);
    let mut backward: Vec<Vec<u8>> = parsed.iter().rev().map(|e| e.to_vec()).collect();
    backward.reverse();
    assert_eq!(backward, items);
    for (i, item) in items.iter().enumerate() {
        assert_eq!(parsed.get(i).map(|e| e.to_vec()).as_ref(), Some(item));
    }
    assert_eq!(parsed.get(300), None);
    // Taking from alternate ends meets in the middle, each element once.
    let mut it = parsed.iter();
    let mut taken = 0;
    loop {
        let next = if taken % 2 == 0 {
            it.next()
        } else {
            it.next_back()
        };
        if next.is_none() {
            break;
        }
        taken += 1;
        assert_eq!(it.len(), 300 - taken);
    }
    assert_eq!(taken, 300);
}

#[test]
fn count_is_unknown_from_65535_elements() {
    for n in [65534usize, 65535, 65536] {
        let mut w = ListpackWriter::new();
        for i in 0..n {
            w.push_int(i as i64 % 100);
        }
        assert_eq!(w.len(), n);
        let lp = w.finish().expect("fits");
        let header = u16::from_le_bytes([lp[4], lp[5]]);
        assert_eq!(header, if n < 65535 { n as u16 } else { 65535 });
        assert_eq!(Listpack::parse(&lp).expect("valid").len(), n);
    }
}

#[test]
fn refuses_inconsistent_buffers() {
    let good = strs(&[b"a", b"1000", b"hello world"]);
    let corrupt = |why| Err(CompactError::Corrupt(Format::Listpack, why));
    let check = |buf: &[u8], why: &'static str| {
        assert_eq!(
            Listpack::parse(buf).map(|l| l.len()),
            corrupt(why),
            "{buf:?}"
        );
    };
    check(&good[..6], "shorter than a header and end byte");
    check(
        &good[..good.len() - 1],
        "header's total bytes differ from the buffer's",
    );
    let mut b = good.clone();
    *b.last_mut().expect("end") = 0;
    check(&b, "last byte is not the end byte");
    let mut b = good.clone();
    b[4] = 2;
    check(&b, "header's count differs from the entries");
    let mut b = good.clone();
    b[6] = 0xF5;
    check(&b, "unknown entry encoding");
    let mut b = good.clone();
    b[8] ^= 1; // backlen of "a"
    check(&b, "backlen does not match the entry");
    let mut b = good.clone();
    b[6] = 0xBF; // "a" claims 63 bytes
    check(&b, "entry runs past the end");
    // An end byte where the second entry should start.
    let mut b = strs(&[b"a"]);
    b.insert(9, 0xFF);
    b[0] += 1;
    check(&b, "end byte before the end of the buffer");
    // The unknown count is accepted whatever the entries.
    let mut b = good.clone();
    b[4] = 0xFF;
    b[5] = 0xFF;
    assert_eq!(Listpack::parse(&b).map(|l| l.len()), Ok(3));
}

#[test]
fn accepts_long_backlens_redis_accepts() {
    // lpValidateNext compares the backlen's decoded value, not its bytes:
    // here the backlen byte 0x81 carries the continuation bit, so decoding
    // also reads the encoding byte 0x00 before it, and 1 | 0 << 7 is still
    // the entry's size. Redis accepts this buffer; so must we.
    let lp = [9, 0, 0, 0, 1, 0, 0x00, 0x81, 0xFF];
    let parsed = Listpack::parse(&lp).expect("Redis accepts it too");
    assert_eq!(parsed.iter().collect::<Vec<_>>(), [Element::Int(0)]);
    assert_eq!(parsed.iter().rev().collect::<Vec<_>>(), [Element::Int(0)]);
}
