//! A format 2 file (documents keyed by a redb tuple, rows without the
//! fields' length) is upgraded to format 3 by the first writer that opens
//! it, with nothing lost; a read-only open refuses it with what to do.

mod common;

use common::{assert_clean, doc, dump, library_schema, open};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};
use refdb_storage::Store;
use refdb_storage::tables::{DOCS, DOCS_V2, META};
use serde_json::json;

/// Rewrites a format 3 file as format 2 was: what an older refdb wrote.
fn downgrade_to_v2(path: &std::path::Path) {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let new = txn.open_table(DOCS).unwrap();
        let mut old = txn.open_table(DOCS_V2).unwrap();
        for e in new.iter().unwrap() {
            let (k, v) = e.unwrap();
            let mut row = v.value().to_vec();
            row.drain(4..8); // format 2 had no fields' length
            old.insert(k.value(), row.as_slice()).unwrap();
        }
        let mut meta = txn.open_table(META).unwrap();
        meta.insert("format", 2u32.to_le_bytes().as_slice())
            .unwrap();
    }
    txn.delete_table(DOCS).unwrap();
    txn.commit().unwrap();
    let r = db.begin_read().unwrap();
    assert!(r.open_table(DOCS_V2).unwrap().len().unwrap() > 0);
}

#[test]
fn a_format_2_file_is_upgraded_on_open_with_nothing_lost() {
    let t = open(library_schema());
    t.store
        .write(|tx| {
            tx.create(
                "authors",
                doc(json!({"_id": "hugo", "name": "Victor Hugo"})),
            )?;
            for i in 0..50 {
                tx.create(
                    "books",
                    doc(json!({"title": format!("t{i}"), "author": "hugo"})),
                )?;
            }
            tx.create("people", doc(json!({"_id": "p1", "name": "Ann"})))?;
            tx.create(
                "passports",
                doc(json!({"_id": "x1", "number": "1", "owner": "p1"})),
            )?;
            Ok(())
        })
        .unwrap();
    let before = dump(&t.store);
    let path = t.dir.path().join("t.db");
    drop(t.store);
    downgrade_to_v2(&path);

    let refused = Store::open_read_only(&path)
        .err()
        .expect("refused")
        .to_string();
    assert!(refused.contains("format 2"), "{refused}");

    let store = Store::open(&path, None).unwrap();
    assert_eq!(dump(&store), before);
    assert_clean(&store);
    store
        .create("books", doc(json!({"title": "new", "author": "hugo"})))
        .unwrap();
    assert_eq!(
        store.get("authors", "hugo").unwrap()["books"]
            .as_array()
            .unwrap()
            .len(),
        51
    );
    drop(store);
    let again = Store::open_read_only(&path).unwrap();
    assert_clean(&again);
}
