//! Bit operations on string bytes (SETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD):
//! bit 0 is the most significant bit of the first byte, as in Redis. Pure
//! functions over byte slices, word at a time where ranges are long, plus the
//! one way a string becomes writable raw bytes.

use super::types::{Str, StrRef};

/// A string's bytes, an integer formatted into `buf` (no allocation).
pub fn str_bytes<'a>(s: StrRef<'a>, buf: &'a mut itoa::Buffer) -> &'a [u8] {
    match s {
        StrRef::Int(n) => buf.format(n).as_bytes(),
        StrRef::Bytes(b) | StrRef::Raw(b) => b,
    }
}

/// Makes `s` a raw string of at least `min_len` bytes (zero padded, as
/// Redis's `sdsgrowzero`) and returns its bytes and whether it grew. An
/// integer or embstr string becomes raw bytes, as Redis unshares it.
pub fn writable(s: &mut Str, min_len: usize) -> (&mut [u8], bool) {
    let bytes: Box<[u8]> = match s {
        Str::Raw(b) => std::mem::take(b),
        Str::Bytes(b) => std::mem::take(b),
        Str::Int(n) => itoa::Buffer::new().format(*n).as_bytes().into(),
    };
    let grew = bytes.len() < min_len;
    let bytes = if grew {
        let mut v = bytes.into_vec();
        // Exact growth: the allocator resizes in place within a size class.
        v.reserve_exact(min_len - v.len());
        v.resize(min_len, 0);
        v.into_boxed_slice()
    } else {
        bytes
    };
    *s = Str::Raw(bytes);
    match s {
        Str::Raw(b) => (&mut b[..], grew),
        // Just stored as raw above.
        Str::Int(_) | Str::Bytes(_) => (&mut [], grew),
    }
}

/// Number of set bits, eight bytes at a time.
pub fn popcount(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(32);
    let mut n = 0u64;
    for c in &mut chunks {
        let mut w = [0u64; 4];
        for (i, x) in w.iter_mut().enumerate() {
            let mut a = [0u8; 8];
            a.copy_from_slice(&c[i * 8..i * 8 + 8]);
            *x = u64::from_ne_bytes(a);
        }
        n += u64::from(
            w[0].count_ones() + w[1].count_ones() + w[2].count_ones() + w[3].count_ones(),
        );
    }
    for &b in chunks.remainder() {
        n += u64::from(b.count_ones());
    }
    n
}

/// Position of the first `bit` in `bytes`; when looking for a 0 and none is
/// found, the string reads as zero padded (`len * 8`); for a missing 1, None.
pub fn first_bit(bytes: &[u8], bit: bool) -> Option<u64> {
    let skip = if bit { 0u8 } else { 0xff };
    let mut pos = 0u64;
    // Skip whole 32-byte blocks of the other bit, four words at a time.
    let mut blocks = bytes.chunks_exact(32);
    let tail = blocks.remainder();
    let mut rest = bytes;
    for c in &mut blocks {
        let w = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&c[i * 8..i * 8 + 8]);
            u64::from_ne_bytes(a)
        };
        let uniform = if bit {
            (w(0) | w(1) | w(2) | w(3)) == 0
        } else {
            (w(0) & w(1) & w(2) & w(3)) == u64::MAX
        };
        if !uniform {
            rest = c;
            break;
        }
        pos += 256;
        rest = tail;
    }
    let mut chunks = rest.chunks_exact(8);
    for c in &mut chunks {
        if c.iter().all(|&b| b == skip) {
            pos += 64;
            continue;
        }
        return Some(pos + first_in_bytes(c, bit));
    }
    for &b in chunks.remainder() {
        if b != skip {
            return Some(pos + first_in_bytes(&[b], bit));
        }
        pos += 8;
    }
    if bit {
        None
    } else {
        Some(pos)
    }
}

/// The first `bit` within bytes known to hold one.
fn first_in_bytes(c: &[u8], bit: bool) -> u64 {
    let mut pos = 0u64;
    for &b in c {
        let b = if bit { b } else { !b };
        if b != 0 {
            return pos + u64::from(b.leading_zeros());
        }
        pos += 8;
    }
    pos
}

