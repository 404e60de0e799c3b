//! The append-only file through the real binary: kill -9 rounds with each
//! fsync policy, rewrites under writes (manual, automatic, CONFIG SET
//! appendonly), damaged files at start, and disk errors (MISCONF).

mod common;

use common::disk::{digest, info, rewrite_and_wait, save, start_fails, take_dir};

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{cmd, cmd_err, free_port, wait_for, TestNode};
use redis::Connection;

/// What one writer had acknowledged when the server died: `SET w:W:I I` for
/// every I below `sets`, and `INCR ctr:W` `incrs` times.
#[derive(Debug, Default, Clone, Copy)]
struct Acked {
    sets: u64,
    incrs: u64,
    /// When the last acknowledgement arrived.
    last: Option<Instant>,
}

/// Writes until the connection fails (the kill) or `stop` is set; alternates
/// SET of the next key and INCR of the writer's counter.
fn writer(url: String, w: usize, start: Acked, stop: Arc<AtomicBool>) -> Acked {
    let mut acked = start;
    let Ok(mut c) = redis::Client::open(url).and_then(|c| c.get_connection()) else {
        return acked;
    };
    while !stop.load(Ordering::Relaxed) {
        let i = acked.sets;
        if redis::cmd("SET")
            .arg(format!("w:{w}:{i}"))
            .arg(i)
            .query::<()>(&mut c)
            .is_err()
        {
            break;
        }
        acked.sets += 1;
        acked.last = Some(Instant::now());
        if redis::cmd("INCR")
            .arg(format!("ctr:{w}"))
            .query::<u64>(&mut c)
            .is_err()
        {
            break;
        }
        acked.incrs += 1;
        acked.last = Some(Instant::now());
    }
    acked
}

/// Acknowledged writes missing after a restart: (lost SETs, lost INCRs), and
/// the newest key present per writer.
fn lost(c: &mut Connection, acked: &[Acked]) -> (u64, u64) {
    let (mut sets, mut incrs) = (0, 0);
    for (w, a) in acked.iter().enumerate() {
        let mut i = 0;
        while i < a.sets {
            let keys: Vec<String> = (i..a.sets.min(i + 1000))
                .map(|j| format!("w:{w}:{j}"))
                .collect();
            let got: Vec<Option<u64>> = redis::cmd("MGET").arg(&keys).query(c).expect("MGET");
            for (j, v) in got.iter().enumerate() {
                match v {
                    Some(v) => assert_eq!(
                        *v,
                        i + j as u64,
                        "w:{w}:{} holds a wrong value",
                        i + j as u64
                    ),
                    None => sets += 1,
                }
            }
            i += 1000;
        }
        let ctr: Option<u64> = redis::cmd("GET")
            .arg(format!("ctr:{w}"))
            .query(c)
            .expect("GET");
        incrs += a.incrs.saturating_sub(ctr.unwrap_or(0));
    }
    (sets, incrs)
}

/// Runs `writers` writers for `run_for`, SIGKILLs the server under them,
/// restarts it, and returns what was acknowledged.
fn kill_round(n: &mut TestNode, acked: &mut [Acked], run_for: Duration) -> Instant {
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = acked
        .iter()
        .enumerate()
        .map(|(w, a)| {
            let (url, a, stop) = (n.url(), *a, stop.clone());
            std::thread::spawn(move || writer(url, w, a, stop))
        })
        .collect();
    std::thread::sleep(run_for);
    n.kill();
    let killed = Instant::now();
    for (a, h) in acked.iter_mut().zip(handles) {
        *a = h.join().expect("writer");
    }
    n.restart();
    killed
}

