//! The audit: one routine that verifies every invariant of the file, used
//! after every step of the property tests and by `refdb check`.
//!
//! It recomputes from the documents alone what every derived table must
//! hold and compares: the docno map, the counters, the reverse-reference
//! index (forward refs == reverse index), the secondary indexes; it checks
//! that no reference dangles, that both sides of stored pairs mirror each
//! other, and that every document is valid against the schema.

use crate::error::Result;
use crate::read::{ReadTxn, Tables};
use crate::schema::validate::validate_document;
use crate::write::targets_of;
use crate::{codec, keys};
use redb::ReadableTable;
use std::collections::{BTreeSet, HashSet};

/// What the audit found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditReport {
    pub documents: u64,
    pub references: u64,
    pub index_entries: u64,
    /// Human-readable descriptions of every broken invariant.
    pub problems: Vec<String>,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

type RefEntry = (u32, String, u32, String, String, u32);

pub(crate) fn audit(r: &ReadTxn<'_>) -> Result<AuditReport> {
    let store = r.store();
    let schema = store.schema().clone();
    let mut rep = AuditReport::default();
    let mut problem = |p: String| {
        if rep.problems.len() < 1000 {
            rep.problems.push(p)
        }
    };
    let mut expected_refs: BTreeSet<RefEntry> = BTreeSet::new();
    let mut expected_index: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut all_ids: HashSet<(u32, String)> = HashSet::new();
    let mut documents = 0;
    // Pass 1: documents, docnos, counters, validity; expected index entries.
    for c in schema.collections() {
        let cid = store.coll_id(&c.name)?;
        let state = r.state(&c.name)?;
        let mut count = 0u64;
        let mut last_docno: Option<u32> = None;
        let mut ordered = true;
        for e in r.docs().range((cid, "")..(cid + 1, ""))? {
            let (k, v) = e?;
            let id = k.value().1.to_string();
            let doc = match codec::decode(v.value()) {
                Ok(d) => d,
                Err(e) => {
                    problem(format!("{}/{id}: {e}", c.name));
                    continue;
                }
            };
            count += 1;
            if last_docno.is_some_and(|l| l >= doc.docno) {
                ordered = false;
            }
            last_docno = Some(doc.docno);
            if doc.docno >= state.next_docno {
                problem(format!(
                    "{}/{id}: docno {} not below next_docno {}",
                    c.name, doc.docno, state.next_docno
                ));
            }
            match r.docnos().get((cid, doc.docno))? {
                Some(v) if v.value() == id => {}
                other => problem(format!(
                    "{}/{id}: docno {} maps to {:?}",
                    c.name,
                    doc.docno,
                    other.map(|v| v.value().to_string())
                )),
            }
            let mut body = doc.body.clone();
            if body.shift_remove("_meta").is_none() {
                problem(format!("{}/{id}: no _meta", c.name));
            }
            for inv in validate_document(c, &body) {
                problem(format!("{}/{id}: invalid: {inv}", c.name));
            }
            for f in c.fields.iter() {
                if f.index {
                    expected_index.extend(keys::index_keys(
                        cid,
                        &f.name,
                        &f.ty,
                        body.get(&f.name),
                        doc.docno,
                    ));
                }
                if let (Some(spec), true) = (f.ty.ref_spec(), f.is_stored()) {
                    let tcid = store.coll_id(&spec.coll)?;
                    for t in targets_of(body.get(&f.name)) {
                        expected_refs.insert((tcid, t, cid, f.name.clone(), id.clone(), doc.docno));
                    }
                }
            }
            all_ids.insert((cid, id));
        }
        documents += count;
        if count != state.count {
            problem(format!(
                "{}: counter says {} documents, {count} stored",
                c.name, state.count
            ));
        }
        if state.ordered && !ordered {
            problem(format!(
                "{}: marked ordered but docno order differs from _id order",
                c.name
            ));
        }
        let docnos = r.docnos().range((cid, 0)..=(cid, u32::MAX))?.count() as u64;
        if docnos != count {
            problem(format!(
                "{}: {docnos} docno entries for {count} documents",
                c.name
            ));
        }
    }
    rep.documents = documents;
    // Pass 2: reverse-reference index == forward references; no dangling.
    let mut actual_refs = BTreeSet::new();
    for e in r.refs().iter()? {
        let (k, v) = e?;
        let (tc, t, sc, sf, sid) = k.value();
        actual_refs.insert((
            tc,
            t.to_string(),
            sc,
            sf.to_string(),
            sid.to_string(),
            v.value(),
        ));
    }
    for missing in expected_refs.difference(&actual_refs).take(100) {
        problem(format!("reverse index lacks {missing:?}"));
    }
    for extra in actual_refs.difference(&expected_refs).take(100) {
        problem(format!("reverse index has a stray {extra:?}"));
    }
    for (tc, t, sc, sf, sid, _) in &expected_refs {
        if !all_ids.contains(&(*tc, t.clone())) {
            problem(format!(
                "dangling reference: collection {sc} {sid}.{sf} -> collection {tc} {t}"
            ));
        }
    }
    rep.references = actual_refs.len() as u64;
    // Pass 3: both stored sides of a pair mirror each other.
    let by_id: std::collections::HashMap<u32, &crate::schema::Collection> = schema
        .collections()
        .filter_map(|c| Some((store.coll_id(&c.name).ok()?, c)))
        .collect();
    let edges: HashSet<(u32, &str, u32, &str, &str)> = expected_refs
        .iter()
        .map(|(tc, t, sc, sf, sid, _)| (*tc, t.as_str(), *sc, sf.as_str(), sid.as_str()))
        .collect();
    for &(tc, t, sc, sf, sid) in &edges {
        let Some(f) = by_id.get(&sc).and_then(|c| c.fields.get(sf)) else {
            continue;
        };
        let Some(p) = f.ty.ref_spec().and_then(|s| schema.partner(s)) else {
            continue;
        };
        if p.is_stored() && !edges.contains(&(sc, sid, tc, p.name.as_str(), t)) {
            problem(format!(
                "{}/{sid}.{sf} -> {t} is not mirrored by {}.{}",
                by_id[&sc].name, by_id[&tc].name, p.name
            ));
        }
    }
    // Pass 4: secondary indexes == documents.
    let mut actual_index = BTreeSet::new();
    for e in r.index().iter()? {
        let (k, _) = e?;
        actual_index.insert(k.value().to_vec());
    }
    let missing = expected_index.difference(&actual_index).count();
    let stray = actual_index.difference(&expected_index).count();
    if missing > 0 {
        problem(format!("secondary indexes lack {missing} entries"));
    }
    if stray > 0 {
        problem(format!("secondary indexes have {stray} stray entries"));
    }
    rep.index_entries = actual_index.len() as u64;
    Ok(rep)
}
