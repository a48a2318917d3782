//! The durable change log: what its records hold (one per changed
//! document, cascades included, contiguous per transaction), retention,
//! replay refusals, schema migrations, and files of format 3 upgraded.

mod common;

use common::*;
use redb::ReadableDatabase;
use refdb_storage::changelog::Op;
use refdb_storage::tables::{CHANGES, LATEST, META};
use refdb_storage::{OpenOptions, Retention, Schema, Store};
use serde_json::json;

/// An operation of a group commit, done by the anonymous actor.
fn anon(
    f: impl FnOnce(&mut refdb_storage::Tx<'_>) -> refdb_storage::Result<String> + Send + 'static,
) -> refdb_storage::GroupOp<'static, String> {
    (refdb_storage::Actor::anonymous(), Box::new(f))
}

fn seeded() -> TestDb {
    let t = open(library_schema());
    t.store
        .write(|tx| {
            tx.create("authors", doc(json!({"_id": "hugo", "name": "Hugo"})))?;
            for i in 0..3 {
                tx.create(
                    "books",
                    doc(json!({"_id": format!("b{i}"), "title": "t", "author": "hugo"})),
                )?;
            }
            tx.create("chapters", doc(json!({"_id": "c1", "n": 1, "book": "b0"})))?;
            Ok(())
        })
        .unwrap();
    t
}

#[test]
fn every_changed_document_has_one_record_with_its_row() {
    let t = seeded();
    let log = change_log(&t.store);
    let seen: Vec<(&str, &str, Op)> = log
        .iter()
        .map(|r| (r.coll.as_str(), r.id.as_str(), r.op))
        .collect();
    assert_eq!(
        seen,
        [
            ("authors", "hugo", Op::Create),
            ("books", "b0", Op::Create),
            ("books", "b1", Op::Create),
            ("books", "b2", Op::Create),
            ("chapters", "c1", Op::Create),
        ]
    );
    assert!(log.iter().all(|r| r.txn == log[0].txn));
    assert!(log.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    // The row is the document as stored, `_meta` and docno included.
    let r = t.store.read().unwrap();
    for rec in &log {
        let stored = r.get_stored(&rec.coll, &rec.id).unwrap().unwrap();
        assert_eq!(rec.stored(t.store.schema()).unwrap().unwrap(), stored);
    }
    // An update, then a patch of the same document in one transaction:
    // still one record, holding the final row.
    t.store
        .write(|tx| {
            tx.update("authors", "hugo", doc(json!({"name": "Victor"})))?;
            tx.update("authors", "hugo", doc(json!({"name": "Victor Hugo"})))
        })
        .unwrap();
    let last = change_log(&t.store).pop().unwrap();
    assert_eq!((last.op, last.txn), (Op::Update, log[0].txn + 1));
    // It points at the record before it, which now holds the old row.
    assert_eq!(last.prev, log[0].seq);
    assert_eq!(log[0].prev, 0);
    let before = t.store.read().unwrap().change(last.prev).unwrap().unwrap();
    assert_eq!(
        before.stored(t.store.schema()).unwrap().unwrap().body["name"],
        json!("Hugo")
    );
    assert_eq!(
        last.stored(t.store.schema()).unwrap().unwrap().body["name"],
        json!("Victor Hugo")
    );
    assert_eq!(change_log(&t.store).len(), log.len() + 1);
}

#[test]
fn a_cascade_is_logged_as_the_deletes_it_made() {
    let t = seeded();
    // books.chapters is must_be_empty: the chapter goes first.
    t.store.delete("chapters", "c1").unwrap();
    let before = next_seq(&t.store);
    // authors.books cascades to the books.
    let deleted = t.store.delete("authors", "hugo").unwrap();
    assert_eq!(deleted.len(), 4);
    let log: Vec<_> = change_log(&t.store)
        .into_iter()
        .filter(|r| r.seq >= before)
        .collect();
    assert_eq!(log.len(), deleted.len());
    assert!(log.iter().all(|r| r.op == Op::Delete && r.row.is_none()));
    let mut logged: Vec<_> = log.iter().map(|r| (r.coll.clone(), r.id.clone())).collect();
    let mut deleted = deleted;
    logged.sort();
    deleted.sort();
    assert_eq!(logged, deleted);
    assert!(log.iter().all(|r| r.txn == log[0].txn));
    // An unlink is logged as the updates of the documents it unlinked,
    // made before the delete.
    t.store
        .write(|tx| {
            tx.create("tags", doc(json!({"_id": "t1"})))?;
            tx.create("posts", doc(json!({"_id": "p1", "tags": ["t1"]})))?;
            tx.create("posts", doc(json!({"_id": "p2", "tags": ["t1"]})))
        })
        .unwrap();
    let before = next_seq(&t.store);
    t.store.delete("tags", "t1").unwrap();
    let log: Vec<_> = change_log(&t.store)
        .into_iter()
        .filter(|r| r.seq >= before)
        .map(|r| (r.id, r.op))
        .collect();
    assert_eq!(
        log,
        [
            ("p1".to_string(), Op::Update),
            ("p2".to_string(), Op::Update),
            ("t1".to_string(), Op::Delete)
        ]
    );
    assert_replays(&t.store);
}

#[test]
fn a_failed_write_leaves_no_record() {
    let t = seeded();
    let before = change_log(&t.store);
    // The third create names a missing author: the whole batch rolls back.
    let r = t.store.write(|tx| {
        tx.create("authors", doc(json!({"_id": "zola", "name": "Zola"})))?;
        tx.update("books", "b1", doc(json!({"title": "changed"})))?;
        tx.create("books", doc(json!({"title": "x", "author": "nobody"})))
    });
    assert!(r.is_err());
    assert_eq!(change_log(&t.store), before);
    // A group commit keeps the records of the requests that succeed only.
    let ops = vec![
        anon(|tx| tx.create("authors", doc(json!({"_id": "zola", "name": "Zola"})))),
        anon(|tx| {
            tx.update("books", "b1", doc(json!({"title": "changed"})))?;
            tx.create("books", doc(json!({"title": "x", "author": "nobody"})))
        }),
    ];
    let results = t.store.write_each(ops).unwrap();
    assert!(results[0].is_ok() && results[1].is_err());
    let after = change_log(&t.store);
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after.last().unwrap().id, "zola");
    assert_clean(&t.store);
    assert_replays(&t.store);
}