#[test]
fn kill_9_with_appendfsync_always_loses_no_acknowledged_write() {
    // Small rewrite thresholds so that automatic rewrites (and their file
    // swaps) happen between and during the kills.
    let mut n = TestNode::start(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--auto-aof-rewrite-percentage",
        "50",
        "--auto-aof-rewrite-min-size",
        "32kb",
    ]);
    let mut acked = vec![Acked::default(); 4];
    let mut rng = fastrand::Rng::with_seed(5);
    for round in 0..10 {
        kill_round(&mut n, &mut acked, Duration::from_millis(rng.u64(200..700)));
        let mut c = n.conn();
        assert_eq!(
            lost(&mut c, &acked),
            (0, 0),
            "round {round}: acknowledged writes lost"
        );
    }
    let total: u64 = acked.iter().map(|a| a.sets + a.incrs).sum();
    // The log spans every run of the process.
    let rewrites = n
        .log()
        .matches("Background AOF rewrite finished successfully")
        .count();
    eprintln!(
        "10 kill -9 rounds: {total} acknowledged writes, 0 lost, {rewrites} automatic rewrites"
    );
    assert!(rewrites > 0, "no rewrite happened during the rounds");
    assert!(total > 400, "too few writes to mean anything: {total}");
}

#[test]
fn kill_9_with_appendfsync_everysec_measures_the_loss() {
    let mut n = TestNode::start(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    let mut acked = vec![Acked::default(); 4];
    let killed = kill_round(&mut n, &mut acked, Duration::from_secs(2));
    let mut c = n.conn();
    let (sets, incrs) = lost(&mut c, &acked);
    let total: u64 = acked.iter().map(|a| a.sets + a.incrs).sum();
    let newest = acked
        .iter()
        .filter_map(|a| a.last)
        .max()
        .expect("some writes");
    eprintln!(
        "everysec, kill -9 after 2 s: {total} acknowledged, {} lost (last ack {:?} before the kill)",
        sets + incrs,
        killed.duration_since(newest)
    );
    // Replies wait for write(2), so a killed process loses nothing the kernel
    // has; the ~1 s window of everysec is for a crash of the machine itself.
    assert_eq!((sets, incrs), (0, 0));
}

#[test]
fn bgrewriteaof_under_writes_keeps_every_write() {
    let mut n = TestNode::start(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    let aof = n.dir.path().join("appendonly.aof");
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..3)
        .map(|w| {
            let (url, stop) = (n.url(), stop.clone());
            std::thread::spawn(move || writer(url, w, Acked::default(), stop))
        })
        .collect();
    let mut c = n.conn();
    for i in 0..5 {
        std::thread::sleep(Duration::from_millis(150));
        let r: String = redis::cmd("BGREWRITEAOF")
            .query(&mut c)
            .expect("BGREWRITEAOF");
        assert_eq!(r, "Background append only file rewriting started");
        assert!(wait_for(Duration::from_secs(20), || info(
            &mut c,
            "aof_rewrite_in_progress"
        ) == "0"));
        assert_eq!(info(&mut c, "aof_rewrites"), (i + 1).to_string());
        assert_eq!(info(&mut c, "aof_last_bgrewrite_status"), "ok");
    }
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<Acked> = handles
        .into_iter()
        .map(|h| h.join().expect("writer"))
        .collect();
    let head = std::fs::read(&aof).expect("read aof");
    assert!(
        head.starts_with(b"REDIS0010"),
        "no RDB preamble after a rewrite"
    );
    let want = digest(&mut c);
    n.restart();
    let mut c = n.conn();
    assert_eq!(digest(&mut c), want);
    assert_eq!(lost(&mut c, &acked), (0, 0));

    // Without the preamble the rewrite is plain commands, and loads the same.
    cmd(&mut c, &["CONFIG", "SET", "aof-use-rdb-preamble", "no"]);
    cmd(&mut c, &["SET", "ttl", "x", "EX", "1000"]);
    rewrite_and_wait(&mut c);
    assert!(std::fs::read(&aof).expect("read").starts_with(b"*"));
    let want = digest(&mut c);
    n.restart();
    assert_eq!(digest(&mut n.conn()), want);
}

#[test]
fn automatic_rewrite_by_growth() {
    let n = TestNode::start(&[
        "--appendonly",
        "yes",
        "--auto-aof-rewrite-percentage",
        "100",
        "--auto-aof-rewrite-min-size",
        "64kb",
    ]);
    let mut c = n.conn();
    assert_eq!(info(&mut c, "aof_rewrites"), "0");
    // The same 100 keys over and over: the file grows, the dataset does not.
    for i in 0..3000 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{}", i % 100))
            .arg("v".repeat(50))
            .query(&mut c)
            .expect("SET");
    }
    assert!(
        wait_for(Duration::from_secs(10), || info(&mut c, "aof_rewrites")
            != "0"),
        "no automatic rewrite"
    );
    // Once the writes stop the rule settles: no rewrite running, and the file
    // no longer both over the minimum and twice its base.
    let num = |c: &mut Connection, f: &str| info(c, f).parse::<u64>().expect("number");
    let settled = wait_for(Duration::from_secs(10), || {
        let (size, base) = (
            num(&mut c, "aof_current_size"),
            num(&mut c, "aof_base_size"),
        );
        info(&mut c, "aof_rewrite_in_progress") == "0" && !(size > 64 * 1024 && size >= 2 * base)
    });
    assert!(settled, "the growth rule did not settle");
    // A rewritten base holds the 100 keys (about 7 KB) plus the SETs that
    // arrived while it was written (how many depends on the machine's load):
    // a fraction of the 3,000 SETs' 240 KB either way.
    let base = num(&mut c, "aof_base_size");
    assert!(base < 60 * 1024, "base of {base} bytes for 100 keys");
}

