//! SORT and SORT_RO: the elements of a list, set or sorted set, sorted
//! numerically or by bytes, optionally by weights or with values read from
//! other keys (`BY`/`GET` patterns), limited, and returned or stored as a list.
//!
//! Patterns name keys only known once the elements are read, and SORT is
//! atomic: the elements are read under the key's lock, the keys the patterns
//! name are computed, and then everything is read again with all those slots
//! locked at once (in order, as multi-key commands lock); if the elements
//! changed in between and name other keys, the lock set grows and it repeats.

use std::cmp::Ordering;

use super::spec::key_flags::{ACCESS, OW, RO, UPDATE};
use super::spec::{command_table, CommandSpec, KeyFlags, KeySpec, KeySpecs};
use super::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::{GENERIC, LIST};
use crate::store::types::{Value, WrongType};
use crate::store::{Hash, List, MultiGuard};

/// The BY/GET spec: keys named by the sorted key's contents.
const BY_GET: KeySpec = KeySpec::unknown(RO | ACCESS).notes(
    "For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort",
);
const KS_SORT: KeySpecs = KeySpecs::new(&[
    KeySpec::at(1, RO | ACCESS),
    BY_GET,
    KeySpec::unknown(OW | UPDATE).notes(
        "For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array",
    ),
])
.with_function(sort_keys);
const KS_SORT_RO: KeySpecs =
    KeySpecs::new(&[KeySpec::at(1, RO | ACCESS), BY_GET]).with_function(sort_ro_keys);

/// SORT_RO's key: the sorted one.
fn sort_ro_keys(_argv: &Argv<'_>, f: &mut dyn FnMut(usize, KeyFlags)) {
    f(1, RO | ACCESS);
}

/// SORT's keys: the sorted key, and the STORE destination (Redis's
/// `sortGetKeys`: the last STORE wins, LIMIT skips its two numbers).
fn sort_keys(argv: &Argv<'_>, f: &mut dyn FnMut(usize, KeyFlags)) {
    f(1, RO | ACCESS);
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let a = argv.get(i);
        if is(a, "LIMIT") {
            i += 2;
        } else if (is(a, "GET") || is(a, "BY")) && i + 1 < argv.len() {
            i += 1;
        } else if is(a, "STORE") && i + 1 < argv.len() {
            store = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    if let Some(s) = store {
        f(s, OW | UPDATE);
    }
}

/// The SORT commands' table rows.
pub static COMMANDS: &[CommandSpec] = command_table! {
    "sort" -2 [WRITE|DENYOOM] KS_SORT, "write set sortedset list slow dangerous" "generic" "1.0.0" sort, "Sort the elements in a list, set or sorted set";
    "sort_ro" -2 [READONLY] KS_SORT_RO, "read set sortedset list slow dangerous" "generic" "7.0.0" sort_ro, "Sort the elements in a list, set or sorted set. Read-only variant of SORT.";
};

/// `SORT key [BY pattern] [LIMIT offset count] [GET pattern …] [ASC|DESC] [ALPHA] [STORE destination]`
pub fn sort(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run(ctx, argv, false)
}

/// `SORT_RO`: SORT without STORE.
pub fn sort_ro(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run(ctx, argv, true)
}

/// SORT's options.
struct Options<'a> {
    desc: bool,
    alpha: bool,
    limit: (i64, i64),
    store: Option<&'a [u8]>,
    by: Option<&'a [u8]>,
    /// `BY` a pattern without `*`: keep the stored order.
    dontsort: bool,
    gets: Vec<&'a [u8]>,
}

