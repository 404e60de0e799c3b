//! `cjson`: JSON encode/decode with lua-cjson's rules as Redis ships it:
//! numbers `%.14g`, `/` escaped, an empty table is `{}`, a table whose keys
//! are all positive integers is an array (holes are `null`; an excessively
//! sparse one is an error), `cjson.null` is a light userdata, and the
//! nesting, invalid-number and sparse-array settings.

use std::sync::Arc;

use mlua::{LightUserData, Lua, MultiValue, Table, Value};
use parking_lot::Mutex;

use super::{func, ret};

// Braces as named bytes (a brace literal confuses line-based tools).
const LBRACE: u8 = 0x7b;
const RBRACE: u8 = 0x7d;

#[derive(Debug, Clone, Copy)]
struct Settings {
    encode_max_depth: usize,
    decode_max_depth: usize,
    encode_invalid_numbers: bool,
    decode_invalid_numbers: bool,
    precision: i32,
    sparse_convert: bool,
    sparse_ratio: usize,
    sparse_safe: usize,
}

const DEFAULTS: Settings = Settings {
    encode_max_depth: 1000,
    decode_max_depth: 1000,
    encode_invalid_numbers: false,
    decode_invalid_numbers: true,
    precision: 14,
    sparse_convert: false,
    sparse_ratio: 2,
    sparse_safe: 10,
};

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn err(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::runtime(msg.into())
}

struct Encoder {
    s: Settings,
    out: Vec<u8>,
}

impl Encoder {
    fn value(&mut self, v: &Value, depth: usize) -> mlua::Result<()> {
        match v {
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(u) if u.0.is_null() => self.out.extend_from_slice(b"null"),
            Value::Boolean(b) => self
                .out
                .extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Number(n) => self.number(*n)?,
            Value::Integer(i) => self.number(*i as f64)?,
            Value::String(s) => self.string(&s.as_bytes()),
            Value::Table(t) => self.table(t, depth + 1)?,
            other => {
                return Err(err(format!(
                    "Cannot serialise {}: type not supported",
                    other.type_name()
                )))
            }
        }
        Ok(())
    }

    fn number(&mut self, n: f64) -> mlua::Result<()> {
        if !n.is_finite() {
            if !self.s.encode_invalid_numbers {
                return Err(err("Cannot serialise number: must not be NaN or Inf"));
            }
            let s = if n.is_nan() {
                "nan"
            } else if n > 0.0 {
                "inf"
            } else {
                "-inf"
            };
            self.out.extend_from_slice(s.as_bytes());
            return Ok(());
        }
        let s = crate::script::api::format_g(n, self.s.precision);
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }

    fn string(&mut self, s: &[u8]) {
        self.out.push(b'"');
        for &c in s {
            match c {
                b'"' => self.out.extend_from_slice(b"\\\""),
                b'\\' => self.out.extend_from_slice(b"\\\\"),
                b'/' => self.out.extend_from_slice(b"\\/"),
                b'\n' => self.out.extend_from_slice(b"\\n"),
                b'\r' => self.out.extend_from_slice(b"\\r"),
                b'\t' => self.out.extend_from_slice(b"\\t"),
                8 => self.out.extend_from_slice(b"\\b"),
                12 => self.out.extend_from_slice(b"\\f"),
                c if c < 0x20 || c == 0x7f => {
                    self.out.extend_from_slice(format!("\\u{c:04x}").as_bytes())
                }
                c => self.out.push(c),
            }
        }
        self.out.push(b'"');
    }

    /// The array length of `t`, 0 for an object (or an empty table).
    fn array_len(&self, t: &Table) -> mlua::Result<Option<usize>> {
        let (mut max, mut items) = (0usize, 0usize);
        for pair in t.pairs::<Value, Value>() {
            let (k, _) = pair?;
            let n = match k {
                Value::Number(n) => n,
                Value::Integer(i) => i as f64,
                _ => return Ok(None),
            };
            if n < 1.0 || n.fract() != 0.0 {
                return Ok(None);
            }
            max = max.max(n as usize);
            items += 1;
        }
        if self.s.sparse_ratio > 0 && max > items * self.s.sparse_ratio && max > self.s.sparse_safe
        {
            if !self.s.sparse_convert {
                return Err(err("Cannot serialise table: excessively sparse array"));
            }
            return Ok(None);
        }
        Ok(Some(max))
    }

