//! Postings: sets of docnos stored as chunked roaring bitmaps.
//!
//! The reverse-reference index maps a referenced document to the set of
//! documents that reference it. Storing one row per (target, document)
//! made a million-document load insert a million scattered rows; storing
//! the set as a roaring bitmap per target makes it one write per distinct
//! target, and lets readers (the query engine) take whole bitmaps instead
//! of walking entries.
//!
//! A set is split in chunks of 2^20 docnos, each chunk a row holding the
//! low 20 bits as a serialized [`RoaringBitmap`]: a single-document change
//! rewrites at most one chunk (16 containers, at most 128 KiB for a target
//! half the documents reference), while a bulk load of a million
//! documents writes each target's postings once.
//!
//! Inside a transaction, changes are collected in a [`Pending`] set of
//! additions and removals per row key (the last change of a docno wins)
//! and applied by the transaction's flush, in key order.

use hashbrown::HashMap;
use roaring::RoaringBitmap;

/// Docnos per chunk: 2^CHUNK_BITS.
pub const CHUNK_BITS: u32 = 20;

/// The chunk number and the low bits of a docno.
pub fn split(docno: u32) -> (u16, u32) {
    (
        (docno >> CHUNK_BITS) as u16,
        docno & ((1 << CHUNK_BITS) - 1),
    )
}

/// The docnos of one chunk row, shifted back into place.
pub fn join(chunk: u16, low: &RoaringBitmap) -> impl Iterator<Item = u32> + '_ {
    let base = u32::from(chunk) << CHUNK_BITS;
    low.iter().map(move |l| base | l)
}

pub fn decode(bytes: &[u8]) -> Result<RoaringBitmap, crate::Error> {
    RoaringBitmap::deserialize_from(bytes)
        .map_err(|e| crate::Error::Corrupt(format!("undecodable postings: {e}")))
}

pub fn encode(bitmap: &RoaringBitmap) -> Vec<u8> {
    let mut out = Vec::with_capacity(bitmap.serialized_size());
    bitmap.serialize_into(&mut out).expect("writing to a Vec");
    out
}

/// Additions and removals not yet applied, per row key (as bytes, so a
/// lookup needs no allocation when the row is already pending: a bulk load
/// makes millions of them).
#[derive(Debug, Default)]
pub struct Pending {
    rows: HashMap<Vec<u8>, (RoaringBitmap, RoaringBitmap)>,
}

impl Pending {
    pub fn add(&mut self, key: &[u8], low: u32) {
        let (adds, removes) = self.rows.entry_ref(key).or_default();
        // Docnos mostly arrive in increasing order (creates), where
        // appending is O(1) and `insert` would search.
        if adds.try_push(low).is_err() {
            adds.insert(low);
        }
        if !removes.is_empty() {
            removes.remove(low);
        }
    }

    pub fn remove(&mut self, key: &[u8], low: u32) {
        let (adds, removes) = self.rows.entry_ref(key).or_default();
        removes.insert(low);
        adds.remove(low);
    }

    /// Adds `later`'s changes after this set's: for each docno, the later
    /// change wins.
    pub fn merge(&mut self, later: Pending) {
        for (key, (adds, removes)) in later.rows {
            let (a, r) = self.rows.entry(key).or_default();
            *a -= &removes;
            *r -= &adds;
            *a |= adds;
            *r |= removes;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Takes every pending row, sorted by key for locality in the B-tree.
    pub fn take_sorted(&mut self) -> Vec<(Vec<u8>, RoaringBitmap, RoaringBitmap)> {
        let mut rows: Vec<_> = self.rows.drain().map(|(k, (a, r))| (k, a, r)).collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        rows
    }
}

/// Applies additions and removals to a stored row: the new bytes, or
/// `None` when the row becomes empty and is to be deleted.
pub fn apply(
    stored: Option<&[u8]>,
    adds: &RoaringBitmap,
    removes: &RoaringBitmap,
) -> Result<Option<Vec<u8>>, crate::Error> {
    let mut set = match stored {
        Some(b) => decode(b)?,
        None => RoaringBitmap::new(),
    };
    set -= removes;
    set |= adds;
    Ok((!set.is_empty()).then(|| encode(&set)))
}

/// A `REFS` row key as bytes for [`Pending`]: target coll, source coll,
/// chunk, source field, 0, target id.
pub(crate) fn ref_row_key(
    out: &mut Vec<u8>,
    tcid: u32,
    tid: &str,
    scid: u32,
    field: &str,
    chunk: u16,
) {
    out.clear();
    out.extend_from_slice(&tcid.to_be_bytes());
    out.extend_from_slice(&scid.to_be_bytes());
    out.extend_from_slice(&chunk.to_be_bytes());
    out.extend_from_slice(field.as_bytes());
    out.push(0);
    out.extend_from_slice(tid.as_bytes());
}

pub(crate) fn parse_ref_row_key(k: &[u8]) -> Option<(u32, &str, u32, &str, u16)> {
    let tcid = u32::from_be_bytes(k.get(0..4)?.try_into().ok()?);
    let scid = u32::from_be_bytes(k.get(4..8)?.try_into().ok()?);
    let chunk = u16::from_be_bytes(k.get(8..10)?.try_into().ok()?);
    let rest = k.get(10..)?;
    let nul = rest.iter().position(|&b| b == 0)?;
    let field = std::str::from_utf8(&rest[..nul]).ok()?;
    let tid = std::str::from_utf8(&rest[nul + 1..]).ok()?;
    Some((tcid, tid, scid, field, chunk))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_join_round_trip_across_chunks() {
        for docno in [0, 1, (1 << CHUNK_BITS) - 1, 1 << CHUNK_BITS, u32::MAX] {
            let (chunk, low) = split(docno);
            let bits: RoaringBitmap = [low].into_iter().collect();
            assert_eq!(join(chunk, &bits).collect::<Vec<_>>(), [docno]);
        }
    }

    #[test]
    fn pending_keeps_the_last_change_of_each_docno() {
        let mut p = Pending::default();
        p.add(b"k", 1);
        p.remove(b"k", 1);
        p.add(b"k", 2);
        p.remove(b"k", 3);
        let rows = p.take_sorted();
        let (_, adds, removes) = &rows[0];
        let stored = encode(&[1, 3, 4].into_iter().collect());
        let after = decode(&apply(Some(&stored), adds, removes).unwrap().unwrap()).unwrap();
        assert_eq!(after.iter().collect::<Vec<_>>(), [2, 4]);
        assert_eq!(
            apply(Some(&encode(&[3].into_iter().collect())), adds, removes).unwrap(),
            Some(encode(&[2].into_iter().collect()))
        );
        assert_eq!(
            apply(None, &RoaringBitmap::new(), &[5].into_iter().collect()).unwrap(),
            None
        );
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
        let (_, adds, removes) = &rows[0];
        let stored = encode(&[1, 3, 9].into_iter().collect());
        let after = decode(&apply(Some(&stored), adds, removes).unwrap().unwrap()).unwrap();
        assert_eq!(after.iter().collect::<Vec<_>>(), [2, 3, 9]);
    }
}
