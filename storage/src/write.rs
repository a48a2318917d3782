//! The write transaction: every mutation goes through [`Tx`], which keeps
//! documents, the docno map, the reverse-reference index and the change
//! log in step inside one redb write transaction. (Value indexes and
//! n-grams are the query engine's, derived from the changes it observes.)
//!
//! Invariants:
//! - [`Tx::put`] and [`Tx::remove`] are the only writers of `DOCS`; they
//!   derive the `REFS` changes from the old and new stored bodies, so the
//!   reverse index cannot drift from the documents;
//! - an operation that fails poisons the transaction ([`Tx::finish`]
//!   refuses to commit it), so a failed operation, cascade or batch leaves
//!   nothing behind even if the caller ignores the error.

mod append;
mod bulk;
mod create;
mod delete;
mod refs;
mod undo;

pub(crate) use bulk::{BATCH, Spent, check_and_encode};
pub(crate) use create::Checked;
use create::{check_input, check_valid, refuse_deep, take_derived};
mod group;
mod log;

use crate::catalog::{Catalog, CollState};
use crate::changelog::Retention;
use crate::changes::Change;
use crate::codec::{self, StoredDoc};
use crate::error::{Error, Result};
use crate::hooks::{Cause, Committed, HookCtx, Hooks};
use crate::ids::IdGenerator;
use crate::patch::{self, PatchOp};
use crate::postings::{Pending, ref_target_key};
use crate::read::{self, Document, Tables};
use crate::rows::{ReadRows, WriteRows};
use crate::schema::{Collection, Schema, targets_of};
pub use delete::{DeletePlan, Unlink};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use undo::Undo;

/// Who writes: recorded in `_meta.created_by` / `modified_by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub login: String,
}

impl Actor {
    /// The user of requests without credentials (backo's convention).
    pub fn anonymous() -> Actor {
        Actor {
            id: "000".into(),
            login: "ANONYMOUS".into(),
        }
    }

    fn to_json(&self) -> Value {
        serde_json::json!({"_id": self.id, "login": self.login})
    }
}

/// What a write transaction takes from the store that begins it.
pub(crate) struct TxEnv<'t> {
    pub catalog: &'t Catalog,
    /// Generates the ids of created documents that come without one.
    pub ids: &'t Mutex<IdGenerator>,
    /// How much of the change log commits keep.
    pub retention: Retention,
    /// Size beyond which a reverse-index row splits.
    pub row_bytes: usize,
    /// Whether anyone observes commits (else changes are not recorded).
    pub observed: bool,
    pub hooks: Arc<Hooks>,
}

/// A write transaction in progress; see the module doc.
pub struct Tx<'t> {
    pub(crate) catalog: &'t Catalog,
    ids: &'t Mutex<IdGenerator>,
    pub(crate) schema: &'t Schema,
    actor: Value,
    now: String,
    /// The `_meta` of every document this transaction creates, and its
    /// encoding (see [`create_meta`]).
    create_meta_value: Value,
    create_meta: Vec<u8>,
    /// The rows of the file, as this transaction sees and writes them.
    pub(crate) rows: WriteRows<'t>,
    /// The change log's counters and merge state (see [`log`]).
    pub(crate) log: log::Log,
    states: HashMap<u32, CollState>,
    poisoned: bool,
    /// Documents changed as partners of the current operation, checked for
    /// required references before it returns.
    pub(crate) touched: BTreeSet<(String, String)>,
    /// Every document change so far, for [`crate::CommitObserver`]s.
    observed_changes: Vec<Change>,
    /// Reverse-index changes not yet applied: a bulk load then writes each
    /// postings row once instead of once per document; every path that
    /// reads `REFS` applies them first ([`Tx::flush`]). Row keys as
    /// [`crate::postings::ref_target_key`] bytes.
    pending_refs: Pending,
    /// Whether the transaction is one caller's or a group commit's, with
    /// what each keeps.
    mode: Mode,
    /// Size beyond which a reverse-index row splits.
    row_bytes: usize,
    /// Reused to build pending row keys without allocating.
    scratch: Vec<u8>,
    /// Whether anyone observes commits (else changes are not recorded).
    observed: bool,
    /// The largest `_id` per collection (`None`: empty) as of this
    /// transaction's first create there, raised by every create since: an
    /// upper bound (a deleted document's id may stay), which tracks
    /// [`CollState::ordered`] and spares the existence check of an id past it.
    last_ids: HashMap<u32, Option<String>>,
    /// The store's hooks as this transaction began ([`crate::hooks`]).
    pub(crate) hooks: Arc<Hooks>,
    /// Every document change so far, for `after_commit` hooks (kept only
    /// when there are some).
    pub(crate) committed: Vec<Committed>,
}

