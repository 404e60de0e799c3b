//! CRC-64 with the Jones polynomial, reflected, init 0, no final xor: the
//! checksum Redis puts at the end of DUMP payloads and RDB files.

/// The Jones polynomial in reflected (LSB-first) form.
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

const fn make_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static TABLE: [u64; 256] = make_table();

/// Continues a checksum `crc` over `data` (start with 0), so a file can be
/// checksummed in pieces as it is written.
pub fn update(crc: u64, data: &[u8]) -> u64 {
    data.iter().fold(crc, |c, &b| {
        TABLE[((c ^ b as u64) & 0xff) as usize] ^ (c >> 8)
    })
}

/// The checksum of `data`.
pub fn crc64(data: &[u8]) -> u64 {
    update(0, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        assert_eq!(crc64(b""), 0);
    }

    #[test]
    fn incremental_equals_whole() {
        let data = b"hello world, this is a longer input";
        let (a, b) = data.split_at(11);
        assert_eq!(update(update(0, a), b), crc64(data));
    }
}
