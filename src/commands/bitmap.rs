//! The bitmap commands: bits of string values (SETBIT, GETBIT, BITCOUNT,
//! BITPOS, BITOP, BITFIELD, BITFIELD_RO). The bit arithmetic is in
//! `store::bits`; here are the arguments, Redis's errors, the key handling and
//! what each write propagates (the command itself, only when it changed data).

use std::sync::atomic::Ordering;

use super::spec::key_flags::{ACCESS, OW, RO, RW, UPDATE, VARIABLE_FLAGS};
use super::spec::{command_table, CommandSpec, KeyFlags, KeySpec, KeySpecs};
use super::table::{KS_RO_ACCESS, KS_RW_ACCESS_UPDATE};
use super::{is, parse_i64, parse_int_strict, Argv, CmdError, CmdResult, Ctx};
use crate::node::notify::{GENERIC, STRING};
use crate::store::bits::{self, BitOp, FieldType, Overflow, PosRange};
use crate::store::{SlotGuard, Str, Value, ValueRef};

const KS_BITOP: KeySpecs = KeySpecs::new(&[
    KeySpec::at(2, OW | UPDATE),
    KeySpec::at(3, RO | ACCESS).range(-1, 1, 0),
]);
const KS_BITFIELD: KeySpecs =
    KeySpecs::new(&[KeySpec::at(1, RW | ACCESS | UPDATE | VARIABLE_FLAGS)
        .notes("This command allows both access and modification of the key")])
    .with_function(bitfield_key_flags);

/// The bitmap commands' table rows.
pub static COMMANDS: &[CommandSpec] = command_table! {
    "setbit" 4 [WRITE|DENYOOM] KS_RW_ACCESS_UPDATE, "write bitmap slow" "bitmap" "2.2.0" setbit, "Sets or clears the bit at offset in the string value stored at key";
    "getbit" 3 [READONLY|FAST] KS_RO_ACCESS, "read bitmap fast" "bitmap" "2.2.0" getbit, "Returns the bit value at offset in the string value stored at key";
    "bitcount" -2 [READONLY] KS_RO_ACCESS, "read bitmap slow" "bitmap" "2.6.0" bitcount, "Count set bits in a string";
    "bitpos" -3 [READONLY] KS_RO_ACCESS, "read bitmap slow" "bitmap" "2.8.7" bitpos, "Find first bit set or clear in a string";
    "bitop" -4 [WRITE|DENYOOM] KS_BITOP, "write bitmap slow" "bitmap" "2.6.0" bitop, "Perform bitwise operations between strings";
    "bitfield" -2 [WRITE|DENYOOM] KS_BITFIELD, "write bitmap slow" "bitmap" "3.2.0" bitfield, "Perform arbitrary bitfield integer operations on strings";
    "bitfield_ro" -2 [READONLY|FAST] KS_RO_ACCESS, "read bitmap fast" "bitmap" "6.0.0" bitfield_ro, "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD";
};

/// BITFIELD's key flags: read-only access when it only GETs, as Redis's
/// `bitfieldGetKeys` (a SET, INCRBY or anything unparsable makes it a write).
fn bitfield_key_flags(argv: &Argv<'_>, f: &mut dyn FnMut(usize, KeyFlags)) {
    let mut readonly = true;
    let mut i = 2;
    while i < argv.len() {
        let (arg, rem) = (argv.get(i), argv.len() - i - 1);
        if is(arg, "GET") && rem >= 2 {
            i += 3;
        } else if (is(arg, "SET") || is(arg, "INCRBY")) && rem >= 3 {
            readonly = false;
            break;
        } else if is(arg, "OVERFLOW") && rem >= 1 {
            i += 2;
        } else {
            readonly = false;
            break;
        }
    }
    f(
        1,
        if readonly {
            RO | ACCESS
        } else {
            RW | ACCESS | UPDATE
        },
    );
}

