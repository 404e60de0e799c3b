//! Values, one variant per type; each type's file owns its encodings, size,
//! digest, RDB payload and AOF-rewrite commands, so the keyspace, the formats,
//! DEBUG and MEMORY call the type instead of matching on encodings.
//!
//! Handlers reach a value through its type (`ValueType`): the slot guard's
//! typed lookups answer WRONGTYPE and remove a container a command emptied,
//! in one place.

pub mod chunks;
pub mod dense_table;
pub mod hash;
pub mod list;
#[cfg(test)]
pub mod mem_rdb;
pub mod pack_box;
pub mod pair_table;
pub mod quicklist;
pub mod redis_size;
pub mod set;
pub mod stream;
pub mod string;
mod value_ref;
pub mod zset;

pub use hash::{Hash, HashLimits};
pub use list::List;
pub use set::Set;
pub use stream::Stream;
pub use string::{Str, StrRef};
pub use value_ref::{Container, ValueRef};
pub use zset::ZSet;

use super::digest::Digest;

/// A stored value: one variant per type (the encoding lives inside the type).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string (`int`, `embstr` or `raw`).
    Str(Str),
    /// A hash (`listpack` or `hashtable`): two words, in place.
    Hash(Hash),
    /// A list.
    List(Box<List>),
    /// A set (`intset` or `hashtable`).
    Set(Box<Set>),
    /// A sorted set (`listpack` or `skiplist`).
    ZSet(Box<ZSet>),
    /// A stream.
    Stream(Box<Stream>),
}

/// What `TYPE` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string (any encoding).
    String,
    /// A hash.
    Hash,
    /// A list.
    List,
    /// A set.
    Set,
    /// A sorted set.
    ZSet,
    /// A stream.
    Stream,
}

impl Kind {
    /// The name `TYPE` and `SCAN … TYPE` use.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Hash => "hash",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::Stream => "stream",
        }
    }

    /// Redis's `OBJ_*` type number (mixed into `DEBUG DIGEST`).
    pub fn redis_number(self) -> u32 {
        match self {
            Kind::String => 0,
            Kind::List => 1,
            Kind::Set => 2,
            Kind::ZSet => 3,
            Kind::Hash => 4,
            Kind::Stream => 6,
        }
    }
}

/// A key holds another type than the command works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
pub struct WrongType;

/// A type a value can hold; the typed lookups on the slot guard use it.
pub trait ValueType: Sized {
    /// The type's `TYPE` kind.
    const KIND: Kind;
    /// The value as this type, if it is one.
    fn of(v: &Value) -> Option<&Self>;
    /// The value as this type, mutably, if it is one.
    fn of_mut(v: &mut Value) -> Option<&mut Self>;
    /// Wraps it as a value.
    fn into_value(self) -> Value;
    /// True when a command left the container empty, so the key goes (Redis
    /// never keeps an empty list, hash, set or sorted set; strings stay).
    fn is_emptied(&self) -> bool;
}

/// Where a type writes its RDB payload; the RDB format (`persist`) provides it
/// with Redis's length, string and compression rules.
pub trait RdbSink {
    /// A length or count.
    fn length(&mut self, n: u64);
    /// A string (compressed or integer-encoded as the format allows).
    fn string(&mut self, s: &[u8]);
    /// An integer written as a string (Redis's compact int forms).
    fn int_string(&mut self, n: i64);
    /// A double as 8 little-endian bytes (`ZSET_2` scores).
    fn binary_double(&mut self, f: f64);
    /// Bytes as they are (stream PEL ids and times).
    fn raw(&mut self, b: &[u8]);
}

/// Where a type reads its RDB payload from; the RDB format provides it, with
/// its own error type (which can say where in the input the payload broke).
pub trait RdbSource {
    /// The reader's error.
    type Error: From<BadPayload>;
    /// A length or count.
    fn length(&mut self) -> Result<u64, Self::Error>;
    /// A string, integer-encoded ones kept as integers.
    fn string(&mut self) -> Result<Str, Self::Error>;
    /// A double as 8 little-endian bytes (`ZSET_2` scores).
    fn binary_double(&mut self) -> Result<f64, Self::Error>;
    /// A double as Redis wrote it before `ZSET_2`: a length byte, then ASCII
    /// (253 nan, 254 +inf, 255 -inf).
    fn text_double(&mut self) -> Result<f64, Self::Error>;
    /// `n` bytes as they are (stream PEL ids and times).
    fn raw(&mut self, n: usize) -> Result<Vec<u8>, Self::Error>;
}

/// A payload a type cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPayload {
    /// A valid RDB type this server has no type for yet.
    #[error("unsupported RDB object type {0}")]
    UnsupportedType(u8),
    /// The payload breaks its type's rules (a corrupt listpack, duplicates…).
    #[error("invalid {0} payload")]
    Invalid(&'static str),
}

