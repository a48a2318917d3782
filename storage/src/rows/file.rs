//! The file: opening it (read-write or read-only), its page cache,
//! compaction, and write transactions with their commit.

use super::tables::{DOCS, DOCS_V2, INDEX_V4, META, REFS};
use super::{Snapshot, WriteRows};
use crate::error::{Error, Result};
use redb::{
    ConcurrencyMode, Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, TableHandle,
};
use std::path::Path;

/// The handle: read-write, read-only beside another process, or none
/// while a failed disk keeps the file from opening (see [`crate::fault`]).
pub(crate) enum Backend {
    Writable(Database),
    ReadOnly(ReadOnlyDatabase),
    Unavailable(String),
}

/// How the page cache has served reads since the file opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUse {
    pub read_hits: u64,
    pub read_misses: u64,
    pub evictions: u64,
    /// Bytes the cache holds now.
    pub used_bytes: u64,
}

/// Opens the file for writing, creating it if needed; a file left unclean
/// (a crash, a failed write) is repaired back to its last commit, and the
/// log says so.
pub(crate) fn open_writable(path: &Path, cache_size: usize) -> Result<Backend> {
    let shown = path.display().to_string();
    let said = std::sync::atomic::AtomicBool::new(false);
    // SingleWriter: this process writes, and other processes (`refdb
    // backup`, `check`, `export`) may open the file read-only meanwhile.
    Database::builder()
        .set_cache_size(cache_size)
        .set_concurrency_mode(ConcurrencyMode::SingleWriter)
        .set_repair_callback(move |_| {
            if !said.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::warn!(
                    file = %shown,
                    "the file was not closed cleanly (a crash or a failed write): repairing it back to its last commit"
                );
            }
        })
        .create(path)
        .map(Backend::Writable)
        .map_err(|e| open_error(path, e))
}

/// Opens the file read-only, beside a process that may be writing it.
pub(crate) fn open_read_only(path: &Path) -> Result<Backend> {
    Database::builder()
        .set_concurrency_mode(ConcurrencyMode::SingleWriter)
        .open_read_only(path)
        .map(Backend::ReadOnly)
        .map_err(|e| match e {
            redb::DatabaseError::RepairAborted => Error::NeedsRepair(path.to_path_buf()),
            e => open_error(path, e),
        })
}

/// Says plainly that another process holds the file.
fn open_error(path: &Path, e: redb::DatabaseError) -> Error {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => Error::Storage(format!(
            "{} is open for writing by another process (a running `refdb serve`?)",
            path.display()
        )),
        e => e.into(),
    }
}

impl Backend {
    /// A snapshot of the last commit.
    pub(crate) fn begin_read(&self) -> Result<Snapshot> {
        Snapshot::open(match self {
            Backend::Writable(db) => db.begin_read()?,
            Backend::ReadOnly(db) => db.begin_read()?,
            Backend::Unavailable(why) => return Err(Error::Unavailable(why.clone())),
        })
    }

    /// A value of the meta table, read without opening the other tables:
    /// a file of an older format may not have them.
    pub(crate) fn meta_of_last_commit(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let txn = match self {
            Backend::Writable(db) => db.begin_read()?,
            Backend::ReadOnly(db) => db.begin_read()?,
            Backend::Unavailable(why) => return Err(Error::Unavailable(why.clone())),
        };
        Ok(txn.open_table(META)?.get(key)?.map(|v| v.value().to_vec()))
    }

    /// A write transaction (one at a time: the next waits for it).
    pub(crate) fn begin_write(&self) -> Result<WriteTxn> {
        match self {
            Backend::Writable(db) => Ok(WriteTxn(db.begin_write()?)),
            Backend::ReadOnly(_) => Err(Error::ReadOnly),
            Backend::Unavailable(why) => Err(Error::Unavailable(why.clone())),
        }
    }

