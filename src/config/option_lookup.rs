//! Finding an option by its name (or a Redis 6 alias), parsing a value for
//! it, and rendering a configuration as the TOML file `CONFIG REWRITE` writes.

use super::options::{ConfigOption, OPTIONS};
use super::value::{parse_size, parse_size_or_percent, OptionType, Val};
use super::Config;

/// Finds an option by name (case-insensitive).
pub fn find_option(name: &str) -> Option<&'static ConfigOption> {
    let name = ALIASES
        .iter()
        .find(|(old, _)| old.eq_ignore_ascii_case(name))
        .map_or(name, |(_, new)| new);
    OPTIONS.iter().find(|o| o.name.eq_ignore_ascii_case(name))
}

/// Every name `CONFIG GET` matches a pattern against, with its option: each
/// option's own name, then each alias (Redis 7.0 lists both, so `*of` gives
/// `replicaof` and `slaveof`). Hidden options answer only to their exact name.
pub fn names_for_patterns() -> impl Iterator<Item = (&'static str, &'static ConfigOption)> {
    let own = OPTIONS.iter().map(|o| (o.name, o));
    let aliases = ALIASES
        .iter()
        .filter_map(|(old, new)| find_option(new).map(|o| (*old, o)));
    own.chain(aliases).filter(|(_, o)| !o.hidden)
}

/// The other names Redis 7.0 accepts for an option, old name first
/// (`CONFIG GET/SET` answer under the name asked for).
pub const ALIASES: &[(&str, &str)] = &[
    ("slaveof", "replicaof"),
    ("slave-read-only", "replica-read-only"),
    ("slave-ignore-maxmemory", "replica-ignore-maxmemory"),
    ("min-slaves-to-write", "min-replicas-to-write"),
    ("min-slaves-max-lag", "min-replicas-max-lag"),
    ("cluster-slave-no-failover", "cluster-replica-no-failover"),
    (
        "cluster-slave-validity-factor",
        "cluster-replica-validity-factor",
    ),
    ("lua-time-limit", "busy-reply-threshold"),
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
];

/// Parses `raw` for `o`, giving Redis's reason text on failure.
pub fn parse_value<'a>(o: &ConfigOption, raw: &'a str) -> Result<Val<'a>, String> {
    let range =
        |min: i128, max: i128| format!("argument must be between {min} and {max} inclusive");
    match o.ty {
        OptionType::Bool => match raw.to_ascii_lowercase().as_str() {
            "yes" => Ok(Val::Bool(true)),
            "no" => Ok(Val::Bool(false)),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        OptionType::Int(min, max) => {
            let n: i64 = raw
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if n < min || n > max {
                return Err(range(min as i128, max as i128));
            }
            Ok(Val::Int(n))
        }
        OptionType::Size(min, max) => {
            let n = parse_size(raw).ok_or_else(|| "argument must be a memory value".to_string())?;
            if n < min || n > max {
                return Err(range(min as i128, max as i128));
            }
            Ok(Val::Int(n as i64))
        }
        OptionType::MemoryOrPercent(max_percent) => {
            let n = parse_size_or_percent(raw)
                .ok_or_else(|| "argument must be a memory or percent value".to_string())?;
            if n < -max_percent {
                return Err(format!(
                    "percentage argument must be less or equal to {max_percent}"
                ));
            }
            Ok(Val::Int(n))
        }
        OptionType::Enum(words) => words
            .iter()
            .find(|w| w.eq_ignore_ascii_case(raw))
            .map(|w| Val::Str(w))
            .ok_or_else(|| {
                format!(
                    "argument(s) must be one of the following: {}",
                    words.join(", ")
                )
            }),
        OptionType::Str => Ok(Val::Str(raw)),
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
    // Not an option, but the file's directive survives a rewrite (as Redis
    // keeps the lines it does not rewrite).
    if !cfg.rename_command.is_empty() {
        let pairs: Vec<String> = cfg
            .rename_command
            .iter()
            .map(|p| {
                format!(
                    "[{}]",
                    p.iter()
                        .map(|w| format!("{w:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        out.push_str(&format!("rename-command = [{}]\n", pairs.join(", ")));
    }
    out
}
