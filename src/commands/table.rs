//! The command table: one line per command. Dispatch, arity checks, `COMMAND`,
//! key extraction and per-command statistics all come from here.

use hashbrown::HashMap;

use super::spec::key_flags::{
    ACCESS, DELETE, INCOMPLETE, INSERT, OW, RM, RO, RW, UPDATE, VARIABLE_FLAGS,
};
use super::spec::{command_table, CommandSpec, KeyFlags, KeySpec, KeySpecs, NOKEYS};
use super::{
    bitmap, cluster, command, connection, functions, geo, hash, hyperloglog, keys, list,
    persistence, replication, server, set, sort, strings, transactions, zset, Argv,
};

// Key specs, as Redis 7.0 declares them, each shared by the rows whose keys are
// found and used alike. KS_<flags>: one key, argument 1.
pub(crate) const KS_RO: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RO)]);
pub(crate) const KS_RO_ACCESS: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RO | ACCESS)]);
pub(crate) const KS_RW_UPDATE: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RW | UPDATE)]);
pub(crate) const KS_RW_INSERT: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RW | INSERT)]);
pub(crate) const KS_RW_ACCESS_UPDATE: KeySpecs =
    KeySpecs::new(&[KeySpec::at(1, RW | ACCESS | UPDATE)]);
pub(crate) const KS_RW_DELETE: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RW | DELETE)]);
pub(crate) const KS_RW_ACCESS_DELETE: KeySpecs =
    KeySpecs::new(&[KeySpec::at(1, RW | ACCESS | DELETE)]);
pub(crate) const KS_OW_UPDATE: KeySpecs = KeySpecs::new(&[KeySpec::at(1, OW | UPDATE)]);
pub(crate) const KS_OW_INSERT: KeySpecs = KeySpecs::new(&[KeySpec::at(1, OW | INSERT)]);
// KS_ALL_<flags>: every argument from 1 is a key; KS_PAIRS_<flags>: every other one.
pub(crate) const KS_ALL_RO: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RO).range(-1, 1, 0)]);
pub(crate) const KS_ALL_RO_ACCESS: KeySpecs =
    KeySpecs::new(&[KeySpec::at(1, RO | ACCESS).range(-1, 1, 0)]);
pub(crate) const KS_ALL_RM_DELETE: KeySpecs =
    KeySpecs::new(&[KeySpec::at(1, RM | DELETE).range(-1, 1, 0)]);
pub(crate) const KS_PAIRS_OW_UPDATE: KeySpecs =
    KeySpecs::new(&[KeySpec::at(1, OW | UPDATE).range(-1, 2, 0)]);
pub(crate) const KS_PAIRS_OW_INSERT: KeySpecs =
    KeySpecs::new(&[KeySpec::at(1, OW | INSERT).range(-1, 2, 0)]);
// One command's own.
pub(crate) const KS_LCS: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RO | ACCESS).range(1, 1, 0)]);
pub(crate) const KS_GETEX: KeySpecs = KeySpecs::new(&[
    KeySpec::at(1, RW | ACCESS | UPDATE).notes("RW and UPDATE because it changes the TTL")
]);
pub(crate) const KS_SET: KeySpecs =
    KeySpecs::new(&[KeySpec::at(1, RW | ACCESS | UPDATE | VARIABLE_FLAGS)
        .notes("RW and ACCESS due to the optional `GET` argument")])
    .with_function(set_key_flags);
pub(crate) const KS_RENAME: KeySpecs = KeySpecs::new(&[
    KeySpec::at(1, RW | ACCESS | DELETE),
    KeySpec::at(2, OW | UPDATE),
]);
pub(crate) const KS_RENAMENX: KeySpecs = KeySpecs::new(&[
    KeySpec::at(1, RW | ACCESS | DELETE),
    KeySpec::at(2, OW | INSERT),
]);
pub(crate) const KS_COPY: KeySpecs =
    KeySpecs::new(&[KeySpec::at(1, RO | ACCESS), KeySpec::at(2, OW | UPDATE)]);
pub(crate) const KS_MIGRATE: KeySpecs = KeySpecs::new(&[
    KeySpec::at(3, RW | ACCESS | DELETE),
    KeySpec::after("KEYS", -2, RW | ACCESS | DELETE | INCOMPLETE).range(-1, 1, 0),
])
.with_function(migrate_keys);

