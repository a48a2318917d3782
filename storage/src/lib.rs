//! refdb-storage: collections of schema'd JSON documents that reference
//! each other, in one redb file.
//!
//! Four invariants hold after every commit, and [`audit`] checks them all:
//! 1. **Atomic writes**: every operation, cascade and batch runs in one
//!    redb write transaction; any error rolls all of it back.
//! 2. **References ⇄ reverse index**: every stored reference has exactly
//!    one reverse-index entry, no reference dangles, and both sides of a
//!    two-way pair agree.
//! 3. **Change log ⇄ documents**: every commit's changes are recorded in
//!    the same transaction, and the latest record of each document agrees
//!    with it.
//! 4. **Schema-valid documents only**.
//!
//! Entry point: [`Store`]. Reading goes through [`ReadTxn`] snapshots,
//! writing through [`Tx`] inside [`Store::write`].

pub mod audit;
mod catalog;
pub mod changelog;
mod changes;
mod codec;
pub mod db;
mod derive;
mod error;
pub mod fault;
mod hash;
pub mod hooks;
mod ids;
pub mod json;
pub mod keys;
mod migrate;
mod msgpack;
pub mod ndjson;
pub mod patch;
pub mod postings;
pub mod read;
mod rows;
pub mod schema;
pub mod space;
mod stamp;
mod timetext;
mod transcode;
mod varint;
pub mod write;

pub use audit::AuditReport;
pub use catalog::CollState;
pub use changelog::{ChangeRecord, Op, Retention};
pub use changes::{Change, CommitObserver};
pub use codec::StoredDoc;
pub use db::{Gate, GroupOp, LoggedGroup, OpenOptions, Store};
pub use error::{Error, Invalid, Referrer, Result};
pub use fault::{FaultKind, WriteFault};
pub use hooks::{Cause, Committed, HookCtx, Hooks, Refusal};
pub use read::{Document, ReadTxn};
pub use rows::tables;
pub use rows::{CacheUse, TableSpace};
pub use schema::{Collection, Field, FieldType, OnDelete, Schema};
pub use write::{Actor, BatchOp, BatchResult, Tx};
pub use write::{DeletePlan, Unlink};
