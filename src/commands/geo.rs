//! The geospatial commands: points are sorted set members whose scores are
//! Redis's 52-bit geohashes (`store::types::zset::geohash`). GEOADD runs as
//! the ZADD it stands for (and propagates as it); searches scan the score
//! ranges of the centre cell and its neighbours, as Redis does.

use super::spec::key_flags::{ACCESS, OW, RO, UPDATE};
use super::spec::{command_table, CommandSpec, KeySpec, KeySpecs};
use super::table::{KS_RO_ACCESS, KS_RW_UPDATE};
use super::zset::parse_score;
use super::zset::store::{notify_stored, store_result};
use super::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::GENERIC;
use crate::resp::reply::Reply;
use crate::store::types::zset::geohash::{self, Search, Shape};
use crate::store::types::ZSet;

const KS_GEORADIUS: KeySpecs = KeySpecs::new(&[
    KeySpec::at(1, RO | ACCESS),
    KeySpec::after("STORE", 6, OW | UPDATE),
    KeySpec::after("STOREDIST", 6, OW | UPDATE),
]);
const KS_GEORADIUSBYMEMBER: KeySpecs = KeySpecs::new(&[
    KeySpec::at(1, RO | ACCESS),
    KeySpec::after("STORE", 5, OW | UPDATE),
    KeySpec::after("STOREDIST", 5, OW | UPDATE),
]);
const KS_GEOSEARCHSTORE: KeySpecs =
    KeySpecs::new(&[KeySpec::at(1, OW | UPDATE), KeySpec::at(2, RO | ACCESS)]);

/// The geospatial commands' table rows.
pub static COMMANDS: &[CommandSpec] = command_table! {
    "geoadd" -5 [WRITE|DENYOOM] KS_RW_UPDATE, "write geo slow" "geo" "3.2.0" geoadd, "Adds one or more members to a geospatial index. The key is created if it doesn't exist.";
    "geodist" -4 [READONLY] KS_RO_ACCESS, "read geo slow" "geo" "3.2.0" geodist, "Returns the distance between two members of a geospatial index.";
    "geohash" -2 [READONLY] KS_RO_ACCESS, "read geo slow" "geo" "3.2.0" geohash_cmd, "Returns members from a geospatial index as geohash strings.";
    "geopos" -2 [READONLY] KS_RO_ACCESS, "read geo slow" "geo" "3.2.0" geopos, "Returns the longitude and latitude of members from a geospatial index.";
    "georadius" -6 [WRITE|DENYOOM] KS_GEORADIUS, "write geo slow" "geo" "3.2.0" georadius, "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.";
    "georadius_ro" -6 [READONLY] KS_RO_ACCESS, "read geo slow" "geo" "3.2.10" georadius_ro, "Returns members from a geospatial index that are within a distance from a coordinate.";
    "georadiusbymember" -5 [WRITE|DENYOOM] KS_GEORADIUSBYMEMBER, "write geo slow" "geo" "3.2.0" georadiusbymember, "Queries a geospatial index for members within a distance from a member, optionally stores the result.";
    "georadiusbymember_ro" -5 [READONLY] KS_RO_ACCESS, "read geo slow" "geo" "3.2.10" georadiusbymember_ro, "Returns members from a geospatial index that are within a distance from a member.";
    "geosearch" -7 [READONLY] KS_RO_ACCESS, "read geo slow" "geo" "6.2.0" geosearch, "Queries a geospatial index for members inside an area of a box or a circle.";
    "geosearchstore" -8 [WRITE|DENYOOM] KS_GEOSEARCHSTORE, "write geo slow" "geo" "6.2.0" geosearchstore, "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.";
};

