//! The derived table recomputed from documents alone: what `REFS` must
//! hold. The audit compares them with the file; a schema
//! migration writes them.

use crate::codec::StoredDoc;
use crate::schema::Collection;
use crate::schema::targets_of;
use roaring::RoaringBitmap;
use std::collections::BTreeMap;

/// A reverse-index target: (target collection, target id, source
/// collection, source field).
pub(crate) type RefTarget = (u32, String, u32, String);

#[derive(Debug, Default, PartialEq)]
pub(crate) struct Derived {
    /// Reverse-index target → the docnos referencing it, however the
    /// file cuts them in rows.
    pub refs: BTreeMap<RefTarget, RoaringBitmap>,
}

impl Derived {
    /// Adds one document's reference postings; `coll_id` maps a
    /// collection name to its id (None: the target collection is gone).
    pub fn add(
        &mut self,
        cid: u32,
        c: &Collection,
        doc: &StoredDoc,
        coll_id: &dyn Fn(&str) -> Option<u32>,
    ) {
        for f in c.fields.iter() {
            let v = doc.body.get(&f.name);
            if let (Some(spec), true) = (f.ty.ref_spec(), f.is_stored()) {
                let Some(tcid) = coll_id(&spec.coll) else {
                    continue;
                };
                for t in targets_of(v) {
                    self.refs
                        .entry((tcid, t, cid, f.name.clone()))
                        .or_default()
                        .insert(doc.docno);
                }
            }
        }
    }
}
