//! What a commit changed, for derived indexes that live outside the file
//! (the query engine's in-memory bitmaps, n-grams, full-text).
//!
//! A [`Change`] carries only the fields marked `index` or `search`: that is
//! all a derived index needs, and it keeps a million-document import from
//! copying every body. Observers run under the store's commit gate, after
//! the commit is durable and before any reader can take a new snapshot
//! through [`crate::Store::gate`], so a reader that holds the gate sees a
//! snapshot and derived indexes that agree.

use serde_json::{Map, Value};

/// One document created, updated or deleted by a commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub coll: String,
    pub id: String,
    pub docno: u32,
    /// Indexed and searched fields before (None: created).
    pub old: Option<Map<String, Value>>,
    /// Indexed and searched fields after (None: deleted).
    pub new: Option<Map<String, Value>>,
}

/// Told about every commit, in commit order (with no changes when the
/// commit changed no indexed or searched value).
pub trait CommitObserver: Send + Sync {
    /// `log_end` is the change log's next seq once this commit is in it
    /// (None: the commit wrote no change record, so the log did not move).
    /// An observer that saves what it derived can record it as the point
    /// to catch up from.
    fn committed(&self, changes: &[Change], log_end: Option<u64>);
}