    fn table(&mut self, t: &Table, depth: usize) -> mlua::Result<()> {
        if depth > self.s.encode_max_depth {
            return Err(err(format!(
                "Cannot serialise, excessive nesting ({depth})"
            )));
        }
        match self.array_len(t)? {
            Some(n) if n > 0 => {
                self.out.push(b'[');
                for i in 1..=n {
                    if i > 1 {
                        self.out.push(b',');
                    }
                    let v: Value = t.raw_get(i)?;
                    self.value(&v, depth)?;
                }
                self.out.push(b']');
            }
            _ => {
                self.out.push(LBRACE);
                let mut first = true;
                for pair in t.pairs::<Value, Value>() {
                    let (k, v) = pair?;
                    if !first {
                        self.out.push(b',');
                    }
                    first = false;
                    match &k {
                        Value::String(s) => self.string(&s.as_bytes()),
                        Value::Number(_) | Value::Integer(_) => {
                            let n = match k {
                                Value::Number(n) => n,
                                Value::Integer(i) => i as f64,
                                _ => 0.0,
                            };
                            let s = crate::script::api::format_g(n, self.s.precision);
                            self.string(s.as_bytes());
                        }
                        _ => {
                            return Err(err(
                                "Cannot serialise table: table key must be a number or string",
                            ))
                        }
                    }
                    self.out.push(b':');
                    self.value(&v, depth)?;
                }
                self.out.push(RBRACE);
            }
        }
        Ok(())
    }
}