impl<'a> Options<'a> {
    fn parse(ctx: &Ctx<'_>, argv: &Argv<'a>, readonly: bool) -> Result<Self, CmdError> {
        let mut o = Options {
            desc: false,
            alpha: false,
            limit: (0, -1),
            store: None,
            by: None,
            dontsort: false,
            gets: Vec::new(),
        };
        let cluster = ctx.srv.cluster.is_some();
        let mut j = 2;
        while j < argv.len() {
            let (a, left) = (argv.get(j), argv.len() - j - 1);
            if is(a, "ASC") {
                o.desc = false;
            } else if is(a, "DESC") {
                o.desc = true;
            } else if is(a, "ALPHA") {
                o.alpha = true;
            } else if is(a, "LIMIT") && left >= 2 {
                o.limit = (parse_i64(argv.get(j + 1))?, parse_i64(argv.get(j + 2))?);
                j += 2;
            } else if !readonly && is(a, "STORE") && left >= 1 {
                o.store = Some(argv.get(j + 1));
                j += 1;
            } else if is(a, "BY") && left >= 1 {
                let p = argv.get(j + 1);
                o.by = Some(p);
                if !p.contains(&b'*') {
                    o.dontsort = true;
                } else if cluster {
                    return Err(CmdError::err("BY option of SORT denied in Cluster mode."));
                }
                j += 1;
            } else if is(a, "GET") && left >= 1 {
                if cluster {
                    return Err(CmdError::err("GET option of SORT denied in Cluster mode."));
                }
                o.gets.push(argv.get(j + 1));
                j += 1;
            } else {
                return Err(CmdError::Syntax);
            }
            j += 1;
        }
        Ok(o)
    }

