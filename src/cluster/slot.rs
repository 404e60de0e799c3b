//! Hash slots: CRC16-XMODEM of the key (or of its `{hash tag}`) modulo 16384.

/// Number of hash slots in the ring.
pub const SLOTS: usize = 16384;

/// The slot a key belongs to, honouring `{hash tags}`: if the key has a `{` and a
/// later `}` with at least one byte between them, only those bytes are hashed.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16::State::<crc16::XMODEM>::calculate(hashed) & (SLOTS as u16 - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_check_value() {
        assert_eq!(
            crc16::State::<crc16::XMODEM>::calculate(b"123456789"),
            0x31C3
        );
    }

    #[test]
    fn contract_vectors() {
        let cases: &[(&[u8], u16)] = &[
            (b"", 0),
            (b"{}", 15257),
            (b"foo{}{bar}", 8363),
            (b"foo{{bar}}zap", 4015),
            (b"foo{bar}{zap}", 5061),
            (b"foo{bar", 15278),
            (b"123456789", 12739),
        ];
        for (k, s) in cases {
            assert_eq!(key_slot(k), *s, "{}", String::from_utf8_lossy(k));
        }
        assert_eq!(
            key_slot(b"{user1000}.following"),
            key_slot(b"{user1000}.followers")
        );
    }
}
