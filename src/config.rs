//! `Config`: built-in defaults < `--config FILE` (TOML) < `RINGCACHE_*` environment
//! < command-line flags. The live subset is changed by `CONFIG SET`.

use serde::{Deserialize, Deserializer};
use thiserror::Error;

/// The defaults, embedded so the binary runs with no files.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// A configuration problem found at start-up or by `CONFIG SET`.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The layered sources could not be read or merged.
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// A value was out of range or malformed.
    #[error("invalid value for '{name}': {reason}")]
    Invalid {
        /// Option name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

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
    /// Keys sampled per eviction round.
    pub maxmemory_samples: u32,
    /// Number of databases in standalone mode.
    pub databases: u32,
    /// Working directory for files (snapshots, AOF, nodes.conf).
    pub dir: String,
    /// debug, verbose, notice or warning.
    pub loglevel: String,
    /// Connection limit.
    pub maxclients: u32,
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
    /// Absolute path of the `--config` file ("" when started without one).
    #[serde(skip)]
    pub config_file: String,
    /// Options CONFIG GET/SET accept and report but nothing acts on yet.
    #[serde(skip)]
    pub tunables: Tunables,
}

/// Redis options accepted and reported so tools and test suites that read or
/// restore them work; they have no effect (yet).
#[derive(Debug, Clone)]
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
    /// `lazyfree-lazy-eviction`, `-expire`, `-server-del`, `-user-del`, `-user-flush`.
    pub lazyfree: [bool; 5],
    /// `protected-mode`.
    pub protected_mode: bool,
}

impl Default for Tunables {
    fn default() -> Self {
        Tunables {
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            active_expire_effort: 1,
            maxmemory_eviction_tenacity: 10,
            tcp_keepalive: 300,
            lazyfree: [false; 5],
            protected_mode: true,
        }
    }
}

/// Parses `100mb`, `1gb`, `512k`, `4096` as Redis's `memtoull` does
/// (k/m/g = 1000-based, kb/mb/gb = 1024-based).
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// A boolean written as TOML `true`/`false` or Redis's `yes`/`no`.
fn yes_no_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        B(bool),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::B(b) => Ok(b),
        Raw::S(s) => match s.to_ascii_lowercase().as_str() {
            "yes" | "true" => Ok(true),
            "no" | "false" => Ok(false),
            _ => Err(serde::de::Error::custom(format!(
                "expected yes or no, got '{s}'"
            ))),
        },
    }
}

fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(n),
        Raw::S(s) => {
            parse_size(&s).ok_or_else(|| serde::de::Error::custom(format!("bad size '{s}'")))
        }
    }
}

