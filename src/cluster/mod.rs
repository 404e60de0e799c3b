//! Cluster mode: the hash-slot ring shared by many nodes.
//!
//! - [`topology`]: the node table, slot owners, epochs and cluster state.
//! - [`message`]: cluster bus messages and their encoding.
//! - [`gossip`]: what a message or the periodic tick changes and sends.
//! - [`failure`]: PFAIL/FAIL failure detection.
//! - [`failover`]: elections, votes, promotion, manual failover, replica
//!   migration and the write lease.
//! - [`outbox`]: what the rules ask the bus (`services::bus`) to do.
//! - [`nodes_conf`]: `nodes.conf` on disk.
//! - [`routing`]: routing a command to the node that serves its slot.
//! - [`migrate`]: the client side of `MIGRATE`.
//!
//! Hash slots themselves (CRC16, slot sets) are `crate::slot`; the TCP links
//! of the bus are driven by `services::bus`.
//!
//! [`Cluster`] is the handle the server holds: the topology behind one lock,
//! plus lock-free per-slot routing bytes for the per-command check. A change
//! renders `nodes.conf` under that lock and writes it after releasing it, so
//! a slow disk stalls only the change that waits for it.

pub mod failover;
pub mod failure;
pub mod gossip;
pub mod message;
pub mod migrate;
pub mod nodes_conf;
pub mod outbox;
pub mod routing;
pub mod topology;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard, RwLock};
use thiserror::Error;
use tokio::sync::mpsc;

use crate::clock::monotonic_ms;
use crate::slot::{self, SLOTS};
use outbox::Outbox;
use topology::{NodeId, Settings, Topology};

/// Cluster mode could not start.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// `nodes.conf` is unreadable or corrupt.
    #[error("cluster config file {path}: {source}")]
    Config {
        /// The file.
        path: String,
        /// What went wrong.
        source: nodes_conf::ConfError,
    },
    /// Another process uses the same `nodes.conf`.
    #[error(
        "Sorry, the cluster configuration file {0} is already used by a different Redis Cluster node. \
         Please make sure that different nodes use different cluster configuration files."
    )]
    Locked(String),
}

/// What cluster mode starts with.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Path of `nodes.conf`.
    pub conf_file: PathBuf,
    /// Client port this node announces.
    pub port: u16,
    /// Bus port this node announces.
    pub bus_port: u16,
    /// Rule settings.
    pub settings: Settings,
}

/// Per-slot routing bits, kept in step with the topology so the per-command
/// check is one atomic load.
pub mod route {
    /// Some node serves the slot.
    pub const ASSIGNED: u8 = 1;
    /// This node serves it.
    pub const MINE: u8 = 2;
    /// This node is a replica of the node that serves it.
    pub const MY_MASTER: u8 = 4;
    /// This node is handing it over.
    pub const MIGRATING: u8 = 8;
    /// This node is taking it over.
    pub const IMPORTING: u8 = 16;
}

/// An open link's sender half.
/// Frames a link queues before it drops gossip (a peer not reading).
pub const GOSSIP_QUEUE: usize = 1024;
/// Frames a link queues in all, published messages included.
pub const LINK_QUEUE: usize = 64 * 1024;

pub(crate) struct LinkTx {
    pub(crate) tx: mpsc::Sender<Bytes>,
    pub(crate) created: u64,
    pub(crate) inbound: bool,
}

