//! One connection: read, decode every complete frame in the buffer, execute each,
//! flush the replies once per batch.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::broadcast;

use super::gate::{self, BatchHold, Outcome};
use crate::clock::unix_ms;
use crate::commands::Client;
use crate::node::clients::ClientInfo;
use crate::node::Server;
use crate::resp::parser::{Limits, Parsed, RequestParser};
use crate::resp::reply::Reply;
use crate::resp::Argv;

/// Initial read buffer size.
const READ_CHUNK: usize = 16 * 1024;
/// Replies are flushed mid-batch once this much is pending.
const FLUSH_AT: usize = 64 * 1024;
/// Output buffers larger than this are released after a flush.
const KEEP_OUT: usize = 1024 * 1024;
/// A query buffer over this is shrunk as soon as it is drained (one huge
/// request's memory is not kept for 100 ms).
const KEEP_IN: usize = 1024 * 1024;
/// Past this size a query buffer shrinks to what the last 100 ms needed
/// (Redis's PROTO_RESIZE_THRESHOLD and query-buffer peak).
const RESIZE_OVER: usize = 32 * 1024;
/// How often the query buffer's size is judged against its recent peak.
const RESIZE_EVERY_MS: u64 = 100;

/// Serves one connection until it closes, is killed, or the server shuts down.
pub async fn serve(srv: Arc<Server>, mut stream: TcpStream, info: Arc<ClientInfo>) {
    let auth_required = srv.hot.auth_required.load(Ordering::Relaxed);
    let mut client = Client::new(info.clone(), !auth_required);
    let mut out = Reply::new(Default::default());
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut parser = RequestParser::new();
    let mut monitor_rx: Option<broadcast::Receiver<bytes::Bytes>> = None;
    let _ = stream.set_nodelay(true);
    let mut sizing = BufferSizing {
        peak: 0,
        judged_ms: crate::clock::coarse_monotonic_ms(),
    };
    account(&srv, &client, &inbuf, &out, &parser);
    loop {
        let timeout = idle_limit(&srv, &info, monitor_rx.is_some());
        let idle = async {
            if timeout == 0 {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(Duration::from_secs(timeout)).await
            }
        };
        let monitor = async {
            match monitor_rx.as_mut() {
                Some(rx) => rx.recv().await.ok(),
                None => std::future::pending().await,
            }
        };
        let need = read_reserve(&parser, &inbuf, &srv);
        // Between requests a session waits on its socket and on its mailbox
        // only: a kill and shutdown ring the mailbox too (a `Notify` or a
        // watch here would take a lock per request to register).
        tokio::select! {
            biased;
            line = monitor => {
                if let Some(line) = line {
                    if stream.write_all(&line).await.is_err() { break; }
                }
                continue;
            }
            _ = idle => break,
            // Before the mailbox: a subscriber flooded with messages still
            // gets its own commands read (each batch's flush drains it too).
            read = crate::net::read_some_reserving(&stream, &mut inbuf, need) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => { srv.stats.net_input.fetch_add(n as u64, Ordering::Relaxed); }
            },
            _ = info.mailbox.ready() => {
                if info.killed.load(Ordering::Relaxed) || srv.shutdown.is_triggered() {
                    break;
                }
                // The cron found the connection idle: it holds no query
                // buffer meanwhile (Redis frees idle ones too).
                if info.free_query_buffer.swap(false, Ordering::Relaxed) && inbuf.is_empty() {
                    inbuf = BytesMut::new();
                    parser.release_large();
                    info.qbuf_cap.store(0, Ordering::Relaxed);
                }
                // Pushes from other connections (pub/sub, invalidations).
                if flush(&mut stream, &mut out, &srv, &mut client).await.is_err() {
                    break;
                }
                info.recount_mem();
                continue;
            }
        }
        sizing.peak = sizing.peak.max(inbuf.len());
        // A large request counts as soon as it arrives (and may get this
        // client evicted before it runs, as in Redis).
        account(&srv, &client, &inbuf, &out, &parser);
        if info.killed.load(Ordering::Relaxed) || srv.shutdown.is_triggered() {
            break;
        }
        if inbuf.len() as u64 > srv.hot.client_query_buffer_limit.load(Ordering::Relaxed) {
            tracing::warn!(
                id = info.id,
                "closing client that reached max query buffer length"
            );
            break;
        }
        let Some(batch_now) = execute_buffered(
            &srv,
            &mut stream,
            &info,
            &mut client,
            &mut out,
            &mut parser,
            &mut inbuf,
        )
        .await
        else {
            break;
        };
        sizing.after_batch(&mut inbuf, &mut parser);
        info.qbuf.store(inbuf.len(), Ordering::Relaxed);
        info.qbuf_cap.store(inbuf.capacity(), Ordering::Relaxed);
        info.last_ms.store(batch_now, Ordering::Relaxed);
        // Replies not yet sent count, in case the client does not read them.
        account(&srv, &client, &inbuf, &out, &parser);
        // Follow MONITOR and RESET before the +OK goes out, so the feed holds
        // every command run after it and none after a RESET.
        let monitoring = info.monitor.load(Ordering::Relaxed);
        if monitoring != monitor_rx.is_some() {
            monitor_rx = monitoring.then(|| srv.monitor_tx.subscribe());
        }
        if flush(&mut stream, &mut out, &srv, &mut client)
            .await
            .is_err()
            || client.close_after_reply
        {
            break;
        }
        if client.takeover.is_some() {
            break;
        }
        // The buffers as they stay while the client is idle.
        account(&srv, &client, &inbuf, &out, &parser);
    }
    leave(&srv, &info, client, stream, inbuf).await;
}

