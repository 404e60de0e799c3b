//! The accept loop.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::session;
use crate::node::clients::ClientInfo;
use crate::node::Server;

/// Serves connections on an already-bound listener until shutdown is triggered.
pub async fn run(mut listener: TcpListener, srv: Arc<Server>) {
    srv.script_watch.set_on_busy(leave_runtime_to_others);
    if let Ok(addr) = listener.local_addr() {
        srv.port.store(addr.port() as u64, Ordering::Relaxed);
    }
    let mut backoff = AcceptBackoff::default();
    loop {
        let accepted = tokio::select! {
            _ = srv.shutdown.wait() => break,
            next = srv.relisten.next() => {
                // CONFIG SET port/bind: accept on the new socket from now on.
                if let Some(l) = next.and_then(|l| TcpListener::from_std(l).ok()) {
                    if let Ok(addr) = l.local_addr() {
                        srv.port.store(addr.port() as u64, Ordering::Relaxed);
                        tracing::info!("now listening on {addr}");
                    }
                    listener = l;
                }
                continue;
            }
            a = listener.accept() => a,
        };
        let (stream, addr) = match accepted {
            Ok(x) => x,
            Err(e) => {
                backoff.failed(&e).await;
                continue;
            }
        };
        backoff.succeeded();
        if let Some(refusal) = refusal(&srv, &addr) {
            srv.stats
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            tokio::spawn(refuse(stream, refusal));
            continue;
        }
        srv.stats.connections.fetch_add(1, Ordering::Relaxed);
        let keepalive = srv.hot.tcp_keepalive.load(Ordering::Relaxed);
        let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
        if keepalive > 0 {
            crate::net::set_keepalive(fd, keepalive);
        }
        let laddr = stream.local_addr().unwrap_or(addr);
        let info = Arc::new(ClientInfo::new(srv.clients.next_id(), addr, laddr).with_fd(fd));
        srv.clients.add(info.clone());
        let srv2 = srv.clone();
        tokio::spawn(async move {
            let id = info.id;
            session::serve(srv2.clone(), stream, info).await;
            srv2.clients.remove(id);
        });
    }
    // Sessions wait on their mailboxes, not on shutdown: ring each one so it
    // sees the flag and ends.
    for c in srv.clients.snapshot() {
        c.mailbox.wake();
    }
}

/// Redis's refusal of a connection when every client slot is taken.
const MAXCLIENTS: &[u8] = b"-ERR max number of clients reached\r\n";
/// The same in cluster mode, where bus links count too (as Redis words it).
const MAXCLIENTS_CLUSTER: &[u8] = b"-ERR max number of clients + cluster connections reached\r\n";
/// Redis 7.0's refusal of a non-local client in protected mode, byte for byte.
pub const DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected \
mode is enabled and no password is set for the default user. \
In this mode connections are only accepted from the loopback interface. \
If you want to connect from external computers to Redis you \
may adopt one of the following solutions: \
1) Just disable protected mode sending the command \
'CONFIG SET protected-mode no' from the loopback interface \
by connecting to Redis from the same host the server is \
running, however MAKE SURE Redis is not publicly accessible \
from internet if you do so. Use CONFIG REWRITE to make this \
change permanent. \
2) Alternatively you can just disable the protected mode by \
editing the Redis configuration file, and setting the protected \
mode option to 'no', and then restarting the server. \
3) If you started the server manually just for testing, restart \
it with the '--protected-mode no' option. \
4) Setup a an authentication password for the default user. \
NOTE: You only need to do one of the above things in order for \
the server to start accepting connections from the outside.\r\n";

/// Why a new connection is turned away, in Redis's order: every client slot
/// taken, then protected mode (no password, and a peer that is not local).
fn refusal(srv: &Server, peer: &std::net::SocketAddr) -> Option<&'static [u8]> {
    if srv.clients.len() >= srv.hot.maxclients.load(Ordering::Relaxed) {
        return Some(if srv.cluster.is_some() {
            MAXCLIENTS_CLUSTER
        } else {
            MAXCLIENTS
        });
    }
    let protected = srv.hot.protected_mode.load(Ordering::Relaxed)
        && !srv.hot.auth_required.load(Ordering::Relaxed);
    if protected && !crate::net::is_local_peer(peer) {
        tracing::debug!(%peer, "refusing a non-local client in protected mode");
        return Some(DENIED);
    }
    None
}

/// Writes the refusal (best effort, as Redis's) and closes.
async fn refuse(mut stream: tokio::net::TcpStream, line: &'static [u8]) {
    let send = stream.write_all(line);
    // A peer that does not read cannot hold the task.
    let _ = tokio::time::timeout(Duration::from_secs(1), send).await;
    let _ = stream.shutdown().await;
}

/// Accept failures (out of descriptors, mostly): the pending connection stays
/// queued, so retrying at once would spin. Each failure in a row doubles the
/// wait (10 ms up to 1 s), and the log says so at most once a second, with
/// the count of failures since the last line.
#[derive(Default)]
struct AcceptBackoff {
    wait_ms: u64,
    failures: u64,
    logged_ms: u64,
}

impl AcceptBackoff {
    async fn failed(&mut self, e: &std::io::Error) {
        self.failures += 1;
        let now = crate::clock::coarse_monotonic_ms();
        if self.logged_ms == 0 || now.saturating_sub(self.logged_ms) >= 1000 {
            tracing::warn!(
                failures = self.failures,
                "Accepting client connection: {e} (retrying in up to 1 s; check ulimit -n and maxclients)"
            );
            self.failures = 0;
            self.logged_ms = now.max(1);
        }
        self.wait_ms = (self.wait_ms * 2).clamp(10, 1000);
        tokio::time::sleep(Duration::from_millis(self.wait_ms)).await;
    }

    fn succeeded(&mut self) {
        self.wait_ms = 0;
    }
}

/// A script runs past `busy-reply-threshold` on a runtime worker: the worker
/// hands its scheduler (and the I/O driver it may be the one to poll) to a
/// fresh thread and finishes the script outside the runtime, so other
/// clients get -BUSY and SCRIPT KILL gets through. The hand-over only takes
/// if the fresh thread picks the scheduler up while this one waits, and
/// nothing tells whether it did: the engine calls this a few times, each
/// waiting longer (`try_no` ms), which costs a busy script under 0.1 s once.
/// A current-thread runtime (one pinned core) has nowhere to hand it to:
/// there the script keeps the server until it ends, and clients wait.
fn leave_runtime_to_others(try_no: u32) {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread) {
        let wait = Duration::from_millis(u64::from(try_no));
        tokio::task::block_in_place(|| std::thread::sleep(wait));
    }
}