/// One client class's output limits: past `hard` bytes, or past `soft`
/// bytes for `soft_seconds` in a row, the client is disconnected (0 = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimit {
    /// Bytes that disconnect at once.
    pub hard: u64,
    /// Bytes that disconnect when held for `soft_seconds`.
    pub soft: u64,
    /// How long the soft limit may be exceeded.
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit`: the limits of each client class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Ordinary clients.
    pub normal: OutputLimit,
    /// Replica links (replication output).
    pub replica: OutputLimit,
    /// Pub/sub subscribers.
    pub pubsub: OutputLimit,
}

impl Default for OutputLimits {
    /// Redis's defaults.
    fn default() -> Self {
        let limit = |hard, soft, soft_seconds| OutputLimit {
            hard,
            soft,
            soft_seconds,
        };
        OutputLimits {
            normal: limit(0, 0, 0),
            replica: limit(256 * MB, 64 * MB, 60),
            pubsub: limit(32 * MB, 8 * MB, 60),
        }
    }
}

impl OutputLimits {
    /// Applies `class hard soft soft-seconds` groups (sizes with Redis's
    /// units) on top of `self`, as Redis's CONFIG SET does ("" changes nothing).
    pub fn apply(mut self, text: &str) -> Result<OutputLimits, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        if !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        for g in words.chunks(4) {
            let class = match g[0].to_ascii_lowercase().as_str() {
                "normal" => &mut self.normal,
                "replica" | "slave" => &mut self.replica,
                "pubsub" => &mut self.pubsub,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let bad =
                || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            let hard = parse_size(g[1]).ok_or_else(bad)?;
            let soft = parse_size(g[2]).ok_or_else(bad)?;
            let soft_seconds: u64 = g[3].parse().map_err(|_| bad())?;
            *class = OutputLimit {
                hard,
                soft,
                soft_seconds,
            };
        }
        Ok(self)
    }

    /// The value as Redis's CONFIG GET shows it.
    pub fn render(&self) -> String {
        let f = |l: &OutputLimit| format!("{} {} {}", l.hard, l.soft, l.soft_seconds);
        format!(
            "normal {} slave {} pubsub {}",
            f(&self.normal),
            f(&self.replica),
            f(&self.pubsub)
        )
    }
}

fn output_limits<'de, D: Deserializer<'de>>(d: D) -> Result<OutputLimits, D::Error> {
    let text = String::deserialize(d)?;
    OutputLimits::default()
        .apply(&text)
        .map_err(serde::de::Error::custom)
}

impl Config {
    /// True when RDB save points are configured (`save` is not "").
    pub fn has_save_points(&self) -> bool {
        !self.save.trim().is_empty()
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
    pub fn cluster_settings(&self) -> crate::cluster::topology::Settings {
        crate::cluster::topology::Settings {
            node_timeout: self.cluster_node_timeout,
            require_full_coverage: self.cluster_require_full_coverage,
            allow_reads_when_down: self.cluster_allow_reads_when_down,
            allow_replica_migration: self.cluster_allow_replica_migration,
            replica_no_failover: self.cluster_replica_no_failover,
            replica_validity_factor: self.cluster_replica_validity_factor,
            announce_ip: self.cluster_announce_ip.clone(),
        }
    }

    /// Layers defaults, an optional TOML file, `RINGCACHE_*` variables and flag
    /// overrides (`(option-name, value)` pairs, applied last).
    pub fn load(file: Option<&str>, overrides: &[(String, String)]) -> Result<Config, ConfigError> {
        let mut b = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(f) = file {
            b = b.add_source(config::File::new(f, config::FileFormat::Toml));
        }
        // RINGCACHE_MAXMEMORY_POLICY → maxmemory-policy.
        for (k, v) in std::env::vars() {
            if let Some(name) = k.strip_prefix("RINGCACHE_") {
                b = b.set_override(name.to_ascii_lowercase().replace('_', "-"), v)?;
            }
        }
        for (k, v) in overrides {
            b = b.set_override(k.as_str(), v.as_str())?;
        }
        let mut cfg: Config = b.build()?.try_deserialize()?;
        cfg.validate()?;
        if let Some(f) = file {
            // Redis reports the absolute path, and CONFIG REWRITE must survive a chdir to `dir`.
            cfg.config_file = std::fs::canonicalize(f)
                .map_or_else(|_| f.to_string(), |p| p.to_string_lossy().into_owned());
        }
        Ok(cfg)
    }

    /// The built-in defaults alone.
    pub fn defaults() -> Config {
        match Self::load(None, &[]) {
            Ok(c) => c,
            Err(e) => unreachable!("embedded defaults are valid: {e}"),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |name: &str, reason: &str| {
            Err(ConfigError::Invalid {
                name: name.into(),
                reason: reason.into(),
            })
        };
        if crate::store::evict::Policy::parse(&self.maxmemory_policy).is_none() {
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
        Ok(())
    }
}

/// How `CONFIG SET` parses an option's value (and which Redis error it gives).
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `yes` or `no`.
    Bool,
    /// An integer in `min..=max`.
    Int(i64, i64),
    /// A memory size such as `100mb`, in `min..=max` bytes.
    Size(u64, u64),
    /// One of the listed words (case-insensitive).
    Enum(&'static [&'static str]),
    /// Any string.
    Str,
}

/// A value parsed according to its option's `Kind`.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    /// From `Kind::Bool`.
    Bool(bool),
    /// From `Kind::Int` or `Kind::Size`.
    Int(i64),
    /// From `Kind::Enum` (lower-cased) or `Kind::Str`.
    Str(&'a str),
}

impl Val<'_> {
    fn int(self) -> i64 {
        match self {
            Val::Int(n) => n,
            Val::Bool(b) => b as i64,
            Val::Str(_) => 0,
        }
    }

    fn flag(self) -> bool {
        matches!(self, Val::Bool(true))
    }

    fn text(self) -> String {
        match self {
            Val::Str(s) => s.to_string(),
            Val::Int(n) => n.to_string(),
            Val::Bool(b) => yes_no(b).to_string(),
        }
    }
}

/// Reads an option as `CONFIG GET` shows it.
pub type Getter = fn(&Config) -> String;
/// Stores a parsed value; `Err` is Redis's reason text.
pub type Setter = fn(&mut Config, Val<'_>) -> Result<(), String>;

/// One `CONFIG GET/SET` option.
pub struct ConfigOption {
    /// Redis's option name.
    pub name: &'static str,
    /// Value syntax.
    pub kind: Kind,
    /// False for options fixed at start-up (`can't set immutable config`).
    pub mutable: bool,
    /// True when the option is a field of the TOML file (`CONFIG REWRITE` writes it).
    pub in_file: bool,
    /// Current value.
    pub get: Getter,
    /// New value.
    pub set: Setter,
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn immutable(_: &mut Config, _: Val<'_>) -> Result<(), String> {
    Err("can't set immutable config".into())
}

