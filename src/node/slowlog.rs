//! The slow log: commands that ran longer than `slowlog-log-slower-than`.

use std::collections::VecDeque;

/// Arguments kept per entry (Redis keeps 32, the last one saying how many more).
const MAX_ARGS: usize = 32;
/// Bytes kept per argument.
const MAX_ARG_LEN: usize = 128;

/// One slow command.
#[derive(Debug, Clone)]
pub struct SlowEntry {
    /// Increasing id.
    pub id: u64,
    /// Unix seconds when it ran.
    pub time: u64,
    /// Duration in microseconds.
    pub micros: u64,
    /// Arguments, shortened as Redis does.
    pub args: Vec<Vec<u8>>,
    /// Client address.
    pub addr: String,
    /// Client name.
    pub name: String,
}

/// Bounded list of slow commands, newest first.
#[derive(Debug)]
pub struct SlowLog {
    entries: VecDeque<SlowEntry>,
    next_id: u64,
    max_len: usize,
}

impl SlowLog {
    /// An empty log holding at most `max_len` entries.
    pub fn new(max_len: usize) -> Self {
        SlowLog {
            entries: VecDeque::new(),
            next_id: 0,
            max_len,
        }
    }

    /// Records a command.
    pub fn push<'a>(
        &mut self,
        args: impl Iterator<Item = &'a [u8]>,
        argc: usize,
        time: u64,
        micros: u64,
        addr: String,
        name: String,
    ) {
        let mut kept: Vec<Vec<u8>> = Vec::new();
        let shown = if argc > MAX_ARGS { MAX_ARGS - 1 } else { argc };
        for a in args.take(shown) {
            if a.len() > MAX_ARG_LEN {
                let mut s = a[..MAX_ARG_LEN].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_ARG_LEN).as_bytes(),
                );
                kept.push(s);
            } else {
                kept.push(a.to_vec());
            }
        }
        if argc > MAX_ARGS {
            kept.push(format!("... ({} more arguments)", argc - shown).into_bytes());
        }
        self.entries.push_front(SlowEntry {
            id: self.next_id,
            time,
            micros,
            args: kept,
            addr,
            name,
        });
        self.next_id += 1;
        self.entries.truncate(self.max_len);
    }

    /// Newest-first entries, at most `count`.
    pub fn latest(&self, count: usize) -> impl Iterator<Item = &SlowEntry> {
        self.entries.iter().take(count)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops every entry.
    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// Changes the capacity (`CONFIG SET slowlog-max-len`).
    pub fn set_max_len(&mut self, n: usize) {
        self.max_len = n;
        self.entries.truncate(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_bounded_and_shortened() {
        let mut log = SlowLog::new(2);
        let long = vec![b'x'; 200];
        for _ in 0..3 {
            log.push(
                [b"set".as_slice(), b"k", &long].into_iter(),
                3,
                1,
                20000,
                "a".into(),
                String::new(),
            );
        }
        assert_eq!(log.len(), 2);
        let e = log.latest(10).next().unwrap();
        assert_eq!(e.id, 2);
        assert!(e.args[2].ends_with(b"... (72 more bytes)"));
        let many: Vec<Vec<u8>> = (0..40).map(|i| format!("{i}").into_bytes()).collect();
        log.push(
            many.iter().map(|v| v.as_slice()),
            40,
            1,
            1,
            "a".into(),
            String::new(),
        );
        let e = log.latest(1).next().unwrap();
        assert_eq!(e.args.len(), 32);
        assert_eq!(e.args[31], b"... (9 more arguments)".to_vec());
    }
}
