//! `maxmemory` eviction against the real binary: every policy under a hard write
//! load of ten times the limit, with `used_memory` sampled from INFO throughout.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::TestNode;

const MAXMEMORY: u64 = 64 * 1024 * 1024;
/// `used_memory` may exceed `maxmemory` by at most this factor.
const SLACK: f64 = 1.05;
/// Large values keep the command count (and a debug build's runtime) down while
/// still writing ten times the limit.
const VALUE_LEN: usize = 32 * 1024;
/// Bytes written per policy.
const WRITE_BYTES: u64 = 10 * MAXMEMORY;
/// Commands per pipelined batch.
const BATCH: usize = 32;
/// TTL given to volatile keys: far beyond the test, so only eviction removes them.
const TTL_SECS: u64 = 3600;
const OOM: &str = "-OOM command not allowed when used memory > 'maxmemory'.";

fn start(policy: &str) -> TestNode {
    TestNode::start(&["--maxmemory", "64mb", "--maxmemory-policy", policy])
}

fn info(c: &mut redis::Connection, section: &str) -> String {
    redis::cmd("INFO").arg(section).query(c).expect("INFO")
}

/// A numeric `field:value` from an INFO section.
fn info_u64(c: &mut redis::Connection, section: &str, name: &str) -> u64 {
    let text = info(c, section);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no numeric {name}: {text}"))
}

/// Samples `used_memory` every 20 ms on its own connection until stopped.
struct MemWatch {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(u64, usize)>,
}

impl MemWatch {
    fn start(node: &TestNode) -> MemWatch {
        let mut c = node.conn();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let (mut peak, mut samples) = (0, 0);
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(info_u64(&mut c, "memory", "used_memory"));
                samples += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            (peak, samples)
        });
        MemWatch { stop, handle }
    }

    /// The highest `used_memory` seen, after checking enough samples were taken.
    fn peak(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let (peak, samples) = self.handle.join().expect("watcher thread");
        assert!(samples >= 5, "only {samples} used_memory samples");
        peak
    }
}

/// A raw pipelining writer: RESP commands out, one-line replies back.
struct Writer {
    out: TcpStream,
    replies: BufReader<TcpStream>,
    value: Vec<u8>,
}

/// One key to write and whether it gets a TTL.
struct Put {
    key: String,
    ttl: bool,
}

impl Writer {
    fn new(node: &TestNode, value_len: usize) -> Writer {
        let out = TcpStream::connect(("127.0.0.1", node.port)).expect("connect");
        out.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let replies = BufReader::new(out.try_clone().expect("clone socket"));
        Writer {
            out,
            replies,
            value: vec![b'v'; value_len],
        }
    }

    fn encode(&self, buf: &mut Vec<u8>, p: &Put) {
        let ttl = TTL_SECS.to_string();
        let mut args: Vec<&[u8]> = vec![b"SET", p.key.as_bytes(), &self.value];
        if p.ttl {
            args.extend([&b"EX"[..], ttl.as_bytes()]);
        }
        buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
    }

    fn read_replies(&mut self, n: usize, into: &mut Vec<String>) {
        for _ in 0..n {
            let mut line = String::new();
            self.replies.read_line(&mut line).expect("reply");
            assert!(!line.is_empty(), "server closed the connection");
            into.push(line.trim_end().to_string());
        }
    }

    /// SETs every key, `BATCH` per write with one batch in flight; returns the
    /// reply line of each, in order.
    fn put_all(&mut self, puts: impl Iterator<Item = Put>) -> Vec<String> {
        let mut replies = Vec::new();
        let mut in_flight = 0;
        let mut buf = Vec::with_capacity(BATCH * (self.value.len() + 64));
        let mut puts = puts.peekable();
        while puts.peek().is_some() {
            buf.clear();
            let mut n = 0;
            for p in puts.by_ref().take(BATCH) {
                self.encode(&mut buf, &p);
                n += 1;
            }
            self.out.write_all(&buf).expect("write");
            self.read_replies(in_flight, &mut replies);
            in_flight = n;
        }
        self.read_replies(in_flight, &mut replies);
        replies
    }
}

fn key_count(bytes: u64, value_len: usize) -> usize {
    (bytes / value_len as u64) as usize
}

