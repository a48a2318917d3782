//! In-memory derived indexes of every collection: live docnos, value
//! indexes of `index: true` fields, n-gram indexes of `search: true` fields
//! and the full-text index over the latter ([`text`]).
//!
//! They are built from a snapshot ([`MemIndexes::build`]) and then kept in
//! step with every commit ([`MemIndexes::apply`], called by the engine's
//! [`refdb_storage::CommitObserver`]). Consistency rule: the engine takes
//! `store.gate()` before its snapshot and reads these indexes while holding
//! it; observers run under the same gate, so a query sees a snapshot and
//! indexes that describe the same committed state. (The full-text index's
//! background flush changes how `$text` is answered, never what: see
//! [`text`].)

pub mod audit;
mod buckets;
pub use grams::Posting;
mod build;
pub mod checkpoint;
mod column;
mod grams;
mod inflight;
pub mod ngram;
mod run;
pub mod text;
pub mod values;

use crate::query_error::QueryError;
use column::Column;
use ngram::SearchIndex;
use refdb_storage::{Change, Collection, ReadTxn, Schema};
use roaring::RoaringBitmap;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;
use text::TextIndex;
use values::ValueIndex;

/// The derived indexes of one collection.
#[derive(Debug, Default)]
pub struct CollIndex {
    /// Docnos of the documents that exist.
    pub live: RoaringBitmap,
    /// `index: true` fields by name.
    pub values: HashMap<String, ValueIndex>,
    /// `search: true` fields by name.
    pub search: HashMap<String, SearchIndex>,
    /// The full-text index of the `search` fields (None: there are none).
    pub text: Option<TextIndex>,
    /// Every live document's `_id`, so that a page's documents are read
    /// by `_id` without first looking each docno up in the file.
    pub(crate) ids: Column,
}

impl CollIndex {
    fn new(coll: &Collection) -> CollIndex {
        let mut ci = CollIndex::default();
        for f in coll.fields.iter() {
            if f.index {
                ci.values
                    .insert(f.name.clone(), ValueIndex::new(f.ty.clone()));
            }
            if f.search {
                ci.search.insert(f.name.clone(), SearchIndex::default());
            }
        }
        ci
    }

    /// Creates the full-text index once the n-grams are built: every
    /// document with a searched value starts in its overlay.
    fn start_text(&mut self) -> Result<(), QueryError> {
        if self.search.is_empty() {
            return Ok(());
        }
        let mut names: Vec<&str> = self.search.keys().map(String::as_str).collect();
        names.sort_unstable();
        self.text = Some(TextIndex::new(&names, self.with_searched_values())?);
        Ok(())
    }

    /// The live docnos that have a searched value.
    pub(crate) fn with_searched_values(&self) -> RoaringBitmap {
        let mut any = RoaringBitmap::new();
        for si in self.search.values() {
            any |= si.present();
        }
        any & &self.live
    }

