//! The few engine functions written against Lua's C API, because they must
//! raise a Lua *value* (a table `{err=…}`, as Redis 7 does) or must be C
//! functions for the error handler to report the script's own line.
//!
//! Rule for every function here: no Rust value that needs dropping is alive
//! when `lua_error` is called (it unwinds with `longjmp`).

use std::ffi::{c_int, c_void, CStr};

use mlua::ffi;
use mlua::ffi::lua_State;

/// Registry key of the table (weak keys) of read-only tables.
pub(crate) const READONLY: &CStr = c"__redis_readonly";

/// The value a wrapped Rust function returns first to ask its C wrapper to
/// raise the value it returns second.
static RAISE_MARK: u8 = 0;

/// The light userdata `raising` recognises.
pub(crate) fn raise_mark() -> *mut c_void {
    &RAISE_MARK as *const u8 as *mut c_void
}

unsafe fn push_bytes(l: *mut lua_State, s: &[u8]) {
    ffi::lua_pushlstring(l, s.as_ptr() as *const _, s.len());
}

/// Loads `src` as a text chunk named `name`; leaves `(true, function)` or
/// `(false, message)`. Precompiled chunks are refused.
pub(crate) unsafe fn load_text(l: *mut lua_State, src: &[u8], name: &CStr) {
    if src.first() == Some(&0x1b) {
        ffi::lua_pushboolean(l, 0);
        push_bytes(l, b"loading precompiled code is not allowed");
        return;
    }
    let rc = ffi::luaL_loadbuffer(l, src.as_ptr() as *const _, src.len(), name.as_ptr());
    ffi::lua_pushboolean(l, (rc == 0) as c_int);
    ffi::lua_insert(l, -2);
}

/// Stack `[handler, f, args…]` (`nargs` of them): calls `f` under
/// `handler`; leaves `(ok, result)`.
pub(crate) unsafe fn pcall_with_handler(l: *mut lua_State, nargs: c_int) {
    let base = ffi::lua_gettop(l) - 1 - nargs;
    let rc = ffi::lua_pcall(l, nargs, 1, base);
    ffi::lua_remove(l, base);
    ffi::lua_pushboolean(l, (rc == 0) as c_int);
    ffi::lua_insert(l, -2);
}

/// C closure around upvalue 1 (a Rust function): returns what it returns,
/// unless its first result is the raise mark, then raises its second.
pub(crate) unsafe extern "C-unwind" fn raising(l: *mut lua_State) -> c_int {
    let n = ffi::lua_gettop(l);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_insert(l, 1);
    ffi::lua_call(l, n, ffi::LUA_MULTRET);
    let r = ffi::lua_gettop(l);
    if r >= 1
        && ffi::lua_type(l, 1) == ffi::LUA_TLIGHTUSERDATA
        && ffi::lua_touserdata(l, 1) == raise_mark()
    {
        ffi::lua_settop(l, 2);
        ffi::lua_remove(l, 1);
        if ffi::lua_type(l, 1) == ffi::LUA_TSTRING {
            ffi::luaL_where(l, 1);
            ffi::lua_insert(l, 1);
            ffi::lua_concat(l, 2);
        }
        ffi::lua_error(l);
    }
    r
}

/// Redis's `pcall`: as Lua's, but an error table's `err` string is what
/// the caller gets as the message.
pub(crate) unsafe extern "C-unwind" fn redis_pcall(l: *mut lua_State) -> c_int {
    let argc = ffi::lua_gettop(l);
    ffi::lua_pushboolean(l, 1);
    ffi::lua_insert(l, 1);
    if ffi::lua_pcall(l, argc - 1, ffi::LUA_MULTRET, 0) != 0 {
        ffi::lua_remove(l, 1);
        if ffi::lua_istable(l, -1) != 0 {
            ffi::lua_getfield(l, -1, c"err".as_ptr());
            if ffi::lua_isstring(l, -1) != 0 {
                ffi::lua_replace(l, -2);
            } else {
                ffi::lua_pop(l, 1);
            }
        }
        ffi::lua_pushboolean(l, 0);
        ffi::lua_insert(l, 1);
    }
    ffi::lua_gettop(l)
}

