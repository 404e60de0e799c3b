//! Shared helpers for process tests: start the real `ringcache` binary on a free
//! loopback port, wait until it answers PING, and kill it on drop.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process.
pub struct TestNode {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
    /// Its working directory (removed on drop).
    pub dir: tempfile::TempDir,
}

/// A free port whose bus port (port + 10000) is also free.
pub fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = l.local_addr().expect("local addr").port();
        if port < 55000 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

impl TestNode {
    /// Starts a server with the given extra flags (e.g. `["--maxmemory", "64mb"]`).
    pub fn start(args: &[&str]) -> TestNode {
        Self::start_with_env(args, &[])
    }

    /// Starts a server with extra flags and environment variables; its output goes
    /// to `ringcache.log` in its directory (see `log`).
    pub fn start_with_env(args: &[&str], envs: &[(&str, &str)]) -> TestNode {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("ringcache.log")).expect("log file");
        let log2 = log.try_clone().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_ringcache"))
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(dir.path())
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .expect("spawn ringcache");
        let node = TestNode { port, child, dir };
        node.wait_ready();
        node
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                if s.write_all(b"PING\r\n").is_ok() {
                    let mut buf = [0u8; 7];
                    if s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "ringcache on port {} did not answer PING within 10s",
            self.port
        );
    }

    /// `redis://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A synchronous redis-rs connection.
    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .expect("client")
            .get_connection()
            .expect("connect")
    }

    /// A raw TCP connection for byte-level tests.
    pub fn raw(&self) -> RawConn {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        RawConn { s }
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ringcache.log")).unwrap_or_default()
    }

    /// Sends a signal (by name, e.g. "TERM", "STOP") with the `kill` command.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill -{sig} failed");
    }

    /// The exit status once the process has exited (None while running).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit by itself; returns true if it did in time.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw socket speaking bytes.
pub struct RawConn {
    /// The socket.
    pub s: TcpStream,
}

impl RawConn {
    /// Sends bytes.
    pub fn send(&mut self, b: &[u8]) {
        self.s.write_all(b).expect("write");
    }

    /// Reads until `n` bytes arrived or the peer closed; returns what came.
    pub fn read_n(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while out.len() < n {
            match self.s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => out.extend_from_slice(&buf[..k]),
            }
        }
        out
    }

    /// Reads one reply line (up to and including CRLF).
    pub fn line(&mut self) -> String {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while !out.ends_with(b"\r\n") {
            match self.s.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(_) => out.push(b[0]),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// True when the server closed the connection (EOF within the read timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.s.read(&mut b), Ok(0))
    }
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}
