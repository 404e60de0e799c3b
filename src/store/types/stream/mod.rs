//! The stream type, laid out as Redis 7.0 lays it out so RDB and DUMP carry
//! it byte for byte:
//!
//! - entries live in nodes, each a listpack (see [`node`]) holding up to
//!   `stream-node-max-entries` entries or about `stream-node-max-bytes`
//!   bytes, delta-encoded against the node's master id and sharing its
//!   field names; the nodes sit in a `BTreeMap` keyed by master id (Redis's
//!   rax of listpacks). Deletion flags an entry (a tombstone) and the node
//!   goes when its last live entry does;
//! - the metadata Redis keeps: length, last id, first id, the greatest
//!   deleted id and the count of entries ever added;
//! - consumer groups by name (see [`group`]), each with its pending entries
//!   list and consumers.
//!
//! Payload codecs (RDB `STREAM_LISTPACKS` and `_2`) are in [`rdb`]; the
//! AOF-rewrite commands and the digest are here.

pub mod group;
pub mod node;
pub mod rdb;
pub mod size;

use std::collections::BTreeMap;
use std::fmt;

use super::{Kind, Value, ValueType};
use crate::store::compact::Element;
use crate::store::digest::{mix, Digest};
pub use group::{Consumer, Group, Nack};
use node::elem_bytes;

/// `RDB_TYPE_STREAM_LISTPACKS` (Redis 5 – 6.2).
pub const RDB_TYPE_STREAM_LISTPACKS: u8 = 15;
/// `RDB_TYPE_STREAM_LISTPACKS_2` (Redis 7.0).
pub const RDB_TYPE_STREAM_LISTPACKS_2: u8 = 19;
/// RDB type bytes this type reads.
pub const RDB_TYPES: &[u8] = &[RDB_TYPE_STREAM_LISTPACKS, RDB_TYPE_STREAM_LISTPACKS_2];

/// A stream entry id: milliseconds and sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The greatest id.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// An id from its parts.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next id, `None` past the greatest.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous id, `None` before `0-0`.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// True for `0-0`.
    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The 16-byte big-endian form Redis keys its trees with.
    pub fn encode(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    /// Reads the 16-byte form.
    pub fn decode(b: &[u8]) -> Option<StreamId> {
        let ms = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
        let seq = u64::from_be_bytes(b.get(8..16)?.try_into().ok()?);
        (b.len() == 16).then_some(StreamId { ms, seq })
    }

    /// `ms-seq` as bytes.
    pub fn to_bytes(self) -> Vec<u8> {
        self.render().as_bytes().to_vec()
    }

    /// `ms-seq`, written without allocating.
    pub fn render(self) -> IdText {
        let mut t = IdText {
            buf: [0; 41],
            len: 0,
        };
        let (mut a, mut b) = (itoa::Buffer::new(), itoa::Buffer::new());
        let (ms, seq) = (a.format(self.ms).as_bytes(), b.format(self.seq).as_bytes());
        let len = ms.len() + 1 + seq.len();
        t.buf[..ms.len()].copy_from_slice(ms);
        t.buf[ms.len()] = b'-';
        t.buf[ms.len() + 1..len].copy_from_slice(seq);
        t.len = len as u8;
        t
    }
}

/// A stream id's text (`StreamId::render`).
#[derive(Debug, Clone, Copy)]
pub struct IdText {
    buf: [u8; 41],
    len: u8,
}

impl IdText {
    /// The text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One entry, copied out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// Its id.
    pub id: StreamId,
    /// Field/value pairs in order.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// When a node is full (`stream-node-max-bytes`, `stream-node-max-entries`;
/// 0 means no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLimits {
    /// Bytes.
    pub bytes: u64,
    /// Entries, tombstones included.
    pub entries: i64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            bytes: 4096,
            entries: 100,
        }
    }
}

/// Largest listpack a node may become (Redis's `STREAM_LISTPACK_MAX_SIZE`).
pub const LISTPACK_MAX: u64 = 1 << 30;

