//! Conversions between RESP replies and Lua values, with Redis 7.0's rules.
//! The first direction is written against the C API in `call` (it is the
//! hot path); this file has the second and the error helpers.
//!
//! A command's reply → Lua (what `redis.call` returns): integer → number,
//! bulk string → string, null bulk or null array → false, array → table,
//! status → `{ok=…}`, error → `{err=…}`; under `redis.setresp(3)` also
//! map → `{map={…}}`, set → `{set={k=true}}`, null → nil, boolean →
//! boolean, double → `{double=n}`, big number → `{big_number=s}`, verbatim →
//! `{verbatim_string={format=…, string=…}}`; attributes are skipped.
//!
//! A script's value → reply: string → bulk, number → integer (truncated),
//! boolean → 1/null (RESP2 script) or a RESP3 boolean, table → `err`,
//! `ok`, `double`, `big_number`, `verbatim_string`, `map`, `set` if it has
//! that field, else the array of its items up to the first nil; anything
//! else → null.

use mlua::{Table, Value};

use crate::resp::reply::Reply;

/// Nesting past which a returned value is refused, as Redis's Lua stack limit.
const MAX_DEPTH: usize = 1000;
/// Replaces CR and LF by spaces (a status line must stay one line).
fn one_line(s: &[u8]) -> String {
    String::from_utf8_lossy(s)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// A Lua number as Redis returns it (a C cast to `long long`: out of range
/// and NaN give the x86 "integer indefinite", i64::MIN).
pub fn lua_number_to_int(n: f64) -> i64 {
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// Writes the value on top of `l`'s stack to `out` when it is a string,
/// number, boolean or nil (as `lua_to_reply` would); false for a table
/// or anything else, left to `lua_to_reply`.
///
/// # Safety
/// `l` must be a valid state with a value on its stack.
pub(crate) unsafe fn scalar_to_reply(
    l: *mut mlua::ffi::lua_State,
    resp: u8,
    out: &mut Reply,
) -> bool {
    use mlua::ffi;
    match ffi::lua_type(l, -1) {
        ffi::LUA_TSTRING => {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(l, -1, &mut len) as *const u8;
            out.bulk(std::slice::from_raw_parts(p, len));
        }
        ffi::LUA_TNUMBER => out.int(lua_number_to_int(ffi::lua_tonumber(l, -1))),
        ffi::LUA_TBOOLEAN => write_bool(ffi::lua_toboolean(l, -1) != 0, resp, out),
        ffi::LUA_TNIL => out.null(),
        _ => return false,
    }
    true
}

fn write_bool(b: bool, resp: u8, out: &mut Reply) {
    if resp == 2 {
        if b {
            out.int(1)
        } else {
            out.null()
        }
    } else {
        out.boolean(b)
    }
}

/// Writes a script's return value to `out`; `resp` is the script's own
/// protocol (`redis.setresp`), which decides how booleans are returned.
pub fn lua_to_reply(v: &Value, resp: u8, out: &mut Reply) {
    write_value(v, resp, out, 0);
}

fn write_value(v: &Value, resp: u8, out: &mut Reply, depth: usize) {
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => write_bool(*b, resp, out),
        Value::Number(n) => out.int(lua_number_to_int(*n)),
        Value::Integer(i) => out.int(*i),
        Value::Table(t) => {
            if depth >= MAX_DEPTH {
                out.error("ERR reached lua stack limit");
                return;
            }
            write_table(t, resp, out, depth);
        }
        _ => out.null(),
    }
}

fn write_table(t: &Table, resp: u8, out: &mut Reply, depth: usize) {
    let field = |name: &str| t.raw_get::<Value>(name).unwrap_or(Value::Nil);
    if let Value::String(e) = field("err") {
        out.error(&String::from_utf8_lossy(&e.as_bytes()));
        return;
    }
    if let Value::String(s) = field("ok") {
        out.simple(&one_line(&s.as_bytes()));
        return;
    }
    match field("double") {
        Value::Number(n) => return out.double(n),
        Value::Integer(i) => return out.double(i as f64),
        _ => {}
    }
    if let Value::String(s) = field("big_number") {
        let s = one_line(&s.as_bytes());
        if out.resp3() {
            out.raw(format!("({s}\r\n").as_bytes());
        } else {
            out.bulk(s.as_bytes());
        }
        return;
    }
    if let Value::Table(vt) = field("verbatim_string") {
        let format = vt.raw_get::<Value>("format").unwrap_or(Value::Nil);
        let text = vt.raw_get::<Value>("string").unwrap_or(Value::Nil);
        if let (Value::String(f), Value::String(s)) = (format, text) {
            let (f, s) = (f.as_bytes(), s.as_bytes());
            if out.resp3() {
                let mut body = Vec::with_capacity(s.len() + 4);
                body.extend_from_slice(&f[..f.len().min(3)]);
                body.push(b':');
                body.extend_from_slice(&s);
                out.raw(format!("={}\r\n", body.len()).as_bytes());
                out.raw(&body);
                out.raw(b"\r\n");
            } else {
                out.bulk(&s);
            }
            return;
        }
    }
    // Two passes, a count then the values, each value dropped once written:
    // every live Lua value holds a slot of mlua's reference stack (about
    // 8,000), so collecting a big table first would cut it short.
    if let Value::Table(m) = field("map") {
        out.map_len(m.pairs::<Value, Value>().flatten().count());
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            write_value(&k, resp, out, depth + 1);
            write_value(&v, resp, out, depth + 1);
        }
        return;
    }
    if let Value::Table(s) = field("set") {
        out.set_len(s.pairs::<Value, Value>().flatten().count());
        for (k, _) in s.pairs::<Value, Value>().flatten() {
            write_value(&k, resp, out, depth + 1);
        }
        return;
    }
    let item = |i: usize| match t.raw_get::<Value>(i) {
        Ok(Value::Nil) | Err(_) => None,
        Ok(v) => Some(v),
    };
    let len = (1..).take_while(|&i| item(i).is_some()).count();
    out.array_len(len);
    for i in 1..=len {
        if let Some(v) = item(i) {
            write_value(&v, resp, out, depth + 1);
        }
    }
}

/// The reply line (without `-`) for a script that failed with `err` (the
/// value its error handler made): its message, then where it failed.
pub fn script_error(err: &Value, sha: &str) -> String {
    let Value::Table(t) = err else {
        let msg = match err {
            Value::String(s) => s.to_string_lossy(),
            _ => "execution failure".to_string(),
        };
        let msg: String = msg.chars().take(100).collect();
        return format!("ERR Error running script {sha}, {msg}");
    };
    let text = |k: &str| match t.raw_get::<Value>(k) {
        Ok(Value::String(s)) => Some(s.to_string_lossy()),
        Ok(Value::Number(n)) => Some(format!("{}", n as i64)),
        Ok(Value::Integer(i)) => Some(i.to_string()),
        _ => None,
    };
    let mut msg = text("err").unwrap_or_default();
    if let (Some(source), Some(line)) = (text("source"), text("line")) {
        msg.push_str(&format!(" script: {sha}, on {source}:{line}."));
    }
    msg
}

/// The `err` string of a table value (an error returned by a script).
pub fn error_field(v: &Value) -> Option<String> {
    let Value::Table(t) = v else {
        return None;
    };
    match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        _ => None,
    }
}

/// True when an error table says the statistics counted it already.
pub fn already_counted(v: &Value) -> bool {
    match v {
        Value::Table(t) => matches!(
            t.raw_get::<Value>("ignore_error_stats_update"),
            Ok(Value::Boolean(true))
        ),
        _ => false,
    }
}
