//! `struct`: binary packing as Roberto Ierusalimschy's `struct` library
//! (the one Redis ships): `pack(fmt, ...)`, `unpack(fmt, data [, pos])`,
//! `size(fmt)`. Options: `<` `>` `=` endianness, `![n]` alignment, `x`
//! padding, `b B h H l L T i[n] I[n]` integers, `f d` floats, `c[n]` fixed
//! strings (`c0`: the whole string, or on unpack the previous number's
//! length), `s` zero-terminated strings.

use mlua::{Lua, MultiValue, Table, Value};

use super::{func, num, ret};

const MAX_INT_SIZE: usize = 32;
const MAX_ALIGN: usize = 8;

fn err(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::runtime(msg.into())
}

struct Format<'a> {
    fmt: &'a [u8],
    pos: usize,
    little: bool,
    align: usize,
}

/// One item of a format: its option letter and size.
struct Item {
    opt: u8,
    size: usize,
}

impl Format<'_> {
    fn new(fmt: &[u8]) -> Format<'_> {
        Format {
            fmt,
            pos: 0,
            little: cfg!(target_endian = "little"),
            align: 1,
        }
    }

    fn number(&mut self, default: usize) -> mlua::Result<usize> {
        if !self.fmt.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut n: usize = 0;
        while let Some(d) = self.fmt.get(self.pos).filter(|c| c.is_ascii_digit()) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add((d - b'0') as usize))
                .filter(|&n| n <= i32::MAX as usize / 10)
                .ok_or_else(|| err("integral size overflow"))?;
            self.pos += 1;
        }
        Ok(n)
    }

    /// The next data item, after applying control options; None at the end.
    fn next(&mut self) -> mlua::Result<Option<Item>> {
        while let Some(&opt) = self.fmt.get(self.pos) {
            self.pos += 1;
            let size = match opt {
                b'b' | b'B' | b'x' => 1,
                b'h' | b'H' => 2,
                b'l' | b'L' | b'T' | b'd' => 8,
                b'f' => 4,
                b'c' => self.number(1)?,
                b'i' | b'I' => {
                    let n = self.number(4)?;
                    if n > MAX_INT_SIZE {
                        return Err(err(format!(
                            "integral size {n} is larger than limit of {MAX_INT_SIZE}"
                        )));
                    }
                    n
                }
                b's' => 0,
                b' ' => continue,
                b'>' => {
                    self.little = false;
                    continue;
                }
                b'<' => {
                    self.little = true;
                    continue;
                }
                b'=' => {
                    self.little = cfg!(target_endian = "little");
                    continue;
                }
                b'!' => {
                    let a = self.number(MAX_ALIGN)?;
                    if !a.is_power_of_two() {
                        return Err(err(format!("alignment {a} is not a power of 2")));
                    }
                    self.align = a;
                    continue;
                }
                other => {
                    return Err(err(format!(
                        "bad argument #1 to 'struct' (invalid format option '{}')",
                        other as char
                    )))
                }
            };
            return Ok(Some(Item { opt, size }));
        }
        Ok(None)
    }

    fn padding(&self, at: usize, item: &Item) -> usize {
        if item.size == 0 || item.opt == b'c' {
            return 0;
        }
        let size = item.size.min(self.align);
        if !size.is_power_of_two() {
            return 0;
        }
        (size - (at & (size - 1))) & (size - 1)
    }
}

fn is_int(opt: u8) -> bool {
    matches!(
        opt,
        b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I'
    )
}