/// Raises `where: msg` (`where` being the calling Lua line, as `luaL_error`).
unsafe fn error_at_caller(l: *mut lua_State, msg: &[u8]) -> ! {
    ffi::luaL_where(l, 1);
    push_bytes(l, msg);
    ffi::lua_concat(l, 2);
    ffi::lua_error(l)
}

/// `__index` of the globals: reading a global nobody set is an error.
pub(crate) unsafe extern "C-unwind" fn missing_global(l: *mut lua_State) -> c_int {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, 2, &mut len);
    let name = if p.is_null() {
        &b"?"[..]
    } else {
        std::slice::from_raw_parts(p as *const u8, len)
    };
    let mut msg = [0u8; 256];
    let head = b"Script attempted to access nonexistent global variable '";
    let n = name.len().min(msg.len() - head.len() - 1);
    msg[..head.len()].copy_from_slice(head);
    msg[head.len()..head.len() + n].copy_from_slice(&name[..n]);
    msg[head.len() + n] = b'\'';
    error_at_caller(l, &msg[..head.len() + n + 1])
}

/// `__newindex` of a read-only table.
pub(crate) unsafe extern "C-unwind" fn readonly_newindex(l: *mut lua_State) -> c_int {
    error_at_caller(l, b"Attempt to modify a readonly table")
}

/// True when the value at `idx` is a table marked read-only.
unsafe fn is_readonly(l: *mut lua_State, idx: c_int) -> bool {
    if ffi::lua_istable(l, idx) == 0 {
        return false;
    }
    let idx = if idx < 0 {
        ffi::lua_gettop(l) + idx + 1
    } else {
        idx
    };
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, READONLY.as_ptr());
    if ffi::lua_istable(l, -1) == 0 {
        ffi::lua_pop(l, 1);
        return false;
    }
    ffi::lua_pushvalue(l, idx);
    ffi::lua_rawget(l, -2);
    let ro = ffi::lua_toboolean(l, -1) != 0;
    ffi::lua_pop(l, 2);
    ro
}

unsafe fn readonly_error(l: *mut lua_State) -> ! {
    push_bytes(l, b"Attempt to modify a readonly table");
    ffi::lua_error(l)
}

/// `rawset` refusing read-only tables; upvalue 1 is the original.
pub(crate) unsafe extern "C-unwind" fn guarded_rawset(l: *mut lua_State) -> c_int {
    if is_readonly(l, 1) {
        readonly_error(l);
    }
    call_original(l)
}

/// `setmetatable` refusing read-only tables; upvalue 1 is the original.
pub(crate) unsafe extern "C-unwind" fn guarded_setmetatable(l: *mut lua_State) -> c_int {
    if is_readonly(l, 1) {
        readonly_error(l);
    }
    call_original(l)
}

/// `loadstring` refusing precompiled code (returns nil as for a bad chunk);
/// upvalue 1 is the original.
pub(crate) unsafe extern "C-unwind" fn guarded_loadstring(l: *mut lua_State) -> c_int {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, 1, &mut len);
    if !p.is_null() && len > 0 && *(p as *const u8) == 0x1b {
        ffi::lua_pushnil(l);
        push_bytes(l, b"loading precompiled code is not allowed");
        return 2;
    }
    call_original(l)
}

/// Calls upvalue 1 with every argument; returns all its results.
unsafe fn call_original(l: *mut lua_State) -> c_int {
    let n = ffi::lua_gettop(l);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_insert(l, 1);
    ffi::lua_call(l, n, ffi::LUA_MULTRET);
    ffi::lua_gettop(l)
}

/// Pushes C closure `f` over the value on top of the stack (its upvalue).
pub(crate) unsafe fn closure1(l: *mut lua_State, f: ffi::lua_CFunction) {
    ffi::lua_pushcclosure(l, f, 1);
}

