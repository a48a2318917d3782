//! The in-memory search index of one `search: true` string field: byte
//! bigrams and trigrams of the exact-case value, preceded by the start
//! marker [`START`] → bitmap of docnos, plus
//! every document's value by docno, so that candidates are verified
//! without reading documents.
//!
//! Invariants: a docno is in the bitmap of a gram iff `START` + its
//! current value contains that gram's bytes; [`SearchIndex::value`] is the
//! current value (None for missing, null, or a dead docno); no bitmap is
//! empty.
//!
//! The values are a [`Column`]: in RAM when built from the documents, in
//! the checkpoint's mapped file when loaded from it. The postings work the
//! same way ([`super::grams`]).

use super::column::Column;
use super::grams::{GramMap, Grams, Posting};
use super::run::Run;
use crate::planner::regex::{GramQuery, START};
use crate::query_error::QueryError;
use roaring::{MultiOps, RoaringBitmap};
use std::sync::Arc;

/// See the module doc.
#[derive(Debug, Clone, Default)]
pub struct SearchIndex {
    /// Bigram `b0 << 8 | b1` → docnos.
    bi: Grams<u16>,
    /// Trigram `b0 << 16 | b1 << 8 | b2` → docnos.
    tri: Grams<u32>,
    values: Column,
}

/// A bigram's key: `b0 << 8 | b1`.
fn bigram(b0: u8, b1: u8) -> u16 {
    u16::from(b0) << 8 | u16::from(b1)
}

/// A trigram's key: `b0 << 16 | b1 << 8 | b2`.
fn trigram(b0: u8, b1: u8, b2: u8) -> u32 {
    u32::from(b0) << 16 | u32::from(b1) << 8 | u32::from(b2)
}

/// The distinct bigrams and trigrams of `START` + a string's bytes.
fn grams(s: &str) -> (Vec<u16>, Vec<u32>) {
    let b = [&[START][..], s.as_bytes()].concat();
    let mut bi: Vec<u16> = b.windows(2).map(|w| bigram(w[0], w[1])).collect();
    let mut tri: Vec<u32> = b.windows(3).map(|w| trigram(w[0], w[1], w[2])).collect();
    bi.sort_unstable();
    bi.dedup();
    tri.sort_unstable();
    tri.dedup();
    (bi, tri)
}

/// Builds a [`SearchIndex`] from every document's value, each docno given
/// once: what a start without a checkpoint does for a million values.
/// Equal to setting each value in turn ([`SearchIndex::set`]), measured
/// faster: a gram's docnos are appended in runs ([`Run`]), a value's grams
/// are pushed as they come (no sorting; a [`Run`] drops the repeats), and
/// bigrams, at most 65536, are found by index instead of by hash.
pub(crate) struct SearchBuilder {
    /// Indexed by the bigram.
    bi: Vec<Run>,
    tri: GramMap<u32, Run>,
    values: Vec<Option<Box<str>>>,
    /// `START` + the value being added, reused from one to the next.
    marked: Vec<u8>,
}

impl Default for SearchBuilder {
    fn default() -> SearchBuilder {
        SearchBuilder {
            bi: (0..=u16::MAX).map(|_| Run::default()).collect(),
            tri: GramMap::default(),
            values: Vec::new(),
            marked: Vec::new(),
        }
    }
}

impl SearchBuilder {
    /// Adds a document's value (None: it has none).
    pub fn add(&mut self, docno: u32, value: Option<&str>) {
        let Some(value) = value else {
            return;
        };
        self.marked.clear();
        self.marked.push(START);
        self.marked.extend_from_slice(value.as_bytes());
        for w in self.marked.windows(2) {
            self.bi[usize::from(bigram(w[0], w[1]))].push(docno);
        }
        for w in self.marked.windows(3) {
            self.tri
                .entry(trigram(w[0], w[1], w[2]))
                .or_default()
                .push(docno);
        }
        let i = docno as usize;
        if self.values.len() <= i {
            self.values.resize(i + 1, None);
        }
        debug_assert!(self.values[i].is_none(), "docno {docno} given twice");
        self.values[i] = Some(value.into());
    }

    pub fn finish(self) -> SearchIndex {
        let bi = (0..=u16::MAX)
            .zip(self.bi)
            .filter(|(_, r)| !r.is_empty())
            .map(|(g, r)| (g, r.finish()));
        SearchIndex {
            bi: Grams::Owned(bi.collect()),
            tri: Grams::Owned(self.tri.into_iter().map(|(g, r)| (g, r.finish())).collect()),
            values: Column::Owned(self.values),
        }
    }
}

impl SearchIndex {
    /// Whether both hold the same values and the same grams (unset
    /// values past the end aside): for audits.
    pub fn same_as(&self, other: &SearchIndex) -> bool {
        self.values.same_as(&other.values)
            && self.bi.same_as(&other.bi)
            && self.tri.same_as(&other.tri)
    }

    /// Whether the values are read from a mapped checkpoint.
    pub fn is_mapped(&self) -> bool {
        self.values.is_mapped()
    }

