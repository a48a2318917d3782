//! Fuzz target: the storage engine under random operation sequences.
//!
//! The input is decoded (with `arbitrary`) into at most 32 operations —
//! creates, updates, patches, deletes, batches and group commits
//! (`write_each`), valid or not — on the library schema of
//! `storage/tests/common/mod.rs` (one-to-many, many-to-many, one-to-one and
//! one-way references; `cascade`, `must_be_empty` and `unlink` rules;
//! fields filled from the other side), run on a `Store` in a fresh
//! temporary directory. After every step:
//! - `store.audit()` is clean (refs ⇄ reverse index, no dangling reference,
//!   indexes ⇄ documents, every document valid);
//! - a failed operation left the visible state (every document,
//!   materialized, `_meta` included) exactly as before;
//! - the set of existing documents matches a model kept from the results
//!   (a create adds its id, a delete removes exactly what it reports).
//!
//! At the end the store is closed and reopened: same state, clean audit.
//!
//! Executions stay cheap: 3 ids per collection (plus one outside the pool
//! and one malformed), tiny documents, and the directory is put on
//! `/dev/shm` when there is one (redb's fsync per commit costs nothing there).

#![no_main]

use std::collections::BTreeSet;
use std::path::Path;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use refdb_storage::patch::{PatchOp, parse_patch};
use refdb_storage::{
    Actor, BatchOp, BatchResult, Document, GroupOp, OpenOptions, Schema, Store, Tx,
};
use serde_json::{Map, Value, json};

const MAX_OPS: usize = 32;
const MAX_SUB_OPS: usize = 4;
const MAX_TARGETS: usize = 3;
const MAX_PATCH_STEPS: usize = 3;

/// `library_schema()` of storage/tests/common/mod.rs.
fn library_schema() -> Value {
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

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Ref(usize),
    Refs(usize),
}

/// (collection, id prefix, fields) in the order of `library_schema`.
const COLLS: &[(&str, &str, &[(&str, Kind)])] = &[
    (
        "authors",
        "a",
        &[("name", Kind::Str), ("books", Kind::Refs(1))],
    ),
    (
        "books",
        "b",
        &[
            ("title", Kind::Str),
            ("author", Kind::Ref(0)),
            ("chapters", Kind::Refs(2)),
        ],
    ),
    ("chapters", "c", &[("n", Kind::Int), ("book", Kind::Ref(1))]),
    (
        "tags",
        "t",
        &[("label", Kind::Str), ("posts", Kind::Refs(4))],
    ),
    (
        "posts",
        "p",
        &[("title", Kind::Str), ("tags", Kind::Refs(3))],
    ),
    (
        "people",
        "h",
        &[("name", Kind::Str), ("passport", Kind::Ref(6))],
    ),
    (
        "passports",
        "x",
        &[("number", Kind::Str), ("owner", Kind::Ref(5))],
    ),
    (
        "notes",
        "n",
        &[("text", Kind::Str), ("about", Kind::Ref(5))],
    ),
];

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Coll(u8);

impl Coll {
    fn index(self) -> usize {
        self.0 as usize % COLLS.len()
    }
    fn name(self) -> &'static str {
        COLLS[self.index()].0
    }
}

/// An id: mostly one of 3 per collection, sometimes one outside the pool
/// (valid, usually missing) or a malformed one.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Id(u8);

fn id_text(coll: usize, id: Id) -> String {
    let prefix = COLLS[coll].1;
    match id.0 % 8 {
        6 => format!("{prefix}9"),
        7 => "not an id!".to_string(),
        n => format!("{prefix}{}", n % 3),
    }
}

/// A field of a collection: mostly a declared one, sometimes unknown.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct FieldSel(u8);

fn field(coll: usize, sel: FieldSel) -> Option<(&'static str, Kind)> {
    let fields = COLLS[coll].2;
    match sel.0 as usize % 8 {
        7 => None,
        n => Some(fields[n % fields.len()]),
    }
}

fn field_name(coll: usize, sel: FieldSel) -> &'static str {
    field(coll, sel).map_or("nope", |(name, _)| name)
}

