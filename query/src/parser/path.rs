//! The grammar of dotted field paths and filter keys, on decoded text.
//!
//! ```text
//! filter key := path [ "." operator ]      operator := "$" name-of-an-Op
//! path       := name { "." name }          name     := [A-Za-z0-9_-]+
//! ```
//!
//! Names starting with `_` belong to the parameters (`_page`, …), so a filter
//! key may start with `_` only as `_id` or `_id.$op`. Sort and projection
//! paths have no such rule: whether `_meta.ctime` can be sorted on is for
//! the planner, which knows the document model.

use crate::ast::Op;
use crate::error::ParseError;

/// Whether `name` is a valid field name, `[A-Za-z0-9_-]+`.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks one segment of `path` (found in the value of, or as, `key`).
fn check_segment(segment: &str, path: &str, key: &str, offset: usize) -> Result<(), ParseError> {
    if segment.is_empty() {
        Err(ParseError::EmptySegment {
            key: key.to_owned(),
            path: path.to_owned(),
            offset,
        })
    } else if is_name(segment) {
        Ok(())
    } else {
        Err(ParseError::BadFieldName {
            key: key.to_owned(),
            name: segment.to_owned(),
            offset,
        })
    }
}

/// Parses a dotted path found inside the value of parameter `key`
/// (a `_sort` or `_fields` item). Operators are not allowed here; a `$`
/// is just a bad character.
pub(crate) fn path(text: &str, key: &str, offset: usize) -> Result<Vec<String>, ParseError> {
    text.split('.')
        .map(|segment| {
            check_segment(segment, text, key, offset)?;
            Ok(segment.to_owned())
        })
        .collect()
}

/// Parses a non-empty filter key, `a.b` or `a.b.$op`, into its path and
/// operator (`$eq` when none is written).
pub(crate) fn filter_key(key: &str, offset: usize) -> Result<(Vec<String>, Op), ParseError> {
    let unknown = || ParseError::UnknownParameter {
        key: key.to_owned(),
        offset,
    };
    let first = key.split('.').next().unwrap_or_default();
    if first.starts_with('_') && first != "_id" {
        return Err(unknown());
    }

    let mut segments: Vec<&str> = key.split('.').collect();
    let op_text = segments.pop_if(|last| last.starts_with('$'));
    for segment in &segments {
        if segment.starts_with('$') {
            return Err(ParseError::MisplacedOperator {
                key: key.to_owned(),
                op: (*segment).to_owned(),
                offset,
            });
        }
        check_segment(segment, key, key, offset)?;
    }
    let op = match op_text {
        None => Op::Eq,
        Some(text) => Op::parse(text).ok_or_else(|| ParseError::UnknownOperator {
            key: key.to_owned(),
            op: text.to_owned(),
            offset,
        })?,
    };
    if segments.is_empty() {
        return Err(ParseError::OperatorWithoutField {
            key: key.to_owned(),
            offset,
        });
    }
    // `_id` is a plain string: it has no sub-fields to filter on.
    if first == "_id" && segments.len() > 1 {
        return Err(unknown());
    }
    Ok((segments.into_iter().map(String::from).collect(), op))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path (segments joined with `|`, to see the split) and operator.
    fn ok(key: &str) -> (String, Op) {
        let (path, op) = filter_key(key, 0).unwrap();
        (path.join("|"), op)
    }

    fn err(key: &str) -> String {
        filter_key(key, 7).unwrap_err().to_string()
    }

    #[test]
    fn accepts_paths_and_operators() {
        assert_eq!(ok("age"), ("age".into(), Op::Eq));
        assert_eq!(ok("info.city"), ("info|city".into(), Op::Eq));
        assert_eq!(ok("info.n.$lt"), ("info|n".into(), Op::Lt));
        assert_eq!(ok("a-b_C9.$eq"), ("a-b_C9".into(), Op::Eq));
        assert_eq!(ok("_id"), ("_id".into(), Op::Eq));
        assert_eq!(ok("_id.$in"), ("_id".into(), Op::In));
        assert_eq!(ok("a._b"), ("a|_b".into(), Op::Eq));
        assert_eq!(ok("-x"), ("-x".into(), Op::Eq));
    }

    #[test]
    fn empty_segments_are_refused() {
        for key in ["a..b", ".a", "a.", "a..$gt", "."] {
            assert!(
                matches!(filter_key(key, 0), Err(ParseError::EmptySegment { .. })),
                "{key}"
            );
        }
        assert_eq!(err("a..b"), "`a..b` at byte 7: empty field name in `a..b`");
    }

    #[test]
    fn bad_characters_are_refused() {
        assert_eq!(
            err("na me"),
            "`na me` at byte 7: invalid field name `na me`: a name may only contain letters, digits, `_` and `-`"
        );
        assert!(matches!(
            filter_key("a.é", 0),
            Err(ParseError::BadFieldName { name, .. }) if name == "é"
        ));
        assert!(matches!(
            filter_key("a.b$", 0),
            Err(ParseError::BadFieldName { name, .. }) if name == "b$"
        ));
    }

    #[test]
    fn unknown_operators_are_refused() {
        assert_eq!(
            err("age.$foo"),
            "unknown operator `$foo` in `age.$foo` at byte 7: expected one of $eq $ne $lt $lte $gt $gte $in $nin $exists $contains $re $reg $text"
        );
        assert!(matches!(
            filter_key("a.$", 0),
            Err(ParseError::UnknownOperator { op, .. }) if op == "$"
        ));
        assert!(matches!(
            filter_key("a.$GT", 0),
            Err(ParseError::UnknownOperator { .. })
        ));
        assert!(matches!(
            filter_key("$foo", 0),
            Err(ParseError::UnknownOperator { .. })
        ));
    }

    #[test]
    fn operator_must_be_last() {
        assert_eq!(
            err("a.$gt.b"),
            "`a.$gt.b` at byte 7: the operator `$gt` must be the last part of the key"
        );
        assert!(matches!(
            filter_key("a.$gt.$lt", 0),
            Err(ParseError::MisplacedOperator { op, .. }) if op == "$gt"
        ));
    }

    #[test]
    fn operator_needs_a_field() {
        assert_eq!(
            err("$gt"),
            "`$gt` at byte 7: the operator needs a field, as in `age.$gt`"
        );
    }

    #[test]
    fn underscore_keys_other_than_id_are_unknown_parameters() {
        for key in ["_foo", "_meta.ctime", "_id.x", "_ID", "_", "_id.x.$gt"] {
            assert!(
                matches!(filter_key(key, 0), Err(ParseError::UnknownParameter { .. })),
                "{key}"
            );
        }
        assert!(err("_foo").starts_with("unknown parameter `_foo` at byte 7"));
        // A syntax error after `_id` is reported as such.
        assert!(matches!(
            filter_key("_id.", 0),
            Err(ParseError::EmptySegment { .. })
        ));
    }

    #[test]
    fn sort_and_field_paths() {
        assert_eq!(path("a.b", "_sort", 0).unwrap(), vec!["a", "b"]);
        assert_eq!(
            path("_meta.ctime", "_fields", 0).unwrap(),
            vec!["_meta", "ctime"]
        );
        assert!(matches!(
            path("a.$gt", "_sort", 0),
            Err(ParseError::BadFieldName { name, .. }) if name == "$gt"
        ));
        assert_eq!(
            path("a..b", "_fields", 3).unwrap_err().to_string(),
            "`_fields` at byte 3: empty field name in `a..b`"
        );
    }
}
