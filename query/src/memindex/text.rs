//! The full-text index of one collection's `search: true` fields: a
//! tantivy index (in RAM, derived, rebuilt at every start) plus an overlay
//! of the documents changed since its last commit.
//!
//! Tantivy answers only "which docnos hold all these words"; order, paging
//! and totals stay the executor's (bitmaps). A tantivy commit costs
//! milliseconds, too much for every refdb commit, so the index lags and the
//! overlay makes up the difference:
//!
//! - [`TextIndex::searcher`] is a frozen view of tantivy at some commit C;
//! - [`TextIndex::dirty`] holds every docno whose searched values changed
//!   (created, updated, deleted) since the state C was built from;
//! - a query answers `(tantivy hits at C − dirty) ∪ {d ∈ dirty : d's
//!   current value holds every word}`, current values being the n-gram
//!   index's ([`SearchIndex::value`]), analyzed by [`crate::text`].
//!
//! Invariant (exactness): for every docno d not in `dirty`, tantivy at C
//! holds d's current searched values (or nothing, if d is dead or has
//! none). The commit observer keeps it by adding every changed docno to
//! `dirty` ([`TextIndex::mark`]) under the indexes' write lock and the
//! store's gate, so a query — which holds the gate and the read lock —
//! sees every committed write (read-your-writes).
//!
//! Flushing ([`flush`]) shrinks the overlay without ever breaking the
//! invariant, in three steps:
//! 1. under the write lock: snapshot `todo = dirty` and start `tracking`
//!    (the observer adds every docno it marks from now on to it too);
//! 2. without the lock held across tantivy work: read the current values of
//!    `todo` (under the read lock, in chunks), replace those documents in
//!    the tantivy writer, commit, reload the reader;
//! 3. under the write lock: swap in the new searcher and set
//!    `dirty -= todo − tracking`. A docno of `todo` not touched since step
//!    1 is exact in the new commit; one touched since stays dirty; one not
//!    in `todo` was exact before and tantivy did not change it. The swap
//!    and the overlay change happen together, under one lock that queries
//!    exclude, so no change is missed or counted twice.
//!
//! The flush does not take the store's gate: it never changes what a
//! query answers, only how. Lock order: the flush lock (the writer's
//! mutex), then the indexes' lock; nothing takes them the other way. A
//! failed flush drops the writer (its uncommitted work with it) and leaves
//! `dirty` as it was, which is still exact.
//!
//! In RAM ([`TextIndex::new`]) the tantivy index starts empty and every
//! document with a searched value is dirty: queries are exact from the
//! first moment (evaluated on the in-memory values), and the first flush —
//! in the background, see [`crate::engine`] — builds the index.
//!
//! Saved in a directory ([`TextIndex::open_saved`]), every commit carries
//! the change-log position it reflects: each change record below it is in
//! tantivy, for every docno not dirty at that commit. (The flush takes that
//! position with `todo` in step 1: every change before it is in `todo` or
//! already exact, and step 2 reads values at least that recent.) A restart
//! then marks dirty only the documents named by the records from there on,
//! instead of all of them. The directory is a derivative: its commit also
//! names the schema and the record just below its position, and one that
//! does not match the file's history is deleted and rebuilt.

