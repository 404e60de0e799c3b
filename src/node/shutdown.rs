//! Shutdown: one trigger (SIGTERM/SIGINT or `SHUTDOWN`) that every task can await.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// A one-way shutdown flag.
pub struct Shutdown {
    tx: watch::Sender<bool>,
    /// The same flag for a plain load (sessions look once per batch).
    triggered: AtomicBool,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// Not yet triggered.
    pub fn new() -> Self {
        Shutdown {
            tx: watch::channel(false).0,
            triggered: AtomicBool::new(false),
        }
    }

    /// Triggers shutdown.
    pub fn trigger(&self) {
        self.triggered.store(true, Ordering::Release);
        self.tx.send_replace(true);
    }

    /// True once triggered.
    pub fn is_triggered(&self) -> bool {
        self.triggered.load(Ordering::Acquire)
    }

    /// Resolves when shutdown is triggered.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        // An error means the sender is gone, which only happens at exit.
        let _ = rx.wait_for(|v| *v).await;
    }
}
