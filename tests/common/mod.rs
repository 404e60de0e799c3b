//! Shared helpers for process tests: start the real `ringcache` binary on a free
//! loopback port, wait until it answers PING, and kill it on drop; build a
//! cluster of such nodes with `redis-cli --cluster create`.

#![allow(dead_code)]

pub mod disk;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process.
pub struct TestNode {
    /// Its address (127.0.0.1 unless started with `start_at`).
    pub host: String,
    /// Its port.
    pub port: u16,
    child: Child,
    /// Its working directory (removed on drop).
    pub dir: tempfile::TempDir,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

/// A free port whose bus port (port + 10000) is also free, both below the
/// kernel's ephemeral range (32768 and up): nodes' outbound bus and
/// replication connections take ephemeral ports, and one could otherwise
/// take a port a test picked for a node it has not started yet.
/// A reply as comparable text: the value, or the error's code and message
/// (side-by-side tests compare ringcache's with redis-server's).
pub fn reply_text(c: &mut redis::Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<redis::Value>(c) {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("error {:?} {:?}", e.code(), e.detail()),
    }
}

/// `key`'s DEBUG DIGEST-VALUE must be the same on both servers; then each
/// DUMPs it and the other RESTOREs the payload as `KEY-copy` (REPLACE), whose
/// digest must equal the original's there. `also(conn, copy)` adds a
/// family's own checks on the receiving side.
pub fn dump_restore_both_ways(
    ours: &mut redis::Connection,
    theirs: &mut redis::Connection,
    key: &str,
    mut also: impl FnMut(&mut redis::Connection, &str),
) {
    let digest = |c: &mut redis::Connection| reply_text(c, &["DEBUG", "DIGEST-VALUE", key]);
    assert_eq!(digest(ours), digest(theirs), "{key}: digests");
    let copy = format!("{key}-copy");
    for ours_first in [true, false] {
        let (from, to) = if ours_first {
            (&mut *ours, &mut *theirs)
        } else {
            (&mut *theirs, &mut *ours)
        };
        let payload: Vec<u8> = redis::cmd("DUMP").arg(key).query(from).expect("DUMP");
        let _: () = redis::cmd("RESTORE")
            .arg(&copy)
            .arg(0)
            .arg(payload)
            .arg("REPLACE")
            .query(to)
            .expect("RESTORE");
        assert_eq!(
            reply_text(to, &["DEBUG", "DIGEST-VALUE", &copy]),
            reply_text(to, &["DEBUG", "DIGEST-VALUE", key]),
            "{key} restored from the other server"
        );
        also(to, &copy);
    }
}

/// `OBJECT ENCODING key`.
pub fn encoding(c: &mut redis::Connection, key: &str) -> String {
    redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(key)
        .query(c)
        .expect("OBJECT ENCODING")
}

/// Runs `script` (one command per entry) on a fresh ringcache and a fresh
/// redis-server side by side; every reply, as `reply` renders it, must match.
pub fn replies_match_redis(
    script: &[&[&str]],
    reply: impl Fn(&mut redis::Connection, &[&str]) -> String,
) {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (mut ours, mut theirs) = (node.conn(), redis.conn());
    for args in script {
        assert_eq!(reply(&mut ours, args), reply(&mut theirs, args), "{args:?}");
    }
}

pub fn free_port() -> u16 {
    loop {
        let port = fastrand::u16(10000..22768);
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10000) {
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
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let envs: Vec<(String, String)> = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // Another test may take the free port before this process binds it:
        // then the process exits, and we try again on another port.
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            let child = spawn(port, &dir, &args, &envs);
            let mut node = TestNode {
                host: "127.0.0.1".into(),
                port,
                child,
                dir,
                args: args.clone(),
                envs: envs.clone(),
            };
            if node.wait_ready() {
                return node;
            }
        }
        panic!("ringcache did not start after 5 attempts");
    }

