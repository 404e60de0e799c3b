//! The `Config` struct and how it is loaded: built-in defaults < `--config FILE`
//! (TOML) < `RINGCACHE_*` environment < command-line flags, then checked.

use std::ffi::OsString;

use serde::Deserialize;

use super::cluster::ClusterSettings;
use super::eviction::EvictionPolicy;
use super::option_lookup::{find_option, parse_value};
use super::options::{ConfigOption, OPTIONS};
use super::output::{output_limits, OutputLimits};
use super::protected::ProtectedAction;
use super::value::{parse_save, size, size_or_percent, yes_no_bool};
use super::ConfigError;

/// Server configuration. Field names are Redis's option names with `_` for `-`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Config {
    /// Address to listen on.
    pub bind: String,
    /// TCP port.
    pub port: u16,
    /// Password for the default user ("" = none).
    pub requirepass: String,
    /// Memory limit in bytes (0 = none).
    #[serde(deserialize_with = "size")]
    pub maxmemory: u64,
    /// Eviction policy name.
    pub maxmemory_policy: String,
    /// Memory all clients together may use before the largest are
    /// disconnected: bytes, or -N for N% of `maxmemory` (0 = no limit).
    #[serde(deserialize_with = "size_or_percent")]
    pub maxmemory_clients: i64,
    /// Keys sampled per eviction round.
    pub maxmemory_samples: u32,
    /// Number of databases in standalone mode.
    pub databases: u32,
    /// Working directory for files (snapshots, AOF, nodes.conf).
    pub dir: String,
    /// debug, verbose, notice or warning.
    pub loglevel: String,
    /// Connection limit (lowered at start to what the open-file limit allows).
    pub maxclients: u32,
    /// Listen backlog (`tcp-backlog`).
    pub tcp_backlog: u32,
    /// Who may run DEBUG: no, yes or local.
    pub enable_debug_command: String,
    /// Who may CONFIG SET protected options (`dir`, `dbfilename`): no, yes or local.
    pub enable_protected_configs: String,
    /// `rename-command OLD NEW` directives of the file, as `[OLD, NEW]` pairs
    /// (NEW "" removes the command); not an option `CONFIG GET` knows, as in Redis.
    #[serde(default)]
    pub rename_command: Vec<Vec<String>>,
    /// Idle client timeout in seconds (0 = never).
    pub timeout: u64,
    /// Largest bulk argument in a request.
    #[serde(deserialize_with = "size")]
    pub proto_max_bulk_len: u64,
    /// Largest unparsed request buffer per client.
    #[serde(deserialize_with = "size")]
    pub client_query_buffer_limit: u64,
    /// Background task frequency (active expiry runs `hz` times a second).
    pub hz: u32,
    /// Slow log threshold in microseconds (negative disables).
    pub slowlog_log_slower_than: i64,
    /// Slow log length.
    pub slowlog_max_len: u64,
    /// Latency monitor threshold in milliseconds (0 disables).
    pub latency_monitor_threshold: u64,
    /// Milliseconds a script runs before other clients get -BUSY.
    pub busy_reply_threshold: u64,
    /// RDB save points: `seconds changes` pairs ("" = no automatic snapshots).
    pub save: String,
    /// RDB file name, in `dir`.
    pub dbfilename: String,
    /// Compress strings in RDB files with LZF.
    #[serde(deserialize_with = "yes_no_bool")]
    pub rdbcompression: bool,
    /// Write a CRC-64 at the end of RDB files.
    #[serde(deserialize_with = "yes_no_bool")]
    pub rdbchecksum: bool,
    /// Refuse writes while the last background save failed (with save points set).
    #[serde(deserialize_with = "yes_no_bool")]
    pub stop_writes_on_bgsave_error: bool,
    /// Password a replica sends to its primary ("" = none).
    pub masterauth: String,
    /// Replicas refuse writes from clients other than their primary.
    #[serde(deserialize_with = "yes_no_bool")]
    pub replica_read_only: bool,
    /// Replicas do not evict by `maxmemory`: their primary's DELs do.
    #[serde(deserialize_with = "yes_no_bool")]
    pub replica_ignore_maxmemory: bool,
    /// Output buffer limits per client class (`client-output-buffer-limit`).
    #[serde(deserialize_with = "output_limits")]
    pub client_output_buffer_limit: OutputLimits,
    /// Writes are refused unless this many replicas are connected and fresh.
    pub min_replicas_to_write: u32,
    /// Seconds since a replica's last ACK for it to count as fresh.
    pub min_replicas_max_lag: u32,
    /// A write's reply waits for this many replicas' acknowledgement
    /// (ringcache's synchronous replication; 0 = Redis's asynchronous).
    pub replica_sync_writes: u32,
    /// How long a synchronous write waits for its replicas (ms).
    pub replica_sync_timeout: u64,
    /// Bytes of the write stream kept for partial resyncs.
    #[serde(deserialize_with = "size")]
    pub repl_backlog_size: u64,
    /// Log every write to the append-only file.
    #[serde(deserialize_with = "yes_no_bool")]
    pub appendonly: bool,
    /// Append-only file name, in `dir`.
    pub appendfilename: String,
    /// When the append-only file is flushed: always, everysec or no.
    pub appendfsync: String,
    /// Load an append-only file whose last command is cut short (dropping it).
    #[serde(deserialize_with = "yes_no_bool")]
    pub aof_load_truncated: bool,
    /// Start rewritten append-only files with an RDB image.
    #[serde(deserialize_with = "yes_no_bool")]
    pub aof_use_rdb_preamble: bool,
    /// Rewrite the append-only file when it grew by this percentage (0 = never).
    pub auto_aof_rewrite_percentage: u64,
    /// ... and is at least this large.
    #[serde(deserialize_with = "size")]
    pub auto_aof_rewrite_min_size: u64,
    /// Run as a node of a Redis Cluster.
    #[serde(deserialize_with = "yes_no_bool")]
    pub cluster_enabled: bool,
    /// `nodes.conf` file name, in `dir`.
    pub cluster_config_file: String,
    /// Milliseconds without an answer before a node counts as failing.
    pub cluster_node_timeout: u64,
    /// Cluster bus port (0 = client port + 10000).
    pub cluster_port: u16,
    /// IP address announced to the other nodes ("" = the one they see).
    pub cluster_announce_ip: String,
    /// Client port announced to the other nodes (0 = the real one).
    pub cluster_announce_port: u16,
    /// Bus port announced to the other nodes (0 = the real one).
    pub cluster_announce_bus_port: u16,
    /// Refuse key commands while some slot is not served.
    #[serde(deserialize_with = "yes_no_bool")]
    pub cluster_require_full_coverage: bool,
    /// Serve reads while the cluster state is fail.
    #[serde(deserialize_with = "yes_no_bool")]
    pub cluster_allow_reads_when_down: bool,
    /// A primary that loses its last slot becomes a replica of the new owner.
    #[serde(deserialize_with = "yes_no_bool")]
    pub cluster_allow_replica_migration: bool,
    /// This replica never fails over on its own (manual failover still runs).
    #[serde(deserialize_with = "yes_no_bool")]
    pub cluster_replica_no_failover: bool,
    /// A replica whose data is older than `node-timeout * factor` (+ the
    /// primary's 10 s ping period) does not fail over; 0 = any age.
    pub cluster_replica_validity_factor: u64,
    /// `replicaof`: "host port" of the primary being replicated ("" when
    /// none), kept by the replication service.
    #[serde(skip)]
    pub replicaof: String,
    /// `key-load-delay`: microseconds each key of an RDB load waits (-N:
    /// one key in N waits 1 µs), a testing knob.
    #[serde(skip)]
    pub key_load_delay: i64,
    /// Absolute path of the `--config` file ("" when started without one).
    #[serde(skip)]
    pub config_file: String,
    /// Options CONFIG GET/SET accept and report but nothing acts on yet.
    #[serde(skip)]
    pub tunables: Tunables,
    /// When collections leave their compact encodings.
    #[serde(skip)]
    pub encodings: super::encodings::Encodings,
}