use super::checkpoint::Position;
use super::inflight::{Counted, InFlight};
use super::ngram::SearchIndex;
use crate::query_error::QueryError;
use crate::text;
use roaring::RoaringBitmap;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::indexer::UserOperation;
use tantivy::query::{AllQuery, BooleanQuery, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{
    DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, Searcher, SegmentReader,
    TantivyDocument, Term,
};

/// Documents read per hold of the read lock while flushing.
const FLUSH_CHUNK: usize = 16 * 1024;

/// Documents sent to tantivy's writer and not yet indexed, at most (see
/// [`super::inflight`]): 64k documents of a few hundred bytes each.
const QUEUE_BOUND: usize = 4 * FLUSH_CHUNK;

/// The tantivy writer's memory budget (one indexing thread).
const WRITER_BUDGET: usize = 64 * 1024 * 1024;

const DOCNO: &str = "docno";

/// A saved index's commits restamp their position once the log has moved
/// this far past the last stamp with no searched value changed, so that a
/// restart does not re-read records that touched no searched field.
pub(crate) const RESTAMP_AFTER: u64 = 1 << 16;

/// Tells which format a saved index's commit payload is in.
const PAYLOAD_FORMAT: u64 = 1;

/// The version of [`text::analyzer`]'s words: a saved index made by
/// another is rebuilt (its terms would miss documents). Raise it with any
/// change to how text becomes words.
const ANALYZER_VERSION: u64 = 1;

/// The hash of the change record just below a log position (see
/// [`super::checkpoint::record_hash`]; 0 when the log keeps none).
pub type RecordHash = Box<dyn Fn(u64) -> u64 + Send + Sync>;

/// See the module doc.
pub struct TextIndex {
    shared: Arc<Shared>,
    /// Tantivy as of its last commit applied to this overlay.
    searcher: Searcher,
    /// Docnos changed since the state `searcher` was built from.
    dirty: RoaringBitmap,
    /// While a flush runs: docnos marked since it took its `todo`.
    tracking: Option<RoaringBitmap>,
    /// A saved index: the log position its last commit carries.
    stamped: u64,
}

/// What stamps a saved index's commits.
struct Saved {
    /// [`super::checkpoint::fingerprint`] of the schema it was built under.
    fingerprint: u64,
    record_hash: RecordHash,
}

/// What the flush needs without the indexes' lock.
struct Shared {
    index: Index,
    reader: IndexReader,
    /// `search` field name → tantivy field.
    fields: HashMap<String, Field>,
    docno: Field,
    /// The flush lock: one flush at a time owns the writer.
    writer: Mutex<WriterState>,
    /// The documents sent to the writer and not yet indexed.
    queued: Arc<InFlight>,
    /// How many of them a flush lets wait ([`QUEUE_BOUND`]).
    queue_bound: usize,
    /// Set when the index lives in a directory.
    saved: Option<Saved>,
}

#[derive(Default)]
struct WriterState {
    writer: Option<IndexWriter<Counted>>,
    /// Docnos that have a tantivy document as of the last commit, so that
    /// a delete is sent only for these (the first build sends none). None
    /// for an index loaded from its directory: finding them would read
    /// every document's docno at start, so every changed docno gets a
    /// delete instead (one for a docno tantivy lacks costs nothing).
    indexed: Option<RoaringBitmap>,
}

impl std::fmt::Debug for TextIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextIndex")
            .field("fields", &self.shared.fields.keys().collect::<Vec<_>>())
            .field("tantivy_docs", &self.searcher.num_docs())
            .field("dirty", &self.dirty.len())
            .field("flushing", &self.tracking.is_some())
            .finish()
    }
}

fn tantivy_err(e: tantivy::TantivyError) -> QueryError {
    QueryError::Internal(format!("full-text index: {e}"))
}

impl TextIndex {
    /// An empty index in RAM over these `search` fields; `dirty` are the
    /// docnos that have searched values (they are answered from the overlay
    /// until the first flush indexes them).
    pub fn new(fields: &[&str], dirty: RoaringBitmap) -> Result<TextIndex, QueryError> {
        let (schema, docno, fields) = tantivy_schema(fields);
        let index = Index::create_in_ram(schema);
        let reader = manual_reader(&index).map_err(tantivy_err)?;
        let mut t = TextIndex::over(index, reader, docno, fields, None);
        t.dirty = dirty;
        Ok(t)
    }

