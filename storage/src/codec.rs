//! How a document sits in the `DOCS` table: a header, the msgpack map of
//! its stored fields, then the msgpack encoding of its `_meta`. The header
//! is its docno with the top bit set (u32 big-endian), the length of the
//! fields' msgpack (LEB128), and the seq of the document's latest change
//! record (LEB128, 0 for none): 9 bytes for a document of a million, where
//! rows written before format 8 took 16 — the docno (u32 BE, top bit
//! clear), the length (u32 BE, its top bit set) and the seq (u64 BE) — and
//! rows before format 6 took 8, without a seq (the length's top bit
//! clear). Every reader takes the three. Docnos stay below 2^31 so that the
//! top bit tells the layouts apart. `_id` is the key and derived reference
//! lists are never stored.
//!
//! The latest seq is in the row because it changes exactly when the row
//! does: a write that keeps it in a table of its own (as format 5 did)
//! touched one more B-tree leaf per document. A row written before format
//! 6 has no seq; its document's latest record is still in the
//! latest-change table until the row is next written.
//!
//! A field's key in that map is its position in its collection's declared
//! fields (a msgpack positive integer: one byte for the first 128 fields)
//! rather than its name, which took about a third of a typical row. Rows
//! written before format 6 have names there, and are read as they are: a
//! reader takes either. Positions are those of the schema the file holds;
//! a schema change that moves a field is a migration, which rewrites every
//! row ([`crate::migrate`]), so a row never outlives the positions it was
//! written with. Two stores with the same schema write the same bytes, so
//! rows travel between them unchanged (the change log, replicas).
//!
//! A top-level `datetime` field whose text is in one of the common UTC
//! forms is stored as a small msgpack extension rather than the string
//! ([`crate::timetext`]); every reader gives back the same text.
//!
//! `_meta` is encoded apart from the fields, in its packed form when it
//! has the shape writes stamp ([`crate::stamp`]), so that a transaction
//! creating many documents encodes it once ([`encode_with_meta`]), and its
//! bytes are found without decoding the fields, so that readers can reuse
//! the decoded `_meta` of the previous row when the bytes are the same
//! (every document a transaction created shares them).

use crate::error::{Error, Result};
use crate::schema::{Collection, FieldType};
use serde_json::{Map, Value};

/// A document as clients see it.
pub type Document = Map<String, Value>;

/// A document as stored: its docno, stored fields and `_meta`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDoc {
    pub docno: u32,
    /// The stored fields (no `_id`, no `_meta`, no derived lists, no nulls).
    pub body: Map<String, Value>,
    /// `{ctime, mtime, created_by, modified_by}`.
    pub meta: Value,
}

/// The bytes of a `_meta` value (see [`crate::stamp`]).
pub fn encode_meta(meta: &Value) -> Vec<u8> {
    crate::stamp::encode(meta)
}

pub fn encode(coll: &Collection, doc: &StoredDoc) -> Vec<u8> {
    encode_with_meta(doc.docno, coll, &doc.body, &encode_meta(&doc.meta))
}

/// Encodes a row of `coll` whose `_meta` is already encoded (or will be
/// appended: pass `&[]`).
pub fn encode_with_meta(
    docno: u32,
    coll: &Collection,
    body: &Map<String, Value>,
    meta: &[u8],
) -> Vec<u8> {
    // Room for a typical document, so that encoding rarely reallocates.
    let mut out = Vec::with_capacity(HEADER_MAX + 256 + meta.len());
    out.extend_from_slice(&(docno | COMPACT_HEADER).to_be_bytes());
    debug_assert!(docno <= MAX_DOCNO, "docno {docno} over the row header's");
    let len = u32::try_from(body.len()).expect("a document has fewer than 2^32 fields");
    rmp::encode::write_map_len(&mut out, len).expect("writing to a Vec cannot fail");
    for (name, value) in body {
        let position = coll.fields.position(name);
        match position {
            Some(p) => rmp::encode::write_uint(&mut out, p as u64).map(drop),
            // Only declared fields are stored; a name is still a valid key.
            None => rmp::encode::write_str(&mut out, name),
        }
        .expect("writing to a Vec cannot fail");
        let datetime = position
            .and_then(|p| coll.fields.at(p))
            .is_some_and(|f| matches!(f.ty, FieldType::Datetime));
        if let (true, Value::String(s)) = (datetime, value)
            && let Some((ty, n)) = crate::timetext::parse(s.as_bytes())
        {
            put_datetime(&mut out, ty, n);
            continue;
        }
        rmp_serde::encode::write(&mut out, value).expect("a JSON value always encodes");
    }
    // The fields' length goes before them, then a zero seq: shifting the
    // fields by those few bytes costs less than encoding them twice.
    let (len, n) = crate::varint::encode((out.len() - 4) as u64);
    out.splice(4..4, len[..n].iter().copied().chain([0]));
    out.extend_from_slice(meta);
    out
}

