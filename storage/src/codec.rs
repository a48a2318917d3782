//! How a document sits in the `DOCS` table: its docno (u32 big-endian)
//! followed by the msgpack encoding (rmp-serde) of its stored fields and
//! `_meta`. `_id` is the key and derived reference lists are never stored.

use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// A document as stored: its docno and body (stored fields + `_meta`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDoc {
    pub docno: u32,
    pub body: Map<String, Value>,
}

pub fn encode(doc: &StoredDoc) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&doc.docno.to_be_bytes());
    rmp_serde::encode::write(&mut out, &doc.body).expect("a JSON map always encodes");
    out
}

pub fn decode(bytes: &[u8]) -> Result<StoredDoc> {
    if bytes.len() < 4 {
        return Err(Error::Corrupt("document row shorter than its docno".into()));
    }
    let docno = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let body = rmp_serde::from_slice(&bytes[4..])?;
    Ok(StoredDoc { docno, body })
}

/// Only the docno of a stored row, without decoding the body.
pub fn docno(bytes: &[u8]) -> Result<u32> {
    bytes
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| Error::Corrupt("document row shorter than its docno".into()))
}
