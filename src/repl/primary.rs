//! The primary's side of replication. A connection that sends `PSYNC` (or
//! `SYNC`) is handed here by its session: a partial resync continues from the
//! backlog, a full one sends a point-in-time RDB snapshot whose point is
//! where the replica's feed of the stream starts. Then the feed streams, and
//! the replica's `REPLCONF ACK`s are read from the same socket (for `WAIT`
//! and INFO).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::log::FeedHandle;
use crate::commands::Argv;
use crate::resp::parser::{Limits, Parsed, RequestParser};
use crate::server::client::{unix_ms, ClientInfo};
use crate::server::Server;

/// A replica's output limit (Redis's `client-output-buffer-limit replica`
/// hard limit): a replica further behind than this is dropped.
const FEED_LIMIT: usize = 256 * 1024 * 1024;

/// A replica silent this long is dropped (Redis's `repl-timeout`).
const REPL_TIMEOUT_MS: u64 = 60_000;

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
}

impl ReplicaLink {
    /// Where the link is.
    pub fn state(&self) -> LinkState {
        match self.state.load(Ordering::Relaxed) {
            0 => LinkState::WaitBgsave,
            1 => LinkState::SendBulk,
            _ => LinkState::Online,
        }
    }

    fn set_state(&self, s: LinkState) {
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
}

impl Replicas {
    /// The links, oldest first.
    pub fn list(&self) -> Vec<Arc<ReplicaLink>> {
        self.links.lock().clone()
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

    fn add(&self, l: Arc<ReplicaLink>) {
        self.links.lock().push(l);
    }

    fn remove(&self, id: u64) {
        self.links.lock().retain(|l| l.id != id);
    }
}

/// Serves a replica on `stream` until it disconnects: sync, then stream.
pub async fn serve(
    srv: Arc<Server>,
    mut stream: TcpStream,
    inbuf: BytesMut,
    req: SyncRequest,
    info: Arc<ClientInfo>,
) {
    let link = Arc::new(ReplicaLink {
        id: info.id,
        ip: info.addr.ip(),
        port: req.listening_port,
        state: AtomicU8::new(LinkState::WaitBgsave as u8),
        ack: AtomicU64::new(0),
        last_ack_ms: AtomicU64::new(unix_ms()),
    });
    info.replica.store(true, Ordering::Relaxed);
    srv.replicas.add(link.clone());
    let r = sync_and_stream(&srv, &mut stream, inbuf, &req, &link, &info).await;
    srv.replicas.remove(link.id);
    srv.replicas.acked.notify_waiters();
    match r {
        Ok(()) => tracing::info!("Connection with replica {}:{} lost.", link.ip, link.port),
        Err(e) => tracing::warn!("Replica {}:{} dropped: {e}", link.ip, link.port),
    }
    let _ = stream.shutdown().await;
}

async fn sync_and_stream(
    srv: &Arc<Server>,
    stream: &mut TcpStream,
    mut inbuf: BytesMut,
    req: &SyncRequest,
    link: &ReplicaLink,
    info: &ClientInfo,
) -> std::io::Result<()> {
    let replid = srv.repl.repl_id().to_string();
    let partial = (req.psync && req.replid == replid && req.offset > 0)
        .then(|| srv.repl.attach_feed_from(req.offset as u64 - 1))
        .flatten();
    let feed = match partial {
        Some(feed) => {
            srv.replicas.partial_ok.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                "Partial resynchronization request from {}:{} accepted, from offset {}.",
                link.ip,
                link.port,
                req.offset
            );
            stream
                .write_all(format!("+CONTINUE {replid}\r\n").as_bytes())
                .await?;
            feed
        }
        None => {
            srv.replicas.full_syncs.fetch_add(1, Ordering::Relaxed);
            if req.psync && req.replid != "?" {
                srv.replicas.partial_err.fetch_add(1, Ordering::Relaxed);
            }
            tracing::info!("Full resync requested by replica {}:{}", link.ip, link.port);
            let (rdb, feed) = snapshot(srv).await?;
            link.set_state(LinkState::SendBulk);
            if req.psync {
                let line = format!("+FULLRESYNC {replid} {}\r\n", feed.offset);
                stream.write_all(line.as_bytes()).await?;
            }
            stream
                .write_all(format!("${}\r\n", rdb.len()).as_bytes())
                .await?;
            stream.write_all(&rdb).await?;
            tracing::info!(
                "Synchronization with replica {}:{} succeeded ({} bytes)",
                link.ip,
                link.port,
                rdb.len()
            );
            feed
        }
    };
    link.set_state(LinkState::Online);
    link.ack.store(feed.offset, Ordering::Relaxed);
    let r = stream_feed(srv, stream, &mut inbuf, &feed, link, info, req.psync).await;
    srv.repl.detach_feed(feed.id);
    r
}

/// A point-in-time RDB image in memory, and the feed that starts at its
/// point. Waits while another snapshot (BGSAVE, AOF rewrite) runs.
async fn snapshot(srv: &Arc<Server>) -> std::io::Result<(Vec<u8>, FeedHandle)> {
    loop {
        let s = srv.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut feed = None;
            let r = crate::persist::save::write_snapshot(&s, Vec::new(), false, || {
                feed = Some(s.repl.attach_feed());
            });
            r.map(|(rdb, _)| (rdb, feed))
        })
        .await
        .map_err(std::io::Error::other)?;
        match r {
            Ok((rdb, Some(feed))) => return Ok((rdb, feed)),
            Ok((_, None)) => return Err(std::io::Error::other("no feed at the snapshot point")),
            Err(crate::persist::save::SaveError::Busy) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(crate::persist::save::SaveError::Io(e)) => return Err(e),
        }
    }
}

