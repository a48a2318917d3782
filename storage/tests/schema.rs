//! Schema loading and document validation: every refusal names its place.

mod common;
use common::*;
use refdb_storage::{Error, Schema, Store};
use serde_json::{Value, json};

fn load_err(v: Value) -> (String, String) {
    let e = Schema::from_json(&v).unwrap_err();
    (e.path, e.message)
}

fn two(users: Value, addrs: Value) -> Value {
    json!({"app": "x", "collections": {"users": {"fields": users}, "addrs": {"fields": addrs}}})
}

#[test]
fn unknown_collection_reverse_or_mismatched_pair_is_refused_naming_the_field() {
    let (p, m) = load_err(two(
        json!({"addr": {"type": "ref", "coll": "nowhere"}}),
        json!({}),
    ));
    assert_eq!(p, "$.collections.users.fields.addr.coll");
    assert!(m.contains("nowhere"), "{m}");

    let (p, m) = load_err(two(
        json!({"addr": {"type": "ref", "coll": "addrs", "reverse": "people"}}),
        json!({}),
    ));
    assert_eq!(p, "$.collections.users.fields.addr.reverse");
    assert!(m.contains("no field \"people\""), "{m}");

    let (p, m) = load_err(two(
        json!({"addr": {"type": "ref", "coll": "addrs", "reverse": "users"}}),
        json!({"users": {"type": "refs", "coll": "users", "reverse": "other"}}),
    ));
    assert_eq!(p, "$.collections.users.fields.addr.reverse");
    assert!(m.contains("does not mirror"), "{m}");

    let (p, _) = load_err(two(
        json!({"addr": {"type": "ref", "coll": "addrs", "reverse": "name"}}),
        json!({"name": {"type": "string"}}),
    ));
    assert_eq!(p, "$.collections.users.fields.addr.reverse");
}

#[test]
fn unknown_options_types_and_misplaced_options_are_refused() {
    assert_eq!(
        load_err(two(json!({"a": {"type": "strin"}}), json!({}))).0,
        "$.collections.users.fields.a.type"
    );
    assert_eq!(
        load_err(two(
            json!({"a": {"type": "string", "colour": 1}}),
            json!({})
        ))
        .0,
        "$.collections.users.fields.a.colour"
    );
    assert_eq!(
        load_err(two(
            json!({"a": {"type": "int", "of": {"type": "int"}}}),
            json!({})
        ))
        .0,
        "$.collections.users.fields.a.of"
    );
    assert_eq!(
        load_err(two(
            json!({"a": {"type": "string", "regexp": "("}}),
            json!({})
        ))
        .0,
        "$.collections.users.fields.a.regexp"
    );
    assert_eq!(
        load_err(two(
            json!({"a": {"type": "int", "default": "x"}}),
            json!({})
        ))
        .0,
        "$.collections.users.fields.a.default"
    );
    assert_eq!(
        load_err(two(
            json!({"d": {"type": "dict", "fields": {"r": {"type": "ref", "coll": "addrs"}}}}),
            json!({})
        ))
        .0,
        "$.collections.users.fields.d.fields.r"
    );
    assert_eq!(
        load_err(json!({"app": "bad app", "collections": {}})).0,
        "$.app"
    );
    // on_delete on the `ref` side of a one-to-many pair has no effect: refused.
    let (p, m) = load_err(two(
        json!({"addr": {"type": "ref", "coll": "addrs", "reverse": "users", "on_delete": "cascade"}}),
        json!({"users": {"type": "refs", "coll": "users", "reverse": "addr"}}),
    ));
    assert_eq!(p, "$.collections.users.fields.addr.on_delete");
    assert!(m.contains("addrs.users"), "{m}");
}

#[test]
fn validation_reports_every_problem_with_its_path() {
    let t = open(json!({"app": "v", "collections": {"things": {"fields": {
        "name": {"type": "string", "required": true, "min": 2, "regexp": "[a-z]+"},
        "age": {"type": "int", "min": 0, "max": 150},
        "score": {"type": "float"},
        "kind": {"type": "string", "in": ["a", "b"]},
        "born": {"type": "datetime", "min": "2000-01-01T00:00:00Z"},
        "tags": {"type": "list", "of": {"type": "string"}, "max": 2},
        "info": {"type": "dict", "fields": {"city": {"type": "string"}}},
        "free": {"type": "any"}
    }}}}));
    let bad = doc(json!({
        "name": "X", "age": 1.5, "score": "high", "kind": "c", "born": "1999-12-31T23:59:59Z",
        "tags": ["a", 2, "c"], "info": {"city": 1, "zip": "x"}, "extra": true
    }));
    let Err(Error::Invalid(errors)) = t.store.create("things", bad) else {
        panic!("expected validation errors")
    };
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    for p in [
        "$.extra",
        "$.name",
        "$.age",
        "$.score",
        "$.kind",
        "$.born",
        "$.tags",
        "$.tags[1]",
        "$.info.city",
        "$.info.zip",
    ] {
        assert!(paths.contains(&p), "{p} missing from {errors:#?}");
    }
    // Floats accept integers (backo refused them); ints refuse booleans.
    t.store
        .create(
            "things",
            doc(json!({"name": "ok", "score": 2, "free": {"any": [1]}})),
        )
        .unwrap();
    let e = t
        .store
        .create("things", doc(json!({"name": "ok", "age": true})))
        .unwrap_err();
    assert_eq!(e.path(), Some("$.age"));
    // `in` allows null unless required (backo's bug B7).
    t.store
        .create("things", doc(json!({"name": "ok", "kind": null})))
        .unwrap();
}

