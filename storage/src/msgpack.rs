//! A msgpack reader over a stored row's bytes, borrowing from the row.
//! Rows are written by rmp-serde; reading them back through serde goes
//! through a visitor per value, which the hot readers do without:
//! [`crate::json`] transcodes values straight into the served JSON,
//! [`crate::read::ReadTxn::scan_fields`] decodes only the fields an index
//! build asks for and steps over the others, and [`Msgpack::json`]
//! decodes a value into the `serde_json::Value` rmp-serde would give (a
//! point read, a page of documents).
//!
//! A packed `datetime` text ([`crate::timetext`]) reads as its string.
//! Anything else a JSON value cannot hold (binary, other extensions),
//! truncation and nesting deeper than [`MAX_DEPTH`] are corrupt data.

use crate::error::{Error, Result};
use crate::schema::Collection;
use rmp::Marker;
use serde_json::{Map, Value};

/// Deeper than any document the server admits (its nesting limit is far
/// lower): only a corrupt row gets here, and it must not overflow the stack.
pub(crate) const MAX_DEPTH: usize = 512;

/// A msgpack reader over a row's bytes. Markers are classified by `rmp`;
/// the payloads are big-endian numbers and byte strings read from the
/// slice.
pub(crate) struct Msgpack<'r> {
    buf: &'r [u8],
}

pub(crate) fn corrupt(what: &str) -> Error {
    Error::Corrupt(format!("stored document does not decode: {what}"))
}

