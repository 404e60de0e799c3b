//! `INFO [section …]`: the same sections, field names and order as Redis 7.0, so
//! tools that parse INFO (redis-cli, exporters, the Tcl suite) read it unchanged.

use std::fmt::{Display, Write as _};
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::commands::{Argv, CmdResult, Ctx};
use crate::node::pubsub::Kind;
use crate::node::{Server, REDIS_VERSION};
use crate::store::access;
use crate::store::memory::process_rss;

/// What `INFO` with no arguments (or `default`) prints.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

type SectionFn = fn(&Server, &mut InfoWriter);

/// Every section in Redis's output order: names that select it, header, writer.
const SECTIONS: &[(&[&str], &str, SectionFn)] = &[
    (&["server"], "Server", server),
    (&["clients"], "Clients", clients),
    (&["memory"], "Memory", memory),
    (&["persistence"], "Persistence", persistence),
    (&["stats"], "Stats", stats),
    (&["replication"], "Replication", replication),
    (&["cpu"], "CPU", cpu),
    (&["module_list", "modules"], "Modules", nothing),
    (&["commandstats"], "Commandstats", commandstats),
    (&["errorstats"], "Errorstats", errorstats),
    (&["latencystats"], "Latencystats", nothing),
    (&["cluster"], "Cluster", cluster),
    (&["keyspace"], "Keyspace", keyspace),
];

/// Which sections a request asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Selection {
    all: bool,
    names: Vec<String>,
}

impl Selection {
    /// Parses INFO's arguments as Redis's `genInfoSectionDict` does.
    pub fn parse<'a>(args: impl Iterator<Item = &'a [u8]>) -> Selection {
        let mut sel = Selection::default();
        let mut any = false;
        for a in args {
            any = true;
            let name = String::from_utf8_lossy(a).to_ascii_lowercase();
            match name.as_str() {
                "default" => sel.add_defaults(),
                "all" | "everything" => sel.all = true,
                _ => sel.add(name),
            }
        }
        if !any {
            sel.add_defaults();
        }
        sel
    }

    fn add_defaults(&mut self) {
        for s in DEFAULT_SECTIONS {
            self.add((*s).to_string());
        }
    }

    fn add(&mut self, name: String) {
        if !self.names.contains(&name) {
            self.names.push(name);
        }
    }

    /// True when a section known by any of `names` is selected.
    pub fn wants(&self, names: &[&str]) -> bool {
        self.all || names.iter().any(|n| self.names.iter().any(|s| s == n))
    }
}

/// Accumulates `# Section` blocks with `key:value\r\n` lines.
#[derive(Default)]
pub struct InfoWriter {
    /// The text so far.
    pub text: String,
    sections: usize,
}

impl InfoWriter {
    fn section(&mut self, title: &str) {
        if self.sections > 0 {
            self.text.push_str("\r\n");
        }
        self.sections += 1;
        let _ = write!(self.text, "# {title}\r\n");
    }

    fn field(&mut self, key: &str, value: impl Display) {
        let _ = write!(self.text, "{key}:{value}\r\n");
    }

    fn fields(&mut self, pairs: &[(&str, &dyn Display)]) {
        for (k, v) in pairs {
            self.field(k, v);
        }
    }
}

/// Builds the INFO text for a selection.
pub fn render(srv: &Server, sel: &Selection) -> String {
    let mut w = InfoWriter::default();
    for (names, title, write) in SECTIONS {
        if sel.wants(names) {
            w.section(title);
            write(srv, &mut w);
        }
    }
    w.text
}