/// Redis options accepted and reported so tools and test suites that read or
/// restore them work; they have no effect (yet). `Config::load` fills them
/// from the option table's defaults, then from command-line flags.
#[derive(Debug, Clone, Default)]
pub struct Tunables {
    /// `lfu-log-factor`.
    pub lfu_log_factor: i64,
    /// `lfu-decay-time`.
    pub lfu_decay_time: i64,
    /// `active-expire-effort`.
    pub active_expire_effort: i64,
    /// `maxmemory-eviction-tenacity`.
    pub maxmemory_eviction_tenacity: i64,
    /// `tcp-keepalive`.
    pub tcp_keepalive: i64,
    /// `lazyfree-lazy-eviction`, `-expire`, `-server-del`, `-user-del`, `-user-flush`
    /// (`-user-del` and `-user-flush` act, through `HotConfig::lazyfree`).
    pub lazyfree: [bool; 5],
    /// `protected-mode`.
    pub protected_mode: bool,
    /// `notify-keyspace-events` as class bits (`node::notify`).
    pub notify_keyspace_events: u32,
    /// `tracking-table-max-keys`.
    pub tracking_table_max_keys: u64,
}

impl Config {
    /// True when RDB save points are configured (`save` is not "").
    pub fn has_save_points(&self) -> bool {
        !self.save.trim().is_empty()
    }

