//! Connection limits against the real binary, side by side with redis-server
//! 7.0.15 where Redis defines the behaviour (issue 17, "connection limits"):
//! a stranger's big AUTH argument does not grow RSS, `maxclients` fits a low
//! open-file limit, accept errors back off, thousands of sequential connects
//! are quick, `tcp-backlog`, CLIENT KILL of a client that stopped reading,
//! `timeout` and `tcp-keepalive`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, info_field, wait_for, RawConn, RedisServer, TestNode};

/// Resident memory of a process, in KB (`VmRSS`).
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A server (ringcache or redis-server) started under an open-file limit
/// (`ulimit -n`), killed on drop.
struct Limited {
    port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Limited {
    /// Starts `program args…` on a free port with `ulimit -n nofile`.
    fn start(program: &str, nofile: u32, args: &[&str]) -> Limited {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(program)
            .args(["--port", &port.to_string(), "--dir"])
            .arg(dir.path())
            .args(args)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn server");
        let s = Limited { port, child, dir };
        let up = wait_for(Duration::from_secs(10), || {
            redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .and_then(|c| c.get_connection())
                .is_ok()
        });
        assert!(
            up,
            "{program} did not start under ulimit -n {nofile}:\n{}",
            s.log()
        );
        s
    }

    fn conn(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .expect("client")
            .get_connection()
            .expect("connect")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Streams a 200 MB AUTH argument at a server with a password: the server
/// refuses the announced length and closes at once, so its RSS stays put.
/// Returns (reply line, bytes the socket took before failing, RSS growth KB).
fn stream_big_auth(port: u16, pid: u32) -> (String, usize, i64) {
    let before = rss_kb(pid);
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let total = 200 << 20;
    let head = format!("*2\r\n$4\r\nAUTH\r\n${total}\r\n");
    s.write_all(head.as_bytes()).expect("write head");
    let chunk = vec![b'p'; 64 * 1024];
    let mut sent = 0;
    while sent < total {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let growth = rss_kb(pid) as i64 - before as i64;
    (String::from_utf8_lossy(&reply).into_owned(), sent, growth)
}

#[test]
fn a_200_mb_auth_argument_is_refused_early_and_rss_stays_bounded() {
    let node = TestNode::start(&["--requirepass", "pw"]);
    let (reply, sent, growth) = stream_big_auth(node.port, node.pid());
    // RedisServer waits for a PONG, so its password is set once it is up.
    let redis = RedisServer::start(&[]);
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "requirepass", "pw"])
        .query(&mut redis.conn())
        .unwrap();
    let redis_pid = redis_pid(redis.port);
    let (r_reply, r_sent, r_growth) = stream_big_auth(redis.port, redis_pid);
    eprintln!(
        "ringcache: took {sent} bytes, RSS +{growth} KB; redis-server: took {r_sent} bytes, RSS +{r_growth} KB"
    );
    assert_eq!(
        reply,
        "-ERR Protocol error: unauthenticated bulk length\r\n"
    );
    assert_eq!(reply, r_reply);
    assert!(
        sent < 64 << 20,
        "the server read {sent} bytes before closing"
    );
    assert!(growth < 10 * 1024, "RSS grew by {growth} KB");
    // The server still serves its authenticated clients.
    let mut c = node.conn();
    let _: () = redis::cmd("AUTH").arg("pw").query(&mut c).unwrap();
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}

/// Floods PINGs at a server with a password for up to 5 s without reading
/// a reply; returns (bytes sent, whether the server closed, RSS growth KB).
fn flood_unread_pings(port: u16, pid: u32) -> (usize, bool, i64) {
    let before = rss_kb(pid);
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_write_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let batch = b"PING\r\n".repeat(10_000);
    let started = Instant::now();
    let mut sent = 0;
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(5) {
        match s.write(&batch) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    (sent, closed, rss_kb(pid) as i64 - before as i64)
}

#[test]
fn an_unauthenticated_client_that_does_not_read_is_closed() {
    let node = TestNode::start(&["--requirepass", "pw"]);
    let (sent, closed, growth) = flood_unread_pings(node.port, node.pid());
    let redis = RedisServer::start(&[]);
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "requirepass", "pw"])
        .query(&mut redis.conn())
        .unwrap();
    let (r_sent, r_closed, r_growth) = flood_unread_pings(redis.port, redis_pid(redis.port));
    eprintln!(
        "unread NOAUTH replies: ringcache took {sent} bytes of PINGs, closed {closed}, RSS +{growth} KB; \
         redis-server took {r_sent}, closed {r_closed}, RSS +{r_growth} KB"
    );
    assert!(r_closed, "redis-server keeps the flooding stranger");
    assert!(
        closed,
        "ringcache keeps a stranger that does not read ({sent} bytes)"
    );
    assert!(growth < 10 * 1024, "RSS grew by {growth} KB");
    // A stranger that reads its replies is served as before.
    let mut c = RawConn::connect("127.0.0.1", node.port);
    for _ in 0..100 {
        c.send(b"PING\r\n");
        assert_eq!(c.line(), "-NOAUTH Authentication required.\r\n");
    }
}

/// The pid of the redis-server listening on `port` (INFO server).
fn redis_pid(port: u16) -> u32 {
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("AUTH").arg("pw").query(&mut c).unwrap();
    info_field(&mut c, "server", "process_id").parse().unwrap()
}

/// Opens connections until one is refused; returns how many were admitted
/// (each answered PING) and the refused one's bytes, then whether it closed.
fn fill_clients(port: u16, at_most: usize) -> (Vec<RawConn>, String, bool) {
    let mut kept = Vec::new();
    for _ in 0..at_most {
        let mut c = RawConn::connect("127.0.0.1", port);
        c.send(b"PING\r\n");
        let line = c.line();
        if line != "+PONG\r\n" {
            // EOF, or a reset (redis-server closes with our PING unread).
            let mut b = [0u8; 1];
            let closed = match c.s.read(&mut b) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            };
            return (kept, line, closed);
        }
        kept.push(c);
    }
    (kept, String::new(), false)
}

