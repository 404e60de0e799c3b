//! The option table: every option `CONFIG GET/SET` knows, as data (name, syntax,
//! whether it is mutable and carried by the TOML file, getter, setter), and what
//! is derived from it (lookup, value parsing, `CONFIG REWRITE`'s file).

use super::eviction::POLICY_WORDS;
use super::protected::{ProtectedAction, PROTECTED_WORDS};
use super::value::{parse_save, render_size_or_percent, yes_no, OptionType, Val, MB};
use std::sync::atomic::Ordering::Relaxed;

use super::option_kinds::{fixed, live, opt};
pub use super::option_kinds::{ConfigOption, Getter, HotHook, Setter};
use super::Config;

const I32: i64 = i32::MAX as i64;
const U32: i64 = u32::MAX as i64;
const U16: i64 = u16::MAX as i64;

/// Every option `CONFIG GET` knows, as data: name, syntax, getter, setter.
pub static OPTIONS: &[ConfigOption] = &[
    // Both take effect through CONFIG SET, which opens the new socket first.
    opt(
        "bind",
        OptionType::Str,
        "127.0.0.1",
        |c| c.bind.clone(),
        |c, v| {
            c.bind = v.text();
            Ok(())
        },
    ),
    opt(
        "port",
        OptionType::Int(0, U16),
        "6379",
        |c| c.port.to_string(),
        |c, v| {
            c.port = v.int() as u16;
            Ok(())
        },
    ),
    fixed("databases", OptionType::Int(0, U32), "16", true, |c| {
        c.databases.to_string()
    }),
    // CONFIG SET changes the process's directory (as Redis's chdir) before
    // the new value is stored; reported as the absolute directory.
    opt(
        "dir",
        OptionType::Str,
        ".",
        |_| {
            std::env::current_dir()
                .map_or_else(|_| ".".into(), |p| p.to_string_lossy().into_owned())
        },
        |c, v| {
            c.dir = v.text();
            Ok(())
        },
    )
    .protected(),
    fixed("daemonize", OptionType::Bool, "no", false, |_| "no".into()),
    // "host port" of the primary ("" when none); REPLICAOF changes it, the
    // command line spells it `--replicaof HOST PORT`.
    fixed("replicaof", OptionType::Str, "", false, |c| {
        c.replicaof.clone()
    })
    .no_flag(),
    fixed("cluster-enabled", OptionType::Bool, "no", true, |c| {
        yes_no(c.cluster_enabled).into()
    }),
    fixed(
        "cluster-config-file",
        OptionType::Str,
        "nodes.conf",
        true,
        |c| c.cluster_config_file.clone(),
    ),
    fixed("cluster-port", OptionType::Int(0, U16), "0", true, |c| {
        c.cluster_port.to_string()
    }),
    opt(
        "cluster-node-timeout",
        OptionType::Int(1, i64::MAX),
        "15000",
        |c| c.cluster_node_timeout.to_string(),
        |c, v| {
            c.cluster_node_timeout = v.int() as u64;
            Ok(())
        },
    ),
    opt(
        "cluster-announce-ip",
        OptionType::Str,
        "",
        |c| c.cluster_announce_ip.clone(),
        |c, v| {
            c.cluster_announce_ip = v.text();
            Ok(())
        },
    ),
    opt(
        "cluster-announce-port",
        OptionType::Int(0, U16),
        "0",
        |c| c.cluster_announce_port.to_string(),
        |c, v| {
            c.cluster_announce_port = v.int() as u16;
            Ok(())
        },
    ),
    opt(
        "cluster-announce-bus-port",
        OptionType::Int(0, U16),
        "0",
        |c| c.cluster_announce_bus_port.to_string(),
        |c, v| {
            c.cluster_announce_bus_port = v.int() as u16;
            Ok(())
        },
    ),
    opt(
        "cluster-require-full-coverage",
        OptionType::Bool,
        "yes",
        |c| yes_no(c.cluster_require_full_coverage).into(),
        |c, v| {
            c.cluster_require_full_coverage = v.flag();
            Ok(())
        },
    ),
    opt(
        "cluster-allow-reads-when-down",
        OptionType::Bool,
        "no",
        |c| yes_no(c.cluster_allow_reads_when_down).into(),
        |c, v| {
            c.cluster_allow_reads_when_down = v.flag();
            Ok(())
        },
    ),
    opt(
        "cluster-allow-replica-migration",
        OptionType::Bool,
        "yes",
        |c| yes_no(c.cluster_allow_replica_migration).into(),
        |c, v| {
            c.cluster_allow_replica_migration = v.flag();
            Ok(())
        },
    ),
    opt(
        "cluster-replica-no-failover",
        OptionType::Bool,
        "no",
        |c| yes_no(c.cluster_replica_no_failover).into(),
        |c, v| {
            c.cluster_replica_no_failover = v.flag();
            Ok(())
        },
    ),
    opt(
        "cluster-replica-validity-factor",
        OptionType::Int(0, I32),
        "10",
        |c| c.cluster_replica_validity_factor.to_string(),
        |c, v| {
            c.cluster_replica_validity_factor = v.int() as u64;
            Ok(())
        },
    ),
    fixed("io-threads", OptionType::Int(1, 128), "1", false, |_| {
        "1".into()
    }),
    fixed(
        "appendfilename",
        OptionType::Str,
        "appendonly.aof",
        true,
        |c| c.appendfilename.clone(),
    ),
    opt(
        "requirepass",
        OptionType::Str,
        "",
        |c| c.requirepass.clone(),
        |c, v| {
            c.requirepass = v.text();
            Ok(())
        },
    )
    .hot(|h, c| h.auth_required.store(!c.requirepass.is_empty(), Relaxed)),
    opt(
        "maxmemory",
        OptionType::Size(0, u64::MAX),
        "0",
        |c| c.maxmemory.to_string(),
        |c, v| {
            c.maxmemory = v.int() as u64;
            Ok(())
        },
    )
    .hot(|h, c| {
        h.maxmemory.store(c.maxmemory, Relaxed);
        h.client_eviction_limit
            .store(c.client_eviction_limit(), Relaxed);
    }),
    // Client eviction: bytes, or a percentage of maxmemory (0 = off).
    opt(
        "maxmemory-clients",
        OptionType::MemoryOrPercent(100),
        "0",
        |c| render_size_or_percent(c.maxmemory_clients),
        |c, v| {
            c.maxmemory_clients = v.int();
            Ok(())
        },
    )
    .hot(|h, c| {
        h.client_eviction_limit
            .store(c.client_eviction_limit(), Relaxed)
    }),
    opt(
        "maxmemory-policy",
        OptionType::Enum(POLICY_WORDS),
        "noeviction",
        |c| c.maxmemory_policy.clone(),
        |c, v| {
            c.maxmemory_policy = v.text();
            Ok(())
        },
    ),
    opt(
        "maxmemory-samples",
        OptionType::Int(1, I32),
        "5",
        |c| c.maxmemory_samples.to_string(),
        |c, v| {
            c.maxmemory_samples = v.int() as u32;
            Ok(())
        },
    )
    .hot(|h, c| {
        h.maxmemory_samples
            .store(c.maxmemory_samples as usize, Relaxed)
    }),
    opt(
        "loglevel",
        OptionType::Enum(&["debug", "verbose", "notice", "warning"]),
        "notice",
        |c| c.loglevel.clone(),
        |c, v| {
            c.loglevel = v.text();
            Ok(())
        },
    ),
    // The listen backlog, fixed once the socket listens (Redis: immutable).
    fixed("tcp-backlog", OptionType::Int(0, I32), "511", true, |c| {
        c.tcp_backlog.to_string()
    }),
    // Who may run DEBUG / CONFIG SET a protected option: no, yes or local.
    fixed(
        "enable-debug-command",
        OptionType::Enum(PROTECTED_WORDS),
        "no",
        true,
        |c| c.enable_debug_command.clone(),
    )
    .hot(|h, c| {
        let a = ProtectedAction::parse(&c.enable_debug_command).unwrap_or_default();
        h.debug_command.store(a.to_u8(), Relaxed)
    }),
    fixed(
        "enable-protected-configs",
        OptionType::Enum(PROTECTED_WORDS),
        "no",
        true,
        |c| c.enable_protected_configs.clone(),
    ),
    opt(
        "maxclients",
        OptionType::Int(1, u32::MAX as i64),
        "10000",
        |c| c.maxclients.to_string(),
        |c, v| {
            c.maxclients = v.int() as u32;
            Ok(())
        },
    )
    .hot(|h, c| h.maxclients.store(c.maxclients as usize, Relaxed)),
    opt(
        "timeout",
        OptionType::Int(0, I32),
        "0",
        |c| c.timeout.to_string(),
        |c, v| {
            c.timeout = v.int() as u64;
            Ok(())
        },
    )
    .hot(|h, c| h.timeout.store(c.timeout, Relaxed)),
    opt(
        "proto-max-bulk-len",
        OptionType::Size(MB, i64::MAX as u64),
        "512mb",
        |c| c.proto_max_bulk_len.to_string(),
        |c, v| {
            c.proto_max_bulk_len = v.int() as u64;
            Ok(())
        },
    )
    .hot(|h, c| h.proto_max_bulk_len.store(c.proto_max_bulk_len, Relaxed)),
    opt(
        "client-query-buffer-limit",
        OptionType::Size(MB, i64::MAX as u64),
        "1gb",
        |c| c.client_query_buffer_limit.to_string(),
        |c, v| {
            c.client_query_buffer_limit = v.int() as u64;
            Ok(())
        },
    )
    .hot(|h, c| {
        h.client_query_buffer_limit
            .store(c.client_query_buffer_limit, Relaxed)
    }),
    // Redis clamps hz into 1..=500 instead of refusing it.
    opt(
        "hz",
        OptionType::Int(0, I32),
        "10",
        |c| c.hz.to_string(),
        |c, v| {
            c.hz = v.int().clamp(1, 500) as u32;
            Ok(())
        },
    ),
    opt(
        "slowlog-log-slower-than",
        OptionType::Int(i64::MIN, i64::MAX),
        "10000",
        |c| c.slowlog_log_slower_than.to_string(),
        |c, v| {
            c.slowlog_log_slower_than = v.int();
            Ok(())
        },
    )
    .hot(|h, c| {
        h.slowlog_slower_than
            .store(c.slowlog_log_slower_than, Relaxed)
    }),
    opt(
        "slowlog-max-len",
        OptionType::Int(0, i64::MAX),
        "128",
        |c| c.slowlog_max_len.to_string(),
        |c, v| {
            c.slowlog_max_len = v.int() as u64;
            Ok(())
        },
    ),
    opt(
        "latency-monitor-threshold",
        OptionType::Int(0, i64::MAX),
        "0",
        |c| c.latency_monitor_threshold.to_string(),
        |c, v| {
            c.latency_monitor_threshold = v.int() as u64;
            Ok(())
        },
    ),
    // Past this many milliseconds a running script makes other clients get
    // -BUSY and may be stopped by SCRIPT KILL.
    opt(
        "busy-reply-threshold",
        OptionType::Int(0, i64::MAX),
        "5000",
        |c| c.busy_reply_threshold.to_string(),
        |c, v| {
            c.busy_reply_threshold = v.int() as u64;
            Ok(())
        },
    )
    .hot(|h, c| {
        h.busy_reply_threshold
            .store(c.busy_reply_threshold, Relaxed)
    }),
    opt("save", OptionType::Str, "", |c| c.save.clone(), set_save),
    opt(
        "masterauth",
        OptionType::Str,
        "",
        |c| c.masterauth.clone(),
        |c, v| {
            c.masterauth = v.text();
            Ok(())
        },
    ),
    opt(
        "replica-read-only",
        OptionType::Bool,
        "yes",
        |c| yes_no(c.replica_read_only).into(),
        |c, v| {
            c.replica_read_only = v.flag();
            Ok(())
        },
    ),
    opt(
        "replica-ignore-maxmemory",
        OptionType::Bool,
        "yes",
        |c| yes_no(c.replica_ignore_maxmemory).into(),
        |c, v| {
            c.replica_ignore_maxmemory = v.flag();
            Ok(())
        },
    )
    .hot(|h, c| {
        h.replica_ignore_maxmemory
            .store(c.replica_ignore_maxmemory, Relaxed)
    }),
    opt(
        "client-output-buffer-limit",
        OptionType::Str,
        "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60",
        |c| c.client_output_buffer_limit.render(),
        |c, v| {
            c.client_output_buffer_limit = c.client_output_buffer_limit.apply(&v.text())?;
            Ok(())
        },
    )
    .hot(|h, c| {
        let limits = c.client_output_buffer_limit;
        for (hot, l) in [
            (&h.pubsub_limit, limits.pubsub),
            (&h.normal_limit, limits.normal),
        ] {
            hot[0].store(l.hard, Relaxed);
            hot[1].store(l.soft, Relaxed);
            hot[2].store(l.soft_seconds.saturating_mul(1000), Relaxed);
        }
    }),
    opt(
        "repl-backlog-size",
        OptionType::Size(1, i64::MAX as u64),
        "1mb",
        |c| c.repl_backlog_size.to_string(),
        |c, v| {
            c.repl_backlog_size = v.int() as u64;
            Ok(())
        },
    ),
    opt(
        "min-replicas-to-write",
        OptionType::Int(0, I32),
        "0",
        |c| c.min_replicas_to_write.to_string(),
        |c, v| {
            c.min_replicas_to_write = v.int() as u32;
            Ok(())
        },
    )
    .hot(|h, c| {
        h.min_replicas
            .store(u64::from(c.min_replicas_to_write), Relaxed)
    }),
    opt(
        "replica-sync-writes",
        OptionType::Int(0, I32),
        "0",
        |c| c.replica_sync_writes.to_string(),
        |c, v| {
            c.replica_sync_writes = v.int() as u32;
            Ok(())
        },
    )
    .hot(|h, c| {
        h.replica_sync_writes
            .store(u64::from(c.replica_sync_writes), Relaxed)
    }),
    opt(
        "replica-sync-timeout",
        OptionType::Int(1, I32),
        "1000",
        |c| c.replica_sync_timeout.to_string(),
        |c, v| {
            c.replica_sync_timeout = v.int() as u64;
            Ok(())
        },
    )
    .hot(|h, c| {
        h.replica_sync_timeout
            .store(c.replica_sync_timeout, Relaxed)
    }),
    opt(
        "min-replicas-max-lag",
        OptionType::Int(0, I32),
        "10",
        |c| c.min_replicas_max_lag.to_string(),
        |c, v| {
            c.min_replicas_max_lag = v.int() as u32;
            Ok(())
        },
    )
    .hot(|h, c| {
        h.min_replicas_max_lag
            .store(u64::from(c.min_replicas_max_lag), Relaxed)
    }),
    opt(
        "appendonly",
        OptionType::Bool,
        "no",
        |c| yes_no(c.appendonly).into(),
        |c, v| {
            c.appendonly = v.flag();
            Ok(())
        },
    ),
    opt(
        "appendfsync",
        OptionType::Enum(&["always", "everysec", "no"]),
        "everysec",
        |c| c.appendfsync.clone(),
        |c, v| {
            c.appendfsync = v.text();
            Ok(())
        },
    ),
    opt(
        "rdbcompression",
        OptionType::Bool,
        "yes",
        |c| yes_no(c.rdbcompression).into(),
        |c, v| {
            c.rdbcompression = v.flag();
            Ok(())
        },
    ),
    opt(
        "rdbchecksum",
        OptionType::Bool,
        "yes",
        |c| yes_no(c.rdbchecksum).into(),
        |c, v| {
            c.rdbchecksum = v.flag();
            Ok(())
        },
    ),
    opt(
        "stop-writes-on-bgsave-error",
        OptionType::Bool,
        "yes",
        |c| yes_no(c.stop_writes_on_bgsave_error).into(),
        |c, v| {
            c.stop_writes_on_bgsave_error = v.flag();
            Ok(())
        },
    ),
    opt(
        "aof-load-truncated",
        OptionType::Bool,
        "yes",
        |c| yes_no(c.aof_load_truncated).into(),
        |c, v| {
            c.aof_load_truncated = v.flag();
            Ok(())
        },
    ),
    opt(
        "aof-use-rdb-preamble",
        OptionType::Bool,
        "yes",
        |c| yes_no(c.aof_use_rdb_preamble).into(),
        |c, v| {
            c.aof_use_rdb_preamble = v.flag();
            Ok(())
        },
    ),
    opt(
        "auto-aof-rewrite-percentage",
        OptionType::Int(0, I32),
        "100",
        |c| c.auto_aof_rewrite_percentage.to_string(),
        |c, v| {
            c.auto_aof_rewrite_percentage = v.int() as u64;
            Ok(())
        },
    ),
    opt(
        "auto-aof-rewrite-min-size",
        OptionType::Size(0, i64::MAX as u64),
        "64mb",
        |c| c.auto_aof_rewrite_min_size.to_string(),
        |c, v| {
            c.auto_aof_rewrite_min_size = v.int() as u64;
            Ok(())
        },
    ),
    encoding_limit!(
        "hash-max-listpack-entries",
        I32,
        "512",
        hash_max_listpack_entries
    ),
    encoding_limit!(
        "hash-max-listpack-value",
        I32,
        "64",
        hash_max_listpack_value
    ),
    encoding_limit!("list-max-listpack-size", I32, "-2", list_max_listpack_size),
    encoding_limit!("list-compress-depth", I32, "0", list_compress_depth),
    encoding_limit!("set-max-intset-entries", I32, "512", set_max_intset_entries),
    encoding_limit!(
        "zset-max-listpack-entries",
        I32,
        "128",
        zset_max_listpack_entries
    ),
    encoding_limit!(
        "zset-max-listpack-value",
        I32,
        "64",
        zset_max_listpack_value
    ),
    encoding_limit!("hll-sparse-max-bytes", I32, "3000", hll_sparse_max_bytes),
    live(
        "stream-node-max-bytes",
        OptionType::Size(0, i64::MAX as u64),
        "4096",
        |c| c.encodings.stream_node_max_bytes.to_string(),
        |c, v| {
            c.encodings.stream_node_max_bytes = v.int();
            Ok(())
        },
    )
    .hot(|h, c| {
        h.encodings
            .stream_node_max_bytes
            .store(c.encodings.stream_node_max_bytes, Relaxed)
    }),
    encoding_limit!(
        "stream-node-max-entries",
        i64::MAX,
        "100",
        stream_node_max_entries
    ),
    live(
        "lfu-log-factor",
        OptionType::Int(0, I32),
        "10",
        |c| c.tunables.lfu_log_factor.to_string(),
        |c, v| {
            c.tunables.lfu_log_factor = v.int();
            Ok(())
        },
    ),
    live(
        "lfu-decay-time",
        OptionType::Int(0, I32),
        "1",
        |c| c.tunables.lfu_decay_time.to_string(),
        |c, v| {
            c.tunables.lfu_decay_time = v.int();
            Ok(())
        },
    ),
    live(
        "active-expire-effort",
        OptionType::Int(1, 10),
        "1",
        |c| c.tunables.active_expire_effort.to_string(),
        |c, v| {
            c.tunables.active_expire_effort = v.int();
            Ok(())
        },
    ),
    live(
        "maxmemory-eviction-tenacity",
        OptionType::Int(0, 100),
        "10",
        |c| c.tunables.maxmemory_eviction_tenacity.to_string(),
        |c, v| {
            c.tunables.maxmemory_eviction_tenacity = v.int();
            Ok(())
        },
    ),
    live(
        "tcp-keepalive",
        OptionType::Int(0, I32),
        "300",
        |c| c.tunables.tcp_keepalive.to_string(),
        |c, v| {
            c.tunables.tcp_keepalive = v.int();
            Ok(())
        },
    )
    .hot(|h, c| {
        h.tcp_keepalive
            .store(c.tunables.tcp_keepalive as u64, Relaxed)
    }),
    opt(
        "dbfilename",
        OptionType::Str,
        "dump.rdb",
        |c| c.dbfilename.clone(),
        |c, v| {
            let name = v.text();
            if name.contains('/') {
                return Err("dbfilename can't be a path, just a filename".into());
            }
            c.dbfilename = name;
            Ok(())
        },
    )
    .protected(),
    live(
        "protected-mode",
        OptionType::Bool,
        "yes",
        |c| yes_no(c.tunables.protected_mode).into(),
        |c, v| {
            c.tunables.protected_mode = v.flag();
            Ok(())
        },
    )
    .hot(|h, c| h.protected_mode.store(c.tunables.protected_mode, Relaxed)),
    live(
        "tracking-table-max-keys",
        OptionType::Int(0, i64::MAX),
        "1000000",
        |c| c.tunables.tracking_table_max_keys.to_string(),
        |c, v| {
            c.tunables.tracking_table_max_keys = v.int() as u64;
            Ok(())
        },
    )
    .hot(|h, c| {
        h.tracking_table_max_keys
            .store(c.tunables.tracking_table_max_keys, Relaxed)
    }),
    live(
        "notify-keyspace-events",
        OptionType::Str,
        "",
        |c| super::keyspace_events::render(c.tunables.notify_keyspace_events),
        |c, v| {
            c.tunables.notify_keyspace_events = super::keyspace_events::parse(&v.text())
                .ok_or_else(|| {
                    "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()
                })?;
            Ok(())
        },
    )
    .hot(|h, c| {
        h.notify_keyspace_events
            .store(c.tunables.notify_keyspace_events, Relaxed)
    }),
    // Microseconds each key of an RDB load waits (negative -N: 1 µs for one
    // key in N), to test what happens while a load runs.
    live(
        "key-load-delay",
        OptionType::Int(i32::MIN as i64, I32),
        "0",
        |c| c.key_load_delay.to_string(),
        |c, v| {
            c.key_load_delay = v.int();
            Ok(())
        },
    )
    .hidden(),
    lazyfree_flag!("lazyfree-lazy-eviction", 0),
    lazyfree_flag!("lazyfree-lazy-expire", 1),
    lazyfree_flag!("lazyfree-lazy-server-del", 2),
    lazyfree_flag!("lazyfree-lazy-user-del", 3),
    lazyfree_flag!("lazyfree-lazy-user-flush", 4),
];