/// How XADD picks the new id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewId {
    /// `*`: from the clock (unix ms) or after the last id.
    Auto(u64),
    /// `ms-*`: this millisecond, the next free sequence.
    Ms(u64),
    /// `ms-seq`.
    Exact(StreamId),
}

/// Why XADD could not add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddError {
    /// The id is not greater than the last one.
    NotGreater,
    /// The fields are too large for a node.
    TooLarge,
}

/// A trimming request (XADD's and XTRIM's MAXLEN/MINID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trim {
    /// What to keep.
    pub strategy: TrimBy,
    /// `~`: only whole nodes go.
    pub approx: bool,
    /// Most entries to remove (0: no limit).
    pub limit: i64,
}

/// The trimming strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimBy {
    /// At most this many entries stay.
    MaxLen(u64),
    /// Entries below this id go.
    MinId(StreamId),
}

/// A stream value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Vec<u8>>,
    node_bytes: usize,
    length: u64,
    /// The greatest id ever added (or set by XSETID).
    pub last_id: StreamId,
    /// The first live entry's id (0-0 when empty).
    pub first_id: StreamId,
    /// The greatest id deleted by XDEL.
    pub max_deleted: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<Box<[u8]>, Group>,
}

impl Stream {
    /// Live entries.
    pub fn len(&self) -> u64 {
        self.length
    }

