//! The rows of a write transaction: reads that see the transaction's own
//! writes, and the writes, buffered by redb until [`super::WriteTxn::commit`].
//!
//! Invariant: an append ([`WriteRows::append_docs`] and its kin) puts keys
//! greater than every key of their range in the table, in increasing
//! order; a key out of order is refused as [`crate::Error::Corrupt`],
//! never written in the wrong place.

use super::tables::{CHANGES, COLLS, DOCNOS, DOCS, DocKey, LATEST, META, REFS};
use super::{Changes, RangeRow, ReadRows, RefKey, RefTarget, Row};
use crate::error::Result;
use redb::{ReadableTable, Table, WriteTransaction};
use std::ops::Bound;

/// Every table of one write transaction, opened once.
pub(crate) struct WriteRows<'t> {
    docs: Table<'t, DocKey, &'static [u8]>,
    docnos: Table<'t, (u32, u32), &'static str>,
    refs: Table<'t, RefKey<'static>, &'static [u8]>,
    colls: Table<'t, u32, &'static [u8]>,
    meta: Table<'t, &'static str, &'static [u8]>,
    changes: Table<'t, u64, &'static [u8]>,
    latest: Table<'t, (u32, u32), u64>,
}

impl<'t> WriteRows<'t> {
    /// Opens (and so creates, in a new file) every table.
    pub(super) fn open(txn: &'t WriteTransaction) -> Result<WriteRows<'t>> {
        Ok(WriteRows {
            docs: txn.open_table(DOCS)?,
            docnos: txn.open_table(DOCNOS)?,
            refs: txn.open_table(REFS)?,
            colls: txn.open_table(COLLS)?,
            meta: txn.open_table(META)?,
            changes: txn.open_table(CHANGES)?,
            latest: txn.open_table(LATEST)?,
        })
    }

    /// Writes the row of `cid/id`; returns the row it replaced.
    pub(crate) fn put_doc(&mut self, cid: u32, id: &str, row: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .docs
            .insert((cid, id), row)?
            .map(|v| v.value().to_vec()))
    }

