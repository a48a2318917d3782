//! The real binary on a failing disk: a small tmpfs that fills up (root
//! needed to mount it), and I/O errors injected by libfiu's POSIX preload
//! (`fiu-run`, Debian's `fiu-utils`). Without either, a test says so and
//! skips. Every acknowledged write must survive, no request may get a 500
//! or no answer, and the file must audit clean afterwards.

mod support;

use refdb_storage::Store;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// `refdb serve` on `db`, its log in `log`, started through `wrapper`
/// (a fault injector) when given.
struct Served {
    child: Child,
    addr: String,
}

fn serve(db: &Path, log: &Path, wrapper: &[&str]) -> Served {
    let bin = env!("CARGO_BIN_EXE_refdb");
    let (program, args): (&str, Vec<&str>) = match wrapper.split_first() {
        Some((w, rest)) => (w, rest.iter().copied().chain([bin]).collect()),
        None => (bin, vec![]),
    };
    let mut child = Command::new(program)
        .args(args)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    let addr = support::listening_addr(&mut child);
    Served { child, addr }
}

impl Served {
    /// One request on its own connection: (status, body).
    fn send(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut conn = TcpStream::connect(&self.addr).expect("connect");
        conn.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        let body = body.unwrap_or("");
        write!(
            conn,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply)
            .unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"));
        let status = reply
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{method} {path}: not HTTP: {reply:?}"));
        let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, body.to_string())
    }

    fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "refdb serve ended with {status}");
    }
}

/// The file audits clean and holds every acknowledged address.
fn assert_kept(db: &Path, acked: &[String]) {
    let store = Store::open(db, None).unwrap();
    let report = store.audit().unwrap();
    assert!(report.is_clean(), "{:#?}", report.problems);
    let r = store.read().unwrap();
    for id in acked {
        r.get("addrs", id)
            .unwrap_or_else(|e| panic!("acknowledged {id} lost: {e}"));
    }
}

fn count(log: &Path, what: &str) -> usize {
    std::fs::read_to_string(log).unwrap().matches(what).count()
}