/// SET's key flags: with GET it reads the old value (RW, access), else it
/// only overwrites (OW), as Redis's `setGetKeys` (an exact, any-case `GET`).
fn set_key_flags(argv: &Argv<'_>, f: &mut dyn FnMut(usize, KeyFlags)) {
    let get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"GET"));
    f(
        1,
        if get {
            RW | ACCESS | UPDATE
        } else {
            OW | UPDATE
        },
    );
}

/// MIGRATE's keys: the key argument, or those after KEYS; all moved away.
fn migrate_keys(argv: &Argv<'_>, f: &mut dyn FnMut(usize, KeyFlags)) {
    cluster::migrate_keys(argv, &mut |i| f(i, RW | ACCESS | DELETE));
}

/// The commands of every family; a family's own file declares its rows
/// (`hash::COMMANDS` …) so each family's work stays in its file.
pub static FAMILIES: &[&[CommandSpec]] = &[
    CORE,
    hash::COMMANDS,
    list::COMMANDS,
    set::COMMANDS,
    zset::COMMANDS,
    super::stream::COMMANDS,
    bitmap::COMMANDS,
    hyperloglog::COMMANDS,
    geo::COMMANDS,
    sort::COMMANDS,
    super::pubsub::COMMANDS,
    super::scripting::COMMANDS,
    super::functions::COMMANDS,
];

/// Every top-level command, family by family.
pub fn top_level() -> impl Iterator<Item = &'static CommandSpec> + Clone {
    FAMILIES.iter().flat_map(|f| f.iter())
}

