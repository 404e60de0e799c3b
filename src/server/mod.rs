//! The server: the accept loop (`listener`), one task per connection
//! (`session`: read, run the batch, flush once) and the ordered checks every
//! command passes (`gate`, the one dispatch entry for clients, EXEC and
//! replays); `sync_writes` holds replies back for synchronous replication.

#[cfg(test)]
pub(crate) mod alloc_tests;
pub mod gate;
pub mod listener;
pub mod session;
pub mod sync_writes;

pub use listener::run;
