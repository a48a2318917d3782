//! Test support: a real server on 127.0.0.1:0 over a temporary database,
//! run in-process on its own tokio runtime thread, and a tiny blocking
//! HTTP/1.1 client over `std::net::TcpStream` (one connection per request,
//! `Connection: close`), so the tests need no HTTP client crate and can
//! also send bytes no client library would.
//!
//! Dropping a [`TestServer`] triggers the graceful shutdown and joins the
//! server thread, so a test also proves the server stops cleanly.

#![allow(dead_code)]

pub mod browser;
pub mod cluster;

use refdb::server::{Builder, Limits};
use refdb::{Server, refdb_query::Engine, refdb_storage::Schema, refdb_storage::Store};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// A schema with every reference shape the backo scenarios need.
pub const TEST_SCHEMA: &str = r#"{
  "app": "t",
  "collections": {
    "users": {
      "fields": {
        "name": {"type": "string", "required": true, "index": true, "search": true},
        "surname": {"type": "string", "views": ["!short"]},
        "age":  {"type": "int", "min": 0, "max": 150, "index": true},
        "tags": {"type": "list", "of": {"type": "string"}, "max": 5},
        "info": {"type": "dict", "fields": {"city": {"type": "string"}}},
        "addr": {"type": "ref", "coll": "addrs", "reverse": "users"},
        "car":  {"type": "ref", "coll": "cars", "reverse": "owner"}
      },
      "selections": {"adults": {"filter": "age.$gte=18", "fields": ["name", "age"]}}
    },
    "addrs": {
      "fields": {
        "city":  {"type": "string"},
        "users": {"type": "refs", "coll": "users", "reverse": "addr", "on_delete": "must_be_empty"}
      }
    },
    "cars": {
      "fields": {
        "model": {"type": "string"},
        "owner": {"type": "ref", "coll": "users", "reverse": "car"}
      }
    },
    "sites": {
      "fields": {
        "name":  {"type": "string"},
        "rooms": {"type": "refs", "coll": "rooms", "reverse": "site", "on_delete": "cascade"}
      }
    },
    "notes": {
      "fields": {
        "text":   {"type": "string"},
        "secret": {"type": "string", "views": ["!client", "admin"]}
      }
    },
    "rooms": {
      "fields": {
        "name": {"type": "string"},
        "site": {"type": "ref", "coll": "sites", "reverse": "rooms", "required": true}
      }
    }
  }
}"#;

pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Arc<Store>,
    /// A handle on the running server (for its write statistics).
    pub server: Server,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// The test schema, default limits, no actions.
    pub fn start() -> TestServer {
        TestServer::start_with(TEST_SCHEMA, Limits::default(), |b| b)
    }

    pub fn start_with(
        schema: &str,
        limits: Limits,
        configure: impl FnOnce(Builder) -> Builder,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let schema = Schema::parse(schema).expect("test schema");
        let store =
            Arc::new(Store::open(dir.path().join("test.db"), Some(schema)).expect("open store"));
        TestServer::serve(store, Some(dir), limits, configure)
    }

    /// A server over a store the test opened (and whose file it keeps).
    pub fn start_on(store: Arc<Store>) -> TestServer {
        TestServer::serve(store, None, Limits::default(), |b| b)
    }

    fn serve(
        store: Arc<Store>,
        dir: Option<tempfile::TempDir>,
        limits: Limits,
        configure: impl FnOnce(Builder) -> Builder,
    ) -> TestServer {
        let engine = Engine::new(store.clone()).expect("engine");
        let server: Server = configure(Server::builder(engine).limits(limits))
            .build()
            .expect("build");
        let handle = server.clone();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                refdb::run(listener, server, async {
                    let _ = stop_rx.await;
                })
                .await;
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server started");
        TestServer {
            addr,
            store,
            server: handle,
            shutdown: Some(stop_tx),
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// Sends one request; `body` is sent with `Content-Length`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            head.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.unwrap_or_default());
        self.send_raw(&bytes)
            .unwrap_or_else(|| panic!("no answer to {method} {path}"))
    }

    /// Writes raw bytes and parses whatever comes back (None: the server
    /// closed without an answer, which hyper does for unparseable input).
    pub fn send_raw(&self, bytes: &[u8]) -> Option<Resp> {
        let mut s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        // The server may answer (413, 400) and close before reading it all.
        // No half-close after writing: hyper drops a connection whose read
        // side ends before it answers.
        let _ = s.write_all(bytes);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        Resp::parse(&out)
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, &[], None)
    }

    /// A request with `Authorization: Bearer <token>` when a token is
    /// given, and a JSON body when one is given.
    pub fn send_as(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = Vec::new();
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        let bytes = body.map(|b| serde_json::to_vec(b).expect("json"));
        if bytes.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        self.request(method, path, &headers, bytes.as_deref())
    }

    pub fn send_json(&self, method: &str, path: &str, body: &Value) -> Resp {
        let b = serde_json::to_vec(body).expect("json");
        self.request(
            method,
            path,
            &[("Content-Type", "application/json")],
            Some(&b),
        )
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.send_json("POST", path, body)
    }

    pub fn put(&self, path: &str, body: &Value) -> Resp {
        self.send_json("PUT", path, body)
    }

    pub fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send_json("PATCH", path, body)
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, &[], None)
    }

    /// Creates a document, asserting 201; returns it.
    pub fn create(&self, coll: &str, doc: Value) -> Value {
        let r = self.post(&format!("/t/coll/{coll}"), &doc);
        assert_eq!(r.status, 201, "create {coll} {doc}: {}", r.text());
        r.json()
    }

    /// Every document of every collection, straight from the store: what
    /// a failed request must leave unchanged.
    pub fn dump(&self) -> Vec<(String, Value)> {
        let snap = self.store.read().expect("snapshot");
        let mut out = Vec::new();
        for c in self.store.schema().collections() {
            for item in snap.scan(&c.name, None).expect("scan") {
                let (id, _) = item.expect("doc");
                let doc = snap.get(&c.name, &id).expect("get");
                out.push((c.name.clone(), Value::Object(doc)));
            }
        }
        out
    }
}

impl TestServer {
    /// Sends the shutdown signal without waiting for the server to stop.
    pub fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take()
            && t.join().is_err()
            && !std::thread::panicking()
        {
            panic!("the server thread panicked");
        }
    }
}

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn parse(raw: &[u8]) -> Option<Resp> {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&raw[..end]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let rest = &raw[end + 4..];
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        let body = if chunked {
            dechunk(rest)
        } else {
            rest.to_vec()
        };
        Some(Resp {
            status,
            headers,
            body,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The `code` of a §7 error body, asserting its exact shape.
    pub fn error_code(&self) -> String {
        let v = self.json();
        let e = v["error"]
            .as_object()
            .unwrap_or_else(|| panic!("not an error body: {v}"));
        assert_eq!(v.as_object().unwrap().len(), 1, "extra keys: {v}");
        assert_eq!(e.len(), 3, "error keys: {v}");
        assert!(
            e["message"].is_string() && (e["path"].is_string() || e["path"].is_null()),
            "{v}"
        );
        e["code"].as_str().expect("code").to_string()
    }

    pub fn error_path(&self) -> Option<String> {
        self.json()["error"]["path"].as_str().map(str::to_string)
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&b[start..(start + size).min(b.len())]);
        b = &b[(start + size + 2).min(b.len())..];
    }
    out
}

/// The address a `refdb serve --listen 127.0.0.1:0` child prints on its
/// first stdout line (`listening on http://ADDR`); takes its stdout.
pub fn listening_addr(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("a piped stdout"))
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("no listening line: {line:?}"))
        .to_string()
}
