//! An audit of what the engine saves beside the file, for `refdb check`:
//! the derived indexes' checkpoint and the full-text indexes, each against
//! indexes built anew from the documents.
//!
//! A saved derivative that cannot be used — none, unreadable, of another
//! schema, of another file's history, past the kept log — is only a note:
//! the next start rebuilds it and answers stay exact. A problem is one the
//! next start would take up and that disagrees with the documents once
//! caught up from the log, since queries would then answer wrongly.

use super::{MemIndexes, changed_since, checkpoint, text, text_dir_name, worth_catching_up};
use crate::query_error::QueryError;
use refdb_storage::ReadTxn;
use std::collections::HashMap;
use std::path::Path;

/// What [`audit_saved`] found.
#[derive(Debug, Default)]
pub struct SavedReport {
    /// One line per saved derivative: taken up and agreeing, or why the
    /// next start will rebuild it.
    pub notes: Vec<String>,
    /// Disagreements with the documents.
    pub problems: Vec<String>,
}

/// Audits the checkpoint at `checkpoint_path` and the full-text indexes
/// under `text_dir` against the documents `txn` reads.
pub fn audit_saved(
    txn: &ReadTxn<'_>,
    checkpoint_path: &Path,
    text_dir: &Path,
) -> Result<SavedReport, QueryError> {
    let schema = txn.schema();
    let built = MemIndexes::build(schema, txn)?;
    let mut r = SavedReport::default();
    let shown = checkpoint_path.display();
    match checkpoint::load(checkpoint_path, schema) {
        Err(e) => r.notes.push(format!(
            "{shown}: unreadable ({e}); rebuilt at the next start"
        )),
        Ok(None) if !checkpoint_path.exists() => r.notes.push(format!("{shown}: none")),
        Ok(None) => r.notes.push(format!(
            "{shown}: made under another schema; rebuilt at the next start"
        )),
        Ok(Some((_, pos))) if !checkpoint::belongs(pos, txn)? => r.notes.push(format!(
            "{shown}: not of this file's log (or past what it keeps); rebuilt at the next start"
        )),
        Ok(Some((mut saved, pos))) => {
            let records = saved.catch_up(txn, pos.next_seq)?;
            let before = r.problems.len();
            compare(&saved, &built, &shown.to_string(), &mut r.problems);
            if r.problems.len() == before {
                r.notes.push(format!(
                    "{shown}: agrees with the documents (at seq {}, {records} record(s) to catch up)",
                    pos.next_seq
                ));
            }
        }
    }
    audit_text(txn, &built, text_dir, &mut r)?;
    Ok(r)
}

/// Every difference between the indexes loaded from a checkpoint and the
/// ones built from the documents, one line per field.
pub(super) fn compare(
    saved: &MemIndexes,
    built: &MemIndexes,
    what: &str,
    problems: &mut Vec<String>,
) {
    for (coll, b) in &built.colls {
        let Some(s) = saved.colls.get(coll) else {
            problems.push(format!("{what}: no indexes for collection {coll}"));
            continue;
        };
        if s.live != b.live {
            problems.push(format!(
                "{what}: {coll}: {} live document(s) where the file has {}",
                s.live.len(),
                b.live.len()
            ));
        }
        if let Some(d) = b.live.iter().find(|&d| s.ids.get(d) != b.ids.get(d)) {
            problems.push(format!(
                "{what}: {coll}: docno {d} has the _id {:?} where the file has {:?}",
                s.ids.get(d),
                b.ids.get(d)
            ));
        }
        for (field, bv) in &b.values {
            if !s.values.get(field).is_some_and(|sv| sv.same_as(bv)) {
                problems.push(format!("{what}: {coll}.{field}: the value index differs"));
            }
        }
        for (field, bs) in &b.search {
            if !s.search.get(field).is_some_and(|ss| ss.same_as(bs)) {
                problems.push(format!("{what}: {coll}.{field}: the n-gram index differs"));
            }
        }
    }
}

/// The full-text index of each collection with `search` fields: once the
/// documents named since its position are set aside (a start re-indexes
/// them), it must hold exactly the live documents with a searched value.
fn audit_text(
    txn: &ReadTxn<'_>,
    built: &MemIndexes,
    text_dir: &Path,
    r: &mut SavedReport,
) -> Result<(), QueryError> {
    let fingerprint = checkpoint::fingerprint(txn.schema());
    let (_, log_end) = txn.change_log_extent()?;
    let mut usable: HashMap<&str, (text::SavedText, u64)> = HashMap::new();
    let mut names: Vec<&String> = built.colls.keys().collect();
    names.sort();
    for coll in names {
        let ci = &built.colls[coll];
        if ci.search.is_empty() {
            continue;
        }
        let mut fields: Vec<&str> = ci.search.keys().map(String::as_str).collect();
        fields.sort_unstable();
        let dir = text_dir.join(text_dir_name(coll));
        let shown = dir.display();
        if !dir.exists() {
            r.notes.push(format!("{shown}: none"));
            continue;
        }
        match text::read_saved(&fields, &dir, fingerprint) {
            Err(e) => r.notes.push(format!(
                "{shown}: could not be read through ({e}); if it stays so, the next start rebuilds it"
            )),
            Ok(None) => r.notes.push(format!(
                "{shown}: unreadable, or of another schema or analyzer; rebuilt at the next start"
            )),
            Ok(Some(t)) if !checkpoint::belongs(t.position, txn)? => r.notes.push(format!(
                "{shown}: not of this file's log (or past what it keeps); rebuilt at the next start"
            )),
            Ok(Some(t)) if !worth_catching_up(ci, t.position, log_end) => r.notes.push(format!(
                "{shown}: further behind the log than worth catching up; rebuilt at the next start"
            )),
            Ok(Some(t)) => {
                let from = t.position.next_seq;
                usable.insert(coll, (t, from));
            }
        }
    }
    let Some(oldest) = usable.values().map(|(_, from)| *from).min() else {
        return Ok(());
    };
    let (mut changed, _) = changed_since(txn, oldest, |coll, seq| {
        usable.get(coll).is_some_and(|(_, from)| seq >= *from)
    })?;
    let mut colls: Vec<_> = usable.into_iter().collect();
    colls.sort_by(|a, b| a.0.cmp(b.0));
    for (coll, (saved, from)) in colls {
        let shown = text_dir.join(text_dir_name(coll));
        let shown = shown.display();
        if saved.documents != saved.docnos.len() {
            r.problems.push(format!(
                "{shown}: {} documents for {} docnos (some docno twice)",
                saved.documents,
                saved.docnos.len()
            ));
            continue;
        }
        let since = changed.remove(coll).unwrap_or_default();
        let want = &built.colls[coll].with_searched_values() - &since;
        let held = &saved.docnos - &since;
        if held == want {
            r.notes.push(format!(
                "{shown}: agrees with the documents (at seq {from}, {} document(s) to re-index)",
                since.len()
            ));
        } else {
            r.problems.push(format!(
                "{shown}: holds {} document(s) it should not and lacks {}",
                (&held - &want).len(),
                (&want - &held).len()
            ));
        }
    }
    Ok(())
}