/// `INFO [section …]`
pub fn info(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let sel = Selection::parse(argv.iter().skip(1));
    let text = render(ctx.srv, &sel);
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// Formats bytes as Redis's `bytesToHuman` (`1.39M`, `512B`).
pub fn bytes_to_human(n: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut d = n as f64 / 1024.0;
    for u in UNITS {
        if d < 1024.0 {
            return format!("{d:.2}{u}");
        }
        d /= 1024.0;
    }
    format!("{n}B")
}

fn nothing(_: &Server, _: &mut InfoWriter) {}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn os_string() -> String {
    format!(
        "{} {} {}",
        read_trimmed("/proc/sys/kernel/ostype"),
        read_trimmed("/proc/sys/kernel/osrelease"),
        std::env::consts::ARCH
    )
}

fn server(srv: &Server, w: &mut InfoWriter) {
    let cfg = srv.config.read();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let uptime = srv.started.elapsed().as_secs();
    let exe = std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    w.fields(&[
        ("redis_version", &REDIS_VERSION),
        ("redis_git_sha1", &"00000000"),
        ("redis_git_dirty", &0),
        ("redis_build_id", &&srv.run_id[..15]),
        (
            "redis_mode",
            &if srv.cluster.is_some() {
                "cluster"
            } else {
                "standalone"
            },
        ),
        ("os", &os_string()),
        ("arch_bits", &(usize::BITS)),
        ("monotonic_clock", &"POSIX clock_gettime"),
        ("multiplexing_api", &"epoll"),
        ("atomicvar_api", &"c11-builtin"),
        ("gcc_version", &"0.0.0"),
        ("process_id", &std::process::id()),
        ("process_supervised", &"no"),
        ("run_id", &srv.run_id),
        ("tcp_port", &srv.port.load(Ordering::Relaxed)),
        ("server_time_usec", &now.as_micros()),
        ("uptime_in_seconds", &uptime),
        ("uptime_in_days", &(uptime / 86400)),
        ("hz", &cfg.hz),
        ("configured_hz", &cfg.hz),
        ("lru_clock", &access::lru_clock_seconds()),
        ("executable", &exe),
        ("config_file", &cfg.config_file),
        ("io_threads_active", &0),
    ]);
}

fn clients(srv: &Server, w: &mut InfoWriter) {
    w.fields(&[
        ("connected_clients", &srv.clients.len()),
        (
            "cluster_connections",
            &srv.cluster.as_ref().map_or(0, |c| c.link_count()),
        ),
        ("maxclients", &srv.hot.maxclients.load(Ordering::Relaxed)),
        ("client_recent_max_input_buffer", &0),
        ("client_recent_max_output_buffer", &0),
        ("blocked_clients", &srv.keyspace.blocked.len()),
        ("tracking_clients", &srv.tracking.info()[0]),
        ("clients_in_timeout_table", &0),
    ]);
}

fn total_system_memory() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "0.00".into()
    } else {
        format!("{:.2}", a as f64 / b as f64)
    }
}

fn percent(a: u64, b: u64) -> String {
    if b == 0 {
        "0.00%".into()
    } else {
        format!("{:.2}%", a as f64 * 100.0 / b as f64)
    }
}

fn memory(srv: &Server, w: &mut InfoWriter) {
    let used = srv.used_memory();
    let peak = srv.mem_peak.load(Ordering::Relaxed);
    let rss = match process_rss() {
        0 => srv.memory.resident(),
        n => n,
    };
    let resident = srv.memory.resident();
    let startup = srv.mem_startup.min(used);
    let overhead = startup;
    let dataset = used - overhead;
    let sysmem = total_system_memory();
    let (scripts, scripts_mem, lua_mem) = crate::commands::scripting::usage(srv);
    let maxmemory = srv.hot.maxmemory.load(Ordering::Relaxed);
    let policy = srv.keyspace.policy().name();
    w.fields(&[
        ("used_memory", &used),
        ("used_memory_human", &bytes_to_human(used)),
        ("used_memory_rss", &rss),
        ("used_memory_rss_human", &bytes_to_human(rss)),
        ("used_memory_peak", &peak),
        ("used_memory_peak_human", &bytes_to_human(peak)),
        ("used_memory_peak_perc", &percent(used, peak)),
        ("used_memory_overhead", &overhead),
        ("used_memory_startup", &startup),
        ("used_memory_dataset", &dataset),
        (
            "used_memory_dataset_perc",
            &percent(dataset, used.saturating_sub(startup)),
        ),
        ("allocator_allocated", &used),
        ("allocator_active", &resident),
        ("allocator_resident", &resident),
        ("total_system_memory", &sysmem),
        ("total_system_memory_human", &bytes_to_human(sysmem)),
        ("used_memory_lua", &lua_mem),
        ("used_memory_vm_eval", &lua_mem),
        ("used_memory_lua_human", &bytes_to_human(lua_mem as u64)),
        ("used_memory_scripts_eval", &scripts_mem),
        ("number_of_cached_scripts", &scripts),
        ("number_of_functions", &0),
        ("number_of_libraries", &0),
        ("used_memory_vm_functions", &0),
        ("used_memory_vm_total", &0),
        ("used_memory_vm_total_human", &"0B"),
        ("used_memory_functions", &0),
        ("used_memory_scripts", &0),
        ("used_memory_scripts_human", &"0B"),
        ("maxmemory", &maxmemory),
        ("maxmemory_human", &bytes_to_human(maxmemory)),
        ("maxmemory_policy", &policy),
        ("allocator_frag_ratio", &ratio(resident, used)),
        ("allocator_frag_bytes", &resident.saturating_sub(used)),
        ("allocator_rss_ratio", &ratio(rss, resident)),
        ("allocator_rss_bytes", &rss.saturating_sub(resident)),
        ("rss_overhead_ratio", &ratio(rss, resident)),
        ("rss_overhead_bytes", &rss.saturating_sub(resident)),
        ("mem_fragmentation_ratio", &ratio(rss, used)),
        ("mem_fragmentation_bytes", &rss.saturating_sub(used)),
        ("mem_not_counted_for_evict", &srv.not_counted_memory()),
        ("mem_replication_backlog", &srv.repl.backlog_stats().2),
        ("mem_total_replication_buffers", &0),
        ("mem_clients_slaves", &0),
        ("mem_clients_normal", &srv.clients.mem.total()),
        ("mem_cluster_links", &0),
        ("mem_aof_buffer", &0),
        ("mem_allocator", &"jemalloc-5.3.0"),
        ("active_defrag_running", &0),
        (
            "lazyfree_pending_objects",
            &srv.keyspace.lazy_free.pending(),
        ),
        ("lazyfreed_objects", &srv.keyspace.lazy_free.freed()),
    ]);
}

