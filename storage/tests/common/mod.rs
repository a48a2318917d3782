//! Shared helpers for the storage integration tests: a store on a real
//! temporary file, JSON shorthands, and an audit assertion.
#![allow(dead_code)]

use refdb_storage::{Document, Schema, Store};
use serde_json::{Value, json};

pub struct TestDb {
    pub store: Store,
    pub dir: tempfile::TempDir,
}

pub fn open(schema: Value) -> TestDb {
    open_with_row_bytes(
        schema,
        refdb_storage::OpenOptions::default().postings_row_bytes,
    )
}

/// A store whose reverse-index rows split beyond `row_bytes` (0: a row
/// per docno).
pub fn open_with_row_bytes(schema: Value, row_bytes: usize) -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::from_json(&schema).expect("valid test schema");
    let opts = refdb_storage::OpenOptions {
        schema: Some(schema),
        postings_row_bytes: row_bytes,
        ..Default::default()
    };
    let store = Store::open_with(dir.path().join("t.db"), opts).unwrap();
    TestDb { store, dir }
}

/// Row sizes for the reverse index worth testing: a row per docno, a
/// few docnos a row, the default.
pub fn row_bytes() -> impl proptest::strategy::Strategy<Value = usize> {
    proptest::prop_oneof![
        proptest::strategy::Just(0usize),
        proptest::strategy::Just(40),
        proptest::strategy::Just(refdb_storage::OpenOptions::default().postings_row_bytes),
    ]
}

pub fn doc(v: Value) -> Document {
    v.as_object().expect("an object").clone()
}

/// The audit is clean, and every document served as JSON bytes
/// ([`refdb_storage::ReadTxn::get_json`]) is its materialized form
/// serialized.
pub fn assert_clean(store: &Store) {
    let report = store.audit().unwrap();
    assert!(report.is_clean(), "audit found: {:#?}", report.problems);
    assert_json_reads(store);
}

/// `get_json` gives exactly `serde_json::to_vec(&get(..))` for every document.
pub fn assert_json_reads(store: &Store) {
    let r = store.read().unwrap();
    for (coll, d) in dump(store) {
        let id = d["_id"].as_str().unwrap();
        let json = r.get_json(&coll, id).unwrap();
        let want = serde_json::to_vec(&r.get(&coll, id).unwrap()).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&json),
            String::from_utf8_lossy(&want),
            "served JSON of {coll}/{id}"
        );
    }
}

/// Every record of a store's change log, oldest first.
pub fn change_log(store: &Store) -> Vec<refdb_storage::ChangeRecord> {
    let r = store.read().unwrap();
    let mut out = Vec::new();
    loop {
        let after = out
            .last()
            .map_or(0, |c: &refdb_storage::ChangeRecord| c.seq);
        let batch = r.changes(after, 1000).unwrap();
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

/// Applies `store`'s whole change log to a new, empty store with the same
/// schema and checks that it reproduces `store`: the same documents, the
/// same audit digest (every table, the log included), a clean audit.
pub fn assert_replays(store: &Store) {
    let copy = open(store.schema().source().clone());
    let log = change_log(store);
    let n = log.len() as u64;
    assert_eq!(copy.store.apply_changes(log).unwrap(), n);
    assert_eq!(dump(&copy.store), dump(store), "replayed documents");
    let (want, got) = (store.audit().unwrap(), copy.store.audit().unwrap());
    assert!(got.is_clean(), "replayed store: {:#?}", got.problems);
    assert_eq!(got.change_records, want.change_records);
    assert_eq!(got.digest, want.digest, "replayed store's digest");
}

/// The seq the next change log record will get.
pub fn next_seq(store: &Store) -> u64 {
    store.read().unwrap().change_log_extent().unwrap().1
}

/// Every document of every collection, materialized: the visible state.
pub fn dump(store: &Store) -> Vec<(String, Document)> {
    let r = store.read().unwrap();
    let mut out = Vec::new();
    for c in store.schema().collections() {
        for e in r.scan(&c.name, None).unwrap() {
            let (id, d) = e.unwrap();
            out.push((c.name.clone(), r.materialize(&c.name, &id, d).unwrap()));
        }
    }
    out
}

pub fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// authors → books → chapters (one-to-many pairs), tags ↔ posts
/// (many-to-many), people ↔ passports (one-to-one), notes → people (one-way).
pub fn library_schema() -> Value {
    json!({
        "app": "lib",
        "collections": {
            "authors": {"fields": {
                "name": {"type": "string"},
                "books": {"type": "refs", "coll": "books", "reverse": "author", "on_delete": "cascade"}
            }},
            "books": {"fields": {
                "title": {"type": "string", "index": true},
                "author": {"type": "ref", "coll": "authors", "reverse": "books", "required": true},
                "chapters": {"type": "refs", "coll": "chapters", "reverse": "book", "on_delete": "must_be_empty"}
            }},
            "chapters": {"fields": {
                "n": {"type": "int", "index": true},
                "book": {"type": "ref", "coll": "books", "reverse": "chapters"}
            }},
            "tags": {"fields": {
                "label": {"type": "string"},
                "posts": {"type": "refs", "coll": "posts", "reverse": "tags", "on_delete": "unlink"}
            }},
            "posts": {"fields": {
                "title": {"type": "string"},
                "tags": {"type": "refs", "coll": "tags", "reverse": "posts", "on_delete": "unlink"}
            }},
            "people": {"fields": {
                "name": {"type": "string"},
                "passport": {"type": "ref", "coll": "passports", "reverse": "owner"}
            }},
            "passports": {"fields": {
                "number": {"type": "string"},
                "owner": {"type": "ref", "coll": "people", "reverse": "passport", "required": false}
            }},
            "notes": {"fields": {
                "text": {"type": "string"},
                "about": {"type": "ref", "coll": "people", "on_delete": "cascade"}
            }}
        }
    })
}
