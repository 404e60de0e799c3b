//! An in-memory RDB body for the types' unit tests: lengths as 8 bytes,
//! strings length-prefixed, doubles as their bits, so a type's payload
//! codec can be round-tripped without the RDB format of `persist`.

use super::{BadPayload, RdbSink, RdbSource, Str};

/// A written body and a read position into it.
#[derive(Default)]
pub struct MemRdb {
    /// What was written.
    pub out: Vec<u8>,
    /// Where the next read starts.
    pub pos: usize,
}

impl MemRdb {
    /// A body to read from the start.
    pub fn from_bytes(out: Vec<u8>) -> Self {
        MemRdb { out, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], BadPayload> {
        let b = self
            .out
            .get(self.pos..self.pos + n)
            .ok_or(BadPayload::Invalid("short"))?;
        self.pos += n;
        Ok(b)
    }

    fn u64(&mut self) -> Result<u64, BadPayload> {
        let mut le = [0u8; 8];
        le.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(le))
    }
}

impl RdbSink for MemRdb {
    fn length(&mut self, n: u64) {
        self.out.extend_from_slice(&n.to_le_bytes());
    }
    fn string(&mut self, s: &[u8]) {
        RdbSink::length(self, s.len() as u64);
        self.out.extend_from_slice(s);
    }
    fn int_string(&mut self, n: i64) {
        RdbSink::string(self, n.to_string().as_bytes());
    }
    fn binary_double(&mut self, f: f64) {
        self.out.extend_from_slice(&f.to_le_bytes());
    }
    fn raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }
}

impl RdbSource for MemRdb {
    type Error = BadPayload;
    fn length(&mut self) -> Result<u64, BadPayload> {
        self.u64()
    }
    fn string(&mut self) -> Result<Str, BadPayload> {
        let n = self.u64()? as usize;
        Ok(Str::raw(self.take(n)?.to_vec()))
    }
    fn binary_double(&mut self) -> Result<f64, BadPayload> {
        Ok(f64::from_bits(self.u64()?))
    }
    fn text_double(&mut self) -> Result<f64, BadPayload> {
        let n = self.take(1)?[0] as usize;
        let t = self.take(n)?;
        super::zset::score::parse(t).ok_or(BadPayload::Invalid("double"))
    }
    fn raw(&mut self, n: usize) -> Result<Vec<u8>, BadPayload> {
        Ok(self.take(n)?.to_vec())
    }
}
