//! The reference scenarios of backo's test suite and its known bugs, each
//! on a real database file, each ending with a clean audit.

mod common;
use common::*;
use refdb_storage::Error;
use serde_json::{Value, json};

#[test]
fn cascade_blocked_by_a_grandchild_under_must_be_empty_changes_nothing() {
    let t = open(library_schema());
    let s = &t.store;
    s.create("authors", doc(json!({"_id": "hugo", "name": "Hugo"})))
        .unwrap();
    s.create(
        "books",
        doc(json!({"_id": "b1", "title": "Les Misérables", "author": "hugo"})),
    )
    .unwrap();
    s.create(
        "books",
        doc(json!({"_id": "b2", "title": "Notre-Dame", "author": "hugo"})),
    )
    .unwrap();
    s.create("chapters", doc(json!({"_id": "c1", "n": 1, "book": "b2"})))
        .unwrap();
    let before = dump(s);
    match s.delete("authors", "hugo") {
        Err(Error::Referenced { by, .. }) => {
            assert_eq!(by.len(), 1);
            assert_eq!((by[0].coll.as_str(), by[0].id.as_str()), ("chapters", "c1"));
        }
        other => panic!("expected a must_be_empty refusal, got {other:?}"),
    }
    assert_eq!(dump(s), before);
    assert_clean(s);
}

