//! Redis 7 functions: libraries of Lua functions loaded by FUNCTION LOAD
//! and called by FCALL, in an interpreter of their own (as Redis keeps
//! them apart from EVAL's). A library's code runs once at load, seeing only
//! `redis.register_function`, `redis.log` and the version fields; the
//! functions it registers later run with the whole sandboxed API, their
//! keys and arguments passed as the two parameters.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use mlua::{Function, Lua, MultiValue, RegistryKey, Table, Value};

use super::{api, raw, sandbox, Engine, Host, RunWatch, ScriptError, ScriptFlags};
use crate::resp::reply::Reply;

/// Milliseconds a library's code may take at load (Redis's limit).
const LOAD_LIMIT_MS: u64 = 500;

/// Registry key of the globals a library's code sees at load.
const LIBRARY_API: &str = "__redis_library_api";

/// A function a library registered.
pub struct FunctionDef {
    /// Its description, if it gave one.
    pub description: Option<String>,
    /// Its flags (never the compatibility mode: functions declare).
    pub flags: ScriptFlags,
    callback: RegistryKey,
}

/// A loaded library.
pub struct Library {
    /// Its name, from the shebang.
    pub name: String,
    /// Its code as loaded (shebang included).
    pub code: Vec<u8>,
    /// Its functions by name.
    pub functions: BTreeMap<String, FunctionDef>,
}

/// What `register_function` collects while a library loads.
#[derive(Default)]
struct Loading {
    functions: Vec<(String, FunctionDef)>,
}

/// The function libraries and their interpreter.
pub struct Functions {
    engine: Engine,
    libraries: BTreeMap<String, Library>,
    /// Function name → its library's name.
    owners: HashMap<String, String>,
}

/// Redis's rule for library and function names.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Splits a line into words as Redis's `sdssplitargs` does (quotes group
/// and may start inside a word); None for unbalanced quotes.
fn split_args(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(words);
        }
        let mut w = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' | '\'' => {
                    let mut closed = false;
                    while let Some(q) = chars.next() {
                        if q == c {
                            closed = true;
                            break;
                        }
                        if q == '\\' && c == '"' {
                            w.push(chars.next()?);
                        } else {
                            w.push(q);
                        }
                    }
                    if !closed {
                        return None;
                    }
                }
                c if c.is_whitespace() => break,
                c => w.push(c),
            }
        }
        words.push(w);
    }
}

/// A library's name from its shebang (`#!lua name=…`), and where its code
/// starts (the shebang's newline stays, so line numbers count it).
pub fn library_name(code: &[u8]) -> Result<(String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let end = code
        .iter()
        .position(|&c| c == b'\n')
        .ok_or_else(|| "ERR Invalid library metadata".to_string())?;
    let line = String::from_utf8_lossy(&code[..end]).into_owned();
    let parts = split_args(&line)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| "ERR Invalid library metadata".to_string())?;
    let engine = parts[0].get(2..).unwrap_or("");
    let mut name = None;
    for part in &parts[1..] {
        let is_name = part.len() >= 5 && part[..5].eq_ignore_ascii_case("name=");
        match name {
            _ if !is_name => return Err(format!("ERR Invalid metadata value given: {part}")),
            Some(_) => {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                )
            }
            None => name = Some(part[5..].to_string()),
        }
    }
    let name = name.ok_or_else(|| "ERR Library name was not given".to_string())?;
    if !valid_name(&name) {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    Ok((name, end))
}

impl Functions {
    /// No libraries, a fresh interpreter reporting to `watch`.
    pub fn new(watch: Arc<RunWatch>) -> Result<Functions, String> {
        let engine = Engine::new(watch)?;
        library_api(&engine.lua).map_err(|e| format!("lua init: {e}"))?;
        Ok(Functions {
            engine,
            libraries: BTreeMap::new(),
            owners: HashMap::new(),
        })
    }

    /// The libraries, by name.
    pub fn libraries(&self) -> impl Iterator<Item = &Library> {
        self.libraries.values()
    }

    /// Number of libraries and of functions.
    pub fn counts(&self) -> (usize, usize) {
        (self.libraries.len(), self.owners.len())
    }

    /// Bytes the interpreter uses.
    pub fn lua_memory(&self) -> usize {
        self.engine.lua_memory()
    }

