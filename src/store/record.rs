//! `Record`: one key's whole entry in one allocation, so a lookup costs one
//! cache miss past the table slot and a small string key costs one allocator
//! block instead of three (record, key, value).
//!
//! Layout (offsets in bytes; the block is 8-aligned):
//!
//! ```text
//! 0   access: u32           eviction metadata (see `access`)
//! 4   meta: u32             bit 0 TTL present, bit 1 inline string, bit 2 long key,
//!                           bits 3..18 key length (short key), bits 18..32 inline length
//! 8   key length: u64       only for a long key (> SHORT_KEY_MAX bytes)
//! ..  expire_at: u64        only when the key has a TTL
//! ..  Value (24 bytes)      unless the value is an inline string
//! ..  key bytes
//! ..  string bytes          only for an inline string
//! ```
//!
//! A 16-byte key with a 32-byte string is 8 + 16 + 32 = 56 bytes (jemalloc's
//! 64-byte class), with a TTL 64: Redis spends a dict entry, an object, an sds
//! key and an sds value on the same key.
//!
//! Inline strings are what SET stores (`Str::Bytes`); a command that changes a
//! string in place (APPEND, SETRANGE, SETBIT, PFADD) asks for `&mut Value`,
//! which moves the bytes into a `Value` first.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::fmt;
use std::ptr::NonNull;

use super::entry::Entry;
use super::types::redis_size::jemalloc_size;
use super::types::string::canonical_int;
use super::types::{Str, StrRef, Value, ValueRef};

const TTL: u32 = 1;
const INLINE: u32 = 2;
const LONG: u32 = 4;
const KEY_SHIFT: u32 = 3;
const KEY_MASK: u32 = (1 << 15) - 1;
const VAL_SHIFT: u32 = 18;

/// Longest key whose length fits the header.
pub const SHORT_KEY_MAX: usize = KEY_MASK as usize;
/// Longest string stored inline (longer ones keep their own block).
pub const INLINE_MAX: usize = (1 << (32 - VAL_SHIFT)) - 1;

const VALUE_SIZE: usize = std::mem::size_of::<Value>().next_multiple_of(8);
const _: () = assert!(std::mem::align_of::<Value>() <= 8);

/// What a record holds besides its key.
enum Body<'a> {
    Inline(&'a [u8]),
    Boxed(Value),
}

/// Offsets of a record's parts, from its header.
#[derive(Clone, Copy)]
struct Shape {
    meta: u32,
    key_len: usize,
}

impl Shape {
    fn ttl_off(self) -> usize {
        if self.meta & LONG != 0 {
            16
        } else {
            8
        }
    }

    fn value_off(self) -> usize {
        self.ttl_off() + if self.meta & TTL != 0 { 8 } else { 0 }
    }

    fn key_off(self) -> usize {
        self.value_off()
            + if self.meta & INLINE != 0 {
                0
            } else {
                VALUE_SIZE
            }
    }

    fn inline_len(self) -> usize {
        (self.meta >> VAL_SHIFT) as usize
    }

    fn size(self) -> usize {
        let tail = if self.meta & INLINE != 0 {
            self.inline_len()
        } else {
            0
        };
        self.key_off() + self.key_len + tail
    }

    fn layout(self) -> Layout {
        // Sizes are bounded by what a bulk string can carry: far from isize::MAX.
        Layout::from_size_align(self.size(), 8).expect("a record's size fits a layout")
    }
}

/// One key's entry: key, value, TTL and access metadata in one block.
pub struct Record(NonNull<u8>);

// SAFETY: a record owns its block and the `Value` in it exclusively, as a
// `Box<(Key, Value)>` would; `Value` is Send and Sync.
unsafe impl Send for Record {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for Record {}

impl Record {
    /// A record for `key` holding `value`; a short string is stored inline.
    pub fn new(key: &[u8], value: Value, expire_at: u64, access: u32) -> Record {
        match value {
            Value::Str(Str::Bytes(b)) if fits_inline(key, &b) => {
                Record::build(key, expire_at, access, Body::Inline(&b))
            }
            v => Record::build(key, expire_at, access, Body::Boxed(v)),
        }
    }

