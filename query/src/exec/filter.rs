//! Candidate sets and their verification.
//!
//! [`candidates`] intersects the plan's index lookups (the live set when
//! there are none); then the residual conditions are verified, cheapest
//! first: [`verify_memory`] for conditions on `search` fields (in-memory
//! values), [`verify_docs`] for the rest (`_id` conditions read only ids,
//! others stored bodies, or materialized documents when a derived `refs`
//! list is involved). Invariant: the result is exactly the set of live
//! documents satisfying every condition, as [`Cond::matches`] defines it.

use super::scan::{self, Level};
use crate::memindex::CollIndex;
use crate::planner::plan::{Access, Cond, IndexTest, Plan, Test};
use crate::planner::typing::{self, Scalar, Shape};
use crate::query_error::QueryError;
use refdb_storage::ReadTxn;
use roaring::{MultiOps, RoaringBitmap};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::ops::Bound;

/// The intersection of the plan's index lookups (all live documents when
/// there is none).
pub fn candidates<'a>(
    plan: &Plan,
    txn: &ReadTxn<'_>,
    ci: &'a CollIndex,
) -> Result<Cow<'a, RoaringBitmap>, QueryError> {
    let mut parts = Vec::with_capacity(plan.access.len());
    let mut ranges = Vec::new();
    for (a, is) in &plan.access {
        match a {
            Access::Index {
                field,
                test: IndexTest::Range(lo, hi),
            } => ranges.push((field, lo, hi)),
            _ => parts.push(lookup(plan, a, &plan.conds[is[0]], txn, ci)?),
        }
    }
    // A range is the union of many buckets. When the other accesses keep
    // few documents (sparse containers, cheap to intersect with), each
    // bucket is intersected with their answer before the union, which
    // then merges only what it keeps; a dense answer (say, a boolean's
    // half) is cheaper intersected once with the union.
    parts.sort_by_key(RoaringBitmap::len);
    let mut narrowed = (!parts.is_empty()).then(|| parts.into_iter().intersection());
    for (field, lo, hi) in ranges {
        let vi = ci.values.get(field).ok_or_else(|| {
            QueryError::Internal(format!("no in-memory index for {}.{field}", plan.coll))
        })?;
        let (lo, hi) = (as_ref(lo), as_ref(hi));
        narrowed = Some(match narrowed {
            Some(within) if within.len().saturating_mul(SPARSE) <= ci.live.len() => {
                vi.union_range(lo, hi, Some(&within))?
            }
            Some(within) => within & vi.union_range(lo, hi, None)?,
            None => vi.union_range(lo, hi, None)?,
        });
    }
    Ok(match narrowed {
        Some(answer) => Cow::Owned(answer),
        None => Cow::Borrowed(&ci.live),
    })
}

/// One index lookup; the answer only holds live docnos.
pub fn lookup(
    plan: &Plan,
    a: &Access,
    cond: &Cond,
    txn: &ReadTxn<'_>,
    ci: &CollIndex,
) -> Result<RoaringBitmap, QueryError> {
    let coll = plan.coll.as_str();
    let missing = || {
        QueryError::Internal(format!(
            "no in-memory index for {coll}.{}",
            cond.field.dotted()
        ))
    };
    Ok(match a {
        Access::Ids(ids) => {
            let mut out = RoaringBitmap::new();
            for id in ids {
                if let Some(d) = txn.docno(coll, id)? {
                    out.insert(d);
                }
            }
            out
        }
        Access::Index { field, test } => {
            let vi = ci.values.get(field).ok_or_else(missing)?;
            match test {
                IndexTest::Keys(keys) => vi.union_of(keys)?,
                IndexTest::NotKeys(keys) => &ci.live - vi.union_of(keys)?,
                IndexTest::Range(lo, hi) => vi.union_range(as_ref(lo), as_ref(hi), None)?,
                IndexTest::Exists(true) => vi.present(&ci.live)?,
                IndexTest::Exists(false) => &ci.live - vi.present(&ci.live)?,
                IndexTest::Matching(r) => vi.union_matching(&r.re)?,
            }
        }
        Access::Ngram { field, grams, .. } => {
            let si = ci.search.get(field).ok_or_else(missing)?;
            si.eval(grams, &ci.live)?
        }
        Access::Referrers { field, ids, negate } => {
            let info = cond.field.reference.as_ref().ok_or_else(missing)?;
            let mut out = RoaringBitmap::new();
            for target in ids {
                if info.stored {
                    for (_, d) in txn.referrers(&info.target, target, coll, field)? {
                        out.insert(d);
                    }
                } else {
                    // A derived list mirrors the target's `reverse` field:
                    // read which of our documents that target points to.
                    let partner = info.reverse.as_deref().ok_or_else(missing)?;
                    let Some(t) = txn.get_stored(&info.target, target)? else {
                        continue;
                    };
                    let ours = match t.body.get(partner) {
                        Some(Value::String(s)) => vec![s.as_str()],
                        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                        _ => Vec::new(),
                    };
                    for id in ours {
                        if let Some(d) = txn.docno(coll, id)? {
                            out.insert(d);
                        }
                    }
                }
            }
            if *negate { &ci.live - out } else { out }
        }
        Access::Text { field, words } => {
            let si = ci.search.get(field).ok_or_else(missing)?;
            let ti = ci.text.as_ref().ok_or_else(missing)?;
            ti.search(field, words, si, &ci.live)?
        }
    })
}