#[test]
fn ids_and_meta_belong_to_the_engine() {
    let t = open(json!({"app": "v", "collections": {"c": {"fields": {"n": {"type": "int"}}}}}));
    let s = &t.store;
    assert_eq!(
        s.create("c", doc(json!({"_id": "bad id"})))
            .unwrap_err()
            .path(),
        Some("$._id")
    );
    assert_eq!(
        s.create("c", doc(json!({"_meta": {}}))).unwrap_err().path(),
        Some("$._meta")
    );
    let d = s.create("c", doc(json!({"_id": "a", "n": 1}))).unwrap();
    assert!(matches!(
        s.create("c", doc(json!({"_id": "a"}))),
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(d["_meta"]["created_by"]["login"], "ANONYMOUS");
    // A GET → PUT round trip is accepted; changing _meta or _id is not.
    let back = s.update("c", "a", d.clone()).unwrap();
    assert_eq!(back["n"], 1);
    let mut forged = d.clone();
    forged["_meta"]["ctime"] = json!("2000-01-01T00:00:00Z");
    assert_eq!(
        s.update("c", "a", forged).unwrap_err().path(),
        Some("$._meta")
    );
    assert_eq!(
        s.update("c", "a", doc(json!({"_id": "b"})))
            .unwrap_err()
            .path(),
        Some("$._id")
    );
    // Generated ids are increasing: _id order is creation order.
    let ids: Vec<String> = (0..50)
        .map(|_| {
            s.create("c", doc(json!({}))).unwrap()["_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn a_new_schema_on_an_existing_file_migrates_or_refuses_with_nothing_changed() {
    let t = open(
        json!({"app": "m", "collections": {"c": {"fields": {"n": {"type": "int"}, "old": {"type": "string"}}}}}),
    );
    let path = t.dir.path().join("t.db");
    t.store
        .create("c", doc(json!({"_id": "a", "n": 1, "old": "x"})))
        .unwrap();
    let TestDb { store, dir } = t;
    drop(store);
    // A new required field without default is refused, naming the document.
    let strict = Schema::from_json(&json!({"app": "m", "collections": {"c": {"fields": {
        "n": {"type": "int"}, "must": {"type": "string", "required": true}}}}}))
    .unwrap();
    match Store::open(&path, Some(strict)) {
        Err(Error::SchemaMigration(v)) => {
            assert_eq!((v[0].1.as_str(), v[0].2.path.as_str()), ("a", "$.must"))
        }
        other => panic!("expected a refused migration, got {:?}", other.err()),
    }
    // With a default it applies: the field is filled, the removed one dropped, the index built.
    let ok = Schema::from_json(&json!({"app": "m", "collections": {"c": {"fields": {
        "n": {"type": "int", "index": true}, "must": {"type": "string", "required": true, "default": "d"}}}}}))
    .unwrap();
    let s = Store::open(&path, Some(ok)).unwrap();
    let d = s.get("c", "a").unwrap();
    assert_eq!((d["must"].as_str(), d.get("old")), (Some("d"), None));
    assert_clean(&s);
    drop(s);
    // Reopening without a schema keeps the migrated one.
    let s = Store::open(&path, None).unwrap();
    assert!(
        s.schema()
            .collection("c")
            .unwrap()
            .fields
            .get("must")
            .is_some()
    );
    drop(dir);
}

#[test]
fn rights_and_auth_changes_apply_without_migration_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let plain = two(json!({"name": {"type": "string"}}), json!({}));
    {
        let store = Store::open(&path, Some(Schema::from_json(&plain).unwrap())).unwrap();
        store
            .write(|tx| {
                tx.create(
                    "users",
                    serde_json::from_value(json!({"_id": "u1", "name": "a"})).unwrap(),
                )
            })
            .unwrap();
    }
    let mut with_rights = plain.clone();
    with_rights["auth"] = json!({"users": {"ann": {"_id": "u-ann", "roles": ["admin"]}}});
    with_rights["collections"]["users"]["rights"] = json!({"delete": ["admin"]});
    with_rights["collections"]["users"]["fields"]["name"]["rights"] = json!({"read": ["admin"]});
    let given = Schema::from_json(&with_rights).unwrap();
    assert!(
        given == Schema::from_json(&plain).unwrap(),
        "rights are not part of the data model"
    );
    drop(Store::open(&path, Some(given)).unwrap());
    // Reopened without a schema: the stored one has the rights and auth.
    let store = Store::open(&path, None).unwrap();
    let users = store.schema().collection("users").unwrap();
    assert!(users.rights.delete.is_some());
    assert!(users.fields.get("name").unwrap().rights.read.is_some());
    assert_eq!(
        store.schema().auth.as_ref().unwrap().users["ann"].id,
        "u-ann"
    );
    assert_eq!(store.get("users", "u1").unwrap()["name"], "a");
}

/// Rows name fields by their position in the schema. A store opened
/// read-only beside the writer keeps the schema it opened with, so when the
/// writer migrates to a schema that moves a field, the reader refuses to
/// read rather than answer documents with their fields swapped.
#[test]
fn a_reader_beside_a_writer_refuses_reads_once_the_writer_moves_a_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let schema = |fields: Value| {
        Schema::from_json(&json!({"app": "x", "collections": {"notes": {"fields": fields}}}))
            .unwrap()
    };
    let first = schema(json!({"a": {"type": "string"}, "b": {"type": "string"}}));
    let moved = schema(json!({"b": {"type": "string"}, "a": {"type": "string"}}));
    let writer = Store::open(&path, Some(first)).unwrap();
    writer
        .create("notes", doc(json!({"_id": "n1", "a": "x", "b": "y"})))
        .unwrap();
    let reader = Store::open_read_only(&path).unwrap();
    assert_eq!(reader.get("notes", "n1").unwrap()["a"], json!("x"));
    drop(writer);
    let writer = Store::open(&path, Some(moved)).unwrap();
    assert_eq!(writer.get("notes", "n1").unwrap()["a"], json!("x"));
    let refused = reader.get("notes", "n1").unwrap_err();
    assert!(refused.to_string().contains("open it again"), "{refused}");
    let again = Store::open_read_only(&path).unwrap();
    assert_eq!(again.get("notes", "n1").unwrap()["a"], json!("x"));
    // A writer reopening with the same schema changes nothing a reader sees.
    drop(writer);
    let _writer = Store::open(&path, None).unwrap();
    assert_eq!(again.get("notes", "n1").unwrap()["b"], json!("y"));
}

/// A value whose containers nest `levels` arrays deep.
fn nested(levels: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..levels {
        v = Value::Array(vec![v]);
    }
    v
}

/// A document may nest its containers 127 levels deep (itself counted),
/// as deep as the HTTP body parser and a patch allow. At that depth every
/// write path takes it and every reader gives it back; one level more is
/// refused with the value's path by create, update and batch alike, and
/// nothing is written. Regression: the library took any depth, and a
/// document 600 levels deep was refused as "corrupt database" once read
/// back inside its own create.
#[test]
fn documents_nest_at_most_127_levels_on_every_write_path() {
    let t = open(json!({"app": "t", "collections": {"c": {"fields": {"x": {"type": "any"}}}}}));
    // The document and 126 arrays: 127 containers.
    let deepest = nested(126);
    let made = t
        .store
        .create("c", doc(json!({"_id": "d1", "x": deepest})))
        .unwrap();
    assert_eq!(made["x"], deepest);
    assert_eq!(t.store.get("c", "d1").unwrap()["x"], deepest);
    let served: Value = serde_json::from_slice(&t.store.get_json("c", "d1").unwrap()).unwrap();
    assert_eq!(served["x"], deepest);

    let refused = |e: Error| match e {
        Error::BadInput { path, message } => {
            assert!(path.starts_with("$.x[0][0]"), "{path}");
            assert!(message.contains("127 levels"), "{message}");
        }
        e => panic!("expected a bad input, got {e:?}"),
    };
    let too_deep = || doc(json!({"_id": "d2", "x": nested(127)}));
    refused(t.store.create("c", too_deep()).unwrap_err());
    refused(
        t.store
            .update("c", "d1", doc(json!({"x": nested(127)})))
            .unwrap_err(),
    );
    let ops = vec![refdb_storage::BatchOp::Create {
        coll: "c".into(),
        doc: too_deep(),
    }];
    refused(t.store.batch(ops).unwrap_err().1);
    // Far deeper than any recursive walk of a debug build survives.
    let mut deep = serde_json::Map::new();
    deep.insert("x".into(), nested(3000));
    refused(t.store.create("c", deep).unwrap_err());

    assert_eq!(t.store.get("c", "d1").unwrap()["x"], deepest);
    assert!(
        t.store
            .read()
            .unwrap()
            .try_get("c", "d2")
            .unwrap()
            .is_none()
    );
    assert_eq!(t.store.read().unwrap().count("c").unwrap(), 1);
    assert_clean(&t.store);
}