/// How many of `keys` exist, asked 100 at a time.
fn existing(c: &mut redis::Connection, keys: &[String]) -> usize {
    keys.chunks(100)
        .map(|chunk| {
            let n: usize = redis::cmd("EXISTS").arg(chunk).query(c).expect("EXISTS");
            n
        })
        .sum()
}

fn assert_within_limit(policy: &str, peak: u64, c: &mut redis::Connection) {
    let after = info_u64(c, "memory", "used_memory");
    let limit = (MAXMEMORY as f64 * SLACK) as u64;
    eprintln!(
        "{policy}: used_memory peak {peak} ({:.2}% of maxmemory), after {after}",
        peak as f64 * 100.0 / MAXMEMORY as f64
    );
    assert!(peak <= limit, "{policy}: peak used_memory {peak} > {limit}");
    assert!(after <= limit, "{policy}: used_memory {after} > {limit}");
}

/// Writers per allkeys test: several connections so evictions race with writes
/// on every server thread.
const WRITERS: usize = 4;

/// Writes ten times `maxmemory` of plain keys from `WRITERS` connections at once
/// under an allkeys policy: no error, memory held under the limit, keys evicted.
fn allkeys_policy_holds_the_limit(policy: &str) {
    let started = Instant::now();
    let node = start(policy);
    let mut c = node.conn();
    let watch = MemWatch::start(&node);
    let n = key_count(WRITE_BYTES, VALUE_LEN);
    let per_writer = n / WRITERS;
    let replies: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|t| {
                let mut w = Writer::new(&node, VALUE_LEN);
                s.spawn(move || {
                    w.put_all((t * per_writer..(t + 1) * per_writer).map(|i| Put {
                        key: format!("key:{i}"),
                        ttl: false,
                    }))
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("writer thread"))
            .collect()
    });
    let peak = watch.peak();
    assert_eq!(replies.len(), per_writer * WRITERS);
    let errors: Vec<&String> = replies.iter().filter(|r| *r != "+OK").collect();
    assert!(
        errors.is_empty(),
        "{policy}: {} errors, first {:?}",
        errors.len(),
        errors[0]
    );
    assert_within_limit(policy, peak, &mut c);
    // Every command (INFO and DBSIZE too) may evict first while memory is over
    // the limit, as in Redis; read the pair until no eviction ran in between.
    let (mut evicted, mut dbsize) = (0, 0);
    for _ in 0..50 {
        let before = info_u64(&mut c, "stats", "evicted_keys");
        dbsize = redis::cmd("DBSIZE").query(&mut c).expect("DBSIZE");
        evicted = info_u64(&mut c, "stats", "evicted_keys");
        if before == evicted {
            break;
        }
    }
    assert!(evicted > 0, "{policy}: nothing evicted");
    assert_eq!(
        evicted + dbsize,
        replies.len() as u64,
        "{policy}: every key is stored or evicted"
    );
    eprintln!(
        "{policy}: {} keys written, {evicted} evicted, {:?}",
        replies.len(),
        started.elapsed()
    );
}

/// Writes ten times `maxmemory` with one key in 20 persistent (half the limit in
/// all): only volatile keys may go. Then persistent keys alone until OOM, which
/// must come once no volatile key is left.
fn volatile_policy_spares_persistent_keys(policy: &str) {
    let started = Instant::now();
    let node = start(policy);
    let mut c = node.conn();
    let watch = MemWatch::start(&node);
    let mut w = Writer::new(&node, VALUE_LEN);
    let n = key_count(WRITE_BYTES, VALUE_LEN);
    let persistent = |i: usize| i.is_multiple_of(20);
    let replies = w.put_all((0..n).map(|i| Put {
        key: format!("key:{i}"),
        ttl: !persistent(i),
    }));
    let errors: Vec<&String> = replies.iter().filter(|r| *r != "+OK").collect();
    assert!(
        errors.is_empty(),
        "{policy}: {} errors, first {:?}",
        errors.len(),
        errors[0]
    );
    let mut kept: Vec<String> = (0..n)
        .filter(|&i| persistent(i))
        .map(|i| format!("key:{i}"))
        .collect();
    assert_eq!(
        existing(&mut c, &kept),
        kept.len(),
        "{policy}: a persistent key was evicted"
    );
    assert!(
        info_u64(&mut c, "stats", "evicted_keys") > 0,
        "{policy}: nothing evicted"
    );

    // Persistent keys only, until the volatile ones are all gone and OOM comes.
    let more = key_count(2 * MAXMEMORY, VALUE_LEN);
    let replies = w.put_all((0..more).map(|i| Put {
        key: format!("persist:{i}"),
        ttl: false,
    }));
    let first_oom = replies.iter().position(|r| r == OOM);
    let first_oom =
        first_oom.unwrap_or_else(|| panic!("{policy}: no OOM after {more} persistent keys"));
    assert!(
        replies[..first_oom].iter().all(|r| r == "+OK"),
        "{policy}: unexpected reply before OOM"
    );
    let peak = watch.peak();
    assert_within_limit(policy, peak, &mut c);
    kept.extend(
        replies
            .iter()
            .enumerate()
            .filter(|(_, r)| *r == "+OK")
            .map(|(i, _)| format!("persist:{i}")),
    );
    assert_eq!(
        existing(&mut c, &kept),
        kept.len(),
        "{policy}: a persistent key was evicted"
    );
    let keyspace = info(&mut c, "keyspace");
    assert!(
        keyspace.contains(&format!("db0:keys={},expires=0,", kept.len())),
        "{policy}: volatile keys left at OOM: {keyspace}"
    );
    eprintln!(
        "{policy}: {n}+{more} keys written, OOM at {first_oom}, {:?}",
        started.elapsed()
    );
}

