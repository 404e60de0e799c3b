//! The primary's side of replication. A connection that sends `PSYNC` (or
//! `SYNC`) is handed here by its session: a partial resync continues from the
//! backlog, a full one sends a point-in-time RDB snapshot whose point is
//! where the replica's feed of the stream starts. The snapshot is streamed
//! as it is made (`$EOF:<mark>` framing for replicas that announced
//! `capa eof`, a temporary file for the others), never built whole in
//! memory. Then the feed streams in bounded chunks, and the replica's
//! `REPLCONF ACK`s are read from the same socket (for `WAIT` and INFO). A
//! replica counts for `WAIT` only once it acknowledged, after loading.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::clock::unix_ms;
use crate::node::clients::ClientInfo;
use crate::node::Server;
use crate::persist::save::SaveError;
use crate::repl::links::{LinkState, ReplicaLink, SyncRequest};
use crate::repl::log::FeedHandle;
use crate::resp::parser::{Limits, Parsed, RequestParser};
use crate::resp::Argv;
use crate::services::save;

/// Most stream bytes taken from a feed at once: what a replica's task holds
/// outside the feed, where the output limit counts.
const FEED_CHUNK: usize = 256 * 1024;

/// Snapshot bytes handed from the snapshot thread to the socket at once, and
/// how many such chunks may wait (the memory a full sync holds besides the
/// copy-on-write originals).
const SNAPSHOT_CHUNK: usize = 256 * 1024;
const SNAPSHOT_QUEUE: usize = 4;

/// A replica silent this long is dropped (Redis's `repl-timeout`).
const REPL_TIMEOUT_MS: u64 = 60_000;

/// Serves a replica on `stream` until it disconnects: sync, then stream.
pub async fn serve(
    srv: Arc<Server>,
    mut stream: TcpStream,
    inbuf: BytesMut,
    req: SyncRequest,
    info: Arc<ClientInfo>,
) {
    let link = Arc::new(ReplicaLink::new(
        info.id,
        info.addr.ip(),
        req.listening_port,
    ));
    info.replica.store(true, Ordering::Relaxed);
    srv.replicas.add(link.clone());
    let r = sync_and_stream(&srv, &mut stream, inbuf, &req, &link, &info).await;
    srv.replicas.remove(link.id);
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
    let partial = if req.psync && req.replid != "?" {
        srv.repl
            .continue_feed(&req.replid, req.offset)
            .map_err(|why| {
                tracing::info!("Partial resynchronization not accepted: {why}");
            })
            .ok()
    } else {
        None
    };
    let full = partial.is_none();
    let feed = match partial {
        Some((feed, replid)) => {
            let feed = FeedGuard(&srv.repl, feed);
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
            // It has everything before its feed.
            link.ack.store(feed.1.offset, Ordering::Relaxed);
            feed
        }
        None => {
            srv.replicas.full_syncs.fetch_add(1, Ordering::Relaxed);
            if req.psync && req.replid != "?" {
                srv.replicas.partial_err.fetch_add(1, Ordering::Relaxed);
            }
            tracing::info!("Full resync requested by replica {}:{}", link.ip, link.port);
            let (feed, sent) = full_sync(srv, stream, req, link).await?;
            tracing::info!(
                "Synchronization with replica {}:{} succeeded ({sent} bytes)",
                link.ip,
                link.port,
            );
            // Not acknowledged yet: it counts for WAIT once it has loaded
            // the snapshot and says so.
            feed
        }
    };
    // After an end mark nothing may follow until the replica's first ACK,
    // as Redis does (a replica finds the mark at the end of what it read).
    let hold_until_ack = full && req.eof;
    if !hold_until_ack {
        link.set_state(LinkState::Online);
    }
    stream_feed(srv, stream, &mut inbuf, &feed.1, link, info, req.psync).await
}

/// A replica's feed, detached however its link ends (its bytes would
/// otherwise pile up until the output limit).
struct FeedGuard<'a>(&'a crate::repl::Log, FeedHandle);

impl Drop for FeedGuard<'_> {
    fn drop(&mut self) {
        self.0.detach_feed(self.1.id);
    }
}

