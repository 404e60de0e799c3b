//! Reply encoding straight into a connection's output buffer, for RESP2 and RESP3.
//!
//! Handlers describe replies by type (`map_len`, `null`, `double`, …); the writer
//! picks the wire form for the connection's protocol, so no handler branches on it.

use bytes::{BufMut, BytesMut};

/// Protocol version negotiated by `HELLO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, the default.
    #[default]
    Resp2,
    /// RESP3.
    Resp3,
}

/// A typed writer over an output buffer.
#[derive(Debug, Default)]
pub struct Reply {
    /// Encoded replies waiting to be flushed.
    pub buf: BytesMut,
    /// Wire protocol of the connection.
    pub proto: Protocol,
    /// `buf` up to here holds pushes (pub/sub confirmations and messages),
    /// which CLIENT REPLY OFF/SKIP does not discard, as in Redis.
    pub pushed_to: usize,
}

impl Reply {
    /// An empty writer for the given protocol.
    pub fn new(proto: Protocol) -> Self {
        Reply {
            buf: BytesMut::with_capacity(16 * 1024),
            proto,
            pushed_to: 0,
        }
    }

    /// Marks everything written so far as pushes.
    pub fn keep_pushed(&mut self) {
        self.pushed_to = self.buf.len();
    }

    /// True when the connection speaks RESP3.
    pub fn resp3(&self) -> bool {
        self.proto == Protocol::Resp3
    }

    fn header(&mut self, prefix: u8, n: i64) {
        self.buf.put_u8(prefix);
        let mut b = itoa::Buffer::new();
        self.buf.put_slice(b.format(n).as_bytes());
        self.buf.put_slice(b"\r\n");
    }

    /// `+OK`.
    pub fn ok(&mut self) {
        self.buf.put_slice(b"+OK\r\n");
    }

    /// A simple string (`+…`); must not contain CR or LF.
    pub fn simple(&mut self, s: &str) {
        self.buf.put_u8(b'+');
        self.buf.put_slice(s.as_bytes());
        self.buf.put_slice(b"\r\n");
    }

    /// An error line; `msg` starts with its code (`ERR …`, `WRONGTYPE …`).
    /// Newlines are replaced, as Redis does, so the reply stays one line.
    pub fn error(&mut self, msg: &str) {
        self.buf.put_u8(b'-');
        for &c in msg.as_bytes() {
            self.buf
                .put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
        }
        self.buf.put_slice(b"\r\n");
    }

    /// An integer.
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    /// A bulk string.
    pub fn bulk(&mut self, s: &[u8]) {
        self.header(b'$', s.len() as i64);
        self.buf.put_slice(s);
        self.buf.put_slice(b"\r\n");
    }

