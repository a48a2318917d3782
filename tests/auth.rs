//! Authentication and rights over a real socket: the 401/403/200 table for
//! every route kind × credential kind (none, unknown API key, wrong role,
//! right role, valid JWT, expired JWT, JWT with a bad signature), field
//! hiding in reads, lists, filters and sorts (a filter on a hidden field is
//! a 400, never an oracle), field modify rights, `_meta.created_by` from the
//! principal, `POST …/_meta` rights for the caller, and the loopback rule.

mod support;

use jsonwebtoken::{EncodingKey, Header, encode};
use refdb::server::auth::{Auth, sha256_hex};
use refdb::server::{Builder, Limits};
use serde_json::{Value, json};
use support::TestServer;

const SECRET: &str = "test-secret-of-at-least-32-bytes!!";

fn schema() -> String {
    let h = sha256_hex;
    format!(
        r#"{{
  "app": "s",
  "auth": {{
    "users": {{
      "admin": {{"_id": "u-admin", "roles": ["admin"], "api_key_sha256": "{}"}},
      "bob":   {{"_id": "u-bob", "roles": ["staff"], "api_key_sha256": "{}"}},
      "eve":   {{"_id": "u-eve", "roles": ["guest"], "api_key_sha256": "{}"}}
    }},
    "jwt": {{"secret_env": "T_JWT_SECRET", "issuer": "tests"}}
  }},
  "collections": {{
    "docs": {{
      "rights": {{"read": ["admin", "staff"], "create": ["admin", "staff"],
                 "modify": ["admin", "staff"], "delete": ["admin"]}},
      "fields": {{
        "title":  {{"type": "string", "index": true}},
        "hidden": {{"type": "string", "search": true, "rights": {{"read": ["admin"], "modify": ["admin"]}}}},
        "score":  {{"type": "int", "index": true, "rights": {{"read": ["admin"]}}}}
      }},
      "selections": {{"all": {{"filter": ""}}}}
    }},
    "open": {{
      "rights": {{"read": ["*", "anonymous"], "create": ["*"]}},
      "fields": {{"x": {{"type": "string"}}}}
    }}
  }}
}}"#,
        h("admin-key"),
        h("bob-key"),
        h("eve-key")
    )
}

