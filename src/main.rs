//! The `ringcache` binary: flags → `Config` → listener → `server::run`.

use std::sync::Arc;

use clap::Parser;
use tikv_jemallocator::Jemalloc;

use ringcache::cluster::{Cluster, ClusterConfig};
use ringcache::config::Config;
use ringcache::node::Server;
use ringcache::server;

#[global_allocator]
static GLOBAL: Jemalloc = Jemalloc;

/// Command-line flags, spelled as Redis's options so scripts carry over.
#[derive(Parser, Debug)]
#[command(
    name = "ringcache",
    version,
    about = "A Redis-compatible, cluster-native cache server"
)]
struct Flags {
    /// TOML configuration file (layered over the built-in defaults).
    #[arg(long)]
    config: Option<String>,
    #[arg(long)]
    port: Option<u16>,
    #[arg(long)]
    bind: Option<String>,
    #[arg(long)]
    requirepass: Option<String>,
    /// Memory limit, e.g. 100mb or 1gb.
    #[arg(long)]
    maxmemory: Option<String>,
    #[arg(long = "maxmemory-policy")]
    maxmemory_policy: Option<String>,
    #[arg(long = "maxmemory-samples")]
    maxmemory_samples: Option<u32>,
    #[arg(long)]
    databases: Option<u32>,
    #[arg(long)]
    dir: Option<String>,
    #[arg(long)]
    loglevel: Option<String>,
    #[arg(long)]
    maxclients: Option<u32>,
    #[arg(long)]
    timeout: Option<u64>,
    #[arg(long = "proto-max-bulk-len")]
    proto_max_bulk_len: Option<String>,
    #[arg(long = "client-query-buffer-limit")]
    client_query_buffer_limit: Option<String>,
    #[arg(long)]
    hz: Option<u32>,
    /// RDB save points, e.g. "3600 1 300 100 60 10000" ("" = none).
    #[arg(long)]
    save: Option<String>,
    #[arg(long)]
    dbfilename: Option<String>,
    #[arg(long)]
    rdbcompression: Option<String>,
    #[arg(long)]
    rdbchecksum: Option<String>,
    #[arg(long = "stop-writes-on-bgsave-error")]
    stop_writes_on_bgsave_error: Option<String>,
    /// `yes` to log every write to the append-only file.
    #[arg(long)]
    appendonly: Option<String>,
    #[arg(long)]
    appendfilename: Option<String>,
    /// always, everysec or no.
    #[arg(long)]
    appendfsync: Option<String>,
    #[arg(long = "aof-load-truncated")]
    aof_load_truncated: Option<String>,
    #[arg(long = "aof-use-rdb-preamble")]
    aof_use_rdb_preamble: Option<String>,
    #[arg(long = "auto-aof-rewrite-percentage")]
    auto_aof_rewrite_percentage: Option<u64>,
    #[arg(long = "auto-aof-rewrite-min-size")]
    auto_aof_rewrite_min_size: Option<String>,
    /// Replicate HOST PORT from start.
    #[arg(long, num_args = 2, value_names = ["HOST", "PORT"], alias = "slaveof")]
    replicaof: Option<Vec<String>>,
    #[arg(long)]
    masterauth: Option<String>,
    #[arg(long = "replica-read-only")]
    replica_read_only: Option<String>,
    #[arg(long = "replica-ignore-maxmemory")]
    replica_ignore_maxmemory: Option<String>,
    #[arg(long = "client-output-buffer-limit")]
    client_output_buffer_limit: Option<String>,
    #[arg(long = "repl-backlog-size")]
    repl_backlog_size: Option<String>,
    #[arg(long = "min-replicas-to-write")]
    min_replicas_to_write: Option<u32>,
    #[arg(long = "min-replicas-max-lag")]
    min_replicas_max_lag: Option<u32>,
    /// `yes` to run as a Redis Cluster node.
    #[arg(long = "cluster-enabled")]
    cluster_enabled: Option<String>,
    #[arg(long = "cluster-config-file")]
    cluster_config_file: Option<String>,
    /// Node timeout in milliseconds.
    #[arg(long = "cluster-node-timeout")]
    cluster_node_timeout: Option<u64>,
    /// Cluster bus port (default: port + 10000).
    #[arg(long = "cluster-port")]
    cluster_port: Option<u16>,
    #[arg(long = "cluster-announce-ip")]
    cluster_announce_ip: Option<String>,
    #[arg(long = "cluster-announce-port")]
    cluster_announce_port: Option<u16>,
    #[arg(long = "cluster-announce-bus-port")]
    cluster_announce_bus_port: Option<u16>,
    #[arg(long = "cluster-require-full-coverage")]
    cluster_require_full_coverage: Option<String>,
    #[arg(long = "cluster-allow-reads-when-down")]
    cluster_allow_reads_when_down: Option<String>,
    #[arg(long = "cluster-allow-replica-migration")]
    cluster_allow_replica_migration: Option<String>,
    #[arg(long = "cluster-replica-no-failover")]
    cluster_replica_no_failover: Option<String>,
    #[arg(long = "cluster-replica-validity-factor")]
    cluster_replica_validity_factor: Option<u64>,
}