    /// True with no live entries (the key stays: streams are never removed
    /// for being empty).
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Number of nodes (XINFO's `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes, master id and listpack, in order (RDB).
    pub fn nodes(&self) -> impl Iterator<Item = (&StreamId, &Vec<u8>)> {
        self.nodes.iter()
    }

    /// Appends an entry; its id.
    pub fn add(
        &mut self,
        new: NewId,
        fields: &[(&[u8], &[u8])],
        limits: NodeLimits,
    ) -> Result<StreamId, AddError> {
        let last = self.last_id;
        let id = match new {
            NewId::Auto(now) if now > last.ms => StreamId::new(now, 0),
            NewId::Auto(_) => last.incr().ok_or(AddError::NotGreater)?,
            NewId::Ms(ms) if ms == last.ms => {
                if last.seq == u64::MAX {
                    return Err(AddError::NotGreater);
                }
                StreamId::new(ms, last.seq + 1)
            }
            NewId::Ms(ms) => StreamId::new(ms, 0),
            NewId::Exact(id) => id,
        };
        if id <= last {
            return Err(AddError::NotGreater);
        }
        let total: u64 = fields.iter().map(|(f, v)| (f.len() + v.len()) as u64).sum();
        if total > LISTPACK_MAX {
            return Err(AddError::TooLarge);
        }
        let max_bytes = if limits.bytes == 0 || limits.bytes > LISTPACK_MAX {
            LISTPACK_MAX
        } else {
            limits.bytes
        };
        let mut appended = false;
        if let Some((&master, lp)) = self.nodes.iter_mut().next_back() {
            let (c, d) = node::counts(lp);
            let full = lp.len() as u64 + total >= max_bytes
                || (limits.entries > 0 && c.saturating_add(d) >= limits.entries);
            if full {
                // The node is done: give back what growing it reserved
                // (Redis's lpShrinkToFit).
                lp.shrink_to_fit();
            } else {
                let before = lp.len();
                node::append(lp, master, id, fields);
                self.node_bytes = self.node_bytes + lp.len() - before;
                appended = true;
            }
        }
        if !appended {
            let mut lp = node::create(fields);
            // Room to grow the new tail node without reallocating on every
            // XADD, as Redis preallocates it.
            lp.reserve((max_bytes.min(4096) as usize).saturating_sub(lp.len()));
            self.node_bytes += lp.len();
            self.nodes.insert(id, lp);
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(id)
    }

    /// Visits live entries from `start` to `end` (inclusive), descending
    /// with `rev`, until `f` returns false.
    pub fn walk(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(StreamId, &[(Element<'_>, Element<'_>)]) -> bool,
    ) {
        if start > end {
            return;
        }
        // The node holding `start` may be keyed below it.
        let from = self
            .nodes
            .range(..=start)
            .next_back()
            .map_or(start, |(k, _)| *k);
        let nodes = self.nodes.range(from..=end);
        // Entries are in id order within a node and across nodes: the walk
        // ends at the first entry past the range.
        let mut visit = |master: &StreamId, lp: &Vec<u8>| -> bool {
            let Some(mut c) = node::Cursor::new(*master, lp) else {
                return true;
            };
            loop {
                let next = if rev { c.next_back() } else { c.next_front() };
                let Some((flags, id)) = next else {
                    return true;
                };
                let (before, past) = if rev {
                    (id > end, id < start)
                } else {
                    (id < start, id > end)
                };
                if past {
                    return false;
                }
                if before || flags & node::FLAG_DELETED != 0 {
                    continue;
                }
                if !f(id, c.fields()) {
                    return false;
                }
            }
        };
        if rev {
            for (m, lp) in nodes.rev() {
                if !visit(m, lp) {
                    return;
                }
            }
        } else {
            for (m, lp) in nodes {
                if !visit(m, lp) {
                    return;
                }
            }
        }
    }

    /// Up to `count` live entries (0: all) from `start` to `end`.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        count: usize,
        rev: bool,
    ) -> Vec<StreamEntry> {
        let mut out = Vec::new();
        self.walk(start, end, rev, |id, fields| {
            out.push(StreamEntry {
                id,
                fields: fields
                    .iter()
                    .map(|(f, v)| (elem_bytes(*f).into_owned(), elem_bytes(*v).into_owned()))
                    .collect(),
            });
            count == 0 || out.len() < count
        });
        out
    }

    /// The live entry `id`.
    pub fn get(&self, id: StreamId) -> Option<StreamEntry> {
        self.range(id, id, 1, false).pop()
    }

    /// True when `id` is a live entry.
    pub fn contains(&self, id: StreamId) -> bool {
        let mut found = false;
        self.walk(id, id, false, |_, _| {
            found = true;
            false
        });
        found
    }

    /// The first or last live entry's id (`skip_tombstones` false counts
    /// tombstones too); with none, the greatest id for `first`, else 0-0.
    pub fn edge_id(&self, first: bool, skip_tombstones: bool) -> StreamId {
        let mut found = None;
        let iter: Box<dyn Iterator<Item = (&StreamId, &Vec<u8>)>> = if first {
            Box::new(self.nodes.iter())
        } else {
            Box::new(self.nodes.iter().rev())
        };
        for (m, lp) in iter {
            let Some(mut c) = node::Cursor::new(*m, lp) else {
                continue;
            };
            while let Some((flags, id)) = if first { c.next_front() } else { c.next_back() } {
                if !skip_tombstones || flags & node::FLAG_DELETED == 0 {
                    found = Some(id);
                    break;
                }
            }
            if found.is_some() {
                break;
            }
        }
        found.unwrap_or(if first { StreamId::MAX } else { StreamId::MIN })
    }

    /// The last live entry's id (0-0 when empty).
    pub fn last_valid_id(&self) -> StreamId {
        self.edge_id(false, true)
    }

    /// Deletes the live entry `id`; true when it was there. Updates the
    /// greatest deleted id and the first id as XDEL does.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, lp)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(d) = node::decode(master, lp) else {
            return false;
        };
        let Some(e) = d.entries.iter().find(|e| e.id == id && !e.deleted()) else {
            return false;
        };
        let mark = (e.flags_index, e.flags);
        let before = lp.len();
        if d.count == 1 {
            self.nodes.remove(&master);
            self.node_bytes -= before;
        } else {
            node::mark_deleted(lp, &[mark]);
            self.node_bytes = self.node_bytes + lp.len() - before;
        }
        self.length -= 1;
        if id > self.max_deleted {
            self.max_deleted = id;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if id == self.first_id {
            self.first_id = self.edge_id(true, true);
        }
        true
    }