fn start() -> TestServer {
    let s = schema();
    let parsed = refdb::Schema::parse(&s).expect("schema");
    let auth = Auth::from_config(parsed.auth.as_ref().unwrap(), |name| {
        (name == "T_JWT_SECRET").then(|| SECRET.to_string())
    })
    .expect("auth");
    TestServer::start_with(&s, Limits::default(), |b: Builder| {
        b.auth(auth).action(
            "docs",
            "ping",
            |call: &refdb::server::ActionCall<'_>, _: &mut refdb::Tx<'_>| {
                Ok(json!({"pong": call.id}))
            },
        )
    })
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn jwt(sub: &str, roles: &[&str], exp: u64, secret: &str) -> String {
    encode(
        &Header::default(),
        &json!({"sub": sub, "roles": roles, "exp": exp, "iss": "tests"}),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Cred {
    None,
    BadKey,
    WrongRole,
    RightRole,
    JwtValid,
    JwtExpired,
    JwtBadSig,
}

fn token(c: Cred) -> Option<String> {
    match c {
        Cred::None => None,
        Cred::BadKey => Some("not-a-key".into()),
        Cred::WrongRole => Some("eve-key".into()),
        Cred::RightRole => Some("admin-key".into()),
        Cred::JwtValid => Some(jwt("admin", &["admin"], now() + 600, SECRET)),
        Cred::JwtExpired => Some(jwt("admin", &["admin"], now() - 600, SECRET)),
        Cred::JwtBadSig => Some(jwt(
            "admin",
            &["admin"],
            now() + 600,
            "another-secret-of-32-bytes-or-more",
        )),
    }
}

const CREDS: [Cred; 7] = [
    Cred::None,
    Cred::BadKey,
    Cred::WrongRole,
    Cred::RightRole,
    Cred::JwtValid,
    Cred::JwtExpired,
    Cred::JwtBadSig,
];

#[test]
fn status_table_for_every_route_kind() {
    let s = start();
    let admin = Some("admin-key");
    let r = s.send_as(
        "POST",
        "/s/coll/docs",
        admin,
        Some(&json!({"_id": "d0", "title": "t"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    for i in 0..CREDS.len() {
        let r = s.send_as(
            "POST",
            "/s/coll/docs",
            admin,
            Some(&json!({"_id": format!("del{i}")})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    // (name, method, path (`{i}` = credential index), body, success status,
    // status without credentials, status for the wrong role)
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        Option<Value>,
        u16,
        u16,
        u16,
    );
    let rows: Vec<Row> = vec![
        ("list", "GET", "/s/coll/docs", None, 200, 401, 403),
        ("read", "GET", "/s/coll/docs/d0", None, 200, 401, 403),
        (
            "create",
            "POST",
            "/s/coll/docs",
            Some(json!({"title": "n"})),
            201,
            401,
            403,
        ),
        (
            "put",
            "PUT",
            "/s/coll/docs/d0",
            Some(json!({"title": "u"})),
            200,
            401,
            403,
        ),
        (
            "patch",
            "PATCH",
            "/s/coll/docs/d0",
            Some(json!([{"op": "replace", "path": "$.title", "value": "p"}])),
            200,
            401,
            403,
        ),
        (
            "delete",
            "DELETE",
            "/s/coll/docs/del{i}",
            None,
            200,
            401,
            403,
        ),
        (
            "dry-run delete",
            "DELETE",
            "/s/coll/docs/d0?_dry_run=1",
            None,
            200,
            401,
            403,
        ),
        (
            "batch",
            "POST",
            "/s/_batch",
            Some(
                json!({"ops": [{"op": "update", "coll": "docs", "id": "d0", "doc": {"title": "b"}}]}),
            ),
            200,
            401,
            403,
        ),
        (
            "selection",
            "GET",
            "/s/coll/docs/_selections/all",
            None,
            200,
            401,
            403,
        ),
        (
            "check",
            "POST",
            "/s/coll/docs/_check",
            Some(json!({"item": {"title": "x"}, "path": "$.title"})),
            200,
            401,
            403,
        ),
        (
            "action",
            "POST",
            "/s/coll/docs/_actions/ping/d0",
            None,
            200,
            401,
            403,
        ),
        // Everyone may ask what they may do; bad credentials are still 401.
        (
            "coll meta",
            "POST",
            "/s/coll/docs/_meta",
            None,
            200,
            200,
            200,
        ),
        ("app meta", "GET", "/s/_meta", None, 200, 200, 200),
        ("open list", "GET", "/s/coll/open", None, 200, 200, 200),
        ("openapi", "GET", "/s/openapi", None, 200, 200, 200),
    ];
    let mut failures = Vec::new();
    for (name, method, path, body, ok, anon, wrong) in &rows {
        for (i, cred) in CREDS.iter().enumerate() {
            let path = path.replace("{i}", &i.to_string());
            let t = token(*cred);
            let r = s.send_as(method, &path, t.as_deref(), body.as_ref());
            let want = match cred {
                Cred::None => *anon,
                Cred::BadKey | Cred::JwtExpired | Cred::JwtBadSig => 401,
                Cred::WrongRole => *wrong,
                Cred::RightRole | Cred::JwtValid => *ok,
            };
            if r.status != want {
                failures.push(format!(
                    "{name} {cred:?}: {} (want {want}) {}",
                    r.status,
                    r.text()
                ));
                continue;
            }
            if r.status == 401 {
                assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"refdb\""));
                assert_eq!(r.error_code(), "unauthorized", "{name} {cred:?}");
            }
            if r.status == 403 {
                assert_eq!(r.error_code(), "forbidden", "{name} {cred:?}");
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Messages say why a token was refused.
    let r = s.send_as(
        "GET",
        "/s/coll/docs",
        token(Cred::JwtExpired).as_deref(),
        None,
    );
    assert!(r.text().contains("expired"), "{}", r.text());
    let r = s.send_as("GET", "/s/coll/open", Some("x"), None);
    assert_eq!(
        r.status, 401,
        "bad credentials are never downgraded to anonymous"
    );
}

#[test]
fn hidden_fields_never_leave_or_match() {
    let s = start();
    let (admin, bob) = (Some("admin-key"), Some("bob-key"));
    let doc = json!({"_id": "a", "title": "one", "hidden": "s3cret", "score": 7});
    let r = s.send_as("POST", "/s/coll/docs", admin, Some(&doc));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["hidden"], "s3cret");
    assert_eq!(
        r.json()["_meta"]["created_by"],
        json!({"_id": "u-admin", "login": "admin"})
    );
    // Reads and lists.
    let r = s.send_as("GET", "/s/coll/docs/a", bob, None);
    let d = r.json();
    assert_eq!(d["title"], "one");
    assert!(d.get("hidden").is_none() && d.get("score").is_none(), "{d}");
    let admin_tag = s.send_as("GET", "/s/coll/docs/a", admin, None);
    assert_ne!(r.header("etag"), admin_tag.header("etag"));
    let r = s.send_as("GET", "/s/coll/docs", bob, None);
    let d = &r.json()["result"][0];
    assert!(d.get("hidden").is_none() && d.get("score").is_none(), "{d}");
    let r = s.send_as("GET", "/s/coll/docs/_selections/all", bob, None);
    assert!(
        r.json()["result"][0].get("hidden").is_none(),
        "{}",
        r.text()
    );
    // Filters, sorts and projections on hidden fields are unknown fields.
    for (q, key) in [
        ("hidden.$re=.", "$.hidden.$re"),
        ("hidden=s3cret", "$.hidden"),
        ("score.$gt=5", "$.score.$gt"),
        ("_sort=-score", "$._sort"),
        ("_fields=hidden", "$._fields"),
    ] {
        let r = s.send_as("GET", &format!("/s/coll/docs?{q}"), bob, None);
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        assert_eq!(r.error_path().as_deref(), Some(key), "{q}");
        let r = s.send_as("GET", &format!("/s/coll/docs?{q}"), admin, None);
        assert_eq!(r.status, 200, "{q} as admin: {}", r.text());
    }
    let r = s.send_as("GET", "/s/coll/docs?hidden.$re=s3", admin, None);
    assert_eq!(r.json()["total"], 1);
    // Writes to fields without the modify right: 403 naming the field.
    let r = s.send_as("PUT", "/s/coll/docs/a", bob, Some(&json!({"hidden": "x"})));
    assert_eq!(
        (r.status, r.error_path().as_deref()),
        (403, Some("$.hidden")),
        "{}",
        r.text()
    );
    let r = s.send_as("POST", "/s/coll/docs", bob, Some(&json!({"hidden": "x"})));
    assert_eq!(
        (r.status, r.error_path().as_deref()),
        (403, Some("$.hidden")),
        "{}",
        r.text()
    );
    // `score` declares no modify right: bob may write what he cannot read.
    let r = s.send_as(
        "POST",
        "/s/coll/docs",
        bob,
        Some(&json!({"_id": "b", "score": 1})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.json().get("score").is_none(), "{}", r.text());
    s.send_as("DELETE", "/s/coll/docs/b", admin, None);
    let probe = json!([{"op": "test", "path": "$.hidden", "value": "s3cret"}]);
    let r = s.send_as("PATCH", "/s/coll/docs/a", bob, Some(&probe));
    assert_eq!(
        (r.status, r.error_path().as_deref()),
        (403, Some("$.hidden")),
        "{}",
        r.text()
    );
    let batch =
        json!({"ops": [{"op": "update", "coll": "docs", "id": "a", "doc": {"hidden": "x"}}]});
    let r = s.send_as("POST", "/s/_batch", bob, Some(&batch));
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_path().as_deref(), Some("$.ops[0].doc.hidden"));
    // An allowed write by bob keeps the hidden value and records bob.
    let r = s.send_as("PUT", "/s/coll/docs/a", bob, Some(&json!({"title": "two"})));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json().get("hidden").is_none());
    assert_eq!(
        r.json()["_meta"]["modified_by"],
        json!({"_id": "u-bob", "login": "bob"})
    );
    assert_eq!(r.json()["_meta"]["created_by"]["login"], "admin");
    let r = s.send_as("GET", "/s/coll/docs/a", admin, None);
    assert_eq!(r.json()["hidden"], "s3cret");
    // A JWT user not declared in `auth.users` writes as its `sub`.
    let t = jwt("carol", &["staff"], now() + 600, SECRET);
    let r = s.send_as(
        "POST",
        "/s/coll/docs",
        Some(&t),
        Some(&json!({"title": "c"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.json()["_meta"]["created_by"],
        json!({"_id": "carol", "login": "carol"})
    );
    // `_meta` evaluates the rights for the caller.
    let m = s.send_as("POST", "/s/coll/docs/_meta", bob, None).json();
    assert_eq!(
        m["rights"],
        json!({"read": true, "create": true, "modify": true, "delete": false})
    );
    assert_eq!(
        m["sub_scheme"]["hidden"]["rights"],
        json!({"read": false, "modify": false})
    );
    assert_eq!(
        m["sub_scheme"]["title"]["rights"],
        json!({"read": true, "modify": true})
    );
    let m = s.send_as("POST", "/s/coll/docs/_meta", None, None).json();
    assert_eq!(m["rights"]["read"], false);
    let app = s.send_as("GET", "/s/_meta", Some("eve-key"), None).json();
    assert_eq!(app["collections"][0]["rights"]["read"], false);
    assert_eq!(app["collections"][1]["rights"]["create"], true);
}

#[test]
fn open_collection_roles_and_anonymous_writer() {
    let s = start();
    // `create: ["*"]`: any authenticated user, not anonymous.
    let r = s.send_as("POST", "/s/coll/open", None, Some(&json!({"x": "a"})));
    assert_eq!(r.status, 401, "{}", r.text());
    let r = s.send_as(
        "POST",
        "/s/coll/open",
        Some("eve-key"),
        Some(&json!({"x": "a"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["_meta"]["created_by"]["_id"], "u-eve");
    // No `modify` declared: everyone, anonymous included.
    let id = r.json()["_id"].as_str().unwrap().to_string();
    let r = s.send_as(
        "PUT",
        &format!("/s/coll/open/{id}"),
        None,
        Some(&json!({"x": "b"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["_meta"]["modified_by"]["login"], "ANONYMOUS");
}

#[test]
fn jwt_secret_must_be_in_the_environment() {
    let parsed = refdb::Schema::parse(&schema()).unwrap();
    let e = Auth::from_config(parsed.auth.as_ref().unwrap(), |_| None)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("T_JWT_SECRET"), "{e}");
    assert!(Auth::from_config(parsed.auth.as_ref().unwrap(), |_| Some("short".into())).is_err());
}

#[test]
fn loopback_rule() {
    use refdb::config::check_listen;
    assert!(check_listen("127.0.0.1:0", false, false).is_ok());
    assert!(check_listen("[::1]:0", false, false).is_ok());
    let e = check_listen("0.0.0.0:0", false, false).unwrap_err();
    assert!(e.contains("no authentication"), "{e}");
    assert!(
        check_listen("0.0.0.0:0", false, true).is_ok(),
        "--insecure-listen"
    );
    assert!(
        check_listen("0.0.0.0:0", true, false).is_ok(),
        "auth configured"
    );
}

#[test]
fn metrics_need_credentials_when_auth_is_configured() {
    let s = start();
    assert_eq!(s.get("/metrics").status, 401);
    let r = s.request(
        "GET",
        "/metrics",
        &[("Authorization", "Bearer eve-key")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("refdb_documents{coll=\"docs\"}"));
    let r = s.request(
        "GET",
        "/metrics",
        &[("Authorization", "Bearer wrong")],
        None,
    );
    assert_eq!(r.status, 401);
}
