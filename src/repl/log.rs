//! The replication log: one ordered stream of write effects, addressed by offset
//! (Redis PSYNC semantics: replication id + offset + a bounded backlog). The
//! AOF consumes it through a *tap* (every byte, in order, taken in chunks), and
//! an AOF rewrite through a *capture* of what follows its snapshot; replicas
//! will read the backlog.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// Default backlog size (Redis's `repl-backlog-size`).
pub const DEFAULT_BACKLOG: usize = 1024 * 1024;

struct Inner {
    offset: u64,
    backlog: Vec<u8>,
    /// Ring position where the next byte goes once the backlog is full.
    head: usize,
    capacity: usize,
    last_db: Option<usize>,
    /// Bytes the AOF has not taken yet.
    tap: Option<Vec<u8>>,
    /// Bytes since an AOF rewrite's snapshot point.
    capture: Option<Vec<u8>>,
    /// Encoding scratch space, reused.
    scratch: Vec<u8>,
    /// Replicas' streams: the bytes each has not taken yet.
    feeds: Vec<Feed>,
    next_feed: u64,
}

/// One replica's share of the stream.
struct Feed {
    id: u64,
    buf: Vec<u8>,
    wake: Arc<Notify>,
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

/// A feed holds more than the output limit (a replica too slow to follow):
/// it was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedLost;

/// The ordered write stream.
pub struct Log {
    repl_id: String,
    /// Like Redis, which creates its backlog only when the first replica
    /// attaches, the stream is recorded only once a consumer has asked for it.
    active: AtomicBool,
    inner: Mutex<Inner>,
}

impl Log {
    /// An empty log with a fresh replication id and a backlog of `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        let repl_id: String = (0..40)
            .map(|_| char::from(b"0123456789abcdef"[fastrand::usize(..16)]))
            .collect();
        Log {
            repl_id,
            active: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                offset: 0,
                backlog: Vec::new(),
                head: 0,
                capacity,
                last_db: None,
                tap: None,
                capture: None,
                scratch: Vec::new(),
                feeds: Vec::new(),
                next_feed: 1,
            }),
        }
    }

    /// The replication id (40 hex characters).
    pub fn repl_id(&self) -> &str {
        &self.repl_id
    }

    /// Bytes written so far (the master replication offset).
    pub fn offset(&self) -> u64 {
        self.inner.lock().offset
    }

    /// Starts recording the stream (a replica, the AOF or a test attaches).
    pub fn activate(&self) {
        self.active.store(true, Ordering::Release);
    }

    /// True once a consumer attached.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Appends one command in `db`, preceded by `SELECT db` when the stream's
    /// current database differs; returns the offset after it. A no-op (offset
    /// 0) until `activate`.
    pub fn append(&self, db: usize, argv: &[&[u8]]) -> u64 {
        if !self.is_active() {
            return 0;
        }
        let mut g = self.inner.lock();
        let mut scratch = std::mem::take(&mut g.scratch);
        scratch.clear();
        if g.last_db != Some(db) {
            let mut b = itoa::Buffer::new();
            let dbs = b.format(db);
            let sel: [&[u8]; 2] = [b"SELECT", dbs.as_bytes()];
            encode_command(&mut scratch, &sel);
            g.last_db = Some(db);
        }
        encode_command(&mut scratch, argv);
        push(&mut g, &scratch);
        if let Some(t) = g.tap.as_mut() {
            t.extend_from_slice(&scratch);
        }
        if let Some(c) = g.capture.as_mut() {
            c.extend_from_slice(&scratch);
        }
        feed_all(&mut g.feeds, &scratch);
        g.scratch = scratch;
        g.offset
    }

    /// Appends a command that belongs to no database (PING, REPLCONF GETACK
    /// to replicas); no-op while no replica is attached. Returns the offset.
    pub fn append_control(&self, argv: &[&[u8]]) -> u64 {
        let mut g = self.inner.lock();
        if g.feeds.is_empty() {
            return g.offset;
        }
        let mut bytes = Vec::new();
        encode_command(&mut bytes, argv);
        push(&mut g, &bytes);
        if let Some(t) = g.tap.as_mut() {
            // The AOF replays it harmlessly; keeping the tap complete keeps
            // its offsets equal to the stream's.
            t.extend_from_slice(&bytes);
        }
        feed_all(&mut g.feeds, &bytes);
        g.offset
    }

    /// Starts a replica's feed at the current offset (a full sync calls it at
    /// its snapshot point); the feed begins with a SELECT.
    pub fn attach_feed(&self) -> FeedHandle {
        self.activate();
        let mut g = self.inner.lock();
        g.last_db = None;
        let offset = g.offset;
        new_feed(&mut g, Vec::new(), offset)
    }

    /// Starts a feed at `offset` from the backlog (a partial resync), or
    /// `None` when the backlog no longer holds it.
    pub fn attach_feed_from(&self, offset: u64) -> Option<FeedHandle> {
        let mut g = self.inner.lock();
        let held = g.backlog.len() as u64;
        if offset > g.offset || offset < g.offset - held || !self.is_active() {
            return None;
        }
        let skip = (offset - (g.offset - held)) as usize;
        let mut bytes = Vec::with_capacity(held as usize);
        bytes.extend_from_slice(&g.backlog[g.head..]);
        bytes.extend_from_slice(&g.backlog[..g.head]);
        bytes.drain(..skip);
        Some(new_feed(&mut g, bytes, offset))
    }

    /// The feed's bytes since the last call; `Err` once the feed was dropped
    /// for exceeding `limit` bytes.
    pub fn take_feed(&self, id: u64, limit: usize) -> Result<Vec<u8>, FeedLost> {
        let mut g = self.inner.lock();
        let i = g.feeds.iter().position(|f| f.id == id).ok_or(FeedLost)?;
        if g.feeds[i].buf.len() > limit {
            g.feeds.swap_remove(i);
            return Err(FeedLost);
        }
        Ok(std::mem::take(&mut g.feeds[i].buf))
    }

    /// Stops a feed (its replica went away).
    pub fn detach_feed(&self, id: u64) {
        self.inner.lock().feeds.retain(|f| f.id != id);
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
        self.inner.lock().tap = None;
    }

    /// The bytes the tap collected since the last call, and the stream offset
    /// just past them.
    pub fn take_tap(&self) -> (Vec<u8>, u64) {
        let mut g = self.inner.lock();
        let bytes = g.tap.as_mut().map(std::mem::take).unwrap_or_default();
        (bytes, g.offset)
    }

    /// Puts bytes taken from the tap back in front of it (a rewrite that took
    /// them with `finish_capture` failed: the writer must still write them).
    pub fn restore_tap(&self, mut bytes: Vec<u8>) {
        let mut g = self.inner.lock();
        if let Some(t) = g.tap.as_mut() {
            bytes.extend_from_slice(t);
            *t = bytes;
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
        self.inner
            .lock()
            .capture
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Ends the capture at the current offset: returns the rest of the
    /// capture, the tap's pending bytes (the same stream bytes, which the old
    /// file does not have yet: handed back with `restore_tap` if the rewrite
    /// then fails) and that offset. The tap goes on collecting after it.
    pub fn finish_capture(&self) -> (Vec<u8>, Vec<u8>, u64) {
        let mut g = self.inner.lock();
        let rest = g.capture.take().unwrap_or_default();
        let tap = g.tap.as_mut().map(std::mem::take).unwrap_or_default();
        (rest, tap, g.offset)
    }

    /// Ends the capture and drops it (a rewrite that failed before its end);
    /// the tap is untouched.
    pub fn abort_capture(&self) {
        self.inner.lock().capture = None;
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

fn new_feed(g: &mut Inner, buf: Vec<u8>, offset: u64) -> FeedHandle {
    let id = g.next_feed;
    g.next_feed += 1;
    let wake = Arc::new(Notify::new());
    g.feeds.push(Feed {
        id,
        buf,
        wake: wake.clone(),
    });
    FeedHandle { id, offset, wake }
}

fn feed_all(feeds: &mut [Feed], bytes: &[u8]) {
    for f in feeds {
        f.buf.extend_from_slice(bytes);
        f.wake.notify_one();
    }
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
