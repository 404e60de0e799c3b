//! Persistence formats. `rdb` encodes and decodes values in Redis's RDB format
//! (with `lzf` string compression and the `crc64` checksum); `rdb_file` reads and
//! writes whole RDB files; `save` holds saving's state and errors; `aof` is
//! the append-only file's writer and command reader. They run nothing: the tasks
//! that save, rewrite and load are in `services/`. This module also frames one
//! value as a DUMP payload, byte-compatible with Redis so payloads move between
//! redis-server and ringcache in both directions.
//!
//! A payload is `type byte, value body, RDB version (u16 LE), CRC-64 (u64 LE)`,
//! the checksum covering everything before it.

pub mod aof;
#[cfg(test)]
mod compact_tests;
pub mod crc64;
pub mod lzf;
pub mod rdb;
pub mod rdb_file;
pub mod save;

use std::sync::Arc;

use parking_lot::Mutex;
use thiserror::Error;

use crate::store::{Value, ValueRef};

/// Persistence state of a server: RDB saving, the AOF (when on), rewrites.
pub struct Persistence {
    /// RDB saving.
    pub rdb: save::RdbState,
    /// AOF rewrites.
    pub rewrite: aof::RewriteState,
    /// The append-only file, while `appendonly` is on.
    aof: Mutex<Option<Arc<aof::Aof>>>,
    /// `aof` is set: lets every flushed batch skip the lock when the AOF is off.
    aof_on: std::sync::atomic::AtomicBool,
    /// False while AOF writes fail (the AOF shares it).
    pub aof_ok: Arc<std::sync::atomic::AtomicBool>,
    /// SHUTDOWN already saved (or was told NOSAVE): none at exit.
    pub skip_shutdown_save: std::sync::atomic::AtomicBool,
}