    /// The function `name` (any case, as Redis looks functions up) and its
    /// library.
    pub fn function(&self, name: &str) -> Option<(&Library, &FunctionDef)> {
        let lib = self
            .libraries
            .get(self.owners.get(&name.to_ascii_lowercase())?)?;
        lib.functions
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, def)| (lib, def))
    }

    /// FUNCTION LOAD: runs the library's code and keeps what it registered;
    /// `replace` lets it take the place of a library of the same name. The
    /// error is the reply line. Nothing changes on error.
    pub fn load(&mut self, code: &[u8], replace: bool) -> Result<String, String> {
        let (name, skip) = library_name(code)?;
        if !replace && self.libraries.contains_key(&name) {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        let registered = self.run_library(&code[skip..])?;
        if registered.is_empty() {
            return Err("ERR No functions registered".into());
        }
        for (f, _) in &registered {
            if self
                .owners
                .get(&f.to_ascii_lowercase())
                .is_some_and(|owner| *owner != name)
            {
                return Err(format!("ERR Function {f} already exists"));
            }
        }
        self.remove(&name);
        for (f, _) in &registered {
            self.owners.insert(f.to_ascii_lowercase(), name.clone());
        }
        self.libraries.insert(
            name.clone(),
            Library {
                name: name.clone(),
                code: code.to_vec(),
                functions: registered.into_iter().collect(),
            },
        );
        Ok(name)
    }

    /// FUNCTION DELETE: false when there is no such library.
    pub fn remove(&mut self, name: &str) -> bool {
        let Some(lib) = self.libraries.remove(name) else {
            return false;
        };
        for (f, def) in lib.functions {
            self.owners.remove(&f.to_ascii_lowercase());
            let _ = self.engine.lua.remove_registry_value(def.callback);
        }
        true
    }

    /// Compiles and runs a library's code with the load-time globals;
    /// returns the functions it registered.
    fn run_library(&mut self, code: &[u8]) -> Result<Vec<(String, FunctionDef)>, String> {
        let lua = &self.engine.lua;
        let chunk = compile(lua, code).map_err(|e| format!("ERR Error compiling function: {e}"))?;
        let handler: Function = lua
            .named_registry_value(super::ERR_HANDLER)
            .map_err(|e| format!("ERR {e}"))?;
        let api: Table = lua
            .named_registry_value(LIBRARY_API)
            .map_err(|e| format!("ERR {e}"))?;
        let gmeta = lua
            .globals()
            .metatable()
            .ok_or_else(|| "ERR globals without a metatable".to_string())?;
        let real = sandbox::real_globals(lua).map_err(|e| format!("ERR {e}"))?;
        gmeta
            .raw_set("__index", api)
            .map_err(|e| format!("ERR {e}"))?;
        lua.set_app_data(Loading::default());
        let watch: *const RunWatch = Arc::as_ptr(&self.engine.watch);
        self.engine.watch.begin_load(LOAD_LIMIT_MS);
        // SAFETY: the engine owns the watch for as long as the interpreter.
        let result =
            unsafe { lua.exec_raw::<()>((), |l| raw::arm_hook(l, watch)) }.and_then(|()| unsafe {
                lua.exec_raw::<(bool, Value)>((handler, chunk), |l| raw::pcall_with_handler(l, 0))
            });
        self.engine.watch.end_load();
        let loading = lua.remove_app_data::<Loading>().unwrap_or_default();
        let restored = gmeta.raw_set("__index", real);
        let (ok, value) = result.map_err(|e| format!("ERR {e}"))?;
        restored.map_err(|e| format!("ERR {e}"))?;
        if !ok {
            let msg =
                super::convert::error_field(&value).unwrap_or_else(|| "ERR unknown error".into());
            for (_, def) in loading.functions {
                let _ = lua.remove_registry_value(def.callback);
            }
            return Err(format!("ERR Error registering functions: {msg}"));
        }
        Ok(loading.functions)
    }

    /// FCALL: runs function `name` with its keys and arguments.
    pub fn call(
        &mut self,
        name: &str,
        keys: &[&[u8]],
        args: &[&[u8]],
        host: &mut dyn Host,
        out: &mut Reply,
    ) -> Result<(), ScriptError> {
        let lua = &self.engine.lua;
        let f: Function = self
            .function(name)
            .and_then(|(_, def)| lua.registry_value(&def.callback).ok())
            .ok_or_else(|| ScriptError::new("ERR Function not found"))?;
        // SAFETY: leaves the function (pushed) and its two arguments.
        let prepare = |l: *mut mlua::ffi::lua_State| unsafe {
            super::push_string_array(l, keys);
            super::push_string_array(l, args);
        };
        self.engine.execute(f, prepare, name, host, out)
    }
}

