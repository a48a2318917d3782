//! The database file: opening it, checking its format, keeping the schema
//! and collection catalog inside it, and handing out transactions.
//!
//! Invariant: a [`Store`]'s schema is the one stored in its file; it never
//! changes while the store is open (a new schema is applied at open, in one
//! transaction, by [`crate::migrate`]).

use crate::catalog::{Catalog, CollIds, CollState};
use crate::changelog::{ChangeRecord, Retention};
use crate::changes::CommitObserver;
use crate::error::{Error, Result};
use crate::fault::{self, FaultState};
use crate::hooks::Hooks;

mod backup;
mod compact;
mod recover;
mod shared_log;
use crate::ids::IdGenerator;
use crate::patch::PatchOp;
use crate::read::Document;
use crate::read::ReadTxn;
use crate::rows::tables::FORMAT_VERSION;
use crate::rows::{Backend, CacheUse, ReadRows, Snapshot, WriteRows, WriteTxn};
use crate::schema::Schema;
use crate::write::{Actor, BatchOp, BatchResult, Finished, Tx, TxEnv};
pub use shared_log::LoggedGroup;
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

/// One operation of [`Store::write_each`]: who does it, and what.
pub type GroupOp<'a, R> = (Actor, Box<dyn FnOnce(&mut Tx<'_>) -> Result<R> + Send + 'a>);

/// An open database file.
pub struct Store {
    /// Replaced (under `writer`) when a disk fault made redb latch it.
    db: RwLock<Arc<Backend>>,
    /// The schema and the collections' ids.
    catalog: Catalog,
    pub(crate) ids: Mutex<IdGenerator>,
    observers: RwLock<Vec<Arc<dyn CommitObserver>>>,
    /// Held for writing around each commit and its observers; see [`Store::gate`].
    gate: RwLock<()>,
    /// Held through each write transaction (redb allows one at a time
    /// anyway), so [`Store::observe`] can wait for the one in progress.
    writer: Mutex<()>,
    /// The snapshot [`Store::read`] hands out until the next commit.
    snapshots: Mutex<SnapshotCache>,
    /// How much of the change log commits keep.
    retention: Retention,
    /// See [`OpenOptions::postings_row_bytes`].
    row_bytes: usize,
    /// Document rows decoded by scans and by-id reads of stored forms
    /// ([`Store::rows_scanned`]).
    pub(crate) scanned: std::sync::atomic::AtomicU64,
    /// The database file.
    path: std::path::PathBuf,
    /// redb's page cache, kept for reopening.
    cache_size: usize,
    /// Whether writes are failing on the disk; see [`crate::fault`].
    faults: Mutex<FaultState>,
    /// A commit that failed on the disk and may be in the file anyway:
    /// the seq after its records and its changes, until
    /// [`Store::resolve_locked`] reads the log.
    unresolved: Mutex<Option<(u64, Vec<crate::Change>)>>,
    /// The process-wide fault count last looked at by [`Store::read`].
    faults_checked: std::sync::atomic::AtomicU64,
    /// The program's own rules ([`crate::hooks`]).
    hooks: RwLock<Arc<Hooks>>,
    /// For a store opened read-only beside a writer: the schema's bytes as
    /// stored when it opened. Rows name fields by their position in the
    /// schema, so a migration by the writer makes this store's reads
    /// wrong; [`Store::read`] refuses them instead.
    schema_at_open: Option<Vec<u8>>,
}

/// See [`Store::read`].
#[derive(Default)]
struct SnapshotCache {
    /// Commits so far: a snapshot opened before a commit is never cached
    /// after it.
    generation: u64,
    current: Option<Arc<Snapshot>>,
}

/// While held, no commit happens: a snapshot taken under it agrees with
/// every [`CommitObserver`]'s derived state.
pub struct Gate<'a>(#[allow(dead_code)] RwLockReadGuard<'a, ()>);

