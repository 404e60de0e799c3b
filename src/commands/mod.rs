//! Commands: the static table (`table`), its metadata types (`spec`, the key
//! specs in `key_specs`), and one file per command family. A handler gets a
//! `Ctx` (server, client, reply writer) and the argument vector, writes its
//! reply, and reports errors as `CmdError`.

pub mod args;
pub mod bitmap;
pub mod blocking;
pub mod client;
pub mod client_state;
pub mod cluster;
pub mod command;
pub mod connection;
pub mod expire_args;
pub mod functions;
pub mod geo;
pub mod hash;
pub mod hyperloglog;
pub mod key_specs;
pub mod keys;
pub mod list;
pub mod list_blocking;
#[cfg(test)]
mod notify_tests;
pub mod persistence;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod set;
pub mod sort;
pub mod spec;
pub mod stream;
pub mod strings;
pub mod table;
pub mod tracking;
pub mod transactions;
pub mod zset;

use thiserror::Error;

use crate::node::Server;
use crate::resp::reply::Reply;
use crate::store::{MultiGuard, SlotGuard};

pub use crate::resp::Argv;
pub use client_state::{Client, ReplyMode};
pub use spec::{Arity, CommandSpec, Flags, KeySpec, KeySpecs};

/// A command failure; `Display` is the exact Redis error line without the `-`.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CmdError {
    /// Wrong argument count for the (sub)command.
    #[error("ERR wrong number of arguments for '{0}' command")]
    Arity(String),
    /// Generic syntax error.
    #[error("ERR syntax error")]
    Syntax,
    /// An argument that must be an integer is not.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// An argument that must be a float is not.
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// The key holds another type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// Key missing where one is required.
    #[error("ERR no such key")]
    NoSuchKey,
    /// Over `maxmemory` with nothing to evict.
    #[error("OOM command not allowed when used memory > 'maxmemory'.")]
    Oom,
    /// `Increment or decrement would overflow`.
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    /// Unknown subcommand of a container command.
    #[error("ERR unknown subcommand '{sub}'. Try {cmd} HELP.")]
    UnknownSubcommand {
        /// The subcommand as sent.
        sub: String,
        /// The container command, upper case.
        cmd: String,
    },
    /// An expire time argument is out of range.
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpire(String),
    /// Authentication is required.
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    /// Any other error line, code included (`ERR …`, `BUSYKEY …`).
    #[error("{0}")]
    Other(String),
    /// An error line already counted in the error statistics (a script's
    /// error that came from a command it ran, counted there).
    #[error("{0}")]
    Counted(String),
}

impl From<crate::store::WrongType> for CmdError {
    fn from(_: crate::store::WrongType) -> CmdError {
        CmdError::WrongType
    }
}

impl CmdError {
    /// An `ERR …` error with free text.
    pub fn err(msg: impl std::fmt::Display) -> Self {
        CmdError::Other(format!("ERR {msg}"))
    }
}

/// Result of a handler.
pub type CmdResult = Result<(), CmdError>;

/// A handler function.
pub type Handler = fn(&mut Ctx<'_>, &Argv<'_>) -> CmdResult;

/// Everything a handler may use: the server, this client, the reply writer.
pub struct Ctx<'a> {
    /// Shared server state.
    pub srv: &'a Server,
    /// The calling connection's state.
    pub client: &'a mut Client,
    /// Where the reply goes.
    pub out: &'a mut Reply,
    /// The command's fixed notion of now (unix ms), so one command sees one time.
    pub now_ms: u64,
    /// The table entry being executed.
    pub spec: &'static CommandSpec,
    /// How a command runs a command it carries (EXEC its queue): the server's
    /// dispatch entry, passed down so this layer does not import it.
    pub run: Run,
}