fn persistence(srv: &Server, w: &mut InfoWriter) {
    let p = &srv.persistence;
    let (rdb, rw) = (&p.rdb, &p.rewrite);
    let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let flag = |b: &std::sync::atomic::AtomicBool| u8::from(b.load(Ordering::Relaxed));
    let status = |b: &std::sync::atomic::AtomicBool| {
        if b.load(Ordering::Relaxed) {
            "ok"
        } else {
            "err"
        }
    };
    let now = crate::clock::unix_ms();
    // Seconds a job has been running, -1 when none runs (Redis's convention).
    let running = |started: u64| {
        if started == 0 {
            -1
        } else {
            (now.saturating_sub(started) / 1000) as i64
        }
    };
    let bgsave = rdb.in_progress.load(Ordering::Relaxed);
    let (processed, total) = if bgsave || rw.in_progress.load(Ordering::Relaxed) {
        (ld(&rdb.keys_processed), ld(&rdb.keys_total))
    } else {
        (0, 0)
    };
    let perc = if total == 0 {
        0.0
    } else {
        processed as f64 * 100.0 / total as f64
    };
    let aof = p.aof();
    w.fields(&[
        ("loading", &0),
        ("async_loading", &0),
        ("current_cow_peak", &0),
        ("current_cow_size", &0),
        ("current_cow_size_age", &0),
        ("current_fork_perc", &format_args!("{perc:.2}")),
        ("current_save_keys_processed", &processed),
        ("current_save_keys_total", &total),
        (
            "rdb_changes_since_last_save",
            &srv.dirty.load(Ordering::Relaxed),
        ),
        ("rdb_bgsave_in_progress", &u8::from(bgsave)),
        ("rdb_last_save_time", &srv.lastsave.load(Ordering::Relaxed)),
        ("rdb_last_bgsave_status", &status(&rdb.last_bgsave_ok)),
        (
            "rdb_last_bgsave_time_sec",
            &rdb.last_duration_sec.load(Ordering::Relaxed),
        ),
        ("rdb_current_bgsave_time_sec", &running(ld(&rdb.started_ms))),
        ("rdb_saves", &ld(&rdb.saves)),
        ("rdb_last_cow_size", &ld(&rdb.last_cow)),
        ("rdb_last_load_keys_expired", &ld(&rdb.load_expired)),
        ("rdb_last_load_keys_loaded", &ld(&rdb.loaded)),
        ("aof_enabled", &u8::from(aof.is_some())),
        ("aof_rewrite_in_progress", &flag(&rw.in_progress)),
        ("aof_rewrite_scheduled", &flag(&rw.scheduled)),
        (
            "aof_last_rewrite_time_sec",
            &rw.last_duration_sec.load(Ordering::Relaxed),
        ),
        ("aof_current_rewrite_time_sec", &running(ld(&rw.started_ms))),
        ("aof_last_bgrewrite_status", &status(&rw.last_ok)),
        ("aof_rewrites", &ld(&rw.rewrites)),
        (
            "aof_rewrites_consecutive_failures",
            &ld(&rw.consecutive_failures),
        ),
        ("aof_last_write_status", &status(&p.aof_ok)),
        ("aof_last_cow_size", &ld(&rw.last_cow)),
        ("module_fork_in_progress", &0),
        ("module_fork_last_cow_size", &0),
    ]);
    if let Some(aof) = aof {
        w.fields(&[
            ("aof_current_size", &ld(&aof.current_size)),
            ("aof_base_size", &ld(&aof.base_size)),
            ("aof_pending_rewrite", &flag(&rw.scheduled)),
            ("aof_buffer_length", &ld(&aof.pending)),
            ("aof_pending_bio_fsync", &0),
            ("aof_delayed_fsync", &0),
        ]);
    }
}