async fn stream_feed(
    srv: &Server,
    stream: &mut TcpStream,
    inbuf: &mut BytesMut,
    feed: &FeedHandle,
    link: &ReplicaLink,
    info: &ClientInfo,
    expect_acks: bool,
) -> std::io::Result<()> {
    let mut parser = RequestParser::new();
    let limits = Limits { max_bulk: 1 << 20 };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        read_acks(srv, &mut parser, &limits, inbuf, link)?;
        tokio::select! {
            _ = tick.tick() => {
                // PSYNC replicas ACK every second; one silent this long is gone
                // (SYNC ones never ACK).
                let quiet = unix_ms().saturating_sub(link.last_ack_ms.load(Ordering::Relaxed));
                if expect_acks && quiet > REPL_TIMEOUT_MS {
                    return Err(std::io::Error::other("timeout: no ACK from the replica"));
                }
            }
            _ = feed.wake.notified() => {
                let bytes = srv
                    .repl
                    .take_feed(feed.id, FEED_LIMIT)
                    .map_err(|_| std::io::Error::other("output buffer limit reached"))?;
                if !bytes.is_empty() {
                    stream.write_all(&bytes).await?;
                    srv.stats.net_output.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
            }
            r = crate::server::session::read_some(stream, inbuf) => {
                if r? == 0 {
                    return Ok(());
                }
            }
            _ = info.kill_notify.notified() => return Ok(()),
            _ = srv.shutdown.wait() => return Ok(()),
        }
    }
}

/// Handles what the replica sent: `REPLCONF ACK <offset>` (anything else is
/// ignored, as Redis ignores a replica's other commands).
fn read_acks(
    srv: &Server,
    parser: &mut RequestParser,
    limits: &Limits,
    inbuf: &mut BytesMut,
    link: &ReplicaLink,
) -> std::io::Result<()> {
    loop {
        match parser.parse(inbuf, limits) {
            Ok(Parsed::Command { consumed }) => {
                {
                    let src = parser.inline_buffer().unwrap_or(&inbuf[..]);
                    let argv = Argv::new(src, parser.args());
                    if argv.len() >= 3
                        && argv.get(0).eq_ignore_ascii_case(b"REPLCONF")
                        && argv.get(1).eq_ignore_ascii_case(b"ACK")
                    {
                        if let Some(off) = std::str::from_utf8(argv.get(2))
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok())
                        {
                            link.ack.fetch_max(off, Ordering::Relaxed);
                            link.last_ack_ms.store(unix_ms(), Ordering::Relaxed);
                            srv.replicas.acked.notify_waiters();
                        }
                    }
                }
                inbuf.advance(consumed);
            }
            Ok(Parsed::Empty { consumed }) => inbuf.advance(consumed),
            Ok(Parsed::Incomplete) => return Ok(()),
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
    }
}

/// `WAIT numreplicas timeout` for a client whose last write ended at
/// `offset`: asks the replicas for an ACK and waits until `wanted` of them
/// acknowledged it or `timeout_ms` (0 = forever) passed. Returns how many did.
pub async fn wait(srv: &Server, offset: u64, wanted: usize, timeout_ms: u64) -> usize {
    let have = srv.replicas.acked_at_least(offset);
    if have >= wanted {
        return have;
    }
    srv.repl.append_control(&[b"REPLCONF", b"GETACK", b"*"]);
    let deadline =
        (timeout_ms > 0).then(|| tokio::time::Instant::now() + Duration::from_millis(timeout_ms));
    loop {
        let acked = srv.replicas.acked.notified();
        let have = srv.replicas.acked_at_least(offset);
        if have >= wanted {
            return have;
        }
        match deadline {
            Some(d) => {
                if tokio::time::timeout_at(d, acked).await.is_err() {
                    return srv.replicas.acked_at_least(offset);
                }
            }
            None => acked.await,
        }
    }
}

/// How often a primary pings into the stream (Redis's `repl-ping-replica-period`).
pub const PING_PERIOD_MS: u64 = 10_000;

/// The periodic primary work: a PING into the stream every 10 s while
/// replicas are attached (Redis's `repl-ping-replica-period`), so they can
/// tell a quiet primary from a dead one.
pub fn cron(srv: &Server, now_ms: u64) {
    let last = &srv.replicas.last_ping_ms;
    if now_ms.saturating_sub(last.load(Ordering::Relaxed)) >= PING_PERIOD_MS {
        last.store(now_ms, Ordering::Relaxed);
        srv.repl.append_control(&[b"PING"]);
    }
}
