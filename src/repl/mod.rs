//! Replication: the ordered write log, the primary's side (feeding replicas
//! from it) and the replica's side (following a primary).

pub mod log;
pub mod primary;
pub mod replica;

pub use log::Log;