    /// Starts a server on `port` in `dir`, whose files the caller prepared
    /// (e.g. a `nodes.conf`).
    pub fn start_in(port: u16, dir: tempfile::TempDir, args: &[&str]) -> TestNode {
        Self::start_at("127.0.0.1", port, dir, args)
    }

    /// Starts a server that `args` bind to `host` (another loopback address
    /// than 127.0.0.1), on `port` in `dir`.
    pub fn start_at(host: &str, port: u16, dir: tempfile::TempDir, args: &[&str]) -> TestNode {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let child = spawn(port, &dir, &args, &[]);
        let mut node = TestNode {
            host: host.to_string(),
            port,
            child,
            dir,
            args,
            envs: Vec::new(),
        };
        assert!(node.wait_ready(), "ringcache on port {port} did not start");
        node
    }

    /// Kills the process (SIGKILL) and starts it again on the same port, with
    /// the same directory and flags.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.port, &self.dir, &self.args, &self.envs);
        assert!(
            self.wait_ready(),
            "ringcache on port {} did not restart",
            self.port
        );
    }

    /// SIGKILLs the process and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// True once the process answers PING; false if it exited or did not answer
    /// within 10 s.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect((self.host.as_str(), self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                if s.write_all(b"PING\r\n").is_ok() {
                    // A server with a password answers NOAUTH: it is up too.
                    let mut buf = [0u8; 7];
                    if s.read_exact(&mut buf).is_ok()
                        && (&buf == b"+PONG\r\n" || &buf == b"-NOAUTH")
                    {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// `host:port`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Runs one command over a fresh connection; the reply as redis-rs decodes it.
    pub fn query(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        let mut c = redis::cmd(args[0]);
        for a in &args[1..] {
            c.arg(*a);
        }
        c.query(&mut self.conn())
    }

    /// A command's reply as text (bulk, simple or verbatim string), panicking otherwise.
    pub fn text(&self, args: &[&str]) -> String {
        match self.query(args) {
            Ok(redis::Value::BulkString(b)) => String::from_utf8_lossy(&b).into_owned(),
            Ok(redis::Value::SimpleString(s)) => s,
            Ok(redis::Value::VerbatimString { text, .. }) => text,
            Ok(redis::Value::Okay) => "OK".into(),
            other => panic!("{args:?} on {}: {other:?}", self.port),
        }
    }

    /// `redis://host:port`.
    pub fn url(&self) -> String {
        format!("redis://{}:{}/", self.host, self.port)
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
        RawConn::connect(&self.host, self.port)
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

fn spawn(port: u16, dir: &tempfile::TempDir, args: &[String], envs: &[(String, String)]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("ringcache.log"))
        .expect("log file");
    let log2 = log.try_clone().expect("log file");
    // Tests use DEBUG as Redis's own suite does (its default.conf enables
    // it), unless a test is about the option itself.
    let debug: &[&str] = if args.iter().any(|a| a == "--enable-debug-command") {
        &[]
    } else {
        &["--enable-debug-command", "yes"]
    };
    Command::new(env!("CARGO_BIN_EXE_ringcache"))
        .arg("--port")
        .arg(port.to_string())
        .arg("--dir")
        .arg(dir.path())
        .args(debug)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .spawn()
        .expect("spawn ringcache")
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
    /// Connects to `host:port` with a 5 s read timeout.
    pub fn connect(host: &str, port: u16) -> RawConn {
        let s = TcpStream::connect((host, port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        RawConn { s }
    }

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

    /// Sends one command as a RESP array of bulk strings.
    pub fn command(&mut self, args: &[&[u8]]) {
        let mut frame = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            frame.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            frame.extend_from_slice(a);
            frame.extend_from_slice(b"\r\n");
        }
        self.send(&frame);
    }

    /// Reads one whole reply (nested aggregates included) as raw bytes, for
    /// byte-for-byte comparison with redis-server; what came so far when the
    /// peer closes or the read times out.
    pub fn reply(&mut self) -> Vec<u8> {
        let head = self.line().into_bytes();
        let count = || {
            std::str::from_utf8(&head[1..head.len().saturating_sub(2)])
                .ok()
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(-1)
        };
        let mut out = head.clone();
        match head.first() {
            Some(b'$' | b'=' | b'!') if count() >= 0 => {
                let mut body = vec![0u8; count() as usize + 2];
                if self.s.read_exact(&mut body).is_ok() {
                    out.extend(body);
                }
            }
            Some(b'*' | b'~' | b'>') => (0..count().max(0)).for_each(|_| out.extend(self.reply())),
            Some(b'%' | b'|') => (0..2 * count().max(0)).for_each(|_| out.extend(self.reply())),
            _ => {}
        }
        out
    }

    /// Sends one command and returns its raw reply.
    pub fn call(&mut self, args: &[&str]) -> Vec<u8> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.command(&args);
        self.reply()
    }
}

/// libfaketime (Debian `faketime`, installed by `scripts/deps.sh`).
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// A wall clock a test steps: a node started with `env()` has libfaketime
/// preloaded, reading its offset from a file on every call, while its
/// monotonic clock stays real.
pub struct FakeClock {
    dir: tempfile::TempDir,
}

impl FakeClock {
    /// A clock at the real time; fails unless libfaketime is installed.
    pub fn new() -> FakeClock {
        assert!(
            std::path::Path::new(LIBFAKETIME).exists(),
            "{LIBFAKETIME} is required (scripts/deps.sh installs the faketime package)"
        );
        let c = FakeClock {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        c.step_to(0);
        c
    }

    fn file(&self) -> std::path::PathBuf {
        self.dir.path().join("faketime.rc")
    }

    /// The environment that puts a process on this clock.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LD_PRELOAD", LIBFAKETIME.to_string()),
            (
                "FAKETIME_TIMESTAMP_FILE",
                self.file().to_string_lossy().into_owned(),
            ),
            ("FAKETIME_NO_CACHE", "1".to_string()),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_string()),
        ]
    }

    /// Sets the wall clock `offset_secs` from the real time (atomically).
    pub fn step_to(&self, offset_secs: i64) {
        let tmp = self.dir.path().join("faketime.tmp");
        std::fs::write(&tmp, format!("{offset_secs:+}\n")).expect("write clock");
        std::fs::rename(&tmp, self.file()).expect("move clock");
    }

    /// Removes the shared memory libfaketime leaves behind a killed `pid`.
    pub fn forget(pid: u32) {
        for f in [
            format!("/dev/shm/faketime_shm_{pid}"),
            format!("/dev/shm/sem.faketime_sem_{pid}"),
        ] {
            let _ = std::fs::remove_file(f);
        }
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

/// Runs `args` on `c`; panics on an error reply (the command must succeed).
pub fn cmd(c: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Runs a command that must fail; returns its error.
pub fn cmd_err(c: &mut redis::Connection, args: &[&str]) -> redis::RedisError {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<redis::Value>(c) {
        Ok(v) => panic!("{args:?} succeeded: {v:?}"),
        Err(e) => e,
    }
}

/// Fails unless python3 with redis-py is installed (CI installs it).
pub fn need_redis_py() {
    let ok = Command::new("python3")
        .args(["-c", "import redis"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 with redis-py is required: pip install redis (CI does this)"
    );
}

/// One field of an `INFO` section.
pub fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> String {
    let text: String = redis::cmd("INFO").arg(section).query(c).expect("INFO");
    text.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {field} in {text}"))
        .to_string()
}

/// `WAIT replicas timeout_ms` on `c`; it counts the acknowledgements of this
/// connection's own last write, so the writes go on the same connection.
pub fn wait_replicas(c: &mut redis::Connection, replicas: i64, timeout_ms: u64) -> i64 {
    redis::cmd("WAIT")
        .arg(replicas)
        .arg(timeout_ms)
        .query(c)
        .expect("WAIT")
}

/// `(sync_full, sync_partial_ok)` from `INFO stats`: the full and partial
/// resyncs a server served as a primary.
pub fn sync_counts(c: &mut redis::Connection) -> (u64, u64) {
    let count = |c: &mut redis::Connection, f: &str| {
        info_field(c, "stats", f).parse::<u64>().expect("a count")
    };
    (count(c, "sync_full"), count(c, "sync_partial_ok"))
}

/// Waits until `replica`'s link is up and its data digest equals the
/// primary's; panics after `timeout`.
pub fn wait_in_sync(
    primary: &mut redis::Connection,
    replica: &mut redis::Connection,
    timeout: Duration,
) {
    let link = |c: &mut redis::Connection| info_field(c, "replication", "master_link_status");
    let synced = wait_for(timeout, || {
        link(replica) == "up" && disk::digest(primary) == disk::digest(replica)
    });
    assert!(
        synced,
        "replica not in sync: link {}, primary {} vs replica {}",
        link(replica),
        disk::digest(primary),
        disk::digest(replica)
    );
}

/// The field names of an `INFO` section, in order.
pub fn info_names(c: &mut redis::Connection, section: &str) -> Vec<String> {
    let text: String = redis::cmd("INFO").arg(section).query(c).expect("INFO");
    text.lines()
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
        .collect()
}

/// A Debian `redis-server` (installed by `scripts/deps.sh`) on a free loopback
/// port in its own directory, with persistence off unless `args` turn it on;
/// killed on drop.
pub struct RedisServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
    /// Its working directory (`--dir`).
    pub dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one in a fresh directory.
    pub fn start(args: &[&str]) -> RedisServer {
        Self::start_in(tempfile::tempdir().expect("temp dir"), args)
    }

    /// Starts one in `dir`, whose files the caller prepared (e.g. a `dump.rdb`).
    pub fn start_in(dir: tempfile::TempDir, args: &[&str]) -> RedisServer {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "yes",
            ])
            .arg("--dir")
            .arg(dir.path())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-server must be on PATH (scripts/deps.sh installs it): {e}")
            });
        let server = RedisServer { port, child, dir };
        let ready = wait_for(Duration::from_secs(10), || {
            redis::Client::open(server.url())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok()
        });
        assert!(ready, "redis-server on port {port} did not start");
        server
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

    /// A raw TCP connection for byte-level comparisons.
    pub fn raw(&self) -> RawConn {
        RawConn::connect("127.0.0.1", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished child process printed.
pub struct Output {
    /// Exit status 0.
    pub success: bool,
    /// The exit code (None when a signal ended it).
    pub code: Option<i32>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs `cmd` with `input` (if any) on its stdin; kills it and panics, with what
/// it printed, when it has not exited within `timeout`.
pub fn run_within(cmd: &mut Command, input: Option<&str>, timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        if let Some(i) = input {
            let _ = stdin.write_all(i.as_bytes());
        }
    }
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = r.read_to_end(&mut b);
            String::from_utf8_lossy(&b).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().expect("stdout")));
    let err = reader(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let Some(status) = status else {
        panic!("{cmd:?} did not finish within {timeout:?}:\n{stdout}\n{stderr}");
    };
    Output {
        success: status.success(),
        code: status.code(),
        stdout,
        stderr,
    }
}

/// Runs redis-cli with `args` and `input` on its stdin, within `timeout`;
/// returns (success, stdout + stderr).
pub fn redis_cli_within(args: &[&str], input: Option<&str>, timeout: Duration) -> (bool, String) {
    let o = run_within(Command::new("redis-cli").args(args), input, timeout);
    (o.success, o.stdout + &o.stderr)
}

/// `redis_cli_within` with a five-minute bound.
pub fn redis_cli(args: &[&str], input: Option<&str>) -> (bool, String) {
    redis_cli_within(args, input, Duration::from_secs(300))
}

/// Starts one empty cluster-mode node (node timeout 5 s) with extra flags.
pub fn cluster_node(extra: &[&str]) -> TestNode {
    cluster_node_timeout(5000, extra)
}

/// Starts one empty cluster-mode node with the given node timeout (ms).
pub fn cluster_node_timeout(node_timeout_ms: u64, extra: &[&str]) -> TestNode {
    let nt = node_timeout_ms.to_string();
    let mut args: Vec<&str> = vec!["--cluster-enabled", "yes", "--cluster-node-timeout", &nt];
    args.extend_from_slice(extra);
    TestNode::start(&args)
}

/// A ringcache cluster built by `redis-cli --cluster create`.
pub struct TestCluster {
    /// Every node: primaries first, as create was given them.
    pub nodes: Vec<TestNode>,
}

impl TestCluster {
    /// `primaries` primaries with `replicas_each` replicas each, all slots
    /// covered, every node agreeing and in state ok.
    pub fn start(primaries: usize, replicas_each: usize) -> TestCluster {
        Self::start_with(primaries, replicas_each, &[])
    }

    /// As `start`, with extra flags for every node.
    pub fn start_with(primaries: usize, replicas_each: usize, extra: &[&str]) -> TestCluster {
        Self::start_timeout(primaries, replicas_each, 5000, extra)
    }

    /// As `start_with`, with the given node timeout (ms).
    pub fn start_timeout(
        primaries: usize,
        replicas_each: usize,
        node_timeout_ms: u64,
        extra: &[&str],
    ) -> TestCluster {
        let n = primaries * (replicas_each + 1);
        let nodes: Vec<TestNode> = (0..n)
            .map(|_| cluster_node_timeout(node_timeout_ms, extra))
            .collect();
        Self::create(nodes, replicas_each)
    }

    /// Joins running cluster-mode nodes with `redis-cli --cluster create`.
    pub fn create(nodes: Vec<TestNode>, replicas_each: usize) -> TestCluster {
        let addrs: Vec<String> = nodes.iter().map(|n| n.addr()).collect();
        let replicas = replicas_each.to_string();
        let mut args: Vec<&str> = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(|a| a.as_str()));
        args.extend(["--cluster-replicas", &replicas, "--cluster-yes"]);
        let (ok, out) = redis_cli(&args, None);
        assert!(
            ok && out.contains("[OK] All 16384 slots covered."),
            "create failed:\n{out}"
        );
        let c = TestCluster { nodes };
        c.wait_converged(Duration::from_secs(30));
        c
    }

    /// Addresses of every node.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr()).collect()
    }

    /// Waits until every node is in state ok and all agree on slot owners.
    pub fn wait_converged(&self, timeout: Duration) {
        let ok = wait_for(timeout, || {
            let sigs: Vec<Option<String>> = self.nodes.iter().map(signature).collect();
            sigs.iter().all(|s| s.is_some())
                && sigs.windows(2).all(|w| w[0] == w[1])
                && self
                    .nodes
                    .iter()
                    .all(|n| n.text(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        });
        assert!(
            ok,
            "cluster did not converge: {:?}",
            self.nodes.iter().map(signature).collect::<Vec<_>>()
        );
    }
}

/// redis-cli's configuration signature of a node: for each line with slots,
/// `id:` plus its slot tokens sorted, lines sorted and joined by `|`.
pub fn signature(n: &TestNode) -> Option<String> {
    let text = match n.query(&["CLUSTER", "NODES"]).ok()? {
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        redis::Value::VerbatimString { text, .. } => text,
        _ => return None,
    };
    let mut lines: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            if f.len() <= 8 {
                return None;
            }
            let mut slots: Vec<&str> = f[8..]
                .iter()
                .copied()
                .filter(|t| !t.starts_with('['))
                .collect();
            if slots.is_empty() {
                return None;
            }
            slots.sort();
            Some(format!("{}:{}", f[0], slots.join(",")))
        })
        .collect();
    lines.sort();
    Some(lines.join("|"))
}
