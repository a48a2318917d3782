//! Cluster test support: a 3-server NATS JetStream cluster on loopback
//! (Debian's `nats-server`, each server its own process on free ports) and
//! `refdb serve --cluster` nodes, each its own process, that the tests kill,
//! stop and restart.

use super::Resp;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nats_bin() -> String {
    for p in ["/usr/sbin/nats-server", "/usr/bin/nats-server"] {
        if Path::new(p).exists() {
            return p.to_string();
        }
    }
    panic!("nats-server is not installed (apt-get install nats-server): the cluster tests need it")
}

/// Sends a signal to a process with kill(1).
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -{sig} {pid}");
}

/// Polls `cond` every 50 ms until it holds or `limit` passes.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct NatsServer {
    name: String,
    port: u16,
    cluster_port: u16,
    child: Option<Child>,
}

/// Three JetStream servers in one cluster.
pub struct Nats {
    dir: PathBuf,
    servers: Vec<NatsServer>,
}

impl Nats {
    pub fn start(dir: &Path) -> Nats {
        let servers = (0..3)
            .map(|i| NatsServer {
                name: format!("s{i}"),
                port: free_port(),
                cluster_port: free_port(),
                child: None,
            })
            .collect();
        let mut nats = Nats {
            dir: dir.to_path_buf(),
            servers,
        };
        for i in 0..3 {
            nats.start_server(i);
        }
        nats.wait_for_jetstream();
        nats
    }

