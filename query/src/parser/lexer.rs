//! Splits a query string into `key=value` pairs and percent-decodes them.
//!
//! This is the `application/x-www-form-urlencoded` layer and knows nothing of
//! the query language. Decoding is strict where browsers are lenient: a `%`
//! not followed by two hex digits and bytes that do not form UTF-8 are
//! errors, never passed through, because a silently mangled filter value
//! matches the wrong documents. `+` decodes to a space, as in HTML forms;
//! a literal plus is `%2B`.
//!
//! Offsets are byte offsets in the original (encoded) string, so that an
//! error can point at what the client actually sent.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// One non-empty `&`-separated piece of the query string, still encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawPair<'a> {
    /// Text before the first `=` (the whole piece if there is none).
    pub key: &'a str,
    /// Text after the first `=`, `None` when the piece has no `=`.
    pub value: Option<&'a str>,
    /// Byte offset of the piece (of its key) in the query string.
    pub offset: usize,
}

impl RawPair<'_> {
    /// Byte offset of the value in the query string (just past the `=`).
    pub fn value_offset(&self) -> usize {
        self.offset + self.key.len() + 1
    }
}

/// The pieces of `query` between `&`s, in order, skipping empty ones
/// (`a=1&&b=2`, a trailing `&`): those carry no meaning and forms produce them.
pub(crate) fn pairs(query: &str) -> impl Iterator<Item = RawPair<'_>> {
    let mut offset = 0;
    query.split('&').filter_map(move |piece| {
        let start = offset;
        offset += piece.len() + 1;
        if piece.is_empty() {
            return None;
        }
        let (key, value) = match piece.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (piece, None),
        };
        Some(RawPair {
            key,
            value,
            offset: start,
        })
    })
}

/// Why [`decode`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// A bad `%` escape at this byte offset of the query string.
    BadEscape { offset: usize },
    /// The decoded bytes are not UTF-8.
    BadUtf8,
}

/// Decodes one form-encoded component that starts at byte `offset` of the
/// query string: `+` becomes a space, `%XX` the byte `XX`.
pub(crate) fn decode(text: &str, offset: usize) -> Result<String, DecodeError> {
    // `percent_decode_str` copies a malformed `%` through unchanged, which is
    // exactly the leniency we refuse, hence this check first.
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = bytes[i..].iter().position(|&b| b == b'%') {
        let at = i + pos;
        let hex = bytes.get(at + 1..at + 3);
        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
            return Err(DecodeError::BadEscape {
                offset: offset + at,
            });
        }
        i = at + 3;
    }
    // `+` must become a space before decoding, so that `%2B` stays a `+`.
    let spaced: Cow<'_, str> = if text.contains('+') {
        Cow::Owned(text.replace('+', " "))
    } else {
        Cow::Borrowed(text)
    };
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| DecodeError::BadUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(query: &str) -> Vec<(&str, Option<&str>, usize)> {
        pairs(query).map(|p| (p.key, p.value, p.offset)).collect()
    }

    #[test]
    fn splits_on_ampersand_and_first_equals() {
        assert_eq!(
            all("a=1&b.c=x=y&d"),
            vec![
                ("a", Some("1"), 0),
                ("b.c", Some("x=y"), 4),
                ("d", None, 12)
            ]
        );
    }

    #[test]
    fn skips_empty_pieces_but_keeps_offsets_right() {
        assert_eq!(
            all("&a=1&&b=&"),
            vec![("a", Some("1"), 1), ("b", Some(""), 6)]
        );
        assert_eq!(all(""), vec![]);
        assert_eq!(all("&&&"), vec![]);
    }

    #[test]
    fn value_offset_points_past_the_equals_sign() {
        let p = pairs("x=1&name=bob").nth(1).unwrap();
        assert_eq!(p.value_offset(), 9);
    }

    #[test]
    fn decodes_plus_and_escapes() {
        assert_eq!(decode("a+b%2Bc%20d", 0).unwrap(), "a b+c d");
        assert_eq!(decode("%C3%A9t%c3%a9", 0).unwrap(), "été");
        assert_eq!(decode("déjà", 0).unwrap(), "déjà");
        assert_eq!(decode("", 0).unwrap(), "");
    }

    #[test]
    fn rejects_bad_escapes_with_their_offset() {
        assert_eq!(
            decode("ab%zz", 10),
            Err(DecodeError::BadEscape { offset: 12 })
        );
        assert_eq!(decode("ab%4", 0), Err(DecodeError::BadEscape { offset: 2 }));
        assert_eq!(decode("%", 0), Err(DecodeError::BadEscape { offset: 0 }));
        assert_eq!(decode("%41%", 0), Err(DecodeError::BadEscape { offset: 3 }));
        // A multi-byte character right after `%` must not be sliced into.
        assert_eq!(decode("%é", 0), Err(DecodeError::BadEscape { offset: 0 }));
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert_eq!(decode("%FF", 0), Err(DecodeError::BadUtf8));
        assert_eq!(decode("%C3", 0), Err(DecodeError::BadUtf8));
    }
}
