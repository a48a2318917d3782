//! redb's errors as the crate's: a full disk, a failing disk (both
//! counted, see [`crate::fault`]), or a plain storage error.

use crate::error::Error;
use crate::fault::{self, FaultKind};

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                from_redb_error(redb::Error::from(e))
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::CompactionError
);

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Error {
        from_redb_error(e)
    }
}

/// Disk faults get their own variants (and are counted); every other redb
/// error is a plain storage error.
fn from_redb_error(e: redb::Error) -> Error {
    let kind = match &e {
        redb::Error::Io(io) => fault::io_kind(io),
        redb::Error::PreviousIo | redb::Error::DatabaseClosed => FaultKind::Io,
        _ => return Error::Storage(e.to_string()),
    };
    fault::count();
    match kind {
        FaultKind::NoSpace => Error::NoSpace(e.to_string()),
        FaultKind::Io => Error::Unavailable(e.to_string()),
    }
}

impl From<redb::CursorError> for Error {
    fn from(e: redb::CursorError) -> Error {
        match e {
            // Appends are made in key order by construction: a key out of
            // order means the tables disagree with the cached largest id.
            redb::CursorError::UnorderedKey => Error::Corrupt("a key appended out of order".into()),
            other => from_redb_error(other.into()),
        }
    }
}
