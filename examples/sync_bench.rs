//! Write throughput with synchronous replication, for any Redis-compatible
//! primary with a replica (raw TCP, hand-written RESP2, one tokio thread so
//! it can be pinned to one core).
//!
//!   cargo run --release --example sync_bench -- --port 6379 \
//!       --clients 50 --pipeline 16 --seconds 5 --size 64 [--wait]
//!
//! C connections each send pipelined batches of K `SET key value` (random
//! keys out of 100,000) and read every reply before the next batch. With
//! `--wait` every SET is followed by `WAIT 1 0` in the same batch (Redis's
//! way to make a write synchronous); ringcache's `replica-sync-writes 1`
//! needs no extra command. After a 1 s warm-up the run is measured; one line
//! is printed: `sets_per_sec=.. errors=.. p99_batch_us=..` (errors: replies
//! starting with `-`, e.g. `-NOREPLICAS`; the batch latency is from its
//! write to its last reply).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    port: u16,
    clients: usize,
    pipeline: usize,
    seconds: f64,
    size: usize,
    wait: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        port: 6379,
        clients: 50,
        pipeline: 16,
        seconds: 5.0,
        size: 64,
        wait: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--wait" {
            a.wait = true;
            continue;
        }
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => a.port = value(&flag, &v)?,
            "--clients" => a.clients = value(&flag, &v)?,
            "--pipeline" => a.pipeline = value(&flag, &v)?,
            "--seconds" => a.seconds = value(&flag, &v)?,
            "--size" => a.size = value(&flag, &v)?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(a)
}

/// `v` parsed as the value of `flag`.
fn value<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("bad value for {flag}: {v}"))
}

/// Counters shared by the clients.
#[derive(Default)]
struct Totals {
    sets: AtomicU64,
    errors: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
}

async fn client(a: Arc<Args>, measuring: Arc<AtomicBool>, stop: Arc<AtomicBool>, t: Arc<Totals>) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", a.port)).await else {
        eprintln!("connect failed");
        return;
    };
    let _ = s.set_nodelay(true);
    let value = "x".repeat(a.size);
    let mut batch = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let replies_per_batch = a.pipeline * if a.wait { 2 } else { 1 };
    let mut lat = Vec::new();
    while !stop.load(Relaxed) {
        batch.clear();
        for _ in 0..a.pipeline {
            let key = format!("key:{:06}", fastrand::u32(..100_000));
            batch.extend_from_slice(
                format!(
                    "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                    key.len(),
                    value.len()
                )
                .as_bytes(),
            );
            if a.wait {
                batch.extend_from_slice(b"*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$1\r\n0\r\n");
            }
        }
        let started = Instant::now();
        if s.write_all(&batch).await.is_err() {
            return;
        }
        // Every reply is one line (+OK, :n, -ERR ...).
        let (mut lines, mut errors, mut at_line_start) = (0, 0, true);
        while lines < replies_per_batch {
            let n = match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            for &b in &buf[..n] {
                if at_line_start && b == b'-' {
                    errors += 1;
                }
                at_line_start = b == b'\n';
                if b == b'\n' {
                    lines += 1;
                }
            }
        }
        if measuring.load(Relaxed) {
            t.sets.fetch_add(a.pipeline as u64, Relaxed);
            t.errors.fetch_add(errors, Relaxed);
            lat.push(started.elapsed().as_micros() as u64);
        }
    }
    if let Ok(mut all) = t.latencies_us.lock() {
        all.extend(lat);
    }
}

fn main() -> Result<(), String> {
    let a = Arc::new(parse_args()?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let (measuring, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let totals = Arc::new(Totals::default());
        let tasks: Vec<_> = (0..a.clients)
            .map(|_| {
                tokio::spawn(client(
                    a.clone(),
                    measuring.clone(),
                    stop.clone(),
                    totals.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
        measuring.store(true, Relaxed);
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(a.seconds)).await;
        measuring.store(false, Relaxed);
        let secs = t0.elapsed().as_secs_f64();
        stop.store(true, Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        let mut lat = totals
            .latencies_us
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        lat.sort_unstable();
        let p99 = lat.get(lat.len() * 99 / 100).copied().unwrap_or(0);
        println!(
            "sets_per_sec={:.0} errors={} p99_batch_us={p99}",
            totals.sets.load(Relaxed) as f64 / secs,
            totals.errors.load(Relaxed)
        );
    });
    Ok(())
}
