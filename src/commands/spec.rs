//! Command metadata: arity, flags, key positions, ACL categories. Dispatch, arity
//! errors, `COMMAND`, key extraction and (later) cluster routing derive from it.

use super::{Argv, Handler};

/// Argument count rule: `Exact(n)` or `AtLeast(n)`, counting the command name,
/// encoded on the wire as Redis does (`n` or `-n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arity(pub i32);

impl Arity {
    /// True when `argc` satisfies the rule.
    pub fn accepts(self, argc: usize) -> bool {
        let n = self.0;
        if n >= 0 {
            argc == n as usize
        } else {
            argc >= (-n) as usize
        }
    }
}

/// Command flags, as `COMMAND` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(pub u32);

macro_rules! flag_consts {
    ($($name:ident = $bit:expr, $text:literal;)*) => {
        impl Flags {
            $(#[doc = concat!("`", $text, "`")] pub const $name: Flags = Flags(1 << $bit);)*
            /// Every flag with its `COMMAND` name.
            pub const NAMES: &'static [(Flags, &'static str)] = &[$((Flags::$name, $text)),*];
        }
    };
}

flag_consts! {
    WRITE = 0, "write";
    READONLY = 1, "readonly";
    DENYOOM = 2, "denyoom";
    ADMIN = 3, "admin";
    PUBSUB = 4, "pubsub";
    NOSCRIPT = 5, "noscript";
    BLOCKING = 6, "blocking";
    LOADING = 7, "loading";
    STALE = 8, "stale";
    SKIP_MONITOR = 9, "skip_monitor";
    SKIP_SLOWLOG = 10, "skip_slowlog";
    ASKING = 16, "asking";
    FAST = 11, "fast";
    NO_AUTH = 12, "no_auth";
    MAY_REPLICATE = 13, "may_replicate";
    NO_ASYNC_LOADING = 17, "no_async_loading";
    NO_MULTI = 14, "no_multi";
    ALLOW_BUSY = 15, "allow_busy";
}

impl Flags {
    /// No flags.
    pub const NONE: Flags = Flags(0);
    /// Internal, not shown by `COMMAND`: runs at once inside MULTI instead of
    /// being queued (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET).
    pub const TXN_CONTROL: Flags = Flags(1 << 24);
    /// Internal: moves keys to another node (MIGRATE), so in cluster mode it
    /// runs locally while its slot is open and alone in its slot.
    pub const MOVES_KEYS: Flags = Flags(1 << 25);
    /// Internal: runs with nothing else in the keyspace (EXEC, FLUSHALL,
    /// FLUSHDB), so its effects are one block in the stream, in order.
    pub const ALONE: Flags = Flags(1 << 26);

    /// True when every bit of `other` is set.
    pub const fn has(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Union.
    pub const fn or(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.or(rhs)
    }
}

/// Where a command's keys are (Valkey's key specs, reduced to what our commands need).
#[derive(Debug, Clone, Copy)]
pub enum KeySpec {
    /// No key arguments.
    None,
    /// Keys at `first..=last` every `step` (`last` -1 = last argument, -2 = all
    /// but the last one), the legacy first/last/step triple.
    Range {
        /// Index of the first key.
        first: i32,
        /// Index of the last key (negative counts from the end).
        last: i32,
        /// Distance between keys.
        step: i32,
    },
    /// `numkeys` at index `at`, then that many keys starting right after it
    /// (EVAL, ZUNIONSTORE-style commands).
    Keynum {
        /// Index of the `numkeys` argument.
        at: i32,
    },
    /// Keys found by a function of the arguments (MIGRATE's `KEYS` form), with
    /// the legacy triple `COMMAND` shows for it.
    Custom {
        /// (first, last, step) for `COMMAND`.
        legacy: (i32, i32, i32),
        /// Calls its argument with each key index.
        find: fn(&Argv<'_>, &mut dyn FnMut(usize)),
    },
    /// The keys of the commands queued in the transaction (EXEC).
    Transaction,
}

impl KeySpec {
    /// A first/last/step key range.
    pub const fn range(first: i32, last: i32, step: i32) -> KeySpec {
        KeySpec::Range { first, last, step }
    }

    /// The legacy (first, last, step) triple `COMMAND` reports.
    pub fn legacy(self) -> (i32, i32, i32) {
        match self {
            KeySpec::Range { first, last, step } => (first, last, step),
            KeySpec::Custom { legacy, .. } => legacy,
            _ => (0, 0, 0),
        }
    }

    /// True when the key positions depend on the arguments (`movablekeys`).
    pub fn is_movable(self) -> bool {
        matches!(self, KeySpec::Keynum { .. } | KeySpec::Custom { .. })
    }

    /// True for EXEC, whose keys are those of the queued commands.
    pub fn is_transaction(self) -> bool {
        matches!(self, KeySpec::Transaction)
    }

    /// True when the command has key arguments at all.
    pub fn has_keys(self) -> bool {
        !matches!(self, KeySpec::None)
    }

