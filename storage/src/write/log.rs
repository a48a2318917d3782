//! The write transaction's side of the change log ([`crate::changelog`]):
//! recording each document row written or removed, pruning past the
//! retention at commit, and applying a record read from another store's
//! log (replay).
//!
//! Records are written to `CHANGES` as the rows they describe are written,
//! not buffered until commit: a million-document import would otherwise
//! hold a second copy of every row in memory. A group commit's failed
//! request takes its records back with the rest of its rows
//! ([`super::undo`]).

use super::Tx;
use super::undo::Undo;
use crate::changelog::{
    Body, ChangeRecord, Counters, Head, Op, RawBody, RawRecord, Retention, encode_value, time_of,
};
use crate::codec::{self, Latest};
use crate::error::{Error, Result};
use crate::read;
use crate::rows::{ReadRows, WriteRows};
use crate::schema::Collection;
use std::collections::HashMap;

/// Documents remembered for merging a later update into their record;
/// past this many a transaction stops merging (records stay correct, there
/// are just more of them) rather than grow without bound.
const MERGE_LIMIT: usize = 100_000;

/// The record that describes a row being written ([`Tx::row_seq`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowSeq {
    pub seq: u64,
    /// `seq` is this unit's record of the document, which refers to the
    /// documents table and so to the row being written: no new record.
    pub merged: bool,
    /// The row carries `seq` (a row written before format 6 cannot).
    pub carried: bool,
}

/// The change log state of one write transaction.
pub(crate) struct Log {
    /// The counters as the transaction found them.
    found: Counters,
    /// The seq the next record gets.
    pub(crate) next_seq: u64,
    /// This transaction's number.
    txn: u64,
    time_us: i64,
    /// Per document of the current unit (the transaction, or the request
    /// in group mode): its record's seq, operation and docno.
    latest: HashMap<(u32, String), (u64, Op, u32)>,
    retention: Retention,
}

impl Log {
    pub(crate) fn open(rows: &WriteRows<'_>, time_us: i64, retention: Retention) -> Result<Log> {
        let found = match rows.meta(crate::changelog::COUNTERS_KEY)? {
            Some(v) => Counters::decode(&v)?,
            None => Counters::default(),
        };
        Ok(Log {
            found,
            next_seq: found.next_seq,
            txn: found.next_txn,
            time_us,
            latest: HashMap::new(),
            retention,
        })
    }

    /// Starts a new unit whose records are not merged with earlier ones
    /// (a request of a group commit, a replayed record).
    pub(crate) fn new_unit(&mut self) {
        self.latest.clear();
    }
}

