//! The `refdb` binary end to end: import → export round trip, bad lines,
//! and `check`/`export`/`backup` on a file a running `refdb serve` holds.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

fn refdb(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_refdb"))
        .args(args)
        .current_dir(dir)
        .env_remove("REFDB_DB")
        .env_remove("REFDB_SCHEMA")
        .env_remove("REFDB_LISTEN")
        .env_remove("REFDB_INSECURE_LISTEN")
        .output()
        .unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `refdb serve` on port 0 in `dir` (its stderr to `stderr`); the child
/// and the address it listens on.
fn serve_in(dir: &std::path::Path, stderr: Stdio) -> (std::process::Child, String) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_refdb"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let addr = support::listening_addr(&mut server);
    (server, addr)
}

/// Creates `addrs/home` in Lyon through the server at `addr`.
fn post_home(addr: &str) {
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    let body = r#"{"_id":"home","city":"Lyon"}"#;
    write!(
        conn,
        "POST /demo/coll/addrs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
}

#[test]
fn import_export_check_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("addrs.jsonl"),
        "{\"_id\":\"a1\",\"city\":\"Lyon\"}\n{\"_id\":\"a2\",\"city\":\"Nice\"}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("users.jsonl"),
        "{\"_id\":\"u1\",\"name\":\"Dora\",\"age\":42,\"addr\":\"a1\"}\n{\"_id\":\"u2\",\"name\":\"Ann\",\"addr\":\"a1\"}\n",
    )
    .unwrap();
    for (coll, file) in [("addrs", "addrs.jsonl"), ("users", "users.jsonl")] {
        let o = refdb(&["import", "--db", "a.db", coll, file], d);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("imported 2 documents"), "{}", text(&o));
    }
    let o = refdb(&["check", "--db", "a.db"], d);
    assert!(
        o.status.success() && text(&o).contains("ok"),
        "{}",
        text(&o)
    );
    let o = refdb(&["export", "--db", "a.db", "users"], d);
    let exported = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(exported.lines().count(), 2, "{exported}");
    assert!(
        exported.contains("\"addr\":\"a1\"") && !exported.contains("_meta"),
        "{exported}"
    );
    // Export → import into a new file gives the same documents.
    let o = refdb(&["export", "--db", "a.db", "addrs", "addrs.out"], d);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(d.join("users.out"), &exported).unwrap();
    for (coll, file) in [("addrs", "addrs.out"), ("users", "users.out")] {
        assert!(
            refdb(&["import", "--db", "b.db", coll, file], d)
                .status
                .success()
        );
    }
    let again = refdb(&["export", "--db", "b.db", "users"], d);
    assert_eq!(String::from_utf8_lossy(&again.stdout), exported);
}

#[test]
fn a_bad_line_stops_the_import_with_its_line_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("u.jsonl"),
        "{\"name\":\"A\"}\n{\"name\":\"B\",\"age\":\"old\"}\n",
    )
    .unwrap();
    let o = refdb(&["import", "--db", "a.db", "users", "u.jsonl"], d);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("line 2: $.age"), "{}", text(&o));
    // One transaction by default: the good first line is not in the file.
    assert!(text(&o).contains("nothing was imported"), "{}", text(&o));
    let o = refdb(&["export", "--db", "a.db", "users"], d);
    assert!(o.status.success() && o.stdout.is_empty(), "{}", text(&o));
    // With --batch 1, the first line's transaction stays.
    let o = refdb(
        &["import", "--db", "a.db", "--batch", "1", "users", "u.jsonl"],
        d,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("(1 documents imported before it)"),
        "{}",
        text(&o)
    );
    let o = refdb(&["export", "--db", "a.db", "users"], d);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        1,
        "{}",
        text(&o)
    );
    std::fs::remove_file(d.join("a.db")).unwrap();
    let o = refdb(
        &[
            "import",
            "--db",
            "a.db",
            "--skip-invalid",
            "users",
            "u.jsonl",
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("skipped line 2: $.age") && text(&o).contains("imported 1"),
        "{}",
        text(&o)
    );
}

#[test]
fn check_export_and_backup_work_beside_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (mut server, addr) = serve_in(d, Stdio::null());
    // The README's default: ./refdb.db with the demo schema.
    post_home(&addr);
    let o = refdb(&["check"], d);
    assert!(o.status.success(), "{}", text(&o));
    let o = refdb(&["export", "addrs"], d);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\"_id\":\"home\""),
        "{}",
        text(&o)
    );
    let o = refdb(&["backup", "copy.db"], d);
    assert!(o.status.success(), "{}", text(&o));
    // Importing needs the file to itself: a clear error, not a hang.
    std::fs::write(d.join("x.jsonl"), "{}\n").unwrap();
    let o = refdb(&["import", "addrs", "x.jsonl"], d);
    assert!(
        !o.status.success() && text(&o).contains("another process"),
        "{}",
        text(&o)
    );
    // So does compacting it.
    let o = refdb(&["compact"], d);
    assert!(
        !o.status.success() && text(&o).contains("another process"),
        "{}",
        text(&o)
    );
    server.kill().unwrap();
    server.wait().unwrap();
    let o = refdb(&["check", "--db", "copy.db"], d);
    assert!(
        o.status.success() && text(&o).contains("1 documents"),
        "{}",
        text(&o)
    );
}

