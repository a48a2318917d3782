//! A 64-bit FNV-1a over parts, each ended by its length, so that
//! ("ab", "c") and ("a", "bc") differ: the audit's digest and the schema's
//! layout fingerprint.

/// 64-bit FNV-1a, continued from `h`.
pub(crate) fn fnv_on(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // The length ends each part, so that ("ab","c") and ("a","bc") differ.
    for b in (bytes.len() as u64).to_le_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    fnv_on(0xcbf2_9ce4_8422_2325, bytes)
}
