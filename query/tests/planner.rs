//! Planner errors (each names the query key at fault), EXPLAIN output,
//! views, projections and selections, on a small fixed data set.

mod common;

use common::*;
use refdb_query::{QueryError, parse};
use serde_json::json;

fn err(db: &Db, q: &str) -> QueryError {
    match parse(q) {
        Err(e) => e.into(),
        Ok(q) => db.engine.list("people", &q).expect_err("an error"),
    }
}

#[test]
fn errors_name_their_key() {
    let db = open(1 << 20);
    let cases: &[(&str, &str)] = &[
        ("nope=1", "nope"),
        ("info.nope=1", "info.nope"),
        ("age=abc", "age"),
        ("age=1.5", "age"),
        ("age.$in=1,x", "age.$in"),
        ("score=NaN", "score"),
        ("male=yes", "male"),
        ("born=yesterday", "born"),
        ("name.$re=(", "name.$re"),
        ("name.$reg=a)|(b", "name.$reg"),
        ("age.$re=1", "age.$re"),
        ("male.$gt=true", "male.$gt"),
        ("name.$contains=a", "name.$contains"),
        ("info=x", "info"),
        ("tags.$exists=maybe", "tags.$exists"),
        ("name.$text=", "name.$text"),
        ("name.$text=%20,.;-", "name.$text"),
        ("note.$text=hello", "note.$text"),
        ("age.$text=1", "age.$text"),
        ("info.city.$text=do", "info.city.$text"),
        ("_id.$text=p1", "_id.$text"),
        ("tags.$text=a", "tags.$text"),
        ("city=not%20an%20id", "city"),
        ("city.$lt=c1", "city.$lt"),
        ("_sort=nope", "_sort"),
        ("_sort=tags", "_sort"),
        ("_sort=info", "_sort"),
        ("_fields=nope", "_fields"),
        ("_sort=age&_after=x", "_after"),
        ("_page=-1", "_page"),
        ("_skip=x", "_skip"),
        ("age.$foo=1", "age.$foo"),
    ];
    for (q, key) in cases {
        let e = err(&db, q);
        assert_eq!(e.key(), Some(*key), "{q}: {e}");
        assert!(e.is_user_error(), "{q}: {e}");
    }
    assert!(matches!(
        err(&db, "name.$text=%20-%20"),
        QueryError::TextNoWords { .. }
    ));
    assert!(matches!(
        err(&db, "note.$text=x"),
        QueryError::TextNeedsSearch { .. }
    ));
    // Words longer than the analyzer keeps are no words either.
    let long = format!("name.$text={}", "a".repeat(300));
    assert!(matches!(err(&db, &long), QueryError::TextNoWords { .. }));
    let e = db.engine.list("nope", &parse("").unwrap()).unwrap_err();
    assert!(matches!(e, QueryError::UnknownCollection(_)) && e.is_user_error());
    let e = db
        .engine
        .selection("people", "nope", &parse("").unwrap())
        .unwrap_err();
    assert!(matches!(e, QueryError::UnknownSelection(_)) && e.is_user_error());
}

#[test]
fn values_are_typed_by_the_schema() {
    let db = open(1 << 20);
    let s = db.engine.store().clone();
    s.create(
        "people",
        obj(json!({"_id": "a", "name": "0123", "age": 30, "male": true})),
    )
    .unwrap();
    s.create(
        "people",
        obj(json!({"_id": "b", "name": "123", "age": 4, "male": false})),
    )
    .unwrap();
    let q = |s: &str| ids(&db.engine.list("people", &parse(s).unwrap()).unwrap());
    assert_eq!(q("name=0123"), ["a"]);
    assert_eq!(q("age=30"), ["a"]);
    assert_eq!(q("age.$gt=5"), ["a"], "ints compare as numbers, not text");
    assert_eq!(q("male=false"), ["b"]);
    assert_eq!(q("name.$gt=1"), ["b"], "strings compare as text");
}

