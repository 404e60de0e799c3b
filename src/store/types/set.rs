//! The set type, with Redis 7.0's two encodings as `OBJECT ENCODING` names
//! them: `intset` (Redis's sorted integer array, byte for byte, while every
//! member is an integer and there are at most `set-max-intset-entries`) and
//! `hashtable` (anything else). The conversion happens where Redis's does, and
//! never back.
//!
//! A `hashtable` set is held in one of two ways Redis cannot tell apart: a
//! small one (up to 16 members of up to 64 bytes) as one packed buffer, a
//! larger one as a table (`table.rs`). The packed form keeps a small set of
//! strings in a few dozen bytes where Redis spends a dict, a bucket array and
//! an entry and an sds per member.

mod table;

use std::borrow::Cow;

use super::redis_size::{jemalloc_size, sds_header, ROBJ};
use super::string::canonical_int;
use super::{BadPayload, Kind, RdbSink, RdbSource, Value, ValueType};
use crate::store::compact::intset::{width_for, Intset};
use crate::store::digest::{xor, Digest};
use table::Table;

/// `RDB_TYPE_SET`: a count, then the member strings.
pub const RDB_TYPE: u8 = 2;
/// `RDB_TYPE_SET_INTSET`: one string holding the intset.
pub const RDB_TYPE_INTSET: u8 = 11;
/// RDB type bytes this type reads.
pub const RDB_TYPES: &[u8] = &[RDB_TYPE, RDB_TYPE_INTSET];

/// Members per command in an AOF rewrite (Redis's `AOF_REWRITE_ITEMS_PER_CMD`).
const REWRITE_BATCH: usize = 64;
/// Redis 7.0's `set-max-intset-entries` default (used when loading).
pub const DEFAULT_MAX_INTSET: usize = 512;
/// Redis caps the intset limit at 2^30 members.
const INTSET_CAP: usize = 1 << 30;
/// Most members of the packed form.
const PACKED_MAX_ENTRIES: usize = 16;
/// Longest member of the packed form.
const PACKED_MAX_VALUE: usize = 64;
/// Intset header: width then count, both u32 little-endian.
const IS_HEADER: usize = 8;

/// One member, as the encoding holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    /// An intset member.
    Int(i64),
    /// A string member.
    Bytes(&'a [u8]),
}

impl<'a> Member<'a> {
    /// The member's bytes (integers in decimal).
    pub fn to_bytes(self) -> Cow<'a, [u8]> {
        match self {
            Member::Int(n) => Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec()),
            Member::Bytes(b) => Cow::Borrowed(b),
        }
    }
}

impl Member<'_> {
    /// Runs `f` on the member's bytes (an integer is formatted on the stack).
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(n) => f(itoa::Buffer::new().format(n).as_bytes()),
            Member::Bytes(b) => f(b),
        }
    }
}

/// A set value.
#[derive(Debug, Clone)]
pub enum Set {
    /// Redis's intset bytes (header, then ascending little-endian integers).
    Intset(Box<[u8]>),
    /// A small `hashtable` set: a count byte, then each member as a length
    /// byte and its bytes.
    Packed(Box<[u8]>),
    /// A larger `hashtable` set.
    Table(Box<Table>),
}

impl Default for Set {
    /// An empty intset: the first member added decides the encoding, as
    /// Redis's `setTypeCreate` does.
    fn default() -> Self {
        Set::Intset(intset_bytes(2, &[]).into_boxed_slice())
    }
}

impl PartialEq for Set {
    fn eq(&self, other: &Set) -> bool {
        self.encoding() == other.encoding()
            && self.len() == other.len()
            && self.iter().all(|m| other.contains(&m.to_bytes()))
    }
}

// ---- intset bytes ----

fn is_width(b: &[u8]) -> usize {
    match b.first() {
        Some(4) => 4,
        Some(8) => 8,
        _ => 2,
    }
}

fn is_len(b: &[u8]) -> usize {
    b.len().saturating_sub(IS_HEADER) / is_width(b)
}

fn is_get(b: &[u8], i: usize) -> Option<i64> {
    let w = is_width(b);
    let start = IS_HEADER + i.checked_mul(w)?;
    let raw = b.get(start..start + w)?;
    Some(match w {
        2 => i16::from_le_bytes([raw[0], raw[1]]) as i64,
        4 => i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as i64,
        _ => {
            let mut a = [0u8; 8];
            a.copy_from_slice(raw);
            i64::from_le_bytes(a)
        }
    })
}

/// `Ok(index)` when found, else `Err(insertion point)`.
fn is_search(b: &[u8], v: i64) -> Result<usize, usize> {
    let (mut lo, mut hi) = (0, is_len(b));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match is_get(b, mid) {
            Some(m) if m < v => lo = mid + 1,
            Some(m) if m > v => hi = mid,
            _ => return Ok(mid),
        }
    }
    Err(lo)
}