/// `unpack(t [, i [, j]])` with its element count computed without
/// overflow: Lua 5.1's own overflows a C `int` on huge ranges (undefined
/// behaviour that crashes), which Redis patched the same way.
pub(crate) unsafe extern "C-unwind" fn safe_unpack(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    let i = ffi::luaL_optinteger(l, 2, 1) as c_int as i64;
    let e = if ffi::lua_type(l, 3) <= ffi::LUA_TNIL {
        ffi::lua_objlen(l, 1) as c_int as i64
    } else {
        ffi::luaL_checkinteger(l, 3) as c_int as i64
    };
    if i > e {
        return 0;
    }
    let n = e - i + 1;
    if n >= c_int::MAX as i64 || ffi::lua_checkstack(l, n as c_int) == 0 {
        error_at_caller(l, b"too many results to unpack");
    }
    for k in i..=e {
        ffi::lua_rawgeti_(l, 1, k as c_int);
    }
    n as c_int
}

/// Registry key of the table (weak keys) mapping each read-only proxy to
/// the real table behind it.
pub(crate) const PROXIES: &CStr = c"__redis_proxies";

/// Replaces the table at `idx` by the real table when it is a proxy.
unsafe fn unproxy(l: *mut lua_State, idx: c_int) {
    if ffi::lua_istable(l, idx) == 0 {
        return;
    }
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, PROXIES.as_ptr());
    if ffi::lua_istable(l, -1) == 0 {
        ffi::lua_pop(l, 1);
        return;
    }
    ffi::lua_pushvalue(l, idx);
    ffi::lua_rawget(l, -2);
    if ffi::lua_istable(l, -1) != 0 {
        ffi::lua_replace(l, idx);
        ffi::lua_pop(l, 1);
    } else {
        ffi::lua_pop(l, 2);
    }
}

/// `next` that walks the real table behind a read-only proxy; upvalue 1 is
/// the original.
pub(crate) unsafe extern "C-unwind" fn proxy_next(l: *mut lua_State) -> c_int {
    unproxy(l, 1);
    call_original(l)
}

/// `pairs` that walks the real table behind a read-only proxy; upvalue 1 is
/// the original `next`.
pub(crate) unsafe extern "C-unwind" fn proxy_pairs(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    unproxy(l, 1);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_pushvalue(l, 1);
    ffi::lua_pushnil(l);
    3
}

/// Registry key of the light userdata pointing at the engine's `RunWatch`.
const WATCH: &CStr = c"__ringcache_run_watch";

/// Lua instructions between two looks at the run watch (Redis's count).
const HOOK_EVERY: c_int = 100_000;

/// Arms the instruction hook that marks a long script busy and stops a
/// killed one; `watch` must outlive the interpreter (the engine keeps it).
pub(crate) unsafe fn arm_hook(l: *mut lua_State, watch: *const super::watch::RunWatch) {
    ffi::lua_pushlightuserdata(l, watch as *mut c_void);
    ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, WATCH.as_ptr());
    ffi::lua_sethook(l, Some(count_hook), ffi::LUA_MASKCOUNT, HOOK_EVERY);
}

/// Back to counting only, with a fresh count (a killed script left the
/// hook on every line).
pub(crate) unsafe fn rearm_hook(l: *mut lua_State) {
    ffi::lua_sethook(l, Some(count_hook), ffi::LUA_MASKCOUNT, HOOK_EVERY);
}

unsafe extern "C-unwind" fn count_hook(l: *mut lua_State, _ar: *mut ffi::lua_Debug) {
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, WATCH.as_ptr());
    let w = ffi::lua_touserdata(l, -1) as *const super::watch::RunWatch;
    ffi::lua_pop(l, 1);
    if w.is_null() {
        return;
    }
    let Some(msg) = (*w).check() else {
        return;
    };
    // From now on every line fails, so a pcall cannot swallow the kill.
    ffi::lua_sethook(
        l,
        Some(count_hook),
        ffi::LUA_MASKLINE | ffi::LUA_MASKCOUNT,
        1,
    );
    ffi::lua_newtable(l);
    push_bytes(l, msg.as_bytes());
    ffi::lua_setfield(l, -2, c"err".as_ptr());
    ffi::lua_error(l);
}
