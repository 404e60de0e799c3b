//! Redis 7.0's listpack: `total bytes (u32 LE)`, `element count (u16 LE,
//! 65535 = unknown)`, the entries, and an `0xFF` end byte. Each entry is an
//! encoding byte (which says integer or string, and how wide), the integer or
//! the string's length and bytes, then a "backlen": the entry's size written
//! backwards seven bits a byte, so the list can be walked from either end.
//!
//! [`Listpack::parse`] accepts exactly what Redis's deep `lpValidateIntegrity`
//! accepts; [`ListpackWriter`] picks every encoding as Redis's `lpAppend` does,
//! so the same elements in the same order give the same bytes.

use super::{check_frame, le_uint, parse_int, sign_extend, CompactError, Element, Format};

/// Total bytes and element count.
const HEADER_SIZE: usize = 6;
/// The end byte (never the first byte of an entry).
const END: u8 = 0xFF;
/// A header count meaning "count the entries": Redis stops counting there.
const COUNT_UNKNOWN: u16 = u16::MAX;

const ENC_16BIT_INT: u8 = 0xF1;
const ENC_24BIT_INT: u8 = 0xF2;
const ENC_32BIT_INT: u8 = 0xF3;
const ENC_64BIT_INT: u8 = 0xF4;
const ENC_32BIT_STR: u8 = 0xF0;
const ENC_6BIT_STR: u8 = 0x80;
const ENC_12BIT_STR: u8 = 0xE0;
const ENC_13BIT_INT: u8 = 0xC0;

fn corrupt(why: &'static str) -> CompactError {
    CompactError::Corrupt(Format::Listpack, why)
}

/// How an entry starts: the bytes its encoding and length take, and its data size.
#[derive(Debug, Clone, Copy)]
struct EntryHead {
    head_len: usize,
    data_len: u64,
}

/// Decodes the encoding byte at `buf[pos]`; `None` for the unused encodings.
/// Reads only `buf[pos]`, and the length bytes that follow when they exist.
fn entry_head(buf: &[u8], pos: usize) -> Option<EntryHead> {
    let first = *buf.get(pos)?;
    let (head_len, data_len) = match first {
        0x00..=0x7F => (1, 0),
        0x80..=0xBF => (1, u64::from(first & 0x3F)),
        // A 13-bit integer keeps its low byte as its one byte of data.
        0xC0..=0xDF => (1, 1),
        0xE0..=0xEF => {
            let low = *buf.get(pos + 1)?;
            (2, u64::from(first & 0x0F) << 8 | u64::from(low))
        }
        ENC_32BIT_STR => (5, le_uint(buf.get(pos + 1..pos + 5)?)),
        ENC_16BIT_INT => (1, 2),
        ENC_24BIT_INT => (1, 3),
        ENC_32BIT_INT => (1, 4),
        ENC_64BIT_INT => (1, 8),
        _ => return None,
    };
    Some(EntryHead { head_len, data_len })
}

/// Bytes the encoding and length take, from the encoding byte alone (0: invalid).
fn head_len_of(first: u8) -> usize {
    match first {
        0x00..=0xDF | ENC_16BIT_INT..=ENC_64BIT_INT => 1,
        0xE0..=0xEF => 2,
        ENC_32BIT_STR => 5,
        _ => 0,
    }
}

