//! Storage write benches.
//! Data set: `refdb_gen` (the generator behind `refdb gen`), 1M users
//! and 100k addresses by default (`REFDB_BENCH_USERS=100000` for a quick run),
//! cached under `target/dataset-gen-*`.
//! Measures: bulk load of users with refs to addresses and two secondary
//! indexes in one transaction; a single-document durable commit; on the
//! loaded data set (the side-by-side schema: three indexed fields, two
//! searched), a batch of 1000 creates in one transaction (`POST /_batch`'s
//! path: each create read back) and the cascade delete of one address.
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

fn on_loaded_data(c: &mut Criterion) {
    let n = support::users();
    let dir = support::dataset(n);
    let tmp = tempfile::tempdir().unwrap();
    let schema = refdb_storage::Schema::parse(support::SEARCH_SCHEMA).unwrap();
    let store = Store::open(tmp.path().join("l.db"), Some(schema)).unwrap();
    let (aids, _, took) = support::load(&store, &dir);
    eprintln!("loaded {n} users in {took:.2?}");
    let mut g = c.benchmark_group("storage_write");
    g.sample_size(20);
    let user = |i: usize| {
        json!({"name": format!("Bench{i}"), "email": format!("b{i}@x.org"), "age": i % 90,
               "male": i.is_multiple_of(2), "addr": aids[i % aids.len()]})
        .as_object()
        .unwrap()
        .clone()
    };
    let mut k = 0usize;
    g.bench_function("batch_1000_creates", |b| {
        b.iter(|| {
            let ops: Vec<_> = (0..1000)
                .map(|_| {
                    k += 1;
                    refdb_storage::BatchOp::Create {
                        coll: "users".into(),
                        doc: user(k),
                    }
                })
                .collect();
            store.batch(ops).map_err(|(_, e)| e).unwrap()
        })
    });
    // As the server runs `POST /_batch`: one request of a group commit
    // (undoable, so no appends and every written row logged for undo).
    g.bench_function("batch_1000_creates_in_group_commit", |b| {
        b.iter(|| {
            let ops: Vec<_> = (0..1000)
                .map(|_| {
                    k += 1;
                    refdb_storage::BatchOp::Create {
                        coll: "users".into(),
                        doc: user(k),
                    }
                })
                .collect();
            let op: refdb_storage::GroupOp<'_, ()> = (
                refdb_storage::Actor::anonymous(),
                Box::new(move |tx: &mut refdb_storage::Tx<'_>| {
                    tx.batch(ops).map(|_| ()).map_err(|(_, e)| e)
                }),
            );
            store.write_each(vec![op]).unwrap().pop().unwrap().unwrap()
        })
    });
    let mut next = aids.iter();
    g.bench_function("cascade_delete_address", |b| {
        b.iter(|| {
            let id = next.next().expect("enough addresses");
            store.delete("addrs", id).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bulk_load, single_commit, on_loaded_data);
criterion_main!(benches);
