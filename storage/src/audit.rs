//! The audit: one routine that verifies every invariant of the file, used
//! after every step of the property tests and by `refdb check`.
//!
//! It recomputes from the documents alone what every derived table must
//! hold and compares: the docno map, the counters, the reverse-reference
//! index (forward refs == reverse index), the change log; it checks
//! that no reference dangles, that both sides of stored pairs mirror each
//! other, and that every document is valid against the schema.

use crate::changelog::RawBody;
use crate::codec;
use crate::derive::{Derived, RefTarget};
use crate::error::Result;
use crate::hash::{fnv, fnv_on};
use crate::postings;
use crate::read::{ReadTxn, Tables};
use crate::rows::ReadRows;
use crate::schema::targets_of;
use crate::schema::validate::validate_document;
use roaring::RoaringBitmap;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// What the audit found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditReport {
    pub documents: u64,
    /// Stored reference values (edges).
    pub references: u64,
    /// Records in the change log.
    pub change_records: u64,
    /// A digest (64-bit FNV-1a) of every table's content — documents,
    /// docnos, counters, the reverse index, the change log and its counters:
    /// two files with the same digest hold the same database.
    pub digest: u64,
    /// Human-readable descriptions of every broken invariant (at most 1000).
    pub problems: Vec<String>,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// (target coll, target id, source coll, source field, source id)
type Edge = (u32, String, u32, String, String);