/// Runs one resolved command with its statistics, slow log and MONITOR feed.
pub type Run = fn(&Server, &mut Client, &mut Reply, &Argv<'_>, table::Resolved, u64);

impl<'a> Ctx<'a> {
    /// The client's selected database.
    pub fn db(&self) -> usize {
        self.client.db
    }

    /// The time slot locks judge expiry by: the command's, or
    /// `NEVER_EXPIRED` for a stream being applied.
    pub fn expiry_now(&self) -> u64 {
        if self.client.replaying {
            crate::store::NEVER_EXPIRED
        } else {
            self.now_ms
        }
    }

    /// True when a TTL ending at `at` (unix ms) has already passed, so the
    /// key is deleted instead of given the TTL. Never while a stream is being
    /// applied or on a replica (Redis's `checkAlreadyExpired`): the DEL
    /// arrives from the primary.
    pub fn already_expired(&self, at: i64) -> bool {
        !self.client.replaying && !self.srv.upstream.is_replica() && at <= self.now_ms as i64
    }

    /// Locks the slot of `key` in the selected database.
    pub fn lock(&self, key: &[u8]) -> SlotGuard<'a> {
        self.srv
            .keyspace
            .lock_key(self.client.db, key, self.expiry_now())
    }

    /// Locks the slots of all `keys` in the selected database, in order.
    pub fn lock_keys<I>(&self, keys: I) -> MultiGuard<'a>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let db = self.client.db;
        self.srv
            .keyspace
            .lock_many(keys.into_iter().map(|k| (db, k)), self.expiry_now())
    }

    /// Appends the deterministic form of a write to the replication stream. Call
    /// while still holding the slot lock, so the stream order matches the data.
    /// Inside EXEC the first write opens a MULTI in the stream.
    pub fn propagate(&mut self, argv: &[&[u8]]) {
        use transactions::ExecWrap;
        if self.client.in_script && self.client.script_repl == 0 {
            // `redis.set_repl(redis.REPL_NONE)`.
            return;
        }
        match self.client.exec_wrap {
            ExecWrap::Pending => {
                self.client.exec_wrap = ExecWrap::Open;
                self.srv.propagate(self.client.db, &[b"MULTI"]);
            }
            ExecWrap::Script => {
                // Held under the keyspace alone: nothing can come between.
                self.client.exec_wrap = ExecWrap::ScriptOne;
                let held = argv.iter().map(|a| a.to_vec()).collect();
                self.client.script_held = Some((self.client.db, held));
                return;
            }
            ExecWrap::ScriptOne => {
                self.client.exec_wrap = ExecWrap::Open;
                if let Some((db, held)) = self.client.script_held.take() {
                    // MULTI goes with the first write's database, as Redis.
                    self.srv.propagate(db, &[b"MULTI"]);
                    let parts: Vec<&[u8]> = held.iter().map(|a| a.as_slice()).collect();
                    self.srv.propagate(db, &parts);
                }
            }
            ExecWrap::Off | ExecWrap::Open => {}
        }
        let off = self.srv.propagate(self.client.db, argv);
        self.client.write_offset = self.client.write_offset.max(off);
    }

    /// The services (replication, saving, the AOF, the bus) this command
    /// asks something of; every running server has them.
    pub fn services(&self) -> Result<&'a dyn crate::node::Services, CmdError> {
        self.srv
            .services()
            .ok_or_else(|| CmdError::err("this server runs no services"))
    }

    /// Publishes keyspace event `event` of `class` (`node::notify`) on `key`
    /// in the selected database, when `notify-keyspace-events` asks for it.
    pub fn notify(&self, class: u32, event: &str, key: &[u8]) {
        self.srv
            .notify_keyspace_event(self.client.db, class, event, key);
    }

    /// Propagates the command as received, under its real name when
    /// `rename-command` gave it another (the AOF and replicas read real names).
    pub fn propagate_verbatim(&mut self, argv: &Argv<'_>) {
        let mut parts: Vec<&[u8]> = argv.iter().collect();
        if let Some(real) = table::index().real_name(argv.get(0)) {
            parts[0] = real.as_bytes();
        }
        self.propagate(&parts);
    }
}

/// Parses a signed 64-bit integer argument strictly (`ERR value is not an integer`).
pub fn parse_i64(arg: &[u8]) -> Result<i64, CmdError> {
    parse_int_strict(arg).ok_or(CmdError::NotInteger)
}

/// Parses an integer as Redis's `string2ll`: optional '-', digits, nothing else.
pub fn parse_int_strict(arg: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(arg).ok()?;
    if s.is_empty()
        || s.starts_with('+')
        || (s.len() > 1 && s.starts_with('0'))
        || s.starts_with("-0")
    {
        return None;
    }
    s.parse::<i64>().ok()
}

/// Parses a float argument as Redis's `string2ld`/`strtold`: no spaces, no NaN.
pub fn parse_f64(arg: &[u8]) -> Result<f64, CmdError> {
    let s = std::str::from_utf8(arg).map_err(|_| CmdError::NotFloat)?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return Err(CmdError::NotFloat);
    }
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => s.parse().map_err(|_| CmdError::NotFloat)?,
    };
    if v.is_nan() {
        return Err(CmdError::NotFloat);
    }
    Ok(v)
}

