//! Undoing one operation inside a shared transaction, for group commit.
//!
//! redb only takes savepoints on a transaction that has not written yet,
//! so several requests sharing one commit ([`crate::Store::write_each`])
//! cannot be separated by savepoints. Instead, while a [`Tx`] runs in group
//! mode it logs the previous value of every row it writes; when one
//! request fails, the log is replayed backwards and the transaction's
//! caches are put back, so the failed request leaves nothing while the
//! others still commit together.

use super::Tx;
use crate::catalog::CollState;
use crate::changes::Change;
use crate::error::Result;
use std::collections::HashMap;

/// The previous content of one written row (`None`: it did not exist).
#[derive(Debug)]
pub(crate) enum Undo {
    Doc {
        cid: u32,
        id: String,
        old: Option<Vec<u8>>,
    },
    Docno {
        cid: u32,
        docno: u32,
        old: Option<String>,
    },
    Refs {
        key: (u32, String, u32, String, u32),
        old: Option<Vec<u8>>,
    },
    /// A change log record (see [`crate::changelog`]).
    Change { seq: u64, old: Option<Vec<u8>> },
    /// A document's latest record number.
    Latest {
        cid: u32,
        docno: u32,
        old: Option<u64>,
    },
}

/// The in-memory state of a [`Tx`] when an operation starts.
pub(crate) struct Mark {
    pub states: HashMap<u32, CollState>,
    pub last_ids: HashMap<u32, Option<String>>,
    pub changes: usize,
    /// The change log's next seq.
    pub next_seq: u64,
}

/// Replays `log` backwards on the transaction's tables.
pub(crate) fn replay(tx: &mut Tx<'_>, log: Vec<Undo>) -> Result<()> {
    let rows = &mut tx.rows;
    for u in log.into_iter().rev() {
        match u {
            Undo::Doc { cid, id, old } => match old {
                Some(v) => drop(rows.put_doc(cid, &id, &v)?),
                None => drop(rows.remove_doc(cid, &id)?),
            },
            Undo::Docno { cid, docno, old } => match old {
                Some(v) => rows.put_docno(cid, docno, &v)?,
                None => rows.remove_docno(cid, docno)?,
            },
            Undo::Refs {
                key: (tc, t, sc, sf, ch),
                old,
            } => {
                let key = (tc, t.as_str(), sc, sf.as_str(), ch);
                match old {
                    Some(v) => rows.put_ref_row(key, &v)?,
                    None => rows.remove_ref_row(key)?,
                }
            }
            Undo::Change { seq, old } => match old {
                Some(v) => rows.put_change(seq, &v)?,
                None => rows.remove_change(seq)?,
            },
            Undo::Latest { cid, docno, old } => {
                rows.set_latest(cid, docno, old)?;
            }
        }
    }
    Ok(())
}

/// Drops observed changes recorded after the mark.
pub(crate) fn truncate(changes: &mut Vec<Change>, mark: &Mark) {
    changes.truncate(mark.changes);
}
