//! `$text` over the full-text index: every write is visible to the next
//! query (before and after tantivy commits), the background build at
//! start-up answers exactly while it runs, and queries racing with writes
//! and flushes see consistent states.

mod common;

use common::*;
use refdb_query::{EngineOptions, parse};
use serde_json::json;
use std::time::Duration;

/// Options under which the flusher never runs on its own after its
/// first round: only `flush_text` commits tantivy.
fn manual() -> EngineOptions {
    EngineOptions {
        text_overlay_max: usize::MAX,
        text_flush_interval: Duration::from_secs(3600),
        ..EngineOptions::default()
    }
}

fn q(db: &Db, s: &str) -> (Vec<String>, u64) {
    let p = db.engine.list("people", &parse(s).unwrap()).unwrap();
    (ids(&p), p.total)
}

#[test]
fn writes_are_visible_to_the_next_query() {
    let db = open_with(1 << 20, manual());
    let s = db.engine.store().clone();
    s.create("people", obj(json!({"_id": "a", "name": "Bob Smith"})))
        .unwrap();
    s.create("people", obj(json!({"_id": "b", "name": "bobby smith"})))
        .unwrap();
    // Both in the overlay only.
    assert_eq!(q(&db, "name.$text=bob"), (vec!["a".into()], 1));
    db.engine.flush_text().unwrap();
    // Now both in tantivy, overlay empty.
    assert_eq!(
        q(&db, "name.$text=SMITH"),
        (vec!["a".into(), "b".into()], 2)
    );
    assert_eq!(q(&db, "name.$text=smith%20bob"), (vec!["a".into()], 1));
    // An update after the commit: tantivy still says "a has bob", the
    // overlay must override it at once.
    s.update("people", "a", obj(json!({"name": "Alice Smith"})))
        .unwrap();
    assert_eq!(q(&db, "name.$text=bob"), (vec![], 0));
    assert_eq!(q(&db, "name.$text=alice"), (vec!["a".into()], 1));
    s.update("people", "b", obj(json!({"name": "Bob"})))
        .unwrap();
    assert_eq!(q(&db, "name.$text=bob"), (vec!["b".into()], 1));
    s.delete("people", "b").unwrap();
    assert_eq!(q(&db, "name.$text=bob"), (vec![], 0));
    // Clearing the field.
    s.update("people", "a", obj(json!({"name": null}))).unwrap();
    assert_eq!(q(&db, "name.$text=alice"), (vec![], 0));
    db.engine.flush_text().unwrap();
    assert_eq!(q(&db, "name.$text=alice"), (vec![], 0));
    assert_eq!(q(&db, "name.$text=smith"), (vec![], 0));
    // A write to a field that is not searched leaves the overlay alone.
    s.create("people", obj(json!({"_id": "c", "nick": "Bob", "age": 1})))
        .unwrap();
    db.engine.flush_text().unwrap();
    s.update("people", "c", obj(json!({"age": 2}))).unwrap();
    let x = db
        .engine
        .explain("people", &parse("nick.$text=bob").unwrap())
        .unwrap();
    assert!(x.contains("0 recent change(s)"), "{x}");
    assert_eq!(q(&db, "nick.$text=bob&age=2"), (vec!["c".into()], 1));
}

#[test]
fn combines_with_filters_sort_and_paging() {
    let db = open_with(1 << 20, manual());
    let s = db.engine.store().clone();
    for i in 0..30 {
        let name = if i % 3 == 0 { "red fox" } else { "brown fox" };
        s.create(
            "people",
            obj(json!({"_id": format!("p{i:02}"), "name": name, "age": i % 5})),
        )
        .unwrap();
    }
    db.engine.flush_text().unwrap();
    let (page, total) = q(&db, "name.$text=fox&_sort=-_id&_skip=2&_page=3");
    assert_eq!(total, 30);
    assert_eq!(page, ["p27", "p26", "p25"]);
    let (page, total) = q(&db, "name.$text=red&age.$gte=3&_page=0");
    assert_eq!(total, 4);
    assert_eq!(page, ["p03", "p09", "p18", "p24"]);
}

/// The first flush (the build) runs in the background; every answer
/// given meanwhile is exact, and so is every one after it.
#[test]
fn background_build_is_exact_throughout() {
    let (_dir, store) = store_with_cities();
    store
        .write(|tx| {
            for i in 0..20_000 {
                let name = format!("w{} common", i % 100);
                tx.create("people", obj(json!({"name": name})))?;
            }
            Ok(())
        })
        .unwrap();
    let engine = refdb_query::Engine::new(store.clone()).unwrap();
    let count = |s: &str| engine.list("people", &parse(s).unwrap()).unwrap().total;
    for _ in 0..20 {
        assert_eq!(count("name.$text=common"), 20_000);
        assert_eq!(count("name.$text=w7%20common"), 200);
    }
    engine.flush_text().unwrap();
    let x = engine
        .explain("people", &parse("name.$text=common").unwrap())
        .unwrap();
    assert!(
        x.contains("20000 document(s) in tantivy in ") && x.contains(", 0 recent change(s)"),
        "{x}"
    );
    assert_eq!(count("name.$text=common"), 20_000);
    assert_eq!(count("name.$text=w7"), 200);
    let sync = refdb_query::Engine::with_options(
        store,
        EngineOptions {
            text_build_sync: true,
            ..manual()
        },
    )
    .unwrap();
    let x = sync
        .explain("people", &parse("name.$text=common").unwrap())
        .unwrap();
    assert!(x.contains("0 recent change(s)"), "{x}");
}

