//! The plan of one query: typed conditions ([`Cond`]), the index lookups
//! chosen for some of them ([`Access`]), the conditions left to verify per
//! candidate (residuals), the order and the page.
//!
//! Invariants:
//! - every condition of the query is either answered *exactly* by one
//!   access (and is not a residual) or is a residual (and may also have an
//!   access that narrows the candidates to a superset of its matches);
//! - [`Cond::matches`] is the one definition of what a condition means; the
//!   index accesses must agree with it (the differential test checks this).

use super::regex::{GramQuery, RegexPlan};
use super::typing::{FieldRef, Scalar, Shape};
use refdb_storage::schema::views::View;
use std::cmp::Ordering;
use std::fmt::Write as _;
use std::ops::Bound;

/// What a condition tests, on a field's typed values.
#[derive(Debug, Clone)]
pub enum Test {
    Eq(Scalar),
    Ne(Scalar),
    Lt(Scalar),
    Lte(Scalar),
    Gt(Scalar),
    Gte(Scalar),
    In(Vec<Scalar>),
    Nin(Vec<Scalar>),
    Exists(bool),
    Regex(Box<RegexPlan>),
    /// `$text`: the value holds every one of these words (distinct,
    /// analyzed by [`crate::text`]; never empty).
    Text(Vec<String>),
}

/// One typed condition of the query.
#[derive(Debug, Clone)]
pub struct Cond {
    /// The query key it came from, for EXPLAIN and errors.
    pub key: String,
    pub field: FieldRef,
    pub test: Test,
}

impl Cond {
    /// Whether a document whose field holds `values` (none: missing or
    /// null; several: list elements) satisfies the condition. `present`
    /// tells, for opaque shapes, whether the value is there at all.
    ///
    /// Semantics (docs/API.md §5): positive tests need a value that satisfies
    /// them (one element, for a list); `$ne`/`$nin` hold when no value
    /// equals, missing included; `$exists=false` is missing or null (an
    /// empty list counts as missing).
    pub fn matches(&self, values: &[Scalar], present: bool) -> bool {
        let any = |f: &dyn Fn(&Scalar) -> bool| values.iter().any(f);
        let ord = |v: &Scalar, x: &Scalar| v.cmp_same(x);
        match &self.test {
            Test::Eq(x) => any(&|v| ord(v, x) == Some(Ordering::Equal)),
            Test::Ne(x) => !any(&|v| ord(v, x) == Some(Ordering::Equal)),
            Test::Lt(x) => any(&|v| ord(v, x) == Some(Ordering::Less)),
            Test::Lte(x) => any(&|v| matches!(ord(v, x), Some(Ordering::Less | Ordering::Equal))),
            Test::Gt(x) => any(&|v| ord(v, x) == Some(Ordering::Greater)),
            Test::Gte(x) => {
                any(&|v| matches!(ord(v, x), Some(Ordering::Greater | Ordering::Equal)))
            }
            Test::In(xs) => any(&|v| xs.iter().any(|x| ord(v, x) == Some(Ordering::Equal))),
            Test::Nin(xs) => !any(&|v| xs.iter().any(|x| ord(v, x) == Some(Ordering::Equal))),
            Test::Exists(b) => {
                let there = match self.field.shape {
                    Shape::Opaque => present,
                    _ => !values.is_empty(),
                };
                there == *b
            }
            Test::Regex(r) => any(&|v| v.as_str().is_some_and(|s| r.re.is_match(s))),
            Test::Text(words) => any(&|v| {
                v.as_str().is_some_and(|s| {
                    crate::text::contains_all(&mut crate::text::analyzer(), s, words)
                })
            }),
        }
    }

    fn describe_test(&self) -> String {
        let list = |xs: &[Scalar]| xs.iter().map(show).collect::<Vec<_>>().join(",");
        match &self.test {
            Test::Eq(x) => format!("= {}", show(x)),
            Test::Ne(x) => format!("!= {}", show(x)),
            Test::Lt(x) => format!("< {}", show(x)),
            Test::Lte(x) => format!("<= {}", show(x)),
            Test::Gt(x) => format!("> {}", show(x)),
            Test::Gte(x) => format!(">= {}", show(x)),
            Test::In(xs) => format!("in [{}]", list(xs)),
            Test::Nin(xs) => format!("not in [{}]", list(xs)),
            Test::Exists(b) => format!("exists {b}"),
            Test::Regex(r) => format!(
                "{} {:?}",
                if r.anchored {
                    "matches (anchored)"
                } else {
                    "contains regex"
                },
                r.pattern
            ),
            Test::Text(words) => format!("has words {words:?}"),
        }
    }
}

fn show(s: &Scalar) -> String {
    match s {
        Scalar::Str(s) => format!("{s:?}"),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Time(_) => s.to_json().to_string(),
    }
}

/// A lookup over the in-memory value index of an `index: true` field,
/// on keys encoded by [`refdb_storage::keys::encode_value`].
#[derive(Debug, Clone)]
pub enum IndexTest {
    /// Union of these values' buckets.
    Keys(Vec<Vec<u8>>),
    /// Live documents minus the union of these buckets (`$ne`, `$nin`).
    NotKeys(Vec<Vec<u8>>),
    /// Union of the buckets whose key is in the range (null excluded).
    Range(Bound<Vec<u8>>, Bound<Vec<u8>>),
    /// `$exists`: documents with (true) or without (false) a non-null value.
    Exists(bool),
    /// `$re`/`$reg` on an indexed string field that has no n-grams: union
    /// of the buckets whose value matches (one regex run per distinct
    /// value instead of one per document).
    Matching(Box<RegexPlan>),
}