#[test]
fn maxclients_fits_a_low_open_file_limit_as_redis() {
    let rc = Limited::start(
        env!("CARGO_BIN_EXE_ringcache"),
        64,
        &["--maxclients", "100"],
    );
    let rs = Limited::start("redis-server", 64, &["--maxclients", "100", "--save", ""]);
    let maxclients = |c: &mut redis::Connection| -> u64 {
        let v: Vec<String> = redis::cmd("CONFIG")
            .arg(&["GET", "maxclients"])
            .query(c)
            .unwrap();
        v[1].parse().unwrap()
    };
    let (mut a, mut b) = (rc.conn(), rs.conn());
    let ours = maxclients(&mut a);
    assert_eq!(ours, maxclients(&mut b), "maxclients under ulimit -n 64");
    if ours < 100 {
        // Unprivileged: 64 descriptors less Redis's 32 reserved ones.
        assert_eq!(ours, 32);
        assert!(
            rc.log()
                .contains("maxclients has been reduced to 32 to compensate for low ulimit"),
            "{}",
            rc.log()
        );
        let set_err = |c: &mut redis::Connection| {
            redis::cmd("CONFIG")
                .arg(&["SET", "maxclients", "1000"])
                .query::<()>(c)
                .unwrap_err()
                .to_string()
        };
        let e = set_err(&mut a);
        assert_eq!(e, set_err(&mut b));
        assert!(
            e.contains("The operating system is not able to handle the specified number of clients, try with 32"),
            "{e}"
        );
    } else {
        // A process that may raise its hard limit raises it, as Redis does.
        assert!(rc.log().contains("Increased maximum number of open files"));
    }
    // The admin connection counts: ours - 1 more are admitted, the next is
    // refused (once the readiness probes' connections are gone).
    for (c, name) in [(&mut a, "ringcache"), (&mut b, "redis-server")] {
        let alone = wait_for(Duration::from_secs(5), || {
            info_field(c, "clients", "connected_clients") == "1"
        });
        assert!(alone, "{name}: other clients linger");
    }
    for (port, name) in [(rc.port, "ringcache"), (rs.port, "redis-server")] {
        let (kept, refused, closed) = fill_clients(port, ours as usize + 1);
        assert_eq!(kept.len() as u64, ours - 1, "{name}");
        assert_eq!(refused, "-ERR max number of clients reached\r\n", "{name}");
        assert!(closed, "{name}: a refused connection is closed");
    }
    assert_eq!(info_field(&mut a, "stats", "rejected_connections"), "1");
}

