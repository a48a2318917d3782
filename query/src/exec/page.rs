//! Ordering and paging a result bitmap: which docnos make up the page.
//!
//! Invariant: the page is `full[skip .. skip + limit]` of the full result
//! in the plan's order (ties by `_id` ascending), where `_after` first
//! drops the documents up to that id. Strategies, cheapest first:
//! - `_id` order on a collection whose docno order is `_id` order
//!   (`CollState::ordered`): rank arithmetic on the bitmap (`select`), so
//!   skipped documents are never read;
//! - one sort key on an `index: true` field (ordered collection): walk the
//!   value buckets, counting with `intersection_len`;
//! - otherwise: walk `_id` order (docnos only), or read every candidate's
//!   sort values (from memory for `search` fields) and keep a bounded
//!   top-k (skip + limit).
//!
//! See [`Strategy`]; only two strategies read the in-memory indexes, the
//! others run on the snapshot alone, after the engine released its gate.

use super::scan::{self, Level};
use crate::memindex::{CollIndex, Posting};
use crate::planner::plan::{Order, Plan, SortSpec};
use crate::planner::typing::{self, Scalar};
use crate::query_error::QueryError;
use refdb_storage::ReadTxn;
use roaring::RoaringBitmap;
use serde_json::Value;
use std::cmp::Ordering;

/// How a page is cut out of the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `_id` order, docno order = `_id` order: ranks.
    Rank { desc: bool },
    /// `_id` order otherwise: walk the `_id`-ordered docno list.
    IdWalk { desc: bool },
    /// One indexed sort key: walk the in-memory value buckets.
    Buckets,
    /// Top-k on sort values held in memory (`search` fields).
    TopKMemory,
    /// Top-k on sort values read from the documents.
    TopKDocs,
}

impl Strategy {
    /// Whether the strategy reads the in-memory indexes (and so must run
    /// while the engine holds the gate).
    pub fn uses_memindex(self) -> bool {
        matches!(self, Strategy::Buckets | Strategy::TopKMemory)
    }

    /// Whether the strategy may read every candidate from the store (a
    /// walk of the `_id` list or a top-k on document values): such work
    /// runs after the engine released the gate.
    pub fn is_long(self) -> bool {
        matches!(self, Strategy::IdWalk { .. } | Strategy::TopKDocs)
    }
}

/// The cheapest strategy for the plan's order; without `ci` (the gate
/// was released) only those that need no in-memory index.
pub fn strategy(plan: &Plan, ci: Option<&CollIndex>, ordered: bool) -> Strategy {
    match (&plan.order, ci) {
        (Order::Id { desc }, _) if ordered => Strategy::Rank { desc: *desc },
        (Order::Id { desc }, _) => Strategy::IdWalk { desc: *desc },
        (Order::Keys(keys), Some(ci))
            if keys.len() == 1
                && ordered
                && keys[0].field.index
                && ci.values.contains_key(&keys[0].field.path[0]) =>
        {
            Strategy::Buckets
        }
        (Order::Keys(keys), Some(ci))
            if keys
                .iter()
                .all(|s| s.field.search && ci.search.contains_key(&s.field.path[0])) =>
        {
            Strategy::TopKMemory
        }
        (Order::Keys(_), _) => Strategy::TopKDocs,
    }
}

