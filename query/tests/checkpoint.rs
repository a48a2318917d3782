//! The derived indexes' checkpoint: a restart loads it and reads no
//! document; writes made after it was saved (a crash before the next save)
//! are caught up from the change log, reading only the documents they
//! touched; and a checkpoint that does not belong to the file — another
//! file's, a corrupt one, one past the kept log, one of another schema —
//! is ignored and the indexes rebuilt. Every loaded engine answers every
//! query exactly as an engine built from the documents.

mod common;

use common::*;
use proptest::prelude::*;
use refdb_query::{Engine, EngineOptions, IndexStart, Query};
use refdb_storage::{Document, Store};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn with_checkpoint(path: &Path) -> EngineOptions {
    EngineOptions {
        checkpoint: Some(path.to_path_buf()),
        ..EngineOptions::default()
    }
}

fn reopen(dir: &Path) -> Arc<Store> {
    Arc::new(Store::open(dir.join("t.db"), None).unwrap())
}

fn people(n: usize) -> Vec<Document> {
    (0..n)
        .map(|i| {
            obj(
                json!({"_id": format!("p{i:04}"), "name": NAMES[i % NAMES.len()],
                "nick": WORDS[i % WORDS.len()], "age": i % 7, "male": i % 2 == 0,
                "tags": [WORDS[i % 3]], "city": CITIES[i % 3]}),
            )
        })
        .collect()
}

/// Both engines answer these queries alike (ids of the page and total).
fn assert_same_answers(a: &Engine, b: &Engine, queries: &[Query]) {
    for q in queries {
        let (pa, pb) = (a.list("people", q).unwrap(), b.list("people", q).unwrap());
        assert_eq!((ids(&pa), pa.total), (ids(&pb), pb.total), "{q:?}");
        let (ca, cb) = (a.list("cities", q), b.list("cities", q));
        if let (Ok(ca), Ok(cb)) = (ca, cb) {
            assert_eq!((ids(&ca), ca.total), (ids(&cb), cb.total), "{q:?}");
        }
    }
}

fn fixed_queries() -> Vec<Query> {
    [
        "",
        "name.$re=o",
        "nick.$re=^a",
        "age.$gte=3&male=true",
        "tags=alpha",
        "_sort=-age&_skip=2&_page=5",
        "name=Bob",
        "nick.$text=alpha",
        "age.$exists=false",
    ]
    .iter()
    .map(|s| refdb_query::parse(s).unwrap())
    .collect()
}

/// `n` people and an engine built from them, with a checkpoint path.
fn built_engine(n: usize) -> (tempfile::TempDir, Arc<Store>, PathBuf, Engine) {
    let (dir, store) = store_with_cities();
    let idx = dir.path().join("t.db.index");
    store
        .write(|tx| tx.create_many("people", people(n)))
        .unwrap();
    let engine = Engine::with_options(store.clone(), with_checkpoint(&idx)).unwrap();
    assert_eq!(engine.index_start(), &IndexStart::Built);
    (dir, store, idx, engine)
}

#[test]
fn a_restart_loads_the_checkpoint_and_reads_no_document() {
    let (dir, store, idx, engine) = built_engine(500);
    engine.checkpoint().unwrap();
    drop(engine);
    drop(store);

    let store = reopen(dir.path());
    let before = store.rows_scanned();
    let loaded = Engine::with_options(store.clone(), with_checkpoint(&idx)).unwrap();
    assert_eq!(loaded.index_start(), &IndexStart::Loaded { caught_up: 0 });
    assert_eq!(store.rows_scanned(), before, "the start read documents");
    let built = Engine::new(store.clone()).unwrap();
    assert!(
        store.rows_scanned() > before + 500,
        "the counter counts scans"
    );
    loaded.flush_text().unwrap();
    assert_same_answers(&loaded, &built, &fixed_queries());
    // Commits after the load keep both in step.
    store
        .create("people", obj(json!({"name": "Zed", "age": 3})))
        .unwrap();
    store.delete("people", "p0001").unwrap();
    assert_same_answers(&loaded, &built, &fixed_queries());
}