/// A group whose every operation is refused commits nothing: not a byte
/// of the file changes (a commit would rewrite the header, with two
/// fsyncs), and no observer hears of a commit.
#[test]
fn a_group_of_refused_writes_leaves_the_file_untouched() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Commits(AtomicUsize);
    impl refdb_storage::CommitObserver for Commits {
        fn committed(&self, _: &[refdb_storage::Change], _: Option<u64>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let t = seeded();
    let commits = Arc::new(Commits(AtomicUsize::new(0)));
    t.store.observe(commits.clone());
    let before = change_log(&t.store);
    let file = t.dir.path().join("t.db");
    let bytes = std::fs::read(&file).unwrap();
    let ops = vec![
        // Writes first, then fails: undone.
        anon(|tx| {
            tx.update("books", "b1", doc(json!({"title": "changed"})))?;
            tx.create("books", doc(json!({"title": "x", "author": "nobody"})))
        }),
        anon(|tx| tx.create("authors", doc(json!({"_id": "bad id with spaces"})))),
    ];
    let results = t.store.write_each(ops).unwrap();
    assert!(results.iter().all(Result::is_err), "{results:?}");
    assert_eq!(commits.0.load(Ordering::SeqCst), 0);
    assert!(std::fs::read(&file).unwrap() == bytes, "the file changed");
    assert_clean(&t.store);
    // The store still writes, and the next commit is heard.
    t.store
        .create("authors", doc(json!({"_id": "zola", "name": "Zola"})))
        .unwrap();
    assert_eq!(commits.0.load(Ordering::SeqCst), 1);
    assert!(std::fs::read(&file).unwrap() != bytes);
    let after = change_log(&t.store);
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after.last().unwrap().id, "zola");
    assert_clean(&t.store);
    assert_replays(&t.store);
}

/// A group of one operation runs as a whole transaction (no undo log),
/// with the group's contract: its result is the operation's, a failure —
/// even one the operation caught — leaves the file untouched, a success
/// commits and is logged.
#[test]
fn a_group_of_one_keeps_the_group_contract() {
    let t = seeded();
    let file = t.dir.path().join("t.db");
    let before = change_log(&t.store);
    let bytes = std::fs::read(&file).unwrap();
    // Fails after writing.
    let r = t
        .store
        .write_each(vec![anon(|tx| {
            tx.update("books", "b1", doc(json!({"title": "changed"})))?;
            tx.create("books", doc(json!({"title": "x", "author": "nobody"})))
        })])
        .unwrap();
    assert!(
        matches!(r[..], [Err(refdb_storage::Error::NotFound { .. })]),
        "{r:?}"
    );
    // Catches its own error: the transaction is still poisoned.
    let r = t
        .store
        .write_each(vec![anon(|tx| {
            tx.update("books", "b1", doc(json!({"title": "changed"})))?;
            let _ = tx.create("authors", doc(json!({"_id": "bad id"})));
            Ok("caught".to_string())
        })])
        .unwrap();
    assert!(
        matches!(r[..], [Err(refdb_storage::Error::Aborted)]),
        "{r:?}"
    );
    assert!(std::fs::read(&file).unwrap() == bytes, "the file changed");
    assert_eq!(change_log(&t.store), before);
    let r = t
        .store
        .write_each(vec![anon(|tx| {
            tx.create("authors", doc(json!({"_id": "zola", "name": "Zola"})))
        })])
        .unwrap();
    assert_eq!(
        r.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        ["zola"]
    );
    let after = change_log(&t.store);
    assert_eq!(after.len(), before.len() + 1);
    assert_clean(&t.store);
    assert_replays(&t.store);
}