impl Tx<'_> {
    /// The record that will describe the row of `cid/id` (docno `docno`)
    /// about to be written: the one this unit already wrote for an update
    /// of the same document (merged), else the next. The row carries its
    /// seq ([`codec::set_latest`]).
    pub(crate) fn row_seq(&self, cid: u32, id: &str, update: bool, docno: u32) -> RowSeq {
        let merged = self
            .log
            .latest
            .get(&(cid, id.to_string()))
            .filter(|&&(_, _, at)| update && at == docno);
        match merged {
            Some(&(seq, _, _)) => RowSeq {
                seq,
                merged: true,
                carried: false,
            },
            None => RowSeq {
                seq: self.log.next_seq,
                merged: false,
                carried: false,
            },
        }
    }

    /// Records that `id`'s row is now the one just written (docno
    /// `docno`); `previous` is the row it replaced (`None`: a create).
    /// `row`: the record [`Tx::row_seq`] found for it.
    pub(crate) fn log_put(
        &mut self,
        cid: u32,
        c: &Collection,
        id: &str,
        previous: Option<&[u8]>,
        docno: u32,
        row: RowSeq,
    ) -> Result<()> {
        if row.merged && previous.is_some() {
            // This unit's record of the document refers to `DOCS`, which
            // now holds the final row: nothing to write.
            return Ok(());
        }
        let key = (cid, id.to_string());
        let prev = match previous {
            Some(row) => self.keep_superseded(cid, &c.name, id, docno, row)?,
            None => 0,
        };
        let op = if previous.is_some() {
            Op::Update
        } else {
            Op::Create
        };
        let seq = self.append_record(op, docno, prev, &c.name, id, Body::Current { cid })?;
        debug_assert!(
            !row.carried || row.seq == seq,
            "the row carries its record's seq"
        );
        let replaced_in_table = match previous {
            Some(row) => codec::latest(row)? == Latest::InTable,
            None => false,
        };
        if !row.carried {
            // A row written before format 6, replayed from an older log.
            self.set_latest(cid, docno, Some(seq))?;
        } else if replaced_in_table {
            // The row now says it: the table's entry would go stale.
            self.set_latest(cid, docno, None)?;
        }
        if self.log.latest.len() < MERGE_LIMIT {
            self.log.latest.insert(key, (seq, op, docno));
        }
        Ok(())
    }

    /// The record of a create whose row is buffered for appending (see
    /// [`super::append`]): its seq and value, written with the row. Not
    /// remembered for merging: a later write of the document in this
    /// transaction adds its own record.
    pub(crate) fn created_record(
        &mut self,
        c: &Collection,
        cid: u32,
        id: &str,
        docno: u32,
    ) -> Result<(u64, Vec<u8>)> {
        let seq = self.take_seq()?;
        let head = Head {
            txn: self.log.txn,
            time_us: self.log.time_us,
            op: Op::Create,
            docno,
            prev: 0,
            coll: &c.name,
            id,
        };
        let value = encode_value(head, Body::Current { cid });
        Ok((seq, value))
    }

    fn take_seq(&mut self) -> Result<u64> {
        let seq = self.log.next_seq;
        self.log.next_seq = seq
            .checked_add(1)
            .ok_or_else(|| Error::Corrupt("change log sequence exhausted".into()))?;
        Ok(seq)
    }

    /// Records that `id` (docno `docno`, last row `removed`) was deleted.
    pub(crate) fn log_remove(
        &mut self,
        cid: u32,
        c: &Collection,
        id: &str,
        docno: u32,
        removed: Option<&[u8]>,
    ) -> Result<()> {
        self.log.latest.remove(&(cid, id.to_string()));
        let prev = match removed {
            Some(row) => self.keep_superseded(cid, &c.name, id, docno, row)?,
            None => 0,
        };
        let in_row = match removed {
            Some(row) => matches!(codec::latest(row)?, Latest::InRow(_)),
            None => false,
        };
        if !in_row {
            self.set_latest(cid, docno, None)?;
        }
        self.append_record(Op::Delete, docno, prev, &c.name, id, Body::Deleted)?;
        Ok(())
    }

    /// The document's row is about to change: its latest record, if it
    /// still refers to `DOCS`, gets `row` (the row its change left) copied
    /// in. A record pruned since is simply gone. Returns that record's seq
    /// (0: none), the new record's `prev`. The record is rewritten with
    /// the document's names (`coll`, `id`), which a current record may
    /// leave to `DOCNOS`.
    fn keep_superseded(
        &mut self,
        cid: u32,
        coll: &str,
        id: &str,
        docno: u32,
        row: &[u8],
    ) -> Result<u64> {
        let latest = match codec::latest(row)? {
            Latest::InRow(seq) => seq,
            Latest::InTable => self.rows.latest(cid, docno)?,
        };
        let Some(seq) = latest else {
            return Ok(0);
        };
        let Some(stored) = self.rows.change(seq)?.map(|v| v.to_vec()) else {
            return Ok(seq);
        };
        let raw = RawRecord::decode(seq, &stored)?;
        if !matches!(raw.body, RawBody::Current) {
            return Ok(seq);
        }
        let h = &raw.head;
        if h.docno != docno {
            return Err(Error::Corrupt(format!(
                "change record {seq}, the latest of {coll}/{id} (docno {docno}), has docno {}",
                h.docno
            )));
        }
        let head = Head {
            txn: h.txn,
            time_us: h.time_us,
            op: h.op,
            docno,
            prev: h.prev,
            coll,
            id,
        };
        let value = encode_value(head, Body::Row(row));
        self.rows.put_change(seq, &value)?;
        self.undoable(Undo::Change {
            seq,
            old: Some(stored),
        });
        Ok(seq)
    }

    fn set_latest(&mut self, cid: u32, docno: u32, seq: Option<u64>) -> Result<()> {
        let old = self.rows.set_latest(cid, docno, seq)?;
        self.undoable(Undo::Latest { cid, docno, old });
        Ok(())
    }

    fn append_record(
        &mut self,
        op: Op,
        docno: u32,
        prev: u64,
        coll: &str,
        id: &str,
        body: Body<'_>,
    ) -> Result<u64> {
        let seq = self.take_seq()?;
        let head = Head {
            txn: self.log.txn,
            time_us: self.log.time_us,
            op,
            docno,
            prev,
            coll,
            id,
        };
        let value = encode_value(head, body);
        self.rows.put_change(seq, &value)?;
        self.undoable(Undo::Change { seq, old: None });
        Ok(seq)
    }

    /// The seq after this transaction's last change record, when it wrote
    /// any.
    pub(crate) fn log_end(&self) -> Option<u64> {
        (self.log.next_seq > self.log.found.next_seq).then_some(self.log.next_seq)
    }

    /// At commit: saves the counters when records were written, then drops
    /// the oldest records past the retention — at most a few more than this
    /// transaction wrote, so the log shrinks steadily without one commit
    /// paying for a large backlog.
    pub(crate) fn finish_log(&mut self) -> Result<()> {
        let written = self.log.next_seq - self.log.found.next_seq;
        if written == 0 {
            return Ok(());
        }
        let counters = Counters {
            next_seq: self.log.next_seq,
            next_txn: self.log.txn + 1,
        };
        self.rows
            .put_meta(crate::changelog::COUNTERS_KEY, &counters.encode())?;
        let budget = written.saturating_mul(2).saturating_add(64);
        for _ in 0..budget {
            let expired = match self.rows.first_change()? {
                Some((seq, v)) => {
                    let time = time_of(&v).unwrap_or(i64::MIN);
                    self.log
                        .retention
                        .expired(seq, time, self.log.next_seq, self.log.time_us)
                        .then_some(seq)
                }
                None => None,
            };
            match expired {
                Some(seq) => {
                    self.rows.remove_change(seq)?;
                }
                None => break,
            }
        }
        Ok(())
    }

    /// The change records this transaction wrote so far, rows included,
    /// in seq order: what a shared log is sent before the commit.
    pub(crate) fn written_records(&mut self) -> Result<Vec<ChangeRecord>> {
        self.flush()?;
        let mut out = Vec::new();
        for e in self
            .rows
            .changes(self.log.found.next_seq, Some(self.log.next_seq))?
        {
            let (seq, v) = e?;
            let raw = RawRecord::decode(seq, &v)?;
            let rec = read::resolve(self, raw)?;
            out.push(rec);
        }
        Ok(out)
    }

    /// The position in a shared log this file reflects (0: none).
    pub(crate) fn log_position(&self) -> Result<u64> {
        crate::changelog::decode_position(
            self.rows
                .meta(crate::changelog::LOG_POSITION_KEY)?
                .map(|v| v.to_vec()),
        )
    }

    /// Records that this transaction brings the file to `position` of a
    /// shared log.
    pub(crate) fn set_log_position(&mut self, position: u64) -> Result<()> {
        self.rows
            .put_meta(crate::changelog::LOG_POSITION_KEY, &position.to_le_bytes())?;
        Ok(())
    }

    /// Applies one record of another store's log: the document's row
    /// becomes the record's (or goes, for a delete), with every index kept
    /// in step, and this store's log gets the same record under the same
    /// seq and txn. Records must come in log order; one that does not fit
    /// this store (an update of a missing document, a seq already passed)
    /// is refused and poisons the transaction.
    pub(crate) fn apply_record(&mut self, rec: &ChangeRecord) -> Result<()> {
        self.guard(|tx| {
            if rec.seq < tx.log.next_seq {
                return Err(Error::bad(
                    "$.seq",
                    format!(
                        "change {} comes after {} in this store's log",
                        rec.seq,
                        tx.log.next_seq - 1
                    ),
                ));
            }
            tx.log.new_unit();
            tx.log.next_seq = rec.seq;
            tx.log.txn = rec.txn;
            tx.log.time_us = rec.time_us;
            let (c, cid) = tx.coll(&rec.coll)?;
            tx.flush_appends()?;
            let existing = read::load(tx, c, cid, &rec.id)?;
            let mismatch = |what: &str| {
                Error::Corrupt(format!(
                    "change {} ({} {}/{}): {what}",
                    rec.seq,
                    rec.op.as_str(),
                    rec.coll,
                    rec.id
                ))
            };
            match (rec.op, rec.stored(tx.schema)?, existing) {
                (Op::Delete, None, Some(old)) if old.docno == rec.docno => {
                    tx.remove(cid, c, &rec.id, &old)
                }
                (_, Some(new), _) if new.docno != rec.docno => {
                    Err(mismatch("its docno differs from its row's"))
                }
                (Op::Update, Some(new), Some(old)) if old.docno == new.docno => {
                    let row = rec.row.clone().unwrap_or_default();
                    tx.put_row(cid, c, &rec.id, Some(&old), &new, row)
                }
                (Op::Create, Some(new), None) => {
                    tx.note_created(cid, &c.name, &rec.id, Some(new.docno))?;
                    let row = rec.row.clone().unwrap_or_default();
                    tx.put_row(cid, c, &rec.id, None, &new, row)
                }
                (_, _, None) => Err(mismatch("the document does not exist here")),
                (Op::Create, _, Some(_)) => Err(mismatch("the document already exists here")),
                _ => Err(mismatch("its docno differs from this store's")),
            }?;
            tx.log.new_unit();
            Ok(())
        })
    }
}
