//! Creates buffered and appended at the end of their collection
//! (`write/append.rs`) must leave exactly what one transaction per
//! operation leaves. Random operation sequences — creates with ids in and
//! out of order, references across every kind of pair, updates, deletes
//! and reads — run once one transaction per operation, then all in a single
//! transaction (the successful ones); the visible states, the reads and
//! the audit must agree.

mod common;

use common::{assert_clean, doc, dump, library_schema, open};
use proptest::prelude::*;
use refdb_storage::{Document, Tx};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
enum Op {
    Create { coll: usize, n: u8, target: u8 },
    Update { coll: usize, n: u8, target: u8 },
    Delete { coll: usize, n: u8 },
    Get { coll: usize, n: u8 },
}

const COLLS: [&str; 6] = [
    "authors",
    "books",
    "chapters",
    "people",
    "passports",
    "notes",
];

fn id(coll: usize, n: u8) -> String {
    format!("{}{n:03}", &COLLS[coll][..1])
}

/// A body for `coll` whose reference (if any) points at document `target`
/// of the referenced collection.
fn body(coll: usize, target: u8) -> Document {
    match COLLS[coll] {
        "authors" => doc(json!({"name": format!("a{target}")})),
        "books" => doc(json!({"title": format!("t{}", target % 5), "author": id(0, target % 8)})),
        "chapters" => doc(json!({"n": target % 7, "book": id(1, target % 8)})),
        "people" => doc(json!({"name": format!("p{target}"), "passport": id(4, target % 8)})),
        "passports" => doc(json!({"number": format!("n{target}")})),
        _ => doc(json!({"text": "x", "about": id(3, target % 8)})),
    }
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..COLLS.len();
    // Ids mostly increase (the appended path) and sometimes go back.
    prop_oneof![
        6 => (c.clone(), 0u8..40, 0u8..16).prop_map(|(coll, n, target)| Op::Create { coll, n, target }),
        1 => (c.clone(), 0u8..40, 0u8..16).prop_map(|(coll, n, target)| Op::Update { coll, n, target }),
        1 => (c.clone(), 0u8..40).prop_map(|(coll, n)| Op::Delete { coll, n }),
        1 => (c, 0u8..40).prop_map(|(coll, n)| Op::Get { coll, n }),
    ]
}

/// Runs one operation; a read returns the document without `_meta`.
fn apply(tx: &mut Tx<'_>, op: &Op) -> refdb_storage::Result<Option<Document>> {
    match op {
        Op::Create { coll, n, target } => {
            let mut d = body(*coll, *target);
            d.insert("_id".into(), Value::String(id(*coll, *n)));
            tx.create(COLLS[*coll], d).map(|_| None)
        }
        Op::Update { coll, n, target } => tx
            .update(COLLS[*coll], &id(*coll, *n), body(*coll, *target))
            .map(|_| None),
        Op::Delete { coll, n } => tx.delete(COLLS[*coll], &id(*coll, *n)).map(|_| None),
        Op::Get { coll, n } => tx.get(COLLS[*coll], &id(*coll, *n)).map(|mut d| {
            d.shift_remove("_meta");
            Some(d)
        }),
    }
}

fn without_meta(state: Vec<(String, Document)>) -> Vec<(String, Document)> {
    state
        .into_iter()
        .map(|(c, mut d)| {
            d.shift_remove("_meta");
            (c, d)
        })
        .collect()
}

fn check(ops: &[Op]) {
    let one_by_one = open(library_schema());
    let mut kept = Vec::new();
    let mut reads = Vec::new();
    for op in ops {
        if let Ok(r) = one_by_one.store.write(|tx| apply(tx, op)) {
            kept.push(op.clone());
            reads.push(r);
        }
    }
    let together = open(library_schema());
    let reads_together = together
        .store
        .write(|tx| {
            kept.iter()
                .map(|op| apply(tx, op))
                .collect::<Result<Vec<_>, _>>()
        })
        .expect("operations that succeeded one by one succeed together");
    assert_eq!(reads_together, reads);
    assert_eq!(
        without_meta(dump(&together.store)),
        without_meta(dump(&one_by_one.store))
    );
    assert_clean(&together.store);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn one_transaction_equals_one_transaction_per_operation(ops in prop::collection::vec(op(), 1..120)) {
        check(&ops);
    }
}

