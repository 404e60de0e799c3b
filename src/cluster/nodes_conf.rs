//! `nodes.conf`: the cluster configuration on disk, in Redis's format (the
//! `CLUSTER NODES` lines, with `,shard-id=` after the address as Redis 7.2
//! writes it, then `vars currentEpoch N lastVoteEpoch M`). Written atomically
//! (temp file, fsync, rename, fsync of the directory) and read back at start.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use thiserror::Error;

use super::topology::{Node, NodeFlags, NodeId, Settings, Topology};

/// A `nodes.conf` that cannot be used.
#[derive(Debug, Error)]
pub enum ConfError {
    /// The file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A line does not parse.
    #[error("line {line}: {reason}")]
    Corrupt {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// The file's text for `t`.
pub fn render(t: &Topology) -> String {
    let mut s = String::new();
    for n in t.nodes.values().filter(|n| !n.in_handshake()) {
        let line = t.describe(n);
        // Same line as CLUSTER NODES, with the shard id after the address.
        let addr = n.address();
        let aux = if n.hostname.is_empty() {
            format!("{addr},,shard-id={}", n.shard_id)
        } else {
            format!("{addr},shard-id={}", n.shard_id)
        };
        s.push_str(&line.replacen(&addr, &aux, 1));
        s.push('\n');
    }
    s.push_str(&format!(
        "vars currentEpoch {} lastVoteEpoch {}\n",
        t.current_epoch, t.last_vote_epoch
    ));
    s
}

/// Writes `text` to `path` through a temporary file and a rename, so a crash of
/// the process leaves either the old or the new file. With `fsync`, the file
/// reaches the disk before the rename and the directory after it, so a crash
/// of the machine does too; without, call `sync` later.
pub fn write_atomic(path: &Path, text: &str, fsync: bool) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        if fsync {
            f.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)?;
    if fsync {
        sync_dir(path)?;
    }
    Ok(())
}

/// Flushes `path` and its directory entry to the disk.
pub fn sync(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

/// Parses a `nodes.conf`. `port`/`bus_port` are this process's: a node restarted
/// on other ports announces the new ones.
pub fn parse(
    text: &str,
    port: u16,
    bus_port: u16,
    settings: Settings,
    now: u64,
) -> Result<Topology, ConfError> {
    let mut conf = Conf::default();
    for (i, line) in text.lines().enumerate() {
        let ln = i + 1;
        let f: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
        if f.is_empty() {
            continue;
        }
        if f[0] == "vars" {
            conf.read_vars(&f[1..], ln)?;
        } else {
            conf.read_node(&f, ln, now)?;
        }
    }
    let me = conf
        .myself
        .ok_or_else(|| corrupt(0, "no line for this node (myself)"))?;
    Ok(conf.into_topology(me, port, bus_port, settings, now))
}

fn corrupt(line: usize, reason: &str) -> ConfError {
    ConfError::Corrupt {
        line,
        reason: reason.to_string(),
    }
}

/// What the file says, line by line, before it becomes a topology.
#[derive(Default)]
struct Conf {
    /// Each node with the primary its line names.
    nodes: Vec<(Node, Option<NodeId>)>,
    /// Each served slot with its owner.
    slots: Vec<(NodeId, u16)>,
    migrating: BTreeMap<u16, NodeId>,
    importing: BTreeMap<u16, NodeId>,
    current_epoch: u64,
    last_vote_epoch: u64,
    /// The id on the `myself` line.
    myself: Option<NodeId>,
}

impl Conf {
    /// `vars currentEpoch N lastVoteEpoch M` (after `vars`); unknown names are skipped.
    fn read_vars(&mut self, pairs: &[&str], ln: usize) -> Result<(), ConfError> {
        for pair in pairs.chunks(2) {
            let [k, v] = pair else {
                return Err(corrupt(ln, "odd vars line"));
            };
            let v: u64 = v.parse().map_err(|_| corrupt(ln, "bad vars value"))?;
            match *k {
                "currentEpoch" => self.current_epoch = v,
                "lastVoteEpoch" => self.last_vote_epoch = v,
                _ => {}
            }
        }
        Ok(())
    }

    /// A node's line: the `CLUSTER NODES` fields, then its slots and open slots.
    fn read_node(&mut self, f: &[&str], ln: usize, now: u64) -> Result<(), ConfError> {
        if f.len() < 8 {
            return Err(corrupt(ln, "fewer than 8 fields"));
        }
        let id = NodeId::parse(f[0].as_bytes()).ok_or_else(|| corrupt(ln, "bad node id"))?;
        let flags = NodeFlags::parse(f[2]);
        let mut n = Node::new(id, NodeFlags(flags.0 & !NodeFlags::MYSELF.0), now);
        parse_address(f[1], &mut n).ok_or_else(|| corrupt(ln, "bad address"))?;
        let master = match f[3] {
            "-" => None,
            m => Some(NodeId::parse(m.as_bytes()).ok_or_else(|| corrupt(ln, "bad master id"))?),
        };
        let num = |s: &str| s.parse::<u64>().map_err(|_| corrupt(ln, "bad number"));
        if num(f[4])? != 0 {
            n.ping_sent = now;
        }
        if num(f[5])? != 0 {
            n.pong_received = now;
        }
        n.config_epoch = num(f[6])?;
        if n.flags.has(NodeFlags::FAIL) {
            n.fail_time = now;
        }
        if flags.has(NodeFlags::MYSELF) {
            if self.myself.is_some() {
                return Err(corrupt(ln, "two myself lines"));
            }
            self.myself = Some(id);
        }
        for tok in &f[8..] {
            self.read_slots(tok, id, ln)?;
        }
        self.nodes.push((n, master));
        Ok(())
    }

    /// One slot field of `id`'s line: a slot, a range `a-b`, or an open-slot
    /// marker (`[slot->-to]` migrating, `[slot-<-from]` importing).
    fn read_slots(&mut self, tok: &str, id: NodeId, ln: usize) -> Result<(), ConfError> {
        if let Some(inner) = tok.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            let (slot, dir, other) = if let Some((s, o)) = inner.split_once("->-") {
                (s, true, o)
            } else if let Some((s, o)) = inner.split_once("-<-") {
                (s, false, o)
            } else {
                return Err(corrupt(ln, "bad open-slot marker"));
            };
            let slot = parse_slot(slot).ok_or_else(|| corrupt(ln, "bad slot"))?;
            let other =
                NodeId::parse(other.as_bytes()).ok_or_else(|| corrupt(ln, "bad node id"))?;
            if dir {
                self.migrating.insert(slot, other);
            } else {
                self.importing.insert(slot, other);
            }
            return Ok(());
        }
        let (a, b) = match tok.split_once('-') {
            Some((a, b)) => (a, b),
            None => (tok, tok),
        };
        let (a, b) = (
            parse_slot(a).ok_or_else(|| corrupt(ln, "bad slot"))?,
            parse_slot(b).ok_or_else(|| corrupt(ln, "bad slot"))?,
        );
        if a > b {
            return Err(corrupt(ln, "bad slot range"));
        }
        self.slots.extend((a..=b).map(|s| (id, s)));
        Ok(())
    }

    /// The topology the file describes, with `me` as this node on this
    /// process's ports and with no failure flags of its own.
    fn into_topology(
        self,
        me: NodeId,
        port: u16,
        bus_port: u16,
        settings: Settings,
        now: u64,
    ) -> Topology {
        let mut t = Topology::new(me, port, bus_port, settings, now);
        for (mut n, master) in self.nodes {
            n.master = master;
            if n.id == me {
                let mine = t.me_mut();
                n.flags = n.flags.with(NodeFlags::MYSELF);
                n.port = port;
                n.bus_port = bus_port;
                n.fail_time = 0;
                n.flags.set(NodeFlags::PFAIL, false);
                n.flags.set(NodeFlags::FAIL, false);
                *mine = n;
            } else {
                t.nodes.insert(n.id, n);
            }
        }
        // A replica's primary may be listed only by reference: keep a placeholder.
        let missing: Vec<NodeId> = t
            .nodes
            .values()
            .filter_map(|n| n.master)
            .filter(|m| !t.nodes.contains_key(m))
            .collect();
        for m in missing {
            t.nodes.insert(
                m,
                Node::new(m, NodeFlags::MASTER.with(NodeFlags::NOADDR), now),
            );
        }
        for (id, s) in self.slots {
            t.add_slot(s, id);
        }
        t.migrating = self.migrating;
        t.importing = self.importing;
        t.current_epoch = self.current_epoch;
        t.last_vote_epoch = self.last_vote_epoch;
        // The loaded state is the file's: nothing to save yet.
        t.changes = Default::default();
        t
    }
}

fn parse_slot(s: &str) -> Option<u16> {
    s.parse::<u16>()
        .ok()
        .filter(|&v| (v as usize) < crate::slot::SLOTS)
}

/// `ip:port@busport[,hostname][,key=value…]`.
fn parse_address(s: &str, n: &mut Node) -> Option<()> {
    let mut parts = s.split(',');
    let addr = parts.next()?;
    let (ipport, bus) = addr.split_once('@')?;
    let (ip, port) = ipport.rsplit_once(':')?;
    n.ip = ip.to_string();
    n.port = port.parse().ok()?;
    n.bus_port = bus.parse().ok()?;
    for (i, p) in parts.enumerate() {
        match p.split_once('=') {
            Some(("shard-id", v)) => n.shard_id = NodeId::parse(v.as_bytes())?,
            Some(_) => {}
            None if i == 0 => n.hostname = p.to_string(),
            None => {}
        }
    }
    if n.ip.is_empty() {
        n.flags.set(NodeFlags::NOADDR, n.port == 0);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::super::topology::tests::{id, master, topo};
    use super::*;

    #[test]
    fn round_trip_keeps_ids_epochs_slots_roles_and_open_slots() {
        let mut t = topo(b'a');
        t.me_mut().ip = "127.0.0.1".into();
        t.me_mut().config_epoch = 3;
        t.current_epoch = 9;
        t.last_vote_epoch = 4;
        let mut b = master(b'b', 7001);
        b.config_epoch = 5;
        b.hostname = "host-b".into();
        t.add_node(b);
        let mut r = master(b'c', 7002);
        r.flags = NodeFlags::REPLICA.with(NodeFlags::FAIL);
        r.master = Some(id(b'b'));
        t.add_node(r);
        for s in 0..100 {
            t.add_slot(s, id(b'a'));
        }
        t.add_slot(200, id(b'b'));
        t.migrating.insert(5, id(b'b'));
        t.importing.insert(200, id(b'b'));
        let text = render(&t);
        assert!(
            text.ends_with("vars currentEpoch 9 lastVoteEpoch 4\n"),
            "{text}"
        );
        assert!(text.contains("127.0.0.1:7001@17001,host-b,shard-id="));
        let back = parse(&text, 7000, 17000, Settings::default(), 1).expect("parse");
        assert_eq!(back.myself, id(b'a'));
        assert_eq!(back.me().config_epoch, 3);
        assert_eq!((back.current_epoch, back.last_vote_epoch), (9, 4));
        assert_eq!(back.owner(99), Some(id(b'a')));
        assert_eq!(back.owner(200), Some(id(b'b')));
        assert_eq!(back.migrating.get(&5), Some(&id(b'b')));
        assert_eq!(back.importing.get(&200), Some(&id(b'b')));
        let c = &back.nodes[&id(b'c')];
        assert!(c.is_replica() && c.flags.has(NodeFlags::FAIL));
        assert_eq!(c.master, Some(id(b'b')));
        assert_eq!(back.nodes[&id(b'b')].hostname, "host-b");
        assert_eq!(back.nodes[&id(b'b')].shard_id, t.nodes[&id(b'b')].shard_id);
        assert_eq!(render(&back).lines().count(), 4);
    }

    #[test]
    fn corrupt_files_are_errors() {
        let s = Settings::default;
        assert!(parse("", 1, 2, s(), 0).is_err(), "no myself line");
        assert!(parse("garbage line\n", 1, 2, s(), 0).is_err());
        let good = render(&topo(b'a'));
        let broken = good.replacen(" 0 0 0 ", " 0 x 0 ", 1);
        assert!(matches!(
            parse(&broken, 1, 2, s(), 0),
            Err(ConfError::Corrupt { line: 1, .. })
        ));
        let bad_slot = good.replacen("connected", "connected 99999", 1);
        assert!(parse(&bad_slot, 1, 2, s(), 0).is_err());
        assert!(parse(&good, 1, 2, s(), 0).is_ok());
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("nodes.conf");
        write_atomic(&p, "one\n", true).expect("write");
        write_atomic(&p, "two\n", false).expect("write");
        sync(&p).expect("sync");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "two\n");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
    }
}