const fn opt(name: &'static str, kind: Kind, get: Getter, set: Setter) -> ConfigOption {
    ConfigOption {
        name,
        kind,
        mutable: true,
        in_file: true,
        get,
        set,
    }
}

/// An option the TOML file does not carry (reported and settable only at run time).
const fn live(name: &'static str, kind: Kind, get: Getter, set: Setter) -> ConfigOption {
    ConfigOption {
        in_file: false,
        ..opt(name, kind, get, set)
    }
}

const fn fixed(name: &'static str, in_file: bool, get: Getter) -> ConfigOption {
    ConfigOption {
        name,
        kind: Kind::Str,
        mutable: false,
        in_file,
        get,
        set: immutable,
    }
}

const I32: i64 = i32::MAX as i64;
const MB: u64 = 1024 * 1024;
/// `maxmemory-policy` words, in the order Redis lists them in its error.
const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
    "allkeys-fifo",
];

/// Every option `CONFIG GET` knows, as data: name, syntax, getter, setter.
pub static OPTIONS: &[ConfigOption] = &[
    fixed("bind", true, |c| c.bind.clone()),
    fixed("port", true, |c| c.port.to_string()),
    fixed("databases", true, |c| c.databases.to_string()),
    fixed("dir", true, |_| {
        std::env::current_dir().map_or_else(|_| ".".into(), |p| p.to_string_lossy().into_owned())
    }),
    fixed("daemonize", false, |_| "no".into()),
    fixed("cluster-enabled", true, |c| {
        yes_no(c.cluster_enabled).into()
    }),
    fixed("cluster-config-file", true, |c| {
        c.cluster_config_file.clone()
    }),
    fixed("cluster-port", true, |c| c.cluster_port.to_string()),
    opt(
        "cluster-node-timeout",
        Kind::Int(1, i64::MAX),
        |c| c.cluster_node_timeout.to_string(),
        |c, v| {
            c.cluster_node_timeout = v.int() as u64;
            Ok(())
        },
    ),
    opt(
        "cluster-announce-ip",
        Kind::Str,
        |c| c.cluster_announce_ip.clone(),
        |c, v| {
            c.cluster_announce_ip = v.text();
            Ok(())
        },
    ),
    fixed("cluster-announce-port", true, |c| {
        c.cluster_announce_port.to_string()
    }),
    fixed("cluster-announce-bus-port", true, |c| {
        c.cluster_announce_bus_port.to_string()
    }),
    opt(
        "cluster-require-full-coverage",
        Kind::Bool,
        |c| yes_no(c.cluster_require_full_coverage).into(),
        |c, v| {
            c.cluster_require_full_coverage = v.flag();
            Ok(())
        },
    ),
    opt(
        "cluster-allow-reads-when-down",
        Kind::Bool,
        |c| yes_no(c.cluster_allow_reads_when_down).into(),
        |c, v| {
            c.cluster_allow_reads_when_down = v.flag();
            Ok(())
        },
    ),
    opt(
        "cluster-allow-replica-migration",
        Kind::Bool,
        |c| yes_no(c.cluster_allow_replica_migration).into(),
        |c, v| {
            c.cluster_allow_replica_migration = v.flag();
            Ok(())
        },
    ),
    opt(
        "cluster-replica-no-failover",
        Kind::Bool,
        |c| yes_no(c.cluster_replica_no_failover).into(),
        |c, v| {
            c.cluster_replica_no_failover = v.flag();
            Ok(())
        },
    ),
    opt(
        "cluster-replica-validity-factor",
        Kind::Int(0, I32),
        |c| c.cluster_replica_validity_factor.to_string(),
        |c, v| {
            c.cluster_replica_validity_factor = v.int() as u64;
            Ok(())
        },
    ),
    fixed("io-threads", false, |_| "1".into()),
    fixed("appendfilename", true, |c| c.appendfilename.clone()),
    opt(
        "requirepass",
        Kind::Str,
        |c| c.requirepass.clone(),
        |c, v| {
            c.requirepass = v.text();
            Ok(())
        },
    ),
    opt(
        "maxmemory",
        Kind::Size(0, u64::MAX),
        |c| c.maxmemory.to_string(),
        |c, v| {
            c.maxmemory = v.int() as u64;
            Ok(())
        },
    ),
    opt(
        "maxmemory-policy",
        Kind::Enum(POLICIES),
        |c| c.maxmemory_policy.clone(),
        |c, v| {
            c.maxmemory_policy = v.text();
            Ok(())
        },
    ),
    opt(
        "maxmemory-samples",
        Kind::Int(1, I32),
        |c| c.maxmemory_samples.to_string(),
        |c, v| {
            c.maxmemory_samples = v.int() as u32;
            Ok(())
        },
    ),
    opt(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning"]),
        |c| c.loglevel.clone(),
        |c, v| {
            c.loglevel = v.text();
            Ok(())
        },
    ),
    opt(
        "maxclients",
        Kind::Int(1, u32::MAX as i64),
        |c| c.maxclients.to_string(),
        |c, v| {
            c.maxclients = v.int() as u32;
            Ok(())
        },
    ),
    opt(
        "timeout",
        Kind::Int(0, I32),
        |c| c.timeout.to_string(),
        |c, v| {
            c.timeout = v.int() as u64;
            Ok(())
        },
    ),
    opt(
        "proto-max-bulk-len",
        Kind::Size(MB, i64::MAX as u64),
        |c| c.proto_max_bulk_len.to_string(),
        |c, v| {
            c.proto_max_bulk_len = v.int() as u64;
            Ok(())
        },
    ),
    opt(
        "client-query-buffer-limit",
        Kind::Size(MB, i64::MAX as u64),
        |c| c.client_query_buffer_limit.to_string(),
        |c, v| {
            c.client_query_buffer_limit = v.int() as u64;
            Ok(())
        },
    ),
    // Redis clamps hz into 1..=500 instead of refusing it.
    opt(
        "hz",
        Kind::Int(0, I32),
        |c| c.hz.to_string(),
        |c, v| {
            c.hz = v.int().clamp(1, 500) as u32;
            Ok(())
        },
    ),
    opt(
        "slowlog-log-slower-than",
        Kind::Int(i64::MIN, i64::MAX),
        |c| c.slowlog_log_slower_than.to_string(),
        |c, v| {
            c.slowlog_log_slower_than = v.int();
            Ok(())
        },
    ),
    opt(
        "slowlog-max-len",
        Kind::Int(0, i64::MAX),
        |c| c.slowlog_max_len.to_string(),
        |c, v| {
            c.slowlog_max_len = v.int() as u64;
            Ok(())
        },
    ),
    opt(
        "latency-monitor-threshold",
        Kind::Int(0, i64::MAX),
        |c| c.latency_monitor_threshold.to_string(),
        |c, v| {
            c.latency_monitor_threshold = v.int() as u64;
            Ok(())
        },
    ),
    opt("save", Kind::Str, |c| c.save.clone(), set_save),
    opt(
        "masterauth",
        Kind::Str,
        |c| c.masterauth.clone(),
        |c, v| {
            c.masterauth = v.text();
            Ok(())
        },
    ),
    opt(
        "replica-read-only",
        Kind::Bool,
        |c| yes_no(c.replica_read_only).into(),
        |c, v| {
            c.replica_read_only = v.flag();
            Ok(())
        },
    ),
    opt(
        "replica-ignore-maxmemory",
        Kind::Bool,
        |c| yes_no(c.replica_ignore_maxmemory).into(),
        |c, v| {
            c.replica_ignore_maxmemory = v.flag();
            Ok(())
        },
    ),
    opt(
        "client-output-buffer-limit",
        Kind::Str,
        |c| c.client_output_buffer_limit.render(),
        |c, v| {
            c.client_output_buffer_limit = c.client_output_buffer_limit.apply(&v.text())?;
            Ok(())
        },
    ),
    fixed("repl-backlog-size", false, |c| {
        c.repl_backlog_size.to_string()
    }),
    opt(
        "min-replicas-to-write",
        Kind::Int(0, I32),
        |c| c.min_replicas_to_write.to_string(),
        |c, v| {
            c.min_replicas_to_write = v.int() as u32;
            Ok(())
        },
    ),
    opt(
        "min-replicas-max-lag",
        Kind::Int(0, I32),
        |c| c.min_replicas_max_lag.to_string(),
        |c, v| {
            c.min_replicas_max_lag = v.int() as u32;
            Ok(())
        },
    ),
    opt(
        "appendonly",
        Kind::Bool,
        |c| yes_no(c.appendonly).into(),
        |c, v| {
            c.appendonly = v.flag();
            Ok(())
        },
    ),
    opt(
        "appendfsync",
        Kind::Enum(&["always", "everysec", "no"]),
        |c| c.appendfsync.clone(),
        |c, v| {
            c.appendfsync = v.text();
            Ok(())
        },
    ),
    opt(
        "rdbcompression",
        Kind::Bool,
        |c| yes_no(c.rdbcompression).into(),
        |c, v| {
            c.rdbcompression = v.flag();
            Ok(())
        },
    ),
    opt(
        "rdbchecksum",
        Kind::Bool,
        |c| yes_no(c.rdbchecksum).into(),
        |c, v| {
            c.rdbchecksum = v.flag();
            Ok(())
        },
    ),
    opt(
        "stop-writes-on-bgsave-error",
        Kind::Bool,
        |c| yes_no(c.stop_writes_on_bgsave_error).into(),
        |c, v| {
            c.stop_writes_on_bgsave_error = v.flag();
            Ok(())
        },
    ),
    opt(
        "aof-load-truncated",
        Kind::Bool,
        |c| yes_no(c.aof_load_truncated).into(),
        |c, v| {
            c.aof_load_truncated = v.flag();
            Ok(())
        },
    ),
    opt(
        "aof-use-rdb-preamble",
        Kind::Bool,
        |c| yes_no(c.aof_use_rdb_preamble).into(),
        |c, v| {
            c.aof_use_rdb_preamble = v.flag();
            Ok(())
        },
    ),
    opt(
        "auto-aof-rewrite-percentage",
        Kind::Int(0, I32),
        |c| c.auto_aof_rewrite_percentage.to_string(),
        |c, v| {
            c.auto_aof_rewrite_percentage = v.int() as u64;
            Ok(())
        },
    ),
    opt(
        "auto-aof-rewrite-min-size",
        Kind::Size(0, i64::MAX as u64),
        |c| c.auto_aof_rewrite_min_size.to_string(),
        |c, v| {
            c.auto_aof_rewrite_min_size = v.int() as u64;
            Ok(())
        },
    ),
    live(
        "lfu-log-factor",
        Kind::Int(0, I32),
        |c| c.tunables.lfu_log_factor.to_string(),
        |c, v| {
            c.tunables.lfu_log_factor = v.int();
            Ok(())
        },
    ),
    live(
        "lfu-decay-time",
        Kind::Int(0, I32),
        |c| c.tunables.lfu_decay_time.to_string(),
        |c, v| {
            c.tunables.lfu_decay_time = v.int();
            Ok(())
        },
    ),
    live(
        "active-expire-effort",
        Kind::Int(1, 10),
        |c| c.tunables.active_expire_effort.to_string(),
        |c, v| {
            c.tunables.active_expire_effort = v.int();
            Ok(())
        },
    ),
    live(
        "maxmemory-eviction-tenacity",
        Kind::Int(0, 100),
        |c| c.tunables.maxmemory_eviction_tenacity.to_string(),
        |c, v| {
            c.tunables.maxmemory_eviction_tenacity = v.int();
            Ok(())
        },
    ),
    live(
        "tcp-keepalive",
        Kind::Int(0, I32),
        |c| c.tunables.tcp_keepalive.to_string(),
        |c, v| {
            c.tunables.tcp_keepalive = v.int();
            Ok(())
        },
    ),
    opt(
        "dbfilename",
        Kind::Str,
        |c| c.dbfilename.clone(),
        |c, v| {
            let name = v.text();
            if name.contains('/') {
                return Err("dbfilename can't be a path, just a filename".into());
            }
            c.dbfilename = name;
            Ok(())
        },
    ),
    live(
        "protected-mode",
        Kind::Bool,
        |c| yes_no(c.tunables.protected_mode).into(),
        |c, v| {
            c.tunables.protected_mode = v.flag();
            Ok(())
        },
    ),
    live(
        "lazyfree-lazy-eviction",
        Kind::Bool,
        |c| yes_no(c.tunables.lazyfree[0]).into(),
        |c, v| {
            c.tunables.lazyfree[0] = v.flag();
            Ok(())
        },
    ),
    live(
        "lazyfree-lazy-expire",
        Kind::Bool,
        |c| yes_no(c.tunables.lazyfree[1]).into(),
        |c, v| {
            c.tunables.lazyfree[1] = v.flag();
            Ok(())
        },
    ),
    live(
        "lazyfree-lazy-server-del",
        Kind::Bool,
        |c| yes_no(c.tunables.lazyfree[2]).into(),
        |c, v| {
            c.tunables.lazyfree[2] = v.flag();
            Ok(())
        },
    ),
    live(
        "lazyfree-lazy-user-del",
        Kind::Bool,
        |c| yes_no(c.tunables.lazyfree[3]).into(),
        |c, v| {
            c.tunables.lazyfree[3] = v.flag();
            Ok(())
        },
    ),
    live(
        "lazyfree-lazy-user-flush",
        Kind::Bool,
        |c| yes_no(c.tunables.lazyfree[4]).into(),
        |c, v| {
            c.tunables.lazyfree[4] = v.flag();
            Ok(())
        },
    ),
];