    /// A record for `key` holding the string `bytes` (SET): integer-encoded
    /// when canonical, else inline when short, without an intermediate value.
    pub fn string(key: &[u8], bytes: &[u8], expire_at: u64, access: u32) -> Record {
        if fits_inline(key, bytes) && canonical_int(bytes).is_none() {
            Record::build(key, expire_at, access, Body::Inline(bytes))
        } else {
            Record::build(key, expire_at, access, Body::Boxed(Value::string(bytes)))
        }
    }

    /// The record of an owned entry.
    pub fn from_entry(key: &[u8], e: Entry) -> Record {
        Record::new(key, e.value, e.expire_at, e.access)
    }

    fn build(key: &[u8], expire_at: u64, access: u32, body: Body<'_>) -> Record {
        let mut meta = if expire_at != 0 { TTL } else { 0 };
        if key.len() <= SHORT_KEY_MAX {
            meta |= (key.len() as u32) << KEY_SHIFT;
        } else {
            meta |= LONG;
        }
        if let Body::Inline(b) = body {
            meta |= INLINE | (b.len() as u32) << VAL_SHIFT;
        }
        let shape = Shape {
            meta,
            key_len: key.len(),
        };
        let layout = shape.layout();
        // SAFETY: the layout is non-zero (at least the 8-byte header).
        let p = unsafe { alloc(layout) };
        let Some(p) = NonNull::new(p) else {
            handle_alloc_error(layout)
        };
        // SAFETY: every write below lands inside the block `shape` sized,
        // at offsets aligned for its type (the header and the 8-byte words
        // sit at multiples of 8 from an 8-aligned start).
        unsafe {
            let b = p.as_ptr();
            (b as *mut u32).write(access);
            (b.add(4) as *mut u32).write(meta);
            if meta & LONG != 0 {
                (b.add(8) as *mut u64).write(key.len() as u64);
            }
            if meta & TTL != 0 {
                (b.add(shape.ttl_off()) as *mut u64).write(expire_at);
            }
            let key_at = b.add(shape.key_off());
            std::ptr::copy_nonoverlapping(key.as_ptr(), key_at, key.len());
            match body {
                Body::Inline(s) => {
                    std::ptr::copy_nonoverlapping(s.as_ptr(), key_at.add(key.len()), s.len())
                }
                Body::Boxed(v) => (b.add(shape.value_off()) as *mut Value).write(v),
            }
        }
        Record(p)
    }

    fn shape(&self) -> Shape {
        let meta = self.meta();
        let key_len = if meta & LONG != 0 {
            // SAFETY: a long-key record stores its key length at offset 8.
            unsafe { (self.0.as_ptr().add(8) as *const u64).read() as usize }
        } else {
            ((meta >> KEY_SHIFT) & KEY_MASK) as usize
        };
        Shape { meta, key_len }
    }

    fn meta(&self) -> u32 {
        // SAFETY: every record starts with its 8-byte header.
        unsafe { (self.0.as_ptr().add(4) as *const u32).read() }
    }

    /// The address of the block (prefetching).
    pub fn as_ptr(&self) -> *const u8 {
        self.0.as_ptr()
    }

    /// The key's bytes.
    pub fn key(&self) -> &[u8] {
        let s = self.shape();
        // SAFETY: the key's bytes sit at `key_off` for `key_len` bytes.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(s.key_off()), s.key_len) }
    }

    /// True when the record's key is `key` (the table's probe).
    #[inline]
    pub fn key_is(&self, key: &[u8]) -> bool {
        self.key() == key
    }

    /// Eviction metadata: LRU clock, LFU time+counter, or FIFO sequence.
    pub fn access(&self) -> u32 {
        // SAFETY: the header's first word.
        unsafe { (self.0.as_ptr() as *const u32).read() }
    }

    /// The eviction metadata, for updating in place.
    pub fn access_mut(&mut self) -> &mut u32 {
        // SAFETY: the header's first word, borrowed through `&mut self`.
        unsafe { &mut *(self.0.as_ptr() as *mut u32) }
    }

