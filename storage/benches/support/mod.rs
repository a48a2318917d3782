//! Shared by the criterion benches of every crate (`storage/benches`,
//! `query/benches` and the root `benches/` include this file by path): the
//! 1M-user data set (generated once by [`refdb_gen`], the generator behind
//! `refdb gen`, and cached under `target/dataset-gen-*` of the workspace), the benchmark schemas, a bulk loader, and the allocator
//! of the `refdb` binary.
#![allow(dead_code)]

use refdb_storage::{Schema, Store};

/// The allocator of the `refdb` binary, so that figures match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Users in the data set: `REFDB_BENCH_USERS` (default 1,000,000); one
/// address per ten users, as in the shared data set.
pub fn users() -> usize {
    users_from("REFDB_BENCH_USERS", 1_000_000)
}

/// Users in the data set from the environment variable `var`, else `default`.
pub fn users_from(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The workspace root: the nearest directory above the bench's crate
/// holding `Cargo.lock` (the including crates sit at different depths).
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|d| d.join("Cargo.lock").exists())
        .unwrap_or(manifest)
        .to_path_buf()
}

/// The directory holding `users.jsonl` and `addrs.jsonl` ([`refdb_gen`]:
/// one address per ten users, seed 42), generated if missing.
pub fn dataset(users: usize) -> PathBuf {
    let dir = workspace_root().join(format!("target/dataset-gen-{users}"));
    if !dir.join("users.jsonl").exists() {
        refdb_gen::write(&dir, &refdb_gen::Spec::users(users as u64))
            .expect("writing the data set");
    }
    dir
}

/// users ↔ addrs with two secondary indexes (name, age), as in the
/// issue's bulk-load target.
pub fn schema() -> Schema {
    Schema::parse(
        r#"{"app": "bench", "collections": {
        "users": {"fields": {
            "name": {"type": "string", "index": true}, "surname": {"type": "string"},
            "email": {"type": "string"}, "age": {"type": "int", "index": true},
            "male": {"type": "bool"}, "score": {"type": "float"},
            "tags": {"type": "list", "of": {"type": "string"}}, "created": {"type": "datetime"},
            "addr": {"type": "ref", "coll": "addrs", "reverse": "users"}}},
        "addrs": {"fields": {
            "name": {"type": "string"}, "address": {"type": "string"}, "city": {"type": "string"},
            "users": {"type": "refs", "coll": "users", "reverse": "addr", "on_delete": "cascade"}}}}}"#,
    )
    .expect("valid bench schema")
}

/// users ↔ addrs as the side-by-side comparison (`bench/`) loads them:
/// `name` indexed and searched, `email` searched, `age` and `male`
/// indexed; the query and HTTP benches use it, from the file the
/// side-by-side run (`bench/src/refdb_side.rs`) reads too.
pub const SEARCH_SCHEMA: &str = include_str!("../../../bench/bench-schema.json");

pub fn read_lines(path: &Path) -> Vec<Map<String, Value>> {
    let f = std::fs::File::open(path).expect("data set file");
    BufReader::new(f)
        .lines()
        .map(|l| serde_json::from_str(&l.expect("line")).expect("json line"))
        .collect()
}

/// Loads addresses then users (each `addr` names an address `_id`) with
/// [`refdb_storage::Tx::create_many`], in
/// transactions of `REFDB_BENCH_TXN` documents (default: all in one, the
/// fastest; smaller transactions commit more often); returns the
/// address ids, the user ids and the time taken by the database (parsing
/// the files is not counted).
pub fn load(store: &Store, dir: &Path) -> (Vec<String>, Vec<String>, Duration) {
    let per_txn: usize = std::env::var("REFDB_BENCH_TXN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let addrs = read_lines(&dir.join("addrs.jsonl"));
    let users = read_lines(&dir.join("users.jsonl"));
    let start = Instant::now();
    let cpu_start = thread_cpu();
    let mut aids = Vec::with_capacity(addrs.len());
    let mut addrs = addrs.into_iter().peekable();
    while addrs.peek().is_some() {
        let chunk = addrs.by_ref().take(per_txn);
        let ids = store
            .write(|tx| tx.create_many("addrs", chunk))
            .expect("load addresses");
        aids.extend(ids);
    }
    let mut uids = Vec::with_capacity(users.len());
    let mut users = users.into_iter().peekable();
    while users.peek().is_some() {
        let chunk = users.by_ref().take(per_txn);
        let ids = store
            .write(|tx| tx.create_many("users", chunk))
            .expect("load users");
        uids.extend(ids);
    }
    let took = start.elapsed();
    if let (Some(a), Some(b)) = (cpu_start, thread_cpu()) {
        // The load runs on this thread alone: its CPU time is the figure
        // that other work on the machine disturbs least.
        eprintln!("load: {took:.2?} wall, {:.2?} CPU", b - a);
    }
    (aids, uids, took)
}

/// CPU time of the calling thread (Linux), from `/proc/thread-self/schedstat`.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        s.split_whitespace().next()?.parse().ok()?,
    ))
}