/// The cluster state of this node.
pub struct Cluster {
    topo: Mutex<Topology>,
    routes: Box<[AtomicU8]>,
    /// The first monotonic ms at which this node no longer serves key
    /// commands: 0 while the cluster state is fail, else just past its write
    /// lease (the time a majority last confirmed a primary's slots, plus one
    /// node timeout).
    serving_until: AtomicU64,
    allow_reads_when_down: AtomicBool,
    /// Per-slot fences: a keyed command holds its slot's fence (shared) while it
    /// runs; MIGRATE, EXEC and slot reassignments hold it exclusively, so a key
    /// never changes between a routing decision and the command it allowed.
    fences: Box<[RwLock<()>]>,
    conf_path: PathBuf,
    _lock: Option<std::fs::File>,
    pub(crate) links: Mutex<HashMap<u64, LinkTx>>,
    /// The bus listener's port.
    pub bus_port: u16,
    syncer: Syncer,
    /// Versions of the renders of `nodes.conf`, taken under the topology
    /// lock, so a higher version holds every change of a lower one.
    renders: AtomicU64,
    /// The file as last written: one writer at a time, newest render wins.
    saved: Mutex<Saved>,
}

/// `nodes.conf` as last written.
#[derive(Default)]
struct Saved {
    /// The render version the file holds.
    version: u64,
    /// The latest render version known to be on the disk.
    synced: u64,
    /// The file's text.
    text: String,
}

/// A render of the topology, to write once the topology lock is released.
#[must_use = "a render must be written before the messages of its change are sent"]
struct Render {
    version: u64,
    text: String,
    /// It must reach the disk before the change's messages leave.
    durable: bool,
    /// Write the file even when it already holds this text.
    force: bool,
}

/// Flushes `nodes.conf` to the disk shortly after a change that did not need
/// it at once (slot and node changes, as Redis writes them without fsync):
/// one fsync covers a burst of changes, such as a reshard's SETSLOTs.
struct Syncer {
    state: std::sync::Arc<(std::sync::Mutex<SyncState>, std::sync::Condvar)>,
}

#[derive(Default)]
struct SyncState {
    pending: bool,
    stop: bool,
}

/// How long the syncer waits for more changes before it flushes.
const SYNC_DELAY: std::time::Duration = std::time::Duration::from_millis(20);

impl Syncer {
    fn new(path: Option<PathBuf>) -> Syncer {
        let state = std::sync::Arc::new((
            std::sync::Mutex::new(SyncState::default()),
            std::sync::Condvar::new(),
        ));
        if let Some(path) = path {
            let st = state.clone();
            let _ = std::thread::Builder::new()
                .name("nodes-conf-sync".into())
                .spawn(move || Syncer::run(&st, &path));
        }
        Syncer { state }
    }

    fn run(st: &(std::sync::Mutex<SyncState>, std::sync::Condvar), path: &Path) {
        let (lock, cv) = st;
        loop {
            {
                let Ok(mut g) = lock.lock() else { return };
                while !g.pending && !g.stop {
                    match cv.wait(g) {
                        Ok(next) => g = next,
                        Err(_) => return,
                    }
                }
                if g.stop {
                    return;
                }
            }
            std::thread::sleep(SYNC_DELAY);
            if let Ok(mut g) = lock.lock() {
                g.pending = false;
            }
            if let Err(e) = nodes_conf::sync(path) {
                tracing::error!("Could not flush the cluster config file: {e}");
            }
        }
    }

