//! The zipmap, Redis ≤ 2.4's compact hash, read only so the oldest dumps
//! load: a count byte (254 = count the pairs), then per pair the field's
//! length and bytes, the value's length, a "free" byte and the value's bytes
//! followed by that many unused bytes, and an `0xFF` end byte. A length is one
//! byte below 254, else `0xFE` and a u32 LE.
//!
//! [`Zipmap::parse`] accepts exactly what Redis 6.2's deep
//! `zipmapValidateIntegrity` accepts (which refuses an empty zipmap).

use super::{check_pairs, le_uint, CompactError, Element, Format};

const END: u8 = 0xFF;
/// A count or length byte at or above this is not the value itself.
const BIG_LEN: u8 = 254;

fn corrupt(why: &'static str) -> CompactError {
    CompactError::Corrupt(Format::Zipmap, why)
}

/// Reads the length at `pos`, which Redis checks fits before `end` (the end
/// byte's index); returns it and the position after it.
fn read_len(buf: &[u8], pos: usize, end: usize) -> Result<(u64, usize), CompactError> {
    let size = if buf[pos] < BIG_LEN { 1 } else { 5 };
    if pos + size > end {
        return Err(corrupt("length runs past the end"));
    }
    let len = match size {
        1 => u64::from(buf[pos]),
        _ => le_uint(&buf[pos + 1..pos + 5]),
    };
    Ok((len, pos + size))
}

/// The pair at `pos`: field, value, and the position after the free bytes.
/// Every position checked against `end` the way Redis does.
fn pair_at(buf: &[u8], pos: usize, end: usize) -> Result<(&[u8], &[u8], usize), CompactError> {
    let past = corrupt("pair runs past the end");
    let (field_len, field_start) = read_len(buf, pos, end)?;
    let field_end = field_start as u64 + field_len;
    if field_end > end as u64 {
        return Err(past);
    }
    let value_len_pos = field_end as usize;
    let (value_len, free_pos) = read_len(buf, value_len_pos, end)?;
    let free = u64::from(buf[free_pos]);
    let value_start = free_pos + 1;
    let next = value_start as u64 + value_len + free;
    if next > end as u64 {
        return Err(past);
    }
    let field = &buf[field_start..value_len_pos];
    let value = &buf[value_start..value_start + value_len as usize];
    Ok((field, value, next as usize))
}

/// A validated zipmap borrowed from a buffer.
#[derive(Debug, Clone, Copy)]
pub struct Zipmap<'a> {
    buf: &'a [u8],
    len: usize,
}

impl<'a> Zipmap<'a> {
    /// Validates the whole of `buf`: every length inside it, at least one
    /// pair, and the count byte unless it says "count them".
    pub fn parse(buf: &'a [u8]) -> Result<Self, CompactError> {
        if buf.len() < 2 {
            return Err(corrupt("shorter than a count and end byte"));
        }
        let end = buf.len() - 1;
        if buf[end] != END {
            return Err(corrupt("last byte is not the end byte"));
        }
        let (mut pos, mut len) = (1, 0usize);
        while buf[pos] != END {
            pos = pair_at(buf, pos, end)?.2;
            len += 1;
        }
        if len == 0 {
            return Err(corrupt("empty"));
        }
        if buf[0] != BIG_LEN && usize::from(buf[0]) != len {
            return Err(corrupt("count byte differs from the pairs"));
        }
        Ok(Zipmap { buf, len })
    }

    /// Number of field/value pairs.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no pairs (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Refuses a field that appears twice, as Redis's loader does when it
    /// converts a zipmap.
    pub fn check_unique_fields(&self) -> Result<(), CompactError> {
        let flat = self
            .iter()
            .flat_map(|(field, value)| [Element::Str(field), Element::Str(value)]);
        check_pairs(Format::Zipmap, flat)
    }

    /// The field/value pairs in order.
    pub fn iter(&self) -> Iter<'a> {
        Iter {
            buf: self.buf,
            pos: 1,
            remaining: self.len,
        }
    }
}

impl<'a> IntoIterator for &Zipmap<'a> {
    type Item = (&'a [u8], &'a [u8]);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over a parsed zipmap's field/value pairs.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        if self.remaining == 0 {
            return None;
        }
        let (field, value, next) = pair_at(self.buf, self.pos, self.buf.len() - 1).ok()?;
        self.pos = next;
        self.remaining -= 1;
        Some((field, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}