struct Decoder<'a> {
    s: Settings,
    buf: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn ws(&mut self) {
        while self.pos < self.buf.len()
            && matches!(self.buf[self.pos], b' ' | b'\t' | b'\n' | b'\r')
        {
            self.pos += 1;
        }
    }

    /// What lua-cjson calls the token at the current position.
    fn token_name(&self) -> &'static str {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        match rest.first() {
            None => "T_END",
            Some(&LBRACE) => "T_OBJ_BEGIN",
            Some(&RBRACE) => "T_OBJ_END",
            Some(b'[') => "T_ARR_BEGIN",
            Some(b']') => "T_ARR_END",
            Some(b',') => "T_COMMA",
            Some(b':') => "T_COLON",
            Some(b'"') => "T_STRING",
            Some(b'-' | b'0'..=b'9') => "T_NUMBER",
            _ if rest.starts_with(b"true") || rest.starts_with(b"false") => "T_BOOLEAN",
            _ if rest.starts_with(b"null") => "T_NULL",
            _ => "invalid token",
        }
    }

    fn fail(&self, what: &str) -> mlua::Error {
        err(format!(
            "Expected {what} but found {} at character {}",
            self.token_name(),
            self.pos + 1
        ))
    }

    fn value(&mut self, lua: &Lua, depth: usize) -> mlua::Result<Value> {
        self.ws();
        let Some(&c) = self.buf.get(self.pos) else {
            return Err(self.fail("value"));
        };
        match c {
            LBRACE | b'[' => {
                if depth + 1 > self.s.decode_max_depth {
                    return Err(err(format!(
                        "Found too many nested data structures ({}) at character {}",
                        depth + 1,
                        self.pos + 1
                    )));
                }
                if c == LBRACE {
                    self.object(lua, depth + 1)
                } else {
                    self.array(lua, depth + 1)
                }
            }
            b'"' => Ok(Value::String(lua.create_string(self.string()?)?)),
            b't' if self.buf[self.pos..].starts_with(b"true") => {
                self.pos += 4;
                Ok(Value::Boolean(true))
            }
            b'f' if self.buf[self.pos..].starts_with(b"false") => {
                self.pos += 5;
                Ok(Value::Boolean(false))
            }
            b'n' if self.buf[self.pos..].starts_with(b"null") => {
                self.pos += 4;
                Ok(null())
            }
            _ => self.number(),
        }
    }

    /// Length of the longest number at the current position, as `strtod`
    /// reads one (decimal; hex, `inf` and `nan` when invalid numbers are
    /// accepted), and its value.
    fn scan_number(&self) -> Option<(usize, f64)> {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        let sign = usize::from(matches!(rest.first(), Some(b'-' | b'+')));
        let neg = rest.first() == Some(&b'-');
        let body = &rest[sign..];
        let lower: Vec<u8> = body.iter().take(8).map(u8::to_ascii_lowercase).collect();
        let signed = |v: f64| if neg { -v } else { v };
        if self.s.decode_invalid_numbers {
            for (word, v) in [
                (&b"infinity"[..], f64::INFINITY),
                (b"inf", f64::INFINITY),
                (b"nan", f64::NAN),
            ] {
                if lower.starts_with(word) {
                    return Some((sign + word.len(), signed(v)));
                }
            }
            if lower.starts_with(b"0x") {
                let n = body[2..]
                    .iter()
                    .take_while(|c| c.is_ascii_hexdigit())
                    .count();
                if n > 0 {
                    let text = std::str::from_utf8(&body[2..2 + n]).ok()?;
                    let v = u64::from_str_radix(text, 16)
                        .map(|v| v as f64)
                        .unwrap_or(f64::INFINITY);
                    return Some((sign + 2 + n, signed(v)));
                }
            }
        }
        let digits = |from: usize| {
            body[from..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count()
        };
        let int = digits(0);
        let mut end = int;
        if body.get(end) == Some(&b'.') {
            end += 1 + digits(end + 1);
        }
        if end == 0 || (end == 1 && int == 0) {
            return None;
        }
        if matches!(body.get(end), Some(b'e' | b'E')) {
            let mut e = end + 1;
            if matches!(body.get(e), Some(b'-' | b'+')) {
                e += 1;
            }
            let n = digits(e);
            if n > 0 {
                end = e + n;
            }
        }
        let text = std::str::from_utf8(&rest[..sign + end]).ok()?;
        Some((sign + end, text.parse().ok()?))
    }

    fn number(&mut self) -> mlua::Result<Value> {
        match self.scan_number() {
            Some((n, v)) => {
                self.pos += n;
                Ok(Value::Number(v))
            }
            None => {
                let what = if matches!(self.buf.get(self.pos), Some(b'-' | b'0'..=b'9')) {
                    "invalid number"
                } else {
                    "invalid token"
                };
                Err(err(format!(
                    "Expected value but found {what} at character {}",
                    self.pos + 1
                )))
            }
        }
    }

    fn string(&mut self) -> mlua::Result<Vec<u8>> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.buf.get(self.pos) else {
                return Err(err(format!(
                    "Expected string but found unterminated string at character {}",
                    self.pos + 1
                )));
            };
            self.pos += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let e = self.buf.get(self.pos).copied().unwrap_or(0);
                    self.pos += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => self.unicode(&mut out)?,
                        _ => {
                            return Err(err(format!(
                                "Expected string but found invalid escape code at character {}",
                                self.pos
                            )))
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.buf.get(self.pos..self.pos + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        self.pos += 4;
        Some(v)
    }

    fn unicode(&mut self, out: &mut Vec<u8>) -> mlua::Result<()> {
        let bad = |pos: usize| {
            err(format!(
                "Expected string but found invalid unicode escape code at character {pos}"
            ))
        };
        let mut cp = self.hex4().ok_or_else(|| bad(self.pos))?;
        if (0xD800..0xDC00).contains(&cp) {
            if self.buf.get(self.pos..self.pos + 2) != Some(b"\\u") {
                return Err(bad(self.pos));
            }
            self.pos += 2;
            let lo = self.hex4().ok_or_else(|| bad(self.pos))?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(bad(self.pos));
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        let ch = char::from_u32(cp).ok_or_else(|| bad(self.pos))?;
        let mut b = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
        Ok(())
    }

    fn object(&mut self, lua: &Lua, depth: usize) -> mlua::Result<Value> {
        self.pos += 1;
        let t = lua.create_table()?;
        self.ws();
        if self.buf.get(self.pos) == Some(&RBRACE) {
            self.pos += 1;
            return Ok(Value::Table(t));
        }
        loop {
            self.ws();
            if self.buf.get(self.pos) != Some(&b'"') {
                return Err(self.fail("object key string"));
            }
            let k = self.string()?;
            self.ws();
            if self.buf.get(self.pos) != Some(&b':') {
                return Err(self.fail("colon"));
            }
            self.pos += 1;
            let v = self.value(lua, depth)?;
            t.raw_set(lua.create_string(&k)?, v)?;
            self.ws();
            match self.buf.get(self.pos).copied() {
                Some(b',') => self.pos += 1,
                Some(RBRACE) => {
                    self.pos += 1;
                    return Ok(Value::Table(t));
                }
                _ => return Err(self.fail("comma or object end")),
            }
        }
    }

    fn array(&mut self, lua: &Lua, depth: usize) -> mlua::Result<Value> {
        self.pos += 1;
        let t = lua.create_table()?;
        self.ws();
        if self.buf.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Value::Table(t));
        }
        let mut i = 1;
        loop {
            let v = self.value(lua, depth)?;
            t.raw_set(i, v)?;
            i += 1;
            self.ws();
            match self.buf.get(self.pos).copied() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Table(t));
                }
                _ => return Err(self.fail("comma or array end")),
            }
        }
    }
}