/// Bytes Redis uses for the backlen of an entry of `entry_len` bytes. The
/// thresholds are Redis's own (note `<`, not `<=`, past the first).
fn backlen_size(entry_len: u64) -> usize {
    match entry_len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Appends the backlen of an entry of `entry_len` bytes: most significant
/// group first, every group but that one flagged with the high bit.
fn write_backlen(out: &mut Vec<u8>, entry_len: u64) {
    let size = backlen_size(entry_len);
    for i in (0..size).rev() {
        let group = ((entry_len >> (7 * i)) & 0x7F) as u8;
        out.push(if i + 1 == size { group } else { group | 0x80 });
    }
}

/// Reads a backlen backwards from its last byte at `buf[last]`, as Redis's
/// `lpDecodeBacklen`: at most five bytes, stopping at the first without the
/// high bit.
fn read_backlen(buf: &[u8], last: usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..5 {
        let byte = *buf.get(last.checked_sub(i)?)?;
        value |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The element at `buf[pos]` and the entry's whole size (backlen included).
/// `None` if the entry does not fit; never the case in a parsed listpack.
fn decode_at(buf: &[u8], pos: usize) -> Option<(Element<'_>, usize)> {
    let head = entry_head(buf, pos)?;
    let data_len = usize::try_from(head.data_len).ok()?;
    let data_start = pos.checked_add(head.head_len)?;
    let data = buf.get(data_start..data_start.checked_add(data_len)?)?;
    let first = buf[pos];
    let element = match first {
        0x00..=0x7F => Element::Int(i64::from(first)),
        0xC0..=0xDF => {
            let raw = u64::from(first & 0x1F) << 8 | le_uint(data);
            Element::Int(sign_extend(raw, 13))
        }
        ENC_16BIT_INT..=ENC_64BIT_INT => {
            Element::Int(sign_extend(le_uint(data), 8 * data_len as u32))
        }
        _ => Element::Str(data),
    };
    let entry_len = (head.head_len + data_len) as u64;
    Some((element, head.head_len + data_len + backlen_size(entry_len)))
}

/// Start of the entry that ends (backlen included) just before `end`.
fn entry_before(buf: &[u8], end: usize) -> Option<usize> {
    let entry_len = read_backlen(buf, end.checked_sub(1)?)?;
    let total = usize::try_from(entry_len).ok()? + backlen_size(entry_len);
    end.checked_sub(total).filter(|&start| start >= HEADER_SIZE)
}

/// Checks the entry at `pos` as Redis's `lpValidateNext` does and returns the
/// position just after it. `end` is the index of the final end byte.
fn validate_entry(buf: &[u8], pos: usize, end: usize) -> Result<usize, CompactError> {
    let head_len = head_len_of(buf[pos]);
    if head_len == 0 {
        return Err(corrupt("unknown entry encoding"));
    }
    if pos + head_len > end {
        return Err(corrupt("entry header runs past the end"));
    }
    let head = entry_head(buf, pos).ok_or(corrupt("entry header runs past the end"))?;
    let entry_len = head.head_len as u64 + head.data_len;
    let total = entry_len + backlen_size(entry_len) as u64;
    let next = (pos as u64)
        .checked_add(total)
        .filter(|&next| next <= end as u64)
        .ok_or(corrupt("entry runs past the end"))? as usize;
    if read_backlen(buf, next - 1) != Some(entry_len) {
        return Err(corrupt("backlen does not match the entry"));
    }
    Ok(next)
}

/// A validated listpack borrowed from a buffer.
#[derive(Debug, Clone, Copy)]
pub struct Listpack<'a> {
    buf: &'a [u8],
    len: usize,
}

impl<'a> Listpack<'a> {
    /// Validates the whole of `buf` (header, every entry, the count) as
    /// Redis's deep integrity check does, and wraps it.
    pub fn parse(buf: &'a [u8]) -> Result<Self, CompactError> {
        let end = check_frame(buf, HEADER_SIZE, Format::Listpack)?;
        let mut pos = HEADER_SIZE;
        let mut len = 0usize;
        while buf[pos] != END {
            pos = validate_entry(buf, pos, end)?;
            len += 1;
        }
        if pos != end {
            return Err(corrupt("end byte before the end of the buffer"));
        }
        let header_count = le_uint(&buf[4..6]) as u16;
        if header_count != COUNT_UNKNOWN && usize::from(header_count) != len {
            return Err(corrupt("header's count differs from the entries"));
        }
        Ok(Listpack { buf, len })
    }

    /// Wraps a listpack this process built and validated before (an in-memory
    /// value), skipping the walk `parse` does; falls back to it when the
    /// header cannot tell the count.
    pub fn trusted(buf: &'a [u8]) -> Result<Self, CompactError> {
        match buf.get(4..6).map(le_uint) {
            Some(n) if n as u16 != COUNT_UNKNOWN && buf.len() > HEADER_SIZE => Ok(Listpack {
                buf,
                len: n as usize,
            }),
            _ => Self::parse(buf),
        }
    }

    /// The empty listpack.
    pub const fn empty() -> Listpack<'static> {
        Listpack {
            buf: &[7, 0, 0, 0, 0, 0, END],
            len: 0,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole encoded buffer.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The elements in order; also walks backwards (`.rev()`, `next_back`).
    pub fn iter(&self) -> Iter<'a> {
        Iter {
            buf: self.buf,
            front: HEADER_SIZE,
            back: self.buf.len() - 1,
            remaining: self.len,
        }
    }

    /// The element at `index`, walking from whichever end is nearer.
    pub fn get(&self, index: usize) -> Option<Element<'a>> {
        if index >= self.len {
            return None;
        }
        if index < self.len / 2 {
            self.iter().nth(index)
        } else {
            self.iter().nth_back(self.len - 1 - index)
        }
    }
}

impl<'a> IntoIterator for &Listpack<'a> {
    type Item = Element<'a>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over a parsed listpack's elements, from either end.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    /// Start of the next entry from the front.
    front: usize,
    /// Just past the next entry from the back.
    back: usize,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Element<'a>;

    fn next(&mut self) -> Option<Element<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let (element, size) = decode_at(self.buf, self.front)?;
        self.front += size;
        self.remaining -= 1;
        Some(element)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    fn next_back(&mut self) -> Option<Element<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let start = entry_before(self.buf, self.back)?;
        let (element, _) = decode_at(self.buf, start)?;
        self.back = start;
        self.remaining -= 1;
        Some(element)
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Builds a listpack by appending elements, encoding each as Redis would.
#[derive(Debug, Clone)]
pub struct ListpackWriter {
    /// Header placeholder, then the entries so far (no end byte yet).
    buf: Vec<u8>,
    len: usize,
    /// A string over 4 GiB was pushed: `finish` refuses.
    too_large: bool,
}

impl Default for ListpackWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ListpackWriter {
    /// An empty listpack.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty listpack with room for `bytes` bytes of entries.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(HEADER_SIZE + 1 + bytes);
        buf.resize(HEADER_SIZE, 0);
        ListpackWriter {
            buf,
            len: 0,
            too_large: false,
        }
    }

    /// Elements appended so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing has been appended.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Size in bytes the finished listpack will have.
    pub fn encoded_len(&self) -> usize {
        self.buf.len() + 1
    }

    /// Appends an element: integers as integers, strings as `push_str` does.
    pub fn push(&mut self, element: Element<'_>) {
        match element {
            Element::Int(v) => self.push_int(v),
            Element::Str(s) => self.push_str(s),
        }
    }

    /// Appends an integer in the narrowest encoding that holds it.
    pub fn push_int(&mut self, v: i64) {
        write_int_entry(&mut self.buf, v);
        self.len += 1;
    }

    /// Appends a string; like Redis, one that reads as an integer by
    /// `string2ll`'s rules ([`parse_int`]) is stored as that integer.
    pub fn push_str(&mut self, s: &[u8]) {
        if u32::try_from(s.len()).is_err() {
            self.too_large = true;
        }
        write_entry(&mut self.buf, s);
        self.len += 1;
    }

    /// The finished listpack; refused only past the format's 4 GiB limit.
    pub fn finish(mut self) -> Result<Vec<u8>, CompactError> {
        self.buf.push(END);
        let total = u32::try_from(self.buf.len())
            .ok()
            .filter(|_| !self.too_large)
            .ok_or(CompactError::TooLarge(Format::Listpack))?;
        // Redis's count sticks at "unknown" once it reaches 65535.
        let count = u16::try_from(self.len).unwrap_or(COUNT_UNKNOWN);
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        Ok(self.buf)
    }
}

/// The encoding and length bytes of a string entry of `len` bytes.
fn str_head(len: usize) -> ([u8; 5], usize) {
    let mut head = [0u8; 5];
    let head_len = match len {
        0..=63 => {
            head[0] = ENC_6BIT_STR | len as u8;
            1
        }
        64..=4095 => {
            head[0] = ENC_12BIT_STR | (len >> 8) as u8;
            head[1] = len as u8;
            2
        }
        _ => {
            let n = u32::try_from(len).unwrap_or(u32::MAX);
            head[0] = ENC_32BIT_STR;
            head[1..5].copy_from_slice(&n.to_le_bytes());
            5
        }
    };
    (head, head_len)
}

/// Bytes of a listpack's header (total bytes, element count).
pub const HEADER_BYTES: usize = HEADER_SIZE;

/// Appends to `out` the whole entry (encoding, data, backlen) holding `s`,
/// integer-encoded when it reads as an integer: what [`ListpackWriter`]
/// appends, and what callers that edit a listpack buffer in place use (the
/// quicklist's nodes, a stream node's new entry). Strings past 4 GiB are
/// the caller's to refuse.
pub fn write_entry(out: &mut Vec<u8>, s: &[u8]) {
    if let Some(v) = parse_int(s) {
        return write_int_entry(out, v);
    }
    let (head, n) = str_head(s.len());
    out.extend_from_slice(&head[..n]);
    out.extend_from_slice(s);
    write_backlen(out, (n + s.len()) as u64);
}

/// Appends to `out` the whole entry holding the integer `v`, as
/// [`write_entry`] does for strings.
pub fn write_int_entry(out: &mut Vec<u8>, v: i64) {
    let mut head = [0u8; 9];
    let n = encode_int(v, &mut head);
    out.extend_from_slice(&head[..n]);
    write_backlen(out, n as u64);
}

/// The element at `buf[pos]` and its entry's whole size, in a listpack this
/// process built or validated; `None` past its end.
pub fn entry_at(buf: &[u8], pos: usize) -> Option<(Element<'_>, usize)> {
    if buf.get(pos) == Some(&END) {
        return None;
    }
    decode_at(buf, pos)
}

/// Start of the entry ending just before `end` (the end byte's index for the
/// last entry); `None` at the first.
pub fn entry_start_before(buf: &[u8], end: usize) -> Option<usize> {
    if end <= HEADER_SIZE {
        return None;
    }
    entry_before(buf, end)
}

/// Rewrites the header of an edited listpack buffer (its total bytes and
/// `count`, "unknown" from 65535 on as Redis does).
pub fn set_header(buf: &mut [u8], count: usize) {
    let total = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    let count = u16::try_from(count).unwrap_or(COUNT_UNKNOWN);
    if let Some(h) = buf.get_mut(..HEADER_SIZE) {
        h[..4].copy_from_slice(&total.to_le_bytes());
        h[4..6].copy_from_slice(&count.to_le_bytes());
    }
}

/// Writes `v` in Redis's narrowest integer encoding; returns the bytes used.
fn encode_int(v: i64, out: &mut [u8; 9]) -> usize {
    if (0..=127).contains(&v) {
        out[0] = v as u8;
        1
    } else if (-4096..=4095).contains(&v) {
        let raw = (v as u64) & 0x1FFF;
        out[0] = ENC_13BIT_INT | (raw >> 8) as u8;
        out[1] = raw as u8;
        2
    } else {
        let (encoding, width) = match v {
            -32_768..=32_767 => (ENC_16BIT_INT, 2),
            -8_388_608..=8_388_607 => (ENC_24BIT_INT, 3),
            -2_147_483_648..=2_147_483_647 => (ENC_32BIT_INT, 4),
            _ => (ENC_64BIT_INT, 8),
        };
        out[0] = encoding;
        out[1..1 + width].copy_from_slice(&v.to_le_bytes()[..width]);
        1 + width
    }
}

/// Encodes `elements` in order as one listpack.
pub fn encode<'e>(
    elements: impl IntoIterator<Item = Element<'e>>,
) -> Result<Vec<u8>, CompactError> {
    let mut writer = ListpackWriter::new();
    for element in elements {
        writer.push(element);
    }
    writer.finish()
}

/// Bytes `element` takes in a listpack (encoding, data and backlen).
pub fn entry_size(element: Element<'_>) -> usize {
    let entry_len = match element {
        Element::Int(v) => encode_int(v, &mut [0u8; 9]),
        Element::Str(s) => match parse_int(s) {
            Some(v) => encode_int(v, &mut [0u8; 9]),
            None if s.len() < 64 => 1 + s.len(),
            None if s.len() < 4096 => 2 + s.len(),
            None => 5 + s.len(),
        },
    };
    entry_len + backlen_size(entry_len as u64)
}
