//! The admin page end to end: the real `refdb` binary on a temporary
//! database, driven in headless Chromium over WebDriver
//! (`support::browser`). Each test checks what the page shows against the
//! API's own answers and what it changed against the database.
//!
//! Without `chromium` and `chromedriver` the tests say so and skip, unless
//! `REFDB_REQUIRE_BROWSER=1` (CI) makes that a failure.
//! `REFDB_SCREENSHOTS=DIR` saves the main views as PNGs (the README's).

mod support;

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use support::browser::{Browser, Element, keys};

const SCHEMA: &str = r#"{
  "app": "shop",
  "collections": {
    "users": {
      "fields": {
        "name":  {"type": "string", "required": true, "index": true, "search": true},
        "age":   {"type": "int", "min": 0, "max": 150, "index": true},
        "role":  {"type": "string", "in": ["admin", "staff", "guest"]},
        "tags":  {"type": "list", "of": {"type": "string"}},
        "info":  {"type": "dict", "fields": {"city": {"type": "string"}}},
        "addr":  {"type": "ref", "coll": "addrs", "reverse": "users"},
        "notes": {"type": "refs", "coll": "notes", "reverse": "owner", "on_delete": "must_be_empty"}
      }
    },
    "addrs": {
      "fields": {
        "name":  {"type": "string", "required": true, "search": true},
        "users": {"type": "refs", "coll": "users", "reverse": "addr", "on_delete": "cascade"}
      }
    },
    "notes": {
      "fields": {
        "text":  {"type": "string"},
        "owner": {"type": "ref", "coll": "users", "reverse": "notes"}
      }
    }
  }
}"#;

const NAMES: [&str; 8] = ["Ann", "Bob", "Cleo", "Dan", "Eve", "Finn", "Gus", "Hana"];