/// Seconds the connection may now stay idle (0 = no limit): `timeout`,
/// which spares subscribers and monitors as Redis does (a blocked command
/// waits elsewhere, also spared).
fn idle_limit(srv: &Server, info: &ClientInfo, monitoring: bool) -> u64 {
    let timeout = srv.hot.timeout.load(Ordering::Relaxed);
    if timeout != 0 && (monitoring || info.subscribed() > 0) {
        0
    } else {
        timeout
    }
}

/// How much free buffer the next read asks for: what a big pending argument
/// still needs, exactly (as Redis sizes a big argument's buffer: asking a
/// full buffer for more would double it, and a 3 MB request would hold 6 MB),
/// else a read chunk.
fn read_reserve(parser: &RequestParser, inbuf: &BytesMut, srv: &Server) -> usize {
    let chunk = READ_CHUNK.min(srv.hot.client_query_buffer_limit.load(Ordering::Relaxed) as usize);
    let pending = parser.needed_len().saturating_sub(inbuf.len());
    if pending > 0 && parser.needed_len() >= BIG_ARG {
        pending
    } else {
        pending.max(chunk)
    }
}

/// A pending argument this large gets a buffer of its exact size (Redis's
/// PROTO_MBULK_BIG_ARG).
const BIG_ARG: usize = 32 * 1024;

/// Bytes a connection holds besides its buffers and state: its records.
const CLIENT_RECORDS: usize = std::mem::size_of::<ClientInfo>()
    + std::mem::size_of::<Client>()
    + std::mem::size_of::<RequestParser>();

/// Reports what the connection holds now (its share of the clients' memory)
/// and runs client eviction when all clients together reach
/// `maxmemory-clients`. Cheap: counters only, and the shared total is touched
/// only when this connection's figure changed.
fn account(srv: &Server, client: &Client, inbuf: &BytesMut, out: &Reply, parser: &RequestParser) {
    let held = CLIENT_RECORDS
        + inbuf.capacity()
        + out.buf.capacity()
        + parser.held_bytes()
        + client.state_mem();
    client.info.report_mem(held);
    srv.clients
        .evict_over(srv.hot.client_eviction_limit.load(Ordering::Relaxed));
}

/// A connection ends: its subscriptions, tracking and MONITOR go; after
/// PSYNC it carries on as a replica link.
async fn leave(
    srv: &Arc<Server>,
    info: &Arc<ClientInfo>,
    mut client: Client,
    mut stream: TcpStream,
    inbuf: BytesMut,
) {
    srv.pubsub.leave(info);
    srv.tracking.disable(info);
    // A replica link (after PSYNC) is not a normal client any more.
    info.recount_mem();
    // Whoever clears the flag (RESET or this) takes the client off the count.
    if info.monitor.swap(false, Ordering::Relaxed) {
        srv.monitors.fetch_sub(1, Ordering::Relaxed);
    }
    if let Some(req) = client.takeover.take() {
        if let Some(services) = srv.services() {
            let link = crate::node::ReplicaConn {
                srv: srv.clone(),
                stream,
                inbuf,
                req,
                info: info.clone(),
            };
            services.serve_replica(link).await;
            return;
        }
    }
    let _ = stream.shutdown().await;
}

