//! LEB128 integers: seven bits per byte, low first, the high bit set on
//! all but the last. The change records and the row header use them, so
//! that the small numbers they mostly hold take a byte or three.

/// Appends `n`.
pub(crate) fn put(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
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