    /// Removes the row of `cid/id`; returns it.
    pub(crate) fn remove_doc(&mut self, cid: u32, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.docs.remove((cid, id))?.map(|v| v.value().to_vec()))
    }

    pub(crate) fn put_docno(&mut self, cid: u32, docno: u32, id: &str) -> Result<()> {
        self.docnos.insert((cid, docno), id)?;
        Ok(())
    }

    pub(crate) fn remove_docno(&mut self, cid: u32, docno: u32) -> Result<()> {
        self.docnos.remove((cid, docno))?;
        Ok(())
    }

    /// The row of `target` whose range holds `docno`; none when the
    /// target has no row.
    pub(crate) fn ref_row_at(&self, target: RefTarget<'_>, docno: u32) -> Result<Option<RangeRow>> {
        // Most targets have one row: one descent reads it and finds no
        // other.
        let mut rows = self.refs.range(super::target_range(target))?;
        let Some(first) = rows.next() else {
            return Ok(None);
        };
        let (k, v) = first?;
        let start = k.value().4;
        let second = match rows.next() {
            None => return Ok(Some(RangeRow::new(start, v.value(), None))),
            Some(e) => e?.0.value().4,
        };
        if docno < second {
            return Ok(Some(RangeRow::new(start, v.value(), Some(second))));
        }
        drop((k, v, rows));
        // Several rows: the last starting at or below `docno` (the first
        // starts at 0), then the one after it.
        let (tc, t, sc, sf) = target;
        let (start, row) = match self
            .refs
            .range((tc, t, sc, sf, second)..=(tc, t, sc, sf, docno))?
            .next_back()
        {
            Some(e) => {
                let (k, v) = e?;
                (k.value().4, v.value().to_vec())
            }
            None => unreachable!("the row at `second` is in the range"),
        };
        let end = match start.checked_add(1) {
            Some(from) => match self
                .refs
                .range((tc, t, sc, sf, from)..=(tc, t, sc, sf, u32::MAX))?
                .next()
            {
                Some(e) => Some(e?.0.value().4),
                None => None,
            },
            None => None,
        };
        Ok(Some(RangeRow::new(start, &row, end)))
    }

    pub(crate) fn put_ref_row(&mut self, key: RefKey<'_>, row: &[u8]) -> Result<()> {
        self.refs.insert(key, row)?;
        Ok(())
    }

    pub(crate) fn remove_ref_row(&mut self, key: RefKey<'_>) -> Result<()> {
        self.refs.remove(key)?;
        Ok(())
    }

    pub(crate) fn put_coll(&mut self, cid: u32, row: &[u8]) -> Result<()> {
        self.colls.insert(cid, row)?;
        Ok(())
    }

    pub(crate) fn remove_coll(&mut self, cid: u32) -> Result<()> {
        self.colls.remove(cid)?;
        Ok(())
    }

    pub(crate) fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.meta.insert(key, value)?;
        Ok(())
    }

    pub(crate) fn put_change(&mut self, seq: u64, record: &[u8]) -> Result<()> {
        self.changes.insert(seq, record)?;
        Ok(())
    }

    pub(crate) fn remove_change(&mut self, seq: u64) -> Result<()> {
        self.changes.remove(seq)?;
        Ok(())
    }

    /// Sets (or, with `None`, removes) the latest change record of `cid`'s
    /// docno `docno`; returns the one it replaced.
    pub(crate) fn set_latest(
        &mut self,
        cid: u32,
        docno: u32,
        seq: Option<u64>,
    ) -> Result<Option<u64>> {
        let old = match seq {
            Some(seq) => self.latest.insert((cid, docno), seq)?,
            None => self.latest.remove((cid, docno))?,
        };
        Ok(old.map(|v| v.value()))
    }

    /// Appends `rows` (`_id`, row) after every document of collection
    /// `cid`, packed into full pages; the ids must increase and be greater
    /// than every id of the collection.
    pub(crate) fn append_docs<'r>(
        &mut self,
        cid: u32,
        rows: impl IntoIterator<Item = (&'r str, &'r [u8])>,
    ) -> Result<()> {
        let mut cursor = self.docs.upper_bound_mut(super::coll_end(cid, ""))?;
        for (id, row) in rows {
            cursor.insert_before((cid, id), row)?;
        }
        cursor.close()?;
        Ok(())
    }

    /// Appends (docno, `_id`) pairs after every docno of collection `cid`.
    pub(crate) fn append_docnos<'r>(
        &mut self,
        cid: u32,
        rows: impl IntoIterator<Item = (u32, &'r str)>,
    ) -> Result<()> {
        let mut cursor = self.docnos.upper_bound_mut(super::coll_end(cid, 0))?;
        for (docno, id) in rows {
            cursor.insert_before((cid, docno), id)?;
        }
        cursor.close()?;
        Ok(())
    }

    /// Appends change records after every record of the log.
    pub(crate) fn append_changes<'r>(
        &mut self,
        records: impl IntoIterator<Item = (u64, &'r [u8])>,
    ) -> Result<()> {
        let mut cursor = self.changes.upper_bound_mut(Bound::<u64>::Unbounded)?;
        for (seq, record) in records {
            cursor.insert_before(seq, record)?;
        }
        cursor.close()?;
        Ok(())
    }

    /// Removes every document and docno of collection `cid`.
    pub(crate) fn clear_collection(&mut self, cid: u32) -> Result<()> {
        self.docs.retain_in::<(u32, &str), _>(
            (Bound::Included((cid, "")), super::coll_end(cid, "")),
            |_, _| false,
        )?;
        self.docnos.retain_in::<(u32, u32), _>(
            (Bound::Included((cid, 0)), super::coll_end(cid, 0)),
            |_, _| false,
        )?;
        Ok(())
    }

    /// Empties the reverse index.
    pub(crate) fn clear_refs(&mut self) -> Result<()> {
        self.refs.retain(|_, _| false)?;
        Ok(())
    }

    /// Empties the change log and the latest-change table (their counters,
    /// in the meta table, stay).
    pub(crate) fn clear_change_log(&mut self) -> Result<()> {
        self.changes.retain(|_, _| false)?;
        self.latest.retain(|_, _| false)?;
        Ok(())
    }
}

impl ReadRows for WriteRows<'_> {
    held_table_reads!();

    fn ref_rows_of(
        &self,
        target: RefTarget<'_>,
        f: &mut dyn FnMut(u32, &[u8]) -> Result<()>,
    ) -> Result<()> {
        super::ref_rows_in(&self.refs, target, f)
    }

    fn each_ref_row(&self, f: &mut dyn FnMut(RefKey<'_>, &[u8]) -> Result<()>) -> Result<()> {
        super::each_ref_row_in(&self.refs, f)
    }

    fn meta(&self, key: &str) -> Result<Option<Row<'_>>> {
        Ok(self.meta.get(key)?.map(Row))
    }

    fn change(&self, seq: u64) -> Result<Option<Row<'_>>> {
        Ok(self.changes.get(seq)?.map(Row))
    }

    fn changes(&self, from: u64, to: Option<u64>) -> Result<Changes<'_>> {
        let hi = match to {
            Some(to) => Bound::Excluded(to),
            None => Bound::Unbounded,
        };
        Ok(Changes(
            self.changes.range::<u64>((Bound::Included(from), hi))?,
        ))
    }

    fn first_change(&self) -> Result<Option<(u64, Row<'_>)>> {
        Ok(self.changes.first()?.map(|(k, v)| (k.value(), Row(v))))
    }

    fn latest(&self, cid: u32, docno: u32) -> Result<Option<u64>> {
        Ok(self.latest.get((cid, docno))?.map(|v| v.value()))
    }

    fn all_latest(&self) -> Result<Vec<((u32, u32), u64)>> {
        super::all_latest_in(&self.latest)
    }
}