/// A coordinate as Redis's `addReplyHumanLongDouble` writes it: `%.17Lf`
/// without trailing zeros (a bulk string in RESP2, a double in RESP3).
fn reply_coord(out: &mut Reply, v: f64) {
    let s = format!("{v:.17}");
    let mut t = s.trim_end_matches('0').trim_end_matches('.');
    if t == "-0" {
        t = "0";
    }
    if out.resp3() {
        out.raw(format!(",{t}\r\n").as_bytes());
    } else {
        out.bulk(t.as_bytes());
    }
}

/// A distance with four decimals, as Redis's `fixedpoint_d2string`.
fn reply_distance(out: &mut Reply, d: f64) {
    let v = (d * 10000.0).round_ties_even() as i64;
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    out.bulk(format!("{sign}{}.{:04}", a / 10000, a % 10000).as_bytes());
}

/// `lon lat` arguments, checked against the geo limits.
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let (x, y) = (parse_score(lon)?, parse_score(lat)?);
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&x)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&y)
    {
        return Err(CmdError::err(format!(
            "invalid longitude,latitude pair {x:.6},{y:.6}"
        )));
    }
    Ok((x, y))
}

fn unit(arg: &[u8]) -> Result<f64, CmdError> {
    Ok(match arg.to_ascii_lowercase().as_slice() {
        b"m" => 1.0,
        b"km" => 1000.0,
        b"ft" => 0.3048,
        b"mi" => 1609.34,
        _ => {
            return Err(CmdError::err(
                "unsupported unit provided. please use M, KM, FT, MI",
            ))
        }
    })
}

fn numeric(arg: &[u8], what: &str) -> Result<f64, CmdError> {
    parse_score(arg).map_err(|_| CmdError::err(format!("need numeric {what}")))
}

/// `radius unit`: the radius and the unit's meters.
fn radius(argv: &Argv<'_>, at: usize) -> Result<(f64, f64), CmdError> {
    let r = numeric(argv.get(at), "radius")?;
    if r < 0.0 {
        return Err(CmdError::err("radius cannot be negative"));
    }
    Ok((r, unit(argv.get(at + 1))?))
}

/// `GEOADD key [NX|XX] [CH] lon lat member [lon lat member …]`: the ZADD of
/// the members' geohash scores.
pub fn geoadd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut first = 2;
    let (mut nx, mut xx) = (false, false);
    while let Some(a) = argv.opt(first) {
        if is(a, "NX") {
            nx = true;
        } else if is(a, "XX") {
            xx = true;
        } else if !is(a, "CH") {
            break;
        }
        first += 1;
    }
    let rest = argv.len() - first;
    if !rest.is_multiple_of(3) || (xx && nx) {
        return Err(CmdError::Syntax);
    }
    let mut words: Vec<Vec<u8>> = vec![b"zadd".to_vec()];
    words.extend((1..first).map(|i| argv.get(i).to_vec()));
    for i in (first..argv.len()).step_by(3) {
        let (lon, lat) = lon_lat(argv.get(i), argv.get(i + 1))?;
        let score = geohash::score_of(lon, lat).unwrap_or(0);
        words.push(itoa::Buffer::new().format(score).as_bytes().to_vec());
        words.push(argv.get(i + 2).to_vec());
    }
    let mut src = Vec::new();
    let mut ranges = Vec::with_capacity(words.len());
    for w in &words {
        ranges.push((src.len(), src.len() + w.len()));
        src.extend_from_slice(w);
    }
    super::zset::zadd(ctx, &Argv::new(&src, &ranges))
}

