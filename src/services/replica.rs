//! The replica's side of replication (`REPLICAOF host port`): one task that
//! connects to the primary, does the handshake as one straight-line
//! `async fn` (PING, REPLCONF listening-port, REPLCONF capa, PSYNC), loads
//! the snapshot of a full resync, then applies the stream and acknowledges
//! its offset every second. It reconnects after a failure, asking for a
//! partial resync from where it stopped.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::clock::unix_ms;
use crate::commands::Client;
use crate::node::clients::ClientInfo;
use crate::node::Server;
use crate::repl::log::encode_command;
use crate::repl::upstream::Upstream;
use crate::resp::parser::{Limits, Parsed, RequestParser};
use crate::resp::Argv;

/// No byte from the primary for this long ends the link (Redis's `repl-timeout`).
const REPL_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a sync attempt ended.
#[derive(Debug, Error)]
pub enum ReplError {
    /// The connection failed or closed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The primary answered something unexpected.
    #[error("{0}")]
    Protocol(String),
    /// The snapshot could not be loaded.
    #[error("failed loading the primary's snapshot: {0}")]
    Load(String),
    /// REPLICAOF NO ONE or another REPLICAOF.
    #[error("replication stopped")]
    Stopped,
}

/// Makes this server a replica of `host:port`, replacing any previous primary.
/// Keeps the data until the primary's snapshot replaces it.
pub fn start(srv: &Arc<Server>, host: String, port: u16) {
    detach(srv);
    // From here the log holds the primary's stream, under its ids.
    srv.repl.set_following(true);
    srv.config.write().replicaof = format!("{host} {port}");
    let up = Arc::new(Upstream::new(host, port));
    srv.upstream.set(up.clone());
    crate::commands::blocking::end_all_for_replica(srv);
    // Keys expire on a replica only when the primary's DEL arrives.
    srv.keyspace.set_keep_expired(true);
    tracing::info!("Connecting to MASTER {}:{}", up.host, up.port);
    tokio::spawn(run(srv.clone(), up));
}

/// `REPLICAOF NO ONE`, or a promotion in cluster mode (`why` says which):
/// stops replicating; the data stays.
pub fn stop(srv: &Server, why: &str) {
    if detach(srv) {
        tracing::info!("MASTER MODE enabled ({why})");
    }
    // A new history starts before the first write is accepted; the old id
    // stays valid for siblings and the old primary up to this offset.
    if srv.repl.is_following() {
        srv.repl.promote();
    }
    srv.upstream.set_active(false);
    srv.keyspace.set_keep_expired(false);
    srv.config.write().replicaof.clear();
}

/// Ends the link to the current primary, if any.
fn detach(srv: &Server) -> bool {
    match srv.upstream.take() {
        Some(up) => {
            up.stop();
            true
        }
        None => false,
    }
}

async fn run(srv: Arc<Server>, up: Arc<Upstream>) {
    // The primary's connection as a client: its database survives reconnects,
    // as a partial resync continues the same stream.
    let info = Arc::new(ClientInfo::new(
        0,
        ([127, 0, 0, 1], up.port).into(),
        ([127, 0, 0, 1], 0).into(),
    ));
    let mut client = Client::new(info, true);
    client.replaying = true;
    client.db = srv.repl.stream_db();
    while !up.is_stopped() {
        let r = tokio::select! {
            r = sync(&srv, &up, &mut client) => r,
            _ = up.stopping() => Err(ReplError::Stopped),
            _ = srv.shutdown.wait() => return,
        };
        up.link_up.store(false, Ordering::Relaxed);
        up.sync_in_progress.store(false, Ordering::Relaxed);
        up.down_since_ms.store(unix_ms(), Ordering::Relaxed);
        match r {
            Err(ReplError::Stopped) => return,
            Err(e) => tracing::warn!("Replication from {}:{}: {e}", up.host, up.port),
            Ok(()) => tracing::info!("Connection with master lost."),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = up.stopping() => return,
            _ = srv.shutdown.wait() => return,
        }
    }
}

/// Reads from the primary, with the buffer of what was read but not used.
struct Conn {
    s: TcpStream,
    buf: BytesMut,
}

impl Conn {
    async fn send(&mut self, argv: &[&[u8]]) -> Result<(), ReplError> {
        let mut out = Vec::new();
        encode_command(&mut out, argv);
        self.s.write_all(&out).await?;
        Ok(())
    }

