//! ZRANGE and its older forms, ZRANGESTORE, the counts and the removals by
//! rank, score or lex range. A range becomes a span of ascending ranks
//! (found in O(log n) on a large set), then a slice of it is read.

use super::{limits, reply_entries};
use crate::commands::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::{GENERIC, ZSET};
use crate::store::types::zset::Entry;
use crate::store::types::ZSet;

/// What a range's bounds are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// A score bound: the value and whether it is exclusive (`(`).
#[derive(Clone, Copy)]
struct ScoreBound(f64, bool);

fn parse_score_bound(arg: &[u8]) -> Result<ScoreBound, CmdError> {
    let bad = || CmdError::err("min or max is not a float");
    let (text, ex) = match arg.split_first() {
        Some((b'(', rest)) => (rest, true),
        _ => (arg, false),
    };
    let t = std::str::from_utf8(text).map_err(|_| bad())?;
    let lower = t.trim_start().to_ascii_lowercase();
    let v: f64 = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        s => s.parse().map_err(|_| bad())?,
    };
    if v.is_nan() {
        return Err(bad());
    }
    Ok(ScoreBound(v, ex))
}

/// A lex bound: `-`, `+`, or a member, inclusive (`[`) or exclusive (`(`).
#[derive(Clone, Copy)]
enum LexBound<'a> {
    Min,
    Max,
    At(&'a [u8], bool),
}

fn parse_lex_bound(arg: &[u8]) -> Result<LexBound<'_>, CmdError> {
    match arg.split_first() {
        Some((b'+', [])) => Ok(LexBound::Max),
        Some((b'-', [])) => Ok(LexBound::Min),
        Some((b'(', rest)) => Ok(LexBound::At(rest, true)),
        Some((b'[', rest)) => Ok(LexBound::At(rest, false)),
        _ => Err(CmdError::err("min or max not valid string range item")),
    }
}

/// A parsed range over scores or members, as ascending ranks `start..end`.
enum Bounds<'a> {
    Score(ScoreBound, ScoreBound),
    Lex(LexBound<'a>, LexBound<'a>),
}

impl Bounds<'_> {
    fn parse<'a>(by: By, min: &'a [u8], max: &'a [u8]) -> Result<Bounds<'a>, CmdError> {
        Ok(match by {
            By::Lex => Bounds::Lex(parse_lex_bound(min)?, parse_lex_bound(max)?),
            _ => Bounds::Score(parse_score_bound(min)?, parse_score_bound(max)?),
        })
    }

    /// The ascending ranks the range covers (empty when `end <= start`).
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        match *self {
            Bounds::Score(ScoreBound(min, minex), ScoreBound(max, maxex)) => {
                let start = z.count_before(&|s, _| if minex { s <= min } else { s < min });
                let end = z.count_before(&|s, _| if maxex { s < max } else { s <= max });
                (start, end.max(start))
            }
            Bounds::Lex(min, max) => {
                let below_min = |m: &[u8]| match min {
                    LexBound::Min => false,
                    LexBound::Max => true,
                    LexBound::At(b, ex) => {
                        if ex {
                            m <= b
                        } else {
                            m < b
                        }
                    }
                };
                let up_to_max = |m: &[u8]| match max {
                    LexBound::Min => false,
                    LexBound::Max => true,
                    LexBound::At(b, ex) => {
                        if ex {
                            m < b
                        } else {
                            m <= b
                        }
                    }
                };
                let start = z.count_before(&|_, m| below_min(m));
                let end = z.count_before(&|_, m| up_to_max(m));
                (start, end.max(start))
            }
        }
    }
}

/// One ZRANGE-like request, parsed.
struct Request<'a> {
    by: By,
    rev: bool,
    withscores: bool,
    /// `LIMIT offset count` (count < 0: no limit).
    limit: Option<(i64, i64)>,
    min: &'a [u8],
    max: &'a [u8],
}