    /// Whether a change touches a searched value.
    fn search_changed(&self, ch: &Change) -> bool {
        let get = |m: &Option<Map<String, Value>>, name: &str| {
            m.as_ref()
                .and_then(|m| m.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        self.search
            .keys()
            .any(|name| get(&ch.old, name) != get(&ch.new, name))
    }

    /// Adds these documents' values (docno, stored fields) to the value
    /// and n-gram indexes.
    fn add_documents(&mut self, docs: &[(u32, Map<String, Value>)]) {
        let steps: Vec<Step<'_>> = docs
            .iter()
            .map(|(docno, body)| Step {
                docno: *docno,
                clear: false,
                old: None,
                new: Some(body),
            })
            .collect();
        self.replay(&steps);
    }

    /// Replays a commit's changes of this collection on its value and
    /// n-gram indexes, each index through every step in order. Indexes do
    /// not depend on one another, so this equals applying each change to
    /// every index in turn; with many steps, searched fields (whose
    /// n-grams are most of the work) are replayed on the other cores.
    fn replay(&mut self, steps: &[Step<'_>]) {
        let CollIndex { values, search, .. } = self;
        let mut replay_values = || {
            for (name, vi) in values.iter_mut() {
                for s in steps {
                    if s.clear {
                        vi.remove(s.docno, s.old.and_then(|m| m.get(name)));
                    }
                    if let Some(new) = s.new {
                        vi.add(s.docno, new.get(name));
                    }
                }
            }
        };
        let replay_search = |name: &str, si: &mut SearchIndex| {
            for s in steps {
                if s.clear {
                    si.set(s.docno, None);
                }
                if let Some(new) = s.new {
                    si.set(s.docno, new.get(name).and_then(Value::as_str));
                }
            }
        };
        // Threads beside this one: one per core but this one's.
        let helpers = match steps.len() >= PARALLEL_REPLAY {
            true => std::thread::available_parallelism().map_or(0, |n| n.get() - 1),
            false => 0,
        };
        let mut refused = Vec::new();
        std::thread::scope(|scope| {
            let mut here = Vec::new();
            for (i, (name, si)) in search.iter_mut().enumerate() {
                if i >= helpers {
                    here.push((name, si));
                    continue;
                }
                let spawned = std::thread::Builder::new()
                    .name("refdb-replay".into())
                    .spawn_scoped(scope, move || replay_search(name, si));
                if spawned.is_err() {
                    refused.push(name.clone());
                }
            }
            replay_values();
            for (name, si) in here {
                replay_search(name, si);
            }
        });
        // A thread the system refused is no reason to leave a committed
        // change half applied.
        for name in refused {
            if let Some(si) = search.get_mut(&name) {
                replay_search(&name, si);
            }
        }
    }
}

/// Documents a catch-up adds back to the indexes at a time.
const CATCH_UP_CHUNK: usize = 4096;

/// One change as every index of its collection replays it: the docno's
/// old values removed first (`clear`), then its new ones added.
struct Step<'c> {
    docno: u32,
    clear: bool,
    old: Option<&'c Map<String, Value>>,
    new: Option<&'c Map<String, Value>>,
}

/// Steps from which a collection's searched fields are replayed on
/// threads of their own: a thread costs tens of microseconds, a step's
/// n-grams about a microsecond.
const PARALLEL_REPLAY: usize = 256;

/// The directory of a collection's saved full-text index: its name when
/// that is a plain lowercase file name, else its bytes in hex (so no name
/// can reach outside `dir` or collide with another).
pub(crate) fn text_dir_name(coll: &str) -> String {
    // Lowercase only: on a file system that ignores case, `Users` and
    // `users` must not share a directory.
    let plain = !coll.is_empty()
        && coll
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if plain {
        format!("c-{coll}")
    } else {
        let hex: String = coll.bytes().map(|b| format!("{b:02x}")).collect();
        format!("h-{hex}")
    }
}

/// Every collection's [`CollIndex`].
#[derive(Debug, Default)]
pub struct MemIndexes {
    pub colls: HashMap<String, CollIndex>,
    /// False until built from a snapshot: commits seen before that are in
    /// the snapshot, so [`MemIndexes::apply`] ignores them.
    pub ready: bool,
    /// Told (without blocking) when a full-text overlay reaches
    /// `text_overlay_max` docnos, so the flusher drains it.
    pub flush_signal: Option<crossbeam::channel::Sender<()>>,
    pub text_overlay_max: u64,
    /// The change log's next seq as of the last commit applied (or the
    /// snapshot built or caught up from): what a saved full-text index's
    /// commit records as caught up to.
    pub log_end: u64,
    /// Set when the engine is dropped: a full-text flush in progress stops
    /// at its next chunk (uncommitted; the overlays stay exact), so that a
    /// shutdown never waits for the initial full-text build (48 s at 10M
    /// documents). A saved full-text index catches up from its last commit
    /// at the next start; one in RAM is rebuilt then anyway.
    pub closing: bool,
}

/// The docnos each collection's change records name from seq `from` on,
/// keeping the records `wanted(coll, seq)` accepts, and how many records
/// were read.
pub(crate) fn changed_since(
    txn: &ReadTxn<'_>,
    from: u64,
    wanted: impl Fn(&str, u64) -> bool,
) -> Result<(HashMap<String, RoaringBitmap>, u64), QueryError> {
    let mut changed: HashMap<String, RoaringBitmap> = HashMap::new();
    let mut after = from.saturating_sub(1);
    let mut records = 0;
    loop {
        let batch = txn.changes(after, 4096)?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        records += batch.len() as u64;
        for rec in batch {
            if wanted(&rec.coll, rec.seq) {
                changed.entry(rec.coll).or_default().insert(rec.docno);
            }
        }
    }
    Ok((changed, records))
}

/// How [`MemIndexes::open_saved_text`] found the saved full-text indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextStart {
    /// Collections whose saved index was taken up.
    pub loaded: usize,
    /// Collections whose index starts empty (none saved, or one that does
    /// not belong to this file) and is built in the background.
    pub rebuilt: usize,
    /// Change records read to find what changed since the saved positions.
    pub records: u64,
    /// Of the rebuilt ones, those kept in RAM because their directory
    /// could not be written.
    pub in_ram: usize,
}

/// Whether catching a saved full-text index up from `pos` is cheaper than
/// rebuilding it: no more records to read than documents (and any lag a
/// running server leaves between two restamps, however small the
/// collection).
pub(crate) fn worth_catching_up(ci: &CollIndex, pos: checkpoint::Position, log_end: u64) -> bool {
    log_end - pos.next_seq <= ci.live.len().max(2 * text::RESTAMP_AFTER)
}

/// Adds a docno to a bitmap. `insert` finds the container (a binary search
/// over at most a few dozen) and, in an array container, the position (at
/// most twelve steps); `try_push` looked cheaper for docnos arriving in
/// increasing order, but in a bitmap container it first scans for the
/// container's largest value from the end, up to 1024 words for every
/// docno. Measured at 1M users (release, the bench schema): building the
/// derived indexes at start went from 5.7-6.0 s to 4.0-4.6 s.
pub(crate) fn add_docno(bitmap: &mut RoaringBitmap, docno: u32) {
    bitmap.insert(docno);
}

impl MemIndexes {
    /// Builds the indexes of every collection from one snapshot.
    pub fn build(schema: &Schema, txn: &ReadTxn<'_>) -> Result<MemIndexes, QueryError> {
        let mut out = MemIndexes::default();
        for c in schema.collections() {
            let mut ci = CollIndex::new(c);
            let wanted = !ci.values.is_empty() || !ci.search.is_empty();
            if wanted {
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                build::fill(&mut ci, txn, &c.name, threads)?;
            } else {
                for entry in txn.scan_docnos(&c.name)? {
                    let (id, docno) = entry?;
                    add_docno(&mut ci.live, docno);
                    ci.ids.set(docno, Some(&id));
                }
            }
            out.colls.insert(c.name.clone(), ci);
        }
        out.start()?;
        Ok(out)
    }