pub(crate) fn audit(r: &ReadTxn<'_>) -> Result<AuditReport> {
    let store = r.catalog();
    let schema = store.schema().clone();
    let mut problems: Vec<String> = Vec::new();
    let mut problem = |p: String| {
        if problems.len() < 1000 {
            problems.push(p)
        }
    };
    let coll_id = |name: &str| store.coll_id(name).ok();
    let mut derived = Derived::default();
    let mut edges: BTreeSet<Edge> = BTreeSet::new();
    let mut all_ids: HashSet<(u32, String)> = HashSet::new();
    let mut documents = 0;
    // Pass 1: documents, docnos, counters, validity; what the indexes must hold.
    for c in schema.collections() {
        let cid = store.coll_id(&c.name)?;
        let state = r.state(&c.name)?;
        let mut count = 0u64;
        let mut last_docno: Option<u32> = None;
        let mut ordered = true;
        for e in r.rows().docs(cid, std::ops::Bound::Unbounded)? {
            let e = e?;
            let id = e.id().to_string();
            let doc = match codec::decode(c, e.row()) {
                Ok(d) => d,
                Err(e) => {
                    problem(format!("{}/{id}: {e}", c.name));
                    continue;
                }
            };
            count += 1;
            ordered &= last_docno.is_none_or(|l| l < doc.docno);
            last_docno = Some(doc.docno);
            if doc.docno >= state.next_docno {
                problem(format!(
                    "{}/{id}: docno {} not below next_docno {}",
                    c.name, doc.docno, state.next_docno
                ));
            }
            match r.rows().docno_id(cid, doc.docno)? {
                Some(v) if v == id => {}
                other => problem(format!(
                    "{}/{id}: docno {} maps to {other:?}",
                    c.name, doc.docno,
                )),
            }
            if !doc.meta.is_object() {
                problem(format!("{}/{id}: no _meta", c.name));
            }
            for inv in validate_document(c, &doc.body) {
                problem(format!("{}/{id}: invalid: {inv}", c.name));
            }
            derived.add(cid, c, &doc, &coll_id);
            for (f, spec) in c.ref_fields().filter(|(f, _)| f.is_stored()) {
                let tcid = store.coll_id(&spec.coll)?;
                for t in targets_of(doc.body.get(&f.name)) {
                    edges.insert((tcid, t, cid, f.name.clone(), id.clone()));
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
        let docnos = r.rows().docnos(Some(cid))?.len() as u64;
        if docnos != count {
            problem(format!(
                "{}: {docnos} docno entries for {count} documents",
                c.name
            ));
        }
    }
    // Pass 2: reverse-reference index == forward references; no dangling.
    // Rows come in key order: a target's rows one after the other, by
    // the first docno of their range.
    let mut actual_refs: BTreeMap<RefTarget, RoaringBitmap> = BTreeMap::new();
    // The target of the row before, and the highest docno of that target
    // so far.
    let mut previous: Option<(RefTarget, Option<u32>)> = None;
    r.rows().each_ref_row(&mut |(tc, t, sc, sf, start), row| {
        let set = postings::decode(row)?;
        let target = (tc, t.to_string(), sc, sf.to_string());
        let shown =
            || format!("reverse index row collection {tc} {t} <- collection {sc}.{sf} at {start}");
        let last = match previous.take() {
            Some((p, last)) if p == target => last,
            _ => {
                if start != 0 {
                    problem(format!(
                        "{}: the target's first row does not start at docno 0",
                        shown()
                    ));
                }
                None
            }
        };
        if let Some(last) = last
            && last >= start
        {
            problem(format!(
                "{}: a row before it holds docno {last}, in its range",
                shown()
            ));
        }
        match (set.min(), set.max()) {
            (Some(lo), Some(hi)) => {
                if lo < start {
                    problem(format!("{}: holds docno {lo}, below its range", shown()));
                }
                previous = Some((target.clone(), Some(hi.max(last.unwrap_or(0)))));
            }
            _ => {
                problem(format!("{}: empty", shown()));
                previous = Some((target.clone(), last));
            }
        }
        *actual_refs.entry(target).or_default() |= set;
        Ok(())
    })?;
    compare("reverse index", &derived.refs, &actual_refs, &mut problem);
    for (tc, t, sc, sf, sid) in &edges {
        if !all_ids.contains(&(*tc, t.clone())) {
            problem(format!(
                "dangling reference: collection {sc} {sid}.{sf} -> collection {tc} {t}"
            ));
        }
    }
    // Pass 3: both stored sides of a pair mirror each other.
    let by_id: HashMap<u32, &crate::schema::Collection> = schema
        .collections()
        .filter_map(|c| Some((store.coll_id(&c.name).ok()?, c)))
        .collect();
    for (tc, t, sc, sf, sid) in &edges {
        let Some(f) = by_id.get(sc).and_then(|c| c.fields.get(sf)) else {
            continue;
        };
        let Some(p) = f.ty.ref_spec().and_then(|s| schema.partner(s)) else {
            continue;
        };
        if p.is_stored() && !edges.contains(&(*sc, sid.clone(), *tc, p.name.clone(), t.clone())) {
            problem(format!(
                "{}/{sid}.{sf} -> {t} is not mirrored by {}.{}",
                by_id[sc].name, by_id[tc].name, p.name
            ));
        }
    }
    // Pass 4: the change log agrees with the documents.
    let (change_records, log_digest) = audit_log(r, &mut problem)?;
    Ok(AuditReport {
        documents,
        references: edges.len() as u64,
        change_records,
        digest: digest(r, log_digest)?,
        problems,
    })
}

/// The log's records are numbered below its counter, in transaction order;
/// a record that refers to the stored document is that document's latest,
/// and the one `LATEST` names; the latest record of each document describes
/// it as stored now (its row, or its absence after a delete). Returns the
/// number of records and the digest of what they say ([`record_digest`]).
fn audit_log(r: &ReadTxn<'_>, problem: &mut impl FnMut(String)) -> Result<(u64, u64)> {
    let store = r.catalog();
    let (_, next_seq) = r.change_log_extent()?;
    // Per document: its last record's seq and body (row hash, or None
    // for a delete), and whether that record refers to `DOCS`.
    let mut last: HashMap<(String, String), (u64, Option<u64>, bool)> = HashMap::new();
    let mut last_txn = 0;
    let raw = r.raw_change_log()?;
    let n = raw.len() as u64;
    let mut log_digest = fnv(b"changes");
    for (seq, bytes) in &raw {
        log_digest = fnv_on(log_digest, &seq.to_be_bytes());
        // A current record may name its document by docno only.
        let named = crate::changelog::RawRecord::decode(*seq, bytes)
            .and_then(|mut rec| crate::read::name(r, &mut rec).map(|_| rec));
        let rec = match named {
            Ok(rec) => rec,
            Err(e) => {
                problem(format!("change log: {e}"));
                log_digest = fnv_on(log_digest, bytes);
                continue;
            }
        };
        log_digest = record_digest(log_digest, &rec);
        if *seq >= next_seq {
            problem(format!(
                "change {seq} is not below the log's next seq {next_seq}"
            ));
        }
        if rec.head.txn < last_txn {
            problem(format!(
                "change {seq} of txn {} follows txn {last_txn}",
                rec.head.txn
            ));
        }
        last_txn = rec.head.txn;
        let key = (rec.head.coll.clone(), rec.head.id.clone());
        if let Some((prev, _, true)) = last.get(&key) {
            problem(format!(
                "change {prev} refers to the stored {}/{} but change {seq} follows it",
                key.0, key.1
            ));
        }
        let (body, current) = match rec.body {
            RawBody::Deleted => (None, false),
            RawBody::Row(row) => (Some(fnv(row)), false),
            RawBody::Current => {
                let cid = store.coll_id(&key.0).ok();
                let stored = match cid {
                    Some(cid) => r.rows().doc(cid, &key.1)?.map(|v| v.to_vec()),
                    None => None,
                };
                // The latest record is named by the row, or by the table
                // for a row written before format 6.
                // A row too short for its header is reported by pass 1.
                let in_row = stored.as_deref().map(codec::latest).and_then(|l| l.ok());
                let named = match (cid, in_row) {
                    (_, Some(codec::Latest::InRow(seq))) => seq,
                    (Some(cid), _) => r.latest_seq(cid, rec.head.docno)?,
                    (None, _) => None,
                };
                if named != Some(*seq) {
                    problem(format!(
                        "change {seq} refers to the stored {}/{} but the latest record is {named:?}",
                        key.0, key.1
                    ));
                }
                (stored.as_deref().map(fnv), true)
            }
        };
        last.insert(key, (*seq, body, current));
    }
    // The table names the latest record only of rows that do not.
    for ((cid, docno), seq) in r.latest_records()? {
        let row = match r.rows().docno_id(cid, docno)? {
            Some(id) => r.rows().doc(cid, &id)?.map(|v| v.to_vec()),
            None => None,
        };
        match row {
            Some(row) if matches!(codec::latest(&row), Ok(codec::Latest::InTable)) => {}
            Some(_) => problem(format!(
                "the latest-change table names change {seq} for docno {docno} of collection \
                 {cid}, whose row names its own"
            )),
            None => problem(format!(
                "the latest-change table names change {seq} for docno {docno} of collection \
                 {cid}, which no document has"
            )),
        }
    }
    for ((coll, id), (seq, row, _)) in last {
        let Ok(cid) = store.coll_id(&coll) else {
            problem(format!("change log names unknown collection {coll:?}"));
            continue;
        };
        let stored = r.rows().doc(cid, &id)?.map(|v| fnv(&v));
        if stored != row {
            problem(format!(
                "{coll}/{id}: the change log's latest record ({seq}) {} the stored document",
                match (row, stored) {
                    (None, _) => "deletes",
                    (Some(_), None) => "describes a missing document, not",
                    _ => "differs from",
                }
            ));
        }
    }
    Ok((n, log_digest))
}

/// Continues `h` with what a record says, not its layout: a file upgraded
/// from an older format and its replay hold the same log in different
/// bytes.
fn record_digest(mut h: u64, rec: &crate::changelog::RawRecord<'_>) -> u64 {
    let c = &rec.head;
    for part in [
        &c.txn.to_be_bytes()[..],
        &c.time_us.to_be_bytes(),
        c.op.as_str().as_bytes(),
        &c.docno.to_be_bytes(),
        &c.prev.to_be_bytes(),
        c.coll.as_bytes(),
        c.id.as_bytes(),
    ] {
        h = fnv_on(h, part);
    }
    match rec.body {
        RawBody::Deleted => fnv_on(h, b"deleted"),
        RawBody::Current => fnv_on(h, b"current"),
        RawBody::Row(row) => fnv_on(fnv_on(h, b"row"), row),
    }
}

/// See [`AuditReport::digest`].
fn digest(r: &ReadTxn<'_>, log_digest: u64) -> Result<u64> {
    let mut h = fnv(b"refdb");
    for e in r.rows().all_docs()? {
        let e = e?;
        h = fnv_on(h, &e.cid().to_be_bytes());
        h = fnv_on(h, e.id().as_bytes());
        h = fnv_on(h, e.row());
    }
    for (cid, docno, id) in r.rows().docnos(None)? {
        h = fnv_on(h, &cid.to_be_bytes());
        h = fnv_on(h, &docno.to_be_bytes());
        h = fnv_on(h, id.as_bytes());
    }
    // Postings are digested as one set per target: how a target's set is
    // cut in rows depends on the order of the writes, and equal sets may
    // serialize apart.
    let mut current: Option<(RefTarget, RoaringBitmap)> = None;
    let digest_target = |h: u64, ((tc, t, sc, sf), set): (RefTarget, RoaringBitmap)| {
        let mut h = h;
        for part in [
            &tc.to_be_bytes()[..],
            t.as_bytes(),
            &sc.to_be_bytes(),
            sf.as_bytes(),
        ] {
            h = fnv_on(h, part);
        }
        fnv_on(h, &postings_digest(&set))
    };
    r.rows().each_ref_row(&mut |(tc, t, sc, sf, _), v| {
        let set = postings::decode(v)?;
        match &mut current {
            Some((last, union))
                if (last.0, last.1.as_str(), last.2, last.3.as_str()) == (tc, t, sc, sf) =>
            {
                *union |= set
            }
            _ => {
                let next = ((tc, t.to_string(), sc, sf.to_string()), set);
                if let Some(done) = current.replace(next) {
                    h = digest_target(h, done);
                }
            }
        }
        Ok(())
    })?;
    if let Some(done) = current {
        h = digest_target(h, done);
    }
    for c in r.schema().collections() {
        let state = r.state(&c.name)?;
        h = fnv_on(h, c.name.as_bytes());
        h = fnv_on(h, &state.next_docno.to_be_bytes());
        h = fnv_on(h, &state.count.to_be_bytes());
        h = fnv_on(h, &[u8::from(state.ordered)]);
    }
    let (_, next_seq) = r.change_log_extent()?;
    h = fnv_on(h, &next_seq.to_be_bytes());
    // The log, as `audit_log` digested it while checking it.
    h = fnv_on(h, &log_digest.to_be_bytes());
    for ((cid, docno), seq) in r.latest_records()? {
        h = fnv_on(h, &cid.to_be_bytes());
        h = fnv_on(h, &docno.to_be_bytes());
        h = fnv_on(h, &seq.to_be_bytes());
    }
    Ok(h)
}

fn postings_digest(set: &RoaringBitmap) -> [u8; 8] {
    let mut h = fnv(b"postings");
    for d in set {
        h = fnv_on(h, &d.to_be_bytes());
    }
    h.to_le_bytes()
}

fn compare<K: Ord + std::fmt::Debug>(
    what: &str,
    expected: &BTreeMap<K, RoaringBitmap>,
    actual: &BTreeMap<K, RoaringBitmap>,
    problem: &mut impl FnMut(String),
) {
    for (k, want) in expected {
        match actual.get(k) {
            None => problem(format!("{what} lacks row {k:?}")),
            Some(got) if got != want => problem(format!(
                "{what} row {k:?} holds {got:?}, documents say {want:?}"
            )),
            Some(_) => {}
        }
    }
    for k in actual.keys().filter(|k| !expected.contains_key(k)) {
        problem(format!("{what} has a stray row {k:?}"));
    }
}
