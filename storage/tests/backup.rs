//! Online backup: a copy taken while another thread keeps writing opens as
//! a clean database holding one committed state.

mod common;
use common::*;
use refdb_storage::Store;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};

#[test]
fn a_backup_during_writes_is_a_consistent_database() {
    let t = open(library_schema());
    let s = &t.store;
    s.create("authors", doc(json!({"_id": "a"}))).unwrap();
    let stop = AtomicBool::new(false);
    let out = t.dir.path().join("copy.db");
    let copied = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < 2_000 {
                s.write(|tx| {
                    tx.create("books", doc(json!({"_id": format!("b{n}"), "author": "a"})))?;
                    tx.create(
                        "chapters",
                        doc(json!({"_id": format!("c{n}"), "n": n, "book": format!("b{n}")})),
                    )
                })
                .unwrap();
                n += 1;
            }
            n
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        let rows = s.backup(&out).unwrap();
        stop.store(true, Ordering::Relaxed);
        let written = writer.join().unwrap();
        assert!(rows > 0 && written > 0);
        written
    });
    assert!(
        s.backup(&out).is_err(),
        "an existing file is never overwritten"
    );
    drop(t.store);
    let copy = Store::open(&out, None).unwrap();
    assert_clean(&copy);
    let r = copy.read().unwrap();
    let (books, chapters) = (r.count("books").unwrap(), r.count("chapters").unwrap());
    // Each transaction wrote one book and its chapter: a consistent copy
    // has as many of each, never a book without its chapter.
    assert_eq!(books, chapters);
    assert!(books <= copied as u64);
}
