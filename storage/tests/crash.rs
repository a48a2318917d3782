//! Crash safety: a child process writes — batches of creates and cascade
//! deletes — printing `ACK` after each durable commit; the parent kills it
//! with SIGKILL at a random moment, reopens the file and checks that every
//! acknowledged write is there, that the operation in flight is either
//! wholly applied or not at all, and that the audit is clean; and that the
//! change log holds exactly one transaction per applied operation and
//! replays into the reopened database.
//!
//! The child is this test binary itself, re-run on the `crash_child` test
//! with `REFDB_CRASH_CHILD` set. `REFDB_CRASH_CYCLES` sets the number of
//! kill cycles (default 50).

mod common;
use common::*;
use refdb_storage::{BatchOp, Schema, Store};
use serde_json::json;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Operation `i` of the child: batch `i` creates author `a{i}` with three
/// books; every third operation instead deletes author `a{i-2}`, whose
/// books cascade.
fn op(i: u64) -> Op {
    if i % 3 == 2 {
        Op::Delete(i - 2)
    } else {
        Op::Batch(i)
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Batch(u64),
    Delete(u64),
}

fn docs_of(n: u64) -> Vec<(&'static str, String)> {
    let mut v = vec![("authors", format!("a{n}"))];
    v.extend((0..3).map(|j| ("books", format!("b{n}_{j}"))));
    v
}

fn run(store: &Store, op: Op) {
    match op {
        Op::Batch(n) => {
            let mut ops = vec![BatchOp::Create {
                coll: "authors".into(),
                doc: doc(json!({"_id": format!("a{n}")})),
            }];
            for j in 0..3 {
                ops.push(BatchOp::Create {
                    coll: "books".into(),
                    doc: doc(json!({"_id": format!("b{n}_{j}"), "author": format!("a{n}")})),
                });
            }
            store.batch(ops).map_err(|(_, e)| e).unwrap();
        }
        Op::Delete(n) => {
            store.delete("authors", &format!("a{n}")).unwrap();
        }
    }
}

#[test]
fn crash_child() {
    let Ok(path) = std::env::var("REFDB_CRASH_CHILD") else {
        return;
    };
    let start: u64 = std::env::var("REFDB_CRASH_START").unwrap().parse().unwrap();
    let store = Store::open(Path::new(&path), None).unwrap();
    let mut out = std::io::stdout().lock();
    for i in start..start + 100_000 {
        run(&store, op(i));
        writeln!(out, "ACK {i}").unwrap();
        out.flush().unwrap();
    }
}

fn present(store: &Store, docs: &[(&str, String)]) -> usize {
    let r = store.read().unwrap();
    docs.iter()
        .filter(|(c, id)| r.try_get(c, id).unwrap().is_some())
        .count()
}

#[test]
fn sigkill_during_writes_loses_no_acknowledged_write() {
    let cycles: u64 = std::env::var("REFDB_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    drop(Store::open(&path, Some(Schema::from_json(&library_schema()).unwrap())).unwrap());
    let exe = std::env::current_exe().unwrap();
    let mut next = 0u64; // the next operation number
    let mut history: Vec<String> = Vec::new();
    let mut live: BTreeSet<u64> = BTreeSet::new(); // authors that must exist
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let (mut acked_total, mut in_flight_applied) = (0u64, 0u64);
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("REFDB_CRASH_CHILD", &path)
            .env("REFDB_CRASH_START", next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let wait = Duration::from_millis(5 + rng % 60);
        let mut acked = next;
        let reader = BufReader::new(child.stdout.take().unwrap());
        let started = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        let pump = std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                // The test harness prints `test crash_child ... ` without a
                // newline before the child's first line: look anywhere.
                if let Some(at) = line.find("ACK ")
                    && tx.send(line[at + 4..].parse::<u64>().unwrap()).is_err()
                {
                    break;
                }
            }
        });
        while started.elapsed() < wait {
            if let Ok(n) = rx.recv_timeout(Duration::from_millis(1)) {
                acked = n + 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        pump.join().unwrap();
        while let Ok(n) = rx.try_recv() {
            acked = n + 1;
        }
        for i in next..acked {
            match op(i) {
                Op::Batch(n) => live.insert(n),
                Op::Delete(n) => live.remove(&n),
            };
        }
        acked_total += acked - next;
        let store = Store::open(&path, None).unwrap();
        assert_clean(&store);
        // The operation in flight is all or nothing; make the model follow it.
        let in_flight = op(acked);
        let target = match in_flight {
            Op::Batch(n) | Op::Delete(n) => n,
        };
        let seen = present(&store, &docs_of(target));
        assert!(
            seen == 0 || seen == 4,
            "cycle {cycle}: operation {acked} half applied ({seen}/4)"
        );
        let applied = match in_flight {
            Op::Batch(_) => seen == 4,
            Op::Delete(_) => live.contains(&target) && seen == 0,
        };
        history.push(format!("cycle {cycle}: ran {next}..{acked} acked, in flight {in_flight:?} seen {seen} applied {applied}"));
        if applied {
            in_flight_applied += 1;
            match in_flight {
                Op::Batch(n) => live.insert(n),
                Op::Delete(n) => live.remove(&n),
            };
            next = acked + 1;
        } else {
            next = acked;
        }
        // Every acknowledged write is there.
        for &n in &live {
            assert_eq!(
                present(&store, &docs_of(n)),
                4,
                "cycle {cycle}: acknowledged batch {n} lost; {:#?}",
                &history[history.len().saturating_sub(4)..]
            );
        }
        // Nothing beyond the model exists.
        let authors: BTreeSet<u64> = dump(&store)
            .into_iter()
            .filter(|(c, _)| c == "authors")
            .map(|(_, d)| d["_id"].as_str().unwrap()[1..].parse().unwrap())
            .collect();
        let extra: Vec<_> = authors.symmetric_difference(&live).collect();
        assert!(
            extra.is_empty(),
            "cycle {cycle}: authors {extra:?} differ from the model; {:#?}",
            &history[history.len().saturating_sub(4)..]
        );
        // The log and the data agree: one transaction per applied
        // operation, and replaying it gives this very database.
        let txns: BTreeSet<u64> = change_log(&store).iter().map(|r| r.txn).collect();
        assert_eq!(
            txns.len() as u64,
            next,
            "cycle {cycle}: logged transactions"
        );
        assert_replays(&store);
    }
    eprintln!(
        "{cycles} kill cycles, {acked_total} acknowledged operations, {in_flight_applied} in-flight operations found applied, 0 lost"
    );
    assert!(acked_total > 0, "the child never acknowledged a write");
}
