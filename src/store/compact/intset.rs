//! The intset, Redis's encoding for small sets of integers: `width (u32 LE:
//! 2, 4 or 8 bytes)`, `count (u32 LE)`, then `count` little-endian integers of
//! that width in strictly ascending order. Redis widens the whole array when
//! a member needs it, so an intset written here from a set's members has the
//! width Redis gives a set built by adding those members.

use super::{le_uint, sign_extend, CompactError, Format};

/// Width and count.
const HEADER_SIZE: usize = 8;

fn corrupt(why: &'static str) -> CompactError {
    CompactError::Corrupt(Format::Intset, why)
}

/// A validated intset borrowed from a buffer.
#[derive(Debug, Clone, Copy)]
pub struct Intset<'a> {
    /// The integers, after the header.
    data: &'a [u8],
    width: usize,
}

impl<'a> Intset<'a> {
    /// Validates `buf` as Redis's deep `intsetValidateIntegrity` does: a known
    /// width, a count that fills the buffer exactly, not empty, strictly
    /// ascending (so no duplicates).
    pub fn parse(buf: &'a [u8]) -> Result<Self, CompactError> {
        if buf.len() < HEADER_SIZE {
            return Err(corrupt("shorter than a header"));
        }
        let width = match le_uint(&buf[..4]) {
            w @ (2 | 4 | 8) => w as usize,
            _ => return Err(corrupt("unknown width")),
        };
        let count = le_uint(&buf[4..8]);
        let data = &buf[HEADER_SIZE..];
        if count.checked_mul(width as u64) != Some(data.len() as u64) {
            return Err(corrupt("count does not fill the buffer"));
        }
        if count == 0 {
            return Err(corrupt("empty"));
        }
        let set = Intset { data, width };
        let mut members = set.iter();
        let mut previous = members.next();
        for member in members {
            if Some(member) <= previous {
                return Err(corrupt("members not strictly ascending"));
            }
            previous = Some(member);
        }
        Ok(set)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.data.len() / self.width
    }

    /// True when there are no members (never, once parsed; Redis refuses those).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Bytes per member: 2, 4 or 8.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The member at `index` in ascending order.
    pub fn get(&self, index: usize) -> Option<i64> {
        let start = index.checked_mul(self.width)?;
        let bytes = self.data.get(start..start + self.width)?;
        Some(sign_extend(le_uint(bytes), 8 * self.width as u32))
    }

    /// True when `v` is a member (binary search).
    pub fn contains(&self, v: i64) -> bool {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            match self.get(mid) {
                Some(m) if m < v => low = mid + 1,
                Some(m) if m > v => high = mid,
                Some(_) => return true,
                None => return false,
            }
        }
        false
    }

    /// The members in ascending order (also walks backwards).
    pub fn iter(&self) -> Iter<'a> {
        Iter {
            set: *self,
            front: 0,
            back: self.len(),
        }
    }
}

/// Iterator over a parsed intset's members.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    set: Intset<'a>,
    front: usize,
    back: usize,
}

impl Iterator for Iter<'_> {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        if self.front >= self.back {
            return None;
        }
        self.front += 1;
        self.set.get(self.front - 1)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back.saturating_sub(self.front);
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<i64> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        self.set.get(self.back)
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// The width Redis gives a member: the narrowest of 2, 4, 8 bytes holding it.
pub fn width_for(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

/// Encodes `members` (any order; duplicates dropped) as an intset of the
/// narrowest width holding them all. Redis never stores an empty one.
pub fn encode(members: &[i64]) -> Result<Vec<u8>, CompactError> {
    let mut sorted = members.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let width = sorted.iter().map(|&v| width_for(v)).max().unwrap_or(2);
    let count = u32::try_from(sorted.len()).map_err(|_| CompactError::TooLarge(Format::Intset))?;
    let mut out = Vec::with_capacity(HEADER_SIZE + width * sorted.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    for v in sorted {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    Ok(out)
}
