//! ZUNION, ZINTER, ZDIFF, ZINTERCARD and their STORE forms: every input key
//! is locked together (ascending slot order), read, combined, and the result
//! replied or stored. Plain sets are inputs with score 1.

use hashbrown::HashMap;

use super::{limits, reply_entries};
use crate::commands::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::{GENERIC, ZSET};
use crate::store::types::zset::{cmp_elem, Entry, ZSetLimits};
use crate::store::types::ValueType;
use crate::store::types::{Set, ZSet};
use crate::store::SlotGuard;

/// The algebra.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

/// How scores of one member combine.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, v: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += v;
            // +inf plus -inf is 0 here, as in Redis.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if v < *target {
                *target = v;
            }
        }
        Aggregate::Max => {
            if v > *target {
                *target = v;
            }
        }
    }
}

/// One input, read out of the keyspace.
struct Input {
    entries: Vec<(Vec<u8>, f64)>,
    weight: f64,
}

/// A plain set's members, each with score 1 (as Redis reads sets here).
fn set_entries(s: &Set) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    Ok(s.members()
        .into_iter()
        .map(|m| (m.into_owned(), 1.0))
        .collect())
}

fn read_input(g: &mut SlotGuard<'_>, key: &[u8]) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    let Some(e) = g.get(key) else {
        return Ok(Vec::new());
    };
    if let Ok(z) = e.value().as_type::<ZSet>() {
        return Ok(z
            .entries()
            .into_iter()
            .map(|(m, s)| (m.into_owned(), s))
            .collect());
    }
    match e.value().as_type::<Set>() {
        Ok(s) => set_entries(s),
        Err(_) => Err(CmdError::WrongType),
    }
}

/// Parsed arguments: input keys and options.
struct Request<'a> {
    keys: Vec<&'a [u8]>,
    weights: Vec<f64>,
    how: Aggregate,
    withscores: bool,
    limit: usize,
}

/// Reads `numkeys` at `at` and the keys after it (errors as Redis orders them).
fn parse_keys<'a>(argv: &Argv<'a>, at: usize, name: &str) -> Result<Vec<&'a [u8]>, CmdError> {
    let n = parse_i64(argv.get(at))?;
    if n < 1 {
        return Err(CmdError::err(format!(
            "at least 1 input key is needed for '{name}' command"
        )));
    }
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if n > argv.len() - at - 1 {
        return Err(CmdError::Syntax);
    }
    Ok((at + 1..at + 1 + n).map(|i| argv.get(i)).collect())
}