    pub fn start_server(&mut self, i: usize) {
        let routes: Vec<String> = self
            .servers
            .iter()
            .map(|s| format!("nats://127.0.0.1:{}", s.cluster_port))
            .collect();
        let s = &self.servers[i];
        let store = self.dir.join(&s.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", s.name)))
            .unwrap();
        let child = Command::new(nats_bin())
            .args(["-a", "127.0.0.1", "-p", &s.port.to_string(), "-js", "-sd"])
            .arg(&store)
            .args(["-n", &s.name, "--cluster_name", "refdb-test"])
            .args(["--cluster", &format!("nats://127.0.0.1:{}", s.cluster_port)])
            .args(["--routes", &routes.join(",")])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("starting nats-server");
        self.servers[i].child = Some(child);
    }

    /// Kills server `i` (SIGKILL) and waits for it to exit.
    pub fn kill_server(&mut self, i: usize) {
        if let Some(mut c) = self.servers[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn urls(&self) -> String {
        self.servers
            .iter()
            .map(|s| format!("nats://127.0.0.1:{}", s.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The index of the server named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.servers.iter().position(|s| s.name == name)
    }

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Waits until JetStream answers (its meta leader is elected).
    fn wait_for_jetstream(&self) {
        let urls: Vec<String> = self.urls().split(',').map(str::to_string).collect();
        Self::block_on(async {
            let end = Instant::now() + Duration::from_secs(30);
            loop {
                let ok = async {
                    let c = async_nats::connect(urls.as_slice())
                        .await
                        .map_err(|e| e.to_string())?;
                    // "Not found" is JetStream's meta leader answering.
                    match async_nats::jetstream::new(c).get_stream("none").await {
                        Err(e) if e.to_string().contains("not found") => Ok(()),
                        Err(e) => Err(e.to_string()),
                        Ok(_) => Ok(()),
                    }
                };
                let last = match tokio::time::timeout(Duration::from_secs(2), ok).await {
                    Ok(Ok(_)) => return,
                    Ok(Err(e)) => e,
                    Err(_) => "no answer in 2 s".to_string(),
                };
                assert!(Instant::now() < end, "JetStream did not come up: {last}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    }

    /// True when `stream` has a leader and every copy is current: a
    /// server that just restarted has caught up.
    pub fn stream_healthy(&self, stream: &str) -> bool {
        self.stream_info(stream).is_some_and(|c| {
            c.leader.is_some() && c.replicas.iter().all(|p| p.current && !p.offline)
        })
    }

    fn stream_info(&self, stream: &str) -> Option<async_nats::jetstream::stream::ClusterInfo> {
        self.info(stream)?.cluster
    }

    /// The name of the server leading `stream`'s Raft group, and its
    /// state (first and last sequence).
    pub fn stream_state(&self, stream: &str) -> Option<(String, u64, u64)> {
        let info = self.info(stream)?;
        Some((
            info.cluster?.leader?,
            info.state.first_sequence,
            info.state.last_sequence,
        ))
    }

    /// The server leading `stream` now, if one answers within `within`.
    pub fn stream_leader(&self, stream: &str, within: Duration) -> Option<String> {
        self.info_within(stream, within)?.cluster?.leader
    }

    /// The stream's info, asked of the servers running.
    fn info(&self, stream: &str) -> Option<async_nats::jetstream::stream::Info> {
        self.info_within(stream, Duration::from_secs(3))
    }

    fn info_within(
        &self,
        stream: &str,
        within: Duration,
    ) -> Option<async_nats::jetstream::stream::Info> {
        let urls: Vec<String> = self
            .servers
            .iter()
            .filter(|s| s.child.is_some())
            .map(|s| format!("nats://127.0.0.1:{}", s.port))
            .collect();
        Self::block_on(async {
            tokio::time::timeout(within, async {
                let c = async_nats::connect(urls.as_slice()).await.ok()?;
                let js = async_nats::jetstream::new(c);
                js.get_stream(stream).await.ok()?.get_info().await.ok()
            })
            .await
            .ok()
            .flatten()
        })
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill_server(i);
        }
    }
}

/// A client of one address, which may stop answering (a killed node).
pub struct Probe(pub String);

impl Probe {
    /// One request on its own connection; `None` when nothing answered.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Option<Resp> {
        let mut s = TcpStream::connect(&self.0).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        let body = body.unwrap_or("");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).ok()?;
        s.write_all(body.as_bytes()).ok()?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).ok()?;
        Resp::parse(&out)
    }
}

/// One `refdb serve --cluster` process.
pub struct Node {
    pub name: String,
    pub db: PathBuf,
    pub addr: String,
    child: Option<Child>,
    args: Vec<String>,
    log: PathBuf,
}

impl Node {
    /// Starts node `name` on `<dir>/<name>.db` with `extra` flags.
    pub fn start(dir: &Path, name: &str, nats: &Nats, extra: &[&str]) -> Node {
        let mut args = vec![
            "serve".to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--cluster".into(),
            nats.urls(),
            "--node".into(),
            name.into(),
            "--cluster-write-timeout".into(),
            "3000".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut node = Node {
            name: name.into(),
            db: dir.join(format!("{name}.db")),
            addr: String::new(),
            child: None,
            args,
            log: dir.join(format!("{name}.log")),
        };
        node.restart();
        node
    }

    /// Starts the process again (after a kill), on the same file.
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_refdb"))
            .args(&self.args)
            .arg("--db")
            .arg(&self.db)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let addr = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            super::listening_addr(&mut child)
        }));
        match addr {
            Ok(addr) => self.addr = addr,
            Err(_) => {
                let _ = child.wait();
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "node {} did not start; its log ends:\n{}",
                    self.name,
                    tail.join("\n")
                );
            }
        }
        self.child = Some(child);
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A client of this node's current address.
    pub fn probe(addr: &str) -> Probe {
        Probe(addr.to_string())
    }

    /// One request on its own connection; `None` when nothing answered.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Option<Resp> {
        Probe(self.addr.clone()).send(method, path, headers, body)
    }

    pub fn get(&self, path: &str) -> Resp {
        self.send("GET", path, &[], None)
            .unwrap_or_else(|| panic!("{}: no answer to GET {path}", self.name))
    }

    /// The log position the node's file reflects (its `Refdb-Seq`).
    pub fn position(&self) -> u64 {
        self.get("/_health/live")
            .header("refdb-seq")
            .and_then(|v| v.parse().ok())
            .expect("a Refdb-Seq header")
    }

    /// The audit digest of the node's file (`refdb check`, read-only
    /// beside the running server); panics if the audit finds a problem.
    pub fn digest(&self) -> String {
        file_digest(&self.db)
    }

    /// The node's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The audit digest of a database file; panics if the audit fails.
pub fn file_digest(db: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_refdb"))
        .args(["check", "--db"])
        .arg(db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "refdb check {}: {text}{}",
        db.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    text.split("digest ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in {text:?}"))
        .to_string()
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            // A node left stopped (SIGSTOP) by a failed test must die too.
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
        }
        self.kill();
    }
}
