//! A primary's replicas: what each asked for, where its link is and what it
//! acknowledged (INFO, ROLE, WAIT, min-replicas). The tasks that serve them
//! live in `services::primary`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::Log;

/// What a replica asked for.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// The replication id it followed (`?` for none).
    pub replid: String,
    /// The first byte it needs (PSYNC's offset, 1-based), or -1.
    pub offset: i64,
    /// PSYNC (false: the old SYNC, which gets the RDB without a +FULLRESYNC line).
    pub psync: bool,
    /// The port it listens on (REPLCONF listening-port), for INFO.
    pub listening_port: u16,
    /// It announced `capa eof`: the snapshot may be streamed with an end mark.
    pub eof: bool,
}

/// Where a replica link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkState {
    /// Waiting for its snapshot.
    WaitBgsave = 0,
    /// Receiving the snapshot.
    SendBulk = 1,
    /// Streaming.
    Online = 2,
}

/// One connected replica.
#[derive(Debug)]
pub struct ReplicaLink {
    /// The replica's connection id.
    pub id: u64,
    /// Its address.
    pub ip: IpAddr,
    /// The port it announced.
    pub port: u16,
    state: AtomicU8,
    /// The offset it acknowledged last.
    pub ack: AtomicU64,
    /// When it did (unix ms).
    pub last_ack_ms: AtomicU64,
    /// It sent an ACK since its sync: after a snapshot with an end mark, the
    /// stream waits for this (the replica then knows the snapshot ended).
    pub acked_once: AtomicBool,
}

impl ReplicaLink {
    /// A link whose replica has just asked for a sync.
    pub fn new(id: u64, ip: IpAddr, port: u16) -> Self {
        ReplicaLink {
            id,
            ip,
            port,
            state: AtomicU8::new(LinkState::WaitBgsave as u8),
            ack: AtomicU64::new(0),
            last_ack_ms: AtomicU64::new(crate::clock::unix_ms()),
            acked_once: AtomicBool::new(false),
        }
    }

    /// Where the link is.
    pub fn state(&self) -> LinkState {
        match self.state.load(Ordering::Relaxed) {
            0 => LinkState::WaitBgsave,
            1 => LinkState::SendBulk,
            _ => LinkState::Online,
        }
    }

    /// Moves the link on (the replica task does).
    pub fn set_state(&self, s: LinkState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }
}

/// The replicas connected to this server.
#[derive(Debug, Default)]
pub struct Replicas {
    links: Mutex<Vec<Arc<ReplicaLink>>>,
    /// Woken by every ACK (WAIT waits on it).
    pub acked: Notify,
    last_ping_ms: AtomicU64,
    /// Full syncs served (INFO `sync_full`).
    pub full_syncs: AtomicU64,
    /// Partial resyncs accepted (`sync_partial_ok`).
    pub partial_ok: AtomicU64,
    /// Partial resyncs refused, served as full ones (`sync_partial_err`).
    pub partial_err: AtomicU64,
    /// Snapshot bytes made for full syncs and not yet sent (replication
    /// buffers, left out of `maxmemory`).
    pub transfer_bytes: AtomicU64,
}

impl Replicas {
    /// The links, oldest first.
    pub fn list(&self) -> Vec<Arc<ReplicaLink>> {
        self.links.lock().clone()
    }

    /// Replicas streaming (past their sync).
    pub fn online(&self) -> usize {
        self.links
            .lock()
            .iter()
            .filter(|l| l.state() == LinkState::Online)
            .count()
    }

    /// Online replicas that acknowledged at least `offset`.
    pub fn acked_at_least(&self, offset: u64) -> usize {
        self.links
            .lock()
            .iter()
            .filter(|l| l.state() == LinkState::Online && l.ack.load(Ordering::Relaxed) >= offset)
            .count()
    }

    /// Online replicas whose last ACK is at most `max_lag_s` seconds old
    /// (`min-replicas-to-write`'s "good" replicas).
    pub fn good(&self, max_lag_s: u64, now_ms: u64) -> usize {
        self.links
            .lock()
            .iter()
            .filter(|l| {
                l.state() == LinkState::Online
                    && now_ms.saturating_sub(l.last_ack_ms.load(Ordering::Relaxed)) / 1000
                        <= max_lag_s
            })
            .count()
    }

    /// Registers a link (its replica asked for a sync).
    pub fn add(&self, l: Arc<ReplicaLink>) {
        self.links.lock().push(l);
    }

    /// Forgets a link (its replica went away); WAIT re-counts.
    pub fn remove(&self, id: u64) {
        self.links.lock().retain(|l| l.id != id);
        self.acked.notify_waiters();
    }

    /// True when a PING is due into the stream at `now_ms` (and records it).
    pub fn ping_due(&self, now_ms: u64) -> bool {
        let last = self.last_ping_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < super::log::PING_PERIOD_MS {
            return false;
        }
        self.last_ping_ms.store(now_ms, Ordering::Relaxed);
        true
    }
}

/// `WAIT numreplicas timeout` for a client whose last write ended at
/// `offset`: asks the replicas for an ACK and waits until `wanted` of them
/// acknowledged it or `timeout_ms` (0 = forever) passed. Returns how many did.
pub async fn wait(
    replicas: &Replicas,
    log: &Log,
    offset: u64,
    wanted: usize,
    timeout_ms: u64,
) -> usize {
    let have = replicas.acked_at_least(offset);
    if have >= wanted {
        return have;
    }
    log.append_control(&[b"REPLCONF", b"GETACK", b"*"]);
    let deadline =
        (timeout_ms > 0).then(|| tokio::time::Instant::now() + Duration::from_millis(timeout_ms));
    loop {
        let acked = replicas.acked.notified();
        let have = replicas.acked_at_least(offset);
        if have >= wanted {
            return have;
        }
        match deadline {
            Some(d) => {
                if tokio::time::timeout_at(d, acked).await.is_err() {
                    return replicas.acked_at_least(offset);
                }
            }
            None => acked.await,
        }
    }
}
