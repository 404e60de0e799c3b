//! `redis.call` and `redis.pcall`, written against Lua's C API because they
//! are the hot path of every script: the arguments are read off the Lua
//! stack into one reused buffer, the command runs through the `Host` into
//! one reused reply, and the reply is pushed back as Lua values. No mlua
//! value is made on the way (each holds a slot of mlua's reference stack
//! and costs a protected call to make and to drop) and nothing is allocated
//! once the buffers have grown.
//!
//! Rule of `raw` here too: no Rust value that needs dropping is alive when
//! `lua_error` is called (it unwinds with `longjmp`); the buffers belong to
//! the engine's `CallSlot`, not to the functions' frames.

use std::ffi::{c_int, c_void};

use mlua::ffi;
use mlua::ffi::lua_State;

use super::{Host, REPL_ALL};
use crate::resp::argv::Argv;
use crate::resp::reply::{Protocol, Reply};

/// Reply buffers past this size are given back after a run.
const KEEP_BYTES: usize = 64 * 1024;

/// Nesting of a command's reply past which the rest is given as nil (no
/// command nests this deep; it bounds the Lua stack the conversion uses).
const MAX_DEPTH: usize = 100;

/// What the running script's `redis.call` reaches, and its run settings;
/// owned by the engine (boxed: the Lua closures point at it).
pub(crate) struct CallSlot {
    /// The caller's host while a script runs.
    host: Option<*mut (dyn Host + 'static)>,
    /// RESP version of the replies converted (`redis.setresp`).
    pub(crate) resp: u8,
    /// Where the script's writes go (`redis.set_repl`).
    pub(crate) repl: u8,
    args: Vec<u8>,
    ranges: Vec<(usize, usize)>,
    reply: Reply,
    /// The error a failed call gives, as `CODE message`.
    error: String,
}

// SAFETY: `host` is set only for the length of one run, on the thread that
// runs it (`HostBinding` clears it before the run returns), and the slot is only
// reached through the engine that owns it.
unsafe impl Send for CallSlot {}

/// How a call ended, once every Rust value it made is gone.
enum Outcome {
    /// The reply is in `reply`.
    Reply,
    /// `error` holds the message; `counted` marks it as counted in the
    /// error statistics already; `always_raise` raises it from pcall too.
    Error { counted: bool, always_raise: bool },
}

impl CallSlot {
    /// An idle slot.
    pub(crate) fn new() -> Box<CallSlot> {
        Box::new(CallSlot {
            host: None,
            resp: 2,
            repl: REPL_ALL,
            args: Vec::new(),
            ranges: Vec::new(),
            reply: Reply::new(Protocol::Resp2),
            error: String::new(),
        })
    }

    /// True while a script runs.
    pub(crate) fn running(&self) -> bool {
        self.host.is_some()
    }

    fn set_error(&mut self, text: &str) {
        // `-CODE message` keeps its code; anything else is an ERR.
        let (code, msg) = match text.strip_prefix('-') {
            Some(rest) => rest.split_once(' ').unwrap_or(("ERR", rest)),
            None => ("ERR", text),
        };
        let msg = msg.trim_matches(|c| c == '\r' || c == '\n');
        self.error.clear();
        self.error.push_str(code);
        self.error.push(' ');
        self.error.push_str(msg);
    }

    /// Reads the arguments at 1..=top, runs them through the host.
    unsafe fn run(&mut self, l: *mut lua_State) -> Outcome {
        let Some(host) = self.host else {
            self.set_error("redis.call/pcall can only be called inside a script invocation");
            return Outcome::Error {
                counted: false,
                always_raise: true,
            };
        };
        let n = ffi::lua_gettop(l);
        if n == 0 {
            self.set_error("Please specify at least one argument for this redis lib call");
            return Outcome::Error {
                counted: false,
                always_raise: false,
            };
        }
        self.args.clear();
        self.ranges.clear();
        for i in 1..=n {
            let start = self.args.len();
            match ffi::lua_type(l, i) {
                ffi::LUA_TSTRING => {
                    let mut len = 0usize;
                    let p = ffi::lua_tolstring(l, i, &mut len) as *const u8;
                    self.args
                        .extend_from_slice(std::slice::from_raw_parts(p, len));
                }
                ffi::LUA_TNUMBER => push_number(&mut self.args, ffi::lua_tonumber(l, i)),
                _ => {
                    self.set_error("Lua redis lib command arguments must be strings or integers");
                    return Outcome::Error {
                        counted: false,
                        always_raise: false,
                    };
                }
            }
            self.ranges.push((start, self.args.len()));
        }
        let CallSlot {
            args,
            ranges,
            reply,
            resp,
            repl,
            ..
        } = self;
        reply.buf.clear();
        reply.pushed_to = 0;
        reply.proto = if *resp == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        let argv = Argv::new(args, ranges);
        let (resp, repl) = (*resp, *repl);
        // A panic must not unwind through Lua's C frames.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            (*host).call(&argv, resp, repl, reply)
        }));
        match ran {
            Ok(Ok(())) => Outcome::Reply,
            Ok(Err(msg)) => {
                self.set_error(&msg);
                Outcome::Error {
                    counted: true,
                    always_raise: false,
                }
            }
            Err(_) => {
                self.set_error("ERR internal error while running the command");
                Outcome::Error {
                    counted: false,
                    always_raise: false,
                }
            }
        }
    }
}

