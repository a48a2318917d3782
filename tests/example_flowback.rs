//! The embedding example (`examples/flowback.rs`), built into this test
//! and driven over a real socket: its schema, its hook, its action and its
//! own route, beside the collection API.

mod support;

#[allow(dead_code)]
#[path = "../examples/flowback.rs"]
mod flowback;

use refdb::server::Limits;
use serde_json::json;
use support::TestServer;

#[test]
fn the_flowback_example_serves_its_schema_hook_action_and_route() {
    let s = TestServer::start_with(flowback::SCHEMA, Limits::default(), flowback::configure);
    s.store.set_hooks(flowback::hooks());
    let r = s.post(
        "/flowback/coll/sources",
        &json!({"_id": "meter", "name": "Meter", "kind": "sensor"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // The hook: names are slugs.
    let r = s.post(
        "/flowback/coll/flows",
        &json!({"_id": "f1", "name": "Daily Load", "source": "meter"}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_path().as_deref(), Some("$.name"));
    let r = s.post(
        "/flowback/coll/flows",
        &json!({"_id": "f1", "name": "daily-load", "source": "meter"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // The action, its parameters checked.
    let run = "/flowback/coll/flows/_actions/run/f1";
    let r = s.post(run, &json!({"values": ["x"]}));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_path().as_deref(), Some("$.values[0]"));
    let r = s.post(run, &json!({"values": [1.5, 2.0, 4.25]}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"flow": "f1", "created": 3, "runs": 1}));
    let flow = s.get("/flowback/coll/flows/f1").json();
    assert_eq!(flow["data"].as_array().unwrap().len(), 3);
    let point = s
        .get(&format!(
            "/flowback/coll/data/{}",
            flow["data"][0].as_str().unwrap()
        ))
        .json();
    assert!(
        point["at"].as_str().unwrap().ends_with('Z'),
        "the hook stamped it: {point}"
    );
    // The program's own route.
    let r = s.get("/flowback/stats");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"sources": 1, "flows": 1, "data": 3, "runs": 1})
    );
    // Deleting the source cascades through flows to data.
    assert_eq!(s.delete("/flowback/coll/sources/meter").status, 200);
    assert_eq!(
        s.get("/flowback/stats").json(),
        json!({"sources": 0, "flows": 0, "data": 0, "runs": 0})
    );
    assert!(s.store.audit().unwrap().is_clean());
}

#[test]
fn a_route_may_not_shadow_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let store = flowback::open(&dir.path().join("f.db")).unwrap();
    let e = refdb::Server::builder(refdb::Engine::new(store).unwrap())
        .route(hyper::Method::GET, "coll", |_| Ok(json!(null)))
        .build()
        .err()
        .expect("refused");
    assert!(e.to_string().contains("shadow"), "{e}");
}