/// Parses the options after `key min max` (at `from`), as Redis's
/// `zrangeGenericCommand`: preset `by`/`rev` (the older commands) refuse
/// their own keywords; `store` refuses WITHSCORES.
fn parse_request<'a>(
    argv: &Argv<'a>,
    from: usize,
    by: Option<By>,
    rev: Option<bool>,
    store: bool,
) -> Result<Request<'a>, CmdError> {
    let (mut by_opt, mut rev_opt) = (by, rev);
    let (mut withscores, mut limit) = (false, None);
    let mut j = from;
    while let Some(a) = argv.opt(j) {
        let left = argv.len() - j - 1;
        if !store && is(a, "WITHSCORES") {
            withscores = true;
        } else if is(a, "LIMIT") && left >= 2 {
            limit = Some((parse_i64(argv.get(j + 1))?, parse_i64(argv.get(j + 2))?));
            j += 2;
        } else if rev_opt.is_none() && is(a, "REV") {
            rev_opt = Some(true);
        } else if by_opt.is_none() && is(a, "BYLEX") {
            by_opt = Some(By::Lex);
        } else if by_opt.is_none() && is(a, "BYSCORE") {
            by_opt = Some(By::Score);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let by = by_opt.unwrap_or(By::Rank);
    let rev = rev_opt.unwrap_or(false);
    if limit.is_some() && by == By::Rank {
        return Err(CmdError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == By::Lex {
        return Err(CmdError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut min, mut max) = (argv.get(from - 2), argv.get(from - 1));
    if rev && by != By::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    Ok(Request {
        by,
        rev,
        withscores,
        limit,
        min,
        max,
    })
}

/// A parsed range, ready to read from a sorted set.
enum Span<'a> {
    Ranks(i64, i64),
    Bounds(Bounds<'a>),
}

impl Request<'_> {
    fn span(&self) -> Result<Span<'_>, CmdError> {
        Ok(match self.by {
            By::Rank => Span::Ranks(parse_i64(self.min)?, parse_i64(self.max)?),
            by => Span::Bounds(Bounds::parse(by, self.min, self.max)?),
        })
    }

    /// The elements the request selects, in reply order.
    fn select<'z>(&self, span: &Span<'_>, z: &'z ZSet) -> Vec<Entry<'z>> {
        let len = z.len();
        match span {
            Span::Ranks(start, end) => match clamp_ranks(*start, *end, len) {
                Some((s, e)) => z.range(s, e - s, self.rev),
                None => Vec::new(),
            },
            Span::Bounds(b) => {
                let (start, end) = b.ranks(z);
                let (offset, count) = self.limit.unwrap_or((0, -1));
                if offset < 0 {
                    return Vec::new();
                }
                let total = end - start;
                let skip = usize::try_from(offset).unwrap_or(usize::MAX).min(total);
                let take = if count < 0 {
                    total - skip
                } else {
                    usize::try_from(count)
                        .unwrap_or(usize::MAX)
                        .min(total - skip)
                };
                let from = if self.rev { len - end } else { start };
                z.range(from + skip, take, self.rev)
            }
        }
    }
}

/// Redis's rank normalisation: negatives count from the end; `None` when
/// the range is empty.
fn clamp_ranks(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    let end = end.min(len - 1);
    Some((start as usize, end as usize + 1))
}

fn range_reply(ctx: &mut Ctx<'_>, argv: &Argv<'_>, by: Option<By>, rev: Option<bool>) -> CmdResult {
    let req = parse_request(argv, 4, by, rev, false)?;
    let span = req.span()?;
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let Some(z) = g.read::<ZSet>(key)? else {
        ctx.out.array_len(0);
        return Ok(());
    };
    let picked = req.select(&span, z);
    reply_entries(ctx.out, &picked, req.withscores);
    Ok(())
}

/// `ZRANGE key min max [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`
pub fn zrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    range_reply(ctx, argv, None, None)
}

/// `ZREVRANGE key start stop [WITHSCORES]`
pub fn zrevrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    range_reply(ctx, argv, Some(By::Rank), Some(true))
}