/// An index lookup answering (or narrowing) one condition.
#[derive(Debug, Clone)]
pub enum Access {
    /// `_id` equality or `$in`: direct lookups, exact.
    Ids(Vec<String>),
    /// The value index of an `index: true` field, exact.
    Index { field: String, test: IndexTest },
    /// The n-gram index of a `search: true` field; exact when the regex
    /// plan says so, else a superset verified by a residual.
    Ngram {
        field: String,
        grams: GramQuery,
        exact: bool,
    },
    /// A `ref`/`refs` field's equality through the reverse-reference
    /// index; `negate` for `$ne`/`$nin` (live documents minus those).
    Referrers {
        field: String,
        ids: Vec<String>,
        negate: bool,
    },
    /// `$text` over the full-text index of a `search` field (tantivy up
    /// to its last commit, plus the overlay of later changes), exact.
    Text { field: String, words: Vec<String> },
}

/// One `_sort` key.
#[derive(Debug, Clone)]
pub struct SortSpec {
    pub field: FieldRef,
    pub desc: bool,
}

/// The order of the result. Ties always fall back to `_id` ascending.
#[derive(Debug, Clone)]
pub enum Order {
    /// By `_id` (the default, ascending).
    Id { desc: bool },
    /// By these keys, then `_id` ascending. The executor walks the value
    /// index when there is one key on an indexed field, else keeps a
    /// bounded top-k.
    Keys(Vec<SortSpec>),
}

/// A planned query; see the module doc.
#[derive(Debug, Clone)]
pub struct Plan {
    pub coll: String,
    /// Index lookups, intersected, each with the positions in `conds` of
    /// the conditions it answers (several range conditions on one indexed
    /// field share one lookup).
    pub access: Vec<(Access, Vec<usize>)>,
    /// Every condition, by position in the query.
    pub conds: Vec<Cond>,
    /// Positions in `conds` of the conditions to verify per candidate.
    pub residual: Vec<usize>,
    pub order: Order,
    pub skip: u64,
    /// Page size actually applied (`_page`, with 0 and values above the
    /// maximum capped to the maximum).
    pub limit: u64,
    /// `_after`: only documents past this id in the `_id` order.
    pub after: Option<String>,
    pub view: View,
    /// `_fields` projections (each a path), applied after the view.
    pub fields: Vec<Vec<Vec<String>>>,
    /// Top-level fields the caller may not read: removed from every
    /// document returned (the engine refuses queries that name them).
    pub hidden: Vec<String>,
}

impl Plan {
    /// The plan as text: one line per step, for EXPLAIN.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "collection {}", self.coll);
        if self.access.is_empty() {
            let _ = writeln!(s, "candidates: all live documents (docno bitmap)");
        }
        for (a, is) in &self.access {
            let key = is
                .iter()
                .map(|&i| self.conds[i].key.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let line = match a {
                Access::Ids(ids) => format!("_id lookup {ids:?}"),
                Access::Index { field, test } => format!(
                    "index {field} {} ({})",
                    is.iter()
                        .map(|&i| self.conds[i].describe_test())
                        .collect::<Vec<_>>()
                        .join(" and "),
                    match test {
                        IndexTest::Keys(k) => format!("{} bucket(s)", k.len()),
                        IndexTest::NotKeys(k) => format!("live minus {} bucket(s)", k.len()),
                        IndexTest::Range(..) => "key range".into(),
                        IndexTest::Exists(_) => "null bucket".into(),
                        IndexTest::Matching(_) => "regex over distinct values".into(),
                    }
                ),
                Access::Ngram {
                    field,
                    grams,
                    exact,
                } => format!(
                    "ngram {field}: {}{}",
                    grams.describe(),
                    if *exact {
                        " [exact, no verify]"
                    } else {
                        " [verify]"
                    }
                ),
                Access::Referrers { field, ids, negate } => format!(
                    "reverse refs {field} {}{ids:?}",
                    if *negate { "not " } else { "" }
                ),
                Access::Text { field, words } => {
                    format!(
                        "full-text {field}: all of {words:?} (tantivy + recent-changes overlay)"
                    )
                }
            };
            let _ = writeln!(s, "access [{key}]: {line}");
        }
        for &i in &self.residual {
            let c = &self.conds[i];
            let how = if c.field.search {
                "in-memory values"
            } else if c.field.is_id() {
                "ids"
            } else {
                "document scan"
            };
            let _ = writeln!(
                s,
                "verify [{}]: {} {} ({how})",
                c.key,
                c.field.dotted(),
                c.describe_test()
            );
        }
        let order = match &self.order {
            Order::Id { desc } => format!("_id {}", if *desc { "desc" } else { "asc" }),
            Order::Keys(keys) => {
                keys.iter()
                    .map(|k| format!("{}{}", if k.desc { "-" } else { "" }, k.field.dotted()))
                    .collect::<Vec<_>>()
                    .join(",")
                    + ",_id"
            }
        };
        let _ = writeln!(s, "order: {order}");
        let _ = write!(s, "page: skip {} limit {}", self.skip, self.limit);
        if let Some(a) = &self.after {
            let _ = write!(s, " after {a:?}");
        }
        s
    }
}
