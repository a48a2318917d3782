//! The admin page's files as HTTP serves them, and `_batch?_dry_run=1`,
//! which the page's bulk changes and imports rehearse with. (The page
//! itself runs in a browser: `admin_browser.rs`.)

mod support;

use serde_json::json;
use support::TestServer;

#[test]
fn root_redirects_to_the_page_which_names_its_app() {
    let s = TestServer::start();
    let r = s.get("/");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/_admin/"));
    assert_eq!(s.get("/_admin").header("location"), Some("/_admin/"));

    let page = s.get("/_admin/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.text()
            .contains(r#"<meta name="refdb-app" content="t">"#)
    );
    // Only this origin's scripts, styles and connections.
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );

    // A view's URL (a shared link, a reload) serves the page itself.
    let deep = s.get("/_admin/users/u1?name.$re=x");
    assert_eq!((deep.status, deep.text()), (200, page.text()));
}

#[test]
fn assets_are_served_with_types_and_revalidated_by_etag() {
    let s = TestServer::start();
    for (file, ty) in [
        ("admin.js", "text/javascript; charset=utf-8"),
        ("table.js", "text/javascript; charset=utf-8"),
        ("admin.css", "text/css; charset=utf-8"),
    ] {
        let r = s.get(&format!("/_admin/{file}"));
        assert_eq!(
            (r.status, r.header("content-type")),
            (200, Some(ty)),
            "{file}"
        );
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        let etag = r.header("etag").unwrap().to_string();
        let again = s.request(
            "GET",
            &format!("/_admin/{file}"),
            &[("If-None-Match", &etag)],
            None,
        );
        assert_eq!(again.status, 304, "{file}");
        assert!(again.body.is_empty());
    }
    // Every module the page imports is served (no 404 hiding behind the
    // page's fallback).
    let page = s.get("/_admin/").text();
    for module in page.split("href=\"/_admin/").skip(1) {
        let name = module.split('"').next().unwrap();
        if name.is_empty() {
            continue; // the page's own link
        }
        let r = s.get(&format!("/_admin/{name}"));
        assert_ne!(
            r.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{name}"
        );
    }
    let r = s.post("/_admin/", &json!({}));
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
    assert_eq!(s.request("DELETE", "/", &[], None).status, 405);
}

#[test]
fn a_dry_run_batch_answers_as_the_real_one_and_changes_nothing() {
    let s = TestServer::start();
    s.create("sites", json!({"_id": "s1", "name": "one"}));
    for r in 0..3 {
        s.create(
            "rooms",
            json!({"_id": format!("r{r}"), "name": "room", "site": "s1"}),
        );
    }
    let before = s.dump();
    let seq = s.get("/t/_changes?since=now").json()["last_seq"].clone();
    let ops = json!({"ops": [
        {"op": "create", "coll": "users", "doc": {"_id": "new", "name": "Ann"}},
        {"op": "update", "coll": "sites", "id": "s1", "doc": {"name": "renamed"}},
        {"op": "delete", "coll": "sites", "id": "s1"}
    ]});
    let dry = s.post("/t/_batch?_dry_run=1", &ops);
    assert_eq!(dry.status, 200, "{}", dry.text());
    let rehearsed = dry.json();
    assert_eq!(rehearsed["dry_run"], true);
    // The cascade is counted: the site and its three rooms.
    assert_eq!(
        rehearsed["results"][2]["deleted"].as_array().unwrap().len(),
        4
    );
    assert_eq!(s.dump(), before);
    let after = s.get(&format!("/t/_changes?since={seq}")).json();
    assert_eq!(
        after["changes"],
        json!([]),
        "a dry run adds no change record"
    );

    // The same failure as the real batch, at the same op.
    let bad = json!({"ops": [
        {"op": "create", "coll": "users", "doc": {"name": "ok"}},
        {"op": "create", "coll": "users", "doc": {"name": "bad", "age": -1}}
    ]});
    let dry = s.post("/t/_batch?_dry_run=1", &bad);
    let real = s.post("/t/_batch", &bad);
    assert_eq!(
        (dry.status, dry.error_path()),
        (400, Some("$.ops[1].doc.age".into()))
    );
    assert_eq!(
        (real.status, real.error_path()),
        (dry.status, dry.error_path())
    );
    assert_eq!(s.dump(), before);

    // The real run does what the rehearsal said.
    let real = s.post("/t/_batch", &ops).json();
    assert_eq!(real["results"][2], rehearsed["results"][2]);
    assert!(real.get("dry_run").is_none());
    assert_eq!(s.get("/t/coll/rooms/r0").status, 404);
    assert_eq!(s.post("/t/_batch?_dry_run=maybe", &ops).status, 400);
}
