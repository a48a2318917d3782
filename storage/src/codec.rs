//! How a document sits in the `DOCS` table: its docno (u32 big-endian),
//! then the msgpack encoding (rmp-serde) of its stored fields, then the
//! msgpack encoding of its `_meta`. `_id` is the key and derived reference
//! lists are never stored.
//!
//! `_meta` is encoded apart from the fields so that a transaction creating
//! many documents encodes it once ([`encode_with_meta`]).

use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// A document as stored: its docno, stored fields and `_meta`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDoc {
    pub docno: u32,
    /// The stored fields (no `_id`, no `_meta`, no derived lists, no nulls).
    pub body: Map<String, Value>,
    /// `{ctime, mtime, created_by, modified_by}`.
    pub meta: Value,
}

/// The msgpack bytes of a `_meta` value.
pub fn encode_meta(meta: &Value) -> Vec<u8> {
    rmp_serde::to_vec(meta).expect("a JSON value always encodes")
}

pub fn encode(doc: &StoredDoc) -> Vec<u8> {
    encode_with_meta(doc.docno, &doc.body, &encode_meta(&doc.meta))
}

/// Encodes a row whose `_meta` is already encoded.
pub fn encode_with_meta(docno: u32, body: &Map<String, Value>, meta: &[u8]) -> Vec<u8> {
    // Room for a typical document, so that encoding rarely reallocates.
    let mut out = Vec::with_capacity(4 + 320 + meta.len());
    out.extend_from_slice(&docno.to_be_bytes());
    rmp_serde::encode::write(&mut out, body).expect("a JSON map always encodes");
    out.extend_from_slice(meta);
    out
}

pub fn decode(bytes: &[u8]) -> Result<StoredDoc> {
    let docno = docno(bytes)?;
    // Reading from the slice itself (not through `io::Read`) lets strings
    // be taken straight from the row without a staging buffer.
    let mut de = rmp_serde::Deserializer::from_read_ref(&bytes[4..]);
    let body: Map<String, Value> = serde::Deserialize::deserialize(&mut de)?;
    let meta: Value = serde::Deserialize::deserialize(&mut de)?;
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
    let mut de = rmp_serde::Deserializer::from_read_ref(&bytes[4..]);
    let Pairs(fields) = serde::Deserialize::deserialize(&mut de)?;
    let meta: Value = serde::Deserialize::deserialize(&mut de)?;
    Ok(RowPairs { fields, meta })
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
        assert_eq!(pairs.meta, doc.meta);
        assert_eq!(pairs.fields.into_iter().collect::<Map<_, _>>(), doc.body);
        assert_eq!(docno(&encode(&doc)).unwrap(), 7);
    }
}