/// Creates in increasing id order across two collections, a create that
/// goes back, then a delete of an appended row and a read of one: all in
/// one transaction.
#[test]
fn appended_rows_interleave_with_writes_in_place() {
    let ops: Vec<Op> = (0..30)
        .map(|n| Op::Create {
            coll: 0,
            n: n + 10,
            target: n,
        })
        .chain((0..30).map(|n| Op::Create {
            coll: 1,
            n: n + 5,
            target: n,
        }))
        .chain([
            Op::Create {
                coll: 0,
                n: 1,
                target: 1,
            },
            Op::Create {
                coll: 0,
                n: 50,
                target: 2,
            },
            Op::Delete { coll: 1, n: 20 },
            Op::Get { coll: 0, n: 50 },
            Op::Create {
                coll: 1,
                n: 60,
                target: 3,
            },
            Op::Update {
                coll: 1,
                n: 60,
                target: 4,
            },
        ])
        .collect();
    check(&ops);
}

/// Books of the bulk tests: ids out of order every seventh book, titles
/// from five values (an index), each book by one of eight authors.
fn books(n: usize) -> Vec<Document> {
    (0..n)
        .map(|i| {
            let k = if i % 7 == 3 { n * 2 - i } else { i };
            doc(json!({"_id": format!("b{k:06}"), "title": format!("t{}", i % 5), "author": id(0, (i % 8) as u8)}))
        })
        .collect()
}

fn with_authors() -> common::TestDb {
    let t = open(library_schema());
    t.store
        .write(|tx| {
            for n in 0..8 {
                tx.create("authors", doc(json!({"_id": id(0, n), "name": "a"})))?;
            }
            Ok(())
        })
        .unwrap();
    t
}

/// `create_many` (checked and encoded on a second thread) leaves exactly
/// what a loop of `create` leaves.
#[test]
fn create_many_equals_a_loop_of_creates() {
    let (bulk, looped) = (with_authors(), with_authors());
    let ids = bulk
        .store
        .write(|tx| tx.create_many("books", books(3000)))
        .unwrap();
    let looped_ids = looped
        .store
        .write(|tx| {
            books(3000)
                .into_iter()
                .map(|b| tx.create("books", b))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    assert_eq!(ids, looped_ids);
    assert_eq!(
        without_meta(dump(&bulk.store)),
        without_meta(dump(&looped.store))
    );
    assert_clean(&bulk.store);
    // Generated ids: same documents in the same order.
    let generated = || {
        books(500).into_iter().map(|mut b| {
            b.shift_remove("_id");
            b
        })
    };
    let ids = bulk
        .store
        .write(|tx| tx.create_many("books", generated()))
        .unwrap();
    assert_eq!(ids.len(), 500);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "generated ids increase"
    );
    assert_clean(&bulk.store);
}

/// The first bad document aborts the whole transaction with the error a
/// plain `create` gives, and nothing is written.
#[test]
fn create_many_stops_at_the_first_error() {
    let t = with_authors();
    let before = dump(&t.store);
    for (bad, field, value) in [(700, "author", json!("a999")), (1500, "title", json!(5))] {
        let mut docs = books(2000);
        docs[bad].insert(field.into(), value);
        let bulk_err = t
            .store
            .write(|tx| tx.create_many("books", docs.clone()))
            .unwrap_err();
        let loop_err = t
            .store
            .write(|tx| {
                docs.into_iter()
                    .try_for_each(|b| tx.create("books", b).map(|_| ()))
            })
            .unwrap_err();
        assert_eq!(bulk_err.to_string(), loop_err.to_string());
        assert_eq!(dump(&t.store), before);
    }
    assert_clean(&t.store);
}

/// An id past the collection's largest skips the existence lookup; an id
/// created earlier in the same transaction (buffered, the largest or not)
/// or stored before it is still refused, failing its transaction.
#[test]
fn a_taken_id_is_refused_though_ids_past_the_largest_skip_the_lookup() {
    let db = open(library_schema());
    let create_all = |ids: &[&str]| {
        db.store.write(|tx| {
            ids.iter().try_for_each(|id| {
                tx.create("authors", doc(json!({"_id": id, "name": "x"})))
                    .map(drop)
            })
        })
    };
    create_all(&["a050"]).unwrap();
    for taken in [
        &["a060", "a070", "a070"][..],
        &["a060", "a070", "a060"],
        &["a060", "a050"],
        &["a050"],
    ] {
        let r = create_all(taken);
        assert!(
            matches!(r, Err(refdb_storage::Error::AlreadyExists { .. })),
            "{taken:?}: {r:?}"
        );
    }
    create_all(&["a070", "a060", "a080"]).unwrap();
    assert!(create_all(&["a080"]).is_err());
    let ids: Vec<String> = dump(&db.store)
        .into_iter()
        .filter(|(c, _)| c == "authors")
        .map(|(_, d)| d["_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["a050", "a060", "a070", "a080"]);
    assert_clean(&db.store);
}
