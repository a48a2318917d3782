//! Reading: a snapshot ([`ReadTxn`]) and the lookups shared with the write
//! transaction through the [`Tables`] trait, so a document reads the same
//! inside and outside a write.
//!
//! Documents come out *materialized*: `_id` first, every declared field in
//! schema order (a missing one as null), derived `refs` lists read from the
//! reverse index, `_meta` last.

use crate::catalog::{Catalog, CollState};
use crate::changelog::{ChangeRecord, Names, RawBody, RawRecord};
use crate::codec::{self, StoredDoc};
use crate::error::{Error, Result};
use crate::postings;
use crate::rows::{ReadRows, Snapshot};
use crate::schema::{Collection, Schema};
use roaring::RoaringBitmap;
use serde_json::{Map, Value};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::codec::Document;

/// What a lookup needs: the rows of a consistent view, and the catalog
/// (the schema and the collections' ids). Implemented by the snapshot and
/// by the write transaction (which sees its own writes).
pub(crate) trait Tables {
    type Rows: ReadRows;
    fn rows(&self) -> &Self::Rows;
    fn catalog(&self) -> &Catalog;
    /// Checks, in debug builds, that no reverse-index change waits to be
    /// written (a write transaction buffers them).
    fn refs_flushed(&self) {}
}

/// A stored change record with its row: a record that refers to `DOCS`
/// (the latest of its document) takes the document's row, as `t` sees it.
pub(crate) fn resolve<T: Tables>(t: &T, mut raw: RawRecord<'_>) -> Result<ChangeRecord> {
    let named = name(t, &mut raw)?;
    let mut rec = raw.head;
    rec.row = match raw.body {
        RawBody::Deleted => None,
        RawBody::Row(row) => Some(row.to_vec()),
        RawBody::Current => {
            let cid = match named {
                Some(cid) => cid,
                None => t.catalog().coll_id(&rec.coll)?,
            };
            let row = t.rows().doc(cid, &rec.id)?;
            match row.map(|v| v.to_vec()) {
                Some(row) if codec::docno(&row)? == rec.docno => Some(row),
                _ => {
                    return Err(Error::Corrupt(format!(
                        "change record {} refers to {}/{}, which is not stored with docno {}",
                        rec.seq, rec.coll, rec.id, rec.docno
                    )));
                }
            }
        }
    };
    Ok(rec)
}

/// Fills in the collection name and `_id` of a record that names its
/// document by docno ([`Names::ByDocno`]); returns that collection's id.
pub(crate) fn name<T: Tables>(t: &T, raw: &mut RawRecord<'_>) -> Result<Option<u32>> {
    let Names::ByDocno { cid } = raw.names else {
        return Ok(None);
    };
    let rec = &mut raw.head;
    let missing = |what: String| {
        Error::Corrupt(format!(
            "change record {} refers to docno {} of collection {cid}, {what}",
            rec.seq, rec.docno
        ))
    };
    let Some(coll) = t.catalog().coll_name(cid) else {
        return Err(missing("a collection the schema does not have".into()));
    };
    let Some(id) = t.rows().docno_id(cid, rec.docno)? else {
        return Err(missing("which no document has".into()));
    };
    rec.coll = coll.to_string();
    rec.id = id;
    raw.names = Names::InRecord;
    Ok(Some(cid))
}

pub(crate) fn load<T: Tables>(
    t: &T,
    coll: &Collection,
    cid: u32,
    id: &str,
) -> Result<Option<StoredDoc>> {
    match t.rows().doc(cid, id)? {
        Some(v) => Ok(Some(codec::decode(coll, &v)?)),
        None => Ok(None),
    }
}

/// The documents of `scoll.sfield` that reference `tcoll/tid`, as (id, docno).
pub(crate) fn referrers<T: Tables>(
    t: &T,
    tcid: u32,
    tid: &str,
    scid: u32,
    sfield: &str,
) -> Result<Vec<(String, u32)>> {
    let mut out = Vec::new();
    for docno in referrer_docnos(t, tcid, tid, scid, sfield)? {
        match t.rows().docno_id(scid, docno)? {
            Some(id) => out.push((id, docno)),
            None => {
                return Err(Error::Corrupt(format!(
                    "reverse index names missing docno {docno}"
                )));
            }
        }
    }
    Ok(out)
}

/// The docnos of `scoll.sfield` documents that reference `tcoll/tid`.
pub(crate) fn referrer_docnos<T: Tables>(
    t: &T,
    tcid: u32,
    tid: &str,
    scid: u32,
    sfield: &str,
) -> Result<RoaringBitmap> {
    t.refs_flushed();
    let mut out = RoaringBitmap::new();
    t.rows()
        .ref_rows_of((tcid, tid, scid, sfield), &mut |_, row| {
            out |= postings::decode(row)?;
            Ok(())
        })?;
    Ok(out)
}

