//! The `ringcache` binary: flags → `Config` → listener → `server::run`. The flags
//! are derived from the option table (`config::cli`).

use std::sync::Arc;

use tikv_jemallocator::Jemalloc;

use ringcache::cluster::{Cluster, ClusterConfig};
use ringcache::config::cli::Flags;
use ringcache::config::Config;
use ringcache::node::Server;
use ringcache::server;

#[global_allocator]
static GLOBAL: Jemalloc = Jemalloc;

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
    let cfg = match Config::load(flags.config.as_deref(), &flags.overrides) {
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
    let mut cfg = cfg;
    if let Err(e) = fit_maxclients(&mut cfg) {
        eprintln!("ringcache: {e}");
        return std::process::ExitCode::from(1);
    }
    let renames: Vec<(String, String)> = cfg
        .rename_command
        .iter()
        .filter_map(|p| Some((p.first()?.clone(), p.get(1)?.clone())))
        .chain(flags.renames.iter().cloned())
        .collect();
    if let Err(e) = ringcache::commands::table::rename_commands(&renames) {
        eprintln!("ringcache: {e}");
        return std::process::ExitCode::from(1);
    }
    runtime.block_on(async move {
        let addr = format!("{}:{}", cfg.bind, cfg.port);
        let listener = match ringcache::net::listen(&cfg.bind, cfg.port, cfg.tcp_backlog) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ringcache: cannot listen on {addr}: {e}");
                return std::process::ExitCode::from(1);
            }
        };
        if let Some(max) = ringcache::net::somaxconn().filter(|&m| m < cfg.tcp_backlog) {
            tracing::warn!(
                "WARNING: The TCP backlog setting of {} cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of {max}.",
                cfg.tcp_backlog
            );
        }
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

/// Raises the open-file limit for `maxclients` (plus Redis's 32 reserved
/// descriptors) or lowers `maxclients` to what it allows, logging the outcome
/// in Redis's words; an error when not even the reserved ones fit.
fn fit_maxclients(cfg: &mut Config) -> Result<(), String> {
    use ringcache::net::{fit_open_files, FdFit, RESERVED_FDS};
    let wanted = u64::from(cfg.maxclients) + RESERVED_FDS;
    match fit_open_files(u64::from(cfg.maxclients)) {
        FdFit::Enough => {}
        FdFit::Raised(old, new) => tracing::info!(
            "Increased maximum number of open files to {new} (it was originally set to {old})."
        ),
        FdFit::Lowered {
            maxclients,
            limit,
            error,
        } => {
            tracing::warn!(
                "You requested maxclients of {} requiring at least {wanted} max file descriptors.",
                cfg.maxclients
            );
            tracing::warn!(
                "Server can't set maximum open files to {wanted} because of OS error: {error}."
            );
            tracing::warn!(
                "Current maximum open files is {limit}. maxclients has been reduced to {maxclients} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'."
            );
            cfg.maxclients = maxclients.min(u64::from(u32::MAX)) as u32;
        }
        FdFit::TooLow(old) => {
            return Err(format!(
                "Your current 'ulimit -n' of {old} is not enough for the server to start. Please increase your open file limit to at least {wanted}. Exiting."
            ))
        }
    }
    Ok(())
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
