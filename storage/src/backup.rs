//! Online backup: a consistent copy of the database while others keep
//! reading and writing. Every table is copied row by row from one read
//! snapshot into a new file, which then holds exactly the committed state
//! of that moment (same ids, docnos, `_meta`, indexes); writers are never
//! blocked, since redb readers do not block the writer.

use crate::db::Store;
use crate::error::{Error, Result};
use crate::tables::{CHANGES, COLLS, DOCNOS, DOCS, LATEST, META, REFS};
use redb::{Database, ReadableTable, TableDefinition};
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
    let copy = Database::create(&tmp)?;
    let txn = copy.begin_write()?;
    let mut rows = 0;
    rows += copy_table(&snapshot, &txn, META)?;
    rows += copy_table(&snapshot, &txn, COLLS)?;
    rows += copy_table(&snapshot, &txn, DOCS)?;
    rows += copy_table(&snapshot, &txn, DOCNOS)?;
    rows += copy_table(&snapshot, &txn, REFS)?;
    rows += copy_table(&snapshot, &txn, CHANGES)?;
    rows += copy_table(&snapshot, &txn, LATEST)?;
    txn.commit()?;
    drop(copy);
    std::fs::rename(&tmp, out).map_err(|e| Error::Storage(format!("renaming the backup: {e}")))?;
    Ok(rows)
}

fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    from: &redb::ReadTransaction,
    to: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<u64> {
    let src = from.open_table(def)?;
    let mut dst = to.open_table(def)?;
    let mut n = 0;
    for e in src.iter()? {
        let (k, v) = e?;
        dst.insert(k.value(), v.value())?;
        n += 1;
    }
    Ok(n)
}