/// The target ids a document's reference field holds now: from the
/// document for a stored field, from the reverse index for a derived one.
pub(crate) fn ref_targets<T: Tables>(
    t: &T,
    coll: &Collection,
    id: &str,
    doc: &StoredDoc,
    field: &str,
) -> Result<Vec<String>> {
    let f = coll.fields.get(field).expect("field of the collection");
    if f.is_stored() {
        return Ok(crate::schema::targets_of(doc.body.get(field)));
    }
    Ok(derived_referrers(t, coll, id, f)?
        .into_iter()
        .map(|(i, _)| i)
        .collect())
}

/// The value of the derived (reverse) reference field `f` of `coll/id`:
/// the (id, docno) of every document whose partner field points here.
pub(crate) fn derived_referrers<T: Tables>(
    t: &T,
    coll: &Collection,
    id: &str,
    f: &crate::schema::Field,
) -> Result<Vec<(String, u32)>> {
    let spec = f.ty.ref_spec().expect("derived fields are refs");
    let partner = spec
        .reverse
        .as_deref()
        .expect("derived fields have a partner");
    let catalog = t.catalog();
    referrers(
        t,
        catalog.coll_id(&coll.name)?,
        id,
        catalog.coll_id(&spec.coll)?,
        partner,
    )
}

/// The client view of a stored document (consumed: values move, not copy).
pub(crate) fn materialize<T: Tables>(
    t: &T,
    coll: &Collection,
    id: &str,
    doc: StoredDoc,
) -> Result<Document> {
    let mut body = doc.body;
    materialize_with(t, coll, id, |name| body.swap_remove_entry(name), doc.meta)
}

/// [`materialize`] from a row decoded as pairs (the point-read path).
pub(crate) fn materialize_pairs<T: Tables>(
    t: &T,
    coll: &Collection,
    id: &str,
    row: codec::RowPairs,
) -> Result<Document> {
    let mut fields = row.fields;
    // A document has a handful of fields: a linear search beats hashing.
    let take = |name: &str| {
        let i = fields.iter().position(|(k, _)| k == name)?;
        Some(fields.swap_remove(i))
    };
    materialize_with(t, coll, id, take, row.meta)
}

/// Builds the client view, taking each stored field (name and value)
/// from `take`.
fn materialize_with<T: Tables>(
    t: &T,
    coll: &Collection,
    id: &str,
    mut take: impl FnMut(&str) -> Option<(String, Value)>,
    meta: Value,
) -> Result<Document> {
    let mut out = Map::with_capacity(coll.fields.len() + 2);
    out.insert("_id".into(), Value::String(id.to_string()));
    for f in coll.fields.iter() {
        let v = if f.is_stored() {
            // Moving the decoded entry (key included) avoids allocating
            // the field name again.
            match (take(&f.name), &f.ty) {
                (Some((k, v)), _) => {
                    out.insert(k, v);
                    continue;
                }
                // A reference list is always a list, empty when unset.
                (None, crate::schema::FieldType::Refs(_)) => Value::Array(Vec::new()),
                (None, _) => Value::Null,
            }
        } else {
            let ids = derived_referrers(t, coll, id, f)?;
            Value::Array(ids.into_iter().map(|(i, _)| Value::String(i)).collect())
        };
        out.insert(f.name.clone(), v);
    }
    out.insert("_meta".into(), meta);
    Ok(out)
}

/// Appends the served JSON of the document `id` of `coll`, whose stored
/// row is `row`, to `out`.
fn write_doc<T: Tables>(
    t: &T,
    coll: &Collection,
    id: &str,
    row: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    crate::json::write_shaped(coll, id, row, &|_| false, out, &mut |f, out| {
        let ids = derived_referrers(t, coll, id, f)?;
        out.push(b',');
        crate::transcode::write_str(out, &f.name);
        out.extend_from_slice(b":[");
        for (i, (rid, _)) in ids.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            crate::transcode::write_str(out, rid);
        }
        out.push(b']');
        Ok(())
    })
}

pub(crate) fn collection<'s>(schema: &'s Schema, name: &str) -> Result<&'s Collection> {
    schema
        .collection(name)
        .ok_or_else(|| Error::UnknownCollection(name.to_string()))
}

/// A consistent, read-only snapshot of the database.
pub struct ReadTxn<'s> {
    catalog: &'s Catalog,
    /// The store's count of document rows decoded (see
    /// [`crate::Store::rows_scanned`]).
    scanned: &'s AtomicU64,
    snap: Arc<Snapshot>,
}

impl Tables for ReadTxn<'_> {
    type Rows = Snapshot;
    fn rows(&self) -> &Snapshot {
        &self.snap
    }
    fn catalog(&self) -> &Catalog {
        self.catalog
    }
}