fn intset_bytes(width: usize, members: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(IS_HEADER + width * members.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for v in members {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

fn is_members(b: &[u8]) -> impl DoubleEndedIterator<Item = i64> + '_ {
    (0..is_len(b)).filter_map(move |i| is_get(b, i))
}

/// The intset with `v` inserted at `at`, widened when `v` needs it.
fn is_insert(b: &[u8], at: usize, v: i64) -> Box<[u8]> {
    let w = is_width(b);
    if width_for(v) > w {
        let mut all: Vec<i64> = is_members(b).collect();
        all.insert(at.min(all.len()), v);
        return intset_bytes(width_for(v), &all).into_boxed_slice();
    }
    let split = (IS_HEADER + at * w).min(b.len());
    let mut out = Vec::with_capacity(b.len() + w);
    out.extend_from_slice(&(w as u32).to_le_bytes());
    out.extend_from_slice(&((is_len(b) + 1) as u32).to_le_bytes());
    out.extend_from_slice(b.get(IS_HEADER..split).unwrap_or(&[]));
    out.extend_from_slice(&v.to_le_bytes()[..w]);
    out.extend_from_slice(b.get(split..).unwrap_or(&[]));
    out.into_boxed_slice()
}

fn is_remove(b: &[u8], at: usize) -> Box<[u8]> {
    let w = is_width(b);
    let mut out = Vec::with_capacity(b.len().saturating_sub(w));
    out.extend_from_slice(b.get(..4).unwrap_or(&[2, 0, 0, 0]));
    out.extend_from_slice(&(is_len(b).saturating_sub(1) as u32).to_le_bytes());
    let start = IS_HEADER + at * w;
    out.extend_from_slice(b.get(IS_HEADER..start).unwrap_or(&[]));
    out.extend_from_slice(b.get(start + w..).unwrap_or(&[]));
    out.into_boxed_slice()
}

// ---- packed bytes ----

fn packed_len(b: &[u8]) -> usize {
    b.first().copied().unwrap_or(0) as usize
}

/// The packed members, with the offset of each one's length byte.
fn packed_iter(b: &[u8]) -> impl Iterator<Item = (usize, &[u8])> + '_ {
    let mut pos = 1;
    std::iter::from_fn(move || {
        let n = *b.get(pos)? as usize;
        let m = b.get(pos + 1..pos + 1 + n)?;
        let at = pos;
        pos += 1 + n;
        Some((at, m))
    })
}

fn packed_find(b: &[u8], m: &[u8]) -> Option<usize> {
    packed_iter(b).find(|(_, x)| *x == m).map(|(at, _)| at)
}

fn packed_push(b: &[u8], m: &[u8]) -> Box<[u8]> {
    let mut out = Vec::with_capacity(b.len() + 1 + m.len());
    out.push(b.first().copied().unwrap_or(0).saturating_add(1));
    out.extend_from_slice(b.get(1..).unwrap_or(&[]));
    out.push(m.len() as u8);
    out.extend_from_slice(m);
    out.into_boxed_slice()
}

fn packed_remove_at(b: &[u8], at: usize) -> Box<[u8]> {
    let n = b.get(at).copied().unwrap_or(0) as usize;
    let mut out = Vec::with_capacity(b.len());
    out.push(b.first().copied().unwrap_or(1).saturating_sub(1));
    out.extend_from_slice(b.get(1..at).unwrap_or(&[]));
    out.extend_from_slice(b.get(at + 1 + n..).unwrap_or(&[]));
    out.into_boxed_slice()
}

fn packed_fits(m: &[u8]) -> bool {
    m.len() <= PACKED_MAX_VALUE
}

/// Iterator over a set's members.
pub enum Iter<'a> {
    /// Intset members: the bytes, the next index.
    Int(&'a [u8], usize),
    /// Packed members: the bytes, the next length byte's offset.
    Packed(&'a [u8], usize),
    /// Table members.
    Table(super::chunks::Iter<'a, crate::store::key::Key>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            Iter::Int(b, i) => {
                let v = is_get(b, *i)?;
                *i += 1;
                Some(Member::Int(v))
            }
            Iter::Packed(b, pos) => {
                let n = *b.get(*pos)? as usize;
                let m = b.get(*pos + 1..*pos + 1 + n)?;
                *pos += 1 + n;
                Some(Member::Bytes(m))
            }
            Iter::Table(it) => it.next().map(|k| Member::Bytes(k.as_bytes())),
        }
    }
}

