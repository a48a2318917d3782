//! The write transaction's postings flush and group mode: applying the
//! pending reverse-index changes, and running one request of a
//! group commit undoably ([`crate::Store::write_each`]).
//!
//! Invariant: a finished request's postings join the group's pending set
//! and are written once per commit; an undone request leaves the rows as
//! the group had them (see [`super::undo`]).

use super::undo::{self, Mark, Undo};
use super::{Actor, Mode, Tx};
use crate::codec;
use crate::error::{Error, Result};
use crate::postings::{self, Pending, parse_ref_row_key};
use crate::rows::ReadRows;

impl Tx<'_> {
    /// Applies buffered appends and the pending reverse-index changes, row
    /// by row in key order: first those of the group's finished operations
    /// (nothing to undo there), then the current operation's (logged for
    /// undo, so undoing it restores rows to the group's state). Every read
    /// of `REFS` inside the transaction comes after one.
    pub(crate) fn flush(&mut self) -> Result<()> {
        self.flush_appends()?;
        if let Mode::Group { refs, .. } = &mut self.mode {
            let finished = std::mem::take(refs);
            self.apply_refs(finished, false)?;
        }
        let refs = std::mem::take(&mut self.pending_refs);
        self.apply_refs(refs, true)
    }

    fn apply_refs(&mut self, mut pending: Pending, log: bool) -> Result<()> {
        for (row, adds, removes) in pending.take_sorted() {
            let key = parse_ref_row_key(&row).expect("built by ref_row_key");
            let stored = self.rows.ref_row(key)?.map(|v| v.to_vec());
            if log && self.is_group() {
                let (tc, t, sc, sf, ch) = key;
                let key = (tc, t.to_string(), sc, sf.to_string(), ch);
                self.undoable(Undo::Refs {
                    key,
                    old: stored.clone(),
                });
            }
            match postings::apply(stored.as_deref(), &adds, &removes)? {
                Some(row) => {
                    self.rows.put_ref_row(key, &row)?;
                }
                None if stored.is_some() => {
                    self.rows.remove_ref_row(key)?;
                }
                None => {}
            }
        }
        Ok(())
    }

    /// True once an operation failed: the transaction can only be dropped.
    pub fn is_aborted(&self) -> bool {
        self.poisoned
    }

    /// Makes the transaction a group commit's: operations can be undone
    /// one by one ([`Tx::run_undoable`]). Called before any write.
    pub(crate) fn make_group(&mut self) {
        debug_assert!(self.log_end().is_none(), "a group begins before any write");
        self.mode = Mode::Group {
            undo: Vec::new(),
            refs: Pending::default(),
        };
    }

    pub(crate) fn is_group(&self) -> bool {
        matches!(self.mode, Mode::Group { .. })
    }

    /// Logs what a write of the current request replaced, so that a
    /// failure can put it back; nothing outside a group.
    pub(crate) fn undoable(&mut self, u: Undo) {
        if let Mode::Group { undo, .. } = &mut self.mode {
            undo.push(u);
        }
    }

    /// Sets who the next operations are done by.
    pub(crate) fn set_actor(&mut self, actor: &Actor) {
        self.actor = actor.to_json();
        self.create_meta =
            codec::encode_meta(&serde_json::json!({"ctime": self.now, "mtime": self.now,
            "created_by": self.actor, "modified_by": self.actor}));
    }

    /// Runs `op` so that, if it fails (or poisons the transaction), every
    /// row it wrote is put back and the transaction is usable again.
    pub(crate) fn run_undoable<R>(&mut self, op: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let mark = Mark {
            states: self.states.clone(),
            last_ids: self.last_ids.clone(),
            changes: self.observed_changes.len(),
            next_seq: self.log.next_seq,
        };
        let committed = self.committed.len();
        // Each request of a group has its own records.
        self.log.new_unit();
        let r = op(self).and_then(|r| {
            if self.poisoned {
                Err(Error::Aborted)
            } else {
                Ok(r)
            }
        });
        let Mode::Group { undo: log, refs } = &mut self.mode else {
            unreachable!("run_undoable runs in a group");
        };
        let log = std::mem::take(log);
        if r.is_err() {
            self.pending_refs = Pending::default();
            undo::replay(self, log)?;
            undo::truncate(&mut self.observed_changes, &mark);
            self.committed.truncate(committed);
            self.log.next_seq = mark.next_seq;
            self.log.new_unit();
            self.states = mark.states;
            self.last_ids = mark.last_ids;
            self.touched.clear();
            self.poisoned = false;
        } else {
            // The operation stands: its postings join the group's, written
            // once for the whole group.
            refs.merge(std::mem::take(&mut self.pending_refs));
        }
        r
    }
}
