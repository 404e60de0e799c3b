//! SORT and SORT_RO through redis-rs against the real binary, redis-server
//! 7.0.15 answering the same commands as the reference.

mod common;

use common::{reply_text as reply, RedisServer, TestNode};

const SCRIPT: &[&str] = &[
    "RPUSH l 3 1 2 10 -5 1.5",
    "SORT l",
    "SORT l DESC",
    "SORT l ALPHA",
    "SORT l LIMIT 1 2",
    "SORT l LIMIT 1 2 DESC",
    "SORT l LIMIT -1 2",
    "SORT l LIMIT 10 2",
    "SORT l BY nosort",
    "SORT l BY nosort DESC LIMIT 1 3",
    "MSET w_3 30 w_1 10 w_2 20 w_10 5",
    "SORT l BY w_*",
    "SORT l BY w_* GET w_* GET #",
    "HSET h_1 f a",
    "HSET h_2 f b",
    "SORT l BY w_* GET h_*->f",
    "SORT l BY h_*->f ALPHA GET #",
    "SORT l STORE dst",
    "LRANGE dst 0 -1",
    "TTL dst",
    "SORT l BY w_* GET w_* STORE dst",
    "LRANGE dst 0 -1",
    "SORT nokey STORE dst",
    "EXISTS dst",
    "SADD s 5 3 9 1",
    "SORT s",
    "SORT s DESC LIMIT 0 2",
    "SORT s BY nosort STORE sdst",
    "LRANGE sdst 0 -1",
    "ZADD z 1 c 2 b 3 a",
    "SORT z ALPHA",
    "SORT z BY nosort",
    "SORT z BY nosort DESC LIMIT 1 1",
    "RPUSH bad a b c",
    "SORT bad",
    "SORT bad ALPHA",
    "SET str x",
    "SORT str",
    "SORT l LIMIT a b",
    "SORT l STORE",
    "SORT_RO l STORE x",
    "SORT_RO l DESC",
];

#[test]
fn sort_answers_as_redis_does() {
    let node = TestNode::start(&[]);
    let redis = RedisServer::start(&[]);
    let (mut ours, mut theirs) = (node.conn(), redis.conn());
    for line in SCRIPT {
        let args: Vec<&str> = line.split(' ').collect();
        assert_eq!(reply(&mut ours, &args), reply(&mut theirs, &args), "{line}");
    }
}

#[test]
fn sort_store_is_atomic_against_concurrent_writers_of_its_weights() {
    // SORT … BY reads every weight key under one lock set: a writer that
    // swaps two weights between the sort's reads can never be seen half done.
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let _: () = redis::cmd("RPUSH")
        .arg("l")
        .arg("a")
        .arg("b")
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("MSET")
        .arg("w_a")
        .arg(1)
        .arg("w_b")
        .arg(2)
        .query(&mut c)
        .unwrap();
    let url = node.url();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut w = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut flip = false;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (x, y) = if flip { ("1", "2") } else { ("2", "1") };
                let _: () = redis::cmd("MSET")
                    .arg("w_a")
                    .arg(x)
                    .arg("w_b")
                    .arg(y)
                    .query(&mut w)
                    .unwrap();
                flip = !flip;
            }
        })
    };
    for _ in 0..2000 {
        let got: Vec<String> = redis::cmd("SORT")
            .arg("l")
            .arg("BY")
            .arg("w_*")
            .arg("GET")
            .arg("w_*")
            .query(&mut c)
            .unwrap();
        assert!(got == ["1", "2"], "weights read from one moment: {got:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
}