/// The binary serving a fresh database with [`SCHEMA`]: 10 addresses,
/// 60 users (`u00`…`u59`, ages 10–69, three per address besides `u00`…),
/// one note owned by `u01`.
struct Server {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(schema: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("schema.json"), schema).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_refdb"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--schema",
                "schema.json",
            ])
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = support::listening_addr(&mut child);
        Server {
            child,
            addr,
            _dir: dir,
        }
    }

    fn seeded() -> Server {
        let s = Server::start(SCHEMA);
        let mut ops = Vec::new();
        for a in 0..10 {
            ops.push(json!({"op": "create", "coll": "addrs",
                "doc": {"_id": format!("a{a}"), "name": format!("Street {a}")}}));
        }
        for u in 0..60 {
            ops.push(json!({"op": "create", "coll": "users", "doc": {
                "_id": format!("u{u:02}"),
                "name": format!("{} {u}", NAMES[u % NAMES.len()]),
                "age": 10 + u,
                "addr": format!("a{}", u % 10),
            }}));
        }
        ops.push(json!({"op": "create", "coll": "notes",
            "doc": {"_id": "n1", "text": "hello", "owner": "u01"}}));
        let (status, body) = s.call("POST", "/shop/_batch", &[], Some(&json!({"ops": ops})));
        assert_eq!(status, 200, "{body}");
        s
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// One HTTP request to the server: (status, JSON body or Null).
    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        write!(s, "{head}\r\n{body}").unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = self.call("GET", path, &[], None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    fn total(&self, coll: &str, query: &str) -> u64 {
        self.get(&format!("/shop/coll/{coll}?{query}&_page=1"))["total"]
            .as_u64()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Saves a screenshot of the page when `REFDB_SCREENSHOTS` names a directory.
fn snap(b: &Browser, name: &str) {
    if let Ok(dir) = std::env::var("REFDB_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        b.screenshot(&std::path::Path::new(&dir).join(format!("{name}.png")));
    }
}

/// Types `text` into an input, replacing what it held.
fn type_into(e: &Element, text: &str) {
    e.clear();
    e.send_keys(text);
}

/// The `_id`s of the table's rows, in order.
fn row_ids(b: &Browser) -> Vec<String> {
    // One script, so a redraw between two WebDriver calls cannot go stale.
    let ids = b.exec(
        "return [...document.querySelectorAll('#rows tr')].map(r => r.dataset.id)",
        vec![],
    );
    serde_json::from_value(ids).unwrap()
}

/// An attribute of the first element matching `css`, read in one script.
fn attr_of(b: &Browser, css: &str, name: &str) -> Option<String> {
    let v = b.exec(
        "const e = document.querySelector(arguments[0]); return e && e.getAttribute(arguments[1])",
        vec![json!(css), json!(name)],
    );
    v.as_str().map(str::to_string)
}

/// Waits until the table shows `total` matches (the pager's data-total).
fn wait_total(b: &Browser, total: u64) {
    b.wait_until(&format!("the table to show {total} matches"), || {
        attr_of(b, "#info", "data-total").is_some_and(|t| t == total.to_string())
    });
}

fn path_and_query(b: &Browser) -> String {
    let url = b.url();
    let rest = url.splitn(4, '/').nth(3).unwrap_or_default();
    format!("/{rest}")
}

#[test]
fn browse_search_sort_and_page_a_collection() {
    let Some(b) = Browser::start() else { return };
    let s = Server::seeded();

    // `/` leads to the overview: every collection with its exact count.
    b.goto(&s.url("/"));
    b.wait_text("[data-count=users]", "60 documents");
    b.wait_text("[data-count=addrs]", "10 documents");
    assert!(b.url().ends_with("/_admin/"), "{}", b.url());
    assert!(
        b.find("[data-coll-card=addrs]")
            .text()
            .contains("on delete cascade")
    );
    snap(&b, "overview");

    // The table: 20 rows of 60, `_id` order.
    b.find("#colls a[data-coll=users]").click();
    wait_total(&b, 60);
    let ids = row_ids(&b);
    assert_eq!(ids.len(), 20);
    assert_eq!(ids[0], "u00");
    assert!(b.find("#info").text().contains("1–20 of 60"));

    // A `$re` search: the page shows what the API answers.
    let q = b.find("#q");
    type_into(&q, "name.$re=(?i)^ann");
    q.send_keys(keys::ENTER);
    let expected = s.total("users", "name.$re=(?i)%5Eann");
    assert_eq!(expected, 8);
    wait_total(&b, expected);
    assert!(path_and_query(&b).contains("name.$re="), "{}", b.url());
    for r in b.find_all("#rows tr") {
        assert!(
            r.text()
                .starts_with(&format!("{} Ann", r.attr("data-id").unwrap()))
                || r.text().contains("Ann")
        );
    }
    snap(&b, "table");

    // A bad value: the error sits at its parameter, nothing is listed.
    let q = b.find("#q");
    type_into(&q, "name.$re=(?i)^ann&age.$gte=old");
    q.send_keys(keys::ENTER);
    let err = b.wait("#query-error");
    assert!(err.text().contains("$.age.$gte"), "{}", err.text());
    let chip = b.find("[data-param='age.$gte']");
    assert!(chip.attr("class").unwrap().contains("bad"));
    assert!(
        !b.find("[data-param='name.$re']")
            .attr("class")
            .unwrap()
            .contains("bad")
    );
    assert!(b.find_all("#rows tr").is_empty());

    // Sort by clicking a column, twice for descending.
    b.goto(&s.url("/_admin/users"));
    wait_total(&b, 60);
    b.find("th[data-col=age]").click();
    b.wait_until("ascending age", || path_and_query(&b).contains("_sort=age"));
    b.wait_until("the youngest first", || {
        row_ids(&b).first().is_some_and(|i| i == "u00")
    });
    b.find("th[data-col=age]").click();
    b.wait_until("descending age", || {
        path_and_query(&b).contains("_sort=-age")
    });
    b.wait_until("the oldest first", || {
        row_ids(&b).first().is_some_and(|i| i == "u59")
    });

    // Paging: next, back (the history), and a jump to page 3 by `_skip`.
    b.find("#next").click();
    b.wait_until("page 2", || path_and_query(&b).contains("_skip=20"));
    b.wait_until("rows of page 2", || {
        row_ids(&b).first().is_some_and(|i| i == "u39")
    });
    b.back();
    b.wait_until("page 1 again", || {
        row_ids(&b).first().is_some_and(|i| i == "u59")
    });
    assert!(!path_and_query(&b).contains("_skip"));
    let goto = b.find("#goto");
    type_into(&goto, "3");
    goto.send_keys(keys::ENTER);
    b.wait_until("page 3", || path_and_query(&b).contains("_skip=40"));
    b.wait_until("rows of page 3", || {
        row_ids(&b).first().is_some_and(|i| i == "u19")
    });
    assert!(b.find("#next").attr("disabled").is_some());

    // A shared link opens the same view.
    let here = b.url();
    b.goto(&s.url("/_admin/"));
    b.goto(&here);
    b.wait_until("the shared view", || {
        row_ids(&b).first().is_some_and(|i| i == "u19")
    });

    // Keyboard: `/` focuses the query, arrows move, Enter opens.
    b.find("#info").click();
    b.keys("/");
    b.wait_until("the query box focused", || {
        b.exec("return document.activeElement.id", vec![]) == json!("q")
    });
    b.keys(keys::ESCAPE);
    b.keys(keys::ARROW_DOWN);
    b.keys(keys::ARROW_DOWN);
    b.keys(keys::ENTER);
    b.wait_text("#doc-id", "u18");
    assert!(path_and_query(&b).ends_with("/_admin/users/u18"));
}

#[test]
fn edit_a_document_with_checks_conflicts_references_and_deletes() {
    let Some(b) = Browser::start() else { return };
    let s = Server::seeded();

    // The form: typed editors from the schema, the `in` choices.
    b.goto(&s.url("/_admin/users/u03"));
    b.wait_text("#doc-id", "u03");
    let age = b.find("[data-path='$.age'] input");
    assert_eq!(age.prop("value").unwrap(), "13");
    let role = b.find("[data-path='$.role'] select");
    let choices: Vec<String> = role.find_all("option").iter().map(|o| o.text()).collect();
    assert_eq!(choices, ["—", "admin", "staff", "guest"]);
    assert!(b.try_find("[data-path='$.info.city'] input").is_some());
    snap(&b, "document");

    // `_check` as you type: the error appears at the field, then goes.
    type_into(&age, "200");
    let err = b.wait("[data-path='$.age'] > .err");
    assert!(err.text().contains("150"), "{}", err.text());
    type_into(&age, "33");
    b.wait_until("the age error cleared", || {
        !b.find("[data-path='$.age'] > .err").is_displayed()
    });
    role.select("\"staff\"");
    b.find("[data-path='$.tags'] .add").click();
    type_into(&b.find("[data-path='$.tags[0]'] input"), "vip");
    type_into(&b.find("[data-path='$.info.city'] input"), "Lyon");
    b.find("#save").click();
    b.wait("#saved");
    let doc = s.get("/shop/coll/users/u03");
    assert_eq!(doc["age"], 33);
    assert_eq!(doc["role"], "staff");
    assert_eq!(doc["tags"], json!(["vip"]));
    assert_eq!(doc["info"], json!({"city": "Lyon"}));

    // A server-side error on save lands at its field too.
    type_into(&b.find("[data-path='$.age'] input"), "-4");
    b.find("#save").click();
    b.wait_until("the save error at $.age", || {
        b.find("[data-path='$.age']")
            .attr("class")
            .unwrap()
            .contains("invalid")
    });
    assert_eq!(s.get("/shop/coll/users/u03")["age"], 33);

    // Someone else saves meanwhile: the page shows a conflict and does
    // not overwrite.
    let (status, _) = s.call(
        "PUT",
        "/shop/coll/users/u03",
        &[],
        Some(&json!({"age": 44})),
    );
    assert_eq!(status, 200);
    type_into(&b.find("[data-path='$.age'] input"), "34");
    b.find("#save").click();
    b.wait("#conflict");
    assert_eq!(s.get("/shop/coll/users/u03")["age"], 44);

    // The picker sets a reference: search by the target's label field.
    b.goto(&s.url("/_admin/users/u03"));
    b.wait_text("#doc-id", "u03");
    b.find("[data-path='$.addr'] .pick").click();
    let pq = b.wait("#pick-query");
    pq.send_keys("street 7");
    b.wait_until("one match", || {
        b.find_all("#pick-results li[data-id]").len() == 1
    });
    b.find("#pick-results li[data-id=a7]").click();
    b.wait_until("the picked id", || {
        b.find("[data-path='$.addr'] input")
            .prop("value")
            .as_deref()
            == Some("a7")
    });
    b.find("#save").click();
    b.wait("#saved");
    assert_eq!(s.get("/shop/coll/users/u03")["addr"], "a7");

    // A reverse list is a count linking to its documents.
    b.goto(&s.url("/_admin/addrs/a7"));
    let reverse = b.wait("[data-reverse='$.users'] a");
    let n = s.total("users", "addr=a7");
    assert_eq!(reverse.text(), format!("{n} users"));
    reverse.click();
    wait_total(&b, n);
    assert!(row_ids(&b).contains(&"u03".to_string()));

    // Delete shows its plan first: blocked by `must_be_empty` ...
    b.goto(&s.url("/_admin/users/u01"));
    b.wait_text("#doc-id", "u01");
    b.find("#delete").click();
    let blocked = b.wait("#delete-blocked");
    assert!(blocked.is_displayed());
    assert!(b.find("#dialog").text().contains("notes/n1"));
    assert!(b.try_find("#confirm-delete").is_none());
    b.find("#cancel-delete").click();
    assert_eq!(s.call("GET", "/shop/coll/users/u01", &[], None).0, 200);

    // ... or the cascade it would run; confirming runs it.
    b.goto(&s.url("/_admin/addrs/a2"));
    b.wait_text("#doc-id", "a2");
    b.find("#delete").click();
    let plan = b.wait("#delete-plan");
    let cascaded = s.total("users", "addr=a2");
    assert!(
        plan.text().contains(&format!("{} documents", cascaded + 1)),
        "{}",
        plan.text()
    );
    assert!(b.find("#delete-list").text().contains("users/u02"));
    snap(&b, "delete");
    b.find("#confirm-delete").click();
    b.wait_until("back at the table", || {
        path_and_query(&b).ends_with("/_admin/addrs")
    });
    assert_eq!(s.call("GET", "/shop/coll/addrs/a2", &[], None).0, 404);
    assert_eq!(s.call("GET", "/shop/coll/users/u02", &[], None).0, 404);

    // A new document through the form.
    b.goto(&s.url("/_admin/notes/_new"));
    let id = b.wait("[data-path='$._id'] input");
    id.send_keys("n2");
    b.find("[data-path='$.text'] input").send_keys("second");
    b.find("#save").click();
    b.wait_text("#doc-id", "n2");
    assert_eq!(s.get("/shop/coll/notes/n2")["text"], "second");
}

#[test]
fn bulk_change_import_and_export_by_query() {
    let Some(b) = Browser::start() else { return };
    let s = Server::seeded();

    // Bulk change: every user under 30 (not only the page) gets a role.
    b.goto(&s.url("/_admin/users?age.$lt=30&_page=10"));
    let under = s.total("users", "age.$lt=30");
    assert_eq!(under, 20);
    wait_total(&b, under);
    b.find("#bulk-update").click();
    b.wait("#bulk-field").select("role");
    b.find("#bulk-value").send_keys("guest");
    b.find("#bulk-check").click();
    let preview = b.wait("#bulk-preview");
    assert!(
        preview.text().contains("20 documents match"),
        "{}",
        preview.text()
    );
    // The dry run changed nothing.
    assert_eq!(s.total("users", "role=guest"), 0);
    b.find("#bulk-apply").click();
    b.wait("#bulk-done");
    assert_eq!(s.total("users", "role=guest"), 20);
    assert_eq!(s.total("users", "role=guest&age.$gte=30"), 0);

    // A value the schema refuses: the error names the document and field.
    b.find("#bulk-update").click();
    b.wait("#bulk-field").select("age");
    b.find("#bulk-value").send_keys("500");
    b.find("#bulk-check").click();
    let err = b.wait("#bulk-error");
    assert!(err.text().contains("$.age"), "{}", err.text());
    assert_eq!(s.total("users", "age=500"), 0);

    // Bulk delete: u01 (of a1) owns a note, and a note must go first
    // (`must_be_empty`): the dry run says which document blocks.
    b.goto(&s.url("/_admin/addrs?name.$re=Street [01]$"));
    wait_total(&b, 2);
    b.find("#bulk-delete").click();
    let err = b.wait("#bulk-error");
    assert!(err.text().contains("a1"), "{}", err.text());
    assert_eq!(s.total("addrs", "_id.$in=a0,a1"), 2);
    let (status, _) = s.call("DELETE", "/shop/coll/notes/n1", &[], None);
    assert_eq!(status, 200);

    // Now the preview counts the cascade before anything happens.
    b.refresh();
    wait_total(&b, 2);
    b.find("#bulk-delete").click();
    let preview = b.wait("#bulk-preview");
    let users = s.total("users", "addr.$in=a0,a1");
    assert_eq!(users, 12);
    assert!(
        preview
            .text()
            .contains(&format!("{} documents in all", users + 2)),
        "{}",
        preview.text()
    );
    b.find("#bulk-apply").click();
    b.wait("#bulk-done");
    assert_eq!(s.total("addrs", "_id.$in=a0,a1"), 0);
    assert_eq!(s.total("users", "addr.$in=a0,a1"), 0);
    wait_total(&b, 0);

    // Import NDJSON with one bad line: the dry run reports it by line, the
    // import writes the others.
    b.goto(&s.url("/_admin/users"));
    b.wait("#rows tr");
    b.find("#import").click();
    let ndjson = "{\"_id\":\"i1\",\"name\":\"Imported One\",\"age\":20}\n\
                  {\"_id\":\"i2\",\"name\":\"Imported Two\",\"age\":-5}\n\
                  \n\
                  {\"_id\":\"i3\",\"name\":\"Imported Three\",\"addr\":\"a5\"}\n\
                  not json\n";
    b.exec(
        "const t = document.getElementById('import-text'); t.value = arguments[0]; t.dispatchEvent(new Event('input'));",
        vec![json!(ndjson)],
    );
    b.find("#import-check").click();
    let summary = b.wait("#import-summary");
    assert!(
        summary
            .text()
            .contains("2 documents ready, 2 lines with errors"),
        "{}",
        summary.text()
    );
    assert!(
        b.find("#import-errors li[data-line='2']")
            .text()
            .contains("$.age")
    );
    assert!(
        b.find("#import-errors li[data-line='5']")
            .text()
            .contains("not JSON")
    );
    assert_eq!(s.call("GET", "/shop/coll/users/i1", &[], None).0, 404);
    snap(&b, "import");
    b.find("#import-run").click();
    b.wait("#import-done");
    assert_eq!(s.get("/shop/coll/users/i1")["age"], 20);
    assert_eq!(s.get("/shop/coll/users/i3")["addr"], "a5");
    assert_eq!(s.call("GET", "/shop/coll/users/i2", &[], None).0, 404);

    // CSV import: typed by the schema.
    b.find("#import").click();
    b.exec(
        "const t = document.getElementById('import-text'); t.value = arguments[0];",
        vec![json!(
            "_id,name,age,tags\nc1,From Csv,41,\"[\"\"x\"\"]\"\nc2,,7,\n"
        )],
    );
    b.find("#import-format").select("csv");
    b.find("#import-check").click();
    let summary = b.wait("#import-summary");
    assert!(
        summary
            .text()
            .contains("1 documents ready, 1 lines with errors"),
        "{}",
        summary.text()
    );
    assert!(
        b.find("#import-errors li[data-line='3']")
            .text()
            .contains("$.name")
    );
    b.find("#import-run").click();
    b.wait("#import-done");
    let c1 = s.get("/shop/coll/users/c1");
    assert_eq!(
        (c1["age"].clone(), c1["tags"].clone()),
        (json!(41), json!(["x"]))
    );

    // Export the query's documents: NDJSON that imports back, and CSV.
    b.goto(&s.url("/_admin/users?age.$gte=60"));
    let n = s.total("users", "age.$gte=60");
    wait_total(&b, n);
    b.find("#export").click();
    b.wait("#export-ndjson").click();
    let link = b.wait("#export-link");
    assert_eq!(link.attr("download").unwrap(), "users.ndjson");
    let text = b.exec_async(
        "const done = arguments[1]; fetch(arguments[0]).then(r => r.text()).then(done, e => done(`fetch failed: ${e}`))",
        vec![json!(link.attr("href").unwrap())],
    );
    let lines: Vec<Value> = text
        .as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, n);
    for d in &lines {
        assert!(d["age"].as_i64().unwrap() >= 60);
        assert!(d.get("_meta").is_none() && d.get("notes").is_none(), "{d}");
    }
    b.find("#export-csv").click();
    b.wait_until("the CSV link", || {
        attr_of(&b, "#export-link", "download").is_some_and(|d| d == "users.csv")
    });
    let csv = b.exec_async(
        "const done = arguments[1]; fetch(arguments[0]).then(r => r.text()).then(done, e => done(`fetch failed: ${e}`))",
        vec![json!(b.find("#export-link").attr("href").unwrap())],
    );
    let csv = csv.as_str().unwrap();
    assert!(
        csv.starts_with("_id,name,age,role,tags,info,addr\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count() as u64, n + 1);
}

#[test]
fn the_open_table_follows_the_change_feed() {
    let Some(b) = Browser::start() else { return };
    let s = Server::seeded();
    b.goto(&s.url("/_admin/notes"));
    wait_total(&b, 1);
    b.wait("#live");
    let (status, _) = s.call(
        "POST",
        "/shop/coll/notes",
        &[],
        Some(&json!({"_id": "live1", "text": "from elsewhere"})),
    );
    assert_eq!(status, 201);
    wait_total(&b, 2);
    assert!(row_ids(&b).contains(&"live1".to_string()));
}

/// Pages left for other addresses may stay in the back-forward cache; were
/// their change feeds still open, the browser's six connections per server
/// would run out after a few tables and the next page would never load.
#[test]
fn tables_left_behind_do_not_hold_the_servers_connections() {
    let Some(b) = Browser::start() else { return };
    let s = Server::seeded();
    for size in 1..=8 {
        b.goto(&s.url(&format!("/_admin/notes?_page={size}")));
        wait_total(&b, 1);
        b.wait("#live");
    }
    b.back();
    wait_total(&b, 1);
    let (status, _) = s.call(
        "POST",
        "/shop/coll/notes",
        &[],
        Some(&json!({"_id": "after-back", "text": "seen by the page come back"})),
    );
    assert_eq!(status, 201);
    wait_total(&b, 2);
}

#[test]
fn a_signed_in_caller_sees_only_what_its_rights_allow() {
    let Some(b) = Browser::start() else { return };
    let hash = |key: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_refdb"))
            .args(["hash-key", key])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let schema = json!({
        "app": "hr",
        "auth": {"users": {
            "ann": {"_id": "u-ann", "roles": ["admin"], "api_key_sha256": hash("ann-key-0123456789")},
            "bob": {"_id": "u-bob", "roles": ["staff"], "api_key_sha256": hash("bob-key-0123456789")}
        }},
        "collections": {"people": {
            "rights": {"read": ["*"], "create": ["admin", "staff"], "modify": ["admin", "staff"], "delete": ["admin"]},
            "fields": {
                "name":   {"type": "string"},
                "level":  {"type": "int", "rights": {"modify": ["admin"]}},
                "salary": {"type": "int", "rights": {"read": ["admin"], "modify": ["admin"]}}
            }
        }}
    });
    let s = Server::start(&schema.to_string());
    let ann = [("Authorization", "Bearer ann-key-0123456789")];
    let (status, body) = s.call(
        "POST",
        "/hr/coll/people",
        &ann,
        Some(&json!({"_id": "p1", "name": "Pat", "level": 2, "salary": 5000})),
    );
    assert_eq!(status, 201, "{body}");

    // Without credentials the page asks for them.
    b.goto(&s.url("/_admin/people"));
    let token = b.wait("#token");
    token.send_keys("bob-key-0123456789");
    b.find("#sign-in").click();
    wait_total(&b, 1);
    assert_eq!(b.find("#who").text(), "Key …6789");
    let cols: Vec<String> = b
        .find_all("th[data-col]")
        .iter()
        .map(|c| c.attr("data-col").unwrap())
        .collect();
    assert_eq!(cols, ["_id", "name", "level"]);

    // Bob's form: `level` read-only, `salary` absent, no delete.
    b.find("#rows tr[data-id=p1] a").click();
    b.wait_text("#doc-id", "p1");
    assert!(b.find("[data-path='$.level'] input").prop("readOnly") == Some("true".into()));
    assert!(b.try_find("[data-path='$.salary']").is_none());
    assert!(b.find("#delete").attr("disabled").is_some());
    type_into(&b.find("[data-path='$.name'] input"), "Patricia");
    b.find("#save").click();
    b.wait("#saved");
    let doc = s.call("GET", "/hr/coll/people/p1", &ann, None).1;
    assert_eq!(
        (doc["name"].clone(), doc["salary"].clone()),
        (json!("Patricia"), json!(5000))
    );
    assert_eq!(doc["_meta"]["modified_by"]["login"], "bob");

    // Ann sees and may change everything.
    b.find("#who").click();
    let token = b.wait("#token");
    type_into(&token, "ann-key-0123456789");
    b.find("#sign-in").click();
    b.wait_until("the salary field", || {
        b.try_find("[data-path='$.salary'] input").is_some()
    });
    assert_eq!(
        b.find("[data-path='$.salary'] input")
            .prop("value")
            .unwrap(),
        "5000"
    );
    assert!(b.find("#delete").attr("disabled").is_none());
}

#[test]
fn dark_mode_and_a_phone_width_screen() {
    let Some(b) = Browser::start() else { return };
    let s = Server::seeded();
    let background = |b: &Browser| {
        b.exec(
            "return getComputedStyle(document.body).backgroundColor",
            vec![],
        )
        .as_str()
        .unwrap()
        .to_string()
    };
    b.goto(&s.url("/_admin/users"));
    wait_total(&b, 60);
    assert_eq!(background(&b), "rgb(255, 255, 255)");

    // The system's dark setting (emulated through the DevTools protocol).
    let dark = json!({"cmd": "Emulation.setEmulatedMedia", "params": {
        "features": [{"name": "prefers-color-scheme", "value": "dark"}]}});
    b.call("POST", "/goog/cdp/execute", Some(dark)).unwrap();
    b.wait_until("the dark palette", || background(&b) == "rgb(21, 24, 28)");
    snap(&b, "table-dark");

    // At a phone's width nothing but the table's own scroller overflows,
    // and the form stacks its labels over the inputs.
    b.set_window_size(390, 844);
    let overflow = |b: &Browser| {
        b.exec(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .as_i64()
        .unwrap()
    };
    b.wait_until("the narrow layout", || overflow(&b) <= 0);
    b.goto(&s.url("/_admin/users/u05"));
    b.wait_text("#doc-id", "u05");
    assert!(overflow(&b) <= 0, "the form is wider than the screen");
    let columns = b.exec(
        "return getComputedStyle(document.getElementById('doc')).gridTemplateColumns.split(' ').length",
        vec![],
    );
    assert_eq!(columns, json!(1));
    snap(&b, "document-phone");
    b.goto(&s.url("/_admin/"));
    b.wait_text("[data-count=users]", "60 documents");
    assert!(overflow(&b) <= 0, "the overview is wider than the screen");
}

/// Timings of the page on a large database (not run by default): start
/// `refdb serve` on, say, the 1M-user data set (`refdb gen --users 1000000
/// DIR`, then `refdb import` of both files) and run
/// `REFDB_ADMIN_URL=http://127.0.0.1:PORT cargo test --release --test
/// admin_browser -- --ignored --nocapture measure`. Prints the median of
/// navigation → first table drawn, and query typed → result drawn.
#[test]
#[ignore]
fn measure_the_table_on_a_large_database() {
    let url = std::env::var("REFDB_ADMIN_URL").expect("REFDB_ADMIN_URL of a running server");
    let Some(b) = Browser::start() else { return };
    let timing = |b: &Browser, what: &str| -> f64 {
        let mut v = Value::Null;
        b.wait_until(what, || {
            v = b.exec(
                "return (window.refdbTimings || []).filter(t => t.what === arguments[0]).map(t => t.ms)",
                vec![json!(what)],
            );
            v.as_array().is_some_and(|a| !a.is_empty())
        });
        v.as_array().unwrap().last().unwrap().as_f64().unwrap()
    };
    let median = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    let coll = std::env::var("REFDB_ADMIN_COLL").unwrap_or("users".into());
    let mut first = Vec::new();
    for _ in 0..7 {
        b.goto(&format!("{url}/_admin/{coll}"));
        first.push(timing(&b, "navigation-to-table"));
    }
    println!(
        "navigation → first table page: median {:.1} ms, all {first:?}",
        median(first.clone())
    );
    let total = attr_of(&b, "#info", "data-total").unwrap();
    println!("collection total: {total}");
    for query in [
        "name.$re=(?i)do",
        "email.$re=^mar.*quin",
        "age.$gte=30&male=true",
        "name.$re=doquin",
        "age.$gte=30&_sort=-age",
    ] {
        let mut times = Vec::new();
        for _ in 0..5 {
            b.goto(&format!("{url}/_admin/{coll}"));
            timing(&b, "navigation-to-table");
            let q = b.find("#q");
            type_into(&q, query);
            b.exec("window.refdbTimings = []", vec![]);
            q.send_keys(keys::ENTER);
            times.push(timing(&b, "query"));
        }
        let total = attr_of(&b, "#info", "data-total").unwrap_or_default();
        println!(
            "{query:<28} total {total:>8}: median {:.1} ms, all {times:?}",
            median(times.clone())
        );
    }
}