/// Compiles a library's code as the chunk `@user_function`.
fn compile(lua: &Lua, src: &[u8]) -> Result<Function, String> {
    let (ok, v): (bool, Value) = unsafe {
        lua.exec_raw((), |l| raw::load_text(l, src, c"@user_function"))
            .map_err(|e| e.to_string())?
    };
    match v {
        Value::Function(f) if ok => Ok(f),
        Value::String(s) => Err(s.to_string_lossy()),
        other => Err(format!("{other:?}")),
    }
}

/// The globals a library's code sees at load: `redis` with
/// `register_function`, `log` and its levels, and the version; anything
/// else is a missing global.
fn library_api(lua: &Lua) -> mlua::Result<()> {
    let real_redis: Table = sandbox::real_globals(lua)?.raw_get("redis")?;
    let redis = lua.create_table()?;
    redis.raw_set(
        "register_function",
        api::raising_fn(lua, register_function)?,
    )?;
    for k in [
        "log",
        "LOG_DEBUG",
        "LOG_VERBOSE",
        "LOG_NOTICE",
        "LOG_WARNING",
        "REDIS_VERSION",
        "REDIS_VERSION_NUM",
    ] {
        redis.raw_set(k, real_redis.get::<Value>(k)?)?;
    }
    let globals = lua.create_table()?;
    globals.raw_set("redis", redis.clone())?;
    for t in [&globals, &redis] {
        sandbox::error_metatable(lua, t)?;
    }
    lua.set_named_registry_value(LIBRARY_API, globals)
}

/// `redis.register_function(name, callback)` or
/// `redis.register_function{function_name=…, callback=…, flags=…, description=…}`.
fn register_function(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    if lua.app_data_ref::<Loading>().is_none() {
        return api::raise_msg(
            lua,
            "redis.register_function can only be called on FUNCTION LOAD command",
        );
    }
    let args: Vec<Value> = a.into_iter().collect();
    let parsed = match args.as_slice() {
        [Value::Table(t)] => named_args(t),
        [name, callback] => match (name, callback) {
            (Value::String(n), Value::Function(f)) => Ok((n.to_string_lossy(), f.clone(), None, 0)),
            (Value::String(_), _) => Err("second argument to redis.register_function must be a function"),
            _ => Err("first argument to redis.register_function must be a string"),
        },
        [_] => Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."),
        _ => Err("wrong number of arguments to redis.register_function"),
    };
    let (name, callback, description, flags) = match parsed {
        Ok(p) => p,
        Err(msg) => return api::raise_msg(lua, msg),
    };
    if !valid_name(&name) {
        return api::raise_msg(lua, "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long");
    }
    let exists = lua.app_data_ref::<Loading>().is_some_and(|l| {
        l.functions
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(&name))
    });
    if exists {
        return api::raise_msg(lua, "Function already exists in the library");
    }
    let def = FunctionDef {
        description,
        flags: ScriptFlags(flags),
        callback: lua.create_registry_value(callback)?,
    };
    if let Some(mut l) = lua.app_data_mut::<Loading>() {
        l.functions.push((name, def));
    }
    Ok(MultiValue::new())
}

type Registration = (String, Function, Option<String>, u8);

