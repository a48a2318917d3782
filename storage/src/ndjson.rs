//! NDJSON import and export (one document per line), the engine behind
//! `refdb import` and `refdb export`.
//!
//! Import streams its input, validates every line and writes in large
//! transactions (one per [`ImportOptions::batch`] lines; by default one
//! for the whole input). Two modes:
//! - **stop** (default): the first bad line stops the import; lines of the
//!   batch in progress are rolled back, earlier batches stay committed
//!   (with `batch` ≥ the line count, the default, the import is
//!   all-or-nothing);
//! - **skip**: bad lines (malformed JSON, schema errors, id conflicts,
//!   missing references) are reported and skipped; the others are written.
//!
//! Export writes documents in `_id` order without `_meta` (the engine's)
//! and without derived `refs` lists (rebuilt from the other side), so an
//! export imports back to the same documents.

use crate::error::{Error, Result};
use crate::schema::Collection;
use crate::write::{BATCH, Checked, Spent, check_and_encode};
use crate::{Document, Store};
use serde_json::{Map, Value};
use std::io::{BufRead, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Lines per transaction. The default, every line in one, is also the
    /// fastest: each commit rewrites the reverse-index rows of every
    /// target referenced since the last (ten commits of a million users
    /// over a million addresses rewrote 6.3 million rows), and the
    /// existence checks of references start over. A transaction holds in
    /// memory one change per line for the store's commit observers and
    /// `after_commit` hooks, if it has any (the command line has none): a
    /// library importing a very large file with those should set a batch.
    pub batch: usize,
    /// Skip bad lines instead of stopping at the first.
    pub skip_invalid: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            batch: usize::MAX,
            skip_invalid: false,
        }
    }
}