#[test]
fn config_set_appendonly_turns_the_file_on_and_off() {
    let mut n = TestNode::start(&[]);
    let aof = n.dir.path().join("appendonly.aof");
    let mut c = n.conn();
    cmd(&mut c, &["SET", "before", "1"]);
    assert_eq!(info(&mut c, "aof_enabled"), "0");
    // With the AOF off, BGREWRITEAOF still writes the file, as Redis does.
    rewrite_and_wait(&mut c);
    assert!(std::fs::read(&aof)
        .expect("written while off")
        .starts_with(b"REDIS0010"));
    assert_eq!(info(&mut c, "aof_rewrites"), "1");
    std::fs::remove_file(&aof).expect("rm");
    let set = |c: &mut Connection, v: &str| {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("appendonly")
            .arg(v)
            .query::<()>(c)
            .expect("CONFIG SET appendonly")
    };
    set(&mut c, "yes");
    assert_eq!(info(&mut c, "aof_enabled"), "1");
    assert!(aof.exists(), "turning AOF on writes the dataset first");
    cmd(&mut c, &["SET", "after", "2"]);
    set(&mut c, "no");
    assert_eq!(info(&mut c, "aof_enabled"), "0");
    cmd(&mut c, &["SET", "off", "3"]);
    // The file has what happened while it was on, and nothing after.
    let dir = take_dir(&mut n);
    let back = TestNode::start_in(free_port(), dir, &["--appendonly", "yes"]);
    let got: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["before", "after", "off"])
        .query(&mut back.conn())
        .expect("MGET");
    assert_eq!(got, vec![Some("1".into()), Some("2".into()), None]);
}

/// Threads of process `pid` named `aof` (AOF writers).
fn aof_writers(pid: u32) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == "aof")
        })
        .count()
}

/// `CONFIG GET appendonly`.
fn appendonly(c: &mut Connection) -> String {
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg(&["GET", "appendonly"])
        .query(c)
        .expect("CONFIG GET");
    v[1].clone()
}

