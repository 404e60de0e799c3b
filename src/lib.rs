//! ringcache: a Redis-compatible, cluster-native cache server.
//!
//! # Layout
//!
//! ```text
//!  socket ─▶ server::session ─▶ resp::parser (limits) ─▶ commands::table (spec lookup)
//!                                                          │
//!                       server::gate: auth ─▶ arity ─▶ memory (OOM / eviction)
//!                                                          │
//!                                handler(ctx, argv) ─▶ store::Keyspace (slot table lock)
//!                                                          │
//!                  reply bytes ◀───────────────────────────┘  write? ─▶ repl::Log
//! ```
//!
//! - [`resp`]: the resumable request parser and the RESP2/RESP3 reply writer.
//! - [`commands`]: the command table and one module per command family.
//! - [`store`]: 16384 slot tables per database, expiry, eviction, memory.
//! - [`server`]: accept loop, sessions, the gate, shared server state.
//! - [`repl`]: the ordered replication log every write is propagated to, and
//!   PSYNC replication from it (primary side) and into this server (replica side).
//! - [`persist`]: the RDB encoding (LZF, CRC-64) behind DUMP/RESTORE and RDB
//!   files, SAVE/BGSAVE, and the append-only file fed by [`repl`]'s log.
//! - [`cluster`]: hash slots (the cluster bus arrives with cluster mode).
//! - [`config`]: layered configuration.
//! - [`clock`]: wall time for TTLs, monotonic time for leases and durations.

pub mod clock;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod glob;
pub mod net;
pub mod node;
pub mod persist;
pub mod repl;
pub mod resp;
pub mod script;
pub mod server;
pub mod services;
pub mod slot;
pub mod store;

/// Unit tests count the serving path's heap allocations (`server::alloc_tests`).
#[cfg(test)]
#[global_allocator]
static COUNTING: server::alloc_tests::Counting = server::alloc_tests::Counting;
