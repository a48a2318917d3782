//! The in-memory search index of one `search: true` string field: byte
//! bigrams and trigrams of the exact-case value, preceded by the start
//! marker [`START`] → bitmap of docnos, plus
//! every document's value by docno, so that candidates are verified
//! without reading documents.
//!
//! Invariants: a docno is in the bitmap of a gram iff `START` + its
//! current value contains that gram's bytes; `values[docno]` is the current value (None
//! for missing, null, or a dead docno); no bitmap is empty.

use crate::planner::regex::{GramQuery, START};
use roaring::{MultiOps, RoaringBitmap};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes gram keys (small integers) by one multiplication instead of
/// SipHash: building the index of a million values does a hundred million
/// lookups, and gram keys come from stored data, not from an attacker
/// choosing collisions per request.
#[derive(Default)]
struct GramHasher(u64);

impl Hasher for GramHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 << 8 | u64::from(b));
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        // The product's entropy is in its high bits; the table uses both.
        self.0 ^ (self.0 >> 29)
    }
}

type GramMap<K> = HashMap<K, RoaringBitmap, BuildHasherDefault<GramHasher>>;

/// See the module doc.
#[derive(Debug, Clone, Default)]
pub struct SearchIndex {
    /// Bigram `b0 << 8 | b1` → docnos.
    bi: GramMap<u16>,
    /// Trigram `b0 << 16 | b1 << 8 | b2` → docnos.
    tri: GramMap<u32>,
    values: Vec<Option<Box<str>>>,
}

/// The distinct bigrams and trigrams of `START` + a string's bytes.
fn grams(s: &str) -> (Vec<u16>, Vec<u32>) {
    let b = [&[START][..], s.as_bytes()].concat();
    let mut bi: Vec<u16> = b
        .windows(2)
        .map(|w| u16::from(w[0]) << 8 | u16::from(w[1]))
        .collect();
    let mut tri: Vec<u32> = b
        .windows(3)
        .map(|w| u32::from(w[0]) << 16 | u32::from(w[1]) << 8 | u32::from(w[2]))
        .collect();
    bi.sort_unstable();
    bi.dedup();
    tri.sort_unstable();
    tri.dedup();
    (bi, tri)
}

impl SearchIndex {
    /// The current value of a document, if it has one.
    /// Whether both hold the same values and the same grams (empty
    /// posting lists and unset values past the end aside): for audits.
    pub fn same_as(&self, other: &SearchIndex) -> bool {
        fn same_grams<K: Eq + std::hash::Hash>(a: &GramMap<K>, b: &GramMap<K>) -> bool {
            let held = |m: &GramMap<K>| m.values().filter(|d| !d.is_empty()).count();
            held(a) == held(b)
                && a.iter()
                    .filter(|(_, d)| !d.is_empty())
                    .all(|(k, d)| b.get(k) == Some(d))
        }
        let n = self.values.len().max(other.values.len()) as u32;
        (0..n).all(|d| self.value(d) == other.value(d))
            && same_grams(&self.bi, &other.bi)
            && same_grams(&self.tri, &other.tri)
    }

    pub fn value(&self, docno: u32) -> Option<&str> {
        self.values.get(docno as usize).and_then(|v| v.as_deref())
    }

    /// Sets a document's value (None: missing or deleted), updating grams.
    pub fn set(&mut self, docno: u32, value: Option<&str>) {
        let i = docno as usize;
        if self.values.len() <= i {
            self.values.resize(i + 1, None);
        }
        if self.values[i].as_deref() == value {
            return;
        }
        if let Some(old) = self.values[i].take() {
            let (bi, tri) = grams(&old);
            for g in bi {
                remove(&mut self.bi, g, docno);
            }
            for g in tri {
                remove(&mut self.tri, g, docno);
            }
        }
        if let Some(new) = value {
            let (bi, tri) = grams(new);
            for g in bi {
                super::add_docno(self.bi.entry(g).or_default(), docno);
            }
            for g in tri {
                super::add_docno(self.tri.entry(g).or_default(), docno);
            }
            self.values[i] = Some(new.into());
        }
    }

    /// Writes the grams and values (see [`super::checkpoint`]), grams in
    /// key order so that equal indexes give equal files.
    pub(crate) fn write_to(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        use super::checkpoint::{put_bitmap, put_bytes, put_u32, put_u64};
        let mut bi: Vec<_> = self.bi.iter().collect();
        bi.sort_unstable_by_key(|(g, _)| **g);
        put_u32(w, bi.len())?;
        for (g, b) in bi {
            w.write_all(&g.to_le_bytes())?;
            put_bitmap(w, b)?;
        }
        let mut tri: Vec<_> = self.tri.iter().collect();
        tri.sort_unstable_by_key(|(g, _)| **g);
        put_u32(w, tri.len())?;
        for (g, b) in tri {
            w.write_all(&g.to_le_bytes())?;
            put_bitmap(w, b)?;
        }
        put_u64(w, self.values.len() as u64)?;
        for v in &self.values {
            match v {
                None => w.write_all(&[0])?,
                Some(s) => {
                    w.write_all(&[1])?;
                    put_bytes(w, s.as_bytes())?;
                }
            }
        }
        Ok(())
    }

