//! The Lua 5.1 script engine, as Redis 7.0 embeds it: one interpreter per
//! server, a cache of scripts by SHA1, the `redis` API table, the sandbox
//! (read-only globals and libraries) and the Lua ↔ RESP conversions.
//!
//! The engine runs nothing of the server by itself: a script's `redis.call`
//! goes to the `Host` the caller passes in (the commands layer runs it
//! through the server's one dispatch path), and the engine converts the
//! reply bytes it gets back. Layout:
//! - `mod.rs`: `Engine` (compile, cache, run), `Host`, the run state;
//! - `raw`: the few functions written against the C API (raising a table as
//!   an error, Redis's `pcall`, the protected-table errors);
//! - `sandbox`: globals protection and read-only tables;
//! - `api`: the `redis` table;
//! - `convert`: RESP reply → Lua value, Lua value → reply;
//! - `shebang`: `#!lua flags=…`;
//! - `libs/`: `bit`, `cjson`, `cmsgpack`, `struct`.

mod api;
mod call;
pub mod convert;
pub mod functions;
mod libs;
mod raw;
mod sandbox;
pub mod shebang;
pub mod watch;

use std::ffi::c_int;
use std::sync::Arc;

use hashbrown::HashMap;
use mlua::{ffi, Function, Lua, LuaOptions, StdLib, Value};

use crate::resp::argv::Argv;
use crate::resp::reply::Reply;
pub use shebang::ScriptFlags;
pub use watch::{KillError, RunKind, RunWatch};

/// What a script asks of the server.
pub trait Host {
    /// Runs one command (`argv[0]` its name) for the script, writing its
    /// reply to `out` (empty, in RESP `resp`: 2 or 3), or returns an error a
    /// script sees instead of a reply (`-CODE msg` or a plain message, as
    /// Redis words them: unknown command, arity, not allowed from scripts, …).
    fn call(&mut self, argv: &Argv<'_>, resp: u8, repl: u8, out: &mut Reply) -> Result<(), String>;
}

/// Replication targets (`redis.set_repl`): Redis's `PROPAGATE_*` bits.
pub const REPL_AOF: u8 = 1;
/// The replicas.
pub const REPL_REPLICA: u8 = 2;
/// Both.
pub const REPL_ALL: u8 = REPL_AOF | REPL_REPLICA;

/// A cached script.
pub struct Script {
    /// Its source, as sent.
    pub body: Vec<u8>,
    /// Its shebang flags.
    pub flags: ScriptFlags,
    /// Its compiled function's reference in the Lua registry.
    fref: c_int,
}

/// A cached script as `Engine::find` found it (valid until the next
/// SCRIPT FLUSH: hold the engine between `find` and `run`).
#[derive(Debug, Clone, Copy)]
pub struct Found {
    /// Its shebang flags.
    pub flags: ScriptFlags,
    fref: c_int,
    /// Its SHA1 in lower case.
    sha: [u8; 40],
}

/// A script's failure: the error reply line (without `-`), and whether the
/// error statistics already counted it (it came from a command it ran).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// The reply line.
    pub line: String,
    /// Counted already.
    pub counted: bool,
}

impl ScriptError {
    fn new(line: impl Into<String>) -> Self {
        ScriptError {
            line: line.into(),
            counted: false,
        }
    }
}

/// The interpreter and its scripts.
pub struct Engine {
    lua: Lua,
    /// What `redis.call` reaches; declared after `lua`, so it outlives it.
    slot: Box<call::CallSlot>,
    /// Registry references of the error handler and the real globals.
    handler_ref: c_int,
    globals_ref: c_int,
    scripts: HashMap<String, Script>,
    /// Bytes of script bodies held (`used_memory_scripts_eval`).
    scripts_mem: usize,
    /// Runs since the last incremental collection step.
    runs: u32,
    /// Busy and kill state, shared with the server (its hook reads it).
    watch: Arc<RunWatch>,
}

/// Registry key of the error handler every script runs under.
pub(crate) const ERR_HANDLER: &str = "__redis_err_handler";

