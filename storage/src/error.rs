//! Storage errors. Bad input (the caller can fix it) is kept apart from
//! corrupt data and I/O failures (the caller cannot), so the server can map
//! the first to 4xx and only the second to 5xx; see [`Error::is_user_error`].

use crate::patch::PatchError;
use crate::schema::SchemaError;

/// One validation problem at one place of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// `$.field`, `$.info.city`, `$.tags[2]`.
    pub path: String,
    pub message: String,
}

impl Invalid {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A document that references another, as reported by a refused delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    pub coll: String,
    pub id: String,
    pub field: String,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The document does not fit the schema; every problem is listed.
    #[error("invalid document: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Invalid>),
    /// Malformed input that is not a schema violation (an `_id` given on
    /// update, `_meta` written by a client, a bad id).
    #[error("{path}: {message}")]
    BadInput { path: String, message: String },
    #[error("unknown collection \"{0}\"")]
    UnknownCollection(String),
    /// A document that does not exist; `path` is set when it was named by a
    /// reference field of the document being written.
    #[error("{coll}/{id} not found")]
    NotFound {
        coll: String,
        id: String,
        path: Option<String>,
    },
    #[error("{coll}/{id} already exists")]
    AlreadyExists { coll: String, id: String },
    /// A delete refused by `must_be_empty`: these documents reference it.
    #[error("{coll}/{id} is still referenced by {}", describe(.by))]
    Referenced {
        coll: String,
        id: String,
        by: Vec<Referrer>,
    },
    /// An unlink (by a delete, a steal or a move) would leave a required
    /// reference empty.
    #[error("{coll}/{id}: {field} is required and would be left empty")]
    RequiredRef {
        coll: String,
        id: String,
        field: String,
    },
    #[error("{0}")]
    Patch(#[from] PatchError),
    #[error("schema: {0}")]
    Schema(#[from] SchemaError),
    /// The new schema does not fit documents already stored.
    #[error("the schema does not fit {} stored document(s): {}", .0.len(), .0.iter().take(5).map(|(c, i, e)| format!("{c}/{i} {e}")).collect::<Vec<_>>().join("; "))]
    SchemaMigration(Vec<(String, String, Invalid)>),
    /// A write on a store opened read-only.
    #[error("the database is open read-only")]
    ReadOnly,
    /// A transaction whose earlier operation failed; it can only be dropped.
    #[error("the transaction was aborted by an earlier error")]
    Aborted,
    /// Collection grew past the 2^31 documents its numbering allows.
    #[error("collection {0} is full (2^31 documents ever created)")]
    CollectionFull(String),
    /// The file holds something this code did not write.
    #[error("corrupt database: {0}")]
    Corrupt(String),
    #[error("storage: {0}")]
    Storage(String),
    /// The disk (or a quota) had no room for a write; nothing of it was
    /// kept. Reads go on; writes resume once space is freed.
    #[error("no space left for the database: {0}")]
    NoSpace(String),
    /// The disk failed a read or a write; nothing half-written was kept.
    /// The store reopens its file by itself (see [`crate::fault`]).
    #[error("the storage failed: {0}")]
    Unavailable(String),
    /// The file was left unclean (a crash, a failed write) and a
    /// read-only open cannot repair it.
    #[error("{} was not closed cleanly (a crash or a failed write) and needs a repair, which only an open for writing makes: `refdb check` or `refdb serve` does it once no other process has the file open", .0.display())]
    NeedsRepair(std::path::PathBuf),
    /// A hook refused the write (see [`crate::hooks`]).
    #[error("{path}: {message}")]
    Refused { path: String, message: String },
    /// A hook panicked; the write was rolled back.
    #[error("{0}")]
    HookPanicked(String),
}

fn describe(by: &[Referrer]) -> String {
    let mut s = by
        .iter()
        .take(10)
        .map(|r| format!("{}/{} ({})", r.coll, r.id, r.field))
        .collect::<Vec<_>>()
        .join(", ");
    if by.len() > 10 {
        s.push_str(&format!(" and {} more", by.len() - 10));
    }
    s
}

impl Error {
    /// True when the caller's input caused the error (a 4xx), false for
    /// corruption and I/O (a 5xx).
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            Error::Corrupt(_)
                | Error::Storage(_)
                | Error::NoSpace(_)
                | Error::Unavailable(_)
                | Error::NeedsRepair(_)
                | Error::HookPanicked(_)
        )
    }

    /// True for a failure of the disk under the store (no space, an I/O
    /// error) rather than of what was asked.
    pub fn is_disk_fault(&self) -> bool {
        matches!(self, Error::NoSpace(_) | Error::Unavailable(_))
    }

    /// The `$.path` the error is about, when there is one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Error::Invalid(v) => v.first().map(|i| i.path.as_str()),
            Error::BadInput { path, .. } => Some(path),
            Error::Refused { path, .. } => Some(path),
            Error::NotFound { path, .. } => path.as_deref(),
            Error::Patch(p) => Some(&p.path),
            Error::Schema(s) => Some(&s.path),
            Error::SchemaMigration(v) => v.first().map(|(_, _, i)| i.path.as_str()),
            _ => None,
        }
    }

    pub(crate) fn bad(path: impl Into<String>, message: impl Into<String>) -> Error {
        Error::BadInput {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl From<rmp_serde::decode::Error> for Error {
    fn from(e: rmp_serde::decode::Error) -> Error {
        Error::Corrupt(format!("undecodable document: {e}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
