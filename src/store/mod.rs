//! Storage: the slot-partitioned keyspace and its walks (cursor steps, full
//! passes, random picks), values, expiry, eviction and memory accounting. It
//! knows nothing of sockets or the wire protocol.

pub mod access;
pub mod bits;
pub mod blocking;
pub mod compact;
pub mod digest;
pub mod entry;
pub mod eviction;
pub mod expire;
pub mod hll;
pub mod isolation;
pub mod key;
pub mod keyspace;
pub mod lazy_free;
pub mod memory;
mod random_key;
pub mod record;
mod record_table;
mod slot_bits;
pub mod snapshot;
pub mod tinylfu;
mod typed;
pub mod types;
mod walk;
pub mod watch;

pub use entry::Entry;
pub use keyspace::{KeyEventSink, Keyspace, MultiGuard, Removal, SlotGuard, NEVER_EXPIRED};
pub use record::Record;
pub use types::{Hash, HashLimits, Kind, List, Str, StrRef, Value, ValueRef, ValueType, WrongType};
