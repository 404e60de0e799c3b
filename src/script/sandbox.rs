//! The sandbox, as Redis 7.0 sets it up: only an allowed set of globals,
//! reading an unknown global is an error ("Script attempted to access
//! nonexistent global variable"), and neither the globals nor the library
//! tables can be changed ("Attempt to modify a readonly table").
//!
//! Redis patches its Lua with a read-only flag on tables. Vanilla Lua 5.1 has
//! none, so each protected table is reached through an empty proxy whose
//! metatable reads from the real table and refuses every assignment; what
//! `getmetatable` shows of a proxy is itself read-only, and `rawset` and
//! `setmetatable` refuse tables marked read-only, and `pairs`/`next` walk
//! the real table behind a proxy. The globals proxy is the interpreter's
//! global table, so chunks made by `loadstring` see it too. Unlike Redis,
//! `#` and `ipairs` of a library table see an empty table.

use mlua::{ffi, Function, Lua, Table, Value};

use super::raw;

/// Globals a script may use (Redis 7.0's allow lists, less the deprecated
/// `setfenv`, `getfenv` and `newproxy`).
const ALLOWED: &[&str] = &[
    // libraries
    "string",
    "cjson",
    "bit",
    "cmsgpack",
    "math",
    "table",
    "struct",
    "redis",
    // builtins
    "xpcall",
    "tostring",
    "setmetatable",
    "next",
    "assert",
    "tonumber",
    "rawequal",
    "collectgarbage",
    "getmetatable",
    "rawset",
    "pcall",
    "coroutine",
    "type",
    "_G",
    "select",
    "unpack",
    "gcinfo",
    "pairs",
    "rawget",
    "loadstring",
    "ipairs",
    "_VERSION",
    "load",
    "error",
];

/// Tables shown read-only through a proxy.
const LIBRARIES: &[&str] = &[
    "string",
    "cjson",
    "bit",
    "cmsgpack",
    "math",
    "table",
    "struct",
    "redis",
    "coroutine",
];

/// Registry key of the real globals table (behind the globals proxy).
const REAL_GLOBALS: &str = "__redis_real_globals";

/// The real globals table, where the engine sets `KEYS` and `ARGV`.
pub(crate) fn real_globals(lua: &Lua) -> mlua::Result<Table> {
    lua.named_registry_value(REAL_GLOBALS)
}

fn c_function(lua: &Lua, f: ffi::lua_CFunction) -> mlua::Result<Function> {
    // SAFETY: the functions of `raw` follow the Lua C API's contract.
    unsafe { lua.create_c_function(f) }
}

/// C closure `f` with `upvalue` as its upvalue 1.
pub(crate) fn c_closure(
    lua: &Lua,
    f: ffi::lua_CFunction,
    upvalue: Value,
) -> mlua::Result<Function> {
    // SAFETY: the upvalue is the one argument on the stack; the closure
    // replaces it.
    unsafe { lua.exec_raw(upvalue, |l| raw::closure1(l, f)) }
}

/// Makes `t` read-only with unknown names an error to read (the globals
/// a library's code sees at load, and its `redis` table).
pub(crate) fn error_metatable(lua: &Lua, t: &Table) -> mlua::Result<()> {
    let meta = lua.create_table()?;
    meta.raw_set("__index", c_function(lua, raw::missing_global)?)?;
    meta.raw_set("__newindex", c_function(lua, raw::readonly_newindex)?)?;
    meta.raw_set("__metatable", false)?;
    t.set_metatable(Some(meta))
}

