//! How a document sits in the `DOCS` table: its docno (u32 big-endian),
//! the length of the fields' msgpack (u32 big-endian), the msgpack
//! encoding (rmp-serde) of its stored fields, then the msgpack encoding of
//! its `_meta`. `_id` is the key and derived reference lists are never
//! stored.
//!
//! `_meta` is encoded apart from the fields, in its packed form when it
//! has the shape writes stamp ([`crate::stamp`]), so that a transaction
//! creating many documents encodes it once ([`encode_with_meta`]), and its
//! bytes are found without decoding the fields, so that readers can reuse
//! the decoded `_meta` of the previous row when the bytes are the same
//! (every document a transaction created shares them).

use crate::error::{Error, Result};
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

pub fn encode(doc: &StoredDoc) -> Vec<u8> {
    encode_with_meta(doc.docno, &doc.body, &encode_meta(&doc.meta))
}

/// Encodes a row whose `_meta` is already encoded (or will be appended:
/// pass `&[]`).
pub fn encode_with_meta(docno: u32, body: &Map<String, Value>, meta: &[u8]) -> Vec<u8> {
    // Room for a typical document, so that encoding rarely reallocates.
    let mut out = Vec::with_capacity(8 + 320 + meta.len());
    out.extend_from_slice(&docno.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    rmp_serde::encode::write(&mut out, body).expect("a JSON map always encodes");
    let len = u32::try_from(out.len() - 8).expect("a document under 4 GiB");
    out[4..8].copy_from_slice(&len.to_be_bytes());
    out.extend_from_slice(meta);
    out
}

/// The fields' and `_meta`'s bytes of a row.
pub(crate) fn split(bytes: &[u8]) -> Result<(&[u8], &[u8])> {
    let corrupt = || Error::Corrupt("document row shorter than its header".into());
    let len = bytes.get(4..8).ok_or_else(corrupt)?;
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let rest = &bytes[8..];
    if rest.len() < len {
        return Err(corrupt());
    }
    Ok(rest.split_at(len))
}

pub fn decode(bytes: &[u8]) -> Result<StoredDoc> {
    let docno = docno(bytes)?;
    let (body, meta) = split(bytes)?;
    // Reading from the slice itself (not through `io::Read`) lets strings
    // be taken straight from the row without a staging buffer.
    let body: Map<String, Value> = rmp_serde::from_slice(body)?;
    let meta = decode_meta(meta)?;
    Ok(StoredDoc { docno, body, meta })
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

struct Pairs(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Pairs, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of fields")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Pairs, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(pair) = map.next_entry::<String, Value>()? {
                    out.push(pair);
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Decodes a row into [`RowPairs`].
pub fn decode_pairs(bytes: &[u8]) -> Result<RowPairs> {
    docno(bytes)?;
    let (body, meta_bytes) = split(bytes)?;
    let Pairs(fields) = rmp_serde::from_slice(body)?;
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
    let mut rest = &old[4..];
    // Decoding the fields through `io::Read` advances `rest` to `_meta`.
    let _: Map<String, Value> =
        serde::Deserialize::deserialize(&mut rmp_serde::Deserializer::new(&mut rest))?;
    let body = &old[4..old.len() - rest.len()];
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
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| Error::Corrupt("document row shorter than its docno".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let doc = StoredDoc {
            docno: 7,
            body: serde_json::from_str(r#"{"a":1,"b":[true,"x",1.5],"c":{"d":null}}"#).unwrap(),
            meta: serde_json::json!({"ctime": "2024-01-01T00:00:00Z"}),
        };
        assert_eq!(decode(&encode(&doc)).unwrap(), doc);
        let pairs = decode_pairs(&encode(&doc)).unwrap();
        // The second decode of the same `_meta` comes from the cache.
        assert_eq!(decode_pairs(&encode(&doc)).unwrap().meta, doc.meta);
        let mut v2 = encode(&doc);
        v2.drain(4..8);
        assert_eq!(upgrade_v2_row(&v2).unwrap(), encode(&doc));
        assert_eq!(pairs.meta, doc.meta);
        assert_eq!(pairs.fields.into_iter().collect::<Map<_, _>>(), doc.body);
        assert_eq!(docno(&encode(&doc)).unwrap(), 7);
    }
}
