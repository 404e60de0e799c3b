//! Conversions between RESP replies and Lua values, with Redis 7.0's rules.
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

use mlua::{Lua, Table, Value};

use crate::resp::reply::Reply;

/// Nesting past which a returned value is refused, as Redis's Lua stack limit.
const MAX_DEPTH: usize = 1000;

/// Converts one reply (as a command wrote it) to a Lua value.
pub fn resp_to_lua(lua: &Lua, reply: &[u8]) -> mlua::Result<Value> {
    let mut p = Parser { buf: reply, pos: 0 };
    p.value(lua)
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn line(&mut self) -> &[u8] {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(rest.len());
        self.pos += end + 2;
        &rest[..end]
    }

    fn int(&mut self) -> i64 {
        let l = self.line();
        std::str::from_utf8(l)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let start = self.pos.min(self.buf.len());
        let end = (start + n).min(self.buf.len());
        self.pos = end + 2;
        &self.buf[start..end]
    }

    fn value(&mut self, lua: &Lua) -> mlua::Result<Value> {
        let Some(&kind) = self.buf.get(self.pos) else {
            return Ok(Value::Nil);
        };
        self.pos += 1;
        Ok(match kind {
            b'+' => {
                let s = lua.create_string(self.line())?;
                let t = lua.create_table()?;
                t.raw_set("ok", s)?;
                Value::Table(t)
            }
            b'-' => {
                let text = format!("-{}", String::from_utf8_lossy(self.line()));
                let t = super::api::err_table(lua, &text)?;
                t.raw_set("ignore_error_stats_update", true)?;
                Value::Table(t)
            }
            b':' => Value::Number(self.int() as f64),
            b'$' => match self.int() {
                n if n < 0 => Value::Boolean(false),
                n => Value::String(lua.create_string(self.bytes(n as usize))?),
            },
            b'*' | b'>' => match self.int() {
                n if n < 0 => Value::Boolean(false),
                n => {
                    let t = lua.create_table_with_capacity(n as usize, 0)?;
                    for i in 1..=n {
                        let v = self.value(lua)?;
                        t.raw_set(i, v)?;
                    }
                    Value::Table(t)
                }
            },
            b'%' => {
                let n = self.int().max(0);
                let inner = lua.create_table()?;
                for _ in 0..n {
                    let k = self.value(lua)?;
                    let v = self.value(lua)?;
                    if !k.is_nil() {
                        inner.raw_set(k, v)?;
                    }
                }
                wrap(lua, "map", Value::Table(inner))?
            }
            b'~' => {
                let n = self.int().max(0);
                let inner = lua.create_table()?;
                for _ in 0..n {
                    let k = self.value(lua)?;
                    if !k.is_nil() {
                        inner.raw_set(k, true)?;
                    }
                }
                wrap(lua, "set", Value::Table(inner))?
            }
            b'_' => {
                self.line();
                Value::Nil
            }
            b'#' => Value::Boolean(self.line() == b"t"),
            b',' => {
                let l = String::from_utf8_lossy(self.line()).into_owned();
                wrap(lua, "double", Value::Number(l.parse().unwrap_or(0.0)))?
            }
            b'(' => {
                let s = lua.create_string(self.line())?;
                wrap(lua, "big_number", Value::String(s))?
            }
            b'=' => {
                let n = self.int().max(0) as usize;
                let body = self.bytes(n);
                let (format, text) = if body.len() >= 4 {
                    (&body[..3], &body[4..])
                } else {
                    (&b"txt"[..], body)
                };
                let inner = lua.create_table()?;
                inner.raw_set("string", lua.create_string(text)?)?;
                inner.raw_set("format", lua.create_string(format)?)?;
                wrap(lua, "verbatim_string", Value::Table(inner))?
            }
            b'|' => {
                let n = self.int().max(0);
                for _ in 0..2 * n {
                    self.value(lua)?;
                }
                self.value(lua)?
            }
            _ => {
                self.line();
                Value::Nil
            }
        })
    }
}

fn wrap(lua: &Lua, field: &str, v: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(field, v)?;
    Ok(Value::Table(t))
}

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

/// Writes a script's return value to `out`; `resp` is the script's own
/// protocol (`redis.setresp`), which decides how booleans are returned.
pub fn lua_to_reply(v: &Value, resp: u8, out: &mut Reply) {
    write_value(v, resp, out, 0);
}

fn write_value(v: &Value, resp: u8, out: &mut Reply, depth: usize) {
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if resp == 2 {
                if *b {
                    out.int(1)
                } else {
                    out.null()
                }
            } else {
                out.boolean(*b)
            }
        }
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