#[test]
fn retention_drops_the_oldest_records_and_never_reuses_a_seq() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::from_json(&library_schema()).unwrap();
    let opts = OpenOptions {
        schema: Some(schema),
        changes_retention: Retention::parse("10").unwrap(),
        ..OpenOptions::default()
    };
    let store = Store::open_with(dir.path().join("r.db"), opts).unwrap();
    for i in 0..30 {
        store
            .create("authors", doc(json!({"_id": format!("a{i:02}")})))
            .unwrap();
    }
    let log = change_log(&store);
    assert_eq!(log.len(), 10);
    assert_eq!(log[0].seq, 21);
    assert_eq!(log[9].seq, 30);
    let (first, next) = store.read().unwrap().change_log_extent().unwrap();
    assert_eq!((first, next), (Some(21), 31));
    assert_clean(&store);
    // By age: everything older than the newest commit goes.
    drop(store);
    let opts = OpenOptions {
        changes_retention: Retention::parse("0s").unwrap(),
        ..OpenOptions::default()
    };
    let store = Store::open_with(dir.path().join("r.db"), opts).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    store.create("authors", doc(json!({"_id": "z"}))).unwrap();
    let log = change_log(&store);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].seq, 31);
}

#[test]
fn replay_refuses_what_does_not_fit_and_applies_nothing_of_its_transaction() {
    let t = seeded();
    let log = change_log(&t.store);
    let copy = open(library_schema());
    copy.store.apply_changes(log.clone()).unwrap();
    // Again: already applied.
    let e = copy.store.apply_changes(log.clone()).unwrap_err();
    assert!(e.to_string().contains("comes after"), "{e}");
    // A delete of a document the copy lacks.
    let mut bad = log[0].clone();
    bad.seq = 100;
    bad.txn = 50;
    bad.id = "ghost".into();
    bad.op = Op::Delete;
    bad.row = None;
    let mut fine = log[1].clone();
    fine.seq = 99;
    fine.txn = 50;
    fine.op = Op::Update;
    let before = dump(&copy.store);
    let e = copy.store.apply_changes(vec![fine, bad]).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert_eq!(dump(&copy.store), before);
    assert_eq!(change_log(&copy.store), log);
    assert_clean(&copy.store);
}

#[test]
fn a_schema_migration_empties_the_log_but_keeps_counting() {
    let t = seeded();
    let next = next_seq(&t.store);
    let path = t.dir.path().join("t.db");
    drop(t.store);
    let mut schema = library_schema();
    schema["collections"]["authors"]["fields"]["born"] = json!({"type": "int"});
    let store = Store::open(&path, Some(Schema::from_json(&schema).unwrap())).unwrap();
    assert!(change_log(&store).is_empty());
    assert_eq!(next_seq(&store), next);
    store
        .create("authors", doc(json!({"_id": "zola"})))
        .unwrap();
    assert_eq!(change_log(&store)[0].seq, next);
    assert_clean(&store);
}

/// Makes a file look as format 3 wrote it: no change log tables, no
/// counters.
fn downgrade_to_v3(path: &std::path::Path) {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut meta = txn.open_table(META).unwrap();
        meta.insert("format", 3u32.to_le_bytes().as_slice())
            .unwrap();
        meta.remove("changes").unwrap();
    }
    txn.delete_table(CHANGES).unwrap();
    txn.delete_table(LATEST).unwrap();
    txn.commit().unwrap();
    let r = db.begin_read().unwrap();
    assert!(r.open_table(CHANGES).is_err());
}

