//! The node: the state commands act on (`Server`: the keyspace, the
//! replication log and its links, persistence state, the cluster state,
//! statistics, the client registry, CLIENT PAUSE), with no task of its own.
//! The server layer drives connections over it, services the long-running
//! work.

pub mod client_mem;
pub mod clients;
pub mod mailbox;
pub mod monitor;
pub mod notify;
pub mod pubsub;
pub mod shutdown;
pub mod slowlog;
pub mod stats;
pub mod tracking;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::broadcast;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::persist::save::{SaveError, Written};
use crate::repl::Log;
use crate::store::access::Policy;
use crate::store::memory::MemoryGauge;
use crate::store::{KeyEventSink, Keyspace, Removal};

/// The function libraries as snapshots and FUNCTION STATS see them.
#[derive(Debug, Default, Clone)]
pub struct FunctionCodes {
    /// Each library's code.
    pub codes: Vec<Vec<u8>>,
    /// Number of functions they register.
    pub functions: usize,
}

/// What commands and sessions ask of the long-running services, which sit
/// above them (`services::Drivers` implements it; start-up installs it):
/// replication, saving, the AOF, the cluster bus, serving a replica's link.
pub trait Services: Send + Sync {
    /// Replicates `host:port` (REPLICAOF, `--replicaof`, the cluster).
    fn replicate(&self, srv: &Arc<Server>, host: String, port: u16);
    /// Stops replicating; `why` goes to the log.
    fn stop_replicating(&self, srv: &Server, why: &str);
    /// Saves the RDB file now (SAVE, SHUTDOWN).
    fn save(&self, srv: &Server) -> Result<Written, SaveError>;
    /// Starts a background save.
    fn bgsave(&self, srv: &Arc<Server>) -> Result<(), SaveError>;
    /// Starts a background AOF rewrite.
    fn bgrewriteaof(&self, srv: &Arc<Server>) -> Result<(), SaveError>;
    /// Turns the AOF on, rewriting it first (CONFIG SET appendonly yes).
    fn enable_aof(&self, srv: &Arc<Server>) -> Result<(), SaveError>;
    /// Turns the AOF off once it is flushed.
    fn disable_aof(&self, srv: &Server);
    /// Makes replication follow the cluster topology now.
    fn follow_topology(&self, srv: &Arc<Server>);
    /// Serves a connection that asked for PSYNC/SYNC as a replica link.
    fn serve_replica(&self, link: ReplicaConn) -> BoxFuture;
}

/// A connection handed over to serve a replica: the server, its socket, what
/// was read past the PSYNC, the request, the client's shared record.
pub struct ReplicaConn {
    /// The server.
    pub srv: Arc<Server>,
    /// The socket.
    pub stream: tokio::net::TcpStream,
    /// Bytes read after the PSYNC/SYNC.
    pub inbuf: bytes::BytesMut,
    /// What the replica asked for.
    pub req: crate::repl::links::SyncRequest,
    /// The connection's shared record.
    pub info: Arc<clients::ClientInfo>,
}

/// A task the caller awaits.
pub type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Runs blocking work (file or socket I/O) from a command; on a multi-thread
/// runtime the worker first hands its other tasks to another thread.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// The Redis version we answer as (clients and tools gate features on it).
pub const REDIS_VERSION: &str = "7.0.15";

/// Turns expirations and evictions into `DEL` entries of the replication
/// stream and into `expired`/`evicted` keyspace events.
struct LogRemovals {
    log: Arc<Log>,
    srv: std::sync::Weak<Server>,
    /// `notify-keyspace-events`, shared with `HotConfig`: a created or
    /// missed key costs one load when its class is off.
    events: Arc<std::sync::atomic::AtomicU32>,
    /// CLIENT TRACKING: a changed key costs one load while nobody tracks.
    tracking: Arc<tracking::Tracking>,
}

impl LogRemovals {
    fn notify(&self, class: u32, db: usize, event: &str, key: &[u8]) {
        if self.events.load(Ordering::Relaxed) & class == 0 {
            return;
        }
        if let Some(srv) = self.srv.upgrade() {
            srv.notify_keyspace_event(db, class, event, key);
        }
    }
}

impl KeyEventSink for LogRemovals {
    fn removed(&self, db: usize, key: &[u8], why: Removal) {
        self.log.append(db, &[b"DEL", key]);
        let (class, event) = match why {
            Removal::Expired => (notify::EXPIRED, "expired"),
            Removal::Evicted => (notify::EVICTED, "evicted"),
        };
        self.notify(class, db, event, key);
    }