    /// Trims as XADD/XTRIM ask; how many entries went.
    pub fn trim(&mut self, t: Trim) -> u64 {
        let mut deleted: u64 = 0;
        // Only the first node is ever looked at: it goes whole (and the next
        // becomes first) or the trim stops there.
        loop {
            if let TrimBy::MaxLen(n) = t.strategy {
                if self.length <= n {
                    break;
                }
            }
            let Some((&master, lp)) = self.nodes.iter_mut().next() else {
                break;
            };
            let (entries, _) = node::counts(lp);
            let entries = entries.max(0) as u64;
            if t.limit > 0 && deleted + entries > t.limit as u64 {
                break;
            }
            let remove_node = match t.strategy {
                TrimBy::MaxLen(n) => self.length - entries >= n,
                TrimBy::MinId(min) => node::decode(master, lp)
                    .and_then(|d| d.entries.last().map(|e| e.id < min))
                    .unwrap_or(false),
            };
            if remove_node {
                let bytes = lp.len();
                self.nodes.remove(&master);
                self.node_bytes -= bytes;
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if t.approx {
                break;
            }
            let Some(d) = node::decode(master, lp) else {
                break;
            };
            let mut marks = Vec::new();
            for e in &d.entries {
                let stop = match t.strategy {
                    TrimBy::MaxLen(n) => self.length <= n,
                    TrimBy::MinId(min) => e.id >= min,
                };
                if stop {
                    break;
                }
                if !e.deleted() {
                    marks.push((e.flags_index, e.flags));
                    self.length -= 1;
                }
            }
            drop(d);
            if !marks.is_empty() {
                let before = lp.len();
                node::mark_deleted(lp, &marks);
                self.node_bytes = self.node_bytes + lp.len() - before;
                deleted += marks.len() as u64;
            }
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(true, true);
        }
        deleted
    }

    /// True when the range from `start` on may hold a tombstone (Redis's
    /// `streamRangeHasTombstones`, with an open end).
    pub fn range_has_tombstones(&self, start: StreamId) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted {
            return false;
        }
        start <= self.max_deleted
    }

