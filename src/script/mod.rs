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
pub mod convert;
pub mod functions;
mod libs;
mod raw;
mod sandbox;
pub mod shebang;
pub mod watch;

use std::collections::HashMap;
use std::sync::Arc;

use mlua::{Function, Lua, LuaOptions, StdLib, Value};

use crate::resp::reply::Reply;
pub use shebang::ScriptFlags;
pub use watch::{KillError, RunKind, RunWatch};

/// What a script asks of the server.
pub trait Host {
    /// Runs one command (`argv[0]` its name) for the script and returns its
    /// reply encoded in RESP `resp` (2 or 3), or an error a script sees
    /// instead of a reply (`-CODE msg` or a plain message, as Redis words
    /// them: unknown command, arity, not allowed from scripts, …).
    fn call(&mut self, argv: &[Vec<u8>], resp: u8, repl: u8) -> Result<Vec<u8>, String>;
}

/// Replication targets (`redis.set_repl`): Redis's `PROPAGATE_*` bits.
pub const REPL_AOF: u8 = 1;
/// The replicas.
pub const REPL_REPLICA: u8 = 2;
/// Both.
pub const REPL_ALL: u8 = REPL_AOF | REPL_REPLICA;

/// The state of the script running now, kept as the Lua state's app data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunState {
    /// RESP version of the replies `redis.call` converts (`redis.setresp`).
    pub resp: u8,
    /// Where its writes go (`redis.set_repl`).
    pub repl: u8,
}

/// A cached script.
pub struct Script {
    /// Its source, as sent.
    pub body: Vec<u8>,
    /// Its shebang flags.
    pub flags: ScriptFlags,
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
        build(&lua).map_err(|e| format!("lua init: {e}"))?;
        Ok(Engine {
            lua,
            scripts: HashMap::new(),
            scripts_mem: 0,
            runs: 0,
            watch,
        })
    }

    /// The script with this SHA1 (40 hex digits, any case), if cached.
    pub fn get(&self, sha: &[u8]) -> Option<&Script> {
        let sha = std::str::from_utf8(sha).ok()?.to_ascii_lowercase();
        self.scripts.get(&sha)
    }

    /// True when the SHA1 names a cached script (SCRIPT EXISTS).
    pub fn exists(&self, sha: &[u8]) -> bool {
        self.get(sha).is_some()
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
        self.lua
            .set_named_registry_value(&format!("f_{sha}"), f)
            .map_err(|e| format!("ERR {e}"))?;
        self.scripts_mem += body.len() + 40;
        self.scripts.insert(
            sha.clone(),
            Script {
                body: body.to_vec(),
                flags,
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

    /// Runs the cached script `sha` with `KEYS` and `ARGV`, writing its
    /// result to `out` in `out`'s protocol; a script error is returned as
    /// the reply line (without `-`).
    pub fn run(
        &mut self,
        sha: &str,
        keys: &[&[u8]],
        args: &[&[u8]],
        host: &mut dyn Host,
        out: &mut Reply,
    ) -> Result<(), ScriptError> {
        let lua = &self.lua;
        let f: Function = lua
            .named_registry_value(&format!("f_{sha}"))
            .map_err(|_| ScriptError::new("NOSCRIPT No matching script. Please use EVAL."))?;
        let rg = sandbox::real_globals(lua).map_err(lua_error)?;
        rg.raw_set("KEYS", string_array(lua, keys).map_err(lua_error)?)
            .map_err(lua_error)?;
        rg.raw_set("ARGV", string_array(lua, args).map_err(lua_error)?)
            .map_err(lua_error)?;
        self.execute(f, Vec::new(), sha, host, out)
    }

    /// Calls `f` with `call_args` under the error handler, the run state and
    /// the watch's hook; `name` names it in errors (a SHA1, a function).
    pub(crate) fn execute(
        &mut self,
        f: Function,
        call_args: Vec<Value>,
        name: &str,
        host: &mut dyn Host,
        out: &mut Reply,
    ) -> Result<(), ScriptError> {
        let lua = &self.lua;
        let handler: Function = lua.named_registry_value(ERR_HANDLER).map_err(lua_error)?;
        lua.set_app_data(RunState {
            resp: 2,
            repl: REPL_ALL,
        });
        let watch: *const RunWatch = Arc::as_ptr(&self.watch);
        // SAFETY: the engine owns the watch for as long as the interpreter.
        unsafe { lua.exec_raw::<()>((), |l| raw::arm_hook(l, watch)) }.map_err(lua_error)?;
        let nargs = call_args.len() as std::ffi::c_int;
        let mut pushed = vec![Value::Function(handler), Value::Function(f)];
        pushed.extend(call_args);
        let result = lua.scope(|scope| {
            let call = scope.create_function_mut(|lua, packed: (mlua::Table, usize)| {
                api::call_impl(lua, host, packed)
            })?;
            lua.set_named_registry_value(api::CALL_IMPL, call)?;
            let r = unsafe {
                lua.exec_raw::<(bool, Value)>(mlua::MultiValue::from_iter(pushed), |l| {
                    raw::pcall_with_handler(l, nargs)
                })
            };
            lua.unset_named_registry_value(api::CALL_IMPL)?;
            r
        });
        let state = lua.remove_app_data::<RunState>().unwrap_or(RunState {
            resp: 2,
            repl: REPL_ALL,
        });
        // A collection step now and then, so a full cycle is rarely due
        // inside a script (as Redis does every 50 runs).
        self.runs += 1;
        if self.runs >= 50 {
            self.runs = 0;
            let _ = self.lua.gc_step();
        }
        let (ok, value) = result.map_err(lua_error)?;
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
        convert::lua_to_reply(&value, state.resp, out);
        Ok(())
    }
}

/// A Lua array of strings (`KEYS`, `ARGV`).
pub(crate) fn string_array(lua: &Lua, items: &[&[u8]]) -> mlua::Result<mlua::Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, it) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(it)?)?;
    }
    Ok(t)
}

/// An interpreter failure as a script error line.
fn lua_error(e: mlua::Error) -> ScriptError {
    ScriptError::new(format!("ERR {e}"))
}

/// Builds the interpreter: libraries, the `redis` table, the error
/// handler, then the sandbox over all of it.
fn build(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    libs::install(lua, &g)?;
    api::install(lua, &g)?;
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
