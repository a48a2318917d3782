//! Every redb table of the file, as typed consts, in one place. The file
//! format is described in docs/format.md; changing a definition here is a
//! format change and must bump [`FORMAT_VERSION`].
//!
//! Invariants across tables (verified by [`crate::audit`]):
//! - `DOCS[(c, id)]` starts with docno `n` ⇔ `DOCNOS[(c, n)] == id`;
//! - for every stored reference value `id → t` of field `f`, the docno of
//!   `id` is in the `REFS[(tc, t, c, f, chunk)]` postings, and nothing else;
//! - for every `index: true` field, `INDEX` holds exactly the postings
//!   [`crate::keys::index_values`] gives for the stored documents.
//!
//! Postings (sets of docnos) are chunked roaring bitmaps; see
//! [`crate::postings`].

use redb::TableDefinition;

/// Bumped on any incompatible change of the tables below.
pub const FORMAT_VERSION: u32 = 2;

/// Database-wide facts: `format` (u32 LE), `schema` (the schema JSON),
/// `catalog` (msgpack map collection name → collection id).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// (collection id, `_id`) → docno (u32 big-endian), then the msgpack of the
/// stored fields, then the msgpack of `_meta` (see [`crate::codec`]). Keyed
/// by `_id` so that a point read is one lookup and a scan runs in `_id`
/// order.
pub const DOCS: TableDefinition<(u32, &str), &[u8]> = TableDefinition::new("docs");

/// (collection id, docno) → `_id`. Docnos are dense per-collection numbers
/// so that sets of documents are bitmaps.
pub const DOCNOS: TableDefinition<(u32, u32), &str> = TableDefinition::new("docnos");

/// Reverse references: (target collection, target id, source collection,
/// source field, docno chunk) → postings of the referencing docnos.
pub const REFS: TableDefinition<(u32, &str, u32, &str, u16), &[u8]> = TableDefinition::new("refs");

/// Secondary indexes: field prefix | encoded value | docno chunk (u16 BE)
/// (see [`crate::keys`]) → postings of the docnos having that value.
pub const INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("index");

/// Per-collection counters: collection id → msgpack [`crate::db::CollState`].
pub const COLLS: TableDefinition<u32, &[u8]> = TableDefinition::new("colls");
