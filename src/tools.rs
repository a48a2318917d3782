//! The offline commands behind `refdb import`, `export`, `backup` and
//! `changes`: thin wrappers over [`refdb_storage::ndjson`],
//! [`Store::backup`] and the change log that add progress output and exit
//! codes.
//!
//! `export`, `backup` and `changes` open the file read-only, so they work
//! beside a running `refdb serve` (the server opens it as the single
//! writer); `import` writes, so it needs the file to itself, and leaves the
//! query engine's derived indexes saved beside it for the next start.

use indicatif::{ProgressBar, ProgressStyle};
use refdb_storage::Store;
use refdb_storage::ndjson::{self, ImportOptions};
use std::io::{BufReader, IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;
use std::process::ExitCode;

/// Imports an NDJSON file into a collection; returns false if it stopped
/// at a bad line.
pub fn import(store: &Store, coll: &str, file: &Path, opts: &ImportOptions) -> Result<bool> {
    let size = std::fs::metadata(file)
        .map_err(|e| format!("{}: {e}", file.display()))?
        .len();
    let input = BufReader::with_capacity(1 << 20, std::fs::File::open(file)?);
    let started = Instant::now();
    // A progress bar on a terminal; plain lines otherwise (logs, CI).
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(size);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta} left)")
                .expect("a valid template"),
        );
        bar
    });
    let mut last_print = Instant::now();
    let mut progress = |lines: u64, bytes: u64| {
        let rate = lines as f64 / started.elapsed().as_secs_f64().max(1e-9);
        match &bar {
            Some(bar) => {
                bar.set_position(bytes);
                bar.set_message(format!("{lines} lines, {rate:.0}/s"));
            }
            None if last_print.elapsed().as_secs() >= 2 || bytes == size => {
                last_print = Instant::now();
                eprintln!("import {coll}: {lines} lines, {bytes}/{size} bytes, {rate:.0} lines/s");
            }
            None => {}
        }
    };
    let report = ndjson::import(store, coll, input, opts, &mut progress)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    for bad in &report.skipped {
        eprintln!("skipped {bad}");
    }
    let secs = started.elapsed().as_secs_f64();
    match &report.stopped_at {
        Some(bad) if report.imported == 0 => {
            eprintln!("stopped at {bad}; nothing was imported");
            Ok(false)
        }
        Some(bad) => {
            eprintln!(
                "stopped at {bad}; that batch was rolled back ({} documents imported before it)",
                report.imported
            );
            Ok(false)
        }
        None => {
            println!(
                "imported {} documents into {coll} in {secs:.2} s ({} skipped)",
                report.imported,
                report.skipped.len()
            );
            Ok(true)
        }
    }
}

/// After an import, once its store is closed: a bulk load leaves free
/// pages behind in the file (measured: 15% of a 1M-user load's file, the
/// pages its transactions freed as it grew), so when more than an eighth
/// of the file (and over 16 MiB: redb keeps some room of its own) is
/// unused, the file is compacted (0.6 s for the 1M-user file, 8 s to load)
/// — if it is at most [`AUTO_COMPACT_MAX`]: redb's compaction grows faster
/// than the file (0.7 s for 600 MiB, 129 s for 6.3 GiB, measured), so a
/// larger file is left as it is, with a line saying how much `refdb
/// compact` would give back. Smaller imports into a large file skip it.
///
/// The file is measured closed, from a read-only open: closing gives the
/// free end of the file back, which the open store still counts (a
/// 10M-user import's store saw 1.9 GiB free that closing left at 29 MB).
pub fn compact_after_import(path: &Path) -> Result<()> {
    let unused = {
        let store = Store::open_read_only(path)?;
        let tables = store.read()?.space()?;
        refdb_storage::space::unused_bytes(path, &tables)?
    };
    let len = std::fs::metadata(path)?.len();
    if unused <= len / 8 || unused <= 16 << 20 {
        return Ok(());
    }
    if len <= AUTO_COMPACT_MAX {
        return compact(path);
    }
    println!(
        "{:.0} MiB of {} are free pages; `refdb compact` gives them back (it took \
         2 minutes for a 6 GiB file)",
        unused as f64 / 1048576.0,
        path.display()
    );
    Ok(())
}

/// The largest file an import compacts by itself.
const AUTO_COMPACT_MAX: u64 = 2 << 30;

/// Compacts the file (`refdb compact`), saying how much it gave back.
pub fn compact(db: &Path) -> Result<()> {
    if !db.exists() {
        return Err(format!("{} does not exist", db.display()).into());
    }
    compact_store(&Store::open(db, None)?, db)
}