/// Resolves a BITCOUNT/BITPOS range against a length (`total` bytes, or bits
/// when `bits`), as Redis: negatives count from the end, then clamped.
/// Returns the inclusive (start, end), possibly empty (start > end).
fn clamp(start: i64, end: i64, total: i64) -> (i64, i64) {
    let mut s = if start < 0 { total + start } else { start };
    let mut e = if end < 0 { total + end } else { end };
    s = s.max(0);
    e = e.max(0);
    if e >= total {
        e = total - 1;
    }
    (s, e)
}

/// Masks of the bits outside a bit range in its first and last bytes.
fn edge_masks(start: i64, end: i64) -> (u8, u8) {
    let first = !((1u16 << (8 - (start & 7))) - 1) as u8;
    let last = ((1u16 << (7 - (end & 7))) - 1) as u8;
    (first, last)
}

/// BITCOUNT over `[start, end]` (bytes, or bits when `bits`); Redis answers 0
/// at once for two negatives in the wrong order.
pub fn count_range(bytes: &[u8], start: i64, end: i64, bits: bool) -> u64 {
    if start < 0 && end < 0 && start > end {
        return 0;
    }
    let len = bytes.len() as i64;
    let total = if bits { len << 3 } else { len };
    let (mut s, mut e) = clamp(start, end, total);
    let (mut first, mut last) = (0u8, 0u8);
    if bits && s <= e {
        (first, last) = edge_masks(s, e);
        s >>= 3;
        e >>= 3;
    }
    if s > e {
        return 0;
    }
    let (s, e) = (s as usize, e as usize);
    let Some(range) = bytes.get(s..=e) else {
        return 0;
    };
    let mut n = popcount(range);
    n -= u64::from((range[0] & first).count_ones());
    n -= u64::from((range[range.len() - 1] & last).count_ones());
    n
}

/// BITPOS's range: `start`, and `end` when given; `bits` for BIT units.
#[derive(Debug, Clone, Copy)]
pub struct PosRange {
    /// First index.
    pub start: i64,
    /// Last index, when the caller gave one.
    pub end: Option<i64>,
    /// Indexes count bits instead of bytes.
    pub bits: bool,
}

/// BITPOS: the first `bit` in the range, or -1. Without an explicit end the
/// string reads as zero padded on the right (a clear bit past the end is
/// found); with one, a range of all ones answers -1.
pub fn pos_range(bytes: &[u8], bit: bool, range: Option<PosRange>) -> i64 {
    let len = bytes.len() as i64;
    let Some(r) = range else {
        // The whole string: an empty one is an empty range.
        if bytes.is_empty() {
            return -1;
        }
        return found(first_bit(bytes, bit), 0);
    };
    let total = if r.bits { len << 3 } else { len };
    let end = r
        .end
        .unwrap_or(if r.bits { (len << 3) + 7 } else { len - 1 });
    let (mut s, mut e) = clamp(r.start, end, total);
    let (mut first, mut last) = (0u8, 0u8);
    if r.bits && s <= e {
        (first, last) = edge_masks(s, e);
        s >>= 3;
        e >>= 3;
    }
    if s > e {
        return -1;
    }
    let (s, e) = (s as usize, e as usize);
    let Some(slice) = bytes.get(s..=e) else {
        return -1;
    };
    // Bits outside the range read as the opposite of what is sought.
    let outside = |b: u8, mask: u8| if bit { b & !mask } else { b | mask };
    let n = slice.len();
    let pos = if n == 1 {
        first_bit(&[outside(outside(slice[0], first), last)], bit)
    } else {
        let head = outside(slice[0], first);
        let tail = outside(slice[n - 1], last);
        match first_bit(&[head], bit).filter(|&p| p < 8) {
            Some(p) => Some(p),
            None => match first_bit(&slice[1..n - 1], bit).filter(|&p| p < (n as u64 - 2) * 8) {
                Some(p) => Some(p + 8),
                None => first_bit(&[tail], bit).map(|p| p + (n as u64 - 1) * 8),
            },
        }
    };
    // With an explicit end, a 0 found only past the range is no 0 at all.
    if r.end.is_some() && !bit && pos == Some(n as u64 * 8) {
        return -1;
    }
    found(pos, s as u64)
}

fn found(pos: Option<u64>, start_byte: u64) -> i64 {
    match pos {
        Some(p) => (p + start_byte * 8) as i64,
        None => -1,
    }
}