#[test]
fn accept_errors_back_off_instead_of_spinning() {
    let node = TestNode::start(&[]);
    let pid = node.pid().to_string();
    // Fewer descriptors than the connections below: accept fails with EMFILE.
    let limited = Command::new("prlimit")
        .args(["--pid", &pid, "--nofile=40:40"])
        .status()
        .expect("prlimit (util-linux) runs");
    assert!(limited.success());
    let mut conns: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(("127.0.0.1", node.port)).expect("connect"))
        .collect();
    let cpu_before = cpu_ticks(node.pid());
    std::thread::sleep(Duration::from_secs(3));
    let cpu = cpu_ticks(node.pid()) - cpu_before;
    let lines = node
        .log()
        .lines()
        .filter(|l| l.contains("Accepting client connection"))
        .count();
    eprintln!("accept failures: {lines} log lines, {cpu} CPU ticks in 3 s");
    assert!((1..=6).contains(&lines), "{lines} log lines in 3 s");
    assert!(cpu < 100, "{cpu} CPU ticks in 3 s");
    // Once descriptors are free again, the queued connections are served.
    conns.truncate(0);
    let mut c = None;
    assert!(wait_for(Duration::from_secs(10), || {
        c = TcpStream::connect(("127.0.0.1", node.port)).ok();
        c.is_some()
    }));
    let mut c = c.unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"PING\r\n").unwrap();
    let mut b = [0u8; 7];
    c.read_exact(&mut b)
        .expect("PONG after the descriptors came back");
    assert_eq!(&b, b"+PONG\r\n");
}

/// User plus system CPU ticks a process used so far (`/proc/pid/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 after comm.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Connects, sends PING and reads one reply line, `n` times in a row;
/// keeps the connections that got PONG open when `keep`. Returns the time
/// taken and the replies other than PONG.
fn sequential_connects(port: u16, n: usize, keep: bool) -> (Duration, Vec<String>) {
    let started = Instant::now();
    let mut kept = Vec::new();
    let mut other = Vec::new();
    for _ in 0..n {
        let mut c = RawConn::connect("127.0.0.1", port);
        c.send(b"PING\r\n");
        let line = c.line();
        if line == "+PONG\r\n" {
            if keep {
                kept.push(c);
            }
        } else {
            other.push(line);
        }
    }
    (started.elapsed(), other)
}

#[test]
fn five_thousand_sequential_connects_are_quick() {
    let node = TestNode::start(&[]);
    let (took, other) = sequential_connects(node.port, 5000, false);
    eprintln!("5,000 connect/PING/close: {took:?}");
    assert!(other.is_empty(), "{:?}", &other[..other.len().min(3)]);
    assert!(took < Duration::from_secs(15), "{took:?}");
    // Kept open under a 150-descriptor limit (maxclients 200 asked, 118
    // granted unless the process may raise its hard limit): past maxclients
    // each is refused at once, where a connection the server could not
    // accept would wait on in the queue.
    let rc = Limited::start(
        env!("CARGO_BIN_EXE_ringcache"),
        150,
        &["--maxclients", "200"],
    );
    let (took, other) = sequential_connects(rc.port, 5000, true);
    eprintln!("5,000 connects kept open under ulimit -n 150: {took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(other
        .iter()
        .all(|l| l == "-ERR max number of clients reached\r\n"));
    assert!(other.len() >= 4800, "{} refused", other.len());
}

/// The accept queue length `ss` reports for the socket listening on `port`.
fn listen_backlog(port: u16) -> u64 {
    let out = Command::new("ss")
        .args(["-Hltn", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // State Recv-Q Send-Q Local Peer: Send-Q is the backlog of a listener.
    let line = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no listener: {text}"));
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn tcp_backlog_sets_the_listen_queue() {
    let somaxconn: u64 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .map(|s| s.trim().parse().unwrap())
        .unwrap_or(4096);
    let node = TestNode::start(&[]);
    assert_eq!(listen_backlog(node.port), 511.min(somaxconn));
    assert_eq!(config_get(&node, "tcp-backlog"), "511");
    let small = TestNode::start(&["--tcp-backlog", "100"]);
    assert_eq!(listen_backlog(small.port), 100);
    let e = small
        .query(&["CONFIG", "SET", "tcp-backlog", "200"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("can't set immutable config"), "{e}");
}

#[test]
fn client_kill_closes_a_stalled_reader_at_once() {
    let node = TestNode::start(&[]);
    let mut admin = node.conn();
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(vec![b'x'; 1 << 20])
        .query(&mut admin)
        .unwrap();
    // It asks for 200 MB of replies and reads none of them.
    let mut stalled = TcpStream::connect(("127.0.0.1", node.port)).unwrap();
    stalled
        .write_all(
            &[
                &b"CLIENT SETNAME stalled\r\n"[..],
                &b"GET big\r\n".repeat(200),
            ]
            .concat(),
        )
        .unwrap();
    let id = || -> Option<String> {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut node.conn())
            .unwrap();
        list.lines()
            .find(|l| l.contains(" name=stalled "))
            .and_then(|l| l.split(' ').next())
            .map(|f| f.trim_start_matches("id=").to_string())
    };
    let mut stalled_id = None;
    assert!(wait_for(Duration::from_secs(5), || {
        stalled_id = id();
        stalled_id.is_some()
    }));
    std::thread::sleep(Duration::from_millis(300));
    let killed: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "ID", stalled_id.as_deref().unwrap()])
        .query(&mut admin)
        .unwrap();
    assert_eq!(killed, 1);
    assert!(
        wait_for(Duration::from_secs(1), || id().is_none()),
        "still in CLIENT LIST a second after the kill"
    );
    // What it can still read is what the kernel buffered, then EOF.
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    let eof = loop {
        match stalled.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got += n,
            Err(_) => break false,
        }
    };
    eprintln!("after CLIENT KILL the stalled client read {got} bytes, then EOF: {eof}");
    assert!(
        eof,
        "the killed connection did not close ({got} bytes read)"
    );
    assert!(got < 32 << 20, "{got} bytes served after the kill");
}

