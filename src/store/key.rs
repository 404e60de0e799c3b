//! `Key`: key bytes stored inline when short (no allocation, no pointer chase on
//! lookup), on the heap otherwise.

use std::fmt;

/// Longest key kept inline.
pub const INLINE_MAX: usize = 22;

/// A stored key.
#[derive(Clone, PartialEq, Eq)]
pub enum Key {
    /// Up to `INLINE_MAX` bytes in place.
    Inline {
        /// Used length of `buf`.
        len: u8,
        /// The bytes.
        buf: [u8; INLINE_MAX],
    },
    /// Longer keys.
    Heap(Box<[u8]>),
}

impl Key {
    /// Copies `bytes` into a key.
    pub fn new(bytes: &[u8]) -> Key {
        if bytes.len() <= INLINE_MAX {
            let mut buf = [0u8; INLINE_MAX];
            buf[..bytes.len()].copy_from_slice(bytes);
            Key::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            Key::Heap(bytes.into())
        }
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, buf } => &buf[..*len as usize],
            Key::Heap(b) => b,
        }
    }

    /// Heap bytes owned beyond the key itself.
    pub fn heap_size(&self) -> usize {
        match self {
            Key::Inline { .. } => 0,
            Key::Heap(b) => b.len(),
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_heap_round_trip() {
        assert_eq!(std::mem::size_of::<Key>(), 24);
        for len in [0, 1, 16, INLINE_MAX, INLINE_MAX + 1, 300] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let k = Key::new(&bytes);
            assert_eq!(k.as_bytes(), &bytes[..]);
            assert_eq!(matches!(k, Key::Inline { .. }), len <= INLINE_MAX);
        }
    }
}