/// The connection, transaction, string, key, server and cluster commands.
static CORE: &[CommandSpec] = command_table! {
    // ---- connection ----
    "ping" -1 [FAST] NOKEYS, "fast connection" "connection" "1.0.0" connection::ping, "Returns the server's liveliness response.";
    "echo" 2 [FAST] NOKEYS, "fast connection" "connection" "1.0.0" connection::echo, "Returns the given string.";
    "quit" -1 [ALLOW_BUSY|NOSCRIPT|LOADING|STALE|FAST|NO_AUTH|TXN_CONTROL] NOKEYS, "fast connection" "connection" "1.0.0" connection::quit, "Closes the connection.";
    "select" 2 [LOADING|STALE|FAST] NOKEYS, "fast connection" "connection" "1.0.0" connection::select, "Changes the selected database.";
    "auth" -2 [NOSCRIPT|LOADING|STALE|FAST|NO_AUTH|ALLOW_BUSY] NOKEYS, "fast connection" "connection" "1.0.0" connection::auth, "Authenticates the connection.";
    "hello" -1 [NOSCRIPT|LOADING|STALE|FAST|NO_AUTH|ALLOW_BUSY] NOKEYS, "fast connection" "connection" "6.0.0" connection::hello, "Handshakes with the Redis server.";
    "reset" 1 [NOSCRIPT|LOADING|STALE|FAST|NO_AUTH|ALLOW_BUSY|TXN_CONTROL] NOKEYS, "fast connection" "connection" "6.2.0" connection::reset, "Resets the connection.";
    "readonly" 1 [LOADING|STALE|FAST] NOKEYS, "fast connection" "cluster" "3.0.0" cluster::readonly, "Enables read-only queries for a connection to a Redis Cluster replica node.";
    "readwrite" 1 [LOADING|STALE|FAST] NOKEYS, "fast connection" "cluster" "3.0.0" cluster::readwrite, "Enables read-write queries for a connection to a Reids Cluster replica node.";
    "asking" 1 [FAST] NOKEYS, "fast connection" "cluster" "3.0.0" cluster::asking, "Sent by cluster clients after an -ASK redirect";
    // ---- transactions ----
    "multi" 1 [NOSCRIPT|LOADING|STALE|FAST|ALLOW_BUSY|TXN_CONTROL] NOKEYS, "fast transaction" "transactions" "1.2.0" transactions::multi, "Starts a transaction.";
    "exec" 1 [NOSCRIPT|LOADING|STALE|SKIP_SLOWLOG|TXN_CONTROL|ALONE] KeySpecs::TRANSACTION, "slow transaction" "transactions" "1.2.0" transactions::exec, "Executes all commands in a transaction.";
    "discard" 1 [NOSCRIPT|LOADING|STALE|FAST|ALLOW_BUSY|TXN_CONTROL] NOKEYS, "fast transaction" "transactions" "2.0.0" transactions::discard, "Discards a transaction.";
    "watch" -2 [NOSCRIPT|LOADING|STALE|FAST|ALLOW_BUSY|TXN_CONTROL] KS_ALL_RO, "fast transaction" "transactions" "2.2.0" transactions::watch, "Monitors changes to keys to determine the execution of a transaction.";
    "unwatch" 1 [NOSCRIPT|LOADING|STALE|FAST|ALLOW_BUSY|TXN_CONTROL] NOKEYS, "fast transaction" "transactions" "2.2.0" transactions::unwatch, "Forgets about all watched keys of a transaction.";
    // ---- strings ----
    "get" 2 [READONLY|FAST] KS_RO_ACCESS, "read string fast" "string" "1.0.0" strings::get, "Returns the string value of a key.";
    "set" -3 [WRITE|DENYOOM] KS_SET, "write string slow" "string" "1.0.0" strings::set, "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.";
    "setnx" 3 [WRITE|DENYOOM|FAST] KS_OW_INSERT, "write string fast" "string" "1.0.0" strings::setnx, "Set the string value of a key only when the key doesn't exist.";
    "setex" 4 [WRITE|DENYOOM] KS_OW_UPDATE, "write string slow" "string" "2.0.0" strings::setex, "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.";
    "psetex" 4 [WRITE|DENYOOM] KS_OW_UPDATE, "write string slow" "string" "2.6.0" strings::psetex, "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.";
    "mget" -2 [READONLY|FAST] KS_ALL_RO_ACCESS, "read string fast" "string" "1.0.0" strings::mget, "Atomically returns the string values of one or more keys.";
    "mset" -3 [WRITE|DENYOOM] KS_PAIRS_OW_UPDATE, "write string slow" "string" "1.0.1" strings::mset, "Atomically creates or modifies the string values of one or more keys.";
    "msetnx" -3 [WRITE|DENYOOM] KS_PAIRS_OW_INSERT, "write string slow" "string" "1.0.1" strings::msetnx, "Atomically modifies the string values of one or more keys only when all keys don't exist.";
    "getset" 3 [WRITE|DENYOOM|FAST] KS_RW_ACCESS_UPDATE, "write string fast" "string" "1.0.0" strings::getset, "Returns the previous string value of a key after setting it to a new value.";
    "getdel" 2 [WRITE|FAST] KS_RW_ACCESS_DELETE, "write string fast" "string" "6.2.0" strings::getdel, "Returns the string value of a key after deleting the key.";
    "getex" -2 [WRITE|FAST] KS_GETEX, "write string fast" "string" "6.2.0" strings::getex, "Returns the string value of a key after setting its expiration time.";
    "append" 3 [WRITE|DENYOOM|FAST] KS_RW_INSERT, "write string fast" "string" "2.0.0" strings::append, "Appends a string to the value of a key. Creates the key if it doesn't exist.";
    "strlen" 2 [READONLY|FAST] KS_RO, "read string fast" "string" "2.2.0" strings::strlen, "Returns the length of a string value.";
    "incr" 2 [WRITE|DENYOOM|FAST] KS_RW_ACCESS_UPDATE, "write string fast" "string" "1.0.0" strings::incr, "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.";
    "decr" 2 [WRITE|DENYOOM|FAST] KS_RW_ACCESS_UPDATE, "write string fast" "string" "1.0.0" strings::decr, "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.";
    "incrby" 3 [WRITE|DENYOOM|FAST] KS_RW_ACCESS_UPDATE, "write string fast" "string" "1.0.0" strings::incrby, "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.";
    "decrby" 3 [WRITE|DENYOOM|FAST] KS_RW_ACCESS_UPDATE, "write string fast" "string" "1.0.0" strings::decrby, "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.";
    "incrbyfloat" 3 [WRITE|DENYOOM|FAST] KS_RW_ACCESS_UPDATE, "write string fast" "string" "2.6.0" strings::incrbyfloat, "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.";
    "getrange" 4 [READONLY] KS_RO_ACCESS, "read string slow" "string" "2.4.0" strings::getrange, "Returns a substring of the string stored at a key.";
    "substr" 4 [READONLY] KS_RO_ACCESS, "read string slow" "string" "1.0.0" strings::getrange, "Returns a substring from a string value.";
    "setrange" 4 [WRITE|DENYOOM] KS_RW_UPDATE, "write string slow" "string" "2.2.0" strings::setrange, "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.";
    "lcs" -3 [READONLY] KS_LCS, "read string slow" "string" "7.0.0" strings::lcs::lcs, "Finds the longest common substring.";
    // ---- keys ----
    "del" -2 [WRITE] KS_ALL_RM_DELETE, "keyspace write slow" "generic" "1.0.0" keys::del, "Deletes one or more keys.";
    "unlink" -2 [WRITE|FAST] KS_ALL_RM_DELETE, "keyspace write fast" "generic" "4.0.0" keys::unlink, "Asynchronously deletes one or more keys.";
    "exists" -2 [READONLY|FAST] KS_ALL_RO, "keyspace read fast" "generic" "1.0.0" keys::exists, "Determines whether one or more keys exist.";
    "type" 2 [READONLY|FAST] KS_RO, "keyspace read fast" "generic" "1.0.0" keys::type_, "Determines the type of value stored at a key.";
    "expire" -3 [WRITE|FAST] KS_RW_UPDATE, "keyspace write fast" "generic" "1.0.0" keys::expire::expire, "Set a key's time to live in seconds";
    "pexpire" -3 [WRITE|FAST] KS_RW_UPDATE, "keyspace write fast" "generic" "2.6.0" keys::expire::pexpire, "Set a key's time to live in milliseconds";
    "expireat" -3 [WRITE|FAST] KS_RW_UPDATE, "keyspace write fast" "generic" "1.2.0" keys::expire::expireat, "Set the expiration for a key as a UNIX timestamp";
    "pexpireat" -3 [WRITE|FAST] KS_RW_UPDATE, "keyspace write fast" "generic" "2.6.0" keys::expire::pexpireat, "Set the expiration for a key as a UNIX timestamp specified in milliseconds";
    "ttl" 2 [READONLY|FAST] KS_RO_ACCESS, "keyspace read fast" "generic" "1.0.0" keys::expire::ttl, "Get the time to live for a key in seconds";
    "pttl" 2 [READONLY|FAST] KS_RO_ACCESS, "keyspace read fast" "generic" "2.6.0" keys::expire::pttl, "Get the time to live for a key in milliseconds";
    "expiretime" 2 [READONLY|FAST] KS_RO_ACCESS, "keyspace read fast" "generic" "7.0.0" keys::expire::expiretime, "Get the expiration Unix timestamp for a key";
    "pexpiretime" 2 [READONLY|FAST] KS_RO_ACCESS, "keyspace read fast" "generic" "7.0.0" keys::expire::pexpiretime, "Get the expiration Unix timestamp for a key in milliseconds";
    "persist" 2 [WRITE|FAST] KS_RW_UPDATE, "keyspace write fast" "generic" "2.2.0" keys::expire::persist, "Remove the expiration from a key";
    "rename" 3 [WRITE] KS_RENAME, "keyspace write slow" "generic" "1.0.0" keys::rename::rename, "Rename a key";
    "renamenx" 3 [WRITE|FAST] KS_RENAMENX, "keyspace write fast" "generic" "1.0.0" keys::rename::renamenx, "Rename a key, only if the new key does not exist";
    "copy" -3 [WRITE|DENYOOM] KS_COPY, "keyspace write slow" "generic" "6.2.0" keys::rename::copy, "Copy a key";
    "move" 3 [WRITE|FAST] KS_RW_ACCESS_UPDATE, "keyspace write fast" "generic" "1.0.0" keys::rename::move_, "Move a key to another database";
    "keys" 2 [READONLY] NOKEYS, "keyspace read slow dangerous" "generic" "1.0.0" keys::scan::keys, "Find all keys matching the given pattern";
    "scan" -2 [READONLY] NOKEYS, "keyspace read slow" "generic" "2.8.0" keys::scan::scan, "Incrementally iterate the keys space";
    "randomkey" 1 [READONLY] NOKEYS, "keyspace read slow" "generic" "1.0.0" keys::scan::randomkey, "Return a random key from the keyspace";
    "touch" -2 [READONLY|FAST] KS_ALL_RO, "keyspace read fast" "generic" "3.2.1" keys::touch, "Alters the last access time of a key(s). Returns the number of existing keys specified.";
    "object" -2 [] NOKEYS, "slow" "generic" "2.2.3" keys::object::object, "A container for object introspection commands", subs keys::object::OBJECT_SUBCOMMANDS;
    "dump" 2 [READONLY] KS_RO_ACCESS, "keyspace read slow" "generic" "2.6.0" keys::dump::dump, "Return a serialized version of the value stored at the specified key.";
    "restore" -4 [WRITE|DENYOOM] KS_OW_UPDATE, "keyspace write slow dangerous" "generic" "2.6.0" keys::dump::restore, "Create a key using the provided serialized value, previously obtained using DUMP.";
    "restore-asking" -4 [WRITE|DENYOOM|ASKING] KS_OW_UPDATE, "keyspace write slow dangerous" "server" "3.0.0" keys::dump::restore, "An internal command for migrating keys in a cluster";
    "migrate" -6 [WRITE|MOVES_KEYS] KS_MIGRATE, "keyspace write slow dangerous" "generic" "2.6.0" cluster::migrate, "Atomically transfer a key from a Redis instance to another one.";
    // ---- server ----
    "dbsize" 1 [READONLY|FAST] NOKEYS, "keyspace read fast" "server" "1.0.0" server::dbsize, "Returns the number of keys in the database.";
    "flushdb" -1 [WRITE|ALONE] NOKEYS, "keyspace write slow dangerous" "server" "1.0.0" server::flushdb, "Removes all keys from the current database.";
    "swapdb" 3 [WRITE|FAST|ALONE] NOKEYS, "keyspace write fast dangerous" "server" "4.0.0" server::swapdb, "Swaps two Redis databases.";
    "flushall" -1 [WRITE|ALONE] NOKEYS, "keyspace write slow dangerous" "server" "1.0.0" server::flushall, "Removes all keys from all databases.";
    "time" 1 [LOADING|STALE|FAST] NOKEYS, "fast" "server" "2.6.0" server::time, "Returns the server time.";
    "info" -1 [LOADING|STALE] NOKEYS, "slow dangerous" "server" "1.0.0" server::info, "Returns information and statistics about the server.";
    "function" -2 [] NOKEYS, "slow" "scripting" "7.0.0" functions::function, "A container for function commands.", subs functions::SUBCOMMANDS;
    "config" -2 [] NOKEYS, "slow" "server" "2.0.0" server::container, "A container for server configuration commands.", subs server::CONFIG_SUBCOMMANDS;
    "client" -2 [] NOKEYS, "slow" "connection" "2.4.0" server::container, "A container for client connection commands.", subs super::client::SUBCOMMANDS;
    "slowlog" -2 [] NOKEYS, "slow" "server" "2.2.12" server::container, "A container for slow log commands.", subs server::SLOWLOG_SUBCOMMANDS;
    "latency" -2 [] NOKEYS, "slow" "server" "2.8.13" server::container, "A container for latency diagnostics commands.", subs server::LATENCY_SUBCOMMANDS;
    "memory" -2 [] NOKEYS, "slow" "server" "4.0.0" server::container, "A container for memory diagnostics commands.", subs server::MEMORY_SUBCOMMANDS;
    "debug" -2 [ADMIN|NOSCRIPT|LOADING|STALE|PROTECTED] NOKEYS, "admin slow dangerous" "server" "1.0.0" server::debug, "A container for debugging commands.";
    "monitor" 1 [ADMIN|NOSCRIPT|LOADING|STALE] NOKEYS, "admin slow dangerous" "server" "1.0.0" server::monitor, "Listens for all requests received by the server in real-time.";
    "shutdown" -1 [ADMIN|NOSCRIPT|LOADING|STALE|NO_MULTI|ALLOW_BUSY] NOKEYS, "admin slow dangerous" "server" "1.0.0" server::shutdown, "Synchronously saves the database(s) to disk and shuts down the Redis server.";
    "save" 1 [ADMIN|NOSCRIPT|NO_ASYNC_LOADING|NO_MULTI] NOKEYS, "admin slow dangerous" "server" "1.0.0" persistence::save_cmd, "Synchronously saves the database(s) to disk.";
    "bgsave" -1 [ADMIN|NOSCRIPT|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "server" "1.0.0" persistence::bgsave, "Asynchronously saves the database(s) to disk.";
    "bgrewriteaof" 1 [ADMIN|NOSCRIPT|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "server" "1.0.0" persistence::bgrewriteaof, "Asynchronously rewrites the append-only file to disk.";
    "replicaof" 3 [ADMIN|NOSCRIPT|STALE|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "server" "5.0.0" replication::replicaof, "Configures a server as replica of another, or promotes it to a master.";
    "slaveof" 3 [ADMIN|NOSCRIPT|STALE|NO_ASYNC_LOADING] NOKEYS, "admin slow dangerous" "server" "1.0.0" replication::replicaof, "Sets a Redis server as a replica of another, or promotes it to being a master.";
    "replconf" -1 [ADMIN|NOSCRIPT|LOADING|STALE|ALLOW_BUSY] NOKEYS, "admin slow dangerous" "server" "3.0.0" replication::replconf, "An internal command for configuring the replication stream.";
    "psync" -3 [ADMIN|NO_MULTI|NOSCRIPT] NOKEYS, "admin slow dangerous" "server" "2.8.0" replication::psync, "An internal command used in replication.";
    "sync" 1 [ADMIN|NO_MULTI|NOSCRIPT] NOKEYS, "admin slow dangerous" "server" "1.0.0" replication::sync, "An internal command used in replication.";
    "wait" 3 [NOSCRIPT] NOKEYS, "slow connection" "generic" "3.0.0" replication::wait, "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.";
    "role" 1 [NOSCRIPT|LOADING|STALE|FAST] NOKEYS, "admin fast dangerous" "server" "2.8.12" replication::role, "Returns the replication role.";
    "lastsave" 1 [LOADING|STALE|FAST] NOKEYS, "admin fast dangerous" "server" "1.0.0" server::lastsave, "Returns the Unix timestamp of the last successful save to disk.";
    "cluster" -2 [] NOKEYS, "slow" "cluster" "3.0.0" cluster::container, "A container for cluster commands", subs cluster::SUBCOMMANDS;
    "command" -1 [LOADING|STALE] NOKEYS, "slow connection" "server" "2.8.13" command::command, "Returns detailed information about all commands.", subs command::SUBCOMMANDS;
};

/// A resolved table entry: its id (for statistics) and spec.
#[derive(Clone, Copy)]
pub struct Resolved {
    /// Index into the flattened table.
    pub id: usize,
    /// The entry.
    pub spec: &'static CommandSpec,
    /// Full name for errors and stats (`get`, `config|get`).
    pub full_name: &'static str,
}

/// Why a name did not resolve to a runnable entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// No such command.
    Unknown,
    /// Known container, unknown subcommand (the container's id is given).
    UnknownSubcommand(usize),
}

/// The flattened table with name lookup. Its ids index the node's
/// per-command statistics.
pub struct CommandTable {
    entries: Vec<(&'static CommandSpec, &'static str)>,
    /// The names clients call commands by (after `rename-command`).
    by_name: HashMap<&'static str, usize>,
    /// The table's own names, kept only once a command was renamed: streams
    /// the server wrote itself (AOF, replication) use them.
    original: Option<HashMap<&'static str, usize>>,
}

/// The one table of the process (built on first use, or by `rename_commands`).
static TABLE: std::sync::OnceLock<CommandTable> = std::sync::OnceLock::new();

/// The one table of the process.
pub fn index() -> &'static CommandTable {
    TABLE.get_or_init(CommandTable::new)
}

/// Why a `rename-command` directive was refused (Redis's words).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenameError {
    /// OLD names no command (or one already renamed away).
    #[error("rename-command {0}: No such command in rename-command")]
    NoSuchCommand(String),
    /// NEW is already a command's name.
    #[error("rename-command {0}: Target command name already exists")]
    TargetExists(String),
    /// The table was in use before the renames came.
    #[error("rename-command must be applied before the command table is used")]
    TooLate,
}

