//! The MONITOR feed: every command a client runs, quoted as Redis shows it.

use std::fmt::Write as _;

use super::Server;

impl Server {
    /// Sends MONITOR clients the line `+<secs>.<micros> [<db> <addr>] "arg" "arg"`.
    /// `who` is the client's address, or `lua` for a script's commands.
    pub fn feed_monitors<'a>(
        &self,
        db: usize,
        who: &dyn std::fmt::Display,
        argv: impl Iterator<Item = &'a [u8]>,
    ) {
        if self.monitors.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut line = format!(
            "+{}.{:06} [{} {}]",
            now.as_secs(),
            now.subsec_micros(),
            db,
            who
        );
        for a in argv {
            line.push(' ');
            quote_into(&mut line, a);
        }
        line.push_str("\r\n");
        let _ = self.monitor_tx.send(bytes::Bytes::from(line));
    }
}

/// Appends `s` quoted and escaped as Redis's `sdscatrepr` does.
pub fn quote_into(out: &mut String, s: &[u8]) {
    out.push('"');
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c as char),
            c => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push('"');
}