    /// Bytes all clients together may use (`maxmemory-clients`, a percentage
    /// taken of `maxmemory`), never under 128 KB as in Redis; 0 = no limit.
    pub fn client_eviction_limit(&self) -> u64 {
        let limit = match self.maxmemory_clients {
            0 => return 0,
            n if n > 0 => n as u64,
            _ if self.maxmemory == 0 => return 0,
            pct => (self.maxmemory as f64 * pct.unsigned_abs() as f64 / 100.0) as u64,
        };
        limit.max(128 * 1024)
    }

    /// The cluster bus port: `cluster-port`, or the client port + 10000.
    pub fn bus_port(&self) -> u16 {
        if self.cluster_port != 0 {
            self.cluster_port
        } else {
            self.port.wrapping_add(10000)
        }
    }

    /// The cluster rule settings this configuration asks for.
    pub fn cluster_settings(&self) -> ClusterSettings {
        ClusterSettings {
            node_timeout: self.cluster_node_timeout,
            require_full_coverage: self.cluster_require_full_coverage,
            allow_reads_when_down: self.cluster_allow_reads_when_down,
            allow_replica_migration: self.cluster_allow_replica_migration,
            replica_no_failover: self.cluster_replica_no_failover,
            replica_validity_factor: self.cluster_replica_validity_factor,
            announce_ip: self.cluster_announce_ip.clone(),
        }
    }

    /// Layers the option table's defaults, an optional TOML file, `RINGCACHE_*`
    /// variables and flag overrides (`(option-name, value)` pairs, applied last).
    /// Options the file does not carry take their default and flag through the
    /// table's setters, as `CONFIG SET` would.
    pub fn load(file: Option<&str>, overrides: &[(String, String)]) -> Result<Config, ConfigError> {
        Self::layered(file, &env_layer(std::env::vars_os()), overrides)
    }

    /// The built-in defaults alone (no file, environment or flag).
    pub fn defaults() -> Config {
        match Self::layered(None, &[], &[]) {
            Ok(c) => c,
            Err(e) => unreachable!("the option table's defaults are valid: {e}"),
        }
    }

