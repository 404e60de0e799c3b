//! The command line, derived from the option table: every option is a
//! `--name value` flag (but `replicaof`, spelt `--replicaof HOST PORT`), plus the flags that are not options (`--config FILE`,
//! `--replicaof HOST PORT` alias `--slaveof`, `--rename-command OLD NEW`, `--help`, `--version`).
//!
//! Values stay text here and are checked where every layer's are, by
//! `Config::load`; only integers are checked for their syntax, so a malformed
//! number is a usage error as it was when the flags were typed fields.

use std::ffi::OsString;
use std::num::ParseIntError;

use clap::builder::ValueParser;
use clap::{Arg, ArgMatches, Command};

use super::load::field_holds;
use super::options::{ConfigOption, OPTIONS};
use super::value::OptionType;

/// What the command line asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// `--config FILE`: a TOML file layered over the defaults.
    pub config: Option<String>,
    /// `--replicaof HOST PORT`: replicate from start.
    pub replicaof: Option<Vec<String>>,
    /// `(option-name, value)` for every option given, in table order.
    pub overrides: Vec<(String, String)>,
    /// `--rename-command OLD NEW` (repeatable; NEW "" removes the command),
    /// after the file's `rename-command` pairs.
    pub renames: Vec<(String, String)>,
}

/// Flag names that are not options, so no option may take them.
pub const NOT_OPTIONS: &[&str] = &[
    "config",
    "replicaof",
    "slaveof",
    "rename-command",
    "help",
    "version",
];

/// The `ringcache` command: the non-option flags and one flag per option.
pub fn command() -> Command {
    let cmd = Command::new("ringcache")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A Redis-compatible, cluster-native cache server")
        .arg(
            Arg::new("config")
                .long("config")
                .value_name("CONFIG")
                .help("TOML configuration file (layered over the built-in defaults)"),
        )
        .arg(
            Arg::new("replicaof")
                .long("replicaof")
                .alias("slaveof")
                .num_args(2)
                .value_names(["HOST", "PORT"])
                .help("Replicate HOST PORT from start"),
        )
        .arg(
            Arg::new("rename-command")
                .long("rename-command")
                .num_args(2)
                .value_names(["OLD", "NEW"])
                .action(clap::ArgAction::Append)
                .allow_hyphen_values(true)
                .help("Serve command OLD as NEW (\"\" removes it), as Redis's rename-command"),
        );
    OPTIONS
        .iter()
        .filter(|o| o.flag)
        .fold(cmd, |cmd, o| cmd.arg(flag(o)))
}

/// An option's flag; its help is the option's syntax and default.
fn flag(o: &'static ConfigOption) -> Arg {
    let arg = Arg::new(o.name).long(o.name);
    let default = match o.ty {
        OptionType::Str => format!("default: {:?}", o.default),
        _ => format!("default: {}", o.default),
    };
    match o.ty {
        OptionType::Bool => arg.value_name("yes|no").help(default),
        // The typed flags these replace refused a sign on an unsigned value
        // (`-1` read as a flag), a non-number and a number too wide for the
        // field, before loading began.
        OptionType::Int(min, _) if min >= 0 => arg
            .value_name("N")
            .value_parser(ValueParser::new(move |s: &str| unsigned(o, s)))
            .help(default),
        OptionType::Int(..) => arg
            .value_name("N")
            .value_parser(ValueParser::new(signed))
            .allow_negative_numbers(true)
            .help(default),
        OptionType::Size(..) => arg.value_name("SIZE").help(format!(
            "bytes, or with a unit: 512k, 64mb, 1gb ({default})"
        )),
        OptionType::MemoryOrPercent(_) => arg.value_name("SIZE|N%").help(format!(
            "bytes, with a unit, or a percentage of maxmemory ({default})"
        )),
        OptionType::Enum(words) => arg
            .value_name("NAME")
            .help(format!("{} ({default})", words.join(", "))),
        OptionType::Str => arg.value_name("VALUE").help(default),
    }
}

/// A number without sign that `o`'s field can hold, written plainly.
fn unsigned(o: &ConfigOption, s: &str) -> Result<String, String> {
    let n = s.parse::<u64>().map_err(|e| e.to_string())?.to_string();
    if o.in_file && !field_holds(o.name, &n) {
        // What the typed flag's integer parse said.
        return Err("number too large to fit in target type".into());
    }
    Ok(n)
}

fn signed(s: &str) -> Result<String, ParseIntError> {
    s.parse::<i64>().map(|n| n.to_string())
}

impl Flags {
    /// Parses the process's arguments; on a bad command line prints clap's
    /// message (or the help or version asked for) and exits.
    pub fn parse() -> Flags {
        Flags::from_matches(&command().get_matches())
    }

