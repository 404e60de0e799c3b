//! What the server keeps on disk across a restart: loaded before it accepts
//! connections, saved and flushed when it stops.

use std::sync::Arc;

use crate::node::Server;

/// Loads what the server kept on disk, before it accepts connections: the AOF
/// when `appendonly` is on and the file exists, else the RDB file if any. Then
/// turns the AOF on when configured. The error is a sentence for the log.
pub fn load_at_start(srv: &Arc<Server>) -> Result<(), String> {
    let (appendonly, aof_name, rdb_name) = {
        let c = srv.config.read();
        (c.appendonly, c.appendfilename.clone(), c.dbfilename.clone())
    };
    let started = std::time::Instant::now();
    let aof_exists = std::path::Path::new(&aof_name).exists();
    if appendonly && aof_exists {
        let r =
            super::aof::load(srv, std::path::Path::new(&aof_name)).map_err(|e| e.to_string())?;
        tracing::info!(
            "DB loaded from append only file: {:.3} seconds ({} keys from the preamble, {} commands)",
            started.elapsed().as_secs_f64(),
            r.preamble_keys,
            r.commands
        );
    } else if std::path::Path::new(&rdb_name).exists() {
        let n = super::save::load_file(srv, std::path::Path::new(&rdb_name))
            .map_err(|e| format!("{rdb_name}: {e}"))?;
        tracing::info!(
            "DB loaded from disk: {:.3} seconds ({n} keys)",
            started.elapsed().as_secs_f64()
        );
    }
    // Replayed commands are not changes since the last save.
    srv.dirty.store(0, std::sync::atomic::Ordering::Relaxed);
    if appendonly {
        let need_base = !aof_exists && srv.keyspace.total_keys() > 0;
        super::aof::enable(srv, need_base).map_err(|e| format!("{aof_name}: {e}"))?;
    }
    Ok(())
}

/// What a shutdown saves: an RDB file when save points are set (unless SHUTDOWN
/// NOSAVE already decided), and everything the AOF holds. Errors are logged.
pub fn on_shutdown(srv: &Server) {
    let points = srv.config.read().has_save_points();
    if points
        && !srv
            .persistence
            .skip_shutdown_save
            .load(std::sync::atomic::Ordering::Relaxed)
    {
        tracing::info!("Saving the final RDB snapshot before exiting.");
        if let Err(e) = super::save::save(srv) {
            tracing::warn!("Error trying to save the DB on shutdown: {e}");
        }
    }
    super::aof::disable(srv);
}
