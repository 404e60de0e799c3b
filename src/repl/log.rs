//! The replication log: one ordered stream of write effects, addressed by offset
//! (Redis PSYNC semantics: replication id + offset + a bounded backlog). The
//! AOF consumes it through a *tap* (every byte, in order, taken in chunks), an
//! AOF rewrite through a *capture* of what follows its snapshot, and each
//! replica through a *feed*. A feed past its output limit is dropped as the
//! bytes arrive, so a stopped replica holds at most its limit; the bytes the
//! consumers hold are counted (`held_bytes`) so they can be left out of
//! `maxmemory`, as Redis leaves out replication buffers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::ids::ReplIds;

/// Scratch capacity kept between commands.
const KEEP_SCRATCH: usize = 64 * 1024;

/// How often a primary pings into the stream while replicas are attached
/// (Redis's `repl-ping-replica-period`): they tell a quiet primary from a
/// dead one by it.
pub const PING_PERIOD_MS: u64 = 10_000;

/// Default backlog size (Redis's `repl-backlog-size`).
pub const DEFAULT_BACKLOG: usize = 1024 * 1024;

struct Inner {
    /// Which history the stream is (PSYNC2).
    ids: ReplIds,
    /// The data matches the history at `offset`: recorded since the log was
    /// activated, synced from a primary, or restored from an RDB file.
    known: bool,
    offset: u64,
    backlog: Vec<u8>,
    /// Ring position where the next byte goes once the backlog is full.
    head: usize,
    capacity: usize,
    /// The database the stream's next command runs in, as every consumer
    /// sees it (None: the next command must select it first, for a consumer
    /// that just attached).
    last_db: Option<usize>,
    /// The database the stream has selected for the feeds and backlog (a
    /// replica's snapshot tells its own replicas, as `repl-stream-db`).
    stream_db: usize,
    /// Bytes the AOF has not taken yet.
    tap: Option<Vec<u8>>,
    /// Bytes since an AOF rewrite's snapshot point.
    capture: Option<Vec<u8>>,
    /// Encoding scratch space, reused (up to `KEEP_SCRATCH`).
    scratch: Vec<u8>,
    /// Replicas' streams: the bytes each has not taken yet.
    feeds: Vec<Feed>,
    next_feed: u64,
    /// A feed's output limits (`client-output-buffer-limit replica`).
    feed_limit: FeedLimit,
    /// Bytes in the tap, the capture and the feeds.
    held: u64,
}

/// When a feed is dropped: past `hard` bytes, or past `soft` bytes for
/// `soft_ms` (0 = no such limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedLimit {
    /// Bytes that drop the feed at once.
    pub hard: u64,
    /// Bytes that drop it when held for `soft_ms`.
    pub soft: u64,
    /// How long the soft limit may be exceeded (ms).
    pub soft_ms: u64,
}

/// Size of a feed's blocks.
const BLOCK: usize = 64 * 1024;

/// A feed's bytes in blocks of `BLOCK`, so the memory it takes is what it
/// holds (a doubling buffer can take twice that, which `held_bytes` would
/// not show). Taken from the front a block at a time.
#[derive(Default)]
struct Blocks {
    blocks: VecDeque<BytesMut>,
    len: usize,
}

impl Blocks {
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len();
        while !bytes.is_empty() {
            let room = self.blocks.back().map_or(0, |b| b.capacity() - b.len());
            if room == 0 {
                self.blocks.push_back(BytesMut::with_capacity(BLOCK));
                continue;
            }
            let n = room.min(bytes.len());
            if let Some(b) = self.blocks.back_mut() {
                b.extend_from_slice(&bytes[..n]);
            }
            bytes = &bytes[n..];
        }
    }

    /// Up to `max` bytes from the front (at most one block).
    fn take(&mut self, max: usize) -> Bytes {
        let Some(front) = self.blocks.front_mut() else {
            return Bytes::new();
        };
        let n = front.len().min(max);
        let bytes = front.split_to(n).freeze();
        // A partly filled last block keeps its room for what comes next.
        let spent = front.is_empty() && front.capacity() == 0;
        if spent || (self.blocks.len() > 1 && self.blocks.front().is_some_and(|b| b.is_empty())) {
            self.blocks.pop_front();
        }
        self.len -= n;
        bytes
    }
}

