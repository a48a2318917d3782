//! The full-text index saved in a directory: a restart takes it up and
//! marks dirty only the documents changed since its last commit (read from
//! the change log), instead of rebuilding it; one that does not belong to
//! the file — another file's, another schema's, a damaged one, one past the
//! kept log — is emptied and rebuilt; deleting it loses nothing. Every
//! engine answers `$text` exactly as one built anew in RAM.

mod common;

use common::*;
use proptest::prelude::*;
use refdb_query::{Engine, EngineOptions, Query, TextStart};
use refdb_storage::{Document, Store};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A saved full-text index at `dir`; only `flush_text` commits it (besides
/// the flusher's first round, which these tests wait for with it).
fn saved_at(dir: &Path) -> EngineOptions {
    EngineOptions {
        text_dir: Some(dir.to_path_buf()),
        text_overlay_max: usize::MAX,
        text_flush_interval: Duration::from_secs(3600),
        ..EngineOptions::default()
    }
}

fn text_dir(db: &tempfile::TempDir) -> PathBuf {
    db.path().join("t.db.text")
}

fn engine(store: &Arc<Store>, dir: &Path) -> Engine {
    Engine::with_options(store.clone(), saved_at(dir)).unwrap()
}

fn people(n: usize) -> Vec<Document> {
    (0..n)
        .map(|i| {
            obj(
                json!({"_id": format!("p{i:04}"), "name": NAMES[i % NAMES.len()],
                "nick": WORDS[i % WORDS.len()], "age": i % 7}),
            )
        })
        .collect()
}

fn text_queries() -> Vec<Query> {
    let mut qs: Vec<String> = WORDS
        .iter()
        .map(|w| w.replace(' ', "%20"))
        .flat_map(|w| [format!("name.$text={w}"), format!("nick.$text={w}")])
        .collect();
    qs.push("name.$text=bob&age.$gte=3&_sort=-age".into());
    qs.push("nick.$text=renamed".into());
    qs.iter().map(|s| refdb_query::parse(s).unwrap()).collect()
}

/// `a` answers every `$text` query as an engine built anew in RAM.
fn assert_exact(a: &Engine, store: &Arc<Store>) {
    let fresh = Engine::new(store.clone()).unwrap();
    fresh.flush_text().unwrap();
    for q in text_queries() {
        let (x, y) = (
            a.list("people", &q).unwrap(),
            fresh.list("people", &q).unwrap(),
        );
        assert_eq!((ids(&x), x.total), (ids(&y), y.total), "{q:?}");
    }
}

/// A store with `n` people and its text index saved and current.
fn saved(n: usize) -> (tempfile::TempDir, Arc<Store>, PathBuf) {
    let (db, store) = store_with_cities();
    store
        .write(|tx| tx.create_many("people", people(n)))
        .unwrap();
    let dir = text_dir(&db);
    let e = engine(&store, &dir);
    assert_eq!(
        e.text_start(),
        Some(&TextStart {
            loaded: 0,
            rebuilt: 1,
            records: 0,
            in_ram: 0,
        })
    );
    e.flush_text().unwrap();
    assert_eq!(e.text_lag(), 0);
    (db, store, dir)
}

#[test]
fn a_restart_takes_up_the_saved_index_and_marks_only_later_changes() {
    let (_db, store, dir) = saved(300);
    // Up to date: nothing to catch up, nothing dirty, tantivy full.
    let e = engine(&store, &dir);
    assert_eq!(e.text_start().unwrap().loaded, 1);
    assert_eq!(e.text_start().unwrap().records, 0);
    assert_eq!(e.text_lag(), 0);
    assert_exact(&e, &store);
    // Writes the index has not committed when the engine goes (a crash
    // looks the same to the next start).
    store
        .create(
            "people",
            obj(json!({"_id": "new", "name": "Bob", "nick": "renamed"})),
        )
        .unwrap();
    store
        .update("people", "p0001", obj(json!({"nick": "renamed"})))
        .unwrap();
    store.delete("people", "p0002").unwrap();
    store
        .update("people", "p0003", obj(json!({"age": 6})))
        .unwrap();
    drop(e);
    let e = engine(&store, &dir);
    let start = e.text_start().unwrap().clone();
    assert_eq!((start.loaded, start.rebuilt, start.records), (1, 0, 4));
    // Only the four documents named since, of 301.
    assert_eq!(e.text_lag(), 4);
    assert_exact(&e, &store);
    e.flush_text().unwrap();
    assert_eq!(e.text_lag(), 0);
    assert_exact(&e, &store);
}

#[test]
fn deleting_the_saved_index_loses_nothing() {
    let (_db, store, dir) = saved(120);
    std::fs::remove_dir_all(&dir).unwrap();
    let e = engine(&store, &dir);
    assert_eq!(e.text_start().unwrap().rebuilt, 1);
    assert_exact(&e, &store);
    e.flush_text().unwrap();
    assert_exact(&e, &store);
    drop(e);
    assert_eq!(engine(&store, &dir).text_start().unwrap().loaded, 1);
}

#[test]
fn a_saved_index_that_does_not_belong_to_the_file_is_rebuilt() {
    let rebuilt = |store: &Arc<Store>, dir: &Path| {
        let e = engine(store, dir);
        assert_eq!(e.text_start().unwrap().rebuilt, 1, "{:?}", e.text_start());
        // Rebuilt in its directory, not in RAM for want of one.
        assert_eq!(e.text_start().unwrap().in_ram, 0, "{:?}", e.text_start());
        assert_exact(&e, store);
        e.flush_text().unwrap();
        assert_exact(&e, store);
    };

    // Another file's, with a log as long.
    let (_a, _store_a, dir_a) = saved(50);
    let (b, store_b) = store_with_cities();
    store_b
        .write(|tx| {
            tx.create_many(
                "people",
                people(50).into_iter().map(|mut p| {
                    p.insert("nick".into(), json!("other"));
                    p
                }),
            )
        })
        .unwrap();
    copy_dir(&dir_a, &text_dir(&b));
    rebuilt(&store_b, &text_dir(&b));

    // A damaged one: every file of the directory truncated.
    let (_c, store_c, dir_c) = saved(50);
    for f in walk(&dir_c) {
        let bytes = std::fs::read(&f).unwrap();
        std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    }
    rebuilt(&store_c, &dir_c);

    // One whose meta.json is intact but a segment file is gone: the start
    // must not fail on it.
    let (_g, store_g, dir_g) = saved(50);
    let gone = walk(&dir_g)
        .into_iter()
        .find(|f| f.extension().is_some_and(|e| e == "idx"))
        .expect("a segment's term file");
    std::fs::remove_file(gone).unwrap();
    rebuilt(&store_g, &dir_g);

    // One whose catch-up records the log no longer keeps.
    let (d, store_d, dir_d) = saved(20);
    drop(store_d);
    let store_d = reopen_past_the_kept_log(d.path());
    rebuilt(&store_d, &dir_d);

    // One made under another schema.
    let (e, store_e, dir_e) = saved(20);
    drop(store_e);
    let store_e = reopen_under_another_schema(e.path());
    rebuilt(&store_e, &dir_e);
}

/// Postmortem (shrunk by the property below): a new index over an empty
/// collection had nothing to flush, so it never got a commit stamped with
/// a position, and every restart rebuilt it.
#[test]
fn a_new_index_over_an_empty_collection_is_stamped_by_its_first_flush() {
    let (db, store) = store_with_cities();
    let dir = text_dir(&db);
    let e = engine(&store, &dir);
    e.flush_text().unwrap();
    drop(e);
    let e = engine(&store, &dir);
    assert_eq!(e.text_start().unwrap().loaded, 1);
    store
        .create("people", obj(json!({"_id": "a", "name": "Bob"})))
        .unwrap();
    drop(e);
    let e = engine(&store, &dir);
    assert_eq!(e.text_start().unwrap().records, 1);
    assert_exact(&e, &store);
}

/// A long run of writes that touch no searched value of a collection
/// moves its saved position on, so that a restart does not read them back.
#[test]
fn writes_to_other_fields_move_the_saved_position_on() {
    let (_db, store, dir) = saved(10);
    let e = engine(&store, &dir);
    let n = (1 << 16) + 10;
    store
        .write(|tx| {
            tx.create_many(
                "cities",
                (0..n).map(|i| obj(json!({"label": format!("x{i}")}))),
            )
        })
        .unwrap();
    assert_eq!(e.text_lag(), 0);
    e.flush_text().unwrap();
    drop(e);
    let e = engine(&store, &dir);
    assert_eq!(e.text_start().unwrap().loaded, 1);
    assert_eq!(e.text_start().unwrap().records, 0);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Write(Write),
    Flush,
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        10 => write().prop_map(Step::Write),
        2 => Just(Step::Flush),
        1 => Just(Step::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    /// Random writes, flushes and restarts over one saved index: after each
    /// restart, and at the end, `$text` answers as an engine built anew.
    #[test]
    fn a_saved_index_across_restarts_answers_as_a_rebuilt_one(
        steps in prop::collection::vec(step(), 0..40),
    ) {
        let (db, store) = store_with_cities();
        let dir = text_dir(&db);
        let mut e = engine(&store, &dir);
        // Whether the saved index has a commit the next start can take up.
        let mut stamped = false;
        for s in steps {
            match s {
                Step::Write(w) => run_write(&e, w),
                Step::Flush => {
                    e.flush_text().unwrap();
                    stamped = true;
                }
                Step::Restart => {
                    drop(e);
                    e = engine(&store, &dir);
                    let loaded = e.text_start().unwrap().loaded == 1;
                    // The background flusher may have stamped it too.
                    prop_assert!(loaded || !stamped, "a stamped index was rebuilt");
                    stamped = loaded;
                    assert_exact(&e, &store);
                }
            }
        }
        assert_exact(&e, &store);
    }
}