#[test]
fn hash_key_and_the_loopback_rule() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = refdb(&["hash-key", "abc"], d);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    // No auth in the (demo) schema: a non-loopback address is refused
    // before anything listens.
    let o = refdb(&["serve", "--db", "x.db", "--listen", "0.0.0.0:0"], d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no authentication is configured"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("--insecure-listen"), "{}", text(&o));
}

/// A log output nobody reads (a stalled log shipper, `refdb serve | less`)
/// must cost log lines, never answers: the pipe's buffer holds ~600 request
/// lines and the log queue 8192 more; every request after that still gets
/// its answer, and the lines that did not fit are counted.
#[test]
fn a_log_pipe_nobody_reads_never_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut server = Command::new(env!("CARGO_BIN_EXE_refdb"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(d)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .expect("the listening line")
        .to_string();
    // Neither stdout nor stderr is read from here on.
    let path = format!("/demo/coll/addrs?city={}", "x".repeat(200));
    for i in 0..12_000 {
        let mut conn = std::net::TcpStream::connect(&addr).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        write!(
            conn,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply)
            .unwrap_or_else(|e| panic!("request {i} got no answer: {e}"));
        assert!(reply.starts_with("HTTP/1.1 200"), "request {i}: {reply}");
    }
    // A graceful stop, then the log is finally read: it says lines were lost.
    let pid = server.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(server.wait().unwrap().success());
    assert!(
        log.contains("dropped"),
        "{}",
        &log[log.len().saturating_sub(2000)..]
    );
    drop(stdout);
}

/// `refdb serve` saves its derived indexes beside the file when it stops,
/// and the next start loads them instead of reading every document.
#[test]
fn serve_restarts_from_its_saved_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let start = |log: &str| serve_in(d, Stdio::from(std::fs::File::create(d.join(log)).unwrap()));
    let stop = |mut server: std::process::Child| {
        let pid = server.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        assert!(server.wait().unwrap().success());
    };
    let (server, addr) = start("first.log");
    post_home(&addr);
    stop(server);
    assert!(d.join("refdb.db.index").exists());
    let first = std::fs::read_to_string(d.join("first.log")).unwrap();
    assert!(first.contains("derived indexes built"), "{first}");

    let (server, addr) = start("second.log");
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "GET /demo/coll/addrs?city=Lyon HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.contains("\"home\""), "{reply}");
    stop(server);
    let second = std::fs::read_to_string(d.join("second.log")).unwrap();
    assert!(
        second.contains("derived indexes loaded") && second.contains("caught_up=0"),
        "{second}"
    );
}

#[test]
fn changes_prints_the_log_as_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("addrs.jsonl"),
        "{\"_id\":\"a1\",\"city\":\"Lyon\"}\n{\"_id\":\"a2\",\"city\":\"Nice\"}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("users.jsonl"),
        "{\"_id\":\"u1\",\"name\":\"Dora\",\"addr\":\"a1\"}\n",
    )
    .unwrap();
    for (coll, file) in [("addrs", "addrs.jsonl"), ("users", "users.jsonl")] {
        let o = refdb(&["import", "--db", "a.db", coll, file], d);
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = refdb(&["changes", "--db", "a.db"], d);
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[0]["op"], "create");
    assert_eq!(lines[0]["coll"], "addrs");
    assert_eq!(lines[0]["doc"]["city"], "Lyon");
    assert_eq!(lines[2]["_id"], "u1");
    assert_eq!(lines[2]["doc"]["addr"], "a1");
    assert!(lines[2]["doc"]["_meta"]["ctime"].is_string());
    // The two imports were two transactions.
    assert_eq!(lines[0]["txn"], lines[1]["txn"]);
    assert_ne!(lines[1]["txn"], lines[2]["txn"]);
    let o = refdb(&["changes", "--db", "a.db", "--since", "2"], d);
    let tail = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(tail.lines().count(), 1, "{tail}");
    assert!(tail.contains("\"seq\":3"), "{tail}");
    // Past the retention: the records asked for are gone, and it says so.
    std::fs::write(
        d.join("three.jsonl"),
        "{\"_id\":\"x1\"}\n{\"_id\":\"x2\"}\n{\"_id\":\"x3\"}\n",
    )
    .unwrap();
    let o = refdb(
        &[
            "import",
            "--db",
            "b.db",
            "--changes-retention",
            "1",
            "addrs",
            "three.jsonl",
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = refdb(&["changes", "--db", "b.db"], d);
    let kept = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(kept.lines().count(), 1, "{kept}");
    assert!(kept.contains("\"seq\":3"), "{kept}");
    let o = refdb(&["changes", "--db", "b.db", "--since", "2"], d);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
    let o = refdb(&["changes", "--db", "b.db", "--since", "1"], d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no longer holds"), "{}", text(&o));
}

/// A file left unclean by a killed server: `refdb check` says it repairs
/// it (back to its last commit, every acknowledged write kept) and checks
/// it, where it printed only "Database repair aborted." before.
#[test]
fn check_repairs_a_file_left_by_a_killed_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (mut server, addr) = serve_in(d, Stdio::null());
    post_home(&addr);
    server.kill().unwrap();
    server.wait().unwrap();
    let out = refdb(&["check", "--db", "refdb.db"], d);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("repaired") && said.contains("ok"), "{said}");
    // The indexes the server saved beside the file are audited too.
    assert!(said.contains("saved index"), "{said}");
    assert!(said.contains("refdb.db.text"), "{said}");
    let store = refdb_storage::Store::open_read_only(d.join("refdb.db")).unwrap();
    store.get("addrs", "home").unwrap();
}

