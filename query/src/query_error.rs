//! Errors of planning and running a query: one variant per user mistake,
//! plus the storage failures that are not the user's fault.
//!
//! Invariant: every variant a client can cause names the query key at
//! fault ([`QueryError::key`]: `age.$gt`, `_sort`, `_fields`, …) so that
//! the HTTP layer answers 400 with `"path": "$.<key>"`;
//! [`QueryError::is_user_error`] separates those from server-side failures
//! (a corrupt file, a broken stored selection) that must become a 500.

use crate::error::ParseError;
use thiserror::Error;

/// Why a query could not be answered.
#[derive(Debug, Error)]
pub enum QueryError {
    /// The query string itself is malformed.
    #[error(transparent)]
    Parse(#[from] ParseError),

    /// A filter, sort or projection path that the collection's schema does
    /// not declare.
    #[error("`{key}`: unknown field `{field}`")]
    UnknownField { key: String, field: String },

    /// An operator the query language does not have. The parser catches
    /// these first; the variant exists for hand-built queries.
    #[error("`{key}`: unknown operator `{op}`")]
    UnknownOperator { key: String, op: String },

    /// A value that does not have the field's type (`age=abc`).
    #[error("`{key}`: expected {expected}, got `{value}`")]
    BadValue {
        key: String,
        expected: String,
        value: String,
    },

    /// A `$re`/`$reg` pattern the regex crate refuses.
    #[error("`{key}`: invalid regular expression: {msg}")]
    BadRegex { key: String, msg: String },

    /// An operator that makes no sense on the field's type (`male.$gt`,
    /// `$re` on an int, `$contains` on a string).
    #[error("`{key}`: operator `{op}` does not apply to the {ty} field `{field}`")]
    OperatorNotForType {
        key: String,
        op: String,
        field: String,
        ty: String,
    },

    /// A change feed's filter that cannot be judged from a change record:
    /// paging and sorting keys, or a derived reference list (not stored in
    /// the document).
    #[error("`{key}`: a change feed filter cannot {why}")]
    NotInChangeFeed { key: String, why: String },

    /// `_sort` on a field that has no single value to order by (lists,
    /// dicts, `any`).
    #[error("`{key}`: cannot sort by the {ty} field `{field}`")]
    NotSortable {
        key: String,
        field: String,
        ty: String,
    },

    /// `$text` whose value holds no word (empty, or only punctuation):
    /// it would match everything, which is surely not what was meant.
    #[error("`{key}`: $text needs at least one word (letters or digits), got `{value}`")]
    TextNoWords { key: String, value: String },

    /// `$text` on a field without the full-text index (`search: true`
    /// is on top-level string fields only).
    #[error("`{key}`: $text needs a `search: true` string field; `{field}` is not one")]
    TextNeedsSearch { key: String, field: String },

    /// `_after` continues an `_id` order; with another `_sort` it would
    /// silently skip documents.
    #[error(
        "`_after` continues the `_id` order: use it without `_sort`, or with `_sort=_id` or `_sort=-_id`"
    )]
    AfterNeedsIdOrder,

    /// `_after` that is not a document id.
    #[error("`_after`: `{value}` is not a document id (1-64 of A-Za-z0-9_-)")]
    BadAfter { value: String },

    #[error("unknown collection `{0}`")]
    UnknownCollection(String),

    #[error("unknown selection `{0}`")]
    UnknownSelection(String),

    /// A selection stored in the schema whose filter does not plan: the
    /// schema's fault, not the client's.
    #[error("selection `{name}` has an invalid filter: {source}")]
    BadSelection {
        name: String,
        source: Box<QueryError>,
    },

    #[error(transparent)]
    Storage(#[from] refdb_storage::Error),

    /// A worker thread of a parallel scan panicked.
    #[error("internal error: {0}")]
    Internal(String),
}

impl QueryError {
    /// The query key at fault (`age.$gt`, `_sort`, …), if one is.
    pub fn key(&self) -> Option<&str> {
        match self {
            QueryError::Parse(e) => e.key(),
            QueryError::UnknownField { key, .. }
            | QueryError::UnknownOperator { key, .. }
            | QueryError::BadValue { key, .. }
            | QueryError::BadRegex { key, .. }
            | QueryError::OperatorNotForType { key, .. }
            | QueryError::NotSortable { key, .. }
            | QueryError::TextNoWords { key, .. }
            | QueryError::TextNeedsSearch { key, .. }
            | QueryError::NotInChangeFeed { key, .. } => Some(key),
            QueryError::AfterNeedsIdOrder | QueryError::BadAfter { .. } => Some("_after"),
            QueryError::UnknownCollection(_)
            | QueryError::UnknownSelection(_)
            | QueryError::BadSelection { .. }
            | QueryError::Storage(_)
            | QueryError::Internal(_) => None,
        }
    }

    /// True when the client caused the error (a 400, or a 404 for an
    /// unknown collection or selection); false for server-side failures.
    pub fn is_user_error(&self) -> bool {
        match self {
            QueryError::Storage(e) => matches!(e, refdb_storage::Error::UnknownCollection(_)),
            QueryError::BadSelection { .. } | QueryError::Internal(_) => false,
            _ => true,
        }
    }
}