    /// The keys `pattern` names for each element (and a hash field), for locking.
    fn pattern_keys(&self, elements: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let by = self.by.filter(|_| !self.dontsort);
        let mut keys: Vec<Vec<u8>> = elements
            .iter()
            .flat_map(|e| {
                by.iter()
                    .chain(self.gets.iter())
                    .filter_map(move |p| substitute(p, e).map(|(k, _)| k))
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

/// Where a pattern leads for `element`: the key (`*` replaced by the element)
/// and the hash field after `->`, if any. `None` for `#` or no `*`.
fn substitute(pattern: &[u8], element: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    if pattern == b"#" {
        return None;
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let after = &pattern[star + 1..];
    let (post, field) = match after.windows(2).position(|w| w == b"->") {
        Some(i) if i + 2 < after.len() => (&after[..i], Some(after[i + 2..].to_vec())),
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(star + element.len() + post.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(post);
    Some((key, field))
}

/// The value `pattern` names for `element` (Redis's `lookupKeyByPattern`):
/// the element for `#`, a string key's value, a hash field; `None` otherwise.
fn lookup(m: &mut MultiGuard<'_>, db: usize, pattern: &[u8], element: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let (key, field) = substitute(pattern, element)?;
    let g = m.slot(db, &key);
    match field {
        Some(f) => g
            .read::<Hash>(&key)
            .ok()
            .flatten()
            .and_then(|h| h.get(&f).map(|v| v.into_owned())),
        None => g
            .read_str(&key)
            .ok()
            .flatten()
            .map(|s| s.to_bytes().into_owned()),
    }
}

/// The sorted key's elements (in stored order; for `dontsort` lists and sorted
/// sets only the LIMIT window, as Redis reads them).
/// The second value says whether the LIMIT window was applied already.
fn elements(
    m: &mut MultiGuard<'_>,
    db: usize,
    key: &[u8],
    o: &Options<'_>,
) -> Result<(Vec<Vec<u8>>, bool), CmdError> {
    let g = m.slot(db, key);
    let Some(e) = g.get(key) else {
        return Ok((Vec::new(), false));
    };
    let Some(v) = e.value().container() else {
        return Err(WrongType.into());
    };
    let windowed = o.dontsort && matches!(v, Value::List(_) | Value::ZSet(_));
    let elems = match v {
        Value::List(l) if o.dontsort => {
            let (start, end) = window(o.limit, l.len());
            let n = (end + 1 - start).max(0) as usize;
            if o.desc {
                let from = l.len() - start as usize - n;
                let mut v: Vec<Vec<u8>> = l.range(from, n).map(|e| e.to_vec()).collect();
                v.reverse();
                v
            } else {
                l.range(start as usize, n).map(|e| e.to_vec()).collect()
            }
        }
        Value::List(l) => l.iter().map(|e| e.to_vec()).collect(),
        Value::Set(s) => s.members().into_iter().map(|m| m.into_owned()).collect(),
        Value::ZSet(z) if o.dontsort => {
            let (start, end) = window(o.limit, z.len());
            let n = (end + 1 - start).max(0) as usize;
            z.range(start as usize, n, o.desc)
                .into_iter()
                .map(|(m, _)| m.into_owned())
                .collect()
        }
        Value::ZSet(z) => z
            .entries()
            .into_iter()
            .map(|(m, _)| m.into_owned())
            .collect(),
        _ => return Err(WrongType.into()),
    };
    Ok((elems, windowed))
}

/// Redis's LIMIT window over `len` elements: (start, end), end < start when empty.
fn window((offset, count): (i64, i64), len: usize) -> (i64, i64) {
    let len = len as i64;
    let start = offset.max(0).min(len);
    let count = count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    let mut start = start;
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    (start, end.min(len - 1))
}

/// One element and what it sorts by.
struct Item {
    element: Vec<u8>,
    score: f64,
    weight: Option<Vec<u8>>,
}

/// C's `strtod` over the whole string, as SORT accepts weights: leading
/// blanks, no trailing bytes, no overflow or underflow, no NaN.
fn strtod_whole(s: &[u8]) -> Option<f64> {
    if s.is_empty() {
        // strtod converts nothing and points at the terminator: a valid 0.
        return Some(0.0);
    }
    let t = std::str::from_utf8(s).ok()?;
    let t = t.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let v: f64 = t.parse().ok()?;
    let lower = t.to_ascii_lowercase();
    let digits = lower.split('e').next().unwrap_or("");
    let is_inf_text = lower.trim_start_matches(['+', '-']).starts_with("inf");
    let overflow = v.is_infinite() && !is_inf_text;
    let underflow = v == 0.0 && digits.bytes().any(|c| (b'1'..=b'9').contains(&c));
    (!v.is_nan() && !overflow && !underflow).then_some(v)
}

/// `strcoll` in the C locale: bytes up to the first NUL.
fn collate(a: &[u8], b: &[u8]) -> Ordering {
    let cut = |s: &[u8]| {
        s.iter()
            .position(|&c| c == 0)
            .map_or(s, |i| &s[..i])
            .to_vec()
    };
    cut(a).cmp(&cut(b))
}

fn compare(a: &Item, b: &Item, o: &Options<'_>) -> Ordering {
    let by_pattern = o.by.is_some();
    let bytes = |x: &[u8], y: &[u8]| {
        if o.store.is_some() {
            x.cmp(y)
        } else {
            collate(x, y)
        }
    };
    let cmp = if !o.alpha {
        a.score
            .partial_cmp(&b.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.element.cmp(&b.element))
    } else if by_pattern {
        match (&a.weight, &b.weight) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => bytes(x, y),
        }
    } else {
        bytes(&a.element, &b.element)
    };
    if o.desc {
        cmp.reverse()
    } else {
        cmp
    }
}

fn run(ctx: &mut Ctx<'_>, argv: &Argv<'_>, readonly: bool) -> CmdResult {
    let mut o = Options::parse(ctx, argv, readonly)?;
    let (db, key, now) = (ctx.client.db, argv.get(1), ctx.expiry_now());
    let in_script = ctx.client.in_script;
    let ks = &ctx.srv.keyspace;
    let mut pattern_keys: Vec<Vec<u8>> = Vec::new();
    let (mut m, mut elems, windowed) = loop {
        let mut locked: Vec<&[u8]> = vec![key];
        locked.extend(o.store);
        locked.extend(pattern_keys.iter().map(|k| &k[..]));
        let mut m = ks.lock_many(locked.into_iter().map(|k| (db, k)), now);
        // A set read without sorting: sorted by bytes so replicas and the AOF
        // (STORE) see the same order, and a script sees a fixed one, as Redis
        // forces.
        if o.dontsort && (o.store.is_some() || in_script) {
            if let Some(e) = m.slot(db, key).peek(key) {
                if matches!(e.value().container(), Some(Value::Set(_))) {
                    (o.dontsort, o.alpha, o.by) = (false, true, None);
                }
            }
        }
        let (elems, windowed) = elements(&mut m, db, key, &o)?;
        let want = o.pattern_keys(&elems);
        if want.iter().all(|k| pattern_keys.binary_search(k).is_ok()) {
            break (m, elems, windowed);
        }
        drop(m);
        pattern_keys = want;
    };
    let len = elems.len();
    let (start, end) = if windowed {
        (0, len as i64 - 1)
    } else {
        window(o.limit, len)
    };
    if !o.dontsort {
        let mut items = Vec::with_capacity(len);
        let mut bad_score = false;
        for element in elems.drain(..) {
            let by = match o.by {
                Some(p) => lookup(&mut m, db, p, &element),
                None => Some(element.clone()),
            };
            let mut item = Item {
                element,
                score: 0.0,
                weight: None,
            };
            if let Some(w) = by {
                if o.alpha {
                    item.weight = o.by.is_some().then_some(w);
                } else {
                    match strtod_whole(&w) {
                        Some(s) => item.score = s,
                        None => bad_score = true,
                    }
                }
            }
            items.push(item);
        }
        if bad_score {
            return Err(CmdError::err(
                "One or more scores can't be converted into double",
            ));
        }
        items.sort_by(|a, b| compare(a, b, &o));
        elems = items.into_iter().map(|i| i.element).collect();
    }
    let picked: &[Vec<u8>] = if end >= start {
        &elems[start as usize..=end as usize]
    } else {
        &[]
    };
    let mut out: Vec<Option<Vec<u8>>> = Vec::new();
    for e in picked {
        if o.gets.is_empty() {
            out.push(Some(e.clone()));
        }
        for p in &o.gets {
            out.push(lookup(&mut m, db, p, e));
        }
    }
    match o.store {
        None => {
            drop(m);
            ctx.out.array_len(out.len());
            for v in &out {
                match v {
                    Some(b) => ctx.out.bulk(b),
                    None => ctx.out.null(),
                }
            }
        }
        Some(dest) => {
            let fill = super::list::fill(ctx);
            let g = m.slot(db, dest);
            if out.is_empty() {
                if g.remove(dest).is_some() {
                    ctx.notify(GENERIC, "del", dest);
                }
            } else {
                let mut list = List::default();
                for v in &out {
                    list.push(v.as_deref().unwrap_or(b""), false, fill);
                }
                g.set(dest, Value::List(Box::new(list)), Some(0));
                ctx.notify(LIST, "sortstore", dest);
            }
            drop(m);
            ctx.propagate_verbatim(argv);
            ctx.out.int(out.len() as i64);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_substitute_the_first_star_and_split_a_hash_field() {
        assert_eq!(substitute(b"w_*", b"3"), Some((b"w_3".to_vec(), None)));
        assert_eq!(
            substitute(b"h_*->f", b"x"),
            Some((b"h_x".to_vec(), Some(b"f".to_vec())))
        );
        // `->` at the end is part of the key name, as in Redis.
        assert_eq!(substitute(b"h_*->", b"x"), Some((b"h_x->".to_vec(), None)));
        assert_eq!(substitute(b"#", b"x"), None);
        assert_eq!(substitute(b"nostar", b"x"), None);
    }

    #[test]
    fn weights_parse_as_strtod_reads_a_whole_string() {
        assert_eq!(strtod_whole(b""), Some(0.0));
        assert_eq!(strtod_whole(b" 1.5"), Some(1.5));
        assert_eq!(strtod_whole(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(strtod_whole(b"1.5 "), None);
        assert_eq!(strtod_whole(b"abc"), None);
        assert_eq!(strtod_whole(b"nan"), None);
        assert_eq!(strtod_whole(b"1e400"), None);
        assert_eq!(strtod_whole(b"1e-400"), None);
        assert_eq!(strtod_whole(b"0e-400"), Some(0.0));
    }

    #[test]
    fn the_limit_window_follows_redis() {
        assert_eq!(window((0, -1), 5), (0, 4));
        assert_eq!(window((1, 2), 5), (1, 2));
        assert_eq!(window((-3, 2), 5), (0, 1));
        assert_eq!(window((7, 2), 5), (4, 3));
        assert_eq!(window((0, 0), 5), (0, -1));
        assert_eq!(window((0, 10), 5), (0, 4));
        assert_eq!(window((0, -1), 0), (-1, -2));
    }
}
