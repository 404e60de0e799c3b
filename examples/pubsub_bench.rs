//! PUBLISH throughput benchmark for any Redis-compatible server (raw TCP,
//! hand-written RESP2, a single-threaded tokio runtime so it can be pinned to
//! one core).
//!
//!   cargo run --release --example pubsub_bench -- --port 6379 \
//!       --subscribers 10 --publishers 1 --pipeline 16 --seconds 5 --size 64 --channel bench
//!
//! S subscriber connections SUBSCRIBE to the channel (every confirmation is
//! awaited), then N publisher connections each send PUBLISH in pipelined batches
//! of K and read the K integer replies before the next batch. After a warm-up
//! (1 s, not counted) the run is measured for T seconds; then the publishers
//! stop and the subscribers are given up to 5 s to receive everything. Each
//! subscriber parses complete RESP frames from its buffer and counts the
//! `message` frames (a frame split across reads is counted once it is whole).
//!
//! Output: a human summary on stderr, `LOST n` on stdout when subscribers
//! received fewer than published x S, and one machine-readable line last:
//!
//!   publish_per_sec=.. delivered_per_sec=.. lost=.. published=.. expected=..
//!   delivered=.. receivers_reported=.. drain_ms=.. closed=.. bad=.. client_cpu=..
//!   server_cpu=.. other_cpu=.. publisher_errors=..
//!
//! `publish_per_sec` and `delivered_per_sec` are over the measured window only;
//! `lost`, `published`, `expected` (published x S), `delivered` cover the whole
//! run (warm-up included); `receivers_reported` is the sum of PUBLISH replies;
//! `drain_ms` how long the subscribers took after the last reply (or the 5 s
//! timeout); `closed` subscribers the server disconnected; `bad` message frames
//! with the wrong channel or payload length; `client_cpu` / `server_cpu` the
//! CPU used over the window, in cores (server only with `--server-pid`), and
//! `other_cpu` what the rest of the machine used meanwhile (user + system time
//! of all CPUs minus those two; needs `--server-pid`).
//! Other options: `--host` (127.0.0.1), `--warmup SECONDS` (1),
//! `--drain SECONDS` (5), `--server-pid PID`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Res<T> = Result<T, String>;

