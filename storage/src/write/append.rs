//! Appending created documents at the end of their collection's key range.
//!
//! Why: a collection's rows sit between those of the collections around it
//! in `DOCS` and `DOCNOS`, so a stream of creates with generated (ever
//! larger) ids inserts in the middle of the B-tree, where every leaf split
//! leaves a half-full page behind. A bulk load then wrote twice the pages
//! it needed and paid a descent and a split per row. Rows that go at the
//! very end of their collection's range are instead buffered here and
//! written by one ordered append per table and flush, which packs them into full pages
//! (measured on a million 300-byte rows: 3.5 s and 1088 MiB inserted one by
//! one, 1.0 s and 544 MiB appended).
//!
//! Invariants:
//! - the buffer holds rows of one collection only, in increasing `_id` and
//!   docno order, all greater than every row of that collection in the
//!   tables (so the cursor appends never fail and never overwrite), with
//!   their change records, whose seqs are above every record in the log;
//! - nothing reads `DOCS`/`DOCNOS` while rows are buffered, except the
//!   existence checks of a create, which look in the buffer too
//!   ([`Tx::doc_exists`]); every other path goes through [`Tx::flush`],
//!   which writes the buffer first;
//! - only creates that write no other document's row are buffered (see
//!   [`Tx::appendable`]), and never in group mode, whose undo log records
//!   rows as they are written.
//!
//! The existence checks of creates also remember the documents found
//! ([`Known`]): a million users referencing a hundred thousand addresses
//! then look each address up in the B-tree once, not ten times. A removed
//! document leaves the set, and group mode (whose undo can remove
//! documents behind its back) does not use it.

use super::{Mode, Tx};
use crate::error::Result;
use crate::rows::ReadRows;
use crate::schema::{Collection, FieldType};
use hashbrown::HashSet;
use std::collections::HashMap;

/// Rows beyond which the buffer is written. Small runs keep the cursor's
/// own buffer in cache: 1k rows loaded a million users faster than 4k
/// or 64k (CPU time of the load: 9.3 s, 10.0-10.4 s, 11.2 s).
const APPEND_AT: usize = 1024;

/// Documents known to exist in this transaction, by collection id.
#[derive(Debug, Default)]
pub(crate) struct Known(HashMap<u32, HashSet<Box<str>>>);

/// Known documents beyond which the set starts over, to bound its memory.
const KNOWN_AT: usize = 1 << 20;

impl Known {
    /// Forgets `cid/id` (it is being removed).
    pub(crate) fn forget(&mut self, cid: u32, id: &str) {
        if let Some(set) = self.0.get_mut(&cid) {
            set.remove(id);
        }
    }
}

/// Created rows of one collection not yet written; see the module doc.
#[derive(Debug, Default)]
pub(crate) struct Appends {
    cid: u32,
    /// (`_id`, docno, row bytes) in increasing `_id` and docno order.
    rows: Vec<(String, u32, Vec<u8>)>,
    /// The change-log records of those creates: (seq, record), seqs
    /// increasing, above every record in `CHANGES` (each write in place
    /// flushes the buffer first, and only then takes its seq).
    records: Vec<(u64, Vec<u8>)>,
}

impl Tx<'_> {
    /// Whether a create of a document of `c` may be buffered: no undo log,
    /// no derived list given by the client (that would rewrite the listed
    /// documents), and every reference field stored with a partner that is
    /// served from the index (or none), so the create touches only its own
    /// row and the postings.
    pub(crate) fn appendable(
        &self,
        c: &Collection,
        derived: &HashMap<String, Vec<String>>,
    ) -> bool {
        if self.is_group() || !derived.is_empty() {
            return false;
        }
        c.ref_fields().all(|(f, spec)| {
            if !f.is_stored() {
                return true;
            }
            let partner = spec.reverse.as_deref().and_then(|r| {
                self.schema
                    .collection(&spec.coll)
                    .and_then(|tc| tc.fields.get(r))
            });
            match partner {
                None => true,
                Some(p) => matches!((&f.ty, &p.ty), (FieldType::Ref(_), FieldType::Refs(_))),
            }
        })
    }

    /// Buffers a created row and its change record; the caller checked
    /// [`Tx::appendable`] and that `id` is the collection's largest.
    pub(crate) fn append(
        &mut self,
        c: &Collection,
        cid: u32,
        id: &str,
        docno: u32,
        mut row: Vec<u8>,
    ) -> Result<()> {
        let full = match &self.mode {
            Mode::Whole { appends, .. } => appends.cid != cid || appends.rows.len() >= APPEND_AT,
            Mode::Group { .. } => unreachable!("a group appends nothing"),
        };
        if full {
            self.flush_appends()?;
        }
        let record = self.created_record(c, cid, id, docno)?;
        // Rows this refdb encodes carry their latest seq.
        let carried = crate::codec::set_latest(&mut row, record.0);
        debug_assert!(carried, "an appended row carries its latest seq");
        if let Mode::Whole { appends, .. } = &mut self.mode {
            appends.cid = cid;
            appends.records.push(record);
            appends.rows.push((id.to_string(), docno, row));
        }
        Ok(())
    }

    /// Whether `cid/id` exists, as this transaction sees it (buffered rows
    /// included), without decoding it.
    pub(crate) fn doc_exists(&mut self, cid: u32, id: &str) -> Result<bool> {
        if let Mode::Whole { appends, known } = &self.mode {
            if known.0.get(&cid).is_some_and(|s| s.contains(id)) {
                return Ok(true);
            }
            let buffered = appends.cid == cid
                && appends
                    .rows
                    .binary_search_by(|(i, _, _)| i.as_str().cmp(id))
                    .is_ok();
            if buffered {
                return Ok(true);
            }
        }
        let found = self.rows.doc(cid, id)?.is_some();
        if let (true, Mode::Whole { known, .. }) = (found, &mut self.mode) {
            let set = known.0.entry(cid).or_default();
            if set.len() >= KNOWN_AT {
                set.clear();
            }
            set.insert(id.into());
        }
        Ok(found)
    }

    /// Writes the buffered rows with one cursor per table.
    pub(crate) fn flush_appends(&mut self) -> Result<()> {
        let Mode::Whole { appends, .. } = &mut self.mode else {
            return Ok(());
        };
        if appends.rows.is_empty() {
            return Ok(());
        }
        let cid = appends.cid;
        // Taken and given back (cleared) so the buffer keeps its capacity.
        let mut rows = std::mem::take(&mut appends.rows);
        let records = std::mem::take(&mut appends.records);
        self.rows.append_docs(
            cid,
            rows.iter()
                .map(|(id, _, row)| (id.as_str(), row.as_slice())),
        )?;
        self.rows
            .append_docnos(cid, rows.iter().map(|(id, docno, _)| (*docno, id.as_str())))?;
        // Each created document's record (its row carries the seq): the
        // largest seqs of the log.
        self.rows
            .append_changes(records.iter().map(|(seq, r)| (*seq, r.as_slice())))?;
        rows.clear();
        if let Mode::Whole { appends, .. } = &mut self.mode {
            appends.rows = rows;
        }
        Ok(())
    }
}
