//! DUMP and RESTORE: a value as a serialized payload and back.

use crate::commands::{is, parse_i64, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::GENERIC;
use crate::persist;
use crate::store::access::{self, Policy};
use crate::store::Entry;

/// `DUMP key`
pub fn dump(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let payload = ctx.lock(key).get(key).map(|e| persist::dump(e.value()));
    match payload {
        Some(p) => ctx.out.bulk(&p),
        None => ctx.out.null(),
    }
    Ok(())
}

/// RESTORE's options after the payload.
#[derive(Default)]
struct RestoreOpts {
    replace: bool,
    absttl: bool,
    idle: Option<i64>,
    freq: Option<u8>,
}

impl RestoreOpts {
    fn parse(args: Argv<'_>) -> Result<Self, CmdError> {
        let mut o = RestoreOpts::default();
        let mut i = 0;
        while i < args.len() {
            let (a, val) = (args.get(i), args.opt(i + 1));
            match val {
                _ if is(a, "REPLACE") => o.replace = true,
                _ if is(a, "ABSTTL") => o.absttl = true,
                Some(v) if is(a, "IDLETIME") && o.freq.is_none() => {
                    let n = parse_i64(v)?;
                    if n < 0 {
                        return Err(CmdError::err("Invalid IDLETIME value, must be >= 0"));
                    }
                    o.idle = Some(n);
                    i += 1;
                }
                Some(v) if is(a, "FREQ") && o.idle.is_none() => {
                    let n = parse_i64(v)?;
                    o.freq = Some(u8::try_from(n).map_err(|_| {
                        CmdError::err("Invalid FREQ value, must be >= 0 and <= 255")
                    })?);
                    i += 1;
                }
                _ => return Err(CmdError::Syntax),
            }
            i += 1;
        }
        Ok(o)
    }

    /// The access metadata the restored key starts with (Redis's
    /// `objectSetLRUOrLFU`): FREQ applies under LFU, IDLETIME under the others.
    fn access(&self, policy: Policy) -> u32 {
        let fresh = access::initial_access(policy);
        if policy.is_lfu() {
            // The fresh value carries the current LFU minute in its high bits.
            return self.freq.map_or(fresh, |f| (fresh & !0xff) | f as u32);
        }
        match (self.idle, policy) {
            (Some(idle), p) if p != Policy::AllKeysFifo => {
                access::access_idle_for(idle.max(0) as u64)
            }
            _ => fresh,
        }
    }
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`
pub fn restore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let opts = RestoreOpts::parse(argv.tail(4))?;
    let mut g = ctx.lock(key);
    if !opts.replace && g.contains(key) {
        return Err(CmdError::Other(
            "BUSYKEY Target key name already exists.".into(),
        ));
    }
    let ttl = parse_i64(argv.get(2))?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let value = persist::undump(argv.get(3)).map_err(CmdError::err)?;
    let deleted = opts.replace && g.remove(key).is_some();
    // Redis adds without an overflow check; wrapping keeps its outcome (an
    // absurd TTL lands in the past and the key is not created).
    let at = if ttl != 0 && !opts.absttl {
        ttl.wrapping_add(ctx.now_ms as i64)
    } else {
        ttl
    };
    if at != 0 && ctx.already_expired(at) {
        if deleted {
            ctx.propagate(&[b"DEL", key]);
            ctx.notify(GENERIC, "del", key);
        }
        drop(g);
        ctx.out.ok();
        return Ok(());
    }
    let access = opts.access(ctx.srv.keyspace.policy());
    g.put_entry(
        key,
        Entry {
            value,
            expire_at: at as u64,
            access,
        },
    );
    propagate_restore(ctx, argv, at, opts.absttl);
    ctx.notify(GENERIC, "restore", key);
    drop(g);
    ctx.out.ok();
    Ok(())
}

/// Propagates RESTORE with an absolute TTL, as Redis rewrites it.
fn propagate_restore(ctx: &mut Ctx<'_>, argv: &Argv<'_>, at: i64, absttl: bool) {
    if at == 0 || absttl {
        ctx.propagate_verbatim(argv);
        return;
    }
    let mut b = itoa::Buffer::new();
    let mut parts: Vec<&[u8]> = argv.iter().collect();
    parts[2] = b.format(at).as_bytes();
    parts.push(b"ABSTTL");
    ctx.propagate(&parts);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_access_metadata() {
        let idle = RestoreOpts {
            idle: Some(100),
            ..Default::default()
        };
        let a = idle.access(Policy::AllKeysLru);
        assert!((100..=101).contains(&access::idle_seconds(a)));
        let freq = RestoreOpts {
            freq: Some(42),
            ..Default::default()
        };
        assert_eq!(access::lfu_counter(freq.access(Policy::AllKeysLfu)), 42);
    }
}