    /// Parses `argv` (program name first).
    pub fn try_parse_from<I, T>(argv: I) -> Result<Flags, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        Ok(Flags::from_matches(&command().try_get_matches_from(argv)?))
    }

    fn from_matches(m: &ArgMatches) -> Flags {
        let overrides = OPTIONS
            .iter()
            .filter(|o| o.flag)
            .filter_map(|o| {
                let v = m.get_one::<String>(o.name)?;
                Some((o.name.to_string(), v.clone()))
            })
            .collect();
        Flags {
            config: m.get_one::<String>("config").cloned(),
            replicaof: m
                .get_many::<String>("replicaof")
                .map(|v| v.cloned().collect()),
            overrides,
            renames: m
                .get_occurrences::<String>("rename-command")
                .map(|o| {
                    o.filter_map(|mut pair| Some((pair.next()?.clone(), pair.next()?.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;

    use super::*;
    use crate::config::Config;

    fn parse(args: &[&str]) -> Result<Flags, clap::Error> {
        Flags::try_parse_from(std::iter::once("ringcache").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_is_well_formed() {
        command().debug_assert();
        for o in OPTIONS {
            // `replicaof` is an option whose flag is `--replicaof HOST PORT`.
            assert_eq!(NOT_OPTIONS.contains(&o.name), !o.flag, "{}", o.name);
        }
    }

    #[test]
    fn every_option_is_a_flag() {
        let mut argv = vec!["ringcache".to_string()];
        for o in OPTIONS.iter().filter(|o| o.flag) {
            argv.push(format!("--{}", o.name));
            argv.push(o.default.to_string());
        }
        let f = Flags::try_parse_from(argv).unwrap();
        let want: Vec<(String, String)> = OPTIONS
            .iter()
            .filter(|o| o.flag)
            .map(|o| (o.name.to_string(), o.default.to_string()))
            .collect();
        assert_eq!(f.overrides, want);
        let (by_flags, defaults) = (
            Config::load(None, &f.overrides).unwrap(),
            Config::defaults(),
        );
        for o in OPTIONS {
            assert_eq!((o.get)(&by_flags), (o.get)(&defaults), "{}", o.name);
        }
    }

    #[test]
    fn flags_take_redis_values() {
        let f = parse(&[
            "--maxmemory",
            "64mb",
            "--appendonly",
            "yes",
            "--maxmemory-policy",
            "allkeys-lru",
            "--slowlog-log-slower-than",
            "-1",
            "--save",
            "",
            "--lfu-log-factor",
            "4",
        ])
        .unwrap();
        let c = Config::load(None, &f.overrides).unwrap();
        assert_eq!(c.maxmemory, 64 << 20);
        assert!(c.appendonly);
        assert_eq!(c.maxmemory_policy, "allkeys-lru");
        assert_eq!(c.slowlog_log_slower_than, -1);
        assert_eq!(c.tunables.lfu_log_factor, 4);
    }

    #[test]
    fn flags_that_are_not_options() {
        let f = parse(&[
            "--config",
            "a.toml",
            "--replicaof",
            "h",
            "7000",
            "--port",
            "1",
        ])
        .unwrap();
        assert_eq!(f.config.as_deref(), Some("a.toml"));
        assert_eq!(f.replicaof, Some(vec!["h".to_string(), "7000".to_string()]));
        assert_eq!(f.overrides, vec![("port".to_string(), "1".to_string())]);
        let f = parse(&[
            "--rename-command",
            "config",
            "",
            "--rename-command",
            "DEBUG",
            "dbg",
        ])
        .unwrap();
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(f.renames, vec![pair("config", ""), pair("DEBUG", "dbg")]);
        let f = parse(&["--slaveof", "h", "7000"]).unwrap();
        assert_eq!(f.replicaof, Some(vec!["h".to_string(), "7000".to_string()]));
        assert_eq!(parse(&[]).unwrap(), Flags::default());
    }

    #[test]
    fn bad_command_lines_are_usage_errors() {
        let kind = |args: &[&str]| parse(args).unwrap_err().kind();
        assert_eq!(kind(&["--nosuch", "1"]), ErrorKind::UnknownArgument);
        assert_eq!(kind(&["positional"]), ErrorKind::UnknownArgument);
        assert_eq!(kind(&["--port", "abc"]), ErrorKind::ValueValidation);
        assert_eq!(kind(&["--port", "70000"]), ErrorKind::ValueValidation);
        assert_eq!(
            kind(&["--databases", "5000000000"]),
            ErrorKind::ValueValidation
        );
        // The field's width decides, not CONFIG SET's range.
        assert!(parse(&["--timeout", "3000000000"]).is_ok());
        assert_eq!(kind(&["--timeout", "-1"]), ErrorKind::UnknownArgument);
        assert_eq!(kind(&["--maxmemory"]), ErrorKind::InvalidValue);
        assert_eq!(kind(&["--replicaof", "h"]), ErrorKind::WrongNumberOfValues);
        assert_eq!(
            kind(&["--port", "1", "--port", "2"]),
            ErrorKind::ArgumentConflict
        );
    }
}
