//! The client side of `MIGRATE`: cached connections to target nodes and one
//! pipelined round trip of `AUTH`/`SELECT`/`RESTORE` per call. Blocking I/O with
//! the command's timeout, as in Redis: the caller holds the keys' slot (fence
//! and locks) for the whole exchange, so nothing writes them meanwhile.

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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Replies of one exchange: AUTH's and SELECT's (when sent), then one per RESTORE.
#[derive(Debug)]
pub struct Replies {
    /// The AUTH reply line, when AUTH was sent.
    pub auth: Option<String>,
    /// The SELECT reply line, when SELECT was sent.
    pub select: Option<String>,
    /// One reply line per RESTORE.
    pub restores: Vec<String>,
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
    /// Sends `batch` to `host:port` and reads every reply. On an I/O error the
    /// cached connection is dropped (the caller may retry once).
    pub fn exchange(
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
        let _ = c.stream.set_write_timeout(Some(timeout));
        let _ = c.stream.set_read_timeout(Some(timeout));
        if c.stream.write_all(&req).is_err() {
            return Err(MigrateError::Write);
        }
        let Ok(read_half) = c.stream.try_clone() else {
            return Err(MigrateError::Read);
        };
        let mut rd = BufReader::new(read_half);
        let mut line = || -> Result<String, MigrateError> {
            let mut s = String::new();
            match rd.read_line(&mut s) {
                Ok(n) if n > 0 && s.ends_with("\r\n") => {
                    s.truncate(s.len() - 2);
                    Ok(s)
                }
                _ => Err(MigrateError::Read),
            }
        };
        let auth = match batch.auth {
            Some(_) => Some(line()?),
            None => None,
        };
        let select_reply = if select { Some(line()?) } else { None };
        let mut restores = Vec::with_capacity(batch.restores.len());
        for _ in &batch.restores {
            restores.push(line()?);
        }
        let failed = auth.as_deref().is_some_and(|l| l.starts_with('-'))
            || select_reply.as_deref().is_some_and(|l| l.starts_with('-'))
            || restores.iter().any(|l| l.starts_with('-'));
        // After an error the target's selected db is unknown.
        c.last_db = if failed { None } else { Some(batch.db) };
        c.last_use = Instant::now();
        self.put(name, c);
        Ok(Replies {
            auth,
            select: select_reply,
            restores,
        })
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
            pool.exchange(
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
}