    fn request(&self) {
        if let Ok(mut g) = self.state.0.lock() {
            g.pending = true;
            self.state.1.notify_one();
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        if let Ok(mut g) = self.state.0.lock() {
            g.stop = true;
            self.state.1.notify_one();
        }
    }
}

impl Cluster {
    /// Loads `nodes.conf` (or creates this node's identity) and locks the file.
    pub fn open(cfg: &ClusterConfig) -> Result<Cluster, ClusterError> {
        let path = cfg.conf_file.clone();
        let shown = path.display().to_string();
        let now = monotonic_ms();
        let conf_err = |source| ClusterError::Config {
            path: shown.clone(),
            source,
        };
        let lock = match lock_file(&path) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(ClusterError::Locked(shown.clone()))
            }
            Err(e) => return Err(conf_err(e.into())),
        };
        let topo = match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => {
                let t = nodes_conf::parse(&text, cfg.port, cfg.bus_port, cfg.settings.clone(), now)
                    .map_err(conf_err)?;
                tracing::info!("Node configuration loaded, I'm {}", t.myself());
                t
            }
            Ok(_) => fresh(cfg, now),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fresh(cfg, now),
            Err(e) => return Err(conf_err(e.into())),
        };
        Ok(Cluster::build(topo, Some(path), lock, cfg.bus_port))
    }

    /// A cluster node that keeps its configuration in memory only (unit tests).
    pub fn in_memory(t: Topology) -> Cluster {
        Cluster::build(t, None, None, 0)
    }

    fn build(
        topo: Topology,
        conf: Option<PathBuf>,
        lock: Option<std::fs::File>,
        bus_port: u16,
    ) -> Cluster {
        let c = Cluster {
            allow_reads_when_down: AtomicBool::new(topo.settings().allow_reads_when_down),
            topo: Mutex::new(topo),
            routes: (0..SLOTS).map(|_| AtomicU8::new(0)).collect(),
            serving_until: AtomicU64::new(0),
            fences: (0..SLOTS).map(|_| RwLock::new(())).collect(),
            syncer: Syncer::new(conf.clone()),
            renders: AtomicU64::new(0),
            saved: Mutex::new(Saved::default()),
            conf_path: conf.unwrap_or_default(),
            _lock: lock,
            links: Mutex::new(HashMap::new()),
            bus_port,
        };
        // Publish the routes (and write the file) for the loaded state.
        let render = {
            let mut t = c.topo.lock();
            t.touch();
            c.settle(&mut t)
        };
        c.write_logged(render);
        c
    }

    /// Runs `f` on the topology; afterwards publishes routing changes and
    /// writes `nodes.conf` if `f` changed something that matters, then sends
    /// the messages `f` queued. The file is written after the topology lock
    /// is released, and before this returns: messages a caller sends from
    /// `f`'s result (a vote) never leave before the change is on disk.
    pub fn with<R>(&self, f: impl FnOnce(&mut Topology, &mut Outbox) -> R) -> R {
        let mut out = Outbox::default();
        let (r, render) = {
            let mut t = self.topo.lock();
            let r = f(&mut t, &mut out);
            (r, self.settle(&mut t))
        };
        self.write_logged(render);
        self.send(out);
        r
    }

    /// Read-only access to the topology.
    pub fn view(&self) -> MutexGuard<'_, Topology> {
        self.topo.lock()
    }

    /// Publishes routing bits and, when the configuration must be saved,
    /// renders it (written by the caller once the topology lock is released).
    fn settle(&self, t: &mut Topology) -> Option<Render> {
        let mut ch = t.take_changes();
        if ch.routes {
            t.update_state(monotonic_ms());
            let again = t.take_changes();
            ch.save |= again.save;
            ch.durable |= again.durable;
            self.publish_routes(t);
        }
        let until = if t.state_ok() {
            t.lease_until().saturating_add(1)
        } else {
            0
        };
        if self.serving_until.load(Ordering::Relaxed) != until {
            self.serving_until.store(until, Ordering::Release);
        }
        if !ch.save || self.conf_path.as_os_str().is_empty() {
            return None;
        }
        Some(self.render(t, ch.durable, false))
    }

    /// Renders `t` with the next version (call with the topology locked).
    fn render(&self, t: &Topology, durable: bool, force: bool) -> Render {
        Render {
            version: self.renders.fetch_add(1, Ordering::Relaxed) + 1,
            text: nodes_conf::render(t),
            durable,
            force,
        }
    }

    /// Writes a render, logging a failure.
    fn write_logged(&self, render: Option<Render>) {
        if let Some(r) = render {
            if let Err(e) = self.write_render(r) {
                tracing::error!("Could not save the cluster config file: {e}");
            }
        }
    }

    /// Writes a render unless a newer one is in the file already; for a
    /// durable one, the file (its render or a newer one) is on the disk when
    /// this returns.
    fn write_render(&self, r: Render) -> std::io::Result<()> {
        let mut saved = self.saved.lock();
        if r.version <= saved.version {
            // The file holds a newer render, which includes this change.
            if r.durable && saved.synced < r.version {
                nodes_conf::sync(&self.conf_path)?;
                saved.synced = saved.version;
            }
            return Ok(());
        }
        if saved.text == r.text && !r.force {
            // Many changes end where the file already is (a SETSLOT NODE that
            // gossip already applied): skip the write, not the flush.
            if r.durable && saved.synced < saved.version {
                nodes_conf::sync(&self.conf_path)?;
            }
            if r.durable || saved.synced == saved.version {
                saved.synced = r.version;
            }
            saved.version = r.version;
            return Ok(());
        }
        nodes_conf::write_atomic(&self.conf_path, &r.text, r.durable)?;
        if r.durable {
            saved.synced = r.version;
        } else {
            self.syncer.request();
        }
        saved.version = r.version;
        saved.text = r.text;
        Ok(())
    }

    fn publish_routes(&self, t: &Topology) {
        let me = t.me();
        let empty = slot::SlotSet::new();
        let master = match me.master.and_then(|m| t.node(&m)) {
            Some(m) if me.is_replica() => &m.slots,
            _ => &empty,
        };
        for s in 0..SLOTS as u16 {
            let mut r = 0;
            if t.is_assigned(s) {
                r |= route::ASSIGNED;
            }
            if me.slots.contains(s) {
                r |= route::MINE;
            } else if master.contains(s) {
                r |= route::MY_MASTER;
            }
            if t.migrating().contains_key(&s) {
                r |= route::MIGRATING;
            }
            if t.importing().contains_key(&s) {
                r |= route::IMPORTING;
            }
            // Store only changes: every command reads these bytes, and an
            // unchanged store would still take the cache line from other cores.
            let cell = &self.routes[s as usize];
            if cell.load(Ordering::Relaxed) != r {
                cell.store(r, Ordering::Relaxed);
            }
        }
    }

    /// Writes `nodes.conf` now and flushes it to the disk (no-op for an
    /// in-memory cluster).
    pub fn save(&self) -> std::io::Result<()> {
        if self.conf_path.as_os_str().is_empty() {
            return Ok(());
        }
        let render = self.render(&self.topo.lock(), true, true);
        self.write_render(render)
    }

    /// Sends queued messages and closes links (nothing here needs the runtime).
    pub fn send(&self, out: Outbox) {
        if out.sends.is_empty() && out.closes.is_empty() {
            return;
        }
        let mut links = self.links.lock();
        for (targets, msg) in out.sends {
            let publish = matches!(
                msg.body,
                message::Body::Publish { .. } | message::Body::PublishShard { .. }
            );
            let frame = Bytes::from(msg.encode());
            for l in targets {
                if let Some(tx) = links.get(&l) {
                    // A long queue means the peer is not reading: gossip is
                    // dropped past `GOSSIP_QUEUE` frames, as it is repeated
                    // anyway; published messages are not repeated, so they
                    // may queue up to the link's whole capacity.
                    let queued = tx.tx.max_capacity() - tx.tx.capacity();
                    if publish || queued < GOSSIP_QUEUE {
                        let _ = tx.tx.try_send(frame.clone());
                    }
                }
            }
        }
        for l in out.closes {
            links.remove(&l);
        }
    }

    /// Sends a PUBLISH to every node, or an SPUBLISH (`shard`) to the rest
    /// of this node's shard, over the bus (Redis's `clusterPropagatePublish`).
    pub fn propagate_publish(&self, shard: bool, channel: &[u8], message: &[u8]) {
        let (links, m) = self.topo.lock().publish_message(shard, channel, message);
        if links.is_empty() {
            return;
        }
        self.send(Outbox {
            sends: vec![(links, m)],
            ..Outbox::default()
        });
    }

    /// This node's id.
    pub fn myself(&self) -> NodeId {
        self.topo.lock().myself()
    }

    /// True when this node is a replica.
    pub fn is_replica(&self) -> bool {
        self.topo.lock().me().is_replica()
    }

    /// The routing bits of `slot`.
    pub fn route_bits(&self, slot: u16) -> u8 {
        self.routes[slot as usize].load(Ordering::Relaxed)
    }

    /// True when this node may serve key commands now: the cluster is ok
    /// and, for a primary, its write lease holds. The lease is checked
    /// against the clock, not the tick, so a primary resumed after a pause
    /// refuses at once, before its tick learns what changed; and against the
    /// monotonic clock, so a wall clock stepped back cannot extend it.
    pub fn serving(&self) -> bool {
        monotonic_ms() < self.serving_until.load(Ordering::Acquire)
    }

    /// Changes `cluster-allow-reads-when-down` and the other live settings.
    pub fn set_settings(&self, s: Settings) {
        self.allow_reads_when_down
            .store(s.allow_reads_when_down, Ordering::Relaxed);
        self.with(|t, _| t.set_settings(s));
    }

    /// Number of open bus connections (INFO `cluster_connections`).
    pub fn link_count(&self) -> usize {
        self.links.lock().len()
    }

    /// The exclusive fence of `slot`: no keyed command runs in the slot while
    /// it is held.
    pub fn fence_exclusive(&self, slot: u16) -> routing::Fence<'_> {
        routing::Fence::exclusive(slot, self.fences[slot as usize].write())
    }

    /// The path of `nodes.conf`.
    pub fn conf_path(&self) -> &Path {
        &self.conf_path
    }
}

