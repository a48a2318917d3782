//! HTTP round trip through the whole server (hyper, router, blocking pool,
//! storage/query, JSON), from a client on the same machine.
//!
//! Data set: the shared generator `../shared/data/gen_dataset.py` with
//! 10,000 users and 1,000 addresses (`REFDB_BENCH_HTTP_USERS` to change),
//! cached under `target/dataset-N`, loaded in one transaction into a
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

/// The allocator of the `refdb` binary, so that figures match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const SCHEMA: &str = r#"{"app": "bench", "collections": {
  "users": {"fields": {
    "name": {"type": "string", "index": true, "search": true}, "surname": {"type": "string"},
    "email": {"type": "string", "search": true}, "age": {"type": "int", "index": true},
    "male": {"type": "bool", "index": true}, "score": {"type": "float"},
    "tags": {"type": "list", "of": {"type": "string"}}, "created": {"type": "datetime"},
    "addr": {"type": "ref", "coll": "addrs", "reverse": "users"}}},
  "addrs": {"fields": {
    "name": {"type": "string"}, "address": {"type": "string"}, "city": {"type": "string"},
    "users": {"type": "refs", "coll": "users", "reverse": "addr", "on_delete": "cascade"}}}}}"#;

fn users() -> usize {
    std::env::var("REFDB_BENCH_HTTP_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn dataset(users: usize) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join(format!("target/dataset-{users}"));
    if !dir.join("users.jsonl").exists() {
        let status = std::process::Command::new("python3")
            .arg(root.join("../shared/data/gen_dataset.py"))
            .arg(&dir)
            .args([
                "--users",
                &users.to_string(),
                "--addrs",
                &(users / 10).max(1).to_string(),
            ])
            .status()
            .expect("python3 runs gen_dataset.py");
        assert!(status.success(), "gen_dataset.py failed");
    }
    dir
}

fn lines(path: &Path) -> Vec<Map<String, Value>> {
    BufReader::new(std::fs::File::open(path).expect("data set file"))
        .lines()
        .map(|l| serde_json::from_str(&l.expect("line")).expect("json line"))
        .collect()
}

/// The store, loaded; returns the user ids.
fn load(store: &Store, dir: &Path) -> Vec<String> {
    let (addrs, people) = (
        lines(&dir.join("addrs.jsonl")),
        lines(&dir.join("users.jsonl")),
    );
    store
        .write(|tx| {
            let mut aids = Vec::with_capacity(addrs.len());
            for a in addrs {
                aids.push(tx.create("addrs", a)?);
            }
            let mut uids = Vec::with_capacity(people.len());
            for mut u in people {
                if let Some(i) = u.shift_remove("addr_index").and_then(|v| v.as_u64()) {
                    u.insert("addr".into(), Value::String(aids[i as usize].clone()));
                }
                uids.push(tx.create("users", u)?);
            }
            Ok(uids)
        })
        .expect("bulk load")
}

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
    let n = users();
    let dir = dataset(n);
    let tmp = tempfile::tempdir().expect("temp dir");
    let schema = Schema::parse(SCHEMA).expect("bench schema");
    let store = Arc::new(Store::open(tmp.path().join("http.db"), Some(schema)).expect("open"));
    let uids = load(&store, &dir);
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
