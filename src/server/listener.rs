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
        let (mut stream, addr) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        srv.stats.connections.fetch_add(1, Ordering::Relaxed);
        if srv.clients.len() >= srv.hot.maxclients.load(Ordering::Relaxed) {
            srv.stats
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let _ = stream
                    .write_all(b"-ERR max number of clients reached\r\n")
                    .await;
            });
            continue;
        }
        let laddr = stream.local_addr().unwrap_or(addr);
        let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
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
