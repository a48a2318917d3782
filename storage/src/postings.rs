//! Postings: sets of docnos stored as roaring bitmaps, in rows that split
//! by size.
//!
//! The reverse-reference index maps a referenced document to the set of
//! documents that reference it. Storing one row per (target, document)
//! made a million-document load insert a million scattered rows; storing
//! the set as a roaring bitmap per target makes it one write per distinct
//! target, and lets readers (the query engine) take whole bitmaps instead
//! of walking entries.
//!
//! A target's set is held in one or more rows, each keyed by the first
//! docno of the range it covers: the first row covers from docno 0, each
//! row up to the next row's key. A row holds whole docnos. A row whose
//! serialized bitmap outgrows [`ROW_BYTES`] is split at its median docno
//! ([`split_to_fit`]), so a single-document change rewrites at most one
//! row of about [`ROW_BYTES`], while the common target (a handful of
//! referrers) is one small row however the referrers' docnos spread. An
//! earlier layout cut sets at fixed docno ranges of 2^20: ten million
//! documents then made every target of ten referrers ten rows.
//!
//! Invariants (checked by the audit):
//! - a target with referrers has a row at docno 0;
//! - every row is non-empty, and holds only docnos of its range.
//!
//! Inside a transaction, changes are collected in a [`Pending`] log of
//! additions and removals per target (the last change of a docno wins)
//! and applied by the transaction's flush, target by target in key order.

use hashbrown::HashMap;
use roaring::RoaringBitmap;

/// Size beyond which a row holding two docnos or more is split. A row is
/// rewritten whole on every change, so this bounds the bytes one write
/// to a much-referenced target costs, while one row still holds a dense
/// 2^16-docno container (8 KiB).
pub const ROW_BYTES: usize = 16 << 10;

pub fn decode(bytes: &[u8]) -> Result<RoaringBitmap, crate::Error> {
    RoaringBitmap::deserialize_from(bytes)
        .map_err(|e| crate::Error::Corrupt(format!("undecodable postings: {e}")))
}

pub fn encode(bitmap: &RoaringBitmap) -> Vec<u8> {
    let mut out = Vec::with_capacity(bitmap.serialized_size());
    bitmap.serialize_into(&mut out).expect("writing to a Vec");
    out
}

/// Cuts the set of the row starting at `start` into rows of at most
/// `row_bytes` serialized (a single docno always fits): (first docno of
/// the range, the docnos), in increasing order, the first still at
/// `start`.
pub fn split_to_fit(start: u32, set: RoaringBitmap, row_bytes: usize) -> Vec<(u32, RoaringBitmap)> {
    let mut out = Vec::new();
    let mut todo = vec![(start, set)];
    while let Some((start, set)) = todo.pop() {
        if set.len() < 2 || set.serialized_size() <= row_bytes {
            out.push((start, set));
            continue;
        }
        // At least one docno on each side: len ≥ 2, so the median's rank
        // len/2 is ≥ 1.
        let median = set.select((set.len() / 2) as u32).expect("rank below len");
        let mut low = set.clone();
        low.remove_range(median..);
        let mut high = set;
        high.remove_range(..median);
        todo.push((median, high));
        todo.push((start, low));
    }
    out
}

/// A pending change: the docno shifted left once, the low bit set for an
/// addition.
type Op = u64;

/// Additions and removals not yet applied, per target key (as bytes, so a
/// lookup needs no allocation when the target is already pending: a bulk
/// load makes millions of them). Each target keeps its changes in order,
/// eight bytes each: a load of ten million documents over a million
/// targets holds ten per target, where a bitmap per target would cost a
/// container per docno.
#[derive(Debug, Default)]
pub struct Pending {
    targets: HashMap<Vec<u8>, Vec<Op>>,
    ops: usize,
}

impl Pending {
    pub fn add(&mut self, key: &[u8], docno: u32) {
        self.push(key, (u64::from(docno) << 1) | 1);
    }

    pub fn remove(&mut self, key: &[u8], docno: u32) {
        self.push(key, u64::from(docno) << 1);
    }

    fn push(&mut self, key: &[u8], op: Op) {
        self.targets.entry_ref(key).or_default().push(op);
        self.ops += 1;
    }

    /// Adds `later`'s changes after this set's: for each docno, the later
    /// change wins.
    pub fn merge(&mut self, later: Pending) {
        for (key, ops) in later.targets {
            self.targets.entry(key).or_default().extend(ops);
        }
        self.ops += later.ops;
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Targets pending.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Changes pending, over all targets.
    pub fn ops(&self) -> usize {
        self.ops
    }

    /// Takes every pending target, sorted by key for locality in the
    /// B-tree, each with its changes resolved.
    pub fn take_sorted(&mut self) -> Vec<(Vec<u8>, Changes)> {
        self.ops = 0;
        let mut rows: Vec<_> = self
            .targets
            .drain()
            .map(|(k, ops)| (k, Changes::resolve(ops)))
            .collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        rows
    }
}

/// One target's changes, the last of each docno kept, in docno order.
#[derive(Debug, Default, PartialEq)]
pub struct Changes(Vec<(u32, bool)>);

impl Changes {
    fn resolve(mut ops: Vec<Op>) -> Changes {
        // Stable: changes of one docno keep their order; the last wins.
        ops.sort_by_key(|op| op >> 1);
        let mut out: Vec<(u32, bool)> = Vec::with_capacity(ops.len());
        for op in ops {
            let (docno, add) = ((op >> 1) as u32, op & 1 == 1);
            match out.last_mut() {
                Some(last) if last.0 == docno => last.1 = add,
                _ => out.push((docno, add)),
            }
        }
        Changes(out)
    }

