//! Applying a new schema to an existing file, in the open transaction:
//! removed fields are dropped, new fields get their defaults, documents of
//! removed collections are deleted, and the derived tables (secondary and
//! reverse-reference indexes) are rebuilt from the documents. If any
//! document does not fit the new schema (a new required field without
//! default, a narrower type, a reference that would dangle) the change is
//! refused with the list of offending documents and nothing is written.
//!
//! A migration empties the change log (its counters stay, so no seq is
//! reused): records written under the old schema cannot be replayed under
//! the new one, and a follower that finds its `since` pruned knows it must
//! copy the database again.

use crate::catalog::{CollIds, CollState};
use crate::codec::{self, StoredDoc};
use crate::derive::Derived;
use crate::error::{Error, Invalid, Result};
use crate::postings;
use crate::rows::{ReadRows, WriteRows};
use crate::schema::Schema;
use crate::schema::targets_of;
use crate::schema::validate::validate_document;
use std::collections::HashSet;

pub(crate) fn migrate(
    rows: &mut WriteRows<'_>,
    old: &Schema,
    new: &Schema,
    catalog: &mut CollIds,
    row_bytes: usize,
) -> Result<()> {
    rows.clear_change_log()?;
    let mut problems: Vec<(String, String, Invalid)> = Vec::new();
    // Documents of collections the new schema drops are deleted.
    for c in old
        .collections()
        .filter(|c| new.collection(&c.name).is_none())
    {
        if let Some(cid) = catalog.remove(&c.name) {
            rows.clear_collection(cid)?;
            rows.remove_coll(cid)?;
        }
    }
    let mut rewritten: Vec<(u32, String, StoredDoc)> = Vec::new();
    let mut ids: HashSet<(String, String)> = HashSet::new();
    for c in new.collections() {
        let Some(&cid) = catalog.get(&c.name) else {
            continue;
        };
        for e in rows.docs(cid, std::ops::Bound::Unbounded)? {
            let e = e?;
            let id = e.id().to_string();
            // Read with the positions of the schema that wrote it.
            let mut doc = codec::decode(old.collection(&c.name).unwrap_or(c), e.row())?;
            doc.body
                .retain(|k, _| c.fields.get(k).is_some_and(|f| f.is_stored()));
            for f in c.fields.iter() {
                if let (Some(d), None) = (&f.default, doc.body.get(&f.name)) {
                    doc.body.insert(f.name.clone(), d.clone());
                }
            }
            for inv in validate_document(c, &doc.body) {
                problems.push((c.name.clone(), id.clone(), inv));
            }
            ids.insert((c.name.clone(), id.clone()));
            rewritten.push((cid, id, doc));
        }
    }
    // Rebuild the derived tables from the rewritten documents.
    let by_id: std::collections::HashMap<u32, &crate::schema::Collection> = new
        .collections()
        .filter_map(|c| Some((*catalog.get(&c.name)?, c)))
        .collect();
    let coll_id = |name: &str| catalog.get(name).copied();
    let mut derived = Derived::default();
    for (cid, id, doc) in &rewritten {
        let c = by_id[cid];
        derived.add(*cid, c, doc, &coll_id);
        for (f, spec) in c.ref_fields().filter(|(f, _)| f.is_stored()) {
            for (i, t) in targets_of(doc.body.get(&f.name)).into_iter().enumerate() {
                if !ids.contains(&(spec.coll.clone(), t.clone())) {
                    let path = format!("$.{}[{i}]", f.name);
                    let msg = format!("would point to a missing {}/{t}", spec.coll);
                    problems.push((c.name.clone(), id.clone(), Invalid::new(path, msg)));
                }
            }
        }
        rows.put_doc(*cid, id, &codec::encode(c, doc))?;
    }
    rows.clear_refs()?;
    for ((tc, t, sc, sf), set) in derived.refs {
        for (start, part) in postings::split_to_fit(0, set, row_bytes) {
            rows.put_ref_row((tc, &t, sc, &sf, start), &postings::encode(&part))?;
        }
    }
    if !problems.is_empty() {
        return Err(Error::SchemaMigration(problems));
    }
    // Counts are unchanged for kept collections; make sure they exist.
    for (&cid, _) in by_id.iter() {
        if rows.coll(cid)?.is_none() {
            let state = CollState {
                ordered: true,
                ..CollState::default()
            };
            rows.put_coll(cid, &rmp_serde::to_vec(&state).expect("encodable"))?;
        }
    }
    Ok(())
}
