//! Iterating the keyspace: KEYS, SCAN, RANDOMKEY.

use crate::commands::args::ArgCursor;
use crate::commands::{is, Argv, CmdError, CmdResult, Ctx};
use crate::glob;
use crate::store::Record;

/// `KEYS pattern`
pub fn keys(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let pattern = argv.get(1);
    let all = pattern == b"*";
    let mut found: Vec<Box<[u8]>> = Vec::new();
    ctx.srv.keyspace.for_each_key(ctx.db(), ctx.now_ms, |k, _| {
        if all || glob::matches(pattern, k, false) {
            found.push(Box::from(k));
        }
    });
    ctx.out.array_len(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// Parses a SCAN cursor as Redis's `strtoul` call does: optional sign (a
/// negative value wraps), digits, nothing else; an empty string is 0.
pub(crate) fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::err("invalid cursor");
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if arg.is_empty() {
        return Ok(0);
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((d - b'0') as u64))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// SCAN's MATCH/COUNT/TYPE options (TYPE only for the keyspace's own SCAN).
struct ScanOpts<'a> {
    count: usize,
    pattern: Option<&'a [u8]>,
    kind: Option<&'a [u8]>,
}

impl<'a> ScanOpts<'a> {
    fn parse(args: Argv<'a>, with_type: bool) -> Result<Self, CmdError> {
        let mut o = ScanOpts {
            count: 10,
            pattern: None,
            kind: None,
        };
        let mut c = ArgCursor::new(&args, 0);
        while let Some(a) = c.next_word() {
            if !c.has_value() {
                return Err(CmdError::Syntax);
            }
            if is(a, "COUNT") {
                o.count = c.count(1)?;
            } else if is(a, "MATCH") {
                let p = c.value()?;
                o.pattern = (p != b"*").then_some(p);
            } else if with_type && is(a, "TYPE") {
                o.kind = Some(c.value()?);
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(o)
    }

    fn wants(&self, key: &[u8], e: &Record) -> bool {
        self.pattern.is_none_or(|p| glob::matches(p, key, false))
            && self
                .kind
                .is_none_or(|t| t.eq_ignore_ascii_case(e.value().kind().name().as_bytes()))
    }
}

/// HSCAN/SSCAN/ZSCAN's arguments: `key cursor [MATCH pattern] [COUNT n]`.
pub struct ElementScan<'a> {
    /// Where to go on from (0 starts).
    pub cursor: u64,
    /// About how many elements to visit.
    pub count: usize,
    pattern: Option<&'a [u8]>,
}

impl<'a> ElementScan<'a> {
    /// Parses MATCH/COUNT from `argv[3..]` for a scan from `cursor`. Redis
    /// reads the cursor (`parse_cursor`) before looking the key up and these
    /// options after: a missing key answers an empty scan whatever follows.
    pub fn options(argv: &Argv<'a>, cursor: u64) -> Result<Self, CmdError> {
        let o = ScanOpts::parse(argv.tail(3), false)?;
        Ok(ElementScan {
            cursor,
            count: o.count,
            pattern: o.pattern,
        })
    }

    /// The reply for a missing key: cursor 0, nothing.
    pub fn reply_empty(ctx: &mut Ctx<'_>) {
        Self::reply::<&[u8]>(ctx, 0, &[]);
    }

    /// True when `element` passes MATCH.
    pub fn wants(&self, element: &[u8]) -> bool {
        self.pattern
            .is_none_or(|p| glob::matches(p, element, false))
    }

    /// Writes the reply: the next cursor, then the items (`flat`: each one
    /// element, or a field and value, already flattened).
    pub fn reply<T: AsRef<[u8]>>(ctx: &mut Ctx<'_>, next: u64, flat: &[T]) {
        ctx.out.array_len(2);
        ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
        ctx.out.array_len(flat.len());
        for item in flat {
            ctx.out.bulk(item.as_ref());
        }
    }
}

/// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]`. The cursor is the slot
/// to resume at; whole slots are returned, so a key present for the whole scan
/// is always reported (at least once).
pub fn scan(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let cursor = parse_cursor(argv.get(1))?;
    let opts = ScanOpts::parse(argv.tail(2), true)?;
    let mut found: Vec<Box<[u8]>> = Vec::new();
    let next = ctx
        .srv
        .keyspace
        .scan_keys(ctx.db(), cursor, opts.count, ctx.now_ms, |k, e| {
            let wanted = opts.wants(k, e);
            if wanted {
                found.push(Box::from(k));
            }
            wanted
        });
    ctx.out.array_len(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array_len(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// `RANDOMKEY`. Dense databases are sampled by random slot; sparse ones by a
/// uniform pick over a full walk. On a primary, expired keys met on the way
/// are deleted, so an all-expired database ends in a nil reply rather than a
/// loop; a replica deletes nothing (`Keyspace::random_key_keeping_expired`).
pub fn randomkey(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let (db, ks, now) = (ctx.db(), &ctx.srv.keyspace, ctx.now_ms);
    let key = if ctx.srv.upstream.is_replica() {
        ks.random_key_keeping_expired(db, now)
    } else {
        ks.random_key(db, now)
    };
    match key {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::keys::tests::Harness;
    use crate::store::Value;

    #[test]
    fn randomkey_ends_when_every_key_expired() {
        let mut h = Harness::new();
        for i in 0..50 {
            let k = format!("k{i}");
            h.srv
                .keyspace
                .lock_key(0, k.as_bytes(), 0)
                .set(k.as_bytes(), Value::int(i), Some(1));
        }
        assert_eq!(h.srv.keyspace.db(0).len(), 50);
        assert_eq!(h.run(&[b"RANDOMKEY"]), "$-1\r\n");
        assert_eq!(h.srv.keyspace.db(0).len(), 0);
    }

    #[test]
    fn randomkey_reaches_every_key() {
        let mut h = Harness::new();
        h.run(&[b"MSET", b"a", b"1", b"b", b"2", b"c", b"3"]);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..300 {
            seen.insert(h.run(&[b"RANDOMKEY"]));
        }
        assert_eq!(seen.len(), 3, "{seen:?}");
    }

    #[test]
    fn scan_cursor_parsing() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b""), Ok(0));
        assert_eq!(parse_cursor(b"+12"), Ok(12));
        assert_eq!(parse_cursor(b"007"), Ok(7));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"-0"), Ok(0));
        for bad in [
            &b"abc"[..],
            b" 1",
            b"1 ",
            b"-",
            b"+",
            b"99999999999999999999999",
        ] {
            assert!(parse_cursor(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scan_visits_every_key_across_calls() {
        let mut h = Harness::new();
        for i in 0..500 {
            let k = format!("key:{i}");
            h.run(&[b"SET", k.as_bytes(), b"v"]);
        }
        let mut cursor = "0".to_string();
        let mut seen = std::collections::HashSet::new();
        let mut calls = 0;
        loop {
            let r = h.run(&[b"SCAN", cursor.as_bytes(), b"COUNT", b"7"]);
            let mut lines = r.split("\r\n");
            lines.next();
            lines.next();
            cursor = lines.next().unwrap_or_default().to_string();
            seen.extend(lines.filter(|l| l.starts_with("key:")).map(String::from));
            calls += 1;
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 500);
        assert!(calls > 10, "COUNT bounds each call ({calls} calls)");
    }
}
