//! `/_health/live` and `/_health/ready` over a real socket: no app name, no
//! credentials, JSON answers.

mod support;
use support::TestServer;

#[test]
fn live_and_ready_answer_without_an_app_or_credentials() {
    let s = TestServer::start();
    let r = s.get("/_health/live");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "live");
    // The test store is small: the first full-text round catches up at once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let ready = loop {
        let r = s.get("/_health/ready");
        if r.status == 200 || std::time::Instant::now() > deadline {
            break r;
        }
        assert_eq!(r.error_code(), "not_ready", "{}", r.text());
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(ready.status, 200, "{}", ready.text());
    assert_eq!(ready.json()["status"], "ready");
    assert_eq!(ready.json()["text_lag"], 0);
    let r = s.get("/_health/nope");
    assert_eq!((r.status, r.error_code()), (404, "no_route".to_string()));
}

#[test]
fn metrics_report_requests_commits_documents_and_the_log() {
    let s = TestServer::start();
    s.create("sites", serde_json::json!({"_id": "s1"}));
    assert_eq!(s.get("/t/coll/sites/s1").status, 200);
    assert_eq!(s.get("/t/coll/sites/nope").status, 404);
    assert_eq!(s.get("/t/coll/garbage/x").status, 404);
    let r = s.get("/metrics");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let m = r.text();
    for line in [
        "refdb_http_requests_total{route=\"/{app}/coll/sites\",method=\"POST\",status=\"201\"} 1",
        "refdb_http_requests_total{route=\"/{app}/coll/sites/{id}\",method=\"GET\",status=\"200\"} 1",
        "refdb_http_requests_total{route=\"/{app}/coll/sites/{id}\",method=\"GET\",status=\"404\"} 1",
        "refdb_http_requests_total{route=\"/{app}/coll/{unknown}/{id}\",method=\"GET\",status=\"404\"} 1",
        "refdb_documents{coll=\"sites\"} 1",
        "refdb_commits_total 1",
        "refdb_commit_group_size_count 1",
        "refdb_change_log_next_seq 2",
        "refdb_log_lines_dropped_total 0",
    ] {
        assert!(m.lines().any(|l| l == line), "no {line:?} in\n{m}");
    }
    assert!(m.contains("refdb_http_request_duration_seconds_bucket{route=\"/{app}/coll/sites/{id}\",le=\"+Inf\"} 2"), "{m}");
    assert!(m.contains("refdb_file_size_bytes "), "{m}");
}
