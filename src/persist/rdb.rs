//! The RDB value encoding: lengths, strings (plain, integer, LZF) and typed
//! values. DUMP/RESTORE use it for one value; RDB snapshots will write the same
//! records after their opcodes. Only strings exist today; a new value type adds
//! a type id, a `write_value` arm and a `read_value` arm.

use std::borrow::Cow;

use thiserror::Error;

use super::lzf::{self, LzfError};
use crate::store::types::string::canonical_int;
use crate::store::types::{BadPayload, RdbSink, RdbSource, Str};
use crate::store::{Value, ValueRef};

/// The RDB format version we write (Redis 7.0's).
pub const RDB_VERSION: u16 = 10;

/// RDB object type ids.
pub mod types {
    /// A string.
    pub const STRING: u8 = 0;
    /// Largest type id of the `0..=7` range (list, set, zset, hash, zset2, module, module2).
    pub const LAST_CLASSIC: u8 = 7;
    /// First type id of the compact encodings (`9..=19`: zipmap … stream listpacks 3).
    pub const FIRST_COMPACT: u8 = 9;
    /// Last type id a version-10 file may contain.
    pub const LAST_COMPACT: u8 = 19;
}

/// Top two bits of a length byte: 6-bit length.
const LEN_6BIT: u8 = 0;
/// 14-bit length (two bytes, big-endian).
const LEN_14BIT: u8 = 1;
/// Marker of a special string encoding; the low six bits say which.
const LEN_ENCVAL: u8 = 3;
/// Whole byte: a 32-bit big-endian length follows.
const LEN_32BIT: u8 = 0x80;
/// Whole byte: a 64-bit big-endian length follows.
const LEN_64BIT: u8 = 0x81;

/// String encodings announced with `LEN_ENCVAL`.
const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Redis does not try LZF below this: it cannot win on such short strings.
const COMPRESS_MIN: usize = 21;
/// Strings this long or shorter may be canonical integers worth encoding.
const INT_STRING_MAX: usize = 11;