    async fn fill(&mut self) -> Result<(), ReplError> {
        self.buf.reserve(64 * 1024);
        let n = tokio::time::timeout(REPL_TIMEOUT, self.s.read_buf(&mut self.buf))
            .await
            .map_err(|_| ReplError::Protocol("timeout reading from the primary".into()))??;
        if n == 0 {
            return Err(ReplError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        Ok(())
    }

    /// One line without its CRLF.
    async fn line(&mut self) -> Result<String, ReplError> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line = self.buf.split_to(i + 1);
                let text = String::from_utf8_lossy(&line[..i]);
                return Ok(text.trim_end_matches('\r').to_string());
            }
            if self.buf.len() > 64 * 1024 {
                return Err(ReplError::Protocol("line too long".into()));
            }
            self.fill().await?;
        }
    }

    /// Sends a handshake command and expects `+OK`-like success.
    async fn ask(&mut self, argv: &[&[u8]]) -> Result<String, ReplError> {
        self.send(argv).await?;
        let l = self.line().await?;
        if l.starts_with('-') {
            return Err(ReplError::Protocol(format!(
                "{} refused: {l}",
                String::from_utf8_lossy(argv[0])
            )));
        }
        Ok(l)
    }

    /// The snapshot after `+FULLRESYNC`: `$<len>` and the bytes, or the
    /// diskless `$EOF:<40-byte mark>` form ended by the mark. Newlines before
    /// it are the primary's keepalives.
    async fn payload(&mut self) -> Result<Vec<u8>, ReplError> {
        let head = loop {
            let l = self.line().await?;
            if !l.is_empty() {
                break l;
            }
        };
        let Some(spec) = head.strip_prefix('$') else {
            return Err(ReplError::Protocol(format!("bad snapshot header '{head}'")));
        };
        if let Some(mark) = spec.strip_prefix("EOF:") {
            let mark = mark.as_bytes().to_vec();
            if mark.len() != 40 {
                return Err(ReplError::Protocol("bad EOF mark".into()));
            }
            loop {
                if self.buf.len() >= 40 && self.buf.ends_with(&mark) {
                    let mut all = self.buf.split().to_vec();
                    all.truncate(all.len() - 40);
                    return Ok(all);
                }
                self.fill().await?;
            }
        }
        let len: usize = spec
            .parse()
            .map_err(|_| ReplError::Protocol(format!("bad snapshot length '{spec}'")))?;
        while self.buf.len() < len {
            self.fill().await?;
        }
        Ok(self.buf.split_to(len).to_vec())
    }
}

/// One connection to the primary: handshake, sync, then the stream until it
/// fails.
async fn sync(srv: &Arc<Server>, up: &Upstream, client: &mut Client) -> Result<(), ReplError> {
    let bind = srv.config.read().bind.clone();
    let s = tokio::time::timeout(
        Duration::from_secs(10),
        crate::net::connect_from(&bind, (up.host.as_str(), up.port)),
    )
    .await
    .map_err(|_| ReplError::Protocol("connect timeout".into()))??;
    let _ = s.set_nodelay(true);
    let mut c = Conn {
        s,
        buf: BytesMut::new(),
    };
    tracing::info!("MASTER <-> REPLICA sync started");
    let pong = c.ask(&[b"PING"]).await?;
    if !pong.starts_with('+') {
        return Err(ReplError::Protocol(format!("PING answered '{pong}'")));
    }
    let masterauth = srv.config.read().masterauth.clone();
    if !masterauth.is_empty() {
        c.ask(&[b"AUTH", masterauth.as_bytes()]).await?;
    }
    let port = srv.port.load(Ordering::Relaxed).to_string();
    c.ask(&[b"REPLCONF", b"listening-port", port.as_bytes()])
        .await?;
    c.ask(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])
        .await?;
    // The log is the history this server holds (its previous primary's, or
    // its own when it was a primary): a primary that shares it continues.
    let (ids, offset) = srv.repl.position();
    let (replid, from) = if !srv.repl.has_history() {
        ("?".to_string(), "-1".to_string())
    } else {
        (ids.replid, (offset + 1).to_string())
    };
    c.send(&[b"PSYNC", replid.as_bytes(), from.as_bytes()])
        .await?;
    // A primary may send newlines to keep the link alive before it answers.
    let reply = loop {
        let l = c.line().await?;
        if !l.is_empty() {
            break l;
        }
    };
    let mut words = reply.split_whitespace();
    match words.next() {
        Some("+FULLRESYNC") => {
            let id = words.next().unwrap_or("?").to_string();
            let off: i64 = words
                .next()
                .and_then(|o| o.parse().ok())
                .ok_or_else(|| ReplError::Protocol(format!("bad reply '{reply}'")))?;
            tracing::info!("Full resync from master: {id}:{off}");
            up.sync_in_progress.store(true, Ordering::Relaxed);
            let rdb = c.payload().await?;
            let (s2, id2) = (srv.clone(), id.clone());
            let (n, db) = tokio::task::spawn_blocking(move || load(&s2, &rdb, &id2, off))
                .await
                .map_err(|e| ReplError::Load(e.to_string()))??;
            tracing::info!("MASTER <-> REPLICA sync: Finished with success ({n} keys)");
            up.set_synced();
            up.sync_in_progress.store(false, Ordering::Relaxed);
            // A primary's stream starts with a SELECT; a replica's carries
            // on in the database its snapshot names.
            client.db = db;
        }
        Some("+CONTINUE") => {
            // A new id: the primary was promoted since (PSYNC2); what this
            // server holds is the shared part of both histories.
            if let Some(id) = words.next() {
                srv.repl.shift_to(id);
            }
            up.set_synced();
            client.db = srv.repl.stream_db();
            tracing::info!("Successful partial resynchronization with master.");
        }
        _ => return Err(ReplError::Protocol(format!("PSYNC answered '{reply}'"))),
    }
    up.link_up.store(true, Ordering::Relaxed);
    up.down_since_ms.store(0, Ordering::Relaxed);
    up.last_io_ms.store(unix_ms(), Ordering::Relaxed);
    apply_stream(srv, up, &mut c, client).await
}

