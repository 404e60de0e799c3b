//! The libraries Redis adds to Lua's own (`string`, `table`, `math`):
//! `bit` (LuaBitOp), `cjson` (lua-cjson), `cmsgpack` (lua-cmsgpack) and
//! `struct` (Roberto Ierusalimschy's struct), written here in Rust with the
//! behaviour scripts rely on.

mod bit;
mod cjson;
mod cmsgpack;
mod structlib;

use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Table};

/// A library function (its errors raised as plain messages, as C libraries do).
pub(crate) fn func<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> mlua::Result<MultiValue> + Send + 'static,
{
    super::api::lib_function(lua, f)
}

/// Wraps return values.
pub(crate) fn ret(lua: &Lua, v: impl IntoLuaMulti) -> mlua::Result<MultiValue> {
    v.into_lua_multi(lua)
}

/// Sets the library tables in globals `g`.
pub(crate) fn install(lua: &Lua, g: &Table) -> mlua::Result<()> {
    g.raw_set("bit", bit::table(lua)?)?;
    g.raw_set("cjson", cjson::table(lua)?)?;
    g.raw_set("cmsgpack", cmsgpack::table(lua)?)?;
    g.raw_set("struct", structlib::table(lua)?)?;
    Ok(())
}

/// A Lua number argument, as the C libraries read one (`luaL_checknumber`).
pub(crate) fn num(v: &mlua::Value) -> Option<f64> {
    match v {
        mlua::Value::Number(n) => Some(*n),
        mlua::Value::Integer(i) => Some(*i as f64),
        mlua::Value::String(s) => s.to_str().ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// `bad argument #n to 'f' (number expected, got …)`.
pub(crate) fn bad_arg(n: usize, f: &str, what: &str, got: &mlua::Value) -> mlua::Error {
    mlua::Error::runtime(format!(
        "bad argument #{n} to '{f}' ({what} expected, got {})",
        if got.is_nil() {
            "no value"
        } else {
            got.type_name()
        }
    ))
}
