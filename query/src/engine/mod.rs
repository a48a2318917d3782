//! The query engine: plans queries and runs them on a consistent view of
//! the store and its in-memory derived indexes.
//!
//! Invariant (consistency): every query holds `store.gate()` while it takes
//! its snapshot and reads the in-memory indexes; the commit observer that
//! updates those indexes runs under the same gate, after the commit. So a
//! query's snapshot and indexes always describe the same committed state,
//! and every committed write is visible to the next query. Work that needs
//! only the snapshot (reading documents to verify, sort or return them)
//! runs after the gate is released, so long scans do not hold off commits.
//!
//! Full text: each engine runs one background thread, the flusher, that
//! writes the `$text` overlays (documents changed since the last tantivy
//! commit) into tantivy and commits — when an overlay reaches
//! [`EngineOptions::text_overlay_max`], else every
//! [`EngineOptions::text_flush_interval`] while one is not empty. Its
//! first flush builds the index from the start-up snapshot; until then
//! `$text` is answered, exactly, from the in-memory values. It ends when
//! the engine is dropped. See [`crate::memindex::text`] for why a flush
//! needs no gate.
//!
//! Hidden fields ([`Engine::list_as`], [`Engine::selection_as`]): a caller
//! that may not read some top-level fields gets them treated as if the
//! schema did not declare them — a filter, `_sort` or `_fields` naming one
//! is an unknown field (so its values cannot be probed), and they are
//! removed from every document returned. `list`/`selection` hide nothing.

mod background;

use crate::ast::Query;
use crate::exec::{self, JsonPage, Page};
use crate::memindex::{MemIndexes, TextStart, checkpoint};
use crate::planner::{self, plan::Access, plan::Plan};
use crate::query_error::QueryError;
use background::{
    Periodic, build_and_save, flush_all, load_checkpoint, record_hash, save_checkpoint,
    spawn_flusher, take_up_saved,
};
use refdb_storage::{Change, Collection, CommitObserver, ReadTxn, Store};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

/// Tuning of an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The largest page served; `_page=0` ("no limit") and larger pages
    /// get this many documents.
    pub max_page: usize,
    /// A full-text overlay this large (docnos changed since the last
    /// tantivy commit, each re-analyzed by every `$text` query) wakes the
    /// flusher at once.
    pub text_overlay_max: usize,
    /// How often the flusher drains overlays that are not empty.
    pub text_flush_interval: Duration,
    /// Build the full-text index before [`Engine::with_options`] returns
    /// instead of in the background.
    pub text_build_sync: bool,
    /// Where the derived indexes are saved between runs (see
    /// [`crate::memindex::checkpoint`]): loaded and caught up from the
    /// change log at start when it fits the file, else rebuilt and saved;
    /// saved again when the engine is dropped. `None`: always rebuilt.
    pub checkpoint: Option<PathBuf>,
    /// Saves the checkpoint again, in the background, once this many change
    /// records have been committed since the last save (0: only at build
    /// and drop), which bounds what a start after a crash catches up. No
    /// commit lands while a save writes (at 1M users, about 0.3 s).
    pub checkpoint_every: u64,
    /// Where the full-text (tantivy) indexes are saved, one directory per
    /// collection (see [`crate::memindex::text`]): taken up at start and
    /// caught up from the change log when they fit the file, else rebuilt
    /// there in the background. Deleting it loses nothing. `None`: in RAM,
    /// rebuilt at every start.
    pub text_dir: Option<PathBuf>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            max_page: 1000,
            text_overlay_max: 8192,
            text_flush_interval: Duration::from_millis(500),
            text_build_sync: false,
            checkpoint: None,
            checkpoint_every: 1_000_000,
            text_dir: None,
        }
    }
}

/// Candidate sets at least this large are verified, sorted or scanned in
/// parallel over the cores (see [`Engine::with_parallel_threshold`]).
pub const PARALLEL_THRESHOLD: usize = 16 * 1024;