    fn layered(
        file: Option<&str>,
        env: &[(&str, String)],
        overrides: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut b = defaults_layer()?;
        if let Some(f) = file {
            b = b.add_source(config::File::new(f, config::FileFormat::Toml));
        }
        for (name, v) in env {
            b = b.set_override(*name, v.as_str())?;
        }
        let not_in_file = |k: &str| find_option(k).filter(|o| !o.in_file);
        for (k, v) in overrides {
            if not_in_file(k).is_none() {
                b = b.set_override(k.as_str(), v.as_str())?;
            }
        }
        let mut cfg: Config = b.build()?.try_deserialize()?;
        for o in OPTIONS.iter().filter(|o| !o.in_file) {
            set_at_start(&mut cfg, o, o.default)?;
        }
        for (k, v) in overrides {
            if let Some(o) = not_in_file(k) {
                set_at_start(&mut cfg, o, v)?;
            }
        }
        // Enum words are reported lower-case, however they were written.
        cfg.enable_debug_command.make_ascii_lowercase();
        cfg.enable_protected_configs.make_ascii_lowercase();
        cfg.validate()?;
        if let Some(f) = file {
            // Redis reports the absolute path, and CONFIG REWRITE must survive a chdir to `dir`.
            cfg.config_file = std::fs::canonicalize(f)
                .map_or_else(|_| f.to_string(), |p| p.to_string_lossy().into_owned());
        }
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |name: &str, reason: &str| {
            Err(ConfigError::Invalid {
                name: name.into(),
                reason: reason.into(),
            })
        };
        if EvictionPolicy::parse(&self.maxmemory_policy).is_none() {
            return bad("maxmemory-policy", "unknown policy");
        }
        if self.databases == 0 {
            return bad("databases", "must be at least 1");
        }
        if self.maxmemory_samples == 0 || self.maxmemory_samples > 64 {
            return bad("maxmemory-samples", "must be between 1 and 64");
        }
        if self.proto_max_bulk_len < 1024 * 1024 {
            return bad("proto-max-bulk-len", "must be at least 1mb");
        }
        if self.hz == 0 {
            return bad("hz", "must be at least 1");
        }
        if parse_save(&self.save).is_none() {
            return bad("save", "Invalid save parameters");
        }
        if self.dbfilename.is_empty() || self.dbfilename.contains('/') {
            return bad("dbfilename", "must be a file name in dir");
        }
        if self.appendfilename.is_empty() || self.appendfilename.contains('/') {
            return bad("appendfilename", "must be a file name in dir");
        }
        if !["always", "everysec", "no"].contains(&self.appendfsync.as_str()) {
            return bad("appendfsync", "must be always, everysec or no");
        }
        if self.cluster_node_timeout == 0 {
            return bad("cluster-node-timeout", "must be at least 1");
        }
        if self.cluster_config_file.is_empty() || self.cluster_config_file.contains('/') {
            return bad("cluster-config-file", "must be a file name in dir");
        }
        for (name, v) in [
            ("enable-debug-command", &self.enable_debug_command),
            ("enable-protected-configs", &self.enable_protected_configs),
        ] {
            if ProtectedAction::parse(v).is_none() {
                return bad(
                    name,
                    "argument(s) must be one of the following: no, yes, local",
                );
            }
        }
        if self.rename_command.iter().any(|pair| pair.len() != 2) {
            return bad("rename-command", "each entry is [\"OLD\", \"NEW\"]");
        }
        Ok(())
    }
}

/// The option table's defaults for the options the TOML file carries.
fn defaults_layer() -> Result<config::ConfigBuilder<config::builder::DefaultState>, ConfigError> {
    let mut b = config::Config::builder();
    for o in OPTIONS.iter().filter(|o| o.in_file) {
        b = b.set_default(o.name, o.default)?;
    }
    Ok(b)
}

/// The environment's layer, `(option-name, value)`: `RINGCACHE_MAXMEMORY_POLICY`
/// sets `maxmemory-policy`. It is the file's layer in another form, so it carries
/// the options the file carries; other `RINGCACHE_*` variables (`RINGCACHE_BIN`,
/// which scripts set) and variables not in UTF-8 are not configuration.
fn env_layer(vars: impl Iterator<Item = (OsString, OsString)>) -> Vec<(&'static str, String)> {
    vars.filter_map(|(k, v)| {
        let name = k.to_str()?.strip_prefix("RINGCACHE_")?;
        let o = find_option(&name.replace('_', "-")).filter(|o| o.in_file)?;
        Some((o.name, v.into_string().ok()?))
    })
    .collect()
}

/// True when `Config`'s field for the file option `name` can hold `value`
/// over the defaults (a port above 65535 cannot); nothing else is checked.
pub(super) fn field_holds(name: &str, value: &str) -> bool {
    defaults_layer()
        .and_then(|b| Ok(b.set_override(name, value)?.build()?))
        .and_then(|c| Ok(c.try_deserialize::<Config>()?))
        .is_ok()
}