/// Why an RDB record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RdbError {
    /// The input ended inside a record.
    #[error("unexpected end of RDB data")]
    Truncated,
    /// A length or encoding byte is not one RDB defines.
    #[error("invalid RDB length encoding")]
    BadLength,
    /// The byte is not an RDB object type.
    #[error("unknown RDB object type {0}")]
    UnknownType(u8),
    /// A payload no type of this server holds (or that its type refuses).
    #[error(transparent)]
    Payload(#[from] BadPayload),
    /// A compressed string is corrupt.
    #[error("invalid LZF compressed string: {0}")]
    Lzf(#[from] LzfError),
}

/// Appends an RDB length.
pub fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push((LEN_14BIT << 6) | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u32::MAX as u64 {
        out.push(LEN_32BIT);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(LEN_64BIT);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// The compact integer encoding of `v`, when it fits in 32 bits.
fn encode_int(v: i64, out: &mut Vec<u8>) -> bool {
    let enc = |kind: u8| (LEN_ENCVAL << 6) | kind;
    if let Ok(b) = i8::try_from(v) {
        out.push(enc(ENC_INT8));
        out.extend_from_slice(&b.to_le_bytes());
    } else if let Ok(h) = i16::try_from(v) {
        out.push(enc(ENC_INT16));
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(enc(ENC_INT32));
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Appends an integer-valued string: integer-encoded when it fits in 32 bits,
/// else its decimal digits.
pub fn write_int_string(out: &mut Vec<u8>, v: i64) {
    if !encode_int(v, out) {
        let mut b = itoa::Buffer::new();
        write_plain(out, b.format(v).as_bytes());
    }
}

fn write_plain(out: &mut Vec<u8>, s: &[u8]) {
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Appends a string the way Redis chooses: integer encoding for short canonical
/// integers, LZF when `compress` is on and it saves at least five bytes,
/// otherwise length + bytes.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= INT_STRING_MAX {
        if let Some(v) = canonical_int(s) {
            if encode_int(v, out) {
                return;
            }
        }
    }
    if compress && s.len() >= COMPRESS_MIN {
        if let Some(c) = lzf::compress(s, s.len() - 4) {
            out.push((LEN_ENCVAL << 6) | ENC_LZF);
            write_len(out, c.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    write_plain(out, s);
}

/// The RDB type id of a value.
pub fn value_type<'a>(v: impl Into<ValueRef<'a>>) -> u8 {
    let v = v.into();
    v.rdb_type()
}

/// Appends a value's body (without its type byte): the type writes it
/// through this format's length and string rules.
pub fn write_value<'a>(out: &mut Vec<u8>, v: impl Into<ValueRef<'a>>, compress: bool) {
    let v = v.into();
    v.write_rdb(&mut Body { out, compress });
}

/// The RDB body writer a type writes its payload into.
struct Body<'a> {
    out: &'a mut Vec<u8>,
    compress: bool,
}

impl RdbSink for Body<'_> {
    fn length(&mut self, n: u64) {
        write_len(self.out, n);
    }

    fn string(&mut self, s: &[u8]) {
        write_string(self.out, s, self.compress);
    }

    fn int_string(&mut self, n: i64) {
        write_int_string(self.out, n);
    }

    fn binary_double(&mut self, f: f64) {
        self.out.extend_from_slice(&f.to_le_bytes());
    }

    fn raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }
}

/// A length as read: a count, or the id of a special string encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// A plain length.
    Plain(u64),
    /// `LEN_ENCVAL`: the low six bits name a string encoding.
    Encoded(u8),
}

/// A string as read: integer-encoded ones stay integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdbString<'a> {
    /// An integer encoding.
    Int(i64),
    /// Bytes (borrowed unless decompressed).
    Bytes(Cow<'a, [u8]>),
}

/// Reads RDB records from a byte slice, never past its end.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// One byte.
    pub fn read_u8(&mut self) -> Result<u8, RdbError> {
        Ok(self.read_bytes(1)?[0])
    }

    /// The next `n` bytes.
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], RdbError> {
        if n > self.remaining() {
            return Err(RdbError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn read_array<const N: usize>(&mut self) -> Result<[u8; N], RdbError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.read_bytes(N)?);
        Ok(a)
    }

    /// A length or a string-encoding marker.
    pub fn read_length(&mut self) -> Result<Length, RdbError> {
        let first = self.read_u8()?;
        match first >> 6 {
            LEN_6BIT => Ok(Length::Plain((first & 0x3f) as u64)),
            LEN_14BIT => {
                let low = self.read_u8()?;
                Ok(Length::Plain(((first & 0x3f) as u64) << 8 | low as u64))
            }
            LEN_ENCVAL => Ok(Length::Encoded(first & 0x3f)),
            _ => match first {
                LEN_32BIT => Ok(Length::Plain(u32::from_be_bytes(self.read_array()?) as u64)),
                LEN_64BIT => Ok(Length::Plain(u64::from_be_bytes(self.read_array()?))),
                _ => Err(RdbError::BadLength),
            },
        }
    }

    /// A plain length (an encoding marker here is an error).
    pub fn read_len(&mut self) -> Result<u64, RdbError> {
        match self.read_length()? {
            Length::Plain(n) => Ok(n),
            Length::Encoded(_) => Err(RdbError::BadLength),
        }
    }

    fn read_len_usize(&mut self) -> Result<usize, RdbError> {
        usize::try_from(self.read_len()?).map_err(|_| RdbError::Truncated)
    }

    /// A string in any encoding.
    pub fn read_string(&mut self) -> Result<RdbString<'a>, RdbError> {
        match self.read_length()? {
            Length::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| RdbError::Truncated)?;
                Ok(RdbString::Bytes(Cow::Borrowed(self.read_bytes(n)?)))
            }
            Length::Encoded(ENC_INT8) => {
                Ok(RdbString::Int(i8::from_le_bytes(self.read_array()?) as i64))
            }
            Length::Encoded(ENC_INT16) => {
                Ok(RdbString::Int(i16::from_le_bytes(self.read_array()?) as i64))
            }
            Length::Encoded(ENC_INT32) => {
                Ok(RdbString::Int(i32::from_le_bytes(self.read_array()?) as i64))
            }
            Length::Encoded(ENC_LZF) => self.read_lzf(),
            Length::Encoded(_) => Err(RdbError::BadLength),
        }
    }

    fn read_lzf(&mut self) -> Result<RdbString<'a>, RdbError> {
        let clen = self.read_len_usize()?;
        let len = self.read_len_usize()?;
        let data = self.read_bytes(clen)?;
        if len == 0 {
            return Err(LzfError::LengthMismatch.into());
        }
        Ok(RdbString::Bytes(Cow::Owned(lzf::decompress(data, len)?)))
    }

    /// An object type byte (any type RDB version 10 defines).
    pub fn read_type(&mut self) -> Result<u8, RdbError> {
        let t = self.read_u8()?;
        let known =
            t <= types::LAST_CLASSIC || (types::FIRST_COMPACT..=types::LAST_COMPACT).contains(&t);
        if known {
            Ok(t)
        } else {
            Err(RdbError::UnknownType(t))
        }
    }

    /// A value body of type `t`, decoded by the type that owns `t`.
    pub fn read_value(&mut self, t: u8) -> Result<Value, RdbError> {
        Value::read_rdb(t, self)
    }
}