#[test]
fn allkeys_lru_holds_the_limit() {
    allkeys_policy_holds_the_limit("allkeys-lru");
}

#[test]
fn allkeys_lfu_holds_the_limit() {
    allkeys_policy_holds_the_limit("allkeys-lfu");
}

#[test]
fn allkeys_random_holds_the_limit() {
    allkeys_policy_holds_the_limit("allkeys-random");
}

#[test]
fn allkeys_fifo_holds_the_limit() {
    allkeys_policy_holds_the_limit("allkeys-fifo");
}

#[test]
fn volatile_lru_spares_persistent_keys() {
    volatile_policy_spares_persistent_keys("volatile-lru");
}

#[test]
fn volatile_lfu_spares_persistent_keys() {
    volatile_policy_spares_persistent_keys("volatile-lfu");
}

#[test]
fn volatile_random_spares_persistent_keys() {
    volatile_policy_spares_persistent_keys("volatile-random");
}

#[test]
fn volatile_ttl_spares_persistent_keys() {
    volatile_policy_spares_persistent_keys("volatile-ttl");
}

#[test]
fn noeviction_refuses_writes_once_full() {
    let started = Instant::now();
    let node = start("noeviction");
    let mut c = node.conn();
    let watch = MemWatch::start(&node);
    let mut w = Writer::new(&node, VALUE_LEN);
    let n = key_count(WRITE_BYTES, VALUE_LEN);
    let replies = w.put_all((0..n).map(|i| Put {
        key: format!("key:{i}"),
        ttl: false,
    }));
    let peak = watch.peak();
    let first_oom = replies
        .iter()
        .position(|r| r == OOM)
        .expect("OOM once full");
    assert!(replies[..first_oom].iter().all(|r| r == "+OK"));
    // Once full, writes stay refused but for the odd one that fits when a
    // connection buffer is freed.
    let after = &replies[first_oom..];
    let ok_after = after.iter().filter(|r| *r == "+OK").count();
    assert!(
        ok_after * 10 <= after.len(),
        "{ok_after} of {} writes accepted after the first OOM",
        after.len()
    );
    assert!(after.iter().all(|r| r == "+OK" || r == OOM));
    assert_within_limit("noeviction", peak, &mut c);
    assert_eq!(info_u64(&mut c, "stats", "evicted_keys"), 0);
    let stored: Vec<String> = replies
        .iter()
        .enumerate()
        .filter(|(_, r)| *r == "+OK")
        .map(|(i, _)| format!("key:{i}"))
        .collect();
    // Filled to the limit, not far short of it.
    assert!(stored.len() as u64 * VALUE_LEN as u64 > MAXMEMORY * 8 / 10);
    assert_eq!(existing(&mut c, &stored), stored.len());
    // Reads and deletes are still served, as in Redis.
    let v: Vec<u8> = redis::cmd("GET")
        .arg(&stored[0])
        .query(&mut c)
        .expect("GET");
    assert_eq!(v.len(), VALUE_LEN);
    let err = redis::cmd("SET")
        .arg("one-more")
        .arg("x")
        .query::<()>(&mut c)
        .expect_err("SET when full");
    assert!(err.to_string().contains("OOM"), "{err}");
    let deleted: usize = redis::cmd("DEL")
        .arg(&stored[..100])
        .query(&mut c)
        .expect("DEL");
    assert_eq!(deleted, 100);
    let ok: String = redis::cmd("SET")
        .arg("one-more")
        .arg("x")
        .query(&mut c)
        .expect("SET after DEL made room");
    assert_eq!(ok, "OK");
    eprintln!(
        "noeviction: OOM at {first_oom} of {n}, {:?}",
        started.elapsed()
    );
}

