//! The accept loop and the server's periodic tasks.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::client::ClientInfo;
use super::{session, Server};
use crate::clock::unix_ms;
use crate::store::expire::{self, ExpireCursor};

/// Serves connections on an already-bound listener until shutdown is triggered.
pub async fn run(listener: TcpListener, srv: Arc<Server>) {
    if let Ok(addr) = listener.local_addr() {
        srv.port.store(addr.port() as u64, Ordering::Relaxed);
    }
    let timers = tokio::spawn(periodic(srv.clone()));
    loop {
        let accepted = tokio::select! {
            _ = srv.shutdown.wait() => break,
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
    timers.abort();
}

/// Active expiry `hz` times a second and the ops/sec sampler every 100 ms.
async fn periodic(srv: Arc<Server>) {
    let mut cursor = ExpireCursor::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_expire = 0u64;
    loop {
        tick.tick().await;
        let now = unix_ms();
        srv.stats.sample_ops(now);
        crate::services::save::cron(&srv, now);
        crate::services::aof::cron(&srv);
        crate::services::primary::cron(&srv, now);
        // Sampling here keeps used_memory_peak meaningful between INFO calls.
        srv.used_memory();
        let hz = srv.config.read().hz.max(1) as u64;
        let period = 1000 / hz;
        // A replica's keys expire when its primary's DEL arrives.
        if srv.hot.active_expire.load(Ordering::Relaxed)
            && !srv.upstream.is_replica()
            && now.saturating_sub(last_expire) >= period
        {
            last_expire = now;
            // Redis gives the cycle 25% of each period.
            let budget = Duration::from_millis((period / 4).max(1));
            let srv2 = srv.clone();
            let mut cur = std::mem::take(&mut cursor);
            cursor = tokio::task::spawn_blocking(move || {
                expire::active_cycle(&srv2.keyspace, &mut cur, now, budget);
                cur
            })
            .await
            .unwrap_or_default();
        }
    }
}
