//! Values and keyspace entries.

/// Strings up to this length report the `embstr` encoding, as in Redis.
pub const EMBSTR_MAX: usize = 44;

/// A stored value. Strings that read as a canonical 64-bit integer are kept as
/// integers (`OBJECT ENCODING` says `int`), which also makes INCR cheap.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string holding a canonical integer.
    Int(i64),
    /// Any other string, as SET stored it.
    Str(Box<[u8]>),
    /// A string modified in place (APPEND, SETRANGE, SETBIT): Redis reports such
    /// strings as `raw` whatever their length.
    Raw(Box<[u8]>),
}

/// What `TYPE` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string (any encoding).
    String,
}

impl Kind {
    /// The name `TYPE` and `SCAN … TYPE` use.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
        }
    }
}

impl Value {
    /// A string value from bytes, integer-encoded when canonical.
    pub fn string(bytes: &[u8]) -> Value {
        match canonical_int(bytes) {
            Some(n) => Value::Int(n),
            None => Value::Str(bytes.into()),
        }
    }

    /// A string value that keeps its bytes as given (`raw` after APPEND/SETRANGE).
    pub fn raw(bytes: Vec<u8>) -> Value {
        Value::Raw(bytes.into_boxed_slice())
    }

    /// The value's type.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Int(_) | Value::Str(_) | Value::Raw(_) => Kind::String,
        }
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(s) if s.len() <= EMBSTR_MAX => "embstr",
            Value::Str(_) | Value::Raw(_) => "raw",
        }
    }

    /// The string's bytes (an integer as its decimal text).
    pub fn to_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Value::Int(n) => std::borrow::Cow::Owned(n.to_string().into_bytes()),
            Value::Str(s) | Value::Raw(s) => std::borrow::Cow::Borrowed(s),
        }
    }

    /// Approximate heap bytes this value owns (for eviction accounting and
    /// `MEMORY USAGE`).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Int(_) => 0,
            Value::Str(s) | Value::Raw(s) => s.len(),
        }
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

/// One key's record in a slot table.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Absolute expiry in unix milliseconds; 0 means no TTL.
    pub expire_at: u64,
    /// Eviction metadata: LRU clock, LFU time+counter, or FIFO sequence (see `access`).
    pub access: u32,
}

impl Entry {
    /// True when the entry has a TTL.
    pub fn is_volatile(&self) -> bool {
        self.expire_at != 0
    }

    /// True when the entry's TTL has passed at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }
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
}
