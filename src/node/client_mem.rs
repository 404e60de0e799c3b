//! Client memory and client eviction (`maxmemory-clients`).
//!
//! A connection's session reports what it holds (query and reply buffers,
//! argument tables, its queued transaction, watched keys, subscriptions,
//! tracking prefixes) after each read and each batch; what other connections
//! queue for it (its mailbox) is added to that. The registry keeps the sum over
//! the normal and pub/sub clients (INFO `mem_clients_normal`), moved by each
//! report's difference from the last, so nobody walks the clients to know it
//! and a report that changes nothing touches nothing shared.
//!
//! When the sum reaches the limit, clients are disconnected largest first until
//! it is below the limit again, as Redis's client eviction does: clients with
//! `CLIENT NO-EVICT on` count towards the sum but are never chosen, replica
//! links neither count nor are chosen.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::clients::{ClientInfo, Clients};

/// Bytes Redis counts per watched key (a list node and a `watchedKey`).
pub const WATCHED_KEY_MEM: usize = 56;
/// Bytes counted per subscription (a table entry and the name's pointer).
pub const SUBSCRIPTION_MEM: usize = 32;
/// Bytes counted per tracking prefix besides the prefix itself.
pub const TRACKING_PREFIX_MEM: usize = 32;

/// The registry's sums.
#[derive(Default)]
pub struct ClientMemory {
    /// Bytes held by normal and pub/sub clients: the sum of their shares.
    total: AtomicUsize,
    /// Clients disconnected by client eviction (INFO `evicted_clients`).
    evicted: AtomicU64,
    /// Held while choosing clients to evict, so two threads seeing the same
    /// excess do not both evict for it (the second then sees the outcome).
    evicting: Mutex<()>,
    /// The total at which the last eviction found nobody left to evict
    /// (0: none): until the total grows past it, or `retry` says a client
    /// became evictable, nobody looks again.
    hopeless_at: AtomicUsize,
}

impl ClientMemory {
    /// A client may have become evictable (CLIENT NO-EVICT off), or the
    /// limit changed: the next check looks at the clients again.
    pub fn retry(&self) {
        self.hopeless_at.store(0, Ordering::Relaxed);
    }

    /// Bytes held by normal and pub/sub clients (INFO `mem_clients_normal`).
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Clients evicted so far (INFO `evicted_clients`).
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// CONFIG RESETSTAT.
    pub fn reset_stats(&self) {
        self.evicted.store(0, Ordering::Relaxed);
    }
}

/// One client's part of the accounting (inside its `ClientInfo`).
#[derive(Default)]
pub struct MemShare {
    /// What its session last reported holding (without its mailbox).
    own: AtomicUsize,
    /// What it adds to the registry's total now (0 while not counted).
    counted: AtomicUsize,
    /// The registry's sums, once the client is registered.
    totals: OnceLock<Arc<ClientMemory>>,
    /// Unregistered: it counts no more.
    detached: AtomicBool,
}

impl ClientInfo {
    /// Bytes the connection uses now: what its session holds and what waits
    /// in its mailbox (CLIENT LIST `tot-mem`).
    pub fn mem_usage(&self) -> usize {
        self.mem.own.load(Ordering::Relaxed) + self.mailbox.pending()
    }

    /// Its session holds `bytes` now: re-counts its share.
    pub fn report_mem(&self, bytes: usize) {
        self.mem.own.store(bytes, Ordering::Relaxed);
        self.recount_mem();
    }

    /// Brings its share of the registry's total up to date (after its
    /// mailbox changed, or it stopped being a normal client). Touches the
    /// shared total only when the share changed.
    pub fn recount_mem(&self) {
        let Some(totals) = self.mem.totals.get() else {
            return;
        };
        if self.mem.detached.load(Ordering::SeqCst) {
            return;
        }
        let gone = self.killed.load(Ordering::Relaxed) || self.replica.load(Ordering::Relaxed);
        let now = if gone { 0 } else { self.mem_usage() };
        let old = self.mem.counted.swap(now, Ordering::SeqCst);
        if now != old {
            // Wrapping: a share that shrank subtracts.
            totals
                .total
                .fetch_add(now.wrapping_sub(old), Ordering::Relaxed);
        }
        // Unregistered meanwhile: whoever swaps a share out subtracts it.
        if self.mem.detached.load(Ordering::SeqCst) {
            let left = self.mem.counted.swap(0, Ordering::SeqCst);
            totals.total.fetch_sub(left, Ordering::Relaxed);
        }
    }

    /// Whether client eviction may choose it.
    fn evictable(&self) -> bool {
        !self.no_evict.load(Ordering::Relaxed)
            && !self.replica.load(Ordering::Relaxed)
            && !self.killed.load(Ordering::Relaxed)
            && !self.quitting.load(Ordering::Relaxed)
    }
}

impl Clients {
    /// Counts a newly registered client in the sums.
    pub(super) fn attach_mem(&self, info: &ClientInfo) {
        let _ = info.mem.totals.set(self.mem.clone());
        info.recount_mem();
    }

