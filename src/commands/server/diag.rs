//! Diagnostics: `SLOWLOG`, `LATENCY` and `MEMORY`.

use std::sync::atomic::Ordering;

use super::help;
use crate::commands::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
pub use crate::store::types::redis_size::jemalloc_size;
use crate::store::types::redis_size::sds_header;
use crate::store::Record;
#[cfg(test)]
use crate::store::Value;

/// `SLOWLOG GET [count]` (default 10, -1 = all).
pub fn slowlog_get(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let count = match argv.opt(2) {
        None => 10,
        Some(a) => {
            let n = parse_i64(a).unwrap_or(i64::MIN);
            if n < -1 {
                return Err(CmdError::err("count should be greater than or equal to -1"));
            }
            if n == -1 {
                usize::MAX
            } else {
                n as usize
            }
        }
    };
    if argv.len() > 3 {
        return Err(CmdError::Arity("slowlog|get".into()));
    }
    let log = ctx.srv.slowlog.lock();
    let entries: Vec<_> = log.latest(count).cloned().collect();
    drop(log);
    ctx.out.array_len(entries.len());
    for e in entries {
        ctx.out.array_len(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time as i64);
        ctx.out.int(e.micros as i64);
        ctx.out.array_len(e.args.len());
        for a in &e.args {
            ctx.out.bulk(a);
        }
        ctx.out.bulk(e.addr.as_bytes());
        ctx.out.bulk(e.name.as_bytes());
    }
    Ok(())
}

/// `SLOWLOG LEN`
pub fn slowlog_len(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let n = ctx.srv.slowlog.lock().len();
    ctx.out.int(n as i64);
    Ok(())
}

/// `SLOWLOG RESET`
pub fn slowlog_reset(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.srv.slowlog.lock().reset();
    ctx.out.ok();
    Ok(())
}

/// `SLOWLOG HELP`
pub fn slowlog_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    help(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    )
}

// The latency monitor records no events yet, so its replies are the empty ones
// Redis gives before any spike was seen.

/// `LATENCY LATEST`
pub fn latency_latest(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.out.array_len(0);
    Ok(())
}

/// `LATENCY HISTORY event`
pub fn latency_history(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.out.array_len(0);
    Ok(())
}

/// `LATENCY RESET [event …]`: the number of event series cleared.
pub fn latency_reset(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.out.int(0);
    Ok(())
}

/// `LATENCY GRAPH event`
pub fn latency_graph(_ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    Err(CmdError::err(format!(
        "No samples available for event '{}'",
        String::from_utf8_lossy(argv.get(2))
    )))
}

/// `LATENCY HISTOGRAM [command …]`
pub fn latency_histogram(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.out.map_len(0);
    Ok(())
}

/// `LATENCY DOCTOR`
pub fn latency_doctor(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let text = if ctx.srv.config.read().latency_monitor_threshold == 0 {
        "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n"
    } else {
        "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n"
    };
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// `LATENCY HELP`
pub fn latency_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    help(
        ctx,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    )
}

/// Redis's `MEMORY USAGE` estimate for a key and its entry: dict entry, key sds,
/// value object, each rounded to its allocator size class.
pub fn bytes_estimate(key: &[u8], entry: &Record) -> usize {
    const DICT_ENTRY: usize = 24;
    let key_bytes = jemalloc_size(sds_header(key.len(), true) + key.len() + 1);
    DICT_ENTRY + key_bytes + entry.value().redis_usage()
}

