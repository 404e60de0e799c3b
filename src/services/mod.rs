//! Drivers: the long-running tasks that wire the mechanisms to the node —
//! replication (serving replicas, following a primary), the cluster bus,
//! saving, the AOF, loading at start, the cron. The only layer that holds the
//! whole server; commands and sessions reach it through `node::Services`.

pub mod aof;
pub mod bus;
pub mod cron;
pub mod disk;
pub mod primary;
pub mod replica;
pub mod save;

use std::sync::Arc;

use crate::node::{BoxFuture, ReplicaConn, Server, Services};
use crate::persist::save::{SaveError, Written};

/// The services of this crate, as the node's `Services`.
pub struct Drivers;

impl Services for Drivers {
    fn replicate(&self, srv: &Arc<Server>, host: String, port: u16) {
        replica::start(srv, host, port);
    }

    fn stop_replicating(&self, srv: &Server, why: &str) {
        replica::stop(srv, why);
    }

    fn save(&self, srv: &Server) -> Result<Written, SaveError> {
        save::save(srv)
    }

    fn bgsave(&self, srv: &Arc<Server>) -> Result<(), SaveError> {
        save::bgsave(srv)
    }

    fn bgrewriteaof(&self, srv: &Arc<Server>) -> Result<(), SaveError> {
        aof::bgrewrite(srv)
    }

    fn enable_aof(&self, srv: &Arc<Server>) -> Result<(), SaveError> {
        aof::enable(srv, true)
    }

    fn disable_aof(&self, srv: &Server) {
        aof::disable(srv);
    }

    fn follow_topology(&self, srv: &Arc<Server>) {
        if let Some(c) = srv.cluster.clone() {
            bus::follow_topology(srv, &c);
        }
    }

    fn serve_replica(&self, link: ReplicaConn) -> BoxFuture {
        Box::pin(primary::serve(
            link.srv,
            link.stream,
            link.inbuf,
            link.req,
            link.info,
        ))
    }
}

/// Installs the services into a new server (before it serves anything).
pub fn install(srv: &Server) {
    srv.install_services(Box::new(Drivers));
}
