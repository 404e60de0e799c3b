//! The HyperLogLog commands (PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST)
//! over Redis's HLL strings (`store::hll`). What they propagate is Redis's:
//! the command itself whenever it changed the string, PFCOUNT included when
//! it refreshed the cached cardinality.

use std::sync::atomic::Ordering;

use super::spec::key_flags::{ACCESS, INSERT, RO, RW};
use super::spec::{command_table, CommandSpec, KeySpec, KeySpecs, NOKEYS};
use super::table::KS_RW_INSERT;
use super::{is, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::STRING;
use crate::store::hll::{self, REGISTERS};
use crate::store::{Str, StrRef, Value};

const KS_PFCOUNT: KeySpecs = KeySpecs::new(&[KeySpec::at(1, RW | ACCESS).range(-1, 1, 0).notes(
    "RW because it may change the internal representation of the key, and propagate to replicas",
)]);
const KS_PFMERGE: KeySpecs = KeySpecs::new(&[
    KeySpec::at(1, RW | ACCESS | INSERT),
    KeySpec::at(2, RO | ACCESS).range(-1, 1, 0),
]);
const KS_PFDEBUG: KeySpecs = KeySpecs::new(&[KeySpec::at(2, RW | ACCESS)]);

/// The HyperLogLog commands' table rows.
pub static COMMANDS: &[CommandSpec] = command_table! {
    "pfadd" -2 [WRITE|DENYOOM|FAST] KS_RW_INSERT, "write hyperloglog fast" "hyperloglog" "2.8.9" pfadd, "Adds the specified elements to the specified HyperLogLog.";
    "pfcount" -2 [READONLY|MAY_REPLICATE] KS_PFCOUNT, "read hyperloglog slow" "hyperloglog" "2.8.9" pfcount, "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).";
    "pfmerge" -2 [WRITE|DENYOOM] KS_PFMERGE, "write hyperloglog slow" "hyperloglog" "2.8.9" pfmerge, "Merge N different HyperLogLogs into a single one.";
    "pfdebug" 3 [WRITE|DENYOOM|ADMIN] KS_PFDEBUG, "write hyperloglog admin slow dangerous" "hyperloglog" "2.8.9" pfdebug, "Internal commands for debugging HyperLogLog values";
    "pfselftest" 1 [ADMIN] NOKEYS, "hyperloglog admin slow dangerous" "hyperloglog" "2.8.9" pfselftest, "An internal command for testing HyperLogLog values";
};

fn not_hll() -> CmdError {
    CmdError::Other("WRONGTYPE Key is not a valid HyperLogLog string value.".into())
}

fn corrupt() -> CmdError {
    CmdError::Other(hll::Corrupt.to_string())
}

/// `hll-sparse-max-bytes` now.
fn sparse_max(ctx: &Ctx<'_>) -> usize {
    let v = ctx
        .srv
        .hot
        .encodings
        .hll_sparse_max_bytes
        .load(Ordering::Relaxed);
    usize::try_from(v).unwrap_or(0)
}

/// The bytes of a string that holds an HLL, or Redis's "not a valid
/// HyperLogLog" error (an integer-encoded string never is one).
fn hll_bytes(s: StrRef<'_>) -> Result<&[u8], CmdError> {
    match s {
        StrRef::Bytes(b) | StrRef::Raw(b) if hll::is_hll(b) => Ok(b),
        _ => Err(not_hll()),
    }
}

/// Runs `f` on an HLL string's bytes as a growable buffer; the string stays
/// raw (Redis unshares it before writing).
fn with_hll<R>(s: &mut Str, f: impl FnOnce(&mut Vec<u8>) -> R) -> Result<R, CmdError> {
    hll_bytes(s.as_ref())?;
    let (Str::Bytes(b) | Str::Raw(b)) = s else {
        return Err(not_hll());
    };
    let mut v = std::mem::take(b).into_vec();
    let r = f(&mut v);
    *s = Str::Raw(v.into_boxed_slice());
    Ok(r)
}

/// `PFADD key [element …]`: 1 when a register changed (or the key was made).
pub fn pfadd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let max = sparse_max(ctx);
    let add_all = |v: &mut Vec<u8>, mut updated: bool| -> Result<bool, hll::Corrupt> {
        for ele in argv.tail(2).iter() {
            updated |= hll::add(v, ele, max)?;
        }
        if updated {
            hll::invalidate(v);
        }
        Ok(updated)
    };
    let mut g = ctx.lock(key);
    let updated = match g.get_mut(key) {
        Some(e) => with_hll(e.value_mut().as_type_mut::<Str>()?, |v| add_all(v, false))?,
        None => {
            let mut v = hll::new_sparse();
            let r = add_all(&mut v, true);
            g.set(key, Value::raw(v), Some(0));
            r
        }
    }
    .map_err(|_| corrupt())?;
    if updated {
        ctx.propagate_verbatim(argv);
        ctx.notify(STRING, "pfadd", key);
    }
    drop(g);
    ctx.out.int(i64::from(updated));
    Ok(())
}

