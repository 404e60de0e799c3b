//! The sorted set type. (Skeleton: the sorted set work fills in the encodings, the
//! operations and the formats; until then no command creates one and no RDB
//! type byte is routed here.)

use super::{BadPayload, Kind, RdbSink, RdbSource, Value, ValueType};
use crate::store::digest::Digest;

/// RDB type bytes this type reads (the sorted set work lists them).
pub const RDB_TYPES: &[u8] = &[];

/// A sorted set value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZSet {
    len: usize,
}

impl ZSet {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True with no elements (the key is then removed).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    /// Heap bytes the value owns.
    pub fn heap_size(&self) -> usize {
        0
    }

    /// What Redis would allocate for the value (`MEMORY USAGE`).
    pub fn redis_usage(&self) -> usize {
        0
    }

    /// Mixes the value into `d` as Redis's `xorObjectDigest` does.
    pub fn digest(&self, _d: &mut Digest) {}

    /// The RDB type byte of the current encoding.
    pub fn rdb_type(&self) -> u8 {
        17
    }

    /// Writes the RDB payload.
    pub fn write_rdb(&self, out: &mut dyn RdbSink) {
        out.length(0);
    }

    /// Reads an RDB payload of one of `RDB_TYPES`.
    pub fn read_rdb<S: RdbSource>(rdb_type: u8, _src: &mut S) -> Result<ZSet, S::Error> {
        Err(BadPayload::UnsupportedType(rdb_type).into())
    }

    /// Emits the commands that recreate the value under `key` (AOF rewrite).
    pub fn rewrite(&self, _key: &[u8], _emit: &mut dyn FnMut(&[&[u8]])) {}
}

impl ValueType for ZSet {
    const KIND: Kind = Kind::ZSet;

    fn of(v: &Value) -> Option<&ZSet> {
        match v {
            Value::ZSet(x) => Some(x),
            _ => None,
        }
    }

    fn of_mut(v: &mut Value) -> Option<&mut ZSet> {
        match v {
            Value::ZSet(x) => Some(x),
            _ => None,
        }
    }

    fn into_value(self) -> Value {
        Value::ZSet(Box::new(self))
    }

    fn is_emptied(&self) -> bool {
        self.is_empty()
    }
}
