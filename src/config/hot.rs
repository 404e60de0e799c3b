//! `HotConfig`: settings read on hot paths (every command or connection), kept
//! as atomics so no lock is taken for them. Which option stores which field is
//! declared by the option's table entry (its `hot` hook), not here.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::options::OPTIONS;
use super::Config;

/// Settings read on hot paths, kept as atomics so no lock is taken per command.
#[derive(Debug, Default)]
pub struct HotConfig {
    /// `maxmemory` in bytes (0 = none).
    pub maxmemory: AtomicU64,
    /// Bytes all clients may use before the largest are evicted (0 = no
    /// limit): `maxmemory-clients`, resolved against `maxmemory`.
    pub client_eviction_limit: AtomicU64,
    /// `maxmemory-samples`.
    pub maxmemory_samples: AtomicUsize,
    /// `proto-max-bulk-len`.
    pub proto_max_bulk_len: AtomicU64,
    /// `client-query-buffer-limit`.
    pub client_query_buffer_limit: AtomicU64,
    /// `maxclients`.
    pub maxclients: AtomicUsize,
    /// `timeout` in seconds.
    pub timeout: AtomicU64,
    /// True when `requirepass` is set.
    pub auth_required: AtomicBool,
    /// `slowlog-log-slower-than` in microseconds (negative = off).
    pub slowlog_slower_than: AtomicI64,
    /// `busy-reply-threshold` in milliseconds.
    pub busy_reply_threshold: AtomicU64,
    /// `min-replicas-to-write` (0 = off).
    pub min_replicas: AtomicU64,
    /// `min-replicas-max-lag` in seconds.
    pub min_replicas_max_lag: AtomicU64,
    /// `replica-sync-writes` (0 = asynchronous replication).
    pub replica_sync_writes: AtomicU64,
    /// `replica-sync-timeout` in milliseconds.
    pub replica_sync_timeout: AtomicU64,
    /// Active expiry on/off: not an option, `DEBUG SET-ACTIVE-EXPIRE` switches it.
    pub active_expire: AtomicBool,
    /// `replica-ignore-maxmemory`.
    pub replica_ignore_maxmemory: AtomicBool,
    /// `lazyfree-lazy-eviction`, `-expire`, `-server-del`, `-user-del`,
    /// `-user-flush` (the two user ones act: DEL as UNLINK, FLUSH* as ASYNC).
    pub lazyfree: [AtomicBool; 5],
    /// The compact-encoding limits.
    pub encodings: super::encodings::HotEncodings,
    /// `tracking-table-max-keys` (0 = no limit).
    pub tracking_table_max_keys: AtomicU64,
    /// `notify-keyspace-events` class bits.
    pub notify_keyspace_events: std::sync::Arc<AtomicU32>,
    /// `client-output-buffer-limit pubsub`: hard bytes, soft bytes, soft ms.
    pub pubsub_limit: [AtomicU64; 3],
    /// `client-output-buffer-limit normal`: hard bytes, soft bytes, soft ms.
    pub normal_limit: [AtomicU64; 3],
    /// `protected-mode`: without a password, only loopback clients are served.
    pub protected_mode: AtomicBool,
    /// `tcp-keepalive` in seconds (0 = off), for connections accepted from now on.
    pub tcp_keepalive: AtomicU64,
    /// `enable-debug-command`, as `ProtectedAction::to_u8`.
    pub debug_command: std::sync::atomic::AtomicU8,
}

impl HotConfig {
    /// The hot settings of `cfg`, with active expiry on.
    pub fn from_config(cfg: &Config) -> Self {
        let h = HotConfig::default();
        h.apply(cfg);
        h.active_expire.store(true, Ordering::Relaxed);
        h
    }

    /// Copies the hot fields out of `cfg` (after start-up or CONFIG SET).
    pub fn apply(&self, cfg: &Config) {
        for store in OPTIONS.iter().filter_map(|o| o.hot) {
            store(self, cfg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_stored_by_some_option() {
        let mut c = Config::defaults();
        c.maxmemory = 1;
        c.timeout = 7;
        c.requirepass = "pw".into();
        c.slowlog_log_slower_than = -1;
        c.min_replicas_to_write = 2;
        c.replica_ignore_maxmemory = true;
        let h = HotConfig::default();
        h.apply(&c);
        let r = Ordering::Relaxed;
        let words = [
            h.maxmemory.load(r),
            h.maxmemory_samples.load(r) as u64,
            h.proto_max_bulk_len.load(r),
            h.client_query_buffer_limit.load(r),
            h.maxclients.load(r) as u64,
            h.min_replicas.load(r),
            h.min_replicas_max_lag.load(r),
            h.timeout.load(r),
            h.busy_reply_threshold.load(r),
            h.encodings.hash_max_listpack_entries.load(r) as u64,
            h.encodings.hash_max_listpack_value.load(r) as u64,
            h.encodings.set_max_intset_entries.load(r) as u64,
            h.encodings.zset_max_listpack_entries.load(r) as u64,
            h.encodings.zset_max_listpack_value.load(r) as u64,
        ];
        assert!(words.iter().all(|&w| w != 0), "{words:?}");
        assert_eq!(h.slowlog_slower_than.load(r), -1);
        assert_eq!(h.encodings.list_max_listpack_size.load(r), -2);
        assert_eq!(h.encodings.now(), c.encodings);
        assert!(h.auth_required.load(r) && h.replica_ignore_maxmemory.load(r));
        assert!(!h.active_expire.load(r));
        assert!(HotConfig::from_config(&c).active_expire.load(r));
    }
}
