//! What one entry of the option table is (`ConfigOption`) and the kinds of
//! entry the table is written with: `opt` (in the TOML file, settable), `live`
//! (settable, not in the file), `fixed` (set at start-up only), and the
//! modifiers `hot`, `hidden`, `protected` and `no_flag`.

use super::hot::HotConfig;
use super::value::{OptionType, Val};
use super::Config;

/// Reads an option as `CONFIG GET` shows it.
pub type Getter = fn(&Config) -> String;
/// Stores a parsed value; `Err` is Redis's reason text.
pub type Setter = fn(&mut Config, Val<'_>) -> Result<(), String>;
/// Stores an option's current value into `HotConfig`.
pub type HotHook = fn(&HotConfig, &Config);

/// One option: everything else about it (CLI flag, defaults layer, `CONFIG
/// GET/SET`, `CONFIG REWRITE`) is derived from this entry.
pub struct ConfigOption {
    /// Redis's option name.
    pub name: &'static str,
    /// Value syntax.
    pub ty: OptionType,
    /// The built-in default, as `config/default.toml` spells it.
    pub default: &'static str,
    /// False for options fixed at start-up (`can't set immutable config`).
    pub mutable: bool,
    /// True when the option is a field of the TOML file (`CONFIG REWRITE` writes it).
    pub in_file: bool,
    /// Redis's `HIDDEN_CONFIG`: `CONFIG GET` reports it only when asked for
    /// by its exact name, never for a pattern (test and debugging knobs).
    pub hidden: bool,
    /// True when the option is a command-line flag of its own (`--name value`);
    /// false for one the command line spells otherwise (`--replicaof HOST PORT`).
    pub flag: bool,
    /// Redis's `PROTECTED_CONFIG` (`dir`, `dbfilename`): `CONFIG SET` changes
    /// it only as `enable-protected-configs` allows (`can't set protected config`).
    pub protected: bool,
    /// Current value.
    pub get: Getter,
    /// New value.
    pub set: Setter,
    /// Copies the value into the hot-path atomics, for options read per command.
    pub hot: Option<HotHook>,
}

fn immutable(_: &mut Config, _: Val<'_>) -> Result<(), String> {
    Err("can't set immutable config".into())
}

/// An option of the TOML file, settable at run time.
pub(super) const fn opt(
    name: &'static str,
    ty: OptionType,
    default: &'static str,
    get: Getter,
    set: Setter,
) -> ConfigOption {
    ConfigOption {
        name,
        ty,
        default,
        mutable: true,
        in_file: true,
        hidden: false,
        flag: true,
        protected: false,
        get,
        set,
        hot: None,
    }
}

impl ConfigOption {
    /// The same option, copied into the hot-path atomics by `store`.
    pub(super) const fn hot(self, store: HotHook) -> ConfigOption {
        ConfigOption {
            hot: Some(store),
            ..self
        }
    }

    /// The same option, left out of `CONFIG GET` patterns (Redis's hidden configs).
    pub(super) const fn hidden(self) -> ConfigOption {
        ConfigOption {
            hidden: true,
            ..self
        }
    }

    /// The same option, settable at run time only where
    /// `enable-protected-configs` allows (Redis's `PROTECTED_CONFIG`).
    pub(super) const fn protected(self) -> ConfigOption {
        ConfigOption {
            protected: true,
            ..self
        }
    }

    /// The same option, without a command-line flag of its own.
    pub(super) const fn no_flag(self) -> ConfigOption {
        ConfigOption {
            flag: false,
            ..self
        }
    }
}

/// An option the TOML file does not carry (reported and settable only at run time).
pub(super) const fn live(
    name: &'static str,
    ty: OptionType,
    default: &'static str,
    get: Getter,
    set: Setter,
) -> ConfigOption {
    ConfigOption {
        in_file: false,
        ..opt(name, ty, default, get, set)
    }
}

/// An option fixed at start-up; its `ty` checks the command-line flag.
pub(super) const fn fixed(
    name: &'static str,
    ty: OptionType,
    default: &'static str,
    in_file: bool,
    get: Getter,
) -> ConfigOption {
    ConfigOption {
        mutable: false,
        in_file,
        ..opt(name, ty, default, get, immutable)
    }
}

// The table's repeated kinds of entry, as macros (a `ConfigOption` is built
// by const fns and closures that name the field, which a fn cannot take).
// They expand in `options`, whose imports they use.

/// A compact-encoding limit: live, an integer from `min` (0, or
/// `i32::MIN` for `list-max-listpack-size`) to `i32::MAX`, stored hot.
macro_rules! encoding_limit {
    ($name:literal, $max:expr, $default:literal, $field:ident) => {
        live(
            $name,
            OptionType::Int(
                if $default.as_bytes()[0] == b'-' {
                    -$max - 1
                } else {
                    0
                },
                $max,
            ),
            $default,
            |c| c.encodings.$field.to_string(),
            |c, v| {
                c.encodings.$field = v.int();
                Ok(())
            },
        )
        .hot(|h, c| h.encodings.$field.store(c.encodings.$field, Relaxed))
    };
}

/// A `lazyfree-lazy-*` flag: element `i` of `Tunables::lazyfree`, stored hot.
macro_rules! lazyfree_flag {
    ($name:literal, $i:literal) => {
        live(
            $name,
            OptionType::Bool,
            "no",
            |c| yes_no(c.tunables.lazyfree[$i]).into(),
            |c, v| {
                c.tunables.lazyfree[$i] = v.flag();
                Ok(())
            },
        )
        .hot(|h, c| h.lazyfree[$i].store(c.tunables.lazyfree[$i], Relaxed))
    };
}