impl Default for Persistence {
    fn default() -> Self {
        Persistence {
            rdb: Default::default(),
            rewrite: Default::default(),
            aof: Mutex::new(None),
            aof_on: std::sync::atomic::AtomicBool::new(false),
            aof_ok: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            skip_shutdown_save: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl Persistence {
    /// True when writes might have to be refused with MISCONF (two loads; the
    /// exact rule is `save::disk_error`).
    pub fn may_refuse_writes(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        !self.rdb.last_bgsave_ok.load(Relaxed) || !self.aof_ok.load(Relaxed)
    }

    /// True while a snapshot (save or AOF rewrite) runs.
    pub fn snapshot_busy(&self) -> bool {
        self.rdb
            .in_progress
            .load(std::sync::atomic::Ordering::Acquire)
            || self
                .rewrite
                .in_progress
                .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The running AOF, if any.
    pub fn aof(&self) -> Option<Arc<aof::Aof>> {
        if !self.aof_on.load(std::sync::atomic::Ordering::Acquire) {
            return None;
        }
        self.aof.lock().clone()
    }

    /// Installs (or, with `None`, removes) the running AOF; returns the old one.
    pub fn set_aof(&self, aof: Option<Arc<aof::Aof>>) -> Option<Arc<aof::Aof>> {
        let mut g = self.aof.lock();
        self.aof_on
            .store(aof.is_some(), std::sync::atomic::Ordering::Release);
        std::mem::replace(&mut *g, aof)
    }

    /// The MISCONF line while the AOF cannot be written.
    pub fn aof_error(&self) -> Option<String> {
        self.aof().and_then(|a| a.error())
    }
}

/// RDB version (2 bytes) + CRC64 (8 bytes) closing every payload.
pub const FOOTER_LEN: usize = 10;

/// Redis compresses strings in payloads unless `rdbcompression no`.
const COMPRESS: bool = true;

/// Why a payload was refused by RESTORE.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PayloadError {
    /// Too short, from a newer RDB version, or the checksum does not match.
    #[error("DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    /// The checksum matches but the value cannot be decoded.
    #[error("Bad data format")]
    BadData(#[from] rdb::RdbError),
}

/// Serializes `value` as a DUMP payload.
pub fn dump<'a>(value: impl Into<ValueRef<'a>>) -> Vec<u8> {
    let value = value.into();
    let mut out = Vec::with_capacity(value.heap_size() + 24);
    out.push(rdb::value_type(value));
    rdb::write_value(&mut out, value, COMPRESS);
    out.extend_from_slice(&rdb::RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A payload with no body: RDB version + checksum (FUNCTION DUMP of an empty library).
pub fn empty_payload() -> Vec<u8> {
    function_payload(&[])
}

/// FUNCTION DUMP: each library's code after the RDB function opcode, then
/// the version and checksum.
pub fn function_payload(codes: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(rdb_file::op::FUNCTION2);
        rdb::write_string(&mut out, code, COMPRESS);
    }
    out.extend_from_slice(&rdb::RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Why FUNCTION RESTORE refused a payload (Redis's words).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FunctionPayloadError {
    /// The footer is wrong.
    #[error("DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    /// A record is not a function library.
    #[error("given type is not a function")]
    NotAFunction,
    /// A record is cut short.
    #[error("can not read data type")]
    Unreadable,
}

/// The library codes of a FUNCTION DUMP payload.
pub fn read_function_payload(payload: &[u8]) -> Result<Vec<Vec<u8>>, FunctionPayloadError> {
    verify(payload).map_err(|_| FunctionPayloadError::VersionOrChecksum)?;
    let body = &payload[..payload.len() - FOOTER_LEN];
    let mut r = rdb::Reader::new(body);
    let mut codes = Vec::new();
    while r.remaining() > 0 {
        match r.read_u8() {
            Ok(rdb_file::op::FUNCTION2) => {}
            Ok(_) => return Err(FunctionPayloadError::NotAFunction),
            Err(_) => return Err(FunctionPayloadError::Unreadable),
        }
        let code = r
            .read_string()
            .map_err(|_| FunctionPayloadError::Unreadable)?;
        codes.push(match code {
            rdb::RdbString::Int(n) => n.to_string().into_bytes(),
            rdb::RdbString::Bytes(b) => b.into_owned(),
        });
    }
    Ok(codes)
}

/// Checks the footer of a payload and returns the RDB version it claims.
pub fn verify(payload: &[u8]) -> Result<u16, PayloadError> {
    let body_len = payload
        .len()
        .checked_sub(FOOTER_LEN)
        .ok_or(PayloadError::VersionOrChecksum)?;
    let footer = &payload[body_len..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > rdb::RDB_VERSION {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut stored = [0u8; 8];
    stored.copy_from_slice(&footer[2..]);
    if crc64::crc64(&payload[..body_len + 2]) != u64::from_le_bytes(stored) {
        return Err(PayloadError::VersionOrChecksum);
    }
    Ok(version)
}

/// Decodes a DUMP payload (any RDB version up to ours) into a value.
pub fn undump(payload: &[u8]) -> Result<Value, PayloadError> {
    verify(payload)?;
    // Redis reads the value from the whole buffer, footer included, so a body
    // that runs short borrows footer bytes instead of failing; do the same so
    // both servers accept exactly the same payloads.
    let mut r = rdb::Reader::new(payload);
    let t = r.read_type()?;
    Ok(r.read_value(t)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Payloads produced by redis-server 7.0.15 `DUMP`.
    const HELLO: &[u8] = b"\x00\x05hello\n\x00cr\xdfve4 \n";
    const TWELVE: &[u8] = b"\x00\xc0\x0c\n\x00<*\xf8Q\\\x04\xbc\xd5";
    const BIG: &[u8] = b"\x00\r1234567890123\n\x00^\x0c\x12\xae\x04)\xbc\x1e";
    const RUN_OF_A: &[u8] = b"\x00\xc3\t@d\x01aa\xe0W\x00\x01aa\n\x00\xe8\xa3\xb5\x07\xb0m\xf2q";

    #[test]
    fn reads_redis_payloads() {
        assert_eq!(undump(HELLO), Ok(Value::string(b"hello")));
        assert_eq!(undump(TWELVE), Ok(Value::int(12)));
        assert_eq!(undump(BIG), Ok(Value::int(1_234_567_890_123)));
        assert_eq!(undump(RUN_OF_A), Ok(Value::string(&[b'a'; 100])));
    }

    #[test]
    fn writes_redis_payloads() {
        assert_eq!(dump(&Value::string(b"hello")), HELLO);
        assert_eq!(dump(&Value::int(12)), TWELVE);
        assert_eq!(dump(&Value::int(1_234_567_890_123)), BIG);
        let v = Value::string(&[b'a'; 100]);
        assert_eq!(undump(&dump(&v)), Ok(v));
    }

    #[test]
    fn short_bodies_read_into_the_footer_like_redis() {
        // redis-server 7.0.15 answers OK to this payload and stores "abc" plus
        // the first six footer bytes.
        let p = b"\x00\tabc\n\x00\xab{\xaaP\xf5\x1c\xa6\xc2";
        assert_eq!(undump(p), Ok(Value::string(b"abc\n\x00\xab{\xaaP")));
    }

    #[test]
    fn rejects_bad_footers_and_bodies() {
        assert_eq!(undump(b"short"), Err(PayloadError::VersionOrChecksum));
        let mut flipped = HELLO.to_vec();
        flipped[3] ^= 1;
        assert_eq!(undump(&flipped), Err(PayloadError::VersionOrChecksum));
        let mut newer = HELLO[..HELLO.len() - 10].to_vec();
        newer.extend_from_slice(&11u16.to_le_bytes());
        let crc = crc64::crc64(&newer);
        newer.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(undump(&newer), Err(PayloadError::VersionOrChecksum));
        for body in [&b"\x00\x3fabc"[..], b"\x08", b"\x00\xc3\x01\x05\x00", b""] {
            let mut p = body.to_vec();
            p.extend_from_slice(&9u16.to_le_bytes());
            let crc = crc64::crc64(&p);
            p.extend_from_slice(&crc.to_le_bytes());
            assert!(
                matches!(undump(&p), Err(PayloadError::BadData(_))),
                "{body:?}"
            );
        }
    }
}