#[test]
fn explain_shows_index_and_ngram_use() {
    let db = open(1 << 20);
    let s = db.engine.store().clone();
    for (n, a) in [("Dolores", 42), ("adobe", 42), ("Bob", 7)] {
        s.create("people", obj(json!({"name": n, "age": a})))
            .unwrap();
    }
    let x = db
        .engine
        .explain("people", &parse("age=42").unwrap())
        .unwrap();
    assert!(x.contains("index age = 42"), "{x}");
    assert!(x.contains("[age] candidates: 2"), "{x}");
    let x = db
        .engine
        .explain("people", &parse("name.$re=do").unwrap())
        .unwrap();
    assert!(x.contains("ngram name: \"do\" [exact, no verify]"), "{x}");
    let x = db
        .engine
        .explain("people", &parse("name.$re=(?i)dol").unwrap())
        .unwrap();
    assert!(x.contains("ngram name") && x.contains("exact"), "{x}");
    let x = db
        .engine
        .explain("people", &parse("info.city.$re=do&_sort=-age").unwrap())
        .unwrap();
    assert!(
        x.contains("verify [info.city.$re]") && x.contains("document scan"),
        "{x}"
    );
    assert!(x.contains("order: -age,_id"), "{x}");
    let x = db
        .engine
        .explain(
            "people",
            &parse("note.$re=do&age.$gte=30&age.$lt=40").unwrap(),
        )
        .unwrap();
    assert!(x.contains("regex over distinct values"), "{x}");
    assert!(
        x.contains("access [age.$gte, age.$lt]: index age >= 30 and < 40"),
        "{x}"
    );
    let x = db
        .engine
        .explain(
            "people",
            &parse("name.$text=DOLORES%20dolores&age=42").unwrap(),
        )
        .unwrap();
    assert!(
        x.contains("access [name.$text]: full-text name: all of [\"dolores\"]"),
        "{x}"
    );
    assert!(x.contains("[name.$text] candidates: 1"), "{x}");
    assert!(x.contains("[name.$text] full-text:"), "{x}");
    let x = db
        .engine
        .explain("people", &parse("name.$reg=Do&_id=x").unwrap())
        .unwrap();
    assert!(
        x.contains("_id lookup") && x.contains("[verify]") && x.contains("in-memory values"),
        "{x}"
    );
}

#[test]
fn view_fields_and_selection() {
    let db = open(1 << 20);
    let s = db.engine.store().clone();
    s.create(
        "people",
        obj(json!({"_id": "a", "name": "A", "age": 5, "info": {"city": "Lyon", "zip": 1}})),
    )
    .unwrap();
    s.create("people", obj(json!({"_id": "b", "name": "B", "age": 1})))
        .unwrap();
    let p = db
        .engine
        .list("people", &parse("_fields=name,info.city").unwrap())
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(p.result[0].clone()),
        json!({"_id": "a", "name": "A", "info": {"city": "Lyon"}})
    );
    assert_eq!(
        serde_json::Value::Object(p.result[1].clone()),
        json!({"_id": "b", "name": "B", "info": null})
    );
    let p = db
        .engine
        .list("people", &parse("_view=%2Bnothing").unwrap())
        .unwrap();
    assert_eq!(p.result[0].keys().collect::<Vec<_>>(), ["_id"]);
    let p = db
        .engine
        .selection("people", "adults", &parse("_page=5").unwrap())
        .unwrap();
    assert_eq!((p.total, p.page), (1, 5));
    assert_eq!(
        serde_json::Value::Object(p.result[0].clone()),
        json!({"_id": "a", "name": "A", "age": 5})
    );
    let p = db
        .engine
        .selection("people", "adults", &parse("name=B").unwrap())
        .unwrap();
    assert_eq!(p.total, 0);
    let p = db
        .engine
        .list("people", &parse("_page=0").unwrap())
        .unwrap();
    assert_eq!(p.page, 1000, "no limit is capped by max_page");
    // JSON pages (what the server sends) equal the serialized pages, on
    // the transcoding path (whole documents) and on the others.
    let none = std::collections::HashSet::new();
    let age: std::collections::HashSet<String> = ["age".to_string()].into();
    for q in [
        "",
        "_fields=name,info.city",
        "_view=%2Bnothing",
        "_sort=-age",
    ] {
        for hidden in [&none, &age] {
            let q = parse(q).unwrap();
            type R<T> = Result<T, refdb_query::QueryError>;
            let same =
                |page: R<refdb_query::Page>, json: R<refdb_query::JsonPage>| match (page, json) {
                    (Ok(page), Ok(json)) => {
                        assert_eq!(json.result, serde_json::to_vec(&page.result).unwrap())
                    }
                    (Err(a), Err(b)) => {
                        assert_eq!(a.to_string(), b.to_string())
                    }
                    (a, b) => panic!("{a:?} against {b:?}"),
                };
            same(
                db.engine.list_as("people", &q, hidden),
                db.engine.list_json_as("people", &q, hidden),
            );
            same(
                db.engine.selection_as("people", "adults", &q, hidden),
                db.engine.selection_json_as("people", "adults", &q, hidden),
            );
        }
    }
}