/// `GEODIST key member1 member2 [M|KM|FT|MI]`
pub fn geodist(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let to_meter = match argv.len() {
        5 => unit(argv.get(4))?,
        n if n > 5 => return Err(CmdError::Syntax),
        _ => 1.0,
    };
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let points = g.read::<ZSet>(key)?.and_then(|z| {
        let a = geohash::point_of(z.score(argv.get(2))?)?;
        let b = geohash::point_of(z.score(argv.get(3))?)?;
        Some((a, b))
    });
    match points {
        Some(((x1, y1), (x2, y2))) => {
            reply_distance(ctx.out, geohash::distance(x1, y1, x2, y2) / to_meter)
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// `GEOHASH key [member …]`
pub fn geohash_cmd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let z = g.read::<ZSet>(key)?;
    ctx.out.array_len(argv.len() - 2);
    for m in argv.tail(2).iter() {
        let h = z
            .and_then(|z| z.score(m))
            .and_then(geohash::point_of)
            .and_then(|(x, y)| geohash::hash_string(x, y));
        match h {
            Some(h) => ctx.out.bulk(&h),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// `GEOPOS key [member …]`
pub fn geopos(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let z = g.read::<ZSet>(key)?;
    ctx.out.array_len(argv.len() - 2);
    for m in argv.tail(2).iter() {
        match z.and_then(|z| z.score(m)).and_then(geohash::point_of) {
            Some((x, y)) => {
                ctx.out.array_len(2);
                reply_coord(ctx.out, x);
                reply_coord(ctx.out, y);
            }
            None => ctx.out.null_array(),
        }
    }
    Ok(())
}

/// Which search command runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Coords,
    Member,
    Search,
}

/// A search's options.
#[derive(Default)]
struct Opts<'a> {
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    any: bool,
    /// `Some(true)` ascending, `Some(false)` descending.
    asc: Option<bool>,
    count: usize,
    store: Option<&'a [u8]>,
    storedist: bool,
    center: Option<(f64, f64)>,
    from_member: bool,
    shape: Option<(Shape, f64)>,
}

/// The keys a search may write: GEOSEARCHSTORE's destination, or every
/// argument after a STORE/STOREDIST word (over-approximated; locking more is
/// harmless).
fn store_candidates<'a>(argv: &Argv<'a>, kind: Kind, dest: bool, ro: bool) -> Vec<&'a [u8]> {
    if kind == Kind::Search {
        return if dest { vec![argv.get(1)] } else { Vec::new() };
    }
    if ro {
        return Vec::new();
    }
    (2..argv.len().saturating_sub(1))
        .filter(|&i| is(argv.get(i), "STORE") || is(argv.get(i), "STOREDIST"))
        .map(|i| argv.get(i + 1))
        .collect()
}

/// Parses the options from `base` as Redis's `georadiusGeneric` does, in
/// order; members (FROMMEMBER) are looked up in `z` on the way.
fn parse_opts<'a>(
    argv: &Argv<'a>,
    base: usize,
    kind: Kind,
    ro: bool,
    dest: bool,
    z: Option<&ZSet>,
    o: &mut Opts<'a>,
) -> CmdResult {
    let search = kind == Kind::Search;
    let mut i = base;
    while i < argv.len() {
        let a = argv.get(i);
        let left = argv.len() - i - 1;
        if is(a, "WITHDIST") {
            o.withdist = true;
        } else if is(a, "WITHHASH") {
            o.withhash = true;
        } else if is(a, "WITHCOORD") {
            o.withcoord = true;
        } else if is(a, "ANY") {
            o.any = true;
        } else if is(a, "ASC") {
            o.asc = Some(true);
        } else if is(a, "DESC") {
            o.asc = Some(false);
        } else if is(a, "COUNT") && left >= 1 {
            let n = parse_i64(argv.get(i + 1))?;
            if n <= 0 {
                return Err(CmdError::err("COUNT must be > 0"));
            }
            o.count = n as usize;
            i += 1;
        } else if (is(a, "STORE") || is(a, "STOREDIST")) && left >= 1 && !ro && !search {
            o.store = Some(argv.get(i + 1));
            o.storedist = is(a, "STOREDIST");
            i += 1;
        } else if is(a, "STOREDIST") && search && dest {
            o.storedist = true;
        } else if is(a, "FROMMEMBER") && left >= 1 && search && o.center.is_none() {
            if let Some(z) = z {
                let p = z.score(argv.get(i + 1)).and_then(geohash::point_of);
                o.center = Some(p.ok_or_else(bad_member)?);
            }
            o.from_member = true;
            i += 1;
        } else if is(a, "FROMLONLAT") && left >= 2 && search && !o.from_member {
            o.center = Some(lon_lat(argv.get(i + 1), argv.get(i + 2))?);
            i += 2;
        } else if is(a, "BYRADIUS")
            && left >= 2
            && search
            && !matches!(o.shape, Some((Shape::Box(..), _)))
        {
            let (r, conv) = radius(argv, i + 1)?;
            o.shape = Some((Shape::Radius(r), conv));
            i += 2;
        } else if is(a, "BYBOX")
            && left >= 3
            && search
            && !matches!(o.shape, Some((Shape::Radius(_), _)))
        {
            let w = numeric(argv.get(i + 1), "width")?;
            let h = numeric(argv.get(i + 2), "height")?;
            if h < 0.0 || w < 0.0 {
                return Err(CmdError::err("height or width cannot be negative"));
            }
            o.shape = Some((Shape::Box(w, h), unit(argv.get(i + 3))?));
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(())
}

fn bad_member() -> CmdError {
    CmdError::err("could not decode requested zset member")
}

/// One match: member, distance (meters), score, point.
type Found = (Vec<u8>, f64, f64, (f64, f64));

/// Every member of `z` inside the search, scanning its score ranges in
/// Redis's order; stops at `limit` (0: none).
fn scan(z: &ZSet, s: &Search, limit: usize) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    for (min, max) in s.score_ranges() {
        if limit != 0 && out.len() >= limit {
            break;
        }
        let (min, max) = (min as f64, max as f64);
        let start = z.count_before(&|sc, _| sc < min);
        let end = z.count_before(&|sc, _| sc < max);
        for (m, sc) in z.range(start, end.saturating_sub(start), false) {
            let Some(p) = geohash::point_of(sc) else {
                continue;
            };
            if let Some(d) = s.contains(p.0, p.1) {
                out.push((m.into_owned(), d, sc, p));
            }
            if limit != 0 && out.len() >= limit {
                break;
            }
        }
    }
    out
}

/// The option combinations Redis refuses, in its order.
fn check_opts(argv: &Argv<'_>, kind: Kind, dest: bool, o: &Opts<'_>) -> Result<(), CmdError> {
    if o.store.is_some() && (o.withdist || o.withhash || o.withcoord) {
        let what = if dest {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(CmdError::err(format!(
            "{what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = String::from_utf8_lossy(argv.get(0)).into_owned();
    if kind == Kind::Search && o.center.is_none() && !o.from_member {
        return Err(CmdError::err(format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if kind == Kind::Search && o.shape.is_none() {
        return Err(CmdError::err(format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if o.any && o.count == 0 {
        return Err(CmdError::err("the ANY argument requires COUNT argument"));
    }
    Ok(())
}

fn run(ctx: &mut Ctx<'_>, argv: &Argv<'_>, kind: Kind, ro: bool, dest: bool) -> CmdResult {
    let src_at = if dest { 2 } else { 1 };
    let src = argv.get(src_at);
    let db = ctx.db();
    let lim = super::zset::limits(ctx);
    let srv = ctx.srv;
    let mut keys = vec![src];
    keys.extend(store_candidates(argv, kind, dest, ro));
    let mut m = srv
        .keyspace
        .lock_many(keys.iter().map(|k| (db, *k)), ctx.expiry_now());
    let z = m.slot(db, src).read::<ZSet>(src)?;
    let mut o = Opts::default();
    let base = match kind {
        Kind::Coords => {
            o.center = Some(lon_lat(argv.get(2), argv.get(3))?);
            let (r, conv) = radius(argv, 4)?;
            o.shape = Some((Shape::Radius(r), conv));
            6
        }
        Kind::Member => {
            if let Some(z) = z {
                let p = z.score(argv.get(2)).and_then(geohash::point_of);
                o.center = Some(p.ok_or_else(bad_member)?);
                let (r, conv) = radius(argv, 3)?;
                o.shape = Some((Shape::Radius(r), conv));
            }
            5
        }
        Kind::Search => {
            if dest {
                o.store = Some(argv.get(1));
            }
            src_at + 1
        }
    };
    parse_opts(argv, base, kind, ro, dest, z, &mut o)?;
    check_opts(argv, kind, dest, &o)?;
    let (Some(z), Some((lon, lat)), Some((shape, conversion))) = (z, o.center, o.shape) else {
        // No source: STORE deletes its destination.
        if let Some(dst) = o.store {
            let changed = m.slot(db, dst).remove(dst).is_some();
            if changed {
                ctx.propagate_verbatim(argv);
                ctx.notify(GENERIC, "del", dst);
            }
            drop(m);
            ctx.out.int(0);
        } else {
            drop(m);
            ctx.out.array_len(0);
        }
        return Ok(());
    };
    let search = Search {
        lon,
        lat,
        shape,
        conversion,
    };
    let mut found = scan(z, &search, if o.any { o.count } else { 0 });
    let asc = match o.asc {
        None if o.count != 0 && !o.any => Some(true),
        other => other,
    };
    if let Some(asc) = asc {
        found.sort_by(|a, b| {
            let c = a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal);
            if asc {
                c
            } else {
                c.reverse()
            }
        });
    }
    if o.count != 0 {
        found.truncate(o.count);
    }
    if let Some(dst) = o.store {
        let n = found.len();
        let entries = found
            .into_iter()
            .map(|(mem, d, sc, _)| (mem, if o.storedist { d / conversion } else { sc }))
            .collect();
        if store_result(m.slot(db, dst), dst, entries, lim) {
            ctx.propagate_verbatim(argv);
            let event = if kind == Kind::Search {
                "geosearchstore"
            } else {
                "georadiusstore"
            };
            notify_stored(ctx, dst, n > 0, event);
        }
        drop(m);
        ctx.out.int(n as i64);
        return Ok(());
    }
    drop(m);
    reply_found(ctx.out, &found, &o, conversion);
    Ok(())
}

fn reply_found(out: &mut Reply, found: &[Found], o: &Opts<'_>, conversion: f64) {
    let extra = usize::from(o.withdist) + usize::from(o.withhash) + usize::from(o.withcoord);
    out.array_len(found.len());
    for (mem, d, sc, (x, y)) in found {
        if extra > 0 {
            out.array_len(extra + 1);
        }
        out.bulk(mem);
        if o.withdist {
            reply_distance(out, d / conversion);
        }
        if o.withhash {
            out.int(*sc as i64);
        }
        if o.withcoord {
            out.array_len(2);
            reply_coord(out, *x);
            reply_coord(out, *y);
        }
    }
}

/// `GEORADIUS key lon lat radius unit [options] [STORE key] [STOREDIST key]`
pub fn georadius(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run(ctx, argv, Kind::Coords, false, false)
}

/// `GEORADIUS_RO key lon lat radius unit [options]`
pub fn georadius_ro(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run(ctx, argv, Kind::Coords, true, false)
}

/// `GEORADIUSBYMEMBER key member radius unit [options] [STORE key] …`
pub fn georadiusbymember(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run(ctx, argv, Kind::Member, false, false)
}

/// `GEORADIUSBYMEMBER_RO key member radius unit [options]`
pub fn georadiusbymember_ro(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run(ctx, argv, Kind::Member, true, false)
}

/// `GEOSEARCH key FROMMEMBER m|FROMLONLAT lon lat BYRADIUS r u|BYBOX w h u …`
pub fn geosearch(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run(ctx, argv, Kind::Search, true, false)
}

/// `GEOSEARCHSTORE dst src … [STOREDIST]`
pub fn geosearchstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    run(ctx, argv, Kind::Search, false, true)
}