fn fresh(cfg: &ClusterConfig, now: u64) -> Topology {
    let t = Topology::new(
        NodeId::random(),
        cfg.port,
        cfg.bus_port,
        cfg.settings.clone(),
        now,
    );
    tracing::info!("No cluster configuration found, I'm {}", t.myself());
    t
}

/// Takes an exclusive lock on `<nodes.conf>.lock`, held for the process's life.
fn lock_file(path: &Path) -> std::io::Result<Option<std::fs::File>> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(PathBuf::from(name))?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(std::fs::TryLockError::WouldBlock) => Err(std::io::ErrorKind::WouldBlock.into()),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> Cluster {
        Cluster::open(&ClusterConfig {
            conf_file: dir.join("nodes.conf"),
            port: 7000,
            bus_port: 17000,
            settings: Settings::default(),
        })
        .expect("open")
    }

    #[test]
    fn an_older_render_never_overwrites_a_newer_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let c = open(dir.path());
        let conf = || std::fs::read_to_string(dir.path().join("nodes.conf")).expect("read");
        // Two changes render in order, and their writers race for the file.
        let (older, newer) = {
            let mut t = c.topo.lock();
            t.current_epoch = 5;
            let older = c.render(&t, false, false);
            t.current_epoch = 6;
            (older, c.render(&t, true, false))
        };
        c.write_render(newer).expect("write");
        c.write_render(older).expect("write");
        assert!(conf().contains("vars currentEpoch 6 "), "{}", conf());
        // A durable older render finds the newer file and flushes it.
        let older = c.render(&c.topo.lock(), false, false);
        let newer = {
            let mut t = c.topo.lock();
            t.current_epoch = 7;
            c.render(&t, false, false)
        };
        c.write_render(newer).expect("write");
        let durable_older = Render {
            durable: true,
            ..older
        };
        c.write_render(durable_older).expect("write");
        assert!(conf().contains("vars currentEpoch 7 "), "{}", conf());
        let s = c.saved.lock();
        assert_eq!((s.version, s.synced), (5, 5), "the file is on disk");
    }
}
