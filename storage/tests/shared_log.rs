//! A store as the view of a shared log: a group commits only once its
//! records are published, with the log position in the same transaction;
//! entries are applied once, in order, and a refused publish writes
//! nothing.

mod common;

use common::*;
use refdb_storage::{Actor, ChangeRecord, GroupOp};
use serde_json::json;

/// A log in memory: entries by position, appended with an expected last
/// position as a shared log checks it.
#[derive(Default)]
struct MemLog(Vec<Vec<ChangeRecord>>);

impl MemLog {
    fn append(&mut self, expected: u64, records: &[ChangeRecord]) -> Result<u64, String> {
        if expected != self.0.len() as u64 {
            return Err(format!("expected {expected}, last is {}", self.0.len()));
        }
        self.0.push(records.to_vec());
        Ok(self.0.len() as u64)
    }
}

fn create(id: &str, age: i64) -> GroupOp<'static, ()> {
    let d = doc(json!({"_id": id, "name": id, "age": age}));
    (
        Actor::anonymous(),
        Box::new(move |tx| tx.create("users", d).map(|_| ())),
    )
}

fn users_schema() -> serde_json::Value {
    json!({"app": "t", "collections": {"users": {"fields": {
        "name": {"type": "string"}, "age": {"type": "int", "min": 0}}}}})
}

#[test]
fn a_group_commits_only_with_its_published_position() {
    let a = open(users_schema());
    let b = open(users_schema());
    let mut log = MemLog::default();

    // A group with one bad request: only the good ones are published.
    let out = a
        .store
        .write_each_logged(vec![create("u1", 1), create("bad", -1)], |recs| {
            log.append(0, recs)
        })
        .unwrap()
        .unwrap();
    assert_eq!(out.1, Some(1));
    assert!(out.0[0].is_ok() && out.0[1].is_err());
    assert_eq!(log.0[0].len(), 1);
    assert_eq!(a.store.log_position().unwrap(), 1);

    // A refused publish (a stale writer) leaves nothing behind.
    let refused = a
        .store
        .write_each_logged(vec![create("u2", 2)], |recs| log.append(0, recs))
        .unwrap();
    assert!(refused.is_err());
    assert_eq!(a.store.read().unwrap().count("users").unwrap(), 1);
    assert_eq!(a.store.log_position().unwrap(), 1);

    // A group that changed nothing is not published.
    let out = a
        .store
        .write_each_logged(vec![create("bad", -1)], |_| -> Result<u64, String> {
            panic!("nothing to publish")
        })
        .unwrap()
        .unwrap();
    assert_eq!(out.1, None);

    let out = a
        .store
        .write_each_logged(vec![create("u2", 2), create("u3", 3)], |recs| {
            log.append(1, recs)
        })
        .unwrap()
        .unwrap();
    assert_eq!(out.1, Some(2));

    // Another store follows the log: same documents, same change log,
    // same digest; an entry seen twice is applied once.
    for (i, entry) in log.0.iter().enumerate() {
        assert!(b.store.apply_log_entry(i as u64 + 1, entry).unwrap());
        assert!(!b.store.apply_log_entry(i as u64 + 1, entry).unwrap());
    }
    // The writer's own entries are already in its file.
    assert!(!a.store.apply_log_entry(2, &log.0[1]).unwrap());
    assert_eq!(b.store.log_position().unwrap(), 2);
    assert_eq!(dump(&a.store), dump(&b.store));
    assert_eq!(change_log(&a.store), change_log(&b.store));
    assert_eq!(
        a.store.audit().unwrap().digest,
        b.store.audit().unwrap().digest
    );
    assert_clean(&b.store);
}

#[test]
fn an_entry_that_does_not_fit_is_refused_whole() {
    let a = open(users_schema());
    let b = open(users_schema());
    let mut log = MemLog::default();
    a.store
        .write_each_logged(vec![create("u1", 1), create("u2", 2)], |recs| {
            log.append(0, recs)
        })
        .unwrap()
        .unwrap();
    // Applying the entry twice under a new position: u1 already exists.
    b.store.apply_log_entry(1, &log.0[0]).unwrap();
    assert!(b.store.apply_log_entry(2, &log.0[0]).is_err());
    assert_eq!(b.store.log_position().unwrap(), 1);
    assert_eq!(b.store.read().unwrap().count("users").unwrap(), 2);
    assert_clean(&b.store);
}
