//! The server's periodic work, ten times a second: save points, AOF
//! rewrites, the primary's pings, ops/sec and memory sampling, and active
//! expiry `hz` times a second.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::unix_ms;
use crate::node::Server;
use crate::store::expire::{self, ExpireCursor};

/// Active expiry `hz` times a second and the ops/sec sampler every 100 ms.
pub async fn run(srv: Arc<Server>) {
    let mut cursor = ExpireCursor::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_expire = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = srv.shutdown.wait() => return,
        }
        let now = unix_ms();
        srv.stats.sample_ops(now);
        super::save::cron(&srv, now);
        super::aof::cron(&srv);
        super::primary::cron(&srv, now);
        crate::commands::blocking::redirect_moved(&srv);
        crate::commands::pubsub::drop_moved_shard_channels(&srv, now);
        srv.tracking_settle();
        free_idle_query_buffers(&srv, now);
        // Frames queued for clients count too (sessions check at each batch).
        srv.clients
            .evict_over(srv.hot.client_eviction_limit.load(Ordering::Relaxed));
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

/// Connections idle this long give their query buffer back (Redis: 2 s).
const FREE_QUERY_BUFFER_AFTER_MS: u64 = 2000;

/// Once a second, asks idle connections that hold a query buffer to free it.
fn free_idle_query_buffers(srv: &Server, now: u64) {
    if now % 1000 >= 100 {
        return;
    }
    for c in srv.clients.snapshot() {
        if c.qbuf_cap.load(Ordering::Relaxed) > 0
            && c.qbuf.load(Ordering::Relaxed) == 0
            && now.saturating_sub(c.last_ms.load(Ordering::Relaxed)) >= FREE_QUERY_BUFFER_AFTER_MS
        {
            c.free_idle_query_buffer();
        }
    }
}