    /// An id's logical read counter if it can be known (Redis's
    /// `streamEstimateDistanceFromFirstEverEntry`), else `None`.
    pub fn estimate_distance(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        }
        if id > self.last_id {
            return None;
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            if id < self.first_id {
                return Some(self.entries_added.saturating_sub(self.length));
            }
            if id == self.first_id {
                return Some(
                    self.entries_added
                        .saturating_sub(self.length)
                        .saturating_add(1),
                );
            }
        }
        None
    }

    /// A group's lag, when it can be known.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        // Signed, as Redis 7.0 computes it: XGROUP SETID … ENTRIESREAD past
        // the entries added gives a negative lag.
        let added = i64::try_from(self.entries_added).unwrap_or(i64::MAX);
        if g.entries_read >= 0 && !self.range_has_tombstones(g.last_id) {
            return Some(added.saturating_sub(g.entries_read));
        }
        self.estimate_distance(g.last_id)
            .map(|r| added.saturating_sub(i64::try_from(r).unwrap_or(i64::MAX)))
    }

    /// Notes that a group read up to `id` (a new greatest delivered id),
    /// updating its read counter as Redis does.
    pub fn advance_group(&self, g: &mut Group, id: StreamId) {
        if id <= g.last_id {
            return;
        }
        if g.entries_read >= 0 && !self.range_has_tombstones(id) {
            g.entries_read = g.entries_read.saturating_add(1);
        } else if self.entries_added > 0 {
            g.entries_read = self.estimate_distance(id).map_or(-1, |n| n as i64);
        }
        g.last_id = id;
    }

    /// Builds a stream from loaded parts (RDB), checking what Redis checks.
    pub(crate) fn from_nodes(nodes: BTreeMap<StreamId, Vec<u8>>) -> Stream {
        let node_bytes = nodes.values().map(Vec::len).sum();
        Stream {
            nodes,
            node_bytes,
            ..Stream::default()
        }
    }

    /// Sets the live length (RDB).
    pub(crate) fn set_len(&mut self, n: u64) {
        self.length = n;
    }

    /// Heap bytes the value owns (O(groups)).
    pub fn heap_size(&self) -> usize {
        let groups: usize = self
            .groups
            .iter()
            .map(|(n, g)| n.len() + g.heap_size())
            .sum();
        self.node_bytes + self.nodes.len() * 64 + groups
    }

    /// What Redis would allocate (`MEMORY USAGE`), with the default
    /// `stream-node-max-bytes` preallocation (see [`Stream::redis_usage_with`]).
    pub fn redis_usage(&self) -> usize {
        self.redis_usage_with(4096)
    }

    /// Redis's free effort: nodes, plus each group and its pending entries.
    pub fn free_effort(&self) -> usize {
        let groups: usize = self.groups.values().map(|g| 1 + g.pel.len()).sum();
        self.nodes.len() + groups
    }

    /// Mixes the stream into `d` as Redis does: each entry's `ms.seq`, then
    /// its fields and values, in order.
    pub fn digest(&self, d: &mut Digest) {
        self.walk(StreamId::MIN, StreamId::MAX, false, |id, fields| {
            mix(d, format!("{}.{}", id.ms, id.seq).as_bytes());
            for (f, v) in fields {
                mix(d, &elem_bytes(*f));
                mix(d, &elem_bytes(*v));
            }
            true
        });
    }

    /// Emits the commands recreating the stream (Redis's `rewriteStreamObject`).
    pub fn rewrite(&self, key: &[u8], emit: &mut dyn FnMut(&[&[u8]])) {
        if self.length > 0 {
            self.walk(StreamId::MIN, StreamId::MAX, false, |id, fields| {
                let id = id.to_bytes();
                let owned: Vec<Vec<u8>> = fields
                    .iter()
                    .flat_map(|(f, v)| [elem_bytes(*f).into_owned(), elem_bytes(*v).into_owned()])
                    .collect();
                let mut argv: Vec<&[u8]> = vec![b"XADD", key, &id];
                argv.extend(owned.iter().map(Vec::as_slice));
                emit(&argv);
                true
            });
        } else {
            emit(&[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"]);
        }
        let last = self.last_id.to_bytes();
        let added = self.entries_added.to_string();
        let maxdel = self.max_deleted.to_bytes();
        emit(&[
            b"XSETID",
            key,
            &last,
            b"ENTRIESADDED",
            added.as_bytes(),
            b"MAXDELETEDID",
            &maxdel,
        ]);
        for (name, g) in &self.groups {
            let gid = g.last_id.to_bytes();
            let read = g.entries_read.to_string();
            emit(&[
                b"XGROUP",
                b"CREATE",
                key,
                name,
                &gid,
                b"ENTRIESREAD",
                read.as_bytes(),
            ]);
            for (cname, c) in &g.consumers {
                if c.pel.is_empty() {
                    emit(&[b"XGROUP", b"CREATECONSUMER", key, name, cname]);
                    continue;
                }
                for id in &c.pel {
                    let Some(n) = g.pel.get(id) else {
                        continue;
                    };
                    let idb = id.to_bytes();
                    let time = n.delivery_time.to_string();
                    let count = n.delivery_count.to_string();
                    emit(&[
                        b"XCLAIM",
                        key,
                        name,
                        cname,
                        b"0",
                        &idb,
                        b"TIME",
                        time.as_bytes(),
                        b"RETRYCOUNT",
                        count.as_bytes(),
                        b"JUSTID",
                        b"FORCE",
                    ]);
                }
            }
        }
    }
}

impl ValueType for Stream {
    const KIND: Kind = Kind::Stream;

    fn of(v: &Value) -> Option<&Stream> {
        match v {
            Value::Stream(x) => Some(x),
            _ => None,
        }
    }

    fn of_mut(v: &mut Value) -> Option<&mut Stream> {
        match v {
            Value::Stream(x) => Some(x),
            _ => None,
        }
    }

    fn into_value(self) -> Value {
        Value::Stream(Box::new(self))
    }

    fn is_emptied(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests;
