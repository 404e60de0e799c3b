//! The cluster bus: TCP links to and from the other nodes on the bus port.
//! Each node keeps one outbound link to every node it knows (PING/MEET go out
//! on it, PONG comes back on it) and answers on the links others open to it.
//! Every link has a reader (frames → `Topology::on_message`) and a writer fed
//! by a bounded queue; the tick runs every 100 ms. Protocol decisions are all in
//! `gossip`: this module only moves bytes and carries out each `Outbox`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::clock::{monotonic_ms, unix_ms};
use crate::cluster::gossip::Origin;
use crate::cluster::message::{read_preamble, Message, PREAMBLE};
use crate::cluster::outbox::{Connect, Outbox};
use crate::cluster::topology::Topology;
use crate::cluster::{Cluster, LinkTx};
use crate::node::pubsub::Kind;
use crate::node::Server;

/// Runs the bus on an already-bound listener until shutdown.
pub async fn run(listener: TcpListener, srv: Arc<Server>) {
    let Some(cluster) = srv.cluster.clone() else {
        return;
    };
    let accept = tokio::spawn(accept_loop(listener, srv.clone(), cluster.clone()));
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut iteration = 0u64;
    loop {
        // Failure detection and elections act on time, not up to a tick late.
        let wake = cluster.view().next_wake(monotonic_ms());
        let deadline = async {
            match wake {
                Some(at) => {
                    let ms = at.saturating_sub(monotonic_ms());
                    tokio::time::sleep(Duration::from_millis(ms)).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = srv.shutdown.wait() => break,
            _ = tick.tick() => {
                iteration += 1;
                step(&srv, &cluster, |t, now| t.tick(iteration, now));
            }
            _ = deadline => step(&srv, &cluster, |t, now| t.on_deadline(now)),
        }
    }
    accept.abort();
    cluster.links.lock().clear();
}

async fn accept_loop(listener: TcpListener, srv: Arc<Server>, cluster: Arc<Cluster>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(inbound(srv.clone(), cluster.clone(), stream));
            }
            Err(e) => {
                tracing::warn!("cluster bus accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// The primary this node must replicate, as the topology says: `ip:port`.
fn wanted_upstream(t: &Topology) -> Option<(String, u16)> {
    let me = t.me();
    if !me.is_replica() {
        return None;
    }
    let m = me.master.and_then(|m| t.node(&m))?;
    (!m.ip.is_empty() && m.port != 0).then(|| (m.ip.clone(), m.port))
}

/// One change of the topology by the bus: `f` runs with this node's current
/// replication offset, then its outbox is carried out and replication follows
/// the roles the topology now says (a promoted replica stops replicating
/// before its clients notice it owns the slots).
fn step(srv: &Arc<Server>, cluster: &Arc<Cluster>, f: impl FnOnce(&mut Topology, u64) -> Outbox) {
    let offset = srv.replication_offset();
    // Replication records its times on the wall clock; the topology's run on
    // the monotonic one.
    let age = srv.upstream.get().map_or(0, |up| up.data_age(unix_ms()));
    let now = monotonic_ms();
    let (out, upstream) = cluster.with(|t, _| {
        t.set_replication(offset, age);
        (f(t, now), wanted_upstream(t))
    });
    follow_upstream(srv, upstream);
    apply(srv, cluster, out);
}

/// Starts, moves or stops replication to match the topology: CLUSTER
/// REPLICATE, a promotion, or a demoted primary following the winner.
pub fn follow_topology(srv: &Arc<Server>, cluster: &Cluster) {
    follow_upstream(srv, wanted_upstream(&cluster.view()));
}

fn follow_upstream(srv: &Arc<Server>, wanted: Option<(String, u16)>) {
    let current = srv
        .upstream
        .get()
        .filter(|_| srv.upstream.is_replica())
        .map(|u| (u.host.clone(), u.port));
    if current == wanted {
        return;
    }
    match wanted {
        Some((host, port)) => crate::services::replica::start(srv, host, port),
        None => crate::services::replica::stop(srv, "promoted by the cluster"),
    }
}

/// Carries out what the topology asked for.
fn apply(srv: &Arc<Server>, cluster: &Arc<Cluster>, mut out: Outbox) {
    match out.pause_writes.take() {
        Some(0) => {
            srv.pause.update(|_| crate::node::Pause::default());
            srv.unpause.notify_waiters();
        }
        Some(until) => {
            // The topology's deadline is monotonic; the server's pause is
            // kept in wall ms.
            let until = unix_ms().saturating_add(until.saturating_sub(monotonic_ms()));
            srv.pause.update(|p| crate::node::Pause {
                until_ms: until.max(p.until_ms),
                writes_only: p.until_ms == 0 || p.writes_only,
            });
            settle_pause(srv, cluster);
        }
        None => {}
    }
    for c in out.connects.drain(..) {
        tokio::spawn(outbound(srv.clone(), cluster.clone(), c));
    }
    for slot in std::mem::take(&mut out.dirty_slots) {
        drop_slot_keys(srv, cluster, slot);
    }
    if !out.publish.is_empty() {
        let how = srv.delivery(unix_ms());
        for (shard, channel, message) in out.publish.drain(..) {
            let kind = if shard { Kind::Shard } else { Kind::Channel };
            srv.pubsub.publish(kind, &channel, &message, how);
        }
    }
    cluster.send(out);
}

/// A manual failover's barrier: commands check the pause while holding the
/// keyspace, so once an exclusive hold was had, every write admitted before
/// the pause has finished and is in the stream; only then is the offset
/// announced to the replica as final.
fn settle_pause(srv: &Arc<Server>, cluster: &Arc<Cluster>) {
    let (srv, cluster) = (srv.clone(), cluster.clone());
    tokio::spawn(async move {
        let s = srv.clone();
        let settled = tokio::task::spawn_blocking(move || drop(s.keyspace.isolation.exclusive()));
        if settled.await.is_ok() {
            let offset = srv.repl.offset();
            cluster.with(|t, out| t.on_mf_pause_settled(offset, monotonic_ms(), out));
        }
    });
}

/// Deletes the keys of a slot this node lost (its new owner has them).
fn drop_slot_keys(srv: &Server, cluster: &Cluster, slot: u16) {
    let _hold = srv.keyspace.isolation.shared();
    let _fence = cluster.fence_exclusive(slot);
    let now = unix_ms();
    let mut g = srv.keyspace.lock_slot(0, slot, now);
    let keys: Vec<Vec<u8>> = g.iter().map(|(k, _)| k.to_vec()).collect();
    for k in &keys {
        if g.remove(k).is_some() {
            srv.propagate(0, &[b"DEL", k]);
        }
    }
    if !keys.is_empty() {
        tracing::warn!(
            "Deleted {} keys of slot {slot}, now served by another node",
            keys.len()
        );
    }
}

async fn outbound(srv: Arc<Server>, cluster: Arc<Cluster>, c: Connect) {
    let timeout = Duration::from_millis(cluster.view().settings().node_timeout.max(1000));
    let bind = srv.config.read().bind.clone();
    let connect = crate::net::connect_from(&bind, &c.addr);
    let stream = match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(s)) => s,
        _ => {
            cluster.with(|t, _| t.link_closed(c.link, monotonic_ms()));
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel(crate::cluster::LINK_QUEUE);
    cluster.links.lock().insert(
        c.link,
        LinkTx {
            tx,
            created: monotonic_ms(),
            inbound: false,
        },
    );
    let first = cluster.with(|t, _| t.link_connected(c.link, monotonic_ms()));
    let Some(first) = first else {
        cluster.links.lock().remove(&c.link);
        return;
    };
    cluster.send(Outbox {
        sends: vec![(vec![c.link], first)],
        ..Outbox::default()
    });
    serve_link(&srv, &cluster, rd, wr, rx, Origin::Outbound(c.link)).await;
    cluster.links.lock().remove(&c.link);
    cluster.with(|t, _| t.link_closed(c.link, monotonic_ms()));
}

async fn inbound(srv: Arc<Server>, cluster: Arc<Cluster>, stream: TcpStream) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let link = cluster.with(|t, _| t.next_link_id());
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel(crate::cluster::LINK_QUEUE);
    cluster.links.lock().insert(
        link,
        LinkTx {
            tx,
            created: monotonic_ms(),
            inbound: true,
        },
    );
    let origin = Origin::Inbound {
        link,
        peer_ip: peer.ip().to_string(),
        local_ip: local.ip().to_string(),
    };
    serve_link(&srv, &cluster, rd, wr, rx, origin).await;
    cluster.links.lock().remove(&link);
    cluster.with(|t, _| t.inbound_closed(link));
}

/// Reads frames until the peer closes, a frame is malformed, or the link is
/// closed on our side (its queue's sender dropped, which ends the writer).
async fn serve_link(
    srv: &Arc<Server>,
    cluster: &Arc<Cluster>,
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    rx: mpsc::Receiver<Bytes>,
    origin: Origin,
) {
    let mut writer = tokio::spawn(write_loop(rx, wr));
    let mut rd = BufReader::new(rd);
    loop {
        let frame = tokio::select! {
            f = read_frame(&mut rd) => f,
            _ = &mut writer => break,
        };
        let msg = match frame {
            Ok(m) => m,
            Err(e) => {
                // A peer that closes or resets its side is routine (it died,
                // restarted, or a partition refuses the link on every retry):
                // only a malformed frame is worth a warning.
                use std::io::ErrorKind::{ConnectionReset, UnexpectedEof};
                if matches!(e.kind(), UnexpectedEof | ConnectionReset) {
                    tracing::debug!("cluster bus link closed: {e}");
                } else {
                    tracing::warn!("closing cluster bus link: {e}");
                }
                break;
            }
        };
        step(srv, cluster, |t, now| t.on_message(msg, &origin, now));
    }
    writer.abort();
}

async fn read_frame(rd: &mut BufReader<OwnedReadHalf>) -> std::io::Result<Message> {
    let mut pre = [0u8; PREAMBLE];
    rd.read_exact(&mut pre).await?;
    let bad = |e: crate::cluster::message::DecodeError| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    };
    let p = read_preamble(&pre).map_err(bad)?;
    let mut body = vec![0u8; p.len];
    rd.read_exact(&mut body).await?;
    Message::decode(p.kind, &body).map_err(bad)
}

async fn write_loop(mut rx: mpsc::Receiver<Bytes>, mut wr: OwnedWriteHalf) {
    while let Some(frame) = rx.recv().await {
        if wr.write_all(&frame).await.is_err() {
            return;
        }
    }
    let _ = wr.shutdown().await;
}
