//! The syntax tree of a list query string (docs/API.md §5), before any schema is
//! known.
//!
//! The parser only checks *syntax*: field names are well-formed dotted paths,
//! operators exist, numbers are numbers. Whether a field exists and how its
//! value is typed (`age=30` is an int but `name=0123` a string) is the
//! schema-aware planner's job, so values stay raw strings here.
//!
//! Invariants of a [`Query`] that [`crate::parser::parse`] returns (and that
//! hand-built ones must keep for the round trip `parse(q.to_string()) == q`):
//! - every path segment matches `[A-Za-z0-9_-]+`; a filter path's first
//!   segment starts with `_` only if the path is exactly `["_id"]`;
//! - a filter's `key` is its path joined with `.`, followed by `.` and the
//!   operator unless the operator is a bare `$eq` (see [`Filter::new`]);
//! - `fields`, when `Some`, is not empty; `view` and `after`, when `Some`,
//!   are not empty; there are at most 256 filters.

use std::fmt;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// A parsed list query: field conditions (ANDed) and the paging, sorting and
/// projection parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// Field conditions in query-string order; all must hold. Several may
    /// name the same field (`age.$gt=30&age.$lt=50`): unlike backo, where
    /// the last one won, every one is kept.
    pub filters: Vec<Filter>,
    /// `_sort=f,-g`: sort keys, most significant first. Empty = default order.
    pub sort: Vec<SortKey>,
    /// `_page`: page size. `Some(0)` means "no limit" (capped by the server).
    pub page: Option<u64>,
    /// `_skip`: number of matching documents skipped.
    pub skip: Option<u64>,
    /// `_view`: view name, raw (`+NAME` selects the inclusive form).
    pub view: Option<String>,
    /// `_fields=a,b.c`: return only these paths (plus `_id`).
    pub fields: Option<Vec<Vec<String>>>,
    /// `_after`: keyset continuation, the last `_id` of the previous page.
    pub after: Option<String>,
}

/// One condition, `path.$op=raw`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Dotted field path, e.g. `["info", "city"]`; `_id` is `["_id"]`.
    pub path: Vec<String>,
    /// The operator; `$eq` when the key has none.
    pub op: Op,
    /// The percent-decoded value, untyped.
    pub raw: String,
    /// The decoded key as the client wrote it, for error messages.
    pub key: String,
}

impl Filter {
    /// A filter whose `key` is spelled canonically: the bare path for `$eq`,
    /// `path.$op` otherwise.
    pub fn new(path: Vec<String>, op: Op, raw: impl Into<String>) -> Filter {
        let mut key = path.join(".");
        if op != Op::Eq {
            key.push('.');
            key.push_str(op.as_str());
        }
        Filter {
            path,
            op,
            raw: raw.into(),
            key,
        }
    }

    /// Whether the key names its operator (`a.$eq=1` rather than `a=1`).
    /// Only `$eq` can be implicit; knowing which spelling was used lets
    /// [`Display`](fmt::Display) reproduce `key` exactly.
    fn op_is_explicit(&self) -> bool {
        self.op != Op::Eq || self.key.ends_with(".$eq")
    }
}

/// A comparison operator of the query language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    /// Value is a comma-separated list.
    In,
    /// Value is a comma-separated list.
    Nin,
    /// `true`/`false`; a null value counts as missing.
    Exists,
    /// A list field has an element equal to the value.
    Contains,
    /// Regular-expression search, unanchored.
    Re,
    /// backo's start-anchored regular-expression match.
    Reg,
    /// Full-text word search.
    Text,
}

impl Op {
    /// Every operator, in the order the documentation lists them.
    pub const ALL: [Op; 13] = [
        Op::Eq,
        Op::Ne,
        Op::Lt,
        Op::Lte,
        Op::Gt,
        Op::Gte,
        Op::In,
        Op::Nin,
        Op::Exists,
        Op::Contains,
        Op::Re,
        Op::Reg,
        Op::Text,
    ];

    /// Parses an operator spelled with its `$` (`"$gte"`); case-sensitive.
    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == s)
    }

    /// The operator as written in a query string, with its `$`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "$eq",
            Op::Ne => "$ne",
            Op::Lt => "$lt",
            Op::Lte => "$lte",
            Op::Gt => "$gt",
            Op::Gte => "$gte",
            Op::In => "$in",
            Op::Nin => "$nin",
            Op::Exists => "$exists",
            Op::Contains => "$contains",
            Op::Re => "$re",
            Op::Reg => "$reg",
            Op::Text => "$text",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `_sort` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub path: Vec<String>,
    pub descending: bool,
}