    /// Reads an index written by [`SearchIndex::write_to`].
    pub(crate) fn read_from(r: &mut impl std::io::Read) -> std::io::Result<SearchIndex> {
        use super::checkpoint::{get_bitmap, get_string, get_u32, get_u64};
        let mut out = SearchIndex::default();
        for _ in 0..get_u32(r)? {
            let mut g = [0; 2];
            r.read_exact(&mut g)?;
            out.bi.insert(u16::from_le_bytes(g), get_bitmap(r)?);
        }
        for _ in 0..get_u32(r)? {
            let mut g = [0; 4];
            r.read_exact(&mut g)?;
            out.tri.insert(u32::from_le_bytes(g), get_bitmap(r)?);
        }
        let n = get_u64(r)?;
        // Grown as read: a corrupt count must not allocate first.
        for _ in 0..n {
            let mut tag = [0; 1];
            r.read_exact(&mut tag)?;
            out.values.push(match tag[0] {
                0 => None,
                _ => Some(get_string(r)?.into_boxed_str()),
            });
        }
        Ok(out)
    }

    /// Steps over what [`SearchIndex::read_from`] would read, reading only
    /// counts and lengths: the checkpoint loader finds each index's bytes
    /// this way and parses them on several threads.
    pub(crate) fn skip(r: &mut &[u8]) -> std::io::Result<()> {
        use super::checkpoint::{get_u32, get_u64, skip};
        for gram in [2, 4] {
            for _ in 0..get_u32(r)? {
                skip(r, gram)?;
                let len = get_u32(r)?;
                skip(r, len as usize)?;
            }
        }
        for _ in 0..get_u64(r)? {
            let mut tag = [0; 1];
            std::io::Read::read_exact(r, &mut tag)?;
            if tag[0] != 0 {
                let len = get_u32(r)?;
                skip(r, len as usize)?;
            }
        }
        Ok(())
    }

    /// Documents holding one gram (2 or 3 bytes).
    fn gram(&self, g: &[u8]) -> Option<&RoaringBitmap> {
        match *g {
            [a, b] => self.bi.get(&(u16::from(a) << 8 | u16::from(b))),
            [a, b, c] => self
                .tri
                .get(&(u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c))),
            _ => None,
        }
    }

    /// The candidates of a gram query, within `live`.
    pub fn eval(&self, q: &GramQuery, live: &RoaringBitmap) -> RoaringBitmap {
        match q {
            GramQuery::All => live.clone(),
            GramQuery::Nothing => RoaringBitmap::new(),
            GramQuery::Grams(gs) => {
                let mut maps = Vec::with_capacity(gs.len());
                for g in gs {
                    match self.gram(g) {
                        Some(m) => maps.push(m),
                        None => return RoaringBitmap::new(),
                    }
                }
                // Smallest first keeps the running intersection small.
                maps.sort_by_key(|m| m.len());
                maps.into_iter().intersection()
            }
            GramQuery::And(qs) => {
                let mut parts: Vec<RoaringBitmap> = qs.iter().map(|q| self.eval(q, live)).collect();
                parts.sort_by_key(|m| m.len());
                parts.into_iter().intersection()
            }
            GramQuery::Or(qs) => qs.iter().map(|q| self.eval(q, live)).union(),
        }
    }
}

fn remove<K: std::hash::Hash + Eq>(map: &mut GramMap<K>, g: K, docno: u32) {
    if let Some(m) = map.get_mut(&g) {
        m.remove(docno);
        if m.is_empty() {
            map.remove(&g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_grams() {
        let mut s = SearchIndex::default();
        let live: RoaringBitmap = (0..3).collect();
        s.set(0, Some("dolor"));
        s.set(1, Some("adore"));
        s.set(2, Some("xyz"));
        let q = GramQuery::Grams(vec![b"do".to_vec()]);
        assert_eq!(s.eval(&q, &live).iter().collect::<Vec<_>>(), [0, 1]);
        s.set(1, None);
        assert_eq!(s.eval(&q, &live).iter().collect::<Vec<_>>(), [0]);
        assert_eq!(s.value(1), None);
        s.set(0, Some("x"));
        assert!(s.eval(&q, &live).is_empty());
        assert!(s.bi.is_empty() || !s.bi.values().any(RoaringBitmap::is_empty));
    }
}