/// Sets an option the TOML file does not carry; one fixed at start-up accepts
/// only the value it reports.
fn set_at_start(cfg: &mut Config, o: &ConfigOption, raw: &str) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: o.name.into(),
        reason,
    };
    let v = parse_value(o, raw).map_err(invalid)?;
    if o.mutable {
        return (o.set)(cfg, v).map_err(invalid);
    }
    let fixed = (o.get)(cfg);
    if v.text() != fixed {
        return Err(invalid(format!("only '{fixed}' is supported")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use config::Source;

    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::defaults();
        assert_eq!(c.port, 6379);
        assert_eq!(c.bind, "127.0.0.1");
        assert_eq!(c.proto_max_bulk_len, 512 * 1024 * 1024);
        let c = Config::load(
            None,
            &[
                ("maxmemory".into(), "64mb".into()),
                ("maxmemory-policy".into(), "allkeys-lru".into()),
            ],
        )
        .unwrap();
        assert_eq!(c.maxmemory, 64 * 1024 * 1024);
        assert_eq!(c.maxmemory_policy, "allkeys-lru");
        assert!(Config::load(None, &[("maxmemory-policy".into(), "nope".into())]).is_err());
    }

    #[test]
    fn default_toml_lists_the_file_options_with_their_defaults() {
        let doc = config::Config::builder()
            .add_source(config::File::from_str(
                // Documentation of the file options, checked here: the table is
                // where defaults come from.
                include_str!("../../config/default.toml"),
                config::FileFormat::Toml,
            ))
            .build()
            .unwrap();
        let listed: BTreeMap<String, String> = doc
            .collect()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.into_string().unwrap()))
            .collect();
        let table: BTreeMap<String, String> = OPTIONS
            .iter()
            .filter(|o| o.in_file)
            .map(|o| (o.name.to_string(), o.default.to_string()))
            .collect();
        assert_eq!(listed, table);
        let from_doc: Config = doc.try_deserialize().unwrap();
        let defaults = Config::defaults();
        for o in OPTIONS.iter().filter(|o| o.in_file) {
            assert_eq!((o.get)(&from_doc), (o.get)(&defaults), "{}", o.name);
        }
    }

    #[test]
    fn every_default_is_valid_for_its_option() {
        for o in OPTIONS {
            assert!(parse_value(o, o.default).is_ok(), "{}", o.name);
        }
        let t = Config::defaults().tunables;
        assert_eq!((t.lfu_log_factor, t.tcp_keepalive), (10, 300));
        assert!(t.protected_mode && t.lazyfree == [false; 5]);
    }

    #[test]
    fn the_environment_carries_the_file_options() {
        let vars = [
            ("RINGCACHE_MAXMEMORY_POLICY", "allkeys-lru"),
            ("RINGCACHE_maxmemory", "1mb"),
            ("RINGCACHE_BIN", "target/release/ringcache"),
            ("RINGCACHE_LFU_LOG_FACTOR", "3"),
            ("MAXMEMORY", "2mb"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        assert_eq!(
            env_layer(vars.into_iter()),
            vec![
                ("maxmemory-policy", "allkeys-lru".to_string()),
                ("maxmemory", "1mb".to_string())
            ]
        );
    }

    #[test]
    fn flags_for_run_time_options_go_through_the_table() {
        let flag = |k: &str, v: &str| Config::load(None, &[(k.into(), v.into())]);
        assert_eq!(
            flag("lfu-log-factor", "3").unwrap().tunables.lfu_log_factor,
            3
        );
        assert!(
            !flag("protected-mode", "no")
                .unwrap()
                .tunables
                .protected_mode
        );
        assert!(flag("daemonize", "no").is_ok());
        let e = flag("daemonize", "yes").unwrap_err().to_string();
        assert_eq!(e, "invalid value for 'daemonize': only 'no' is supported");
        let e = flag("active-expire-effort", "11").unwrap_err().to_string();
        assert!(e.contains("argument must be between 1 and 10"), "{e}");
    }
}
