//! Storage read benches.
//! Data set: the shared data set, 1M users / 100k addresses by default
//! (`REFDB_BENCH_USERS` to change), loaded once into a temporary file.
//! Measures: point read of one document by `_id`, from a fresh snapshot
//! and from a held snapshot, two ways: as a `Document` (the library's
//! materialized map) and as its JSON bytes (what GET serves); reading the
//! change log, 1000 records at a time (what a change feed reads: the load's
//! create records, each resolved to its stored row).
//! Run: `cargo bench -p refdb-storage --bench storage_read`.

mod support;
use criterion::{Criterion, criterion_group, criterion_main};
use refdb_storage::Store;

fn point_reads(c: &mut Criterion) {
    let n = support::users();
    let dir = support::dataset(n);
    let tmp = tempfile::tempdir().unwrap();
    let cache: usize = std::env::var("REFDB_CACHE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let opts = refdb_storage::OpenOptions {
        schema: Some(support::schema()),
        cache_size: cache << 20,
        ..Default::default()
    };
    let store = Store::open_with(tmp.path().join("r.db"), opts).unwrap();
    let (_, uids, took) = support::load(&store, &dir);
    let size = std::fs::metadata(tmp.path().join("r.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    eprintln!("loaded {n} users in {took:?}; file {} MiB", size >> 20);
    let mut i = 0usize;
    let mut next = || {
        // A fixed stride walks the ids in a cache-unfriendly order.
        i = (i + 7_919) % uids.len();
        uids[i].as_str()
    };
    let snap = store.read().unwrap();
    c.bench_function("storage_read/get_by_id_held_snapshot", |b| {
        b.iter(|| snap.get("users", next()).unwrap())
    });
    c.bench_function("storage_read/get_by_id_fresh_snapshot", |b| {
        b.iter(|| store.get("users", next()).unwrap())
    });
    c.bench_function("storage_read/get_json_by_id_held_snapshot", |b| {
        b.iter(|| snap.get_json("users", next()).unwrap())
    });
    c.bench_function("storage_read/get_json_by_id_fresh_snapshot", |b| {
        b.iter(|| store.get_json("users", next()).unwrap())
    });
}

fn change_log(c: &mut Criterion) {
    let n = support::users();
    let dir = support::dataset(n);
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("c.db"), Some(support::schema())).unwrap();
    support::load(&store, &dir);
    let snap = store.read().unwrap();
    let (_, next) = snap.change_log_extent().unwrap();
    let mut after = 0;
    c.bench_function("storage_read/change_log_1000_records", |b| {
        b.iter(|| {
            if after + 1000 >= next {
                after = 0;
            }
            let page = snap.changes(after, 1000).unwrap();
            after = page.last().unwrap().seq;
            page
        })
    });
}

criterion_group!(benches, point_reads, change_log);
criterion_main!(benches);
