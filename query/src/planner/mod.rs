//! The schema-aware planner: turns a parsed [`Query`] into a [`Plan`].
//!
//! It types every condition by its field ([`typing`]), refuses what cannot
//! be answered (unknown field or operator, badly typed value, invalid
//! regex, an operator the type lacks) with an error naming the key, and
//! chooses index lookups:
//! - `_id` `=`/`$in` → direct lookups;
//! - `index: true` fields, every operator but `$re`/`$reg` → the in-memory
//!   value index (exact);
//! - `ref`/`refs` `=`/`$contains`/`$in`/`$ne`/`$nin` → the reverse-reference
//!   index (exact);
//! - `$re`/`$reg` on `search: true` fields → the n-gram index, verified on
//!   the in-memory values unless the pattern is exact ([`regex`]);
//! - `$text` (on `search: true` fields only) → the full-text index
//!   ([`crate::memindex::text`]), exact.
//!
//! Everything else stays a residual verified per candidate. Planning does
//! no I/O, so it can run before the engine takes its read gate.

pub mod plan;
pub mod regex;
pub mod typing;

use crate::ast::{Filter, Op, Query};
use crate::query_error::QueryError;
use plan::{Access, Cond, IndexTest, Order, Plan, SortSpec, Test};
use refdb_storage::keys::{TAG_NULL, encode_value};
use refdb_storage::schema::validate::valid_id;
use refdb_storage::schema::views::View;
use refdb_storage::{Collection, FieldType};
use std::cmp::Ordering;
use std::ops::Bound;
use typing::{Scalar, ScalarTy, Shape};

/// The page size when `_page` is not given.
pub const DEFAULT_PAGE: u64 = 10;

/// Plans `q` against collection `coll`; `max_page` caps `_page`.
pub fn plan(coll: &Collection, q: &Query, max_page: u64) -> Result<Plan, QueryError> {
    let mut conds = Vec::with_capacity(q.filters.len());
    for f in &q.filters {
        conds.push(type_filter(coll, f)?);
    }
    let mut access = Vec::new();
    let mut residual = Vec::new();
    for (i, c) in conds.iter().enumerate() {
        match choose_access(coll, c) {
            Some((a, exact)) => {
                access.push((a, vec![i]));
                if !exact {
                    residual.push(i);
                }
            }
            None => residual.push(i),
        }
    }
    let access = merge_ranges(coll, access);
    let order = plan_order(coll, q)?;
    if let Some(a) = &q.after {
        if !valid_id(a) {
            return Err(QueryError::BadAfter { value: a.clone() });
        }
        if !matches!(order, Order::Id { .. }) {
            return Err(QueryError::AfterNeedsIdOrder);
        }
    }
    let fields = match &q.fields {
        None => Vec::new(),
        Some(paths) => {
            for p in paths {
                check_projection(coll, p)?;
            }
            vec![paths.clone()]
        }
    };
    let limit = match q.page.unwrap_or(DEFAULT_PAGE) {
        0 => max_page,
        n => n.min(max_page),
    };
    Ok(Plan {
        coll: coll.name.clone(),
        access,
        conds,
        residual,
        order,
        skip: q.skip.unwrap_or(0),
        limit,
        after: q.after.clone(),
        view: View::parse(q.view.as_deref()),
        fields,
        hidden: Vec::new(),
    })
}