/// After a build, the checkpoint saved in the background is taken up in
/// place of the indexes held in memory (as a restart would load it), with
/// the writes that raced with the save and the take-up caught up.
#[test]
fn after_a_build_the_saved_checkpoint_replaces_the_indexes_in_memory() {
    let (_dir, store, _idx, engine) = built_engine(300);
    let mut i = 0;
    let started = std::time::Instant::now();
    while !engine.reads_saved_indexes() {
        store
            .create(
                "people",
                obj(json!({"name": format!("racing {i}"), "nick": "alpha"})),
            )
            .unwrap();
        store
            .update(
                "people",
                &format!("p{:04}", i % 300),
                obj(json!({"name": "Renamed"})),
            )
            .unwrap();
        i += 1;
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the saved checkpoint was never taken up"
        );
    }
    store.delete("people", "p0007").unwrap();
    let built = Engine::new(store.clone()).unwrap();
    engine.flush_text().unwrap();
    built.flush_text().unwrap();
    assert_same_answers(&engine, &built, &fixed_queries());
    // Writes between a save and its take-up are caught up.
    engine.checkpoint().unwrap();
    store
        .create(
            "people",
            obj(json!({"name": "after the save", "nick": "alpha"})),
        )
        .unwrap();
    store.delete("people", "p0008").unwrap();
    store
        .update("people", "p0009", obj(json!({"name": "Dolores"})))
        .unwrap();
    engine.take_up_checkpoint().unwrap();
    assert!(engine.reads_saved_indexes());
    engine.flush_text().unwrap();
    built.flush_text().unwrap();
    assert_same_answers(&engine, &built, &fixed_queries());
}

#[test]
fn writes_after_the_checkpoint_are_caught_up_reading_only_their_documents() {
    let (dir, store) = store_with_cities();
    let idx = dir.path().join("t.db.index");
    store
        .write(|tx| tx.create_many("people", people(300)))
        .unwrap();
    let engine = Engine::with_options(store.clone(), with_checkpoint(&idx)).unwrap();
    engine.checkpoint().unwrap();
    let saved = std::fs::read(&idx).unwrap();
    // After the save: updates (indexed and searched values), deletes,
    // creates, a cascade-free batch.
    store
        .update("people", "p0002", obj(json!({"name": "Renamed", "age": 6})))
        .unwrap();
    store.delete("people", "p0003").unwrap();
    store
        .create(
            "people",
            obj(json!({"_id": "p9999", "name": "Newcomer", "nick": "zeta"})),
        )
        .unwrap();
    store
        .write(|tx| {
            tx.update(
                "people",
                "p0004",
                obj(json!({"tags": ["omega"], "male": null})),
            )?;
            tx.delete("people", "p0005").map(|_| ())
        })
        .unwrap();
    drop(engine);
    drop(store);
    // The process died before saving again: the older checkpoint is there.
    std::fs::write(&idx, &saved).unwrap();

    let store = reopen(dir.path());
    let before = store.rows_scanned();
    let loaded = Engine::with_options(store.clone(), with_checkpoint(&idx)).unwrap();
    assert_eq!(loaded.index_start(), &IndexStart::Loaded { caught_up: 5 });
    assert!(
        store.rows_scanned() - before <= 5,
        "caught up by reading {} rows",
        store.rows_scanned() - before
    );
    let built = Engine::new(store.clone()).unwrap();
    loaded.flush_text().unwrap();
    assert_same_answers(&loaded, &built, &fixed_queries());
}

/// Starts an engine with the checkpoint at `idx` and says how it started.
fn start(store: &Arc<Store>, idx: &Path) -> IndexStart {
    Engine::with_options(store.clone(), with_checkpoint(idx))
        .unwrap()
        .index_start()
        .clone()
}

fn saved_checkpoint(people_n: usize) -> (tempfile::TempDir, Arc<Store>, PathBuf) {
    let (dir, store) = store_with_cities();
    let idx = dir.path().join("t.db.index");
    store
        .write(|tx| tx.create_many("people", people(people_n)))
        .unwrap();
    Engine::with_options(store.clone(), with_checkpoint(&idx))
        .unwrap()
        .checkpoint()
        .unwrap();
    (dir, store, idx)
}