/// See the module doc. `Send + Sync`; share it as `Arc<Engine>`.
pub struct Engine {
    store: Arc<Store>,
    indexes: Arc<RwLock<MemIndexes>>,
    opts: EngineOptions,
    parallel_threshold: usize,
    started: IndexStart,
    /// The background save after a full build; joined on drop, so that a
    /// dropped engine leaves no thread holding the store.
    saver: Option<std::thread::JoinHandle<()>>,
    /// The flusher (which also saves periodically); joined on drop, for
    /// the same reason.
    flusher: Option<std::thread::JoinHandle<()>>,
    /// The change-log position of the checkpoint last saved or loaded.
    saved: Arc<AtomicU64>,
    /// How the saved full-text indexes were found (with a `text_dir`).
    text_start: Option<TextStart>,
}

/// A query's filters as a test of one document as stored (see
/// [`Engine::doc_filter`]).
pub struct DocFilter {
    conds: Vec<crate::planner::plan::Cond>,
}

impl DocFilter {
    /// Whether the document (`_id`, stored fields, `_meta`) passes every
    /// filter, with the same semantics as a list.
    pub fn matches(&self, id: &str, doc: &serde_json::Map<String, serde_json::Value>) -> bool {
        let id = serde_json::Value::String(id.to_string());
        self.conds
            .iter()
            .all(|c| crate::exec::filter::doc_matches(c, &id, doc))
    }

    /// Whether there is any filter at all.
    pub fn is_empty(&self) -> bool {
        self.conds.is_empty()
    }
}

/// How an engine got its derived indexes at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexStart {
    /// Built from every document (no usable checkpoint).
    Built,
    /// Loaded from the checkpoint, then caught up with this many change
    /// records.
    Loaded { caught_up: u64 },
}

/// Keeps the in-memory indexes in step with commits; holds them weakly so
/// that dropping the engine frees them.
struct Observer(Weak<RwLock<MemIndexes>>);

impl CommitObserver for Observer {
    fn committed(&self, changes: &[Change], log_end: Option<u64>) {
        if let Some(ix) = self.0.upgrade() {
            ix.write()
                .unwrap_or_else(|e| e.into_inner())
                .apply(changes, log_end);
        }
    }
}

impl Engine {
    /// Builds the derived indexes from the file and starts following
    /// commits.
    pub fn new(store: Arc<Store>) -> Result<Engine, QueryError> {
        Engine::with_options(store, EngineOptions::default())
    }

