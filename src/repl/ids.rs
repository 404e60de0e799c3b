//! A stream's identity (Redis's PSYNC2): the replication id of the history
//! the log holds, and the id it followed before the last change of primary
//! (`replid2`) with the first offset that is no longer that history's. A
//! replica asking for either history within what both share may continue.

/// What `master_replid2` shows when there is no previous history.
const NO_ID: &str = "0000000000000000000000000000000000000000";

/// The ids of a replication history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplIds {
    /// The history the log continues (40 hex characters).
    pub replid: String,
    /// The history before the last promotion or change of primary.
    pub replid2: String,
    /// The first offset (1-based, as PSYNC counts) not shared with `replid2`'s
    /// history; -1 without one.
    pub second_offset: i64,
}

impl ReplIds {
    /// A new history: a random id and no previous one.
    pub fn fresh() -> Self {
        ReplIds {
            replid: random_id(),
            replid2: NO_ID.to_string(),
            second_offset: -1,
        }
    }

    /// Adopts `replid` as the history (a full sync, a restart from an RDB
    /// file): no previous one.
    pub fn reset(&mut self, replid: &str) {
        self.replid = replid.to_string();
        self.replid2 = NO_ID.to_string();
        self.second_offset = -1;
    }

    /// The history changes to `replid` after `offset` bytes: the old one stays
    /// valid up to there (a promotion takes a random id; a replica told
    /// `+CONTINUE` with another id takes that one).
    pub fn shift(&mut self, replid: String, offset: u64) {
        self.replid2 = std::mem::replace(&mut self.replid, replid);
        self.second_offset = offset as i64 + 1;
    }

    /// True when a replica that followed `replid` and needs the bytes from
    /// `from` (1-based) on shares this history up to there.
    pub fn may_continue(&self, replid: &str, from: i64) -> bool {
        from > 0
            && (replid == self.replid
                || (replid == self.replid2 && self.second_offset > 0 && from <= self.second_offset))
    }
}

/// 40 random hex characters.
pub fn random_id() -> String {
    (0..40)
        .map(|_| char::from(b"0123456789abcdef"[fastrand::usize(..16)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_history_continues_only_up_to_the_shift() {
        let mut ids = ReplIds::fresh();
        let old = ids.replid.clone();
        assert!(ids.may_continue(&old, 1));
        assert!(!ids.may_continue(&old, 0), "offset 0 is no position");
        assert!(!ids.may_continue(NO_ID, 1), "the empty id is no history");
        ids.shift(random_id(), 1000);
        assert_eq!(
            (ids.replid2.as_str(), ids.second_offset),
            (old.as_str(), 1001)
        );
        assert!(ids.may_continue(&old, 1001), "caught up exactly");
        assert!(ids.may_continue(&old, 500));
        assert!(
            !ids.may_continue(&old, 1002),
            "wrote past the shift: diverged"
        );
        let new = ids.replid.clone();
        assert!(ids.may_continue(&new, 5000));
        ids.reset("abc");
        assert!(!ids.may_continue(&old, 10) && !ids.may_continue(&new, 10));
        assert_eq!(ids.second_offset, -1);
    }
}