    /// The docnos that have a value, without reading any value.
    pub fn present(&self) -> RoaringBitmap {
        self.values.present()
    }

    /// The current value of a document, if it has one.
    pub fn value(&self, docno: u32) -> Option<&str> {
        self.values.get(docno)
    }

    /// The values of `docnos`, in order, appended to `out` (see
    /// [`super::column::Column::get_many`]: faster than one by one).
    pub fn values_of<'a>(&'a self, docnos: &[u32], out: &mut Vec<Option<&'a str>>) {
        self.values.get_many(docnos, out)
    }

    /// Sets a document's value (None: missing or deleted), updating grams.
    pub fn set(&mut self, docno: u32, value: Option<&str>) {
        let old = self.values.get(docno);
        if old == value {
            return;
        }
        if let Some((bi, tri)) = old.map(grams) {
            for g in bi {
                self.bi.remove(g, docno);
            }
            for g in tri {
                self.tri.remove(g, docno);
            }
        }
        if let Some(new) = value {
            let (bi, tri) = grams(new);
            for g in bi {
                self.bi.add(g, docno);
            }
            for g in tri {
                self.tri.add(g, docno);
            }
        }
        self.values.set(docno, value);
    }

    /// Writes the grams and values (see [`super::checkpoint`]), grams in
    /// key order so that equal indexes give equal files.
    pub(crate) fn write_to(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        self.bi.write_to(w)?;
        self.tri.write_to(w)?;
        self.values.write_to(w)
    }

    /// Reads an index written by [`SearchIndex::write_to`] from `r`, a
    /// part of `map`: the gram directories, and the values left in the map.
    pub(crate) fn read_mapped(
        r: &mut &[u8],
        map: &Arc<memmap2::Mmap>,
    ) -> std::io::Result<SearchIndex> {
        let mut out = SearchIndex {
            bi: Grams::read_mapped(r, map)?,
            tri: Grams::read_mapped(r, map)?,
            ..SearchIndex::default()
        };
        out.values = Column::read_mapped(r, map)?;
        Ok(out)
    }

    /// Steps over what [`SearchIndex::read_mapped`] would read, reading
    /// only counts and lengths: the checkpoint loader finds each index's
    /// bytes this way and parses them on several threads.
    pub(crate) fn skip(r: &mut &[u8]) -> std::io::Result<()> {
        Grams::<u16>::skip(r)?;
        Grams::<u32>::skip(r)?;
        Column::skip(r)
    }

    /// Documents holding one gram (2 or 3 bytes).
    fn gram(&self, g: &[u8]) -> Result<Option<Posting<'_>>, QueryError> {
        let got = match *g {
            [a, b] => self.bi.get(bigram(a, b)),
            [a, b, c] => self.tri.get(trigram(a, b, c)),
            _ => Ok(None),
        };
        got.map_err(|e| QueryError::Internal(format!("search index: {e}")))
    }

    /// The candidates of a gram query, within `live`.
    pub fn eval(&self, q: &GramQuery, live: &RoaringBitmap) -> Result<RoaringBitmap, QueryError> {
        Ok(match q {
            GramQuery::All => live.clone(),
            GramQuery::Nothing => RoaringBitmap::new(),
            GramQuery::Grams(gs) => {
                let mut maps = Vec::with_capacity(gs.len());
                for g in gs {
                    match self.gram(g)? {
                        Some(m) => maps.push(m),
                        None => return Ok(RoaringBitmap::new()),
                    }
                }
                // Smallest first keeps the running intersection small.
                maps.sort_by_key(|m| m.len());
                maps.iter().map(|m| &**m).intersection()
            }
            GramQuery::And(qs) => {
                let mut parts = qs
                    .iter()
                    .map(|q| self.eval(q, live))
                    .collect::<Result<Vec<_>, _>>()?;
                parts.sort_by_key(|m| m.len());
                parts.into_iter().intersection()
            }
            GramQuery::Or(qs) => qs
                .iter()
                .map(|q| self.eval(q, live))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .union(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_index_equals_one_set_value_by_value() {
        // Docnos mostly increasing, some runs out of order, enough
        // documents for runs to fill, values sharing grams.
        let mut docnos: Vec<u32> = (0..3000).collect();
        docnos.swap(10, 2000);
        docnos[500..700].reverse();
        let value = |d: u32| match d % 7 {
            0 => None,
            k => Some(format!("v{}{}", "ab".repeat(k as usize), d % 13)),
        };
        let mut built = SearchBuilder::default();
        let mut set = SearchIndex::default();
        for &d in &docnos {
            built.add(d, value(d).as_deref());
            set.set(d, value(d).as_deref());
        }
        let built = built.finish();
        assert!(built.same_as(&set));
        assert!(set.same_as(&built));
        let mut other = SearchIndex::default();
        other.set(1, Some("x"));
        assert!(!built.same_as(&other));
    }

    #[test]
    fn set_replaces_grams() {
        let mut s = SearchIndex::default();
        let live: RoaringBitmap = (0..3).collect();
        s.set(0, Some("dolor"));
        s.set(1, Some("adore"));
        s.set(2, Some("xyz"));
        let q = GramQuery::Grams(vec![b"do".to_vec()]);
        assert_eq!(
            s.eval(&q, &live).unwrap().iter().collect::<Vec<_>>(),
            [0, 1]
        );
        s.set(1, None);
        assert_eq!(s.eval(&q, &live).unwrap().iter().collect::<Vec<_>>(), [0]);
        assert_eq!(s.value(1), None);
        s.set(0, Some("x"));
        assert!(s.eval(&q, &live).unwrap().is_empty());
        let super::Grams::Owned(bi) = &s.bi else {
            panic!("built in RAM")
        };
        assert!(!bi.values().any(RoaringBitmap::is_empty));
    }

    /// Writes `s` to a file and reads it back mapped.
    fn through_a_file(s: &SearchIndex) -> SearchIndex {
        let mut f = tempfile::tempfile().unwrap();
        s.write_to(&mut f).unwrap();
        let map = Arc::new(unsafe { memmap2::Mmap::map(&f).unwrap() });
        let mut r: &[u8] = &map[..];
        let mut skipped: &[u8] = &map[..];
        SearchIndex::skip(&mut skipped).unwrap();
        assert!(skipped.is_empty(), "skip steps over the whole index");
        let out = SearchIndex::read_mapped(&mut r, &map).unwrap();
        assert!(r.is_empty());
        out
    }

    /// Values read in place from a mapped file, then changed in RAM, then
    /// written and mapped again: always the values and grams of an index
    /// given the same values in RAM.
    #[test]
    fn mapped_values_changed_and_saved_again() {
        let mut owned = SearchIndex::default();
        let values = ["dolor", "", "Éva de la Quin", "adore", "x"];
        for (d, v) in values.iter().enumerate() {
            owned.set(d as u32 * 3, Some(v));
        }
        let mut mapped = through_a_file(&owned);
        assert!(mapped.values.is_mapped());
        assert!(mapped.same_as(&owned));
        assert_eq!(mapped.value(6), Some("Éva de la Quin"));
        assert_eq!(mapped.value(3), Some(""));
        assert_eq!(mapped.value(1), None);
        assert_eq!(mapped.value(1000), None);
        for s in [&mut owned, &mut mapped] {
            s.set(0, None);
            s.set(3, Some("dodo"));
            s.set(1, Some("new"));
            s.set(40, Some("far"));
            s.set(41, None);
        }
        assert!(mapped.same_as(&owned));
        let live: RoaringBitmap = (0..50).collect();
        let q = GramQuery::Grams(vec![b"do".to_vec()]);
        assert_eq!(
            mapped.eval(&q, &live).unwrap(),
            owned.eval(&q, &live).unwrap()
        );
        let again = through_a_file(&mapped);
        assert!(again.same_as(&owned));
        assert_eq!(again.value(40), Some("far"));
        assert_eq!(again.value(0), None);
    }

    proptest::proptest! {
        /// Values read in a batch are the values read one by one: built
        /// in RAM, mapped, and mapped then changed (set, unset, past the
        /// mapped end), for any docnos, repeated or absent ones included.
        #[test]
        fn values_read_together_are_values_read_alone(
            initial in proptest::collection::vec(proptest::option::of("[a-zé]{0,6}"), 0..40),
            changes in proptest::collection::vec((0u32..60, proptest::option::of("[a-z]{0,4}")), 0..20),
            asked in proptest::collection::vec(0u32..70, 0..150),
        ) {
            let mut owned = SearchIndex::default();
            for (d, v) in initial.iter().enumerate() {
                owned.set(d as u32, v.as_deref());
            }
            let mapped = through_a_file(&owned);
            let mut changed = through_a_file(&owned);
            for (d, v) in &changes {
                changed.set(*d, v.as_deref());
            }
            for s in [&owned, &mapped, &changed] {
                let mut together = Vec::new();
                s.values_of(&asked, &mut together);
                let alone: Vec<_> = asked.iter().map(|&d| s.value(d)).collect();
                proptest::prop_assert_eq!(together, alone);
            }
        }
    }

    /// A damaged offsets table reads as no value, never out of bounds.
    #[test]
    fn damaged_offsets_read_as_no_value() {
        let mut s = SearchIndex::default();
        s.set(0, Some("abc"));
        s.set(1, Some("def"));
        let mut f = tempfile::tempfile().unwrap();
        s.write_to(&mut f).unwrap();
        let mut bytes = {
            let map = unsafe { memmap2::Mmap::map(&f).unwrap() };
            map.to_vec()
        };
        // The last offset (the values' length) is followed by "abcdef".
        let end = bytes.len() - 6;
        bytes[end - 16..end - 8].copy_from_slice(&u64::MAX.to_le_bytes());
        let mut g = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut g, &bytes).unwrap();
        let map = Arc::new(unsafe { memmap2::Mmap::map(&g).unwrap() });
        let mut r: &[u8] = &map[..];
        let d = SearchIndex::read_mapped(&mut r, &map).unwrap();
        assert_eq!(d.value(0), None);
        assert_eq!(d.value(1), None);
    }
}