struct Args {
    host: String,
    port: u16,
    subscribers: usize,
    publishers: usize,
    pipeline: usize,
    seconds: f64,
    size: usize,
    channel: String,
    warmup: f64,
    drain: f64,
    server_pid: Option<u32>,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 6379,
        subscribers: 1,
        publishers: 1,
        pipeline: 16,
        seconds: 5.0,
        size: 64,
        channel: "pubsub-bench".into(),
        warmup: 1.0,
        drain: 5.0,
        server_pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {val}: {e}");
        match flag.as_str() {
            "--host" => a.host = val.clone(),
            "--port" => a.port = val.parse().map_err(|e| bad(&e))?,
            "--subscribers" => a.subscribers = val.parse().map_err(|e| bad(&e))?,
            "--publishers" => a.publishers = val.parse().map_err(|e| bad(&e))?,
            "--pipeline" => a.pipeline = val.parse().map_err(|e| bad(&e))?,
            "--seconds" => a.seconds = val.parse().map_err(|e| bad(&e))?,
            "--size" => a.size = val.parse().map_err(|e| bad(&e))?,
            "--channel" => a.channel = val.clone(),
            "--warmup" => a.warmup = val.parse().map_err(|e| bad(&e))?,
            "--drain" => a.drain = val.parse().map_err(|e| bad(&e))?,
            "--server-pid" => a.server_pid = Some(val.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.publishers == 0 || a.pipeline == 0 || a.seconds <= 0.0 {
        return Err("--publishers, --pipeline and --seconds must be positive".into());
    }
    Ok(a)
}

// ---------------------------------------------------------------------------
// RESP parsing: complete frames only. `Ok(None)` means "not all here yet".

/// A scalar value, or a summary of an aggregate nested inside a frame.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Item<'a> {
    Simple(&'a [u8]),
    Error(&'a [u8]),
    Int(i64),
    Bulk(&'a [u8]),
    Null,
    /// An aggregate (array, map, set, push) with this many elements.
    Aggregate(usize),
    /// Another scalar type (double, boolean, big number...).
    Other,
}

/// One complete top-level frame: a scalar, or an aggregate with its first
/// elements (nested aggregates show as `Item::Aggregate`).
struct Frame<'a> {
    kind: u8,
    item: Item<'a>,
    head: [Item<'a>; 4],
}

/// The line at `pos` (without CRLF) and where the next one starts.
fn line(buf: &[u8], pos: usize) -> Res<Option<(&[u8], usize)>> {
    let Some(at) = buf[pos..].iter().position(|&b| b == b'\r') else {
        return Ok(None);
    };
    let cr = pos + at;
    match buf.get(cr + 1) {
        None => Ok(None),
        Some(b'\n') => Ok(Some((&buf[pos..cr], cr + 2))),
        Some(_) => Err(format!("protocol error: CR without LF at byte {cr}")),
    }
}

fn int(digits: &[u8]) -> Res<i64> {
    let (neg, d) = match digits.first() {
        Some(b'-') => (true, &digits[1..]),
        _ => (false, digits),
    };
    if d.is_empty() || d.len() > 18 || !d.iter().all(u8::is_ascii_digit) {
        return Err(format!(
            "protocol error: bad integer {:?}",
            String::from_utf8_lossy(digits)
        ));
    }
    let v = d.iter().fold(0i64, |v, &c| v * 10 + i64::from(c - b'0'));
    Ok(if neg { -v } else { v })
}

/// One value at `pos`: the item and where the next value starts.
fn value(buf: &[u8], pos: usize) -> Res<Option<(Item<'_>, usize)>> {
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    let Some((text, next)) = line(buf, pos + 1)? else {
        return Ok(None);
    };
    Ok(Some(match kind {
        b'+' => (Item::Simple(text), next),
        b'-' => (Item::Error(text), next),
        b':' => (Item::Int(int(text)?), next),
        b'_' => (Item::Null, next),
        b',' | b'#' | b'(' => (Item::Other, next),
        b'$' | b'=' | b'!' => {
            let len = int(text)?;
            if len < 0 {
                (Item::Null, next)
            } else {
                let end = next + len as usize;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(format!("protocol error: bulk of {len} not ended by CRLF"));
                }
                (Item::Bulk(&buf[next..end]), end + 2)
            }
        }
        b'*' | b'>' | b'~' | b'%' | b'|' => {
            let n = int(text)?;
            if n < 0 {
                return Ok(Some((Item::Null, next)));
            }
            let elements = if matches!(kind, b'%' | b'|') {
                2 * n
            } else {
                n
            } as usize;
            let mut at = next;
            for _ in 0..elements {
                match value(buf, at)? {
                    Some((_, after)) => at = after,
                    None => return Ok(None),
                }
            }
            (Item::Aggregate(n as usize), at)
        }
        other => {
            return Err(format!(
                "protocol error: unexpected type byte {:?}",
                other as char
            ))
        }
    }))
}

/// One complete frame at `pos` and where the next starts.
fn frame(buf: &[u8], pos: usize) -> Res<Option<(Frame<'_>, usize)>> {
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    let mut head = [Item::Other; 4];
    if !matches!(kind, b'*' | b'>') {
        return Ok(value(buf, pos)?.map(|(item, next)| (Frame { kind, item, head }, next)));
    }
    let Some((text, next)) = line(buf, pos + 1)? else {
        return Ok(None);
    };
    let n = int(text)?;
    if n < 0 {
        return Ok(Some((
            Frame {
                kind,
                item: Item::Null,
                head,
            },
            next,
        )));
    }
    let mut at = next;
    for i in 0..n as usize {
        let Some((item, after)) = value(buf, at)? else {
            return Ok(None);
        };
        if i < head.len() {
            head[i] = item;
        }
        at = after;
    }
    let item = Item::Aggregate(n as usize);
    Ok(Some((Frame { kind, item, head }, at)))
}

/// A read buffer: bytes in `buf[start..end]` are received and not parsed yet.
struct Input {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Input {
    fn new() -> Input {
        Input {
            buf: vec![0; 256 * 1024],
            start: 0,
            end: 0,
        }
    }

    /// Reads more; `Ok(0)` is end of stream.
    async fn fill(&mut self, s: &mut TcpStream) -> std::io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let n = s.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

fn frame_text(f: &Frame) -> String {
    format!("type {:?} {:?} {:?}", f.kind as char, f.item, &f.head[..])
}

// ---------------------------------------------------------------------------

fn command(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", parts.len()).into_bytes();
    for p in parts {
        out.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out
}

async fn connect(host: &str, port: u16) -> Res<TcpStream> {
    let s = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connect {host}:{port}: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(s)
}

/// Opens a connection, subscribes and waits for the confirmation.
async fn subscribe(a: &Args) -> Res<(TcpStream, Input)> {
    let mut s = connect(&a.host, a.port).await?;
    s.write_all(&command(&[b"SUBSCRIBE", a.channel.as_bytes()]))
        .await
        .map_err(|e| format!("subscribe: {e}"))?;
    let mut input = Input::new();
    loop {
        if let Some((f, next)) = frame(&input.buf[..input.end], input.start)? {
            let ok = f.item == Item::Aggregate(3)
                && f.head[0] == Item::Bulk(b"subscribe")
                && f.head[1] == Item::Bulk(a.channel.as_bytes())
                && f.head[2] == Item::Int(1);
            if !ok {
                return Err(format!("unexpected SUBSCRIBE reply: {}", frame_text(&f)));
            }
            input.start = next;
            return Ok((s, input));
        }
        match input.fill(&mut s).await {
            Ok(0) => return Err("closed during SUBSCRIBE".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("subscribe: {e}")),
        }
    }
}

/// Counters one subscriber updates.
#[derive(Default)]
struct SubStats {
    messages: AtomicU64,
    bad: AtomicU64,
}

/// Counts complete `message` frames until the connection ends.
async fn subscriber(
    mut s: TcpStream,
    mut input: Input,
    channel: Vec<u8>,
    size: usize,
    st: Arc<SubStats>,
) -> Res<()> {
    loop {
        let (mut msgs, mut bad) = (0u64, 0u64);
        while let Some((f, next)) = frame(&input.buf[..input.end], input.start)? {
            if f.item == Item::Aggregate(3) && f.head[0] == Item::Bulk(b"message") {
                msgs += 1;
                let good = f.head[1] == Item::Bulk(&channel)
                    && matches!(f.head[2], Item::Bulk(p) if p.len() == size);
                if !good {
                    bad += 1;
                }
            } else {
                return Err(format!("unexpected frame: {}", frame_text(&f)));
            }
            input.start = next;
        }
        if msgs > 0 {
            st.messages.fetch_add(msgs, Relaxed);
        }
        if bad > 0 {
            st.bad.fetch_add(bad, Relaxed);
        }
        match input.fill(&mut s).await {
            Ok(0) => return Err("closed by the server".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Counters the publishers update.
#[derive(Default)]
struct PubStats {
    /// PUBLISH replies read.
    published: AtomicU64,
    /// Sum of the replies (receivers per message).
    receivers: AtomicU64,
}

/// Sends `batch` (K PUBLISH commands) and reads K replies, until `stop`.
async fn publisher(
    mut s: TcpStream,
    batch: Arc<Vec<u8>>,
    k: usize,
    stop: Arc<AtomicBool>,
    st: Arc<PubStats>,
) -> Res<()> {
    let mut input = Input::new();
    while !stop.load(Relaxed) {
        s.write_all(&batch)
            .await
            .map_err(|e| format!("publish: {e}"))?;
        let (mut got, mut receivers) = (0usize, 0u64);
        while got < k {
            while let Some((f, next)) = frame(&input.buf[..input.end], input.start)? {
                match f.item {
                    Item::Int(n) if n >= 0 => receivers += n as u64,
                    _ => return Err(format!("unexpected PUBLISH reply: {}", frame_text(&f))),
                }
                input.start = next;
                got += 1;
                if got == k {
                    break;
                }
            }
            if got < k {
                match input.fill(&mut s).await {
                    Ok(0) => return Err("publisher closed by the server".into()),
                    Ok(_) => {}
                    Err(e) => return Err(format!("publish: {e}")),
                }
            }
        }
        st.published.fetch_add(k as u64, Relaxed);
        st.receivers.fetch_add(receivers, Relaxed);
    }
    Ok(())
}

/// CPU time of this process's threads, in seconds.
fn own_cpu() -> f64 {
    let mut ns = 0u64;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for t in dir.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                ns += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            }
        }
    }
    ns as f64 / 1e9
}

/// user + nice + system + steal time of all CPUs, in seconds (100 Hz
/// ticks; interrupt time left out, as per-process times leave it out).
fn machine_cpu() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<u64> = s
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map_while(|v| v.parse().ok())
        .collect();
    Some((f.first()? + f.get(1)? + f.get(2)? + f.get(7).unwrap_or(&0)) as f64 / 100.0)
}

/// utime + stime of a process (all threads), in seconds (100 Hz ticks).
fn process_cpu(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pubsub_bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Res<()> {
    let a = parse_args()?;
    let subs: Vec<Arc<SubStats>> = (0..a.subscribers).map(|_| Arc::default()).collect();
    let closed = Arc::new(AtomicU64::new(0));
    for (i, st) in subs.iter().enumerate() {
        let (s, input) = subscribe(&a)
            .await
            .map_err(|e| format!("subscriber {i}: {e}"))?;
        let (channel, st, closed) = (a.channel.clone().into_bytes(), st.clone(), closed.clone());
        let size = a.size;
        tokio::spawn(async move {
            if let Err(e) = subscriber(s, input, channel, size, st).await {
                eprintln!("pubsub_bench: subscriber {i}: {e}");
                closed.fetch_add(1, Relaxed);
            }
        });
    }
    let delivered = || subs.iter().map(|s| s.messages.load(Relaxed)).sum::<u64>();

    let payload = vec![b'x'; a.size];
    let one = command(&[b"PUBLISH", a.channel.as_bytes(), &payload]);
    let batch = Arc::new(one.repeat(a.pipeline));
    let stop = Arc::new(AtomicBool::new(false));
    let pstats = Arc::new(PubStats::default());
    let mut pubs = Vec::new();
    for i in 0..a.publishers {
        let s = connect(&a.host, a.port)
            .await
            .map_err(|e| format!("publisher {i}: {e}"))?;
        let (batch, stop, st, k) = (batch.clone(), stop.clone(), pstats.clone(), a.pipeline);
        pubs.push(tokio::spawn(async move {
            publisher(s, batch, k, stop, st).await
        }));
    }

    tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;
    let (t0, p0, d0) = (Instant::now(), pstats.published.load(Relaxed), delivered());
    let (c0, s0, m0) = (own_cpu(), a.server_pid.and_then(process_cpu), machine_cpu());
    tokio::time::sleep(Duration::from_secs_f64(a.seconds)).await;
    let (t1, p1, d1) = (Instant::now(), pstats.published.load(Relaxed), delivered());
    let (c1, s1, m1) = (own_cpu(), a.server_pid.and_then(process_cpu), machine_cpu());
    stop.store(true, Relaxed);
    let mut failed = Vec::new();
    for (i, p) in pubs.into_iter().enumerate() {
        match tokio::time::timeout(Duration::from_secs(10), p).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => failed.push(format!("publisher {i}: {e}")),
            Ok(Err(e)) => failed.push(format!("publisher {i}: {e}")),
            Err(_) => failed.push(format!("publisher {i}: no reply for 10 s")),
        }
    }
    let published = pstats.published.load(Relaxed);
    let expected = published * a.subscribers as u64;
    let stopped = Instant::now();
    let deadline = stopped + Duration::from_secs_f64(a.drain);
    while delivered() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain_ms = stopped.elapsed().as_millis();
    let got = delivered();
    let lost = expected.saturating_sub(got);
    let bad: u64 = subs.iter().map(|s| s.bad.load(Relaxed)).sum();
    let closed = closed.load(Relaxed);

    let secs = (t1 - t0).as_secs_f64();
    let pub_rate = (p1 - p0) as f64 / secs;
    let del_rate = (d1 - d0) as f64 / secs;
    let client_cpu = (c1 - c0) / secs;
    let server_cpu = match (s0, s1) {
        (Some(x), Some(y)) => format!("{:.2}", (y - x) / secs),
        _ => "na".into(),
    };
    // What everything else on the machine used meanwhile (other processes
    // competing for the pinned cores make the figures unreliable).
    let other_cpu = match (s0, s1, m0, m1) {
        (Some(x), Some(y), Some(m0), Some(m1)) => {
            format!("{:.2}", ((m1 - m0) - (y - x) - (c1 - c0)).max(0.0) / secs)
        }
        _ => "na".into(),
    };
    eprintln!(
        "{}:{} S={} N={} K={} size={}: {:.0} published/s, {:.0} delivered/s over {:.2} s; \
         published {published}, delivered {got} of {expected} (drain {drain_ms} ms); \
         client cpu {client_cpu:.2}, server cpu {server_cpu}, other cpu {other_cpu}",
        a.host, a.port, a.subscribers, a.publishers, a.pipeline, a.size, pub_rate, del_rate, secs
    );
    for f in &failed {
        eprintln!("pubsub_bench: {f}");
    }
    if lost > 0 {
        println!("LOST {lost}");
    }
    println!(
        "publish_per_sec={pub_rate:.0} delivered_per_sec={del_rate:.0} lost={lost} \
         published={published} expected={expected} delivered={got} \
         receivers_reported={} drain_ms={drain_ms} closed={closed} bad={bad} \
         client_cpu={client_cpu:.2} server_cpu={server_cpu} other_cpu={other_cpu} \
         publisher_errors={}",
        pstats.receivers.load(Relaxed),
        failed.len()
    );
    if !failed.is_empty() {
        return Err(format!("{} publisher(s) failed", failed.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_whole_or_not_at_all() {
        let msg = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nabc\r\n";
        for cut in 0..msg.len() {
            assert!(frame(&msg[..cut], 0).unwrap().is_none(), "cut at {cut}");
        }
        let (f, next) = frame(msg, 0).unwrap().unwrap();
        assert_eq!(next, msg.len());
        assert_eq!(f.item, Item::Aggregate(3));
        assert_eq!(
            f.head[..3],
            [
                Item::Bulk(b"message"),
                Item::Bulk(b"ch"),
                Item::Bulk(b"abc")
            ]
        );
        let (f, next) = frame(b":12\r\n+OK\r\n", 0).unwrap().unwrap();
        assert_eq!((f.item, next), (Item::Int(12), 5));
        assert!(frame(b"$3\r\nabcd\r\n", 0).is_err());
        assert!(frame(b"?x\r\n", 0).is_err());
    }
}
