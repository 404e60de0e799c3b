//! The replication log: one ordered stream of write effects, addressed by offset
//! (Redis PSYNC semantics: replication id + offset + a bounded backlog). The AOF
//! and replicas will consume this stream; today it only fills the backlog.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

/// Default backlog size (Redis's `repl-backlog-size`).
pub const DEFAULT_BACKLOG: usize = 1024 * 1024;

struct Inner {
    offset: u64,
    backlog: Vec<u8>,
    /// Ring position where the next byte goes once the backlog is full.
    head: usize,
    capacity: usize,
    last_db: Option<usize>,
}

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
    /// current database differs. A no-op until `activate`.
    pub fn append(&self, db: usize, argv: &[&[u8]]) {
        if !self.is_active() {
            return;
        }
        let mut g = self.inner.lock();
        if g.last_db != Some(db) {
            let mut b = itoa::Buffer::new();
            let dbs = b.format(db);
            let sel: [&[u8]; 2] = [b"SELECT", dbs.as_bytes()];
            write_command(&mut g, &sel);
            g.last_db = Some(db);
        }
        write_command(&mut g, argv);
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

fn write_command(g: &mut Inner, argv: &[&[u8]]) {
    let mut b = itoa::Buffer::new();
    push(g, b"*");
    push(g, b.format(argv.len()).as_bytes());
    push(g, b"\r\n");
    for a in argv {
        push(g, b"$");
        push(g, b.format(a.len()).as_bytes());
        push(g, b"\r\n");
        push(g, a);
        push(g, b"\r\n");
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