/// Puts the sandbox in place over globals `g` (the libraries and the
/// `redis` table are already there).
pub(crate) fn lock(lua: &Lua, g: &Table) -> mlua::Result<()> {
    let readonly = lua.create_table()?;
    let weak = lua.create_table()?;
    weak.raw_set("__mode", "k")?;
    readonly.set_metatable(Some(weak))?;
    lua.set_named_registry_value(
        raw::READONLY.to_str().unwrap_or("__redis_readonly"),
        &readonly,
    )?;
    let ro_newindex = c_function(lua, raw::readonly_newindex)?;
    let proxies = lua.create_table()?;
    let weak = lua.create_table()?;
    weak.raw_set("__mode", "k")?;
    proxies.set_metatable(Some(weak))?;
    lua.set_named_registry_value(raw::PROXIES.to_str().unwrap_or("__redis_proxies"), &proxies)?;
    // `pairs` and `next` see the real table behind a proxy.
    let next: Value = g.raw_get("next")?;
    g.raw_set("next", c_closure(lua, raw::proxy_next, next.clone())?)?;
    g.raw_set("pairs", c_closure(lua, raw::proxy_pairs, next)?)?;

    // Wrap the builtins that could reach around the proxies.
    let guard = |name: &str, f: ffi::lua_CFunction| -> mlua::Result<()> {
        let original: Value = g.raw_get(name)?;
        g.raw_set(name, c_closure(lua, f, original)?)
    };
    guard("rawset", raw::guarded_rawset)?;
    guard("setmetatable", raw::guarded_setmetatable)?;
    guard("loadstring", raw::guarded_loadstring)?;
    g.raw_set("pcall", c_function(lua, raw::redis_pcall)?)?;
    g.raw_set("unpack", c_function(lua, raw::safe_unpack)?)?;

    // Drop everything not allowed (os, io, debug, print, dofile, …).
    let mut names = Vec::new();
    for pair in g.pairs::<Value, Value>() {
        let (k, _) = pair?;
        if let Value::String(s) = &k {
            if !ALLOWED.contains(&s.to_str()?.as_ref()) {
                names.push(k.clone());
            }
        }
    }
    for k in names {
        g.raw_set(k, Value::Nil)?;
    }

    let protect = |real: &Table| -> mlua::Result<Table> {
        let proxy = lua.create_table()?;
        let shown = lua.create_table()?;
        shown.raw_set("__index", &proxy)?;
        shown.raw_set("__newindex", &ro_newindex)?;
        let view = lua.create_table()?;
        let view_meta = lua.create_table()?;
        view_meta.raw_set("__index", shown)?;
        view_meta.raw_set("__newindex", &ro_newindex)?;
        view_meta.raw_set("__metatable", &view)?;
        view.set_metatable(Some(view_meta))?;
        let meta = lua.create_table()?;
        meta.raw_set("__index", real)?;
        meta.raw_set("__newindex", &ro_newindex)?;
        meta.raw_set("__metatable", &view)?;
        proxy.set_metatable(Some(meta))?;
        for t in [&proxy, &view, real] {
            readonly.raw_set(t, true)?;
        }
        proxies.raw_set(&proxy, real)?;
        Ok(proxy)
    };

    for name in LIBRARIES {
        if let Value::Table(real) = g.raw_get::<Value>(*name)? {
            let proxy = protect(&real)?;
            if *name == "string" {
                // Strings' own metatable (`("x"):upper()`) reads through the
                // proxy, and shows a read-only view.
                string_metatable(lua, &proxy, &protect)?;
            }
            g.raw_set(*name, proxy)?;
        }
    }

    // Unknown globals are an error to read; the real table refuses new keys.
    let missing = c_function(lua, raw::missing_global)?;
    let gmeta = lua.create_table()?;
    gmeta.raw_set("__index", missing)?;
    gmeta.raw_set("__newindex", &ro_newindex)?;
    g.set_metatable(Some(gmeta))?;
    let proxy = protect(g)?;
    g.raw_set("_G", &proxy)?;
    lua.set_named_registry_value(REAL_GLOBALS, g)?;
    lua.set_globals(proxy)?;
    Ok(())
}

/// Points the string metatable's `__index` at the `string` proxy and makes
/// what `getmetatable('')` shows read-only.
fn string_metatable(
    lua: &Lua,
    string_proxy: &Table,
    protect: &dyn Fn(&Table) -> mlua::Result<Table>,
) -> mlua::Result<()> {
    let mt: Value = lua.load("return getmetatable('')").call(())?;
    if let Value::Table(mt) = mt {
        mt.raw_set("__index", string_proxy)?;
        let shown = protect(&mt)?;
        mt.raw_set("__metatable", shown)?;
    }
    Ok(())
}
