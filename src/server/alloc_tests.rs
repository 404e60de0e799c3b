//! Heap allocations on the serving path, counted: GET, SET, INCR and MGET
//! must not allocate per command beyond the value a write stores (issue 16's
//! lookup-path rule). The lib's test binary counts every allocation made on
//! the calling thread (`Counting`, installed in `lib.rs` for tests only).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use super::gate;
use crate::commands::testkit::{argv_of, Kit};

thread_local! {
    // `const` and Copy: touching it never allocates (no lazy init, no destructor).
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting allocations per thread.
pub struct Counting;

fn bump() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call forwards to `System` with the caller's arguments; the
// counter is a thread-local `Cell` that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

fn allocations() -> u64 {
    ALLOCS.with(Cell::get)
}

/// Allocations per run of `words` through the gate, after a warm-up (the
/// first runs size the reply buffer and the slot table).
fn per_command(kit: &mut Kit, words: &[&str]) -> f64 {
    per_round(kit, &[words])
}

/// Allocations per command when the commands of `round` run in turn, after
/// a warm-up.
fn per_round(kit: &mut Kit, round: &[&[&str]]) -> f64 {
    const RUNS: u64 = 200;
    let parsed: Vec<_> = round.iter().map(|w| argv_of(w)).collect();
    let run = |kit: &mut Kit| {
        for (src, ranges) in &parsed {
            let argv = crate::commands::Argv::new(src, ranges);
            let now = crate::clock::unix_ms();
            let mut hold = gate::BatchHold::new(&kit.srv.keyspace.isolation);
            gate::dispatch(
                &kit.srv,
                &mut kit.client,
                &mut kit.out,
                &argv,
                now,
                &mut hold,
            );
            kit.out.buf.clear();
        }
    };
    for _ in 0..10 {
        run(kit);
    }
    let before = allocations();
    for _ in 0..RUNS {
        run(kit);
    }
    (allocations() - before) as f64 / (RUNS * round.len() as u64) as f64
}

/// A server whose replication stream records (as with a replica attached)
/// into a small backlog, filled first: a full backlog is a ring, while its
/// first fill grows it (amortized, not per command).
fn kit_with_keys() -> Kit {
    let mut cfg = crate::config::Config::defaults();
    cfg.repl_backlog_size = 16 * 1024;
    let mut kit = Kit::with_server(crate::node::Server::new(cfg));
    for _ in 0..300 {
        kit.run(&["SET", "fill", "the-backlog-with-a-few-hundred-writes"]);
    }
    for k in ["k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10"] {
        kit.run(&["SET", k, "a-value-of-32-bytes-for-the-test"]);
    }
    kit.run(&["SET", "n", "1"]);
    kit
}

#[test]
fn reads_allocate_nothing() {
    let mut kit = kit_with_keys();
    assert_eq!(
        per_command(&mut kit, &["GET", "k1"]),
        0.0,
        "GET of a present key"
    );
    assert_eq!(
        per_command(&mut kit, &["GET", "missing"]),
        0.0,
        "GET of a missing key"
    );
    let mget = [
        "MGET", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10",
    ];
    assert_eq!(per_command(&mut kit, &mget), 0.0, "MGET of 10 keys");
}

#[test]
fn counters_allocate_nothing() {
    let mut kit = kit_with_keys();
    assert_eq!(
        per_command(&mut kit, &["INCR", "n"]),
        0.0,
        "INCR of an integer"
    );
    assert_eq!(per_command(&mut kit, &["INCRBY", "n", "7"]), 0.0, "INCRBY");
}

#[test]
fn a_set_allocates_at_most_the_record_it_stores() {
    let mut kit = kit_with_keys();
    let v = "another-value-of-32-bytes-here!!";
    // A value of the same length overwrites the record's bytes in place.
    assert_eq!(
        per_command(&mut kit, &["SET", "k1", v]),
        0.0,
        "SET, same length"
    );
    let set_ex = ["SET", "k2", v, "EX", "100"];
    assert_eq!(per_command(&mut kit, &set_ex), 0.0, "SET with a TTL");
    let mut mset = vec!["MSET"];
    for k in ["k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10"] {
        mset.extend([k, v]);
    }
    assert_eq!(per_command(&mut kit, &mset), 0.0, "MSET of 10 keys");
    // Another length needs a new record: one block, key and value together.
    let lengths: [&[&str]; 2] = [&["SET", "k3", "short"], &["SET", "k3", "a longer value"]];
    assert_eq!(per_round(&mut kit, &lengths), 1.0, "SET, another length");
    // An integer over an integer is stored in place too.
    assert_eq!(
        per_command(&mut kit, &["SET", "n", "12345"]),
        0.0,
        "SET of an integer"
    );
}
