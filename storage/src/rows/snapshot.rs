//! A read snapshot: one redb read transaction with the tables every read
//! needs opened once; the rest are opened when asked for.

use super::refs_v6::{self, RefKeyV6};
use super::tables::{CHANGES, COLLS, DOCNOS, DOCS, LATEST, META, REFS};
use super::{Changes, ReadRows, RefKey, RefTarget, Row};
use crate::error::Result;
use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use std::ops::Bound;
use std::path::Path;

/// The tables of one redb read transaction, opened once. Shared by every
/// read until the next commit (see [`crate::Store::read`]): opening a
/// redb read transaction (a file lock in the multi-process mode) and the
/// tables cost more than the point read that followed.
pub(crate) struct Snapshot {
    docs: ReadOnlyTable<super::tables::DocKey, &'static [u8]>,
    docnos: ReadOnlyTable<(u32, u32), &'static str>,
    refs: RefsTable,
    colls: ReadOnlyTable<u32, &'static [u8]>,
    txn: ReadTransaction,
}

/// The reverse index as this file holds it: in rows that split by size,
/// or, in a file a writer has not yet upgraded from format 6 or before,
/// in fixed chunks.
enum RefsTable {
    Ranges(ReadOnlyTable<RefKey<'static>, &'static [u8]>),
    Chunks(ReadOnlyTable<RefKeyV6<'static>, &'static [u8]>),
}

/// The space one table takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpace {
    /// The table's name in the file.
    pub name: &'static str,
    /// Its number of entries.
    pub entries: u64,
    /// Bytes of keys and values stored in its leaves.
    pub stored_bytes: u64,
    /// Bytes of the pages that hold it: data, page metadata and fragments.
    pub page_bytes: u64,
}

impl Snapshot {
    pub(super) fn open(txn: ReadTransaction) -> Result<Snapshot> {
        Ok(Snapshot {
            docs: txn.open_table(DOCS)?,
            docnos: txn.open_table(DOCNOS)?,
            refs: match txn.open_table(REFS) {
                Ok(t) => RefsTable::Ranges(t),
                Err(redb::TableError::TableDoesNotExist(_)) => {
                    RefsTable::Chunks(txn.open_table(refs_v6::TABLE)?)
                }
                Err(e) => return Err(e.into()),
            },
            colls: txn.open_table(COLLS)?,
            txn,
        })
    }

    /// Every table of the file with the space it takes, largest first,
    /// from redb's own accounting.
    pub(crate) fn space(&self) -> Result<Vec<TableSpace>> {
        let mut out = vec![
            space_of(&self.txn, META, "meta")?,
            space_of(&self.txn, DOCS, "docs")?,
            space_of(&self.txn, DOCNOS, "docnos")?,
            match self.refs {
                RefsTable::Ranges(_) => space_of(&self.txn, REFS, "referrers")?,
                RefsTable::Chunks(_) => space_of(&self.txn, refs_v6::TABLE, "refs")?,
            },
            space_of(&self.txn, CHANGES, "changes")?,
            space_of(&self.txn, LATEST, "latest_change")?,
            space_of(&self.txn, COLLS, "colls")?,
        ];
        out.sort_by_key(|t| std::cmp::Reverse(t.page_bytes));
        Ok(out)
    }

    /// Copies every table of the snapshot into a new file at `path`, in one
    /// transaction; returns the number of rows copied.
    pub(crate) fn copy_to(&self, path: &Path) -> Result<u64> {
        let copy = Database::create(path)?;
        let txn = copy.begin_write()?;
        let mut rows = 0;
        rows += copy_table(&self.txn, &txn, META)?;
        rows += copy_table(&self.txn, &txn, COLLS)?;
        rows += copy_table(&self.txn, &txn, DOCS)?;
        rows += copy_table(&self.txn, &txn, DOCNOS)?;
        rows += match self.refs {
            RefsTable::Ranges(_) => copy_table(&self.txn, &txn, REFS)?,
            RefsTable::Chunks(_) => copy_table(&self.txn, &txn, refs_v6::TABLE)?,
        };
        rows += copy_table(&self.txn, &txn, CHANGES)?;
        rows += copy_table(&self.txn, &txn, LATEST)?;
        txn.commit()?;
        Ok(rows)
    }
}

fn space_of<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<K, V>,
    name: &'static str,
) -> Result<TableSpace> {
    let t = txn.open_table(def)?;
    let s = t.stats()?;
    Ok(TableSpace {
        name,
        entries: t.len()?,
        stored_bytes: s.stored_bytes(),
        page_bytes: s.stored_bytes() + s.metadata_bytes() + s.fragmented_bytes(),
    })
}

fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    from: &ReadTransaction,
    to: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<u64> {
    let src = from.open_table(def)?;
    let mut dst = to.open_table(def)?;
    let mut n = 0;
    for e in src.iter()? {
        let (k, v) = e?;
        dst.insert(k.value(), v.value())?;
        n += 1;
    }
    Ok(n)
}

impl ReadRows for Snapshot {
    held_table_reads!();

    fn ref_rows_of(
        &self,
        target: RefTarget<'_>,
        f: &mut dyn FnMut(u32, &[u8]) -> Result<()>,
    ) -> Result<()> {
        match &self.refs {
            RefsTable::Ranges(t) => super::ref_rows_in(t, target, f),
            RefsTable::Chunks(t) => refs_v6::rows_of(t, target, f),
        }
    }

    fn each_ref_row(&self, f: &mut dyn FnMut(RefKey<'_>, &[u8]) -> Result<()>) -> Result<()> {
        match &self.refs {
            RefsTable::Ranges(t) => super::each_ref_row_in(t, f),
            RefsTable::Chunks(t) => refs_v6::each_row(t, f),
        }
    }

    fn meta(&self, key: &str) -> Result<Option<Row<'_>>> {
        // A read-only table's guards keep the transaction, not the table,
        // alive: the table can go out of scope.
        Ok(self.txn.open_table(META)?.get(key)?.map(Row))
    }

    fn change(&self, seq: u64) -> Result<Option<Row<'_>>> {
        Ok(self.txn.open_table(CHANGES)?.get(seq)?.map(Row))
    }

    fn changes(&self, from: u64, to: Option<u64>) -> Result<Changes<'_>> {
        let table = self.txn.open_table(CHANGES)?;
        let hi = match to {
            Some(to) => Bound::Excluded(to),
            None => Bound::Unbounded,
        };
        Ok(Changes(table.range::<u64>((Bound::Included(from), hi))?))
    }

    fn first_change(&self) -> Result<Option<(u64, Row<'_>)>> {
        match self.changes(0, None)?.next() {
            Some(first) => Ok(Some(first?)),
            None => Ok(None),
        }
    }

    fn latest(&self, cid: u32, docno: u32) -> Result<Option<u64>> {
        Ok(self
            .txn
            .open_table(LATEST)?
            .get((cid, docno))?
            .map(|v| v.value()))
    }

    fn all_latest(&self) -> Result<Vec<((u32, u32), u64)>> {
        super::all_latest_in(&self.txn.open_table(LATEST)?)
    }
}