/// A BITOP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    /// AND.
    And,
    /// OR.
    Or,
    /// XOR.
    Xor,
    /// NOT (one source).
    Not,
}

/// Folds source number `i` (`src`) into `res` (as long as the longest source,
/// zero filled before the first): missing bytes of a shorter source read as 0.
pub fn fold(op: BitOp, res: &mut [u8], i: usize, src: &[u8]) {
    let n = src.len().min(res.len());
    let (head, rest) = res.split_at_mut(n);
    let src = &src[..n];
    if i == 0 {
        head.copy_from_slice(src);
        if op == BitOp::Not {
            head.iter_mut().for_each(|b| *b = !*b);
            rest.iter_mut().for_each(|b| *b = 0xff);
        }
        return;
    }
    match op {
        BitOp::And => {
            head.iter_mut().zip(src).for_each(|(r, s)| *r &= s);
            rest.iter_mut().for_each(|b| *b = 0);
        }
        BitOp::Or => head.iter_mut().zip(src).for_each(|(r, s)| *r |= s),
        BitOp::Xor => head.iter_mut().zip(src).for_each(|(r, s)| *r ^= s),
        BitOp::Not => {}
    }
}

/// How BITFIELD's SET/INCRBY handle a value that does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Wrap around (the default).
    Wrap,
    /// Saturate at the type's limits.
    Sat,
    /// Refuse the write (the reply is a null).
    Fail,
}

/// A BITFIELD integer type: signed or not, 1..=64 bits (u63 at most).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldType {
    /// Signed (`i`) or unsigned (`u`).
    pub signed: bool,
    /// Width in bits.
    pub bits: u32,
}

/// Reads `bits` bits at bit `offset` as an unsigned number; bits past the end
/// of `bytes` read as 0.
pub fn get_unsigned(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    let byte = (offset >> 3) as usize;
    let shift = (offset & 7) as u32;
    // Up to 9 bytes hold the field: read them big-endian into a u128.
    let mut w = [0u8; 16];
    if let Some(src) = bytes.get(byte..) {
        let n = src.len().min(9);
        w[..n].copy_from_slice(&src[..n]);
    }
    let v = u128::from_be_bytes(w);
    let v = (v << shift) >> (128 - bits);
    v as u64
}

/// Reads a signed field (two's complement of `bits` bits).
pub fn get_signed(bytes: &[u8], offset: u64, bits: u32) -> i64 {
    let u = get_unsigned(bytes, offset, bits);
    if bits < 64 && u & (1u64 << (bits - 1)) != 0 {
        (u | (u64::MAX << bits)) as i64
    } else {
        u as i64
    }
}

/// Writes the low `bits` bits of `value` at bit `offset`; `bytes` must reach
/// the field's last bit (the caller grew the string), bits past it are skipped.
pub fn set_field(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    let byte = (offset >> 3) as usize;
    let shift = (offset & 7) as u32;
    let Some(dst) = bytes.get_mut(byte..) else {
        return;
    };
    let n = dst.len().min(9);
    let mut w = [0u8; 16];
    w[..n].copy_from_slice(&dst[..n]);
    let cur = u128::from_be_bytes(w);
    let mask = ((u128::MAX >> (128 - bits)) << (128 - bits)) >> shift;
    let val = (u128::from(value) << (128 - bits)) >> shift;
    let next = (cur & !mask) | (val & mask);
    dst[..n].copy_from_slice(&next.to_be_bytes()[..n]);
}

/// The result of an overflow check: `None` when `value + incr` fits, else
/// the value the overflow policy gives (WRAP and SAT; FAIL's is unused).
pub fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let wrap = || value.wrapping_add(incr as u64) & max;
    if value > max || (incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Sat { max } else { wrap() })
    } else if incr < 0 && incr < minincr {
        Some(if ow == Overflow::Sat { 0 } else { wrap() })
    } else {
        None
    }
}