impl Flags {
    fn overrides(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        let mut add = |k: &str, val: Option<String>| {
            if let Some(val) = val {
                v.push((k.to_string(), val));
            }
        };
        add("port", self.port.map(|p| p.to_string()));
        add("bind", self.bind.clone());
        add("requirepass", self.requirepass.clone());
        add("maxmemory", self.maxmemory.clone());
        add("maxmemory-policy", self.maxmemory_policy.clone());
        add(
            "maxmemory-samples",
            self.maxmemory_samples.map(|n| n.to_string()),
        );
        add("databases", self.databases.map(|n| n.to_string()));
        add("dir", self.dir.clone());
        add("loglevel", self.loglevel.clone());
        add("maxclients", self.maxclients.map(|n| n.to_string()));
        add("timeout", self.timeout.map(|n| n.to_string()));
        add("proto-max-bulk-len", self.proto_max_bulk_len.clone());
        add(
            "client-query-buffer-limit",
            self.client_query_buffer_limit.clone(),
        );
        add("hz", self.hz.map(|n| n.to_string()));
        add("save", self.save.clone());
        add("dbfilename", self.dbfilename.clone());
        add("rdbcompression", self.rdbcompression.clone());
        add("rdbchecksum", self.rdbchecksum.clone());
        add(
            "stop-writes-on-bgsave-error",
            self.stop_writes_on_bgsave_error.clone(),
        );
        add("appendonly", self.appendonly.clone());
        add("appendfilename", self.appendfilename.clone());
        add("appendfsync", self.appendfsync.clone());
        add("aof-load-truncated", self.aof_load_truncated.clone());
        add("aof-use-rdb-preamble", self.aof_use_rdb_preamble.clone());
        add(
            "auto-aof-rewrite-percentage",
            self.auto_aof_rewrite_percentage.map(|n| n.to_string()),
        );
        add(
            "auto-aof-rewrite-min-size",
            self.auto_aof_rewrite_min_size.clone(),
        );
        add("masterauth", self.masterauth.clone());
        add("replica-read-only", self.replica_read_only.clone());
        add(
            "replica-ignore-maxmemory",
            self.replica_ignore_maxmemory.clone(),
        );
        add(
            "client-output-buffer-limit",
            self.client_output_buffer_limit.clone(),
        );
        add("repl-backlog-size", self.repl_backlog_size.clone());
        add(
            "min-replicas-to-write",
            self.min_replicas_to_write.map(|n| n.to_string()),
        );
        add(
            "min-replicas-max-lag",
            self.min_replicas_max_lag.map(|n| n.to_string()),
        );
        add("cluster-enabled", self.cluster_enabled.clone());
        add("cluster-config-file", self.cluster_config_file.clone());
        add(
            "cluster-node-timeout",
            self.cluster_node_timeout.map(|n| n.to_string()),
        );
        add("cluster-port", self.cluster_port.map(|n| n.to_string()));
        add("cluster-announce-ip", self.cluster_announce_ip.clone());
        add(
            "cluster-announce-port",
            self.cluster_announce_port.map(|n| n.to_string()),
        );
        add(
            "cluster-announce-bus-port",
            self.cluster_announce_bus_port.map(|n| n.to_string()),
        );
        add(
            "cluster-require-full-coverage",
            self.cluster_require_full_coverage.clone(),
        );
        add(
            "cluster-allow-reads-when-down",
            self.cluster_allow_reads_when_down.clone(),
        );
        add(
            "cluster-allow-replica-migration",
            self.cluster_allow_replica_migration.clone(),
        );
        add(
            "cluster-replica-no-failover",
            self.cluster_replica_no_failover.clone(),
        );
        add(
            "cluster-replica-validity-factor",
            self.cluster_replica_validity_factor.map(|n| n.to_string()),
        );
        v
    }
}