/// Options for [`Store::open_with`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The schema to apply; `None` keeps the stored one, or gives a new
    /// file the demo schema.
    pub schema: Option<Schema>,
    /// redb's page cache, in bytes.
    pub cache_size: usize,
    /// How much of the change log to keep ([`crate::changelog`]).
    pub changes_retention: Retention,
    /// Size in bytes beyond which a reverse-index row is split (see
    /// [`crate::postings`]); tests make it small to split rows often.
    pub postings_row_bytes: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            schema: None,
            cache_size: 1 << 30,
            changes_retention: Retention::default(),
            postings_row_bytes: crate::postings::ROW_BYTES,
        }
    }
}

impl Store {
    /// Opens (or creates) the database file at `path`, applying `schema` if
    /// given (see [`OpenOptions::schema`]).
    pub fn open(path: impl AsRef<Path>, schema: Option<Schema>) -> Result<Store> {
        Store::open_with(
            path,
            OpenOptions {
                schema,
                ..OpenOptions::default()
            },
        )
    }

    pub fn open_with(path: impl AsRef<Path>, opts: OpenOptions) -> Result<Store> {
        let mut backend = crate::rows::open_writable(path.as_ref(), opts.cache_size)?;
        let txn = backend.begin_write()?;
        let mut upgraded = false;
        let mut wrote = false;
        let (stored_schema, mut catalog) = {
            // Opening every table once makes a fresh file complete, so
            // readers never meet a missing table.
            let mut rows = txn.rows()?;
            let format = rows.meta("format")?.map(|v| v.to_vec());
            match format {
                Some(v) => {
                    let bytes: [u8; 4] = v
                        .as_slice()
                        .try_into()
                        .map_err(|_| Error::Corrupt("format".into()))?;
                    let found = u32::from_le_bytes(bytes);
                    if found == 2 {
                        drop(rows);
                        txn.upgrade_docs_from_v2(crate::codec::upgrade_v2_row)?;
                        rows = txn.rows()?;
                        upgraded = true;
                    }
                    if found == 7 || found == 8 {
                        // Format 8 adds a layout of change records that an
                        // older refdb cannot read, format 9 packed datetime
                        // text in rows (see `timetext`); older records and
                        // rows are read as they are.
                        rows.put_meta("format", &FORMAT_VERSION.to_le_bytes())?;
                        wrote = true;
                    } else if (2..7).contains(&found) {
                        // Format 4 added the change log, opened empty
                        // above: it starts at this upgrade. Format 5 drops
                        // the `index` table nothing read (its pages are
                        // reused by later writes). Format 6 keys stored
                        // fields by position: older rows, keyed by name,
                        // are read as they are (see `codec`). Format 7
                        // splits reverse-index rows by size instead of at
                        // fixed docno chunks: the index is rewritten.
                        // Formats 8 and 9 only add layouts.
                        txn.drop_unread_index()?;
                        drop(rows);
                        tracing::info!(
                            format = found,
                            "upgrading the file to format {FORMAT_VERSION}: rewriting its reverse index"
                        );
                        let targets = txn.upgrade_refs_from_v6(|set| {
                            crate::postings::split_to_fit(0, set, opts.postings_row_bytes)
                                .into_iter()
                                .map(|(start, part)| (start, crate::postings::encode(&part)))
                                .collect()
                        })?;
                        tracing::info!(
                            format = found,
                            targets,
                            "upgraded the file's reverse index"
                        );
                        // The old index's pages are given back below.
                        upgraded |= targets > 0;
                        rows = txn.rows()?;
                        rows.put_meta("format", &FORMAT_VERSION.to_le_bytes())?;
                        wrote = true;
                    } else if found != FORMAT_VERSION {
                        return Err(Error::Corrupt(format!(
                            "file format {found}, this refdb reads format {FORMAT_VERSION}"
                        )));
                    }
                }
                None => {
                    rows.put_meta("format", &FORMAT_VERSION.to_le_bytes())?;
                    wrote = true;
                }
            }
            let stored = match rows.meta("schema")? {
                Some(v) => Some(
                    Schema::from_json(
                        &serde_json::from_slice(&v)
                            .map_err(|e| Error::Corrupt(format!("stored schema: {e}")))?,
                    )
                    .map_err(|e| Error::Corrupt(format!("stored schema: {e}")))?,
                ),
                None => None,
            };
            let catalog: CollIds = match rows.meta("catalog")? {
                Some(v) => rmp_serde::from_slice(&v)?,
                None => CollIds::new(),
            };
            (stored, catalog)
        };
        let schema = match (stored_schema, opts.schema) {
            (None, given) => given.unwrap_or_else(Schema::demo),
            (Some(stored), None) => stored,
            // Equal schemas may still differ in their source text (a
            // description): the given file is the one to keep.
            (Some(stored), Some(given)) if stored == given => given,
            (Some(stored), Some(given)) => {
                crate::migrate::migrate(
                    &mut txn.rows()?,
                    &stored,
                    &given,
                    &mut catalog,
                    opts.postings_row_bytes,
                )?;
                wrote = true;
                given
            }
        };
        let mut ids = IdGenerator::default();
        {
            let mut rows = txn.rows()?;
            let mut next = catalog.values().max().map_or(1, |m| m + 1);
            for c in schema.collections() {
                if !catalog.contains_key(&c.name) {
                    catalog.insert(c.name.clone(), next);
                    let state = CollState {
                        ordered: true,
                        ..CollState::default()
                    };
                    rows.put_coll(next, &rmp_serde::to_vec(&state).expect("encodable"))?;
                    next += 1;
                    wrote = true;
                }
            }
            // Written only when they change: a reopen that changes nothing
            // writes nothing, so a file on a full disk still opens.
            let schema_json = serde_json::to_vec(schema.source()).expect("json");
            let catalog_bytes = rmp_serde::to_vec(&catalog).expect("encodable");
            for (key, value) in [("schema", &schema_json), ("catalog", &catalog_bytes)] {
                if rows.meta(key)?.as_deref() != Some(value.as_slice()) {
                    rows.put_meta(key, value)?;
                    wrote = true;
                }
            }
            for &cid in catalog.values() {
                if let Some(last) = rows.docs(cid, Bound::Unbounded)?.next_back().transpose()? {
                    ids.observe(last.id());
                }
            }
        }
        if wrote {
            txn.commit()?;
        } else {
            // Nothing to write: the transaction is dropped, not committed.
            drop(txn);
        }
        if upgraded {
            // The old documents table's or reverse index's pages are free
            // but still in the file: give them back (the upgrade would
            // otherwise grow the file by their size).
            tracing::info!("compacting the upgraded file to give back the old tables' pages");
            backend.compact()?;
        }
        Ok(Store {
            db: RwLock::new(Arc::new(backend)),
            catalog: Catalog::new(Arc::new(schema), catalog),
            ids: Mutex::new(ids),
            observers: RwLock::new(Vec::new()),
            gate: RwLock::new(()),
            writer: Mutex::new(()),
            snapshots: Mutex::new(SnapshotCache::default()),
            retention: opts.changes_retention,
            row_bytes: opts.postings_row_bytes,
            scanned: Default::default(),
            path: path.as_ref().to_path_buf(),
            cache_size: opts.cache_size,
            faults: Mutex::new(FaultState::default()),
            unresolved: Mutex::new(None),
            faults_checked: fault::seen().into(),
            hooks: RwLock::new(Arc::new(Hooks::default())),
            schema_at_open: None,
        })
    }

