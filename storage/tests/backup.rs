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

/// The child half of the test below: opens the file read-only while the
/// parent process keeps it open for writing, and backs it up.
#[test]
fn read_only_child() {
    let Ok(path) = std::env::var("REFDB_RO_CHILD") else {
        return;
    };
    let store = Store::open_read_only(&path).unwrap();
    let n = store.read().unwrap().count("authors").unwrap();
    assert!(
        store
            .write(|tx| tx.create("authors", doc(json!({}))))
            .is_err()
    );
    store
        .backup(std::env::var("REFDB_RO_OUT").unwrap())
        .unwrap();
    println!("AUTHORS {n}");
}

#[test]
fn another_process_reads_and_backs_up_while_this_one_writes() {
    let t = open(library_schema());
    t.store.create("authors", doc(json!({"_id": "a"}))).unwrap();
    t.store.create("authors", doc(json!({"_id": "b"}))).unwrap();
    let out = t.dir.path().join("ro-copy.db");
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "read_only_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("REFDB_RO_CHILD", t.dir.path().join("t.db"))
        .env("REFDB_RO_OUT", &out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(stdout.contains("AUTHORS 2"), "{stdout}");
    // The writer is still usable, and the copy is a clean database.
    t.store.create("authors", doc(json!({"_id": "c"}))).unwrap();
    let copy = Store::open(&out, None).unwrap();
    assert_eq!(copy.read().unwrap().count("authors").unwrap(), 2);
    assert_clean(&copy);
}