fn log_filter(level: &str) -> &'static str {
    match level {
        "debug" => "debug",
        "verbose" => "info",
        "warning" => "warn",
        _ => "info",
    }
}

fn main() -> std::process::ExitCode {
    let flags = Flags::parse();
    let cfg = match Config::load(flags.config.as_deref(), &flags.overrides()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ringcache: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(&cfg.loglevel))
        .with_target(false)
        .init();
    if let Err(e) = std::env::set_current_dir(&cfg.dir) {
        eprintln!("ringcache: cannot use dir '{}': {e}", cfg.dir);
        return std::process::ExitCode::from(1);
    }
    // On one core (e.g. pinned with taskset) a single-threaded scheduler avoids
    // cross-thread wake-ups; with more cores, one worker per core.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut builder = if cores > 1 {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ringcache: cannot start runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let addr = format!("{}:{}", cfg.bind, cfg.port);
        let listener = match tokio::net::TcpListener::bind(&addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ringcache: cannot listen on {addr}: {e}");
                return std::process::ExitCode::from(1);
            }
        };
        let bus = if cfg.cluster_enabled {
            match start_cluster(&cfg).await {
                Ok(b) => Some(b),
                Err(e) => {
                    eprintln!("ringcache: {e}");
                    return std::process::ExitCode::from(1);
                }
            }
        } else {
            None
        };
        let cluster = bus.as_ref().map(|(c, _)| c.clone());
        let srv: Arc<Server> = Server::with_cluster(cfg, cluster);
        ringcache::services::install(&srv);
        if let Some((_, listener)) = bus {
            tokio::spawn(ringcache::services::bus::run(listener, srv.clone()));
        }
        if let Err(e) = ringcache::services::disk::load_at_start(&srv) {
            tracing::error!("{e}");
            eprintln!("ringcache: {e}");
            return std::process::ExitCode::from(1);
        }
        if let Some(hp) = &flags.replicaof {
            let port = hp.get(1).and_then(|p| p.parse::<u16>().ok());
            match (hp.first(), port) {
                (Some(host), Some(port)) => {
                    ringcache::services::replica::start(&srv, host.clone(), port)
                }
                _ => {
                    eprintln!("ringcache: --replicaof needs HOST PORT");
                    return std::process::ExitCode::from(1);
                }
            }
        }
        let signals = srv.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("Received shutdown signal, scheduling shutdown...");
            signals.shutdown.trigger();
        });
        tracing::info!(
            pid = std::process::id(),
            "ringcache {} starting",
            env!("CARGO_PKG_VERSION")
        );
        tracing::info!("Ready to accept connections tcp on {addr}");
        let cron = tokio::spawn(ringcache::services::cron::run(srv.clone()));
        server::run(listener, srv.clone()).await;
        cron.abort();
        ringcache::services::disk::on_shutdown(&srv);
        tracing::info!("ringcache is now ready to exit, bye bye...");
        std::process::ExitCode::SUCCESS
    })
}

/// Loads the cluster state and binds the bus port.
async fn start_cluster(cfg: &Config) -> Result<(Arc<Cluster>, tokio::net::TcpListener), String> {
    let bus_port = cfg.bus_port();
    let announce = |v: u16, real: u16| if v != 0 { v } else { real };
    let c = Cluster::open(&ClusterConfig {
        conf_file: cfg.cluster_config_file.clone().into(),
        port: announce(cfg.cluster_announce_port, cfg.port),
        bus_port: announce(cfg.cluster_announce_bus_port, bus_port),
        settings: cfg.cluster_settings(),
    })
    .map_err(|e| e.to_string())?;
    let addr = format!("{}:{}", cfg.bind, bus_port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on cluster bus {addr}: {e}"))?;
    Ok((Arc::new(c), listener))
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