/// The largest byte index an offset may reach: `proto-max-bulk-len`, except
/// for a primary's stream or the AOF, which are obeyed whatever they ask.
fn byte_limit(ctx: &Ctx<'_>) -> u64 {
    if ctx.client.replaying {
        u64::MAX
    } else {
        ctx.srv.hot.proto_max_bulk_len.load(Ordering::Relaxed)
    }
}

/// Parses a bit offset as Redis's getBitOffsetFromArgument; with `hash_bits`
/// (BITFIELD) `#n` means `n * bits`.
fn bit_offset(arg: &[u8], hash_bits: Option<u32>, limit: u64) -> Result<u64, CmdError> {
    let err = || CmdError::err("bit offset is not an integer or out of range");
    let (digits, mul) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    let v = parse_int_strict(digits).ok_or_else(err)?.wrapping_mul(mul);
    if v < 0 || (v as u64 >> 3) >= limit {
        return Err(err());
    }
    Ok(v as u64)
}

/// `key`'s string bytes for reading (`None` when missing); WRONGTYPE otherwise.
fn read_bytes<'g>(
    g: &'g mut SlotGuard<'_>,
    key: &[u8],
    buf: &'g mut itoa::Buffer,
) -> Result<Option<&'g [u8]>, CmdError> {
    Ok(g.read_str(key)?.map(|s| bits::str_bytes(s, buf)))
}

/// Runs `f` on `key`'s string as raw bytes of at least `len` (created or zero
/// padded as needed), telling it whether the string was created or grew.
fn with_bits<R>(
    g: &mut SlotGuard<'_>,
    key: &[u8],
    len: usize,
    f: impl FnOnce(&mut [u8], bool) -> R,
) -> Result<R, CmdError> {
    match g.get_mut(key) {
        Some(e) => {
            let (b, grew) = bits::writable(e.value_mut().as_type_mut::<Str>()?, len);
            Ok(f(b, grew))
        }
        None => {
            let mut v = vec![0u8; len];
            let r = f(&mut v, true);
            g.set(key, Value::raw(v), Some(0));
            Ok(r)
        }
    }
}

/// `SETBIT key offset value`: the bit's old value.
pub fn setbit(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let offset = bit_offset(argv.get(2), None, byte_limit(ctx))?;
    let on = match parse_int_strict(argv.get(3)) {
        Some(0) => false,
        Some(1) => true,
        _ => return Err(CmdError::err("bit is not an integer or out of range")),
    };
    let byte = (offset >> 3) as usize;
    let mask = 0x80u8 >> (offset & 7);
    let mut g = ctx.lock(key);
    let (old, dirty) = with_bits(&mut g, key, byte + 1, |b, grew| {
        let old = b[byte] & mask != 0;
        if on {
            b[byte] |= mask;
        } else {
            b[byte] &= !mask;
        }
        (old, grew)
    })?;
    if dirty || old != on {
        ctx.propagate_verbatim(argv);
        ctx.notify(STRING, "setbit", key);
    }
    drop(g);
    ctx.out.int(i64::from(old));
    Ok(())
}

/// `GETBIT key offset`
pub fn getbit(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let offset = bit_offset(argv.get(2), None, byte_limit(ctx))?;
    let mut g = ctx.lock(key);
    let mut buf = itoa::Buffer::new();
    let bit = read_bytes(&mut g, key, &mut buf)?
        .and_then(|b| b.get((offset >> 3) as usize))
        .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0);
    drop(g);
    ctx.out.int(i64::from(bit));
    Ok(())
}

/// Parses `BYTE|BIT`: true for BIT.
fn unit(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "BIT") {
        Ok(true)
    } else if is(arg, "BYTE") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// `BITCOUNT key [start end [BYTE|BIT]]`