/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`
pub fn zrangebyscore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    range_reply(ctx, argv, Some(By::Score), Some(false))
}

/// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`
pub fn zrevrangebyscore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    range_reply(ctx, argv, Some(By::Score), Some(true))
}

/// `ZRANGEBYLEX key min max [LIMIT offset count]`
pub fn zrangebylex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    range_reply(ctx, argv, Some(By::Lex), Some(false))
}

/// `ZREVRANGEBYLEX key max min [LIMIT offset count]`
pub fn zrevrangebylex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    range_reply(ctx, argv, Some(By::Lex), Some(true))
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`
pub fn zrangestore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let req = parse_request(argv, 5, None, None, true)?;
    let span = req.span()?;
    let (dst, src) = (argv.get(1), argv.get(2));
    let db = ctx.db();
    let lim = limits(ctx);
    let srv = ctx.srv;
    let mut m = srv
        .keyspace
        .lock_many([(db, dst), (db, src)], ctx.expiry_now());
    let picked: Vec<(Vec<u8>, f64)> = match m.slot(db, src).read::<ZSet>(src)? {
        Some(z) => req
            .select(&span, z)
            .into_iter()
            .map(|(k, s)| (k.into_owned(), s))
            .collect(),
        None => Vec::new(),
    };
    let n = picked.len();
    let changed = super::store::store_result(m.slot(db, dst), dst, picked, lim);
    if changed {
        ctx.propagate_verbatim(argv);
        super::store::notify_stored(ctx, dst, n > 0, "zrangestore");
    }
    drop(m);
    ctx.out.int(n as i64);
    Ok(())
}

/// Parses a score or lex range and finds its ranks in `key`'s sorted set.
fn counted(ctx: &mut Ctx<'_>, argv: &Argv<'_>, by: By) -> CmdResult {
    let b = Bounds::parse(by, argv.get(2), argv.get(3))?;
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let n = g.read::<ZSet>(key)?.map_or(0, |z| {
        let (s, e) = b.ranks(z);
        e - s
    });
    ctx.out.int(n as i64);
    Ok(())
}

/// `ZCOUNT key min max`
pub fn zcount(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    counted(ctx, argv, By::Score)
}

/// `ZLEXCOUNT key min max`
pub fn zlexcount(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    counted(ctx, argv, By::Lex)
}

fn remove_range(ctx: &mut Ctx<'_>, argv: &Argv<'_>, by: By) -> CmdResult {
    let span = match by {
        By::Rank => Span::Ranks(parse_i64(argv.get(2))?, parse_i64(argv.get(3))?),
        by => Span::Bounds(Bounds::parse(by, argv.get(2), argv.get(3))?),
    };
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let (removed, emptied) = g
        .update::<ZSet, _>(key, |z| {
            let (s, e) = match &span {
                Span::Ranks(a, b) => clamp_ranks(*a, *b, z.len()).unwrap_or((0, 0)),
                Span::Bounds(b) => b.ranks(z),
            };
            let n = if e > s { z.remove_ranks(s, e) } else { 0 };
            (n, z.is_empty())
        })?
        .unwrap_or((0, false));
    if removed > 0 {
        ctx.propagate_verbatim(argv);
        let event = match by {
            By::Rank => "zremrangebyrank",
            By::Score => "zremrangebyscore",
            By::Lex => "zremrangebylex",
        };
        ctx.notify(ZSET, event, key);
        if emptied {
            ctx.notify(GENERIC, "del", key);
        }
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// `ZREMRANGEBYRANK key start stop`
pub fn zremrangebyrank(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    remove_range(ctx, argv, By::Rank)
}

/// `ZREMRANGEBYSCORE key min max`
pub fn zremrangebyscore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    remove_range(ctx, argv, By::Score)
}

/// `ZREMRANGEBYLEX key min max`
pub fn zremrangebylex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    remove_range(ctx, argv, By::Lex)
}