    /// Brings indexes loaded from a checkpoint up to `txn`: every document
    /// named by a change record from `next_seq` on is taken out of every
    /// index and, if it still exists in `txn`, put back with its current
    /// values. Reads only those documents. Returns the number of records.
    pub fn catch_up(&mut self, txn: &ReadTxn<'_>, next_seq: u64) -> Result<u64, QueryError> {
        let (touched, records) = changed_since(txn, next_seq, |_, _| true)?;
        for (coll, docnos) in touched {
            let Some(ci) = self.colls.get_mut(&coll) else {
                continue;
            };
            for vi in ci.values.values_mut() {
                vi.remove_all(&docnos);
            }
            for si in ci.search.values_mut() {
                for d in &docnos {
                    si.set(d, None);
                }
            }
            ci.live -= &docnos;
            // Added back in chunks: a catch-up may span a million
            // documents, which need not all be in memory at once.
            let mut current = Vec::new();
            for d in &docnos {
                ci.ids.set(d, None);
                let Some(id) = txn.id_of(&coll, d)? else {
                    continue;
                };
                if let Some(doc) = txn.get_stored(&coll, &id)? {
                    add_docno(&mut ci.live, d);
                    ci.ids.set(d, Some(&id));
                    current.push((d, doc.body));
                    if current.len() == CATCH_UP_CHUNK {
                        ci.add_documents(&current);
                        current.clear();
                    }
                }
            }
            ci.add_documents(&current);
        }
        Ok(records)
    }

