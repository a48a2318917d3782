//! The row layer: the one door to redb. Nothing else in the crate names
//! redb; everything above it sees rows of the tables in [`tables`] through
//! the interface a distributed key-value engine offers too:
//!
//! - **snapshot reads** ([`ReadRows`]): point gets and ordered scans of a
//!   consistent view. A [`Snapshot`] sees the commits made before it
//!   began and nothing after; a write transaction's [`WriteRows`] sees
//!   its own writes;
//! - **buffered writes** ([`WriteRows`]): puts, removes and ordered
//!   appends that nobody else sees until the commit;
//! - **a commit that can fail** ([`WriteTxn::commit`]), with typed errors:
//!   a full disk is [`Error::NoSpace`], a failing one
//!   [`Error::Unavailable`], anything else [`Error::Storage`]; a
//!   transaction dropped without a commit leaves nothing.
//!
//! Keys are typed per table (a collection id, an `_id`, a docno…), and
//! every scan is in the key order the table's definition gives: that
//! order is part of the contract (appends rely on it, and the change log
//! is read in seq order). The conformance tests in `tests.rs` pin the
//! contract down for this implementation, and are what another one (say,
//! over a distributed engine) must pass.
//!
//! [`Error::NoSpace`]: crate::Error::NoSpace
//! [`Error::Unavailable`]: crate::Error::Unavailable
//! [`Error::Storage`]: crate::Error::Storage

/// The reads a snapshot and a write transaction make alike, from the
/// `docs`, `docnos` and `colls` tables each holds open.
macro_rules! held_table_reads {
    () => {
        fn doc(&self, cid: u32, id: &str) -> Result<Option<super::Row<'_>>> {
            Ok(redb::ReadableTable::get(&self.docs, (cid, id))?.map(super::Row))
        }

        fn docs(&self, cid: u32, from: std::ops::Bound<&str>) -> Result<super::Docs<'_>> {
            super::docs_in(&self.docs, cid, from)
        }

        fn all_docs(&self) -> Result<super::Docs<'_>> {
            Ok(super::Docs(redb::ReadableTable::iter(&self.docs)?))
        }

        fn docno_id(&self, cid: u32, docno: u32) -> Result<Option<String>> {
            Ok(
                redb::ReadableTable::get(&self.docnos, (cid, docno))?
                    .map(|v| v.value().to_string()),
            )
        }

        fn docnos(&self, cid: Option<u32>) -> Result<Vec<(u32, u32, String)>> {
            super::docnos_in(&self.docnos, cid)
        }

        fn coll(&self, cid: u32) -> Result<Option<super::Row<'_>>> {
            Ok(redb::ReadableTable::get(&self.colls, cid)?.map(super::Row))
        }
    };
}

mod errors;
mod file;
mod refs_v6;
mod snapshot;
pub mod tables;
#[cfg(test)]
mod tests;
mod writes;

pub use file::CacheUse;
pub(crate) use file::{Backend, WriteTxn, open_read_only, open_writable};
pub(crate) use snapshot::Snapshot;
pub use snapshot::TableSpace;
pub(crate) use writes::WriteRows;

use crate::error::Result;
use redb::{AccessGuard, ReadableTable};
use std::ops::{Bound, Deref};
use tables::DocKey;

/// A reverse-index row's key: (target collection, target id, source
/// collection, source field, first docno of the row's range).
pub(crate) type RefKey<'a> = (u32, &'a str, u32, &'a str, u32);

/// What a reverse-index row's key names before its range: (target
/// collection, target id, source collection, source field).
pub(crate) type RefTarget<'a> = (u32, &'a str, u32, &'a str);

/// A reverse-index row with its range: docnos from `start` up to `end`
/// (none: to the last docno).
#[derive(Debug, PartialEq)]
pub(crate) struct RangeRow {
    pub start: u32,
    pub end: Option<u32>,
    /// The serialized postings.
    pub row: Vec<u8>,
}

impl RangeRow {
    fn new(start: u32, row: &[u8], end: Option<u32>) -> RangeRow {
        RangeRow {
            start,
            end,
            row: row.to_vec(),
        }
    }
}

/// A stored value, read in place: valid while the snapshot or write
/// transaction it came from is.
pub struct Row<'a>(AccessGuard<'a, &'static [u8]>);

impl Deref for Row<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.value()
    }
}

/// One row of the documents table, from a scan.
pub struct DocEntry<'a> {
    key: AccessGuard<'a, DocKey>,
    row: AccessGuard<'a, &'static [u8]>,
}

impl DocEntry<'_> {
    pub fn cid(&self) -> u32 {
        self.key.value().0
    }
    pub fn id(&self) -> &str {
        self.key.value().1
    }
    pub fn row(&self) -> &[u8] {
        self.row.value()
    }
}

/// A scan of the documents table, in key order, either way.
pub struct Docs<'a>(redb::Range<'a, DocKey, &'static [u8]>);

impl<'a> Iterator for Docs<'a> {
    type Item = Result<DocEntry<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0
            .next()
            .map(|e| Ok(e.map(|(key, row)| DocEntry { key, row })?))
    }
}

impl DoubleEndedIterator for Docs<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0
            .next_back()
            .map(|e| Ok(e.map(|(key, row)| DocEntry { key, row })?))
    }
}

/// A scan of the change log: (seq, record), in seq order.
pub struct Changes<'a>(redb::Range<'a, u64, &'static [u8]>);

