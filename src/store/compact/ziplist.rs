//! The ziplist, Redis ≤ 6.2's compact list (lists, small hashes and sorted
//! sets), read only so old dumps load: `total bytes (u32 LE)`, `offset of the
//! last entry (u32 LE)`, `count (u16 LE, 65535 = unknown)`, the entries, and an
//! `0xFF` end byte. An entry is the previous entry's size (one byte, or `0xFE`
//! and a u32 LE), an encoding (strings: 6-bit, 14-bit big-endian or 32-bit
//! big-endian length; integers: 8, 16, 24, 32 or 64-bit little-endian, or a
//! value 0..=12 inside the encoding byte) and the data.
//!
//! [`Ziplist::parse`] accepts exactly what Redis 6.2's deep
//! `ziplistValidateIntegrity` accepts.

use super::{check_frame, le_uint, sign_extend, CompactError, Element, Format};

/// Total bytes, tail offset, count.
const HEADER_SIZE: usize = 10;
const END: u8 = 0xFF;
/// First byte of a five-byte previous-entry size.
const BIG_PREVLEN: u8 = 0xFE;
const COUNT_UNKNOWN: u64 = u16::MAX as u64;

const STR_6BIT: u8 = 0x00;
const STR_14BIT: u8 = 0x40;
const STR_32BIT: u8 = 0x80;
const INT_16: u8 = 0xC0;
const INT_32: u8 = 0xD0;
const INT_64: u8 = 0xE0;
const INT_24: u8 = 0xF0;
const INT_8: u8 = 0xFE;
/// Encodings 0xF1..=0xFD hold the values 0..=12 themselves.
const INT_IMMEDIATE: std::ops::RangeInclusive<u8> = 0xF1..=0xFD;

fn corrupt(why: &'static str) -> CompactError {
    CompactError::Corrupt(Format::Ziplist, why)
}

/// One entry's header, decoded.
#[derive(Debug, Clone, Copy)]
struct Entry {
    prevlen: u64,
    /// Previous-size and encoding bytes.
    header_len: usize,
    /// The encoding byte (string encodings masked to their top two bits).
    encoding: u8,
    data_len: u64,
}

/// Decodes the header of the entry at `pos`, reading nothing at or past
/// `end` (the end byte's index), as Redis's `zipEntrySafe`.
fn entry_at(buf: &[u8], pos: usize, end: usize) -> Result<Entry, CompactError> {
    let past = corrupt("entry runs past the end");
    let prevlen_size = if buf[pos] < BIG_PREVLEN { 1 } else { 5 };
    let enc_pos = pos + prevlen_size;
    if enc_pos > end {
        return Err(past);
    }
    let prevlen = match prevlen_size {
        1 => u64::from(buf[pos]),
        _ => le_uint(&buf[pos + 1..enc_pos]),
    };
    let first = buf[enc_pos];
    let encoding = if first < INT_16 { first & 0xC0 } else { first };
    let len_size = match encoding {
        STR_6BIT | INT_16 | INT_32 | INT_64 | INT_24 | INT_8 => 1,
        STR_14BIT => 2,
        STR_32BIT => 5,
        e if INT_IMMEDIATE.contains(&e) => 1,
        _ => return Err(corrupt("unknown entry encoding")),
    };
    if enc_pos + len_size > end {
        return Err(past);
    }
    let data_len = match encoding {
        STR_6BIT => u64::from(first & 0x3F),
        STR_14BIT => u64::from(first & 0x3F) << 8 | u64::from(buf[enc_pos + 1]),
        STR_32BIT => u64::from(u32::from_be_bytes([
            buf[enc_pos + 1],
            buf[enc_pos + 2],
            buf[enc_pos + 3],
            buf[enc_pos + 4],
        ])),
        INT_8 => 1,
        INT_16 => 2,
        INT_24 => 3,
        INT_32 => 4,
        INT_64 => 8,
        _ => 0,
    };
    let header_len = prevlen_size + len_size;
    if (pos + header_len) as u64 + data_len > end as u64 {
        return Err(past);
    }
    Ok(Entry {
        prevlen,
        header_len,
        encoding,
        data_len,
    })
}

/// A validated ziplist borrowed from a buffer.
#[derive(Debug, Clone, Copy)]
pub struct Ziplist<'a> {
    buf: &'a [u8],
    len: usize,
}

impl<'a> Ziplist<'a> {
    /// Validates the whole of `buf`: header sizes, every entry's encoding and
    /// previous-entry size, the tail offset and the count.
    pub fn parse(buf: &'a [u8]) -> Result<Self, CompactError> {
        let end = check_frame(buf, HEADER_SIZE, Format::Ziplist)?;
        let tail = le_uint(&buf[4..8]);
        if tail > end as u64 {
            return Err(corrupt("tail offset past the end"));
        }
        let (mut pos, mut last, mut previous_size) = (HEADER_SIZE, None, 0u64);
        let mut len = 0usize;
        while buf[pos] != END {
            let entry = entry_at(buf, pos, end)?;
            if entry.prevlen != previous_size {
                return Err(corrupt("previous-entry size does not match"));
            }
            previous_size = entry.header_len as u64 + entry.data_len;
            last = Some(pos);
            // entry_at checked that the entry ends at or before `end`.
            pos += previous_size as usize;
            len += 1;
        }
        if pos != end {
            return Err(corrupt("end byte before the end of the buffer"));
        }
        if last.is_some_and(|last| last as u64 != tail) {
            return Err(corrupt("tail offset is not the last entry"));
        }
        let header_count = le_uint(&buf[8..10]);
        if header_count != COUNT_UNKNOWN && header_count != len as u64 {
            return Err(corrupt("header's count differs from the entries"));
        }
        Ok(Ziplist { buf, len })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements in order.
    pub fn iter(&self) -> Iter<'a> {
        Iter {
            buf: self.buf,
            pos: HEADER_SIZE,
            remaining: self.len,
        }
    }
}

impl<'a> IntoIterator for &Ziplist<'a> {
    type Item = Element<'a>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over a parsed ziplist's elements.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Element<'a>;

    fn next(&mut self) -> Option<Element<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let entry = entry_at(self.buf, self.pos, self.buf.len() - 1).ok()?;
        let start = self.pos + entry.header_len;
        let data = self.buf.get(start..start + entry.data_len as usize)?;
        let element = match entry.encoding {
            STR_6BIT | STR_14BIT | STR_32BIT => Element::Str(data),
            e if INT_IMMEDIATE.contains(&e) => Element::Int(i64::from(e & 0x0F) - 1),
            _ => Element::Int(sign_extend(le_uint(data), 8 * data.len() as u32)),
        };
        self.pos = start + data.len();
        self.remaining -= 1;
        Some(element)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}