fn stats(srv: &Server, w: &mut InfoWriter) {
    let s = &srv.stats;
    let ks = &srv.keyspace.stats;
    let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let tracking = srv.tracking.info();
    w.fields(&[
        ("total_connections_received", &ld(&s.connections)),
        ("total_commands_processed", &ld(&s.commands)),
        ("instantaneous_ops_per_sec", &s.ops_per_sec()),
        ("total_net_input_bytes", &ld(&s.net_input)),
        ("total_net_output_bytes", &ld(&s.net_output)),
        ("total_net_repl_input_bytes", &0),
        ("total_net_repl_output_bytes", &0),
        ("instantaneous_input_kbps", &"0.00"),
        ("instantaneous_output_kbps", &"0.00"),
        ("instantaneous_input_repl_kbps", &"0.00"),
        ("instantaneous_output_repl_kbps", &"0.00"),
        ("rejected_connections", &ld(&s.rejected_connections)),
        ("sync_full", &ld(&srv.replicas.full_syncs)),
        ("sync_partial_ok", &ld(&srv.replicas.partial_ok)),
        ("sync_partial_err", &ld(&srv.replicas.partial_err)),
        ("expired_keys", &ld(&ks.expired)),
        ("expired_stale_perc", &"0.00"),
        ("expired_time_cap_reached_count", &0),
        ("expire_cycle_cpu_milliseconds", &0),
        ("evicted_keys", &ld(&ks.evicted)),
        ("evicted_clients", &srv.clients.mem.evicted()),
        (
            "client_output_buffer_limit_disconnections",
            &ld(&srv.pubsub.limit_disconnections),
        ),
        ("total_eviction_exceeded_time", &0),
        ("current_eviction_exceeded_time", &0),
        ("keyspace_hits", &ld(&ks.hits)),
        ("keyspace_misses", &ld(&ks.misses)),
        ("pubsub_channels", &srv.pubsub.channel_count(Kind::Channel)),
        ("pubsub_patterns", &srv.pubsub.pattern_count()),
        (
            "pubsubshard_channels",
            &srv.pubsub.channel_count(Kind::Shard),
        ),
        ("latest_fork_usec", &0),
        ("total_forks", &0),
        ("migrate_cached_sockets", &0),
        ("slave_expires_tracked_keys", &0),
        ("active_defrag_hits", &0),
        ("active_defrag_misses", &0),
        ("active_defrag_key_hits", &0),
        ("active_defrag_key_misses", &0),
        ("total_active_defrag_time", &0),
        ("current_active_defrag_time", &0),
        ("tracking_total_keys", &tracking[1]),
        ("tracking_total_items", &tracking[2]),
        ("tracking_total_prefixes", &tracking[3]),
        ("unexpected_error_replies", &0),
        ("total_error_replies", &ld(&s.error_replies)),
        ("dump_payload_sanitizations", &0),
        ("total_reads_processed", &0),
        ("total_writes_processed", &0),
        ("io_threaded_reads_processed", &0),
        ("io_threaded_writes_processed", &0),
        ("reply_buffer_shrinks", &0),
        ("reply_buffer_expands", &0),
    ]);
    // ringcache's own, shown under its TinyLFU policies only: newcomers kept
    // (their rival evicted) and evicted (both count in evicted_keys too).
    if srv.keyspace.policy().is_tinylfu() {
        let lfu = &srv.keyspace.tinylfu;
        w.fields(&[
            ("tinylfu_admitted", &ld(&lfu.admitted)),
            ("tinylfu_rejected", &ld(&lfu.rejected)),
            ("tinylfu_table_bytes", &lfu.bytes()),
        ]);
    }
}

