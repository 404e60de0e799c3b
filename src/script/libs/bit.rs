//! `bit`: LuaBitOp's 32-bit operations on Lua numbers.

use mlua::{Lua, MultiValue, Table, Value};

use super::{bad_arg, num};

/// A number normalised to a signed 32-bit integer (LuaBitOp's `tobit`:
/// rounded, then taken modulo 2^32).
fn tobit(n: f64) -> i32 {
    let r = n.round_ties_even();
    if !r.is_finite() {
        return 0;
    }
    (r.rem_euclid(4_294_967_296.0) as u64) as u32 as i32
}

fn arg(a: &MultiValue, i: usize, f: &str) -> mlua::Result<i32> {
    let v = a.get(i).cloned().unwrap_or(Value::Nil);
    num(&v)
        .map(tobit)
        .ok_or_else(|| bad_arg(i + 1, f, "number", &v))
}

fn unary(lua: &Lua, t: &Table, name: &'static str, op: fn(i32) -> i32) -> mlua::Result<()> {
    t.raw_set(
        name,
        super::func(lua, move |lua, a| {
            super::ret(lua, op(arg(&a, 0, name)?) as f64)
        })?,
    )
}

fn fold(lua: &Lua, t: &Table, name: &'static str, op: fn(i32, i32) -> i32) -> mlua::Result<()> {
    t.raw_set(
        name,
        super::func(lua, move |lua, a| {
            let mut acc = arg(&a, 0, name)?;
            for i in 1..a.len() {
                acc = op(acc, arg(&a, i, name)?);
            }
            super::ret(lua, acc as f64)
        })?,
    )
}

fn shift(lua: &Lua, t: &Table, name: &'static str, op: fn(i32, u32) -> i32) -> mlua::Result<()> {
    t.raw_set(
        name,
        super::func(lua, move |lua, a| {
            let x = arg(&a, 0, name)?;
            let n = arg(&a, 1, name)? as u32 & 31;
            super::ret(lua, op(x, n) as f64)
        })?,
    )
}

/// `bit.tohex(x [, n])`: `n` hex digits (default 8), upper case when negative.
fn tohex(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let x = arg(&a, 0, "tohex")? as u32;
    let mut n = if a.len() > 1 { arg(&a, 1, "tohex")? } else { 8 };
    if n == i32::MIN {
        n = i32::MIN + 1;
    }
    let upper = n < 0;
    let n = n.unsigned_abs().min(8) as usize;
    let s = if upper {
        format!("{x:08X}")
    } else {
        format!("{x:08x}")
    };
    super::ret(lua, lua.create_string(&s[8 - n..])?)
}

/// The `bit` table.
pub(super) fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    unary(lua, &t, "tobit", |x| x)?;
    unary(lua, &t, "bnot", |x| !x)?;
    unary(lua, &t, "bswap", |x| x.swap_bytes())?;
    fold(lua, &t, "band", |a, b| a & b)?;
    fold(lua, &t, "bor", |a, b| a | b)?;
    fold(lua, &t, "bxor", |a, b| a ^ b)?;
    shift(lua, &t, "lshift", |x, n| ((x as u32) << n) as i32)?;
    shift(lua, &t, "rshift", |x, n| ((x as u32) >> n) as i32)?;
    shift(lua, &t, "arshift", |x, n| x >> n)?;
    shift(lua, &t, "rol", |x, n| (x as u32).rotate_left(n) as i32)?;
    shift(lua, &t, "ror", |x, n| (x as u32).rotate_right(n) as i32)?;
    t.raw_set("tohex", super::func(lua, tohex)?)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::tobit;

    #[test]
    fn tobit_wraps_and_rounds() {
        assert_eq!(tobit(1.0), 1);
        assert_eq!(tobit(4294967295.0), -1);
        assert_eq!(tobit(2147483648.0), i32::MIN);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tobit(2.5), 2);
        assert_eq!(tobit(3.5), 4);
    }
}