impl RdbSource for Reader<'_> {
    type Error = RdbError;

    fn length(&mut self) -> Result<u64, RdbError> {
        self.read_len()
    }

    fn string(&mut self) -> Result<Str, RdbError> {
        Ok(match self.read_string()? {
            RdbString::Int(n) => Str::Int(n),
            RdbString::Bytes(b) => Str::from_bytes(&b),
        })
    }

    fn binary_double(&mut self) -> Result<f64, RdbError> {
        let b = self.read_bytes(8)?;
        let mut le = [0u8; 8];
        le.copy_from_slice(b);
        Ok(f64::from_le_bytes(le))
    }

    fn text_double(&mut self) -> Result<f64, RdbError> {
        match self.read_u8()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let text = self.read_bytes(usize::from(n))?;
                std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .ok_or(RdbError::Payload(BadPayload::Invalid("double")))
            }
        }
    }

    fn raw(&mut self, n: usize) -> Result<Vec<u8>, RdbError> {
        Ok(self.read_bytes(n)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc_len(n: u64) -> Vec<u8> {
        let mut v = Vec::new();
        write_len(&mut v, n);
        v
    }

    fn enc_str(s: &[u8], compress: bool) -> Vec<u8> {
        let mut v = Vec::new();
        write_string(&mut v, s, compress);
        v
    }

    #[test]
    fn length_forms() {
        assert_eq!(enc_len(0), [0x00]);
        assert_eq!(enc_len(63), [0x3f]);
        assert_eq!(enc_len(64), [0x40, 0x40]);
        assert_eq!(enc_len(100), [0x40, 0x64]);
        assert_eq!(enc_len(16383), [0x7f, 0xff]);
        assert_eq!(enc_len(16384), [0x80, 0, 0, 0x40, 0]);
        assert_eq!(enc_len(1 << 32), [0x81, 0, 0, 0, 1, 0, 0, 0, 0]);
        for n in [0, 1, 63, 64, 16383, 16384, u32::MAX as u64, 1 << 40] {
            let bytes = enc_len(n);
            let mut r = Reader::new(&bytes);
            assert_eq!(r.read_len(), Ok(n));
            assert_eq!(r.remaining(), 0);
        }
        assert_eq!(Reader::new(&[0x82]).read_len(), Err(RdbError::BadLength));
        assert_eq!(Reader::new(&[0x40]).read_len(), Err(RdbError::Truncated));
    }

    #[test]
    fn integer_encodings_match_redis() {
        // Expected bytes are redis-server 7.0.15 DUMP bodies for these values.
        assert_eq!(enc_str(b"12", true), [0xc0, 0x0c]);
        assert_eq!(enc_str(b"-200", true), [0xc1, 0x38, 0xff]);
        assert_eq!(enc_str(b"70000", true), [0xc2, 0x70, 0x11, 0x01, 0x00]);
        assert_eq!(enc_str(b"1234567890123", true), b"\x0d1234567890123");
        assert_eq!(enc_str(b"012", true), b"\x03012");
        let mut v = Vec::new();
        write_int_string(&mut v, 1_234_567_890_123);
        assert_eq!(v, b"\x0d1234567890123");
        for n in [
            0i64,
            -1,
            127,
            -128,
            128,
            32767,
            -32769,
            i32::MAX as i64,
            i64::MIN,
        ] {
            let mut v = Vec::new();
            write_int_string(&mut v, n);
            let got = RdbSource::string(&mut Reader::new(&v)).map(Value::Str);
            assert_eq!(got, Ok(Value::int(n)));
        }
    }

    #[test]
    fn strings_round_trip_with_and_without_lzf() {
        let long = vec![b'x'; 5000];
        for s in [
            &b""[..],
            b"hello",
            b"a string that is longer than twenty",
            &long,
        ] {
            for compress in [false, true] {
                let bytes = enc_str(s, compress);
                let mut r = Reader::new(&bytes);
                assert_eq!(r.read_value(types::STRING), Ok(Value::string(s)));
                assert_eq!(r.remaining(), 0);
            }
        }
        assert_eq!(enc_str(&long, true)[0], 0xc3);
        assert_eq!(enc_str(&long, false)[..2], [0x53, 0x88]);
        assert_eq!(enc_str(b"hello", true), b"\x05hello");
    }

    #[test]
    fn garbage_is_an_error() {
        let cases: [&[u8]; 6] = [
            b"",
            b"\x05abc",
            b"\xc0",
            b"\xc4",
            b"\xc3\x03\x40",
            b"\xc3\x02\x00\x01ab",
        ];
        for c in cases {
            assert!(Reader::new(c).read_string().is_err(), "{c:?}");
        }
        assert_eq!(Reader::new(&[8]).read_type(), Err(RdbError::UnknownType(8)));
        assert_eq!(
            Reader::new(&[200]).read_type(),
            Err(RdbError::UnknownType(200))
        );
        // Modules (7) have no type here; hashes (4) do, and an empty
        // input is then a truncated one.
        assert_eq!(
            Reader::new(&[]).read_value(7),
            Err(RdbError::Payload(BadPayload::UnsupportedType(7)))
        );
        assert_eq!(Reader::new(&[]).read_value(19), Err(RdbError::Truncated));
        assert_eq!(Reader::new(&[]).read_value(4), Err(RdbError::Truncated));
    }
}