/// One replica's share of the stream.
struct Feed {
    id: u64,
    buf: Blocks,
    wake: Arc<Notify>,
    /// Since when (monotonic ms) it holds more than the soft limit; 0: it does not.
    over_soft_since: u64,
}

/// A replica's place in the stream: the offset its feed starts at.
#[derive(Debug)]
pub struct FeedHandle {
    /// Identifies the feed for `take_feed` and `detach_feed`.
    pub id: u64,
    /// The stream offset of the feed's first byte.
    pub offset: u64,
    /// Woken whenever bytes are appended.
    pub wake: Arc<Notify>,
}

/// A feed held more than its output limit (a replica too slow to follow),
/// or was detached: it is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedLost;

/// The ordered write stream.
pub struct Log {
    /// Like Redis, which creates its backlog only when the first replica
    /// attaches, the stream is recorded only once a consumer has asked for it.
    active: AtomicBool,
    /// A replica's log holds its primary's stream byte for byte
    /// (`append_verbatim`): its own writes are not logged, as Redis's
    /// replicas proxy their primary's stream instead.
    following: AtomicBool,
    inner: Mutex<Inner>,
    /// `Inner::held`, readable without the lock (the memory check reads it).
    held: AtomicU64,
}

impl Log {
    /// An empty log with a fresh replication id and a backlog of `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Log {
            active: AtomicBool::new(false),
            following: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                ids: ReplIds::fresh(),
                known: false,
                offset: 0,
                backlog: Vec::new(),
                head: 0,
                capacity,
                last_db: None,
                stream_db: 0,
                tap: None,
                capture: None,
                scratch: Vec::new(),
                feeds: Vec::new(),
                next_feed: 1,
                feed_limit: FeedLimit::default(),
                held: 0,
            }),
            held: AtomicU64::new(0),
        }
    }

    /// Bytes written to the stream that its consumers (the AOF, a rewrite,
    /// replicas) have not taken yet: replication buffers, not data.
    pub fn held_bytes(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// Sets the replicas' output limits (start-up, CONFIG SET).
    pub fn set_feed_limit(&self, limit: FeedLimit) {
        self.inner.lock().feed_limit = limit;
    }

    /// Publishes `held` after a change.
    fn publish(&self, g: &Inner) {
        self.held.store(g.held, Ordering::Relaxed);
    }

    /// The replication id (40 hex characters).
    pub fn repl_id(&self) -> String {
        self.inner.lock().ids.replid.clone()
    }

    /// The history's ids and the offset, read together (INFO).
    pub fn position(&self) -> (ReplIds, u64) {
        let g = self.inner.lock();
        (g.ids.clone(), g.offset)
    }

    /// True when the data is the history's state at the offset, so a primary
    /// sharing the history may continue it (else PSYNC asks `? -1`).
    pub fn has_history(&self) -> bool {
        self.inner.lock().known
    }

    /// The database the stream has selected (`repl-stream-db`).
    pub fn stream_db(&self) -> usize {
        self.inner.lock().stream_db
    }

    /// Bytes written so far (the master replication offset).
    pub fn offset(&self) -> u64 {
        self.inner.lock().offset
    }

    /// Starts recording the stream (a replica, the AOF or a test attaches).
    pub fn activate(&self) {
        if self.active.swap(true, Ordering::AcqRel) || self.is_following() {
            return;
        }
        // Writes before now were not recorded: no replica may continue
        // this history from before them (Redis changes its id when it creates
        // its backlog for the same reason).
        let mut g = self.inner.lock();
        g.ids = ReplIds::fresh();
        g.known = true;
    }

    /// True once a consumer attached.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Appends one command in `db`, preceded by `SELECT db` when the stream's
    /// current database differs; returns the offset after it. A no-op (offset
    /// 0) until `activate`.
    pub fn append(&self, db: usize, argv: &[&[u8]]) -> u64 {
        if !self.is_active() || self.following.load(Ordering::Acquire) {
            return 0;
        }
        let mut g = self.inner.lock();
        let mut scratch = std::mem::take(&mut g.scratch);
        scratch.clear();
        if g.last_db != Some(db) {
            encode_select(&mut scratch, db);
            g.last_db = Some(db);
            g.stream_db = db;
        }
        encode_command(&mut scratch, argv);
        self.push_to_all(&mut g, &scratch);
        // Keep the space for ordinary commands, not for the largest one ever.
        if scratch.capacity() <= KEEP_SCRATCH {
            g.scratch = scratch;
        }
        g.offset
    }

    /// Adds `bytes` to the stream and gives them to every consumer.
    fn push_to_all(&self, g: &mut Inner, bytes: &[u8]) {
        push(g, bytes);
        let n = bytes.len() as u64;
        let mut copies = push_to_aof(g, bytes);
        if !g.feeds.is_empty() {
            copies += g.feeds.len() as u64;
        }
        // Count the copies before a feed past its limit releases what it held.
        g.held += n * copies;
        if !g.feeds.is_empty() {
            g.held -= feed_all(&mut g.feeds, bytes, g.feed_limit);
        }
        if copies > 0 {
            self.publish(g);
        }
    }

    /// Appends a command that belongs to no database (PING, REPLCONF GETACK
    /// to replicas); no-op while no replica is attached. Returns the offset.
    pub fn append_control(&self, argv: &[&[u8]]) -> u64 {
        let mut g = self.inner.lock();
        if g.feeds.is_empty() || self.following.load(Ordering::Acquire) {
            return g.offset;
        }
        let mut bytes = Vec::new();
        encode_command(&mut bytes, argv);
        // The AOF (and a rewrite) replay it harmlessly; giving them every
        // byte keeps their offsets equal to the stream's.
        self.push_to_all(&mut g, &bytes);
        g.offset
    }

    /// Starts or stops following a primary. Either way this server's own
    /// replicas are dropped: they reconnect and learn the history's id
    /// (partially, when they can), as Redis disconnects them.
    pub fn set_following(&self, on: bool) {
        self.following.store(on, Ordering::Release);
        if on {
            self.activate();
        }
        let mut g = self.inner.lock();
        self.drop_feeds(&mut g);
    }

    /// True while the log holds a primary's stream (a replica).
    pub fn is_following(&self) -> bool {
        self.following.load(Ordering::Acquire)
    }

    /// Appends bytes of the primary's stream as they arrived (a replica, after
    /// applying them): the offsets stay the primary's, so this log can serve
    /// the same history once promoted. `db_before` is the database selected
    /// before them, `db_after` after; a consumer that attached meanwhile (the
    /// AOF) is given a SELECT first, outside the stream's offsets. Returns
    /// the offset after them.
    pub fn append_verbatim(&self, bytes: &[u8], db_before: usize, db_after: usize) -> u64 {
        let mut g = self.inner.lock();
        if g.last_db != Some(db_before) {
            let mut sel = Vec::new();
            encode_select(&mut sel, db_before);
            g.held += sel.len() as u64 * push_to_aof(&mut g, &sel);
        }
        g.last_db = Some(db_after);
        g.stream_db = db_after;
        self.push_to_all(&mut g, bytes);
        g.offset
    }

    /// Takes on the history `replid` at `offset` with an empty backlog, the
    /// stream in `db` (a replica's full sync, or its restart from an RDB
    /// file). The AOF must be off meanwhile: its file restarts too.
    pub fn reset_to(&self, replid: &str, offset: u64, db: usize) {
        let mut g = self.inner.lock();
        g.ids.reset(replid);
        g.known = true;
        g.offset = offset;
        g.backlog.clear();
        g.head = 0;
        g.last_db = Some(db);
        g.stream_db = db;
        self.drop_feeds(&mut g);
    }

    /// The primary continues under another id (its own promotion made one):
    /// the old id stays valid up to the current offset.
    pub fn shift_to(&self, replid: &str) {
        let mut g = self.inner.lock();
        if g.ids.replid != replid {
            let offset = g.offset;
            g.ids.shift(replid.to_string(), offset);
            self.drop_feeds(&mut g);
        }
    }

    /// A replica becomes a primary: a new history starts here, the primary's
    /// stays valid up to this offset for siblings and the old primary to
    /// continue from; the next write selects its database.
    pub fn promote(&self) {
        let mut g = self.inner.lock();
        self.following.store(false, Ordering::Release);
        let offset = g.offset;
        g.ids.shift(super::ids::random_id(), offset);
        g.last_db = None;
        self.drop_feeds(&mut g);
    }

    /// Ends every replica's feed (their tasks find them gone and disconnect).
    fn drop_feeds(&self, g: &mut Inner) {
        for f in std::mem::take(&mut g.feeds) {
            g.held -= f.buf.len() as u64;
            f.wake.notify_one();
        }
        self.publish(g);
    }

    /// Starts a replica's feed at the current offset (a full sync calls it at
    /// its snapshot point); the feed begins with a SELECT.
    pub fn attach_feed(&self) -> FeedHandle {
        self.activate();
        let mut g = self.inner.lock();
        g.last_db = None;
        let offset = g.offset;
        new_feed(&mut g, Blocks::default(), offset)
    }

    /// Starts a feed for a replica that followed `replid` and needs the
    /// bytes from `from` (PSYNC's 1-based offset) on, when this log shares
    /// that history up to there and its backlog still holds the rest (a
    /// partial resync); returns it with the id the replica continues with,
    /// or why not (for the log, as Redis explains a refused partial resync).
    pub fn continue_feed(&self, replid: &str, from: i64) -> Result<(FeedHandle, String), String> {
        let mut g = self.inner.lock();
        if !g.ids.may_continue(replid, from) {
            let ids = &g.ids;
            return Err(if replid == ids.replid2 {
                format!(
                    "requested offset {from} for the previous id is past its end {}",
                    ids.second_offset
                )
            } else {
                format!(
                    "replication id mismatch (asked for '{replid}', mine are '{}' and '{}')",
                    ids.replid, ids.replid2
                )
            });
        }
        let offset = from as u64 - 1;
        let held = g.backlog.len() as u64;
        if offset > g.offset || offset < g.offset - held || !self.is_active() {
            return Err(format!(
                "offset {from} is outside the backlog ({} bytes up to {})",
                held, g.offset
            ));
        }
        let skip = (offset - (g.offset - held)) as usize;
        // The ring's oldest bytes start at `head`.
        let (newest, oldest) = g.backlog.split_at(g.head);
        let mut bytes = Blocks::default();
        if skip < oldest.len() {
            bytes.push(&oldest[skip..]);
            bytes.push(newest);
        } else {
            bytes.push(&newest[skip - oldest.len()..]);
        }
        g.held += bytes.len() as u64;
        self.publish(&g);
        let id = g.ids.replid.clone();
        Ok((new_feed(&mut g, bytes, offset), id))
    }

    /// Up to `max` of the feed's bytes not taken yet (empty when there are
    /// none); `Err` once the feed is gone (dropped at its limit, detached).
    pub fn take_feed(&self, id: u64, max: usize) -> Result<Bytes, FeedLost> {
        let mut g = self.inner.lock();
        let soft = g.feed_limit.soft;
        let f = g.feeds.iter_mut().find(|f| f.id == id).ok_or(FeedLost)?;
        let bytes = f.buf.take(max);
        if f.buf.len() as u64 <= soft {
            f.over_soft_since = 0;
        }
        g.held -= bytes.len() as u64;
        self.publish(&g);
        Ok(bytes)
    }

    /// True while the feed exists; applies the soft limit's time first, for
    /// a feed that went over it and has received nothing since.
    pub fn feed_alive(&self, id: u64) -> bool {
        let mut g = self.inner.lock();
        let limit = g.feed_limit;
        let Some(i) = g.feeds.iter().position(|f| f.id == id) else {
            return false;
        };
        if over_limit(&mut g.feeds[i], limit) {
            let f = g.feeds.swap_remove(i);
            g.held -= f.buf.len() as u64;
            self.publish(&g);
            return false;
        }
        true
    }

    /// Stops a feed (its replica went away).
    pub fn detach_feed(&self, id: u64) {
        let mut g = self.inner.lock();
        if let Some(i) = g.feeds.iter().position(|f| f.id == id) {
            let f = g.feeds.swap_remove(i);
            g.held -= f.buf.len() as u64;
            self.publish(&g);
        }
    }

    /// The backlog's size, first offset and held length (INFO replication).
    pub fn backlog_stats(&self) -> (usize, u64, u64) {
        let g = self.inner.lock();
        let held = g.backlog.len() as u64;
        (g.capacity, g.offset - held + 1, held)
    }

    /// Starts the AOF tap (and the stream): the next command carries a SELECT.
    pub fn attach_tap(&self) {
        self.activate();
        let mut g = self.inner.lock();
        g.tap = Some(Vec::new());
        g.last_db = None;
    }

    /// Stops the AOF tap.
    pub fn detach_tap(&self) {
        let mut g = self.inner.lock();
        if let Some(t) = g.tap.take() {
            g.held -= t.len() as u64;
            self.publish(&g);
        }
    }

    /// The bytes the tap collected since the last call, and the stream offset
    /// just past them.
    pub fn take_tap(&self) -> (Vec<u8>, u64) {
        let mut g = self.inner.lock();
        let bytes = g.tap.as_mut().map(std::mem::take).unwrap_or_default();
        g.held -= bytes.len() as u64;
        self.publish(&g);
        (bytes, g.offset)
    }

    /// Puts bytes taken from the tap back in front of it (a rewrite that took
    /// them with `finish_capture` failed: the writer must still write them).
    pub fn restore_tap(&self, mut bytes: Vec<u8>) {
        let mut g = self.inner.lock();
        let n = bytes.len() as u64;
        if let Some(t) = g.tap.as_mut() {
            bytes.extend_from_slice(t);
            *t = bytes;
            g.held += n;
            self.publish(&g);
        }
    }

    /// Starts capturing the stream for an AOF rewrite (called at its snapshot
    /// point, while every command is stopped); the capture begins with a SELECT.
    pub fn start_capture(&self) {
        let mut g = self.inner.lock();
        g.capture = Some(Vec::new());
        g.last_db = None;
    }

    /// What the capture holds so far (emptied).
    pub fn take_capture(&self) -> Vec<u8> {
        let mut g = self.inner.lock();
        let bytes = g.capture.as_mut().map(std::mem::take).unwrap_or_default();
        g.held -= bytes.len() as u64;
        self.publish(&g);
        bytes
    }

    /// Ends the capture at the current offset: returns the rest of the
    /// capture, the tap's pending bytes (the same stream bytes, which the old
    /// file does not have yet: handed back with `restore_tap` if the rewrite
    /// then fails) and that offset. The tap goes on collecting after it.
    pub fn finish_capture(&self) -> (Vec<u8>, Vec<u8>, u64) {
        let mut g = self.inner.lock();
        let rest = g.capture.take().unwrap_or_default();
        let tap = g.tap.as_mut().map(std::mem::take).unwrap_or_default();
        g.held -= (rest.len() + tap.len()) as u64;
        self.publish(&g);
        (rest, tap, g.offset)
    }

    /// Ends the capture and drops it (a rewrite that failed before its end);
    /// the tap is untouched.
    pub fn abort_capture(&self) {
        let mut g = self.inner.lock();
        if let Some(c) = g.capture.take() {
            g.held -= c.len() as u64;
            self.publish(&g);
        }
    }

    /// Changes the backlog's size (CONFIG SET repl-backlog-size), keeping
    /// the newest bytes that fit.
    pub fn set_backlog_size(&self, capacity: usize) {
        let mut g = self.inner.lock();
        if capacity == 0 || capacity == g.capacity {
            return;
        }
        let mut kept = Vec::with_capacity(g.backlog.len().min(capacity));
        let (newest, oldest) = g.backlog.split_at(g.head);
        let all = oldest.len() + newest.len();
        let skip = all.saturating_sub(capacity);
        if skip < oldest.len() {
            kept.extend_from_slice(&oldest[skip..]);
            kept.extend_from_slice(newest);
        } else {
            kept.extend_from_slice(&newest[skip - oldest.len()..]);
        }
        g.backlog = kept;
        g.head = 0;
        g.capacity = capacity;
    }

    /// The backlog's retained bytes, oldest first, with the offset of the first one.
    pub fn backlog(&self) -> (u64, Vec<u8>) {
        let g = self.inner.lock();
        let mut out = Vec::with_capacity(g.backlog.len());
        out.extend_from_slice(&g.backlog[g.head..]);
        out.extend_from_slice(&g.backlog[..g.head]);
        (g.offset - out.len() as u64, out)
    }
}

