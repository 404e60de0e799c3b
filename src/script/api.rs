//! The `redis` table a script sees: `call`/`pcall` (through the `Host`),
//! `error_reply`, `status_reply`, `sha1hex`, `log` and its levels,
//! `setresp`, `set_repl` and the `REPL_*` flags, `replicate_commands`,
//! `breakpoint`, `debug` and the version fields, with Redis 7.0's errors.

use mlua::{Function, Lua, MultiValue, Table, Value};

use super::call::CallSlot;
use super::{raw, REPL_ALL};

/// The Redis version scripts see (the server answers as this version too).
const VERSION: &str = "7.0.15";

/// `VERSION` as `REDIS_VERSION_NUM` (0x00MMmmpp).
const VERSION_NUM: i64 = 0x0007_000f;

/// An error table as `redis.pcall` returns it: `{err="CODE message"}`. A
/// leading `-` says the first word is the code; otherwise the code is ERR.
pub(crate) fn err_table(lua: &Lua, text: &str) -> mlua::Result<Table> {
    let (code, msg) = match text.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, msg)) => (code, msg),
            None => ("ERR", rest),
        },
        None => ("ERR", text),
    };
    let msg = msg.trim_matches(|c| c == '\r' || c == '\n');
    let t = lua.create_table()?;
    t.raw_set("err", format!("{code} {msg}"))?;
    Ok(t)
}

/// The values a wrapped function returns to have `t` raised.
fn raise(t: Table) -> mlua::Result<MultiValue> {
    let mark = Value::LightUserData(mlua::LightUserData(raw::raise_mark()));
    Ok(MultiValue::from_iter([mark, Value::Table(t)]))
}

/// Raises `{err="ERR msg"}` (or the code `msg` gives after a `-`).
pub(crate) fn raise_msg(lua: &Lua, msg: &str) -> mlua::Result<MultiValue> {
    raise(err_table(lua, msg)?)
}

/// A Rust function behind the C wrapper that can raise a table.
fn raising<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> mlua::Result<MultiValue> + Send + 'static,
{
    let inner = lua.create_function(f)?;
    super::sandbox::c_closure(lua, raw::raising, Value::Function(inner))
}

/// A Rust function that raises an error table by returning `raise_msg`.
pub(crate) fn raising_fn<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> mlua::Result<MultiValue> + Send + 'static,
{
    raising(lua, f)
}

/// A library function: an error it returns is raised as a plain message
/// (with the calling script's line, as `luaL_error` gives it).
pub(crate) fn lib_function<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> mlua::Result<MultiValue> + Send + 'static,
{
    raising(lua, move |lua, a| match f(lua, a) {
        Ok(v) => Ok(v),
        Err(e) => {
            let msg = match e {
                mlua::Error::RuntimeError(m) => m,
                e => e.to_string(),
            };
            let mark = Value::LightUserData(mlua::LightUserData(raw::raise_mark()));
            Ok(MultiValue::from_iter([
                mark,
                Value::String(lua.create_string(msg)?),
            ]))
        }
    })
}

/// `printf("%.<prec>g", v)`.
pub(crate) fn format_g(v: f64, prec: i32) -> String {
    let mut buf = [0u8; 64];
    let n = format_g_into(&mut buf, v, prec);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// `snprintf(buf, "%.<prec>g", v)`: the length written.
pub(crate) fn format_g_into(buf: &mut [u8; 64], v: f64, prec: i32) -> usize {
    // SAFETY: the format takes one int and one double; the buffer's size is passed.
    let n = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%.*g".as_ptr(),
            prec as libc::c_int,
            v,
        )
    };
    (n.max(0) as usize).min(buf.len() - 1)
}

