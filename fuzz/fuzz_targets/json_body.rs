//! Fuzz target: a request body on its way to validation.
//!
//! Bytes go through the same steps as a document body in the server
//! (`src/server/body.rs`: `decode` — all-whitespace is no body, otherwise
//! serde_json into a `Value` — then `object`, which requires a JSON object)
//! and the object is validated with `validate_document` against the `users`
//! collection of `Schema::demo()`, which has a field of every type (string
//! with search, int with min/max, bool with a default, float, list with a
//! max length, datetime, dict, ref). Checked:
//! - nothing panics (deep nesting, huge numbers, odd strings, any keys);
//! - every `Invalid` has a path starting with `$` and a message;
//! - validation is deterministic.
//!
//! The two body steps are copied rather than called: they live in the
//! server crate, whose dependencies (tokio, hyper) this workspace does not
//! need. Keep them in step with `body::decode` / `body::object`.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use refdb_storage::Schema;
use refdb_storage::schema::validate::validate_document;
use serde_json::{Map, Value};

static SCHEMA: LazyLock<Schema> = LazyLock::new(Schema::demo);

/// `body::decode` then `body::object`: `None` where the server answers 400.
fn body_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return None; // no body: "the body must be a JSON object"
    }
    match serde_json::from_slice(bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(doc) = body_object(data) else {
        return;
    };
    let users = SCHEMA
        .collection("users")
        .expect("the demo schema has users");
    let problems = validate_document(users, &doc);
    for p in &problems {
        assert!(p.path.starts_with('$'), "path without $: {p:?} in {doc:?}");
        assert!(!p.message.is_empty(), "empty message: {p:?} in {doc:?}");
    }
    assert_eq!(
        validate_document(users, &doc),
        problems,
        "not deterministic"
    );
});