    pub fn with_options(store: Arc<Store>, opts: EngineOptions) -> Result<Engine, QueryError> {
        // Register first, with indexes that ignore commits until built:
        // every commit from then on reaches the observer, and those that
        // land before the snapshot below are in it. Under the gate no
        // commit lands between the snapshot and the switch to the built
        // indexes, so none is missed or applied twice. (Registering while
        // holding the gate could deadlock with a store that waits for the
        // in-flight writer in `observe`.)
        let indexes = Arc::new(RwLock::new(MemIndexes::default()));
        store.observe(Arc::new(Observer(Arc::downgrade(&indexes))));
        let (tx, rx) = crossbeam::channel::bounded(1);
        let saved = Arc::new(AtomicU64::new(0));
        let started = {
            let _gate = store.gate();
            let txn = store.read()?;
            let loaded = match &opts.checkpoint {
                Some(path) => load_checkpoint(path, &txn)?,
                None => None,
            };
            let (mut ix, started) = match loaded {
                Some((ix, caught_up, from)) => {
                    saved.store(from, Ordering::Relaxed);
                    (ix, IndexStart::Loaded { caught_up })
                }
                None => (MemIndexes::build(store.schema(), &txn)?, IndexStart::Built),
            };
            ix.log_end = txn.change_log_extent()?.1;
            let text_start = match &opts.text_dir {
                Some(dir) => {
                    let fingerprint = checkpoint::fingerprint(store.schema());
                    let weak = Arc::downgrade(&store);
                    Some(ix.open_saved_text(&txn, dir, fingerprint, || record_hash(weak.clone()))?)
                }
                None => None,
            };
            ix.flush_signal = Some(tx);
            ix.text_overlay_max = opts.text_overlay_max as u64;
            *indexes.write().unwrap_or_else(|e| e.into_inner()) = ix;
            (started, text_start)
        };
        let (started, text_start) = started;
        let mut saver = None;
        if let (IndexStart::Built, Some(path)) = (&started, &opts.checkpoint) {
            // Saved in the background (a start should not wait for it);
            // until it is written, the next start rebuilds. Once saved, the
            // checkpoint is taken up in place of what the build holds in
            // memory, as a restart would.
            let (store, ix, path) = (store.clone(), Arc::downgrade(&indexes), path.clone());
            let saved = saved.clone();
            let handle = std::thread::Builder::new()
                .name("refdb-index-save".into())
                .spawn(move || {
                    if let Some(ix) = ix.upgrade()
                        && let Ok(at) = save_checkpoint(&store, &ix, &path)
                    {
                        saved.store(at, Ordering::Relaxed);
                        // A failure leaves the built indexes in use.
                        let _ = take_up_saved(&store, &ix, &path);
                    }
                })
                .map_err(|e| QueryError::Internal(format!("cannot start the index save: {e}")))?;
            saver = Some(handle);
        }
        if opts.text_build_sync {
            flush_all(&indexes)?;
        }
        let periodic = match (&opts.checkpoint, opts.checkpoint_every) {
            (Some(path), every) if every > 0 => Some(Periodic {
                store: Arc::downgrade(&store),
                path: path.clone(),
                every,
                saved: saved.clone(),
            }),
            _ => None,
        };
        let flusher = spawn_flusher(
            Arc::downgrade(&indexes),
            rx,
            opts.text_flush_interval,
            periodic,
        )?;
        Ok(Engine {
            store,
            indexes,
            opts,
            parallel_threshold: PARALLEL_THRESHOLD,
            started,
            saver,
            flusher: Some(flusher),
            saved,
            text_start,
        })
    }