/// `save`: "" or pairs of positive integers (Redis's syntax check); only "" is
/// accepted because snapshots do not exist yet.
fn set_save(c: &mut Config, v: Val<'_>) -> Result<(), String> {
    let text = v.text();
    let points = parse_save(&text).ok_or_else(|| "Invalid save parameters".to_string())?;
    c.save = points
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::option_lookup::{find_option, parse_value, to_toml};

    #[test]
    fn option_values_parse_with_redis_errors() {
        let o = |n| find_option(n).unwrap();
        assert!(matches!(parse_value(o("maxmemory"), "100mb"), Ok(Val::Int(n)) if n == 100 << 20));
        assert_eq!(
            parse_value(o("maxmemory"), "abc").unwrap_err(),
            "argument must be a memory value"
        );
        assert_eq!(
            parse_value(o("timeout"), "-1").unwrap_err(),
            "argument must be between 0 and 2147483647 inclusive"
        );
        assert_eq!(
            parse_value(o("slowlog-log-slower-than"), "x").unwrap_err(),
            "argument couldn't be parsed into an integer"
        );
        assert_eq!(
            parse_value(o("appendonly"), "maybe").unwrap_err(),
            "argument must be 'yes' or 'no'"
        );
        assert!(parse_value(o("loglevel"), "foo")
            .unwrap_err()
            .starts_with("argument(s) must be one of the following: debug, verbose"));
        assert!(find_option("MaxMemory").is_some());
        assert!(find_option("nosuch").is_none());
    }

    #[test]
    fn setters_apply_and_clamp() {
        let mut c = Config::defaults();
        let set = |c: &mut Config, n: &str, v: &str| {
            let o = find_option(n).unwrap();
            let val = parse_value(o, v)?;
            (o.set)(c, val)
        };
        set(&mut c, "hz", "1000").unwrap();
        assert_eq!(c.hz, 500);
        set(&mut c, "hz", "0").unwrap();
        assert_eq!(c.hz, 1);
        set(&mut c, "maxmemory-policy", "ALLKEYS-LRU").unwrap();
        assert_eq!(
            (find_option("maxmemory-policy").unwrap().get)(&c),
            "allkeys-lru"
        );
        assert_eq!(
            set(&mut c, "databases", "3").unwrap_err(),
            "can't set immutable config"
        );
        assert_eq!(
            set(&mut c, "save", "x").unwrap_err(),
            "Invalid save parameters"
        );
        set(&mut c, "save", "").unwrap();
        set(&mut c, "save", "3600  1 300 100").unwrap();
        assert_eq!(c.save, "3600 1 300 100");
        assert_eq!(parse_save(&c.save), Some(vec![(3600, 1), (300, 100)]));
        let names: Vec<&str> = OPTIONS.iter().map(|o| o.name).collect();
        let mut dedup = names.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(names.len(), dedup.len(), "duplicate option names");
    }

    #[test]
    fn rewrite_round_trips_through_load() {
        let mut c = Config::defaults();
        c.maxmemory = 12345;
        c.requirepass = "p\"w".into();
        c.rename_command = vec![
            vec!["CONFIG".into(), "".into()],
            vec!["get".into(), "g".into()],
        ];
        let dir = std::env::temp_dir().join(format!("rc-rewrite-{}.toml", std::process::id()));
        std::fs::write(&dir, to_toml(&c)).unwrap();
        let back = Config::load(dir.to_str(), &[]).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(back.maxmemory, 12345);
        assert_eq!(back.requirepass, "p\"w");
        assert_eq!(back.rename_command, c.rename_command);
    }
}