#[test]
fn a_format_3_file_is_upgraded_and_its_log_starts_there() {
    let t = seeded();
    let before = dump(&t.store);
    let path = t.dir.path().join("t.db");
    drop(t.store);
    downgrade_to_v3(&path);
    let refused = Store::open_read_only(&path)
        .err()
        .expect("refused")
        .to_string();
    assert!(refused.contains("format 3"), "{refused}");
    let store = Store::open(&path, None).unwrap();
    assert_eq!(dump(&store), before);
    assert!(change_log(&store).is_empty());
    assert_clean(&store);
    store
        .create(
            "books",
            doc(json!({"_id": "new", "title": "n", "author": "hugo"})),
        )
        .unwrap();
    let log = change_log(&store);
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].seq, log[0].txn), (1, 1));
    assert_clean(&store);
    drop(store);
    assert!(Store::open_read_only(&path).is_ok());
}

#[test]
fn bulk_creates_are_logged_and_replay() {
    let t = open(library_schema());
    t.store
        .write(|tx| {
            // Appended (generated, increasing ids; no partner row written).
            tx.create_many(
                "people",
                (0..300).map(|i| doc(json!({"name": format!("n{i}")}))),
            )?;
            let first = tx.create("people", doc(json!({"_id": "zz", "name": "last"})))?;
            // A later write of an appended document in the same transaction.
            tx.update("people", &first, doc(json!({"name": "changed"})))?;
            tx.create("notes", doc(json!({"text": "x", "about": "zz"})))?;
            Ok(())
        })
        .unwrap();
    let log = change_log(&t.store);
    assert_eq!(log.iter().filter(|r| r.op == Op::Create).count(), 302);
    assert!(log.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert_clean(&t.store);
    assert_replays(&t.store);
}

/// A file written by the refdb before the change log (format 3: the demo
/// schema, two addresses, three users) opens, is upgraded with nothing
/// lost, and logs from then on.
#[test]
fn a_file_written_by_format_3_refdb_opens_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/format3-demo.db"
        ),
        &path,
    )
    .unwrap();
    let refused = Store::open_read_only(&path)
        .err()
        .expect("refused")
        .to_string();
    assert!(refused.contains("format 3"), "{refused}");
    let store = Store::open(&path, None).unwrap();
    assert_clean(&store);
    let home = store.get("addrs", "home").unwrap();
    assert_eq!(home["city"], json!("Lyon"));
    assert_eq!(ids(&home["users"]), ["u1", "u2"]);
    assert_eq!(store.get("users", "u1").unwrap()["age"], json!(42));
    assert_eq!(store.read().unwrap().count("users").unwrap(), 3);
    assert!(change_log(&store).is_empty());
    store.delete("users", "u3").unwrap();
    let log = change_log(&store);
    assert_eq!((log.len(), log[0].op, log[0].seq), (1, Op::Delete, 1));
    assert_clean(&store);
}

/// Docnos stop at 2^31 - 1, whose row header still tells its layout by
/// the top bit: a replayed create at that docno is stored and read back,
/// and the collection is then full. A record whose docno is not its row's
/// is refused, changing nothing.
#[test]
fn docnos_stop_below_2_pow_31_and_a_record_must_agree_with_its_row() {
    let schema = json!({"app": "t", "collections": {"c": {"fields": {"a": {"type": "int"}}}}});
    let src = open(schema.clone());
    src.store
        .create("c", doc(json!({"_id": "u1", "a": 1})))
        .unwrap();
    let created = change_log(&src.store).remove(0);
    let max = (1u32 << 31) - 1;

    let wrong = open(schema.clone());
    let mut rec = created.clone();
    rec.docno = 5;
    assert!(wrong.store.apply_changes(vec![rec]).is_err());
    assert_eq!(wrong.store.read().unwrap().count("c").unwrap(), 0);
    assert!(change_log(&wrong.store).is_empty());

    let dst = open(schema);
    let mut rec = created;
    let row = rec.row.as_mut().unwrap();
    row[..4].copy_from_slice(&(max | 1 << 31).to_be_bytes());
    rec.docno = max;
    assert_eq!(dst.store.apply_changes(vec![rec.clone()]).unwrap(), 1);
    let r = dst.store.read().unwrap();
    assert_eq!(r.docno("c", "u1").unwrap(), Some(max));
    assert_eq!(r.get("c", "u1").unwrap()["a"], json!(1));
    drop(r);
    assert_eq!(change_log(&dst.store), [rec]);
    assert_clean(&dst.store);
    let full = dst.store.create("c", doc(json!({"_id": "u2", "a": 2})));
    assert!(
        matches!(full, Err(refdb_storage::Error::CollectionFull(ref c)) if c == "c"),
        "{full:?}"
    );
    assert_eq!(dst.store.read().unwrap().count("c").unwrap(), 1);
}