    fn created(&self, db: usize, key: &[u8]) {
        self.notify(notify::NEW, db, "new", key);
    }

    fn missed(&self, db: usize, key: &[u8]) {
        self.notify(notify::KEY_MISS, db, "keymiss", key);
    }

    fn changed(&self, _db: usize, key: &[u8]) {
        if self.tracking.is_idle() {
            return;
        }
        if let Some(srv) = self.srv.upgrade() {
            let how = srv.delivery(crate::clock::unix_ms());
            self.tracking.changed(key, &srv.clients, how);
        }
    }
}

/// The replicas' output limits (`client-output-buffer-limit replica`) as the
/// replication log applies them.
pub fn feed_limit(cfg: &Config) -> crate::repl::log::FeedLimit {
    let l = cfg.client_output_buffer_limit.replica;
    crate::repl::log::FeedLimit {
        hard: l.hard,
        soft: l.soft,
        soft_ms: l.soft_seconds.saturating_mul(1000),
    }
}

/// Hot-path copies of settings; each is stored by its option's table entry.
pub use crate::config::HotConfig;

/// `CLIENT PAUSE` state.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pause {
    /// Unix ms until which clients are paused (0 = not paused).
    pub until_ms: u64,
    /// True for `WRITE` mode (only writes wait), false for `ALL`.
    pub writes_only: bool,
}

/// `CLIENT PAUSE` state in one atomic (`until_ms << 1 | writes_only`): sessions
/// read it before every command, so it must not be a lock.
#[derive(Debug, Default)]
pub struct PauseState(AtomicU64);

/// The latest end a pause can hold: `until_ms` keeps 63 bits in the atomic.
/// Later ends (CLIENT PAUSE near i64::MAX ms) are clamped to it, so they last
/// instead of losing their top bit and ending in the past.
pub const PAUSE_FOREVER_MS: u64 = u64::MAX >> 1;

impl PauseState {
    /// The current pause.
    pub fn get(&self) -> Pause {
        let v = self.0.load(Ordering::Acquire);
        Pause {
            until_ms: v >> 1,
            writes_only: v & 1 == 1,
        }
    }

    /// Replaces the pause with `f(current)`, atomically.
    pub fn update(&self, f: impl Fn(Pause) -> Pause) {
        let enc = |p: Pause| (p.until_ms.min(PAUSE_FOREVER_MS) << 1) | p.writes_only as u64;
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(enc(f(Pause {
                    until_ms: v >> 1,
                    writes_only: v & 1 == 1,
                })))
            });
    }
}

/// A listening socket CONFIG SET port/bind opened, handed to the accept
/// loop, which switches to it (the old one closes; open connections stay).
#[derive(Default)]
pub struct Relisten {
    next: Mutex<Option<std::net::TcpListener>>,
    ready: tokio::sync::Notify,
}

impl Relisten {
    /// Hands `listener` (already bound) to the accept loop.
    pub fn offer(&self, listener: std::net::TcpListener) {
        *self.next.lock() = Some(listener);
        self.ready.notify_one();
    }

    /// Resolves once a listener was offered; returns it.
    pub async fn next(&self) -> Option<std::net::TcpListener> {
        self.ready.notified().await;
        self.next.lock().take()
    }
}

