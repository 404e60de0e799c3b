//! The string type: its encodings (`int`, `embstr`, `raw`), its size, digest,
//! RDB payload and AOF-rewrite command.

use std::borrow::Cow;

use crate::store::digest::{mix, Digest};

use super::redis_size::{jemalloc_size, sds_header, ROBJ};
use super::{Kind, RdbSink, Value, ValueType};

/// RDB type byte of a string (`RDB_TYPE_STRING`).
pub const RDB_TYPE: u8 = 0;

/// Strings up to this length report the `embstr` encoding, as in Redis.
pub const EMBSTR_MAX: usize = 44;

/// A string value. Strings that read as a canonical 64-bit integer are kept as
/// integers (`OBJECT ENCODING` says `int`), which also makes INCR cheap.
#[derive(Debug, Clone, PartialEq)]
pub enum Str {
    /// A string holding a canonical integer.
    Int(i64),
    /// Any other string, as SET stored it (`embstr` up to 44 bytes, else `raw`).
    Bytes(Box<[u8]>),
    /// A string modified in place (APPEND, SETRANGE, SETBIT): Redis reports such
    /// strings as `raw` whatever their length.
    Raw(Box<[u8]>),
}

impl Str {
    /// A string from bytes, integer-encoded when canonical.
    pub fn from_bytes(bytes: &[u8]) -> Str {
        match canonical_int(bytes) {
            Some(n) => Str::Int(n),
            None => Str::Bytes(bytes.into()),
        }
    }

    /// A string that keeps its bytes as given (`raw` after APPEND/SETRANGE).
    pub fn raw(bytes: Vec<u8>) -> Str {
        Str::Raw(bytes.into_boxed_slice())
    }

    /// A borrowed view (what readers of a stored string get).
    pub fn as_ref(&self) -> StrRef<'_> {
        match self {
            Str::Int(n) => StrRef::Int(*n),
            Str::Bytes(s) => StrRef::Bytes(s),
            Str::Raw(s) => StrRef::Raw(s),
        }
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        self.as_ref().encoding()
    }

    /// The string's bytes (an integer as its decimal text).
    pub fn to_bytes(&self) -> Cow<'_, [u8]> {
        self.as_ref().to_bytes()
    }

    /// `STRLEN`: the length of the string's bytes.
    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    /// True for the empty string (still a key: strings are never removed empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes the value owns.
    pub fn heap_size(&self) -> usize {
        self.as_ref().heap_size()
    }

    /// What Redis would allocate for the string's object (`MEMORY USAGE`).
    pub fn redis_usage(&self) -> usize {
        self.as_ref().redis_usage()
    }

    /// Mixes the string's bytes into `d` (`DEBUG DIGEST`).
    pub fn digest(&self, d: &mut Digest) {
        self.as_ref().digest(d)
    }

    /// Writes the RDB payload (an integer in Redis's compact int forms).
    pub fn write_rdb(&self, out: &mut dyn RdbSink) {
        self.as_ref().write_rdb(out)
    }

    /// Emits the command that recreates the string (AOF rewrite).
    pub fn rewrite(&self, key: &[u8], emit: &mut dyn FnMut(&[&[u8]])) {
        self.as_ref().rewrite(key, emit)
    }
}

