//! Msgpack values to JSON text, byte for byte as serde_json writes the
//! `Value` they decode to: the served JSON of a document ([`crate::json`])
//! and of a `_meta` block ([`crate::stamp`]) is transcoded from the
//! stored bytes without building a `Value`.

use crate::error::Result;
use crate::msgpack::{MAX_DEPTH, Msgpack, corrupt};
use rmp::Marker;
use serde::Serializer as _;

/// A JSON string literal, escaped the way serde_json escapes.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    if plain(s.as_bytes()) {
        quoted(out, s.as_bytes());
    } else {
        json_out(out)
            .serialize_str(s)
            .expect("writing to a Vec cannot fail");
    }
}

/// [`write_str`] of stored bytes, which must be UTF-8.
fn write_bytes_str(out: &mut Vec<u8>, s: &[u8]) -> Result<()> {
    if plain(s) {
        quoted(out, s);
        return Ok(());
    }
    let s = std::str::from_utf8(s).map_err(|_| corrupt("a string is not UTF-8"))?;
    write_str(out, s);
    Ok(())
}

/// True when `s` is printable ASCII without `"` or `\`: its JSON literal
/// is itself in quotes. Most stored strings are; the test is one pass with
/// no early exit, which the compiler turns into vector instructions.
fn plain(s: &[u8]) -> bool {
    !s.iter().fold(false, |special, &b| {
        special | !(0x20..0x7f).contains(&b) | (b == b'"') | (b == b'\\')
    })
}

fn quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s);
    out.push(b'"');
}

/// Appends the JSON text of one msgpack value to `out`.
pub(crate) fn transcode(msgpack: &[u8], out: &mut Vec<u8>) -> Result<()> {
    Msgpack::new(msgpack).value(out, 0)
}

/// serde_json's serializer over `out`, for numbers and strings: the same
/// code formats them on the `Document` path, so the bytes agree.
fn json_out(out: &mut Vec<u8>) -> serde_json::Serializer<&mut Vec<u8>> {
    serde_json::Serializer::new(out)
}

impl Msgpack<'_> {
    /// Transcodes the next value to JSON at the end of `out`.
    pub(crate) fn value(&mut self, out: &mut Vec<u8>, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(corrupt("nested too deeply"));
        }
        let marker = self.marker()?;
        let Some((map, n)) = self.container(marker)? else {
            return self.scalar(marker, out);
        };
        out.push(if map { b'{' } else { b'[' });
        for i in 0..n {
            if i > 0 {
                out.push(b',');
            }
            if map {
                write_bytes_str(out, self.key()?)?;
                out.push(b':');
            }
            self.value(out, depth + 1)?;
        }
        out.push(if map { b'}' } else { b']' });
        Ok(())
    }

    /// A value that is not a container, after its marker. Kept out of
    /// [`Msgpack::value`] so that the recursion's frames stay small (a
    /// debug build's serializer temporaries are large).
    #[inline(never)]
    fn scalar(&mut self, marker: Marker, out: &mut Vec<u8>) -> Result<()> {
        let done = |r: serde_json::Result<()>| r.map_err(|e| corrupt(&e.to_string()));
        match marker {
            Marker::Null => out.extend_from_slice(b"null"),
            Marker::True => out.extend_from_slice(b"true"),
            Marker::False => out.extend_from_slice(b"false"),
            Marker::FixPos(n) => done(json_out(out).serialize_u64(n.into()))?,
            Marker::U8 => done(json_out(out).serialize_u64(self.len8()? as u64))?,
            Marker::U16 => done(json_out(out).serialize_u64(self.len16()? as u64))?,
            Marker::U32 => done(json_out(out).serialize_u64(self.len32()? as u64))?,
            Marker::U64 => {
                let v = u64::from_be_bytes(self.array()?);
                done(json_out(out).serialize_u64(v))?
            }
            Marker::FixNeg(n) => done(json_out(out).serialize_i64(n.into()))?,
            Marker::I8 => {
                let v = i8::from_be_bytes(self.array()?);
                done(json_out(out).serialize_i64(v.into()))?
            }
            Marker::I16 => {
                let v = i16::from_be_bytes(self.array()?);
                done(json_out(out).serialize_i64(v.into()))?
            }
            Marker::I32 => {
                let v = i32::from_be_bytes(self.array()?);
                done(json_out(out).serialize_i64(v.into()))?
            }
            Marker::I64 => {
                let v = i64::from_be_bytes(self.array()?);
                done(json_out(out).serialize_i64(v))?
            }
            // A `Value` holds f64 only: an f32 would be widened on the
            // `Document` path too.
            Marker::F32 => {
                let v = f32::from_be_bytes(self.array()?);
                done(json_out(out).serialize_f64(v.into()))?
            }
            Marker::F64 => {
                let v = f64::from_be_bytes(self.array()?);
                done(json_out(out).serialize_f64(v))?
            }
            Marker::FixStr(n) => write_bytes_str(out, self.take(n as usize)?)?,
            Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                let n = match marker {
                    Marker::Str8 => self.len8()?,
                    Marker::Str16 => self.len16()?,
                    _ => self.len32()?,
                };
                write_bytes_str(out, self.take(n)?)?
            }
            Marker::FixExt4 | Marker::FixExt8 => {
                let (ty, n) = self.datetime(marker)?;
                // The text is digits and separators: nothing to escape.
                out.push(b'"');
                crate::timetext::write(ty, n, out)
                    .ok_or_else(|| corrupt("a datetime outside years 0000 to 9999"))?;
                out.push(b'"');
            }
            _ => return Err(corrupt("a value that JSON cannot hold")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use proptest::prelude::*;

    fn to_json(bytes: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        Msgpack::new(bytes).value(&mut out, 0)?;
        Ok(out)
    }

    #[test]
    fn deep_nesting_is_corrupt_not_a_stack_overflow() {
        let bytes = vec![0x91u8; 100_000]; // [[[[…
        assert!(matches!(to_json(&bytes), Err(Error::Corrupt(_))));
    }

    #[test]
    fn values_json_cannot_hold_are_corrupt() {
        for bytes in [
            &[0xc4u8, 1, 0][..],
            &[0xd4, 0, 0],
            &[0xa3, b'a'],
            &[0xa1, 0xff],
        ] {
            assert!(
                matches!(to_json(bytes), Err(Error::Corrupt(_))),
                "{bytes:?}"
            );
        }
    }

    proptest! {
        /// Any bytes: JSON or an error, never a panic.
        #[test]
        fn garbage_is_an_error_not_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(json) = to_json(&bytes) {
                prop_assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok());
            }
        }
    }
}