/// Applies `rename-command OLD NEW` directives, in order, before the table is
/// first used (at start): OLD stops answering, NEW answers instead (NEW ""
/// removes the command). Lookups cost the same afterwards.
pub fn rename_commands(pairs: &[(String, String)]) -> Result<(), RenameError> {
    if pairs.is_empty() {
        return Ok(());
    }
    let mut t = CommandTable::new();
    for (old, new) in pairs {
        t.rename(old, new)?;
    }
    TABLE.set(t).map_err(|_| RenameError::TooLate)
}

impl Default for CommandTable {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandTable {
    /// Indexes `COMMANDS` and their subcommands.
    pub fn new() -> Self {
        let mut entries: Vec<(&'static CommandSpec, &'static str)> = Vec::new();
        let mut by_name = HashMap::new();
        for c in top_level() {
            by_name.insert(c.name, entries.len());
            entries.push((c, c.name));
            for s in c.subcommands {
                let full: &'static str =
                    Box::leak(format!("{}|{}", c.name, s.name).into_boxed_str());
                by_name.insert(full, entries.len());
                entries.push((s, full));
            }
        }
        debug_assert!(entries.len() <= crate::node::stats::MAX_COMMANDS);
        CommandTable {
            entries,
            by_name,
            original: None,
        }
    }

