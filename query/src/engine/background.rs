//! What an engine does beside answering queries: loading, saving and
//! taking up the derived indexes' checkpoint, and the flusher thread that
//! writes the full-text overlays into tantivy and saves the checkpoint
//! periodically.

use crate::memindex::{MemIndexes, checkpoint, text};
use crate::query_error::QueryError;
use refdb_storage::{ReadTxn, Store};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

/// The checkpoint at `path` brought up to `txn`, if there is one that
/// belongs to this file: made under the same schema, at a change-log
/// position this file has reached, with the same record there (not
/// another file's or an older copy's history), and with every record
/// since still in the log. An unreadable one counts as none: it is
/// rebuilt and overwritten.
pub(super) fn load_checkpoint(
    path: &Path,
    txn: &ReadTxn<'_>,
) -> Result<Option<(MemIndexes, u64, u64)>, QueryError> {
    let Ok(Some((mut ix, pos))) = checkpoint::load(path, txn.schema()) else {
        return Ok(None);
    };
    if !checkpoint::belongs(pos, txn)? {
        return Ok(None);
    }
    let caught_up = ix.catch_up(txn, pos.next_seq)?;
    ix.start()?;
    Ok(Some((ix, caught_up, pos.next_seq)))
}

/// Writes the derived indexes to `path` under the gate, so that they and
/// the change-log position recorded with them describe the same commit;
/// returns that position.
pub(super) fn save_checkpoint(
    store: &Store,
    indexes: &RwLock<MemIndexes>,
    path: &Path,
) -> Result<u64, QueryError> {
    let _gate = store.gate();
    let txn = store.read()?;
    let ix = indexes.read().unwrap_or_else(|e| e.into_inner());
    if !ix.ready {
        return Err(QueryError::Internal("the indexes are not built".into()));
    }
    // The position the indexes have applied, not the file's end: after a
    // disk fault a commit may be in the file before it is announced.
    let next_seq = ix.log_end;
    let last_hash = checkpoint::hash_below(&txn, next_seq)?;
    let pos = checkpoint::Position {
        next_seq,
        last_hash,
    };
    checkpoint::save(&ix, store.schema(), pos, path)
        .map_err(|e| QueryError::Internal(format!("saving {}: {e}", path.display())))?;
    Ok(next_seq)
}

/// Builds the derived indexes from every document of a snapshot and saves
/// them at `path`, without starting an engine (no flusher, no full-text
/// build): what a first start would build and save, done ahead of it.
/// Returns the change-log position saved.
pub(super) fn build_and_save(store: &Store, path: &Path) -> Result<u64, QueryError> {
    let ix = {
        let txn = store.read()?;
        let mut ix = MemIndexes::build(store.schema(), &txn)?;
        ix.log_end = txn.change_log_extent()?.1;
        ix
    };
    save_checkpoint(store, &RwLock::new(ix), path)
}

/// How a saved full-text index stamps its commits: the hash of the record
/// below a position, read from the store while it exists.
pub(super) fn record_hash(store: Weak<Store>) -> text::RecordHash {
    Box::new(move |next_seq| {
        store
            .upgrade()
            .and_then(|s| s.read().ok().map(|t| checkpoint::hash_below(&t, next_seq)))
            .and_then(Result::ok)
            .unwrap_or(0)
    })
}

/// Replaces the indexes held in memory by the checkpoint just saved at
/// `path`, caught up with the commits since, under the gate so that none
/// lands meanwhile. Skipped when the engine is closing or the indexes are
/// not at the file's end (a commit not yet announced after a disk fault).
pub(super) fn take_up_saved(
    store: &Store,
    indexes: &RwLock<MemIndexes>,
    path: &Path,
) -> Result<(), QueryError> {
    let replaced = {
        let _gate = store.gate();
        let txn = store.read()?;
        let Ok(Some((mut loaded, pos))) = checkpoint::load(path, store.schema()) else {
            return Ok(());
        };
        let (_, end) = txn.change_log_extent()?;
        {
            let ix = indexes.read().unwrap_or_else(|e| e.into_inner());
            if ix.closing || !ix.ready || ix.log_end != end {
                return Ok(());
            }
        }
        loaded.catch_up(&txn, pos.next_seq)?;
        indexes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .adopt(loaded)
    };
    drop(replaced);
    Ok(())
}

/// What the flusher needs to save the checkpoint periodically.
pub(super) struct Periodic {
    pub store: Weak<Store>,
    pub path: PathBuf,
    pub every: u64,
    pub saved: Arc<AtomicU64>,
}

impl Periodic {
    /// Saves when `every` records were committed since the last save.
    fn maybe_save(&self, indexes: &RwLock<MemIndexes>) {
        let Some(store) = self.store.upgrade() else {
            return;
        };
        let next = match store.read().and_then(|r| r.change_log_extent()) {
            Ok((_, next)) => next,
            Err(_) => return,
        };
        if next.saturating_sub(self.saved.load(Ordering::Relaxed)) < self.every {
            return;
        }
        // A failure is retried at the next round.
        if let Ok(at) = save_checkpoint(&store, indexes, &self.path) {
            self.saved.store(at, Ordering::Relaxed);
        }
    }
}

/// Flushes the full-text overlay of every collection that has one.
pub(super) fn flush_all(indexes: &RwLock<MemIndexes>) -> Result<(), QueryError> {
    let colls: Vec<String> = {
        let ix = indexes.read().unwrap_or_else(|e| e.into_inner());
        // Checked under the read lock: an idle flusher round then never
        // takes the write lock.
        ix.colls
            .iter()
            .filter(|(_, c)| {
                c.text
                    .as_ref()
                    .is_some_and(|t| t.dirty_len() > 0 || t.restamp_due(ix.log_end))
            })
            .map(|(name, _)| name.clone())
            .collect()
    };
    // One collection that fails must not leave the others unflushed.
    let mut first_error = None;
    for c in colls {
        if let Err(e) = text::flush(indexes, &c) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Starts the flusher (see the module doc): it wakes on a signal from the
/// observer or after `every`, flushes the full-text overlays, saves the
/// checkpoint when `periodic` says it is due, and ends once the engine is
/// gone (its wake-up channel closed).
pub(super) fn spawn_flusher(
    indexes: Weak<RwLock<MemIndexes>>,
    wake: crossbeam::channel::Receiver<()>,
    every: Duration,
    periodic: Option<Periodic>,
) -> Result<std::thread::JoinHandle<()>, QueryError> {
    use crossbeam::channel::RecvTimeoutError;
    std::thread::Builder::new()
        .name("refdb-text-flush".into())
        .spawn(move || {
            // The first round builds the index from the start-up snapshot.
            let mut first = true;
            loop {
                if !first && let Err(RecvTimeoutError::Disconnected) = wake.recv_timeout(every) {
                    return;
                }
                first = false;
                let Some(ix) = indexes.upgrade() else {
                    return;
                };
                // A failure leaves the overlays exact and larger; the next
                // round tries again with a fresh writer.
                let _ = flush_all(&ix);
                if let Some(p) = &periodic {
                    p.maybe_save(&ix);
                }
            }
        })
        .map_err(|e| QueryError::Internal(format!("cannot start the full-text flusher: {e}")))
}
