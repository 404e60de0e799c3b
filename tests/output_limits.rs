//! `client-output-buffer-limit normal` on the real binary: a client that
//! pipelines reads of large values and never reads the replies is cut off at
//! the hard limit; without a limit it is only held back, and gets every
//! reply once it reads.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{RawConn, TestNode};

const VALUE: usize = 100 * 1024;

fn big_value(node: &TestNode) {
    let mut c = node.conn();
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(vec![b'v'; VALUE])
        .query(&mut c)
        .expect("set");
}

fn pipeline_gets(conn: &mut RawConn, n: usize) {
    let one = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";
    let all: Vec<u8> = one.iter().copied().cycle().take(one.len() * n).collect();
    conn.s.write_all(&all).expect("pipeline");
}

#[test]
fn a_client_that_never_reads_its_replies_is_cut_off_at_the_normal_hard_limit() {
    let node = TestNode::start(&[]);
    big_value(&node);
    let mut c = node.conn();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("normal 1mb 0 0")
        .query(&mut c)
        .expect("config set");
    let mut reader = RawConn::connect("127.0.0.1", node.port);
    // 20 MB of replies asked for; the client reads none of them.
    pipeline_gets(&mut reader, 200);
    let started = Instant::now();
    assert!(
        common::wait_for(Duration::from_secs(10), || {
            node.text(&["INFO", "stats"])
                .contains("client_output_buffer_limit_disconnections:1\r\n")
        }),
        "not disconnected: {}",
        node.text(&["CLIENT", "LIST"])
    );
    eprintln!("cut off after {:?}", started.elapsed());
    // The connection is gone: what the kernel buffered, then EOF, well
    // short of the 20 MB asked for.
    let got = reader.read_n(usize::MAX);
    assert!(got.len() < 10 << 20, "read {} bytes", got.len());
}

#[test]
fn without_a_limit_a_slow_reader_is_held_back_and_gets_every_reply() {
    let node = TestNode::start(&[]);
    big_value(&node);
    let mut reader = RawConn::connect("127.0.0.1", node.port);
    pipeline_gets(&mut reader, 100);
    std::thread::sleep(Duration::from_millis(500));
    let per_reply = format!("${VALUE}\r\n").len() + VALUE + 2;
    let got = reader.read_n(100 * per_reply);
    assert_eq!(got.len(), 100 * per_reply);
    assert_eq!(reader.call(&["PING"]), b"+PONG\r\n");
}
