//! Replication: the ordered write log (shipping to replicas arrives with the
//! replication issue).

pub mod log;

pub use log::Log;
