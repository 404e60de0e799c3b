//! The blocking sorted-set pops: BZPOPMIN, BZPOPMAX, BZMPOP. The list pops'
//! pattern (`commands::blocking`): try the pop; with every set empty either
//! answer as a timeout (MULTI/EXEC, a replayed stream) or block, to be re-run
//! when a write stores one of the keys.

use super::{parse_mpop, pop_and_propagate, reply_popped, PopShape};
use crate::commands::blocking::{self, Timeout};
use crate::commands::{Argv, CmdResult, Ctx};
use crate::resp::reply::Reply;

/// `BZPOPMIN key [key …] timeout`
pub fn bzpopmin(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    bzpop(ctx, argv, false)
}

/// `BZPOPMAX key [key …] timeout`
pub fn bzpopmax(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    bzpop(ctx, argv, true)
}

fn bzpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>, max: bool) -> CmdResult {
    let timeout = Timeout::parse(argv.get(argv.len() - 1), ctx.now_ms)?;
    let keys = 1..argv.len() - 1;
    loop {
        for i in keys.clone() {
            let key = argv.get(i);
            if let Some(popped) = pop_and_propagate(ctx, key, max, 1)?.filter(|p| !p.is_empty()) {
                reply_popped(ctx.out, key, &popped, PopShape::KeyFlat);
                return Ok(());
            }
        }
        if !blocking::wait_or_retry(ctx, argv, keys.clone(), timeout, Reply::null_array) {
            return Ok(());
        }
    }
}

/// `BZMPOP timeout numkeys key [key …] MIN|MAX [COUNT count]`
pub fn bzmpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (keys, max, count) = parse_mpop(argv, 2)?;
    let timeout = Timeout::parse(argv.get(1), ctx.now_ms)?;
    loop {
        for key in &keys {
            if let Some(popped) = pop_and_propagate(ctx, key, max, count)?.filter(|p| !p.is_empty())
            {
                reply_popped(ctx.out, key, &popped, PopShape::KeyNested);
                return Ok(());
            }
        }
        if !blocking::wait_or_retry(ctx, argv, 3..3 + keys.len(), timeout, Reply::null_array) {
            return Ok(());
        }
    }
}
