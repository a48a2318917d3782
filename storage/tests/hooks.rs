//! Hooks inside the transaction: they change or refuse creates, updates
//! and deletes on every path (create, PUT, PATCH, batch, create_many,
//! group commit, cascades and unlinks); a refusal or a panic leaves
//! nothing written; `after_commit` sees old and new documents of commits
//! only.

mod common;

use common::*;
use refdb_storage::{Actor, Cause, Committed, Error, Hooks, Refusal};
use serde_json::json;
use std::sync::{Arc, Mutex};

type Log = Arc<Mutex<Vec<Committed>>>;

fn recording() -> (Hooks, Log) {
    let log: Log = Arc::default();
    let l = log.clone();
    let hooks = Hooks::new().after_commit(move |c| l.lock().unwrap().extend(c.iter().cloned()));
    (hooks, log)
}

fn seeded(t: &TestDb) {
    t.store
        .write(|tx| {
            tx.create("authors", doc(json!({"_id": "hugo", "name": "Hugo"})))?;
            for i in 0..3 {
                tx.create(
                    "books",
                    doc(json!({"_id": format!("b{i}"), "title": "t", "author": "hugo"})),
                )?;
            }
            tx.create("tags", doc(json!({"_id": "red", "label": "red"})))?;
            tx.create(
                "posts",
                doc(json!({"_id": "p1", "title": "x", "tags": ["red"]})),
            )?;
            Ok(())
        })
        .unwrap();
}

#[test]
fn before_create_changes_the_document_or_refuses_it_with_its_path() {
    let t = open(library_schema());
    t.store
        .set_hooks(Hooks::new().before_create("books", |ctx, d| {
            assert_eq!(ctx.coll, "books");
            match d.get("title").and_then(|v| v.as_str()) {
                Some("") => Err(Refusal::new("$.title", "a title is needed")),
                Some(t) => {
                    let upper = t.to_uppercase();
                    d.insert("title".into(), json!(upper));
                    Ok(())
                }
                None => Ok(()),
            }
        }));
    t.store
        .create("authors", doc(json!({"_id": "hugo", "name": "Hugo"})))
        .unwrap();
    let b = t
        .store
        .create(
            "books",
            doc(json!({"_id": "b1", "title": "misérables", "author": "hugo"})),
        )
        .unwrap();
    assert_eq!(b["title"], json!("MISÉRABLES"));
    let e = t
        .store
        .create(
            "books",
            doc(json!({"_id": "b2", "title": "", "author": "hugo"})),
        )
        .unwrap_err();
    assert!(
        matches!(&e, Error::Refused { path, .. } if path == "$.title"),
        "{e:?}"
    );
    assert_eq!(e.path(), Some("$.title"));
    assert!(e.is_user_error());
    // The bulk path (import) runs it too.
    let r = t.store.write(|tx| {
        tx.create_many(
            "books",
            vec![
                doc(json!({"_id": "b3", "title": "ok", "author": "hugo"})),
                doc(json!({"_id": "b4", "title": "", "author": "hugo"})),
            ],
        )
    });
    assert!(matches!(r, Err(Error::Refused { .. })), "{r:?}");
    assert_eq!(t.store.read().unwrap().count("books").unwrap(), 1);
    let ids = t
        .store
        .write(|tx| {
            tx.create_many(
                "books",
                vec![doc(json!({"_id": "b5", "title": "bulk", "author": "hugo"}))],
            )
        })
        .unwrap();
    assert_eq!(ids, ["b5"]);
    assert_eq!(t.store.get("books", "b5").unwrap()["title"], json!("BULK"));
    assert_clean(&t.store);
}

#[test]
fn before_update_sees_old_and_new_on_put_and_patch() {
    let t = open(library_schema());
    seeded(&t);
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let s = seen.clone();
    t.store
        .set_hooks(Hooks::new().before_update("books", move |ctx, old, new| {
            s.lock().unwrap().push((
                old["title"].as_str().unwrap_or("").to_string(),
                new["title"].as_str().unwrap_or("").to_string(),
            ));
            assert_eq!(ctx.cause, Cause::Direct);
            if new["title"] == json!("forbidden") {
                return Err(Refusal::new("$.title", "not that one"));
            }
            Ok(())
        }));
    t.store
        .update("books", "b0", doc(json!({"title": "new"})))
        .unwrap();
    t.store
        .patch(
            "books",
            "b1",
            &refdb_storage::patch::parse_patch(
                &json!([{"op": "replace", "path": "/title", "value": "forbidden"}]),
            )
            .unwrap(),
        )
        .unwrap_err();
    assert_eq!(t.store.get("books", "b1").unwrap()["title"], json!("t"));
    assert_eq!(
        *seen.lock().unwrap(),
        [("t".into(), "new".into()), ("t".into(), "forbidden".into())]
    );
    assert_clean(&t.store);
}