/// Connections turning the AOF on and off at the same time (and changing
/// another option) never run two writers, every CONFIG SET answers OK, and
/// afterwards INFO and CONFIG GET agree: on is one writer and a write lands in
/// the file once, off is none. Unserialized, a CONFIG SET could turn the AOF
/// off between another's config write and its writer start (CONFIG GET said
/// no while a writer ran), two `appendonly yes` could both start a writer, and
/// one that lost the rewrite claim to another answered an error.
#[test]
fn concurrent_config_set_appendonly_starts_one_writer() {
    let n = TestNode::start(&[]);
    let mut c = n.conn();
    cmd(&mut c, &["SET", "seed", "1"]);
    let stop_at = Instant::now() + Duration::from_millis(1500);
    let togglers: Vec<_> = (0..4)
        .map(|i| {
            let mut conn = n.conn();
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                let mut on = i % 2 == 0;
                while Instant::now() < stop_at {
                    let (name, value) = match i {
                        3 => ("slowlog-max-len", "100"),
                        _ => ("appendonly", if on { "yes" } else { "no" }),
                    };
                    match redis::cmd("CONFIG")
                        .arg(&["SET", name, value])
                        .query::<String>(&mut conn)
                    {
                        Ok(ok) if ok == "OK" => {}
                        other => failures.push(format!("{name} {value}: {other:?}")),
                    }
                    on = !on;
                }
                failures
            })
        })
        .collect();
    let mut most = 0;
    while Instant::now() < stop_at {
        most = most.max(aof_writers(n.pid()));
        std::thread::sleep(Duration::from_millis(2));
    }
    for t in togglers {
        let failures = t.join().expect("toggler");
        assert!(
            failures.is_empty(),
            "{} CONFIG SETs failed, the first: {:?}",
            failures.len(),
            failures.first()
        );
    }
    assert!(most <= 1, "{most} AOF writers ran at once");
    for (value, writers, enabled) in [("no", 0, "0"), ("yes", 1, "1")] {
        cmd(&mut c, &["CONFIG", "SET", "appendonly", value]);
        assert_eq!(aof_writers(n.pid()), writers, "writers after {value}");
        assert_eq!(info(&mut c, "aof_enabled"), enabled, "after {value}");
        assert_eq!(appendonly(&mut c), value);
    }
    cmd(&mut c, &["SET", "marker", "only-once-7f3a"]);
    let file = std::fs::read(n.dir.path().join("appendonly.aof")).expect("the AOF");
    let once = file.windows(14).filter(|w| w == b"only-once-7f3a").count();
    assert_eq!(
        once, 1,
        "the write after the last CONFIG SET is in the file"
    );
}

#[test]
fn the_aof_is_preferred_over_the_rdb_when_enabled() {
    let mut n = TestNode::start(&["--appendonly", "yes"]);
    let mut c = n.conn();
    cmd(&mut c, &["SET", "k", "from-rdb"]);
    save(&mut c);
    cmd(&mut c, &["SET", "k", "from-aof"]);
    let dir = take_dir(&mut n);
    let copy = tempfile::tempdir().expect("dir");
    for f in ["dump.rdb", "appendonly.aof"] {
        std::fs::copy(dir.path().join(f), copy.path().join(f)).expect("copy");
    }
    let with = TestNode::start_in(free_port(), dir, &["--appendonly", "yes"]);
    assert_eq!(with.text(&["GET", "k"]), "from-aof");
    let without = TestNode::start_in(free_port(), copy, &[]);
    assert_eq!(without.text(&["GET", "k"]), "from-rdb");
}

/// An AOF of 200 SETs as plain commands (no preamble), and the byte offset
/// where each command starts.
fn plain_aof() -> (Vec<u8>, Vec<usize>) {
    let mut n = TestNode::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = n.conn();
    for i in 0..200 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i:03}"))
            .arg(format!("v{i}"))
            .query(&mut c)
            .expect("SET");
    }
    n.kill();
    let data = std::fs::read(n.dir.path().join("appendonly.aof")).expect("read");
    let starts: Vec<usize> = (0..data.len())
        .filter(|&i| data[i] == b'*' && (i == 0 || data[i - 1] == b'\n'))
        .collect();
    (data, starts)
}