    /// An integer rendered as a bulk string (GET of an integer-encoded value).
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        let s = b.format(n);
        self.bulk(s.as_bytes());
    }

    /// The null bulk string (`$-1` / `_`).
    pub fn null(&mut self) {
        if self.resp3() {
            self.buf.put_slice(b"_\r\n");
        } else {
            self.buf.put_slice(b"$-1\r\n");
        }
    }

    /// The null array (`*-1` / `_`).
    pub fn null_array(&mut self) {
        if self.resp3() {
            self.buf.put_slice(b"_\r\n");
        } else {
            self.buf.put_slice(b"*-1\r\n");
        }
    }

    /// An array header; `n` elements follow.
    pub fn array_len(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A set header (`~` in RESP3, an array in RESP2).
    pub fn set_len(&mut self, n: usize) {
        let p = if self.resp3() { b'~' } else { b'*' };
        self.header(p, n as i64);
    }

    /// A map header with `n` pairs (`%` in RESP3, a flat 2n array in RESP2).
    pub fn map_len(&mut self, n: usize) {
        if self.resp3() {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }

    /// A push header (RESP3 `>`; an array in RESP2).
    pub fn push_len(&mut self, n: usize) {
        let p = if self.resp3() { b'>' } else { b'*' };
        self.header(p, n as i64);
    }

    /// A double (`,` in RESP3, a bulk string in RESP2), formatted as Redis does.
    pub fn double(&mut self, v: f64) {
        let s = format_double(v);
        if self.resp3() {
            self.buf.put_u8(b',');
            self.buf.put_slice(s.as_bytes());
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }

    /// A boolean (`#t`/`#f` in RESP3, `:1`/`:0` in RESP2).
    pub fn boolean(&mut self, v: bool) {
        if self.resp3() {
            self.buf.put_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(v as i64);
        }
    }

    /// Verbatim text (`=` with a format in RESP3, a bulk string in RESP2).
    pub fn verbatim(&mut self, text: &[u8]) {
        if self.resp3() {
            self.header(b'=', text.len() as i64 + 4);
            self.buf.put_slice(b"txt:");
            self.buf.put_slice(text);
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// Bytes already encoded as a RESP reply.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.put_slice(bytes);
    }
}

/// Formats a double the way Redis's `%.17g` does, with `inf`/`-inf`/`nan`.
pub fn format_double(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 && v.is_sign_negative() {
        return "-0".into();
    }
    if v == v.trunc() && v.abs() < 1e17 {
        // Integral values print without a fraction, as %.17g does.
        return format!("{}", v as i64);
    }
    let s = format!("{v:.16e}");
    g17(&s, v)
}

/// Reproduces C's `%.17g` from Rust's exponent form.
fn g17(sci: &str, v: f64) -> String {
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..17).contains(&exp) {
        let decimals = (16 - exp).max(0) as usize;
        let s = format!("{v:.decimals$}");
        trim_fraction(&s)
    } else {
        let m = trim_fraction(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    }
}

fn trim_fraction(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// Formats an INCRBYFLOAT result: plain decimal notation, no exponent, the
/// shortest digits that round-trip (Redis prints its long double with `%.17Lf`
/// and trims zeros, which gives the same text for values an f64 holds exactly).
pub fn format_long_double(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_protocol::resp2::decode::decode as decode2;
    use redis_protocol::resp2::types::OwnedFrame as F2;
    use redis_protocol::resp3::decode::complete::decode as decode3;
    use redis_protocol::resp3::types::OwnedFrame as F3;

    #[test]
    fn resp2_frames_decode() {
        let mut r = Reply::new(Protocol::Resp2);
        r.array_len(5);
        r.ok();
        r.int(-42);
        r.bulk(b"hello");
        r.null();
        r.double(1.5);
        let (frame, used) = decode2(&r.buf).unwrap().unwrap();
        assert_eq!(used, r.buf.len());
        assert_eq!(
            frame,
            F2::Array(vec![
                F2::SimpleString(b"OK".to_vec()),
                F2::Integer(-42),
                F2::BulkString(b"hello".to_vec()),
                F2::Null,
                F2::BulkString(b"1.5".to_vec()),
            ])
        );
    }

    #[test]
    fn resp3_types_decode() {
        let mut r = Reply::new(Protocol::Resp3);
        r.map_len(1);
        r.bulk(b"k");
        r.boolean(true);
        let (frame, _) = decode3(&r.buf).unwrap().unwrap();
        match frame {
            F3::Map { data, .. } => assert_eq!(data.len(), 1),
            other => panic!("not a map: {other:?}"),
        }
        let mut r = Reply::new(Protocol::Resp3);
        r.null();
        r.double(2.5);
        assert_eq!(&r.buf[..], b"_\r\n,2.5\r\n");
    }

    #[test]
    fn resp2_map_is_flat_array() {
        let mut r = Reply::new(Protocol::Resp2);
        r.map_len(2);
        assert_eq!(&r.buf[..], b"*4\r\n");
    }

    #[test]
    fn double_formatting_matches_redis() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1.5e300), "1.5000000000000001e+300");
        assert_eq!(format_double(123456.789), "123456.789");
        assert_eq!(format_double(1e17), "1e+17");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_long_double(10.5), "10.5");
        assert_eq!(format_long_double(3.0e3), "3000");
    }

    #[test]
    fn errors_stay_on_one_line() {
        let mut r = Reply::new(Protocol::Resp2);
        r.error("ERR bad\r\nthing");
        assert_eq!(&r.buf[..], b"-ERR bad  thing\r\n");
    }
}
