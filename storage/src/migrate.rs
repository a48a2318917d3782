//! Applying a new schema to an existing file, in the open transaction:
//! removed fields are dropped, new fields get their defaults, documents of
//! removed collections are deleted, and the derived tables (secondary and
//! reverse-reference indexes) are rebuilt from the documents. If any
//! document does not fit the new schema (a new required field without
//! default, a narrower type, a reference that would dangle) the change is
//! refused with the list of offending documents and nothing is written.

use crate::codec::{self, StoredDoc};
use crate::db::{Catalog, CollState};
use crate::error::{Error, Invalid, Result};
use crate::keys;
use crate::schema::Schema;
use crate::schema::validate::validate_document;
use crate::tables::{COLLS, DOCNOS, DOCS, INDEX, REFS};
use crate::write::targets_of;
use redb::{ReadableTable, WriteTransaction};
use std::collections::HashSet;

pub(crate) fn migrate(
    txn: &WriteTransaction,
    old: &Schema,
    new: &Schema,
    catalog: &mut Catalog,
) -> Result<()> {
    let mut docs = txn.open_table(DOCS)?;
    let mut docnos = txn.open_table(DOCNOS)?;
    let mut colls = txn.open_table(COLLS)?;
    let mut problems: Vec<(String, String, Invalid)> = Vec::new();
    // Documents of collections the new schema drops are deleted.
    for c in old
        .collections()
        .filter(|c| new.collection(&c.name).is_none())
    {
        if let Some(cid) = catalog.remove(&c.name) {
            docs.retain_in((cid, "")..(cid + 1, ""), |_, _| false)?;
            docnos.retain_in((cid, 0)..=(cid, u32::MAX), |_, _| false)?;
            colls.remove(cid)?;
        }
    }
    let mut rewritten: Vec<(u32, String, StoredDoc)> = Vec::new();
    let mut ids: HashSet<(String, String)> = HashSet::new();
    for c in new.collections() {
        let Some(&cid) = catalog.get(&c.name) else {
            continue;
        };
        for e in docs.range((cid, "")..(cid + 1, ""))? {
            let (k, v) = e?;
            let id = k.value().1.to_string();
            let mut doc = codec::decode(v.value())?;
            let meta = doc.body.shift_remove("_meta");
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
            if let Some(m) = meta {
                doc.body.insert("_meta".into(), m);
            }
            ids.insert((c.name.clone(), id.clone()));
            rewritten.push((cid, id, doc));
        }
    }
    let mut refs = txn.open_table(REFS)?;
    let mut index = txn.open_table(INDEX)?;
    refs.retain(|_, _| false)?;
    index.retain(|_, _| false)?;
    let by_id: std::collections::HashMap<u32, &crate::schema::Collection> = new
        .collections()
        .filter_map(|c| Some((*catalog.get(&c.name)?, c)))
        .collect();
    for (cid, id, doc) in &rewritten {
        let c = by_id[cid];
        for f in c.fields.iter() {
            let v = doc.body.get(&f.name);
            if f.index {
                for k in keys::index_keys(*cid, &f.name, &f.ty, v, doc.docno) {
                    index.insert(k.as_slice(), ())?;
                }
            }
            if let (Some(spec), true) = (f.ty.ref_spec(), f.is_stored()) {
                for (i, t) in targets_of(v).into_iter().enumerate() {
                    if !ids.contains(&(spec.coll.clone(), t.clone())) {
                        problems.push((
                            c.name.clone(),
                            id.clone(),
                            Invalid::new(
                                format!("$.{}[{i}]", f.name),
                                format!("would point to a missing {}/{t}", spec.coll),
                            ),
                        ));
                        continue;
                    }
                    let Some(&tcid) = catalog.get(&spec.coll) else {
                        continue;
                    };
                    refs.insert(
                        (tcid, t.as_str(), *cid, f.name.as_str(), id.as_str()),
                        doc.docno,
                    )?;
                }
            }
        }
        docs.insert((*cid, id.as_str()), codec::encode(doc).as_slice())?;
    }
    if !problems.is_empty() {
        return Err(Error::SchemaMigration(problems));
    }
    // Counts are unchanged for kept collections; make sure they exist.
    for (&cid, _) in by_id.iter() {
        if colls.get(cid)?.is_none() {
            let state = CollState {
                ordered: true,
                ..CollState::default()
            };
            colls.insert(
                cid,
                rmp_serde::to_vec(&state).expect("encodable").as_slice(),
            )?;
        }
    }
    Ok(())
}
