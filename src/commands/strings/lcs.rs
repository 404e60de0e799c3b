//! LCS: the longest common subsequence of two strings, its length, or its
//! match ranges, from a dynamic-programming table bounded like Redis's.

use std::sync::atomic::Ordering;

use super::string_bytes;
use crate::commands::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::store::Kind;

/// One LCS match: ranges in the first and second string, and its length.
type LcsMatch = ((usize, usize), (usize, usize), usize);

/// LCS's options after the two keys.
#[derive(Default)]
struct LcsOpts {
    len: bool,
    idx: bool,
    with_match_len: bool,
    min_match_len: i64,
}

impl LcsOpts {
    fn parse(argv: &Argv<'_>) -> Result<Self, CmdError> {
        let mut o = LcsOpts::default();
        let mut i = 3;
        while i < argv.len() {
            let a = argv.get(i);
            if is(a, "IDX") {
                o.idx = true;
            } else if is(a, "LEN") {
                o.len = true;
            } else if is(a, "WITHMATCHLEN") {
                o.with_match_len = true;
            } else if is(a, "MINMATCHLEN") && i + 1 < argv.len() {
                o.min_match_len = parse_i64(argv.get(i + 1))?.max(0);
                i += 1;
            } else {
                return Err(CmdError::Syntax);
            }
            i += 1;
        }
        if o.len && o.idx {
            return Err(CmdError::err(
                "If you want both the length and indexes, please just use IDX.",
            ));
        }
        Ok(o)
    }
}

/// The classic DP table of LCS lengths of `a` and `b`: (|a|+1) x (|b|+1) u32
/// cells, row by row.
struct LcsTable<'s> {
    a: &'s [u8],
    b: &'s [u8],
    dp: Vec<u32>,
}

impl<'s> LcsTable<'s> {
    /// Fills the table. As in Redis, its size is bounded by `max_bytes`
    /// (proto-max-bulk-len) before anything is allocated, and an allocation
    /// the system refuses is an error reply, not an abort.
    fn build(a: &'s [u8], b: &'s [u8], max_bytes: u64) -> Result<Self, CmdError> {
        // The table's cells are u32 lengths.
        if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
            return Err(CmdError::err("String too long for LCS"));
        }
        let w = b.len() + 1;
        let no_memory =
            || CmdError::err("Insufficient memory, failed allocating transient memory for LCS");
        let cells = (a.len() + 1).checked_mul(w).ok_or_else(no_memory)?;
        let bytes = cells.checked_mul(4).ok_or_else(no_memory)? as u64;
        if bytes > max_bytes {
            return Err(CmdError::err(
                "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
            ));
        }
        let mut dp: Vec<u32> = Vec::new();
        dp.try_reserve_exact(cells).map_err(|_| no_memory())?;
        dp.resize(cells, 0);
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                dp[i * w + j] = if a[i - 1] == b[j - 1] {
                    dp[(i - 1) * w + j - 1] + 1
                } else {
                    dp[(i - 1) * w + j].max(dp[i * w + j - 1])
                };
            }
        }
        Ok(LcsTable { a, b, dp })
    }

    /// The cell for prefixes of lengths `i` and `j`.
    fn at(&self, i: usize, j: usize) -> u32 {
        self.dp[i * (self.b.len() + 1) + j]
    }

    /// The length of the longest common subsequence.
    fn total(&self) -> usize {
        self.at(self.a.len(), self.b.len()) as usize
    }

    /// Walks back from the end: the LCS itself and its match ranges, last first.
    fn walk_back(&self) -> (Vec<u8>, Vec<LcsMatch>) {
        let (a, b) = (self.a, self.b);
        let mut lcs = vec![0u8; self.total()];
        let mut idx = lcs.len();
        let mut matches: Vec<LcsMatch> = Vec::new();
        let mut cur: Option<((usize, usize), (usize, usize))> = None;
        let (mut i, mut j) = (a.len(), b.len());
        while i > 0 && j > 0 {
            if a[i - 1] == b[j - 1] {
                idx -= 1;
                lcs[idx] = a[i - 1];
                let (ai, bj) = (i - 1, j - 1);
                cur = match cur {
                    Some(((as_, ae), (bs, be))) if as_ == ai + 1 && bs == bj + 1 => {
                        Some(((ai, ae), (bj, be)))
                    }
                    Some(r) => {
                        matches.push((r.0, r.1, r.0 .1 - r.0 .0 + 1));
                        Some(((ai, ai), (bj, bj)))
                    }
                    None => Some(((ai, ai), (bj, bj))),
                };
                i -= 1;
                j -= 1;
            } else if self.at(i - 1, j) > self.at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
        }
        if let Some(r) = cur {
            matches.push((r.0, r.1, r.0 .1 - r.0 .0 + 1));
        }
        (lcs, matches)
    }
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`
pub fn lcs(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let opts = LcsOpts::parse(argv)?;
    let read = |ctx: &Ctx<'_>, key: &[u8]| -> Result<Vec<u8>, CmdError> {
        let mut g = ctx.lock(key);
        match g.get(key) {
            None => Ok(Vec::new()),
            Some(e) if e.value().kind() != Kind::String => Err(CmdError::err(
                "The specified keys must contain string values",
            )),
            Some(e) => Ok(string_bytes(e.value())?.into_owned()),
        }
    };
    let a = read(ctx, argv.get(1))?;
    let b = read(ctx, argv.get(2))?;
    let max_bytes = ctx.srv.hot.proto_max_bulk_len.load(Ordering::Relaxed);
    let table = LcsTable::build(&a, &b, max_bytes)?;
    let total = table.total();
    if opts.len {
        ctx.out.int(total as i64);
        return Ok(());
    }
    let (lcs, matches) = table.walk_back();
    if !opts.idx {
        ctx.out.bulk(&lcs);
        return Ok(());
    }
    let kept: Vec<_> = matches
        .into_iter()
        .filter(|m| m.2 as i64 >= opts.min_match_len)
        .collect();
    ctx.out.map_len(2);
    ctx.out.bulk(b"matches");
    ctx.out.array_len(kept.len());
    for (ra, rb, len) in kept {
        ctx.out.array_len(if opts.with_match_len { 3 } else { 2 });
        ctx.out.array_len(2);
        ctx.out.int(ra.0 as i64);
        ctx.out.int(ra.1 as i64);
        ctx.out.array_len(2);
        ctx.out.int(rb.0 as i64);
        ctx.out.int(rb.1 as i64);
        if opts.with_match_len {
            ctx.out.int(len as i64);
        }
    }
    ctx.out.bulk(b"len");
    ctx.out.int(total as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::LcsTable;

    #[test]
    fn the_table_yields_the_subsequence_and_its_ranges() {
        let t = LcsTable::build(b"ohmytext", b"mynewtext", u64::MAX).expect("small table");
        assert_eq!(t.total(), 6);
        let (lcs, matches) = t.walk_back();
        assert_eq!(lcs, b"mytext");
        assert_eq!(matches, vec![((4, 7), (5, 8), 4), ((2, 3), (0, 1), 2)]);
        assert!(
            LcsTable::build(b"abc", b"abc", 15).is_err(),
            "16 bytes > 15"
        );
    }
}