fn compact_store(store: &Store, db: &Path) -> Result<()> {
    let started = Instant::now();
    let (before, after) = store.compact()?;
    println!(
        "compacted {}: {:.1} MiB -> {:.1} MiB in {:.2} s",
        db.display(),
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Builds the query engine's derived indexes from the imported file and
/// saves them beside it (`<db>.index`), so that the next `refdb serve`
/// loads them instead of building them from every document. They are a
/// derivative: when this fails the import stands, and the next start
/// builds them, which is what the warning says.
pub fn save_indexes_after_import(db: &Path) {
    let started = Instant::now();
    let checkpoint = crate::config::index_checkpoint(db);
    let saved = Store::open_read_only(db)
        .map_err(Box::<dyn std::error::Error>::from)
        .and_then(|store| Ok(refdb_query::Engine::build_checkpoint(&store, &checkpoint)?));
    match saved {
        Ok(_) => println!(
            "saved the derived indexes in {} ({:.1} MiB) in {:.2} s: `refdb serve` loads them",
            checkpoint.display(),
            std::fs::metadata(&checkpoint).map_or(0, |m| m.len()) as f64 / 1048576.0,
            started.elapsed().as_secs_f64()
        ),
        Err(e) => eprintln!(
            "refdb: the derived indexes were not saved ({e}); the next `refdb serve` \
             builds them from the documents"
        ),
    }
}

/// Writes a collection as NDJSON to `out` (`-` for standard output).
pub fn export(db: &Path, coll: &str, out: &Path) -> Result<()> {
    let store = Store::open_read_only(db)?;
    let n = if out == Path::new("-") {
        ndjson::export(&store, coll, std::io::stdout().lock())?
    } else {
        let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
        let n = ndjson::export(&store, coll, &mut file)?;
        file.flush()?;
        n
    };
    eprintln!("exported {n} documents from {coll}");
    Ok(())
}

/// Writes a consistent copy of the database, even while a server runs.
pub fn backup(db: &Path, out: &Path) -> Result<()> {
    let store = Store::open_read_only(db)?;
    let started = Instant::now();
    let rows = store.backup(out)?;
    println!(
        "backed up {rows} rows to {} in {:.2} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `refdb changes`: the change log as NDJSON on standard output, one
/// record a line, from the record after `since` (0: the oldest kept);
/// with `follow`, then waits for new records (polling, as a read-only
/// reader beside the server cannot be told of commits). Each line:
/// `{"seq","txn","time","coll","_id","op","doc"}`, `doc` being the
/// document as stored after the change (`_id`, stored fields, `_meta`;
/// derived reference lists are not part of a change) or null for a delete.
pub fn changes(db: &Path, since: u64, follow: bool) -> Result<ExitCode> {
    let store = Store::open_read_only(db)?;
    let (first, next) = store.read()?.change_log_extent()?;
    if since > 0 && first.map_or(since + 1 < next, |f| since + 1 < f) {
        return Err(format!(
            "the change log no longer holds the records after {since}: it starts at {} \
             (see --changes-retention)",
            first.unwrap_or(next)
        )
        .into());
    }
    let mut after = since;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    loop {
        let batch = store.read()?.changes(after, 1000)?;
        if let Some(last) = batch.last() {
            after = last.seq;
        }
        for rec in &batch {
            let line = change_json(store.schema(), rec)?;
            if let Err(e) = writeln!(out, "{line}") {
                // `refdb changes | head`: the reader is gone, not an error.
                return match e.kind() {
                    std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                    _ => Err(e.into()),
                };
            }
        }
        if batch.is_empty() {
            if !follow {
                break;
            }
            if let Err(e) = out.flush() {
                return match e.kind() {
                    std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                    _ => Err(e.into()),
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn change_json(
    schema: &refdb_storage::Schema,
    rec: &refdb_storage::ChangeRecord,
) -> Result<serde_json::Value> {
    let doc = match rec.stored(schema)? {
        Some(stored) => {
            let mut d = serde_json::Map::new();
            d.insert("_id".into(), rec.id.clone().into());
            d.extend(stored.body);
            d.insert("_meta".into(), stored.meta);
            serde_json::Value::Object(d)
        }
        None => serde_json::Value::Null,
    };
    let time = chrono::DateTime::from_timestamp_micros(rec.time_us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    Ok(serde_json::json!({
        "seq": rec.seq, "txn": rec.txn, "time": time, "coll": rec.coll,
        "_id": rec.id, "op": rec.op.as_str(), "doc": doc,
    }))
}

/// `refdb hash-key KEY`: the line to paste into the schema.
pub fn hash_key(key: &str) -> Result<ExitCode> {
    let key = if key == "-" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        key.to_string()
    };
    if key.is_empty() {
        return Err("an API key cannot be empty".into());
    }
    println!("{}", crate::server::auth::sha256_hex(&key));
    Ok(ExitCode::SUCCESS)
}

/// `refdb check`: the audit of a file (read-only, so beside a running
/// server); exit 1 on problems.
pub fn check(db: &Path) -> Result<ExitCode> {
    let store = match refdb_storage::Store::open_read_only(db) {
        // Left unclean by a crash or a failed write: opening it for
        // writing repairs it back to its last commit (as SQLite rolls
        // back a hot journal), unless another process has it open.
        Err(refdb_storage::Error::NeedsRepair(_)) => {
            let store = refdb_storage::Store::open(db, None)?;
            println!(
                "repaired: {} was not closed cleanly; it now holds its last commit",
                db.display()
            );
            store
        }
        other => other?,
    };
    let report = store.audit()?;
    println!(
        "{} documents, {} references, {} change records; digest {:016x}",
        report.documents, report.references, report.change_records, report.digest
    );
    let tables = store.read()?.space()?;
    for t in &tables {
        println!(
            "table {:<14} {:>10} entries {:>12} bytes stored {:>12} bytes in pages",
            t.name, t.entries, t.stored_bytes, t.page_bytes
        );
    }
    println!(
        "free pages and redb's own: {} bytes (`refdb compact` gives free pages back)",
        refdb_storage::space::unused_bytes(db, &tables)?
    );
    // What the server derives and saves beside the file, against indexes
    // built anew from the documents.
    let saved = refdb_query::memindex::audit::audit_saved(
        &store.read()?,
        &crate::config::index_checkpoint(db),
        &crate::config::text_dir(db),
    )?;
    for n in &saved.notes {
        println!("saved index {n}");
    }
    let problems: Vec<&String> = report.problems.iter().chain(&saved.problems).collect();
    for p in &problems {
        println!("problem: {p}");
    }
    if problems.is_empty() {
        println!("ok");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} problem(s)", problems.len());
        Ok(ExitCode::from(1))
    }
}