/// `PFCOUNT key [key …]`: one key answers (and caches) its cardinality; several
/// answer that of their union, computed in a scratch register array.
pub fn pfcount(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if argv.len() > 2 {
        let db = ctx.client.db;
        let mut regs = [0u8; REGISTERS];
        let mut m = ctx.lock_keys(argv.tail(1).iter());
        for key in argv.tail(1).iter() {
            if let Some(s) = m.slot(db, key).read_str(key)? {
                hll::merge_into(&mut regs, hll_bytes(s)?).map_err(|_| corrupt())?;
            }
        }
        drop(m);
        ctx.out.int(hll::count_registers(&regs) as i64);
        return Ok(());
    }
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let (card, fresh, raw) = match g.read_str(key)? {
        None => {
            drop(g);
            ctx.out.int(0);
            return Ok(());
        }
        Some(s) => {
            let b = hll_bytes(s)?;
            match hll::cached(b) {
                Some(c) => (c, false, matches!(s, StrRef::Raw(_))),
                None => (hll::count(b).map_err(|_| corrupt())?, true, false),
            }
        }
    };
    if !raw {
        // Redis unshares the string (it becomes raw) and stores a fresh count.
        if let Some(e) = g.get_mut(key) {
            with_hll(e.value_mut().as_type_mut::<Str>()?, |v| {
                if fresh {
                    hll::set_cached(v, card);
                }
            })?;
        }
        // A replica's clients may refresh its cache too, but its stream is
        // the primary's: only what the primary sends goes there (Redis feeds
        // no replicas from a replica's own commands).
        if fresh && (ctx.client.replaying || !ctx.srv.upstream.is_replica()) {
            ctx.propagate_verbatim(argv);
        }
    }
    drop(g);
    ctx.out.int(card as i64);
    Ok(())
}

/// `PFMERGE destkey [sourcekey …]`: the union into `destkey` (dense if any
/// input is), always propagated.
pub fn pfmerge(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (db, dest) = (ctx.client.db, argv.get(1));
    let max_bytes = sparse_max(ctx);
    let mut regs = [0u8; REGISTERS];
    let mut dense = false;
    let mut m = ctx.lock_keys(argv.tail(1).iter());
    for key in argv.tail(1).iter() {
        if let Some(s) = m.slot(db, key).read_str(key)? {
            let b = hll_bytes(s)?;
            dense |= hll::is_dense(b);
            hll::merge_into(&mut regs, b).map_err(|_| corrupt())?;
        }
    }
    let fill = |v: &mut Vec<u8>| -> Result<(), hll::Corrupt> {
        if dense {
            hll::to_dense(v)?;
        }
        for (i, &r) in regs.iter().enumerate() {
            if r != 0 {
                // As Redis, a failure here (a corrupt destination) is ignored.
                let _ = hll::raise(v, i, r, max_bytes);
            }
        }
        hll::invalidate(v);
        Ok(())
    };
    let g = m.slot(db, dest);
    match g.get_mut(dest) {
        Some(e) => with_hll(e.value_mut().as_type_mut::<Str>()?, fill)?,
        None => {
            let mut v = hll::new_sparse();
            let r = fill(&mut v);
            g.set(dest, Value::raw(v), Some(0));
            r
        }
    }
    .map_err(|_| corrupt())?;
    ctx.propagate_verbatim(argv);
    // As Redis: the merge's destination gets `pfadd`.
    ctx.notify(STRING, "pfadd", dest);
    drop(m);
    ctx.out.ok();
    Ok(())
}

