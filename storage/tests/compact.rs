//! `Store::compact` on an open store: the file shrinks to the pages in
//! use, every table reads the same (the audit digest covers them all),
//! and the store goes on reading and writing. A snapshot still held makes
//! it refuse, with nothing changed.

mod common;

use common::{assert_clean, doc, dump, library_schema, open};
use serde_json::json;

#[test]
fn compacting_an_open_store_shrinks_the_file_and_changes_nothing_else() {
    let t = open(library_schema());
    t.store
        .write(|tx| {
            tx.create(
                "authors",
                doc(json!({"_id": "hugo", "name": "Victor Hugo"})),
            )?;
            for i in 0..3000 {
                let title = format!("{i} {}", "x".repeat(200));
                tx.create(
                    "books",
                    doc(json!({"_id": format!("b{i:05}"), "title": title, "author": "hugo"})),
                )?;
            }
            Ok(())
        })
        .unwrap();
    t.store
        .write(|tx| {
            for i in 100..3000 {
                tx.delete("books", &format!("b{i:05}"))?;
            }
            Ok(())
        })
        .unwrap();
    let before = dump(&t.store);
    let digest = t.store.audit().unwrap().digest;

    // A reader's snapshot pins the pages: refused, nothing changed.
    let held = t.store.read().unwrap();
    assert!(t.store.compact().is_err());
    assert_eq!(held.count("books").unwrap(), 100);
    drop(held);
    assert_eq!(t.store.audit().unwrap().digest, digest);

    let (grown, shrunk) = t.store.compact().unwrap();
    assert_eq!(
        shrunk,
        std::fs::metadata(t.dir.path().join("t.db")).unwrap().len()
    );
    assert!(shrunk < grown / 2, "{grown} -> {shrunk}");
    assert_eq!(dump(&t.store), before);
    assert_eq!(t.store.audit().unwrap().digest, digest);
    assert_clean(&t.store);

    t.store
        .create(
            "books",
            doc(json!({"_id": "after", "title": "t", "author": "hugo"})),
        )
        .unwrap();
    assert_eq!(t.store.read().unwrap().count("books").unwrap(), 101);
    assert_clean(&t.store);
}