/// Idle clients are closed after `timeout` seconds; subscribers, blocked
/// clients and monitors are not, as in Redis. Checked on both servers.
fn check_idle_timeout(port: u16, name: &str) {
    let mut admin = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "timeout", "1"])
        .query(&mut admin)
        .unwrap();
    let mut idle = RawConn::connect("127.0.0.1", port);
    idle.send(b"PING\r\n");
    assert_eq!(idle.line(), "+PONG\r\n");
    let mut sub = RawConn::connect("127.0.0.1", port);
    sub.send(b"SUBSCRIBE ch\r\n");
    let _ = sub.reply();
    let mut blocked = RawConn::connect("127.0.0.1", port);
    blocked.send(b"BLPOP nosuch 0\r\n");
    let mut monitor = RawConn::connect("127.0.0.1", port);
    monitor.send(b"MONITOR\r\n");
    assert_eq!(monitor.line(), "+OK\r\n");
    let started = Instant::now();
    assert!(idle.is_closed(), "{name}: the idle client stays open");
    let closed_after = started.elapsed();
    assert!(
        closed_after < Duration::from_secs(4),
        "{name}: {closed_after:?}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    for (c, what) in [
        (&mut sub, "subscriber"),
        (&mut blocked, "blocked client"),
        (&mut monitor, "monitor"),
    ] {
        c.s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut b = [0u8; 1];
        let open = !matches!(c.s.read(&mut b), Ok(0));
        assert!(open, "{name}: the {what} was closed by timeout");
    }
    // The admin connection idled past the timeout too: a fresh one.
    let mut admin = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("RPUSH")
        .arg(&["nosuch", "v"])
        .query(&mut admin)
        .unwrap();
    blocked
        .s
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        blocked.line(),
        "*2\r\n",
        "{name}: BLPOP served after the wait"
    );
}

#[test]
fn timeout_closes_idle_clients_but_spares_subscribers_blocked_and_monitors() {
    let node = TestNode::start(&[]);
    check_idle_timeout(node.port, "ringcache");
    let redis = RedisServer::start(&[]);
    check_idle_timeout(redis.port, "redis-server");
    assert_eq!(config_get(&node, "timeout"), "1");
}

/// One option's value, as `CONFIG GET` reports it.
fn config_get(node: &TestNode, name: &str) -> String {
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg(&["GET", name])
        .query(&mut node.conn())
        .unwrap();
    assert_eq!(v.len(), 2, "CONFIG GET {name}: {v:?}");
    v[1].clone()
}

/// The keepalive timer `ss` shows for the server's side of connections to `port`.
fn keepalive_timers(port: u16) -> Vec<String> {
    let out = Command::new("ss")
        .args(["-Htno", "state", "established", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("timer:("))
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

#[test]
fn tcp_keepalive_applies_to_new_connections() {
    let node = TestNode::start(&["--tcp-keepalive", "7"]);
    let mut c = node.raw();
    c.send(b"PING\r\n");
    assert_eq!(c.line(), "+PONG\r\n");
    let timers = keepalive_timers(node.port);
    assert!(
        timers.iter().any(|t| t.starts_with("timer:(keepalive,")),
        "{timers:?}"
    );
    let _ = node
        .query(&["CONFIG", "SET", "tcp-keepalive", "0"])
        .unwrap();
    drop(c);
    let mut bare = node.raw();
    bare.send(b"CLIENT SETNAME bare\r\n");
    assert_eq!(bare.line(), "+OK\r\n");
    // The connection made after the change runs without a timer.
    let timers = keepalive_timers(node.port);
    assert!(timers.iter().any(|t| t.is_empty()), "{timers:?}");
    assert_eq!(config_get(&node, "tcp-keepalive"), "0");
}