/// A refusal inside a cascade undoes everything, and no after-hook fires.
#[test]
fn a_refused_cascade_writes_nothing_and_fires_no_after_hook() {
    let t = open(library_schema());
    seeded(&t);
    let (hooks, log) = recording();
    let causes: Arc<Mutex<Vec<(String, Cause)>>> = Arc::default();
    let c = causes.clone();
    t.store
        .set_hooks(hooks.before_delete("books", move |ctx, d| {
            c.lock()
                .unwrap()
                .push((ctx.id.unwrap().to_string(), ctx.cause));
            if d["_id"] == json!("b2") {
                return Err(Refusal::new("$", "b2 is kept"));
            }
            Ok(())
        }));
    let before = dump(&t.store);
    let e = t.store.delete("authors", "hugo").unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
    assert_eq!(dump(&t.store), before);
    assert!(log.lock().unwrap().is_empty());
    assert_eq!(
        *causes.lock().unwrap(),
        [
            ("b0".to_string(), Cause::Cascade),
            ("b1".to_string(), Cause::Cascade),
            ("b2".to_string(), Cause::Cascade)
        ]
    );
    assert_clean(&t.store);
}

#[test]
fn after_commit_gets_old_and_new_of_every_change_cascades_and_unlinks_included() {
    let t = open(library_schema());
    seeded(&t);
    let (hooks, log) = recording();
    let unlinked: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let u = unlinked.clone();
    t.store
        .set_hooks(hooks.before_update("posts", move |ctx, _, new| {
            assert_eq!(ctx.cause, Cause::Unlink);
            u.lock().unwrap().push(new["tags"].clone());
            Ok(())
        }));
    t.store.delete("tags", "red").unwrap();
    assert_eq!(*unlinked.lock().unwrap(), [json!([])]);
    t.store.delete("authors", "hugo").unwrap();
    let log = log.lock().unwrap();
    let seen: Vec<(&str, &str, bool, bool)> = log
        .iter()
        .map(|c| {
            (
                c.coll.as_str(),
                c.id.as_str(),
                c.old.is_some(),
                c.new.is_some(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("posts", "p1", true, true),
            ("tags", "red", true, false),
            ("authors", "hugo", true, false),
            ("books", "b0", true, false),
            ("books", "b1", true, false),
            ("books", "b2", true, false),
        ]
    );
    assert_eq!(log[0].old.as_ref().unwrap()["tags"], json!(["red"]));
    assert!(
        log[0]
            .new
            .as_ref()
            .unwrap()
            .get("tags")
            .is_none_or(|v| v.as_array().is_some_and(|a| a.is_empty()))
    );
    assert_eq!(log[2].old.as_ref().unwrap()["name"], json!("Hugo"));
    assert_clean(&t.store);
}

#[test]
fn a_panicking_hook_refuses_its_write_only_and_the_store_goes_on() {
    let t = open(library_schema());
    let (hooks, log) = recording();
    t.store.set_hooks(hooks.before_create("authors", |_, d| {
        if d["name"] == json!("boom") {
            panic!("the hook broke");
        }
        Ok(())
    }));
    let e = t
        .store
        .create("authors", doc(json!({"_id": "x", "name": "boom"})))
        .unwrap_err();
    assert!(
        matches!(&e, Error::HookPanicked(m) if m.contains("the hook broke")),
        "{e:?}"
    );
    assert!(!e.is_user_error());
    // In a group commit, only the panicking request is undone.
    let ops: Vec<refdb_storage::GroupOp<'_, String>> = ["ok1", "boom", "ok2"]
        .into_iter()
        .map(|name| -> refdb_storage::GroupOp<'_, String> {
            (
                Actor::anonymous(),
                Box::new(move |tx| tx.create("authors", doc(json!({"_id": name, "name": name})))),
            )
        })
        .collect();
    let results = t.store.write_each(ops).unwrap();
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(matches!(results[1], Err(Error::HookPanicked(_))));
    let ids: Vec<String> = dump(&t.store)
        .into_iter()
        .map(|(_, d)| d["_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["ok1", "ok2"]);
    let committed: Vec<String> = log.lock().unwrap().iter().map(|c| c.id.clone()).collect();
    assert_eq!(committed, ["ok1", "ok2"]);
    assert_clean(&t.store);
}

#[test]
fn no_after_commit_for_a_rolled_back_transaction() {
    let t = open(library_schema());
    let (hooks, log) = recording();
    t.store.set_hooks(hooks);
    let r: Result<(), Error> = t.store.write(|tx| {
        tx.create("authors", doc(json!({"_id": "a", "name": "A"})))?;
        Err(Error::BadInput {
            path: "$".into(),
            message: "changed my mind".into(),
        })
    });
    assert!(r.is_err());
    assert!(log.lock().unwrap().is_empty());
    t.store
        .create("authors", doc(json!({"_id": "b", "name": "B"})))
        .unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].new.as_ref().unwrap()["name"], json!("B"));
    assert!(
        log[0].new.as_ref().unwrap()["_meta"]
            .get("created_by")
            .is_some()
    );
}
