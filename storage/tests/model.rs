//! Model-based property test: random sequences of creates, updates,
//! patches, deletes and batches — failing ones included — on the library
//! schema (every kind of reference pair and delete rule), checked against a
//! model of which documents exist and of what each operation promises:
//! - after every step the audit is clean (refs ⇄ reverse index, no dangling
//!   reference, indexes ⇄ documents, valid documents);
//! - a failed operation leaves the visible state exactly as before;
//! - a create/update shows the written values; a delete removes exactly the
//!   documents it reports, and nothing else disappears;
//! - a failed operation adds no change log record, a successful one adds
//!   some, and replaying the whole log on an empty store reproduces the
//!   store (same documents, same digest of every table).

mod common;
use common::*;
use proptest::prelude::*;
use refdb_storage::patch::parse_patch;
use refdb_storage::{BatchOp, Store};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const COLLS: &[(&str, &str)] = &[
    ("authors", "a"),
    ("books", "b"),
    ("chapters", "c"),
    ("tags", "t"),
    ("posts", "p"),
    ("people", "h"),
    ("passports", "x"),
    ("notes", "n"),
];

/// Reference fields by collection: (field, target collection, is a list).
fn ref_fields(coll: &str) -> &'static [(&'static str, &'static str, bool)] {
    match coll {
        "authors" => &[("books", "books", true)],
        "books" => &[("author", "authors", false), ("chapters", "chapters", true)],
        "chapters" => &[("book", "books", false)],
        "tags" => &[("posts", "posts", true)],
        "posts" => &[("tags", "tags", true)],
        "people" => &[("passport", "passports", false)],
        "passports" => &[("owner", "people", false)],
        "notes" => &[("about", "people", false)],
        _ => &[],
    }
}

fn id_of(coll: &str, n: u8) -> String {
    let prefix = COLLS.iter().find(|(c, _)| *c == coll).unwrap().1;
    format!("{prefix}{}", n % 3)
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        coll: usize,
        id: u8,
        refs: Vec<(u8, Vec<u8>)>,
        title: Option<String>,
    },
    Update {
        coll: usize,
        id: u8,
        field: u8,
        targets: Vec<u8>,
        null: bool,
    },
    Patch {
        coll: usize,
        id: u8,
        field: u8,
        targets: Vec<u8>,
    },
    Delete {
        coll: usize,
        id: u8,
    },
    Batch(Vec<Op>),
}