fn replication(srv: &Server, w: &mut InfoWriter) {
    use crate::repl::links::LinkState;
    let now = crate::clock::unix_ms();
    let up = srv.upstream.get();
    match &up {
        Some(up) => {
            let off = up.applied(&srv.repl);
            let link = up.link_up.load(Ordering::Relaxed);
            let since = |ms: u64| (now.saturating_sub(ms) / 1000) as i64;
            w.fields(&[
                ("role", &"slave"),
                ("master_host", &up.host),
                ("master_port", &up.port),
                ("master_link_status", &if link { "up" } else { "down" }),
                (
                    "master_last_io_seconds_ago",
                    &if link {
                        since(up.last_io_ms.load(Ordering::Relaxed))
                    } else {
                        -1
                    },
                ),
                (
                    "master_sync_in_progress",
                    &u8::from(up.sync_in_progress.load(Ordering::Relaxed)),
                ),
                ("slave_read_repl_offset", &off.max(0)),
                ("slave_repl_offset", &off.max(0)),
            ]);
            if !link {
                w.field(
                    "master_link_down_since_seconds",
                    since(up.down_since_ms.load(Ordering::Relaxed)),
                );
            }
            w.fields(&[
                ("slave_priority", &100),
                (
                    "slave_read_only",
                    &u8::from(srv.config.read().replica_read_only),
                ),
                ("replica_announced", &1),
            ]);
        }
        None => w.field("role", "master"),
    }
    // A replica's log is its primary's stream, under the same ids.
    let (ids, offset) = srv.repl.position();
    let links = srv.replicas.list();
    w.field("connected_slaves", links.len());
    for (i, l) in links.iter().enumerate() {
        let state = match l.state() {
            LinkState::WaitBgsave => "wait_bgsave",
            LinkState::SendBulk => "send_bulk",
            LinkState::Online => "online",
        };
        let lag = now.saturating_sub(l.last_ack_ms.load(Ordering::Relaxed)) / 1000;
        w.field(
            &format!("slave{i}"),
            format_args!(
                "ip={},port={},state={state},offset={},lag={lag}",
                l.ip,
                l.port,
                l.ack.load(Ordering::Relaxed)
            ),
        );
    }
    let (size, first, held) = srv.repl.backlog_stats();
    let active = srv.repl.is_active();
    w.fields(&[
        ("master_failover_state", &"no-failover"),
        ("master_replid", &ids.replid),
        ("master_replid2", &ids.replid2),
        ("master_repl_offset", &offset),
        ("second_repl_offset", &ids.second_offset),
        ("repl_backlog_active", &u8::from(active)),
        ("repl_backlog_size", &size),
        (
            "repl_backlog_first_byte_offset",
            &if active { first } else { 0 },
        ),
        ("repl_backlog_histlen", &held),
    ]);
}

/// (user, system) CPU time in clock ticks from a `/proc/…/stat` line.
fn parse_cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    // The command name may contain spaces and ')', so split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let user = f.next()?.parse().ok()?;
    let sys = f.next()?.parse().ok()?;
    Some((user, sys))
}

/// Clock ticks as Redis prints a `timeval`: `seconds.micros`. Linux reports
/// /proc times in USER_HZ, which is 100 on every mainstream architecture.
fn ticks_to_secs(ticks: u64) -> String {
    const USER_HZ: u64 = 100;
    format!(
        "{}.{:06}",
        ticks / USER_HZ,
        (ticks % USER_HZ) * (1_000_000 / USER_HZ)
    )
}

fn cpu_times(path: &str) -> (String, String) {
    let (user, sys) = std::fs::read_to_string(path)
        .ok()
        .and_then(|s| parse_cpu_ticks(&s))
        .unwrap_or((0, 0));
    (ticks_to_secs(sys), ticks_to_secs(user))
}