/// Whether a document (stored body or materialized, with its id) satisfies
/// a condition.
pub fn doc_matches(c: &Cond, id: &Value, doc: &Map<String, Value>) -> bool {
    let v = typing::lookup(doc, id, &c.field.path);
    let values = typing::values_of(&c.field, v);
    c.matches(&values, typing::opaque_present(v))
}

/// Whether a document's in-memory value of a `search` field satisfies `c`.
fn memory_matches(c: &Cond, v: Option<&str>) -> bool {
    debug_assert!(matches!(c.field.shape, Shape::Scalar(_)));
    if let Test::Regex(r) = &c.test {
        // The hot path of `$re` verification: no allocation.
        return v.is_some_and(|s| r.re.is_match(s));
    }
    match v {
        Some(s) => c.matches(&[Scalar::Str(s.to_string())], true),
        None => c.matches(&[], false),
    }
}

/// Splits the residual conditions into those verified on the in-memory
/// values of `search` fields and those that read documents.
pub fn split_residual<'p>(plan: &'p Plan, ci: &CollIndex) -> (Vec<&'p Cond>, Vec<&'p Cond>) {
    plan.residual
        .iter()
        .map(|&i| &plan.conds[i])
        .partition(|c| c.field.search && ci.search.contains_key(&c.field.path[0]))
}

/// An answer holding at most one live document in this many is sparse
/// enough to intersect a range's buckets with one by one (see
/// [`candidates`]).
const SPARSE: u64 = 16;

/// Candidates whose values [`verify_memory`] reads together: enough for
/// their cache misses to overlap, few enough to stay in the cache.
const VERIFY_BATCH: usize = 64;

/// Keeps the candidates whose in-memory values satisfy `conds`.
pub fn verify_memory<'a>(
    cands: Cow<'a, RoaringBitmap>,
    conds: &[&Cond],
    ci: &CollIndex,
    txn: &ReadTxn<'_>,
    threshold: u64,
) -> Result<Cow<'a, RoaringBitmap>, QueryError> {
    if conds.is_empty() {
        return Ok(cands);
    }
    let indexes: Vec<_> = conds.iter().map(|c| &ci.search[&c.field.path[0]]).collect();
    let chunks = scan::par_chunks(txn, &cands, threshold, |_, it| {
        let mut keep = Vec::new();
        let mut batch = Vec::with_capacity(VERIFY_BATCH);
        let mut values = Vec::with_capacity(VERIFY_BATCH);
        loop {
            batch.clear();
            batch.extend((&mut *it).take(VERIFY_BATCH));
            if batch.is_empty() {
                break;
            }
            // Each condition in turn, on the docnos the ones before kept.
            for (c, si) in conds.iter().zip(&indexes) {
                values.clear();
                si.values_of(&batch, &mut values);
                debug_assert_eq!(values.len(), batch.len());
                let mut matched = values.iter().map(|v| memory_matches(c, *v));
                batch.retain(|_| matched.next().unwrap_or(false));
            }
            keep.extend_from_slice(&batch);
        }
        Ok(keep)
    })?;
    Ok(Cow::Owned(from_sorted(chunks)))
}

/// Keeps the candidates whose documents satisfy `conds`, reading each at
/// the cheapest level that answers them all. `dense`: see
/// [`scan::par_docs`].
pub fn verify_docs(
    coll: &str,
    cands: &RoaringBitmap,
    conds: &[&Cond],
    txn: &ReadTxn<'_>,
    dense: bool,
    threshold: u64,
) -> Result<RoaringBitmap, QueryError> {
    let level = conds
        .iter()
        .map(|c| {
            if c.field.is_id() {
                Level::Id
            } else if c.field.needs_materialized() {
                Level::Materialized
            } else {
                Level::Body
            }
        })
        .max()
        .unwrap_or(Level::Id);
    // Reading ids alone is one lookup: a range scan would decode bodies.
    let dense = dense && level != Level::Id;
    let chunks = scan::par_docs(txn, coll, cands, level, dense, threshold, |docs| {
        let mut keep = Vec::new();
        for doc in docs {
            let doc = doc?;
            if conds.iter().all(|c| doc_matches(c, &doc.id, &doc.body)) {
                keep.push(doc.docno);
            }
        }
        Ok(keep)
    })?;
    Ok(from_sorted(chunks))
}

/// Chunks of increasing docnos, each sorted, back into a bitmap.
fn from_sorted(chunks: Vec<Vec<u32>>) -> RoaringBitmap {
    RoaringBitmap::from_sorted_iter(chunks.into_iter().flatten())
        .expect("chunks are in docno order")
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}
