//! RDB files as Redis 7.0 writes them (version 10): `REDIS0010`, AUX fields,
//! per database a SELECTDB and RESIZEDB opcode and its keys (optional expiry
//! in ms, type, key, value), EOF, and the CRC-64 of everything before it.
//! The reader also accepts what older and newer Redis versions write for the
//! types ringcache holds, and skips the opcodes it has no use for.

use std::io::Write;

use thiserror::Error;

use super::crc64;
use super::rdb::{self, RdbError, Reader};
use crate::store::types::BadPayload;
#[cfg(test)]
use crate::store::Entry;
use crate::store::{Value, ValueRef};

/// Opcodes before a key (Redis's `RDB_OPCODE_*`).
pub(crate) mod op {
    pub const FUNCTION2: u8 = 0xf5;
    pub const FUNCTION_PRE_GA: u8 = 0xf6;
    pub const MODULE_AUX: u8 = 0xf7;
    pub const IDLE: u8 = 0xf8;
    pub const FREQ: u8 = 0xf9;
    pub const AUX: u8 = 0xfa;
    pub const RESIZEDB: u8 = 0xfb;
    pub const EXPIRETIME_MS: u8 = 0xfc;
    pub const EXPIRETIME: u8 = 0xfd;
    pub const SELECTDB: u8 = 0xfe;
    pub const EOF: u8 = 0xff;
}

/// Newest RDB version read (Redis 7.2 writes 11; the records of the types we
/// hold did not change).
const READ_VERSION_MAX: u16 = 11;

/// An RDB file that cannot be loaded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SnapshotError {
    /// It does not start with `REDIS` and four digits.
    #[error("Wrong signature trying to load DB from file")]
    Signature,
    /// A version this server cannot read.
    #[error("Can't handle RDB format version {0}")]
    Version(u16),
    /// A record is malformed or cut short, at this byte offset.
    #[error("Short read or corrupt record at offset {offset}: {source}")]
    Record {
        /// Offset of the record that failed.
        offset: usize,
        /// What was wrong with it.
        source: RdbError,
    },
    /// The data has a kind ringcache cannot hold (other data types, modules,
    /// functions): loading it would lose data silently.
    #[error("Unsupported content at offset {offset}: {what}")]
    Unsupported {
        /// Offset of the record.
        offset: usize,
        /// What it is.
        what: String,
    },
    /// The checksum at the end does not match.
    #[error("Wrong RDB checksum expected: ({expected:x}) got: ({got:x})")]
    Checksum {
        /// Stored in the file.
        expected: u64,
        /// Computed over the file.
        got: u64,
    },
}

/// One key as loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// Its database.
    pub db: usize,
    /// The key.
    pub key: &'a [u8],
    /// Its value.
    pub value: Value,
    /// Unix ms of its expiry, 0 for none.
    pub expire_at: u64,
}

/// What a load found besides keys.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The RDB version of the file.
    pub version: u16,
    /// AUX fields, in file order.
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Bytes the RDB took, checksum included (an AOF continues after them).
    pub len: usize,
    /// Function libraries' codes, in file order.
    pub functions: Vec<Vec<u8>>,
}

