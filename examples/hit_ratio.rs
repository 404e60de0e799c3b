//! Read-through hit ratio of a cache server, for any Redis-compatible server
//! (raw TCP, hand-written RESP2, one connection): each request is `GET key`
//! and, on a miss, `SET key value`. Driven by `scripts/hit-ratio.sh`.
//!
//!   cargo run --release --example hit_ratio -- --port 6379 --workload zipf-0.99 \
//!       [--keys 500000] [--value 512] [--warmup 2000000] [--requests 4000000] \
//!       [--seed 42] [--batch 64]
//!
//! Workloads: `zipf-S` (Zipf with exponent S over `--keys` keys, ranks
//! mapped to key names by a seeded permutation so the hot keys are spread
//! over the slots), `scan` (each request is, with probability 1/2, the next
//! key of a one-pass scan of keys never asked for before, else Zipf 0.99).
//! The same seed gives the same request stream on every server.
//!
//! Requests are pipelined in batches of up to `--batch` distinct keys (a
//! batch ends early at a key it already holds, so no GET is answered before
//! the SET of an earlier miss of the same key); a batch's SETs go out ahead of
//! the next batch's GETs. After `--warmup` requests the counts restart and
//! `--requests` more are measured. One line is printed:
//! `hits=.. requests=.. ratio=.. zipf_hits=.. zipf_requests=.. zipf_ratio=..
//! keys=.. used_memory=.. set_errors=..` (the `zipf_` counts leave out the
//! scan's requests, which never hit; `keys` and `used_memory` are read at the
//! end).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

struct Args {
    port: u16,
    workload: String,
    keys: usize,
    value: usize,
    warmup: u64,
    requests: u64,
    seed: u64,
    batch: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        port: 6379,
        workload: "zipf-0.99".into(),
        keys: 500_000,
        value: 512,
        warmup: 2_000_000,
        requests: 4_000_000,
        seed: 42,
        batch: 64,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--port" => a.port = num(&v)? as u16,
            "--workload" => a.workload = v,
            "--keys" => a.keys = num(&v)? as usize,
            "--value" => a.value = num(&v)? as usize,
            "--warmup" => a.warmup = num(&v)?,
            "--requests" => a.requests = num(&v)?,
            "--seed" => a.seed = num(&v)?,
            "--batch" => a.batch = num(&v)?.max(1) as usize,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

/// splitmix64: a seeded, reproducible stream with no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf ranks by inverse CDF over a table.
struct Zipf {
    cdf: Vec<f64>,
    /// Rank → key number.
    names: Vec<u32>,
}

impl Zipf {
    fn new(n: usize, s: f64, rng: &mut Rng) -> Zipf {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|r| {
                acc += 1.0 / (r as f64).powf(s);
                acc
            })
            .collect();
        for x in &mut cdf {
            *x /= acc;
        }
        let mut names: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            names.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        Zipf { cdf, names }
    }

    fn key(&self, rng: &mut Rng) -> u32 {
        let u = rng.unit();
        let r = self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1);
        self.names[r]
    }
}

/// The request stream: (key name, from the Zipf part).
struct Workload {
    zipf: Zipf,
    scan: bool,
    scanned: u64,
    rng: Rng,
}

impl Workload {
    fn new(a: &Args) -> Result<Workload, String> {
        let mut rng = Rng(a.seed);
        let (s, scan) = match a.workload.as_str() {
            "scan" => (0.99, true),
            w => match w.strip_prefix("zipf-").map(str::parse::<f64>) {
                Some(Ok(s)) => (s, false),
                _ => return Err(format!("unknown workload {w}")),
            },
        };
        let zipf = Zipf::new(a.keys, s, &mut rng);
        Ok(Workload {
            zipf,
            scan,
            scanned: 0,
            rng,
        })
    }

    fn next(&mut self) -> (String, bool) {
        if self.scan && self.rng.next() & 1 == 0 {
            self.scanned += 1;
            return (format!("scan:{}", self.scanned), false);
        }
        (format!("key:{}", self.zipf.key(&mut self.rng)), true)
    }
}

fn command(buf: &mut Vec<u8>, args: &[&[u8]]) {
    buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

/// One RESP2 reply: `Some(bytes)` for a bulk string or a status, `None` for
/// a nil; an error reply is `Err`.
fn reply(r: &mut BufReader<TcpStream>) -> Result<Option<Vec<u8>>, String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).map_err(|e| e.to_string())?;
    let head = String::from_utf8_lossy(&line).trim_end().to_string();
    match head.as_bytes().first() {
        Some(b'+') | Some(b':') => Ok(Some(head.as_bytes()[1..].to_vec())),
        Some(b'-') => Err(head),
        Some(b'$') => {
            let n: i64 = head[1..].parse().map_err(|_| format!("bad reply {head}"))?;
            if n < 0 {
                return Ok(None);
            }
            let mut body = vec![0; n as usize + 2];
            r.read_exact(&mut body).map_err(|e| e.to_string())?;
            body.truncate(n as usize);
            Ok(Some(body))
        }
        _ => Err(format!("unexpected reply {head:?}")),
    }
}