/// The benchmarking path from the binary alone: `refdb gen` writes a data
/// set that `refdb import` loads into the demo schema as is, and `refdb
/// bench` runs list queries on the file, printing plan, exact total and
/// percentiles; a bad query is reported and makes the exit status 1.
#[test]
fn gen_import_and_bench_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = refdb(&["gen", "--users", "3000", "data"], d);
    assert!(o.status.success(), "{}", text(&o));
    let again = refdb(&["gen", "--users", "3000", "again"], d);
    assert!(again.status.success());
    for f in ["addrs.jsonl", "users.jsonl"] {
        assert_eq!(
            std::fs::read(d.join("data").join(f)).unwrap(),
            std::fs::read(d.join("again").join(f)).unwrap(),
            "{f} is deterministic"
        );
    }
    for coll in ["addrs", "users"] {
        let file = format!("data/{coll}.jsonl");
        let o = refdb(&["import", coll, &file], d);
        assert!(o.status.success(), "{}", text(&o));
        // Each import leaves the derived indexes saved for the next start.
        assert!(
            text(&o).contains("saved the derived indexes in ./refdb.db.index"),
            "{}",
            text(&o)
        );
    }
    // The audit holds the saved indexes equal to ones built anew.
    let o = refdb(&["check"], d);
    assert!(o.status.success(), "{}", text(&o));
    let lyon = std::fs::read_to_string(d.join("data/addrs.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains(r#""city":"Lyon""#))
        .count();
    assert!(lyon > 0);
    let o = refdb(
        &[
            "bench",
            "--runs",
            "7",
            "addrs?city=Lyon&_page=5",
            "users?name.$re=do&age.$gte=30",
        ],
        d,
    );
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(
        said.contains("indexes loaded from the checkpoint, 0 change(s) caught up"),
        "{said}"
    );
    assert!(said.contains("full-text merges settled in"), "{said}");
    assert!(said.contains(&format!("total {lyon},")), "{said}");
    assert_eq!(said.matches("7 runs: p50").count(), 2, "{said}");
    assert!(said.contains("| "), "the plan is printed: {said}");
    let o = refdb(&["bench", "users?age.$zz=1"], d);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("error"), "{}", text(&o));
}

/// `refdb compact` gives a file's free pages back and keeps every document
/// (the audit digest covers every table); `check` prints each table's size.
#[test]
fn compact_shrinks_the_file_and_keeps_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = refdb(&["gen", "--users", "3000", "data"], d);
    assert!(o.status.success(), "{}", text(&o));
    for coll in ["addrs", "users"] {
        let o = refdb(&["import", coll, &format!("data/{coll}.jsonl")], d);
        assert!(o.status.success(), "{}", text(&o));
    }
    let digest = |o: &std::process::Output| {
        let said = text(o);
        assert!(o.status.success(), "{said}");
        said.split("digest ").nth(1).unwrap()[..16].to_string()
    };
    let check = refdb(&["check"], d);
    let before = digest(&check);
    let said = text(&check);
    assert!(
        said.contains("table docs ") && said.contains("bytes in pages"),
        "{said}"
    );
    let free = |said: &str| -> u64 {
        let line = said.lines().find(|l| l.starts_with("free pages")).unwrap();
        line.split_whitespace().nth(5).unwrap().parse().unwrap()
    };
    // Deleting most users leaves their pages free in the file.
    let store = refdb_storage::Store::open(d.join("refdb.db"), None).unwrap();
    let ids: Vec<String> = store
        .read()
        .unwrap()
        .scan("users", None)
        .unwrap()
        .map(|e| e.unwrap().0)
        .skip(100)
        .collect();
    store
        .write(|tx| {
            ids.iter()
                .try_for_each(|id| tx.delete("users", id).map(drop))
        })
        .unwrap();
    drop(store);
    let deleted = digest(&refdb(&["check"], d));
    assert_ne!(deleted, before);
    let len = || std::fs::metadata(d.join("refdb.db")).unwrap().len();
    let grown = len();
    let free_before = free(&text(&refdb(&["check"], d)));
    let o = refdb(&["compact"], d);
    assert!(
        o.status.success() && text(&o).contains("compacted"),
        "{}",
        text(&o)
    );
    assert!(len() < grown, "{} then {}", grown, len());
    let after = refdb(&["check"], d);
    assert_eq!(digest(&after), deleted);
    assert!(free(&text(&after)) < free_before, "{}", text(&after));
}
