//! Hash slots: CRC16-XMODEM of the key (or of its `{hash tag}`) modulo 16384, and
//! `SlotSet`, the 16384-bit set of slots a node claims.

/// Number of hash slots in the ring.
pub const SLOTS: usize = 16384;

/// The slot a key belongs to, honouring `{hash tags}`: if the key has a `{` and a
/// later `}` with at least one byte between them, only those bytes are hashed.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match memchr::memchr(b'{', key) {
        Some(open) => match memchr::memchr(b'}', &key[open + 1..]) {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16_xmodem(hashed) & (SLOTS as u16 - 1)
}

/// `CRC_TABLES[k][x]`: the CRC-16/XMODEM (polynomial 0x1021) register after
/// byte `x` followed by `k` zero bytes. Eight of them let `crc16_xmodem` take
/// eight bytes per step (slicing-by-8): every keyed command hashes its key,
/// and a byte at a time cost more than the table lookup that follows.
static CRC_TABLES: [[u16; 256]; 8] = crc_tables();

const fn crc_tables() -> [[u16; 256]; 8] {
    let mut t = [[0u16; 256]; 8];
    let mut x = 0;
    while x < 256 {
        let mut crc = (x as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        t[0][x] = crc;
        x += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut x = 0;
        while x < 256 {
            let prev = t[k - 1][x];
            t[k][x] = (prev << 8) ^ t[0][(prev >> 8) as usize];
            x += 1;
        }
        k += 1;
    }
    t
}

/// CRC-16/XMODEM (Redis Cluster's key hash), eight bytes per step.
fn crc16_xmodem(bytes: &[u8]) -> u16 {
    let t = &CRC_TABLES;
    let mut crc: u16 = 0;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        // The register covers the first two bytes; the other six enter fresh.
        let hi = (crc >> 8) as u8 ^ c[0];
        let lo = crc as u8 ^ c[1];
        crc = t[7][hi as usize]
            ^ t[6][lo as usize]
            ^ t[5][c[2] as usize]
            ^ t[4][c[3] as usize]
            ^ t[3][c[4] as usize]
            ^ t[2][c[5] as usize]
            ^ t[1][c[6] as usize]
            ^ t[0][c[7] as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc << 8) ^ t[0][((crc >> 8) as u8 ^ b) as usize];
    }
    crc
}

/// Bytes in a slot bitmap on the wire.
pub const SLOT_BYTES: usize = SLOTS / 8;

/// A set of slots as a bitmap (bit `s % 8` of byte `s / 8`, as Redis lays it out).
#[derive(Clone, PartialEq, Eq)]
pub struct SlotSet(Box<[u8; SLOT_BYTES]>);

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet(Box::new([0; SLOT_BYTES]))
    }
}

impl std::fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotSet[{}]", self.ranges_text())
    }
}

impl SlotSet {
    /// The empty set.
    pub fn new() -> SlotSet {
        SlotSet::default()
    }

    /// True when `slot` is in the set.
    pub fn contains(&self, slot: u16) -> bool {
        self.0[slot as usize / 8] & (1 << (slot % 8)) != 0
    }

    /// Adds or removes `slot`.
    pub fn set(&mut self, slot: u16, on: bool) {
        let b = &mut self.0[slot as usize / 8];
        if on {
            *b |= 1 << (slot % 8);
        } else {
            *b &= !(1 << (slot % 8));
        }
    }

    /// Number of slots in the set.
    pub fn count(&self) -> usize {
        self.0.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// True when no slot is set.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&b| b == 0)
    }

    /// The slots in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &b)| {
            (0..8u16)
                .filter(move |bit| b & (1 << bit) != 0)
                .map(move |bit| i as u16 * 8 + bit)
        })
    }

    /// Maximal runs of consecutive slots as inclusive `(start, end)` pairs.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        let mut extend = |s: u16, last: u16| match out.last_mut() {
            Some((_, end)) if *end + 1 == s => *end = last,
            _ => out.push((s, last)),
        };
        // Whole bytes first: most of a node's bitmap is all-empty or all-full.
        for (i, &b) in self.0.iter().enumerate() {
            let base = i as u16 * 8;
            match b {
                0 => {}
                0xff => extend(base, base + 7),
                _ => {
                    for bit in 0..8 {
                        if b & (1 << bit) != 0 {
                            extend(base + bit, base + bit);
                        }
                    }
                }
            }
        }
        out
    }

    /// Runs as `CLUSTER NODES` prints them: `0-5460 5462`, space separated.
    pub fn ranges_text(&self) -> String {
        let mut s = String::new();
        for (a, b) in self.ranges() {
            if !s.is_empty() {
                s.push(' ');
            }
            push_range(&mut s, a, b);
        }
        s
    }

    /// The raw bitmap.
    pub fn as_bytes(&self) -> &[u8; SLOT_BYTES] {
        &self.0
    }

    /// A set from a raw bitmap.
    pub fn from_bytes(bytes: &[u8; SLOT_BYTES]) -> SlotSet {
        SlotSet(Box::new(*bytes))
    }
}

/// Appends `a` or `a-b` to `s`.
pub fn push_range(s: &mut String, a: u16, b: u16) {
    use std::fmt::Write as _;
    if a == b {
        let _ = write!(s, "{a}");
    } else {
        let _ = write!(s, "{a}-{b}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_check_value() {
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(crc16_xmodem(b""), 0);
    }

    #[test]
    fn sliced_crc_equals_the_bytewise_one_at_every_length() {
        let mut rng = fastrand::Rng::with_seed(16384);
        for len in 0..80 {
            for _ in 0..20 {
                let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
                assert_eq!(
                    crc16_xmodem(&bytes),
                    crc16::State::<crc16::XMODEM>::calculate(&bytes),
                    "{bytes:?}"
                );
            }
        }
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
            (b"{user1000}.following", 3443),
            (b"{}foo", 9500),
            (b"bar", 5061),
            (b"{bar}", 5061),
            (b"k1", 12706),
            (b"foo", 12182),
        ];
        for (k, s) in cases {
            assert_eq!(key_slot(k), *s, "{}", String::from_utf8_lossy(k));
        }
        assert_eq!(
            key_slot(b"{user1000}.following"),
            key_slot(b"{user1000}.followers")
        );
    }

    #[test]
    fn slot_set_ranges_and_bytes() {
        let mut s = SlotSet::new();
        assert!(s.is_empty());
        for x in (0..=5460).chain([5462, 16383]) {
            s.set(x, true);
        }
        assert_eq!(s.count(), 5463);
        assert_eq!(s.ranges_text(), "0-5460 5462 16383");
        assert_eq!(s.ranges(), vec![(0, 5460), (5462, 5462), (16383, 16383)]);
        s.set(5462, false);
        assert!(!s.contains(5462));
        assert!(s.contains(16383));
        assert_eq!(SlotSet::from_bytes(s.as_bytes()), s);
        // Redis's bit layout: slot 9 is bit 1 of byte 1.
        let mut t = SlotSet::new();
        t.set(9, true);
        assert_eq!(t.as_bytes()[1], 0b10);
    }
}