/// `MEMORY USAGE key [SAMPLES count]`
pub fn memory_usage(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut i = 3;
    while i < argv.len() {
        if is(argv.get(i), "SAMPLES") && i + 1 < argv.len() {
            if parse_i64(argv.get(i + 1))? < 0 {
                return Err(CmdError::Syntax);
            }
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let key = argv.get(2);
    let mut slot = ctx.lock(key);
    match slot.peek(key).map(|e| bytes_estimate(key, e)) {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `MEMORY STATS`: the main counters of Redis's reply, as a map.
pub fn memory_stats(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let srv = ctx.srv;
    let used = srv.used_memory();
    let peak = srv.mem_peak.load(Ordering::Relaxed);
    let startup = srv.mem_startup.min(used);
    let resident = srv.memory.resident();
    let keys = srv.keyspace.total_keys();
    let dataset = used - startup;
    let dbs: Vec<(usize, u64, u64)> = (0..srv.keyspace.db_count())
        .map(|i| {
            (
                i,
                srv.keyspace.db(i).len(),
                srv.keyspace.db(i).volatile_len(),
            )
        })
        .filter(|&(_, k, v)| k > 0 || v > 0)
        .collect();
    let out = &mut *ctx.out;
    out.map_len(19 + dbs.len());
    for (name, v) in [
        ("peak.allocated", peak),
        ("total.allocated", used),
        ("startup.allocated", startup),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", 0),
        ("cluster.links", 0),
        ("aof.buffer", 0),
        ("lua.caches", 0),
        ("functions.caches", 0),
    ] {
        out.bulk(name.as_bytes());
        out.int(v as i64);
    }
    for (i, k, v) in dbs {
        out.bulk(format!("db.{i}").as_bytes());
        out.map_len(2);
        out.bulk(b"overhead.hashtable.main");
        out.int((k * 24) as i64);
        out.bulk(b"overhead.hashtable.expires");
        out.int((v * 24) as i64);
    }
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    out.bulk(b"overhead.total");
    out.int(startup as i64);
    out.bulk(b"keys.count");
    out.int(keys as i64);
    out.bulk(b"keys.bytes-per-key");
    out.int(dataset.checked_div(keys).unwrap_or(0) as i64);
    out.bulk(b"dataset.bytes");
    out.int(dataset as i64);
    out.bulk(b"dataset.percentage");
    out.double(pct(dataset, used.saturating_sub(startup)));
    out.bulk(b"peak.percentage");
    out.double(pct(used, peak));
    out.bulk(b"allocator.allocated");
    out.int(used as i64);
    out.bulk(b"allocator.resident");
    out.int(resident as i64);
    out.bulk(b"fragmentation");
    let rss = crate::store::memory::process_rss();
    out.double(if used == 0 {
        0.0
    } else {
        rss as f64 / used as f64
    });
    Ok(())
}

/// `MEMORY DOCTOR`
pub fn memory_doctor(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let text = if ctx.srv.used_memory() < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
    };
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// `MEMORY MALLOC-STATS`
pub fn memory_malloc_stats(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let text = format!(
        "allocated: {}\nresident: {}\n",
        ctx.srv.memory.refresh(),
        ctx.srv.memory.resident()
    );
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// `MEMORY PURGE`: jemalloc returns dirty pages on its own schedule.
pub fn memory_purge(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    ctx.out.ok();
    Ok(())
}

/// `MEMORY HELP`
pub fn memory_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    help(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(v: Value) -> Record {
        Record::new(b"k", v, 0, 0)
    }

    #[test]
    fn size_classes() {
        assert_eq!(jemalloc_size(5), 8);
        assert_eq!(jemalloc_size(23), 32);
        assert_eq!(jemalloc_size(104), 112);
        assert_eq!(jemalloc_size(1006), 1024);
        assert_eq!(jemalloc_size(1025), 1280);
        assert_eq!(jemalloc_size(129), 160);
    }

    #[test]
    fn usage_matches_redis_for_strings() {
        // Values measured on redis-server 7.0.15 with MEMORY USAGE.
        assert_eq!(bytes_estimate(b"foo", &entry(Value::string(b"bar"))), 64);
        assert_eq!(bytes_estimate(b"n", &entry(Value::int(12345))), 48);
        let s100 = vec![b'x'; 100];
        assert_eq!(bytes_estimate(b"big", &entry(Value::string(&s100))), 160);
        let s1000 = vec![b'x'; 1000];
        assert_eq!(bytes_estimate(b"big2", &entry(Value::string(&s1000))), 1072);
    }
}