    /// Opens a database read-only, beside the process that may be writing
    /// it (a running server): reads see its commits; writes are refused.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(Error::Storage(format!("{} does not exist", path.display())));
        }
        let backend = crate::rows::open_read_only(path)?;
        let corrupt = |what: &str| Error::Corrupt(format!("no {what} in the file"));
        let format = backend
            .meta_of_last_commit("format")?
            .ok_or_else(|| corrupt("format"))?;
        for old in [2u32, 3] {
            if format == old.to_le_bytes() {
                return Err(Error::Storage(format!(
                    "{} is in format {old}: open it once for writing (say, `refdb serve`) to \
                     upgrade it",
                    path.display()
                )));
            }
        }
        // Formats 4 to 8 differ only by a table this refdb ignores, by rows
        // and records it reads as they are, and by a reverse index it reads
        // in its old layout (see `rows`).
        let readable = [4u32, 5, 6, 7, 8, FORMAT_VERSION].map(u32::to_le_bytes);
        if !readable.iter().any(|f| format == f[..]) {
            return Err(Error::Corrupt(format!(
                "file format is not {FORMAT_VERSION}"
            )));
        }
        let snap = backend.begin_read()?;
        let schema_json = snap.meta("schema")?.ok_or_else(|| corrupt("schema"))?;
        let schema = serde_json::from_slice(&schema_json)
            .ok()
            .and_then(|v| Schema::from_json(&v).ok())
            .ok_or_else(|| corrupt("valid schema"))?;
        let catalog: CollIds =
            rmp_serde::from_slice(&snap.meta("catalog")?.ok_or_else(|| corrupt("catalog"))?)?;
        let schema_at_open = Some(schema_json.to_vec());
        drop(schema_json);
        drop(snap);
        Ok(Store {
            db: RwLock::new(Arc::new(backend)),
            catalog: Catalog::new(Arc::new(schema), catalog),
            ids: Mutex::new(IdGenerator::default()),
            observers: RwLock::new(Vec::new()),
            gate: RwLock::new(()),
            writer: Mutex::new(()),
            snapshots: Mutex::new(SnapshotCache::default()),
            retention: Retention::default(),
            row_bytes: crate::postings::ROW_BYTES,
            scanned: Default::default(),
            path: path.to_path_buf(),
            cache_size: 0,
            faults: Mutex::new(FaultState::default()),
            unresolved: Mutex::new(None),
            faults_checked: fault::seen().into(),
            hooks: RwLock::new(Arc::new(Hooks::default())),
            schema_at_open,
        })
    }

    /// How many document rows [`ReadTxn::scan`], [`ReadTxn::scan_fields`]
    /// and [`ReadTxn::get_stored`] have decoded since the store opened: a
    /// test's way to prove that some work (an engine start from its
    /// checkpoint) reads no document bodies.
    pub fn rows_scanned(&self) -> u64 {
        self.scanned.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The database file's path, as given at open.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The page cache's hits, misses and size.
    pub fn cache_use(&self) -> CacheUse {
        self.backend().cache_use()
    }

    /// A reader of `snap`.
    pub(crate) fn reader(&self, snap: Arc<Snapshot>) -> ReadTxn<'_> {
        ReadTxn::new(&self.catalog, &self.scanned, snap)
    }

    /// A write transaction over `rows`, done by `actor`.
    pub(crate) fn tx<'t>(&'t self, rows: WriteRows<'t>, actor: &Actor) -> Result<Tx<'t>> {
        let env = TxEnv {
            catalog: &self.catalog,
            ids: &self.ids,
            retention: self.retention,
            row_bytes: self.row_bytes,
            observed: self.is_observed(),
            hooks: self.hooks(),
        };
        Tx::open(env, rows, actor)
    }

    /// Installs the program's hooks ([`crate::hooks`]), replacing any
    /// before; transactions begun from now on run them.
    pub fn set_hooks(&self, hooks: Hooks) {
        *self.hooks.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(hooks);
    }

    pub(crate) fn hooks(&self) -> Arc<Hooks> {
        self.hooks.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Registers a derived index to tell about every later commit. It
    /// waits for a write in progress to finish, so every transaction that
    /// commits after this returns records its changes for the observer.
    pub fn observe(&self, observer: Arc<dyn CommitObserver>) {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.observers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(observer);
    }

    /// Whether any [`CommitObserver`] is registered (writes skip recording
    /// changes otherwise).
    pub(crate) fn is_observed(&self) -> bool {
        !self
            .observers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// Holds off commits; take it before [`Store::read`] when a snapshot
    /// must agree with derived indexes. Never hold it while writing from
    /// the same thread.
    pub fn gate(&self) -> Gate<'_> {
        Gate(self.gate.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn schema(&self) -> &Arc<Schema> {
        self.catalog.schema()
    }

    /// The stable id of a collection of the schema.
    pub fn coll_id(&self, name: &str) -> Result<u32> {
        self.catalog.coll_id(name)
    }

    /// A consistent snapshot for reading; writers never block it.
    ///
    /// Readers share one snapshot until the next commit: it sees every
    /// commit so far, and is dropped by the commit that outdates it (under
    /// the gate, so a gated reader never takes an outdated one). A store
    /// opened read-only beside another process's writes cannot know when
    /// they commit, so it opens a fresh snapshot every time.
    pub fn read(&self) -> Result<ReadTxn<'_>> {
        self.check_faults();
        // A read-only store never caches, so a hit is a writable store's.
        let generation = {
            let cache = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = &cache.current {
                return Ok(self.reader(s.clone()));
            }
            cache.generation
        };
        // An unavailable file always misses the cache (a reopen clears it).
        if self.unavailable() {
            self.probe_if_free();
        }
        let backend = self.backend();
        let snap = Arc::new(backend.begin_read()?);
        if let Backend::ReadOnly(_) = &*backend {
            let now = snap.meta("schema")?.map(|v| v.to_vec());
            let same = now.as_deref() == self.schema_at_open.as_deref()
                || now
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                    .and_then(|v| Schema::from_json(&v).ok())
                    .is_some_and(|s| &s == self.schema().as_ref());
            if !same {
                return Err(Error::Storage(format!(
                    "the schema of {} changed since it was opened here (the writing process \
                     migrated it): open it again",
                    self.path.display()
                )));
            }
            return Ok(self.reader(snap));
        }
        let mut cache = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
        // A commit since `generation` may be missing from `snap`: then it
        // serves this reader (who started before that commit) only.
        if cache.generation == generation && cache.current.is_none() {
            cache.current = Some(snap.clone());
        }
        Ok(self.reader(snap))
    }

    /// Runs `f` in one write transaction as the anonymous user: it commits
    /// (durably) if `f` returns `Ok`, and rolls back everything if `f` or
    /// any operation inside it fails — an operation's error poisons the
    /// transaction even if `f` catches it.
    pub fn write<R>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<R>) -> Result<R> {
        self.write_as(&Actor::anonymous(), f)
    }

    /// [`Store::write`] with `_meta.created_by`/`modified_by` set to `actor`.
    pub fn write_as<R>(
        &self,
        actor: &Actor,
        f: impl FnOnce(&mut Tx<'_>) -> Result<R>,
    ) -> Result<R> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let faults_before = fault::seen();
        let done = (|| {
            let txn = self.begin_write()?;
            let (result, finished) = {
                let mut tx = self.tx(txn.rows()?, actor)?;
                let r = f(&mut tx)?;
                (r, tx.finish()?)
            };
            self.commit(txn, finished)?;
            Ok(result)
        })();
        self.after_write(done, faults_before)
    }

    /// Commits durably, then tells the observers, all under the gate so a
    /// gated reader never sees one without the other. `end` is the seq
    /// after the transaction's last change record, when it wrote any: a
    /// commit that fails on the disk may still have reached the file, and
    /// the log read after reopening says whether it did.
    fn commit(&self, txn: WriteTxn, finished: Finished) -> Result<()> {
        let Finished {
            changes,
            end,
            committed,
        } = finished;
        let failed = {
            let gate = self.gate.write().unwrap_or_else(|e| e.into_inner());
            match txn.commit() {
                Ok(()) => {
                    self.notify(&changes, end);
                    drop(gate);
                    // Outside the gate: a hook may read the store.
                    self.hooks().run_after_commit(&committed);
                    return Ok(());
                }
                Err(e) => e,
            }
        };
        if !failed.is_disk_fault() {
            return Err(failed);
        }
        if let Some(end) = end {
            *self.unresolved.lock().unwrap_or_else(|e| e.into_inner()) = Some((end, changes));
        }
        self.recover_locked(&failed);
        match self.resolve_locked() {
            // The client must not take the write for undone.
            Ok(Some(true)) => Err(Error::Unavailable(format!(
                "{failed}; the write is in the file nonetheless, but the disk may not have kept it"
            ))),
            _ => Err(failed),
        }
    }

    /// Outdates the snapshot cached for readers (a read transaction), so
    /// that the next [`Store::read`] begins a new one.
    fn forget_snapshot(&self) {
        let mut cache = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
        cache.generation += 1;
        cache.current = None;
    }

    /// Outdates the cached snapshot and tells the observers about a commit.
    fn notify(&self, changes: &[crate::Change], log_end: Option<u64>) {
        self.forget_snapshot();
        // Every commit, even one that changed no indexed or searched value:
        // an observer may wait for commits as such (a change feed).
        for o in self
            .observers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            o.committed(changes, log_end);
        }
    }

    /// Group commit: runs each operation, as its actor, inside one shared
    /// write transaction and one durable commit, so that concurrent writers
    /// share the cost of the fsync. Operations are independent: one that
    /// fails is undone (its result is its error) and the others still
    /// commit; when every one fails, nothing is committed (nor fsynced).
    /// The outer `Result` is the commit's.
    pub fn write_each<R>(&self, ops: Vec<GroupOp<'_, R>>) -> Result<Vec<Result<R>>> {
        self.write_group(ops, |_| Ok(()))
    }

    /// [`Store::write_each`], with `before_commit` run on the transaction
    /// once every operation ran: an error from it rolls back the group.
    fn write_group<R>(
        &self,
        mut ops: Vec<GroupOp<'_, R>>,
        before_commit: impl FnOnce(&mut Tx<'_>) -> Result<()>,
    ) -> Result<Vec<Result<R>>> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let faults_before = fault::seen();
        if ops.len() == 1 {
            let op = ops.pop().expect("one operation");
            let done = self.write_alone(op, before_commit);
            return self.after_write(done, faults_before);
        }
        let done = (|| {
            let txn = self.begin_write()?;
            let (results, finished) = {
                let mut tx = self.tx(txn.rows()?, &Actor::anonymous())?;
                tx.make_group();
                let mut results = Vec::with_capacity(ops.len());
                for (actor, op) in ops {
                    tx.set_actor(&actor);
                    results.push(tx.run_undoable(op));
                }
                // An operation that met a disk fault was undone alone, but
                // the handle is latched: the commit would only fail the same
                // way, after the work of the others.
                if let Some(Err(e)) = results
                    .iter()
                    .find(|r| matches!(r, Err(e) if e.is_disk_fault()))
                {
                    return Err(latched(e));
                }
                // Every operation was refused and undone: the transaction
                // holds nothing, and committing it would cost a durable
                // commit (two fsyncs) for no change. Dropping it aborts.
                if results.iter().all(Result::is_err) {
                    return Ok(results);
                }
                before_commit(&mut tx)?;
                (results, tx.finish()?)
            };
            self.commit(txn, finished)?;
            Ok(results)
        })();
        self.after_write(done, faults_before)
    }

    /// A group of one operation: run as [`Store::write`] runs `f`, with no
    /// undo log (a failure drops the whole transaction, which held only
    /// this operation) and the faster paths that only a whole transaction
    /// takes (creates appended in key order, documents found remembered).
    /// Its result is the operation's, as in a group.
    fn write_alone<R>(
        &self,
        (actor, op): GroupOp<'_, R>,
        before_commit: impl FnOnce(&mut Tx<'_>) -> Result<()>,
    ) -> Result<Vec<Result<R>>> {
        let txn = self.begin_write()?;
        let (result, finished) = {
            let mut tx = self.tx(txn.rows()?, &actor)?;
            // An error the operation caught still poisoned the transaction.
            let r = op(&mut tx).and_then(|r| match tx.is_poisoned() {
                true => Err(Error::Aborted),
                false => Ok(r),
            });
            match r {
                Err(e) if e.is_disk_fault() => return Err(latched(&e)),
                // Dropped uncommitted: nothing of it reaches the file.
                Err(e) => return Ok(vec![Err(e)]),
                Ok(r) => {
                    before_commit(&mut tx)?;
                    (r, tx.finish()?)
                }
            }
        };
        self.commit(txn, finished)?;
        Ok(vec![Ok(result)])
    }

    /// Applies records read from another store's change log
    /// ([`ReadTxn::changes`]), in order, one write transaction per source
    /// transaction, so that this store — empty, or a copy of the source as
    /// of some seq — becomes what the source was at the last record, and
    /// its own log holds the same records under the same numbers. A record
    /// that does not fit (already applied, or describing a document this
    /// store does not have in that state) is refused with nothing of its
    /// transaction applied. Returns the number of records applied.
    ///
    /// This store must have the source's schema: a record's row names its
    /// fields by their position in the schema that wrote it (see
    /// [`crate::codec`]), and is stored here as it is.
    pub fn apply_changes(&self, records: impl IntoIterator<Item = ChangeRecord>) -> Result<u64> {
        let mut records = records.into_iter().peekable();
        let mut applied = 0;
        while let Some(first) = records.next() {
            let txn_no = first.txn;
            let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
            let faults_before = fault::seen();
            let done = (|| {
                let txn = self.begin_write()?;
                let finished = {
                    let mut tx = self.tx(txn.rows()?, &Actor::anonymous())?;
                    tx.apply_record(&first)?;
                    applied += 1;
                    while let Some(rec) = records.next_if(|r| r.txn == txn_no) {
                        tx.apply_record(&rec)?;
                        applied += 1;
                    }
                    tx.finish()?
                };
                self.commit(txn, finished)
            })();
            self.after_write(done, faults_before)?;
        }
        Ok(applied)
    }

    /// Writes a consistent copy of the database to `out` (a new file)
    /// without blocking writers; returns the number of rows copied.
    pub fn backup(&self, out: impl AsRef<Path>) -> Result<u64> {
        backup::backup(self, out.as_ref())
    }

    /// Runs the full audit (see [`crate::audit`]) on a snapshot.
    pub fn audit(&self) -> Result<crate::audit::AuditReport> {
        crate::audit::audit(&self.read()?)
    }

    /// Creates one document in its own transaction; returns it as stored.
    pub fn create(&self, coll: &str, doc: Document) -> Result<Document> {
        self.write(|tx| {
            let id = tx.create(coll, doc)?;
            tx.get(coll, &id)
        })
    }

    /// Reads one document from a fresh snapshot.
    pub fn get(&self, coll: &str, id: &str) -> Result<Document> {
        self.read()?.get(coll, id)
    }

    /// Reads one document from a fresh snapshot as JSON bytes (see
    /// [`ReadTxn::get_json`]).
    pub fn get_json(&self, coll: &str, id: &str) -> Result<Vec<u8>> {
        self.read()?.get_json(coll, id)
    }

    /// Merges fields into a document (PUT) in its own transaction.
    pub fn update(&self, coll: &str, id: &str, doc: Document) -> Result<Document> {
        self.write(|tx| {
            tx.update(coll, id, doc)?;
            tx.get(coll, id)
        })
    }

    /// Applies PATCH operations in their own transaction.
    pub fn patch(&self, coll: &str, id: &str, ops: &[PatchOp]) -> Result<Document> {
        self.write(|tx| {
            tx.patch(coll, id, ops)?;
            tx.get(coll, id)
        })
    }

    /// Deletes a document with its `on_delete` consequences; returns every
    /// deleted (collection, id).
    pub fn delete(&self, coll: &str, id: &str) -> Result<Vec<(String, String)>> {
        self.write(|tx| tx.delete(coll, id))
    }

    /// Runs a batch atomically; on failure, the index of the failing
    /// operation (if one failed, rather than the commit) and its error.
    pub fn batch(&self, ops: Vec<BatchOp>) -> Result<Vec<BatchResult>, (Option<usize>, Error)> {
        let mut failed = None;
        self.write(|tx| {
            tx.batch(ops).map_err(|(i, e)| {
                failed = Some(i);
                e
            })
        })
        .map_err(|e| (failed, e))
    }
}

/// The error a group returns for an operation that met a disk fault: the
/// handle is latched, so the group cannot commit.
fn latched(e: &Error) -> Error {
    match e {
        Error::NoSpace(m) => Error::NoSpace(m.clone()),
        other => Error::Unavailable(other.to_string()),
    }
}
