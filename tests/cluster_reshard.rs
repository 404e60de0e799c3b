//! Resharding under load loses nothing: while cluster-aware clients write and
//! read 100,000 keys, `redis-cli --cluster reshard` moves 4,000 slots; every
//! acknowledged write is readable afterwards and the clients saw no error
//! (redirections are followed inside the client).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{redis_cli, TestCluster, TestNode};
use redis::Commands;

const KEYS: usize = 100_000;
const WRITERS: usize = 2;

fn client(c: &TestCluster) -> redis::cluster::ClusterClient {
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
    redis::cluster::ClusterClientBuilder::new(urls)
        .retries(30)
        .build()
        .expect("cluster client")
}

fn key(i: usize) -> String {
    format!("load:{i}")
}

fn slots_of(n: &TestNode, id: &str) -> usize {
    let nodes = n.text(&["CLUSTER", "NODES"]);
    let line = nodes
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_default();
    line.split(' ')
        .skip(8)
        .filter(|t| !t.starts_with('['))
        .map(|t| match t.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap_or(0) - a.parse::<usize>().unwrap_or(0) + 1,
            None => 1,
        })
        .sum()
}

fn error_count(n: &TestNode, kind: &str) -> u64 {
    let info = n.text(&["INFO", "errorstats"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("errorstat_{kind}:count=")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn resharding_4000_slots_under_load_loses_nothing() {
    let c = TestCluster::start(3, 0);
    let cc = client(&c);
    // Load every key first, through the cluster client's pipelines.
    let mut conn = cc.get_connection().expect("cluster connection");
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(2000) {
        let mut p = redis::cluster::cluster_pipe();
        for &i in chunk {
            p.set(key(i), format!("0-{i}")).ignore();
        }
        let _: () = p.query(&mut conn).expect("initial load");
    }
    let from = c.nodes[0].text(&["CLUSTER", "MYID"]);
    let to = c.nodes[1].text(&["CLUSTER", "MYID"]);
    let to_before = slots_of(&c.nodes[0], &to);

    let done = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let cc = cc.clone();
        let done = done.clone();
        let (writes, reads) = (writes.clone(), reads.clone());
        handles.push(std::thread::spawn(move || {
            let mut conn = cc.get_connection().expect("cluster connection");
            // This writer owns keys i with i % WRITERS == w: it knows their last
            // acknowledged value.
            let mine: Vec<usize> = (w..KEYS).step_by(WRITERS).collect();
            let mut last: Vec<String> = mine.iter().map(|i| format!("0-{i}")).collect();
            let mut errors: Vec<String> = Vec::new();
            let mut round = 0usize;
            let mut j = 0usize;
            let mut rng = fastrand::Rng::with_seed(w as u64);
            while !done.load(Ordering::Relaxed) && errors.len() < 10 {
                let idx = j % mine.len();
                if idx == 0 {
                    round += 1;
                }
                let value = format!("{round}-{}", mine[idx]);
                match conn.set::<_, _, ()>(key(mine[idx]), &value) {
                    Ok(()) => {
                        last[idx] = value;
                        writes.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => errors.push(format!("SET {}: {e}", key(mine[idx]))),
                }
                // Read back a random key of ours: it must hold the last acked value.
                let r = rng.usize(..mine.len());
                match conn.get::<_, Option<String>>(key(mine[r])) {
                    Ok(Some(v)) if v == last[r] => {
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(other) => errors.push(format!(
                        "GET {} = {other:?}, last acknowledged {}",
                        key(mine[r]),
                        last[r]
                    )),
                    Err(e) => errors.push(format!("GET {}: {e}", key(mine[r]))),
                }
                j += 1;
            }
            (mine, last, errors)
        }));
    }
    let started = Instant::now();
    let slots = "4000";
    let (ok, out) = redis_cli(
        &[
            "--cluster",
            "reshard",
            &c.nodes[0].addr(),
            "--cluster-from",
            &from,
            "--cluster-to",
            &to,
            "--cluster-slots",
            slots,
            "--cluster-yes",
        ],
        None,
    );
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("writer"))
        .collect();
    assert!(
        ok,
        "reshard failed:\n{}",
        &out[out.len().saturating_sub(3000)..]
    );
    for (_, _, errors) in &results {
        assert!(errors.is_empty(), "the client saw errors: {errors:#?}");
    }
    c.wait_converged(Duration::from_secs(30));
    assert_eq!(slots_of(&c.nodes[0], &to), to_before + 4000);
    let (ok, check) = redis_cli(&["--cluster", "check", &c.nodes[2].addr()], None);
    assert!(
        ok && check.contains("[OK] All 16384 slots covered."),
        "{check}"
    );
    assert!(
        !check.contains("[WARNING]") && !check.contains("[ERR]"),
        "{check}"
    );
    // Every acknowledged write is there, with its last acknowledged value.
    let mut conn = cc.get_connection().expect("cluster connection");
    let mut lost = Vec::new();
    for (mine, last, _) in &results {
        for chunk in (0..mine.len()).collect::<Vec<_>>().chunks(2000) {
            let mut p = redis::cluster::cluster_pipe();
            for &i in chunk {
                p.get(key(mine[i]));
            }
            let got: Vec<Option<String>> = p.query(&mut conn).expect("final read");
            for (&i, v) in chunk.iter().zip(got) {
                if v.as_deref() != Some(last[i].as_str()) {
                    lost.push((key(mine[i]), last[i].clone(), v));
                }
            }
        }
    }
    assert!(
        lost.is_empty(),
        "{} writes lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    let total: i64 = c
        .nodes
        .iter()
        .map(|n| match n.query(&["DBSIZE"]) {
            Ok(redis::Value::Int(k)) => k,
            other => panic!("DBSIZE: {other:?}"),
        })
        .sum();
    assert_eq!(
        total, KEYS as i64,
        "every key exactly once across the primaries"
    );
    let redirects: u64 = c
        .nodes
        .iter()
        .map(|n| error_count(n, "MOVED") + error_count(n, "ASK"))
        .sum();
    eprintln!(
        "reshard of {slots} slots took {took:?}; {} writes and {} verified reads meanwhile; {redirects} MOVED/ASK replies followed",
        writes.load(Ordering::Relaxed),
        reads.load(Ordering::Relaxed)
    );
    assert!(
        writes.load(Ordering::Relaxed) > 0 && redirects > 0,
        "the load ran during the move"
    );
}