/// Sends a point-in-time snapshot, made while it is sent: `+FULLRESYNC`
/// with the point's offset, then the RDB. Returns the feed that starts at
/// the point and the snapshot's size.
async fn full_sync<'a>(
    srv: &'a Arc<Server>,
    stream: &mut TcpStream,
    req: &SyncRequest,
    link: &ReplicaLink,
) -> std::io::Result<(FeedGuard<'a>, u64)> {
    let (at_point, point) = oneshot::channel::<FeedHandle>();
    let (tx, mut chunks) = mpsc::channel::<Vec<u8>>(SNAPSHOT_QUEUE);
    let tmp = (!req.eof).then(|| format!("temp-sync-{}-{}.rdb", std::process::id(), link.id));
    let maker = {
        let (s, tmp) = (srv.clone(), tmp.clone());
        tokio::task::spawn_blocking(move || make_snapshot(&s, at_point, tx, tmp.as_deref()))
    };
    let Ok(feed) = point.await else {
        // The maker ended before its point: its error says why.
        return Err(match maker.await {
            Ok(Err(e)) => e,
            _ => std::io::Error::other("no feed at the snapshot point"),
        });
    };
    let feed = FeedGuard(&srv.repl, feed);
    link.set_state(LinkState::SendBulk);
    let r = async {
        if req.psync {
            let replid = srv.repl.repl_id();
            let line = format!("+FULLRESYNC {replid} {}\r\n", feed.1.offset);
            stream.write_all(line.as_bytes()).await?;
        }
        send_snapshot(srv, stream, &feed.1, &mut chunks, maker, tmp.as_deref()).await
    }
    .await;
    if let Some(t) = &tmp {
        let _ = std::fs::remove_file(t);
    }
    Ok((feed, r?))
}

/// The socket side of `full_sync`: with an end mark, chunks as they come;
/// else the finished temporary file with its length first.
async fn send_snapshot(
    srv: &Server,
    stream: &mut TcpStream,
    feed: &FeedHandle,
    chunks: &mut mpsc::Receiver<Vec<u8>>,
    maker: tokio::task::JoinHandle<std::io::Result<u64>>,
    tmp: Option<&str>,
) -> std::io::Result<u64> {
    let made = |r: Result<std::io::Result<u64>, tokio::task::JoinError>| {
        r.map_err(std::io::Error::other).and_then(|r| r)
    };
    let mut sent = 0u64;
    match tmp {
        None => {
            let mark: String = (0..40)
                .map(|_| char::from(b"0123456789abcdef"[fastrand::usize(..16)]))
                .collect();
            stream
                .write_all(format!("$EOF:{mark}\r\n").as_bytes())
                .await?;
            while let Some(chunk) = chunks.recv().await {
                stream.write_all(&chunk).await?;
                sent += chunk.len() as u64;
                srv.replicas
                    .transfer_bytes
                    .fetch_sub(chunk.len() as u64, Ordering::Relaxed);
                srv.stats
                    .net_output
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                if !srv.repl.feed_alive(feed.id) {
                    return Err(std::io::Error::other("output buffer limit reached"));
                }
            }
            made(maker.await)?;
            stream.write_all(mark.as_bytes()).await?;
        }
        Some(path) => {
            let len = made(maker.await)?;
            stream.write_all(format!("${len}\r\n").as_bytes()).await?;
            let mut f = tokio::fs::File::open(path).await?;
            sent = tokio::io::copy(&mut f, stream).await?;
            srv.stats.net_output.fetch_add(sent, Ordering::Relaxed);
            if sent != len {
                return Err(std::io::Error::other("the snapshot file changed"));
            }
        }
    }
    Ok(sent)
}