    /// Replaces every collection's full-text index (started in RAM) by the
    /// one saved in its directory under `dir`, as of `txn` (the snapshot
    /// these indexes describe): a saved index that belongs to this file's
    /// history ([`checkpoint::belongs`]) and was built under `fingerprint`
    /// is taken up with the documents named by the change records since its
    /// position marked dirty; any other is emptied and every document with
    /// a searched value marked dirty, as in RAM. Also the way back when a
    /// catch-up would read more records than there are documents.
    pub fn open_saved_text(
        &mut self,
        txn: &ReadTxn<'_>,
        dir: &Path,
        fingerprint: u64,
        record_hash: impl Fn() -> text::RecordHash,
    ) -> Result<TextStart, QueryError> {
        let mut start = TextStart::default();
        let (_, log_end) = txn.change_log_extent()?;
        self.log_end = log_end;
        let mut from: HashMap<String, u64> = HashMap::new();
        for (name, ci) in self.colls.iter_mut() {
            if ci.search.is_empty() {
                continue;
            }
            let mut names: Vec<&str> = ci.search.keys().map(String::as_str).collect();
            names.sort_unstable();
            let path = dir.join(text_dir_name(name));
            let Ok((mut t, pos)) = TextIndex::open_saved(&names, &path, fingerprint, record_hash())
            else {
                // The directory cannot be written (a full disk, no
                // rights): in RAM, as without one, rather than no start.
                ci.text = Some(TextIndex::new(&names, ci.with_searched_values())?);
                start.rebuilt += 1;
                start.in_ram += 1;
                continue;
            };
            let usable = match pos {
                Some(pos) => checkpoint::belongs(pos, txn)? && worth_catching_up(ci, pos, log_end),
                None => false,
            };
            match pos {
                Some(pos) if usable => {
                    from.insert(name.clone(), pos.next_seq);
                    start.loaded += 1;
                }
                found => {
                    if found.is_some() {
                        // Not this file's: start over in the same place
                        // (or in RAM, when that place cannot be written).
                        let again = std::fs::remove_dir_all(&path).map_err(|e| e.to_string());
                        t = match again.and_then(|()| {
                            TextIndex::open_saved(&names, &path, fingerprint, record_hash())
                                .map_err(|e| e.to_string())
                        }) {
                            Ok((t, _)) => t,
                            Err(_) => {
                                start.in_ram += 1;
                                TextIndex::new(&names, RoaringBitmap::new())?
                            }
                        };
                    }
                    t.mark_all(&ci.with_searched_values());
                    start.rebuilt += 1;
                }
            }
            ci.text = Some(t);
        }
        // One pass over the log from the oldest position taken up.
        if let Some(&oldest) = from.values().min() {
            let (changed, records) = changed_since(txn, oldest, |coll, seq| {
                from.get(coll).is_some_and(|&f| seq >= f)
            })?;
            start.records = records;
            for (coll, docnos) in changed {
                if let Some(t) = self.colls.get_mut(&coll).and_then(|c| c.text.as_mut()) {
                    t.mark_all(&docnos);
                }
            }
        }
        Ok(start)
    }