    /// Calls `f` with the index of each key argument in `argv`, allocating
    /// nothing; none when malformed (e.g. a bad numkeys — the handler reports
    /// that error). `Transaction` keys are not in `argv`: none here.
    pub fn each(self, argv: &Argv<'_>, f: &mut dyn FnMut(usize)) {
        let argc = argv.len() as i32;
        match self {
            KeySpec::None | KeySpec::Transaction => {}
            KeySpec::Range { first, last, step } => {
                let last = if last < 0 { argc + last } else { last };
                if first >= argc || step <= 0 {
                    return;
                }
                let mut i = first;
                while i <= last.min(argc - 1) {
                    f(i as usize);
                    i += step;
                }
            }
            KeySpec::Keynum { at } => {
                let Some(n) = argv.opt(at as usize).and_then(super::parse_int_strict) else {
                    return;
                };
                if n < 0 || (at + 1) as i64 + n > argc as i64 {
                    return;
                }
                for i in (at + 1) as usize..(at + 1) as usize + n as usize {
                    f(i);
                }
            }
            KeySpec::Custom { find, .. } => find(argv, f),
        }
    }

    /// Indices of the key arguments in `argv` (see `each`).
    pub fn positions(self, argv: &Argv<'_>) -> Vec<usize> {
        let mut v = Vec::new();
        self.each(argv, &mut |i| v.push(i));
        v
    }
}

/// One command (or subcommand) of the table.
pub struct CommandSpec {
    /// Lower-case name (`get`, or `get` under `config` for `config|get`).
    pub name: &'static str,
    /// Argument count rule.
    pub arity: Arity,
    /// Behaviour flags.
    pub flags: Flags,
    /// Key positions.
    pub keys: KeySpec,
    /// ACL categories, space separated, without `@`.
    pub acl: &'static str,
    /// `COMMAND DOCS` group (string, generic, server, connection, …).
    pub group: &'static str,
    /// One-line description for `COMMAND DOCS`.
    pub summary: &'static str,
    /// Redis version that introduced it, for `COMMAND DOCS`.
    pub since: &'static str,
    /// The handler (containers' handlers reply to HELP/unknown subcommands).
    pub handler: Handler,
    /// Subcommands (`CONFIG GET`, …); empty for plain commands.
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// True when the command may change data.
    pub fn is_write(&self) -> bool {
        self.flags.has(Flags::WRITE)
    }

    /// The subcommand named `name` (case-insensitive).
    pub fn subcommand(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        self.subcommands
            .iter()
            .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
    }
}

/// Builds a `&'static [CommandSpec]`, one line per command or subcommand (the
/// one way every table, top-level or a container's, is declared):
/// `name arity [FLAG|FLAG] keys "acl cats" group since handler "summary" [subs]`.
macro_rules! command_table {
    ($( $name:literal $arity:literal [$($flag:ident)|*] $keys:expr, $acl:literal $group:literal $since:literal $handler:path, $summary:literal $(, subs $subs:expr)? ;)*) => {
        &[$($crate::commands::spec::CommandSpec {
            name: $name,
            arity: $crate::commands::spec::Arity($arity),
            flags: $crate::commands::spec::Flags(0 $(| $crate::commands::spec::Flags::$flag.0)*),
            keys: $keys,
            acl: $acl,
            group: $group,
            since: $since,
            handler: $handler,
            summary: $summary,
            subcommands: command_table!(@subs $($subs)?),
        }),*]
    };
    (@subs) => { &[] };
    (@subs $subs:expr) => { $subs };
}

pub(crate) use command_table;

/// No key arguments.
pub const NOKEYS: KeySpec = KeySpec::None;
/// The first argument is the key.
pub const K1: KeySpec = KeySpec::range(1, 1, 1);
/// A container's subcommand whose key follows it (`OBJECT ENCODING key`).
pub const K2: KeySpec = KeySpec::range(2, 2, 1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testkit::argv_of;

    #[test]
    fn arity_rules() {
        assert!(Arity(2).accepts(2));
        assert!(!Arity(2).accepts(3));
        assert!(Arity(-2).accepts(5));
        assert!(!Arity(-2).accepts(1));
    }

    #[test]
    fn key_positions() {
        let (s, r) = argv_of(&["mset", "a", "1", "b", "2"]);
        let a = Argv::new(&s, &r);
        assert_eq!(KeySpec::range(1, -1, 2).positions(&a), vec![1, 3]);
        let (s, r) = argv_of(&["del", "a", "b", "c"]);
        let a = Argv::new(&s, &r);
        assert_eq!(KeySpec::range(1, -1, 1).positions(&a), vec![1, 2, 3]);
        assert_eq!(KeySpec::range(1, -2, 1).positions(&a), vec![1, 2]);
        let (s, r) = argv_of(&["eval", "body", "2", "k1", "k2", "arg"]);
        let a = Argv::new(&s, &r);
        assert_eq!(KeySpec::Keynum { at: 2 }.positions(&a), vec![3, 4]);
        let (s, r) = argv_of(&["eval", "body", "5", "k1"]);
        let a = Argv::new(&s, &r);
        assert!(KeySpec::Keynum { at: 2 }.positions(&a).is_empty());
    }
}
