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
