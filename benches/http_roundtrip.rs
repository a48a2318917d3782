//! HTTP round trip through the whole server (hyper, router, blocking pool,
//! storage/query, JSON), from a client on the same machine.
//!
//! Data set: `refdb_gen` (the generator behind `refdb gen`) with
//! 10,000 users and 1,000 addresses (`REFDB_BENCH_HTTP_USERS` to change),
//! cached under `target/dataset-gen-N`, loaded in one transaction into a
//! temporary database with the bench schema (users ↔ addrs; `name`
//! indexed and searched, `email` searched, `age`/`male` indexed).
//!
//! Measures, over ONE keep-alive TCP connection (HTTP/1.1, a small raw
//! client: request written, response head parsed, `Content-Length` body
//! read; status 200 checked every time), with `refdb::run` serving
//! 127.0.0.1:0 in-process on its own 2-worker tokio runtime:
//! - `http/get_by_id`: `GET /bench/coll/users/<id>`, walking the ids with
//!   a fixed stride;
//! - `http/list_name_re_do`: `GET /bench/coll/users?name.$re=do` (first
//!   page of 10 + exact total).
//!
//! Run: `cargo bench --bench http_roundtrip` (quick check without a
//! release build: `cargo test --bench http_roundtrip`).

use criterion::{Criterion, criterion_group, criterion_main};
use refdb::refdb_query::Engine;
use refdb::refdb_storage::{Schema, Store};
use refdb::{Server, run};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

#[path = "../storage/benches/support/mod.rs"]
mod support;
use support::SEARCH_SCHEMA;

/// The server on its own thread and runtime; stops when dropped.
struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(server: Server) -> Running {
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
                addr_tx.send(listener.local_addr().expect("addr")).ok();
                run(listener, server, async {
                    let _ = stop_rx.await;
                })
                .await;
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server started");
        Running {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A keep-alive HTTP/1.1 client on one connection.
struct Client {
    out: TcpStream,
    input: BufReader<TcpStream>,
    host: String,
    body: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        Client {
            input: BufReader::new(s.try_clone().expect("clone")),
            out: s,
            host: addr.to_string(),
            body: Vec::new(),
        }
    }

    /// GETs `path`; asserts 200; returns the body length.
    fn get(&mut self, path: &str) -> usize {
        write!(
            self.out,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n\r\n",
            self.host
        )
        .expect("write request");
        let mut line = String::new();
        self.input.read_line(&mut line).expect("status line");
        assert!(line.starts_with("HTTP/1.1 200"), "{path}: {line}");
        let mut length = None;
        loop {
            line.clear();
            self.input.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse::<usize>().ok();
            }
        }
        let n = length.expect("Content-Length (the server buffers every body)");
        self.body.resize(n, 0);
        self.input.read_exact(&mut self.body).expect("body");
        n
    }
}

fn benches(c: &mut Criterion) {
    let n = support::users_from("REFDB_BENCH_HTTP_USERS", 10_000);
    let dir = support::dataset(n);
    let tmp = tempfile::tempdir().expect("temp dir");
    let schema = Schema::parse(SEARCH_SCHEMA).expect("bench schema");
    let store = Arc::new(Store::open(tmp.path().join("http.db"), Some(schema)).expect("open"));
    let (_, uids, _) = support::load(&store, &dir);
    let engine = Engine::new(store).expect("engine");
    // Not measured here; the background `$text` build must not compete.
    engine.flush_text().expect("full-text build");
    let server = Server::builder(engine).build().expect("server");
    let running = Running::start(server);
    let mut client = Client::connect(running.addr);

    let mut i = 0usize;
    c.bench_function("http/get_by_id", |b| {
        b.iter(|| {
            // A fixed stride walks the ids in a cache-unfriendly order.
            i = (i + 7_919) % uids.len();
            client.get(&format!("/bench/coll/users/{}", uids[i]))
        })
    });
    c.bench_function("http/list_name_re_do", |b| {
        b.iter(|| client.get("/bench/coll/users?name.$re=do"))
    });
    drop(client);
    drop(running);
}

criterion_group!(http, benches);
criterion_main!(http);
