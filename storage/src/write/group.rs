//! The write transaction's postings flush and group mode: applying the
//! pending reverse-index changes, and running one request of a
//! group commit undoably ([`crate::Store::write_each`]).
//!
//! Invariant: a finished request's postings join the group's pending set
//! and are written once per commit; an undone request leaves the rows as
//! the group had them (see [`super::undo`]).

use super::undo::{self, Mark, Undo};
use super::{Actor, Mode, Tx};
use crate::error::{Error, Result};
use crate::postings::{self, Pending, parse_ref_target_key};
use crate::rows::{RefKey, RefTarget};

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
        for (target, changes) in pending.take_sorted() {
            let target = parse_ref_target_key(&target).expect("built by ref_target_key");
            self.apply_target(target, changes.as_slice(), log)?;
        }
        Ok(())
    }

    /// Applies one target's changes (in docno order) row by row: each row
    /// takes the changes of its range, splits if it outgrows
    /// [`postings::ROW_BYTES`], and goes when it empties (see
    /// [`crate::postings`] for the invariants kept).
    fn apply_target(
        &mut self,
        target: RefTarget<'_>,
        changes: &[(u32, bool)],
        log: bool,
    ) -> Result<()> {
        let (tc, t, sc, sf) = target;
        let mut rest = changes;
        while let Some(&(first, _)) = rest.first() {
            let (start, stored, end) = match self.rows.ref_row_at(target, first)? {
                Some(r) => (r.start, Some(r.row), r.end),
                None => (0, None, None),
            };
            let n = end.map_or(rest.len(), |e| rest.partition_point(|&(d, _)| d < e));
            let (mine, later) = rest.split_at(n);
            rest = later;
            let set = postings::apply(stored.as_deref(), mine)?;
            if set.is_empty() {
                if stored.is_none() {
                    continue; // removals of docnos the row never had
                }
                self.write_ref_row((tc, t, sc, sf, start), stored, None, log)?;
                if let (0, Some(next)) = (start, end) {
                    // The target's first row must start at 0: the next
                    // row takes its place.
                    let moved = self
                        .rows
                        .ref_row_at(target, next)?
                        .ok_or_else(|| Error::Corrupt("reverse index row vanished".into()))?
                        .row;
                    self.write_ref_row((tc, t, sc, sf, next), Some(moved.clone()), None, log)?;
                    self.write_ref_row((tc, t, sc, sf, 0), None, Some(&moved), log)?;
                }
                continue;
            }
            let mut stored = stored;
            for (part_start, part) in postings::split_to_fit(start, set, self.row_bytes) {
                // Only the first part has a row to replace: the others
                // start inside a range no row started in.
                let old = if part_start == start {
                    stored.take()
                } else {
                    None
                };
                self.write_ref_row(
                    (tc, t, sc, sf, part_start),
                    old,
                    Some(&postings::encode(&part)),
                    log,
                )?;
            }
        }
        Ok(())
    }

    /// Writes (`Some`) or removes (`None`) one reverse-index row whose
    /// current content is `old`, logged for undo in a group's request.
    fn write_ref_row(
        &mut self,
        key: RefKey<'_>,
        old: Option<Vec<u8>>,
        new: Option<&[u8]>,
        log: bool,
    ) -> Result<()> {
        if log && self.is_group() {
            let (tc, t, sc, sf, start) = key;
            self.undoable(Undo::Refs {
                key: (tc, t.to_string(), sc, sf.to_string(), start),
                old,
            });
        }
        match new {
            Some(row) => self.rows.put_ref_row(key, row),
            None => self.rows.remove_ref_row(key),
        }
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
        (self.create_meta_value, self.create_meta) = super::create_meta(&self.now, &self.actor);
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
