//! The client side of `MIGRATE`: cached connections to target nodes and one
//! pipelined round trip of `AUTH`/`SELECT`/`RESTORE` per call, retried as
//! Redis's `migrateCommand` does. Blocking I/O with the command's timeout, as
//! in Redis: in cluster mode the caller holds the keys' slot fence for the
//! whole exchange, so no client writes them meanwhile.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Idle cached connections are closed after this long (Redis: 10 s).
const IDLE: Duration = Duration::from_secs(10);
/// At most this many targets are cached (Redis: 64).
const MAX_CACHED: usize = 64;

/// A failed exchange, with the error text MIGRATE replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrateError {
    /// Could not connect.
    Connect,
    /// Writing the request failed or timed out.
    Write,
    /// Reading the replies failed or timed out.
    Read,
}

impl MigrateError {
    /// The reply line (without `-`).
    pub fn message(&self) -> &'static str {
        match self {
            MigrateError::Connect => "IOERR error or timeout connecting to the client",
            MigrateError::Write => "IOERR error or timeout writing to target instance",
            MigrateError::Read => "IOERR error or timeout reading to target instance",
        }
    }
}

/// The I/O error that cut an exchange short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoFailure {
    /// The step that failed (writing, or reading the replies).
    pub error: MigrateError,
    /// The timeout ran out, rather than the connection failing.
    pub timed_out: bool,
}

impl IoFailure {
    fn of(error: MigrateError, e: &std::io::Error) -> IoFailure {
        use std::io::ErrorKind::{TimedOut, WouldBlock};
        IoFailure {
            error,
            // A socket timeout surfaces as WouldBlock on Unix.
            timed_out: matches!(e.kind(), WouldBlock | TimedOut),
        }
    }
}

struct Cached {
    stream: TcpStream,
    last_db: Option<i64>,
    last_use: Instant,
}

/// Connections to MIGRATE targets, by `host:port`.
#[derive(Default)]
pub struct Pool {
    conns: Mutex<HashMap<String, Cached>>,
}

/// What to send: optional AUTH, the target db, and `(RESTORE command argv)`s.
pub struct Batch<'a> {
    /// `AUTH` arguments (`[pass]` or `[user, pass]`), if any.
    pub auth: Option<Vec<&'a [u8]>>,
    /// Destination database.
    pub db: i64,
    /// One RESTORE (or RESTORE-ASKING) command per key.
    pub restores: Vec<Vec<&'a [u8]>>,
}

/// Replies of one exchange: AUTH's and SELECT's (when sent), then one per
/// RESTORE, as far as they were read before an I/O error (`failure`).
#[derive(Debug)]
pub struct Replies {
    /// The AUTH reply line, when AUTH was sent and its reply read.
    pub auth: Option<String>,
    /// The SELECT reply line, when SELECT was sent and its reply read.
    pub select: Option<String>,
    /// The reply lines of the first RESTOREs, in order.
    pub restores: Vec<String>,
    /// The I/O error that stopped the exchange before every reply was read.
    pub failure: Option<IoFailure>,
}

