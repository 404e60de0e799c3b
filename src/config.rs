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
    /// Absolute path of the `--config` file ("" when started without one).
    #[serde(skip)]
    pub config_file: String,
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

impl Config {
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
        Ok(())
    }
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
}
