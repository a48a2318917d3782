//! Hooks through the server: a refusal is a 400 `refused` with its
//! `$.path` on every write route (`_batch` included, where it undoes the
//! whole batch); a panicking hook fails its request alone with a 500 and
//! the server goes on; `after_commit` sees only what committed.

mod support;

use refdb::{Schema, Store};
use refdb_storage::{Hooks, Refusal};
use serde_json::json;
use std::sync::{Arc, Mutex};
use support::*;

#[test]
fn hooks_refuse_change_and_panic_per_request_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path().join("h.db"),
        Some(Schema::parse(TEST_SCHEMA).unwrap()),
    )
    .unwrap();
    let committed: Arc<Mutex<Vec<String>>> = Arc::default();
    let c = committed.clone();
    store.set_hooks(
        Hooks::new()
            .before_create("users", |_, d| {
                match d.get("name").and_then(|v| v.as_str()) {
                    Some("boom") => panic!("hook bug"),
                    Some(n) if n.starts_with(' ') => {
                        Err(Refusal::new("$.name", "no leading space"))
                    }
                    _ => {
                        d.insert("age".into(), json!(33));
                        Ok(())
                    }
                }
            })
            .after_commit(move |changes| {
                c.lock()
                    .unwrap()
                    .extend(changes.iter().map(|ch| ch.id.clone()))
            }),
    );
    let server = TestServer::start_on(Arc::new(store));
    let r = server.post("/t/coll/users", &json!({"_id": "u1", "name": "Ann"}));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["age"], json!(33), "the hook set the age");
    let r = server.post("/t/coll/users", &json!({"_id": "u2", "name": " Bob"}));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code(), "refused");
    assert_eq!(r.error_path().as_deref(), Some("$.name"));
    let r = server.post("/t/coll/users", &json!({"_id": "u3", "name": "boom"}));
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.error_code(), "hook_panicked");
    // A batch with one refused create applies nothing.
    let r = server.post(
        "/t/_batch",
        &json!({"ops": [
            {"op": "create", "coll": "users", "doc": {"_id": "u4", "name": "Cyd"}},
            {"op": "create", "coll": "users", "doc": {"_id": "u5", "name": " Dan"}}
        ]}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_path().as_deref(), Some("$.ops[1].doc.name"));
    // The server goes on.
    let r = server.post("/t/coll/users", &json!({"_id": "u6", "name": "Eve"}));
    assert_eq!(r.status, 201, "{}", r.text());
    let ids: Vec<String> = server
        .dump()
        .into_iter()
        .filter(|(c, _)| c == "users")
        .map(|(_, d)| d["_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["u1", "u6"]);
    assert_eq!(*committed.lock().unwrap(), ["u1", "u6"]);
}
