//! Documents read as JSON bytes (`get_json`, what GET serves) are exactly
//! the materialized documents serialized, for arbitrary values: nested
//! objects and lists, every number kind, strings needing escapes, unset
//! fields, fields given in any order, derived reference lists.

mod common;
use common::*;
use proptest::prelude::*;
use refdb_storage::{Error, Schema};
use serde_json::{Map, Value, json};

fn schema() -> Value {
    json!({
        "app": "j",
        "collections": {
            "owners": {"fields": {
                "name": {"type": "string"},
                "things": {"type": "refs", "coll": "things", "reverse": "owner"}
            }},
            "things": {"fields": {
                "s": {"type": "string"},
                "i": {"type": "int", "index": true},
                "f": {"type": "float"},
                "b": {"type": "bool"},
                "when": {"type": "datetime"},
                "any": {"type": "any"},
                "d": {"type": "dict", "fields": {
                    "x": {"type": "int"},
                    "y": {"type": "list", "of": {"type": "string"}}
                }},
                "owner": {"type": "ref", "coll": "owners", "reverse": "things"},
                "tags": {"type": "refs", "coll": "owners"}
            }}
        }
    })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{0,8}",
        any::<String>(),
        Just("quote \" backslash \\ tab \t nul \u{0} é 🎉 \u{2028}".to_string()),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        Just(json!(-0.0)),
        Just(json!(2.0)),
        Just(json!(1e300)),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A `things` document: each field present or not, in a shuffled order.
fn thing() -> impl Strategy<Value = Vec<(String, Value)>> {
    let fields = (
        proptest::option::of(text().prop_map(Value::String)),
        proptest::option::of(any::<i64>().prop_map(Value::from)),
        proptest::option::of(number()),
        proptest::option::of(any::<bool>().prop_map(Value::Bool)),
        proptest::option::of(Just(json!("2024-02-29T12:00:00Z"))),
        proptest::option::of(any_json()),
        proptest::option::of(
            (any::<i32>(), prop::collection::vec(text(), 0..3))
                .prop_map(|(x, y)| json!({"y": y, "x": x})),
        ),
        proptest::option::of(Just(json!("o1"))),
        proptest::option::of(Just(json!(["o2", "o1"]))),
    );
    (fields, any::<u64>()).prop_map(|((s, i, f, b, when, any, d, owner, tags), order)| {
        let names = ["s", "i", "f", "b", "when", "any", "d", "owner", "tags"];
        let values = [s, i, f, b, when, any, d, owner, tags];
        let mut out: Vec<(String, Value)> = names
            .iter()
            .zip(values)
            .filter_map(|(n, v)| v.map(|v| (n.to_string(), v)))
            .collect();
        // A deterministic shuffle from the drawn number.
        let len = out.len().max(1) as u64;
        out.rotate_left((order % len) as usize);
        if order & 1 == 1 {
            out.reverse();
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn served_json_is_the_materialized_document(docs in prop::collection::vec(thing(), 1..6)) {
        let t = open(schema());
        t.store.create("owners", doc(json!({"_id": "o1", "name": "one"}))).unwrap();
        t.store.create("owners", doc(json!({"_id": "o2"}))).unwrap();
        for fields in docs {
            let body: Map<String, Value> = fields.into_iter().collect();
            t.store.create("things", body).unwrap();
        }
        assert_json_reads(&t.store);
    }
}

#[test]
fn a_stored_order_unlike_the_schema_is_served_in_schema_order() {
    let t = open(schema());
    t.store.create("owners", doc(json!({"_id": "o1"}))).unwrap();
    let d = doc(json!({"_id": "t1", "owner": "o1", "i": 3, "s": "x", "d": {"y": [], "x": 1}}));
    t.store.create("things", d).unwrap();
    let served: Value = serde_json::from_slice(&t.store.get_json("things", "t1").unwrap()).unwrap();
    let keys: Vec<&str> = served
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "_id", "s", "i", "f", "b", "when", "any", "d", "owner", "tags", "_meta"
        ]
    );
    assert_eq!(served["tags"], json!([]), "an unset refs list is a list");
    assert_eq!(served["f"], Value::Null);
    let owner: Value = serde_json::from_slice(&t.store.get_json("owners", "o1").unwrap()).unwrap();
    assert_eq!(
        owner["things"],
        json!(["t1"]),
        "derived list from the reverse index"
    );
    assert_json_reads(&t.store);
}

#[test]
fn a_missing_document_or_collection_is_an_error() {
    let t = open(schema());
    assert!(matches!(
        t.store.get_json("things", "nope"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        t.store.get_json("nope", "x"),
        Err(Error::UnknownCollection(_))
    ));
    let _ = Schema::from_json(&schema()).unwrap();
}

/// The change feed's document: shaped as GET serves it (schema order,
/// unset fields as null or `[]`), minus derived lists and skipped fields.
#[test]
fn write_record_doc_is_the_served_document_without_derived_lists() {
    let t = open(library_schema());
    let id = t
        .store
        .create(
            "books",
            doc(json!({"title": "Été \"quoted\"\n", "author": "a1"})),
        )
        .err();
    assert!(id.is_some(), "a1 does not exist yet");
    t.store
        .create("authors", doc(json!({"_id": "a1", "name": "Ann"})))
        .unwrap();
    // Fields given out of schema order, one left unset.
    t.store
        .create(
            "books",
            doc(json!({"_id": "b1", "author": "a1", "title": "Été \"quoted\"\n"})),
        )
        .unwrap();
    t.store
        .create("chapters", doc(json!({"_id": "c1", "book": "b1"})))
        .unwrap();
    // A document with every field unset.
    t.store.create("people", doc(json!({"_id": "p1"}))).unwrap();
    let r = t.store.read().unwrap();
    let records = r.changes(0, 100).unwrap();
    for (c, id, skip) in [
        ("books", "b1", None),
        ("books", "b1", Some("title")),
        ("people", "p1", None),
    ] {
        let coll = t.store.schema().collection(c).unwrap();
        let served: Map<String, Value> =
            serde_json::from_slice(&t.store.get_json(c, id).unwrap()).unwrap();
        // The row as the change log hands it out.
        let row = records.iter().find(|r| r.id == id).unwrap().row.clone();
        let mut out = Vec::new();
        refdb_storage::json::write_record_doc(
            coll,
            id,
            &row.unwrap(),
            &|f| Some(f) == skip,
            &mut out,
        )
        .unwrap();
        let mut want = served.clone();
        for f in coll.fields.iter().filter(|f| !f.is_stored()) {
            want.shift_remove(&f.name);
        }
        if let Some(s) = skip {
            want.shift_remove(s);
        }
        // Byte for byte, so the order is the served one too.
        assert_eq!(out, serde_json::to_vec(&want).unwrap(), "{c} {id} {skip:?}");
    }
}
