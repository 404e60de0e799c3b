//! Command metadata: arity, flags, key specs, ACL categories. Dispatch, arity
//! errors, `COMMAND`, key extraction and cluster routing derive from it.

pub use super::key_specs::{
    key_flags, BeginSearch, FindKeys, KeyFlags, KeyFunction, KeySpec, KeySpecs,
};
use super::Handler;

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
    NO_MANDATORY_KEYS = 18, "no_mandatory_keys";
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
    /// Internal (Redis hides its `protected` flag too): runs only as
    /// `enable-debug-command` allows (DEBUG).
    pub const PROTECTED: Flags = Flags(1 << 27);

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

/// One command (or subcommand) of the table.
pub struct CommandSpec {
    /// Lower-case name (`get`, or `get` under `config` for `config|get`).
    pub name: &'static str,
    /// Argument count rule.
    pub arity: Arity,
    /// Behaviour flags.
    pub flags: Flags,
    /// Where its keys are (Redis's key specs).
    pub keys: KeySpecs,
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
pub const NOKEYS: KeySpecs = KeySpecs::NONE;
/// A container's subcommand whose key follows it and is only read (RO), as
/// Redis declares `OBJECT ENCODING key` and `MEMORY USAGE key`.
pub const K2: KeySpecs = KeySpecs::new(&[KeySpec::at(2, key_flags::RO)]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arity_rules() {
        assert!(Arity(2).accepts(2));
        assert!(!Arity(2).accepts(3));
        assert!(Arity(-2).accepts(5));
        assert!(!Arity(-2).accepts(1));
    }
}