/// State shared by every connection.
pub struct Server {
    /// The configuration (the live subset changes with CONFIG SET).
    pub config: RwLock<Config>,
    /// Held by a CONFIG SET from reading `config` to its last side effect,
    /// so concurrent ones neither undo each other's changes nor both start
    /// an AOF writer.
    pub config_set: Mutex<()>,
    /// Hot-path copies of some settings.
    pub hot: HotConfig,
    /// All data.
    pub keyspace: Keyspace,
    /// `used_memory`.
    pub memory: MemoryGauge,
    /// The replication stream.
    pub repl: Arc<Log>,
    /// Server-wide counters.
    pub stats: stats::Stats,
    /// Connected clients.
    pub clients: clients::Clients,
    /// Per-command statistics, indexed by command-table id.
    pub command_stats: stats::CommandStatsTable,
    /// The slow log.
    pub slowlog: Mutex<slowlog::SlowLog>,
    /// MONITOR feed; sent to only while `monitors` > 0.
    pub monitor_tx: broadcast::Sender<Bytes>,
    /// Number of clients in MONITOR mode.
    pub monitors: AtomicUsize,
    /// Pub/sub listeners.
    pub pubsub: pubsub::PubSub,
    /// CLIENT TRACKING's tables.
    pub tracking: Arc<tracking::Tracking>,
    /// `CLIENT PAUSE` state and a wake-up for paused sessions.
    pub pause: PauseState,
    /// Notified on `CLIENT UNPAUSE`.
    pub unpause: tokio::sync::Notify,
    /// Shutdown trigger.
    pub shutdown: shutdown::Shutdown,
    /// A new listening socket from CONFIG SET port/bind.
    pub relisten: Relisten,
    /// Start time.
    pub started: Instant,
    /// Random 40-hex run id.
    pub run_id: String,
    /// Writes since the last save (`rdb_changes_since_last_save`).
    pub dirty: AtomicU64,
    /// Unix seconds of the last successful save (start time until one happens).
    pub lastsave: AtomicU64,
    /// The TCP port actually bound.
    pub port: AtomicU64,
    /// Highest `used_memory` seen (`used_memory_peak`).
    pub mem_peak: AtomicU64,
    /// `used_memory` right after start-up (`used_memory_startup`).
    pub mem_startup: u64,
    /// Cluster mode's state (None in standalone mode).
    pub cluster: Option<Arc<Cluster>>,
    /// Connections MIGRATE keeps to its targets.
    pub migrate: crate::cluster::migrate::Pool,
    /// RDB and AOF state.
    pub persistence: crate::persist::Persistence,
    /// Replicas attached to this server.
    pub replicas: crate::repl::links::Replicas,
    /// The primary this server replicates, if any.
    pub upstream: crate::repl::upstream::UpstreamSlot,
    /// The Lua interpreter and its script cache, made on first use. Only a
    /// script runner holding the keyspace alone, or SCRIPT, takes it.
    pub scripts: Mutex<Option<crate::script::Engine>>,
    /// The function libraries and their interpreter, made on first use.
    pub functions: Mutex<Option<crate::script::functions::Functions>>,
    /// The libraries' codes and function count as of their last change,
    /// readable while a function runs (snapshots, FUNCTION STATS).
    pub function_codes: parking_lot::RwLock<FunctionCodes>,
    /// The running script's busy and kill state, read without that lock.
    pub script_watch: std::sync::Arc<crate::script::RunWatch>,
    /// What commands and sessions ask of the services (installed at start).
    services: std::sync::OnceLock<Box<dyn Services>>,
    me: std::sync::Weak<Server>,
}

impl Server {
    /// Builds the shared state of a standalone server from a configuration.
    pub fn new(cfg: Config) -> Arc<Server> {
        Self::with_cluster(cfg, None)
    }

    /// Builds the shared state; `cluster` is Some in cluster mode (one database).
    pub fn with_cluster(cfg: Config, cluster: Option<Arc<Cluster>>) -> Arc<Server> {
        let repl = Arc::new(Log::new(cfg.repl_backlog_size.max(16 * 1024) as usize));
        repl.set_feed_limit(feed_limit(&cfg));
        // Synchronous writes are known by their stream offsets.
        if cfg.replica_sync_writes > 0 {
            repl.activate();
        }
        let dbs = if cluster.is_some() {
            1
        } else {
            cfg.databases as usize
        };
        let (monitor_tx, _) = broadcast::channel(4096);
        let run_id = crate::repl::ids::random_id();
        let memory = MemoryGauge::new();
        let mem_startup = memory.refresh();
        let hot = HotConfig::from_config(&cfg);
        let tracking = Arc::new(tracking::Tracking::default());
        Arc::new_cyclic(|me| {
            let removals = LogRemovals {
                log: repl.clone(),
                srv: me.clone(),
                events: hot.notify_keyspace_events.clone(),
                tracking: tracking.clone(),
            };
            let keyspace = Keyspace::new(dbs, Arc::new(removals));
            keyspace.set_policy(Policy::parse(&cfg.maxmemory_policy).unwrap_or(Policy::NoEviction));
            Server {
                me: me.clone(),
                mem_peak: AtomicU64::new(mem_startup),
                mem_startup,
                hot,
                port: AtomicU64::new(cfg.port as u64),
                slowlog: Mutex::new(slowlog::SlowLog::new(cfg.slowlog_max_len as usize)),
                config: RwLock::new(cfg),
                config_set: Mutex::new(()),
                keyspace,
                memory,
                repl,
                stats: stats::Stats::default(),
                clients: clients::Clients::new(),
                command_stats: Default::default(),
                monitor_tx,
                monitors: AtomicUsize::new(0),
                pubsub: Default::default(),
                tracking,
                pause: PauseState::default(),
                unpause: tokio::sync::Notify::new(),
                shutdown: shutdown::Shutdown::new(),
                relisten: Relisten::default(),
                started: Instant::now(),
                run_id,
                dirty: AtomicU64::new(0),
                lastsave: AtomicU64::new(crate::clock::unix_ms() / 1000),
                cluster,
                migrate: Default::default(),
                persistence: Default::default(),
                replicas: Default::default(),
                upstream: Default::default(),
                scripts: Mutex::new(None),
                script_watch: Default::default(),
                functions: Mutex::new(None),
                function_codes: Default::default(),
                services: std::sync::OnceLock::new(),
            }
        })
    }

