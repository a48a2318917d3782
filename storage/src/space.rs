//! Where the bytes of the file go: per-table figures from redb's own
//! accounting, read from a snapshot. `refdb check` prints them so that a
//! user (and the benches) can see what a file's size is made of.

use crate::error::{Error, Result};
use crate::read::ReadTxn;
use crate::tables::{CHANGES, COLLS, DOCNOS, DOCS, LATEST, META, REFS};
use redb::{ReadTransaction, ReadableTableMetadata, TableDefinition};
use std::path::Path;

/// The space one table takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpace {
    /// The table's name in the file.
    pub name: &'static str,
    /// Its number of entries.
    pub entries: u64,
    /// Bytes of keys and values stored in its leaves.
    pub stored_bytes: u64,
    /// Bytes of the pages that hold it: data, page metadata and fragments.
    pub page_bytes: u64,
}

fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<K, V>,
    name: &'static str,
) -> Result<TableSpace> {
    let t = txn.open_table(def)?;
    let s = t.stats()?;
    Ok(TableSpace {
        name,
        entries: t.len()?,
        stored_bytes: s.stored_bytes(),
        page_bytes: s.stored_bytes() + s.metadata_bytes() + s.fragmented_bytes(),
    })
}

/// Every table of the file, largest first.
pub(crate) fn tables(r: &ReadTxn<'_>) -> Result<Vec<TableSpace>> {
    let txn = r.redb_txn();
    let mut out = vec![
        table(txn, META, "meta")?,
        table(txn, DOCS, "docs")?,
        table(txn, DOCNOS, "docnos")?,
        table(txn, REFS, "refs")?,
        table(txn, CHANGES, "changes")?,
        table(txn, LATEST, "latest_change")?,
        table(txn, COLLS, "colls")?,
    ];
    out.sort_by_key(|t| std::cmp::Reverse(t.page_bytes));
    Ok(out)
}

/// Bytes of the file at `path` that hold no table's pages: free pages and
/// redb's own bookkeeping, roughly what [`crate::Store::compact`] would give back.
pub fn unused_bytes(path: &Path, tables: &[TableSpace]) -> Result<u64> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::Storage(format!("{}: {e}", path.display())))?
        .len();
    Ok(len.saturating_sub(tables.iter().map(|t| t.page_bytes).sum()))
}