/// When a connection's query buffer gives memory back.
struct BufferSizing {
    /// The largest fill since the last judgement.
    peak: usize,
    /// When it was last judged (the coarse clock: read once per batch).
    judged_ms: u64,
}

impl BufferSizing {
    /// A large request grew the buffer: once it is consumed, give the memory
    /// back, at once when huge, else once the last 100 ms show it is not
    /// needed (as Redis judges its query buffers against their peak).
    fn after_batch(&mut self, inbuf: &mut BytesMut, parser: &mut RequestParser) {
        if inbuf.is_empty() && inbuf.capacity() > KEEP_IN {
            *inbuf = BytesMut::with_capacity(READ_CHUNK);
            parser.release_large();
        } else if crate::clock::coarse_monotonic_ms().saturating_sub(self.judged_ms)
            >= RESIZE_EVERY_MS
        {
            if inbuf.capacity() > RESIZE_OVER && self.peak < inbuf.capacity() / 2 {
                let mut smaller =
                    BytesMut::with_capacity(self.peak.max(inbuf.len()).max(READ_CHUNK));
                smaller.extend_from_slice(inbuf);
                *inbuf = smaller;
                parser.release_large();
            }
            self.peak = inbuf.len();
            self.judged_ms = crate::clock::coarse_monotonic_ms();
        }
        if inbuf.is_empty() && inbuf.capacity() < READ_CHUNK {
            // Consumed bytes count against a BytesMut's capacity until this
            // takes the allocation back (no new allocation: it is at least
            // READ_CHUNK), so CLIENT LIST shows what is really held.
            inbuf.reserve(READ_CHUNK);
        }
    }
}

/// Runs every complete command in the buffer, waiting where a command must
/// (CLIENT PAUSE, WAIT) and flushing mid-batch when the gate asks. Returns the
/// batch's time, or `None` when the connection must close.
async fn execute_buffered(
    srv: &Arc<Server>,
    stream: &mut TcpStream,
    info: &ClientInfo,
    client: &mut Client,
    out: &mut Reply,
    parser: &mut RequestParser,
    inbuf: &mut BytesMut,
) -> Option<u64> {
    let limits = Limits {
        max_bulk: srv.hot.proto_max_bulk_len.load(Ordering::Relaxed),
    };
    let mut batch_now = unix_ms();
    loop {
        let stop = run_batch(srv, client, out, parser, inbuf, &limits, batch_now);
        match stop {
            Stop::Drained | Stop::Takeover | Stop::Close => break,
            Stop::Paused(wait) => {
                // The command stays buffered; flush what we have and wait.
                if flush(stream, out, srv, client).await.is_err() {
                    return None;
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = srv.unpause.notified() => {}
                    _ = srv.shutdown.wait() => { return None; }
                }
            }
            Stop::Wait(wanted, timeout) => {
                let acked = tokio::select! {
                    n = crate::repl::links::wait(&srv.replicas, &srv.repl, client.write_offset, wanted, timeout) => n,
                    _ = info.kill_notify.notified() => { return None; }
                    _ = srv.shutdown.wait() => { return None; }
                };
                out.int(acked as i64);
            }
            Stop::Flush => {
                if flush(stream, out, srv, client).await.is_err() {
                    return None;
                }
            }
            Stop::Blocked => {
                let flushed = flush(stream, out, srv, client).await.is_ok();
                if !wait_blocked(srv, stream, info, client, out, inbuf, flushed).await {
                    return None;
                }
                if client.close_after_reply {
                    break;
                }
            }
        }
        // After waiting, the batch's commands judge time afresh.
        batch_now = unix_ms();
    }
    Some(batch_now)
}