fn named_args(t: &Table) -> Result<Registration, &'static str> {
    let (mut name, mut callback, mut description, mut flags) = (None, None, None, 0u8);
    for pair in t.pairs::<Value, Value>() {
        let Ok((k, v)) = pair else {
            return Err("named argument key given to redis.register_function is not a string");
        };
        let Value::String(k) = k else {
            return Err("named argument key given to redis.register_function is not a string");
        };
        match k.to_string_lossy().to_ascii_lowercase().as_str() {
            "function_name" => {
                match v {
                    Value::String(s) => name = Some(s.to_string_lossy()),
                    _ => return Err(
                        "function_name argument given to redis.register_function must be a string",
                    ),
                }
            }
            "description" => {
                match v {
                    Value::String(s) => description = Some(s.to_string_lossy()),
                    _ => return Err(
                        "description argument given to redis.register_function must be a string",
                    ),
                }
            }
            "callback" => match v {
                Value::Function(f) => callback = Some(f),
                _ => {
                    return Err(
                        "callback argument given to redis.register_function must be a function",
                    )
                }
            },
            "flags" => {
                let Value::Table(list) = v else {
                    return Err("flags argument to redis.register_function must be a table representing function flags");
                };
                for f in list.sequence_values::<Value>() {
                    let bit = match f {
                        Ok(Value::String(s)) => super::shebang::flag_bit(&s.to_string_lossy()),
                        _ => None,
                    };
                    flags |= bit.ok_or("unknown flag given")?;
                }
            }
            _ => return Err("unknown argument given to redis.register_function"),
        }
    }
    let name = name.ok_or("redis.register_function must get a function name argument")?;
    let callback = callback.ok_or("redis.register_function must get a callback argument")?;
    Ok((name, callback, description, flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoHost;
    impl Host for NoHost {
        fn call(
            &mut self,
            _: &crate::resp::argv::Argv<'_>,
            _: u8,
            _: u8,
            out: &mut Reply,
        ) -> Result<(), String> {
            out.simple("PONG");
            Ok(())
        }
    }

    fn run(
        f: &mut Functions,
        name: &str,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> Result<String, String> {
        let mut out = Reply::new(crate::resp::reply::Protocol::Resp2);
        f.call(name, keys, args, &mut NoHost, &mut out)
            .map_err(|e| e.line)?;
        Ok(String::from_utf8_lossy(&out.buf).into_owned())
    }

    #[test]
    fn libraries_load_register_and_call() {
        let mut f = Functions::new(Default::default()).expect("engine");
        let lib = "#!lua name=lib1\n\
                   redis.register_function('f1', function(keys, args) return {keys[1], args[1]} end)\n\
                   redis.register_function{function_name='f2', callback=function() return redis.call('ping') end, flags={'no-writes'}, description='d'}";
        assert_eq!(f.load(lib.as_bytes(), false), Ok("lib1".into()));
        assert_eq!(
            run(&mut f, "f1", &[b"k"], &[b"a"]),
            Ok("*2\r\n$1\r\nk\r\n$1\r\na\r\n".into())
        );
        assert_eq!(run(&mut f, "f2", &[], &[]), Ok("+PONG\r\n".into()));
        let (_, def) = f.function("f2").expect("f2");
        assert!(def.flags.has(ScriptFlags::NO_WRITES));
        assert_eq!(def.description.as_deref(), Some("d"));
        assert_eq!(f.counts(), (1, 2));
        assert_eq!(
            f.load(lib.as_bytes(), false),
            Err("ERR Library 'lib1' already exists".into())
        );
        // Another library may not take a function name.
        let other = "#!lua name=lib2\nredis.register_function('f1', function() return 1 end)";
        assert_eq!(
            f.load(other.as_bytes(), false),
            Err("ERR Function f1 already exists".into())
        );
        assert_eq!(f.counts(), (1, 2), "a failed load changes nothing");
        assert!(f.remove("lib1"));
        assert_eq!(
            run(&mut f, "f1", &[], &[]),
            Err("ERR Function not found".into())
        );
    }

    #[test]
    fn load_errors_as_redis_words_them() {
        let mut f = Functions::new(Default::default()).expect("engine");
        let err =
            |f: &mut Functions, code: &str| f.load(code.as_bytes(), false).expect_err("fails");
        assert_eq!(err(&mut f, "return 1"), "ERR Missing library metadata");
        assert_eq!(
            err(&mut f, "#!lua\nreturn 1"),
            "ERR Library name was not given"
        );
        assert_eq!(
            err(&mut f, "#!luax name=w\n"),
            "ERR Engine 'luax' not found"
        );
        assert_eq!(
            err(&mut f, "#!lua name=z foo=bar\n"),
            "ERR Invalid metadata value given: foo=bar"
        );
        assert_eq!(
            err(&mut f, "#!lua name=x\nreturn 1"),
            "ERR No functions registered"
        );
        assert_eq!(
            err(&mut f, "#!lua name=x\nredis.register_function()"),
            "ERR Error registering functions: ERR wrong number of arguments to redis.register_function"
        );
        assert_eq!(
            err(&mut f, "#!lua name=x\nlocal a = math.abs(1)"),
            "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'math'"
        );
        assert_eq!(
            err(&mut f, "#!lua name=w\nfoo("),
            "ERR Error compiling function: user_function:2: unexpected symbol near '<eof>'"
        );
    }
}
