//! Expiry commands: EXPIRE and its unit variants (with NX/XX/GT/LT), TTL and its
//! variants, PERSIST.

use super::{lossy, peek_counted};
use crate::commands::expire_args::{deadline, ExpireUnit};
use crate::commands::{is, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::GENERIC;

/// The NX/XX/GT/LT conditions of the EXPIRE family.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct ExpireCond {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireCond {
    fn parse(args: Argv<'_>) -> Result<Self, CmdError> {
        let mut c = ExpireCond::default();
        for a in args.iter() {
            if is(a, "NX") {
                c.nx = true;
            } else if is(a, "XX") {
                c.xx = true;
            } else if is(a, "GT") {
                c.gt = true;
            } else if is(a, "LT") {
                c.lt = true;
            } else {
                return Err(CmdError::err(format!("Unsupported option {}", lossy(a))));
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(CmdError::err(
                "NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if c.gt && c.lt {
            return Err(CmdError::err(
                "GT and LT options at the same time are not compatible",
            ));
        }
        Ok(c)
    }

    /// Whether the new deadline `when` may replace `current` (None = no TTL,
    /// which GT treats as infinite).
    fn allows(self, when: i64, current: Option<i64>) -> bool {
        match current {
            None => !(self.xx || self.gt),
            Some(cur) => !(self.nx || (self.gt && when <= cur) || (self.lt && when >= cur)),
        }
    }
}

fn expire_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, unit: ExpireUnit, cmd: &str) -> CmdResult {
    let cond = ExpireCond::parse(argv.tail(3))?;
    let when = deadline(argv.get(2), unit, ctx.now_ms, cmd, false)?;
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let Some(e) = g.get_mut(key) else {
        ctx.out.int(0);
        return Ok(());
    };
    let current = (e.expire_at() != 0).then_some(e.expire_at() as i64);
    if !cond.allows(when, current) {
        ctx.out.int(0);
        return Ok(());
    }
    if ctx.already_expired(when) {
        g.remove(key);
        ctx.propagate(&[b"DEL", key]);
        ctx.notify(GENERIC, "del", key);
    } else {
        g.set_expire(key, when as u64);
        let mut b = itoa::Buffer::new();
        let mut parts: Vec<&[u8]> = vec![b"PEXPIREAT", key, b.format(when).as_bytes()];
        parts.extend(argv.tail(3).iter());
        ctx.propagate(&parts);
        ctx.notify(GENERIC, "expire", key);
    }
    drop(g);
    ctx.out.int(1);
    Ok(())
}

/// `EXPIRE key seconds [NX|XX|GT|LT]`
pub fn expire(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, ExpireUnit::Seconds, "expire")
}

/// `PEXPIRE key milliseconds [NX|XX|GT|LT]`
pub fn pexpire(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, ExpireUnit::Millis, "pexpire")
}

/// `EXPIREAT key unix-seconds [NX|XX|GT|LT]`
pub fn expireat(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, ExpireUnit::UnixSeconds, "expireat")
}

/// `PEXPIREAT key unix-ms [NX|XX|GT|LT]`
pub fn pexpireat(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, ExpireUnit::UnixMillis, "pexpireat")
}

/// TTL and friends: `ms` picks the unit, `abs` reports the deadline itself.
fn ttl_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, ms: bool, abs: bool) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let reply = match peek_counted(&ctx.srv.keyspace, &mut g, key) {
        None => -2,
        Some(e) if e.expire_at() == 0 => -1,
        Some(e) => {
            let at = e.expire_at() as i64;
            let t = if abs { at } else { at - ctx.now_ms as i64 }.max(0);
            if ms {
                t
            } else {
                (t + 500) / 1000
            }
        }
    };
    drop(g);
    ctx.out.int(reply);
    Ok(())
}

/// `TTL key`
pub fn ttl(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, false, false)
}

/// `PTTL key`
pub fn pttl(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, true, false)
}

/// `EXPIRETIME key`
pub fn expiretime(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, false, true)
}

/// `PEXPIRETIME key`
pub fn pexpiretime(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, true, true)
}

/// `PERSIST key`
pub fn persist(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let volatile = g.get_mut(key).is_some_and(|e| e.expire_at() != 0);
    if volatile {
        g.set_expire(key, 0);
        ctx.propagate(&[b"PERSIST", key]);
        ctx.notify(GENERIC, "persist", key);
    }
    drop(g);
    ctx.out.int(volatile as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::unix_ms;
    use crate::commands::keys::tests::{resp, Harness};

    #[test]
    fn expire_propagates_absolute_deadline_or_del() {
        let mut h = Harness::new();
        h.run(&[b"SET", b"k", b"v"]);
        let before = unix_ms();
        assert_eq!(h.run(&[b"EXPIRE", b"k", b"100", b"nx"]), ":1\r\n");
        let after = unix_ms();
        let stream = h.stream();
        let at = (before + 100_000..=after + 100_000)
            .find(|t| stream.contains(&resp(&["PEXPIREAT", "k", &t.to_string(), "nx"])));
        assert!(at.is_some(), "{stream:?}");
        assert_eq!(h.run(&[b"PEXPIRE", b"k", b"-1"]), ":1\r\n");
        assert!(h.stream().ends_with(&resp(&["DEL", "k"])));
        let offset = h.srv.repl.offset();
        assert_eq!(h.run(&[b"EXPIRE", b"k", b"100"]), ":0\r\n");
        assert_eq!(h.srv.repl.offset(), offset, "a no-op is not propagated");
    }

    #[test]
    fn expire_conditions() {
        let c = |nx, xx, gt, lt| ExpireCond { nx, xx, gt, lt };
        assert!(c(true, false, false, false).allows(5, None));
        assert!(!c(true, false, false, false).allows(5, Some(3)));
        assert!(!c(false, true, false, false).allows(5, None));
        assert!(c(false, true, false, false).allows(5, Some(3)));
        assert!(!c(false, false, true, false).allows(5, None));
        assert!(c(false, false, true, false).allows(5, Some(3)));
        assert!(!c(false, false, true, false).allows(3, Some(3)));
        assert!(c(false, false, false, true).allows(5, None));
        assert!(c(false, false, false, true).allows(2, Some(3)));
        assert!(!c(false, false, false, true).allows(3, Some(3)));
    }
}
