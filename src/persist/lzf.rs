//! LZF, the byte-oriented LZ77 variant Redis uses to compress strings in RDB
//! files and DUMP payloads. The stream is a sequence of chunks, each starting
//! with a control byte:
//!
//! - `000LLLLL` then `L + 1` literal bytes (1..=32);
//! - `LLLooooo oooooooo`, `LLL` in 1..=6: copy `LLL + 2` bytes from `o + 1`
//!   bytes back in the output;
//! - `111ooooo LLLLLLLL oooooooo`: copy `L + 9` bytes from `o + 1` bytes back.
//!
//! Back references may overlap the bytes they produce (a run of one byte is a
//! literal plus a copy at distance 1), so copies go byte by byte.

use thiserror::Error;

/// Longest literal run one control byte can announce.
const MAX_LITERAL: usize = 32;
/// Longest back reference (`255 + 9`).
const MAX_MATCH: usize = 264;
/// Farthest back a reference can reach (13-bit offset + 1).
const MAX_DISTANCE: usize = 8192;
/// Shortest match worth a back reference.
const MIN_MATCH: usize = 3;
const HASH_BITS: u32 = 13;

/// Why a compressed stream could not be expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum LzfError {
    /// The stream ended inside a chunk.
    #[error("truncated LZF stream")]
    Truncated,
    /// A back reference points before the start of the output.
    #[error("LZF back reference out of range")]
    BadReference,
    /// The output is longer or shorter than announced.
    #[error("LZF output length mismatch")]
    LengthMismatch,
}

/// Expands `input`, which must produce exactly `expected_len` bytes.
pub fn decompress(input: &[u8], expected_len: usize) -> Result<Vec<u8>, LzfError> {
    // A chunk of n input bytes yields at most 264 output bytes per 2 bytes read,
    // so a garbage length cannot make us reserve more than the input could fill.
    let cap = expected_len.min(input.len().saturating_mul(MAX_MATCH / 2 + 1));
    let mut out = Vec::with_capacity(cap);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            let lit = input.get(i..i + n).ok_or(LzfError::Truncated)?;
            if out.len() + n > expected_len {
                return Err(LzfError::LengthMismatch);
            }
            out.extend_from_slice(lit);
            i += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i).ok_or(LzfError::Truncated)? as usize;
                i += 1;
            }
            let len = len + 2;
            let low = *input.get(i).ok_or(LzfError::Truncated)? as usize;
            i += 1;
            let distance = ((ctrl & 0x1f) << 8 | low) + 1;
            let start = out
                .len()
                .checked_sub(distance)
                .ok_or(LzfError::BadReference)?;
            if out.len() + len > expected_len {
                return Err(LzfError::LengthMismatch);
            }
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    if out.len() == expected_len {
        Ok(out)
    } else {
        Err(LzfError::LengthMismatch)
    }
}

fn hash3(b: &[u8]) -> usize {
    let v = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

fn flush_literals(out: &mut Vec<u8>, lit: &[u8]) {
    for chunk in lit.chunks(MAX_LITERAL) {
        out.push((chunk.len() - 1) as u8);
        out.extend_from_slice(chunk);
    }
}

fn push_reference(out: &mut Vec<u8>, len: usize, distance: usize) {
    let off = distance - 1;
    let l = len - 2;
    if l < 7 {
        out.push(((l << 5) | (off >> 8)) as u8);
    } else {
        out.push(((7 << 5) | (off >> 8)) as u8);
        out.push((l - 7) as u8);
    }
    out.push((off & 0xff) as u8);
}

/// Compresses `input` greedily; `None` when the result would exceed `max_out`
/// bytes (the caller then stores the data uncompressed).
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let n = input.len();
    let mut out = Vec::with_capacity(max_out.min(n + n / 32 + 1));
    // Positions are stored +1 so 0 means "empty".
    let mut table = vec![0u32; 1 << HASH_BITS];
    let mut lit_start = 0;
    let mut i = 0;
    while i + MIN_MATCH <= n {
        let h = hash3(&input[i..]);
        let cand = table[h] as usize;
        table[h] = (i + 1) as u32;
        let len = match cand.checked_sub(1) {
            Some(c) if i - c <= MAX_DISTANCE => match_len(input, c, i),
            _ => 0,
        };
        if len < MIN_MATCH {
            i += 1;
            continue;
        }
        flush_literals(&mut out, &input[lit_start..i]);
        push_reference(&mut out, len, i - (cand - 1));
        for p in i + 1..(i + len).min(n.saturating_sub(MIN_MATCH - 1)) {
            table[hash3(&input[p..])] = (p + 1) as u32;
        }
        i += len;
        lit_start = i;
        if out.len() > max_out {
            return None;
        }
    }
    flush_literals(&mut out, &input[lit_start..]);
    (out.len() <= max_out).then_some(out)
}

fn match_len(input: &[u8], cand: usize, at: usize) -> usize {
    let max = (input.len() - at).min(MAX_MATCH);
    (0..max)
        .take_while(|&k| input[cand + k] == input[at + k])
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) {
        let c = compress(data, data.len() + data.len() / 16 + 64).expect("fits");
        assert_eq!(decompress(&c, data.len()).as_deref(), Ok(data));
    }

    #[test]
    fn round_trips() {
        round_trip(b"");
        round_trip(b"a");
        round_trip(&[b'a'; 100]);
        round_trip(&[b'z'; 10_000]);
        round_trip(b"hello world hello world hello world hello world");
        let mut noise = Vec::new();
        let mut x: u32 = 12345;
        for _ in 0..50_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            noise.push(b"abcdefgh"[(x >> 16) as usize % 8]);
        }
        round_trip(&noise);
        let far: Vec<u8> = (0..30_000u32).map(|i| (i % 9001) as u8).collect();
        round_trip(&far);
    }

    #[test]
    fn compresses_runs() {
        let c = compress(&[b'a'; 100], 96).expect("compressible");
        assert!(c.len() < 10, "{} bytes", c.len());
    }

    #[test]
    fn gives_up_on_incompressible() {
        let data: Vec<u8> = (0..=255u8).collect();
        assert_eq!(compress(&data, 252), None);
    }

    #[test]
    fn decodes_redis_output() {
        // Bytes from redis-server 7.0.15 `DUMP` of a 100-byte run of 'a'.
        let redis = b"\x01aa\xe0W\x00\x01aa";
        assert_eq!(decompress(redis, 100), Ok(vec![b'a'; 100]));
        let redis = b"\x0chello world h\xe0\x17\x0b\x01ld";
        assert_eq!(
            decompress(redis, 47).as_deref(),
            Ok(&b"hello world hello world hello world hello world"[..])
        );
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(decompress(b"\x05ab", 6), Err(LzfError::Truncated));
        assert_eq!(decompress(b"\x20\x00", 3), Err(LzfError::BadReference));
        assert_eq!(
            decompress(b"\x00a\x20\x00", 3),
            Err(LzfError::LengthMismatch)
        );
        assert_eq!(decompress(b"\x00a", 5), Err(LzfError::LengthMismatch));
        assert_eq!(decompress(b"\xe0", 5), Err(LzfError::Truncated));
        assert_eq!(decompress(b"", usize::MAX), Err(LzfError::LengthMismatch));
    }
}