/// True when `arg` equals `word` ignoring ASCII case.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// In-process command execution for unit tests: a real `Server`, a client, and
/// the gate, without sockets.
#[cfg(test)]
pub(crate) mod testkit {
    use std::sync::Arc;

    use crate::commands::Client;
    use crate::config::Config;
    use crate::node::clients::ClientInfo;
    use crate::node::Server;
    use crate::resp::reply::Reply;
    use crate::server::gate;

    /// The buffer and ranges an `Argv` over `words` needs.
    pub fn argv_of<W: AsRef<[u8]>>(words: &[W]) -> (Vec<u8>, Vec<(usize, usize)>) {
        let mut src = Vec::new();
        let mut ranges = Vec::new();
        for w in words {
            let a = src.len();
            src.extend_from_slice(w.as_ref());
            ranges.push((a, src.len()));
        }
        (src, ranges)
    }

    /// A server with its replication stream recording, and one client.
    pub struct Kit {
        /// The server.
        pub srv: Arc<Server>,
        /// The client.
        pub client: Client,
        /// Its reply buffer.
        pub out: Reply,
    }

    impl Kit {
        /// Fresh server with default configuration.
        pub fn new() -> Kit {
            Self::with_server(Server::new(Config::defaults()))
        }

        /// A kit around a server built by the caller.
        pub fn with_server(srv: Arc<Server>) -> Kit {
            crate::services::install(&srv);
            srv.repl.activate();
            let addr = "127.0.0.1:1".parse().expect("literal address");
            let info = Arc::new(ClientInfo::new(1, addr, addr));
            Kit {
                srv,
                client: Client::new(info, true),
                out: Reply::new(Default::default()),
            }
        }

        /// Runs one command; returns its raw reply.
        pub fn run(&mut self, words: &[&str]) -> String {
            let words: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
            self.run_bytes(&words)
        }

        /// Runs one command given as byte strings; returns its raw reply.
        pub fn run_bytes(&mut self, words: &[&[u8]]) -> String {
            let (src, ranges) = argv_of(words);
            let argv = super::Argv::new(&src, &ranges);
            let now = crate::clock::unix_ms();
            let mut hold = gate::BatchHold::new(&self.srv.keyspace.isolation);
            gate::dispatch(
                &self.srv,
                &mut self.client,
                &mut self.out,
                &argv,
                now,
                &mut hold,
            );
            let r = String::from_utf8_lossy(&self.out.buf).into_owned();
            self.out.buf.clear();
            r
        }

        /// The replication stream so far, as commands (SELECT included).
        pub fn stream(&self) -> Vec<Vec<String>> {
            let (_, bytes) = self.srv.repl.backlog();
            let mut out = Vec::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                match redis_protocol::resp2::decode::decode(&bytes::Bytes::copy_from_slice(rest)) {
                    Ok(Some((redis_protocol::resp2::types::OwnedFrame::Array(items), used))) => {
                        out.push(
                            items
                                .into_iter()
                                .map(|f| match f {
                                    redis_protocol::resp2::types::OwnedFrame::BulkString(b) => {
                                        String::from_utf8_lossy(&b).into_owned()
                                    }
                                    other => format!("{other:?}"),
                                })
                                .collect(),
                        );
                        rest = &rest[used..];
                    }
                    _ => break,
                }
            }
            out
        }

        /// The last command in the stream, joined by spaces.
        pub fn last_propagated(&self) -> String {
            self.stream()
                .last()
                .map(|c| c.join(" "))
                .unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"10"), Ok(10));
        assert_eq!(parse_i64(b"-10"), Ok(-10));
        assert_eq!(parse_i64(b"0"), Ok(0));
        assert!(parse_i64(b"010").is_err());
        assert!(parse_i64(b" 1").is_err());
        assert!(parse_i64(b"1.0").is_err());
        assert!(parse_i64(b"9223372036854775808").is_err());
    }

    #[test]
    fn floats() {
        assert_eq!(parse_f64(b"1.5"), Ok(1.5));
        assert_eq!(parse_f64(b"5e3"), Ok(5000.0));
        assert_eq!(parse_f64(b"-inf"), Ok(f64::NEG_INFINITY));
        assert!(parse_f64(b"nan").is_err());
        assert!(parse_f64(b" 1").is_err());
        assert!(parse_f64(b"abc").is_err());
    }
}