/// `PFDEBUG GETREG|DECODE|ENCODING|TODENSE key`
pub fn pfdebug(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (sub, key) = (argv.get(1), argv.get(2));
    let mut g = ctx.lock(key);
    let Some(e) = g.get_mut(key) else {
        return Err(CmdError::err("The specified key does not exist"));
    };
    let s = e.value_mut().as_type_mut::<Str>()?;
    let getreg = is(sub, "GETREG");
    if getreg || is(sub, "TODENSE") {
        let converted = with_hll(s, hll::to_dense)?.map_err(|_| corrupt())?;
        if converted {
            ctx.propagate_verbatim(argv);
        }
        if !getreg {
            drop(g);
            ctx.out.int(i64::from(converted));
            return Ok(());
        }
        let b = hll_bytes(s.as_ref())?;
        ctx.out.array_len(REGISTERS);
        for r in hll::dense_registers(b) {
            ctx.out.int(i64::from(r));
        }
        return Ok(());
    }
    with_hll(s, |_| ())?;
    let b = match &*s {
        Str::Bytes(b) | Str::Raw(b) => &b[..],
        Str::Int(_) => return Err(not_hll()),
    };
    if is(sub, "DECODE") {
        if hll::is_dense(b) {
            return Err(CmdError::err("HLL encoding is not sparse"));
        }
        let text = hll::decode(b);
        drop(g);
        ctx.out.bulk(text.as_bytes());
    } else if is(sub, "ENCODING") {
        let name = if hll::is_dense(b) { "dense" } else { "sparse" };
        drop(g);
        ctx.out.simple(name);
    } else {
        return Err(CmdError::err(format!(
            "Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}

/// `PFSELFTEST`: checks the register packing and the estimator.
pub fn pfselftest(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    hll::selftest(sparse_max(ctx)).map_err(CmdError::err)?;
    ctx.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::commands::testkit::Kit;

    #[test]
    fn pfadd_pfcount_and_propagation() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["PFADD", "h", "a", "b", "c"]), ":1\r\n");
        assert_eq!(k.last_propagated(), "PFADD h a b c");
        assert_eq!(k.run(&["PFADD", "h", "a"]), ":0\r\n");
        assert_eq!(k.run(&["PFCOUNT", "h"]), ":3\r\n");
        assert_eq!(k.last_propagated(), "PFCOUNT h", "the cache was refreshed");
        k.run(&["SET", "x", "1"]);
        assert_eq!(k.run(&["PFCOUNT", "h"]), ":3\r\n");
        assert_eq!(k.last_propagated(), "SET x 1", "cached: nothing written");
        assert_eq!(
            k.run(&["PFADD", "x", "a"]),
            "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"
        );
        assert_eq!(k.run(&["PFMERGE", "m", "h", "nokey"]), "+OK\r\n");
        assert_eq!(k.run(&["PFCOUNT", "m", "h"]), ":3\r\n");
        assert_eq!(k.run(&["PFDEBUG", "ENCODING", "m"]), "+sparse\r\n");
        assert_eq!(k.run(&["PFDEBUG", "TODENSE", "m"]), ":1\r\n");
        assert_eq!(k.run(&["PFDEBUG", "ENCODING", "m"]), "+dense\r\n");
        assert_eq!(k.run(&["PFCOUNT", "m"]), ":3\r\n");
    }
}