#[test]
fn a_checkpoint_that_does_not_belong_to_the_file_is_rebuilt() {
    // Another file's checkpoint, even with a log as long.
    let (_a, _store_a, idx_a) = saved_checkpoint(50);
    let (_b, store_b) = store_with_cities();
    store_b
        .write(|tx| {
            tx.create_many(
                "people",
                people(50).into_iter().map(|mut p| {
                    p.insert("age".into(), json!(99));
                    p
                }),
            )
        })
        .unwrap();
    assert_eq!(start(&store_b, &idx_a), IndexStart::Built);

    // A corrupt one.
    let (_c, store_c, idx_c) = saved_checkpoint(50);
    let mut bytes = std::fs::read(&idx_c).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&idx_c, &bytes).unwrap();
    assert_eq!(start(&store_c, &idx_c), IndexStart::Built);
    // ... which the rebuild replaced: the next start loads.
    assert_eq!(start(&store_c, &idx_c), IndexStart::Loaded { caught_up: 0 });
    // One of the first layout, whose values were parsed at load.
    let mut bytes = std::fs::read(&idx_c).unwrap();
    bytes[..8].copy_from_slice(b"REFDBIX1");
    std::fs::write(&idx_c, &bytes).unwrap();
    assert_eq!(start(&store_c, &idx_c), IndexStart::Built);
    assert_eq!(start(&store_c, &idx_c), IndexStart::Loaded { caught_up: 0 });
    // A truncated one.
    let bytes = std::fs::read(&idx_c).unwrap();
    std::fs::write(&idx_c, &bytes[..bytes.len() - 3]).unwrap();
    assert_eq!(start(&store_c, &idx_c), IndexStart::Built);

    // One whose catch-up records the log no longer keeps.
    let (d, store_d, idx_d) = saved_checkpoint(20);
    let saved = std::fs::read(&idx_d).unwrap();
    drop(store_d);
    let store_d = reopen_past_the_kept_log(d.path());
    std::fs::write(&idx_d, &saved).unwrap();
    assert_eq!(start(&store_d, &idx_d), IndexStart::Built);

    // One made under another schema.
    let (e, store_e, idx_e) = saved_checkpoint(20);
    drop(store_e);
    let store_e = reopen_under_another_schema(e.path());
    assert_eq!(start(&store_e, &idx_e), IndexStart::Built);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    /// Random documents, a checkpoint, random writes it misses, random
    /// queries: the engine loaded and caught up answers as one built anew.
    #[test]
    fn a_caught_up_checkpoint_answers_as_a_rebuilt_engine(
        before in prop::collection::vec(person(), 0..40),
        steps in prop::collection::vec(write(), 0..30),
        queries in prop::collection::vec(query(), 1..12),
    ) {
        let (dir, store) = store_with_cities();
        let idx = dir.path().join("t.db.index");
        for p in before {
            store.create("people", p).unwrap();
        }
        let engine = Engine::with_options(store.clone(), with_checkpoint(&idx)).unwrap();
        engine.checkpoint().unwrap();
        let saved = std::fs::read(&idx).unwrap();
        for w in steps {
            run_write(&engine, w);
        }
        drop(engine);
        std::fs::write(&idx, &saved).unwrap();
        let loaded = Engine::with_options(store.clone(), with_checkpoint(&idx)).unwrap();
        let was_loaded = matches!(loaded.index_start(), IndexStart::Loaded { .. });
        prop_assert!(was_loaded, "the checkpoint was not loaded");
        let built = Engine::new(store.clone()).unwrap();
        loaded.flush_text().unwrap();
        built.flush_text().unwrap();
        // Once as loaded and caught up (values and postings read from the
        // mapped checkpoint, the catch-up's changes in memory), then after
        // saving that state (the drop saves it) and loading it again.
        let mut loaded = loaded;
        for round in 0..2 {
            for q in &queries {
                let (a, b) = (loaded.list("people", q), built.list("people", q));
                match (a, b) {
                    (Ok(a), Ok(b)) => prop_assert_eq!((ids(&a), a.total), (ids(&b), b.total), "round {}: {:?}", round, q),
                    (a, b) => prop_assert_eq!(a.is_err(), b.is_err(), "round {}: {:?}", round, q),
                }
            }
            drop(loaded);
            loaded = Engine::with_options(store.clone(), with_checkpoint(&idx)).unwrap();
            prop_assert_eq!(loaded.index_start(), &IndexStart::Loaded { caught_up: 0 });
            loaded.flush_text().unwrap();
        }
    }
}

/// With `checkpoint_every`, the checkpoint is saved again while the engine
/// runs, so a crash costs at most about that many records of catch-up.
#[test]
fn the_checkpoint_is_saved_again_every_so_many_records() {
    let (dir, store) = store_with_cities();
    let idx = dir.path().join("t.db.index");
    let opts = EngineOptions {
        checkpoint: Some(idx.clone()),
        checkpoint_every: 10,
        text_flush_interval: std::time::Duration::from_millis(5),
        ..EngineOptions::default()
    };
    let engine = Engine::with_options(store.clone(), opts).unwrap();
    engine.checkpoint().unwrap();
    let schema = store.schema().clone();
    let position = || {
        refdb_query::memindex::checkpoint::load(&idx, &schema)
            .unwrap()
            .unwrap()
            .1
            .next_seq
    };
    let start = position();
    for i in 0..25 {
        store
            .create("people", obj(json!({"name": format!("n{i}")})))
            .unwrap();
    }
    // Once 10 records are past the last save, the next round (every 5 ms)
    // saves: the last save ends fewer than 10 records before the end.
    let end = start + 25;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while position() + 10 <= end && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let saved_at = position();
    assert!(saved_at + 10 > end, "saved at {saved_at}, ended at {end}");
    // A crash now: the saved checkpoint needs only the last few records.
    let saved = std::fs::read(&idx).unwrap();
    drop(engine);
    std::fs::write(&idx, &saved).unwrap();
    let loaded = Engine::with_options(store.clone(), with_checkpoint(&idx)).unwrap();
    let IndexStart::Loaded { caught_up } = *loaded.index_start() else {
        panic!("rebuilt");
    };
    assert!(caught_up < 10, "caught up {caught_up} records");
    let built = Engine::new(store.clone()).unwrap();
    assert_same_answers(&loaded, &built, &fixed_queries());
}
