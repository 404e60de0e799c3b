//! Configuration, the lowest layer besides the pure leaves: it imports neither
//! `store/` nor `cluster/`, which read their settings from it.
//!
//! `Config`: built-in defaults < `--config FILE` (TOML) < `RINGCACHE_*` environment
//! < command-line flags. The live subset is changed by `CONFIG SET`.
//!
//! Layout:
//! - `cli`: the command line, one flag per option plus `--config` and `--replicaof`;
//! - `load`: the `Config` struct, its layered loading and start-up checks;
//! - `options`: the `OPTIONS` table and what is derived from it (`CONFIG GET/SET`,
//!   `CONFIG REWRITE`); `option_kinds`: what an entry is and the kinds of
//!   entry (file, live, fixed; hot, hidden, protected; the encoding-limit and
//!   lazyfree macros); `option_lookup`: finding an option by name or alias,
//!   parsing a value for it, the TOML a rewrite writes;
//! - `hot`: `HotConfig`, the atomics hot paths read (filled by the table's hooks);
//! - `value`: value syntax (sizes, `yes`/`no`, save points, an option's `OptionType`);
//! - `encodings`: the compact-encoding limits (`Encodings`, `HotEncodings`);
//! - `output`: `client-output-buffer-limit`;
//! - `protected`: `enable-debug-command` / `enable-protected-configs` (who may);
//! - `eviction`: the `maxmemory-policy` names (`store::access::Policy` is this type);
//! - `cluster`: the cluster rule settings (`cluster::topology::Settings` is this type);
//! - `keyspace_events`: `notify-keyspace-events`' classes and letters.

pub mod cli;
mod cluster;
mod encodings;
mod eviction;
mod hot;
pub mod keyspace_events;
mod load;
#[macro_use]
mod option_kinds;
mod option_lookup;
mod options;
mod output;
mod protected;
mod value;

use thiserror::Error;

pub use cluster::ClusterSettings;
pub use encodings::{Encodings, HotEncodings};
pub use eviction::EvictionPolicy;
pub use hot::HotConfig;
pub use load::{Config, Tunables};
pub use option_lookup::{find_option, names_for_patterns, parse_value, to_toml};
pub use options::{ConfigOption, Getter, HotHook, Setter, OPTIONS};
pub use output::{OutputLimit, OutputLimits};
pub use protected::{ProtectedAction, PROTECTED_WORDS};
pub use value::{parse_save, parse_size, parse_size_or_percent, OptionType, Val};

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
