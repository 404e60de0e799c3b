//! Resumable request parser: multibulk (`*N\r\n$L\r\n…`) and inline commands.
//!
//! The parser never copies argument bytes: it records `(start, end)` ranges into the
//! connection's read buffer. When a frame is incomplete it remembers how far it got,
//! so a large request arriving in many reads is scanned once, not once per read.

use thiserror::Error;

/// Longest header line (`*N` or `$L`) or inline command accepted without a newline.
const MAX_LINE: usize = 64 * 1024;
/// Largest multibulk count accepted (Redis uses INT_MAX).
pub const MAX_MULTIBULK: i64 = i32::MAX as i64;
/// Most arguments a client that has not authenticated may announce (Redis 7.0):
/// with `requirepass` set, a stranger cannot make the server hold big requests.
pub const PRE_AUTH_MAX_MULTIBULK: i64 = 10;
/// Longest bulk a client that has not authenticated may announce (Redis 7.0).
pub const PRE_AUTH_MAX_BULK: i64 = 16 * 1024;

/// A protocol violation: the connection replies `-ERR Protocol error: …` and closes.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    #[error("Protocol error: expected '$', got '{0}'")]
    ExpectedDollar(char),
    #[error("Protocol error: too big mbulk count string")]
    TooBigMbulkCount,
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("Protocol error: expected '\\r\\n' after bulk argument")]
    MissingCrlf,
}

/// Limits the parser enforces; `max_bulk` is `proto-max-bulk-len`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest single bulk argument.
    pub max_bulk: u64,
}

/// Outcome of one parse attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command occupies `buf[..consumed]`; its arguments are in `args()`.
    Command { consumed: usize },
    /// A frame that carries no command (`*0`, `*-1`, an empty inline line).
    Empty { consumed: usize },
    /// More bytes are needed.
    Incomplete,
}

/// Parser state for one connection. Ranges index into the buffer passed to `parse`.
#[derive(Debug, Default)]
pub struct RequestParser {
    args: Vec<(usize, usize)>,
    inline: Vec<u8>,
    /// Multibulk count of the frame in progress (0 = not started).
    expected: usize,
    /// Offset into the buffer where parsing resumes.
    pos: usize,
    /// Buffer length the pending bulk needs, so the reader can grow once.
    need: usize,
    /// Where an inline scan for '\n' resumes.
    inline_scan: usize,
    is_inline: bool,
    /// The client has not authenticated: Redis's pre-auth limits apply.
    pre_auth: bool,
}

impl RequestParser {
    /// A fresh parser.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies (or lifts) the limits for a client that has not authenticated
    /// yet: at most `PRE_AUTH_MAX_MULTIBULK` arguments of `PRE_AUTH_MAX_BULK`
    /// bytes. Set before each `parse`, as authenticating changes it.
    pub fn set_pre_auth(&mut self, on: bool) {
        self.pre_auth = on;
    }

    /// Argument ranges of the last complete command (valid until the next `parse`).
    pub fn args(&self) -> &[(usize, usize)] {
        &self.args
    }

    /// Bytes for inline commands are unescaped into an owned buffer; ranges then
    /// point there instead of into the read buffer.
    pub fn inline_buffer(&self) -> Option<&[u8]> {
        if self.is_inline {
            Some(&self.inline)
        } else {
            None
        }
    }