/// Replaces the dataset with the snapshot of history `replid` at `offset`;
/// returns the keys loaded and the database the stream goes on in. The AOF,
/// when on, starts again from the new dataset (its offsets restart with the
/// log's).
fn load(
    srv: &Arc<Server>,
    rdb: &[u8],
    replid: &str,
    offset: i64,
) -> Result<(u64, usize), ReplError> {
    let aof = srv.persistence.aof().is_some();
    if aof {
        super::aof::disable(srv);
    }
    for db in 0..srv.keyspace.db_count() {
        srv.keyspace.flush_db(db, false);
    }
    srv.tracking_flushed();
    let (summary, keys) = super::save::load_image(srv, rdb, crate::persist::save::Expired::Keep)
        .map_err(|e| ReplError::Load(e.to_string()))?;
    let db = summary.stream_db(srv.keyspace.db_count());
    srv.repl.reset_to(replid, offset.max(0) as u64, db);
    if aof {
        super::aof::enable(srv, true).map_err(|e| ReplError::Load(format!("AOF: {e}")))?;
    }
    Ok((keys, db))
}

async fn apply_stream(
    srv: &Server,
    up: &Upstream,
    c: &mut Conn,
    client: &mut Client,
) -> Result<(), ReplError> {
    let mut parser = RequestParser::new();
    let limits = Limits {
        max_bulk: srv.config.read().proto_max_bulk_len,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // Synced: the log's offset is what was applied.
    let mut acked = srv.repl.offset();
    loop {
        loop {
            let (consumed, command) = match parser.parse(&c.buf, &limits) {
                Ok(Parsed::Command { consumed }) => (consumed, true),
                Ok(Parsed::Empty { consumed }) => (consumed, false),
                Ok(Parsed::Incomplete) => break,
                Err(e) => return Err(ReplError::Protocol(format!("bad stream: {e}"))),
            };
            let (getack, offset) = {
                let _applying = up.applying.lock();
                if up.is_stopped() {
                    return Err(ReplError::Stopped);
                }
                let db_before = client.db;
                let getack = command && apply_one(srv, client, &parser, &c.buf);
                // Every byte goes on as it came (GETACK too): this log's
                // offsets stay the primary's.
                let offset = srv
                    .repl
                    .append_verbatim(&c.buf[..consumed], db_before, client.db);
                (getack, offset)
            };
            c.buf.advance(consumed);
            if getack {
                send_ack(c, offset).await?;
                acked = offset;
            }
        }
        // One ACK per batch read (not per write): a primary's synchronous
        // writes and WAIT learn at once what was applied.
        let applied = srv.repl.offset();
        if applied > acked {
            send_ack(c, applied).await?;
            acked = applied;
        }
        tokio::select! {
            r = c.fill() => {
                r?;
                up.last_io_ms.store(unix_ms(), Ordering::Relaxed);
            }
            _ = tick.tick() => {
                let quiet = unix_ms().saturating_sub(up.last_io_ms.load(Ordering::Relaxed));
                if quiet > REPL_TIMEOUT.as_millis() as u64 {
                    return Err(ReplError::Protocol("timeout: no data from the primary".into()));
                }
                send_ack(c, srv.repl.offset()).await?;
            }
        }
    }
}

/// Applies the parsed command; true when it is `REPLCONF GETACK` (answered
/// by the caller, not run).
fn apply_one(srv: &Server, client: &mut Client, parser: &RequestParser, buf: &[u8]) -> bool {
    let src = parser.inline_buffer().unwrap_or(buf);
    let argv = Argv::new(src, parser.args());
    let getack = argv.len() >= 2
        && argv.get(0).eq_ignore_ascii_case(b"REPLCONF")
        && argv.get(1).eq_ignore_ascii_case(b"GETACK");
    if !getack {
        if let Err(why) = crate::server::gate::replay(srv, client, &argv, unix_ms()) {
            tracing::warn!("Command from the primary not applied: {why}");
        }
    }
    getack
}

async fn send_ack(c: &mut Conn, offset: u64) -> Result<(), ReplError> {
    let o = offset.to_string();
    c.send(&[b"REPLCONF", b"ACK", o.as_bytes()]).await
}