    /// Takes the place of these indexes with `loaded` (the same state, read
    /// from a checkpoint and caught up), keeping what a checkpoint does not
    /// hold: the full-text indexes, as they are, and the engine's settings.
    /// Returns the indexes replaced, for the caller to drop outside its
    /// locks (freeing them takes a while).
    pub fn adopt(&mut self, mut loaded: MemIndexes) -> MemIndexes {
        for (name, ci) in loaded.colls.iter_mut() {
            ci.text = self.colls.get_mut(name).and_then(|c| c.text.take());
        }
        loaded.ready = self.ready;
        loaded.flush_signal = self.flush_signal.take();
        loaded.text_overlay_max = self.text_overlay_max;
        loaded.log_end = self.log_end;
        loaded.closing = self.closing;
        std::mem::replace(self, loaded)
    }

    /// Whether the searched values and postings are read from a mapped
    /// checkpoint rather than held in memory.
    pub fn reads_saved(&self) -> bool {
        self.colls
            .values()
            .flat_map(|c| c.search.values())
            .all(SearchIndex::is_mapped)
    }

    /// Starts the full-text part of every collection and marks the indexes
    /// ready to follow commits (after [`MemIndexes::build`] or a checkpoint
    /// load).
    pub(crate) fn start(&mut self) -> Result<(), QueryError> {
        for ci in self.colls.values_mut() {
            ci.start_text()?;
        }
        self.ready = true;
        Ok(())
    }

    /// Applies one commit's changes, in order; `log_end` as the store
    /// tells it ([`refdb_storage::CommitObserver`]).
    pub fn apply(&mut self, changes: &[Change], log_end: Option<u64>) {
        if !self.ready {
            return;
        }
        if let Some(end) = log_end {
            self.log_end = end;
        }
        let mut signal = false;
        // Per collection, in commit order.
        let mut steps: Vec<(&str, Vec<Step<'_>>)> = Vec::new();
        for ch in changes {
            let Some(ci) = self.colls.get_mut(&ch.coll) else {
                continue;
            };
            let changed = ci.text.is_some() && ci.search_changed(ch);
            if changed && let Some(t) = ci.text.as_mut() {
                t.mark(ch.docno);
                signal |= t.dirty_len() >= self.text_overlay_max;
            }
            let step = Step {
                docno: ch.docno,
                clear: ch.old.is_some() || ci.live.contains(ch.docno),
                old: ch.old.as_ref(),
                new: ch.new.as_ref(),
            };
            match &ch.new {
                Some(_) => {
                    add_docno(&mut ci.live, ch.docno);
                    if ch.old.is_none() {
                        ci.ids.set(ch.docno, Some(&ch.id));
                    }
                }
                None => {
                    ci.live.remove(ch.docno);
                    ci.ids.set(ch.docno, None);
                }
            }
            match steps.iter_mut().find(|(c, _)| *c == ch.coll) {
                Some((_, list)) => list.push(step),
                None => steps.push((&ch.coll, vec![step])),
            }
        }
        for (coll, list) in steps {
            if let Some(ci) = self.colls.get_mut(coll) {
                ci.replay(&list);
            }
        }
        if signal && let Some(tx) = &self.flush_signal {
            // Full: a wake-up is already pending.
            let _ = tx.try_send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{CollIndex, MemIndexes, PARALLEL_REPLAY, text_dir_name};
    use proptest::prelude::*;
    use refdb_storage::{Change, Schema};
    use serde_json::{Map, Value, json};
    use std::collections::HashMap;

    fn empty_indexes() -> MemIndexes {
        let schema = Schema::parse(
            r#"{"app": "t", "collections": {"c": {"fields": {
                "age": {"type": "int", "index": true},
                "name": {"type": "string", "index": true, "search": true},
                "email": {"type": "string", "search": true}}},
              "d": {"fields": {
                "name": {"type": "string", "search": true},
                "email": {"type": "string", "index": true}}}}}"#,
        )
        .unwrap();
        let mut ix = MemIndexes {
            ready: true,
            ..MemIndexes::default()
        };
        for c in schema.collections() {
            ix.colls.insert(c.name.clone(), CollIndex::new(c));
        }
        ix
    }