    /// Try to parse one command from the start of `buf`. The caller drops
    /// `consumed` bytes after executing the command, and passes the same (grown)
    /// buffer again after `Incomplete`.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Parsed, ProtocolError> {
        if buf.is_empty() {
            return Ok(Parsed::Incomplete);
        }
        if self.expected == 0 && self.pos == 0 {
            self.args.clear();
            self.is_inline = buf[0] != b'*';
        }
        if self.is_inline {
            return self.parse_inline(buf);
        }
        if self.expected == 0 {
            let Some((line, next)) = read_line(buf, 0) else {
                if buf.len() > MAX_LINE {
                    return Err(ProtocolError::TooBigMbulkCount);
                }
                return Ok(Parsed::Incomplete);
            };
            let n = parse_int(&buf[1..line]).ok_or(ProtocolError::InvalidMultibulkLength)?;
            if n > MAX_MULTIBULK {
                return Err(ProtocolError::InvalidMultibulkLength);
            }
            if self.pre_auth && n > PRE_AUTH_MAX_MULTIBULK {
                return Err(ProtocolError::UnauthenticatedMultibulkLength);
            }
            if n <= 0 {
                self.reset();
                return Ok(Parsed::Empty { consumed: next });
            }
            self.expected = n as usize;
            self.pos = next;
        }
        while self.args.len() < self.expected {
            let start = self.pos;
            if start >= buf.len() {
                return Ok(Parsed::Incomplete);
            }
            if buf[start] != b'$' {
                return Err(ProtocolError::ExpectedDollar(buf[start] as char));
            }
            let Some((line, next)) = read_line(buf, start) else {
                if buf.len() - start > MAX_LINE {
                    return Err(ProtocolError::TooBigBulkCount);
                }
                return Ok(Parsed::Incomplete);
            };
            let len = parse_int(&buf[start + 1..line]).ok_or(ProtocolError::InvalidBulkLength)?;
            if len < 0 || len as u64 > limits.max_bulk {
                return Err(ProtocolError::InvalidBulkLength);
            }
            // Checked before `need` is set: the session reserves what a bulk
            // announces, and a stranger must not make it reserve much.
            if self.pre_auth && len > PRE_AUTH_MAX_BULK {
                return Err(ProtocolError::UnauthenticatedBulkLength);
            }
            let len = len as usize;
            let end = next + len;
            if buf.len() < end + 2 {
                self.need = end + 2;
                return Ok(Parsed::Incomplete);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtocolError::MissingCrlf);
            }
            self.args.push((next, end));
            self.pos = end + 2;
        }
        let consumed = self.pos;
        self.expected = 0;
        self.pos = 0;
        self.need = 0;
        Ok(Parsed::Command { consumed })
    }

    /// Total buffer length a pending bulk argument needs (0 when unknown), so the
    /// reader can grow the buffer once instead of doubling repeatedly.
    pub fn needed_len(&self) -> usize {
        self.need
    }

    /// Bytes its argument table and inline buffer hold (client memory).
    pub fn held_bytes(&self) -> usize {
        self.args.capacity() * std::mem::size_of::<(usize, usize)>() + self.inline.capacity()
    }

    /// Between commands: drops argument tables a very long command grew, so a
    /// connection does not keep them for the rest of its life.
    pub fn release_large(&mut self) {
        const KEEP_ARGS: usize = 1024;
        if self.expected == 0 && self.pos == 0 {
            if self.args.capacity() > KEEP_ARGS {
                self.args = Vec::new();
            }
            if self.inline.capacity() > KEEP_ARGS * 16 {
                self.inline = Vec::new();
            }
        }
    }

    fn reset(&mut self) {
        self.expected = 0;
        self.pos = 0;
        self.need = 0;
        self.inline_scan = 0;
        self.args.clear();
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let from = self.inline_scan;
        let Some(nl) = buf[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| p + from)
        else {
            if buf.len() > MAX_LINE {
                return Err(ProtocolError::TooBigInline);
            }
            self.inline_scan = buf.len();
            return Ok(Parsed::Incomplete);
        };
        self.inline_scan = 0;
        let mut line = &buf[..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        self.inline.clear();
        self.args.clear();
        split_inline(line, &mut self.inline, &mut self.args)?;
        if self.args.is_empty() {
            return Ok(Parsed::Empty { consumed: nl + 1 });
        }
        Ok(Parsed::Command { consumed: nl + 1 })
    }
}

/// Finds the `\r\n` ending the line that starts at `from`; returns (index of '\r',
/// index after '\n').
/// The second argument (the key of most keyed commands) of each complete
/// multibulk command at the start of `buf`, up to `max` commands, into
/// `keys`; returns how many bytes those commands take. For prefetching only:
/// it stops at anything it does not plainly understand (an inline command, a
/// partial frame, a bad header), which the real parse then judges.
pub fn peek_keys<'b>(buf: &'b [u8], max: usize, keys: &mut impl Extend<&'b [u8]>) -> usize {
    let mut at = 0;
    let mut commands = 0;
    while commands < max && buf.get(at) == Some(&b'*') {
        let Some((line, next)) = read_line(buf, at) else {
            break;
        };
        let Some(n) = parse_int(&buf[at + 1..line]).filter(|&n| (1..=1024).contains(&n)) else {
            break;
        };
        let mut pos = next;
        let mut key = None;
        for i in 0..n {
            if buf.get(pos) != Some(&b'$') {
                return at;
            }
            let Some((line, next)) = read_line(buf, pos) else {
                return at;
            };
            let Some(len) = parse_int(&buf[pos + 1..line]).filter(|&l| l >= 0) else {
                return at;
            };
            let end = next.saturating_add(len as usize);
            if buf.len().saturating_sub(2) < end {
                return at;
            }
            if i == 1 {
                key = Some(&buf[next..end]);
            }
            pos = end + 2;
        }
        keys.extend(key);
        at = pos;
        commands += 1;
    }
    at
}