/// Types one filter into a condition.
fn type_filter(coll: &Collection, f: &Filter) -> Result<Cond, QueryError> {
    let field = typing::resolve(coll, &f.path, false).ok_or_else(|| QueryError::UnknownField {
        key: f.key.clone(),
        field: f.path.join("."),
    })?;
    let not_for_type = || QueryError::OperatorNotForType {
        key: f.key.clone(),
        op: f.op.as_str().to_string(),
        field: field.dotted(),
        ty: field.ty_name.to_string(),
    };
    let elem = match field.shape {
        Shape::Scalar(t) | Shape::List(t) => Some(t),
        Shape::Opaque => None,
    };
    let one = |t: ScalarTy| -> Result<Scalar, QueryError> {
        typing::type_raw(t, &f.raw).map_err(|expected| QueryError::BadValue {
            key: f.key.clone(),
            expected: expected.to_string(),
            value: f.raw.clone(),
        })
    };
    let many = |t: ScalarTy| -> Result<Vec<Scalar>, QueryError> {
        f.raw
            .split(',')
            .map(|item| {
                typing::type_raw(t, item).map_err(|expected| QueryError::BadValue {
                    key: f.key.clone(),
                    expected: format!("a comma-separated list of {expected}"),
                    value: f.raw.clone(),
                })
            })
            .collect()
    };
    let test = match f.op {
        Op::Exists => match f.raw.as_str() {
            "true" => Test::Exists(true),
            "false" => Test::Exists(false),
            _ => {
                return Err(QueryError::BadValue {
                    key: f.key.clone(),
                    expected: "true or false".into(),
                    value: f.raw.clone(),
                });
            }
        },
        Op::Text => {
            if !(field.search && field.path.len() == 1) {
                return Err(QueryError::TextNeedsSearch {
                    key: f.key.clone(),
                    field: field.dotted(),
                });
            }
            let words = crate::text::words(&f.raw);
            if words.is_empty() {
                return Err(QueryError::TextNoWords {
                    key: f.key.clone(),
                    value: f.raw.clone(),
                });
            }
            Test::Text(words)
        }
        Op::Contains => match field.shape {
            Shape::List(t) => Test::Eq(one(t)?),
            _ => return Err(not_for_type()),
        },
        Op::Re | Op::Reg => match elem {
            Some(ScalarTy::String | ScalarTy::Id) => {
                let r = regex::plan_regex(&f.raw, f.op == Op::Reg).map_err(|msg| {
                    QueryError::BadRegex {
                        key: f.key.clone(),
                        msg,
                    }
                })?;
                Test::Regex(Box::new(r))
            }
            _ => return Err(not_for_type()),
        },
        op => {
            let t = elem.ok_or_else(not_for_type)?;
            let ordered =
                !matches!(t, ScalarTy::Bool | ScalarTy::Id) || (t == ScalarTy::Id && field.is_id());
            match op {
                Op::Eq => Test::Eq(one(t)?),
                Op::Ne => Test::Ne(one(t)?),
                Op::In => Test::In(many(t)?),
                Op::Nin => Test::Nin(many(t)?),
                Op::Lt | Op::Lte | Op::Gt | Op::Gte if !ordered => return Err(not_for_type()),
                Op::Lt => Test::Lt(one(t)?),
                Op::Lte => Test::Lte(one(t)?),
                Op::Gt => Test::Gt(one(t)?),
                Op::Gte => Test::Gte(one(t)?),
                _ => unreachable!("handled above"),
            }
        }
    };
    Ok(Cond {
        key: f.key.clone(),
        field,
        test,
    })
}

/// The index lookup for a condition, if one applies, and whether it is
/// exact.
fn choose_access(coll: &Collection, c: &Cond) -> Option<(Access, bool)> {
    let f = &c.field;
    if f.is_id() {
        return match &c.test {
            Test::Eq(Scalar::Str(s)) => Some((Access::Ids(vec![s.clone()]), true)),
            Test::In(xs) => Some((
                Access::Ids(
                    xs.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect(),
                ),
                true,
            )),
            _ => None,
        };
    }
    if let (Some(_), true) = (&f.reference, f.path.len() == 1) {
        let ids = |xs: &[Scalar]| {
            xs.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        };
        let (ids, negate) = match &c.test {
            Test::Eq(x) => (ids(std::slice::from_ref(x)), false),
            Test::In(xs) => (ids(xs), false),
            Test::Ne(x) => (ids(std::slice::from_ref(x)), true),
            Test::Nin(xs) => (ids(xs), true),
            _ => return None,
        };
        let field = f.path[0].clone();
        return Some((Access::Referrers { field, ids, negate }, true));
    }
    if let Test::Text(words) = &c.test {
        // The planner accepts `$text` on `search` fields only.
        let field = f.path[0].clone();
        let words = words.clone();
        return Some((Access::Text { field, words }, true));
    }
    // A searched field answers regexes from its n-grams; an indexed one
    // without n-grams from its distinct values.
    if f.index && !(f.search && matches!(c.test, Test::Regex(_))) {
        let ty = &coll.fields.get(&f.path[0])?.ty;
        let elem_ty = match ty {
            FieldType::List(of) => &of.ty,
            t => t,
        };
        let key = |x: &Scalar| {
            let mut k = Vec::new();
            encode_value(elem_ty, &x.to_json(), &mut k).map(|_| k)
        };
        let keys = |xs: &[Scalar]| xs.iter().filter_map(key).collect::<Vec<_>>();
        let above_null = Bound::Excluded(vec![TAG_NULL]);
        let test = match &c.test {
            Test::Eq(x) => IndexTest::Keys(keys(std::slice::from_ref(x))),
            Test::In(xs) => IndexTest::Keys(keys(xs)),
            Test::Ne(x) => IndexTest::NotKeys(keys(std::slice::from_ref(x))),
            Test::Nin(xs) => IndexTest::NotKeys(keys(xs)),
            Test::Lt(x) => IndexTest::Range(above_null, Bound::Excluded(key(x)?)),
            Test::Lte(x) => IndexTest::Range(above_null, Bound::Included(key(x)?)),
            Test::Gt(x) => IndexTest::Range(Bound::Excluded(key(x)?), Bound::Unbounded),
            Test::Gte(x) => IndexTest::Range(Bound::Included(key(x)?), Bound::Unbounded),
            Test::Exists(b) => IndexTest::Exists(*b),
            Test::Regex(r) => IndexTest::Matching(r.clone()),
            // Answered above; verifying it would still be right.
            Test::Text(_) => return None,
        };
        return Some((
            Access::Index {
                field: f.path[0].clone(),
                test,
            },
            true,
        ));
    }
    if f.search
        && let Test::Regex(r) = &c.test
    {
        let access = Access::Ngram {
            field: f.path[0].clone(),
            grams: r.grams.clone(),
            exact: r.exact,
        };
        return Some((access, r.exact));
    }
    None
}