/// One refused line.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: u64,
    /// `$.path` of the bad field, when there is one.
    pub path: Option<String>,
    pub message: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.path {
            Some(p) => write!(f, "line {}: {p}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    pub imported: u64,
    pub skipped: Vec<BadLine>,
    /// Set when the import stopped at a bad line.
    pub stopped_at: Option<BadLine>,
}

/// Progress as (lines read, bytes read), reported after every batch and
/// every 10,000 lines.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

fn bad_line(line: u64, e: &Error) -> BadLine {
    let message = match e {
        Error::Invalid(v) if v.len() > 1 => v
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("; "),
        Error::Invalid(v) => v.first().map(|i| i.message.clone()).unwrap_or_default(),
        Error::BadInput { message, .. } => message.clone(),
        e => e.to_string(),
    };
    BadLine {
        line,
        path: e.path().map(str::to_string),
        message,
    }
}

/// One line as the parsing thread hands it over: its number, the bytes
/// read up to its end, and the document checked and encoded (or why not).
struct Parsed {
    line: u64,
    bytes: u64,
    doc: Result<Checked>,
}

/// Imports NDJSON lines from `input` into `coll`.
///
/// A second thread reads, parses, validates and encodes the lines (see
/// [`crate::write`]'s bulk creates) while this one writes them, in order.
pub fn import(
    store: &Store,
    coll: &str,
    input: impl BufRead + Send,
    opts: &ImportOptions,
    progress: Progress<'_>,
) -> Result<ImportReport> {
    let c = crate::read::collection(store.schema(), coll)?;
    std::thread::scope(|scope| {
        let (send, recv) = sync_channel::<Vec<Parsed>>(4);
        let (mut spent, freeing) = Spent::channel();
        scope.spawn(move || parse_lines(c, input, send, freeing));
        write_lines(
            store,
            coll,
            recv.into_iter().flatten(),
            &mut spent,
            opts,
            progress,
        )
    })
}

/// The parsing thread: sends every non-blank line, checked and encoded,
/// in batches; stops when the writer hangs up (it stopped at an error).
/// Between batches it frees the documents the writer has created: they
/// were allocated here, where freeing them costs least.
fn parse_lines(
    c: &Collection,
    input: impl BufRead,
    send: SyncSender<Vec<Parsed>>,
    freeing: Receiver<Vec<Map<String, Value>>>,
) {
    let (mut line, mut bytes) = (0u64, 0u64);
    let mut lines = input.lines();
    loop {
        freeing.try_iter().for_each(drop);
        let mut batch = Vec::with_capacity(BATCH);
        for text in lines.by_ref() {
            line += 1;
            let doc = match text {
                Ok(text) => {
                    bytes += text.len() as u64 + 1;
                    if text.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<Value>(&text) {
                        Ok(Value::Object(doc)) => check_and_encode(c, doc),
                        Ok(_) => Err(Error::bad("$", "a line must hold one JSON object")),
                        Err(e) => Err(Error::bad("$", format!("malformed JSON: {e}"))),
                    }
                }
                Err(e) => Err(Error::Storage(format!("reading the input: {e}"))),
            };
            batch.push(Parsed { line, bytes, doc });
            if batch.len() == BATCH {
                break;
            }
        }
        if batch.is_empty() || send.send(batch).is_err() {
            break;
        }
    }
    // Hanging up ends the writer's loop; it then hangs up too.
    drop(send);
    freeing.into_iter().for_each(drop);
}

/// The writing thread: one transaction per `opts.batch` lines.
fn write_lines(
    store: &Store,
    coll: &str,
    parsed: impl Iterator<Item = Parsed>,
    spent: &mut Spent,
    opts: &ImportOptions,
    progress: Progress<'_>,
) -> Result<ImportReport> {
    let mut report = ImportReport::default();
    let mut parsed = parsed.peekable();
    let (mut line_no, mut bytes) = (0u64, 0u64);
    while parsed.peek().is_some() {
        let mut imported = 0u64;
        let mut skipped = Vec::new();
        let mut stop: Option<BadLine> = None;
        let mut first_line = None;
        let r = store.write(|tx| {
            let (c, cid) = tx.coll(coll)?;
            for p in parsed.by_ref().take(opts.batch.max(1)) {
                (line_no, bytes) = (p.line, p.bytes);
                first_line.get_or_insert(p.line);
                match tx.create_checked(c, cid, p.doc) {
                    Ok((_, body)) => {
                        imported += 1;
                        spent.push(body);
                    }
                    Err(Error::Aborted) => return Err(Error::Aborted),
                    Err(e) if opts.skip_invalid && e.is_user_error() && !tx.is_aborted() => {
                        skipped.push(bad_line(line_no, &e))
                    }
                    Err(e) if e.is_user_error() => {
                        stop = Some(bad_line(line_no, &e));
                        // Roll the batch back: returning an error drops the
                        // transaction.
                        return Err(e);
                    }
                    Err(e) => return Err(e),
                }
                if line_no.is_multiple_of(10_000) {
                    progress(line_no, bytes);
                }
            }
            Ok(())
        });
        progress(line_no, bytes);
        match (r, stop) {
            (Ok(()), _) => {
                report.imported += imported;
                report.skipped.extend(skipped);
            }
            (Err(_), Some(bad)) => {
                report.stopped_at = Some(bad);
                return Ok(report);
            }
            (Err(e), None) if e.is_disk_fault() => {
                let first = first_line.unwrap_or(line_no);
                let context = match report.imported {
                    0 => "the import stopped and was rolled back: nothing was imported. Free \
                          space, then import again"
                        .to_string(),
                    n => format!(
                        "the import stopped: {n} documents (the lines before line {first}) are \
                         in the file; the batch from line {first} was rolled back. Free space, \
                         then import the lines from {first} on"
                    ),
                };
                return Err(match e {
                    Error::NoSpace(m) => Error::NoSpace(format!("{m}; {context}")),
                    other => Error::Unavailable(format!("{other}; {context}")),
                });
            }
            (Err(e), None) => return Err(e),
        }
    }
    Ok(report)
}

/// The exportable form of a document: no `_meta`, no derived lists.
pub fn exportable(store: &Store, coll: &str, mut doc: Document) -> Document {
    doc.shift_remove("_meta");
    if let Some(c) = store.schema().collection(coll) {
        for f in c.fields.iter().filter(|f| !f.is_stored()) {
            doc.shift_remove(&f.name);
        }
        doc.retain(|_, v| !v.is_null());
    }
    doc
}

/// Writes every document of `coll`, in `_id` order, one JSON object per
/// line, from one consistent snapshot; returns how many.
pub fn export(store: &Store, coll: &str, mut out: impl Write) -> Result<u64> {
    let r = store.read()?;
    let mut n = 0;
    for e in r.scan(coll, None)? {
        let (id, stored) = e?;
        let doc = exportable(store, coll, r.materialize(coll, &id, stored)?);
        serde_json::to_writer(&mut out, &Value::Object(Map::from_iter(doc)))
            .map_err(|e| Error::Storage(format!("writing the output: {e}")))?;
        out.write_all(b"\n")
            .map_err(|e| Error::Storage(format!("writing the output: {e}")))?;
        n += 1;
    }
    out.flush()
        .map_err(|e| Error::Storage(format!("writing the output: {e}")))?;
    Ok(n)
}
