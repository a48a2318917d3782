//! The change feed over a real socket: commit order and transaction
//! grouping (cascades and batches included, failed requests absent),
//! `since`/`limit`/`last_seq` resumption, `include_docs`, the collection
//! feed, long poll (wakes on the next commit, or times out empty), bad
//! parameters, records past the retention, and rights.

mod support;

use refdb::server::auth::{Auth, sha256_hex};
use refdb::server::{Builder, Limits};
use serde_json::{Value, json};
use support::TestServer;

fn feed(s: &TestServer, query: &str) -> Value {
    let r = s.get(&format!("/t/_changes?{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn ops(v: &Value) -> Vec<(String, String, String)> {
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["op"].as_str().unwrap().to_string(),
                c["coll"].as_str().unwrap().to_string(),
                c["_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn own(v: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    v.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[test]
fn the_feed_lists_commits_in_order_one_txn_each() {
    let s = TestServer::start();
    s.create("sites", json!({"_id": "s1", "name": "Site"}));
    let r = s.post(
        "/t/_batch",
        &json!({"ops": [
            {"op": "create", "coll": "rooms", "doc": {"_id": "r1", "name": "A", "site": "s1"}},
            {"op": "create", "coll": "rooms", "doc": {"_id": "r2", "name": "B", "site": "s1"}}
        ]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Refused: an invalid document, and a batch whose second op fails.
    assert_eq!(s.post("/t/coll/users", &json!({"age": "old"})).status, 400);
    let r = s.post(
        "/t/_batch",
        &json!({"ops": [
            {"op": "create", "coll": "rooms", "doc": {"_id": "r3", "name": "C", "site": "s1"}},
            {"op": "create", "coll": "rooms", "doc": {"_id": "r4", "name": "D", "site": "nope"}}
        ]}),
    );
    assert_ne!(r.status, 200, "{}", r.text());
    assert_eq!(
        s.put("/t/coll/rooms/r1", &json!({"name": "A2"})).status,
        200
    );
    // The cascade: the site and both rooms, in one transaction.
    assert_eq!(s.delete("/t/coll/sites/s1").status, 200);

    let all = feed(&s, "include_docs=1");
    let mut seen = ops(&all);
    let cascade = seen.split_off(4);
    assert_eq!(
        seen,
        own(&[
            ("create", "sites", "s1"),
            ("create", "rooms", "r1"),
            ("create", "rooms", "r2"),
            ("update", "rooms", "r1"),
        ])
    );
    let mut cascade_ids: Vec<_> = cascade.iter().map(|c| c.2.clone()).collect();
    cascade_ids.sort();
    assert_eq!(cascade_ids, ["r1", "r2", "s1"]);
    assert!(cascade.iter().all(|c| c.0 == "delete"));
    let changes = all["changes"].as_array().unwrap();
    let txn = |i: usize| changes[i]["txn"].as_u64().unwrap();
    assert_eq!(txn(1), txn(2), "a batch is one transaction");
    assert_ne!(txn(0), txn(1));
    assert!(
        (5..changes.len()).all(|i| txn(i) == txn(4)),
        "the cascade too"
    );
    let seqs: Vec<u64> = changes.iter().map(|c| c["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(all["last_seq"], json!(seqs[seqs.len() - 1]));
    // Documents after each change; none for a delete.
    assert_eq!(changes[1]["doc"]["name"], "A");
    assert_eq!(changes[3]["doc"]["name"], "A2");
    assert!(changes[3]["doc"]["_meta"]["mtime"].is_string());
    assert!(changes[5]["doc"].is_null());
    assert!(feed(&s, "")["changes"][0].get("doc").is_none());

    // Paging by `since` and `limit` gives the same records, none twice.
    let mut paged = Vec::new();
    let mut since = 0;
    loop {
        let page = feed(&s, &format!("since={since}&limit=2"));
        let n = page["changes"].as_array().unwrap().len();
        if n == 0 {
            assert_eq!(page["last_seq"], json!(since));
            break;
        }
        assert!(n <= 2);
        paged.extend(ops(&page));
        since = page["last_seq"].as_u64().unwrap();
    }
    assert_eq!(paged, ops(&all));
    // The collection feed.
    let rooms = s.get("/t/coll/rooms/_changes").json();
    assert!(ops(&rooms).iter().all(|c| c.1 == "rooms"));
    assert_eq!(ops(&rooms).len(), 5);
}

#[test]
fn long_poll_wakes_on_the_next_commit_or_times_out_empty() {
    let s = TestServer::start();
    s.create("sites", json!({"_id": "s1"}));
    let end = feed(&s, "since=now")["last_seq"].as_u64().unwrap();
    assert_eq!(end, 1);
    // Nothing new: an empty answer at the timeout.
    let r = feed(&s, &format!("since={end}&feed=longpoll&timeout=50"));
    assert_eq!(r["changes"], json!([]));
    assert_eq!(r["last_seq"], json!(end));
    // A write while the poll waits: it answers with that write.
    let addr = s.addr;
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let body = r#"{"_id":"s2"}"#;
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        use std::io::{Read, Write};
        write!(
            c,
            "POST /t/coll/sites HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 201"), "{out}");
    });
    // Woken by the write: a poll that ran to its timeout would answer no
    // change.
    let r = feed(&s, &format!("since={end}&feed=longpoll&timeout=20000"));
    writer.join().unwrap();
    assert_eq!(ops(&r), own(&[("create", "sites", "s2")]));
}

#[test]
fn bad_parameters_are_400s_naming_them() {
    let s = TestServer::start();
    for (q, path) in [
        ("since=-1", "$.since"),
        ("since=abc", "$.since"),
        ("limit=0", "$.limit"),
        ("limit=x", "$.limit"),
        ("feed=sse2", "$.feed"),
        ("timeout=soon", "$.timeout"),
        ("include_docs=maybe", "$.include_docs"),
        ("color=red", "$.color"),
    ] {
        let r = s.get(&format!("/t/_changes?{q}"));
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        assert_eq!(r.error_path().as_deref(), Some(path), "{q}");
    }
    // A seq ahead of this log (another database's) conflicts with it.
    let r = s.get("/t/_changes?since=99");
    assert_eq!((r.status, r.error_code().as_str()), (409, "since_ahead"));
    assert_eq!(s.get("/t/coll/nope/_changes").status, 404);
    assert_eq!(s.post("/t/_changes", &json!({})).status, 405);
}

#[test]
fn records_past_the_retention_are_410() {
    let dir = tempfile::tempdir().unwrap();
    let opts = refdb::refdb_storage::OpenOptions {
        schema: Some(refdb::Schema::parse(support::TEST_SCHEMA).unwrap()),
        changes_retention: refdb::refdb_storage::Retention::parse("2").unwrap(),
        ..Default::default()
    };
    let store =
        std::sync::Arc::new(refdb::Store::open_with(dir.path().join("r.db"), opts).unwrap());
    for i in 0..5 {
        store
            .create("sites", json!({"name": i}).as_object().unwrap().clone())
            .unwrap_err();
        store
            .create(
                "sites",
                json!({"name": format!("s{i}")})
                    .as_object()
                    .unwrap()
                    .clone(),
            )
            .unwrap();
    }
    let s = TestServer::start_on(store);
    let r = s.get("/t/_changes?since=1");
    assert_eq!(r.status, 410, "{}", r.text());
    assert_eq!(r.error_code(), "changes_expired");
    // From the oldest kept: the last two.
    assert_eq!(feed(&s, "since=0")["changes"].as_array().unwrap().len(), 2);
    assert_eq!(feed(&s, "since=3")["changes"].as_array().unwrap().len(), 2);
}

#[test]
fn the_feed_shows_only_what_the_caller_may_read() {
    let schema = format!(
        r#"{{"app": "t", "auth": {{"users": {{
            "admin": {{"_id": "u1", "roles": ["admin"], "api_key_sha256": "{}"}},
            "bob":   {{"_id": "u2", "roles": ["staff"], "api_key_sha256": "{}"}}}}}},
          "collections": {{
            "docs": {{"rights": {{"read": ["admin", "staff"], "create": ["admin"]}},
              "fields": {{"title": {{"type": "string"}},
                         "secret": {{"type": "string", "rights": {{"read": ["admin"]}}}}}}}},
            "vault": {{"rights": {{"read": ["admin"], "create": ["admin"]}},
              "fields": {{"x": {{"type": "string"}}}}}}}}}}"#,
        sha256_hex("admin-key"),
        sha256_hex("bob-key")
    );
    let parsed = refdb::Schema::parse(&schema).unwrap();
    let auth = Auth::from_config(parsed.auth.as_ref().unwrap(), |_| None).unwrap();
    let s = TestServer::start_with(&schema, Limits::default(), |b: Builder| b.auth(auth));
    let admin = [("Authorization", "Bearer admin-key")];
    let bob = [("Authorization", "Bearer bob-key")];
    let body = json!({"title": "t", "secret": "s"}).to_string();
    let r = s.request("POST", "/t/coll/docs", &admin, Some(body.as_bytes()));
    assert_eq!(r.status, 201, "{}", r.text());
    let body = json!({"x": "gold"}).to_string();
    let r = s.request("POST", "/t/coll/vault", &admin, Some(body.as_bytes()));
    assert_eq!(r.status, 201, "{}", r.text());

    let as_bob = s.request("GET", "/t/_changes?include_docs=1", &bob, None);
    assert_eq!(as_bob.status, 200, "{}", as_bob.text());
    let v = as_bob.json();
    assert_eq!(ops(&v).len(), 1, "{v}");
    assert_eq!(v["changes"][0]["coll"], "docs");
    assert_eq!(v["changes"][0]["doc"]["title"], "t");
    assert!(v["changes"][0]["doc"].get("secret").is_none(), "{v}");
    assert_eq!(v["last_seq"], 2, "the vault record was scanned, not shown");
    let r = s.request("GET", "/t/coll/vault/_changes", &bob, None);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        s.get("/t/_changes").status,
        200,
        "anonymous: nothing readable"
    );
    assert_eq!(s.get("/t/_changes").json()["changes"], json!([]));
    let as_admin = s
        .request("GET", "/t/_changes?include_docs=1", &admin, None)
        .json();
    assert_eq!(ops(&as_admin).len(), 2);
    assert_eq!(as_admin["changes"][0]["doc"]["secret"], "s");
}

