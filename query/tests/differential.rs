//! Differential property test: for random documents, random queries and
//! random writes between them, the engine's answer (ids, order, total)
//! equals the brute-force evaluator of `common` over every document.
//! Writes go through the store, so the commit-observer path that keeps
//! the in-memory indexes in step is exercised.

mod common;

use common::*;
use proptest::prelude::*;
use refdb_query::Query;
use refdb_storage::Document;
use serde_json::json;

#[derive(Debug, Clone)]
enum Step {
    Query(Query),
    Create(Document),
    /// Merge these fields into the person at this index (mod count);
    /// null values clear fields.
    Update(usize, Document),
    Delete(usize),
    /// Write the full-text overlay into tantivy now.
    FlushText,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => query().prop_map(Step::Query),
        1 => person().prop_map(Step::Create),
        1 => (any::<usize>(), person(), prop::sample::subsequence(vec!["name", "age", "tags", "city", "visited", "nick"], 0..3))
            .prop_map(|(i, mut d, clear)| {
                for k in clear {
                    d.insert(k.to_string(), serde_json::Value::Null);
                }
                Step::Update(i, d)
            }),
        1 => any::<usize>().prop_map(Step::Delete),
        2 => Just(Step::FlushText),
    ]
}

/// Ids given by the client in shuffled order make `ordered` false; no ids
/// give generated, increasing ones.
fn run_case(
    people: Vec<Document>,
    explicit_ids: bool,
    steps: Vec<Step>,
    threshold: usize,
    overlay_max: Option<usize>,
) -> Result<(), TestCaseError> {
    // `None`: only `FlushText` steps commit tantivy, so queries meet
    // overlays over stale tantivy documents; `Some(n)`: the background
    // flusher also commits whenever n docnos are dirty, and every 2 ms.
    let (overlay_max, every) = match overlay_max {
        None => (usize::MAX, std::time::Duration::from_secs(3600)),
        Some(n) => (n, std::time::Duration::from_millis(2)),
    };
    let db = open_with(
        threshold,
        refdb_query::EngineOptions {
            max_page: 1000,
            text_overlay_max: overlay_max,
            text_flush_interval: every,
            ..Default::default()
        },
    );
    let store = db.engine.store().clone();
    for (i, mut p) in people.into_iter().enumerate() {
        if explicit_ids {
            // Reversed two-digit ids: p09, p08, … are created out of order.
            p.insert("_id".into(), json!(format!("p{:02}", 40 - i)));
        }
        store.create("people", p).unwrap();
    }
    let mut n_created = 0;
    for s in steps {
        let docs = all_people(&db.engine);
        match s {
            Step::Query(q) => {
                let page = db
                    .engine
                    .list("people", &q)
                    .map_err(|e| TestCaseError::fail(format!("{q}: {e}")))?;
                let full = brute(&docs, &q);
                let skip = q.skip.unwrap_or(0) as usize;
                let limit = match q.page.unwrap_or(10) {
                    0 => 1000,
                    n => n as usize,
                };
                let want: Vec<String> = full.iter().skip(skip).take(limit).cloned().collect();
                prop_assert_eq!(page.total, full.len() as u64, "total of {}", q);
                prop_assert_eq!(ids(&page), want, "page of {}", q);
                // The page as JSON text (what the server sends) is the
                // page serialized, byte for byte.
                let json = db
                    .engine
                    .list_json_as("people", &q, &Default::default())
                    .map_err(|e| TestCaseError::fail(format!("{q}: {e}")))?;
                prop_assert_eq!(
                    String::from_utf8(json.result).unwrap(),
                    serde_json::to_string(&page.result).unwrap(),
                    "JSON page of {}",
                    q
                );
                prop_assert_eq!(
                    (json.total, json.skip, json.page),
                    (page.total, page.skip, page.page)
                );
                if std::env::var("DIFF_STATS").is_ok() {
                    eprintln!("{} docs, total {}: {q}", docs.len(), page.total);
                }
            }
            Step::Create(mut d) => {
                if explicit_ids {
                    n_created += 1;
                    d.insert("_id".into(), json!(format!("n{n_created:02}")));
                }
                store.create("people", d).unwrap();
            }
            Step::Update(i, d) if !docs.is_empty() => {
                let id = docs[i % docs.len()]["_id"].as_str().unwrap().to_string();
                store.update("people", &id, d).unwrap();
            }
            Step::Delete(i) if !docs.is_empty() => {
                let id = docs[i % docs.len()]["_id"].as_str().unwrap().to_string();
                store.delete("people", &id).unwrap();
            }
            Step::FlushText => db.engine.flush_text().unwrap(),
            _ => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn engine_equals_brute_force(
        people in prop::collection::vec(person(), 0..25),
        explicit_ids in any::<bool>(),
        steps in prop::collection::vec(step(), 1..25),
        parallel in any::<bool>(),
        overlay_max in prop_oneof![2 => Just(None), 1 => Just(Some(1usize)), 1 => Just(Some(3))],
    ) {
        run_case(people, explicit_ids, steps, if parallel { 2 } else { 1 << 20 }, overlay_max)?;
    }
}

/// Derived `refs` lists (cities.people, filled from the reverse index)
/// filter like stored ones.
#[test]
fn derived_refs_filter() {
    let db = open(1 << 20);
    let store = db.engine.store().clone();
    store
        .create("people", obj(json!({"_id": "a", "city": "c1"})))
        .unwrap();
    store
        .create("people", obj(json!({"_id": "b", "city": "c1"})))
        .unwrap();
    store
        .create("people", obj(json!({"_id": "c", "city": "c2"})))
        .unwrap();
    let q = |s: &str| {
        db.engine
            .list("cities", &refdb_query::parse(s).unwrap())
            .unwrap()
    };
    assert_eq!(ids(&q("people=a")), ["c1"]);
    assert_eq!(ids(&q("people.$contains=c")), ["c2"]);
    assert_eq!(ids(&q("people.$ne=a")), ["c0", "c2"]);
    assert_eq!(ids(&q("people.$exists=false")), ["c0"]);
    assert_eq!(ids(&q("people.$in=a,c&_sort=-_id")), ["c2", "c1"]);
    store
        .update("people", "a", obj(json!({"city": "c0"})))
        .unwrap();
    assert_eq!(ids(&q("people=a")), ["c0"]);
}

/// Queries racing with commits: every answer is a consistent state (the
/// page agrees with the total), totals never go back, and the last query
/// sees every write (read-your-writes through the commit observer).
#[test]
fn queries_race_with_writes() {
    let db = open(2);
    let store = db.engine.store().clone();
    const N: usize = 60;
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..N {
                store
                    .create(
                        "people",
                        obj(json!({"age": 1, "name": format!("do{i}"), "nick": "dodo"})),
                    )
                    .unwrap();
            }
        });
        for _ in 0..2 {
            s.spawn(|| {
                let q =
                    refdb_query::parse("age=1&nick.$re=do&note.$exists=false&_page=0&_sort=-name")
                        .unwrap();
                let mut last = 0;
                loop {
                    let p = db.engine.list("people", &q).unwrap();
                    assert_eq!(p.result.len() as u64, p.total);
                    assert!(p.total >= last);
                    last = p.total;
                    if last == N as u64 {
                        break;
                    }
                }
            });
        }
    });
    let p = db
        .engine
        .list("people", &refdb_query::parse("name.$re=do").unwrap())
        .unwrap();
    assert_eq!(p.total, N as u64);
}

/// An engine created while another thread commits: afterwards its
/// indexes hold every committed document (none missed, none twice).
#[test]
fn engine_built_during_writes() {
    for round in 0..5 {
        let (_dir, store) = store_with_cities();
        // Enough documents that building the indexes takes a while.
        store
            .write(|tx| {
                for i in 0..2000 {
                    tx.create("people", obj(json!({"name": format!("do{i}"), "age": 1})))?;
                }
                Ok(())
            })
            .unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        let engine = std::thread::scope(|s| {
            s.spawn(|| {
                let mut i = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) || i < 20 {
                    store
                        .create("people", obj(json!({"name": format!("do{i}"), "age": 1})))
                        .unwrap();
                    i += 1;
                }
            });
            std::thread::sleep(std::time::Duration::from_millis(5 * round));
            let engine = refdb_query::Engine::new(store.clone()).unwrap();
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            engine
        });
        let count = store.read().unwrap().count("people").unwrap();
        for q in ["", "age=1", "name.$re=do", "name.$gte=d"] {
            let p = engine
                .list("people", &refdb_query::parse(q).unwrap())
                .unwrap();
            assert_eq!(p.total, count, "round {round}: {q}");
        }
    }
}