/// The docnos of the requested page, in order, by `strategy` (which
/// needs `ci` when it [uses the in-memory indexes](Strategy::uses_memindex)).
/// `dense`: see [`scan::par_docs`].
pub fn page_docnos(
    plan: &Plan,
    result: &RoaringBitmap,
    strategy: Strategy,
    ci: Option<&CollIndex>,
    txn: &ReadTxn<'_>,
    dense: bool,
    threshold: u64,
) -> Result<Vec<u32>, QueryError> {
    if plan.limit == 0 || result.is_empty() {
        return Ok(Vec::new());
    }
    let keys = match &plan.order {
        Order::Keys(keys) => keys.as_slice(),
        Order::Id { .. } => &[],
    };
    let missing = || QueryError::Internal("page strategy needs the in-memory indexes".into());
    match strategy {
        Strategy::Rank { desc } => by_rank(plan, result, txn, desc),
        Strategy::IdWalk { desc } => by_id_walk(plan, result, txn, desc),
        Strategy::Buckets => {
            let vi = ci
                .and_then(|ci| ci.values.get(&keys[0].field.path[0]))
                .ok_or_else(missing)?;
            by_buckets(plan, result, vi.in_order(keys[0].desc))
        }
        Strategy::TopKMemory => top_k(
            plan,
            result,
            keys,
            Some(ci.ok_or_else(missing)?),
            txn,
            false,
            threshold,
        ),
        Strategy::TopKDocs => top_k(plan, result, keys, None, txn, dense, threshold),
    }
}

