//! Replication's shared state: the ordered write log (offsets, backlog, the
//! AOF tap, replicas' feeds), a primary's registry of its replicas, and a
//! replica's link to its primary. The tasks that move bytes over sockets are
//! in `services`.

pub mod ids;
pub mod links;
pub mod log;
pub mod upstream;

pub use log::Log;
