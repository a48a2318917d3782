//! The change feed as server-sent events over a real socket: the backlog
//! then live events, resumption with `Last-Event-ID` while writers keep
//! writing (no gap, no duplicate, the same records as the JSON feed), and
//! `event: reset` for a position past the retention.

mod support;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use support::TestServer;

/// An open event stream: the response head is read, then events one by
/// one out of the chunked body.
struct Events {
    r: BufReader<TcpStream>,
    /// Body bytes received and not yet parsed into events.
    buf: String,
}

impl Events {
    fn open(s: &TestServer, path: &str, last_event_id: Option<u64>) -> Events {
        let mut c = TcpStream::connect(s.addr).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let resume = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        write!(
            c,
            "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{resume}\r\n"
        )
        .unwrap();
        let mut r = BufReader::new(c);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("text/event-stream"), "{head}");
        Events {
            r,
            buf: String::new(),
        }
    }

    /// The next event (its `event` name and `id`/`data` lines), skipping
    /// heartbeat comments.
    fn next(&mut self) -> (String, Option<u64>, Value) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                if block.starts_with(':') {
                    continue;
                }
                let (mut name, mut id, mut data) = (String::new(), None, Value::Null);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = v.to_string();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(v).unwrap();
                    }
                }
                return (name, id, data);
            }
            // One chunk of the chunked body: its size in hex, then data.
            let mut size = String::new();
            self.r.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            assert!(n > 0, "the stream ended");
            let mut chunk = vec![0; n + 2];
            self.r.read_exact(&mut chunk).unwrap();
            self.buf.push_str(std::str::from_utf8(&chunk[..n]).unwrap());
        }
    }

    fn change(&mut self) -> (u64, Value) {
        let (name, id, data) = self.next();
        assert_eq!(name, "change", "{data}");
        assert_eq!(Some(data["seq"].as_u64().unwrap()), id);
        (id.unwrap(), data)
    }
}

#[test]
fn events_resume_after_a_dropped_connection_with_no_gap_and_no_duplicate() {
    let s = TestServer::start();
    for i in 0..5 {
        s.create("sites", json!({"_id": format!("s{i}")}));
    }
    let mut seen = Vec::new();
    let mut ev = Events::open(&s, "/t/_changes?since=0&include_docs=1", None);
    for _ in 0..5 {
        let (seq, data) = ev.change();
        assert!(data["doc"]["_id"].is_string(), "{data}");
        seen.push(seq);
    }
    // Live: a commit while the stream is open arrives.
    s.create("sites", json!({"_id": "live"}));
    let (seq, data) = ev.change();
    assert_eq!(data["_id"], "live");
    seen.push(seq);
    drop(ev); // the connection drops mid-stream

    // Writers keep writing while the client reconnects and reads.
    let addr = s.addr;
    let writer = std::thread::spawn(move || {
        for i in 0..40 {
            let body = json!({"_id": format!("w{i:02}")}).to_string();
            let mut c = TcpStream::connect(addr).unwrap();
            write!(
                c,
                "POST /t/coll/sites HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            let mut out = String::new();
            c.read_to_string(&mut out).unwrap();
            assert!(out.starts_with("HTTP/1.1 201"), "{out}");
        }
    });
    let mut ev = Events::open(&s, "/t/_changes", Some(*seen.last().unwrap()));
    while seen.len() < 46 {
        seen.push(ev.change().0);
    }
    writer.join().unwrap();
    drop(ev);
    let json: Vec<u64> = s.get("/t/_changes?since=0").json()["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seen, json, "events and the JSON feed differ");
}

#[test]
fn a_position_past_the_retention_gets_a_reset_event() {
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
    let mut ev = Events::open(&s, "/t/coll/sites/_changes?feed=sse", Some(1));
    let (name, _, data) = ev.next();
    assert_eq!(name, "reset");
    assert_eq!(data["code"], "changes_expired");
    // From the oldest kept instead: the two records there are.
    let mut ev = Events::open(&s, "/t/coll/sites/_changes?feed=sse&since=0", None);
    assert_eq!(ev.change().0, 4);
    assert_eq!(ev.change().0, 5);
}

/// Two hundred subscribers at once: every one gets every event, and the
/// metrics count them.
#[test]
fn two_hundred_streams_each_get_every_event() {
    let s = TestServer::start();
    let mut streams: Vec<Events> = (0..200)
        .map(|_| Events::open(&s, "/t/coll/sites/_changes?since=now", None))
        .collect();
    for i in 0..20 {
        s.create("sites", json!({"_id": format!("s{i:02}")}));
    }
    for ev in &mut streams {
        let ids: Vec<String> = (0..20)
            .map(|_| ev.change().1["_id"].as_str().unwrap().to_string())
            .collect();
        let want: Vec<String> = (0..20).map(|i| format!("s{i:02}")).collect();
        assert_eq!(ids, want);
    }
    let m = s.get("/metrics").text();
    assert!(
        m.lines().any(|l| l == "refdb_change_streams_open 200"),
        "{m}"
    );
    assert!(
        m.lines()
            .any(|l| l == "refdb_change_stream_events_total 4000"),
        "{m}"
    );
}

/// A server that stops ends its event streams cleanly (the chunked body's
/// last chunk), rather than holding its shutdown until the grace period
/// cuts them.
#[test]
fn stopping_the_server_ends_the_streams() {
    let mut s = TestServer::start();
    let mut ev = Events::open(&s, "/t/_changes?since=now", None);
    s.create("sites", json!({"_id": "x"}));
    assert_eq!(ev.change().1["_id"], "x");
    s.signal_shutdown();
    let mut size = String::new();
    ev.r.read_line(&mut size).unwrap();
    assert_eq!(size.trim(), "0", "the stream's last chunk");
}