/// `save`: "" or pairs of positive integers (Redis's syntax check); only "" is
/// accepted because snapshots do not exist yet.
fn set_save(c: &mut Config, v: Val<'_>) -> Result<(), String> {
    let text = v.text();
    let points = parse_save(&text).ok_or_else(|| "Invalid save parameters".to_string())?;
    c.save = points
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(())
}

/// Parses save points: `seconds changes` pairs separated by spaces.
pub fn parse_save(text: &str) -> Option<Vec<(u64, u64)>> {
    let parts: Vec<u64> = text
        .split_whitespace()
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<_>>()?;
    if !parts.len().is_multiple_of(2) {
        return None;
    }
    Some(parts.chunks(2).map(|p| (p[0], p[1])).collect())
}

/// Finds an option by name (case-insensitive).
pub fn find_option(name: &str) -> Option<&'static ConfigOption> {
    OPTIONS.iter().find(|o| o.name.eq_ignore_ascii_case(name))
}

/// Parses `raw` for `o`, giving Redis's reason text on failure.
pub fn parse_value<'a>(o: &ConfigOption, raw: &'a str) -> Result<Val<'a>, String> {
    let range =
        |min: i128, max: i128| format!("argument must be between {min} and {max} inclusive");
    match o.kind {
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "yes" => Ok(Val::Bool(true)),
            "no" => Ok(Val::Bool(false)),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int(min, max) => {
            let n: i64 = raw
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if n < min || n > max {
                return Err(range(min as i128, max as i128));
            }
            Ok(Val::Int(n))
        }
        Kind::Size(min, max) => {
            let n = parse_size(raw).ok_or_else(|| "argument must be a memory value".to_string())?;
            if n < min || n > max {
                return Err(range(min as i128, max as i128));
            }
            Ok(Val::Int(n as i64))
        }
        Kind::Enum(words) => words
            .iter()
            .find(|w| w.eq_ignore_ascii_case(raw))
            .map(|w| Val::Str(w))
            .ok_or_else(|| {
                format!(
                    "argument(s) must be one of the following: {}",
                    words.join(", ")
                )
            }),
        Kind::Str => Ok(Val::Str(raw)),
    }
}