/// Ranks drawn from a Zipf(1) distribution over `0..n` (rank 0 the hottest).
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|r| {
                acc += 1.0 / r as f64;
                acc
            })
            .collect();
        for x in &mut cdf {
            *x /= acc;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut u64) -> usize {
        // xorshift64: the test needs no crate for a reproducible skew.
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let u = (*rng >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

const HOT_KEYS: usize = 1000;
const HOT_VALUE_LEN: usize = 256;
/// Zipf-distributed reads of the hot set after each batch of cold writes.
const READS_PER_ROUND: usize = 2000;

/// Writes a hot set, then five times `maxmemory` of cold keys while reading the
/// hot set with a Zipf skew; returns the share of hot keys and of cold keys left.
fn hot_set_survival(policy: &str) -> (f64, f64) {
    let started = Instant::now();
    let node = start(policy);
    let mut c = node.conn();
    let watch = MemWatch::start(&node);
    let hot: Vec<String> = (0..HOT_KEYS).map(|i| format!("hot:{i}")).collect();
    let mut hw = Writer::new(&node, HOT_VALUE_LEN);
    let replies = hw.put_all(hot.iter().map(|k| Put {
        key: k.clone(),
        ttl: false,
    }));
    assert!(replies.iter().all(|r| r == "+OK"));
    let zipf = Zipf::new(HOT_KEYS);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut w = Writer::new(&node, VALUE_LEN);
    let cold = key_count(5 * MAXMEMORY, VALUE_LEN);
    for round in 0..cold / BATCH {
        let replies = w.put_all((round * BATCH..(round + 1) * BATCH).map(|i| Put {
            key: format!("cold:{i}"),
            ttl: false,
        }));
        assert!(replies.iter().all(|r| r == "+OK"), "{policy}: {replies:?}");
        let reads: Vec<&String> = (0..READS_PER_ROUND)
            .map(|_| &hot[zipf.sample(&mut rng)])
            .collect();
        let _: Vec<Option<Vec<u8>>> = redis::cmd("MGET").arg(reads).query(&mut c).expect("MGET");
    }
    let peak = watch.peak();
    assert_within_limit(policy, peak, &mut c);
    let cold_keys: Vec<String> = (0..cold / BATCH * BATCH)
        .map(|i| format!("cold:{i}"))
        .collect();
    let hot_left = existing(&mut c, &hot) as f64 / hot.len() as f64;
    let cold_left = existing(&mut c, &cold_keys) as f64 / cold_keys.len() as f64;
    eprintln!(
        "{policy}: hot keys left {:.1}%, cold keys left {:.1}%, {:?}",
        hot_left * 100.0,
        cold_left * 100.0,
        started.elapsed()
    );
    (hot_left, cold_left)
}

#[test]
fn allkeys_lru_keeps_a_zipf_read_hot_set() {
    let (hot, cold) = hot_set_survival("allkeys-lru");
    assert!(
        hot >= 0.9,
        "only {:.1}% of the hot set survived",
        hot * 100.0
    );
    assert!(
        cold <= 0.3,
        "{:.1}% of the cold keys survived",
        cold * 100.0
    );
}

#[test]
fn allkeys_lfu_keeps_a_zipf_read_hot_set() {
    let (hot, cold) = hot_set_survival("allkeys-lfu");
    assert!(
        hot >= 0.9,
        "only {:.1}% of the hot set survived",
        hot * 100.0
    );
    assert!(
        cold <= 0.3,
        "{:.1}% of the cold keys survived",
        cold * 100.0
    );
}

#[test]
fn allkeys_tinylfu_holds_the_limit() {
    allkeys_policy_holds_the_limit("allkeys-tinylfu");
}

#[test]
fn volatile_tinylfu_spares_persistent_keys() {
    volatile_policy_spares_persistent_keys("volatile-tinylfu");
}

/// Read-through (GET, on a miss SET) of `keys`, 100 per pipeline; returns hits.
fn read_through(c: &mut redis::Connection, keys: &[String], value: &[u8]) -> usize {
    let mut hits = 0;
    for chunk in keys.chunks(100) {
        let mut get = redis::pipe();
        for k in chunk {
            get.cmd("GET").arg(k);
        }
        let found: Vec<Option<Vec<u8>>> = get.query(c).expect("GET");
        let mut set = redis::pipe();
        for (k, f) in chunk.iter().zip(&found) {
            if f.is_some() {
                hits += 1;
            } else {
                set.cmd("SET").arg(k).arg(value).ignore();
            }
        }
        if found.iter().any(Option::is_none) {
            let () = set.query(c).expect("SET");
        }
    }
    hits
}

/// A hot set of 40 % of the cache read round after round, each round with
/// twice as many never-seen keys (a one-pass scan) read through between;
/// returns the hot set's hit ratio over the last three of six rounds.
fn hot_hit_ratio_under_scan(policy: &str) -> f64 {
    const VALUE: usize = 4096;
    let node = start(policy);
    let mut c = node.conn();
    let value = vec![b'v'; VALUE];
    let hot_n = key_count(MAXMEMORY * 2 / 5, VALUE);
    let hot: Vec<String> = (0..hot_n).map(|i| format!("hot:{i}")).collect();
    let (mut hits, mut reads, mut scanned) = (0, 0, 0);
    for round in 0..6 {
        for part in hot.chunks(100) {
            let scan: Vec<String> = (scanned..scanned + 2 * part.len())
                .map(|i| format!("scan:{i}"))
                .collect();
            scanned += scan.len();
            read_through(&mut c, &scan, &value);
            let h = read_through(&mut c, part, &value);
            if round >= 3 {
                hits += h;
                reads += part.len();
            }
        }
    }
    let ratio = hits as f64 / reads as f64;
    eprintln!(
        "{policy}: hot hit ratio {ratio:.3}, {} evicted",
        info_u64(&mut c, "stats", "evicted_keys")
    );
    ratio
}

#[test]
fn tinylfu_keeps_a_hot_set_through_a_scan_that_lru_lets_in() {
    let lru = hot_hit_ratio_under_scan("allkeys-lru");
    let tinylfu = hot_hit_ratio_under_scan("allkeys-tinylfu");
    assert!(
        tinylfu >= 0.9 && tinylfu >= lru + 0.3,
        "hot-set hit ratio: allkeys-tinylfu {tinylfu:.3}, allkeys-lru {lru:.3}"
    );
}

#[test]
fn tinylfu_is_configurable_and_reported() {
    let node = TestNode::start(&["--maxmemory", "64mb"]);
    let mut c = node.conn();
    for policy in ["allkeys-tinylfu", "volatile-tinylfu", "allkeys-lru"] {
        let () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory-policy")
            .arg(policy)
            .query(&mut c)
            .expect("CONFIG SET");
        let got: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query(&mut c)
            .expect("CONFIG GET");
        assert_eq!(got, ["maxmemory-policy", policy]);
        let stats = info(&mut c, "stats");
        assert_eq!(
            stats.contains("tinylfu_rejected:"),
            policy.contains("tinylfu"),
            "{policy}: {stats}"
        );
    }
    // Started from a file, and OBJECT FREQ reads the sketch (0 before any
    // eviction built it).
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("ringcache.toml");
    std::fs::write(
        &file,
        "maxmemory = \"64mb\"\nmaxmemory-policy = \"allkeys-tinylfu\"\n",
    )
    .expect("write config");
    let node = TestNode::start(&["--config", file.to_str().expect("utf-8 path")]);
    let mut c = node.conn();
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy")
        .query(&mut c)
        .expect("CONFIG GET");
    assert_eq!(got, ["maxmemory-policy", "allkeys-tinylfu"]);
    let () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut c)
        .expect("SET");
    let freq: i64 = redis::cmd("OBJECT")
        .arg("FREQ")
        .arg("k")
        .query(&mut c)
        .expect("OBJECT FREQ");
    assert_eq!(freq, 0);
}