    /// The index saved in `dir`, with the position its last commit
    /// reflects; or, when there is none that was built under this schema
    /// (`fingerprint`), a new empty one there (the directory's content is
    /// deleted) and `None`. Either way nothing is dirty yet: the caller
    /// marks what changed since the position, or everything.
    /// `record_hash` stamps each commit with the record below its position.
    pub fn open_saved(
        fields: &[&str],
        dir: &Path,
        fingerprint: u64,
        record_hash: RecordHash,
    ) -> Result<(TextIndex, Option<Position>), QueryError> {
        let (schema, docno, fields) = tantivy_schema(fields);
        let saved = Saved {
            fingerprint,
            record_hash,
        };
        if let Some((index, reader, pos)) = open_dir(dir, &schema, fingerprint) {
            let mut t = TextIndex::over(index, reader, docno, fields, Some(saved));
            t.shared
                .writer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .indexed = None;
            t.stamped = pos.next_seq;
            return Ok((t, Some(pos)));
        }
        let io = |e: std::io::Error| {
            QueryError::Internal(format!("full-text index {}: {e}", dir.display()))
        };
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io)?;
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        let index = Index::create_in_dir(dir, schema).map_err(tantivy_err)?;
        let reader = manual_reader(&index).map_err(tantivy_err)?;
        Ok((
            TextIndex::over(index, reader, docno, fields, Some(saved)),
            None,
        ))
    }

    fn over(
        index: Index,
        reader: IndexReader,
        docno: Field,
        fields: HashMap<String, Field>,
        saved: Option<Saved>,
    ) -> TextIndex {
        index
            .tokenizers()
            .register(text::ANALYZER_NAME, text::analyzer());
        let searcher = reader.searcher();
        TextIndex {
            shared: Arc::new(Shared {
                index,
                reader,
                fields,
                docno,
                writer: Mutex::new(WriterState {
                    writer: None,
                    indexed: Some(RoaringBitmap::new()),
                }),
                queued: Arc::new(InFlight::default()),
                queue_bound: QUEUE_BOUND,
                saved,
            }),
            searcher,
            dirty: RoaringBitmap::new(),
            tracking: None,
            stamped: 0,
        }
    }

    /// Adds docnos to the overlay (at start: what changed since a saved
    /// index's position, or everything).
    pub fn mark_all(&mut self, docnos: &RoaringBitmap) {
        self.dirty |= docnos;
    }

    /// Whether the index lives in a directory.
    pub fn is_saved(&self) -> bool {
        self.shared.saved.is_some()
    }

    /// Whether a flush is due although nothing is dirty: a saved index
    /// never stamped (a new one over an empty collection: stamped, the
    /// next start can take it up), or whose position lags `log_end` by
    /// [`RESTAMP_AFTER`] records.
    pub fn restamp_due(&self, log_end: u64) -> bool {
        self.is_saved()
            && (self.stamped == 0 || log_end.saturating_sub(self.stamped) >= RESTAMP_AFTER)
    }

    /// Records that a docno's searched values changed (observer, under the
    /// write lock and the gate).
    pub fn mark(&mut self, docno: u32) {
        self.dirty.insert(docno);
        if let Some(t) = &mut self.tracking {
            t.insert(docno);
        }
    }

    /// Docnos answered from the overlay.
    pub fn dirty_len(&self) -> u64 {
        self.dirty.len()
    }

    /// Documents in the tantivy view queries use.
    pub fn tantivy_docs(&self) -> u64 {
        self.searcher.num_docs()
    }

    /// Segments of that view (each is searched in turn; merges lower it).
    pub fn tantivy_segments(&self) -> usize {
        self.searcher.segment_readers().len()
    }

    /// The live docnos whose `field` holds every one of `words`
    /// (distinct, analyzed by [`crate::text`]); see the module doc.
    pub fn search(
        &self,
        field: &str,
        words: &[String],
        values: &SearchIndex,
        live: &RoaringBitmap,
    ) -> Result<RoaringBitmap, QueryError> {
        let f = *self.shared.fields.get(field).ok_or_else(|| {
            QueryError::Internal(format!("no full-text index for field `{field}`"))
        })?;
        let mut hits = if self.searcher.num_docs() == 0 {
            RoaringBitmap::new()
        } else {
            let terms: Vec<Box<dyn Query>> = words
                .iter()
                .map(|w| {
                    Box::new(TermQuery::new(
                        Term::from_field_text(f, w),
                        IndexRecordOption::Basic,
                    )) as Box<dyn Query>
                })
                .collect();
            let q = BooleanQuery::intersection(terms);
            self.searcher
                .search(&q, &DocnoCollector)
                .map_err(tantivy_err)?
        };
        hits -= &self.dirty;
        hits &= live;
        let mut a = text::analyzer();
        for d in &self.dirty {
            if let Some(v) = values.value(d)
                && text::contains_all(&mut a, v, words)
            {
                hits.insert(d);
            }
        }
        Ok(hits)
    }
}

/// What an audit reads of a saved index: the docnos it holds, how many
/// documents (more than docnos: some docno twice), and the position its
/// last commit carries.
pub struct SavedText {
    pub docnos: RoaringBitmap,
    pub documents: u64,
    pub position: Position,
}