fn leaf() -> impl Strategy<Value = Op> {
    let coll = 0..COLLS.len();
    let targets = proptest::collection::vec(0u8..3, 0..3);
    prop_oneof![
        4 => (coll.clone(), any::<u8>(), proptest::collection::vec((any::<u8>(), targets.clone()), 0..2),
              proptest::option::of("[a-z]{0,4}"))
            .prop_map(|(coll, id, refs, title)| Op::Create { coll, id, refs, title }),
        2 => (coll.clone(), any::<u8>(), any::<u8>(), targets.clone(), proptest::bool::weighted(0.15))
            .prop_map(|(coll, id, field, targets, null)| Op::Update { coll, id, field, targets, null }),
        1 => (coll.clone(), any::<u8>(), any::<u8>(), targets)
            .prop_map(|(coll, id, field, targets)| Op::Patch { coll, id, field, targets }),
        2 => (coll, any::<u8>()).prop_map(|(coll, id)| Op::Delete { coll, id }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![6 => leaf(), 1 => proptest::collection::vec(leaf(), 1..4).prop_map(Op::Batch)]
}

/// The value written to a reference field: a single id or a list.
fn ref_value(coll: &str, field: u8, targets: &[u8]) -> (String, Value) {
    let fields = ref_fields(coll);
    let (name, target, list) = fields[field as usize % fields.len()];
    let ids: Vec<Value> = targets
        .iter()
        .map(|&t| Value::String(id_of(target, t)))
        .collect();
    let v = if list {
        let mut seen = BTreeSet::new();
        Value::Array(
            ids.into_iter()
                .filter(|v| seen.insert(v.to_string()))
                .collect(),
        )
    } else {
        ids.into_iter().next().unwrap_or(Value::Null)
    };
    (name.to_string(), v)
}

fn create_doc(
    coll: &str,
    id: u8,
    refs: &[(u8, Vec<u8>)],
    title: &Option<String>,
) -> serde_json::Map<String, Value> {
    let mut d = doc(json!({"_id": id_of(coll, id)}));
    for (field, targets) in refs {
        let (k, v) = ref_value(coll, *field, targets);
        d.insert(k, v);
    }
    if let (Some(t), "books" | "posts") = (title, coll) {
        d.insert("title".into(), Value::String(t.clone()));
    }
    d
}

fn to_batch_op(op: &Op) -> Option<BatchOp> {
    Some(match op {
        Op::Create {
            coll,
            id,
            refs,
            title,
        } => {
            let c = COLLS[*coll].0;
            BatchOp::Create {
                coll: c.into(),
                doc: create_doc(c, *id, refs, title),
            }
        }
        Op::Update {
            coll,
            id,
            field,
            targets,
            null,
        } => {
            let c = COLLS[*coll].0;
            let (k, v) = ref_value(c, *field, targets);
            let v = if *null { Value::Null } else { v };
            BatchOp::Update {
                coll: c.into(),
                id: id_of(c, *id),
                doc: doc(json!({ k: v })),
            }
        }
        Op::Delete { coll, id } => {
            let c = COLLS[*coll].0;
            BatchOp::Delete {
                coll: c.into(),
                id: id_of(c, *id),
            }
        }
        Op::Patch {
            coll,
            id,
            field,
            targets,
        } => {
            let c = COLLS[*coll].0;
            let (k, v) = ref_value(c, *field, targets);
            let patch =
                parse_patch(&json!({"op": "replace", "path": format!("$.{k}"), "value": v}))
                    .unwrap();
            BatchOp::Patch {
                coll: c.into(),
                id: id_of(c, *id),
                patch,
            }
        }
        Op::Batch(_) => return None,
    })
}

fn existing(store: &Store) -> BTreeSet<(String, String)> {
    dump(store)
        .into_iter()
        .map(|(c, d)| (c, d["_id"].as_str().unwrap().to_string()))
        .collect()
}

/// Compares reference values, lists as sets (a derived list is in id order).
fn same_refs(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.iter().map(Value::to_string).collect::<BTreeSet<_>>()
                == y.iter().map(Value::to_string).collect()
        }
        _ => a == b,
    }
}

fn run(store: &Store, model: &mut BTreeSet<(String, String)>, op: &Op) {
    let before = dump(store);
    let seq_before = next_seq(store);
    let outcome: Result<(), String> = match op {
        Op::Batch(ops) => {
            let ops: Vec<BatchOp> = ops.iter().filter_map(to_batch_op).collect();
            match store.batch(ops.clone()) {
                Ok(results) => {
                    for (op, res) in ops.iter().zip(results) {
                        if let (BatchOp::Delete { .. }, refdb_storage::BatchResult::Deleted(d)) =
                            (op, &res)
                        {
                            for key in d {
                                model.remove(key);
                            }
                        }
                        if let (BatchOp::Create { coll, .. }, refdb_storage::BatchResult::Doc(d)) =
                            (op, &res)
                        {
                            model.insert((coll.clone(), d["_id"].as_str().unwrap().to_string()));
                        }
                    }
                    Ok(())
                }
                Err((_, e)) => Err(e.to_string()),
            }
        }
        single => {
            let bop = to_batch_op(single).unwrap();
            match bop {
                BatchOp::Create { coll, doc } => store.create(&coll, doc.clone()).map(|got| {
                    for (k, v) in &doc {
                        assert!(
                            same_refs(&got[k], v),
                            "create {coll}: {k} is {} not {v}",
                            got[k]
                        );
                    }
                    model.insert((coll, doc["_id"].as_str().unwrap().to_string()));
                }),
                BatchOp::Update { coll, id, doc } => {
                    store.update(&coll, &id, doc.clone()).map(|got| {
                        for (k, v) in &doc {
                            let want = if v.is_null() && got[k].is_array() {
                                json!([])
                            } else {
                                v.clone()
                            };
                            assert!(
                                same_refs(&got[k], &want),
                                "update {coll}/{id}: {k} is {} not {want}",
                                got[k]
                            );
                        }
                    })
                }
                BatchOp::Patch { coll, id, patch } => store.patch(&coll, &id, &patch).map(|_| ()),
                BatchOp::Delete { coll, id } => store.delete(&coll, &id).map(|deleted| {
                    assert_eq!(deleted[0], (coll.clone(), id.clone()));
                    for key in &deleted {
                        assert!(
                            model.remove(key),
                            "delete reported {key:?} which did not exist"
                        );
                    }
                }),
            }
            .map_err(|e| e.to_string())
        }
    };
    if outcome.is_err() {
        assert_eq!(
            dump(store),
            before,
            "a failed {op:?} changed the state: {outcome:?}"
        );
        assert_eq!(next_seq(store), seq_before, "a failed {op:?} was logged");
    } else {
        assert!(next_seq(store) > seq_before, "{op:?} left no record");
    }
    assert_eq!(&existing(store), model, "after {op:?} ({outcome:?})");
    assert_clean(store);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn random_operation_sequences_keep_every_invariant(
        seed in proptest::collection::vec((0..COLLS.len(), any::<u8>()), 8..24),
        ops in proptest::collection::vec(op(), 1..60),
        row_bytes in row_bytes(),
    ) {
        let t = open_with_row_bytes(library_schema(), row_bytes);
        let mut model = BTreeSet::new();
        // A populated start, so that most later operations meet documents.
        let seed = seed.into_iter().map(|(coll, id)| Op::Create { coll, id, refs: Vec::new(), title: None });
        for op in seed.collect::<Vec<_>>().iter().chain(&ops) {
            run(&t.store, &mut model, op);
        }
        assert_replays(&t.store);
    }
}