#[derive(Arbitrary, Debug, Clone)]
enum Scalar {
    Str(u8),
    Int(i8),
    Bool(bool),
    Float,
    List,
}

impl Scalar {
    fn json(&self) -> Value {
        match self {
            Scalar::Str(n) => Value::String(format!("s{}", n % 4)),
            Scalar::Int(i) => json!(i),
            Scalar::Bool(b) => json!(b),
            Scalar::Float => json!(1.5),
            Scalar::List => json!(["s0"]),
        }
    }
}

/// The value written to a field: what fits its kind (a target id, a list of
/// ids), or something that does not.
#[derive(Arbitrary, Debug, Clone)]
enum FieldValue {
    Fit { targets: Vec<Id>, dedup: bool },
    Null,
    Scalar(Scalar),
}

fn value_for(kind: Option<Kind>, v: &FieldValue) -> Value {
    let targets = |to: usize, targets: &[Id], dedup: bool| -> Vec<Value> {
        let mut seen = BTreeSet::new();
        targets
            .iter()
            .take(MAX_TARGETS)
            .map(|&t| id_text(to, t))
            .filter(|t| !dedup || seen.insert(t.clone()))
            .map(Value::String)
            .collect()
    };
    match (kind, v) {
        (_, FieldValue::Null) => Value::Null,
        (_, FieldValue::Scalar(s)) => s.json(),
        (Some(Kind::Ref(to)), FieldValue::Fit { targets: t, dedup }) => targets(to, t, *dedup)
            .into_iter()
            .next()
            .unwrap_or(Value::Null),
        (Some(Kind::Refs(to)), FieldValue::Fit { targets: t, dedup }) => {
            Value::Array(targets(to, t, *dedup))
        }
        (Some(Kind::Int), FieldValue::Fit { targets, .. }) => json!(targets.len()),
        (_, FieldValue::Fit { targets, .. }) => Value::String(format!("v{}", targets.len())),
    }
}

#[derive(Arbitrary, Debug, Clone)]
enum PatchStep {
    Replace(FieldSel, FieldValue),
    Add(FieldSel, FieldValue),
    /// `add $.field[-]`: append to a list.
    Append(FieldSel, Id),
    /// `remove $.field[i]`.
    RemoveAt(FieldSel, u8),
    Remove(FieldSel),
    Test(FieldSel, FieldValue),
    Move(FieldSel, FieldSel),
    Copy(FieldSel, FieldSel),
    /// A path into `_id` (always refused).
    TouchId,
}

fn patch_json(coll: usize, step: &PatchStep) -> Value {
    let path = |sel: FieldSel| format!("$.{}", field_name(coll, sel));
    let value = |sel: FieldSel, v: &FieldValue| value_for(field(coll, sel).map(|f| f.1), v);
    match step {
        PatchStep::Replace(f, v) => {
            json!({"op": "replace", "path": path(*f), "value": value(*f, v)})
        }
        PatchStep::Add(f, v) => json!({"op": "add", "path": path(*f), "value": value(*f, v)}),
        PatchStep::Test(f, v) => json!({"op": "test", "path": path(*f), "value": value(*f, v)}),
        PatchStep::Append(f, id) => {
            let to = match field(coll, *f) {
                Some((_, Kind::Refs(to) | Kind::Ref(to))) => to,
                _ => coll,
            };
            json!({"op": "add", "path": format!("{}[-]", path(*f)), "value": id_text(to, *id)})
        }
        PatchStep::RemoveAt(f, i) => {
            json!({"op": "remove", "path": format!("{}[{}]", path(*f), i % 3)})
        }
        PatchStep::Remove(f) => json!({"op": "remove", "path": path(*f)}),
        PatchStep::Move(from, to) => json!({"op": "move", "from": path(*from), "path": path(*to)}),
        PatchStep::Copy(from, to) => json!({"op": "copy", "from": path(*from), "path": path(*to)}),
        PatchStep::TouchId => json!({"op": "replace", "path": "$._id", "value": "zz"}),
    }
}