fn read_line(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let limit = buf.len().min(from + MAX_LINE + 2);
    let cr = buf[from..limit].iter().position(|&b| b == b'\r')? + from;
    if cr + 1 >= buf.len() {
        return None;
    }
    Some((cr, cr + 2))
}

/// Strict decimal parse as Redis's `string2ll`: optional '-', digits, no spaces.
fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((d - b'0') as i64)?;
    }
    Some(if neg { -v } else { v })
}

/// Splits an inline command line like Redis's `sdssplitargs`: spaces separate
/// words, "double quotes" take escapes (\n, \xHH, …), 'single quotes' take \'.
fn split_inline(
    line: &[u8],
    out: &mut Vec<u8>,
    ranges: &mut Vec<(usize, usize)>,
) -> Result<(), ProtocolError> {
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Ok(());
        }
        let start = out.len();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return Err(ProtocolError::UnbalancedQuotes);
                }
                let c = line[i];
                if c == b'\\' && i + 3 < n && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex(line[i + 2]), hex(line[i + 3])) {
                        out.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < n {
                    let e = match line[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    };
                    out.push(e);
                    i += 2;
                    continue;
                }
                if c == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    in_dq = false;
                    i += 1;
                    break;
                }
                out.push(c);
                i += 1;
            } else if in_sq {
                if i >= n {
                    return Err(ProtocolError::UnbalancedQuotes);
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    out.push(b'\'');
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    in_sq = false;
                    i += 1;
                    break;
                }
                out.push(c);
                i += 1;
            } else {
                if i >= n || line[i].is_ascii_whitespace() {
                    break;
                }
                match line[i] {
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => out.push(c),
                }
                i += 1;
            }
        }
        let _ = (in_dq, in_sq);
        ranges.push((start, out.len()));
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_bulk: 512 * 1024 * 1024,
    };

    fn words(p: &RequestParser, buf: &[u8]) -> Vec<Vec<u8>> {
        let src = p.inline_buffer().unwrap_or(buf);
        p.args().iter().map(|&(a, b)| src[a..b].to_vec()).collect()
    }

    #[test]
    fn multibulk_whole_and_split() {
        let frame = b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n";
        let mut p = RequestParser::new();
        for cut in 1..frame.len() {
            assert_eq!(
                p.parse(&frame[..cut], &L),
                Ok(Parsed::Incomplete),
                "cut {cut}"
            );
        }
        assert_eq!(
            p.parse(frame, &L),
            Ok(Parsed::Command {
                consumed: frame.len()
            })
        );
        assert_eq!(words(&p, frame), vec![b"GET".to_vec(), b"foo".to_vec()]);
    }

    #[test]
    fn pipelined_frames_parse_one_at_a_time() {
        let buf = b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n";
        let mut p = RequestParser::new();
        assert_eq!(p.parse(buf, &L), Ok(Parsed::Command { consumed: 14 }));
        assert_eq!(
            p.parse(&buf[14..], &L),
            Ok(Parsed::Command { consumed: 14 })
        );
    }

    #[test]
    fn inline_with_quotes() {
        let buf = b"set \"a b\" 'c\\'d' \"\\x41\\n\"\r\n";
        let mut p = RequestParser::new();
        assert_eq!(
            p.parse(buf, &L),
            Ok(Parsed::Command {
                consumed: buf.len()
            })
        );
        assert_eq!(
            words(&p, buf),
            vec![
                b"set".to_vec(),
                b"a b".to_vec(),
                b"c'd".to_vec(),
                b"A\n".to_vec()
            ]
        );
        let mut p = RequestParser::new();
        assert_eq!(
            p.parse(b"set \"abc\r\n", &L),
            Err(ProtocolError::UnbalancedQuotes)
        );
    }

    #[test]
    fn empty_frames() {
        let mut p = RequestParser::new();
        assert_eq!(p.parse(b"*0\r\n", &L), Ok(Parsed::Empty { consumed: 4 }));
        assert_eq!(p.parse(b"*-1\r\n", &L), Ok(Parsed::Empty { consumed: 5 }));
        assert_eq!(p.parse(b"\r\n", &L), Ok(Parsed::Empty { consumed: 2 }));
    }

    #[test]
    fn malformed_lengths() {
        let cases: &[(&[u8], ProtocolError)] = &[
            (b"*abc\r\n", ProtocolError::InvalidMultibulkLength),
            (b"*3000000000\r\n", ProtocolError::InvalidMultibulkLength),
            (b"*1\r\n$-5\r\n", ProtocolError::InvalidBulkLength),
            (b"*1\r\n$x\r\n", ProtocolError::InvalidBulkLength),
            (b"*1\r\n$2147483648\r\n", ProtocolError::InvalidBulkLength),
            (b"*1\r\n*1\r\n", ProtocolError::ExpectedDollar('*')),
            (b"*1\r\n$3\r\nabcXY", ProtocolError::MissingCrlf),
        ];
        for (input, err) in cases {
            let mut p = RequestParser::new();
            assert_eq!(
                p.parse(input, &L).as_ref(),
                Err(err),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn pre_auth_limits() {
        let unauth = |input: &[u8]| {
            let mut p = RequestParser::new();
            p.set_pre_auth(true);
            let r = p.parse(input, &L);
            (r, p.needed_len())
        };
        assert_eq!(
            unauth(b"*11\r\n").0,
            Err(ProtocolError::UnauthenticatedMultibulkLength)
        );
        assert_eq!(
            unauth(b"*1\r\n$16385\r\n").0,
            Err(ProtocolError::UnauthenticatedBulkLength)
        );
        assert_eq!(
            unauth(b"*1\r\n$536870000\r\n").0,
            Err(ProtocolError::UnauthenticatedBulkLength)
        );
        // Redis reports a length over proto-max-bulk-len as invalid first.
        assert_eq!(
            unauth(b"*1\r\n$600000000\r\n").0,
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            unauth(b"*10\r\n$16384\r\n"),
            (Ok(Parsed::Incomplete), 5 + 8 + 16384 + 2)
        );
        let mut p = RequestParser::new();
        p.set_pre_auth(true);
        assert_eq!(
            p.parse(b"*1\r\n$4\r\nAUTH\r\n", &L),
            Ok(Parsed::Command { consumed: 14 })
        );
        p.set_pre_auth(false);
        assert_eq!(p.parse(b"*11\r\n$16385\r\n", &L), Ok(Parsed::Incomplete));
        assert_eq!(p.needed_len(), 5 + 8 + 16385 + 2);
    }

    #[test]
    fn long_lines_are_rejected() {
        let mut p = RequestParser::new();
        let inline = vec![b'a'; MAX_LINE + 10];
        assert_eq!(p.parse(&inline, &L), Err(ProtocolError::TooBigInline));
        let mut p = RequestParser::new();
        let mut mb = b"*".to_vec();
        mb.extend(std::iter::repeat_n(b'1', MAX_LINE + 10));
        assert_eq!(p.parse(&mb, &L), Err(ProtocolError::TooBigMbulkCount));
    }

    #[test]
    fn resumes_without_rescanning_completed_args() {
        let mut p = RequestParser::new();
        let mut buf = b"*2\r\n$3\r\nSET\r\n$5\r\nab".to_vec();
        assert_eq!(p.parse(&buf, &L), Ok(Parsed::Incomplete));
        assert_eq!(p.args().len(), 1);
        buf.extend_from_slice(b"cde\r\n");
        assert_eq!(
            p.parse(&buf, &L),
            Ok(Parsed::Command {
                consumed: buf.len()
            })
        );
        assert_eq!(words(&p, &buf)[1], b"abcde".to_vec());
    }
}

#[cfg(test)]
mod peek_tests {
    #[test]
    fn keys_of_complete_commands_only() {
        let buf = b"*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$2\r\nk2\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$2\r\nk3";
        let mut keys: Vec<&[u8]> = Vec::new();
        let used = super::peek_keys(buf, 16, &mut keys);
        assert_eq!(keys, [&b"k1"[..], b"k2"]);
        assert_eq!(
            &buf[used..],
            b"*2\r\n$3\r\nGET\r\n$2\r\nk3",
            "the partial one is left"
        );
        keys.clear();
        assert_eq!(super::peek_keys(buf, 1, &mut keys), 21);
        assert_eq!(keys, [&b"k1"[..]]);
        keys.clear();
        assert_eq!(
            super::peek_keys(b"GET k1\r\n", 16, &mut keys),
            0,
            "inline: left alone"
        );
        assert_eq!(
            super::peek_keys(b"*2\r\n$-5\r\n", 16, &mut keys),
            0,
            "bad header"
        );
        assert!(keys.is_empty());
    }
}
