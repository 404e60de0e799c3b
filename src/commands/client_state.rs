//! The state a connection's commands act on (`Client`): its database, its
//! open transaction, reply mode, routing flags and replication bookkeeping.
//! Owned by the session task; the shared view others see is its `ClientInfo`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::node::clients::ClientInfo;

/// What `CLIENT REPLY` set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Replies are sent.
    On,
    /// Replies are discarded.
    Off,
    /// The next command's reply is discarded.
    Skip,
    /// Set by SKIP: this command's reply is discarded, then back to On.
    SkipThis,
}

/// State owned by the session task.
pub struct Client {
    /// The shared part.
    pub info: Arc<ClientInfo>,
    /// Selected database.
    pub db: usize,
    /// True once AUTH succeeded (or no password is set).
    pub authenticated: bool,
    /// `CLIENT REPLY` mode.
    pub reply_mode: ReplyMode,
    /// Close the connection after flushing this batch's replies (QUIT, errors).
    pub close_after_reply: bool,
    /// `READONLY` was sent (cluster replica reads).
    pub readonly: bool,
    /// `ASKING` applies to this command (and to a whole transaction).
    pub asking: bool,
    /// `ASKING` ran: it applies to the next command.
    pub asking_next: bool,
    /// The open transaction, between MULTI and EXEC/DISCARD.
    pub multi: Option<super::transactions::Transaction>,
    /// Stream offset after this client's last write; its replies wait until the
    /// AOF has it.
    pub write_offset: u64,
    /// The offset up to which its replies were already released.
    pub durable_offset: u64,
    /// `CLIENT SYNC-WRITES`: replicas its writes wait for, instead of
    /// `replica-sync-writes`.
    pub sync_writes: Option<u32>,
    /// Reply ranges (in the reply buffer) of synchronous writes waiting
    /// for their replicas (`server::sync_writes`).
    pub sync_pending: Vec<(usize, usize)>,
    /// The port a replica announced (REPLCONF listening-port).
    pub repl_listening_port: u16,
    /// The replica announced `REPLCONF capa eof`: it reads a streamed snapshot.
    pub repl_capa_eof: bool,
    /// PSYNC/SYNC ran: the connection becomes a replica link after this batch.
    pub takeover: Option<crate::repl::links::SyncRequest>,
    /// WAIT ran: (replicas wanted, timeout ms) for the session to wait out.
    pub wait: Option<(usize, u64)>,
    /// The slot whose fence this client's running command holds (cluster mode).
    pub fenced_slot: Option<u16>,
    /// Inside EXEC: whether its writes were wrapped in MULTI yet.
    pub exec_wrap: super::transactions::ExecWrap,
    /// Its commands come from a stream accepted once already (an AOF being
    /// loaded, the primary's link): keys never expire for it.
    pub replaying: bool,
    /// The command it is blocked in, for the session to wait on.
    pub blocked: Option<super::blocking::Block>,
    /// It is a blocked command's re-run by a writer (`blocking::serve_ready`):
    /// a blocking handler that finds nothing replies nothing.
    pub serving: bool,
    /// Blocking commands answer as timed out instead of blocking (a script
    /// runner sets it, as Redis's `CLIENT_DENY_BLOCKING`; EXEC and replayed
    /// streams are recognised without it).
    pub deny_blocking: bool,
    /// Its WATCHed keys (made on its first WATCH).
    pub watches: Option<crate::store::watch::Watches>,
    /// CLIENT TRACKING is on (its mode is in `info.tracking`).
    pub tracking: bool,
    /// Bytes its tracking prefixes hold (client eviction counts them).
    pub tracking_mem: usize,
    /// `CLIENT CACHING yes|no` ran: it applies to the next command.
    pub caching: bool,
    /// A script of this client is running the command (`redis.call`).
    pub in_script: bool,
    /// Where the running script's writes go (`redis.set_repl`; 0: nowhere).
    pub script_repl: u8,
    /// The running script's first write, held back: a script with one write
    /// propagates it alone, one with more wraps them in MULTI/EXEC (as Redis 7).
    pub script_held: Option<(usize, Vec<Vec<u8>>)>,
}

impl Client {
    /// Session state for a new connection.
    pub fn new(info: Arc<ClientInfo>, authenticated: bool) -> Self {
        Client {
            info,
            db: 0,
            authenticated,
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            readonly: false,
            asking: false,
            asking_next: false,
            multi: None,
            write_offset: 0,
            durable_offset: 0,
            sync_writes: None,
            sync_pending: Vec::new(),
            repl_listening_port: 0,
            repl_capa_eof: false,
            takeover: None,
            wait: None,
            fenced_slot: None,
            exec_wrap: Default::default(),
            replaying: false,
            blocked: None,
            serving: false,
            deny_blocking: false,
            watches: None,
            tracking: false,
            tracking_mem: 0,
            caching: false,
            in_script: false,
            script_repl: 0,
            script_held: None,
        }
    }

    /// Forgets every WATCHed key (EXEC, DISCARD, UNWATCH, RESET).
    pub fn unwatch(&mut self) {
        if let Some(w) = &self.watches {
            w.clear();
        }
    }

    /// Bytes of its state besides its buffers, as client eviction counts
    /// them: the queued transaction, watched keys, subscriptions and tracking
    /// prefixes. Reads counters only (it runs after every batch).
    pub fn state_mem(&self) -> usize {
        use crate::node::client_mem::{SUBSCRIPTION_MEM, WATCHED_KEY_MEM};
        let multi = self.multi.as_ref().map_or(0, |t| t.mem());
        let watched = self.watches.as_ref().map_or(0, |w| w.len());
        let subscriptions: usize = self
            .info
            .subscriptions
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum();
        multi + watched * WATCHED_KEY_MEM + subscriptions * SUBSCRIPTION_MEM + self.tracking_mem
    }

    /// The connection id.
    pub fn id(&self) -> u64 {
        self.info.id
    }

    /// Selects database `db` and mirrors it for CLIENT LIST.
    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }
}
