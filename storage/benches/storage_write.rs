//! Storage write benches.
//! Data set: the shared data set (`../shared/data/gen_dataset.py`), 1M users
//! and 100k addresses by default (`REFDB_BENCH_USERS=100000` for a quick run),
//! cached under `target/dataset-*`.
//! Measures: bulk load of users with refs to addresses and two secondary
//! indexes in one transaction; a single-document durable commit.
//! Run: `cargo bench -p refdb-storage --bench storage_write`.

mod support;
use criterion::{Criterion, criterion_group, criterion_main};
use refdb_storage::Store;
use serde_json::json;
use std::time::Duration;

fn bulk_load(c: &mut Criterion) {
    let n = support::users();
    let dir = support::dataset(n);
    let mut g = c.benchmark_group("storage_write");
    g.sample_size(10).measurement_time(Duration::from_secs(60));
    g.bench_function(format!("bulk_load_{n}_users"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let tmp = tempfile::tempdir().unwrap();
                let store = Store::open(tmp.path().join("b.db"), Some(support::schema())).unwrap();
                total += support::load(&store, &dir).2;
            }
            total
        })
    });
    g.finish();
}

fn single_commit(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("c.db"), Some(support::schema())).unwrap();
    let addr = store
        .create("addrs", json!({"name": "a"}).as_object().unwrap().clone())
        .unwrap();
    let user = json!({"name": "Doramar", "age": 42, "addr": addr["_id"]});
    let user = user.as_object().unwrap().clone();
    c.bench_function("storage_write/durable_single_create", |b| {
        b.iter(|| store.write(|tx| tx.create("users", user.clone())).unwrap())
    });
}

criterion_group!(benches, bulk_load, single_commit);
criterion_main!(benches);
