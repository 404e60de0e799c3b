//! A replica's link to its primary, as the rest of the server sees it: who,
//! whether it is up, how much of the stream was applied. The task that
//! follows the primary lives in `services::replica`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::Log;

/// The link to the primary this server replicates.
#[derive(Debug)]
pub struct Upstream {
    /// The primary's host.
    pub host: String,
    /// The primary's port.
    pub port: u16,
    /// The link is up and streaming (`master_link_status:up`).
    pub link_up: AtomicBool,
    /// A full sync is being received.
    pub sync_in_progress: AtomicBool,
    /// Unix ms of the last byte from the primary.
    pub last_io_ms: AtomicU64,
    /// Unix ms when the link went down (0 while up).
    pub down_since_ms: AtomicU64,
    /// A sync over this link succeeded: from then on the log holds the
    /// primary's stream, so its offset is what was applied.
    synced: AtomicBool,
    stopped: AtomicBool,
    stop: Notify,
    /// Held while one command of the stream is applied and logged, and by
    /// `stop`: a promotion never falls between a command and its log bytes.
    pub applying: Mutex<()>,
}

impl Upstream {
    /// A link to `host:port` that has synced nothing yet.
    pub fn new(host: String, port: u16) -> Self {
        Upstream {
            host,
            port,
            link_up: AtomicBool::new(false),
            sync_in_progress: AtomicBool::new(false),
            last_io_ms: AtomicU64::new(0),
            down_since_ms: AtomicU64::new(crate::clock::unix_ms()),
            synced: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            stop: Notify::new(),
            applying: Mutex::new(()),
        }
    }

    /// A full sync (or a partial one's `+CONTINUE`) succeeded.
    pub fn set_synced(&self) {
        self.synced.store(true, Ordering::Relaxed);
    }

    /// How much of the primary's stream was applied: the log's offset once
    /// a sync succeeded, -1 before (a full sync is needed).
    pub fn applied(&self, log: &Log) -> i64 {
        if self.synced.load(Ordering::Relaxed) {
            log.offset() as i64
        } else {
            -1
        }
    }

    /// True once `stop` was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Resolves when `stop` is called.
    pub async fn stopping(&self) {
        self.stop.notified().await
    }

    /// How old this replica's data may be at `now` (Redis's data age): ms
    /// since the last byte from the primary, or since the link went down.
    pub fn data_age(&self, now: u64) -> u64 {
        let since = if self.link_up.load(Ordering::Relaxed) {
            self.last_io_ms.load(Ordering::Relaxed)
        } else {
            self.down_since_ms.load(Ordering::Relaxed)
        };
        now.saturating_sub(since)
    }

    /// Ends the link (REPLICAOF NO ONE, another primary, a promotion).
    pub fn stop(&self) {
        let _applying = self.applying.lock();
        self.stopped.store(true, Ordering::Relaxed);
        self.stop.notify_waiters();
    }
}

/// The server's primary, when it is a replica.
#[derive(Debug, Default)]
pub struct UpstreamSlot {
    link: Mutex<Option<Arc<Upstream>>>,
    active: AtomicBool,
}

impl UpstreamSlot {
    /// True while this server is a replica (one atomic load, for the gate).
    pub fn is_replica(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// The link, when a replica.
    pub fn get(&self) -> Option<Arc<Upstream>> {
        self.link.lock().clone()
    }

    /// Installs the link to a new primary (this server is a replica now).
    pub fn set(&self, up: Arc<Upstream>) {
        *self.link.lock() = Some(up);
        self.active.store(true, Ordering::Relaxed);
    }

    /// Removes the link, if any, and whether this server is a replica.
    pub fn take(&self) -> Option<Arc<Upstream>> {
        self.link.lock().take()
    }

    /// Says whether this server is a replica (`REPLICAOF NO ONE` ends it).
    pub fn set_active(&self, on: bool) {
        self.active.store(on, Ordering::Relaxed);
    }
}