impl<'s> ReadTxn<'s> {
    pub(crate) fn new(
        catalog: &'s Catalog,
        scanned: &'s AtomicU64,
        snap: Arc<Snapshot>,
    ) -> ReadTxn<'s> {
        ReadTxn {
            catalog,
            scanned,
            snap,
        }
    }

    /// The space each table of the file takes, largest first.
    pub fn space(&self) -> Result<Vec<crate::space::TableSpace>> {
        self.snap.space()
    }

    pub fn schema(&self) -> &Schema {
        self.catalog.schema()
    }

    /// One document by `_id`, materialized.
    pub fn get(&self, coll: &str, id: &str) -> Result<Document> {
        self.try_get(coll, id)?.ok_or_else(|| Error::NotFound {
            coll: coll.to_string(),
            id: id.to_string(),
            path: None,
        })
    }

    pub fn try_get(&self, coll: &str, id: &str) -> Result<Option<Document>> {
        let c = collection(self.schema(), coll)?;
        let cid = self.catalog.coll_id(coll)?;
        match self.snap.doc(cid, id)? {
            Some(v) => {
                let row = codec::decode_pairs(c, &v)?;
                Ok(Some(materialize_pairs(self, c, id, row)?))
            }
            None => Ok(None),
        }
    }

    /// One document by `_id`, as the JSON text of its materialized form:
    /// the bytes `serde_json::to_vec(&self.get(coll, id)?)` would give,
    /// written straight from the stored row (see [`crate::json`]).
    pub fn get_json(&self, coll: &str, id: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        if self.write_json(coll, id, &mut out)? {
            Ok(out)
        } else {
            Err(Error::NotFound {
                coll: coll.to_string(),
                id: id.to_string(),
                path: None,
            })
        }
    }

    /// [`ReadTxn::get_json`] appending to `out` (a page of documents goes
    /// into one buffer); false, with nothing written, if there is no such
    /// document.
    pub fn write_json(&self, coll: &str, id: &str, out: &mut Vec<u8>) -> Result<bool> {
        let c = collection(self.schema(), coll)?;
        let cid = self.catalog.coll_id(coll)?;
        match self.snap.doc(cid, id)? {
            Some(v) => {
                write_doc(self, c, id, &v, out)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The stored body (fields and `_meta`, no derived lists) and docno.
    pub fn get_stored(&self, coll: &str, id: &str) -> Result<Option<StoredDoc>> {
        self.count_rows(1);
        let c = collection(self.schema(), coll)?;
        load(self, c, self.catalog.coll_id(coll)?, id)
    }

    /// The docno of a document.
    pub fn docno(&self, coll: &str, id: &str) -> Result<Option<u32>> {
        match self.snap.doc(self.catalog.coll_id(coll)?, id)? {
            Some(v) => Ok(Some(codec::docno(&v)?)),
            None => Ok(None),
        }
    }

    /// The `_id` of a docno.
    pub fn id_of(&self, coll: &str, docno: u32) -> Result<Option<String>> {
        self.snap.docno_id(self.catalog.coll_id(coll)?, docno)
    }

    /// Materializes a stored document of `coll` (as returned by [`ReadTxn::scan`]).
    pub fn materialize(&self, coll: &str, id: &str, doc: StoredDoc) -> Result<Document> {
        materialize(self, collection(self.schema(), coll)?, id, doc)
    }

    /// Counters of a collection (document count, docno order).
    pub fn state(&self, coll: &str) -> Result<CollState> {
        match self.snap.coll(self.catalog.coll_id(coll)?)? {
            Some(v) => Ok(rmp_serde::from_slice(&v)?),
            None => Err(Error::Corrupt(format!("no counters for collection {coll}"))),
        }
    }

    /// Number of documents in a collection, O(1).
    pub fn count(&self, coll: &str) -> Result<u64> {
        Ok(self.state(coll)?.count)
    }

    /// Every document of a collection in `_id` order, starting after
    /// `after` if given, as (id, stored document).
    pub fn scan(
        &self,
        coll: &str,
        after: Option<&str>,
    ) -> Result<impl Iterator<Item = Result<(String, StoredDoc)>> + '_> {
        let c = collection(self.schema(), coll)?;
        let cid = self.catalog.coll_id(coll)?;
        let from = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        Ok(self
            .snap
            .docs(cid, from)?
            .map(|e| -> Result<(String, StoredDoc)> {
                let e = e?;
                self.count_rows(1);
                Ok((e.id().to_string(), codec::decode(c, e.row())?))
            }))
    }

    /// Every document of a collection, in `_id` order, as its docno, its
    /// `_id` and the values of `fields` (`None` where unset), decoding
    /// nothing else: what an index build needs. `f` may take the values
    /// out.
    pub fn scan_fields(
        &self,
        coll: &str,
        fields: &[&str],
        mut f: impl FnMut(u32, &str, &mut [Option<Value>]),
    ) -> Result<()> {
        let c = collection(self.schema(), coll)?;
        let cid = self.catalog.coll_id(coll)?;
        let mut values = vec![None; fields.len()];
        let mut rows = 0;
        for e in self.snap.docs(cid, Bound::Unbounded)? {
            let e = e?;
            let row = e.row();
            let (body, _) = codec::split(row)?;
            crate::msgpack::project(c, body, fields, &mut values)?;
            f(codec::docno(row)?, e.id(), &mut values);
            rows += 1;
        }
        self.count_rows(rows);
        Ok(())
    }

    fn count_rows(&self, n: u64) {
        self.scanned.fetch_add(n, Ordering::Relaxed);
    }

    /// Every (id, docno) of a collection in `_id` order, without decoding
    /// document bodies.
    pub fn scan_docnos(
        &self,
        coll: &str,
    ) -> Result<impl Iterator<Item = Result<(String, u32)>> + '_> {
        let cid = self.catalog.coll_id(coll)?;
        Ok(self
            .snap
            .docs(cid, Bound::Unbounded)?
            .map(|e| -> Result<(String, u32)> {
                let e = e?;
                Ok((e.id().to_string(), codec::docno(e.row())?))
            }))
    }

    /// The docnos of `scoll` documents whose `sfield` references `tcoll/tid`.
    pub fn referrer_docnos(
        &self,
        tcoll: &str,
        tid: &str,
        scoll: &str,
        sfield: &str,
    ) -> Result<RoaringBitmap> {
        referrer_docnos(
            self,
            self.catalog.coll_id(tcoll)?,
            tid,
            self.catalog.coll_id(scoll)?,
            sfield,
        )
    }

    /// The documents of `scoll.sfield` that reference `tcoll/tid`, as (id, docno).
    pub fn referrers(
        &self,
        tcoll: &str,
        tid: &str,
        scoll: &str,
        sfield: &str,
    ) -> Result<Vec<(String, u32)>> {
        referrers(
            self,
            self.catalog.coll_id(tcoll)?,
            tid,
            self.catalog.coll_id(scoll)?,
            sfield,
        )
    }

    /// Up to `limit` records of the change log with a seq greater than
    /// `after`, in order (see [`crate::changelog`]).
    pub fn changes(&self, after: u64, limit: usize) -> Result<Vec<ChangeRecord>> {
        // Grown as records come: a follower at the end of the log asks for
        // many and gets a few, and a large reservation per call costs a
        // fresh zeroed mapping from the allocator each time.
        let mut out = Vec::new();
        let Some(from) = after.checked_add(1) else {
            return Ok(out);
        };
        for entry in self.snap.changes(from, None)?.take(limit) {
            let (seq, v) = entry?;
            out.push(resolve(self, RawRecord::decode(seq, &v)?)?);
        }
        Ok(out)
    }

    /// The record `seq`, if the log still holds it.
    pub fn change(&self, seq: u64) -> Result<Option<ChangeRecord>> {
        let Some(v) = self.snap.change(seq)? else {
            return Ok(None);
        };
        let bytes = v.to_vec();
        Ok(Some(resolve(self, RawRecord::decode(seq, &bytes)?)?))
    }

    /// Every record of the change log as stored (a record that refers to
    /// `DOCS` without its row), for the audit.
    pub(crate) fn raw_change_log(&self) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::new();
        for e in self.snap.changes(0, None)? {
            let (seq, v) = e?;
            out.push((seq, v.to_vec()));
        }
        Ok(out)
    }

    /// The seq of a document's latest change record, if kept.
    pub(crate) fn latest_seq(&self, cid: u32, docno: u32) -> Result<Option<u64>> {
        self.snap.latest(cid, docno)
    }

    /// Every (collection id, docno) → seq of its latest change record.
    pub(crate) fn latest_records(&self) -> Result<Vec<((u32, u32), u64)>> {
        self.snap.all_latest()
    }

    /// The change log's extent: the oldest seq kept (`None`: the log is
    /// empty) and the seq the next record will get.
    pub fn change_log_extent(&self) -> Result<(Option<u64>, u64)> {
        let first = self.snap.first_change()?.map(|(seq, _)| seq);
        let counters = match self.snap.meta(crate::changelog::COUNTERS_KEY)? {
            Some(v) => crate::changelog::Counters::decode(&v)?,
            None => crate::changelog::Counters::default(),
        };
        Ok((first, counters.next_seq))
    }

    /// The position in a shared log this snapshot reflects (0: none).
    pub fn log_position(&self) -> Result<u64> {
        crate::changelog::decode_position(
            self.snap
                .meta(crate::changelog::LOG_POSITION_KEY)?
                .map(|v| v.to_vec()),
        )
    }
}