#[test]
fn cascade_of_an_author_with_45_books() {
    let t = open(library_schema());
    let s = &t.store;
    s.create("authors", doc(json!({"_id": "dumas"}))).unwrap();
    s.write(|tx| {
        for i in 0..45 {
            tx.create(
                "books",
                doc(json!({"_id": format!("b{i}"), "author": "dumas"})),
            )?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(ids(&s.get("authors", "dumas").unwrap()["books"]).len(), 45);
    let deleted = s.delete("authors", "dumas").unwrap();
    assert_eq!(deleted.len(), 46);
    assert_eq!(deleted[0], ("authors".to_string(), "dumas".to_string()));
    assert_eq!(s.read().unwrap().count("books").unwrap(), 0);
    assert_clean(s);
}

#[test]
fn many_to_many_unlink() {
    let t = open(library_schema());
    let s = &t.store;
    s.create("tags", doc(json!({"_id": "rust"}))).unwrap();
    s.create("tags", doc(json!({"_id": "db"}))).unwrap();
    s.create("posts", doc(json!({"_id": "p1", "tags": ["rust", "db"]})))
        .unwrap();
    s.create("posts", doc(json!({"_id": "p2", "tags": ["db"]})))
        .unwrap();
    assert_eq!(ids(&s.get("tags", "db").unwrap()["posts"]), ["p1", "p2"]);
    // Writing the other side updates this one.
    s.update("tags", "rust", doc(json!({"posts": ["p1", "p2"]})))
        .unwrap();
    assert_eq!(ids(&s.get("posts", "p2").unwrap()["tags"]), ["db", "rust"]);
    assert_clean(s);
    let deleted = s.delete("tags", "db").unwrap();
    assert_eq!(deleted, [("tags".to_string(), "db".to_string())]);
    assert_eq!(ids(&s.get("posts", "p1").unwrap()["tags"]), ["rust"]);
    assert_eq!(ids(&s.get("posts", "p2").unwrap()["tags"]), ["rust"]);
    assert_clean(s);
}

#[test]
fn one_to_one_steal() {
    let t = open(library_schema());
    let s = &t.store;
    s.create("passports", doc(json!({"_id": "X", "number": "123"})))
        .unwrap();
    s.create("people", doc(json!({"_id": "ann", "passport": "X"})))
        .unwrap();
    assert_eq!(s.get("passports", "X").unwrap()["owner"], "ann");
    s.create("people", doc(json!({"_id": "bob", "passport": "X"})))
        .unwrap();
    assert_eq!(s.get("people", "ann").unwrap()["passport"], Value::Null);
    assert_eq!(s.get("passports", "X").unwrap()["owner"], "bob");
    // Writing the other side steals too.
    s.update("passports", "X", doc(json!({"owner": "ann"})))
        .unwrap();
    assert_eq!(s.get("people", "bob").unwrap()["passport"], Value::Null);
    assert_eq!(s.get("people", "ann").unwrap()["passport"], "X");
    assert_clean(s);
    // One-to-one pairs unlink by default: deleting the passport clears ann.
    s.delete("passports", "X").unwrap();
    assert_eq!(s.get("people", "ann").unwrap()["passport"], Value::Null);
    assert_clean(s);
}

#[test]
fn moving_a_ref_from_one_target_to_another() {
    let t = open(library_schema());
    let s = &t.store;
    s.create("authors", doc(json!({"_id": "a"}))).unwrap();
    s.create("authors", doc(json!({"_id": "b"}))).unwrap();
    s.create("books", doc(json!({"_id": "x", "author": "a"})))
        .unwrap();
    s.update("books", "x", doc(json!({"author": "b"}))).unwrap();
    assert!(ids(&s.get("authors", "a").unwrap()["books"]).is_empty());
    assert_eq!(ids(&s.get("authors", "b").unwrap()["books"]), ["x"]);
    // Moving through the derived side: a takes x back from b.
    s.update("authors", "a", doc(json!({"books": ["x"]})))
        .unwrap();
    assert_eq!(s.get("books", "x").unwrap()["author"], "a");
    assert!(ids(&s.get("authors", "b").unwrap()["books"]).is_empty());
    assert_clean(s);
}

#[test]
fn a_required_ref_set_to_null_is_refused_with_its_path() {
    let t = open(library_schema());
    let s = &t.store;
    s.create("authors", doc(json!({"_id": "a"}))).unwrap();
    s.create("books", doc(json!({"_id": "x", "author": "a"})))
        .unwrap();
    let before = dump(s);
    let err = s
        .update("books", "x", doc(json!({"author": null})))
        .unwrap_err();
    assert_eq!(err.path(), Some("$.author"), "{err}");
    // Emptying it from the other side is refused too (409-style).
    let err = s
        .update("authors", "a", doc(json!({"books": []})))
        .unwrap_err();
    assert!(
        matches!(err, Error::RequiredRef { ref field, .. } if field == "author"),
        "{err}"
    );
    assert_eq!(dump(s), before);
    assert_clean(s);
}

#[test]
fn a_missing_target_is_not_found_and_writes_nothing() {
    let t = open(library_schema());
    let s = &t.store;
    s.create("tags", doc(json!({"_id": "t1"}))).unwrap();
    let err = s
        .create("posts", doc(json!({"_id": "p", "tags": ["t1", "nope"]})))
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { id, path: Some(p), .. } if id == "nope" && p == "$.tags[1]"),
        "{err:?}"
    );
    assert!(s.read().unwrap().try_get("posts", "p").unwrap().is_none());
    assert!(ids(&s.get("tags", "t1").unwrap()["posts"]).is_empty());
    assert_clean(s);
}

#[test]
fn one_way_reference_rules_apply_to_the_target() {
    let t = open(library_schema());
    let s = &t.store;
    s.create("people", doc(json!({"_id": "ann"}))).unwrap();
    s.create("notes", doc(json!({"_id": "n1", "about": "ann"})))
        .unwrap();
    s.create("notes", doc(json!({"_id": "n2", "about": "ann"})))
        .unwrap();
    let deleted = s.delete("people", "ann").unwrap();
    assert_eq!(deleted.len(), 3);
    assert_clean(s);
}

#[test]
fn a_failed_batch_leaves_nothing_and_names_the_operation() {
    use refdb_storage::BatchOp;
    let t = open(library_schema());
    let s = &t.store;
    s.create("authors", doc(json!({"_id": "a"}))).unwrap();
    let before = dump(s);
    let ops = vec![
        BatchOp::Create {
            coll: "books".into(),
            doc: doc(json!({"_id": "b1", "author": "a"})),
        },
        BatchOp::Update {
            coll: "authors".into(),
            id: "a".into(),
            doc: doc(json!({"name": "A"})),
        },
        BatchOp::Create {
            coll: "books".into(),
            doc: doc(json!({"_id": "b2", "author": "ghost"})),
        },
    ];
    let (i, err) = s.batch(ops).unwrap_err();
    assert_eq!(i, Some(2));
    assert!(matches!(err, Error::NotFound { .. }));
    assert_eq!(dump(s), before);
    assert_clean(s);
}

#[test]
fn an_error_caught_inside_a_transaction_still_rolls_it_back() {
    let t = open(library_schema());
    let s = &t.store;
    let r = s.write(|tx| {
        tx.create("authors", doc(json!({"_id": "a"})))?;
        let _ignored = tx.create("books", doc(json!({"author": "ghost"})));
        Ok(())
    });
    assert!(matches!(r, Err(Error::Aborted)));
    assert!(s.read().unwrap().try_get("authors", "a").unwrap().is_none());
}

#[test]
fn reopening_the_file_gives_back_everything_committed() {
    let t = open(library_schema());
    let path = t.dir.path().join("t.db");
    t.store
        .create("authors", doc(json!({"_id": "a", "name": "A"})))
        .unwrap();
    t.store
        .create(
            "books",
            doc(json!({"_id": "b", "author": "a", "title": "T"})),
        )
        .unwrap();
    t.store.create("tags", doc(json!({"_id": "t"}))).unwrap();
    t.store
        .create("posts", doc(json!({"_id": "p", "tags": ["t"]})))
        .unwrap();
    let before = dump(&t.store);
    let TestDb { store, dir } = t;
    drop(store);
    let reopened = refdb_storage::Store::open(&path, None).unwrap();
    assert_eq!(dump(&reopened), before);
    assert_eq!(reopened.schema().app, "lib");
    assert_clean(&reopened);
    drop(dir);
}

/// The rows of the reverse index, from the file's own accounting.
fn reverse_index_rows(s: &refdb_storage::Store) -> u64 {
    let space = s.read().unwrap().space().unwrap();
    space
        .iter()
        .find(|t| t.name == "referrers")
        .unwrap()
        .entries
}

#[test]
fn a_much_referenced_target_splits_its_rows_and_they_go_as_referrers_go() {
    // Rows of about 40 bytes: a handful of docnos each.
    let t = open_with_row_bytes(library_schema(), 40);
    let s = &t.store;
    s.create("authors", doc(json!({"_id": "hugo", "name": "Hugo"})))
        .unwrap();
    let books: Vec<String> = (0..60).map(|i| format!("b{i:02}")).collect();
    for b in &books {
        s.create(
            "books",
            doc(json!({"_id": b, "title": b, "author": "hugo"})),
        )
        .unwrap();
    }
    let rows = reverse_index_rows(s);
    assert!(rows > 3, "60 referrers in {rows} rows");
    assert_clean(s);
    let listed = |s: &refdb_storage::Store| ids(&s.get("authors", "hugo").unwrap()["books"]);
    assert_eq!(listed(s), books);
    // Removing the lowest docnos first empties the first row again and
    // again: the next row must take over from docno 0.
    for (i, b) in books.iter().enumerate().take(50) {
        s.delete("books", b).unwrap();
        assert_clean(s);
        assert_eq!(listed(s), books[i + 1..]);
    }
    assert!(reverse_index_rows(s) < rows);
    // Removing from the middle, then adding back.
    s.delete("books", &books[55]).unwrap();
    s.create(
        "books",
        doc(json!({"_id": "c", "title": "c", "author": "hugo"})),
    )
    .unwrap();
    assert_clean(s);
    assert_eq!(listed(s).len(), 10);
    for b in books[50..].iter().filter(|b| *b != &books[55]) {
        s.delete("books", b).unwrap();
    }
    s.delete("books", "c").unwrap();
    assert_eq!(reverse_index_rows(s), 0);
    assert_clean(s);
    assert_replays(s);
}

#[test]
fn the_audit_finds_reverse_index_rows_that_break_the_partition() {
    use redb::{ReadableDatabase, ReadableTable};
    use refdb_storage::tables::REFS;
    // A row per docno: the author's three books are rows at their docnos.
    let t = open_with_row_bytes(library_schema(), 0);
    s_books(&t.store);
    let path = t.dir.path().join("t.db");
    let original = t.dir.path().join("original.db");
    drop(t.store);
    std::fs::copy(&path, &original).unwrap();
    // Rows as (first docno of the range, docnos).
    type Rows = Vec<(u32, Vec<u32>)>;
    let rows_of = |path: &std::path::Path| -> Rows {
        let db = redb::Database::open(path).unwrap();
        let r = db.begin_read().unwrap();
        let table = r.open_table(REFS).unwrap();
        let mut out = Vec::new();
        for e in table.iter().unwrap() {
            let (k, v) = e.unwrap();
            let set = roaring::RoaringBitmap::deserialize_from(v.value()).unwrap();
            out.push((k.value().4, set.iter().collect()));
        }
        out
    };
    let starts: Vec<u32> = rows_of(&path).iter().map(|(s, _)| *s).collect();
    assert_eq!(starts.len(), 3, "{:?}", rows_of(&path));
    // Each case rewrites the rows (start → docnos) and names what the
    // audit must say.
    let cases: Vec<(Rows, &str)> = vec![
        (
            vec![(starts[1], vec![starts[1]]), (starts[2], vec![starts[2]])],
            "first row does not start at docno 0",
        ),
        (
            vec![
                (0, vec![starts[0], starts[1]]),
                (starts[1], vec![]),
                (starts[2], vec![starts[2]]),
            ],
            "empty",
        ),
        (
            vec![
                (0, vec![starts[0], starts[1]]),
                (starts[1], vec![]),
                (starts[2], vec![starts[2]]),
            ],
            "in its range",
        ),
        (
            vec![
                (0, vec![starts[0]]),
                (starts[2], vec![starts[1], starts[2]]),
            ],
            "below its range",
        ),
    ];
    for (rows, says) in cases {
        std::fs::copy(&original, &path).unwrap();
        {
            let db = redb::Database::open(&path).unwrap();
            let w = db.begin_write().unwrap();
            {
                let mut table = w.open_table(REFS).unwrap();
                let keys: Vec<_> = table
                    .iter()
                    .unwrap()
                    .map(|e| {
                        let (k, _) = e.unwrap();
                        let k = k.value();
                        (k.0, k.1.to_string(), k.2, k.3.to_string())
                    })
                    .collect();
                let (tc, tid, sc, sf) = keys[0].clone();
                assert_eq!(tid, "hugo");
                table.retain(|_, _| false).unwrap();
                for (start, docnos) in &rows {
                    let set: roaring::RoaringBitmap = docnos.iter().copied().collect();
                    let mut bytes = Vec::new();
                    set.serialize_into(&mut bytes).unwrap();
                    table
                        .insert(
                            (tc, tid.as_str(), sc, sf.as_str(), *start),
                            bytes.as_slice(),
                        )
                        .unwrap();
                }
            }
            w.commit().unwrap();
        }
        let store = refdb_storage::Store::open_read_only(&path).unwrap();
        let report = store.audit().unwrap();
        assert!(
            report.problems.iter().any(|p| p.contains(says)),
            "{rows:?}: expected «{says}» in {:#?}",
            report.problems
        );
    }
}

/// An author with three books.
fn s_books(s: &refdb_storage::Store) {
    s.create("authors", doc(json!({"_id": "hugo", "name": "Hugo"})))
        .unwrap();
    for b in ["b1", "b2", "b3"] {
        s.create(
            "books",
            doc(json!({"_id": b, "title": b, "author": "hugo"})),
        )
        .unwrap();
    }
}