impl Value {
    /// Reads a value of RDB type `rdb_type`: the type that owns the byte
    /// decodes its payload.
    pub fn read_rdb<S: RdbSource>(rdb_type: u8, src: &mut S) -> Result<Value, S::Error> {
        match rdb_type {
            string::RDB_TYPE => Ok(Value::Str(src.string()?)),
            t if hash::RDB_TYPES.contains(&t) => Ok(Value::Hash(Hash::read_rdb(t, src)?)),
            t if list::RDB_TYPES.contains(&t) => Ok(Value::List(Box::new(List::read_rdb(t, src)?))),
            t if set::RDB_TYPES.contains(&t) => Ok(Value::Set(Box::new(Set::read_rdb(t, src)?))),
            t if zset::RDB_TYPES.contains(&t) => Ok(Value::ZSet(Box::new(ZSet::read_rdb(t, src)?))),
            t if stream::RDB_TYPES.contains(&t) => {
                Ok(Value::Stream(Box::new(Stream::read_rdb(t, src)?)))
            }
            other => Err(BadPayload::UnsupportedType(other).into()),
        }
    }

    /// A string value from bytes, integer-encoded when canonical.
    pub fn string(bytes: &[u8]) -> Value {
        Value::Str(Str::from_bytes(bytes))
    }

    /// A string value that keeps its bytes as given (`raw` after APPEND/SETRANGE).
    pub fn raw(bytes: Vec<u8>) -> Value {
        Value::Str(Str::raw(bytes))
    }

    /// An integer-encoded string value.
    pub fn int(n: i64) -> Value {
        Value::Str(Str::Int(n))
    }

    /// The value's type.
    pub fn kind(&self) -> Kind {
        self.as_ref().kind()
    }

    /// The value as type `T`, or WRONGTYPE.
    pub fn as_type<T: ValueType>(&self) -> Result<&T, WrongType> {
        T::of(self).ok_or(WrongType)
    }

    /// The value as type `T`, mutably, or WRONGTYPE.
    pub fn as_type_mut<T: ValueType>(&mut self) -> Result<&mut T, WrongType> {
        T::of_mut(self).ok_or(WrongType)
    }

    /// A borrowed view, as the keyspace hands out stored values.
    pub fn as_ref(&self) -> ValueRef<'_> {
        ValueRef::of(self)
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        self.as_ref().encoding()
    }

    /// About how many allocations dropping the value frees (Redis's free
    /// effort: elements of a table-encoded collection, list nodes, else 1).
    pub fn free_effort(&self) -> usize {
        self.as_ref().free_effort()
    }

    /// Approximate heap bytes this value owns (snapshot accounting, `MEMORY USAGE`).
    pub fn heap_size(&self) -> usize {
        self.as_ref().heap_size()
    }

    /// What Redis would allocate for the value (`MEMORY USAGE`).
    pub fn redis_usage(&self) -> usize {
        self.as_ref().redis_usage()
    }

    /// Mixes the value into `d` as Redis's `xorObjectDigest` does.
    pub fn digest(&self, d: &mut Digest) {
        self.as_ref().digest(d)
    }

    /// The RDB type byte of the value's current encoding.
    pub fn rdb_type(&self) -> u8 {
        self.as_ref().rdb_type()
    }

    /// Writes the value's RDB payload (after its type byte).
    pub fn write_rdb(&self, out: &mut dyn RdbSink) {
        self.as_ref().write_rdb(out)
    }

    /// Emits the commands that recreate the value under `key` (AOF rewrite).
    pub fn rewrite(&self, key: &[u8], emit: &mut dyn FnMut(&[&[u8]])) {
        self.as_ref().rewrite(key, emit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_stays_three_words() {
        // Bytes per key must not grow: new types go behind a pointer, in the
        // string encodings' spare tag values.
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert_eq!(std::mem::size_of::<Hash>(), 16);
        assert_eq!(std::mem::size_of::<crate::store::Entry>(), 40);
    }

    #[test]
    fn typed_views_and_digest_start_with_the_type() {
        let v = Value::string(b"abc");
        assert_eq!(v.as_type::<Str>(), Ok(&Str::Bytes(b"abc"[..].into())));
        let (mut d, mut want) = ([0u8; 20], [0u8; 20]);
        v.digest(&mut d);
        use crate::store::digest::mix;
        mix(&mut want, &0u32.to_be_bytes());
        mix(&mut want, b"abc");
        assert_eq!(d, want);
        let mut cmds = Vec::new();
        Value::int(7).rewrite(b"k", &mut |argv| {
            cmds.push(argv.iter().map(|a| a.to_vec()).collect::<Vec<_>>())
        });
        assert_eq!(
            cmds,
            vec![vec![b"SET".to_vec(), b"k".to_vec(), b"7".to_vec()]]
        );
    }
}