#[derive(Default)]
struct Counts {
    hits: u64,
    requests: u64,
    zipf_hits: u64,
    zipf_requests: u64,
    set_errors: u64,
}

struct Driver {
    out: TcpStream,
    replies: BufReader<TcpStream>,
    value: Vec<u8>,
    /// Keys that missed in the last batch, to SET ahead of the next.
    misses: Vec<String>,
    counts: Counts,
}

impl Driver {
    /// Sends the pending SETs and `batch`'s GETs, reads every reply.
    fn round(&mut self, batch: &[(String, bool)]) -> Result<(), String> {
        let mut buf = Vec::new();
        for k in &self.misses {
            command(&mut buf, &[b"SET", k.as_bytes(), &self.value]);
        }
        for (k, _) in batch {
            command(&mut buf, &[b"GET", k.as_bytes()]);
        }
        self.out.write_all(&buf).map_err(|e| e.to_string())?;
        for _ in 0..self.misses.len() {
            if reply(&mut self.replies).is_err() {
                self.counts.set_errors += 1;
            }
        }
        self.misses.clear();
        for (k, zipf) in batch {
            let hit = reply(&mut self.replies)?.is_some();
            let c = &mut self.counts;
            c.requests += 1;
            c.hits += hit as u64;
            if *zipf {
                c.zipf_requests += 1;
                c.zipf_hits += hit as u64;
            }
            if !hit {
                self.misses.push(k.clone());
            }
        }
        Ok(())
    }

    /// Runs `n` requests of `w`.
    fn run(&mut self, w: &mut Workload, n: u64, max_batch: usize) -> Result<(), String> {
        let mut batch: Vec<(String, bool)> = Vec::with_capacity(max_batch);
        let mut in_batch: HashSet<String> = HashSet::new();
        for _ in 0..n {
            let (key, zipf) = w.next();
            if batch.len() == max_batch || in_batch.contains(&key) {
                self.round(&batch)?;
                batch.clear();
                in_batch.clear();
            }
            in_batch.insert(key.clone());
            batch.push((key, zipf));
        }
        self.round(&batch)?;
        self.round(&[])
    }

    /// A numeric `field:value` of INFO.
    fn info(&mut self, field: &str) -> Result<u64, String> {
        let mut buf = Vec::new();
        command(&mut buf, &[b"INFO"]);
        self.out.write_all(&buf).map_err(|e| e.to_string())?;
        let text = reply(&mut self.replies)?.unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().parse().ok())
            .ok_or(format!("INFO has no {field}"))
    }

    fn dbsize(&mut self) -> Result<u64, String> {
        let mut buf = Vec::new();
        command(&mut buf, &[b"DBSIZE"]);
        self.out.write_all(&buf).map_err(|e| e.to_string())?;
        let n = reply(&mut self.replies)?.unwrap_or_default();
        String::from_utf8_lossy(&n)
            .parse()
            .map_err(|_| "bad DBSIZE".to_string())
    }
}

fn main() -> Result<(), String> {
    let a = parse_args()?;
    let mut w = Workload::new(&a)?;
    let out = TcpStream::connect(("127.0.0.1", a.port)).map_err(|e| e.to_string())?;
    out.set_nodelay(true).map_err(|e| e.to_string())?;
    let replies = BufReader::new(out.try_clone().map_err(|e| e.to_string())?);
    let mut d = Driver {
        out,
        replies,
        value: vec![b'v'; a.value],
        misses: Vec::new(),
        counts: Counts::default(),
    };
    d.run(&mut w, a.warmup, a.batch)?;
    d.counts = Counts::default();
    d.run(&mut w, a.requests, a.batch)?;
    let ratio = |h: u64, n: u64| h as f64 / n.max(1) as f64;
    let (keys, used) = (d.dbsize()?, d.info("used_memory")?);
    let c = &d.counts;
    println!(
        "hits={} requests={} ratio={:.4} zipf_hits={} zipf_requests={} zipf_ratio={:.4} keys={keys} used_memory={used} set_errors={}",
        c.hits,
        c.requests,
        ratio(c.hits, c.requests),
        c.zipf_hits,
        c.zipf_requests,
        ratio(c.zipf_hits, c.zipf_requests),
        c.set_errors
    );
    Ok(())
}