    /// The server as an `Arc` (for background work a command starts).
    pub fn me(&self) -> Option<Arc<Server>> {
        self.me.upgrade()
    }

    /// Reads `used_memory` now and raises the recorded peak if needed.
    pub fn used_memory(&self) -> u64 {
        let used = self.memory.refresh();
        self.mem_peak.fetch_max(used, Ordering::Relaxed);
        used
    }

    /// Memory `maxmemory` leaves out, as Redis does: replication and AOF
    /// buffers, snapshot bytes on their way to replicas, and the originals a
    /// running snapshot keeps (a fork's copy-on-write is outside Redis's
    /// figure too). Counting them would evict data for a slow replica, and
    /// the evictions' DELs would grow its buffer further.
    pub fn not_counted_memory(&self) -> u64 {
        self.repl.held_bytes()
            + self.replicas.transfer_bytes.load(Ordering::Relaxed)
            + self.keyspace.copy_on_write_bytes()
    }

    /// The offset this node reports in its headers: a replica's is how much of
    /// its primary's stream it applied, the number elections rank replicas by.
    pub fn replication_offset(&self) -> u64 {
        match self.upstream.get() {
            Some(up) if self.upstream.is_replica() => up.applied(&self.repl).max(0) as u64,
            _ => self.repl.offset(),
        }
    }

    /// The long-running services, once installed at start-up.
    pub fn services(&self) -> Option<&dyn Services> {
        self.services.get().map(|s| s.as_ref())
    }

    /// Installs the services (once; later calls change nothing).
    pub fn install_services(&self, s: Box<dyn Services>) {
        let _ = self.services.set(s);
    }

    /// Every key is gone (FLUSHALL, FLUSHDB, a full resync): tracking clients
    /// are told to drop everything.
    pub fn tracking_flushed(&self) {
        self.tracking
            .flushed(&self.clients, self.delivery(crate::clock::unix_ms()));
    }

    /// Sends the BCAST invalidations collected so far, and keeps the
    /// tracking table within `tracking-table-max-keys` (after each command,
    /// and from the cron).
    pub fn tracking_settle(&self) {
        if self.tracking.is_idle() {
            return;
        }
        let how = self.delivery(crate::clock::unix_ms());
        self.tracking.broadcast(&self.clients, how);
        let max = self.hot.tracking_table_max_keys.load(Ordering::Relaxed);
        self.tracking.limit(max as usize, &self.clients, how);
    }

    /// Appends a write to the replication stream and counts it as a change;
    /// returns the stream offset after it (0 while nothing consumes the stream).
    pub fn propagate(&self, db: usize, argv: &[&[u8]]) -> u64 {
        self.dirty.fetch_add(1, Ordering::Relaxed);
        self.repl.append(db, argv)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pause_end_past_63_bits_is_clamped_not_wrapped() {
        let p = super::PauseState::default();
        for until_ms in [u64::MAX, 1 << 63, (1 << 63) + 1_800_000_000_000] {
            p.update(|_| super::Pause {
                until_ms,
                writes_only: true,
            });
            let got = p.get();
            assert_eq!(got.until_ms, super::PAUSE_FOREVER_MS, "{until_ms}");
            assert!(got.writes_only);
        }
        p.update(|_| super::Pause {
            until_ms: 12345,
            writes_only: false,
        });
        assert_eq!((p.get().until_ms, p.get().writes_only), (12345, false));
    }
}