#[derive(Arbitrary, Debug, Clone)]
enum Leaf {
    Create {
        coll: Coll,
        /// `None`: the engine generates the id.
        id: Option<Id>,
        fields: Vec<(FieldSel, FieldValue)>,
    },
    Update {
        coll: Coll,
        id: Id,
        fields: Vec<(FieldSel, FieldValue)>,
    },
    Patch {
        coll: Coll,
        id: Id,
        steps: Vec<PatchStep>,
    },
    Delete {
        coll: Coll,
        id: Id,
    },
}

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    One(Leaf),
    /// `Store::batch`: all or nothing.
    Batch(Vec<Leaf>),
    /// `Store::write_each`: each one commits or is undone on its own.
    Group(Vec<Leaf>),
}

fn fields_doc(coll: usize, fields: &[(FieldSel, FieldValue)]) -> Map<String, Value> {
    let mut doc = Map::new();
    for (sel, v) in fields.iter().take(MAX_TARGETS) {
        let f = field(coll, *sel);
        doc.insert(
            field_name(coll, *sel).to_string(),
            value_for(f.map(|f| f.1), v),
        );
    }
    doc
}

fn batch_op(leaf: &Leaf) -> BatchOp {
    match leaf {
        Leaf::Create { coll, id, fields } => {
            let c = coll.index();
            let mut doc = fields_doc(c, fields);
            if let Some(id) = id {
                doc.insert("_id".into(), Value::String(id_text(c, *id)));
            }
            BatchOp::Create {
                coll: coll.name().into(),
                doc,
            }
        }
        Leaf::Update { coll, id, fields } => BatchOp::Update {
            coll: coll.name().into(),
            id: id_text(coll.index(), *id),
            doc: fields_doc(coll.index(), fields),
        },
        Leaf::Patch { coll, id, steps } => {
            let body: Vec<Value> = steps
                .iter()
                .take(MAX_PATCH_STEPS)
                .map(|s| patch_json(coll.index(), s))
                .collect();
            let patch: Vec<PatchOp> =
                parse_patch(&Value::Array(body)).expect("the target builds well-formed patches");
            BatchOp::Patch {
                coll: coll.name().into(),
                id: id_text(coll.index(), *id),
                patch,
            }
        }
        Leaf::Delete { coll, id } => BatchOp::Delete {
            coll: coll.name().into(),
            id: id_text(coll.index(), *id),
        },
    }
}

type Key = (String, String);

/// Every document of every collection, materialized: the visible state.
fn dump(store: &Store) -> Vec<(String, Document)> {
    let r = store.read().expect("read transaction");
    let mut out = Vec::new();
    for c in store.schema().collections() {
        for e in r.scan(&c.name, None).expect("scan") {
            let (id, d) = e.expect("stored document");
            out.push((
                c.name.clone(),
                r.materialize(&c.name, &id, d).expect("materialize"),
            ));
        }
    }
    out
}

fn existing(state: &[(String, Document)]) -> BTreeSet<Key> {
    state
        .iter()
        .map(|(c, d)| {
            (
                c.clone(),
                d["_id"].as_str().expect("string _id").to_string(),
            )
        })
        .collect()
}

/// Updates the model of existing documents with what `op` reported.
fn note(model: &mut BTreeSet<Key>, op: &BatchOp, result: &BatchResult) {
    match (op, result) {
        (BatchOp::Create { coll, .. }, BatchResult::Doc(d)) => {
            let id = d["_id"].as_str().expect("string _id").to_string();
            assert!(
                model.insert((coll.clone(), id)),
                "create of an existing id: {op:?}"
            );
        }
        (BatchOp::Delete { coll, id }, BatchResult::Deleted(deleted)) => {
            assert_eq!(deleted.first(), Some(&(coll.clone(), id.clone())), "{op:?}");
            for key in deleted {
                assert!(
                    model.remove(key),
                    "{op:?} reported {key:?}, which did not exist"
                );
            }
        }
        _ => {}
    }
}