impl Set {
    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            Set::Intset(b) => is_len(b),
            Set::Packed(b) => packed_len(b),
            Set::Table(t) => t.len(),
        }
    }

    /// True with no members (the key is then removed).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING` name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Intset(_) => "intset",
            Set::Packed(_) | Set::Table(_) => "hashtable",
        }
    }

    /// True when `m` is a member.
    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Intset(b) => canonical_int(m).is_some_and(|v| is_search(b, v).is_ok()),
            Set::Packed(b) => packed_find(b, m).is_some(),
            Set::Table(t) => t.contains(m),
        }
    }

    /// True when `m` (a member of another set) is a member; integers meet
    /// an intset without formatting.
    pub fn contains_member(&self, m: Member<'_>) -> bool {
        match (self, m) {
            (Set::Intset(b), Member::Int(v)) => is_search(b, v).is_ok(),
            (_, m) => m.with_bytes(|b| self.contains(b)),
        }
    }

    /// Adds `m` (a member of another set); true when it is new.
    pub fn add_member(&mut self, m: Member<'_>, max_intset: usize) -> bool {
        m.with_bytes(|b| self.add(b, max_intset))
    }

    /// Every member, in the encoding's order (intsets ascending).
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Set::Intset(b) => Iter::Int(b, 0),
            Set::Packed(b) => Iter::Packed(b, 1),
            Set::Table(t) => Iter::Table(t.iter()),
        }
    }

    /// Every member's bytes (integers in decimal).
    pub fn members(&self) -> Vec<Cow<'_, [u8]>> {
        self.iter().map(Member::to_bytes).collect()
    }

    /// The member at position `i` of the encoding's order (random picks).
    pub fn get(&self, i: usize) -> Option<Member<'_>> {
        match self {
            Set::Intset(b) => is_get(b, i).map(Member::Int),
            Set::Packed(b) => packed_iter(b).nth(i).map(|(_, m)| Member::Bytes(m)),
            Set::Table(t) => t.get(i).map(Member::Bytes),
        }
    }

    /// A uniformly random member.
    pub fn random(&self) -> Option<Member<'_>> {
        match self.len() {
            0 => None,
            n => self.get(fastrand::usize(..n)),
        }
    }

    /// Adds `m`; true when it is new. `max_intset` is `set-max-intset-entries`.
    pub fn add(&mut self, m: &[u8], max_intset: usize) -> bool {
        match self {
            Set::Intset(b) => match canonical_int(m) {
                Some(v) => {
                    let Err(at) = is_search(b, v) else {
                        return false;
                    };
                    *b = is_insert(b, at, v);
                    if is_len(b) > max_intset.min(INTSET_CAP) {
                        self.convert(0);
                    }
                    true
                }
                None => {
                    self.convert(1);
                    self.add(m, max_intset)
                }
            },
            Set::Packed(b) => {
                if packed_find(b, m).is_some() {
                    return false;
                }
                if packed_len(b) < PACKED_MAX_ENTRIES && packed_fits(m) {
                    *b = packed_push(b, m);
                    return true;
                }
                self.make_table(1);
                self.add(m, max_intset)
            }
            Set::Table(t) => t.insert(m),
        }
    }

    /// Removes `m`; true when it was there.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Intset(b) => match canonical_int(m).map(|v| is_search(b, v)) {
                Some(Ok(at)) => {
                    *b = is_remove(b, at);
                    true
                }
                _ => false,
            },
            Set::Packed(b) => match packed_find(b, m) {
                Some(at) => {
                    *b = packed_remove_at(b, at);
                    true
                }
                None => false,
            },
            Set::Table(t) => t.remove(m),
        }
    }

    /// Removes and returns a uniformly random member.
    pub fn pop_random(&mut self) -> Option<Vec<u8>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let i = fastrand::usize(..n);
        match self {
            Set::Intset(b) => {
                let v = is_get(b, i)?;
                *b = is_remove(b, i);
                Some(itoa::Buffer::new().format(v).as_bytes().to_vec())
            }
            Set::Packed(b) => {
                let (at, m) = packed_iter(b).nth(i)?;
                let m = m.to_vec();
                *b = packed_remove_at(b, at);
                Some(m)
            }
            Set::Table(t) => t.remove_at(i),
        }
    }

    /// Leaves the intset for the `hashtable` encoding, with room for `extra`
    /// more members.
    fn convert(&mut self, extra: usize) {
        let Set::Intset(b) = self else {
            return;
        };
        let n = is_len(b);
        if n + extra <= PACKED_MAX_ENTRIES {
            let mut out = vec![0u8];
            for v in is_members(b) {
                out = packed_push(&out, itoa::Buffer::new().format(v).as_bytes()).into_vec();
            }
            *self = Set::Packed(out.into_boxed_slice());
        } else {
            self.make_table(extra);
        }
    }

    /// Moves the members into a table (with room for `extra` more).
    fn make_table(&mut self, extra: usize) {
        if let Set::Table(_) = self {
            return;
        }
        let mut t = Table::with_capacity(self.len() + extra);
        for m in self.iter() {
            m.with_bytes(|b| t.insert(b));
        }
        *self = Set::Table(Box::new(t));
    }

    /// One SSCAN step over a table: positions from `cursor - 1` down, `count`
    /// of them (cursor 0 starts at the top); returns the next cursor, 0 when
    /// done. Packed and intset sets return everything with cursor 0, as Redis
    /// does for its compact encodings.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(Member<'a>)) -> u64 {
        let Set::Table(t) = self else {
            self.iter().for_each(f);
            return 0;
        };
        t.scan(cursor, count, |m| f(Member::Bytes(m)))
    }

    /// Heap bytes the value owns.
    pub fn heap_size(&self) -> usize {
        match self {
            Set::Intset(b) | Set::Packed(b) => b.len(),
            Set::Table(t) => std::mem::size_of::<Table>() + t.heap_size(),
        }
    }

    /// What Redis would allocate for the set (`MEMORY USAGE`): a hashtable
    /// is estimated from its first members, as Redis samples five.
    pub fn redis_usage(&self) -> usize {
        const SAMPLES: usize = 5;
        match self {
            Set::Intset(b) => ROBJ + jemalloc_size(b.len()),
            _ => {
                let n = self.len();
                let slots = n.next_power_of_two().max(4);
                let sds = |len: usize| jemalloc_size(sds_header(len, false) + len + 1);
                let sampled: usize = self
                    .iter()
                    .take(SAMPLES)
                    .map(|m| 24 + m.with_bytes(|b| sds(b.len())))
                    .sum();
                ROBJ + 56 + slots * 8 + sampled * n / n.clamp(1, SAMPLES)
            }
        }
    }

    /// Mixes the set into `d` as Redis does: each member xored in.
    pub fn digest(&self, d: &mut Digest) {
        for m in self.iter() {
            m.with_bytes(|b| xor(d, b));
        }
    }

    /// The RDB type byte of the current encoding.
    pub fn rdb_type(&self) -> u8 {
        match self {
            Set::Intset(_) => RDB_TYPE_INTSET,
            _ => RDB_TYPE,
        }
    }

    /// Writes the RDB payload: the intset as one string, or the members.
    pub fn write_rdb(&self, out: &mut dyn RdbSink) {
        match self {
            Set::Intset(b) => out.string(b),
            _ => {
                out.length(self.len() as u64);
                for m in self.iter() {
                    m.with_bytes(|b| out.string(b));
                }
            }
        }
    }

    /// Reads an RDB payload of type 2 or 11, as Redis 7.0 loads them (with
    /// the default `set-max-intset-entries`).
    pub fn read_rdb<S: RdbSource>(rdb_type: u8, src: &mut S) -> Result<Set, S::Error> {
        let max = DEFAULT_MAX_INTSET;
        if rdb_type == RDB_TYPE_INTSET {
            let buf = src.string()?.to_bytes().into_owned();
            Intset::parse(&buf).map_err(|_| BadPayload::Invalid("intset"))?;
            let mut s = Set::Intset(buf.into_boxed_slice());
            if s.len() > max {
                s.make_table(0);
            }
            return Ok(s);
        }
        let n = src.length()?;
        if n == 0 {
            return Err(BadPayload::Invalid("empty set").into());
        }
        let mut s = if n > max as u64 {
            // Never trust the count for more than a modest first allocation.
            Set::Table(Box::new(Table::with_capacity(n.min(1 << 16) as usize)))
        } else {
            Set::default()
        };
        for _ in 0..n {
            let m = src.string()?;
            if !s.add(&m.to_bytes(), max) {
                return Err(BadPayload::Invalid("set with duplicate members").into());
            }
        }
        Ok(s)
    }

    /// Emits SADD commands recreating the set, 64 members each (AOF rewrite).
    pub fn rewrite(&self, key: &[u8], emit: &mut dyn FnMut(&[&[u8]])) {
        let members = self.members();
        for chunk in members.chunks(REWRITE_BATCH) {
            let mut argv: Vec<&[u8]> = Vec::with_capacity(2 + chunk.len());
            argv.push(b"SADD");
            argv.push(key);
            argv.extend(chunk.iter().map(|m| &m[..]));
            emit(&argv);
        }
    }
}

impl ValueType for Set {
    const KIND: Kind = Kind::Set;

    fn of(v: &Value) -> Option<&Set> {
        match v {
            Value::Set(x) => Some(x),
            _ => None,
        }
    }

    fn of_mut(v: &mut Value) -> Option<&mut Set> {
        match v {
            Value::Set(x) => Some(x),
            _ => None,
        }
    }

    fn into_value(self) -> Value {
        Value::Set(Box::new(self))
    }

    fn is_emptied(&self) -> bool {
        self.is_empty()
    }
}

#[cfg(test)]
mod tests;