    /// Absolute expiry in unix milliseconds; 0 means no TTL.
    #[inline]
    pub fn expire_at(&self) -> u64 {
        let meta = self.meta();
        if meta & TTL == 0 {
            return 0;
        }
        let at = if meta & LONG != 0 { 16 } else { 8 };
        // SAFETY: a record with a TTL stores it at `ttl_off` (16 after a
        // long key's length word, else 8).
        unsafe { (self.0.as_ptr().add(at) as *const u64).read() }
    }

    /// True when the record has a TTL.
    pub fn is_volatile(&self) -> bool {
        self.meta() & TTL != 0
    }

    /// True when the record's TTL has passed at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        let at = self.expire_at();
        at != 0 && at <= now_ms
    }

    /// The string bytes of an inline record; `None` when the record holds
    /// a `Value`.
    fn inline_bytes(&self) -> Option<&[u8]> {
        let s = self.shape();
        if s.meta & INLINE == 0 {
            return None;
        }
        // SAFETY: an inline string's bytes follow the key, `inline_len` of
        // them, borrowed for as long as `self`.
        Some(unsafe {
            let at = self.0.as_ptr().add(s.key_off() + s.key_len);
            std::slice::from_raw_parts(at, s.inline_len())
        })
    }

    /// The value.
    pub fn value(&self) -> ValueRef<'_> {
        if let Some(b) = self.inline_bytes() {
            return ValueRef::Str(StrRef::Bytes(b));
        }
        let off = self.shape().value_off();
        // SAFETY: the record is not inline: a live `Value` sits at
        // `value_off`, borrowed for as long as `self`.
        ValueRef::of(unsafe { &*(self.0.as_ptr().add(off) as *const Value) })
    }

    /// The value, for changing in place (an inline string moves into a
    /// `Value` first).
    pub fn value_mut(&mut self) -> &mut Value {
        if self.meta() & INLINE != 0 {
            let value = self.value().to_value();
            let boxed = Record::build(
                self.key(),
                self.expire_at(),
                self.access(),
                Body::Boxed(value),
            );
            *self = boxed;
        }
        let off = self.shape().value_off();
        // SAFETY: the record is not inline: a live `Value` sits at `value_off`,
        // borrowed mutably through `&mut self`.
        unsafe { &mut *(self.0.as_ptr().add(off) as *mut Value) }
    }

    /// Replaces the value, keeping key, TTL and access metadata; returns the
    /// record as it was.
    pub fn replace_value(&mut self, value: Value) -> Record {
        let new = Record::new(self.key(), value, self.expire_at(), self.access());
        std::mem::replace(self, new)
    }

    /// Changes the TTL (0 removes it); the block is rebuilt only when the
    /// record gains or loses its TTL word.
    pub fn set_expire_at(&mut self, expire_at: u64) {
        let s = self.shape();
        if (s.meta & TTL != 0) == (expire_at != 0) {
            if expire_at != 0 {
                // SAFETY: the record has its TTL word at `ttl_off`.
                unsafe { (self.0.as_ptr().add(s.ttl_off()) as *mut u64).write(expire_at) };
            }
            return;
        }
        let body = match self.inline_bytes() {
            Some(b) => Body::Inline(b),
            // SAFETY: the value is moved out bitwise into the new record; the
            // old block is then freed without dropping it (`forget_value`).
            None => {
                Body::Boxed(unsafe { (self.0.as_ptr().add(s.value_off()) as *const Value).read() })
            }
        };
        let new = Record::build(self.key(), expire_at, self.access(), body);
        let old = std::mem::replace(self, new);
        if s.meta & INLINE == 0 {
            old.forget_value();
        }
    }

    /// Frees the block without dropping its `Value` (moved out already).
    fn forget_value(self) {
        let layout = self.shape().layout();
        let p = self.0.as_ptr();
        std::mem::forget(self);
        // SAFETY: `p` was allocated with `layout`; the record is forgotten, so
        // nothing frees it twice.
        unsafe { dealloc(p, layout) };
    }

    /// The owned entry (value, TTL, access), consuming the record.
    pub fn into_entry(self) -> Entry {
        let s = self.shape();
        let (expire_at, access) = (self.expire_at(), self.access());
        if s.meta & INLINE != 0 {
            return Entry {
                value: self.value().to_value(),
                expire_at,
                access,
            };
        }
        // SAFETY: moved out bitwise; the block is freed without dropping it.
        let value = unsafe { (self.0.as_ptr().add(s.value_off()) as *const Value).read() };
        self.forget_value();
        Entry {
            value,
            expire_at,
            access,
        }
    }

    /// A copy of the entry.
    pub fn to_entry(&self) -> Entry {
        Entry {
            value: self.value().to_value(),
            expire_at: self.expire_at(),
            access: self.access(),
        }
    }

    /// Bytes the key holds: its block as the allocator rounds it, and what
    /// its value owns outside it.
    pub fn footprint(&self) -> usize {
        let outside = if self.meta() & INLINE != 0 {
            0
        } else {
            self.value().heap_size()
        };
        jemalloc_size(self.block_size()) + outside
    }

    /// Stores the string `bytes` with `expire_at` in place when the record's
    /// block already has the right shape (an overwrite with a value of the
    /// same length, inline or in its own block, or an integer over an
    /// integer): no allocation. False when a new record is needed.
    pub fn assign_string(&mut self, bytes: &[u8], expire_at: u64) -> bool {
        let s = self.shape();
        if (s.meta & TTL != 0) != (expire_at != 0) {
            return false;
        }
        if s.meta & INLINE != 0 {
            if s.inline_len() != bytes.len() || canonical_int(bytes).is_some() {
                return false;
            }
            // SAFETY: an inline record's string bytes follow its key, exactly
            // `inline_len` of them, borrowed mutably through `&mut self`.
            unsafe {
                let at = self.0.as_ptr().add(s.key_off() + s.key_len);
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), at, bytes.len());
            }
        } else {
            let n = canonical_int(bytes);
            match (self.value_mut(), n) {
                (Value::Str(s @ Str::Int(_)), Some(n)) => *s = Str::Int(n),
                (Value::Str(Str::Bytes(b)), None) if b.len() == bytes.len() => {
                    b.copy_from_slice(bytes)
                }
                _ => return false,
            }
        }
        self.set_expire_at(expire_at);
        true
    }

    /// Bytes the record's block takes (before the allocator rounds it up).
    pub fn block_size(&self) -> usize {
        self.shape().size()
    }
}