    /// Whether redb latched an I/O error on this handle: then only a
    /// reopen makes it usable again. Call with no write transaction alive.
    pub(crate) fn latched(&self) -> bool {
        match self {
            Backend::Writable(db) => matches!(
                db.try_begin_write(),
                Err(redb::TransactionError::Storage(
                    redb::StorageError::PreviousIo | redb::StorageError::DatabaseClosed
                ))
            ),
            Backend::ReadOnly(_) => false,
            Backend::Unavailable(_) => true,
        }
    }

    /// The page cache's hits, misses and size.
    pub(crate) fn cache_use(&self) -> CacheUse {
        let stats = match self {
            Backend::Writable(db) => db.cache_stats(),
            Backend::ReadOnly(db) => db.cache_stats(),
            Backend::Unavailable(_) => return CacheUse::default(),
        };
        CacheUse {
            read_hits: stats.read_hits(),
            read_misses: stats.read_misses(),
            evictions: stats.evictions(),
            used_bytes: stats.used_bytes() as u64,
        }
    }

    /// Moves the pages in use down and truncates the file; needs the
    /// handle to itself (no snapshot alive).
    pub(crate) fn compact(&mut self) -> Result<()> {
        match self {
            Backend::Writable(db) => db.compact().map(drop).map_err(Error::from),
            Backend::ReadOnly(_) => Err(Error::ReadOnly),
            Backend::Unavailable(why) => Err(Error::Unavailable(why.clone())),
        }
    }
}

/// A write transaction: its rows ([`WriteTxn::rows`]) are seen by no one
/// else until [`WriteTxn::commit`]; dropped uncommitted, it leaves nothing.
pub(crate) struct WriteTxn(redb::WriteTransaction);

impl WriteTxn {
    /// Every table of the transaction, opened.
    pub(crate) fn rows(&self) -> Result<WriteRows<'_>> {
        WriteRows::open(&self.0)
    }

    /// Makes the transaction durable (fsync) and visible to new snapshots.
    pub(crate) fn commit(self) -> Result<()> {
        Ok(self.0.commit()?)
    }

    /// Rewrites a format 2 file's documents in format 3: the table keyed
    /// by a byte [`super::tables::DocKey`] instead of a redb tuple, rows
    /// with the fields' length, each made by `convert` from the old row.
    pub(crate) fn upgrade_docs_from_v2(
        &self,
        convert: impl Fn(&[u8]) -> Result<Vec<u8>>,
    ) -> Result<()> {
        {
            let old = self.0.open_table(DOCS_V2)?;
            let mut new = self.0.open_table(DOCS)?;
            // In key order: every insert lands at the end, into full pages.
            for entry in old.iter()? {
                let (k, v) = entry?;
                let row = convert(v.value())?;
                new.insert(k.value(), row.as_slice())?;
            }
        }
        self.0.delete_table(DOCS_V2)?;
        Ok(())
    }

    /// Rewrites the reverse index of a file before format 7 (fixed
    /// chunks of low docno bits) as rows of whole docnos: `split` cuts
    /// each target's set into (first docno, postings) rows. Keys come in
    /// the new table's order, so every insert lands at the end.
    pub(crate) fn upgrade_refs_from_v6(
        &self,
        split: impl Fn(roaring::RoaringBitmap) -> Vec<(u32, Vec<u8>)>,
    ) -> Result<u64> {
        let exists = self
            .0
            .list_tables()?
            .any(|t| t.name() == super::refs_v6::TABLE.name());
        if !exists {
            return Ok(0);
        }
        let mut targets = 0;
        {
            let old = self.0.open_table(super::refs_v6::TABLE)?;
            let mut new = self.0.open_table(REFS)?;
            super::refs_v6::each_target(&old, &mut |(tc, t, sc, sf), set| {
                for (start, row) in split(set) {
                    new.insert((tc, t, sc, sf, start), row.as_slice())?;
                }
                targets += 1;
                Ok(())
            })?;
        }
        self.0.delete_table(super::refs_v6::TABLE)?;
        Ok(targets)
    }

    /// Drops format 4's secondary-index table, which nothing reads.
    pub(crate) fn drop_unread_index(&self) -> Result<()> {
        self.0.delete_table(INDEX_V4)?;
        Ok(())
    }
}