/// The options after the keys.
fn parse_options<'a>(
    argv: &Argv<'a>,
    keys: Vec<&'a [u8]>,
    from: usize,
    op: Op,
    store: bool,
    card: bool,
) -> Result<Request<'a>, CmdError> {
    let mut req = Request {
        weights: vec![1.0; keys.len()],
        keys,
        how: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let n = req.keys.len();
    let mut j = from;
    while j < argv.len() {
        let remaining = argv.len() - j;
        let a = argv.get(j);
        if op != Op::Diff && !card && remaining > n && is(a, "WEIGHTS") {
            for i in 0..n {
                let w = super::parse_score(argv.get(j + 1 + i))
                    .map_err(|_| CmdError::err("weight value is not a float"))?;
                req.weights[i] = w;
            }
            j += 1 + n;
        } else if op != Op::Diff && !card && remaining >= 2 && is(a, "AGGREGATE") {
            let v = argv.get(j + 1);
            req.how = if is(v, "SUM") {
                Aggregate::Sum
            } else if is(v, "MIN") {
                Aggregate::Min
            } else if is(v, "MAX") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if !store && !card && is(a, "WITHSCORES") {
            req.withscores = true;
            j += 1;
        } else if card && remaining >= 2 && is(a, "LIMIT") {
            let err = || CmdError::err("LIMIT can't be negative");
            let l = parse_i64(argv.get(j + 1)).map_err(|_| err())?;
            if l < 0 {
                return Err(err());
            }
            req.limit = usize::try_from(l).unwrap_or(usize::MAX);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(req)
}

/// Combines the inputs (in argument order) into unsorted result entries;
/// for a cardinality only, stops at `limit` (0: none) and returns the count.
fn combine(inputs: Vec<Input>, op: Op, how: Aggregate, card_limit: Option<usize>) -> Combined {
    match op {
        Op::Diff => {
            let mut it = inputs.into_iter();
            let first = it.next().map(|i| i.entries).unwrap_or_default();
            let others: Vec<HashMap<Vec<u8>, f64>> =
                it.map(|i| i.entries.into_iter().collect()).collect();
            Combined::Entries(
                first
                    .into_iter()
                    .filter(|(m, _)| others.iter().all(|o| !o.contains_key(m)))
                    .collect(),
            )
        }
        Op::Union => {
            let mut inputs = inputs;
            inputs.sort_by_key(|i| i.entries.len());
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            for inp in inputs {
                for (m, s) in inp.entries {
                    let mut score = inp.weight * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(&m) {
                        Some(t) => aggregate(t, score, how),
                        None => {
                            acc.insert(m, score);
                        }
                    }
                }
            }
            Combined::Entries(acc.into_iter().collect())
        }
        Op::Inter => inter(inputs, how, card_limit),
    }
}

enum Combined {
    Entries(Vec<(Vec<u8>, f64)>),
    Count(usize),
}

fn inter(mut inputs: Vec<Input>, how: Aggregate, card_limit: Option<usize>) -> Combined {
    inputs.sort_by_key(|i| i.entries.len());
    let mut it = inputs.into_iter();
    let first = it
        .next()
        .map_or((Vec::new(), 1.0), |i| (i.entries, i.weight));
    let others: Vec<(HashMap<Vec<u8>, f64>, f64)> = it
        .map(|i| (i.entries.into_iter().collect(), i.weight))
        .collect();
    let mut out = Vec::new();
    let mut count = 0usize;
    'members: for (m, s) in first.0 {
        let mut score = first.1 * s;
        if score.is_nan() {
            score = 0.0;
        }
        for (o, w) in &others {
            match o.get(&m) {
                Some(v) => aggregate(&mut score, v * w, how),
                None => continue 'members,
            }
        }
        count += 1;
        if let Some(limit) = card_limit {
            if limit != 0 && count >= limit {
                break;
            }
        } else {
            out.push((m, score));
        }
    }
    match card_limit {
        Some(_) => Combined::Count(count),
        None => Combined::Entries(out),
    }
}

/// Stores `entries` (members unique) under `dst`, or deletes `dst` when
/// empty; true when the keyspace changed.
pub(crate) fn store_result(
    g: &mut SlotGuard<'_>,
    dst: &[u8],
    entries: Vec<(Vec<u8>, f64)>,
    limits: ZSetLimits,
) -> bool {
    if entries.is_empty() {
        return g.remove(dst).is_some();
    }
    g.set(
        dst,
        ZSet::from_entries(entries, limits).into_value(),
        Some(0),
    );
    true
}

/// The event of a STORE whose destination changed: `event` (a sorted-set
/// event) when a result was stored, `del` when an empty one deleted `dst`.
pub(crate) fn notify_stored(ctx: &Ctx<'_>, dst: &[u8], stored: bool, event: &str) {
    if stored {
        ctx.notify(ZSET, event, dst);
    } else {
        ctx.notify(GENERIC, "del", dst);
    }
}

/// The whole command: `dst` for a STORE form, `card` for ZINTERCARD.
fn run(ctx: &mut Ctx<'_>, argv: &Argv<'_>, op: Op, store: bool, card: bool) -> CmdResult {
    let name = ctx.spec.name;
    let at = if store { 2 } else { 1 };
    let keys = parse_keys(argv, at, name)?;
    let from = at + 1 + keys.len();
    let dst = store.then(|| argv.get(1));
    let db = ctx.db();
    let lim = limits(ctx);
    let srv = ctx.srv;
    let locked = dst.iter().chain(keys.iter()).map(|k| (db, *k));
    let mut m = srv.keyspace.lock_many(locked, ctx.expiry_now());
    let mut inputs = Vec::with_capacity(keys.len());
    for k in &keys {
        inputs.push(Input {
            entries: read_input(m.slot(db, k), k)?,
            weight: 1.0,
        });
    }
    let req = parse_options(argv, keys, from, op, store, card)?;
    for (inp, w) in inputs.iter_mut().zip(&req.weights) {
        inp.weight = *w;
    }
    let card_limit = card.then_some(req.limit);
    let entries = match combine(inputs, op, req.how, card_limit) {
        Combined::Count(n) => {
            drop(m);
            ctx.out.int(n as i64);
            return Ok(());
        }
        Combined::Entries(e) => e,
    };
    if let Some(dst) = dst {
        let n = entries.len();
        if store_result(m.slot(db, dst), dst, entries, lim) {
            ctx.propagate_verbatim(argv);
            let event = match op {
                Op::Union => "zunionstore",
                Op::Inter => "zinterstore",
                Op::Diff => "zdiffstore",
            };
            notify_stored(ctx, dst, n > 0, event);
        }
        drop(m);
        ctx.out.int(n as i64);
        return Ok(());
    }
    drop(m);
    let mut entries = entries;
    entries.sort_by(|a, b| cmp_elem(a.1, &a.0, b.1, &b.0));
    let view: Vec<Entry<'_>> = entries
        .iter()
        .map(|(m, s)| (std::borrow::Cow::Borrowed(&m[..]), *s))
        .collect();
    reply_entries(ctx.out, &view, req.withscores);
    Ok(())
}

/// `ZUNION numkeys key [key …] [WEIGHTS w …] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
pub fn zunion(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run(ctx, argv, Op::Union, false, false)
}

/// `ZINTER numkeys key [key …] [WEIGHTS w …] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
pub fn zinter(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run(ctx, argv, Op::Inter, false, false)
}

/// `ZDIFF numkeys key [key …] [WITHSCORES]`
pub fn zdiff(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run(ctx, argv, Op::Diff, false, false)
}

/// `ZINTERCARD numkeys key [key …] [LIMIT limit]`
pub fn zintercard(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run(ctx, argv, Op::Inter, false, true)
}

/// `ZUNIONSTORE destination numkeys key [key …] [WEIGHTS …] [AGGREGATE …]`
pub fn zunionstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run(ctx, argv, Op::Union, true, false)
}

/// `ZINTERSTORE destination numkeys key [key …] [WEIGHTS …] [AGGREGATE …]`
pub fn zinterstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run(ctx, argv, Op::Inter, true, false)
}

/// `ZDIFFSTORE destination numkeys key [key …]`
pub fn zdiffstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run(ctx, argv, Op::Diff, true, false)
}