/// A `datetime` field's text in a packed form ([`crate::timetext`]): a
/// fixext4 when the number fits in a u32, a fixext8 otherwise.
fn put_datetime(out: &mut Vec<u8>, ty: i8, n: i64) {
    let write = |out: &mut Vec<u8>, len| {
        rmp::encode::write_ext_meta(out, len, ty).expect("writing to a Vec cannot fail")
    };
    match u32::try_from(n) {
        Ok(small) => {
            write(out, 4);
            out.extend_from_slice(&small.to_be_bytes());
        }
        Err(_) => {
            write(out, 8);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

/// Set in the docno word of a row with the LEB128 header (every row
/// written since format 8).
const COMPACT_HEADER: u32 = 1 << 31;

/// The largest docno a row can hold.
pub(crate) const MAX_DOCNO: u32 = COMPACT_HEADER - 1;

/// Set in the length word of a row of formats 6 and 7, which carries its
/// latest change record's seq as a u64.
const HAS_LATEST: u32 = 1 << 31;

/// The longest header: docno, a u64 length and a u64 seq as LEB128.
const HEADER_MAX: usize = 4 + 2 * crate::varint::MAX_LEN;

/// A row's header, read.
struct Header {
    /// Where the fields begin, and their length.
    fields_at: usize,
    fields_len: usize,
    latest: Latest,
    /// Where the seq is, in a row that carries one.
    seq_at: Option<std::ops::Range<usize>>,
    compact: bool,
}

fn header(row: &[u8]) -> Result<Header> {
    let corrupt = || Error::Corrupt("document row shorter than its header".into());
    let word = row.get(..4).ok_or_else(corrupt)?;
    let h = if word[0] & 0x80 != 0 {
        let (len, a) = crate::varint::get(&row[4..]).ok_or_else(corrupt)?;
        let (seq, b) = crate::varint::get(&row[4 + a..]).ok_or_else(corrupt)?;
        Header {
            fields_at: 4 + a + b,
            fields_len: usize::try_from(len).map_err(|_| corrupt())?,
            latest: Latest::InRow((seq != 0).then_some(seq)),
            seq_at: Some(4 + a..4 + a + b),
            compact: true,
        }
    } else {
        let word = row.get(4..8).ok_or_else(corrupt)?;
        let word = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        if word & HAS_LATEST == 0 {
            Header {
                fields_at: 8,
                fields_len: word as usize,
                latest: Latest::InTable,
                seq_at: None,
                compact: false,
            }
        } else {
            let seq = row.get(8..16).ok_or_else(corrupt)?;
            let seq = u64::from_be_bytes(seq.try_into().expect("8 bytes"));
            Header {
                fields_at: 16,
                fields_len: (word & !HAS_LATEST) as usize,
                latest: Latest::InRow((seq != 0).then_some(seq)),
                seq_at: Some(8..16),
                compact: false,
            }
        }
    };
    if row.len() < h.fields_at.saturating_add(h.fields_len) {
        return Err(corrupt());
    }
    Ok(h)
}

/// Where the latest change record of a row's document is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Latest {
    /// In the row: the seq of its latest record (`None`: the log holds
    /// none, as after a schema migration).
    InRow(Option<u64>),
    /// In the latest-change table: a row written before format 6.
    InTable,
}

/// Where `row`'s latest change record is kept, and its seq if in the row.
pub(crate) fn latest(row: &[u8]) -> Result<Latest> {
    Ok(header(row)?.latest)
}

/// Writes `seq` as the latest change record of a row that carries one;
/// returns false, changing nothing, for a row written before format 6.
pub(crate) fn set_latest(row: &mut Vec<u8>, seq: u64) -> bool {
    let Ok(Header {
        seq_at: Some(at),
        compact,
        ..
    }) = header(row)
    else {
        return false;
    };
    if compact {
        let (bytes, n) = crate::varint::encode(seq);
        row.splice(at, bytes[..n].iter().copied());
    } else {
        row[at].copy_from_slice(&seq.to_be_bytes());
    }
    true
}

/// Sets the docno of a row this refdb encoded (one with the LEB128
/// header), encoded before its docno was known.
pub(crate) fn set_docno(row: &mut [u8], docno: u32) {
    debug_assert!(row.first().is_some_and(|b| b & 0x80 != 0) && docno <= MAX_DOCNO);
    row[..4].copy_from_slice(&(docno | COMPACT_HEADER).to_be_bytes());
}

/// The fields' and `_meta`'s bytes of a row.
pub(crate) fn split(bytes: &[u8]) -> Result<(&[u8], &[u8])> {
    let h = header(bytes)?;
    Ok(bytes[h.fields_at..].split_at(h.fields_len))
}

pub fn decode(coll: &Collection, bytes: &[u8]) -> Result<StoredDoc> {
    let RowPairs { fields, meta } = decode_pairs(coll, bytes)?;
    Ok(StoredDoc {
        docno: docno(bytes)?,
        body: fields.into_iter().collect(),
        meta,
    })
}

/// A row decoded for reading: the stored fields as (name, value) pairs in
/// stored order. Point reads take this path: a list of pairs costs no
/// hashing, and [`crate::read`] moves each pair into the client document
/// in schema order, so the fields are hashed once (into the output) instead
/// of twice.
pub struct RowPairs {
    pub fields: Vec<(String, Value)>,
    pub meta: Value,
}

/// Decodes a row of `coll` into [`RowPairs`].
pub fn decode_pairs(coll: &Collection, bytes: &[u8]) -> Result<RowPairs> {
    docno(bytes)?;
    let (body, meta_bytes) = split(bytes)?;
    let mut rd = crate::msgpack::Msgpack::new(body);
    let n = rd.map_len()?;
    let mut fields = Vec::with_capacity(n.min(body.len()));
    for _ in 0..n {
        let name = std::str::from_utf8(rd.field(coll)?)
            .map_err(|_| {
                Error::Corrupt(format!("a stored field name of {} is not UTF-8", coll.name))
            })?
            .to_owned();
        fields.push((name, rd.json(1)?));
    }
    let meta = decode_meta(meta_bytes)?;
    Ok(RowPairs { fields, meta })
}

/// Decodes `_meta` bytes (see [`crate::stamp`]).
fn decode_meta(bytes: &[u8]) -> Result<Value> {
    crate::stamp::decode(bytes)
}

/// A format 2 row (docno, fields, `_meta`, no length) in this format.
pub fn upgrade_v2_row(old: &[u8]) -> Result<Vec<u8>> {
    let docno = docno(old)?;
    // Stepping over the fields' map finds where `_meta` begins.
    let mut fields = crate::msgpack::Msgpack::new(&old[4..]);
    let body = fields.skip(0)?;
    let rest = fields.rest();
    let mut out = Vec::with_capacity(old.len() + 4);
    out.extend_from_slice(&docno.to_be_bytes());
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(rest);
    Ok(out)
}

/// Only the docno of a stored row, without decoding the body.
pub fn docno(bytes: &[u8]) -> Result<u32> {
    bytes
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & !COMPACT_HEADER)
        .ok_or_else(|| Error::Corrupt("document row shorter than its docno".into()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::schema::Schema;

    /// A schema whose collection `c` declares `a`, `b`, `c` and `z`.
    pub(crate) fn schema() -> Schema {
        Schema::parse(
            r#"{"app": "t", "collections": {"c": {"fields": {
                "a": {"type": "any"}, "b": {"type": "any"},
                "c": {"type": "any"}, "z": {"type": "any"}}}}}"#,
        )
        .unwrap()
    }

    fn doc() -> StoredDoc {
        StoredDoc {
            docno: 7,
            body: serde_json::from_str(r#"{"c":{"d":null},"a":1,"b":[true,"x",1.5]}"#).unwrap(),
            meta: serde_json::json!({"ctime": "2024-01-01T00:00:00Z"}),
        }
    }

    #[test]
    fn round_trip() {
        let schema = schema();
        let c = schema.collection("c").unwrap();
        let doc = doc();
        let row = encode(c, &doc);
        assert_eq!(decode(c, &row).unwrap(), doc);
        let pairs = decode_pairs(c, &row).unwrap();
        // The second decode of the same `_meta` comes from the cache.
        assert_eq!(decode_pairs(c, &row).unwrap().meta, doc.meta);
        // 9 bytes of header for a document of a million and a seq of ten.
        let (fields, meta) = split(&row).unwrap();
        assert_eq!(row.len(), 4 + 1 + 1 + fields.len() + meta.len());
        // Format 2: docno, fields, `_meta`, no length.
        let v2 = [&7u32.to_be_bytes()[..], fields, meta].concat();
        let v3 = [
            &7u32.to_be_bytes()[..],
            &(fields.len() as u32).to_be_bytes()[..],
            fields,
            meta,
        ]
        .concat();
        assert_eq!(upgrade_v2_row(&v2).unwrap(), v3);
        assert_eq!(decode(c, &v3).unwrap(), doc);
        assert_eq!(latest(&v3).unwrap(), Latest::InTable);
        assert_eq!(latest(&row).unwrap(), Latest::InRow(None));
        let mut with_seq = row.clone();
        assert!(set_latest(&mut with_seq, 42));
        assert_eq!(latest(&with_seq).unwrap(), Latest::InRow(Some(42)));
        assert_eq!(decode(c, &with_seq).unwrap(), doc);
        assert!(!set_latest(&mut v3.clone(), 42));
        assert!(set_latest(&mut with_seq, 1 << 40));
        assert_eq!(latest(&with_seq).unwrap(), Latest::InRow(Some(1 << 40)));
        assert_eq!(decode(c, &with_seq).unwrap(), doc);
        // Formats 6 and 7: a u32 length with its top bit set, a u64 seq.
        let v6 = [
            &7u32.to_be_bytes()[..],
            &(fields.len() as u32 | HAS_LATEST).to_be_bytes()[..],
            &9u64.to_be_bytes(),
            fields,
            meta,
        ]
        .concat();
        assert_eq!(decode(c, &v6).unwrap(), doc);
        assert_eq!(docno(&v6).unwrap(), 7);
        assert_eq!(latest(&v6).unwrap(), Latest::InRow(Some(9)));
        let mut v6 = v6;
        assert!(set_latest(&mut v6, 1 << 40));
        assert_eq!(latest(&v6).unwrap(), Latest::InRow(Some(1 << 40)));
        assert_eq!(decode(c, &v6).unwrap(), doc);
        // A row cut inside its fields is corrupt, whatever its layout.
        for r in [&row, &v3, &v6] {
            let (fields, _) = split(r).unwrap();
            let cut = r.len() - meta.len() - fields.len() / 2;
            assert!(split(&r[..cut]).is_err());
            assert!(decode(c, &r[..cut]).is_err());
        }
        let mut high = row.clone();
        set_docno(&mut high, MAX_DOCNO);
        assert_eq!(docno(&high).unwrap(), MAX_DOCNO);
        assert_eq!(decode(c, &high).unwrap().body, doc.body);
        assert_eq!(pairs.meta, doc.meta);
        // Stored order is kept.
        assert_eq!(pairs.fields.into_iter().collect::<Map<_, _>>(), doc.body);
        assert_eq!(docno(&row).unwrap(), 7);
    }

    /// A `datetime` field's text in a packed form comes back as sent, in
    /// the decoded document, its JSON and a projection; other texts, and
    /// the same texts in fields of other types, stay strings.
    #[test]
    fn datetime_text_is_packed_and_read_back_as_sent() {
        let schema = Schema::parse(
            r#"{"app": "t", "collections": {"c": {"fields": {
                "t": {"type": "datetime"}, "s": {"type": "string"},
                "l": {"type": "list", "of": {"type": "datetime"}}}}}}"#,
        )
        .unwrap();
        let c = schema.collection("c").unwrap();
        let texts = [
            ("2015-08-24T16:11:00Z", 6),
            ("2106-02-07T06:28:16Z", 10),
            ("1969-12-31T23:59:59Z", 10),
            ("2024-01-01T00:00:00.100Z", 10),
            ("2024-01-01T00:00:00.000001Z", 10),
            ("2024-01-01T00:00:00+02:00", 26),
            ("2024-01-01T00:00:00.1Z", 23),
        ];
        for (text, stored) in texts {
            let body: Map<String, Value> = serde_json::from_value(serde_json::json!({
                "t": text, "s": text, "l": [text]
            }))
            .unwrap();
            let doc = StoredDoc {
                docno: 1,
                body,
                meta: Value::Null,
            };
            let row = encode(c, &doc);
            assert_eq!(decode(c, &row).unwrap(), doc, "{text}");
            let (fields, _) = split(&row).unwrap();
            let plain = 1 + text.len();
            // map header · (position · value) for t, s and l
            assert_eq!(
                fields.len(),
                1 + (1 + stored) + (1 + plain) + (2 + plain),
                "{text}"
            );
            let mut json = Vec::new();
            crate::json::write_record_doc(c, "x", &row, &|_| false, &mut json).unwrap();
            let json: Value = serde_json::from_slice(&json).unwrap();
            assert_eq!(json["t"], text);
            let mut out = vec![None];
            crate::msgpack::project(c, fields, &["t"], &mut out).unwrap();
            assert_eq!(out[0], Some(Value::from(text)));
        }
    }

    #[test]
    fn fields_are_stored_by_position_and_rows_keyed_by_name_still_read() {
        let schema = schema();
        let c = schema.collection("c").unwrap();
        let doc = doc();
        let row = encode(c, &doc);
        let (body, _) = split(&row).unwrap();
        // {2: {"d": nil}, 0: 1, 1: [...]}: positions, not names.
        assert_eq!(&body[..2], &[0x83, 0x02]);
        for name in [b'a', b'b', b'c'] {
            assert!(!body.windows(2).any(|w| w == [0xa1, name]), "{body:?}");
        }
        // A row written before positions, with the same values.
        let mut named = Vec::new();
        named.extend_from_slice(&7u32.to_be_bytes());
        let fields = rmp_serde::to_vec(&doc.body).unwrap();
        named.extend_from_slice(&(fields.len() as u32).to_be_bytes());
        named.extend_from_slice(&fields);
        named.extend_from_slice(&encode_meta(&doc.meta));
        assert!(split(&named).unwrap().0.len() > split(&row).unwrap().0.len());
        assert_eq!(decode(c, &named).unwrap(), doc);
        let mut out = Vec::new();
        crate::json::write_record_doc(c, "x", &named, &|_| false, &mut out).unwrap();
        let mut from_positions = Vec::new();
        crate::json::write_record_doc(c, "x", &row, &|_| false, &mut from_positions).unwrap();
        assert_eq!(out, from_positions);
    }

    #[test]
    fn a_position_past_the_fields_is_corrupt() {
        let schema = schema();
        let c = schema.collection("c").unwrap();
        let mut row = encode(c, &doc());
        // The first key, position 2, becomes 9 (after the 6-byte header
        // and the map's marker).
        assert_eq!(row[7], 0x02);
        row[7] = 0x09;
        assert!(matches!(decode(c, &row), Err(Error::Corrupt(_))));
        let mut out = Vec::new();
        let r = crate::json::write_record_doc(c, "x", &row, &|_| false, &mut out);
        assert!(matches!(r, Err(Error::Corrupt(_))));
    }
}