#[test]
fn a_truncated_aof_loads_its_whole_commands_or_refuses() {
    let (data, starts) = plain_aof();
    let sets: Vec<usize> = starts
        .iter()
        .copied()
        .filter(|&s| data[s..].starts_with(b"*3\r\n$3\r\nSET"))
        .collect();
    assert_eq!(sets.len(), 200);
    let mut rng = fastrand::Rng::with_seed(9);
    for _ in 0..12 {
        // Cut inside a command, never on a boundary.
        let cut = loop {
            let c = rng.usize(1..data.len());
            if !starts.contains(&c) {
                break c;
            }
        };
        let complete = sets.iter().filter(|&&s| s < cut).count() - 1;
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("appendonly.aof"), &data[..cut]).expect("write");
        let out = start_fails(
            dir.path(),
            &["--appendonly", "yes", "--aof-load-truncated", "no"],
        );
        assert!(
            out.contains("Unexpected end of file") && out.contains("offset"),
            "{out}"
        );

        let mut n = TestNode::start_in(free_port(), dir, &["--appendonly", "yes"]);
        let mut c = n.conn();
        let dbsize: usize = redis::cmd("DBSIZE").query(&mut c).expect("DBSIZE");
        assert_eq!(dbsize, complete, "cut at {cut}");
        if complete > 0 {
            assert_eq!(
                n.text(&["GET", &format!("k{:03}", complete - 1)]),
                format!("v{}", complete - 1)
            );
        }
        assert!(n
            .log()
            .contains("AOF loaded anyway because aof-load-truncated is enabled"));
        // The cut tail was dropped from the file, so what follows appends cleanly.
        cmd(&mut c, &["SET", "after", "cut"]);
        n.restart();
        assert_eq!(n.text(&["GET", "after"]), "cut");
        assert_eq!(
            n.query(&["DBSIZE"]).expect("DBSIZE"),
            redis::Value::Int(complete as i64 + 1)
        );
    }
}

#[test]
fn a_corrupt_aof_command_stops_start_up_naming_its_offset() {
    let (data, starts) = plain_aof();
    let at = starts[starts.len() / 2];
    for damage in [&b"*3\r\n$3\r\nSXT"[..], b"*3\r\n$x\r\nSET", b"#garbage\r\n"] {
        let mut bad = data.clone();
        bad[at..at + damage.len()].copy_from_slice(damage);
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("appendonly.aof"), &bad).expect("write");
        let out = start_fails(dir.path(), &["--appendonly", "yes"]);
        assert!(
            out.contains(&format!("at offset {at}")),
            "damage {damage:?}:\n{out}"
        );
    }
    // A damaged RDB preamble is refused too.
    let mut n = TestNode::start(&["--appendonly", "yes"]);
    let mut c = n.conn();
    for i in 0..50 {
        let _: () = redis::cmd("SET")
            .arg(format!("p{i}"))
            .arg(i)
            .query(&mut c)
            .expect("SET");
    }
    rewrite_and_wait(&mut c);
    n.kill();
    let mut bad = std::fs::read(n.dir.path().join("appendonly.aof")).expect("read");
    bad[40] ^= 0x20;
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("appendonly.aof"), &bad).expect("write");
    let out = start_fails(dir.path(), &["--appendonly", "yes"]);
    assert!(out.contains("appendonly.aof"), "{out}");
}