impl<'r> Msgpack<'r> {
    pub(crate) fn new(buf: &'r [u8]) -> Msgpack<'r> {
        Msgpack { buf }
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'r [u8] {
        self.buf
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'r [u8]> {
        if self.buf.len() < n {
            return Err(corrupt("truncated value"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    pub(crate) fn len8(&mut self) -> Result<usize> {
        Ok(self.array::<1>()?[0] as usize)
    }

    pub(crate) fn len16(&mut self) -> Result<usize> {
        Ok(u16::from_be_bytes(self.array()?) as usize)
    }

    pub(crate) fn len32(&mut self) -> Result<usize> {
        Ok(u32::from_be_bytes(self.array()?) as usize)
    }

    pub(crate) fn marker(&mut self) -> Result<Marker> {
        Ok(Marker::from_u8(self.array::<1>()?[0]))
    }

    /// The length of the map that must come next.
    pub(crate) fn map_len(&mut self) -> Result<usize> {
        match self.marker()? {
            Marker::FixMap(n) => Ok(n as usize),
            Marker::Map16 => self.len16(),
            Marker::Map32 => self.len32(),
            _ => Err(corrupt("expected a map")),
        }
    }

    /// The name of the stored field whose key comes next in a row's fields
    /// map: the field at that position of `coll` (see [`crate::codec`]), or
    /// the name itself in a row written before fields had positions.
    pub(crate) fn field<'a>(&mut self, coll: &'a Collection) -> Result<&'a [u8]>
    where
        'r: 'a,
    {
        let position = match self.marker()? {
            Marker::FixPos(n) => usize::from(n),
            Marker::U8 => self.len8()?,
            Marker::U16 => self.len16()?,
            Marker::U32 => self.len32()?,
            Marker::U64 => usize::try_from(u64::from_be_bytes(self.array()?)).unwrap_or(usize::MAX),
            Marker::FixStr(n) => return self.take(usize::from(n)),
            Marker::Str8 => {
                let n = self.len8()?;
                return self.take(n);
            }
            Marker::Str16 => {
                let n = self.len16()?;
                return self.take(n);
            }
            Marker::Str32 => {
                let n = self.len32()?;
                return self.take(n);
            }
            _ => return Err(corrupt("a field key is neither a position nor a name")),
        };
        match coll.fields.at(position) {
            Some(f) => Ok(f.name.as_bytes()),
            None => Err(corrupt("a field position past the collection's fields")),
        }
    }

    /// The bytes of the string that must come next (a map key). Not
    /// checked as UTF-8: a stored field's key is only compared with the
    /// schema's names, and a nested key is checked when written.
    pub(crate) fn key(&mut self) -> Result<&'r [u8]> {
        let len = match self.marker()? {
            Marker::FixStr(n) => n as usize,
            Marker::Str8 => self.len8()?,
            Marker::Str16 => self.len16()?,
            Marker::Str32 => self.len32()?,
            _ => return Err(corrupt("a map key is not a string")),
        };
        self.take(len)
    }

    /// The extension type and number of a packed `datetime` text
    /// ([`crate::timetext`]), after its marker: the one extension rows
    /// hold.
    pub(crate) fn datetime(&mut self, marker: Marker) -> Result<(i8, i64)> {
        let ty = self.array::<1>()?[0] as i8;
        let n = match marker {
            Marker::FixExt4 => i64::from(u32::from_be_bytes(self.array()?)),
            Marker::FixExt8 => i64::from_be_bytes(self.array()?),
            _ => return Err(corrupt("a value that JSON cannot hold")),
        };
        if !(crate::timetext::SECONDS..=crate::timetext::MICROS).contains(&ty) {
            return Err(corrupt("an unknown extension type"));
        }
        Ok((ty, n))
    }

    /// Steps over the next value, decoding nothing, and returns its bytes.
    pub(crate) fn skip(&mut self, depth: usize) -> Result<&'r [u8]> {
        if depth > MAX_DEPTH {
            return Err(corrupt("nested too deeply"));
        }
        let start = self.buf;
        let (bytes, items) = match self.marker()? {
            Marker::Null | Marker::True | Marker::False => (0, 0),
            Marker::FixPos(_) | Marker::FixNeg(_) => (0, 0),
            Marker::U8 | Marker::I8 => (1, 0),
            Marker::U16 | Marker::I16 => (2, 0),
            Marker::U32 | Marker::I32 | Marker::F32 => (4, 0),
            Marker::U64 | Marker::I64 | Marker::F64 => (8, 0),
            Marker::FixStr(n) => (n as usize, 0),
            Marker::Str8 => (self.len8()?, 0),
            Marker::Str16 => (self.len16()?, 0),
            Marker::Str32 => (self.len32()?, 0),
            Marker::FixArray(n) => (0, n as usize),
            Marker::Array16 => (0, self.len16()?),
            Marker::Array32 => (0, self.len32()?),
            // A map's entries are twice as many items.
            Marker::FixMap(n) => (0, 2 * n as usize),
            Marker::Map16 => (0, 2 * self.len16()?),
            Marker::Map32 => (0, 2 * self.len32()?),
            m @ (Marker::FixExt4 | Marker::FixExt8) => {
                self.datetime(m)?;
                (0, 0)
            }
            _ => return Err(corrupt("a value that JSON cannot hold")),
        };
        self.take(bytes)?;
        for _ in 0..items {
            self.skip(depth + 1)?;
        }
        Ok(&start[..start.len() - self.buf.len()])
    }

    /// After a container's marker: whether it is a map, and its number of
    /// entries (read from the bytes that follow); `None` for a scalar.
    pub(crate) fn container(&mut self, marker: Marker) -> Result<Option<(bool, usize)>> {
        Ok(Some(match marker {
            Marker::FixArray(n) => (false, n as usize),
            Marker::Array16 => (false, self.len16()?),
            Marker::Array32 => (false, self.len32()?),
            Marker::FixMap(n) => (true, n as usize),
            Marker::Map16 => (true, self.len16()?),
            Marker::Map32 => (true, self.len32()?),
            _ => return Ok(None),
        }))
    }

    /// Decodes the next value: the value `rmp_serde::from_slice` gives for
    /// it (a packed datetime's text for its extension), or an error (also
    /// for binary and other extensions, which no row holds).
    pub(crate) fn json(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(corrupt("nested too deeply"));
        }
        let marker = self.marker()?;
        let Some((map, n)) = self.container(marker)? else {
            return self.json_scalar(marker);
        };
        // Every item takes a byte at least: a corrupt length cannot make
        // the reservation larger than the row.
        let room = n.min(self.buf.len());
        if map {
            let mut out = Map::with_capacity(room);
            for _ in 0..n {
                let key = self.key()?;
                let key = std::str::from_utf8(key).map_err(|_| corrupt("a key is not UTF-8"))?;
                let value = self.json(depth + 1)?;
                out.insert(key.to_owned(), value);
            }
            Ok(Value::Object(out))
        } else {
            let mut out = Vec::with_capacity(room);
            for _ in 0..n {
                out.push(self.json(depth + 1)?);
            }
            Ok(Value::Array(out))
        }
    }

    /// A value that is not a container, after its marker (kept apart for
    /// the same reason as the transcoder's: small recursive frames).
    #[inline(never)]
    fn json_scalar(&mut self, marker: Marker) -> Result<Value> {
        Ok(match marker {
            Marker::Null => Value::Null,
            Marker::True => Value::Bool(true),
            Marker::False => Value::Bool(false),
            Marker::FixPos(n) => Value::from(n),
            Marker::U8 => Value::from(self.array::<1>()?[0]),
            Marker::U16 => Value::from(u16::from_be_bytes(self.array()?)),
            Marker::U32 => Value::from(u32::from_be_bytes(self.array()?)),
            Marker::U64 => Value::from(u64::from_be_bytes(self.array()?)),
            Marker::FixNeg(n) => Value::from(n),
            Marker::I8 => Value::from(i8::from_be_bytes(self.array()?)),
            Marker::I16 => Value::from(i16::from_be_bytes(self.array()?)),
            Marker::I32 => Value::from(i32::from_be_bytes(self.array()?)),
            Marker::I64 => Value::from(i64::from_be_bytes(self.array()?)),
            // Widened as serde widens it; NaN and infinities are null, as
            // serde_json makes them.
            Marker::F32 => Value::from(f64::from(f32::from_be_bytes(self.array()?))),
            Marker::F64 => Value::from(f64::from_be_bytes(self.array()?)),
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                let n = match marker {
                    Marker::FixStr(n) => n as usize,
                    Marker::Str8 => self.len8()?,
                    Marker::Str16 => self.len16()?,
                    _ => self.len32()?,
                };
                let s = std::str::from_utf8(self.take(n)?)
                    .map_err(|_| corrupt("a string is not UTF-8"))?;
                Value::String(s.to_owned())
            }
            Marker::FixExt4 | Marker::FixExt8 => {
                let (ty, n) = self.datetime(marker)?;
                let text = crate::timetext::text(ty, n)
                    .ok_or_else(|| corrupt("a datetime outside years 0000 to 9999"))?;
                Value::String(text)
            }
            _ => return Err(corrupt("a value that JSON cannot hold")),
        })
    }
}