/// The signed twin of `unsigned_overflow`.
pub fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let msb = 1u64 << (bits - 1);
            let mask = u64::MAX << bits;
            (if c & msb != 0 { c | mask } else { c & !mask }) as i64
        } else {
            c as i64
        }
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Sat { max } else { wrap() })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        Some(if ow == Overflow::Sat { min } else { wrap() })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_count(b: &[u8]) -> u64 {
        b.iter().map(|x| u64::from(x.count_ones())).sum()
    }

    #[test]
    fn popcount_matches_byte_counts() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 37 % 251) as u8).collect();
        for n in [0, 1, 7, 8, 31, 32, 33, 100, 1000] {
            assert_eq!(popcount(&data[..n]), naive_count(&data[..n]));
        }
    }

    #[test]
    fn first_bit_matches_a_bit_by_bit_scan() {
        let naive = |b: &[u8], bit: bool| {
            (0..b.len() * 8)
                .find(|&i| (b[i / 8] >> (7 - i % 8)) & 1 == u8::from(bit))
                .map(|i| i as u64)
        };
        for len in [0usize, 1, 7, 8, 31, 32, 33, 64, 100, 257] {
            for at in [
                None,
                Some(0usize),
                Some(len / 2),
                Some(len.saturating_sub(1)),
            ] {
                for bit in [false, true] {
                    let fill = if bit { 0u8 } else { 0xff };
                    let mut b = vec![fill; len];
                    if let Some(i) = at.filter(|&i| i < len) {
                        b[i] = if bit { 0x10 } else { 0xef };
                    }
                    let want = naive(&b, bit).or(if bit { None } else { Some(len as u64 * 8) });
                    assert_eq!(first_bit(&b, bit), want, "len {len} at {at:?} bit {bit}");
                }
            }
        }
    }

    #[test]
    fn bitcount_ranges() {
        let s = b"foobar";
        assert_eq!(count_range(s, 0, -1, false), 26);
        assert_eq!(count_range(s, 1, 1, false), 6);
        assert_eq!(count_range(s, 5, 30, true), 17);
        assert_eq!(count_range(s, -1, -2, false), 0);
        assert_eq!(count_range(b"", 0, -1, false), 0);
    }

    #[test]
    fn bitpos_rules() {
        assert_eq!(pos_range(b"\xff\xf0\x00", false, None), 12);
        assert_eq!(pos_range(b"\x00\xff\xf0", true, None), 8);
        assert_eq!(pos_range(b"\x00\x00\x00", true, None), -1);
        assert_eq!(pos_range(b"\xff\xff\xff", false, None), 24);
        let r = |start, end, bits| {
            Some(PosRange {
                start,
                end: Some(end),
                bits,
            })
        };
        assert_eq!(pos_range(b"\xff\xff\xff", false, r(0, -1, false)), -1);
        let open = Some(PosRange {
            start: 0,
            end: None,
            bits: false,
        });
        assert_eq!(pos_range(b"\xff\xff\xff", false, open), 24);
        assert_eq!(pos_range(b"\x00\xff\xf0", true, r(2, -1, false)), 16);
        assert_eq!(pos_range(b"\x00\xff\xf0", true, r(7, 15, true)), 8);
        assert_eq!(pos_range(b"\x00\xff\xf0", true, r(7, 7, true)), -1);
    }

    #[test]
    fn bitfields_read_and_write_across_bytes() {
        let mut b = vec![0u8; 3];
        set_field(&mut b, 7, 5, 23);
        assert_eq!(b, [0b0000_0001, 0b0111_0000, 0]);
        assert_eq!(get_unsigned(&b, 7, 5), 23);
        assert_eq!(get_signed(&b, 7, 5), -9);
        let mut b = vec![0u8; 9];
        set_field(&mut b, 3, 64, u64::MAX);
        assert_eq!(get_signed(&b, 3, 64), -1);
        assert_eq!(get_unsigned(&b, 0, 3), 0);
        assert_eq!(get_unsigned(&b, 67, 5), 0);
    }

    #[test]
    fn overflow_policies() {
        assert_eq!(unsigned_overflow(255, 1, 8, Overflow::Wrap), Some(0));
        assert_eq!(unsigned_overflow(255, 1, 8, Overflow::Sat), Some(255));
        assert_eq!(unsigned_overflow(0, -1, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_overflow(10, -1, 8, Overflow::Sat), None);
        assert_eq!(signed_overflow(127, 1, 8, Overflow::Wrap), Some(-128));
        assert_eq!(signed_overflow(-128, -1, 8, Overflow::Sat), Some(-128));
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Sat),
            Some(i64::MAX)
        );
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            Some(i64::MIN)
        );
        assert_eq!(signed_overflow(5, 1, 64, Overflow::Wrap), None);
    }
}