/// `_sort` → the order; `_id` keys end the list (they are unique).
fn plan_order(coll: &Collection, q: &Query) -> Result<Order, QueryError> {
    let mut keys = Vec::new();
    for k in &q.sort {
        let field =
            typing::resolve(coll, &k.path, true).ok_or_else(|| QueryError::UnknownField {
                key: "_sort".into(),
                field: k.path.join("."),
            })?;
        if field.is_id() {
            if keys.is_empty() {
                return Ok(Order::Id { desc: k.descending });
            }
            if !k.descending {
                break;
            }
        }
        if !matches!(field.shape, Shape::Scalar(_)) {
            return Err(QueryError::NotSortable {
                key: "_sort".into(),
                field: field.dotted(),
                ty: field.ty_name.into(),
            });
        }
        keys.push(SortSpec {
            field,
            desc: k.descending,
        });
        if keys.last().is_some_and(|k| k.field.is_id()) {
            break;
        }
    }
    Ok(if keys.is_empty() {
        Order::Id { desc: false }
    } else {
        Order::Keys(keys)
    })
}

/// `_fields` paths must name something a document can hold.
fn check_projection(coll: &Collection, path: &[String]) -> Result<(), QueryError> {
    let ok = match path.first().map(String::as_str) {
        Some("_id") => path.len() == 1,
        Some("_meta") => true,
        Some(first) => {
            let mut ty = coll.fields.get(first).map(|f| &f.ty);
            for seg in &path[1..] {
                ty = match ty {
                    Some(FieldType::Dict(fs)) => fs.get(seg).map(|f| &f.ty),
                    Some(FieldType::Any) => Some(&FieldType::Any),
                    _ => None,
                };
            }
            ty.is_some()
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(QueryError::UnknownField {
            key: "_fields".into(),
            field: path.join("."),
        })
    }
}

/// Merges the range lookups on one indexed scalar field
/// (`age.$gte=30&age.$lt=40`) into one lookup of the intersected range, so
/// the executor unions 10 buckets instead of 120 and 40 and intersects
/// them. Not on a list field: each filter holds when *some* element
/// passes it, and two filters may be passed by two different elements
/// (`tags` = `["a", "b"]` passes `tags.$lt=b` and `tags.$gte=b`), so
/// their lookups stay apart and are intersected.
fn merge_ranges(coll: &Collection, access: Vec<(Access, Vec<usize>)>) -> Vec<(Access, Vec<usize>)> {
    let mut out: Vec<(Access, Vec<usize>)> = Vec::with_capacity(access.len());
    for (a, is) in access {
        if let Access::Index {
            field,
            test: IndexTest::Range(lo, hi),
        } = &a
            && !matches!(
                coll.fields.get(field).map(|f| &f.ty),
                Some(FieldType::List(_))
            )
        {
            let same = out.iter_mut().find(|(b, _)| {
                matches!(b, Access::Index { field: g, test: IndexTest::Range(..) } if g == field)
            });
            if let Some((
                Access::Index {
                    test: IndexTest::Range(lo2, hi2),
                    ..
                },
                is2,
            )) = same
            {
                *lo2 = tighter(lo2.clone(), lo.clone(), Ordering::Greater);
                *hi2 = tighter(hi2.clone(), hi.clone(), Ordering::Less);
                is2.extend(is);
                continue;
            }
        }
        out.push((a, is));
    }
    out
}

/// The tighter of two bounds on the same side: the greater lower bound
/// (`want` = Greater) or the smaller upper bound (`want` = Less);
/// exclusive wins a tie.
fn tighter(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>, want: Ordering) -> Bound<Vec<u8>> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            match x.cmp(y) {
                Ordering::Equal => {
                    if matches!(a, Bound::Excluded(_)) {
                        a
                    } else {
                        b
                    }
                }
                o if o == want => a,
                _ => b,
            }
        }
    }
}