    /// (docno, added) in docno order.
    pub fn as_slice(&self) -> &[(u32, bool)] {
        &self.0
    }
}

/// Applies `changes` (added or removed docnos) to a row's stored set.
pub fn apply(
    stored: Option<&[u8]>,
    changes: &[(u32, bool)],
) -> Result<RoaringBitmap, crate::Error> {
    let mut set = match stored {
        Some(b) => decode(b)?,
        None => RoaringBitmap::new(),
    };
    for &(docno, add) in changes {
        if add {
            set.insert(docno);
        } else {
            set.remove(docno);
        }
    }
    Ok(set)
}

/// A `REFS` target as key bytes for [`Pending`]: target coll, source
/// coll, source field, 0, target id.
pub(crate) fn ref_target_key(out: &mut Vec<u8>, tcid: u32, tid: &str, scid: u32, field: &str) {
    out.clear();
    out.extend_from_slice(&tcid.to_be_bytes());
    out.extend_from_slice(&scid.to_be_bytes());
    out.extend_from_slice(field.as_bytes());
    out.push(0);
    out.extend_from_slice(tid.as_bytes());
}

/// The (target coll, target id, source coll, source field) of
/// [`ref_target_key`] bytes.
pub(crate) fn parse_ref_target_key(k: &[u8]) -> Option<(u32, &str, u32, &str)> {
    let tcid = u32::from_be_bytes(k.get(0..4)?.try_into().ok()?);
    let scid = u32::from_be_bytes(k.get(4..8)?.try_into().ok()?);
    let rest = k.get(8..)?;
    let nul = rest.iter().position(|&b| b == 0)?;
    let field = std::str::from_utf8(&rest[..nul]).ok()?;
    let tid = std::str::from_utf8(&rest[nul + 1..]).ok()?;
    Some((tcid, tid, scid, field))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(docnos: impl IntoIterator<Item = u32>) -> RoaringBitmap {
        docnos.into_iter().collect()
    }

    #[test]
    fn pending_keeps_the_last_change_of_each_docno() {
        let mut p = Pending::default();
        p.add(b"k", 1);
        p.remove(b"k", 1);
        p.add(b"k", 2);
        p.remove(b"k", 3);
        assert_eq!(p.ops(), 4);
        let rows = p.take_sorted();
        let (_, changes) = &rows[0];
        assert_eq!(changes.as_slice(), [(1, false), (2, true), (3, false)]);
        let after = apply(Some(&encode(&set([1, 3, 4]))), changes.as_slice()).unwrap();
        assert_eq!(after, set([2, 4]));
        assert!(apply(None, &[(5, false)]).unwrap().is_empty());
        assert_eq!(p.ops(), 0);
    }

    #[test]
    fn merge_lets_the_later_change_of_a_docno_win() {
        let mut group = Pending::default();
        group.add(b"k", 1); // an earlier operation adds 1 and 2, removes 3
        group.add(b"k", 2);
        group.remove(b"k", 3);
        let mut later = Pending::default();
        later.remove(b"k", 1); // a later one removes 1, adds 3
        later.add(b"k", 3);
        group.merge(later);
        let rows = group.take_sorted();
        let after = apply(Some(&encode(&set([1, 3, 9]))), rows[0].1.as_slice()).unwrap();
        assert_eq!(after, set([2, 3, 9]));
    }

    #[test]
    fn a_small_set_is_one_row_however_its_docnos_spread() {
        let spread = set([0, 5, 1 << 20, 7 << 20, u32::MAX]);
        assert_eq!(
            split_to_fit(0, spread.clone(), ROW_BYTES),
            vec![(0, spread)]
        );
    }

    #[test]
    fn a_large_set_splits_into_rows_that_fit_and_cover_it_in_order() {
        // Sparse docnos: array containers of two bytes a docno.
        let big = set((0..40_000u32).map(|i| i * 7));
        let rows = split_to_fit(0, big.clone(), ROW_BYTES);
        assert!(rows.len() > 1, "{} rows", rows.len());
        assert_eq!(rows[0].0, 0);
        let mut union = RoaringBitmap::new();
        for (i, (start, part)) in rows.iter().enumerate() {
            assert!(part.serialized_size() <= ROW_BYTES);
            assert!(part.min().unwrap() >= *start);
            if let Some((next, _)) = rows.get(i + 1) {
                assert!(part.max().unwrap() < *next);
            }
            union |= part;
        }
        assert_eq!(union, big);
    }

    #[test]
    fn target_keys_round_trip() {
        let mut k = Vec::new();
        ref_target_key(&mut k, 3, "a\u{1}b", 7, "addr");
        assert_eq!(parse_ref_target_key(&k), Some((3, "a\u{1}b", 7, "addr")));
    }
}
