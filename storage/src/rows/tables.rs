//! Every redb table of the file, as typed consts, in one place. The file
//! format is described in docs/format.md; changing a definition here is a
//! format change and must bump [`FORMAT_VERSION`].
//!
//! Invariants across tables (verified by [`crate::audit`]):
//! - `DOCS[(c, id)]` starts with docno `n` ⇔ `DOCNOS[(c, n)] == id`;
//! - for every stored reference value `id → t` of field `f`, the docno of
//!   `id` is in the postings of target `(tc, t, c, f)` in `REFS`, and
//!   nothing else; each target's rows cover docnos from 0 up, without
//!   overlap (see [`crate::postings`]);
//! - `CHANGES` keys are below `META["changes"].next_seq`; the latest
//!   record of each document agrees with `DOCS` (its row, or its absence
//!   after a delete); a record that refers to `DOCS` for its row is its
//!   document's latest and the one its row names (or, for a row written
//!   before format 6, `LATEST`); `LATEST` names no other document.
//!
//! Postings (sets of docnos) are roaring bitmaps in rows that split by
//! size; see [`crate::postings`].

use redb::{Key, TableDefinition, TypeName, Value};
use std::cmp::Ordering;

/// Bumped on any incompatible change of the tables below. A file of the
/// previous format is upgraded when a writer opens it ([`crate::db`]).
pub const FORMAT_VERSION: u32 = 9;

/// Database-wide facts: `format` (u32 LE), `schema` (the schema JSON),
/// `catalog` (msgpack map collection name → collection id), `changes` (the
/// change log's next seq and next txn, u64 LE each).
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// (collection id, `_id`) as a [`DocKey`] → docno (u32 big-endian), the
/// length of the fields' msgpack (u32 big-endian), that msgpack, then the
/// msgpack of `_meta` (see [`crate::codec`]). Keyed by `_id` so that a
/// point read is one lookup and a scan runs in `_id` order.
pub const DOCS: TableDefinition<DocKey, &[u8]> = TableDefinition::new("docs_v3");

/// Format 2's documents table: (collection id, `_id`) as a redb tuple →
/// docno, fields, `_meta` (no length). Read only to upgrade a file.
pub const DOCS_V2: TableDefinition<(u32, &str), &[u8]> = TableDefinition::new("docs");

/// (collection id, docno) → `_id`. Docnos are dense per-collection numbers
/// so that sets of documents are bitmaps.
pub const DOCNOS: TableDefinition<(u32, u32), &str> = TableDefinition::new("docnos");

/// Reverse references: (target collection, target id, source collection,
/// source field, first docno of the row's range) → postings of the
/// referencing docnos in that range (see [`crate::postings`]).
pub const REFS: TableDefinition<(u32, &str, u32, &str, u32), &[u8]> =
    TableDefinition::new("referrers");

/// Formats 2 to 6's reverse references: (target collection, target id,
/// source collection, source field, chunk of 2^20 docnos) → postings of
/// the docnos' low 20 bits. Read to upgrade a file, and by read-only
/// opens of a file not yet upgraded.
pub const REFS_V6: TableDefinition<(u32, &str, u32, &str, u16), &[u8]> =
    TableDefinition::new("refs");

/// Docnos per chunk of a [`REFS_V6`] row: 2^REFS_V6_CHUNK_BITS.
pub const REFS_V6_CHUNK_BITS: u32 = 20;

/// Format 4's secondary indexes (field prefix | encoded value | docno
/// chunk → postings), written by every commit and read by no query: the
/// query engine derives its value indexes from the change log. Deleted when
/// a file is upgraded.
pub const INDEX_V4: TableDefinition<&[u8], &[u8]> = TableDefinition::new("index");

/// The change log: seq (u64) → one [`crate::changelog::ChangeRecord`]
/// (txn, time, op, collection, `_id`, the row after the change). Appended
/// by every write transaction, pruned from the oldest end. The numbers the
/// next records get are in `META["changes"]`.
pub const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");

/// The seq of the latest change record of each document whose row does
/// not carry it (a row written before format 6; see [`crate::codec`]):
/// (collection id, docno) → seq. A later change of the document first
/// writes its row into that record if the record still refers to `DOCS`
/// for it (see [`crate::changelog`]); the row it then writes carries the
/// seq, and the entry goes.
pub const LATEST: TableDefinition<(u32, u32), u64> = TableDefinition::new("latest_change");

/// Per-collection counters: collection id → msgpack [`crate::CollState`].
pub const COLLS: TableDefinition<u32, &[u8]> = TableDefinition::new("colls");

/// The key of [`DOCS`]: (collection id, `_id`) encoded as the id's 4
/// big-endian bytes then the `_id`'s bytes, compared as bytes. Same order
/// as the tuple it replaced, but a point read's binary searches compare
/// with one `memcmp` instead of decoding tuple fields at every step.
#[derive(Debug)]
pub struct DocKey;

/// The bytes of a [`DocKey`], on the stack for ids up to 64 bytes (every
/// valid id).
pub enum DocKeyBytes {
    Inline { buf: [u8; 68], len: u8 },
    Heap(Vec<u8>),
}

impl AsRef<[u8]> for DocKeyBytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            DocKeyBytes::Inline { buf, len } => &buf[..usize::from(*len)],
            DocKeyBytes::Heap(v) => v,
        }
    }
}

impl Value for DocKey {
    type SelfType<'a> = (u32, &'a str);
    type AsBytes<'a> = DocKeyBytes;

    fn fixed_width() -> Option<usize> {
        None
    }

    fn from_bytes<'a>(data: &'a [u8]) -> (u32, &'a str)
    where
        Self: 'a,
    {
        let (cid, id) = data.split_at(4.min(data.len()));
        let mut be = [0u8; 4];
        be[..cid.len()].copy_from_slice(cid);
        // Keys are written from `&str`s; a corrupt one reads as "" and
        // the audit reports the mismatch with `DOCNOS`.
        (
            u32::from_be_bytes(be),
            std::str::from_utf8(id).unwrap_or(""),
        )
    }

    fn as_bytes<'a, 'b: 'a>(value: &'a (u32, &'b str)) -> DocKeyBytes
    where
        Self: 'b,
    {
        let (cid, id) = *value;
        if id.len() <= 64 {
            let mut buf = [0u8; 68];
            buf[..4].copy_from_slice(&cid.to_be_bytes());
            buf[4..4 + id.len()].copy_from_slice(id.as_bytes());
            DocKeyBytes::Inline {
                buf,
                len: (4 + id.len()) as u8,
            }
        } else {
            let mut v = Vec::with_capacity(4 + id.len());
            v.extend_from_slice(&cid.to_be_bytes());
            v.extend_from_slice(id.as_bytes());
            DocKeyBytes::Heap(v)
        }
    }

    fn type_name() -> TypeName {
        TypeName::new("refdb::DocKey")
    }
}

impl Key for DocKey {
    fn compare(data1: &[u8], data2: &[u8]) -> Ordering {
        data1.cmp(data2)
    }
}
