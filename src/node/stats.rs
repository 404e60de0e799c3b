//! Server-wide counters for `INFO stats`, and the ops/sec sampler.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Table entries (commands and subcommands) the statistics have room for;
/// the command table checks it stays under (Redis has about 400).
pub const MAX_COMMANDS: usize = 1024;

/// Call statistics for one (sub)command (`INFO commandstats`).
#[derive(Debug, Default)]
pub struct CommandStats {
    /// Executions.
    pub calls: AtomicU64,
    /// Total microseconds spent.
    pub usec: AtomicU64,
    /// Rejected before execution (arity, OOM, auth, …).
    pub rejected: AtomicU64,
    /// Executed and replied with an error.
    pub failed: AtomicU64,
}

/// Statistics of every command-table entry, indexed by its id.
pub struct CommandStatsTable(Box<[CommandStats]>);

impl Default for CommandStatsTable {
    fn default() -> Self {
        CommandStatsTable((0..MAX_COMMANDS).map(|_| CommandStats::default()).collect())
    }
}

impl std::ops::Index<usize> for CommandStatsTable {
    type Output = CommandStats;
    fn index(&self, id: usize) -> &CommandStats {
        &self.0[id]
    }
}

impl CommandStatsTable {
    /// Clears every counter (`CONFIG RESETSTAT`).
    pub fn reset(&self) {
        for s in self.0.iter() {
            for c in [&s.calls, &s.usec, &s.rejected, &s.failed] {
                c.store(0, Ordering::Relaxed);
            }
        }
    }
}

/// Samples kept for `instantaneous_ops_per_sec` (Redis keeps 16).
const SAMPLES: usize = 16;

/// Counters updated by sessions and read by INFO.
#[derive(Debug, Default)]
pub struct Stats {
    /// Commands executed.
    pub commands: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Connections refused by maxclients.
    pub rejected_connections: AtomicU64,
    /// Bytes read from clients.
    pub net_input: AtomicU64,
    /// Bytes written to clients.
    pub net_output: AtomicU64,
    /// Error replies sent.
    pub error_replies: AtomicU64,
    /// Error replies by code (`ERR`, `WRONGTYPE`, …) for `INFO errorstats`.
    pub errors_by_code: Mutex<Vec<(String, u64)>>,
    ops: Mutex<OpsSampler>,
}

#[derive(Debug, Default)]
struct OpsSampler {
    last_ms: u64,
    last_ops: u64,
    samples: [u64; SAMPLES],
    idx: usize,
}

impl Stats {
    /// Records an error reply's code.
    pub fn count_error(&self, line: &str) {
        self.error_replies.fetch_add(1, Ordering::Relaxed);
        let code = line.split(' ').next().unwrap_or("ERR");
        let mut v = self.errors_by_code.lock();
        match v.iter_mut().find(|(c, _)| c == code) {
            Some((_, n)) => *n += 1,
            None => {
                // Redis caps distinct error codes at 128 so clients cannot grow it.
                if v.len() < 128 {
                    v.push((code.to_string(), 1));
                }
            }
        }
    }

    /// Takes an ops/sec sample; called every 100 ms by the server's timer.
    pub fn sample_ops(&self, now_ms: u64) {
        let ops = self.commands.load(Ordering::Relaxed);
        let mut s = self.ops.lock();
        if s.last_ms != 0 && now_ms > s.last_ms {
            let rate = (ops - s.last_ops) * 1000 / (now_ms - s.last_ms);
            let i = s.idx;
            s.samples[i] = rate;
            s.idx = (i + 1) % SAMPLES;
        }
        s.last_ms = now_ms;
        s.last_ops = ops;
    }

    /// Mean of the recent samples.
    pub fn ops_per_sec(&self) -> u64 {
        let s = self.ops.lock();
        s.samples.iter().sum::<u64>() / SAMPLES as u64
    }

    /// `CONFIG RESETSTAT`.
    pub fn reset(&self) {
        for c in [
            &self.commands,
            &self.connections,
            &self.rejected_connections,
            &self.net_input,
            &self.net_output,
            &self.error_replies,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.errors_by_code.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_sampler_averages() {
        let s = Stats::default();
        s.sample_ops(1000);
        for i in 1..=16u64 {
            s.commands.fetch_add(100, Ordering::Relaxed);
            s.sample_ops(1000 + i * 100);
        }
        assert_eq!(s.ops_per_sec(), 1000);
    }

    #[test]
    fn error_codes_are_counted() {
        let s = Stats::default();
        s.count_error("ERR syntax error");
        s.count_error("WRONGTYPE Operation");
        s.count_error("ERR other");
        assert_eq!(
            *s.errors_by_code.lock(),
            vec![("ERR".to_string(), 2), ("WRONGTYPE".to_string(), 1)]
        );
    }
}