pub fn bitcount(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut g = ctx.lock(key);
    let mut buf = itoa::Buffer::new();
    // Redis looks the key up before it reads the range.
    let Some(b) = read_bytes(&mut g, key, &mut buf)? else {
        drop(g);
        ctx.out.int(0);
        return Ok(());
    };
    let n = match argv.len() {
        2 => bits::popcount(b),
        4 | 5 => {
            let start = parse_i64(argv.get(2))?;
            let end = parse_i64(argv.get(3))?;
            if start < 0 && end < 0 && start > end {
                0
            } else {
                let in_bits = argv.len() == 5 && unit(argv.get(4))?;
                bits::count_range(b, start, end, in_bits)
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    drop(g);
    ctx.out.int(n as i64);
    Ok(())
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`
pub fn bitpos(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let bit = match parse_i64(argv.get(2))? {
        0 => false,
        1 => true,
        _ => return Err(CmdError::err("The bit argument must be 1 or 0.")),
    };
    let mut g = ctx.lock(key);
    let mut buf = itoa::Buffer::new();
    let Some(b) = read_bytes(&mut g, key, &mut buf)? else {
        drop(g);
        ctx.out.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let range = match argv.len() {
        3 => None,
        4..=6 => {
            let start = parse_i64(argv.get(3))?;
            let in_bits = argv.len() == 6 && unit(argv.get(5))?;
            let end = match argv.opt(4) {
                Some(e) => Some(parse_i64(e)?),
                None => None,
            };
            Some(PosRange {
                start,
                end,
                bits: in_bits,
            })
        }
        _ => return Err(CmdError::Syntax),
    };
    let pos = bits::pos_range(b, bit, range);
    drop(g);
    ctx.out.int(pos);
    Ok(())
}

/// `BITOP AND|OR|XOR|NOT destkey key [key …]`: the result's length; an empty
/// result deletes the destination.
pub fn bitop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let name = argv.get(1);
    let op = if is(name, "AND") {
        BitOp::And
    } else if is(name, "OR") {
        BitOp::Or
    } else if is(name, "XOR") {
        BitOp::Xor
    } else if is(name, "NOT") {
        BitOp::Not
    } else {
        return Err(CmdError::Syntax);
    };
    if op == BitOp::Not && argv.len() != 4 {
        return Err(CmdError::err(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    let (db, dest) = (ctx.client.db, argv.get(2));
    let mut m = ctx.lock_keys(argv.tail(2).iter());
    // First the lengths (and types), then fold each source into the result.
    let mut maxlen = 0usize;
    for key in argv.tail(3).iter() {
        let g = m.slot(db, key);
        if let Some(s) = g.read_str(key)? {
            maxlen = maxlen.max(s.len());
        }
    }
    let removed = if maxlen > 0 {
        let mut res = vec![0u8; maxlen];
        let mut buf = itoa::Buffer::new();
        for (i, key) in argv.tail(3).iter().enumerate() {
            let src = match m.slot(db, key).peek(key).map(|e| e.value()) {
                Some(ValueRef::Str(s)) => bits::str_bytes(s, &mut buf),
                _ => &[],
            };
            bits::fold(op, &mut res, i, src);
        }
        m.slot(db, dest).set(dest, Value::raw(res), Some(0));
        true
    } else {
        m.slot(db, dest).remove(dest).is_some()
    };
    if removed {
        ctx.propagate_verbatim(argv);
        // As Redis: a stored result is a `set`, an empty one deletes.
        if maxlen > 0 {
            ctx.notify(STRING, "set", dest);
        } else {
            ctx.notify(GENERIC, "del", dest);
        }
    }
    drop(m);
    ctx.out.int(maxlen as i64);
    Ok(())
}

/// `BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset
/// increment] [OVERFLOW WRAP|SAT|FAIL] …`
pub fn bitfield(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    bitfield_generic(ctx, argv, false)
}

/// `BITFIELD_RO key [GET type offset …]`
pub fn bitfield_ro(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    bitfield_generic(ctx, argv, true)
}

/// One BITFIELD operation.
#[derive(Clone, Copy)]
enum FieldOp {
    Get,
    Set(i64),
    Incr(i64),
}

/// Parses the operations (all of them, before anything runs, as Redis), and
/// calls `f` for each with its type, offset and overflow policy.
fn parse_fields(
    argv: &Argv<'_>,
    limit: u64,
    mut f: impl FnMut(FieldOp, FieldType, u64, Overflow),
) -> CmdResult {
    let mut ow = Overflow::Wrap;
    let mut j = 2;
    while j < argv.len() {
        let (sub, rem) = (argv.get(j), argv.len() - j - 1);
        let get = is(sub, "GET") && rem >= 2;
        let set = is(sub, "SET") && rem >= 3;
        let incr = is(sub, "INCRBY") && rem >= 3;
        if is(sub, "OVERFLOW") && rem >= 1 {
            let w = argv.get(j + 1);
            ow = if is(w, "WRAP") {
                Overflow::Wrap
            } else if is(w, "SAT") {
                Overflow::Sat
            } else if is(w, "FAIL") {
                Overflow::Fail
            } else {
                return Err(CmdError::err("Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        }
        if !(get || set || incr) {
            return Err(CmdError::Syntax);
        }
        let ty = field_type(argv.get(j + 1))?;
        let offset = bit_offset(argv.get(j + 2), Some(ty.bits), limit)?;
        let op = if get {
            FieldOp::Get
        } else {
            let v = parse_i64(argv.get(j + 3))?;
            if set {
                FieldOp::Set(v)
            } else {
                FieldOp::Incr(v)
            }
        };
        f(op, ty, offset, ow);
        j += if get { 3 } else { 4 };
    }
    Ok(())
}

/// Parses `i1`..`i64` or `u1`..`u63` (case-sensitive, as Redis).
fn field_type(arg: &[u8]) -> Result<FieldType, CmdError> {
    let err = || {
        CmdError::err(
            "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    let bits = parse_int_strict(&arg[1..]).ok_or_else(err)?;
    let max = if signed { 64 } else { 63 };
    if !(1..=max).contains(&bits) {
        return Err(err());
    }
    Ok(FieldType {
        signed,
        bits: bits as u32,
    })
}

fn bitfield_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, ro_command: bool) -> CmdResult {
    let key = argv.get(1);
    let limit = byte_limit(ctx);
    let (mut ops, mut highest, mut writes) = (0usize, 0u64, false);
    parse_fields(argv, limit, |op, ty, offset, _| {
        ops += 1;
        if !matches!(op, FieldOp::Get) {
            writes = true;
            highest = highest.max(offset + u64::from(ty.bits) - 1);
        }
    })?;
    let mut g = ctx.lock(key);
    if !writes {
        let mut buf = itoa::Buffer::new();
        let b = read_bytes(&mut g, key, &mut buf)?.unwrap_or(&[]);
        ctx.out.array_len(ops);
        parse_fields(argv, limit, |_, ty, offset, _| {
            ctx.out.int(get_field(b, ty, offset));
        })?;
        return Ok(());
    }
    if ro_command {
        return Err(CmdError::err(
            "BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let len = (highest >> 3) as usize + 1;
    let out = &mut *ctx.out;
    let mut changes = 0usize;
    with_bits(&mut g, key, len, |b, dirty| {
        out.array_len(ops);
        parse_fields(argv, limit, |op, ty, offset, ow| match op {
            FieldOp::Get => out.int(get_field(b, ty, offset)),
            FieldOp::Set(v) | FieldOp::Incr(v) => {
                let incr = matches!(op, FieldOp::Incr(_));
                match write_field(b, ty, offset, v, incr, ow) {
                    Some((reply, changed)) => {
                        out.int(reply);
                        changes += usize::from(dirty || changed);
                    }
                    None => out.null(),
                }
            }
        })
    })??;
    if changes > 0 {
        ctx.propagate_verbatim(argv);
        ctx.notify(STRING, "setbit", key);
    }
    Ok(())
}

fn get_field(b: &[u8], ty: FieldType, offset: u64) -> i64 {
    if ty.signed {
        bits::get_signed(b, offset, ty.bits)
    } else {
        bits::get_unsigned(b, offset, ty.bits) as i64
    }
}

/// SET (`incr` false) or INCRBY of one field: the reply (old value for SET,
/// new for INCRBY) and whether the bits changed, or None when OVERFLOW FAIL
/// refused the write.
fn write_field(
    b: &mut [u8],
    ty: FieldType,
    offset: u64,
    v: i64,
    incr: bool,
    ow: Overflow,
) -> Option<(i64, bool)> {
    let bits_ = ty.bits;
    let (old, new, overflowed) = if ty.signed {
        let old = bits::get_signed(b, offset, bits_);
        let (base, by) = if incr { (old, v) } else { (v, 0) };
        match bits::signed_overflow(base, by, bits_, ow) {
            Some(w) => (old as u64, w as u64, true),
            None => (old as u64, base.wrapping_add(by) as u64, false),
        }
    } else {
        let old = bits::get_unsigned(b, offset, bits_);
        let (base, by) = if incr { (old, v) } else { (v as u64, 0) };
        match bits::unsigned_overflow(base, by, bits_, ow) {
            Some(w) => (old, w, true),
            None => (old, base.wrapping_add(by as u64), false),
        }
    };
    if overflowed && ow == Overflow::Fail {
        return None;
    }
    bits::set_field(b, offset, bits_, new);
    let reply = if incr { new } else { old };
    Some((reply as i64, old != new))
}

#[cfg(test)]
mod tests {
    use crate::commands::testkit::Kit;

    #[test]
    fn setbit_getbit_and_propagation() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["SETBIT", "b", "1", "1"]), ":0\r\n");
        assert_eq!(k.run(&["GET", "b"]), "$1\r\n@\r\n");
        assert_eq!(k.last_propagated(), "SETBIT b 1 1");
        assert_eq!(k.run(&["SETBIT", "b", "1", "1"]), ":1\r\n");
        assert_eq!(k.run(&["SETBIT", "b", "2", "0"]), ":0\r\n");
        assert_eq!(k.last_propagated(), "SETBIT b 1 1", "no change, no stream");
        assert_eq!(k.run(&["GETBIT", "b", "100"]), ":0\r\n");
        assert_eq!(
            k.run(&["SETBIT", "b", "4294967296", "1"]),
            "-ERR bit offset is not an integer or out of range\r\n"
        );
        assert_eq!(
            k.run(&["SETBIT", "b", "0", "2"]),
            "-ERR bit is not an integer or out of range\r\n"
        );
        k.run(&["SET", "n", "12"]);
        assert_eq!(k.run(&["SETBIT", "n", "7", "1"]), ":1\r\n");
        assert_eq!(k.run(&["OBJECT", "ENCODING", "n"]), "$3\r\nraw\r\n");
    }

    #[test]
    fn bitfield_overflow_and_ro() {
        let mut k = Kit::new();
        assert_eq!(
            k.run(&["BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "5"]),
            "*1\r\n$-1\r\n"
        );
        assert_eq!(
            k.run(&["BITFIELD", "f", "SET", "i8", "#1", "-100", "GET", "i8", "8"]),
            "*2\r\n:0\r\n:-100\r\n"
        );
        assert_eq!(k.last_propagated(), "BITFIELD f SET i8 #1 -100 GET i8 8");
        assert_eq!(
            k.run(&["BITFIELD_RO", "f", "SET", "i8", "0", "1"]),
            "-ERR BITFIELD_RO only supports the GET subcommand\r\n"
        );
        assert_eq!(
            k.run(&["BITFIELD", "f", "GET", "u64", "0"]),
            "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n"
        );
    }
}
