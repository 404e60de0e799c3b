//! The connections other connections see: each one's `ClientInfo` (CLIENT
//! LIST/KILL/INFO, MONITOR) in a registry by id. The state a connection's
//! commands act on is its `commands::Client`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::Mutex;
use tokio::sync::Notify;

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
    /// QUIT ran: the connection closes once its reply is sent, and other
    /// connections treat it as gone already (a tracking redirection).
    pub quitting: AtomicBool,
    /// Wakes the session for a kill.
    pub kill_notify: Notify,
    /// Bytes waiting in the query buffer (for CLIENT LIST `qbuf`).
    pub qbuf: AtomicUsize,
    /// The query buffer's allocation (CLIENT LIST `qbuf` + `qbuf-free`).
    pub qbuf_cap: AtomicUsize,
    /// Set (with a mailbox wake-up) by the cron for a connection idle long
    /// enough that its session should free its query buffer.
    pub free_query_buffer: AtomicBool,
    /// True while blocked in a blocking command (CLIENT LIST flag `b`).
    pub blocked: AtomicBool,
    /// Frames other connections send it (pub/sub, invalidations).
    pub mailbox: super::mailbox::Mailbox,
    /// Its CLIENT TRACKING mode (None: off).
    pub tracking: Mutex<Option<super::tracking::Mode>>,
    /// Its pub/sub subscriptions (the registry changes them, also when a
    /// shard channel's slot leaves the node).
    pub subs: Mutex<super::pubsub::Subscriptions>,
    /// Its channel, pattern and shard-channel subscription counts (CLIENT
    /// LIST `sub`, `psub`, `ssub`; read per command without the lock).
    pub subscriptions: [AtomicUsize; 3],
    /// Its memory, as client eviction counts it (`client_mem`).
    pub mem: super::client_mem::MemShare,
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
            quitting: AtomicBool::new(false),
            kill_notify: Notify::new(),
            qbuf: AtomicUsize::new(0),
            qbuf_cap: AtomicUsize::new(0),
            free_query_buffer: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            mailbox: Default::default(),
            tracking: Default::default(),
            subs: Default::default(),
            subscriptions: Default::default(),
            mem: Default::default(),
        }
    }

    /// The same record with its socket's descriptor.
    pub fn with_fd(mut self, fd: i32) -> Self {
        self.fd = fd;
        self
    }

    /// Mirrors `subs`' counts for CLIENT LIST.
    pub fn mirror_subscriptions(&self, subs: &super::pubsub::Subscriptions) {
        for (a, n) in self.subscriptions.iter().zip(subs.counts()) {
            a.store(n, Ordering::Relaxed);
        }
    }

    /// Its subscriptions of every kind.
    pub fn subscribed(&self) -> usize {
        self.subscriptions
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum()
    }

    /// Asks the session to free its query buffer (it is idle).
    pub fn free_idle_query_buffer(&self) {
        self.free_query_buffer.store(true, Ordering::Relaxed);
        self.mailbox.wake();
    }

    /// Asks the session to close.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        // An idle session waits on its mailbox; a WAIT or a blocked command
        // on `kill_notify`.
        self.kill_notify.notify_one();
        self.mailbox.wake();
    }
}

/// All live connections by id.
#[derive(Default)]
pub struct Clients {
    map: DashMap<u64, Arc<ClientInfo>>,
    next_id: AtomicU64,
    /// What the clients hold together, for INFO and client eviction.
    pub mem: Arc<super::client_mem::ClientMemory>,
}

impl Clients {
    /// An empty registry; ids start at 1... after the first `next_id`.
    pub fn new() -> Self {
        Clients {
            map: DashMap::new(),
            next_id: AtomicU64::new(1),
            mem: Default::default(),
        }
    }

    /// A fresh connection id.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a connection.
    pub fn add(&self, info: Arc<ClientInfo>) {
        self.attach_mem(&info);
        self.map.insert(info.id, info);
    }

    /// Unregisters a connection.
    pub fn remove(&self, id: u64) {
        if let Some((_, info)) = self.map.remove(&id) {
            self.detach_mem(&info);
        }
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

    /// One connection by id, unless it is already on its way out (QUIT).
    pub fn get_staying(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.get(id)
            .filter(|c| !c.quitting.load(Ordering::Relaxed) && !c.killed.load(Ordering::Relaxed))
    }
}