fn cpu(_: &Server, w: &mut InfoWriter) {
    let (sys, user) = cpu_times("/proc/self/stat");
    let main_path = format!("/proc/self/task/{}/stat", std::process::id());
    let (msys, muser) = cpu_times(&main_path);
    w.fields(&[
        ("used_cpu_sys", &sys),
        ("used_cpu_user", &user),
        ("used_cpu_sys_children", &"0.000000"),
        ("used_cpu_user_children", &"0.000000"),
        ("used_cpu_sys_main_thread", &msys),
        ("used_cpu_user_main_thread", &muser),
    ]);
}

fn commandstats(srv: &Server, w: &mut InfoWriter) {
    for (id, _, name) in crate::commands::table::index().entries() {
        let st = &srv.command_stats[id];
        let calls = st.calls.load(Ordering::Relaxed);
        let rejected = st.rejected.load(Ordering::Relaxed);
        let failed = st.failed.load(Ordering::Relaxed);
        if calls == 0 && rejected == 0 && failed == 0 {
            continue;
        }
        let usec = st.usec.load(Ordering::Relaxed);
        let per_call = if calls == 0 {
            0.0
        } else {
            usec as f64 / calls as f64
        };
        let _ = write!(
            w.text,
            "cmdstat_{name}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}\r\n"
        );
    }
}

fn errorstats(srv: &Server, w: &mut InfoWriter) {
    // Redis walks a radix tree, so codes come out sorted.
    let mut codes = srv.stats.errors_by_code.lock().clone();
    codes.sort();
    for (code, n) in codes {
        let _ = write!(w.text, "errorstat_{code}:count={n}\r\n");
    }
}

fn cluster(srv: &Server, w: &mut InfoWriter) {
    w.field("cluster_enabled", srv.cluster.is_some() as u8);
}

fn keyspace(srv: &Server, w: &mut InfoWriter) {
    for i in 0..srv.keyspace.db_count() {
        let db = srv.keyspace.db(i);
        let (keys, expires) = (db.len(), db.volatile_len());
        if keys > 0 || expires > 0 {
            let _ = write!(w.text, "db{i}:keys={keys},expires={expires},avg_ttl=0\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn sel(args: &[&str]) -> Selection {
        Selection::parse(args.iter().map(|a| a.as_bytes()))
    }

    fn headers(text: &str) -> Vec<&str> {
        text.lines().filter(|l| l.starts_with('#')).collect()
    }

    #[test]
    fn default_sections_match_redis() {
        let srv = Server::new(Config::defaults());
        let text = render(&srv, &sel(&[]));
        assert_eq!(
            headers(&text),
            [
                "# Server",
                "# Clients",
                "# Memory",
                "# Persistence",
                "# Stats",
                "# Replication",
                "# CPU",
                "# Modules",
                "# Errorstats",
                "# Cluster",
                "# Keyspace"
            ]
        );
        assert_eq!(headers(&render(&srv, &sel(&["default"]))), headers(&text));
        assert!(text.contains("\r\n\r\n# Clients\r\n"));
        assert!(text.ends_with("# Keyspace\r\n"));
    }

    #[test]
    fn all_everything_and_multiple_sections() {
        let srv = Server::new(Config::defaults());
        assert_eq!(headers(&render(&srv, &sel(&["all"]))).len(), SECTIONS.len());
        assert_eq!(
            headers(&render(&srv, &sel(&["everything"]))).len(),
            SECTIONS.len()
        );
        let t = render(&srv, &sel(&["CPU", "cpu", "commandSTATS"]));
        assert_eq!(headers(&t), ["# CPU", "# Commandstats"]);
        assert_eq!(render(&srv, &sel(&["nosuch"])), "");
        assert_eq!(headers(&render(&srv, &sel(&["modules"]))), ["# Modules"]);
        // "cpu all" must not print CPU twice.
        let t = render(&srv, &sel(&["cpu", "all"]));
        assert_eq!(t.matches("used_cpu_user_children").count(), 1);
    }

    #[test]
    fn human_sizes() {
        assert_eq!(bytes_to_human(512), "512B");
        assert_eq!(bytes_to_human(1460576), "1.39M");
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(25276510208), "23.54G");
    }

    #[test]
    fn cpu_ticks_parse_after_the_command_name() {
        let line = "123 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 37 0 0";
        assert_eq!(parse_cpu_ticks(line), Some((250, 37)));
        assert_eq!(ticks_to_secs(250), "2.500000");
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }
}
