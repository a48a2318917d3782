//! `Store::read` shares one snapshot between readers until the next
//! commit. These tests check that sharing never hides a commit: a read
//! that starts after a commit returns sees it, and a snapshot taken
//! before keeps its own view.

mod common;

use common::{doc, library_schema, open};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[test]
fn a_read_after_a_commit_sees_it_and_an_older_snapshot_does_not() {
    let t = open(library_schema());
    let before = t.store.read().unwrap();
    let shared = t.store.read().unwrap();
    t.store
        .create("authors", doc(json!({"_id": "a1", "name": "x"})))
        .unwrap();
    let after = t.store.read().unwrap();
    assert_eq!(before.count("authors").unwrap(), 0);
    assert_eq!(shared.count("authors").unwrap(), 0);
    assert_eq!(after.count("authors").unwrap(), 1);
    assert!(after.try_get("authors", "a1").unwrap().is_some());
    assert!(before.try_get("authors", "a1").unwrap().is_none());
}

/// Readers racing a writer: every read sees at least the creates that
/// had returned when it started.
#[test]
fn concurrent_reads_see_every_commit_that_returned_before_them() {
    let t = open(library_schema());
    let store = Arc::new(t.store);
    let done = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        let (w, d) = (store.clone(), done.clone());
        s.spawn(move || {
            for i in 0..300u64 {
                w.create(
                    "authors",
                    doc(json!({"_id": format!("a{i:04}"), "name": "x"})),
                )
                .unwrap();
                d.store(i + 1, Ordering::SeqCst);
            }
        });
        for _ in 0..2 {
            let (r, d) = (store.clone(), done.clone());
            s.spawn(move || {
                loop {
                    let returned = d.load(Ordering::SeqCst);
                    let seen = r.read().unwrap().count("authors").unwrap();
                    assert!(
                        seen >= returned,
                        "saw {seen} of {returned} returned creates"
                    );
                    if returned == 300 {
                        break;
                    }
                }
            });
        }
    });
}
