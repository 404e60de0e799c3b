//! What Redis 7.0 would allocate for a value (`MEMORY USAGE` reports Redis's
//! figure, so tools that budget by it keep working): its object header, sds
//! headers and jemalloc's size classes.

/// Redis's object header (`robj`).
pub const ROBJ: usize = 16;

/// The jemalloc size class an allocation of `n` bytes lands in.
pub fn jemalloc_size(n: usize) -> usize {
    match n {
        0..=8 => 8,
        9..=128 => n.div_ceil(16) * 16,
        _ => {
            // Four classes per doubling above 128 bytes: (p/2, p] in steps of p/8.
            let step = n.next_power_of_two() / 8;
            n.div_ceil(step) * step
        }
    }
}

/// Bytes of an sds header for a string of `len` bytes (`type5` only for keys).
pub fn sds_header(len: usize, allow_type5: bool) -> usize {
    match len {
        0..=31 if allow_type5 => 1,
        0..=255 => 3,
        256..=65535 => 5,
        _ => 9,
    }
}
