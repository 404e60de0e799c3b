//! The running script as the rest of the server sees it: since when it runs,
//! whether it is past `busy-reply-threshold` (other clients then get
//! `-BUSY`), whether it wrote (then it cannot be killed), and whether SCRIPT
//! KILL / FUNCTION KILL asked it to stop. The engine's instruction hook
//! reads it; the gate and the KILL commands on other threads read it too, so
//! everything is an atomic and nothing waits on the script's locks.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::Instant;

/// How many times a busy script's thread offers its runtime to others.
const HANDOFF_TRIES: u32 = 12;

/// What runs: an EVAL script or a function (their BUSY texts and KILL
/// commands differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// EVAL, EVALSHA and their `_RO` forms.
    Eval = 1,
    /// FCALL and FCALL_RO.
    Function = 2,
}

impl RunKind {
    fn from_u8(v: u8) -> Option<RunKind> {
        match v {
            1 => Some(RunKind::Eval),
            2 => Some(RunKind::Function),
            _ => None,
        }
    }

    /// The `-BUSY` reply line other clients get while it runs too long.
    pub fn busy_line(self) -> &'static str {
        match self {
            RunKind::Eval => {
                "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
            }
            RunKind::Function => {
                "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
            }
        }
    }
}

/// Why a KILL was refused, as Redis words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KillError {
    /// Nothing runs.
    #[error("NOTBUSY No scripts in execution right now.")]
    NotBusy,
    /// It wrote already: stopping it would leave half its effects.
    #[error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")]
    Wrote,
    /// SCRIPT KILL of a function or FUNCTION KILL of a script.
    #[error("{}", .0.busy_line())]
    OtherKind(RunKind),
}

/// The shared state of the one script that may run at a time.
#[derive(Debug)]
pub struct RunWatch {
    epoch: Instant,
    /// Milliseconds since `epoch` when it started, plus one (0: none runs).
    started: AtomicU64,
    kind: AtomicU8,
    /// Past the threshold: other clients get `-BUSY`.
    busy: AtomicBool,
    wrote: AtomicBool,
    kill: AtomicBool,
    /// `busy-reply-threshold`, kept here so the hook needs nothing else.
    threshold_ms: AtomicU64,
    /// When a library's loading code must have ended (0: none loads).
    load_deadline: AtomicU64,
    /// The running function's name and command (FUNCTION STATS).
    details: parking_lot::Mutex<Option<(String, Vec<Vec<u8>>)>>,
    /// Run on the script's thread once it is busy, with the try's number
    /// (the server lets its runtime go on without this thread there).
    on_busy: OnceLock<fn(u32)>,
    handoff_tries: AtomicU32,
}

impl Default for RunWatch {
    fn default() -> Self {
        RunWatch {
            epoch: Instant::now(),
            started: AtomicU64::new(0),
            kind: AtomicU8::new(0),
            busy: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
            kill: AtomicBool::new(false),
            threshold_ms: AtomicU64::new(5000),
            load_deadline: AtomicU64::new(0),
            on_busy: OnceLock::new(),
            handoff_tries: AtomicU32::new(0),
            details: parking_lot::Mutex::new(None),
        }
    }
}

impl RunWatch {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Sets what runs on the script's thread the first few times the hook
    /// finds it busy (once per server).
    pub fn set_on_busy(&self, f: fn(u32)) {
        let _ = self.on_busy.set(f);
    }

    /// A script starts (the caller holds the keyspace alone).
    pub fn begin(&self, kind: RunKind, threshold_ms: u64) {
        self.threshold_ms.store(threshold_ms, Relaxed);
        self.kill.store(false, Relaxed);
        self.wrote.store(false, Relaxed);
        self.busy.store(false, Relaxed);
        self.handoff_tries.store(0, Relaxed);
        self.kind.store(kind as u8, Relaxed);
        self.started.store(self.now(), Relaxed);
    }

    /// Names the running function and the command that called it.
    pub fn set_details(&self, name: String, command: Vec<Vec<u8>>) {
        *self.details.lock() = Some((name, command));
    }

    /// The running function's name and command, if a function runs.
    pub fn details(&self) -> Option<(String, Vec<Vec<u8>>)> {
        self.details.lock().clone()
    }

    /// The script ended (or was killed).
    pub fn end(&self) {
        *self.details.lock() = None;
        self.started.store(0, Relaxed);
        self.busy.store(false, Relaxed);
        self.kill.store(false, Relaxed);
        self.kind.store(0, Relaxed);
    }

