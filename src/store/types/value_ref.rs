//! `ValueRef`: a stored value, borrowed. The keyspace keeps short strings
//! inside the key's record (no `Value` exists there to borrow), so readers get
//! this view; every other type is borrowed as its `Value`.

use super::{
    string, Hash, Kind, List, RdbSink, Set, StrRef, Stream, Value, ValueType, WrongType, ZSet,
};
use crate::store::digest::{mix, Digest};

/// A borrowed value: a string as `StrRef`, any other type as its `Value`.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    /// A string, in any encoding.
    Str(StrRef<'a>),
    /// A value of another type (never `Value::Str`).
    Other(&'a Value),
}

/// The types readers borrow as themselves (every type but strings, which
/// they read as `StrRef`).
pub trait Container: ValueType {}
impl Container for Hash {}
impl Container for List {}
impl Container for Set {}
impl Container for ZSet {}
impl Container for Stream {}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(v: &'a Value) -> ValueRef<'a> {
        ValueRef::of(v)
    }
}

impl<'a> ValueRef<'a> {
    /// The view of `v`.
    pub fn of(v: &'a Value) -> ValueRef<'a> {
        match v {
            Value::Str(s) => ValueRef::Str(s.as_ref()),
            other => ValueRef::Other(other),
        }
    }

    /// An owned copy.
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::Str(s) => Value::Str(s.to_owned_str()),
            ValueRef::Other(v) => v.clone(),
        }
    }

    /// The value as a string, or WRONGTYPE.
    pub fn as_str(self) -> Result<StrRef<'a>, WrongType> {
        match self {
            ValueRef::Str(s) => Ok(s),
            ValueRef::Other(_) => Err(WrongType),
        }
    }

    /// The value when it is not a string (strings have no `Value` to borrow).
    pub fn container(self) -> Option<&'a Value> {
        match self {
            ValueRef::Str(_) => None,
            ValueRef::Other(v) => Some(v),
        }
    }

    /// The value as container type `T`, or WRONGTYPE.
    pub fn as_type<T: Container>(self) -> Result<&'a T, WrongType> {
        match self {
            ValueRef::Str(_) => Err(WrongType),
            ValueRef::Other(v) => v.as_type::<T>(),
        }
    }

    /// Where a string's bytes live (prefetching); `None` for an integer or
    /// another type.
    pub fn string_bytes_ptr(self) -> Option<*const u8> {
        match self {
            ValueRef::Str(StrRef::Bytes(b) | StrRef::Raw(b)) => Some(b.as_ptr()),
            _ => None,
        }
    }

    /// The value's type.
    pub fn kind(self) -> Kind {
        match self {
            ValueRef::Str(_) | ValueRef::Other(Value::Str(_)) => Kind::String,
            ValueRef::Other(Value::Hash(_)) => Kind::Hash,
            ValueRef::Other(Value::List(_)) => Kind::List,
            ValueRef::Other(Value::Set(_)) => Kind::Set,
            ValueRef::Other(Value::ZSet(_)) => Kind::ZSet,
            ValueRef::Other(Value::Stream(_)) => Kind::Stream,
        }
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(self) -> &'static str {
        match self {
            ValueRef::Str(s) => s.encoding(),
            ValueRef::Other(v) => match v {
                Value::Str(s) => s.encoding(),
                Value::Hash(h) => h.encoding(),
                Value::List(x) => x.encoding(),
                Value::Set(x) => x.encoding(),
                Value::ZSet(x) => x.encoding(),
                Value::Stream(_) => "stream",
            },
        }
    }

    /// About how many allocations dropping the value frees (Redis's free
    /// effort: elements of a table-encoded collection, list nodes, else 1).
    pub fn free_effort(self) -> usize {
        match self {
            ValueRef::Str(_) | ValueRef::Other(Value::Str(_)) => 1,
            ValueRef::Other(v) => match v {
                Value::Hash(h) => compact_or(h.encoding(), h.len()),
                // Quicklist nodes hold about a hundred small elements each.
                Value::List(l) => l.len().div_ceil(128),
                Value::Set(s) => compact_or(s.encoding(), s.len()),
                Value::ZSet(z) => compact_or(z.encoding(), z.len()),
                Value::Stream(x) => x.free_effort(),
                Value::Str(_) => 1,
            },
        }
    }

    /// Approximate heap bytes this value owns (snapshot accounting, `MEMORY USAGE`).
    pub fn heap_size(self) -> usize {
        match self {
            ValueRef::Str(s) => s.heap_size(),
            ValueRef::Other(v) => match v {
                Value::Str(s) => s.heap_size(),
                Value::Hash(h) => h.heap_size(),
                Value::List(x) => x.heap_size(),
                Value::Set(x) => x.heap_size(),
                Value::ZSet(x) => x.heap_size(),
                Value::Stream(x) => x.heap_size(),
            },
        }
    }

    /// What Redis would allocate for the value (`MEMORY USAGE`).
    pub fn redis_usage(self) -> usize {
        match self {
            ValueRef::Str(s) => s.redis_usage(),
            ValueRef::Other(v) => match v {
                Value::Str(s) => s.redis_usage(),
                Value::Hash(h) => h.redis_usage(),
                Value::List(x) => x.redis_usage(),
                Value::Set(x) => x.redis_usage(),
                Value::ZSet(x) => x.redis_usage(),
                Value::Stream(x) => x.redis_usage(),
            },
        }
    }

    /// Mixes the value into `d` as Redis's `xorObjectDigest` does (its type
    /// number first, then the type's own part).
    pub fn digest(self, d: &mut Digest) {
        mix(d, &self.kind().redis_number().to_be_bytes());
        match self {
            ValueRef::Str(s) => s.digest(d),
            ValueRef::Other(v) => match v {
                Value::Str(s) => s.digest(d),
                Value::Hash(h) => h.digest(d),
                Value::List(x) => x.digest(d),
                Value::Set(x) => x.digest(d),
                Value::ZSet(x) => x.digest(d),
                Value::Stream(x) => x.digest(d),
            },
        }
    }

    /// The RDB type byte of the value's current encoding.
    pub fn rdb_type(self) -> u8 {
        match self {
            ValueRef::Str(_) | ValueRef::Other(Value::Str(_)) => string::RDB_TYPE,
            ValueRef::Other(Value::Hash(h)) => h.rdb_type(),
            ValueRef::Other(Value::List(x)) => x.rdb_type(),
            ValueRef::Other(Value::Set(x)) => x.rdb_type(),
            ValueRef::Other(Value::ZSet(x)) => x.rdb_type(),
            ValueRef::Other(Value::Stream(x)) => x.rdb_type(),
        }
    }

    /// Writes the value's RDB payload (after its type byte).
    pub fn write_rdb(self, out: &mut dyn RdbSink) {
        match self {
            ValueRef::Str(s) => s.write_rdb(out),
            ValueRef::Other(v) => match v {
                Value::Str(s) => s.write_rdb(out),
                Value::Hash(h) => h.write_rdb(out),
                Value::List(x) => x.write_rdb(out),
                Value::Set(x) => x.write_rdb(out),
                Value::ZSet(x) => x.write_rdb(out),
                Value::Stream(x) => x.write_rdb(out),
            },
        }
    }

    /// Emits the commands that recreate the value under `key` (AOF rewrite).
    pub fn rewrite(self, key: &[u8], emit: &mut dyn FnMut(&[&[u8]])) {
        match self {
            ValueRef::Str(s) => s.rewrite(key, emit),
            ValueRef::Other(v) => match v {
                Value::Str(s) => s.rewrite(key, emit),
                Value::Hash(h) => h.rewrite(key, emit),
                Value::List(x) => x.rewrite(key, emit),
                Value::Set(x) => x.rewrite(key, emit),
                Value::ZSet(x) => x.rewrite(key, emit),
                Value::Stream(x) => x.rewrite(key, emit),
            },
        }
    }
}

/// One allocation for a compact encoding, else one per element.
fn compact_or(encoding: &str, len: usize) -> usize {
    if matches!(encoding, "listpack" | "intset") {
        1
    } else {
        len
    }
}
