//! The cluster rule settings a `Config` asks for; `cluster::topology::Settings`
//! is this type, so the cluster reads configuration and not the reverse.

use super::Config;

/// The settings cluster mode's rules depend on (`cluster-*` options).
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// `cluster-node-timeout` in ms.
    pub node_timeout: u64,
    /// `cluster-require-full-coverage`.
    pub require_full_coverage: bool,
    /// `cluster-allow-reads-when-down`.
    pub allow_reads_when_down: bool,
    /// `cluster-allow-replica-migration`.
    pub allow_replica_migration: bool,
    /// `cluster-replica-no-failover`.
    pub replica_no_failover: bool,
    /// `cluster-replica-validity-factor` (0 = no limit).
    pub replica_validity_factor: u64,
    /// `cluster-announce-ip` ("" = learn it from peers).
    pub announce_ip: String,
}

impl Default for ClusterSettings {
    /// The settings of the option table's defaults.
    fn default() -> Self {
        Config::defaults().cluster_settings()
    }
}
