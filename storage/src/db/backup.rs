//! Online backup: a consistent copy of the database while others keep
//! reading and writing. Every table is copied row by row from one read
//! snapshot into a new file, which then holds exactly the committed state
//! of that moment (same ids, docnos, `_meta`, indexes); writers are never
//! blocked, since readers do not block the writer.

use super::Store;
use crate::error::{Error, Result};
use std::path::Path;

/// Copies `store` into a new file at `out` (which must not exist); returns
/// the number of rows copied.
pub fn backup(store: &Store, out: &Path) -> Result<u64> {
    if out.exists() {
        return Err(Error::Storage(format!("{} already exists", out.display())));
    }
    let snapshot = store.backend().begin_read()?;
    // Written under a temporary name and renamed at the end, so a crash or
    // an error never leaves a half-written file under the final name.
    let tmp = out.with_extension("partial");
    let rows = snapshot.copy_to(&tmp)?;
    std::fs::rename(&tmp, out).map_err(|e| Error::Storage(format!("renaming the backup: {e}")))?;
    Ok(rows)
}