/// The two kinds of write transaction.
pub(crate) enum Mode {
    /// One caller's transaction ([`crate::Store::write`]): any failure
    /// aborts all of it, so nothing needs undoing.
    Whole {
        /// Created rows waiting to be appended (see [`append`]).
        appends: append::Appends,
        /// Documents found by existence checks (see [`append`]).
        known: append::Known,
    },
    /// A group commit ([`crate::Store::write_each`]): each request can be
    /// undone alone (see [`Tx::run_undoable`]).
    Group {
        /// The previous content of every row the current request wrote.
        undo: Vec<Undo>,
        /// The reverse-index changes of the group's finished requests.
        refs: Pending,
    },
}

/// What a finished transaction hands to the commit.
pub(crate) struct Finished {
    /// For the [`crate::CommitObserver`]s.
    pub changes: Vec<Change>,
    /// The seq after its last change record, when it wrote any.
    pub end: Option<u64>,
    /// For the `after_commit` hooks.
    pub committed: Vec<Committed>,
}

/// Pending postings targets, or changes (eight bytes each), beyond which
/// they are applied even mid-transaction, to bound memory. Each flush
/// rewrites every pending target's row, so a bulk load flushes as seldom
/// as memory allows: ten million documents over a million targets flush
/// once, at the end. A second flush would grow every row the first wrote,
/// splitting the leaves it had packed: with a flush at 2^23 changes, a
/// 10M-user import left the reverse index's pages half full.
const FLUSH_AT: usize = 1 << 20;
const FLUSH_OPS: usize = 1 << 24;

impl<'t> Tables for Tx<'t> {
    type Rows = WriteRows<'t>;
    fn rows(&self) -> &WriteRows<'t> {
        &self.rows
    }
    fn catalog(&self) -> &Catalog {
        self.catalog
    }
    fn refs_flushed(&self) {
        debug_assert!(
            self.pending_refs.is_empty()
                && !matches!(&self.mode, Mode::Group { refs, .. } if !refs.is_empty()),
            "REFS read before a flush"
        );
    }
}

/// One operation of a batch (`POST /_batch`).
#[derive(Debug, Clone)]
pub enum BatchOp {
    Create {
        coll: String,
        doc: Map<String, Value>,
    },
    Update {
        coll: String,
        id: String,
        doc: Map<String, Value>,
    },
    Patch {
        coll: String,
        id: String,
        patch: Vec<PatchOp>,
    },
    Delete {
        coll: String,
        id: String,
    },
}

/// What one batch operation produced.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchResult {
    Doc(Document),
    Deleted(Vec<(String, String)>),
}

/// The `_meta` of a document created at `now` by `actor`, and its
/// encoding: built once per transaction (and actor), since a batch of
/// creates shares it.
fn create_meta(now: &str, actor: &Value) -> (Value, Vec<u8>) {
    let meta = serde_json::json!({"ctime": now, "mtime": now,
        "created_by": actor, "modified_by": actor});
    let encoded = codec::encode_meta(&meta);
    (meta, encoded)
}

