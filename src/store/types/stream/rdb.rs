//! The stream's RDB payload, as Redis 7.0's `rdbSaveObject` writes it
//! (`RDB_TYPE_STREAM_LISTPACKS_2`): the nodes (16-byte master id, listpack),
//! length, last id, first id, greatest deleted id, entries added, then each
//! group (name, last id, entries read, PEL with delivery time and count,
//! consumers with seen time and the ids they own). The older
//! `RDB_TYPE_STREAM_LISTPACKS` lacks the first/deleted/added fields and the
//! read counters, which are derived as Redis derives them. Every part is
//! checked before use: a bad payload is an error, never a panic.

use std::collections::BTreeMap;

use super::group::{Group, Nack};
use super::node;
use super::{Stream, StreamId, RDB_TYPE_STREAM_LISTPACKS_2};
use crate::store::compact::listpack::Listpack;
use crate::store::types::{BadPayload, RdbSink, RdbSource};

fn bad(what: &'static str) -> BadPayload {
    BadPayload::Invalid(what)
}

impl Stream {
    /// The RDB type byte.
    pub fn rdb_type(&self) -> u8 {
        RDB_TYPE_STREAM_LISTPACKS_2
    }

    /// Writes the payload (after the type byte).
    pub fn write_rdb(&self, out: &mut dyn RdbSink) {
        out.length(self.nodes.len() as u64);
        for (master, lp) in &self.nodes {
            out.string(&master.encode());
            out.string(lp);
        }
        out.length(self.length);
        out.length(self.last_id.ms);
        out.length(self.last_id.seq);
        out.length(self.first_id.ms);
        out.length(self.first_id.seq);
        out.length(self.max_deleted.ms);
        out.length(self.max_deleted.seq);
        out.length(self.entries_added);
        out.length(self.groups.len() as u64);
        for (name, g) in &self.groups {
            out.string(name);
            out.length(g.last_id.ms);
            out.length(g.last_id.seq);
            out.length(g.entries_read as u64);
            out.length(g.pel.len() as u64);
            for (id, n) in &g.pel {
                out.raw(&id.encode());
                out.raw(&n.delivery_time.to_le_bytes());
                out.length(n.delivery_count);
            }
            out.length(g.consumers.len() as u64);
            for (cname, c) in &g.consumers {
                out.string(cname);
                out.raw(&c.seen_time.to_le_bytes());
                out.length(c.pel.len() as u64);
                for id in &c.pel {
                    out.raw(&id.encode());
                }
            }
        }
    }

    /// Reads a payload of one of `RDB_TYPES`.
    pub fn read_rdb<S: RdbSource>(rdb_type: u8, src: &mut S) -> Result<Stream, S::Error> {
        let v2 = rdb_type == RDB_TYPE_STREAM_LISTPACKS_2;
        let n = src.length()?;
        let mut nodes = BTreeMap::new();
        let mut live = 0u64;
        for _ in 0..n {
            let key = src.string()?.to_bytes().into_owned();
            let master = StreamId::decode(&key).ok_or(bad("stream node key"))?;
            let lp = src.string()?.to_bytes().into_owned();
            Listpack::parse(&lp).map_err(|_| bad("stream listpack"))?;
            let d = node::decode(master, &lp).ok_or(bad("stream listpack"))?;
            // A node may hold only tombstones (an exact MINID trim leaves
            // them), never nothing at all.
            if d.entries.is_empty() {
                return Err(bad("empty stream node").into());
            }
            live += d.count as u64;
            drop(d);
            if nodes.insert(master, lp).is_some() {
                return Err(bad("duplicate stream node").into());
            }
        }
        let mut s = Stream::from_nodes(nodes);
        let length = src.length()?;
        if length != live {
            return Err(bad("stream length").into());
        }
        s.set_len(length);
        s.last_id = StreamId::new(src.length()?, src.length()?);
        if v2 {
            s.first_id = StreamId::new(src.length()?, src.length()?);
            s.max_deleted = StreamId::new(src.length()?, src.length()?);
            s.entries_added = src.length()?;
        } else {
            s.entries_added = length;
            s.first_id = if length == 0 {
                StreamId::MIN
            } else {
                s.edge_id(true, true)
            };
        }
        if length > 0 && s.last_valid_id() > s.last_id {
            return Err(bad("stream last id").into());
        }
        let groups = src.length()?;
        for _ in 0..groups {
            let name = src.string()?.to_bytes().into_owned();
            let last = StreamId::new(src.length()?, src.length()?);
            let read = if v2 {
                src.length()? as i64
            } else {
                s.estimate_distance(last).map_or(-1, |n| n as i64)
            };
            let mut g = Group::new(last, read);
            let pel = src.length()?;
            for _ in 0..pel {
                let id = read_id(src)?;
                let time = read_ms(src)?;
                let count = src.length()?;
                let nack = Nack {
                    delivery_time: time,
                    delivery_count: count,
                    consumer: Box::default(),
                };
                if g.pel.insert(id, nack).is_some() {
                    return Err(bad("duplicate stream PEL entry").into());
                }
            }
            let consumers = src.length()?;
            let mut owned = std::collections::BTreeSet::new();
            for _ in 0..consumers {
                let cname = src.string()?.to_bytes().into_owned();
                let seen = read_ms(src)?;
                if !g.create_consumer(&cname, seen) {
                    return Err(bad("duplicate stream consumer").into());
                }
                let n = src.length()?;
                for _ in 0..n {
                    let id = read_id(src)?;
                    let nack = g
                        .pel
                        .get_mut(&id)
                        .ok_or(bad("consumer PEL entry not in the group PEL"))?;
                    if !owned.insert(id) {
                        return Err(bad("stream PEL entry with two consumers").into());
                    }
                    nack.consumer = cname.clone().into_boxed_slice();
                    if let Some(c) = g.consumers.get_mut(&cname[..]) {
                        c.pel.insert(id);
                    }
                }
            }
            if owned.len() != g.pel.len() {
                return Err(bad("stream PEL entry without consumer").into());
            }
            if s.groups.insert(name.into_boxed_slice(), g).is_some() {
                return Err(bad("duplicate stream consumer group").into());
            }
        }
        Ok(s)
    }
}

fn read_id<S: RdbSource>(src: &mut S) -> Result<StreamId, S::Error> {
    let raw = src.raw(16)?;
    Ok(StreamId::decode(&raw).ok_or(bad("stream id"))?)
}

fn read_ms<S: RdbSource>(src: &mut S) -> Result<i64, S::Error> {
    let raw = src.raw(8)?;
    let mut b = [0u8; 8];
    b.copy_from_slice(raw.get(..8).ok_or(bad("stream time"))?);
    Ok(i64::from_le_bytes(b))
}
