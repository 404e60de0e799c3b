//! `PackBox`: an owned listpack behind one thin pointer.
//!
//! A listpack's first four bytes hold its own total length, so the pointer
//! needs no length beside it. That lets a small hash sit inside `Value` (24
//! bytes) with no allocation besides its listpack: 16 bytes less per small
//! hash than a boxed `Hash` holding a fat `Box<[u8]>`.

use std::ops::Deref;
use std::ptr::NonNull;

/// An owned listpack whose length is read from its header.
pub struct PackBox(NonNull<u8>);

// SAFETY: a PackBox owns its bytes exclusively, as a Box<[u8]> does.
unsafe impl Send for PackBox {}
// SAFETY: shared access only reads the bytes.
unsafe impl Sync for PackBox {}

/// Shortest buffer a PackBox holds: a listpack's header and end byte.
const MIN: usize = 7;

impl PackBox {
    /// Takes `bytes`, a listpack. Its header's total length is set to the
    /// buffer's length (the listpack writer already wrote exactly that): the
    /// length the pointer is read back with is then true whatever the bytes.
    pub fn new(mut bytes: Vec<u8>) -> PackBox {
        if bytes.len() < MIN || u32::try_from(bytes.len()).is_err() {
            // Not a listpack: an empty one (header, no entries, end byte).
            bytes = vec![MIN as u8, 0, 0, 0, 0, 0, 0xFF];
        }
        let n = bytes.len() as u32;
        bytes[..4].copy_from_slice(&n.to_le_bytes());
        let raw = Box::into_raw(bytes.into_boxed_slice()).cast::<u8>();
        // SAFETY: Box::into_raw never returns null.
        PackBox(unsafe { NonNull::new_unchecked(raw) })
    }

    /// The listpack's length in bytes (its header's total).
    fn byte_len(&self) -> usize {
        let mut n = [0u8; 4];
        // SAFETY: the allocation is at least MIN bytes long.
        unsafe { std::ptr::copy_nonoverlapping(self.0.as_ptr(), n.as_mut_ptr(), 4) };
        u32::from_le_bytes(n) as usize
    }
}

impl Deref for PackBox {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `new` made the header's total equal to the allocation's
        // length, and only `new` writes the bytes.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr(), self.byte_len()) }
    }
}

impl Drop for PackBox {
    fn drop(&mut self) {
        let len = self.byte_len();
        // SAFETY: the pointer and length are those of the Box<[u8]> `new`
        // leaked; it is rebuilt once, here.
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.0.as_ptr(),
                len,
            )))
        };
    }
}

impl Clone for PackBox {
    fn clone(&self) -> Self {
        PackBox::new(self.to_vec())
    }
}

impl PartialEq for PackBox {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for PackBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackBox({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_bytes_and_is_one_pointer() {
        assert_eq!(std::mem::size_of::<PackBox>(), 8);
        assert_eq!(std::mem::size_of::<Option<PackBox>>(), 8);
        let lp = vec![0, 0, 0, 0, 1, 0, 0x81, b'a', 2, 0xFF];
        let b = PackBox::new(lp.clone());
        assert_eq!(&b[4..], &lp[4..]);
        assert_eq!(b.len(), 10);
        assert_eq!(&b[..4], &10u32.to_le_bytes());
        let c = b.clone();
        drop(b);
        assert_eq!(c.len(), 10);
        let short = PackBox::new(vec![1, 2]);
        assert_eq!(&*short, &[7, 0, 0, 0, 0, 0, 0xFF]);
    }
}
