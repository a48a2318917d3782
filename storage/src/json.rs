//! Documents served as JSON bytes straight from their stored rows.
//!
//! A GET answers with the JSON text of the materialized document (see
//! [`crate::read`]). Building a [`crate::Document`] first costs an
//! allocation per key and string and a hash per key, only to be thrown
//! away once serialized. This path transcodes the row's msgpack values
//! into JSON as it reads them and writes them in the served order.
//!
//! **Invariant**: for every document, [`crate::ReadTxn::write_json`] writes exactly the
//! bytes of `serde_json::to_vec(&materialized_document)`: same order
//! (`_id`, the schema's fields, `_meta`), same nulls and empty lists for
//! unset fields, same number and string formatting (both go through
//! serde_json's serializer). The storage tests compare both on every
//! document of the model-based runs.

use crate::codec;
use crate::error::Result;
use crate::msgpack::Msgpack;
use crate::schema::{Collection, FieldType};
use crate::transcode::write_str;
use std::ops::Range;

/// Appends the JSON of a change record's document, shaped as a GET serves
/// it — `_id`, the schema's stored fields in order (unset ones as `null`,
/// or `[]` for reference lists), `_meta` — but without derived lists and
/// without the fields `skip` names. A derived list is left out because a
/// record cannot say what it was at that change: it changes with the
/// referring documents, whose own records carry those changes.
pub fn write_record_doc(
    coll: &Collection,
    id: &str,
    row: &[u8],
    skip: &dyn Fn(&str) -> bool,
    out: &mut Vec<u8>,
) -> Result<()> {
    write_shaped(coll, id, row, skip, out, &mut |_, _| Ok(()))
}

/// The document of `row` in the served order, stored fields transcoded,
/// each derived field written by `derived` (comma and name included).
pub(crate) fn write_shaped(
    coll: &Collection,
    id: &str,
    row: &[u8],
    skip: &dyn Fn(&str) -> bool,
    out: &mut Vec<u8>,
    derived: &mut dyn FnMut(&crate::schema::Field, &mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    let (body, meta) = codec::split(row)?;
    // Values are transcoded in stored order into `scratch`, then copied
    // out in schema order: a stored map's order is not the schema's after
    // a schema change, and a copy costs less than a second decode.
    let mut scratch = Vec::with_capacity(body.len() + body.len() / 2);
    let mut rd = Msgpack::new(body);
    let n = rd.map_len()?;
    let mut spans: Vec<(&[u8], Range<usize>)> = Vec::with_capacity(n);
    for _ in 0..n {
        let key = rd.field(coll)?;
        let start = scratch.len();
        rd.value(&mut scratch, 0)?;
        spans.push((key, start..scratch.len()));
    }

    // Room for the names and the `_meta` too, so that `out` rarely grows.
    out.reserve(2 * row.len() + id.len() + 64);
    out.extend_from_slice(b"{\"_id\":");
    write_str(out, id);
    for f in coll.fields.iter() {
        if skip(&f.name) {
            continue;
        }
        if !f.is_stored() {
            derived(f, out)?;
            continue;
        }
        out.push(b',');
        write_str(out, &f.name);
        out.push(b':');
        match spans.iter().find(|(k, _)| *k == f.name.as_bytes()) {
            Some((_, span)) => out.extend_from_slice(&scratch[span.clone()]),
            // As in the materialized document: a reference list is a
            // list even when unset.
            None if matches!(f.ty, FieldType::Refs(_)) => out.extend_from_slice(b"[]"),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.extend_from_slice(b",\"_meta\":");
    crate::stamp::write_json(meta, out)?;
    out.push(b'}');
    Ok(())
}