/// Runs a script's commands for `host` until dropped.
pub(crate) struct HostBinding {
    slot: *mut CallSlot,
}

impl HostBinding {
    /// `host` serves `slot`'s calls until the value is dropped; the run
    /// settings start over.
    ///
    /// # Safety
    /// `slot` must stay valid, and `host` alive, until the value is dropped.
    pub(crate) unsafe fn begin(slot: *mut CallSlot, host: &mut dyn Host) -> HostBinding {
        let host: *mut (dyn Host + '_) = host;
        // The lifetime is erased: `Drop` takes the pointer back before the
        // caller's borrow of the host ends.
        let host: *mut (dyn Host + 'static) = std::mem::transmute(host);
        let s = &mut *slot;
        s.host = Some(host);
        s.resp = 2;
        s.repl = REPL_ALL;
        HostBinding { slot }
    }
}

impl Drop for HostBinding {
    fn drop(&mut self) {
        // SAFETY: `begin`'s contract keeps the slot valid until now.
        let s = unsafe { &mut *self.slot };
        s.host = None;
        if s.reply.buf.capacity() > KEEP_BYTES {
            s.reply = Reply::new(Protocol::Resp2);
        }
        if s.args.capacity() > KEEP_BYTES {
            s.args = Vec::new();
            s.ranges = Vec::new();
        }
    }
}

/// A Lua number as Redis passes it to a command: `%.17g`.
fn push_number(out: &mut Vec<u8>, v: f64) {
    // Whole numbers below 2^53 print as their integer under `%.17g` (-0
    // keeps its sign there, so it takes the slow way).
    if v.fract() == 0.0 && v.abs() < 9.0e15 && !(v == 0.0 && v.is_sign_negative()) {
        out.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
        return;
    }
    let mut buf = [0u8; 64];
    let n = super::api::format_g_into(&mut buf, v, 17);
    out.extend_from_slice(&buf[..n]);
}

/// `redis.call`: the C closure over the engine's slot (upvalue 1).
pub(crate) unsafe extern "C-unwind" fn redis_call(l: *mut lua_State) -> c_int {
    call(l, true)
}

/// `redis.pcall`: as `redis.call`, an error reply is returned as a table.
pub(crate) unsafe extern "C-unwind" fn redis_pcall(l: *mut lua_State) -> c_int {
    call(l, false)
}

unsafe fn call(l: *mut lua_State, raise: bool) -> c_int {
    let slot = ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *mut CallSlot;
    if slot.is_null() {
        return 0;
    }
    let outcome = (*slot).run(l);
    // The arguments are copied: their room (up to Lua's C stack limit of
    // 8000) is the reply's now.
    ffi::lua_settop(l, 0);
    let slot = &*slot;
    match outcome {
        Outcome::Reply => {
            let buf: &[u8] = &slot.reply.buf;
            let mut pos = 0;
            push_value(l, buf, &mut pos, 0);
            if raise && buf.first() == Some(&b'-') {
                ffi::lua_error(l);
            }
        }
        Outcome::Error {
            counted,
            always_raise,
        } => {
            push_error(l, slot.error.as_bytes(), counted);
            if raise || always_raise {
                ffi::lua_error(l);
            }
        }
    }
    1
}

unsafe fn push_bytes(l: *mut lua_State, s: &[u8]) {
    ffi::lua_pushlstring(l, s.as_ptr() as *const _, s.len());
}

/// Pushes `{err=text}`, with `ignore_error_stats_update=true` when counted.
unsafe fn push_error(l: *mut lua_State, text: &[u8], counted: bool) {
    ffi::lua_createtable(l, 0, 2);
    push_bytes(l, text);
    ffi::lua_setfield(l, -2, c"err".as_ptr());
    if counted {
        ffi::lua_pushboolean(l, 1);
        ffi::lua_setfield(l, -2, c"ignore_error_stats_update".as_ptr());
    }
}

/// Wraps the value on top in a table as its field `name`.
unsafe fn wrap(l: *mut lua_State, name: &std::ffi::CStr) {
    ffi::lua_createtable(l, 0, 1);
    ffi::lua_insert(l, -2);
    ffi::lua_setfield(l, -2, name.as_ptr());
}

/// The line at `pos` (up to CR LF); `pos` moves past it.
fn line<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let rest = &buf[(*pos).min(buf.len())..];
    let end = rest.iter().position(|&b| b == b'\r').unwrap_or(rest.len());
    *pos += end + 2;
    &rest[..end]
}

fn int(buf: &[u8], pos: &mut usize) -> i64 {
    let l = line(buf, pos);
    std::str::from_utf8(l)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn bytes<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> &'a [u8] {
    let start = (*pos).min(buf.len());
    let end = start.saturating_add(n).min(buf.len());
    *pos = end + 2;
    &buf[start..end]
}

/// Pushes the reply at `pos` as one Lua value, with Redis 7.0's rules (see
/// `convert`'s header): integer → number, bulk → string, null bulk or
/// array → false, array → table, status → `{ok=…}`, error → `{err=…}`;
/// RESP3's map, set, null, boolean, double, big number and verbatim string
/// as Redis converts them; attributes are skipped.
unsafe fn push_value(l: *mut lua_State, buf: &[u8], pos: &mut usize, depth: usize) {
    let Some(&kind) = buf.get(*pos) else {
        ffi::lua_pushnil(l);
        return;
    };
    if depth > MAX_DEPTH || ffi::lua_checkstack(l, 4) == 0 {
        *pos = buf.len();
        ffi::lua_pushnil(l);
        return;
    }
    *pos += 1;
    match kind {
        b'+' => {
            push_bytes(l, line(buf, pos));
            wrap(l, c"ok");
        }
        b'-' => {
            let text = line(buf, pos);
            ffi::lua_createtable(l, 0, 2);
            if !text.contains(&b' ') {
                push_bytes(l, b"ERR ");
                push_bytes(l, text);
                ffi::lua_concat(l, 2);
            } else {
                push_bytes(l, text);
            }
            ffi::lua_setfield(l, -2, c"err".as_ptr());
            ffi::lua_pushboolean(l, 1);
            ffi::lua_setfield(l, -2, c"ignore_error_stats_update".as_ptr());
        }
        b':' => ffi::lua_pushnumber(l, int(buf, pos) as f64),
        b'$' => match int(buf, pos) {
            n if n < 0 => ffi::lua_pushboolean(l, 0),
            n => push_bytes(l, bytes(buf, pos, n as usize)),
        },
        b'*' | b'>' => match int(buf, pos) {
            n if n < 0 => ffi::lua_pushboolean(l, 0),
            n => {
                let n = n.min(c_int::MAX as i64) as c_int;
                ffi::lua_createtable(l, n, 0);
                for i in 1..=n {
                    push_value(l, buf, pos, depth + 1);
                    ffi::lua_rawseti_(l, -2, i);
                }
            }
        },
        b'%' | b'~' => {
            let n = int(buf, pos).max(0);
            ffi::lua_createtable(l, 0, 0);
            for _ in 0..n {
                push_value(l, buf, pos, depth + 1);
                if kind == b'%' {
                    push_value(l, buf, pos, depth + 1);
                } else {
                    ffi::lua_pushboolean(l, 1);
                }
                if ffi::lua_type(l, -2) == ffi::LUA_TNIL {
                    ffi::lua_pop(l, 2);
                } else {
                    ffi::lua_rawset(l, -3);
                }
            }
            wrap(l, if kind == b'%' { c"map" } else { c"set" });
        }
        b'_' => {
            line(buf, pos);
            ffi::lua_pushnil(l);
        }
        b'#' => ffi::lua_pushboolean(l, (line(buf, pos) == b"t") as c_int),
        b',' => {
            let v = std::str::from_utf8(line(buf, pos))
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0);
            ffi::lua_pushnumber(l, v);
            wrap(l, c"double");
        }
        b'(' => {
            push_bytes(l, line(buf, pos));
            wrap(l, c"big_number");
        }
        b'=' => {
            let n = int(buf, pos).max(0) as usize;
            let body = bytes(buf, pos, n);
            let (format, text) = if body.len() >= 4 {
                (&body[..3], &body[4..])
            } else {
                (&b"txt"[..], body)
            };
            ffi::lua_createtable(l, 0, 2);
            push_bytes(l, text);
            ffi::lua_setfield(l, -2, c"string".as_ptr());
            push_bytes(l, format);
            ffi::lua_setfield(l, -2, c"format".as_ptr());
            wrap(l, c"verbatim_string");
        }
        b'|' => {
            let n = int(buf, pos).max(0);
            for _ in 0..2 * n {
                push_value(l, buf, pos, depth + 1);
                ffi::lua_pop(l, 1);
            }
            push_value(l, buf, pos, depth + 1);
        }
        _ => {
            line(buf, pos);
            ffi::lua_pushnil(l);
        }
    }
}

/// Installs `redis.call` and `redis.pcall` over `slot` into the table on top
/// of the stack.
pub(crate) unsafe fn install(l: *mut lua_State, slot: *mut CallSlot) {
    for (name, f) in [
        (c"call", redis_call as ffi::lua_CFunction),
        (c"pcall", redis_pcall as ffi::lua_CFunction),
    ] {
        ffi::lua_pushlightuserdata(l, slot as *mut c_void);
        ffi::lua_pushcclosure(l, f, 1);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
}
