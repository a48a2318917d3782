//! A store that is a materialized view of a shared, replicated log (see the
//! server's cluster mode): every write is first appended to the log, and
//! the file records the log position it reflects in the same transaction
//! as the data of that position.
//!
//! Invariants:
//! - `META["log_position"]` is the position of the last log entry whose
//!   records this file holds, and it only grows;
//! - a group's records are committed locally only after the log accepted
//!   them ([`Store::write_each_logged`]); an entry read from the log is
//!   applied at most once ([`Store::apply_log_entry`]), whoever wrote it.

use super::Store;
use crate::GroupOp;
use crate::changelog::ChangeRecord;
use crate::error::{Error, Result};
use crate::fault;
use crate::write::{Actor, Tx};

/// A group committed through the log: each operation's result, and the
/// log position the group took (`None`: it changed nothing, so nothing was
/// appended).
pub type LoggedGroup<R> = (Vec<Result<R>>, Option<u64>);

impl Store {
    /// Group commit through a shared log: runs `ops` as
    /// [`Store::write_each`] does, then hands the change records they wrote
    /// to `publish`, which appends them to the log and returns the log
    /// position they took. The group commits locally, with that position,
    /// only if `publish` succeeds; if it fails, nothing is written and its
    /// error is returned inside. A group that changed nothing is not
    /// published. The outer `Result` is the store's.
    pub fn write_each_logged<R, E>(
        &self,
        ops: Vec<GroupOp<'_, R>>,
        publish: impl FnOnce(&[ChangeRecord]) -> std::result::Result<u64, E>,
    ) -> Result<std::result::Result<LoggedGroup<R>, E>> {
        let mut refused = None;
        let mut position = None;
        let done = self.write_group(ops, |tx: &mut Tx<'_>| {
            let records = tx.written_records()?;
            if records.is_empty() {
                return Ok(());
            }
            match publish(&records) {
                Ok(p) => {
                    position = Some(p);
                    tx.set_log_position(p)
                }
                Err(e) => {
                    refused = Some(e);
                    Err(Error::Aborted)
                }
            }
        });
        match (done, refused) {
            (_, Some(e)) => Ok(Err(e)),
            (Ok(results), None) => Ok(Ok((results, position))),
            (Err(e), None) => Err(e),
        }
    }

    /// Applies the records of the log entry at `position`, in one write
    /// transaction that also records the position. Returns false, changing
    /// nothing, when the file already reflects that position (the entry
    /// was this store's own write, committed when the log accepted it). A
    /// record that does not fit this store is refused as in
    /// [`Store::apply_changes`], with nothing applied.
    pub fn apply_log_entry(&self, position: u64, records: &[ChangeRecord]) -> Result<bool> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let faults_before = fault::seen();
        let done = (|| {
            let txn = self.begin_write()?;
            let finished = {
                let mut tx = self.tx(txn.rows()?, &Actor::anonymous())?;
                if tx.log_position()? >= position {
                    return Ok(false);
                }
                for rec in records {
                    tx.apply_record(rec)?;
                }
                tx.set_log_position(position)?;
                tx.finish()?
            };
            self.commit(txn, finished)?;
            Ok(true)
        })();
        self.after_write(done, faults_before)
    }

    /// The position in a shared log this file reflects (0: none).
    pub fn log_position(&self) -> Result<u64> {
        self.read()?.log_position()
    }
}