/// Runs one leaf as its own transaction (the `Store` convenience methods).
fn run_one(store: &Store, op: &BatchOp) -> refdb_storage::Result<BatchResult> {
    match op.clone() {
        BatchOp::Create { coll, doc } => store.create(&coll, doc).map(BatchResult::Doc),
        BatchOp::Update { coll, id, doc } => store.update(&coll, &id, doc).map(BatchResult::Doc),
        BatchOp::Patch { coll, id, patch } => store.patch(&coll, &id, &patch).map(BatchResult::Doc),
        BatchOp::Delete { coll, id } => store.delete(&coll, &id).map(BatchResult::Deleted),
    }
}

fn step(store: &Store, model: &mut BTreeSet<Key>, op: &Op) {
    let before = dump(store);
    let failed = match op {
        Op::One(leaf) => {
            let bop = batch_op(leaf);
            match run_one(store, &bop) {
                Ok(result) => {
                    note(model, &bop, &result);
                    None
                }
                Err(e) => Some(e.to_string()),
            }
        }
        Op::Batch(leaves) => {
            let ops: Vec<BatchOp> = leaves.iter().take(MAX_SUB_OPS).map(batch_op).collect();
            match store.batch(ops.clone()) {
                Ok(results) => {
                    assert_eq!(results.len(), ops.len());
                    for (op, result) in ops.iter().zip(&results) {
                        note(model, op, result);
                    }
                    None
                }
                Err((i, e)) => Some(format!("operation {i:?}: {e}")),
            }
        }
        Op::Group(leaves) => {
            let ops: Vec<BatchOp> = leaves.iter().take(MAX_SUB_OPS).map(batch_op).collect();
            let group: Vec<GroupOp<'_, Vec<BatchResult>>> = ops
                .iter()
                .cloned()
                .map(|op| -> GroupOp<'_, Vec<BatchResult>> {
                    (
                        Actor::anonymous(),
                        Box::new(move |tx: &mut Tx<'_>| tx.batch(vec![op]).map_err(|(_, e)| e)),
                    )
                })
                .collect();
            match store.write_each(group) {
                Ok(results) => {
                    assert_eq!(results.len(), ops.len());
                    for (op, result) in ops.iter().zip(&results) {
                        if let Ok(r) = result {
                            note(model, op, &r[0]);
                        }
                    }
                    None
                }
                Err(e) => Some(e.to_string()),
            }
        }
    };
    let after = dump(store);
    if let Some(e) = &failed {
        assert!(after == before, "a failed {op:?} changed the state: {e}");
    }
    assert_eq!(&existing(&after), model, "after {op:?} (error: {failed:?})");
    let report = store.audit().expect("audit runs");
    assert!(
        report.is_clean(),
        "audit after {op:?} (error: {failed:?}): {:#?}",
        report.problems
    );
}

fn open(path: &Path, schema: Option<Schema>) -> Store {
    let opts = OpenOptions {
        schema,
        cache_size: 4 << 20,
        ..OpenOptions::default()
    };
    Store::open_with(path, opts).expect("open the store")
}

fn temp_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new().prefix("refdb-fuzz-").clone();
    if shm.is_dir()
        && let Ok(dir) = builder.tempdir_in(shm)
    {
        return dir;
    }
    builder.tempdir().expect("a temporary directory")
}

fuzz_target!(|ops: Vec<Op>| {
    let schema = Schema::from_json(&library_schema()).expect("valid schema");
    let dir = temp_dir();
    let path = dir.path().join("fuzz.db");
    let store = open(&path, Some(schema));
    let mut model = BTreeSet::new();
    for op in ops.iter().take(MAX_OPS) {
        step(&store, &mut model, op);
    }
    // Everything committed is durable and reads back the same.
    let last = dump(&store);
    drop(store);
    let store = open(&path, None);
    assert!(dump(&store) == last, "reopening changed the state");
    let report = store.audit().expect("audit runs");
    assert!(
        report.is_clean(),
        "audit after reopening: {:#?}",
        report.problems
    );
});