/// Why `run_batch` stopped.
enum Stop {
    /// No complete command is left in the buffer.
    Drained,
    /// CLIENT PAUSE holds the command at the front of the buffer this long.
    Paused(Duration),
    /// WAIT ran: (replicas wanted, timeout ms) to wait for, then its reply.
    Wait(usize, u64),
    /// Enough replies are pending to send them before going on.
    Flush,
    /// PSYNC/SYNC ran: the connection becomes a replica link.
    Takeover,
    /// The connection closes once the replies are sent.
    Close,
    /// A blocking command is waiting for its keys (`client.blocked`).
    Blocked,
}

/// Runs the complete commands in the buffer until one needs the session to
/// wait for something. One keyspace hold (shared, see `store::isolation`)
/// covers the batch, so its commands pay for it once; it ends before the
/// session waits, and EXEC/FLUSHALL swap it for an exclusive one.
fn run_batch(
    srv: &Server,
    client: &mut Client,
    out: &mut Reply,
    parser: &mut RequestParser,
    inbuf: &mut BytesMut,
    limits: &Limits,
    now_ms: u64,
) -> Stop {
    let mut hold = BatchHold::new(&srv.keyspace.isolation);
    // How far into the buffer the keys were prefetched (bytes from its start).
    let mut prefetched: usize = 0;
    loop {
        parser.set_pre_auth(!client.authenticated);
        match parser.parse(inbuf, limits) {
            Ok(Parsed::Command { consumed }) => {
                if prefetched <= consumed && inbuf.len() > consumed {
                    // More commands wait behind this one (a pipeline): warm
                    // the caches for their keys while this one runs.
                    prefetched = consumed + prefetch_keys(srv, client.db, &inbuf[consumed..]);
                }
                let outcome = {
                    let src = parser.inline_buffer().unwrap_or(&inbuf[..]);
                    let argv = Argv::new(src, parser.args());
                    gate::dispatch(srv, client, out, &argv, now_ms, &mut hold)
                };
                if let Outcome::Paused(wait) = outcome {
                    return Stop::Paused(wait);
                }
                inbuf.advance(consumed);
                prefetched = prefetched.saturating_sub(consumed);
                if let Some((wanted, timeout)) = client.wait.take() {
                    return Stop::Wait(wanted, timeout);
                }
                if client.takeover.is_some() {
                    // What follows PSYNC belongs to the replica link.
                    return Stop::Takeover;
                }
                if client.blocked.is_some() {
                    return Stop::Blocked;
                }
                if client.close_after_reply {
                    return Stop::Close;
                }
                if out.buf.len() >= FLUSH_AT {
                    return Stop::Flush;
                }
            }
            Ok(Parsed::Empty { consumed }) => {
                inbuf.advance(consumed);
                prefetched = prefetched.saturating_sub(consumed);
            }
            Ok(Parsed::Incomplete) => return Stop::Drained,
            Err(e) => {
                let line = e.to_string();
                srv.stats.count_error(&line);
                out.error(&format!("ERR {line}"));
                client.close_after_reply = true;
                return Stop::Close;
            }
        }
    }
}

/// Commands looked ahead at once for prefetching.
const PREFETCH_AHEAD: usize = 16;

/// Prefetches the keys of up to `PREFETCH_AHEAD` complete commands at the
/// start of `buf`; returns the bytes those commands take.
fn prefetch_keys(srv: &Server, db: usize, buf: &[u8]) -> usize {
    let mut keys: smallvec::SmallVec<[&[u8]; PREFETCH_AHEAD]> = smallvec::SmallVec::new();
    let used = crate::resp::parser::peek_keys(buf, PREFETCH_AHEAD, &mut keys);
    srv.keyspace.prefetch(db, keys);
    used
}