/// Makes the snapshot (on a blocking thread): waits while another snapshot
/// runs, sends the feed attached at its point through `at_point`, then the
/// RDB as chunks (`tmp` None) or into the file `tmp`. Returns its size.
fn make_snapshot(
    srv: &Server,
    at_point: oneshot::Sender<FeedHandle>,
    tx: mpsc::Sender<Vec<u8>>,
    tmp: Option<&str>,
) -> std::io::Result<u64> {
    let mut at_point = Some(at_point);
    loop {
        let mark = || {
            let feed = srv.repl.attach_feed();
            if let Some(p) = at_point.take() {
                if let Err(feed) = p.send(feed) {
                    srv.repl.detach_feed(feed.id);
                }
            }
        };
        let r = match tmp {
            None => {
                let out = ChunkSender {
                    tx: tx.clone(),
                    buf: Vec::with_capacity(SNAPSHOT_CHUNK),
                    sent: 0,
                    pending: &srv.replicas.transfer_bytes,
                };
                save::write_snapshot(srv, out, false, mark).map(|(out, _)| out.sent)
            }
            Some(path) => {
                let out = std::io::BufWriter::new(std::fs::File::create(path)?);
                save::write_snapshot(srv, out, false, mark).and_then(|(out, _)| {
                    let f = out.into_inner().map_err(|e| e.into_error())?;
                    Ok(f.metadata()?.len())
                })
            }
        };
        match r {
            Ok(n) => return Ok(n),
            Err(SaveError::Busy) => std::thread::sleep(Duration::from_millis(100)),
            Err(SaveError::Io(e)) => return Err(e),
        }
    }
}

/// Hands what a snapshot writes to the socket's task in chunks; a full
/// queue makes the snapshot wait for the replica.
struct ChunkSender<'a> {
    tx: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
    sent: u64,
    pending: &'a AtomicU64,
}

impl ChunkSender<'_> {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(SNAPSHOT_CHUNK));
        let n = chunk.len() as u64;
        self.pending.fetch_add(n, Ordering::Relaxed);
        if self.tx.blocking_send(chunk).is_err() {
            self.pending.fetch_sub(n, Ordering::Relaxed);
            return Err(std::io::Error::other("the replica went away"));
        }
        self.sent += n;
        Ok(())
    }
}

impl Write for ChunkSender<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= SNAPSHOT_CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Writes what the socket takes now (cancel-safe: it writes or it does not).
async fn write_some(stream: &TcpStream, buf: &[u8]) -> std::io::Result<usize> {
    loop {
        stream.writable().await?;
        match stream.try_write(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
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
    let gone = || std::io::Error::other("output buffer limit reached");
    // Taken from the feed, not yet written: at most one chunk.
    let mut pending = Bytes::new();
    loop {
        read_acks(srv, &mut parser, &limits, inbuf, link)?;
        if link.state() != LinkState::Online && link.acked_once.load(Ordering::Relaxed) {
            link.set_state(LinkState::Online);
        }
        // Until then (a streamed snapshot not yet acknowledged) only ACKs move.
        let online = link.state() == LinkState::Online;
        if online && pending.is_empty() {
            pending = srv
                .repl
                .take_feed(feed.id, FEED_CHUNK)
                .map_err(|_| gone())?;
        }
        let stream = &*stream;
        tokio::select! {
            _ = tick.tick() => {
                // PSYNC replicas ACK every second; one silent this long is gone
                // (SYNC ones never ACK).
                let quiet = unix_ms().saturating_sub(link.last_ack_ms.load(Ordering::Relaxed));
                if expect_acks && quiet > REPL_TIMEOUT_MS {
                    return Err(std::io::Error::other("timeout: no ACK from the replica"));
                }
                // A feed over its soft limit for too long is dropped here.
                if !srv.repl.feed_alive(feed.id) {
                    return Err(gone());
                }
            }
            _ = feed.wake.notified(), if online && pending.is_empty() => {}
            r = write_some(stream, &pending), if !pending.is_empty() => {
                let n = r?;
                pending.advance(n);
                srv.stats.net_output.fetch_add(n as u64, Ordering::Relaxed);
            }
            r = crate::net::read_some(stream, inbuf) => {
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
                            link.acked_once.store(true, Ordering::Relaxed);
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

/// The periodic primary work: a PING into the stream every 10 s while
/// replicas are attached (Redis's `repl-ping-replica-period`), so they can
/// tell a quiet primary from a dead one. A cluster primary past its write
/// lease sends none: it may have been replaced meanwhile, and a byte the new
/// primary never had would make it resync fully when it rejoins (Redis skips
/// them while paused for the same reason).
pub fn cron(srv: &Server, now_ms: u64) {
    let leased = srv.cluster.as_ref().is_none_or(|c| c.serving());
    if srv.replicas.ping_due(now_ms) && leased {
        srv.repl.append_control(&[b"PING"]);
    }
}
