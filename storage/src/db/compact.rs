//! Compacting an open store: redb moves the pages in use down and
//! truncates the file, which needs its handle to itself, so the store
//! swaps the handle out as a reopen after a disk fault does
//! ([`super::recover`]), compacts it and puts it back.
//!
//! Invariant: nothing a reader can see changes; the writer lock and the
//! gate are held throughout, so no write commits and no new snapshot
//! begins meanwhile.

use super::Store;
use super::recover::sole_backend;
use crate::error::{Error, Result};
use crate::rows::Backend;
use std::sync::Arc;

impl Store {
    /// Gives the file's free pages back to the file system (as SQLite's
    /// `VACUUM`): writes and new reads wait until it is done. A snapshot
    /// a reader still holds (a [`crate::ReadTxn`]) makes it fail, with
    /// nothing changed. Returns the file's length before and after.
    pub fn compact(&self) -> Result<(u64, u64)> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let _gate = self.gate.write().unwrap_or_else(|e| e.into_inner());
        let len = || {
            std::fs::metadata(&self.path)
                .map(|m| m.len())
                .map_err(|e| Error::Storage(format!("{}: {e}", self.path.display())))
        };
        let before = len()?;
        self.forget_snapshot();
        let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
        let shared = std::mem::replace(
            &mut *slot,
            Arc::new(Backend::Unavailable("the file is being compacted".into())),
        );
        let mut backend = match sole_backend(shared) {
            Ok(backend) => backend,
            Err(shared) => {
                *slot = shared;
                return Err(Error::Storage("the database handle is in use".into()));
            }
        };
        let done = backend.compact();
        *slot = Arc::new(backend);
        drop(slot);
        done?;
        Ok((before, len()?))
    }
}