#[test]
fn a_failed_bgsave_turns_writes_away_with_misconf_until_a_save_works() {
    let n = TestNode::start(&["--save", "3600 1"]);
    let mut c = n.conn();
    cmd(&mut c, &["SET", "a", "1"]);
    // A directory where the temporary file must go: the save cannot create it
    // (this works as root too, unlike a read-only mode).
    let blocker = n.dir.path().join(format!("temp-{}.rdb", n.pid()));
    std::fs::create_dir(&blocker).expect("mkdir");
    let _: String = redis::cmd("BGSAVE").query(&mut c).expect("BGSAVE");
    assert!(wait_for(Duration::from_secs(10), || info(
        &mut c,
        "rdb_last_bgsave_status"
    ) == "err"));
    let err = cmd_err(&mut c, &["SET", "b", "2"]);
    assert_eq!(err.code(), Some("MISCONF"));
    assert!(
        err.to_string().contains("stop-writes-on-bgsave-error"),
        "{err}"
    );
    assert!(
        redis::cmd("PING").query::<String>(&mut c).is_err(),
        "PING is refused too, as in Redis"
    );
    assert_eq!(n.text(&["GET", "a"]), "1");
    // The switch lets writes through despite the error.
    cmd(
        &mut c,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"],
    );
    cmd(&mut c, &["SET", "b", "2"]);
    cmd(
        &mut c,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"],
    );
    assert!(redis::cmd("SET")
        .arg("c")
        .arg("3")
        .query::<()>(&mut c)
        .is_err());
    std::fs::remove_dir(&blocker).expect("rmdir");
    let _: String = redis::cmd("BGSAVE").query(&mut c).expect("BGSAVE");
    assert!(wait_for(Duration::from_secs(10), || info(
        &mut c,
        "rdb_last_bgsave_status"
    ) == "ok"));
    cmd(&mut c, &["SET", "c", "3"]);
}

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !o.status.success() {
            return Err(String::from_utf8_lossy(&o.stderr).trim().to_string());
        }
        Ok(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_gives_misconf_and_loses_no_acknowledged_write() {
    let fs = match Tmpfs::mount("512k") {
        Ok(fs) => fs,
        Err(why) => {
            // Needs root (CAP_SYS_ADMIN); CI runs as root in its container.
            eprintln!("SKIPPED: cannot mount a tmpfs here: {why}");
            return;
        }
    };
    let filler = fs.0.path().join("filler");
    std::fs::write(&filler, vec![0u8; 200 * 1024]).expect("filler");
    // The AOF lives on the small disk behind a symlink; the node's log stays
    // on the big one (appendfilename cannot be a path, as in Redis).
    let dir = tempfile::tempdir().expect("dir");
    std::os::unix::fs::symlink(
        fs.0.path().join("appendonly.aof"),
        dir.path().join("appendonly.aof"),
    )
    .expect("symlink");
    let mut n = TestNode::start_in(
        free_port(),
        dir,
        &["--appendonly", "yes", "--appendfsync", "everysec"],
    );
    let mut c = n.conn();
    c.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let value = "v".repeat(1000);
    let mut acked = 0u64;
    let misconf = loop {
        match redis::cmd("SET")
            .arg(format!("k{acked}"))
            .arg(&value)
            .query::<()>(&mut c)
        {
            Ok(()) => acked += 1,
            Err(e) => break e,
        }
        assert!(acked < 2000, "the disk never filled");
    };
    assert!(
        misconf.code() == Some("MISCONF") || misconf.is_timeout(),
        "first failed write: {misconf}"
    );
    let mut c = n.conn();
    let err = cmd_err(&mut c, &["SET", "x", "y"]);
    assert_eq!(err.code(), Some("MISCONF"));
    assert!(
        err.to_string().contains("Errors writing to the AOF file"),
        "{err}"
    );
    assert_eq!(info(&mut c, "aof_last_write_status"), "err");
    let got: Option<String> = redis::cmd("GET")
        .arg("k0")
        .query(&mut c)
        .expect("reads still work");
    assert_eq!(got.as_deref(), Some(value.as_str()));
    // Space comes back: the writer catches up and writes are accepted again.
    std::fs::remove_file(&filler).expect("rm filler");
    assert!(wait_for(Duration::from_secs(10), || info(
        &mut c,
        "aof_last_write_status"
    ) == "ok"));
    let _: () = redis::cmd("SET")
        .arg(format!("k{acked}"))
        .arg(&value)
        .query(&mut c)
        .expect("SET after space");
    acked += 1;
    n.restart();
    let mut c = n.conn();
    for i in 0..acked {
        let got: Option<String> = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(&mut c)
            .expect("GET");
        assert_eq!(
            got.as_deref(),
            Some(value.as_str()),
            "acknowledged k{i} lost"
        );
    }
    n.kill();
    drop(fs);
}
