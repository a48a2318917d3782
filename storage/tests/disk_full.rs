//! A full disk, for real: a store on a small tmpfs mounted by the test
//! (root needed; without it the tests say so and skip). A write that finds
//! no space fails alone with `NoSpace`, reads go on from the last commit,
//! writes are refused without touching the disk until space is freed, then
//! resume in the same store; every acknowledged write survives a reopen.

mod common;

use common::*;
use refdb_storage::{Error, FaultKind, Schema, Store};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` (and a note on stderr) where mounting is not permitted.
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Grows the file system: the way an operator frees space.
    fn grow(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(st.success(), "remount");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn schema() -> Schema {
    Schema::from_json(&json!({"app": "t", "collections": {
        "notes": {"fields": {"text": {"type": "string"}, "n": {"type": "int", "index": true}}}
    }}))
    .unwrap()
}

fn note(i: usize) -> refdb_storage::Document {
    doc(json!({"_id": format!("n{i:06}"), "text": "x".repeat(3000), "n": i}))
}

/// Creates notes one commit each until the disk refuses; returns how many
/// were acknowledged and the error that stopped them.
fn fill(store: &Store, from: usize) -> (usize, Error) {
    let mut i = from;
    loop {
        match store.create("notes", note(i)) {
            Ok(_) => i += 1,
            Err(e) => return (i, e),
        }
        assert!(i < from + 100_000, "the disk never filled");
    }
}

#[test]
fn a_full_disk_fails_the_write_keeps_reads_and_recovers_when_space_returns() {
    let Some(disk) = SmallDisk::mount("6m") else {
        return;
    };
    let path: PathBuf = disk.path().join("full.db");
    let store = Store::open(&path, Some(schema())).unwrap();
    let (acked, err) = fill(&store, 0);
    assert!(acked > 10, "only {acked} writes fitted");
    assert!(matches!(err, Error::NoSpace(_)), "{err:?}");
    assert!(err.to_string().contains("No space left"), "{err}");
    let fault = store.write_fault().expect("writes are in fault");
    assert_eq!(fault.kind, FaultKind::NoSpace);

    // Reads answer from the last commit.
    assert_eq!(store.read().unwrap().count("notes").unwrap(), acked as u64);
    let last = store.get("notes", &format!("n{:06}", acked - 1)).unwrap();
    assert_eq!(last["n"], json!(acked - 1));
    assert!(matches!(
        store.get("notes", &format!("n{acked:06}")),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        store.read().unwrap().change_log_extent().unwrap().1,
        acked as u64 + 1
    );

    // Until space returns, writes are refused at once.
    let refused = store.create("notes", note(acked)).unwrap_err();
    assert!(matches!(refused, Error::NoSpace(_)), "{refused:?}");
    assert!(
        refused.to_string().contains("until space is freed"),
        "{refused}"
    );

    disk.grow("12m");
    store.create("notes", note(acked)).unwrap();
    assert!(store.write_fault().is_none());
    let (more, err) = fill(&store, acked + 1);
    assert!(matches!(err, Error::NoSpace(_)), "{err:?}");
    assert!(more > acked + 10);
    assert_clean(&store);
    drop(store);

    let store = Store::open(&path, None).unwrap();
    assert_eq!(store.read().unwrap().count("notes").unwrap(), more as u64);
    for i in 0..more {
        store.get("notes", &format!("n{i:06}")).unwrap();
    }
    assert_clean(&store);
    assert_replays(&store);
}

/// The engine above the store sees only what committed: a write that
/// failed on the disk is announced to no observer.
#[test]
fn a_write_that_found_no_space_reaches_no_observer() {
    use std::sync::{Arc, Mutex};
    struct Seen(Mutex<Vec<String>>);
    impl refdb_storage::CommitObserver for Seen {
        fn committed(&self, changes: &[refdb_storage::Change], _: Option<u64>) {
            let mut seen = self.0.lock().unwrap();
            seen.extend(changes.iter().map(|c| c.id.clone()));
        }
    }
    let Some(disk) = SmallDisk::mount("4m") else {
        return;
    };
    let store = Store::open(disk.path().join("o.db"), Some(schema())).unwrap();
    let seen = Arc::new(Seen(Mutex::new(Vec::new())));
    store.observe(seen.clone());
    let (acked, _) = fill(&store, 0);
    let seen = seen.0.lock().unwrap().clone();
    let want: Vec<String> = (0..acked).map(|i| format!("n{i:06}")).collect();
    assert_eq!(seen, want);
}