/// For an audit: the index saved in `dir`, read without changing anything
/// (None: none there that the next start would take up; an error: it
/// could not be read through).
pub fn read_saved(
    fields: &[&str],
    dir: &Path,
    fingerprint: u64,
) -> Result<Option<SavedText>, QueryError> {
    let (schema, ..) = tantivy_schema(fields);
    let Some((_, reader, position)) = open_dir(dir, &schema, fingerprint) else {
        return Ok(None);
    };
    let searcher = reader.searcher();
    let docnos = searcher
        .search(&AllQuery, &DocnoCollector)
        .map_err(tantivy_err)?;
    Ok(Some(SavedText {
        docnos,
        documents: searcher.num_docs(),
        position,
    }))
}

/// The tantivy schema of these `search` fields: the docno, and one text
/// field per searched field under a name of our own (schema names need not
/// suit tantivy), in the order given.
fn tantivy_schema(fields: &[&str]) -> (Schema, Field, HashMap<String, Field>) {
    let mut sb = Schema::builder();
    let docno = sb.add_u64_field(DOCNO, NumericOptions::default().set_indexed().set_fast());
    let opts = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(text::ANALYZER_NAME)
            .set_index_option(IndexRecordOption::Basic),
    );
    let fields = fields
        .iter()
        .enumerate()
        .map(|(i, name)| {
            (
                name.to_string(),
                sb.add_text_field(&format!("f{i}"), opts.clone()),
            )
        })
        .collect();
    (sb.build(), docno, fields)
}

/// A reader that reloads only when told (after each flush's commit).
fn manual_reader(index: &Index) -> tantivy::Result<IndexReader> {
    index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
}

/// The index in `dir`, a reader of it and its position, if there is one
/// with this tantivy schema, made under this refdb schema and this
/// analyzer, whose segments open. Anything unreadable counts as none.
fn open_dir(
    dir: &Path,
    schema: &Schema,
    fingerprint: u64,
) -> Option<(Index, IndexReader, Position)> {
    let index = Index::open_in_dir(dir).ok()?;
    if index.schema() != *schema {
        return None;
    }
    let payload = index.load_metas().ok()?.payload?;
    let p: serde_json::Value = serde_json::from_str(&payload).ok()?;
    let num = |k: &str| p.get(k).and_then(serde_json::Value::as_u64);
    let ours = num("format") == Some(PAYLOAD_FORMAT)
        && num("analyzer") == Some(ANALYZER_VERSION)
        && num("fingerprint") == Some(fingerprint);
    let pos = Position {
        next_seq: num("next_seq")?,
        last_hash: num("last_hash")?,
    };
    if !ours {
        return None;
    }
    // Its segments open (none missing or unreadable).
    let reader = manual_reader(&index).ok()?;
    Some((index, reader, pos))
}

/// The payload a saved index's commit carries (read by [`open_dir`]).
fn payload(saved: &Saved, next_seq: u64) -> String {
    let last_hash = (saved.record_hash)(next_seq);
    serde_json::json!({
        "format": PAYLOAD_FORMAT,
        "analyzer": ANALYZER_VERSION,
        "fingerprint": saved.fingerprint,
        "next_seq": next_seq,
        "last_hash": last_hash,
    })
    .to_string()
}

/// Collects the docno fast field of every hit into a bitmap.
struct DocnoCollector;

struct DocnoSegment {
    column: Column<u64>,
    out: Vec<u32>,
}

impl Collector for DocnoCollector {
    type Fruit = RoaringBitmap;
    type Child = DocnoSegment;

