//! Errors of the query-string parser: one variant per user mistake.
//!
//! Every variant that can be blamed on one `key=value` pair carries the
//! decoded key (so the HTTP layer can answer with `"path": "$.<key>"`, see
//! [`ParseError::key`]) and the byte offset in the *original*, still encoded
//! query string where the faulty pair starts (for a bad `%` escape: where the
//! `%` is). The messages are written for the API's user, not for us: they
//! name the key and say what would have been accepted.

use thiserror::Error;

/// Why a query string was refused. All of these are the client's fault (a 400).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The query string exceeds [`crate::parser::MAX_QUERY_LEN`] bytes.
    #[error("query string too long: {len} bytes, at most {max} allowed")]
    TooLong { len: usize, max: usize },

    /// More field conditions than [`crate::parser::MAX_CONDITIONS`].
    #[error("too many conditions: at most {max} allowed")]
    TooManyConditions { max: usize },

    /// A `%` not followed by two hexadecimal digits. `key` is the raw
    /// (undecoded) key when the escape is in the key itself.
    #[error(
        "bad percent escape in `{key}` at byte {offset}: `%` must be followed by two hexadecimal digits"
    )]
    BadEscape { key: String, offset: usize },

    /// The percent-decoded bytes are not UTF-8. `key` is the raw key when
    /// the key itself is at fault.
    #[error("`{key}` at byte {offset} does not decode to valid UTF-8")]
    BadUtf8 { key: String, offset: usize },

    /// A pair whose key is empty, such as `=5`.
    #[error("empty parameter name at byte {offset}")]
    EmptyKey { offset: usize },

    /// A pair without `=`, such as `name` in `name&age=3`.
    #[error("`{key}` at byte {offset} has no value: expected `{key}=value`")]
    MissingValue { key: String, offset: usize },

    /// A reserved `_`-prefixed key that is not one of the known parameters.
    #[error(
        "unknown parameter `{key}` at byte {offset}: the parameters are _page, _skip, _sort, _view, _fields and _after, and `_id` is the only `_` field that can be filtered"
    )]
    UnknownParameter { key: String, offset: usize },

    /// A parameter given twice (`_page=1&_page=2`).
    #[error("`{key}` is given more than once (again at byte {offset})")]
    Duplicate { key: String, offset: usize },

    /// `_page` or `_skip` that is not a non-negative integer.
    #[error("`{key}` at byte {offset} must be a non-negative integer, got `{value}`")]
    BadNumber {
        key: String,
        value: String,
        offset: usize,
    },

    /// `_sort`, `_fields`, `_view` or `_after` with an empty value.
    #[error("`{key}` at byte {offset} needs a value")]
    EmptyValue { key: String, offset: usize },

    /// An empty item in a comma list (`_sort=a,,b`, `_sort=-`).
    #[error("`{key}` at byte {offset} has an empty item in its list")]
    EmptyListItem { key: String, offset: usize },

    /// A dotted path with an empty segment (`a..b`, `.a`, `a.`).
    #[error("`{key}` at byte {offset}: empty field name in `{path}`")]
    EmptySegment {
        key: String,
        path: String,
        offset: usize,
    },

    /// A field name with characters outside `[A-Za-z0-9_-]`.
    #[error(
        "`{key}` at byte {offset}: invalid field name `{name}`: a name may only contain letters, digits, `_` and `-`"
    )]
    BadFieldName {
        key: String,
        name: String,
        offset: usize,
    },

    /// `field.$op` with an operator this language does not have.
    #[error(
        "unknown operator `{op}` in `{key}` at byte {offset}: expected one of $eq $ne $lt $lte $gt $gte $in $nin $exists $contains $re $reg $text"
    )]
    UnknownOperator {
        key: String,
        op: String,
        offset: usize,
    },

    /// An operator that is not the last segment of the key (`a.$gt.b`).
    #[error("`{key}` at byte {offset}: the operator `{op}` must be the last part of the key")]
    MisplacedOperator {
        key: String,
        op: String,
        offset: usize,
    },

    /// An operator with no field before it (`$gt=5`).
    #[error("`{key}` at byte {offset}: the operator needs a field, as in `age.{key}`")]
    OperatorWithoutField { key: String, offset: usize },
}

impl ParseError {
    /// The offending key, if the error can be blamed on one key. The HTTP
    /// layer reports it as the error's `path` (`$.<key>`).
    pub fn key(&self) -> Option<&str> {
        match self {
            ParseError::TooLong { .. }
            | ParseError::TooManyConditions { .. }
            | ParseError::EmptyKey { .. } => None,
            ParseError::BadEscape { key, .. }
            | ParseError::BadUtf8 { key, .. }
            | ParseError::MissingValue { key, .. }
            | ParseError::UnknownParameter { key, .. }
            | ParseError::Duplicate { key, .. }
            | ParseError::BadNumber { key, .. }
            | ParseError::EmptyValue { key, .. }
            | ParseError::EmptyListItem { key, .. }
            | ParseError::EmptySegment { key, .. }
            | ParseError::BadFieldName { key, .. }
            | ParseError::UnknownOperator { key, .. }
            | ParseError::MisplacedOperator { key, .. }
            | ParseError::OperatorWithoutField { key, .. } => Some(key),
        }
    }

    /// The byte offset in the original query string the error points at,
    /// if it points anywhere.
    pub fn offset(&self) -> Option<usize> {
        match self {
            ParseError::TooLong { .. } | ParseError::TooManyConditions { .. } => None,
            ParseError::BadEscape { offset, .. }
            | ParseError::BadUtf8 { offset, .. }
            | ParseError::EmptyKey { offset }
            | ParseError::MissingValue { offset, .. }
            | ParseError::UnknownParameter { offset, .. }
            | ParseError::Duplicate { offset, .. }
            | ParseError::BadNumber { offset, .. }
            | ParseError::EmptyValue { offset, .. }
            | ParseError::EmptyListItem { offset, .. }
            | ParseError::EmptySegment { offset, .. }
            | ParseError::BadFieldName { offset, .. }
            | ParseError::UnknownOperator { offset, .. }
            | ParseError::MisplacedOperator { offset, .. }
            | ParseError::OperatorWithoutField { offset, .. } => Some(*offset),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_given_when_one_pair_is_at_fault() {
        let e = ParseError::BadNumber {
            key: "_page".into(),
            value: "x".into(),
            offset: 4,
        };
        assert_eq!(e.key(), Some("_page"));
        assert_eq!(e.offset(), Some(4));
        let e = ParseError::TooLong {
            len: 70000,
            max: 65536,
        };
        assert_eq!(e.key(), None);
        assert_eq!(e.offset(), None);
        assert_eq!(ParseError::EmptyKey { offset: 3 }.key(), None);
        assert_eq!(ParseError::TooManyConditions { max: 256 }.offset(), None);
    }
}