impl Loaded {
    /// The value of AUX field `name`, if the file had one.
    pub fn aux_value(&self, name: &str) -> Option<&[u8]> {
        self.aux
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// AUX field `name` as an integer, if it is one.
    pub fn aux_int(&self, name: &str) -> Option<i64> {
        std::str::from_utf8(self.aux_value(name)?)
            .ok()?
            .parse()
            .ok()
    }

    /// The database the replication stream had selected (`repl-stream-db`),
    /// when it is one of `dbs`; else 0.
    pub fn stream_db(&self, dbs: usize) -> usize {
        self.aux_int("repl-stream-db")
            .and_then(|d| usize::try_from(d).ok())
            .filter(|&d| d < dbs)
            .unwrap_or(0)
    }
}

fn string_bytes(s: rdb::RdbString<'_>) -> Vec<u8> {
    match s {
        rdb::RdbString::Int(n) => n.to_string().into_bytes(),
        rdb::RdbString::Bytes(b) => b.into_owned(),
    }
}

/// Reads an RDB image from `buf`, calling `sink` for each key, and verifies the
/// checksum. `buf` may continue after the RDB (an AOF with an RDB preamble).
pub fn load(buf: &[u8], mut sink: impl FnMut(Record<'_>)) -> Result<Loaded, SnapshotError> {
    if buf.len() < 9 || &buf[..5] != b"REDIS" || !buf[5..9].iter().all(u8::is_ascii_digit) {
        return Err(SnapshotError::Signature);
    }
    let version: u16 = std::str::from_utf8(&buf[5..9])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or(SnapshotError::Signature)?;
    if !(1..=READ_VERSION_MAX).contains(&version) {
        return Err(SnapshotError::Version(version));
    }
    let mut r = Reader::new(buf);
    r.read_bytes(9)
        .map_err(|source| SnapshotError::Record { offset: 0, source })?;
    let mut out = Loaded {
        version,
        ..Loaded::default()
    };
    let (mut db, mut expire_at) = (0usize, 0u64);
    loop {
        let offset = r.position();
        let rec = |source| SnapshotError::Record { offset, source };
        let unsupported = |what: &str| SnapshotError::Unsupported {
            offset,
            what: what.to_string(),
        };
        let opcode = r.read_u8().map_err(rec)?;
        match opcode {
            op::EOF => break,
            op::AUX => {
                let k = string_bytes(r.read_string().map_err(rec)?);
                let v = string_bytes(r.read_string().map_err(rec)?);
                out.aux.push((k, v));
            }
            op::SELECTDB => {
                db = usize::try_from(r.read_len().map_err(rec)?)
                    .map_err(|_| rec(RdbError::BadLength))?;
            }
            op::RESIZEDB => {
                r.read_len().map_err(rec)?;
                r.read_len().map_err(rec)?;
            }
            op::EXPIRETIME_MS => {
                let b = r.read_bytes(8).map_err(rec)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                // Negative or zero would read as "no expiry": keep it in the past.
                expire_at = (i64::from_le_bytes(a)).max(1) as u64;
            }
            op::EXPIRETIME => {
                let b = r.read_bytes(4).map_err(rec)?;
                let secs = i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64;
                expire_at = (secs * 1000).max(1) as u64;
            }
            op::IDLE => {
                r.read_len().map_err(rec)?;
            }
            op::FREQ => {
                r.read_u8().map_err(rec)?;
            }
            op::MODULE_AUX => return Err(unsupported("module data")),
            op::FUNCTION2 => {
                let code = string_bytes(r.read_string().map_err(rec)?);
                out.functions.push(code);
            }
            op::FUNCTION_PRE_GA => return Err(unsupported("pre-release function libraries")),
            t => {
                // A key: its type was the opcode byte.
                let known = t <= rdb::types::LAST_CLASSIC
                    || (rdb::types::FIRST_COMPACT..=rdb::types::LAST_COMPACT).contains(&t);
                if !known {
                    return Err(rec(RdbError::UnknownType(t)));
                }
                let key = r.read_string().map_err(rec)?;
                let key: std::borrow::Cow<'_, [u8]> = match key {
                    rdb::RdbString::Int(n) => n.to_string().into_bytes().into(),
                    rdb::RdbString::Bytes(b) => b,
                };
                let value = match r.read_value(t) {
                    Ok(v) => v,
                    Err(RdbError::Payload(BadPayload::UnsupportedType(t))) => {
                        return Err(unsupported(&format!(
                        "a value of RDB type {t} (key '{}'): only strings and hashes exist in ringcache yet",
                        String::from_utf8_lossy(&key)
                    )))
                    }
                    Err(e) => return Err(rec(e)),
                };
                sink(Record {
                    db,
                    key: &key,
                    value,
                    expire_at,
                });
                expire_at = 0;
            }
        }
    }
    let crc_at = r.position();
    if version >= 5 {
        let stored = r.read_bytes(8).map_err(|source| SnapshotError::Record {
            offset: crc_at,
            source,
        })?;
        let mut a = [0u8; 8];
        a.copy_from_slice(stored);
        let expected = u64::from_le_bytes(a);
        // A file written with `rdbchecksum no` carries zero: nothing to check.
        if expected != 0 {
            let got = crc64::crc64(&buf[..crc_at]);
            if got != expected {
                return Err(SnapshotError::Checksum { expected, got });
            }
        }
    }
    out.len = r.position();
    Ok(out)
}

/// An AUX field value: Redis stores numbers as integer-encoded strings.
pub enum Aux<'a> {
    /// Text.
    Str(&'a str),
    /// A number.
    Int(i64),
}

/// Writes an RDB image to `W`, keeping the running checksum.
pub struct SnapshotWriter<W: Write> {
    w: W,
    buf: Vec<u8>,
    crc: u64,
    compress: bool,
    checksum: bool,
    written: u64,
}

const FLUSH_AT: usize = 64 * 1024;

impl<W: Write> SnapshotWriter<W> {
    /// Starts the file: signature and AUX fields.
    pub fn new(w: W, aux: &[(&str, Aux<'_>)], compress: bool) -> std::io::Result<Self> {
        let mut s = SnapshotWriter {
            w,
            buf: Vec::with_capacity(FLUSH_AT * 2),
            crc: 0,
            compress,
            checksum: true,
            written: 0,
        };
        s.buf
            .extend_from_slice(format!("REDIS{:04}", rdb::RDB_VERSION).as_bytes());
        for (k, v) in aux {
            s.buf.push(op::AUX);
            rdb::write_string(&mut s.buf, k.as_bytes(), false);
            match v {
                Aux::Str(t) => rdb::write_string(&mut s.buf, t.as_bytes(), false),
                Aux::Int(n) => rdb::write_int_string(&mut s.buf, *n),
            }
        }
        Ok(s)
    }

    /// A function library's code (written before the databases).
    pub fn function(&mut self, code: &[u8]) {
        self.buf.push(op::FUNCTION2);
        rdb::write_string(&mut self.buf, code, self.compress);
    }

    /// `rdbchecksum no`: the file ends with a zero checksum, which readers skip.
    pub fn without_checksum(mut self) -> Self {
        self.checksum = false;
        self
    }

    /// Starts database `db` with its key and expiry counts (sizing hints).
    pub fn select_db(&mut self, db: usize, keys: u64, expires: u64) -> std::io::Result<()> {
        self.buf.push(op::SELECTDB);
        rdb::write_len(&mut self.buf, db as u64);
        self.buf.push(op::RESIZEDB);
        rdb::write_len(&mut self.buf, keys);
        rdb::write_len(&mut self.buf, expires);
        Ok(())
    }

    /// One key, into the buffer only (no I/O: callers may hold a slot lock);
    /// `flush_if_full` writes.
    pub fn entry(&mut self, key: &[u8], value: ValueRef<'_>, expire_at: u64) {
        if expire_at != 0 {
            self.buf.push(op::EXPIRETIME_MS);
            self.buf
                .extend_from_slice(&(expire_at as i64).to_le_bytes());
        }
        self.buf.push(rdb::value_type(value));
        rdb::write_string(&mut self.buf, key, self.compress);
        rdb::write_value(&mut self.buf, value, self.compress);
    }

    /// Writes the buffer out once it holds enough.
    pub fn flush_if_full(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> std::io::Result<()> {
        if self.checksum {
            self.crc = crc64::update(self.crc, &self.buf);
        }
        self.w.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Bytes produced so far.
    pub fn len(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    /// True before anything was produced.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends the file (EOF and checksum) and returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.buf.push(op::EOF);
        self.flush_buf()?;
        self.w.write_all(&self.crc.to_le_bytes())?;
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(v: Value, expire_at: u64) -> Entry {
        Entry {
            value: v,
            expire_at,
            access: 0,
        }
    }

    fn image(entries: &[(usize, &[u8], Entry)]) -> Vec<u8> {
        let mut w = SnapshotWriter::new(
            Vec::new(),
            &[
                ("redis-ver", Aux::Str("7.0.15")),
                ("redis-bits", Aux::Int(64)),
            ],
            true,
        )
        .expect("writer");
        let mut db = usize::MAX;
        for (d, k, e) in entries {
            if *d != db {
                w.select_db(*d, 1, 0).expect("select");
                db = *d;
            }
            w.entry(k, e.value.as_ref(), e.expire_at);
        }
        w.finish().expect("finish")
    }

    /// (db, key, value, expire_at) per key.
    type Keys = Vec<(usize, Vec<u8>, Value, u64)>;

    fn read_all(buf: &[u8]) -> Result<(Loaded, Keys), SnapshotError> {
        let mut got = Vec::new();
        let l = load(buf, |r| {
            got.push((r.db, r.key.to_vec(), r.value, r.expire_at))
        })?;
        Ok((l, got))
    }

    #[test]
    fn round_trip_with_dbs_ttls_and_encodings() {
        let long = vec![b'z'; 3000];
        let img = image(&[
            (0, b"a", entry(Value::string(b"hello"), 0)),
            (0, b"12", entry(Value::int(-7), 1_900_000_000_000)),
            (3, b"long", entry(Value::string(&long), 0)),
        ]);
        assert!(img.starts_with(b"REDIS0010\xfa\x09redis-ver\x067.0.15\xfa\x0aredis-bits\xc0\x40"));
        let (l, got) = read_all(&img).expect("load");
        assert_eq!(l.version, 10);
        assert_eq!(l.len, img.len());
        assert_eq!(l.aux[1], (b"redis-bits".to_vec(), b"64".to_vec()));
        assert_eq!(
            got,
            vec![
                (0, b"a".to_vec(), Value::string(b"hello"), 0),
                (0, b"12".to_vec(), Value::int(-7), 1_900_000_000_000),
                (3, b"long".to_vec(), Value::string(&long), 0),
            ]
        );
    }

    /// `dump.rdb` of redis-server 7.0.15 after SET foo bar, SET n 12345,
    /// SET t x PXAT 1900000000000, SAVE: all 123 bytes.
    const REDIS_DUMP: &[u8] = b"REDIS0010\xfa\tredis-ver\x067.0.15\xfa\nredis-bits\xc0@\xfa\x05ctime\xc2\xd7E\x0fk\xfa\x08used-mem\xc2\x80U\x0e\x00\xfa\x08aof-base\xc0\x00\xfe\x00\xfb\x03\x01\x00\x01n\xc190\xfc\x008\xd3`\xba\x01\x00\x00\x00\x01t\x01x\x00\x03foo\x03bar\xff\x0f)\x18*\xdf2\x1f$";

    #[test]
    fn a_file_redis_wrote() {
        assert_eq!(REDIS_DUMP.len(), 123);
        let (l, got) = read_all(REDIS_DUMP).expect("load");
        assert_eq!(l.len, REDIS_DUMP.len());
        assert_eq!(l.aux.len(), 5);
        assert_eq!(
            got,
            vec![
                (0, b"n".to_vec(), Value::int(12345), 0),
                (0, b"t".to_vec(), Value::string(b"x"), 1_900_000_000_000),
                (0, b"foo".to_vec(), Value::string(b"bar"), 0),
            ]
        );
        // Our records are byte-identical to Redis's for the same keys.
        let mut w = SnapshotWriter::new(Vec::new(), &[], true).expect("writer");
        w.entry(b"n", Value::int(12345).as_ref(), 0);
        w.entry(b"t", Value::string(b"x").as_ref(), 1_900_000_000_000);
        w.entry(b"foo", Value::string(b"bar").as_ref(), 0);
        let ours = w.finish().expect("finish");
        let records = &ours[9..ours.len() - 9];
        assert!(REDIS_DUMP.windows(records.len()).any(|x| x == records));
    }

    #[test]
    fn corrupt_and_truncated_images_are_errors() {
        let img = image(&[
            (
                0,
                b"a",
                entry(Value::string(b"hello world, hello world"), 0),
            ),
            (1, b"b", entry(Value::int(5), 77)),
        ]);
        assert_eq!(
            read_all(b"REDIX0010\xff").unwrap_err(),
            SnapshotError::Signature
        );
        assert_eq!(
            read_all(b"REDIS0099\xff").unwrap_err(),
            SnapshotError::Version(99)
        );
        for cut in 0..img.len() {
            assert!(read_all(&img[..cut]).is_err(), "cut at {cut} loaded");
        }
        for i in 9..img.len() {
            let mut bad = img.clone();
            bad[i] ^= 0x55;
            // A flipped byte is either a malformed record or a checksum error.
            assert!(read_all(&bad).is_err(), "flip at {i} loaded");
        }
        let mut unsupported = b"REDIS0010\xfe\x00\x07\x01k".to_vec();
        unsupported.extend_from_slice(b"\x01\x01v\xff");
        assert!(matches!(
            read_all(&unsupported),
            Err(SnapshotError::Unsupported { .. })
        ));
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..3000 {
            let mut junk = b"REDIS0010".to_vec();
            junk.extend((0..rng.usize(..200)).map(|_| rng.u8(..)));
            let _ = read_all(&junk);
        }
    }

    #[test]
    fn zero_checksum_means_unchecked_and_trailing_bytes_are_left() {
        let mut img = image(&[(0, b"a", entry(Value::string(b"v"), 0))]);
        let n = img.len();
        img[n - 8..].copy_from_slice(&[0; 8]);
        img.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let (l, got) = read_all(&img).expect("load");
        assert_eq!(l.len, n);
        assert_eq!(got.len(), 1);
        let mut w = SnapshotWriter::new(Vec::new(), &[], false)
            .expect("writer")
            .without_checksum();
        w.entry(b"a", Value::string(b"v").as_ref(), 0);
        let unchecked = w.finish().expect("finish");
        assert_eq!(&unchecked[unchecked.len() - 8..], &[0; 8]);
        assert_eq!(read_all(&unchecked).expect("load").1.len(), 1);
    }
}