fn push_command(out: &mut Vec<u8>, argv: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
    for a in argv {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

impl Pool {
    /// Sends `batch` to `host:port` and reads the replies, trying a second
    /// time on a fresh connection only where Redis's `migrateCommand` does:
    /// after an I/O error that is not a timeout, before any RESTORE reply was
    /// read (typically a cached connection the target closed). A timed-out
    /// request is never sent again: the target may be slow rather than gone,
    /// and would then apply it twice. `Err` only when no connection opens.
    pub fn migrate(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
        batch: &Batch<'_>,
    ) -> Result<Replies, MigrateError> {
        let first = self.exchange(host, port, timeout, batch)?;
        match first.failure {
            Some(f) if !f.timed_out && first.restores.is_empty() => {
                self.exchange(host, port, timeout, batch)
            }
            _ => Ok(first),
        }
    }

    /// One exchange. After an I/O error the connection is dropped, not cached.
    fn exchange(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
        batch: &Batch<'_>,
    ) -> Result<Replies, MigrateError> {
        let name = format!("{host}:{port}");
        let mut c = self.take(&name, timeout)?;
        let select = c.last_db != Some(batch.db);
        let mut req = Vec::new();
        if let Some(auth) = &batch.auth {
            let mut argv: Vec<&[u8]> = vec![b"AUTH"];
            argv.extend(auth.iter().copied());
            push_command(&mut req, &argv);
        }
        let db = batch.db.to_string();
        if select {
            push_command(&mut req, &[b"SELECT", db.as_bytes()]);
        }
        for r in &batch.restores {
            push_command(&mut req, r);
        }
        let mut replies = Replies {
            auth: None,
            select: None,
            restores: Vec::with_capacity(batch.restores.len()),
            failure: None,
        };
        let _ = c.stream.set_write_timeout(Some(timeout));
        let _ = c.stream.set_read_timeout(Some(timeout));
        if let Err(e) = c.stream.write_all(&req) {
            replies.failure = Some(IoFailure::of(MigrateError::Write, &e));
            return Ok(replies);
        }
        let read_half = match c.stream.try_clone() {
            Ok(r) => r,
            Err(e) => {
                replies.failure = Some(IoFailure::of(MigrateError::Read, &e));
                return Ok(replies);
            }
        };
        let mut rd = BufReader::new(read_half);
        let mut line = || -> Result<String, IoFailure> {
            let mut s = String::new();
            match rd.read_line(&mut s) {
                Ok(n) if n > 0 && s.ends_with("\r\n") => {
                    s.truncate(s.len() - 2);
                    Ok(s)
                }
                // The target closed the connection.
                Ok(_) => Err(IoFailure {
                    error: MigrateError::Read,
                    timed_out: false,
                }),
                Err(e) => Err(IoFailure::of(MigrateError::Read, &e)),
            }
        };
        let read = (|| {
            if batch.auth.is_some() {
                replies.auth = Some(line()?);
            }
            if select {
                replies.select = Some(line()?);
            }
            for _ in &batch.restores {
                replies.restores.push(line()?);
            }
            Ok(())
        })();
        if let Err(f) = read {
            replies.failure = Some(f);
            return Ok(replies);
        }
        let failed = replies.auth.as_deref().is_some_and(|l| l.starts_with('-'))
            || replies
                .select
                .as_deref()
                .is_some_and(|l| l.starts_with('-'))
            || replies.restores.iter().any(|l| l.starts_with('-'));
        // After an error the target's selected db is unknown.
        c.last_db = if failed { None } else { Some(batch.db) };
        c.last_use = Instant::now();
        self.put(name, c);
        Ok(replies)
    }

    fn take(&self, name: &str, timeout: Duration) -> Result<Cached, MigrateError> {
        {
            let mut conns = self.conns.lock();
            conns.retain(|_, c| c.last_use.elapsed() < IDLE);
            if let Some(c) = conns.remove(name) {
                return Ok(c);
            }
        }
        let addr = name
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or(MigrateError::Connect)?;
        let stream =
            TcpStream::connect_timeout(&addr, timeout).map_err(|_| MigrateError::Connect)?;
        let _ = stream.set_nodelay(true);
        Ok(Cached {
            stream,
            last_db: None,
            last_use: Instant::now(),
        })
    }

    fn put(&self, name: String, c: Cached) {
        let mut conns = self.conns.lock();
        if conns.len() >= MAX_CACHED {
            if let Some(oldest) = conns
                .iter()
                .min_by_key(|(_, c)| c.last_use)
                .map(|(k, _)| k.clone())
            {
                conns.remove(&oldest);
            }
        }
        conns.insert(name, c);
    }

    /// Number of cached connections.
    pub fn len(&self) -> usize {
        self.conns.lock().len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn pipelines_and_reuses_the_connection() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // First exchange: SELECT + 2 RESTOREs; second: 1 RESTORE (db cached).
            for replies in [
                &b"+OK\r\n+OK\r\n-BUSYKEY Target key name already exists.\r\n"[..],
                b"+OK\r\n",
            ] {
                let n = s.read(&mut buf).expect("read");
                got.extend_from_slice(&buf[..n]);
                s.write_all(replies).expect("write");
            }
            got
        });
        let pool = Pool::default();
        let t = Duration::from_secs(5);
        let r1 = pool
            .exchange(
                "127.0.0.1",
                port,
                t,
                &Batch {
                    auth: None,
                    db: 0,
                    restores: vec![
                        vec![b"RESTORE", b"a", b"0", b"x"],
                        vec![b"RESTORE", b"b", b"0", b"y"],
                    ],
                },
            )
            .expect("exchange");
        assert_eq!(r1.select.as_deref(), Some("+OK"));
        assert_eq!(
            r1.restores,
            vec!["+OK", "-BUSYKEY Target key name already exists."]
        );
        // The error forgets the selected db, so the next call selects again;
        // the fake target answers only +OK, which the pool reads as SELECT's.
        let r2 = pool.exchange(
            "127.0.0.1",
            port,
            t,
            &Batch {
                auth: None,
                db: 0,
                restores: vec![],
            },
        );
        assert_eq!(r2.expect("exchange").select.as_deref(), Some("+OK"));
        let sent = String::from_utf8(server.join().expect("server")).expect("utf8");
        assert!(
            sent.starts_with("*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*4\r\n$7\r\nRESTORE\r\n"),
            "{sent}"
        );
        assert_eq!(pool.len(), 1);
        assert_eq!(
            pool.migrate(
                "127.0.0.1",
                1,
                Duration::from_millis(200),
                &Batch {
                    auth: None,
                    db: 0,
                    restores: vec![]
                }
            )
            .err(),
            Some(MigrateError::Connect)
        );
    }

    fn one_restore() -> Batch<'static> {
        Batch {
            auth: None,
            db: 0,
            restores: vec![vec![b"RESTORE", b"k", b"0", b"x"]],
        }
    }

    #[test]
    fn retried_once_after_a_closed_connection_never_after_a_timeout() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let (check, checked) = std::sync::mpsc::channel::<()>();
        let server = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // The first connection closes without a reply; the retry's is
            // answered, then left without a reply to the next request.
            let (mut s, _) = l.accept().expect("accept");
            let _ = s.read(&mut buf);
            drop(s);
            let (mut s, _) = l.accept().expect("accept");
            let _ = s.read(&mut buf);
            s.write_all(b"+OK\r\n+OK\r\n").expect("write");
            let _ = s.read(&mut buf);
            checked.recv().expect("told to check");
            l.set_nonblocking(true).expect("nonblocking");
            l.accept().is_ok()
        });
        let pool = Pool::default();
        let r = pool
            .migrate("127.0.0.1", port, Duration::from_secs(5), &one_restore())
            .expect("connects");
        assert_eq!((r.restores, r.failure), (vec!["+OK".to_string()], None));
        let r = pool
            .migrate(
                "127.0.0.1",
                port,
                Duration::from_millis(200),
                &one_restore(),
            )
            .expect("connects");
        assert_eq!(
            r.failure,
            Some(IoFailure {
                error: MigrateError::Read,
                timed_out: true
            })
        );
        check.send(()).expect("server waits");
        assert!(
            !server.join().expect("server"),
            "a timed-out request was sent again"
        );
    }
}