impl Engine {
    /// A fresh interpreter with the Redis API and the sandbox in place; its
    /// scripts report to `watch`.
    pub fn new(watch: Arc<RunWatch>) -> Result<Engine, String> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
        // SAFETY: the debug library is loaded only to build the error handler
        // and is removed from the globals before any script runs.
        let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::new()) };
        let mut slot = call::CallSlot::new();
        let slot_ptr = api::SlotPtr(&mut *slot);
        let init = |lua: &Lua| -> mlua::Result<(c_int, c_int)> {
            build(lua, slot_ptr)?;
            let handler: Function = lua.named_registry_value(ERR_HANDLER)?;
            let handler_ref = registry_ref(lua, Value::Function(handler))?;
            let globals_ref = registry_ref(lua, Value::Table(sandbox::real_globals(lua)?))?;
            let w: *const RunWatch = Arc::as_ptr(&watch);
            // SAFETY: the engine owns the watch for as long as the interpreter.
            unsafe { lua.exec_raw::<()>((), |l| raw::arm_hook(l, w))? };
            Ok((handler_ref, globals_ref))
        };
        let (handler_ref, globals_ref) = init(&lua).map_err(|e| format!("lua init: {e}"))?;
        Ok(Engine {
            lua,
            slot,
            handler_ref,
            globals_ref,
            scripts: HashMap::new(),
            scripts_mem: 0,
            runs: 0,
            watch,
        })
    }

    /// The script with this SHA1 (40 hex digits, any case), if cached:
    /// what `run` needs of it, found once.
    pub fn find(&self, sha: &[u8]) -> Option<Found> {
        let mut lower = [0u8; 40];
        let script = self.scripts.get(lowercase_sha(sha, &mut lower)?)?;
        Some(Found {
            flags: script.flags,
            fref: script.fref,
            sha: lower,
        })
    }

    /// True when the SHA1 names a cached script (SCRIPT EXISTS).
    pub fn exists(&self, sha: &[u8]) -> bool {
        self.find(sha).is_some()
    }

    /// Number of cached scripts and the bytes of their bodies.
    pub fn usage(&self) -> (usize, usize) {
        (self.scripts.len(), self.scripts_mem)
    }

    /// Bytes the interpreter uses.
    pub fn lua_memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// Compiles and caches `body` unless cached; returns its SHA1. The error
    /// is the reply line (without `-`).
    pub fn load(&mut self, body: &[u8]) -> Result<String, String> {
        let sha = sha1_smol::Sha1::from(body).digest().to_string();
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, skip) = shebang::parse(body).map_err(|e| format!("ERR {e}"))?;
        let f = self
            .compile(&body[skip..])
            .map_err(|e| format!("ERR Error compiling script (new function): {e}"))?;
        let fref = registry_ref(&self.lua, Value::Function(f)).map_err(|e| format!("ERR {e}"))?;
        self.scripts_mem += body.len() + 40;
        self.scripts.insert(
            sha.clone(),
            Script {
                body: body.to_vec(),
                flags,
                fref,
            },
        );
        Ok(sha)
    }

    /// Compiles a chunk named `@user_script`, refusing precompiled code.
    fn compile(&self, src: &[u8]) -> Result<Function, String> {
        let (ok, v): (bool, Value) = unsafe {
            self.lua
                .exec_raw((), |l| raw::load_text(l, src, c"@user_script"))
                .map_err(|e| e.to_string())?
        };
        match v {
            Value::Function(f) if ok => Ok(f),
            Value::String(s) => Err(s.to_string_lossy()),
            other => Err(format!("{other:?}")),
        }
    }

    /// Forgets every script and starts a fresh interpreter (SCRIPT FLUSH).
    pub fn flush(&mut self) -> Result<(), String> {
        *self = Engine::new(self.watch.clone())?;
        Ok(())
    }

    /// Runs a script `find` found with `KEYS` and `ARGV`, writing its
    /// result to `out` in `out`'s protocol; a script error is returned as the
    /// reply line (without `-`).
    pub fn run(
        &mut self,
        script: Found,
        keys: &[&[u8]],
        args: &[&[u8]],
        host: &mut dyn Host,
        out: &mut Reply,
    ) -> Result<(), ScriptError> {
        let (fref, globals) = (script.fref, self.globals_ref);
        let name = std::str::from_utf8(&script.sha).unwrap_or_default();
        // SAFETY: pushes the function and sets two globals, as `execute` asks.
        let prepare = |l: *mut ffi::lua_State| unsafe {
            ffi::lua_rawgeti_(l, ffi::LUA_REGISTRYINDEX, globals as _);
            // Raw: the real globals refuse new names through `__newindex`.
            for (k, items) in [(&b"KEYS"[..], keys), (&b"ARGV"[..], args)] {
                ffi::lua_pushlstring(l, k.as_ptr() as *const _, k.len());
                push_string_array(l, items);
                ffi::lua_rawset(l, -3);
            }
            ffi::lua_pop(l, 1);
            ffi::lua_rawgeti_(l, ffi::LUA_REGISTRYINDEX, fref as _);
        };
        self.execute((), prepare, name, host, out)
    }

    /// Calls a function under the error handler, the call slot and the
    /// watch's hook: `pushed` go on the stack, then `prepare` runs, and the
    /// stack must then be the function and its arguments. `name` names it in
    /// errors (a SHA1, a function).
    pub(crate) fn execute(
        &mut self,
        pushed: impl mlua::IntoLuaMulti,
        prepare: impl FnOnce(*mut ffi::lua_State),
        name: &str,
        host: &mut dyn Host,
        out: &mut Reply,
    ) -> Result<(), ScriptError> {
        let handler = self.handler_ref;
        let slot: *const call::CallSlot = &*self.slot;
        let mut done = false;
        let (result, resp) = {
            // SAFETY: the slot is the engine's and the host outlives the run.
            let _bound = unsafe { call::HostBinding::begin(&mut *self.slot, host) };
            // SAFETY: `prepare` leaves the function and its arguments.
            let r = unsafe {
                self.lua.exec_raw::<mlua::MultiValue>(pushed, |l| {
                    prepare(l);
                    let nargs = ffi::lua_gettop(l) - 1;
                    ffi::lua_rawgeti_(l, ffi::LUA_REGISTRYINDEX, handler as _);
                    ffi::lua_insert(l, 1);
                    raw::rearm_hook(l);
                    raw::pcall_with_handler(l, nargs);
                    // A plain value is written here, without an mlua value.
                    if ffi::lua_toboolean(l, -2) != 0
                        && convert::scalar_to_reply(l, (*slot).resp, out)
                    {
                        ffi::lua_settop(l, 0);
                        done = true;
                    }
                })
            };
            (r, self.slot.resp)
        };
        // A collection step now and then, so a full cycle is rarely due
        // inside a script (as Redis does every 50 runs).
        self.runs += 1;
        if self.runs >= 50 {
            self.runs = 0;
            let _ = self.lua.gc_step();
        }
        let mut result = result.map_err(lua_error)?.into_iter();
        if done {
            return Ok(());
        }
        let ok = matches!(result.next(), Some(Value::Boolean(true)));
        let value = result.next().unwrap_or(Value::Nil);
        if !ok {
            return Err(ScriptError {
                line: convert::script_error(&value, name),
                counted: convert::already_counted(&value),
            });
        }
        if let Some(line) = convert::error_field(&value) {
            // An error returned as the script's value.
            return Err(ScriptError {
                line,
                counted: convert::already_counted(&value),
            });
        }
        convert::lua_to_reply(&value, resp, out);
        Ok(())
    }
}

