//! The compact encodings Redis carries collections in, inside RDB files and
//! DUMP payloads: `listpack` (Redis 7.0's hashes, sorted sets and list nodes,
//! read and written byte for byte as Redis writes them), `intset` (sets of
//! integers, read and written), and the legacy `ziplist` and `zipmap` that
//! older dumps hold (read only).
//!
//! These are pure codecs over byte slices: no keyspace, no I/O. Every reader
//! validates a whole buffer before handing out anything (as Redis's deep
//! integrity checks do), never panics on hostile input, and never allocates
//! what a header claims; a refusal is a [`CompactError`], which RESTORE and the
//! RDB loader report as `Bad data format`.

pub mod intset;
pub mod listpack;
pub mod ziplist;
pub mod zipmap;

use std::collections::HashSet;
use std::fmt;

use thiserror::Error;

/// One element of a listpack or ziplist: these formats store integers apart
/// from strings, and the caller decides how to present them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element<'a> {
    /// An integer-encoded element.
    Int(i64),
    /// A string element, borrowed from the buffer.
    Str(&'a [u8]),
}

impl Element<'_> {
    /// Appends the element's bytes as Redis shows it (integers in decimal).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Element::Int(v) => out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes()),
            Element::Str(s) => out.extend_from_slice(s),
        }
    }

    /// The element's bytes as Redis shows it (integers in decimal).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

/// Which compact encoding an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Redis 7's listpack.
    Listpack,
    /// The sorted integer array of small integer sets.
    Intset,
    /// The legacy ziplist (Redis ≤ 6.2).
    Ziplist,
    /// The legacy zipmap (Redis ≤ 2.4 hashes).
    Zipmap,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Listpack => "listpack",
            Format::Intset => "intset",
            Format::Ziplist => "ziplist",
            Format::Zipmap => "zipmap",
        })
    }
}

/// Why a compact buffer was refused or could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CompactError {
    /// The buffer does not hold a valid encoding; the text says what is wrong.
    #[error("corrupt {0}: {1}")]
    Corrupt(Format, &'static str),
    /// The encoding would pass the format's 4 GiB size limit.
    #[error("{0} would exceed 4 GiB")]
    TooLarge(Format),
}

/// Checks a flat field, value, field, value... sequence (a hash's or a
/// sorted set's listpack or ziplist) as Redis's loader does before trusting
/// it: an even number of elements and no field twice. Fields compare as
/// text, so an integer 5 and a string "5" are the same field, as in Redis.
pub fn check_pairs<'a>(
    format: Format,
    elements: impl Iterator<Item = Element<'a>>,
) -> Result<(), CompactError> {
    let mut fields = HashSet::new();
    let mut count = 0usize;
    for element in elements {
        if count.is_multiple_of(2) && !fields.insert(element.to_vec()) {
            return Err(CompactError::Corrupt(format, "a field appears twice"));
        }
        count += 1;
    }
    if !count.is_multiple_of(2) {
        return Err(CompactError::Corrupt(format, "a field without a value"));
    }
    Ok(())
}

/// Longest decimal form of an i64 plus one (Redis's `LONG_STR_SIZE`): longer
/// strings are never integers.
const LONG_STR_SIZE: usize = 21;

/// Parses `s` as an integer by Redis's `string2ll` rules: an optional `-`,
/// then decimal digits with no leading zero (`"0"` alone is fine), nothing
/// else, within i64. `"-0"`, `"+1"`, `"007"` and `" 1"` stay strings.
pub fn parse_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= LONG_STR_SIZE {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        // i64::MIN's magnitude is one more than i64::MAX's.
        if magnitude > i64::MAX as u64 + 1 {
            return None;
        }
        Some((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Checks the frame listpacks and ziplists share: room for the header and
/// the end byte, a total-bytes header (first 4 bytes) equal to the buffer's
/// length, and the 0xFF end byte last. Returns the end byte's index.
fn check_frame(buf: &[u8], header: usize, format: Format) -> Result<usize, CompactError> {
    let corrupt = |why| Err(CompactError::Corrupt(format, why));
    if buf.len() < header + 1 {
        return corrupt("shorter than a header and end byte");
    }
    if le_uint(&buf[..4]) != buf.len() as u64 {
        return corrupt("header's total bytes differ from the buffer's");
    }
    let end = buf.len() - 1;
    if buf[end] != 0xFF {
        return corrupt("last byte is not the end byte");
    }
    Ok(end)
}

/// Little-endian unsigned integer from up to eight bytes.
fn le_uint(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// Sign-extends the low `bits` bits of `raw` (two's complement).
fn sign_extend(raw: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((raw << shift) as i64) >> shift
}