    /// One `rename-command OLD NEW`, as Redis's config loader: OLD is looked
    /// up among the current names (case-insensitive), NEW must be free.
    fn rename(&mut self, old: &str, new: &str) -> Result<(), RenameError> {
        let shown = || format!("{old} {new}");
        let old_key = old.to_ascii_lowercase();
        let new_key = new.to_ascii_lowercase();
        let &id = self
            .by_name
            .get(old_key.as_str())
            .filter(|_| !old_key.contains('|'))
            .ok_or_else(|| RenameError::NoSuchCommand(shown()))?;
        // Checked before anything changes (Redis frees OLD first, so OLD
        // itself is a free target).
        if !new_key.is_empty() && new_key != old_key && self.by_name.contains_key(new_key.as_str())
        {
            return Err(RenameError::TargetExists(shown()));
        }
        self.by_name.remove(old_key.as_str());
        self.original.get_or_insert_with(|| {
            let mut all = self.by_name.clone();
            all.insert(self.entries[id].1, id);
            all
        });
        if !new_key.is_empty() {
            // Once per directive at start: the table lives as long as the process.
            let name: &'static str = Box::leak(new_key.into_boxed_str());
            self.by_name.insert(name, id);
        }
        Ok(())
    }

    /// The real name of the command clients call `name`, when
    /// `rename-command` renamed some command (None otherwise: names are real).
    pub fn real_name(&self, name: &[u8]) -> Option<&'static str> {
        self.original.as_ref()?;
        let key = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
        let &id = self.by_name.get(key.as_str())?;
        Some(self.entries[id].1)
    }