    /// Sets the candidate count from which scans run in parallel (tests
    /// lower it to exercise the parallel paths on small data).
    pub fn with_parallel_threshold(mut self, n: usize) -> Engine {
        self.parallel_threshold = n;
        self
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Documents changed since the full-text (tantivy) index's last commit,
    /// over every collection: `$text` is exact meanwhile but slower, and
    /// right after a start every searched document counts until the
    /// background build is done.
    pub fn text_lag(&self) -> u64 {
        let ix = self.indexes.read().unwrap_or_else(|e| e.into_inner());
        ix.colls
            .values()
            .filter_map(|c| c.text.as_ref())
            .map(|t| t.dirty_len())
            .sum()
    }

    /// Whether the derived indexes have caught up with the file: built or
    /// loaded, and the full-text lag below one flush's worth.
    pub fn caught_up(&self) -> bool {
        self.text_lag() <= self.opts.text_overlay_max as u64
    }

    /// How the derived indexes were obtained at start.
    /// Replaces the indexes held in memory by the checkpoint last saved
    /// ([`EngineOptions::checkpoint`]), caught up with the commits since:
    /// what the engine does by itself once the save after a build is
    /// written. Does nothing without a checkpoint that fits the file.
    pub fn take_up_checkpoint(&self) -> Result<(), QueryError> {
        match &self.opts.checkpoint {
            Some(path) => take_up_saved(&self.store, &self.indexes, path),
            None => Ok(()),
        }
    }

    /// Whether the searched values and postings are read from the saved
    /// checkpoint (after a load, or once the save after a build was taken
    /// up) rather than held in memory.
    pub fn reads_saved_indexes(&self) -> bool {
        self.indexes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .reads_saved()
    }

    /// How the saved full-text indexes were found at start (`None` without
    /// [`EngineOptions::text_dir`]).
    pub fn text_start(&self) -> Option<&TextStart> {
        self.text_start.as_ref()
    }

    pub fn index_start(&self) -> &IndexStart {
        &self.started
    }

    /// Saves the derived indexes to [`EngineOptions::checkpoint`] now (no
    /// commit lands while they are written). Does nothing without a path.
    pub fn checkpoint(&self) -> Result<(), QueryError> {
        if let Some(path) = &self.opts.checkpoint {
            let at = save_checkpoint(&self.store, &self.indexes, path)?;
            self.saved.store(at, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Builds the derived indexes of `store` from its documents and saves
    /// them as the checkpoint at `path`, without starting an engine, so
    /// that the next start with that checkpoint loads them instead of
    /// building (`refdb import` does this once it has written the file).
    /// Returns the change-log position saved.
    pub fn build_checkpoint(store: &Store, path: &std::path::Path) -> Result<u64, QueryError> {
        build_and_save(store, path)
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Writes every full-text overlay into tantivy now, waiting for a
    /// flush in progress (the background flusher does this on its own;
    /// tests and benchmarks call it to reach a known state).
    pub fn flush_text(&self) -> Result<(), QueryError> {
        flush_all(&self.indexes)
    }

    /// Flushes the full-text overlays, then waits until tantivy's
    /// background merges are done and searches see the merged segments:
    /// the steady state a benchmark should time, instead of queries
    /// competing with merges for the cores.
    pub fn settle_text(&self) -> Result<(), QueryError> {
        self.flush_text()?;
        for c in self.store.schema().collections() {
            crate::memindex::text::settle(&self.indexes, &c.name)?;
        }
        Ok(())
    }

    fn collection(&self, coll: &str) -> Result<&Collection, QueryError> {
        self.store
            .schema()
            .collection(coll)
            .ok_or_else(|| QueryError::UnknownCollection(coll.to_string()))
    }

    /// The filters of `q` as a test of documents as a change record holds
    /// them (stored fields and `_meta`), for a filtered change feed.
    /// `_sort`, `_skip`, `_page`, `_fields`, `_after` and filters on
    /// derived reference lists are refused; hidden fields are unknown, as
    /// in [`Engine::list_as`].
    pub fn doc_filter(
        &self,
        coll: &str,
        q: &Query,
        hidden: &HashSet<String>,
    ) -> Result<DocFilter, QueryError> {
        check_hidden(q, hidden)?;
        let refuse = |key: &str, why: &str| QueryError::NotInChangeFeed {
            key: key.to_string(),
            why: why.to_string(),
        };
        if !q.sort.is_empty() {
            return Err(refuse("_sort", "sort"));
        }
        if q.skip.is_some() || q.page.is_some() {
            let key = if q.skip.is_some() { "_skip" } else { "_page" };
            return Err(refuse(key, "page"));
        }
        if q.fields.is_some() {
            return Err(refuse("_fields", "choose fields"));
        }
        if q.after.is_some() {
            return Err(refuse("_after", "take a cursor (use since)"));
        }
        if q.view.is_some() {
            return Err(refuse("_view", "choose a view"));
        }
        let plan = self.plan(coll, q)?;
        if let Some(c) = plan.conds.iter().find(|c| c.field.needs_materialized()) {
            return Err(refuse(
                &c.key,
                "test a derived reference list (it is not part of a change)",
            ));
        }
        Ok(DocFilter { conds: plan.conds })
    }

    /// Plans a list query without running it.
    pub fn plan(&self, coll: &str, q: &Query) -> Result<Plan, QueryError> {
        planner::plan(self.collection(coll)?, q, self.opts.max_page as u64)
    }

    /// A list query (docs/API.md §5): filters, `_sort`, `_skip`, `_page`,
    /// `_after`, `_view`, `_fields`.
    pub fn list(&self, coll: &str, q: &Query) -> Result<Page, QueryError> {
        let plan = self.plan(coll, q)?;
        self.run(&plan)
    }

    /// [`Engine::list`] for a caller who may not read the top-level fields
    /// in `hidden` (see the module doc).
    pub fn list_as(
        &self,
        coll: &str,
        q: &Query,
        hidden: &HashSet<String>,
    ) -> Result<Page, QueryError> {
        self.run(&self.plan_as(coll, q, hidden)?)
    }

    /// [`Engine::list_as`], answering the page as JSON text (what a server
    /// sends; see [`JsonPage`]).
    pub fn list_json_as(
        &self,
        coll: &str,
        q: &Query,
        hidden: &HashSet<String>,
    ) -> Result<JsonPage, QueryError> {
        self.run_json(&self.plan_as(coll, q, hidden)?)
    }

    fn plan_as(&self, coll: &str, q: &Query, hidden: &HashSet<String>) -> Result<Plan, QueryError> {
        check_hidden(q, hidden)?;
        let mut plan = self.plan(coll, q)?;
        plan.hidden = hidden.iter().cloned().collect();
        Ok(plan)
    }

    /// [`Engine::selection`] for a caller who may not read the fields in
    /// `hidden`: the caller's own filters, sort and fields may not name
    /// them, and they are removed from the result. (The selection's own
    /// filter is the schema author's and still applies.)
    pub fn selection_as(
        &self,
        coll: &str,
        name: &str,
        q: &Query,
        hidden: &HashSet<String>,
    ) -> Result<Page, QueryError> {
        check_hidden(q, hidden)?;
        self.run(&self.selection_plan(coll, name, q, hidden)?)
    }

    /// [`Engine::selection_as`], answering the page as JSON text.
    pub fn selection_json_as(
        &self,
        coll: &str,
        name: &str,
        q: &Query,
        hidden: &HashSet<String>,
    ) -> Result<JsonPage, QueryError> {
        check_hidden(q, hidden)?;
        self.run_json(&self.selection_plan(coll, name, q, hidden)?)
    }

    /// A schema selection: its filter ANDed with `q`'s, its fields; `q`
    /// gives the paging and may narrow the fields further. `_sort`,
    /// `_page`, … written in the selection are defaults `q` overrides.
    pub fn selection(&self, coll: &str, name: &str, q: &Query) -> Result<Page, QueryError> {
        self.run(&self.selection_plan(coll, name, q, &HashSet::new())?)
    }

    /// The plan of a selection: its filter ANDed with `q`'s (see
    /// [`Engine::selection`]), hiding `hidden`.
    fn selection_plan(
        &self,
        coll: &str,
        name: &str,
        q: &Query,
        hidden: &HashSet<String>,
    ) -> Result<Plan, QueryError> {
        let c = self.collection(coll)?;
        let sel = c
            .selections
            .get(name)
            .ok_or_else(|| QueryError::UnknownSelection(name.to_string()))?;
        let bad = |e: QueryError| QueryError::BadSelection {
            name: name.to_string(),
            source: Box::new(e),
        };
        let base = crate::parser::parse(&sel.filter).map_err(|e| bad(e.into()))?;
        // The selection alone must plan: its mistakes are the schema's.
        planner::plan(c, &base, self.opts.max_page as u64).map_err(bad)?;
        let merged = Query {
            filters: base.filters.iter().chain(&q.filters).cloned().collect(),
            sort: if q.sort.is_empty() {
                base.sort
            } else {
                q.sort.clone()
            },
            page: q.page.or(base.page),
            skip: q.skip.or(base.skip),
            view: q.view.clone().or(base.view),
            fields: q.fields.clone(),
            after: q.after.clone().or(base.after),
        };
        let mut plan = planner::plan(c, &merged, self.opts.max_page as u64)?;
        if let Some(fields) = &sel.fields {
            let paths: Vec<Vec<String>> = fields
                .iter()
                .map(|f| f.split('.').map(str::to_string).collect())
                .collect();
            plan.fields.insert(0, paths);
        }
        plan.hidden = hidden.iter().cloned().collect();
        Ok(plan)
    }

    /// The plan of a list query, human readable, with the live size of
    /// each index lookup.
    pub fn explain(&self, coll: &str, q: &Query) -> Result<String, QueryError> {
        let plan = self.plan(coll, q)?;
        let mut text = plan.describe();
        let _gate = self.store.gate();
        let txn = self.store.read()?;
        let ix = self.indexes.read().unwrap_or_else(|e| e.into_inner());
        let ci = ix
            .colls
            .get(coll)
            .ok_or_else(|| QueryError::UnknownCollection(coll.to_string()))?;
        let state = txn.state(coll)?;
        text.push_str(&format!(
            "\nlive documents: {}; docno order is _id order: {}",
            ci.live.len(),
            state.ordered
        ));
        for (a, is) in &plan.access {
            if let Ok(b) = exec::filter::lookup(&plan, a, &plan.conds[is[0]], &txn, ci) {
                text.push_str(&format!(
                    "\n[{}] candidates: {}",
                    plan.conds[is[0]].key,
                    b.len()
                ));
            }
            if let (Access::Text { .. }, Some(t)) = (a, &ci.text) {
                text.push_str(&format!(
                    "\n[{}] full-text: {} document(s) in tantivy in {} segment(s), {} recent change(s) in the overlay",
                    plan.conds[is[0]].key,
                    t.tantivy_docs(),
                    t.tantivy_segments(),
                    t.dirty_len()
                ));
            }
        }
        Ok(text)
    }

    /// Runs a plan: takes the gate, then the snapshot and the in-memory
    /// indexes; the executor releases the gate once it no longer needs
    /// the indexes. See the module doc.
    pub fn run(&self, plan: &Plan) -> Result<Page, QueryError> {
        let coll = self.collection(&plan.coll)?;
        let (txn, held) = self.begin()?;
        exec::run(plan, coll, &txn, held, self.parallel_threshold as u64)
    }

    /// [`Engine::run`], answering the page as JSON text.
    pub fn run_json(&self, plan: &Plan) -> Result<JsonPage, QueryError> {
        let coll = self.collection(&plan.coll)?;
        let (txn, held) = self.begin()?;
        exec::run_json(plan, coll, &txn, held, self.parallel_threshold as u64)
    }

    /// A snapshot and the in-memory indexes, taken under the gate in that
    /// order, so that both describe the same commit (see the module doc).
    fn begin(&self) -> Result<(ReadTxn<'_>, exec::Held<'_>), QueryError> {
        let gate = self.store.gate();
        let txn = self.store.read()?;
        let indexes = self.indexes.read().unwrap_or_else(|e| e.into_inner());
        Ok((txn, exec::Held { gate, indexes }))
    }
}

impl Drop for Engine {
    /// Saves the checkpoint unless it is current, so that the next start
    /// loads it; a failure only means the next start catches up from
    /// further back or rebuilds.
    fn drop(&mut self) {
        if let Some(saver) = self.saver.take() {
            let _ = saver.join();
        }
        // Closing its wake-up channel ends the flusher after its round,
        // which `closing` cuts short.
        {
            let mut ix = self.indexes.write().unwrap_or_else(|e| e.into_inner());
            ix.flush_signal = None;
            ix.closing = true;
        }
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        // Nothing committed since the checkpoint saved or loaded: it is
        // current (at 10M users a save writes 1.5 GiB).
        let unchanged = self
            .store
            .read()
            .and_then(|r| r.change_log_extent())
            .is_ok_and(|(_, next)| next == self.saved.load(Ordering::Relaxed));
        if !unchanged {
            let _ = self.checkpoint();
        }
    }
}

/// Refuses a query that names a hidden field anywhere, with the same
/// error an undeclared field gets.
fn check_hidden(q: &Query, hidden: &HashSet<String>) -> Result<(), QueryError> {
    if hidden.is_empty() {
        return Ok(());
    }
    let is_hidden = |path: &[String]| path.first().is_some_and(|f| hidden.contains(f));
    let unknown = |key: &str, path: &[String]| QueryError::UnknownField {
        key: key.to_string(),
        field: path.join("."),
    };
    if let Some(f) = q.filters.iter().find(|f| is_hidden(&f.path)) {
        return Err(unknown(&f.key, &f.path));
    }
    if let Some(k) = q.sort.iter().find(|k| is_hidden(&k.path)) {
        return Err(unknown("_sort", &k.path));
    }
    if let Some(p) = q.fields.iter().flatten().find(|p| is_hidden(p)) {
        return Err(unknown("_fields", p));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn engine_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<super::Engine>();
        check::<refdb_storage::ReadTxn<'static>>();
    }
}