/// Waits out the client's blocked command (no lock held): until a writer
/// serves it, its timeout passes, CLIENT UNBLOCK ends it, or the connection
/// goes (what it sends meanwhile stays buffered). Writes its reply; false
/// when the connection must close.
async fn wait_blocked(
    srv: &Arc<Server>,
    stream: &mut TcpStream,
    info: &ClientInfo,
    client: &mut Client,
    out: &mut Reply,
    inbuf: &mut BytesMut,
    mut open: bool,
) -> bool {
    use crate::store::blocking::Wake;
    let Some(b) = client.blocked.take() else {
        return true;
    };
    let w = b.waiter;
    let blocked = &srv.keyspace.blocked;
    info.blocked.store(true, Ordering::Relaxed);
    while !w.is_done() {
        let wait = b.deadline.saturating_sub(unix_ms());
        let timer = async {
            if b.deadline == 0 {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(Duration::from_millis(wait)).await
            }
        };
        let ending = tokio::select! {
            _ = w.ended() => None,
            _ = timer => Some(Wake::Timeout),
            _ = info.kill_notify.notified() => Some(Wake::Gone),
            _ = srv.shutdown.wait() => Some(Wake::Gone),
            read = crate::net::read_some(stream, inbuf), if open => match read {
                Ok(0) | Err(_) => Some(Wake::Gone),
                Ok(n) => {
                    srv.stats.net_input.fetch_add(n as u64, Ordering::Relaxed);
                    None
                }
            },
        };
        if let Some(wake) = ending {
            if wake == Wake::Gone {
                open = false;
            }
            // A writer re-running it right now wins; its end arrives next.
            if w.try_end(wake) {
                blocked.unregister(&w);
            }
        }
        if info.killed.load(Ordering::Relaxed) {
            open = false;
        }
    }
    info.blocked.store(false, Ordering::Relaxed);
    match w.take_wake() {
        Some(Wake::Served(reply)) => out.raw(&reply),
        Some(Wake::Timeout) => crate::commands::blocking::timeout_reply(out),
        Some(Wake::Error(e)) => out.error(&e),
        Some(Wake::Closing(e)) => {
            out.error(&e);
            client.close_after_reply = true;
        }
        Some(Wake::Gone) | None => return false,
    }
    open
}

/// Sends the pending replies, once the writes they acknowledge are as durable
/// as `appendfsync` promises, then what other connections sent it.
async fn flush(
    stream: &mut TcpStream,
    out: &mut Reply,
    srv: &Server,
    client: &mut Client,
) -> std::io::Result<()> {
    super::sync_writes::settle(srv, client, out).await;
    let info = &client.info;
    if !out.buf.is_empty() {
        if client.write_offset > client.durable_offset {
            if let Some(aof) = srv.persistence.aof() {
                aof.wait_durable(client.write_offset).await;
            }
            client.durable_offset = client.write_offset;
        }
        if !client.authenticated {
            send_unauthenticated(stream, &out.buf, srv, info).await?;
        } else if client.info.subscribed() == 0 {
            send_within_normal_limit(stream, &out.buf, srv, info).await?;
        } else {
            send(stream, &out.buf, srv, info).await?;
        }
        out.buf.clear();
        if out.buf.capacity() > KEEP_OUT {
            out.buf = BytesMut::with_capacity(READ_CHUNK);
        }
    }
    while info.mailbox.pending() > 0 {
        let Some(chunk) = info.mailbox.take() else {
            break;
        };
        let sent = send(stream, &chunk, srv, info).await;
        info.mailbox.sent(chunk.len());
        sent?;
    }
    Ok(())
}

/// Replies a client that has not authenticated may leave unread (Redis
/// 7.0.15's fix for CVE-2025-21605 closes such a client past 1 KB).
const UNAUTHENTICATED_OUTPUT: usize = 1024;

/// Writes replies to a client that has not authenticated: what the socket
/// does not take at once may be at most `UNAUTHENTICATED_OUTPUT` bytes, else
/// the connection closes (a stranger that does not read its replies cannot
/// make the server hold them).
async fn send_unauthenticated(
    stream: &mut TcpStream,
    bytes: &[u8],
    srv: &Server,
    info: &ClientInfo,
) -> std::io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        match stream.try_write(rest) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    let written = (bytes.len() - rest.len()) as u64;
    srv.stats.net_output.fetch_add(written, Ordering::Relaxed);
    if rest.len() > UNAUTHENTICATED_OUTPUT {
        tracing::debug!(
            id = info.id,
            "closing an unauthenticated client that does not read its replies"
        );
        return Err(std::io::Error::other("unauthenticated output limit"));
    }
    send(stream, rest, srv, info).await
}