fn arg_num(a: &MultiValue, i: usize) -> Option<f64> {
    a.get(i).and_then(super::num)
}

fn arg_bool(a: &MultiValue, i: usize) -> Option<bool> {
    match a.get(i)? {
        Value::Boolean(b) => Some(*b),
        Value::String(s) => match s.to_str().ok()?.as_ref() {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The `cjson` table.
pub(super) fn table(lua: &Lua) -> mlua::Result<Table> {
    let cfg = Arc::new(Mutex::new(DEFAULTS));
    let t = lua.create_table()?;
    let c = cfg.clone();
    t.raw_set(
        "encode",
        func(lua, move |lua, a| {
            if a.len() != 1 {
                return Err(err("bad argument #1 to 'encode' (expected 1 argument)"));
            }
            let mut e = Encoder {
                s: *c.lock(),
                out: Vec::new(),
            };
            e.value(a.front().unwrap_or(&Value::Nil), 0)?;
            ret(lua, lua.create_string(&e.out)?)
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "decode",
        func(lua, move |lua, a| {
            let Some(Value::String(s)) = a.front() else {
                return Err(err("bad argument #1 to 'decode' (string expected)"));
            };
            let bytes = s.as_bytes();
            let mut d = Decoder {
                s: *c.lock(),
                buf: &bytes,
                pos: 0,
            };
            let v = d.value(lua, 0)?;
            d.ws();
            if d.pos < bytes.len() {
                return Err(d.fail("the end"));
            }
            ret(lua, v)
        })?,
    )?;
    type Setter = fn(&mut Settings, &MultiValue) -> Value;
    let setters: [(&str, Setter); 6] = [
        ("encode_max_depth", |s, a| {
            if let Some(n) = arg_num(a, 0) {
                s.encode_max_depth = n.max(1.0) as usize;
            }
            Value::Number(s.encode_max_depth as f64)
        }),
        ("decode_max_depth", |s, a| {
            if let Some(n) = arg_num(a, 0) {
                s.decode_max_depth = n.max(1.0) as usize;
            }
            Value::Number(s.decode_max_depth as f64)
        }),
        ("encode_invalid_numbers", |s, a| {
            if let Some(b) = arg_bool(a, 0) {
                s.encode_invalid_numbers = b;
            }
            Value::Boolean(s.encode_invalid_numbers)
        }),
        ("decode_invalid_numbers", |s, a| {
            if let Some(b) = arg_bool(a, 0) {
                s.decode_invalid_numbers = b;
            }
            Value::Boolean(s.decode_invalid_numbers)
        }),
        ("encode_number_precision", |s, a| {
            if let Some(n) = arg_num(a, 0) {
                s.precision = (n as i32).clamp(1, 14);
            }
            Value::Number(s.precision as f64)
        }),
        ("encode_sparse_array", |s, a| {
            if let Some(b) = arg_bool(a, 0) {
                s.sparse_convert = b;
            }
            if let Some(n) = arg_num(a, 1) {
                s.sparse_ratio = n.max(0.0) as usize;
            }
            if let Some(n) = arg_num(a, 2) {
                s.sparse_safe = n.max(0.0) as usize;
            }
            Value::Boolean(s.sparse_convert)
        }),
    ];
    for (name, set) in setters {
        let c = cfg.clone();
        t.raw_set(
            name,
            func(lua, move |lua, a| {
                let v = set(&mut c.lock(), &a);
                ret(lua, v)
            })?,
        )?;
    }
    t.raw_set(
        "encode_keep_buffer",
        func(lua, |lua, a| ret(lua, arg_bool(&a, 0).unwrap_or(true)))?,
    )?;
    t.raw_set("null", null())?;
    Ok(t)
}