/// What a value must percent-encode to survive the parser and a URL: the
/// separators (`&`, `=`), `+` (which decodes to a space), `%` itself, space,
/// `#` (a URL fragment) and what RFC 3986 does not allow in a query.
/// Non-ASCII is always encoded. `,`, `$`, `.`, `-` and `:` stay readable.
const VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b';')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Writes a path; its segments need no encoding (`[A-Za-z0-9_-]+`) as long
/// as the invariants hold, but encoding keeps a broken hand-built path from
/// producing a string that means something else.
fn write_path(f: &mut fmt::Formatter<'_>, path: &[String]) -> fmt::Result {
    for (i, segment) in path.iter().enumerate() {
        if i > 0 {
            f.write_str(".")?;
        }
        write!(f, "{}", utf8_percent_encode(segment, VALUE))?;
    }
    Ok(())
}

/// Prints the canonical query string: the filters in order, then `_sort`,
/// `_page`, `_skip`, `_view`, `_fields`, `_after`, each only when set.
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        // Writes the `&` between pairs.
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            if !std::mem::replace(&mut first, false) {
                f.write_str("&")?;
            }
            Ok::<(), fmt::Error>(())
        };
        for filter in &self.filters {
            sep(f)?;
            write_path(f, &filter.path)?;
            if filter.op_is_explicit() {
                write!(f, ".{}", filter.op)?;
            }
            write!(f, "={}", utf8_percent_encode(&filter.raw, VALUE))?;
        }
        if !self.sort.is_empty() {
            sep(f)?;
            f.write_str("_sort=")?;
            for (i, key) in self.sort.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                if key.descending {
                    f.write_str("-")?;
                } else if key.path.first().is_some_and(|s| s.starts_with('-')) {
                    // A field named `-x` sorted ascending: an explicit `+`
                    // (encoded, since a bare `+` is a space) keeps its own
                    // `-` from reading as "descending".
                    f.write_str("%2B")?;
                }
                write_path(f, &key.path)?;
            }
        }
        if let Some(page) = self.page {
            sep(f)?;
            write!(f, "_page={page}")?;
        }
        if let Some(skip) = self.skip {
            sep(f)?;
            write!(f, "_skip={skip}")?;
        }
        if let Some(view) = &self.view {
            sep(f)?;
            write!(f, "_view={}", utf8_percent_encode(view, VALUE))?;
        }
        if let Some(fields) = &self.fields {
            sep(f)?;
            f.write_str("_fields=")?;
            for (i, path) in fields.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write_path(f, path)?;
            }
        }
        if let Some(after) = &self.after {
            sep(f)?;
            write!(f, "_after={}", utf8_percent_encode(after, VALUE))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }

    #[test]
    fn op_parse_and_as_str_agree() {
        for op in Op::ALL {
            assert_eq!(Op::parse(op.as_str()), Some(op));
            assert_eq!(op.to_string(), op.as_str());
        }
        assert_eq!(Op::parse("gt"), None);
        assert_eq!(Op::parse("$GT"), None);
        assert_eq!(Op::parse("$"), None);
        assert_eq!(Op::parse(""), None);
    }

    #[test]
    fn filter_new_spells_the_key_canonically() {
        assert_eq!(Filter::new(path("a.b"), Op::Eq, "1").key, "a.b");
        assert_eq!(Filter::new(path("a.b"), Op::Gte, "1").key, "a.b.$gte");
    }

    #[test]
    fn empty_query_displays_as_empty_string() {
        assert_eq!(Query::default().to_string(), "");
    }

    #[test]
    fn display_is_canonical_and_encodes_what_must_be() {
        let mut explicit_eq = Filter::new(path("n"), Op::Eq, "x");
        explicit_eq.key = "n.$eq".into();
        let q = Query {
            filters: vec![
                Filter::new(path("info.city"), Op::Eq, "Saint Malo & co+=%#"),
                Filter::new(path("age"), Op::In, "1,2"),
                explicit_eq,
                Filter::new(path("name"), Op::Re, "é(?i)^a"),
            ],
            sort: vec![
                SortKey {
                    path: path("a"),
                    descending: false,
                },
                SortKey {
                    path: path("b.c"),
                    descending: true,
                },
                SortKey {
                    path: path("-d"),
                    descending: false,
                },
            ],
            page: Some(0),
            skip: Some(20),
            view: Some("+short".into()),
            fields: Some(vec![path("a"), path("b.c")]),
            after: Some("01J9-x_Y".into()),
        };
        assert_eq!(
            q.to_string(),
            "info.city=Saint%20Malo%20%26%20co%2B%3D%25%23&age.$in=1,2&n.$eq=x\
             &name.$re=%C3%A9(?i)%5Ea&_sort=a,-b.c,%2B-d&_page=0&_skip=20\
             &_view=%2Bshort&_fields=a,b.c&_after=01J9-x_Y"
        );
    }
}