impl<'t> Tx<'t> {
    pub(crate) fn open(env: TxEnv<'t>, rows: WriteRows<'t>, actor: &Actor) -> Result<Tx<'t>> {
        let instant = chrono::Utc::now();
        let now = instant.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let actor = actor.to_json();
        let log = log::Log::open(&rows, instant.timestamp_micros(), env.retention)?;
        let (create_meta_value, create_meta) = create_meta(&now, &actor);
        Ok(Tx {
            catalog: env.catalog,
            ids: env.ids,
            schema: env.catalog.schema(),
            actor,
            now,
            create_meta_value,
            create_meta,
            rows,
            log,
            states: HashMap::new(),
            poisoned: false,
            touched: BTreeSet::new(),
            observed_changes: Vec::new(),
            pending_refs: Pending::default(),
            mode: Mode::Whole {
                appends: append::Appends::default(),
                known: append::Known::default(),
            },
            row_bytes: env.row_bytes,
            scratch: Vec::new(),
            observed: env.observed,
            last_ids: HashMap::new(),
            hooks: env.hooks,
            committed: Vec::new(),
        })
    }

    /// Who writes, as hooks are told.
    pub(crate) fn hook_actor(&self) -> Value {
        self.actor.clone()
    }

    /// What the hooks are told about a write of `coll` by this transaction.
    pub(crate) fn hook_ctx<'a>(
        &'a self,
        coll: &'a str,
        id: Option<&'a str>,
        cause: Cause,
    ) -> HookCtx<'a> {
        HookCtx {
            coll,
            id,
            actor: &self.actor,
            cause,
        }
    }

    /// Writes the cached counters and hands out the changes; refuses a
    /// poisoned transaction.
    pub(crate) fn finish(&mut self) -> Result<Finished> {
        if self.poisoned {
            return Err(Error::Aborted);
        }
        self.flush()?;
        for (cid, state) in self.states.drain() {
            self.rows
                .put_coll(cid, &rmp_serde::to_vec(&state).expect("encodable"))?;
        }
        self.finish_log()?;
        Ok(Finished {
            changes: std::mem::take(&mut self.observed_changes),
            end: self.log_end(),
            committed: std::mem::take(&mut self.committed),
        })
    }

    /// Whether an operation failed inside this transaction (even one its
    /// caller caught): it can no longer commit.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Runs one operation, poisoning the transaction if it fails.
    fn guard<R>(&mut self, op: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        if self.poisoned {
            return Err(Error::Aborted);
        }
        self.touched.clear();
        let r = op(self).and_then(|r| {
            self.check_touched()?;
            Ok(r)
        });
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    pub(crate) fn coll(&self, name: &str) -> Result<(&'t Collection, u32)> {
        let c = read::collection(self.schema, name)?;
        Ok((c, self.catalog.coll_id(name)?))
    }

    pub(crate) fn state(&mut self, cid: u32) -> Result<&mut CollState> {
        if !self.states.contains_key(&cid) {
            let s = match self.rows.coll(cid)? {
                Some(v) => rmp_serde::from_slice(&v)?,
                None => return Err(Error::Corrupt(format!("no counters for collection {cid}"))),
            };
            self.states.insert(cid, s);
        }
        Ok(self.states.get_mut(&cid).expect("just inserted"))
    }

    /// Reads a document as this transaction sees it.
    pub fn get(&mut self, coll: &str, id: &str) -> Result<Document> {
        let (c, cid) = self.coll(coll)?;
        // The reverse index is read only for derived lists: a collection
        // without them leaves the pending postings to be written once, not
        // once per read (a batch reads back every document it writes).
        if c.stores_every_field() {
            self.flush_appends()?;
        } else {
            self.flush()?;
        }
        let doc = read::load(self, c, cid, id)?.ok_or_else(|| not_found(coll, id))?;
        read::materialize(self, c, id, doc)
    }

    /// Creates a document and returns its id. The input may carry `_id`
    /// (else one is generated) and values for every field, including the
    /// `refs` lists filled from the other side.
    pub fn create(&mut self, coll: &str, input: Map<String, Value>) -> Result<String> {
        self.guard(|tx| {
            let p = tx.prepare_create(coll, input)?;
            tx.apply_create(p).map(|(id, _)| id)
        })
    }

    /// [`Tx::create`], returning the document as [`Tx::get`] would read
    /// it right after. A collection without derived lists needs nothing
    /// read back: the document is what was written.
    fn create_and_get(&mut self, coll: &str, input: Map<String, Value>) -> Result<Document> {
        let (c, _) = self.coll(coll)?;
        if !c.stores_every_field() {
            let id = self.create(coll, input)?;
            return self.get(coll, &id);
        }
        let (id, mut doc) = self.guard(|tx| {
            let p = tx.prepare_create(coll, input)?;
            tx.apply_create(p)
        })?;
        doc.meta = self.create_meta_value();
        read::materialize(self, c, &id, doc)
    }

    /// The `_meta` of the documents this transaction creates now.
    fn create_meta_value(&self) -> Value {
        self.create_meta_value.clone()
    }

    /// Like [`Tx::create`], except that a document refused by its checks
    /// (schema, id, missing reference) is reported without aborting the
    /// transaction — for imports that skip bad lines. A failure past the
    /// checks (say, a one-to-one steal that empties a required reference)
    /// still aborts it.
    pub fn try_create(&mut self, coll: &str, input: Map<String, Value>) -> Result<String> {
        if self.poisoned {
            return Err(Error::Aborted);
        }
        let p = self.prepare_create(coll, input)?;
        self.guard(|tx| tx.apply_create(p).map(|(id, _)| id))
    }

    /// Merges `input` into the document (as PUT): given fields replace the
    /// stored ones (dicts merge key by key), null clears a field.
    pub fn update(&mut self, coll: &str, id: &str, input: Map<String, Value>) -> Result<()> {
        self.guard(|tx| tx.update_inner(coll, id, input))
    }

    /// Applies PATCH operations, all or none.
    pub fn patch(&mut self, coll: &str, id: &str, ops: &[PatchOp]) -> Result<()> {
        self.guard(|tx| {
            let current = tx.get(coll, id)?;
            let patched = patch::apply_patch(&current, ops)?;
            tx.replace_inner(coll, id, patched, true)
        })
    }

    /// Deletes a document, applying the `on_delete` rules; returns every
    /// deleted (collection, id), the document itself first.
    pub fn delete(&mut self, coll: &str, id: &str) -> Result<Vec<(String, String)>> {
        self.guard(|tx| {
            tx.flush()?;
            let plan = delete::plan(tx, coll, id)?;
            delete::apply(tx, &plan)?;
            Ok(plan.deleted)
        })
    }

    /// Runs a batch: all operations or none (the first failure returns its
    /// index with the error and poisons the transaction).
    pub fn batch(&mut self, ops: Vec<BatchOp>) -> Result<Vec<BatchResult>, (usize, Error)> {
        let mut out = Vec::with_capacity(ops.len());
        for (i, op) in ops.into_iter().enumerate() {
            let r = match op {
                BatchOp::Create { coll, doc } => {
                    self.create_and_get(&coll, doc).map(BatchResult::Doc)
                }
                BatchOp::Update { coll, id, doc } => self
                    .update(&coll, &id, doc)
                    .and_then(|_| self.get(&coll, &id))
                    .map(BatchResult::Doc),
                BatchOp::Patch { coll, id, patch } => self
                    .patch(&coll, &id, &patch)
                    .and_then(|_| self.get(&coll, &id))
                    .map(BatchResult::Doc),
                BatchOp::Delete { coll, id } => self.delete(&coll, &id).map(BatchResult::Deleted),
            };
            match r {
                Ok(r) => out.push(r),
                Err(e) => {
                    self.poisoned = true;
                    return Err((i, e));
                }
            }
        }
        Ok(out)
    }

    fn update_inner(&mut self, coll: &str, id: &str, input: Map<String, Value>) -> Result<()> {
        refuse_deep(&input)?;
        let current = self.get(coll, id)?;
        let mut merged = current.clone();
        for (k, v) in input {
            match (merged.get_mut(&k), v) {
                (Some(Value::Object(old)), Value::Object(new)) if k != "_meta" => {
                    merge_dict(old, new)
                }
                (_, v) => {
                    merged.insert(k, v);
                }
            }
        }
        self.replace_inner(coll, id, merged, true)
    }

    /// Makes the document equal to `full` (a materialized document: `_id`,
    /// fields, derived lists, `_meta`), reconciling references.
    fn replace_inner(
        &mut self,
        coll: &str,
        id: &str,
        mut full: Map<String, Value>,
        allow_same_meta: bool,
    ) -> Result<()> {
        refuse_deep(&full)?;
        let (c, cid) = self.coll(coll)?;
        let old = read::load(self, c, cid, id)?.ok_or_else(|| not_found(coll, id))?;
        match full.shift_remove("_id") {
            None => {}
            Some(Value::String(s)) if s == id => {}
            Some(_) => return Err(Error::bad("$._id", "_id cannot be changed")),
        }
        match full.shift_remove("_meta") {
            None => {}
            Some(m) if allow_same_meta && m == old.meta => {}
            Some(_) => return Err(Error::bad("$._meta", "_meta is maintained by the engine")),
        }
        if self.hooks.has_before_update(coll) {
            let hooks = self.hooks.clone();
            let before = with_id(id, &old);
            hooks.run_before_update(
                &self.hook_ctx(coll, Some(id), Cause::Direct),
                &before,
                &mut full,
            )?;
            if full.contains_key("_id") || full.contains_key("_meta") {
                return Err(Error::bad("$._id", "a hook may not set _id or _meta"));
            }
        }
        let derived = take_derived(c, &mut full)?;
        create::refuse_unknown(c, &full)?;
        full.retain(|_, v| !v.is_null());
        crate::schema::validate::normalize_ints(&c.fields, &mut full);
        check_valid(c, &full)?;
        let mut meta = old.meta.clone();
        if let Value::Object(m) = &mut meta {
            m.insert("mtime".into(), Value::String(self.now.clone()));
            m.insert("modified_by".into(), self.actor.clone());
        }
        let new = StoredDoc {
            docno: old.docno,
            body: full,
            meta,
        };
        let mut old_targets = HashMap::new();
        for (f, _) in c.ref_fields() {
            old_targets.insert(
                f.name.clone(),
                read::ref_targets(self, c, id, &old, &f.name)?,
            );
        }
        self.put(cid, c, id, Some(&old), &new)?;
        for (f, _) in c.ref_fields() {
            let new_t = match (f.is_stored(), derived.get(&f.name)) {
                (true, _) => targets_of(new.body.get(&f.name)),
                (false, Some(list)) => list.clone(),
                (false, None) => continue,
            };
            refs::reconcile(self, c, id, &f.name, &old_targets[&f.name], &new_t, true)?;
        }
        Ok(())
    }

    /// Writes a document's stored row, keeping `DOCNOS` and `REFS`
    /// in step with the change from `old` to `new`.
    pub(crate) fn put(
        &mut self,
        cid: u32,
        c: &Collection,
        id: &str,
        old: Option<&StoredDoc>,
        new: &StoredDoc,
    ) -> Result<()> {
        self.put_row(cid, c, id, old, new, codec::encode(c, new))
    }

    fn put_row(
        &mut self,
        cid: u32,
        c: &Collection,
        id: &str,
        old: Option<&StoredDoc>,
        new: &StoredDoc,
        row: Vec<u8>,
    ) -> Result<()> {
        // Buffered rows are appended before any row is written in place,
        // which keeps them after every row of their collection.
        self.flush_appends()?;
        let mut row = row;
        let mut seq = self.row_seq(cid, id, old.is_some(), new.docno);
        seq.carried = codec::set_latest(&mut row, seq.seq);
        let previous = self.rows.put_doc(cid, id, &row)?;
        let existed = previous.is_some();
        // Logged for undo before anything else can fail, so a failed
        // request of a group puts the row back.
        if self.is_group() {
            self.undoable(Undo::Doc {
                cid,
                id: id.to_string(),
                old: previous.clone(),
            });
        }
        self.log_put(cid, c, id, previous.as_deref(), new.docno, seq)?;
        if old.is_none() {
            // Found on insert rather than by a lookup first: the failed
            // operation poisons the transaction, so the overwrite never
            // commits.
            if existed {
                return Err(Error::AlreadyExists {
                    coll: c.name.clone(),
                    id: id.to_string(),
                });
            }
            self.rows.put_docno(cid, new.docno, id)?;
            self.undoable(Undo::Docno {
                cid,
                docno: new.docno,
                old: None,
            });
        }
        self.record(c, id, new.docno, old, Some(new));
        self.sync_derived(cid, c, old, Some(new))
    }

    /// Deletes a document's row and every reverse-index entry it owns.
    pub(crate) fn remove(
        &mut self,
        cid: u32,
        c: &Collection,
        id: &str,
        old: &StoredDoc,
    ) -> Result<()> {
        self.flush_appends()?;
        if let Mode::Whole { known, .. } = &mut self.mode {
            known.forget(cid, id);
        }
        let row = self.rows.remove_doc(cid, id)?;
        if self.is_group() {
            self.undoable(Undo::Doc {
                cid,
                id: id.to_string(),
                old: row.clone(),
            });
        }
        self.rows.remove_docno(cid, old.docno)?;
        self.undoable(Undo::Docno {
            cid,
            docno: old.docno,
            old: Some(id.to_string()),
        });
        self.log_remove(cid, c, id, old.docno, row.as_deref())?;
        let state = self.state(cid)?;
        state.count -= 1;
        self.record(c, id, old.docno, Some(old), None);
        self.sync_derived(cid, c, Some(old), None)
    }

    fn record(
        &mut self,
        c: &Collection,
        id: &str,
        docno: u32,
        old: Option<&StoredDoc>,
        new: Option<&StoredDoc>,
    ) {
        if self.hooks.wants_commits() {
            let mut new = new.map(|d| with_id(id, d));
            // A created row carries its `_meta` encoded apart (shared by
            // every create of the transaction).
            if let Some(d) = new.as_mut().filter(|d| d["_meta"].is_null()) {
                d.insert("_meta".into(), self.create_meta_value());
            }
            self.committed.push(Committed {
                coll: c.name.clone(),
                id: id.to_string(),
                old: old.map(|d| with_id(id, d)),
                new,
            });
        }
        if !self.observed {
            return;
        }
        let pick = |d: &StoredDoc| -> Map<String, Value> {
            c.fields
                .iter()
                .filter(|f| f.index || f.search)
                .filter_map(|f| Some((f.name.clone(), d.body.get(&f.name)?.clone())))
                .collect()
        };
        let (old, new) = (old.map(pick), new.map(pick));
        if old.is_some() && new.is_some() && old == new {
            return;
        }
        self.observed_changes.push(Change {
            coll: c.name.clone(),
            id: id.to_string(),
            docno,
            old,
            new,
        });
    }

    fn sync_derived(
        &mut self,
        cid: u32,
        c: &Collection,
        old: Option<&StoredDoc>,
        new: Option<&StoredDoc>,
    ) -> Result<()> {
        for f in c.fields.iter() {
            let stored_ref = f.ty.ref_spec().is_some() && f.is_stored();
            if !stored_ref {
                continue;
            }
            let ov = old.and_then(|d| d.body.get(&f.name));
            let nv = new.and_then(|d| d.body.get(&f.name));
            if old.is_some() && new.is_some() && ov == nv {
                continue;
            }
            if let (Some(spec), true) = (f.ty.ref_spec(), f.is_stored()) {
                let tcid = self.catalog.coll_id(&spec.coll)?;
                let ot = targets_of(ov);
                let nt = targets_of(nv);
                let docno = new.or(old).map(|d| d.docno).unwrap_or_default();
                let mut key = std::mem::take(&mut self.scratch);
                for t in ot.iter().filter(|t| !nt.contains(t)) {
                    ref_target_key(&mut key, tcid, t, cid, &f.name);
                    self.pending_refs.remove(&key, docno);
                }
                if new.is_some() {
                    for t in nt.iter().filter(|t| !ot.contains(t)) {
                        ref_target_key(&mut key, tcid, t, cid, &f.name);
                        self.pending_refs.add(&key, docno);
                    }
                }
                self.scratch = key;
            }
        }
        if self.pending_refs.len() > FLUSH_AT || self.pending_refs.ops() > FLUSH_OPS {
            self.flush()?;
        }
        Ok(())
    }

    /// Every document changed as a partner must still have its required
    /// references.
    fn check_touched(&mut self) -> Result<()> {
        let touched = std::mem::take(&mut self.touched);
        for (coll, id) in touched {
            let (c, cid) = self.coll(&coll)?;
            let Some(doc) = read::load(self, c, cid, &id)? else {
                continue;
            };
            for (f, _) in c.ref_fields() {
                if f.required && f.is_stored() && targets_of(doc.body.get(&f.name)).is_empty() {
                    return Err(Error::RequiredRef {
                        coll,
                        id,
                        field: f.name.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn not_found(coll: &str, id: &str) -> Error {
    Error::NotFound {
        coll: coll.into(),
        id: id.into(),
        path: None,
    }
}

fn merge_dict(old: &mut Map<String, Value>, new: Map<String, Value>) {
    for (k, v) in new {
        match (old.get_mut(&k), v) {
            (Some(Value::Object(o)), Value::Object(n)) => merge_dict(o, n),
            (_, Value::Null) => {
                old.shift_remove(&k);
            }
            (_, v) => {
                old.insert(k, v);
            }
        }
    }
}

/// A stored document as hooks see it: `_id`, the stored fields, `_meta`.
pub(crate) fn with_id(id: &str, d: &StoredDoc) -> Document {
    let mut doc = Map::with_capacity(d.body.len() + 2);
    doc.insert("_id".into(), Value::String(id.to_string()));
    doc.extend(d.body.iter().map(|(k, v)| (k.clone(), v.clone())));
    doc.insert("_meta".into(), d.meta.clone());
    doc
}