/// True when a string is best kept inside its key's block: it fits the
/// header, and the one block does not land in a size class wasting more
/// than a record with a separate value block would (a 512-byte value inline
/// with its key takes jemalloc's 640 class; apart, 48 + 512).
fn fits_inline(key: &[u8], bytes: &[u8]) -> bool {
    if key.len() > SHORT_KEY_MAX || bytes.len() > INLINE_MAX {
        return false;
    }
    let inline = jemalloc_size(8 + key.len() + bytes.len());
    inline <= jemalloc_size(8 + VALUE_SIZE + key.len()) + jemalloc_size(bytes.len())
}

impl Drop for Record {
    fn drop(&mut self) {
        let s = self.shape();
        let p = self.0.as_ptr();
        // SAFETY: a non-inline record holds a live `Value` at `value_off`;
        // the block was allocated with `s.layout()` and is freed once here.
        unsafe {
            if s.meta & INLINE == 0 {
                std::ptr::drop_in_place(p.add(s.value_off()) as *mut Value);
            }
            dealloc(p, s.layout());
        }
    }
}

impl Clone for Record {
    fn clone(&self) -> Record {
        let body = match self.inline_bytes() {
            Some(b) => Body::Inline(b),
            None => Body::Boxed(self.value().to_value()),
        };
        Record::build(self.key(), self.expire_at(), self.access(), body)
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &self.value())
            .field("expire_at", &self.expire_at())
            .field("access", &self.access())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::types::Hash;

    fn check(r: &Record, key: &[u8], v: &Value, expire_at: u64, access: u32) {
        assert_eq!(r.key(), key);
        assert_eq!(&r.value().to_value(), v);
        assert_eq!(r.expire_at(), expire_at);
        assert_eq!(r.access(), access);
    }

