//! The executor: runs a [`Plan`] on one snapshot and the in-memory indexes
//! that agree with it.
//!
//! Steps: candidates from the index lookups ([`filter::candidates`]),
//! verification of the residual conditions (in memory, then on documents),
//! exact `total` as the result's cardinality (no document is decoded to
//! count), the page's docnos ([`page::page_docnos`]), then only the page's
//! documents are read, with `_view` and `_fields` applied.
//!
//! Invariant: the in-memory indexes are read only while the caller's
//! [`Held`] guard (the store's gate and the index lock) is alive. Work that
//! needs the snapshot alone — reading documents to verify or sort them,
//! fetching the page — runs after the guard is dropped, so a long scan does
//! not hold off commits; the snapshot keeps it consistent (MVCC).

pub mod filter;
pub mod page;
pub mod scan;

use crate::memindex::MemIndexes;
use crate::planner::plan::Plan;
use crate::query_error::QueryError;
use refdb_storage::{Collection, Document, Gate, ReadTxn};
use serde_json::{Map, Value};
use std::sync::RwLockReadGuard;

/// One page of a list query.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub result: Vec<Document>,
    /// Exact number of documents matching the filters (`_skip`, `_page`
    /// and `_after` do not change it).
    pub total: u64,
    pub skip: u64,
    /// The page size applied (the requested `_page`, capped).
    pub page: u64,
}

/// One page of a list query as JSON text: `result` is the JSON array of
/// the page's documents, byte for byte what serializing [`Page::result`]
/// gives. Whole documents (no view, `_fields` or hidden field removing
/// anything) are transcoded straight from their stored rows
/// ([`ReadTxn::write_json`]), with no map built per document.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPage {
    pub result: Vec<u8>,
    pub total: u64,
    pub skip: u64,
    pub page: u64,
}

/// The store's gate and the in-memory indexes, held together: while alive,
/// the indexes describe the snapshot the query runs on.
pub struct Held<'a> {
    pub gate: Gate<'a>,
    pub indexes: RwLockReadGuard<'a, MemIndexes>,
}

/// Runs `plan`; see the module doc. `held` is dropped as early as possible.
pub fn run(
    plan: &Plan,
    coll: &Collection,
    txn: &ReadTxn<'_>,
    held: Held<'_>,
    threshold: u64,
) -> Result<Page, QueryError> {
    let (total, docnos) = select(plan, txn, held, threshold)?;
    Ok(Page {
        result: fetch(plan, coll, txn, docnos)?,
        total,
        skip: plan.skip,
        page: plan.limit,
    })
}

/// [`run`], answering the page as JSON text.
pub fn run_json(
    plan: &Plan,
    coll: &Collection,
    txn: &ReadTxn<'_>,
    held: Held<'_>,
    threshold: u64,
) -> Result<JsonPage, QueryError> {
    let (total, docnos) = select(plan, txn, held, threshold)?;
    let mut out = Vec::with_capacity(64 + 512 * docnos.len());
    out.push(b'[');
    if plan.hidden.is_empty() && plan.fields.is_empty() && plan.view.shows_all(coll) {
        for d in docnos {
            let Some(id) = id_of(plan, txn, d)? else {
                continue;
            };
            let mark = out.len();
            if mark > 1 {
                out.push(b',');
            }
            if !txn.write_json(&plan.coll, &id, &mut out)? {
                out.truncate(mark);
            }
        }
    } else {
        for (i, doc) in fetch(plan, coll, txn, docnos)?.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, doc).expect("a document serializes");
        }
    }
    out.push(b']');
    Ok(JsonPage {
        result: out,
        total,
        skip: plan.skip,
        page: plan.limit,
    })
}

/// A page's docno, with its `_id` when the in-memory indexes had it at
/// hand.
type PageDoc = (u32, Option<String>);

