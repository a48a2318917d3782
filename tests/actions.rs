//! Actions over a real socket: their own right (`rights.actions.<name>`,
//! else `modify`), declared parameters checked with `$.path` errors, writes
//! through the writer as the caller in one transaction (an error undoes
//! them all), and their place in `_meta` and OpenAPI.

mod support;

use refdb::Tx;
use refdb::server::auth::{Auth, sha256_hex};
use refdb::server::{ActionCall, ActionDef, ApiError, Builder, Limits};
use serde_json::json;
use support::TestServer;

fn schema() -> String {
    let h = sha256_hex;
    format!(
        r#"{{
  "app": "a",
  "auth": {{"users": {{
      "admin": {{"_id": "u-admin", "roles": ["admin"], "api_key_sha256": "{}"}},
      "bob":   {{"_id": "u-bob", "roles": ["staff"], "api_key_sha256": "{}"}}
  }}}},
  "collections": {{
    "docs": {{
      "rights": {{"read": ["*"], "create": ["*"], "modify": ["admin", "staff"],
                 "actions": {{"promote": ["admin"]}}}},
      "fields": {{"title": {{"type": "string"}}, "level": {{"type": "int", "index": true}}}}
    }}
  }}
}}"#,
        h("admin-key"),
        h("bob-key")
    )
}

fn start() -> TestServer {
    let s = schema();
    let parsed = refdb::Schema::parse(&s).unwrap();
    let auth = Auth::from_config(parsed.auth.as_ref().unwrap(), |_| None).unwrap();
    TestServer::start_with(&s, Limits::default(), |b: Builder| {
        b.auth(auth)
            .action_def(
                "docs",
                "promote",
                ActionDef::new(|call, tx| {
                    let level = call.params["level"].clone();
                    tx.update(
                        call.coll,
                        call.id,
                        json!({"level": level}).as_object().unwrap().clone(),
                    )?;
                    Ok(json!({"by": call.caller.map(|p| p.login.clone()), "level": level}))
                })
                .params(json!({
                    "level": {"type": "int", "min": 1, "max": 5, "required": true},
                    "note": {"type": "string"}
                })),
            )
            .action(
                "docs",
                "touch_then_fail",
                |call: &ActionCall<'_>, tx: &mut Tx<'_>| {
                    tx.update(
                        call.coll,
                        call.id,
                        json!({"title": "touched"}).as_object().unwrap().clone(),
                    )?;
                    tx.create("docs", json!({"_id": "extra"}).as_object().unwrap().clone())?;
                    Err(ApiError::bad_request("nope", "changed my mind"))
                },
            )
    })
}

#[test]
fn an_action_checks_its_right_and_params_and_writes_as_the_caller() {
    let s = start();
    let r = s.send_as(
        "POST",
        "/a/coll/docs",
        Some("bob-key"),
        Some(&json!({"_id": "d1", "title": "t"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let path = "/a/coll/docs/_actions/promote/d1";
    let body = json!({"level": 3});
    assert_eq!(s.send_as("POST", path, None, Some(&body)).status, 401);
    // Bob may modify documents, but promote has its own right.
    let r = s.send_as("POST", path, Some("bob-key"), Some(&body));
    assert_eq!(r.status, 403, "{}", r.text());
    // Parameters are checked before anything runs.
    for (bad, at) in [
        (json!({"level": 9}), "$.level"),
        (json!({}), "$.level"),
        (json!({"level": "x"}), "$.level"),
        (json!({"level": 2, "other": 1}), "$.other"),
        (json!([1]), "$"),
    ] {
        let r = s.send_as("POST", path, Some("admin-key"), Some(&bad));
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert_eq!(r.error_path().as_deref(), Some(at), "{bad}");
    }
    let (requests, _) = s.server.write_stats();
    let r = s.send_as("POST", path, Some("admin-key"), Some(&body));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"by": "admin", "level": 3}));
    // Through the writer, stamped with the caller.
    assert_eq!(s.server.write_stats().0, requests + 1);
    let d = s
        .send_as("GET", "/a/coll/docs/d1", Some("admin-key"), None)
        .json();
    assert_eq!(d["level"], json!(3));
    assert_eq!(d["_meta"]["modified_by"]["_id"], json!("u-admin"));
    // Unknown document, unknown action.
    assert_eq!(
        s.send_as(
            "POST",
            "/a/coll/docs/_actions/promote/zz",
            Some("admin-key"),
            Some(&body)
        )
        .status,
        404
    );
    assert_eq!(
        s.send_as(
            "POST",
            "/a/coll/docs/_actions/nope/d1",
            Some("admin-key"),
            Some(&body)
        )
        .status,
        404
    );
}

#[test]
fn a_failing_action_undoes_all_its_writes() {
    let s = start();
    s.send_as(
        "POST",
        "/a/coll/docs",
        Some("bob-key"),
        Some(&json!({"_id": "d1", "title": "t"})),
    );
    // Without a declared right, an action needs `modify`: Bob has it.
    let r = s.send_as(
        "POST",
        "/a/coll/docs/_actions/touch_then_fail/d1",
        Some("bob-key"),
        None,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code(), "nope");
    let d = s
        .send_as("GET", "/a/coll/docs/d1", Some("bob-key"), None)
        .json();
    assert_eq!(d["title"], json!("t"));
    assert_eq!(
        s.send_as("GET", "/a/coll/docs/extra", Some("bob-key"), None)
            .status,
        404
    );
}

#[test]
fn actions_are_described_in_meta_and_openapi() {
    let s = start();
    let meta = s.send_as("GET", "/a/_meta", Some("bob-key"), None).json();
    let actions = &meta["collections"][0]["actions"];
    let promote = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "promote")
        .unwrap();
    assert_eq!(promote["params"]["level"]["max"], json!(5));
    assert_eq!(
        promote["rights"]["run"],
        json!(false),
        "Bob may not promote"
    );
    let api = s.get("/a/openapi").json();
    let body = &api["paths"]["/a/coll/docs/_actions/promote/{id}"]["post"]["requestBody"];
    let schema = &body["content"]["application/json"]["schema"];
    assert_eq!(schema["required"], json!(["level"]));
    assert!(schema["properties"]["level"].is_object(), "{schema}");
    assert!(schema["properties"].get("_id").is_none());
}

#[test]
fn bad_parameter_declarations_are_refused_at_build() {
    let dir = tempfile::tempdir().unwrap();
    let store = refdb::Store::open(dir.path().join("b.db"), None).unwrap();
    let engine = refdb::Engine::new(std::sync::Arc::new(store)).unwrap();
    let e = refdb::Server::builder(engine)
        .action_def(
            "users",
            "x",
            ActionDef::new(|_, _| Ok(json!(null))).params(json!({"n": {"type": "integr"}})),
        )
        .build()
        .err()
        .expect("refused");
    assert!(e.to_string().contains("$.n"), "{e}");
}
