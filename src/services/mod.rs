//! Drivers: the long-running tasks that wire the mechanisms to the node —
//! replication (serving replicas, following a primary), the cluster bus, and
//! more as they move here. The only layer that holds the whole server.

pub mod aof;
pub mod bus;
pub mod cron;
pub mod disk;
pub mod primary;
pub mod replica;
pub mod save;