/// The exact total of `plan`'s matches and the docnos of its page.
fn select(
    plan: &Plan,
    txn: &ReadTxn<'_>,
    held: Held<'_>,
    threshold: u64,
) -> Result<(u64, Vec<PageDoc>), QueryError> {
    let ordered = txn.state(&plan.coll)?.ordered;
    let ci = held
        .indexes
        .colls
        .get(&plan.coll)
        .ok_or_else(|| QueryError::UnknownCollection(plan.coll.clone()))?;
    let cands = filter::candidates(plan, txn, ci)?;
    let (memory, on_docs) = filter::split_residual(plan, ci);
    let cands = filter::verify_memory(cands, &memory, ci, txn, threshold)?;
    let fast = page::strategy(plan, Some(ci), ordered);
    // Most of an `_id`-ordered collection: read it by range scans.
    let live = ci.live.len();
    let dense = |n: u64| ordered && n.saturating_mul(2) >= live;
    let (total, docnos) = if on_docs.is_empty() && !fast.is_long() {
        // Bitmaps and ranks only: cheap, done under the gate, without
        // copying the candidates.
        let docnos = page::page_docnos(plan, &cands, fast, Some(ci), txn, false, threshold)?;
        let total = cands.len();
        drop(cands);
        // Under the gate the ids describe the snapshot's commit.
        let page = docnos
            .into_iter()
            .map(|d| (d, ci.ids.get(d).map(str::to_owned)))
            .collect();
        drop(held);
        (total, page)
    } else {
        let cands = cands.into_owned();
        drop(held);
        let result = if on_docs.is_empty() {
            cands
        } else {
            filter::verify_docs(
                &plan.coll,
                &cands,
                &on_docs,
                txn,
                dense(cands.len()),
                threshold,
            )?
        };
        let strategy = page::strategy(plan, None, ordered);
        let docnos = page::page_docnos(
            plan,
            &result,
            strategy,
            None,
            txn,
            dense(result.len()),
            threshold,
        )?;
        (
            result.len(),
            docnos.into_iter().map(|d| (d, None)).collect(),
        )
    };
    Ok((total, docnos))
}

/// The `_id` of a page's docno: the one the in-memory indexes gave, else
/// the file's (None: the document is gone).
fn id_of(
    plan: &Plan,
    txn: &ReadTxn<'_>,
    (docno, known): PageDoc,
) -> Result<Option<String>, QueryError> {
    match known {
        Some(id) => Ok(Some(id)),
        None => Ok(txn.id_of(&plan.coll, docno)?),
    }
}

/// The page's documents, materialized, with `_view`, hidden fields and
/// `_fields` applied. A docno whose document is gone is skipped.
fn fetch(
    plan: &Plan,
    coll: &Collection,
    txn: &ReadTxn<'_>,
    docnos: Vec<PageDoc>,
) -> Result<Vec<Document>, QueryError> {
    let mut docs = Vec::with_capacity(docnos.len());
    for d in docnos {
        let Some(id) = id_of(plan, txn, d)? else {
            continue;
        };
        let Some(mut doc) = txn.try_get(&plan.coll, &id)? else {
            continue;
        };
        plan.view.apply(coll, &mut doc);
        for h in &plan.hidden {
            doc.shift_remove(h);
        }
        for paths in &plan.fields {
            doc = project(&doc, paths);
        }
        docs.push(doc);
    }
    Ok(docs)
}

/// Keeps `_id` and the given dotted paths (in document order). A path
/// into a value that is not an object keeps that value as it is; a missing
/// leaf of an object reads as null.
pub fn project(doc: &Map<String, Value>, paths: &[Vec<String>]) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in doc {
        if k == "_id" {
            out.insert(k.clone(), v.clone());
            continue;
        }
        let subs: Vec<&[String]> = paths
            .iter()
            .filter(|p| p.first() == Some(k))
            .map(|p| &p[1..])
            .collect();
        if subs.is_empty() {
            continue;
        }
        out.insert(k.clone(), project_value(v, &subs));
    }
    out
}

fn project_value(v: &Value, subs: &[&[String]]) -> Value {
    if subs.iter().any(|s| s.is_empty()) {
        return v.clone();
    }
    let Value::Object(obj) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for s in subs {
        let key = &s[0];
        if out.contains_key(key) {
            continue;
        }
        let child_subs: Vec<&[String]> = subs
            .iter()
            .filter(|p| &p[0] == key)
            .map(|p| &p[1..])
            .collect();
        let child = obj.get(key).unwrap_or(&Value::Null);
        out.insert(key.clone(), project_value(child, &child_subs));
    }
    Value::Object(out)
}