    /// Finds an entry by the table's own name, whatever `rename-command`
    /// did: for the streams the server wrote itself (AOF, replication), which
    /// carry commands under their real names.
    pub fn resolve_original(&self, name: &[u8], sub: Option<&[u8]>) -> Result<Resolved, Lookup> {
        self.resolve_in(self.original.as_ref().unwrap_or(&self.by_name), name, sub)
    }

    /// Finds the entry for `argv[0]` (and `argv[1]` for containers), by the
    /// names clients use.
    pub fn resolve(&self, name: &[u8], sub: Option<&[u8]>) -> Result<Resolved, Lookup> {
        self.resolve_in(&self.by_name, name, sub)
    }

    fn resolve_in(
        &self,
        by_name: &HashMap<&'static str, usize>,
        name: &[u8],
        sub: Option<&[u8]>,
    ) -> Result<Resolved, Lookup> {
        let mut lower = [0u8; 48];
        // `container|sub` names a table entry but is not a command a client
        // may send (Redis answers "unknown command").
        if name.len() > lower.len() || name.contains(&b'|') {
            return Err(Lookup::Unknown);
        }
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        let key = std::str::from_utf8(&lower[..name.len()]).map_err(|_| Lookup::Unknown)?;
        let &id = by_name.get(key).ok_or(Lookup::Unknown)?;
        let (spec, full_name) = self.entries[id];
        if spec.subcommands.is_empty() {
            return Ok(Resolved {
                id,
                spec,
                full_name,
            });
        }
        // Containers with no subcommand argument run their own handler (arity error).
        let Some(sub) = sub else {
            return Ok(Resolved {
                id,
                spec,
                full_name,
            });
        };
        match spec
            .subcommands
            .iter()
            .position(|s| s.name.as_bytes().eq_ignore_ascii_case(sub))
        {
            Some(i) => {
                let (spec, full_name) = self.entries[id + 1 + i];
                Ok(Resolved {
                    id: id + 1 + i,
                    spec,
                    full_name,
                })
            }
            None => Err(Lookup::UnknownSubcommand(id)),
        }
    }

