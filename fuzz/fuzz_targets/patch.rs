//! Fuzz target: PATCH parsing and application (`refdb_storage::patch`).
//!
//! Bytes that are valid JSON become a patch body for `parse_patch`; a patch
//! that parses is applied with `apply_patch` to a fixed document that has
//! something for every path shape (nested dicts and lists, member names
//! that look like indices or need quoting, `_id` and `_meta`). Checked:
//! - nothing panics, however deep, long or odd the body is;
//! - every error (parse or apply) carries a path, and it is a `$` path;
//! - the input document is never changed;
//! - a success never changes `_id` or `_meta`, leaves a document that
//!   serde_json reads back unchanged (the `MAX_DEPTH` promise; floats too,
//!   since finding 001), and is deterministic; a patch of `test`s only
//!   returns the document unchanged.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use refdb_storage::patch::{PatchError, PatchOp, apply_patch, parse_patch};
use serde_json::{Map, Value, json};

static DOC: LazyLock<Map<String, Value>> = LazyLock::new(|| {
    let doc = json!({
        "_id": "u1",
        "_meta": {"ctime": "2024-01-01T00:00:00Z", "mtime": "2024-01-01T00:00:00Z",
                  "created_by": {"_id": "root"}},
        "name": "Ada",
        "age": 36,
        "score": 1.5,
        "male": false,
        "none": null,
        "tags": ["a", "b", "c"],
        "matrix": [[1, 2], [3, [4, 5]], []],
        "info": {"city": "Paris", "zip": "75001", "geo": {"lat": 48.8, "lon": 2.3},
                 "0": "zero", "-": "dash", "a/b": "slash", "m~n": "tilde",
                 "odd key": {"x": [null, true]}},
        "list": [{"k": 1}, {"k": 2, "deep": {"deeper": [0]}}],
        "": "empty name",
        "é": "accent"
    });
    match doc {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
});

fn check_error(e: &PatchError, stage: &str, body: &Value) {
    assert!(
        e.path.starts_with('$'),
        "{stage} error without a $ path: {e:?} for {body}"
    );
}

fn check_depth(doc: &Map<String, Value>, body: &Value) {
    // The patched document must still be something a client can send back,
    // and read back exactly: with serde_json's `float_roundtrip` (finding
    // 001) even floats survive print-then-parse bit for bit.
    let text = serde_json::to_string(doc).expect("a Value always serializes");
    match serde_json::from_str::<Map<String, Value>>(&text) {
        Ok(back) => assert_eq!(&back, doc, "round trip changed the document for {body}"),
        Err(e) => panic!("patched document does not parse back ({e}) for {body}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let ops = match parse_patch(&body) {
        Ok(ops) => ops,
        Err(e) => return check_error(&e, "parse", &body),
    };
    let doc: &Map<String, Value> = &DOC;
    let before = doc.clone();
    let result = apply_patch(doc, &ops);
    assert_eq!(doc, &before, "apply_patch changed its input for {body}");
    match &result {
        Ok(patched) => {
            assert_eq!(patched.get("_id"), doc.get("_id"), "_id changed by {body}");
            assert_eq!(
                patched.get("_meta"),
                doc.get("_meta"),
                "_meta changed by {body}"
            );
            if ops.iter().all(|op| matches!(op, PatchOp::Test { .. })) {
                assert_eq!(
                    patched, doc,
                    "a test-only patch changed the document: {body}"
                );
            }
            check_depth(patched, &body);
        }
        Err(e) => check_error(e, "apply", &body),
    }
    // All or nothing, and deterministic: the same patch gives the same answer.
    assert_eq!(apply_patch(doc, &ops), result, "not deterministic: {body}");
});
