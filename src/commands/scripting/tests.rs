//! EVAL through the gate: real commands, propagation, errors.

use crate::commands::testkit::Kit;

#[test]
fn eval_runs_commands_and_propagates_effects() {
    let mut k = Kit::new();
    assert_eq!(
        k.run(&[
            "EVAL",
            "return redis.call('set', KEYS[1], ARGV[1])",
            "1",
            "a",
            "1"
        ]),
        "+OK\r\n"
    );
    assert_eq!(k.run(&["GET", "a"]), "$1\r\n1\r\n");
    // One write goes out alone.
    assert_eq!(k.last_propagated(), "SET a 1");
    k.run(&[
        "EVAL",
        "redis.call('incr', KEYS[1]) redis.call('expire', KEYS[1], 100) return redis.call('get', KEYS[1])",
        "1",
        "a",
    ]);
    let stream: Vec<String> = k.stream().into_iter().map(|c| c.join(" ")).collect();
    let n = stream.len();
    assert_eq!(stream[n - 4], "MULTI");
    assert_eq!(stream[n - 3], "INCRBY a 1");
    assert!(stream[n - 2].starts_with("PEXPIREAT a "), "{stream:?}");
    assert_eq!(stream[n - 1], "EXEC");
    // A read-only script propagates nothing.
    let before = k.stream().len();
    assert_eq!(
        k.run(&["EVAL", "return redis.call('get', 'a')", "0"]),
        "$1\r\n2\r\n"
    );
    assert_eq!(k.stream().len(), before);
    // REPL_NONE keeps a write out of the stream.
    k.run(&[
        "EVAL",
        "redis.set_repl(redis.REPL_NONE) redis.call('set', 'b', 'x') return 1",
        "0",
    ]);
    assert_eq!(k.stream().len(), before);
    assert_eq!(k.run(&["GET", "b"]), "$1\r\nx\r\n");
}

#[test]
fn evalsha_script_and_errors() {
    let mut k = Kit::new();
    let sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db";
    let noscript = "-NOSCRIPT No matching script. Please use EVAL.\r\n";
    assert_eq!(k.run(&["EVALSHA", sha, "0"]), noscript);
    assert_eq!(k.run(&["EVALSHA", "short", "0"]), noscript);
    assert_eq!(
        k.run(&["SCRIPT", "LOAD", "return 1"]),
        format!("$40\r\n{sha}\r\n")
    );
    assert_eq!(k.run(&["EVALSHA", sha, "0"]), ":1\r\n");
    assert_eq!(k.run(&["EVALSHA", &sha.to_uppercase(), "0"]), ":1\r\n");
    assert_eq!(
        k.run(&["SCRIPT", "EXISTS", sha, "nope"]),
        "*2\r\n:1\r\n:0\r\n"
    );
    assert_eq!(k.run(&["SCRIPT", "FLUSH", "ASYNC"]), "+OK\r\n");
    assert_eq!(k.run(&["SCRIPT", "EXISTS", sha]), "*1\r\n:0\r\n");
    assert_eq!(
        k.run(&["SCRIPT", "FLUSH", "X"]),
        "-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n"
    );
    assert_eq!(
        k.run(&["EVAL", "return 1", "2", "a"]),
        "-ERR Number of keys can't be greater than number of args\r\n"
    );
    assert_eq!(
        k.run(&["EVAL", "return 1", "-1"]),
        "-ERR Number of keys can't be negative\r\n"
    );
    let starts = |k: &mut Kit, body: &str, want: &str| {
        let r = k.run(&["EVAL", body, "0"]);
        assert!(r.starts_with(want), "{body}: {r}");
    };
    starts(
        &mut k,
        "return redis.call('nosuch')",
        "-ERR Unknown Redis command called from script script: ",
    );
    starts(
        &mut k,
        "return redis.call('get')",
        "-ERR Wrong number of args calling Redis command from script",
    );
    starts(
        &mut k,
        "return redis.call('multi')",
        "-ERR This Redis command is not allowed from script",
    );
    assert_eq!(
        k.run(&["EVAL", "return redis.pcall('eval', 'return 1', '0')", "0"]),
        "-ERR This Redis command is not allowed from script\r\n"
    );
    k.run(&["SET", "s", "x"]);
    assert_eq!(
        k.run(&["EVAL", "return redis.pcall('incr', 's')", "0"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    let r = k.run(&["EVAL_RO", "return redis.call('set', 'a', 1)", "0"]);
    assert!(
        r.starts_with("-ERR Write commands are not allowed from read-only scripts."),
        "{r}"
    );
    starts(
        &mut k,
        "#!lua flags=no-writes\nreturn redis.call('set', 'a', 1)",
        "-ERR Write commands are not allowed from read-only scripts.",
    );
    assert_eq!(
        k.run(&["EVAL_RO", "#!lua\nreturn 1", "0"]),
        "-ERR Can not execute a script with write flag using *_ro command.\r\n"
    );
    assert_eq!(
        k.run(&[
            "EVAL_RO",
            "#!lua flags=no-writes\nreturn redis.call('get', 's')",
            "0"
        ]),
        "$1\r\nx\r\n"
    );
}

#[test]
fn select_inside_a_script_stays_there() {
    let mut k = Kit::new();
    k.run(&[
        "EVAL",
        "redis.call('select', 5) redis.call('set', 'x', 1) return 1",
        "0",
    ]);
    assert_eq!(k.run(&["GET", "x"]), "$-1\r\n");
    k.run(&["SELECT", "5"]);
    assert_eq!(k.run(&["GET", "x"]), "$1\r\n1\r\n");
}

#[test]
fn getkeys_of_eval() {
    let mut k = Kit::new();
    assert_eq!(
        k.run(&["COMMAND", "GETKEYS", "EVAL", "return 1", "2", "a", "b", "c"]),
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
}

#[test]
fn monitor_shows_eval_then_its_commands_as_lua() {
    let mut k = Kit::new();
    let mut rx = k.srv.monitor_tx.subscribe();
    k.srv
        .monitors
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    k.run(&["EVAL", "return redis.call('set', 'm', '1')", "0"]);
    let first = String::from_utf8_lossy(&rx.try_recv().expect("EVAL line")).into_owned();
    let second = String::from_utf8_lossy(&rx.try_recv().expect("SET line")).into_owned();
    assert!(first.contains("\"EVAL\""), "{first}");
    assert!(second.contains("[0 lua] \"set\" \"m\" \"1\""), "{second}");
    assert!(rx.try_recv().is_err(), "EVAL is fed once");
}