/// Writes replies under `client-output-buffer-limit normal`. What a client
/// has not read is what waits in the socket's send queue plus what is being
/// written (the session reads no more requests while a write waits, so it
/// cannot grow further here). Past the hard limit, or past the soft limit
/// for longer than its time, the connection closes, as Redis's does.
async fn send_within_normal_limit(
    stream: &mut TcpStream,
    bytes: &[u8],
    srv: &Server,
    info: &ClientInfo,
) -> std::io::Result<()> {
    let l = &srv.hot.normal_limit;
    let (hard, soft, soft_ms) = (
        l[0].load(Ordering::Relaxed),
        l[1].load(Ordering::Relaxed),
        l[2].load(Ordering::Relaxed),
    );
    if hard == 0 && soft == 0 {
        return send(stream, bytes, srv, info).await;
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(&*stream);
    let over = |why: &str, pending: u64| {
        tracing::warn!(
            id = info.id,
            pending,
            "closing a client over the normal output buffer limit ({why})"
        );
        srv.pubsub
            .limit_disconnections
            .fetch_add(1, Ordering::Relaxed);
        std::io::Error::other("output buffer limit")
    };
    let write = send(stream, bytes, srv, info);
    tokio::pin!(write);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut over_soft_since: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            r = &mut write => return r,
            _ = tick.tick() => {
                let pending = unsent_bytes(fd) + bytes.len() as u64;
                if hard > 0 && pending > hard {
                    return Err(over("hard", pending));
                }
                if soft > 0 && pending > soft {
                    let since = *over_soft_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() > Duration::from_millis(soft_ms) {
                        return Err(over("soft", pending));
                    }
                } else {
                    over_soft_since = None;
                }
            }
        }
    }
}

/// Bytes the kernel holds in a socket's send queue, not yet acknowledged
/// by the peer (`TIOCOUTQ`); 0 when it cannot say.
fn unsent_bytes(fd: i32) -> u64 {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ writes one int through the pointer, which outlives the call.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n as *mut libc::c_int) };
    if rc == 0 {
        n.max(0) as u64
    } else {
        0
    }
}

/// Writes `bytes`, giving up when the connection is killed meanwhile (a
/// client that stopped reading must not hold its session forever).
async fn send(
    stream: &mut TcpStream,
    bytes: &[u8],
    srv: &Server,
    info: &ClientInfo,
) -> std::io::Result<()> {
    tokio::select! {
        r = stream.write_all(bytes) => r?,
        _ = info.kill_notify.notified() => {
            return Err(std::io::Error::other("connection killed"));
        }
    }
    srv.stats
        .net_output
        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::config::Config;
    use crate::node::Server;

    /// A server on 127.0.0.1:0 in its own runtime; the runtime lives as long
    /// as the returned handle.
    fn serve() -> (tokio::runtime::Runtime, Arc<Server>, u16) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let srv = Server::new(Config::defaults());
        crate::services::install(&srv);
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        rt.spawn(crate::server::run(listener, srv.clone()));
        (rt, srv, port)
    }

    /// Sends `input` on a fresh connection, reads `replies` lines, then closes.
    fn session(port: u16, input: &[u8], replies: usize) {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(input).expect("write");
        let mut got = Vec::new();
        let mut b = [0u8; 1];
        while got.iter().filter(|&&c| c == b'\n').count() < replies {
            match s.read(&mut b) {
                Ok(1) => got.push(b[0]),
                _ => break,
            }
        }
    }

    /// The monitor count once every session has ended (or after 5 s).
    fn monitors_when_idle(srv: &Server) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !srv.clients.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        srv.monitors.load(Ordering::Relaxed)
    }

    #[test]
    fn monitor_count_returns_to_zero_however_a_monitor_ends() {
        let (_rt, srv, port) = serve();
        for (input, replies) in [
            (&b"MONITOR\r\n"[..], 1),
            (b"MONITOR\r\nQUIT\r\n", 2),
            (b"MONITOR\r\nRESET\r\n", 2),
            (b"MONITOR\r\nRESET\r\nMONITOR\r\n", 3),
            (b"MONITOR\r\nMONITOR\r\nRESET\r\nQUIT\r\n", 4),
        ] {
            session(port, input, replies);
            assert_eq!(
                monitors_when_idle(&srv),
                0,
                "after {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
}
