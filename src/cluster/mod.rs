//! Cluster mode: the hash-slot ring (more arrives with the cluster issue).

pub mod slot;