/// Every pair of range conditions on one indexed field (merged into one
/// lookup by the planner) against the brute-force evaluator.
#[test]
fn merged_ranges_match_brute_force() {
    use refdb_query::{Filter, Op, Query};
    let db = open(1 << 20);
    let s = db.engine.store().clone();
    for a in [0, 1, 1, 2, 3, 4] {
        s.create("people", obj(json!({"age": a}))).unwrap();
    }
    s.create("people", obj(json!({"name": "no age"}))).unwrap();
    let docs = all_people(&db.engine);
    let ops = [Op::Gt, Op::Gte, Op::Lt, Op::Lte, Op::Eq, Op::Ne];
    for o1 in ops {
        for o2 in ops {
            for v1 in 0..5 {
                for v2 in 0..5 {
                    let q = Query {
                        filters: vec![
                            Filter::new(vec!["age".into()], o1, v1.to_string()),
                            Filter::new(vec!["age".into()], o2, v2.to_string()),
                        ],
                        page: Some(0),
                        ..Query::default()
                    };
                    let got = db.engine.list("people", &q).unwrap();
                    assert_eq!(ids(&got), brute(&docs, &q), "{q}");
                }
            }
        }
    }
}

/// Postmortem (a shrunk differential case): the planner intersected two
/// ranges on a list field into one, so `tags` = `["b", "a"]` failed
/// `tags.$lt=b&tags.$gte=b` although one element passes each filter.
#[test]
fn ranges_on_a_list_field_are_not_merged() {
    let db = open(1 << 20);
    let s = db.engine.store().clone();
    s.create("people", obj(json!({"_id": "ba", "tags": ["b", "a"]})))
        .unwrap();
    s.create("people", obj(json!({"_id": "c", "tags": ["c"]})))
        .unwrap();
    let q = |q: &str| {
        ids(&db
            .engine
            .list("people", &refdb_query::parse(q).unwrap())
            .unwrap())
    };
    assert_eq!(q("tags.$lt=b&tags.$gte=b"), ["ba"]);
    assert_eq!(q("tags.$lte=a&tags.$gt=b"), Vec::<String>::new());
    assert_eq!(q("tags.$gte=b&tags.$lt=z"), ["ba", "c"]);
}

/// Extreme paging values never panic or overflow, in every page strategy.
#[test]
fn huge_skip_and_page() {
    let db = open(1 << 20);
    let s = db.engine.store().clone();
    s.create("people", obj(json!({"_id": "b", "name": "x", "age": 1})))
        .unwrap();
    s.create("people", obj(json!({"_id": "a", "name": "y", "age": 2})))
        .unwrap();
    let max = u64::MAX;
    for sort in [
        "",
        "&_sort=-_id",
        "&_sort=age",
        "&_sort=nick",
        "&_sort=note",
    ] {
        let q = parse(&format!("_skip={max}&_page={max}{sort}")).unwrap();
        let p = db.engine.list("people", &q).unwrap();
        assert_eq!((p.total, p.result.len(), p.page), (2, 0, 1000), "{sort}");
        let q = parse(&format!("_skip=1&_page={max}{sort}")).unwrap();
        assert_eq!(
            db.engine.list("people", &q).unwrap().result.len(),
            1,
            "{sort}"
        );
    }
}

/// An engine built over existing documents answers from both indexes of a
/// field both indexed and searched. (Whether both land in one build part
/// depends on the core count; `msgpack::tests` pins the bug this guards
/// against down for any machine.)
#[test]
fn a_field_both_indexed_and_searched_is_built_for_both() {
    let db = open(1 << 20);
    let s = db.engine.store().clone();
    for (id, name) in [("a", "Dora"), ("b", "Ann"), ("c", "Odo")] {
        s.create("people", obj(json!({"_id": id, "name": name})))
            .unwrap();
    }
    let rebuilt = refdb_query::Engine::new(s).unwrap();
    let ids = |q: &str| -> Vec<String> {
        let p = rebuilt.list("people", &parse(q).unwrap()).unwrap();
        p.result
            .iter()
            .map(|d| d["_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids("name.$re=do"), ["c"], "n-grams of the search index");
    assert_eq!(ids("name.$re=Do"), ["a"]);
    assert_eq!(ids("name=Ann"), ["b"], "the value index");
}
