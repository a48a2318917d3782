//! `refdb check`'s audit of what the engine saves beside the file: the
//! checkpoint and the full-text indexes agree with the documents once
//! caught up from the log; one that would be taken up but disagrees is a
//! problem; one the next start would rebuild is only a note.

mod common;

use common::*;
use refdb_query::memindex::audit::{SavedReport, audit_saved};
use refdb_query::memindex::checkpoint;
use refdb_query::{Engine, EngineOptions};
use refdb_storage::Store;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

struct Saved {
    dir: tempfile::TempDir,
    store: Arc<Store>,
}

impl Saved {
    fn checkpoint(&self) -> PathBuf {
        self.dir.path().join("t.db.index")
    }

    fn text(&self) -> PathBuf {
        self.dir.path().join("t.db.text")
    }

    fn audit(&self) -> SavedReport {
        audit_saved(
            &self.store.read().unwrap(),
            &self.checkpoint(),
            &self.text(),
        )
        .unwrap()
    }
}

/// People (names from `NAMES`, starting at `shift`) saved in both
/// derivatives, then written to with no engine running, so that both must
/// catch up.
fn saved(shift: usize) -> Saved {
    let (dir, store) = store_with_cities();
    for i in 0..40 {
        store
            .create(
                "people",
                obj(json!({"_id": format!("p{i:02}"), "name": NAMES[(i + shift) % NAMES.len()], "age": i % 7})),
            )
            .unwrap();
    }
    let s = Saved { dir, store };
    let opts = EngineOptions {
        checkpoint: Some(s.checkpoint()),
        text_dir: Some(s.text()),
        ..EngineOptions::default()
    };
    let e = Engine::with_options(s.store.clone(), opts).unwrap();
    e.flush_text().unwrap();
    e.checkpoint().unwrap();
    drop(e);
    s.store
        .update("people", "p01", obj(json!({"name": "renamed"})))
        .unwrap();
    s.store.delete("people", "p02").unwrap();
    s
}

#[test]
fn saved_indexes_that_agree_with_the_documents_pass() {
    let s = saved(0);
    let r = s.audit();
    assert!(r.problems.is_empty(), "{r:?}");
    assert_eq!(
        r.notes.iter().filter(|n| n.contains("agrees")).count(),
        2,
        "{r:?}"
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("2 document(s) to re-index")),
        "{r:?}"
    );
}

#[test]
fn a_checkpoint_that_disagrees_once_caught_up_is_a_problem() {
    let s = saved(0);
    let schema = s.store.schema().clone();
    let (mut ix, pos) = checkpoint::load(&s.checkpoint(), &schema).unwrap().unwrap();
    // A document the checkpoint forgets, at the same position.
    let live = &mut ix.colls.get_mut("people").unwrap().live;
    let first = live.min().unwrap();
    live.remove(first);
    checkpoint::save(&ix, &schema, pos, &s.checkpoint()).unwrap();
    let r = s.audit();
    assert_eq!(r.problems.len(), 1, "{r:?}");
    assert!(r.problems[0].contains("live document(s)"), "{r:?}");
}

#[test]
fn a_full_text_index_that_lacks_a_document_is_a_problem() {
    let s = saved(0);
    let dir = s.text().join("c-people");
    forget_lowest_docno(&dir);
    let r = s.audit();
    assert_eq!(r.problems.len(), 1, "{r:?}");
    assert!(r.problems[0].contains("lacks 1"), "{r:?}");
}

/// Deletes the lowest docno (a person `saved` does not change afterwards)
/// from the saved tantivy index, keeping the position its commit carries.
/// Postmortem: it took the first docno of a hash set, which was now and
/// then one of the two the audit sets aside as changed, and the test failed
/// about once in twenty runs.
fn forget_lowest_docno(dir: &Path) {
    use tantivy::collector::DocSetCollector;
    use tantivy::query::AllQuery;
    let index = tantivy::Index::open_in_dir(dir).unwrap();
    let payload = index.load_metas().unwrap().payload.unwrap();
    let docno = index.schema().get_field("docno").unwrap();
    let searcher = index.reader().unwrap().searcher();
    let lowest = searcher
        .search(&AllQuery, &DocSetCollector)
        .unwrap()
        .iter()
        .map(|d| {
            searcher
                .segment_reader(d.segment_ord)
                .fast_fields()
                .u64("docno")
                .unwrap()
                .first(d.doc_id)
                .unwrap()
        })
        .min()
        .unwrap();
    let mut w: tantivy::IndexWriter = index.writer(15_000_000).unwrap();
    w.delete_term(tantivy::Term::from_field_u64(docno, lowest));
    let mut c = w.prepare_commit().unwrap();
    c.set_payload(&payload);
    c.commit().unwrap();
}

#[test]
fn saved_indexes_the_next_start_would_rebuild_are_notes() {
    let s = saved(0);
    // Another file's checkpoint and full-text index, at the same position.
    let other = saved(1);
    std::fs::copy(other.checkpoint(), s.checkpoint()).unwrap();
    std::fs::remove_dir_all(s.text()).unwrap();
    std::fs::rename(other.text(), s.text()).unwrap();
    let r = s.audit();
    assert!(r.problems.is_empty(), "{r:?}");
    assert_eq!(
        r.notes.iter().filter(|n| n.contains("rebuilt")).count(),
        2,
        "{r:?}"
    );
    // None at all.
    std::fs::remove_file(s.checkpoint()).unwrap();
    std::fs::remove_dir_all(s.text()).unwrap();
    let r = s.audit();
    assert!(r.problems.is_empty(), "{r:?}");
    assert!(r.notes.iter().all(|n| n.ends_with("none")), "{r:?}");
}
