//! Every redb table of the file, as typed consts, in one place. The file
//! format is described in docs/format.md; changing a definition here is a
//! format change and must bump [`FORMAT_VERSION`].
//!
//! Invariants across tables (verified by [`crate::audit`]):
//! - `DOCS[(c, id)]` starts with docno `n` ⇔ `DOCNOS[(c, n)] == id`;
//! - for every stored reference value `id → t` of field `f`:
//!   `REFS[(tc, t, c, f, id)]` exists, and nothing else is in `REFS`;
//! - for every `index: true` field, `INDEX` holds exactly the keys
//!   [`crate::keys::index_key`] gives for the stored documents.

use redb::TableDefinition;

/// Bumped on any incompatible change of the tables below.
pub const FORMAT_VERSION: u32 = 1;

/// Database-wide facts: `format` (u32 LE), `schema` (the schema JSON),
/// `catalog` (msgpack map collection name → collection id).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// (collection id, `_id`) → docno (u32 big-endian) followed by the
/// msgpack-encoded stored fields and `_meta`. Keyed by `_id` so that a
/// point read is one lookup and a scan runs in `_id` order.
pub const DOCS: TableDefinition<(u32, &str), &[u8]> = TableDefinition::new("docs");

/// (collection id, docno) → `_id`. Docnos are dense per-collection numbers
/// so that sets of documents are bitmaps for the query engine.
pub const DOCNOS: TableDefinition<(u32, u32), &str> = TableDefinition::new("docnos");

/// Reverse references: (target collection, target id, source collection,
/// source field, source id) → source docno. One entry per stored reference
/// value, written in the same transaction as the document.
pub const REFS: TableDefinition<(u32, &str, u32, &str, &str), u32> = TableDefinition::new("refs");

/// Secondary indexes: order-preserving key (see [`crate::keys`]) → ().
pub const INDEX: TableDefinition<&[u8], ()> = TableDefinition::new("index");

/// Per-collection counters: collection id → msgpack [`crate::db::CollState`].
pub const COLLS: TableDefinition<u32, &[u8]> = TableDefinition::new("colls");
