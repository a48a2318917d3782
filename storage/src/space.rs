//! Where the bytes of the file go: per-table figures from the row layer's
//! accounting ([`crate::TableSpace`]), read from a snapshot. `refdb check`
//! prints them so that a user (and the benches) can see what a file's size
//! is made of.

use crate::error::{Error, Result};
pub use crate::rows::TableSpace;
use std::path::Path;

/// Bytes of the file at `path` that hold no table's pages: free pages and
/// redb's own bookkeeping, roughly what [`crate::Store::compact`] would give back.
pub fn unused_bytes(path: &Path, tables: &[TableSpace]) -> Result<u64> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::Storage(format!("{}: {e}", path.display())))?
        .len();
    Ok(len.saturating_sub(tables.iter().map(|t| t.page_bytes).sum()))
}
