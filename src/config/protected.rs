//! `enable-debug-command` and `enable-protected-configs`: who may run DEBUG
//! and change protected options (`dir`, `dbfilename`) at run time, as Redis
//! 7.0 decides it (`no` by default; `local` = from 127.0.0.1 or ::1 only).

/// The words the two options take, in Redis's order.
pub const PROTECTED_WORDS: &[&str] = &["no", "yes", "local"];

/// Who may take a protected action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtectedAction {
    /// Nobody (the default).
    #[default]
    No,
    /// Every client.
    Yes,
    /// Clients connected from the loopback address (`127.0.0.1`, `::1`).
    Local,
}

impl ProtectedAction {
    /// The setting a word names (case-insensitive), as `CONFIG GET` shows it.
    pub fn parse(word: &str) -> Option<ProtectedAction> {
        match word.to_ascii_lowercase().as_str() {
            "no" => Some(ProtectedAction::No),
            "yes" => Some(ProtectedAction::Yes),
            "local" => Some(ProtectedAction::Local),
            _ => None,
        }
    }

    /// Its hot-path form (`HotConfig::debug_command`).
    pub const fn to_u8(self) -> u8 {
        self as u8
    }

    /// Back from `to_u8`.
    pub const fn from_u8(v: u8) -> ProtectedAction {
        match v {
            1 => ProtectedAction::Yes,
            2 => ProtectedAction::Local,
            _ => ProtectedAction::No,
        }
    }

    /// True when a client (local or not) may take the action: Redis's
    /// `allowProtectedAction`.
    pub const fn allows(self, local_client: bool) -> bool {
        matches!(self, ProtectedAction::Yes)
            || (matches!(self, ProtectedAction::Local) && local_client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_decide() {
        for w in PROTECTED_WORDS {
            let a = ProtectedAction::parse(w).unwrap();
            assert_eq!(ProtectedAction::from_u8(a.to_u8()), a);
        }
        assert_eq!(
            ProtectedAction::parse("LOCAL"),
            Some(ProtectedAction::Local)
        );
        assert_eq!(ProtectedAction::parse("maybe"), None);
        assert!(!ProtectedAction::No.allows(true));
        assert!(ProtectedAction::Yes.allows(false));
        assert!(ProtectedAction::Local.allows(true) && !ProtectedAction::Local.allows(false));
    }
}
