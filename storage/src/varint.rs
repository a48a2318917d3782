//! LEB128 integers: seven bits per byte, low first, the high bit set on
//! all but the last. The change records and the row header use them, so
//! that the small numbers they mostly hold take a byte or three.

/// The bytes of the longest number, a u64.
pub(crate) const MAX_LEN: usize = 10;

/// `n`'s bytes, in a buffer, and how many of them it takes: for writers
/// that insert a number into a row rather than append it.
pub(crate) fn encode(mut n: u64) -> ([u8; MAX_LEN], usize) {
    let mut buf = [0; MAX_LEN];
    let mut len = 0;
    while n >= 0x80 {
        buf[len] = n as u8 | 0x80;
        n >>= 7;
        len += 1;
    }
    buf[len] = n as u8;
    (buf, len + 1)
}

/// Appends `n`.
pub(crate) fn put(out: &mut Vec<u8>, n: u64) {
    let (buf, len) = encode(n);
    out.extend_from_slice(&buf[..len]);
}

/// The number at the start of `bytes` and the bytes it took; `None` when
/// it is cut short or longer than a u64.
pub(crate) fn get(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut n = 0u64;
    for (i, shift) in (0..64).step_by(7).enumerate() {
        let b = *bytes.get(i)?;
        n |= u64::from(b & 0x7F).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_bad_ones_fail() {
        for n in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put(&mut out, n);
            assert_eq!(get(&out), Some((n, out.len())));
            out.push(0x55);
            assert_eq!(get(&out), Some((n, out.len() - 1)));
        }
        assert_eq!(get(&[0xFF; 11]), None);
        assert_eq!(get(&[0x80]), None);
        assert_eq!(get(&[]), None);
    }
}