fn pack(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let Some(Value::String(fmt)) = a.front() else {
        return Err(err("bad argument #1 to 'pack' (string expected)"));
    };
    let fmt = fmt.as_bytes();
    let mut f = Format::new(&fmt);
    let mut out: Vec<u8> = Vec::new();
    let mut arg = 1;
    while let Some(item) = f.next()? {
        let pad = f.padding(out.len(), &item);
        out.resize(out.len() + pad, 0);
        let v = a.get(arg).cloned().unwrap_or(Value::Nil);
        match item.opt {
            o if is_int(o) => {
                let n = num(&v).ok_or_else(|| {
                    err(format!(
                        "bad argument #{} to 'pack' (number expected)",
                        arg + 1
                    ))
                })?;
                arg += 1;
                let value = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let mut bytes = value.to_le_bytes().to_vec();
                bytes.resize(item.size, 0);
                if !f.little {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' | b'd' => {
                let n = num(&v).ok_or_else(|| {
                    err(format!(
                        "bad argument #{} to 'pack' (number expected)",
                        arg + 1
                    ))
                })?;
                arg += 1;
                let mut bytes = if item.opt == b'f' {
                    (n as f32).to_le_bytes().to_vec()
                } else {
                    n.to_le_bytes().to_vec()
                };
                if !f.little {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            _ => {
                let s = match &v {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Number(_) | Value::Integer(_) => {
                        crate::script::api::format_g(num(&v).unwrap_or(0.0), 14).into_bytes()
                    }
                    _ => {
                        return Err(err(format!(
                            "bad argument #{} to 'pack' (string expected)",
                            arg + 1
                        )))
                    }
                };
                arg += 1;
                let size = if item.size == 0 { s.len() } else { item.size };
                if s.len() < size {
                    return Err(err(format!(
                        "bad argument #{} to 'pack' (string too short)",
                        arg
                    )));
                }
                out.extend_from_slice(&s[..size]);
                if item.opt == b's' {
                    out.push(0);
                }
            }
        }
    }
    ret(lua, lua.create_string(&out)?)
}

fn read_int(bytes: &[u8], little: bool, signed: bool) -> f64 {
    let mut v: u64 = 0;
    let take = |i: usize| bytes[i] as u64;
    let n = bytes.len();
    if little {
        for i in (0..n).rev() {
            v = (v << 8) | take(i);
        }
    } else {
        for i in 0..n {
            v = (v << 8) | take(i);
        }
    }
    if signed && n > 0 && n < 8 {
        let mask = !0u64 << (n * 8 - 1);
        if v & mask != 0 {
            v |= mask;
        }
    }
    if signed {
        v as i64 as f64
    } else {
        v as f64
    }
}

fn unpack(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let (Some(Value::String(fmt)), Some(Value::String(data))) = (a.front(), a.get(1)) else {
        return Err(err("bad argument to 'unpack' (string expected)"));
    };
    let (fmt, data) = (fmt.as_bytes(), data.as_bytes());
    let start = a.get(2).and_then(num).unwrap_or(1.0);
    if start < 1.0 {
        return Err(err(
            "bad argument #3 to 'unpack' (offset must be 1 or greater)",
        ));
    }
    let mut pos = start as usize - 1;
    let mut f = Format::new(&fmt);
    let mut out: Vec<Value> = Vec::new();
    let short = || err("bad argument #2 to 'unpack' (data string too short)");
    while let Some(item) = f.next()? {
        pos += f.padding(pos, &item);
        let fits = |size: usize| size <= data.len() && pos <= data.len() - size;
        if item.opt != b's' && item.opt != b'c' && !fits(item.size) {
            return Err(short());
        }
        match item.opt {
            o if is_int(o) => {
                let signed = o.is_ascii_lowercase();
                let v = read_int(&data[pos..pos + item.size], f.little, signed);
                out.push(Value::Number(v));
                pos += item.size;
            }
            b'x' => pos += 1,
            b'f' | b'd' => {
                let mut b = data[pos..pos + item.size].to_vec();
                if !f.little {
                    b.reverse();
                }
                let v = if item.opt == b'f' {
                    f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64
                } else {
                    f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
                };
                out.push(Value::Number(v));
                pos += item.size;
            }
            b'c' => {
                let size = if item.size == 0 {
                    match out.pop() {
                        Some(Value::Number(n)) => n.max(0.0) as usize,
                        _ => return Err(err("format 'c0' needs a previous size")),
                    }
                } else {
                    item.size
                };
                if !fits(size) {
                    return Err(short());
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
                pos += size;
            }
            _ => {
                let rest = data.get(pos..).unwrap_or(&[]);
                let Some(end) = rest.iter().position(|&c| c == 0) else {
                    return Err(err("unfinished string in data"));
                };
                out.push(Value::String(lua.create_string(&rest[..end])?));
                pos += end + 1;
            }
        }
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_iter(out))
}

fn size(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let Some(Value::String(fmt)) = a.front() else {
        return Err(err("bad argument #1 to 'size' (string expected)"));
    };
    let fmt = fmt.as_bytes();
    let mut f = Format::new(&fmt);
    let mut total = 0usize;
    while let Some(item) = f.next()? {
        if item.opt == b's' {
            return Err(err(
                "bad argument #1 to 'size' (option 's' has no fixed size)",
            ));
        }
        if item.opt == b'c' && item.size == 0 {
            return Err(err(
                "bad argument #1 to 'size' (option 'c0' has no fixed size)",
            ));
        }
        total += f.padding(total, &item) + item.size;
    }
    ret(lua, total as f64)
}

/// The `struct` table.
pub(super) fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", func(lua, pack)?)?;
    t.raw_set("unpack", func(lua, unpack)?)?;
    t.raw_set("size", func(lua, size)?)?;
    Ok(t)
}
