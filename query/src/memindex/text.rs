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
//! At start the tantivy index is empty and every document with a searched
//! value is dirty: queries are exact from the first moment (evaluated on
//! the in-memory values), and the first flush — in the background, see
//! [`crate::engine`] — builds the index.

use super::ngram::SearchIndex;
use crate::query_error::QueryError;
use crate::text;
use roaring::RoaringBitmap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{BooleanQuery, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{
    DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, Searcher, SegmentReader,
    TantivyDocument, Term,
};

/// Documents read per hold of the read lock while flushing.
const FLUSH_CHUNK: usize = 16 * 1024;

/// The tantivy writer's memory budget (one indexing thread).
const WRITER_BUDGET: usize = 64 * 1024 * 1024;

const DOCNO: &str = "docno";

/// See the module doc.
pub struct TextIndex {
    shared: Arc<Shared>,
    /// Tantivy as of its last commit applied to this overlay.
    searcher: Searcher,
    /// Docnos changed since the state `searcher` was built from.
    dirty: RoaringBitmap,
    /// While a flush runs: docnos marked since it took its `todo`.
    tracking: Option<RoaringBitmap>,
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
}

#[derive(Default)]
struct WriterState {
    writer: Option<IndexWriter>,
    /// Docnos that have a tantivy document as of the last commit (a
    /// delete is only sent for these: the first build sends none).
    indexed: RoaringBitmap,
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
    /// An empty index over these `search` fields; `dirty` are the docnos
    /// that have searched values (they are answered from the overlay until
    /// the first flush indexes them).
    pub fn new(fields: &[&str], dirty: RoaringBitmap) -> Result<TextIndex, QueryError> {
        let mut sb = Schema::builder();
        let docno = sb.add_u64_field(DOCNO, NumericOptions::default().set_indexed().set_fast());
        let opts = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(text::ANALYZER_NAME)
                .set_index_option(IndexRecordOption::Basic),
        );
        // Tantivy field names of our own: schema names need not suit it.
        let fields: HashMap<String, Field> = fields
            .iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    name.to_string(),
                    sb.add_text_field(&format!("f{i}"), opts.clone()),
                )
            })
            .collect();
        let index = Index::create_in_ram(sb.build());
        index
            .tokenizers()
            .register(text::ANALYZER_NAME, text::analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(tantivy_err)?;
        let searcher = reader.searcher();
        Ok(TextIndex {
            shared: Arc::new(Shared {
                index,
                reader,
                fields,
                docno,
                writer: Mutex::new(WriterState::default()),
            }),
            searcher,
            dirty,
            tracking: None,
        })
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
    // Step 1.
    let todo = {
        let mut ix = write();
        let Some(t) = ix.colls.get_mut(coll).and_then(|c| c.text.as_mut()) else {
            return Ok(0);
        };
        if t.dirty.is_empty() || !Arc::ptr_eq(&t.shared, &shared) {
            return Ok(0);
        }
        t.tracking = Some(RoaringBitmap::new());
        t.dirty.clone()
    };
    // Step 2.
    let result = write_tantivy(&shared, &mut state, &todo, indexes, coll);
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
            Ok(todo.len())
        }
        Err(e) => {
            state.writer = None;
            Err(e)
        }
    }
}

/// Step 2 of [`flush`]: the documents of `todo` as they are now, into
/// tantivy; commit; the new searcher.
fn write_tantivy(
    shared: &Shared,
    state: &mut WriterState,
    todo: &RoaringBitmap,
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
    loop {
        let chunk: Vec<u32> = ids.by_ref().take(FLUSH_CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let docs = {
            let ix = indexes.read().unwrap_or_else(|e| e.into_inner());
            if ix.closing {
                return Err(QueryError::Internal(
                    "the engine is closing: the full-text flush stopped".into(),
                ));
            }
            let Some(ci) = ix.colls.get(coll) else {
                return Err(QueryError::UnknownCollection(coll.to_string()));
            };
            read_docs(shared, ci, &chunk)
        };
        for (d, doc) in chunk.into_iter().zip(docs) {
            if indexed.remove(d) {
                writer.delete_term(Term::from_field_u64(shared.docno, u64::from(d)));
            }
            if let Some(doc) = doc {
                writer.add_document(doc).map_err(tantivy_err)?;
                indexed.insert(d);
            }
        }
    }
    writer.commit().map_err(tantivy_err)?;
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