    #[test]
    fn every_shape_round_trips() {
        let long_key = vec![b'k'; SHORT_KEY_MAX + 1];
        let long_val = vec![b'v'; INLINE_MAX + 1];
        let keys: [&[u8]; 3] = [b"", b"0123456789abcdef", &long_key];
        let values = [
            Value::string(b"x".repeat(32).as_slice()),
            Value::string(b"12"),
            Value::raw(b"raw".to_vec()),
            Value::string(&long_val),
            Value::Hash(Hash::default()),
        ];
        for key in keys {
            for v in &values {
                for ttl in [0, 1234] {
                    let mut r = Record::new(key, v.clone(), ttl, 77);
                    check(&r, key, v, ttl, 77);
                    check(&r.clone(), key, v, ttl, 77);
                    r.set_expire_at(if ttl == 0 { 99 } else { 0 });
                    check(&r, key, v, if ttl == 0 { 99 } else { 0 }, 77);
                    r.set_expire_at(5);
                    *r.access_mut() = 3;
                    check(&r, key, v, 5, 3);
                    let e = r.into_entry();
                    assert_eq!((&e.value, e.expire_at, e.access), (v, 5, 3));
                }
            }
        }
    }

    #[test]
    fn a_string_goes_inline_only_where_it_saves_memory() {
        let inline = |v: usize| {
            let r = Record::string(&[b'k'; 16], &vec![b'v'; v], 0, 0);
            matches!(r.value(), ValueRef::Str(StrRef::Bytes(_))) && r.meta() & INLINE != 0
        };
        assert!(inline(32) && inline(100) && inline(1000));
        // 8 + 16 + 512 = 536 bytes would take the 640 class; 48 + 512 apart.
        assert!(!inline(512));
        let r = Record::string(&[b'k'; 16], &[b'v'; 512], 0, 0);
        assert_eq!(r.value().as_str(), Ok(StrRef::Bytes(&[b'v'; 512][..])));
    }

    #[test]
    fn a_small_string_key_is_one_block_of_56_bytes() {
        let r = Record::string(&[b'k'; 16], &[b'v'; 32], 0, 0);
        assert_eq!(r.block_size(), 56);
        assert!(matches!(r.value(), ValueRef::Str(StrRef::Bytes(b)) if b.len() == 32));
        let with_ttl = Record::string(&[b'k'; 16], &[b'v'; 32], 10, 0);
        assert_eq!(with_ttl.block_size(), 64);
        // Integers keep their encoding (INCR changes them in place).
        let n = Record::string(b"n", b"42", 0, 0);
        assert_eq!(n.value().to_value(), Value::int(42));
    }

    #[test]
    fn assigning_in_place_keeps_the_block_only_for_the_same_shape() {
        for len in [32, 512] {
            let mut r = Record::string(b"k", &vec![b'a'; len], 0, 9);
            let block = r.as_ptr();
            assert!(r.assign_string(&vec![b'b'; len], 0));
            check(&r, b"k", &Value::string(&vec![b'b'; len]), 0, 9);
            assert_eq!(r.as_ptr(), block);
            // A TTL word to add, another length, an integer: a new record.
            assert!(!r.assign_string(&vec![b'c'; len], 5));
            assert!(!r.assign_string(&vec![b'c'; len + 1], 0));
            assert!(!r.assign_string(b"17", 0));
            check(&r, b"k", &Value::string(&vec![b'b'; len]), 0, 9);
        }
        let mut n = Record::string(b"n", b"1", 7, 0);
        assert!(n.assign_string(b"-20", 8));
        check(&n, b"n", &Value::int(-20), 8, 0);
    }

    #[test]
    fn changing_an_inline_string_moves_it_into_a_value() {
        let mut r = Record::string(b"k", b"hello", 7, 1);
        match r.value_mut() {
            Value::Str(Str::Bytes(b)) => *b = b"world".to_vec().into_boxed_slice(),
            other => panic!("not a string: {other:?}"),
        }
        check(&r, b"k", &Value::string(b"world"), 7, 1);
        let old = r.replace_value(Value::int(3));
        check(&old, b"k", &Value::string(b"world"), 7, 1);
        check(&r, b"k", &Value::int(3), 7, 1);
    }
}