/// A stored string, borrowed: the keyspace keeps short strings inside the
/// key's record, where no `Str` exists to borrow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StrRef<'a> {
    /// A string holding a canonical integer.
    Int(i64),
    /// Bytes as SET stored them.
    Bytes(&'a [u8]),
    /// Bytes modified in place (reported as `raw`).
    Raw(&'a [u8]),
}

impl<'a> StrRef<'a> {
    /// `OBJECT ENCODING` name.
    pub fn encoding(self) -> &'static str {
        match self {
            StrRef::Int(_) => "int",
            StrRef::Bytes(s) if s.len() <= EMBSTR_MAX => "embstr",
            StrRef::Bytes(_) | StrRef::Raw(_) => "raw",
        }
    }

    /// The string's bytes (an integer as its decimal text).
    pub fn to_bytes(self) -> Cow<'a, [u8]> {
        match self {
            StrRef::Int(n) => Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec()),
            StrRef::Bytes(s) | StrRef::Raw(s) => Cow::Borrowed(s),
        }
    }

    /// An owned copy.
    pub fn to_owned_str(self) -> Str {
        match self {
            StrRef::Int(n) => Str::Int(n),
            StrRef::Bytes(s) => Str::Bytes(s.into()),
            StrRef::Raw(s) => Str::Raw(s.into()),
        }
    }

    /// `STRLEN`: the length of the string's bytes.
    pub fn len(self) -> usize {
        match self {
            StrRef::Int(n) => itoa::Buffer::new().format(n).len(),
            StrRef::Bytes(s) | StrRef::Raw(s) => s.len(),
        }
    }

    /// True for the empty string.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Heap bytes the value owns.
    pub fn heap_size(self) -> usize {
        match self {
            StrRef::Int(_) => 0,
            StrRef::Bytes(s) | StrRef::Raw(s) => s.len(),
        }
    }

    /// What Redis would allocate for the string's object (`MEMORY USAGE`):
    /// a shared-size header for an int, one block for an embstr, else a
    /// header plus an sds.
    pub fn redis_usage(self) -> usize {
        match self {
            StrRef::Int(_) => ROBJ,
            StrRef::Bytes(s) if s.len() <= EMBSTR_MAX => jemalloc_size(ROBJ + 3 + s.len() + 1),
            StrRef::Bytes(s) | StrRef::Raw(s) => {
                ROBJ + jemalloc_size(sds_header(s.len(), false) + s.len() + 1)
            }
        }
    }

    /// Mixes the string's bytes into `d` (`DEBUG DIGEST`).
    pub fn digest(self, d: &mut Digest) {
        match self {
            StrRef::Int(n) => mix(d, itoa::Buffer::new().format(n).as_bytes()),
            StrRef::Bytes(s) | StrRef::Raw(s) => mix(d, s),
        }
    }

    /// Writes the RDB payload (an integer in Redis's compact int forms).
    pub fn write_rdb(self, out: &mut dyn RdbSink) {
        match self {
            StrRef::Int(n) => out.int_string(n),
            StrRef::Bytes(s) | StrRef::Raw(s) => out.string(s),
        }
    }

    /// Emits the command that recreates the string (AOF rewrite).
    pub fn rewrite(self, key: &[u8], emit: &mut dyn FnMut(&[&[u8]])) {
        emit(&[b"SET", key, &self.to_bytes()]);
    }
}

impl ValueType for Str {
    const KIND: Kind = Kind::String;

    fn of(v: &Value) -> Option<&Str> {
        match v {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    fn of_mut(v: &mut Value) -> Option<&mut Str> {
        match v {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    fn into_value(self) -> Value {
        Value::Str(self)
    }

    fn is_emptied(&self) -> bool {
        false
    }
}

/// Parses bytes as Redis's `string2ll` does: optional '-', no leading zeros, no
/// '+', no spaces, fits in i64. Only such strings are integer-encoded.
pub fn canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = (d - b'0') as i64;
        v = if neg {
            v.checked_mul(10)?.checked_sub(d)?
        } else {
            v.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_encoding_is_canonical_only() {
        assert_eq!(canonical_int(b"123"), Some(123));
        assert_eq!(canonical_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(canonical_int(b"9223372036854775808"), None);
        assert_eq!(canonical_int(b"0123"), None);
        assert_eq!(canonical_int(b"+1"), None);
        assert_eq!(canonical_int(b" 1"), None);
        assert_eq!(canonical_int(b"-0"), None);
        assert_eq!(Value::string(b"12").encoding(), "int");
        assert_eq!(Value::string(b"hello").encoding(), "embstr");
        assert_eq!(Value::string(&[b'x'; 45]).encoding(), "raw");
    }

    #[test]
    fn lengths_and_bytes_agree_across_encodings() {
        for s in [&b"-42"[..], b"0", b"hello", b"007", &[b'y'; 60]] {
            let v = Str::from_bytes(s);
            assert_eq!(v.len(), s.len());
            assert_eq!(&*v.to_bytes(), s);
        }
        assert_eq!(Str::raw(b"12".to_vec()).encoding(), "raw");
    }
}
