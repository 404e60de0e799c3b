//! Per-connection state: `Client` is owned by the session task; `ClientInfo` is the
//! part other connections see (CLIENT LIST/KILL/INFO) through the registry.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::Mutex;
use tokio::sync::Notify;

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

/// The shared view of a connection.
pub struct ClientInfo {
    /// Unique, increasing connection id.
    pub id: u64,
    /// Peer address.
    pub addr: SocketAddr,
    /// Local address.
    pub laddr: SocketAddr,
    /// Socket file descriptor (CLIENT LIST `fd`; -1 when unknown).
    pub fd: i32,
    /// Connection time (unix ms).
    pub created_ms: u64,
    /// Last command time (unix ms).
    pub last_ms: AtomicU64,
    /// Selected database (mirrored from `Client`).
    pub db: AtomicUsize,
    /// RESP version (2 or 3).
    pub resp: AtomicU8,
    /// Table index of the last command run (usize::MAX = none).
    pub last_cmd: AtomicUsize,
    /// `CLIENT SETNAME` name.
    pub name: Mutex<String>,
    /// `CLIENT SETINFO LIB-NAME`.
    pub lib_name: Mutex<String>,
    /// `CLIENT SETINFO LIB-VER`.
    pub lib_ver: Mutex<String>,
    /// True while in MONITOR mode.
    pub monitor: AtomicBool,
    /// True once the connection is a replica link (after PSYNC/SYNC).
    pub replica: AtomicBool,
    /// `CLIENT NO-EVICT on`.
    pub no_evict: AtomicBool,
    /// Set by CLIENT KILL; the session closes when it sees it.
    pub killed: AtomicBool,
    /// Wakes the session for a kill.
    pub kill_notify: Notify,
    /// Bytes waiting in the query buffer (for CLIENT LIST `qbuf`).
    pub qbuf: AtomicUsize,
}

impl ClientInfo {
    /// A new connection's shared record.
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr) -> Self {
        let now = crate::clock::unix_ms();
        ClientInfo {
            id,
            addr,
            laddr,
            fd: -1,
            created_ms: now,
            last_ms: AtomicU64::new(now),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            last_cmd: AtomicUsize::new(usize::MAX),
            name: Mutex::new(String::new()),
            lib_name: Mutex::new(String::new()),
            lib_ver: Mutex::new(String::new()),
            monitor: AtomicBool::new(false),
            replica: AtomicBool::new(false),
            no_evict: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            kill_notify: Notify::new(),
            qbuf: AtomicUsize::new(0),
        }
    }

    /// The same record with its socket's descriptor.
    pub fn with_fd(mut self, fd: i32) -> Self {
        self.fd = fd;
        self
    }

    /// Asks the session to close.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill_notify.notify_one();
    }
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
    pub multi: Option<crate::commands::transactions::Transaction>,
    /// Stream offset after this client's last write; its replies wait until the
    /// AOF has it.
    pub write_offset: u64,
    /// The offset up to which its replies were already released.
    pub durable_offset: u64,
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
    pub exec_wrap: crate::commands::transactions::ExecWrap,
    /// Its commands come from a stream accepted once already (an AOF being
    /// loaded, the primary's link): keys never expire for it.
    pub replaying: bool,
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
            repl_listening_port: 0,
            repl_capa_eof: false,
            takeover: None,
            wait: None,
            fenced_slot: None,
            exec_wrap: Default::default(),
            replaying: false,
        }
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

/// All live connections by id.
#[derive(Default)]
pub struct Clients {
    map: DashMap<u64, Arc<ClientInfo>>,
    next_id: AtomicU64,
}

impl Clients {
    /// An empty registry; ids start at 1... after the first `next_id`.
    pub fn new() -> Self {
        Clients {
            map: DashMap::new(),
            next_id: AtomicU64::new(1),
        }
    }

    /// A fresh connection id.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a connection.
    pub fn add(&self, info: Arc<ClientInfo>) {
        self.map.insert(info.id, info);
    }

    /// Unregisters a connection.
    pub fn remove(&self, id: u64) {
        self.map.remove(&id);
    }

    /// Number of connections.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nobody is connected.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A snapshot of every connection, ordered by id.
    pub fn snapshot(&self) -> Vec<Arc<ClientInfo>> {
        let mut v: Vec<Arc<ClientInfo>> = self.map.iter().map(|e| e.value().clone()).collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// One connection by id.
    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.map.get(&id).map(|e| e.value().clone())
    }
}