#[test]
fn a_filtered_feed_shows_documents_entering_and_leaving_the_filter() {
    let s = TestServer::start();
    s.create("users", json!({"_id": "a", "name": "A", "age": 20}));
    s.create("users", json!({"_id": "b", "name": "B", "age": 40}));
    assert_eq!(s.put("/t/coll/users/a", &json!({"age": 35})).status, 200);
    assert_eq!(s.put("/t/coll/users/b", &json!({"age": 10})).status, 200);
    assert_eq!(s.put("/t/coll/users/b", &json!({"name": "B2"})).status, 200);
    assert_eq!(s.delete("/t/coll/users/a").status, 200);
    let r = s.get("/t/coll/users/_changes?age.$gte=30&include_docs=1");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let seen: Vec<(String, String, bool, bool)> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["op"].as_str().unwrap().to_string(),
                c["_id"].as_str().unwrap().to_string(),
                c["before"].as_bool().unwrap(),
                c["after"].as_bool().unwrap(),
            )
        })
        .collect();
    let want = [
        ("create", "b", false, true),
        ("update", "a", false, true),
        ("update", "b", true, false),
        ("delete", "a", true, false),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(o, i, b, a)| (o.to_string(), i.to_string(), *b, *a))
        .collect();
    assert_eq!(seen, want);
    assert_eq!(v["last_seq"], 6, "the records left out were read");
    // What a filter cannot judge from a change: 400 naming the key.
    for (q, path) in [
        ("_sort=age", "$._sort"),
        ("age.$gte=1&_page=3", "$._page"),
        ("nope=1", "$.nope"),
    ] {
        let r = s.get(&format!("/t/coll/users/_changes?{q}"));
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        assert_eq!(r.error_path().as_deref(), Some(path), "{q}");
    }
    let r = s.get("/t/coll/addrs/_changes?users.$exists=true");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("derived reference list"), "{}", r.text());
    // The app feed takes no filter.
    assert_eq!(s.get("/t/_changes?age=3").status, 400);
}

/// A record's document is shaped as GET serves it (schema order, unset
/// fields null), less the derived reference lists a record cannot know.
#[test]
fn feed_documents_are_shaped_as_get_serves_them() {
    let s = TestServer::start();
    s.create("sites", json!({"_id": "s9"}));
    s.create("rooms", json!({"_id": "r9", "site": "s9", "name": "R"}));
    let changes = feed(&s, "include_docs=1")["changes"].clone();
    let doc_of = |id: &str| {
        changes
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["_id"] == id)
            .unwrap()["doc"]
            .clone()
    };
    let mut site = s.get("/t/coll/sites/s9").json();
    assert_eq!(site["rooms"], json!(["r9"]), "GET has the derived list");
    site.as_object_mut().unwrap().shift_remove("rooms");
    assert_eq!(doc_of("s9"), site);
    assert_eq!(doc_of("s9")["name"], Value::Null, "unset, shown as null");
    let room = s.get("/t/coll/rooms/r9").json();
    assert_eq!(doc_of("r9"), room);
    // In the served order, not only equal as maps.
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&doc_of("r9")), keys(&room));
}
