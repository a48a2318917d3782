//! Generated document ids: 16 characters of Crockford base32 whose ASCII
//! order is their numeric order — 10 for the milliseconds since the epoch,
//! 6 for a sequence — so ids sort in creation order and are strictly
//! increasing even within one millisecond or when the clock steps back.

use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const SEQ_BITS: u32 = 30;

/// Hands out strictly increasing ids.
#[derive(Debug, Default)]
pub struct IdGenerator {
    /// (milliseconds << SEQ_BITS) | sequence of the last id handed out.
    last: u128,
}

impl IdGenerator {
    /// Makes sure every future id is greater than `id` if `id` is a
    /// generated one (called at open with the largest stored ids).
    pub fn observe(&mut self, id: &str) {
        if let Some(v) = decode(id) {
            self.last = self.last.max(v);
        }
    }

    pub fn next_id(&mut self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let candidate = now << SEQ_BITS;
        self.last = if candidate > self.last {
            candidate
        } else {
            self.last + 1
        };
        encode(self.last)
    }
}

fn encode(mut v: u128) -> String {
    let mut out = [b'0'; 16];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(v & 31) as usize];
        v >>= 5;
    }
    String::from_utf8(out.to_vec()).expect("ascii")
}

fn decode(id: &str) -> Option<u128> {
    if id.len() != 16 {
        return None;
    }
    id.bytes().try_fold(0u128, |acc, b| {
        let d = ALPHABET.iter().position(|&a| a == b)? as u128;
        Some(acc << 5 | d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_increasing_and_sortable() {
        let mut g = IdGenerator::default();
        let ids: Vec<String> = (0..10_000).map(|_| g.next_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(ids.iter().all(|i| crate::schema::validate::valid_id(i)));
    }

    #[test]
    fn observe_moves_past_a_future_id() {
        let mut a = IdGenerator::default();
        let mut far = IdGenerator {
            last: u128::from(u64::MAX) << 10,
        };
        let future = far.next_id();
        a.observe(&future);
        assert!(a.next_id() > future);
    }
}