impl<'a> Iterator for Changes<'a> {
    type Item = Result<(u64, Row<'a>)>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0
            .next()
            .map(|e| Ok(e.map(|(k, v)| (k.value(), Row(v)))?))
    }
}

/// Reads of a consistent view of the file: a [`Snapshot`], or a write
/// transaction ([`WriteRows`]), which sees its own writes.
pub(crate) trait ReadRows {
    /// The row of `cid/id` in the documents table.
    fn doc(&self, cid: u32, id: &str) -> Result<Option<Row<'_>>>;
    /// The documents of collection `cid` in `_id` order, from `from`.
    fn docs(&self, cid: u32, from: Bound<&str>) -> Result<Docs<'_>>;
    /// Every row of the documents table, in key order.
    fn all_docs(&self) -> Result<Docs<'_>>;
    /// The `_id` of docno `docno` of collection `cid`.
    fn docno_id(&self, cid: u32, docno: u32) -> Result<Option<String>>;
    /// Every (collection id, docno, `_id`) in key order, or those of one
    /// collection.
    fn docnos(&self, cid: Option<u32>) -> Result<Vec<(u32, u32, String)>>;
    /// The reverse-index rows of one target, handed to `f` as (first
    /// docno of the row's range, postings) in range order.
    fn ref_rows_of(
        &self,
        target: RefTarget<'_>,
        f: &mut dyn FnMut(u32, &[u8]) -> Result<()>,
    ) -> Result<()>;
    /// Every reverse-index row in key order, handed to `f` as it is read.
    fn each_ref_row(&self, f: &mut dyn FnMut(RefKey<'_>, &[u8]) -> Result<()>) -> Result<()>;
    /// The counters row of a collection.
    fn coll(&self, cid: u32) -> Result<Option<Row<'_>>>;
    /// A database-wide value of the meta table.
    fn meta(&self, key: &str) -> Result<Option<Row<'_>>>;
    /// The change record `seq`.
    fn change(&self, seq: u64) -> Result<Option<Row<'_>>>;
    /// The change records with a seq in `from..to` (`to`: none, the end).
    fn changes(&self, from: u64, to: Option<u64>) -> Result<Changes<'_>>;
    /// The change record with the lowest seq.
    fn first_change(&self) -> Result<Option<(u64, Row<'_>)>>;
    /// The seq of the latest change record of `cid`'s docno `docno`.
    fn latest(&self, cid: u32, docno: u32) -> Result<Option<u64>>;
    /// Every ((collection id, docno), seq) of the latest-change table.
    fn all_latest(&self) -> Result<Vec<((u32, u32), u64)>>;
}

/// The key range of collection `cid` in a table keyed by (cid, …): from
/// `lo` to the first key of the next collection.
fn coll_end<T>(cid: u32, first: T) -> Bound<(u32, T)> {
    match cid.checked_add(1) {
        Some(next) => Bound::Excluded((next, first)),
        None => Bound::Unbounded,
    }
}

// What a snapshot and a write transaction read alike, over redb's tables.

fn docs_in<'a, T: ReadableTable<DocKey, &'static [u8]>>(
    t: &'a T,
    cid: u32,
    from: Bound<&str>,
) -> Result<Docs<'a>> {
    let lo = match from {
        Bound::Included(id) => Bound::Included((cid, id)),
        Bound::Excluded(id) => Bound::Excluded((cid, id)),
        Bound::Unbounded => Bound::Included((cid, "")),
    };
    Ok(Docs(t.range::<(u32, &str)>((lo, coll_end(cid, "")))?))
}

fn docnos_in<T: ReadableTable<(u32, u32), &'static str>>(
    t: &T,
    cid: Option<u32>,
) -> Result<Vec<(u32, u32, String)>> {
    let range = match cid {
        Some(cid) => t.range::<(u32, u32)>((Bound::Included((cid, 0)), coll_end(cid, 0)))?,
        None => t.iter()?,
    };
    let mut out = Vec::new();
    for e in range {
        let (k, v) = e?;
        let (cid, docno) = k.value();
        out.push((cid, docno, v.value().to_string()));
    }
    Ok(out)
}

/// The key range of one target's reverse-index rows.
pub(super) fn target_range((tc, t, sc, sf): RefTarget<'_>) -> std::ops::RangeInclusive<RefKey<'_>> {
    (tc, t, sc, sf, 0)..=(tc, t, sc, sf, u32::MAX)
}

fn ref_rows_in<T: ReadableTable<RefKey<'static>, &'static [u8]>>(
    t: &T,
    target: RefTarget<'_>,
    f: &mut dyn FnMut(u32, &[u8]) -> Result<()>,
) -> Result<()> {
    for e in t.range(target_range(target))? {
        let (k, v) = e?;
        f(k.value().4, v.value())?;
    }
    Ok(())
}

fn each_ref_row_in<T: ReadableTable<RefKey<'static>, &'static [u8]>>(
    t: &T,
    f: &mut dyn FnMut(RefKey<'_>, &[u8]) -> Result<()>,
) -> Result<()> {
    for e in t.iter()? {
        let (k, v) = e?;
        f(k.value(), v.value())?;
    }
    Ok(())
}

fn all_latest_in<T: ReadableTable<(u32, u32), u64>>(t: &T) -> Result<Vec<((u32, u32), u64)>> {
    let mut out = Vec::new();
    for e in t.iter()? {
        let (k, v) = e?;
        out.push((k.value(), v.value()));
    }
    Ok(out)
}