    /// Takes an unregistered client out of the sums.
    pub(super) fn detach_mem(&self, info: &ClientInfo) {
        info.mem.detached.store(true, Ordering::SeqCst);
        let old = info.mem.counted.swap(0, Ordering::SeqCst);
        self.mem.total.fetch_sub(old, Ordering::Relaxed);
    }

    /// Client eviction: while the clients together hold `limit` bytes or
    /// more (0: no limit), disconnects the evictable client holding the most.
    /// Returns how many it disconnected. Costs one load when under the limit.
    pub fn evict_over(&self, limit: u64) -> usize {
        let over = |m: &ClientMemory| limit > 0 && m.total() as u64 >= limit;
        let hopeless = |m: &ClientMemory| m.total() <= m.hopeless_at.load(Ordering::Relaxed);
        if !over(&self.mem) || hopeless(&self.mem) {
            return 0;
        }
        let _one = self.mem.evicting.lock();
        if !over(&self.mem) || hopeless(&self.mem) {
            return 0;
        }
        let mut candidates: Vec<(usize, Arc<ClientInfo>)> = self
            .snapshot()
            .into_iter()
            .filter(|c| c.evictable())
            .map(|c| (c.mem.counted.load(Ordering::Relaxed), c))
            .collect();
        // Largest first; among equals, the older connection first.
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
        let mut evicted = 0;
        for (bytes, c) in candidates {
            if !over(&self.mem) {
                break;
            }
            tracing::info!(
                id = c.id,
                addr = %c.addr,
                name = %c.name.lock(),
                tot_mem = bytes,
                "Evicting client"
            );
            c.kill();
            c.recount_mem();
            self.mem.evicted.fetch_add(1, Ordering::Relaxed);
            evicted += 1;
        }
        if over(&self.mem) {
            tracing::warn!("Over client maxmemory after evicting all evictable clients");
            self.mem
                .hopeless_at
                .store(self.mem.total(), Ordering::Relaxed);
        }
        evicted
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn client(reg: &Clients, id: u64, bytes: usize) -> Arc<ClientInfo> {
        let a = ([127, 0, 0, 1], 1000 + id as u16).into();
        let c = Arc::new(ClientInfo::new(id, a, a));
        reg.add(c.clone());
        c.report_mem(bytes);
        c
    }

    #[test]
    fn the_total_follows_every_report_and_leaves_with_the_client() {
        let reg = Clients::new();
        let a = client(&reg, 1, 1000);
        let b = client(&reg, 2, 500);
        assert_eq!(reg.mem.total(), 1500);
        a.report_mem(200);
        assert_eq!(reg.mem.total(), 700);
        // A replica link is not a normal client: it leaves the sum.
        b.replica.store(true, Ordering::Relaxed);
        b.recount_mem();
        assert_eq!(reg.mem.total(), 200);
        reg.remove(1);
        assert_eq!(reg.mem.total(), 0);
        // An unregistered client's reports change nothing.
        a.report_mem(5000);
        assert_eq!(reg.mem.total(), 0);
    }

    #[test]
    fn eviction_takes_the_largest_until_under_the_limit_sparing_no_evict() {
        let reg = Clients::new();
        let small = client(&reg, 1, 100);
        let big = client(&reg, 2, 10_000);
        let mid = client(&reg, 3, 5_000);
        let keep = client(&reg, 4, 20_000);
        keep.no_evict.store(true, Ordering::Relaxed);
        assert_eq!(reg.evict_over(0), 0, "no limit");
        assert_eq!(reg.evict_over(100_000), 0, "under the limit");
        // 35,100 held: the no-evict client counts, but big and then mid go.
        assert_eq!(reg.evict_over(25_000), 2);
        assert!(big.killed.load(Ordering::Relaxed) && mid.killed.load(Ordering::Relaxed));
        assert!(!small.killed.load(Ordering::Relaxed) && !keep.killed.load(Ordering::Relaxed));
        assert_eq!(reg.mem.total(), 20_100);
        assert_eq!(reg.mem.evicted(), 2);
        // Only the no-evict client is left to blame: nobody else goes.
        assert_eq!(reg.evict_over(10_000), 1);
        assert!(small.killed.load(Ordering::Relaxed) && !keep.killed.load(Ordering::Relaxed));
        // Nobody is left: no one looks again until something changes.
        let late = client(&reg, 5, 0);
        assert_eq!(reg.evict_over(10_000), 0);
        assert!(!late.killed.load(Ordering::Relaxed));
        late.report_mem(1);
        assert_eq!(reg.evict_over(10_000), 1, "the total grew: look again");
        keep.no_evict.store(false, Ordering::Relaxed);
        assert_eq!(reg.evict_over(10_000), 0);
        reg.mem.retry();
        assert_eq!(reg.evict_over(10_000), 1, "retry after NO-EVICT off");
        assert!(keep.killed.load(Ordering::Relaxed));
    }
}