    fn for_segment(&self, _: u32, segment: &SegmentReader) -> tantivy::Result<DocnoSegment> {
        Ok(DocnoSegment {
            column: segment.fast_fields().u64(DOCNO)?,
            out: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<RoaringBitmap>) -> tantivy::Result<RoaringBitmap> {
        let mut all = RoaringBitmap::new();
        for f in fruits {
            all |= f;
        }
        Ok(all)
    }
}

impl SegmentCollector for DocnoSegment {
    type Fruit = RoaringBitmap;

    fn collect(&mut self, doc: DocId, _: Score) {
        // Docnos are u32 by construction; anything else is not ours.
        if let Some(d) = self.column.first(doc).and_then(|d| u32::try_from(d).ok()) {
            self.out.push(d);
        }
    }

    fn harvest(mut self) -> RoaringBitmap {
        self.out.sort_unstable();
        self.out.dedup();
        RoaringBitmap::from_sorted_iter(self.out).unwrap_or_default()
    }
}

/// Flushes one collection's overlay into tantivy (module doc, steps 1–3).
/// Returns how many docnos it wrote; 0 when nothing was dirty.
pub fn flush(indexes: &RwLock<super::MemIndexes>, coll: &str) -> Result<u64, QueryError> {
    let read = || indexes.read().unwrap_or_else(|e| e.into_inner());
    let write = || indexes.write().unwrap_or_else(|e| e.into_inner());
    let shared = read()
        .colls
        .get(coll)
        .and_then(|c| c.text.as_ref())
        .map(|t| t.shared.clone());
    let Some(shared) = shared else {
        return Ok(0);
    };
    let mut state = shared.writer.lock().unwrap_or_else(|e| e.into_inner());
    // Step 1, with the log position every change before `todo` was taken
    // is in.
    let (todo, at) = {
        let mut ix = write();
        let log_end = ix.log_end;
        let Some(t) = ix.colls.get_mut(coll).and_then(|c| c.text.as_mut()) else {
            return Ok(0);
        };
        let due = !t.dirty.is_empty() || t.restamp_due(log_end);
        if !due || !Arc::ptr_eq(&t.shared, &shared) {
            return Ok(0);
        }
        t.tracking = Some(RoaringBitmap::new());
        (t.dirty.clone(), log_end)
    };
    // Step 2.
    let result = write_tantivy(&shared, &mut state, &todo, at, indexes, coll);
    // Step 3 (or, on failure, just stop tracking: `dirty` is still exact).
    let mut ix = write();
    let Some(t) = ix.colls.get_mut(coll).and_then(|c| c.text.as_mut()) else {
        return Ok(0);
    };
    let tracked = t.tracking.take().unwrap_or_default();
    match result {
        Ok(searcher) => {
            t.searcher = searcher;
            t.dirty -= &todo - &tracked;
            t.stamped = at;
            Ok(todo.len())
        }
        Err(e) => {
            state.writer = None;
            Err(e)
        }
    }
}

/// Waits for the merges tantivy runs in the background after a commit to
/// end, then lets the collection's searcher see the merged segments. A
/// merge changes how the documents are cut into segments, never which
/// ones are indexed, so the overlay stays exact. The writer is closed for
/// it; the next flush opens another, and waits meanwhile (seconds at 10M
/// documents): for benchmarks and tests, not for a serving engine.
/// Returns whether there was a writer.
pub fn settle(indexes: &RwLock<super::MemIndexes>, coll: &str) -> Result<bool, QueryError> {
    let shared = indexes
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .colls
        .get(coll)
        .and_then(|c| c.text.as_ref())
        .map(|t| t.shared.clone());
    let Some(shared) = shared else {
        return Ok(false);
    };
    let mut state = shared.writer.lock().unwrap_or_else(|e| e.into_inner());
    let Some(writer) = state.writer.take() else {
        return Ok(false);
    };
    writer.wait_merging_threads().map_err(tantivy_err)?;
    shared.reader.reload().map_err(tantivy_err)?;
    // Under the flush lock, so no flush swaps the searcher meanwhile.
    let mut ix = indexes.write().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = ix.colls.get_mut(coll).and_then(|c| c.text.as_mut())
        && Arc::ptr_eq(&t.shared, &shared)
    {
        t.searcher = shared.reader.searcher();
    }
    Ok(true)
}

/// Step 2 of [`flush`]: the documents of `todo` as they are now, into
/// tantivy; commit (a saved index's stamped with `at`); the new searcher.
fn write_tantivy(
    shared: &Shared,
    state: &mut WriterState,
    todo: &RoaringBitmap,
    at: u64,
    indexes: &RwLock<super::MemIndexes>,
    coll: &str,
) -> Result<Searcher, QueryError> {
    let writer = match &mut state.writer {
        Some(w) => w,
        None => state.writer.insert(
            shared
                .index
                .writer_with_num_threads(1, WRITER_BUDGET)
                .map_err(tantivy_err)?,
        ),
    };
    let mut indexed = state.indexed.clone();
    let mut ids = todo.iter();
    let chunk_len = FLUSH_CHUNK.min(shared.queue_bound / 4).max(1);
    let closing = || indexes.read().unwrap_or_else(|e| e.into_inner()).closing;
    let stopped =
        || QueryError::Internal("the engine is closing: the full-text flush stopped".into());
    loop {
        let chunk: Vec<u32> = ids.by_ref().take(chunk_len).collect();
        if chunk.is_empty() {
            break;
        }
        // Tantivy's queue does not bound documents: wait until it has
        // indexed enough of those sent before that this chunk fits.
        let room = shared.queue_bound.saturating_sub(chunk.len());
        if !shared.queued.wait_until_at_most(room, closing) {
            return Err(stopped());
        }
        let docs = {
            let ix = indexes.read().unwrap_or_else(|e| e.into_inner());
            if ix.closing {
                return Err(stopped());
            }
            let Some(ci) = ix.colls.get(coll) else {
                return Err(QueryError::UnknownCollection(coll.to_string()));
            };
            read_docs(shared, ci, &chunk)
        };
        // One batch per chunk: a document at a time, the writer's bounded
        // channel filled up and every send spun until tantivy's indexing
        // thread took one (a seventh of the CPU of a start that builds the
        // index, on 2 cores). Operations keep their order within a batch.
        let mut ops = Vec::with_capacity(2 * chunk.len());
        for (d, doc) in chunk.into_iter().zip(docs) {
            let held = indexed.as_mut().is_none_or(|i| i.remove(d));
            if held {
                let term = Term::from_field_u64(shared.docno, u64::from(d));
                ops.push(UserOperation::Delete(term));
            }
            if let Some(doc) = doc {
                ops.push(UserOperation::Add(shared.queued.count(doc)));
                if let Some(i) = indexed.as_mut() {
                    i.insert(d);
                }
            }
        }
        writer.run(ops).map_err(tantivy_err)?;
    }
    let mut commit = writer.prepare_commit().map_err(tantivy_err)?;
    if let Some(saved) = &shared.saved {
        commit.set_payload(&payload(saved, at));
    }
    commit.commit().map_err(tantivy_err)?;
    state.indexed = indexed;
    shared.reader.reload().map_err(tantivy_err)?;
    Ok(shared.reader.searcher())
}

/// The tantivy documents of these docnos as the in-memory values hold
/// them now (None: dead, or no searched value).
fn read_docs(
    shared: &Shared,
    ci: &super::CollIndex,
    chunk: &[u32],
) -> Vec<Option<TantivyDocument>> {
    chunk
        .iter()
        .map(|&d| {
            let mut doc = TantivyDocument::new();
            let mut any = false;
            for (name, &f) in &shared.fields {
                if let Some(v) = ci.search.get(name).and_then(|si| si.value(d)) {
                    doc.add_text(f, v);
                    any = true;
                }
            }
            any.then(|| {
                doc.add_u64(shared.docno, u64::from(d));
                doc
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use refdb_storage::{OpenOptions, Schema, Store};

    /// However far tantivy's indexing thread falls behind, a flush keeps
    /// at most its bound of documents waiting for it.
    #[test]
    fn a_flush_never_queues_more_than_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let schema = r#"{"app": "t", "collections": {"people": {"fields": {
            "name": {"type": "string", "search": true}}}}}"#;
        let opts = OpenOptions {
            schema: Some(Schema::parse(schema).unwrap()),
            ..OpenOptions::default()
        };
        let store = Store::open_with(dir.path().join("t.db"), opts).unwrap();
        const N: u64 = 20_000;
        store
            .write(|tx| {
                let docs = (0..N).map(|i| {
                    let mut d = serde_json::Map::new();
                    d.insert("name".into(), format!("person {i} of many").into());
                    d
                });
                tx.create_many("people", docs)
            })
            .unwrap();
        let mut built =
            super::super::MemIndexes::build(store.schema(), &store.read().unwrap()).unwrap();
        let text = built
            .colls
            .get_mut("people")
            .unwrap()
            .text
            .as_mut()
            .unwrap();
        let bound = 2000;
        Arc::get_mut(&mut text.shared).unwrap().queue_bound = bound;
        let queued = text.shared.queued.clone();
        let ix = RwLock::new(built);
        assert_eq!(flush(&ix, "people").unwrap(), N);
        assert!(
            queued.peak() > 0 && queued.peak() <= bound,
            "{}",
            queued.peak()
        );
        assert_eq!(queued.held(), 0, "every document sent was indexed");
        let t = ix.read().unwrap();
        let t = t.colls["people"].text.as_ref().unwrap();
        assert_eq!((t.dirty_len(), t.tantivy_docs()), (0, N));
    }
}