#[test]
fn a_full_disk_answers_507_keeps_reads_and_writes_again_once_space_is_freed() {
    let Some(disk) = SmallDisk::mount("8m") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("serve.log");
    let db: PathBuf = disk.dir.path().join("full.db");
    // Space the operator will free.
    std::fs::write(disk.dir.path().join("ballast"), vec![0u8; 2 << 20]).unwrap();
    let server = Arc::new(serve(&db, &log, &[]));

    // Four clients create addresses until the disk refuses each of them.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (server, acked) = (server.clone(), acked.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    let id = format!("c{c}-{i:05}");
                    let body = format!(r#"{{"_id":"{id}","address":"{}"}}"#, "x".repeat(2000));
                    let (status, text) = server.send("POST", "/demo/coll/addrs", Some(&body));
                    match status {
                        201 => acked.lock().unwrap().push(id),
                        507 => {
                            assert!(text.contains("insufficient_storage"), "{text}");
                            return;
                        }
                        other => panic!("POST {id}: {other} {text}"),
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 100, "only {} creates fitted", acked.len());
    eprintln!("full disk: {} creates acknowledged before 507", acked.len());

    // Reads, lists and the change feed answer from the last commit.
    let (status, body) = server.send("GET", &format!("/demo/coll/addrs/{}", acked[0]), None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.send("GET", "/demo/coll/addrs?_page=1", None);
    assert_eq!(status, 200, "{body}");
    let total: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(total["total"], acked.len());
    let (status, body) = server.send("GET", "/demo/_changes?since=0&limit=1", None);
    assert_eq!(status, 200, "{body}");
    // Writes are refused at once, readiness says why, metrics count it.
    let (status, body) = server.send("POST", "/demo/coll/addrs", Some(r#"{"_id":"late"}"#));
    assert_eq!(status, 507, "{body}");
    assert!(body.contains("until space is freed"), "{body}");
    let (status, body) = server.send("GET", "/_health/ready", None);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no_space"), "{body}");
    let (_, metrics) = server.send("GET", "/metrics", None);
    assert!(metrics.contains("refdb_writes_failing 1"), "{metrics}");

    // The operator frees space: writes resume in the same process.
    std::fs::remove_file(disk.dir.path().join("ballast")).unwrap();
    let (status, body) = server.send("POST", "/demo/coll/addrs", Some(r#"{"_id":"late"}"#));
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.send("GET", "/_health/ready", None);
    assert_eq!(status, 200, "{body}");
    Arc::into_inner(server).unwrap().stop();

    // Said once when writes stopped, once when they resumed.
    assert_eq!(count(&log, "writes are failing"), 1, "{log:?}");
    assert_eq!(count(&log, "writes resumed"), 1);
    let mut kept = acked;
    kept.push("late".into());
    assert_kept(&db, &kept);
}

#[test]
fn import_on_a_filling_disk_stops_clearly_and_leaves_the_file_usable() {
    let Some(disk) = SmallDisk::mount("3m") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("addrs.jsonl");
    let mut lines = String::new();
    for i in 0..3000 {
        lines.push_str(&format!(
            "{{\"_id\":\"a{i:05}\",\"address\":\"{}\"}}\n",
            "y".repeat(1000)
        ));
    }
    std::fs::write(&input, lines).unwrap();
    let db = disk.dir.path().join("import.db");
    let out = Command::new(env!("CARGO_BIN_EXE_refdb"))
        .args(["import", "--batch", "100", "--db"])
        .arg(&db)
        .arg("addrs")
        .arg(&input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("No space left"), "{stderr}");
    assert!(stderr.contains("the import stopped"), "{stderr}");
    let check = Command::new(env!("CARGO_BIN_EXE_refdb"))
        .args(["check", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{said}");
    assert!(said.contains("ok"), "{said}");
    // What the message says is in the file, is.
    let store = Store::open(&db, None).unwrap();
    let n = store.read().unwrap().count("addrs").unwrap();
    assert!(n > 0 && n < 3000 && n.is_multiple_of(100), "{n}");
    assert!(stderr.contains(&format!("{n} documents")), "{stderr}");
}

/// libfiu makes `pwrite`, `fdatasync` and `pread` fail at random (EIO)
/// under write and read load, then stops: no request gets a 500 or no
/// answer, writes work again without a restart, and every acknowledged
/// write is in the file, which audits clean.
///
/// Postmortems of what it found: a commit that failed on the disk after
/// reaching the file was missing from the query engine (now settled from
/// the log); a group commit whose undo failed on the disk answered 400
/// "aborted by an earlier error" (now 503).
#[test]
fn injected_io_errors_lose_no_acknowledged_write() {
    if Command::new("fiu-run").arg("-h").output().is_err() {
        eprintln!("skipped: fiu-run is not installed (Debian: apt-get install fiu-utils)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("faults.db");
    let log = dir.path().join("serve.log");
    let ctl = dir.path().join("fiu");
    let ctl = ctl.to_str().unwrap();
    let server = Arc::new(serve(&db, &log, &["fiu-run", "-x", "-f", ctl]));
    let pid = server.child.id().to_string();
    let fiu = |cmd: &str| {
        let st = Command::new("fiu-ctrl")
            .args(["-f", ctl, "-c", cmd, &pid])
            .status()
            .unwrap();
        assert!(st.success(), "fiu-ctrl {cmd}");
    };
    let points = [
        ("posix/io/rw/pwrite", "0.05"),
        ("posix/io/rw/pwrite64", "0.05"),
        ("posix/io/sync/fdatasync", "0.2"),
        ("posix/io/rw/pread", "0.01"),
        ("posix/io/rw/pread64", "0.01"),
    ];
    let load = |round: usize, acked: &Arc<Mutex<Vec<String>>>, failed: &Arc<Mutex<u64>>| {
        let clients: Vec<_> = (0..4)
            .map(|c| {
                let (server, acked, failed) = (server.clone(), acked.clone(), failed.clone());
                std::thread::spawn(move || {
                    for i in 0..60 {
                        let id = format!("r{round}-c{c}-{i:03}");
                        let body = format!(r#"{{"_id":"{id}","city":"Lyon"}}"#);
                        let (status, text) = server.send("POST", "/demo/coll/addrs", Some(&body));
                        match status {
                            201 => acked.lock().unwrap().push(id),
                            503 | 507 if round == 1 => *failed.lock().unwrap() += 1,
                            other => panic!("POST {id}: {other} {text}"),
                        }
                        let (status, text) =
                            server.send("GET", "/demo/coll/addrs?city=Lyon&_page=5", None);
                        match status {
                            200 => {}
                            503 if round == 1 => *failed.lock().unwrap() += 1,
                            other => panic!("GET list: {other} {text}"),
                        }
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
    };
    let acked = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(Mutex::new(0u64));
    load(0, &acked, &failed);
    for (name, p) in points {
        fiu(&format!(
            "enable_random name={name},probability={p},failinfo=5"
        ));
    }
    load(1, &acked, &failed);
    for (name, _) in points {
        fiu(&format!("disable name={name}"));
    }
    let during = *failed.lock().unwrap();
    assert!(during > 0, "no injected fault reached a request");
    // Faults gone: a file that could not be reopened under them is tried
    // again at most once a second, so the first write may wait that long.
    let mut settled = false;
    for _ in 0..40 {
        let (status, _) = server.send("POST", "/demo/coll/addrs", Some(r#"{"city":"Lyon"}"#));
        if status == 201 {
            settled = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(settled, "writes never resumed");
    // Then every write goes through again, in the same process.
    let before = acked.lock().unwrap().len();
    load(2, &acked, &failed);
    assert_eq!(acked.lock().unwrap().len(), before + 240);
    // The query engine follows the file, even through commits that failed
    // on the disk after reaching it.
    let (_, body) = server.send("GET", "/demo/coll/addrs?city=Lyon&_page=1", None);
    let listed = serde_json::from_str::<serde_json::Value>(&body).unwrap()["total"].clone();
    Arc::into_inner(server).unwrap().stop();
    let in_file = Store::open(&db, None)
        .unwrap()
        .read()
        .unwrap()
        .count("addrs")
        .unwrap();
    assert_eq!(listed, in_file);
    eprintln!(
        "injected faults: {during} requests failed (503), {} writes acknowledged",
        before + 240
    );
    assert_kept(&db, &acked.lock().unwrap());
}