/// Renders the options the TOML file carries, for `CONFIG REWRITE`.
pub fn to_toml(cfg: &Config) -> String {
    let mut out = String::from("# Rewritten by CONFIG REWRITE.\n");
    for o in OPTIONS.iter().filter(|o| o.in_file) {
        let v = (o.get)(cfg);
        let quoted = v
            .parse::<i64>()
            .map_or_else(|_| format!("{v:?}"), |n| n.to_string());
        out.push_str(&format!("{} = {}\n", o.name, quoted));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100mb"), Some(100 * 1024 * 1024));
        assert_eq!(parse_size("1gb"), Some(1 << 30));
        assert_eq!(parse_size("1G"), Some(1_000_000_000));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("12xb"), None);
        assert_eq!(parse_size("-1"), None);
    }

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
    fn option_values_parse_with_redis_errors() {
        let o = |n| find_option(n).unwrap();
        assert!(matches!(parse_value(o("maxmemory"), "100mb"), Ok(Val::Int(n)) if n == 100 << 20));
        assert_eq!(
            parse_value(o("maxmemory"), "abc").unwrap_err(),
            "argument must be a memory value"
        );
        assert_eq!(
            parse_value(o("timeout"), "-1").unwrap_err(),
            "argument must be between 0 and 2147483647 inclusive"
        );
        assert_eq!(
            parse_value(o("slowlog-log-slower-than"), "x").unwrap_err(),
            "argument couldn't be parsed into an integer"
        );
        assert_eq!(
            parse_value(o("appendonly"), "maybe").unwrap_err(),
            "argument must be 'yes' or 'no'"
        );
        assert!(parse_value(o("loglevel"), "foo")
            .unwrap_err()
            .starts_with("argument(s) must be one of the following: debug, verbose"));
        assert!(find_option("MaxMemory").is_some());
        assert!(find_option("nosuch").is_none());
    }

    #[test]
    fn setters_apply_and_clamp() {
        let mut c = Config::defaults();
        let set = |c: &mut Config, n: &str, v: &str| {
            let o = find_option(n).unwrap();
            let val = parse_value(o, v)?;
            (o.set)(c, val)
        };
        set(&mut c, "hz", "1000").unwrap();
        assert_eq!(c.hz, 500);
        set(&mut c, "hz", "0").unwrap();
        assert_eq!(c.hz, 1);
        set(&mut c, "maxmemory-policy", "ALLKEYS-LRU").unwrap();
        assert_eq!(
            (find_option("maxmemory-policy").unwrap().get)(&c),
            "allkeys-lru"
        );
        assert_eq!(
            set(&mut c, "databases", "3").unwrap_err(),
            "can't set immutable config"
        );
        assert_eq!(
            set(&mut c, "save", "x").unwrap_err(),
            "Invalid save parameters"
        );
        set(&mut c, "save", "").unwrap();
        set(&mut c, "save", "3600  1 300 100").unwrap();
        assert_eq!(c.save, "3600 1 300 100");
        assert_eq!(parse_save(&c.save), Some(vec![(3600, 1), (300, 100)]));
        let names: Vec<&str> = OPTIONS.iter().map(|o| o.name).collect();
        let mut dedup = names.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(names.len(), dedup.len(), "duplicate option names");
    }

    #[test]
    fn rewrite_round_trips_through_load() {
        let mut c = Config::defaults();
        c.maxmemory = 12345;
        c.requirepass = "p\"w".into();
        let dir = std::env::temp_dir().join(format!("rc-rewrite-{}.toml", std::process::id()));
        std::fs::write(&dir, to_toml(&c)).unwrap();
        let back = Config::load(dir.to_str(), &[]).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(back.maxmemory, 12345);
        assert_eq!(back.requirepass, "p\"w");
    }
}