    /// A collection (`d` or `c`), a docno, and its new values (age, name,
    /// email picks) or a delete.
    type Op = (bool, u32, Option<(u8, u8, u8)>);

    /// The changes the ops make, each consistent with the ones before (a
    /// docno changes many times), and the documents as they end up (as
    /// creates).
    fn changes(ops: &[Op]) -> (Vec<Change>, Vec<Change>) {
        let mut model: HashMap<(&str, u32), Map<String, Value>> = HashMap::new();
        let mut out = Vec::new();
        for &(in_d, docno, new) in ops {
            let coll = if in_d { "d" } else { "c" };
            let new = new.map(|(age, name, email)| {
                let mut m = Map::new();
                if age % 5 != 0 {
                    m.insert("age".into(), json!(age % 7));
                }
                m.insert(
                    "name".into(),
                    json!(["ana", "dorian", "do", ""][name as usize % 4]),
                );
                if email % 3 != 0 {
                    m.insert("email".into(), json!(format!("x{}@quin.org", email % 11)));
                }
                m
            });
            let old = model.get(&(coll, docno)).cloned();
            if old.is_none() && new.is_none() {
                continue;
            }
            match &new {
                Some(m) => model.insert((coll, docno), m.clone()),
                None => model.remove(&(coll, docno)),
            };
            out.push(Change {
                coll: coll.into(),
                id: format!("id{docno}"),
                docno,
                old,
                new,
            });
        }
        let mut last: Vec<Change> = model
            .into_iter()
            .map(|((coll, docno), doc)| Change {
                coll: coll.into(),
                id: format!("id{docno}"),
                docno,
                old: None,
                new: Some(doc),
            })
            .collect();
        last.sort_by_key(|ch| (ch.coll.clone(), ch.docno));
        (out, last)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// A commit of many changes to two collections, replayed field by
        /// field (on threads), leaves the indexes the changes applied one at
        /// a time leave, and those of creating the documents as they end up.
        #[test]
        fn a_large_commit_equals_its_changes_one_by_one(
            ops in proptest::collection::vec(
                (
                    proptest::bool::weighted(0.3),
                    0u32..40,
                    proptest::option::weighted(0.8, (any::<u8>(), any::<u8>(), any::<u8>())),
                ),
                2 * PARALLEL_REPLAY..4 * PARALLEL_REPLAY,
            ),
        ) {
            let (changes, last) = changes(&ops);
            // Enough in `c` for its searched fields to go on threads.
            prop_assume!(changes.iter().filter(|ch| ch.coll == "c").count() >= PARALLEL_REPLAY);
            let (mut whole, mut one_by_one, mut created) =
                (empty_indexes(), empty_indexes(), empty_indexes());
            whole.apply(&changes, Some(9));
            for ch in &changes {
                one_by_one.apply(std::slice::from_ref(ch), Some(9));
            }
            for ch in &last {
                created.apply(std::slice::from_ref(ch), Some(9));
            }
            let mut problems = Vec::new();
            super::audit::compare(&whole, &one_by_one, "whole", &mut problems);
            super::audit::compare(&whole, &created, "final documents", &mut problems);
            prop_assert!(problems.is_empty(), "{:?}", problems);
            prop_assert_eq!(whole.log_end, 9);
        }
    }

    #[test]
    fn text_directories_differ_where_file_systems_ignore_case() {
        assert_eq!(text_dir_name("users"), "c-users");
        assert_eq!(text_dir_name("a_b-9"), "c-a_b-9");
        let (upper, lower) = (text_dir_name("Users"), text_dir_name("users"));
        assert_ne!(upper.to_lowercase(), lower.to_lowercase());
        assert_eq!(upper, "h-5573657273");
        assert_eq!(text_dir_name("../x"), "h-2e2e2f78");
    }
}