    /// All entries (top-level and subcommands) with their full names.
    pub fn entries(
        &self,
    ) -> impl Iterator<Item = (usize, &'static CommandSpec, &'static str)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, (s, n))| (i, *s, *n))
    }

    /// Entry by id.
    pub fn get(&self, id: usize) -> Option<(&'static CommandSpec, &'static str)> {
        self.entries.get(id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::spec::{BeginSearch, FindKeys, Flags};

    #[test]
    fn names_are_unique_lowercase_and_resolve() {
        let t = CommandTable::new();
        let mut seen = std::collections::HashSet::new();
        for (_, spec, full) in t.entries() {
            assert!(seen.insert(full), "duplicate {full}");
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            assert!(spec.arity.0 != 0, "{full} has arity 0");
        }
        assert_eq!(t.resolve(b"GeT", None).unwrap().spec.name, "get");
        assert!(matches!(t.resolve(b"nosuch", None), Err(Lookup::Unknown)));
        for name in [&b"GET|"[..], b"config|get", b"GET|SET|OTHER"] {
            assert!(matches!(t.resolve(name, None), Err(Lookup::Unknown)));
        }
        assert_eq!(
            t.resolve(b"command", Some(b"COUNT")).unwrap().full_name,
            "command|count"
        );
        assert!(matches!(
            t.resolve(b"command", Some(b"bogus")),
            Err(Lookup::UnknownSubcommand(_))
        ));
    }

    #[test]
    fn renamed_commands_answer_to_their_new_name_only() {
        let mut t = CommandTable::new();
        t.rename("CONFIG", "cfg").unwrap();
        t.rename("flushall", "").unwrap();
        assert!(matches!(
            t.resolve(b"config", Some(b"get")),
            Err(Lookup::Unknown)
        ));
        assert_eq!(
            t.resolve(b"CFG", Some(b"get")).unwrap().full_name,
            "config|get"
        );
        assert!(matches!(t.resolve(b"flushall", None), Err(Lookup::Unknown)));
        assert_eq!(
            t.resolve_original(b"flushall", None).unwrap().full_name,
            "flushall"
        );
        assert!(matches!(
            t.resolve_original(b"cfg", None),
            Err(Lookup::Unknown)
        ));
        assert_eq!(
            t.rename("nosuch", "x").unwrap_err().to_string(),
            "rename-command nosuch x: No such command in rename-command"
        );
        assert_eq!(
            t.rename("get", "set").unwrap_err().to_string(),
            "rename-command get set: Target command name already exists"
        );
        t.rename("Get", "GET").unwrap();
        assert_eq!(t.real_name(b"CFG"), Some("config"));
        assert_eq!(t.real_name(b"get"), Some("get"));
        assert!(CommandTable::new().original.is_none());
        assert_eq!(CommandTable::new().real_name(b"get"), None);
    }

    #[test]
    fn key_specs_point_at_arguments_the_arity_allows() {
        for (_, c, full) in CommandTable::new().entries() {
            let min = c.arity.0.unsigned_abs() as i32;
            for spec in c.keys.specs {
                let BeginSearch::Index(pos) = spec.begin else {
                    continue;
                };
                let FindKeys::Range { lastkey, .. } = spec.find else {
                    continue;
                };
                // The fixed keys of a spec lie within the arguments every call has
                // (a range to the end may be empty: PFMERGE's sources).
                let last = pos + lastkey.max(0);
                let bound = if lastkey < 0 { min + 1 } else { min };
                assert!(
                    last < bound,
                    "{full}: key {last} beyond arity {}",
                    c.arity.0
                );
            }
            assert_eq!(c.is_write(), c.flags.has(Flags::WRITE));
        }
    }

    #[test]
    fn key_flags_agree_with_the_command_flags() {
        use crate::commands::spec::key_flags::{NOT_KEY, OW, RM, RO, RW};
        for (_, c, full) in CommandTable::new().entries() {
            for spec in c.keys.specs {
                let access = spec.flags & (RO | RW | OW | RM | NOT_KEY);
                assert_eq!(access.count_ones(), 1, "{full}: one of RO/RW/OW/RM");
                // PFCOUNT is the one read-only command with an RW key: it
                // may rewrite the cached cardinality (Redis declares it so).
                if c.flags.has(Flags::READONLY) && c.name != "pfcount" {
                    assert_eq!(access, RO, "{full} is read-only");
                }
            }
        }
    }
}