/// Appends `argv` as a RESP array of bulk strings.
pub fn encode_command(out: &mut Vec<u8>, argv: &[&[u8]]) {
    let mut b = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(b.format(argv.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        out.push(b'$');
        out.extend_from_slice(b.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends `SELECT db`.
fn encode_select(out: &mut Vec<u8>, db: usize) {
    let mut b = itoa::Buffer::new();
    encode_command(out, &[b"SELECT", b.format(db).as_bytes()]);
}

/// Gives `bytes` to the AOF's tap and a rewrite's capture, when there are;
/// returns how many took them.
fn push_to_aof(g: &mut Inner, bytes: &[u8]) -> u64 {
    let mut copies = 0;
    if let Some(t) = g.tap.as_mut() {
        t.extend_from_slice(bytes);
        copies += 1;
    }
    if let Some(c) = g.capture.as_mut() {
        c.extend_from_slice(bytes);
        copies += 1;
    }
    copies
}

fn new_feed(g: &mut Inner, buf: Blocks, offset: u64) -> FeedHandle {
    let id = g.next_feed;
    g.next_feed += 1;
    let wake = Arc::new(Notify::new());
    g.feeds.push(Feed {
        id,
        buf,
        wake: wake.clone(),
        over_soft_since: 0,
    });
    FeedHandle { id, offset, wake }
}

/// Gives `bytes` to every feed and drops the feeds past their limit (their
/// replicas' tasks wake, find them gone and disconnect); returns the bytes
/// the dropped feeds held, including these.
fn feed_all(feeds: &mut Vec<Feed>, bytes: &[u8], limit: FeedLimit) -> u64 {
    let mut freed = 0;
    feeds.retain_mut(|f| {
        f.buf.push(bytes);
        f.wake.notify_one();
        if over_limit(f, limit) {
            tracing::warn!(
                "Replica feed {} scheduled to be closed ASAP for overcoming of output buffer limits ({} bytes).",
                f.id,
                f.buf.len()
            );
            freed += f.buf.len() as u64;
            false
        } else {
            true
        }
    });
    freed
}

/// True when the feed holds more than the hard limit, or has held more than
/// the soft limit for longer than allowed (the clock is read only then).
fn over_limit(f: &mut Feed, limit: FeedLimit) -> bool {
    let len = f.buf.len() as u64;
    if limit.hard > 0 && len > limit.hard {
        return true;
    }
    if limit.soft == 0 || len <= limit.soft {
        f.over_soft_since = 0;
        return false;
    }
    let now = crate::clock::monotonic_ms();
    if f.over_soft_since == 0 {
        f.over_soft_since = now;
        return false;
    }
    now - f.over_soft_since > limit.soft_ms
}

fn push(g: &mut Inner, bytes: &[u8]) {
    g.offset += bytes.len() as u64;
    let room = g.capacity - g.backlog.len();
    let direct = room.min(bytes.len());
    g.backlog.extend_from_slice(&bytes[..direct]);
    let mut rest = &bytes[direct..];
    // Once full, the backlog is a ring: overwrite the oldest bytes in chunks.
    if rest.len() > g.capacity {
        rest = &rest[rest.len() - g.capacity..];
        g.head = 0;
    }
    while !rest.is_empty() {
        let h = g.head;
        let n = rest.len().min(g.capacity - h);
        g.backlog[h..h + n].copy_from_slice(&rest[..n]);
        g.head = (h + n) % g.capacity;
        rest = &rest[n..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resized_backlog_keeps_the_newest_bytes_in_order() {
        let log = Log::new(16);
        log.activate();
        for i in 0..10u8 {
            log.append(0, &[&[b'a' + i]]);
        }
        let (start, before) = log.backlog();
        log.set_backlog_size(8);
        let (s8, b8) = log.backlog();
        assert_eq!(b8, before[before.len() - 8..]);
        assert_eq!(s8, start + (before.len() - 8) as u64);
        log.set_backlog_size(64);
        assert_eq!(log.backlog(), (s8, b8.clone()));
        log.append(0, &[b"zz"]);
        let (_, grown) = log.backlog();
        assert!(grown.starts_with(&b8) && grown.len() > b8.len());
    }

    #[test]
    fn select_is_emitted_on_db_change() {
        let log = Log::new(1024);
        log.append(0, &[b"IGNORED"]);
        log.activate();
        log.append(0, &[b"SET", b"k", b"v"]);
        log.append(0, &[b"DEL", b"k"]);
        log.append(3, &[b"DEL", b"k"]);
        let (start, bytes) = log.backlog();
        assert_eq!(start, 0);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n\
             *2\r\n$3\r\nDEL\r\n$1\r\nk\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n"
        );
        assert_eq!(log.offset(), log.backlog().1.len() as u64);
    }

    #[test]
    fn tap_and_capture_see_every_byte_in_order() {
        let log = Log::new(64);
        log.attach_tap();
        let off = log.append(2, &[b"SET", b"a", b"1"]);
        assert_eq!(off, log.offset());
        log.start_capture();
        log.append(2, &[b"DEL", b"a"]);
        let (tap, end) = log.take_tap();
        assert_eq!(end, log.offset());
        let text = String::from_utf8(tap).unwrap();
        // The capture starts with its own SELECT, which the tap sees too.
        assert_eq!(
            text,
            "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
             *2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$3\r\nDEL\r\n$1\r\na\r\n"
        );
        assert!(log.take_capture().starts_with(b"*2\r\n$6\r\nSELECT"));
        log.append(2, &[b"DEL", b"b"]);
        let del_b = b"*2\r\n$3\r\nDEL\r\n$1\r\nb\r\n";
        let (rest, tap, off) = log.finish_capture();
        assert_eq!(off, log.offset());
        assert_eq!(rest, del_b);
        assert_eq!(tap, del_b, "the tap's pending bytes, held by the rewrite");
        log.append(2, &[b"DEL", b"c"]);
        // The rewrite failed: its bytes go back before the newer ones.
        log.restore_tap(tap);
        let (all, _) = log.take_tap();
        assert!(all.starts_with(del_b) && all.ends_with(b"$1\r\nc\r\n"));
        log.start_capture();
        log.abort_capture();
        assert!(log.take_capture().is_empty());
    }

    #[test]
    fn blocks_hand_out_what_was_pushed_in_order() {
        let mut b = Blocks::default();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        b.push(&data[..100]);
        b.push(&data[100..150_000]);
        let mut out = Vec::new();
        out.extend_from_slice(&b.take(70));
        b.push(&data[150_000..]);
        while b.len() > 0 {
            let chunk = b.take(BLOCK);
            assert!(!chunk.is_empty() && chunk.len() <= BLOCK);
            out.extend_from_slice(&chunk);
        }
        assert_eq!(out, data);
        assert!(b.take(10).is_empty());
    }

    #[test]
    fn a_feed_past_its_limit_is_dropped_and_its_bytes_released() {
        let log = Log::new(1 << 20);
        log.set_feed_limit(FeedLimit {
            hard: 1000,
            soft: 0,
            soft_ms: 0,
        });
        let slow = log.attach_feed();
        let fast = log.attach_feed();
        for _ in 0..20 {
            log.append(0, &[b"SET", b"k", &[b'v'; 50]]);
            let _ = log.take_feed(fast.id, usize::MAX);
        }
        assert!(
            log.take_feed(slow.id, usize::MAX).is_err(),
            "over 1000 bytes"
        );
        assert!(log.feed_alive(fast.id));
        assert_eq!(log.held_bytes(), 0, "only the dropped feed held bytes");
        log.append(0, &[b"DEL", b"k"]);
        let held = log.held_bytes();
        let took = log.take_feed(fast.id, usize::MAX).map_or(0, |b| b.len());
        assert_eq!(held, took as u64);
        assert_eq!(log.held_bytes(), 0);
    }

    #[test]
    fn the_soft_limit_drops_a_feed_held_over_it_too_long() {
        let log = Log::new(1 << 20);
        log.set_feed_limit(FeedLimit {
            hard: 0,
            soft: 10,
            soft_ms: 30,
        });
        let f = log.attach_feed();
        log.append(0, &[b"SET", b"k", b"v"]);
        assert!(log.feed_alive(f.id), "over the soft limit only just now");
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!log.feed_alive(f.id));
    }

    #[test]
    fn backlog_wraps_and_keeps_newest_bytes() {
        let log = Log::new(16);
        log.activate();
        for _ in 0..10 {
            log.append(0, &[b"PING"]);
        }
        let (start, bytes) = log.backlog();
        assert_eq!(bytes.len(), 16);
        assert_eq!(start + 16, log.offset());
        assert!(bytes.ends_with(b"$4\r\nPING\r\n"));
        let big = [b'x'; 40];
        log.append(0, &[&big]);
        let (start, bytes) = log.backlog();
        assert_eq!(start + 16, log.offset());
        assert_eq!(&bytes[..], &[&[b'x'; 14][..], b"\r\n"].concat()[..]);
    }
}