/// Runs `op` as a one-operation batch and checks that a created document
/// comes back exactly (key order included) as a read right after gives it.
fn batch_one(tx: &mut refdb_storage::Tx<'_>, op: BatchOp) -> refdb_storage::Result<()> {
    let created = match &op {
        BatchOp::Create { coll, .. } => Some(coll.clone()),
        _ => None,
    };
    let results = tx.batch(vec![op]).map_err(|(_, e)| e)?;
    if let (Some(coll), Some(refdb_storage::BatchResult::Doc(d))) = (created, results.first()) {
        let read = tx.get(&coll, d["_id"].as_str().unwrap())?;
        assert_eq!(
            serde_json::to_string(d).unwrap(),
            serde_json::to_string(&read).unwrap(),
            "a created {coll} as the batch answered it and as read back"
        );
    }
    Ok(())
}

/// Group commit: the operations of one `write_each` give the same results
/// and the same final state as committing them one by one — a failed one
/// is undone without undoing the others.
fn group_equals_sequential(ops: &[Op], row_bytes: usize) {
    let a = open_with_row_bytes(library_schema(), row_bytes);
    let b = open_with_row_bytes(library_schema(), row_bytes);
    let singles: Vec<BatchOp> = ops.iter().filter_map(to_batch_op).collect();
    let group: Vec<refdb_storage::GroupOp<'_, ()>> = singles
        .iter()
        .cloned()
        .map(|op| -> refdb_storage::GroupOp<'_, ()> {
            (
                refdb_storage::Actor::anonymous(),
                Box::new(move |tx: &mut refdb_storage::Tx<'_>| batch_one(tx, op)),
            )
        })
        .collect();
    let grouped: Vec<bool> = a
        .store
        .write_each(group)
        .unwrap()
        .iter()
        .map(Result::is_ok)
        .collect();
    let sequential: Vec<bool> = singles
        .into_iter()
        .map(|op| b.store.write(|tx| batch_one(tx, op)).is_ok())
        .collect();
    assert_eq!(grouped, sequential);
    let strip =
        |d: Vec<(String, refdb_storage::Document)>| -> Vec<(String, refdb_storage::Document)> {
            d.into_iter()
                .map(|(c, mut doc)| {
                    doc.shift_remove("_meta");
                    (c, doc)
                })
                .collect()
        };
    assert_eq!(strip(dump(&a.store)), strip(dump(&b.store)));
    assert_clean(&a.store);
    // The failed requests of the group left no record.
    assert_replays(&a.store);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn group_commit_equals_sequential_commits(
        seed in proptest::collection::vec((0..COLLS.len(), any::<u8>()), 8..24),
        ops in proptest::collection::vec(leaf(), 1..40),
        row_bytes in row_bytes(),
    ) {
        let seed = seed.into_iter().map(|(coll, id)| Op::Create { coll, id, refs: Vec::new(), title: None });
        let all: Vec<Op> = seed.chain(ops).collect();
        group_equals_sequential(&all, row_bytes);
    }
}
