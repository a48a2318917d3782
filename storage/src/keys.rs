//! Order-preserving encoding of index values: the query engine's value
//! indexes are ordered maps from these keys to docno bitmaps. Comparing two
//! keys bytewise compares the values, so a range of values is a key range:
//! - null `0x01`; false `0x02`; true `0x03`;
//! - int `0x10` + i64 big-endian with the sign bit flipped;
//! - float `0x11` + f64 bits, sign-flipped when positive, all bits flipped
//!   when negative (IEEE total order); a float field stores ints as floats;
//! - datetime `0x12` + microseconds since the epoch, as an int;
//! - string `0x20` + UTF-8 bytes with 0x00 escaped as 0x00 0xFF, ended by
//!   0x00 0x01, so that a string sorts before its extensions.

use crate::schema::{FieldType, validate::parse_datetime};
use serde_json::Value;

pub const TAG_NULL: u8 = 0x01;

/// Encodes one scalar value of a field of type `ty` (the element type for
/// lists), or `None` when the value does not have that type.
pub fn encode_value(ty: &FieldType, v: &Value, out: &mut Vec<u8>) -> Option<()> {
    match (ty, v) {
        (_, Value::Null) => out.push(TAG_NULL),
        (FieldType::Bool, Value::Bool(b)) => out.push(if *b { 0x03 } else { 0x02 }),
        (FieldType::Int, Value::Number(n)) => {
            out.push(0x10);
            out.extend_from_slice(&encode_i64(n.as_i64()?));
        }
        (FieldType::Float, Value::Number(n)) => {
            out.push(0x11);
            out.extend_from_slice(&encode_f64(n.as_f64()?));
        }
        (FieldType::Datetime, Value::String(s)) => {
            out.push(0x12);
            out.extend_from_slice(&encode_i64(parse_datetime(s)?));
        }
        (FieldType::String, Value::String(s)) => {
            out.push(0x20);
            for &b in s.as_bytes() {
                out.push(b);
                if b == 0 {
                    out.push(0xFF);
                }
            }
            out.extend_from_slice(&[0, 1]);
        }
        _ => return None,
    }
    Some(())
}

pub fn encode_i64(i: i64) -> [u8; 8] {
    ((i as u64) ^ (1 << 63)).to_be_bytes()
}

pub fn encode_f64(f: f64) -> [u8; 8] {
    // -0.0 and 0.0 are equal for queries: give them one key.
    let f = if f == 0.0 { 0.0 } else { f };
    let bits = f.to_bits();
    let ordered = if bits >> 63 == 0 {
        bits ^ (1 << 63)
    } else {
        !bits
    };
    ordered.to_be_bytes()
}

/// The encoded values (without field prefix) under which a field value is
/// indexed: one per distinct list element, or one for a scalar; missing,
/// null and empty lists index as null so that every document appears in
/// every index of its collection (sorting by an indexed field then never
/// loses documents). Sorted and distinct.
pub fn value_keys(ty: &FieldType, v: Option<&Value>) -> Vec<Vec<u8>> {
    let (elem_ty, values): (&FieldType, Vec<&Value>) = match (ty, v) {
        (FieldType::List(of), Some(Value::Array(items))) if !items.is_empty() => {
            (&of.ty, items.iter().collect())
        }
        (FieldType::List(of), _) => (&of.ty, vec![&Value::Null]),
        (t, Some(v)) => (t, vec![v]),
        (t, None) => (t, vec![&Value::Null]),
    };
    let mut keys: Vec<Vec<u8>> = values
        .into_iter()
        .filter_map(|v| {
            let mut k = Vec::new();
            encode_value(elem_ty, v, &mut k)?;
            Some(k)
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ty: &FieldType, v: Value) -> Vec<u8> {
        let mut k = Vec::new();
        encode_value(ty, &v, &mut k).unwrap();
        k
    }

    #[test]
    fn ints_sort_by_value() {
        let vals = [i64::MIN, -5, -1, 0, 1, 42, i64::MAX];
        let keys: Vec<_> = vals
            .iter()
            .map(|&i| key(&FieldType::Int, i.into()))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn floats_sort_by_value() {
        let vals = [f64::NEG_INFINITY, -1e9, -1.5, -0.0, 0.5, 1.0, 1e300];
        let keys: Vec<_> = vals
            .iter()
            .map(|&f| key(&FieldType::Float, f.into()))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{keys:?}");
        assert_eq!(
            key(&FieldType::Float, (-0.0).into()),
            key(&FieldType::Float, 0.0.into())
        );
    }

    #[test]
    fn strings_sort_before_their_extensions_and_null_first() {
        let a = key(&FieldType::String, "ab".into());
        let b = key(&FieldType::String, "ab\u{0}".into());
        let c = key(&FieldType::String, "abc".into());
        let n = key(&FieldType::String, Value::Null);
        assert!(n < a && a < b && b < c);
    }

    #[test]
    fn datetimes_sort_by_instant_not_text() {
        let a = key(&FieldType::Datetime, "2024-01-01T00:00:00.100Z".into());
        let b = key(&FieldType::Datetime, "2024-01-01T00:00:00.100001Z".into());
        let c = key(&FieldType::Datetime, "2024-01-01T01:00:00+00:30".into());
        assert!(a < b && b < c);
    }
}