/// The values of the fields `names` in a stored fields map (`body`), in
/// `out` (same order, a name given twice filled twice; `None` for a
/// field the document does not store),
/// the other fields stepped over. Each value is the one a full decode
/// gives.
pub(crate) fn project(
    coll: &Collection,
    body: &[u8],
    names: &[&str],
    out: &mut [Option<Value>],
) -> Result<()> {
    out.iter_mut().for_each(|v| *v = None);
    let mut rd = Msgpack::new(body);
    for _ in 0..rd.map_len()? {
        let key = rd.field(coll)?;
        // A name may be asked for twice (a field both indexed and searched).
        let mut wanted = names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.as_bytes() == key);
        let Some((first, _)) = wanted.next() else {
            rd.skip(0)?;
            continue;
        };
        let value = rd.json(1)?;
        for (i, _) in wanted {
            out[i] = Some(value.clone());
        }
        out[first] = Some(value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, json};

    /// Fields `a` to `e` (and `zz`, never stored), in that order.
    fn schema() -> crate::Schema {
        let fields: Vec<String> = ["a", "b", "c", "d", "e", "zz"]
            .iter()
            .map(|f| format!(r#""{f}": {{"type": "any"}}"#))
            .collect();
        let text = format!(
            r#"{{"app": "t", "collections": {{"c": {{"fields": {{{}}}}}}}}}"#,
            fields.join(",")
        );
        crate::Schema::parse(&text).unwrap()
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-c]{1,2}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// A projection gives exactly the full decode's values. Regression
        /// (the name asked twice): a field both indexed and searched was
        /// filled for its first asker only, and the side-by-side run found
        /// `name.$re=do` empty after a restart.
        #[test]
        fn projection_equals_full_decode(
            body in prop::collection::vec(("[a-e]", any_json()), 0..6),
        ) {
            let schema = schema();
            let c = schema.collection("c").unwrap();
            let body: Map<String, Value> = body.into_iter().collect();
            let by_name = rmp_serde::to_vec(&body).unwrap();
            let row = crate::codec::encode_with_meta(0, c, &body, &[]);
            let (by_position, _) = crate::codec::split(&row).unwrap();
            let names = ["a", "c", "e", "zz", "a"];
            for bytes in [&by_name[..], by_position] {
                let mut out = vec![Some(json!("stale")); names.len()];
                project(c, bytes, &names, &mut out).unwrap();
                for (name, got) in names.iter().zip(&out) {
                    prop_assert_eq!(got.as_ref(), body.get(*name));
                }
            }
        }

        /// The decoder gives rmp-serde's value for whatever a row can hold,
        /// floats of both widths included.
        #[test]
        fn a_decoded_value_is_rmp_serdes(value in any_json(), narrow in any::<f32>()) {
            let bytes = rmp_serde::to_vec(&value).unwrap();
            let theirs: Value = rmp_serde::from_slice(&bytes).unwrap();
            prop_assert_eq!(Msgpack::new(&bytes).json(0).unwrap(), theirs);
            // serde_json writes 64-bit floats only; a 32-bit one is widened.
            let mut bytes = Vec::new();
            rmp::encode::write_f32(&mut bytes, narrow).unwrap();
            let theirs: Value = rmp_serde::from_slice(&bytes).unwrap();
            prop_assert_eq!(Msgpack::new(&bytes).json(0).unwrap(), theirs);
        }

        /// Any bytes: values or an error, never a panic; a value decoded
        /// from them is the one rmp-serde decodes, unless it holds a packed
        /// datetime (an extension, which rmp-serde does not read as text).
        #[test]
        fn garbage_is_an_error_not_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let schema = schema();
            let mut out = vec![None; 2];
            let _ = project(schema.collection("c").unwrap(), &bytes, &["a", "b"], &mut out);
            let _ = Msgpack::new(&bytes).skip(0);
            let mut r = Msgpack::new(&bytes);
            if let Ok(ours) = r.json(0) {
                let read = &bytes[..bytes.len() - r.rest().len()];
                if !read.iter().any(|b| matches!(b, 0xd6 | 0xd7)) {
                    let theirs: Value = rmp_serde::from_slice(&bytes).unwrap();
                    prop_assert_eq!(ours, theirs);
                }
            }
        }
    }

    #[test]
    fn deep_nesting_is_corrupt_not_a_stack_overflow() {
        let bytes = vec![0x91u8; 100_000];
        assert!(matches!(
            Msgpack::new(&bytes).skip(0),
            Err(Error::Corrupt(_))
        ));
    }
}