/// Settling waits for tantivy's merges and shows their result to
/// queries; answers do not change, and later writes still reach tantivy.
#[test]
fn settling_merges_segments_and_keeps_answers() {
    let db = open_with(1 << 20, manual());
    let s = db.engine.store().clone();
    let info = |db: &Db| {
        db.engine
            .explain("people", &parse("name.$text=common").unwrap())
            .unwrap()
    };
    let segments = |x: &str| -> usize {
        let at = x.find(" segment(s)").expect("segments in the plan");
        let head = &x[..at];
        head[head.rfind(' ').unwrap() + 1..].parse().unwrap()
    };
    // One tantivy commit per round, a segment each. Tantivy's default
    // merge policy merges 8 segments of under 10k documents into one, in
    // the background, after the commit that made the eighth.
    for round in 0..8 {
        s.write(|tx| {
            for i in 0..50 {
                let name = format!("w{round}x{i} common");
                tx.create("people", obj(json!({"name": name})))?;
            }
            Ok(())
        })
        .unwrap();
        db.engine.flush_text().unwrap();
    }
    let answers = (
        q(&db, "name.$text=common").1,
        q(&db, "name.$text=w3x7"),
        q(&db, "name.$text=w7x49%20common"),
    );
    assert_eq!(answers.0, 400);
    db.engine.settle_text().unwrap();
    let after = info(&db);
    assert_eq!(segments(&after), 1, "{after}");
    assert!(after.contains("400 document(s) in tantivy"), "{after}");
    let again = (
        q(&db, "name.$text=common").1,
        q(&db, "name.$text=w3x7"),
        q(&db, "name.$text=w7x49%20common"),
    );
    assert_eq!(again, answers);
    // The writer closed by settling is opened again by the next flush.
    s.create("people", obj(json!({"_id": "late", "name": "late common"})))
        .unwrap();
    db.engine.flush_text().unwrap();
    assert!(info(&db).contains("401 document(s) in tantivy"));
    assert_eq!(q(&db, "name.$text=late"), (vec!["late".into()], 1));
}

/// Writers, queries and (tiny-overlay) flushes at once: every answer is
/// a consistent state, totals never go back, the last one sees all.
#[test]
fn queries_race_with_writes_and_flushes() {
    let db = open_with(
        2,
        EngineOptions {
            text_overlay_max: 2,
            text_flush_interval: Duration::from_millis(1),
            ..EngineOptions::default()
        },
    );
    let store = db.engine.store().clone();
    const N: usize = 80;
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..N {
                store
                    .create(
                        "people",
                        obj(json!({"name": format!("Tag{} x n{i}", i % 2), "nick": "dodo"})),
                    )
                    .unwrap();
            }
        });
        s.spawn(|| {
            for _ in 0..N / 4 {
                db.engine.flush_text().unwrap();
            }
        });
        for _ in 0..2 {
            s.spawn(|| {
                let q = parse("name.$text=x%20tag0&_page=0").unwrap();
                let all = parse("name.$text=X&_page=0").unwrap();
                let mut last = (0, 0);
                loop {
                    let p = db.engine.list("people", &q).unwrap();
                    let a = db.engine.list("people", &all).unwrap();
                    assert_eq!(p.result.len() as u64, p.total);
                    assert!(p.total >= last.0 && a.total >= last.1);
                    last = (p.total, a.total);
                    if a.total == N as u64 && p.total == (N / 2) as u64 {
                        break;
                    }
                }
            });
        }
    });
    assert_eq!(q(&db, "name.$text=tag1&_page=0").1, (N / 2) as u64);
}

/// Writes that land while a flush commits tantivy stay in the overlay:
/// the flush read their documents before the change, so without the
/// overlay the last value would be lost until some later flush.
#[test]
fn changes_during_a_flush_stay_in_the_overlay() {
    let db = open_with(1 << 20, manual());
    let s = db.engine.store().clone();
    s.create("people", obj(json!({"_id": "a", "name": "alpha"})))
        .unwrap();
    for round in 0..10 {
        let stop = std::sync::atomic::AtomicBool::new(false);
        let updates = 10 + round;
        std::thread::scope(|sc| {
            sc.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    db.engine.flush_text().unwrap();
                }
            });
            for i in 0..updates {
                let name = if i % 2 == 0 { "beta" } else { "alpha" };
                s.update("people", "a", obj(json!({ "name": name })))
                    .unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        let last = if (updates - 1) % 2 == 0 {
            "beta"
        } else {
            "alpha"
        };
        let other = if last == "beta" { "alpha" } else { "beta" };
        assert_eq!(q(&db, &format!("name.$text={last}")).1, 1, "round {round}");
        assert_eq!(q(&db, &format!("name.$text={other}")).1, 0, "round {round}");
    }
}

/// A closing engine's full-text flush stops at its next chunk, commits
/// nothing and leaves every document in the overlay (so answers stay
/// exact), instead of a shutdown waiting for the whole initial build.
#[test]
fn a_flush_stops_when_the_engine_closes() {
    use refdb_query::memindex::{MemIndexes, text};
    let (_dir, store) = store_with_cities();
    for i in 0..50 {
        store
            .create("people", obj(json!({"name": format!("name {i}")})))
            .unwrap();
    }
    let dirty = |ix: &std::sync::RwLock<MemIndexes>| {
        ix.read().unwrap().colls["people"]
            .text
            .as_ref()
            .unwrap()
            .dirty_len()
    };
    let mut built = MemIndexes::build(store.schema(), &store.read().unwrap()).unwrap();
    built.closing = true;
    let ix = std::sync::RwLock::new(built);
    let before = dirty(&ix);
    assert!(before >= 50, "{before}");
    assert!(text::flush(&ix, "people").is_err());
    assert_eq!(dirty(&ix), before);
    ix.write().unwrap().closing = false;
    assert_eq!(text::flush(&ix, "people").unwrap(), before);
    assert_eq!(dirty(&ix), 0);
}