    /// The script ran a write command.
    pub fn note_write(&self) {
        self.wrote.store(true, Relaxed);
    }

    /// The running script's kind when it is past the threshold.
    pub fn busy(&self) -> Option<RunKind> {
        if self.busy.load(Relaxed) {
            RunKind::from_u8(self.kind.load(Relaxed))
        } else {
            None
        }
    }

    /// FUNCTION LOAD runs a library's code: it may take `limit_ms` at most.
    pub fn begin_load(&self, limit_ms: u64) {
        self.load_deadline.store(self.now() + limit_ms, Relaxed);
    }

    /// The library's code ended.
    pub fn end_load(&self) {
        self.load_deadline.store(0, Relaxed);
    }

    /// Called by the engine now and then while Lua runs: marks a script
    /// busy once past the threshold; the error to stop it with, if it must
    /// stop now.
    pub fn check(&self) -> Option<&'static str> {
        let deadline = self.load_deadline.load(Relaxed);
        if deadline != 0 && self.now() > deadline {
            return Some("ERR FUNCTION LOAD timeout");
        }
        let started = self.started.load(Relaxed);
        if started != 0 && !self.busy.load(Relaxed) {
            let ran = self.now().saturating_sub(started);
            if ran >= self.threshold_ms.load(Relaxed) {
                tracing::warn!(
                    "Slow script detected: still in execution after {ran} milliseconds. \
                     You can try killing the script using the SCRIPT KILL command."
                );
                self.busy.store(true, Relaxed);
            }
        }
        if started != 0 && self.busy.load(Relaxed) {
            // A few tries, each waiting longer: the server cannot tell
            // whether its hand-over took (see `set_on_busy`).
            let tries = self.handoff_tries.fetch_add(1, Relaxed);
            if tries < HANDOFF_TRIES {
                if let Some(f) = self.on_busy.get() {
                    f(tries + 1);
                }
            }
        }
        self.kill
            .load(Relaxed)
            .then_some("ERR Script killed by user with SCRIPT KILL...")
    }

    /// Milliseconds the running script has run, if one runs.
    pub fn running_ms(&self) -> Option<u64> {
        let started = self.started.load(Relaxed);
        (started != 0).then(|| self.now().saturating_sub(started))
    }

    /// SCRIPT KILL (`kind` Eval) or FUNCTION KILL (`kind` Function).
    pub fn kill(&self, kind: RunKind) -> Result<(), KillError> {
        let running = RunKind::from_u8(self.kind.load(Relaxed)).ok_or(KillError::NotBusy)?;
        if self.started.load(Relaxed) == 0 || !self.busy.load(Relaxed) {
            return Err(KillError::NotBusy);
        }
        if self.wrote.load(Relaxed) {
            return Err(KillError::Wrote);
        }
        if running != kind {
            return Err(KillError::OtherKind(running));
        }
        self.kill.store(true, Relaxed);
        Ok(())
    }

    /// SHUTDOWN NOSAVE: stops a script that did not write; true when it
    /// wrote (stopping it would leave half its effects: the caller exits).
    pub fn kill_for_shutdown(&self) -> bool {
        if self.started.load(Relaxed) == 0 {
            return false;
        }
        if self.wrote.load(Relaxed) {
            return true;
        }
        self.kill.store(true, Relaxed);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_after_the_threshold_and_killable_until_it_writes() {
        let w = RunWatch::default();
        assert_eq!(w.kill(RunKind::Eval), Err(KillError::NotBusy));
        w.begin(RunKind::Eval, 0);
        assert_eq!(w.check(), None);
        assert_eq!(w.busy(), Some(RunKind::Eval));
        assert_eq!(
            w.kill(RunKind::Function),
            Err(KillError::OtherKind(RunKind::Eval))
        );
        w.note_write();
        assert_eq!(w.kill(RunKind::Eval), Err(KillError::Wrote));
        w.end();
        w.begin(RunKind::Eval, 0);
        w.check();
        assert_eq!(w.kill(RunKind::Eval), Ok(()));
        assert!(w.check().is_some_and(|m| m.contains("SCRIPT KILL")));
        w.end();
        assert_eq!(w.busy(), None);

        w.begin(RunKind::Function, 60_000);
        assert_eq!(w.check(), None);
        assert_eq!(w.busy(), None, "not before the threshold");
        assert_eq!(w.kill(RunKind::Function), Err(KillError::NotBusy));
        w.end();
        w.begin_load(0);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(w.check(), Some("ERR FUNCTION LOAD timeout"));
        w.end_load();
        assert_eq!(w.check(), None);
    }
}
