//! The serving machinery, over real sockets: the request
//! timeout (408 for a client that stalls mid-body), the connection cap
//! (a client beyond it waits, then is served) and graceful shutdown (an
//! in-flight request still gets its answer; new connections are not
//! served).

mod support;

use refdb::server::Limits;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::{TEST_SCHEMA, TestServer};

fn read_answer(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn a_stalled_body_gets_408() {
    let limits = Limits {
        request_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let s = TestServer::start_with(TEST_SCHEMA, limits, |b| b);
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(b"POST /t/coll/users HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{\"na")
        .unwrap();
    // A 408 naming the timeout can only come from the server's timer: the
    // client's read gives up (and leaves the answer empty) long after it.
    let answer = read_answer(&mut c);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    assert!(s.dump().is_empty());
}

#[test]
fn connections_beyond_the_cap_wait_their_turn() {
    let limits = Limits {
        max_connections: 1,
        ..Limits::default()
    };
    let s = TestServer::start_with(TEST_SCHEMA, limits, |b| b);
    // An idle keep-alive connection holds the only permit.
    let idle = TcpStream::connect(s.addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut waiting = TcpStream::connect(s.addr).unwrap();
    waiting
        .write_all(b"GET /t/_meta HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert!(waiting.read(&mut buf).is_err(), "served past the cap");
    drop(idle);
    let answer = read_answer(&mut waiting);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn shutdown_finishes_in_flight_requests() {
    let mut s = TestServer::start();
    let mut c = TcpStream::connect(s.addr).unwrap();
    let body = br#"{"name": "late"}"#;
    let head = format!(
        "POST /t/coll/users HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(&body[..4]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s.signal_shutdown();
    std::thread::sleep(Duration::from_millis(100));
    c.write_all(&body[4..]).unwrap();
    let answer = read_answer(&mut c);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(s.dump().len(), 1);
    // The listener is closed: nothing new is served.
    let refused = TcpStream::connect(s.addr).and_then(|mut n| {
        n.write_all(b"GET /t/_meta HTTP/1.1\r\nHost: x\r\n\r\n")?;
        n.set_read_timeout(Some(Duration::from_millis(500)))?;
        let mut buf = [0u8; 1];
        n.read(&mut buf)
    });
    assert!(!matches!(refused, Ok(n) if n > 0), "served after shutdown");
}
