//! `#!lua flags=no-writes,allow-oom,…`: a script's first line may name the
//! engine and declare flags. A script without one runs in Redis's
//! compatibility mode (it may write, and is judged by the commands it runs).

/// A script's declared flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScriptFlags(pub u8);

impl ScriptFlags {
    /// No shebang: EVAL's compatibility mode.
    pub const COMPAT: u8 = 1;
    /// `no-writes`.
    pub const NO_WRITES: u8 = 2;
    /// `allow-oom`.
    pub const ALLOW_OOM: u8 = 4;
    /// `allow-stale`.
    pub const ALLOW_STALE: u8 = 8;
    /// `no-cluster`.
    pub const NO_CLUSTER: u8 = 16;
    /// `allow-cross-slot-keys`.
    pub const ALLOW_CROSS_SLOT: u8 = 32;

    /// True when `flag` is set.
    pub fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }
}

const NAMES: &[(&str, u8)] = &[
    ("no-writes", ScriptFlags::NO_WRITES),
    ("allow-oom", ScriptFlags::ALLOW_OOM),
    ("allow-stale", ScriptFlags::ALLOW_STALE),
    ("no-cluster", ScriptFlags::NO_CLUSTER),
    ("allow-cross-slot-keys", ScriptFlags::ALLOW_CROSS_SLOT),
];

/// The names of the flags set in `flags`, in Redis's order.
pub fn flag_names(flags: ScriptFlags) -> Vec<&'static str> {
    NAMES
        .iter()
        .filter(|(_, f)| flags.has(*f))
        .map(|(n, _)| *n)
        .collect()
}

/// The bit of a flag name (`no-writes`, …).
pub fn flag_bit(name: &str) -> Option<u8> {
    NAMES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// The flags of `body` and the length of its shebang line (without its
/// newline, which stays so line numbers do not move).
pub fn parse(body: &[u8]) -> Result<(ScriptFlags, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((ScriptFlags(ScriptFlags::COMPAT), 0));
    }
    let Some(end) = body.iter().position(|&c| c == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split_ascii_whitespace();
    let Some(engine) = parts.next() else {
        return Err("Invalid engine in script shebang".into());
    };
    if engine != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = 0u8;
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("Unknown lua shebang option: {part}"));
        };
        for name in list.split(',').filter(|s| !s.is_empty()) {
            match NAMES.iter().find(|(n, _)| *n == name) {
                Some((_, f)) => flags |= f,
                None => return Err(format!("Unexpected flag in script shebang: {name}")),
            }
        }
    }
    Ok((ScriptFlags(flags), end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs() {
        assert_eq!(
            parse(b"return 1"),
            Ok((ScriptFlags(ScriptFlags::COMPAT), 0))
        );
        assert_eq!(parse(b"#!lua\nreturn 1"), Ok((ScriptFlags(0), 5)));
        let (f, n) = parse(b"#!lua flags=no-writes,allow-oom\nreturn 1").expect("valid");
        assert!(f.has(ScriptFlags::NO_WRITES) && f.has(ScriptFlags::ALLOW_OOM));
        assert!(!f.has(ScriptFlags::COMPAT));
        assert_eq!(n, 31);
        assert_eq!(parse(b"#!lua"), Err("Invalid script shebang".into()));
        assert_eq!(
            parse(b"#!python\n"),
            Err("Unexpected engine in script shebang: #!python".into())
        );
        assert_eq!(
            parse(b"#!lua flags=bad\n"),
            Err("Unexpected flag in script shebang: bad".into())
        );
        assert_eq!(
            parse(b"#!lua name=x\n"),
            Err("Unknown lua shebang option: name=x".into())
        );
    }
}
