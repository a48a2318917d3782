//! A list query slower than `Limits::slow_query` is logged with its plan.
//! (Its own test binary: it installs the process's log subscriber.)

mod support;

use refdb::server::Limits;
use std::sync::{Arc, Mutex};
use support::TestServer;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_slow_list_query_is_logged_with_its_plan() {
    let log = Captured::default();
    let sink = log.clone();
    tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();
    // A threshold of zero: every list is slow.
    let limits = Limits {
        slow_query: Some(std::time::Duration::ZERO),
        ..Limits::default()
    };
    let s = TestServer::start_with(support::TEST_SCHEMA, limits, |b| b);
    s.create("users", serde_json::json!({"name": "Dora", "age": 42}));
    assert_eq!(s.get("/t/coll/users?age.$gte=30&name.$re=Do").status, 200);
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("slow list query"))
        .unwrap_or_else(|| panic!("no slow query line in:\n{text}"));
    assert!(line.contains("coll=\"users\""), "{line}");
    assert!(line.contains("age.$gte=30&name.$re=Do"), "{line}");
    assert!(line.contains("plan="), "{line}");
    assert!(line.contains("total=1"), "{line}");
}