/// The number of docnos of `set` whose id is below `id` (or at most `id`
/// when `inclusive`), by binary search over ranks: valid only when docno
/// order is `_id` order.
fn rank_of_id(
    txn: &ReadTxn<'_>,
    coll: &str,
    set: &RoaringBitmap,
    id: &str,
    inclusive: bool,
) -> Result<u64, QueryError> {
    let (mut lo, mut hi) = (0u64, set.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let d = set.select(mid as u32).expect("rank below len");
        let mid_id = txn.id_of(coll, d)?.unwrap_or_default();
        let before = if inclusive {
            mid_id.as_str() <= id
        } else {
            mid_id.as_str() < id
        };
        if before {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// `_id` order through ranks; see the module doc.
fn by_rank(
    plan: &Plan,
    result: &RoaringBitmap,
    txn: &ReadTxn<'_>,
    desc: bool,
) -> Result<Vec<u32>, QueryError> {
    // [first, end) = the ranks in `result` that `_after` leaves.
    let (mut first, mut end) = (0u64, result.len());
    if let Some(after) = &plan.after {
        if desc {
            end = rank_of_id(txn, &plan.coll, result, after, false)?;
        } else {
            first = rank_of_id(txn, &plan.coll, result, after, true)?;
        }
    }
    let available = end.saturating_sub(first).saturating_sub(plan.skip);
    let n = available.min(plan.limit);
    let mut out = Vec::with_capacity(n as usize);
    if n == 0 {
        return Ok(out);
    }
    if desc {
        let top = end - 1 - plan.skip;
        for i in 0..n {
            out.push(result.select((top - i) as u32).expect("rank below len"));
        }
    } else {
        let start = result
            .select((first + plan.skip) as u32)
            .expect("rank below len");
        out.extend(result.range(start..).take(n as usize));
    }
    Ok(out)
}

/// `_id` order by walking the id-ordered docno list (collections whose
/// docnos are not in `_id` order).
fn by_id_walk(
    plan: &Plan,
    result: &RoaringBitmap,
    txn: &ReadTxn<'_>,
    desc: bool,
) -> Result<Vec<u32>, QueryError> {
    let after = plan.after.as_deref();
    let keep = |id: &str| match after {
        None => true,
        Some(a) if desc => id < a,
        Some(a) => id > a,
    };
    let (skip, limit) = (
        usize::try_from(plan.skip).unwrap_or(usize::MAX),
        plan.limit as usize,
    );
    if !desc {
        let mut out = Vec::new();
        for e in txn.scan_docnos(&plan.coll)? {
            let (id, d) = e?;
            if result.contains(d) && keep(&id) {
                out.push(d);
                if out.len() >= skip.saturating_add(limit) {
                    break;
                }
            }
        }
        return Ok(out.into_iter().skip(skip).collect());
    }
    let mut all = Vec::new();
    for e in txn.scan_docnos(&plan.coll)? {
        let (id, d) = e?;
        if result.contains(d) && keep(&id) {
            all.push(d);
        }
    }
    Ok(all.into_iter().rev().skip(skip).take(limit).collect())
}

/// One indexed sort key: walk the value buckets (null first), docno order
/// (= `_id` order) within a bucket.
fn by_buckets<'a>(
    plan: &Plan,
    result: &RoaringBitmap,
    buckets: impl Iterator<Item = Result<(&'a [u8], Posting<'a>), QueryError>>,
) -> Result<Vec<u32>, QueryError> {
    let mut skip = plan.skip;
    let mut out = Vec::new();
    for bucket in buckets {
        let (_, b) = bucket?;
        let m = b.intersection_len(result);
        if m == 0 {
            continue;
        }
        if skip >= m {
            skip -= m;
            continue;
        }
        let mine = &*b & result;
        let want = (plan.limit as usize) - out.len();
        out.extend(mine.iter().skip(skip as usize).take(want));
        skip = 0;
        if out.len() as u64 >= plan.limit {
            break;
        }
    }
    Ok(out)
}

/// A candidate's sort values and id.
struct Keyed {
    values: Vec<Option<Scalar>>,
    id: String,
    docno: u32,
}

fn compare(specs: &[SortSpec], a: &Keyed, b: &Keyed) -> Ordering {
    for (i, s) in specs.iter().enumerate() {
        let o = match (&a.values[i], &b.values[i]) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => x.cmp_same(y).unwrap_or(Ordering::Equal),
        };
        let o = if s.desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.id.cmp(&b.id)
}

/// Keeps the `k` smallest of `v` once it holds more than `2k`, so memory
/// stays bounded by the page end rather than the result size.
fn bound(v: &mut Vec<Keyed>, k: usize, specs: &[SortSpec]) {
    if k == 0 {
        v.clear();
    } else if v.len() > 2 * k {
        v.select_nth_unstable_by(k - 1, |a, b| compare(specs, a, b));
        v.truncate(k);
    }
}

/// Any other order: read each candidate's sort values (from memory when
/// `ci` is given: every key is a `search` field; else from the document)
/// and keep the best skip+limit.
fn top_k(
    plan: &Plan,
    result: &RoaringBitmap,
    specs: &[SortSpec],
    ci: Option<&CollIndex>,
    txn: &ReadTxn<'_>,
    dense: bool,
    threshold: u64,
) -> Result<Vec<u32>, QueryError> {
    let k = plan.skip.saturating_add(plan.limit).min(result.len()) as usize;
    let coll = plan.coll.as_str();
    let chunks = match ci {
        Some(ci) => scan::par_chunks(txn, result, threshold, |t, it| {
            let mut best: Vec<Keyed> = Vec::new();
            for d in it {
                let values = specs
                    .iter()
                    .map(|s| {
                        ci.search[&s.field.path[0]]
                            .value(d)
                            .map(|v| Scalar::Str(v.to_string()))
                    })
                    .collect();
                let id = t.id_of(coll, d)?.unwrap_or_default();
                best.push(Keyed {
                    values,
                    id,
                    docno: d,
                });
                bound(&mut best, k, specs);
            }
            Ok(best)
        })?,
        None => scan::par_docs(txn, coll, result, Level::Body, dense, threshold, |docs| {
            let mut best: Vec<Keyed> = Vec::new();
            for doc in docs {
                let doc = doc?;
                let values = specs
                    .iter()
                    .map(|s| {
                        let v = typing::lookup(&doc.body, &doc.id, &s.field.path);
                        typing::values_of(&s.field, v).into_iter().next()
                    })
                    .collect();
                let id = match doc.id {
                    Value::String(s) => s,
                    _ => String::new(),
                };
                best.push(Keyed {
                    values,
                    id,
                    docno: doc.docno,
                });
                bound(&mut best, k, specs);
            }
            Ok(best)
        })?,
    };
    let mut all: Vec<Keyed> = chunks.into_iter().flatten().collect();
    all.sort_by(|a, b| compare(specs, a, b));
    Ok(all
        .into_iter()
        .skip(plan.skip as usize)
        .take(plan.limit as usize)
        .map(|k| k.docno)
        .collect())
}
