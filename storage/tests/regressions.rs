//! Regression tests for what fuzzing found (fuzz/README.md): one test per
//! finding, numbered in the order found, each with a one-line postmortem.

mod common;
use common::*;
use serde_json::Value;

// 001 (fuzz `patch`, 2026-11-23): serde_json is built without `float_roundtrip`, so its fast float parser reads some decimals an ulp or more off (184467440737.9571616 → …95718, correctly rounded …95715) and a float a client reads and writes back drifts on every round trip (…95718 → …9572).
#[test]
fn regression_001_floats_survive_a_json_round_trip() {
    let schema: Value = serde_json::from_str(refdb_storage::schema::DEMO_SCHEMA).unwrap();
    let t = open(schema);
    let sent: Value =
        serde_json::from_str(r#"{"_id": "u1", "name": "Ada", "score": 184467440737.9571616}"#)
            .unwrap();
    // What a correctly rounded parser reads (Rust's own `str::parse`).
    let exact: f64 = "184467440737.9571616".parse().unwrap();
    assert_eq!(
        sent["score"].as_f64(),
        Some(exact),
        "the body parser rounds"
    );
    let stored = t.store.create("users", doc(sent)).unwrap();
    // A client reads the document and sends the score back unchanged.
    let shown = serde_json::to_string(&stored["score"]).unwrap();
    let back: Value = serde_json::from_str(&shown).unwrap();
    let updated = t
        .store
        .update("users", "u1", doc(serde_json::json!({ "score": back })))
        .unwrap();
    assert_eq!(updated["score"], stored["score"], "the score drifted");
    assert_clean(&t.store);
}