/// `sha` in lower case in `buf`, when it is 40 ASCII characters.
fn lowercase_sha<'b>(sha: &[u8], buf: &'b mut [u8; 40]) -> Option<&'b str> {
    if sha.len() != 40 || !sha.is_ascii() {
        return None;
    }
    buf.copy_from_slice(sha);
    buf.make_ascii_lowercase();
    std::str::from_utf8(buf).ok()
}

/// Keeps `v` in the registry; its reference.
fn registry_ref(lua: &Lua, v: Value) -> mlua::Result<c_int> {
    let mut r = 0;
    // SAFETY: `v` is the one value pushed; `luaL_ref` pops it.
    unsafe { lua.exec_raw::<()>(v, |l| r = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX))? };
    Ok(r)
}

/// Pushes a Lua array of strings (`KEYS`, `ARGV`).
unsafe fn push_string_array(l: *mut ffi::lua_State, items: &[&[u8]]) {
    ffi::lua_createtable(l, items.len().min(c_int::MAX as usize) as c_int, 0);
    for (i, it) in items.iter().enumerate() {
        ffi::lua_pushlstring(l, it.as_ptr() as *const _, it.len());
        ffi::lua_rawseti_(l, -2, (i + 1) as _);
    }
}

/// An interpreter failure as a script error line.
fn lua_error(e: mlua::Error) -> ScriptError {
    ScriptError::new(format!("ERR {e}"))
}

/// Builds the interpreter: libraries, the `redis` table, the error
/// handler, then the sandbox over all of it.
fn build(lua: &Lua, slot: api::SlotPtr) -> mlua::Result<()> {
    let g = lua.globals();
    libs::install(lua, &g)?;
    api::install(lua, &g, slot)?;
    // The handler gives a script error its origin: the Lua function that
    // raised it, or the caller of the C function that did.
    let handler: Function = lua
        .load(
            "local getinfo = debug.getinfo\n\
             return function(e)\n\
               local at = getinfo(2, 'nSl')\n\
               if at and at.what == 'C' then at = getinfo(3, 'nSl') end\n\
               if type(e) ~= 'table' then e = {err = 'ERR ' .. tostring(e)} end\n\
               if at then e['source'] = at.source; e['line'] = at.currentline end\n\
               return e\n\
             end",
        )
        .set_name("=err_handler")
        .call(())?;
    lua.set_named_registry_value(ERR_HANDLER, handler)?;
    sandbox::lock(lua, &g)
}

#[cfg(test)]
mod tests;