fn one_string(args: &MultiValue) -> Option<mlua::LuaString> {
    match args.len() {
        1 => match args.front() {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The engine's call slot, reached from `redis.setresp`/`redis.set_repl`.
#[derive(Clone, Copy)]
pub(crate) struct SlotPtr(pub(crate) *mut CallSlot);

// SAFETY: the slot is owned by the engine whose interpreter holds the
// closures; they run only on the thread running that interpreter.
unsafe impl Send for SlotPtr {}

impl SlotPtr {
    /// The slot, while a script runs.
    fn running(self) -> Option<&'static mut CallSlot> {
        // SAFETY: the engine keeps the slot alive as long as its interpreter,
        // and nothing else holds it while a Lua function of it runs.
        let s = unsafe { &mut *self.0 };
        s.running().then_some(s)
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => Some(*n),
        Value::Integer(i) => Some(*i as f64),
        Value::String(s) => s.to_str().ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// Installs the `redis` global; its `call` and `pcall` run through `slot`.
pub(crate) fn install(lua: &Lua, g: &Table, slot: SlotPtr) -> mlua::Result<()> {
    let redis = lua.create_table()?;
    // SAFETY: the table is the one value pushed; `install` sets two fields.
    unsafe { lua.exec_raw::<()>(&redis, |l| super::call::install(l, slot.0))? };
    redis.raw_set(
        "error_reply",
        lua.create_function(|lua, a: MultiValue| {
            let Some(s) = one_string(&a) else {
                return err_table(lua, "wrong number or type of arguments");
            };
            let s = s.to_string_lossy();
            if s.starts_with('-') {
                err_table(lua, &s)
            } else {
                err_table(lua, &format!("-{s}"))
            }
        })?,
    )?;
    redis.raw_set(
        "status_reply",
        lua.create_function(|lua, a: MultiValue| {
            let Some(s) = one_string(&a) else {
                return err_table(lua, "wrong number or type of arguments");
            };
            let t = lua.create_table()?;
            t.raw_set("ok", s)?;
            Ok(t)
        })?,
    )?;
    redis.raw_set(
        "sha1hex",
        raising(lua, |lua, a| {
            if a.len() != 1 {
                return raise_msg(lua, "wrong number of arguments");
            }
            let bytes = match a.front() {
                Some(Value::String(s)) => s.as_bytes().to_vec(),
                Some(Value::Number(n)) => format_g(*n, 14).into_bytes(),
                Some(Value::Integer(i)) => i.to_string().into_bytes(),
                _ => Vec::new(),
            };
            let hex = sha1_smol::Sha1::from(&bytes).digest().to_string();
            Ok(MultiValue::from_iter([Value::String(
                lua.create_string(hex)?,
            )]))
        })?,
    )?;
    redis.raw_set("log", raising(lua, log)?)?;
    for (name, level) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
    ] {
        redis.raw_set(name, level)?;
    }
    install_run_settings(lua, &redis, slot)?;
    redis.raw_set(
        "replicate_commands",
        lua.create_function(|_, _: MultiValue| Ok(true))?,
    )?;
    redis.raw_set(
        "breakpoint",
        lua.create_function(|_, _: MultiValue| Ok(false))?,
    )?;
    redis.raw_set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    redis.raw_set("REDIS_VERSION", VERSION)?;
    redis.raw_set("REDIS_VERSION_NUM", VERSION_NUM)?;
    g.raw_set("redis", redis)
}

/// `redis.setresp`, `redis.set_repl` and the `REPL_*` flags.
fn install_run_settings(lua: &Lua, redis: &Table, slot: SlotPtr) -> mlua::Result<()> {
    redis.raw_set(
        "setresp",
        raising(lua, move |lua, a| {
            let Some(s) = slot.running() else {
                return raise_msg(
                    lua,
                    "redis.setresp can only be called inside a script invocation",
                );
            };
            if a.len() != 1 {
                return raise_msg(lua, "redis.setresp() requires one argument.");
            }
            let v = number(a.front()).unwrap_or(0.0) as i64;
            if v != 2 && v != 3 {
                return raise_msg(lua, "RESP version must be 2 or 3.");
            }
            s.resp = v as u8;
            Ok(MultiValue::new())
        })?,
    )?;
    redis.raw_set(
        "set_repl",
        raising(lua, move |lua, a| {
            let Some(s) = slot.running() else {
                return raise_msg(
                    lua,
                    "redis.set_repl can only be called inside a script invocation",
                );
            };
            if a.len() != 1 {
                return raise_msg(lua, "redis.set_repl() requires two arguments.");
            }
            let v = number(a.front()).unwrap_or(0.0) as i64;
            if v & !(REPL_ALL as i64) != 0 {
                return raise_msg(
                    lua,
                    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                );
            }
            s.repl = v as u8;
            Ok(MultiValue::new())
        })?,
    )?;
    for (name, v) in [
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.raw_set(name, v)?;
    }
    Ok(())
}

/// `redis.log(level, message, …)`: the words joined by spaces, to the server log.
fn log(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    if a.len() < 2 {
        return raise_msg(lua, "redis.log() requires two arguments or more.");
    }
    let Some(level) = number(a.front()) else {
        return raise_msg(lua, "First argument must be a number (log level).");
    };
    let level = level as i64;
    if !(0..=3).contains(&level) {
        return raise_msg(lua, "Invalid debug level.");
    }
    let mut words = Vec::new();
    for v in a.iter().skip(1) {
        match v {
            Value::String(s) => words.push(s.to_string_lossy()),
            Value::Number(n) => words.push(format_g(*n, 14)),
            Value::Integer(i) => words.push(i.to_string()),
            _ => {}
        }
    }
    let msg = words.join(" ");
    match level {
        0 | 1 => tracing::debug!(target: "script", "{msg}"),
        2 => tracing::info!(target: "script", "{msg}"),
        _ => tracing::warn!(target: "script", "{msg}"),
    }
    Ok(MultiValue::new())
}
