//! The narrow door to a shared log: append with an expected last
//! position, follow from a position, and snapshots that let the log drop
//! its oldest entries. The JetStream implementation ([`super::jetstream`])
//! is the first; anything with a compare-and-append (a table on a SQL
//! database) can be another.
//!
//! Positions are 1-based and dense: the entry after position `p` is
//! `p + 1`; position 0 is "before the first entry".

use std::path::Path;
use std::time::Duration;

/// One entry of the log.
#[derive(Debug, Clone)]
pub struct Entry {
    pub position: u64,
    pub payload: Vec<u8>,
}

/// Why an append did not take.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    /// The log's last position was not the one expected: another writer
    /// appended first. Nothing was appended; `last` is the log's last
    /// position when the log says it.
    #[error("the log moved on (last position {last:?})")]
    Conflict { last: Option<u64> },
    /// No answer in time: the entry may or may not be in the log.
    #[error("the log did not answer in time; the write may or may not have taken: {0}")]
    Unknown(String),
    /// The log refused the entry for good (too large, misconfigured).
    #[error("the log refused the entry: {0}")]
    Refused(String),
}

/// A log operation other than an append failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("shared log: {0}")]
pub struct LogError(pub String);

/// The first and last positions the log holds (`first > last`: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub first: u64,
    pub last: u64,
}

/// A shared, totally ordered log. Every method blocks the calling thread
/// (which must not be an async runtime's).
pub trait SharedLog: Send + Sync + 'static {
    /// Appends `payload` if the log's last position is `expected_last`,
    /// returning its position. `id` names the entry for deduplication: an
    /// append retried with the same `id` after an unknown outcome returns
    /// the position the first one took, and never appends twice.
    fn append(&self, expected_last: u64, id: &str, payload: &[u8]) -> Result<u64, AppendError>;

    /// The largest payload an entry may have.
    fn max_payload(&self) -> usize;

    /// Every entry after `after`, in order, then new ones as they are
    /// appended, until the receiver is dropped. Entries the log no longer
    /// holds are skipped: the receiver sees the gap in the positions.
    fn follow(&self, after: u64) -> Result<tokio::sync::mpsc::Receiver<Entry>, LogError>;

    /// The entry at `position`, if the log holds it (`None`: not yet
    /// appended, or dropped). For catching up when a follower lags.
    fn read(&self, position: u64, timeout: Duration) -> Result<Option<Entry>, LogError>;

    /// The positions the log holds now.
    fn bounds(&self, timeout: Duration) -> Result<Bounds, LogError>;

    /// Stores `file` (a database file reflecting `position`) as a snapshot.
    fn save_snapshot(&self, position: u64, file: &Path) -> Result<(), LogError>;

    /// The positions of the snapshots kept, newest first.
    fn snapshots(&self) -> Result<Vec<u64>, LogError>;

    /// Writes the newest snapshot to `to`; returns its position, or `None`
    /// when there is none.
    fn load_snapshot(&self, to: &Path) -> Result<Option<u64>, LogError>;

    /// Drops the entries up to and including `position` (covered by a
    /// snapshot).
    fn truncate_through(&self, position: u64) -> Result<(), LogError>;
}
