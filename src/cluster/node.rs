//! One node of a cluster: its place in the shared log, the applier that
//! brings its file along the log, the threads that watch the log's
//! reachability and take snapshots, and the start-up step that fetches a
//! snapshot when the log no longer holds what the file lacks.
//!
//! Invariants:
//! - entries are applied in log order, each at most once; a gap in the
//!   positions (entries the log dropped before this node read them) stops
//!   the node from following, and it says so (not ready) instead of
//!   serving a state that no other node has;
//! - the parts of one transaction are applied together or not at all.

use super::entry;
use super::log::{Entry, SharedLog};
use refdb_storage::{ChangeRecord, Store};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the HTTP layer knows of the node's place in the log.
#[derive(Debug)]
pub struct NodeState {
    /// The log position the file reflects.
    position: tokio::sync::watch::Sender<u64>,
    /// When the log last answered (ms since the Unix epoch; 0: never).
    contact_ms: AtomicU64,
    /// The log's last position when it last answered.
    log_last: AtomicU64,
    /// Why the node stopped following the log, if it did.
    failure: Mutex<Option<String>>,
    stopping: AtomicBool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl NodeState {
    pub fn new(position: u64) -> NodeState {
        NodeState {
            position: tokio::sync::watch::channel(position).0,
            contact_ms: AtomicU64::new(now_ms()),
            log_last: AtomicU64::new(position),
            failure: Mutex::new(None),
            stopping: AtomicBool::new(false),
        }
    }

    /// The log position the file reflects.
    pub fn position(&self) -> u64 {
        *self.position.borrow()
    }

    pub(crate) fn set_position(&self, p: u64) {
        self.position.send_if_modified(|cur| {
            let moved = p > *cur;
            *cur = (*cur).max(p);
            moved
        });
    }

    /// Waits until the file reflects `position`, at most `timeout`; true
    /// if it does.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> bool {
        let mut rx = self.position.subscribe();
        let reached = rx.wait_for(|p| *p >= position);
        matches!(tokio::time::timeout(timeout, reached).await, Ok(Ok(_)))
    }

    /// How long ago the log last answered, when that is over `threshold`.
    pub fn stale(&self, threshold: Duration) -> Option<Duration> {
        let since =
            Duration::from_millis(now_ms().saturating_sub(self.contact_ms.load(Ordering::Relaxed)));
        (since > threshold).then_some(since)
    }

    /// The log's last position when it last answered.
    pub fn log_last(&self) -> u64 {
        self.log_last.load(Ordering::Relaxed)
    }

    fn note_contact(&self, last: u64) {
        self.contact_ms.store(now_ms(), Ordering::Relaxed);
        self.log_last.fetch_max(last, Ordering::Relaxed);
    }

    /// Why the node stopped following the log, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn fail(&self, why: String) {
        tracing::error!("cluster: {why}");
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    /// Tells the node's threads to end.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }
}

/// Everything the server needs to run as a node.
#[derive(Clone)]
pub struct ClusterLink {
    pub log: Arc<dyn SharedLog>,
    pub node: Arc<NodeState>,
    /// This node's name, part of every entry id it appends.
    pub name: String,
    /// Take a snapshot (and truncate the log) every this many positions;
    /// 0: never.
    pub snapshot_every: u64,
}

/// The parts of a transaction read so far.
struct Partial {
    txn: u64,
    next: u64,
    count: u64,
    records: Vec<ChangeRecord>,
}

/// Applies log entries to the store in order (see the module doc). Lives
/// on the writer thread, the only one that writes the store.
pub struct Applier {
    /// The last position read: applied, or held as a part, or dropped as
    /// an interrupted part. A write expects the log to end here.
    consumed: u64,
    partial: Option<Partial>,
    node: Arc<NodeState>,
}

impl Applier {
    pub fn new(node: Arc<NodeState>) -> Applier {
        Applier {
            consumed: node.position(),
            partial: None,
            node,
        }
    }

    /// The position a write appended now must find at the log's end.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Whether the node still follows the log.
    pub fn following(&self) -> bool {
        self.node.failure().is_none()
    }

    /// This node's own transaction was appended at `position` and is
    /// committed locally.
    pub fn committed_own(&mut self, position: u64) {
        self.consumed = self.consumed.max(position);
        self.partial = None;
        self.node.set_position(position);
    }

    /// Applies `e` if it is the next entry; skips one already read.
    pub fn apply(&mut self, store: &Store, e: Entry) {
        if e.position <= self.consumed || !self.following() {
            return;
        }
        if e.position != self.consumed + 1 {
            self.node.fail(format!(
                "the log no longer holds positions {}..{}, which this node has not applied; \
                 restart it to load a snapshot",
                self.consumed + 1,
                e.position - 1
            ));
            return;
        }
        self.consumed = e.position;
        let part = match entry::decode(&e.payload) {
            Ok(p) => p,
            Err(err) => {
                self.node.fail(format!("log entry {}: {err}", e.position));
                return;
            }
        };
        // Rows name fields by position: another layout would read them
        // with their fields swapped.
        if part
            .layout
            .is_some_and(|l| l != store.schema().layout_fingerprint())
        {
            self.node.fail(format!(
                "log entry {} was written under a schema whose collections declare other \
                 fields, or in another order; every node must run the writers' schema",
                e.position
            ));
            return;
        }
        let mut done = match self.partial.take() {
            _ if part.index == 0 => Partial {
                txn: part.txn,
                next: 0,
                count: part.count,
                records: Vec::new(),
            },
            Some(p) if p.txn == part.txn && p.next == part.index && p.count == part.count => p,
            // A part whose earlier parts were interrupted: its writer
            // retries the transaction whole.
            _ => return,
        };
        done.next += 1;
        done.records.extend(part.records);
        if done.next < done.count {
            self.partial = Some(done);
            return;
        }
        match store.apply_log_entry(e.position, &done.records) {
            Ok(_) => self.node.set_position(e.position),
            Err(err) => self.node.fail(format!(
                "log entry {} does not apply to this node's file: {err}",
                e.position
            )),
        }
    }
}

/// Starts the threads that watch the log's reachability and take
/// snapshots. They end when the node stops or the store is dropped.
pub fn start_watchers(link: &ClusterLink, store: &Arc<Store>) {
    let (log, node) = (link.log.clone(), link.node.clone());
    std::thread::Builder::new()
        .name("refdb-log-contact".into())
        .spawn(move || {
            while !node.stopping.load(Ordering::Relaxed) {
                if let Ok(b) = log.bounds(Duration::from_secs(1)) {
                    node.note_contact(b.last);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
        .expect("spawning a thread");
    if link.snapshot_every == 0 {
        return;
    }
    let (link, store) = (link.clone(), Arc::downgrade(store));
    std::thread::Builder::new()
        .name("refdb-snapshot".into())
        .spawn(move || snapshot_loop(&link, &store))
        .expect("spawning a thread");
}

fn snapshot_loop(link: &ClusterLink, store: &Weak<Store>) {
    let mut last = link.node.position();
    while !link.node.stopping.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        if link.node.position() < last + link.snapshot_every {
            continue;
        }
        let Some(store) = store.upgrade() else { return };
        match take_snapshot(link, &store) {
            Ok(p) => {
                tracing::info!(
                    position = p,
                    "cluster: snapshot stored, log truncated through it"
                );
                last = p;
            }
            Err(e) => {
                tracing::warn!("cluster: snapshot failed: {e}");
                last = link.node.position();
            }
        }
    }
}

/// Stores a consistent copy of the file as a snapshot, then drops the
/// log's entries up to the oldest snapshot kept: the log keeps every entry
/// newer than it, so a node restarting from the older snapshot, or one
/// slightly behind the newest, still finds its tail. Returns the new
/// snapshot's position.
pub fn take_snapshot(link: &ClusterLink, store: &Store) -> Result<u64, String> {
    let tmp = sibling(store.path(), "snapshot");
    let _ = std::fs::remove_file(&tmp);
    store.backup(&tmp).map_err(|e| e.to_string())?;
    let position = file_position(&tmp)?;
    let saved = link
        .log
        .save_snapshot(position, &tmp)
        .and_then(|_| link.log.snapshots())
        .and_then(|kept| match kept.last() {
            Some(&oldest) => link.log.truncate_through(oldest),
            None => Ok(()),
        })
        .map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&tmp);
    saved.map(|_| position)
}

fn sibling(path: &Path, ext: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".{ext}"));
    PathBuf::from(p)
}

/// The log position a closed database file reflects.
fn file_position(path: &Path) -> Result<u64, String> {
    let s = Store::open_read_only(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let r = s.read().map_err(|e| e.to_string())?;
    r.log_position().map_err(|e| e.to_string())
}

/// Before the store opens: if the log no longer holds the entries after
/// the file's position, replaces the file with the newest snapshot (the
/// old file is a prefix of the same history, so nothing is lost). Refuses
/// a file written outside the cluster. Waits up to `wait` for the log to
/// answer: a node may start while JetStream elects the stream's leader.
pub fn prepare_file(log: &dyn SharedLog, db: &Path, wait: Duration) -> Result<(), String> {
    let position = if db.exists() {
        // Opened for writing: after a crash, redb repairs the file first.
        let s = Store::open(db, None).map_err(|e| format!("{}: {e}", db.display()))?;
        let r = s.read().map_err(|e| e.to_string())?;
        let position = r.log_position().map_err(|e| e.to_string())?;
        let (_, next_seq) = r.change_log_extent().map_err(|e| e.to_string())?;
        if position == 0 && next_seq > 1 {
            return Err(format!(
                "{} was written outside the cluster: a node starts from an empty file \
                 (or one a node wrote) and gets everything from the log",
                db.display()
            ));
        }
        position
    } else {
        0
    };
    let deadline = std::time::Instant::now() + wait;
    let bounds = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match log.bounds(left) {
            Ok(b) => break b,
            // No leader or no quorum yet: ask again until the deadline.
            Err(e) if left > Duration::from_millis(250) => {
                tracing::info!("waiting for the shared log at start: {e}");
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    if position > bounds.last {
        return Err(format!(
            "{} reflects log position {position}, but the log ends at {}: \
             it belongs to another cluster, or the log lost entries",
            db.display(),
            bounds.last
        ));
    }
    if position + 1 >= bounds.first {
        return Ok(());
    }
    let tmp = sibling(db, "incoming");
    let found = log.load_snapshot(&tmp).map_err(|e| e.to_string())?;
    let Some(p) = found.filter(|p| p + 1 >= bounds.first) else {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!(
            "the log starts at position {} and no snapshot covers what comes before",
            bounds.first
        ));
    };
    let inside = file_position(&tmp)?;
    if inside != p {
        return Err(format!(
            "the snapshot named position {p} holds position {inside}"
        ));
    }
    std::fs::rename(&tmp, db).map_err(|e| format!("{}: {e}", db.display()))?;
    // Derived indexes saved beside the old file describe the old file.
    let _ = std::fs::remove_file(sibling(db, "index"));
    tracing::info!(position = p, "cluster: started from a snapshot");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store(dir: &Path, name: &str) -> Store {
        Store::open(dir.join(name), None).unwrap()
    }

    /// The records of one transaction creating `ids` (long names, so that
    /// they take several parts).
    fn created(dir: &Path, name: &str, ids: &[&str]) -> Vec<ChangeRecord> {
        let s = store(dir, name);
        s.write(|tx| {
            for id in ids {
                let doc = json!({"_id": id, "name": id.repeat(200)});
                tx.create("users", serde_json::from_value(doc).unwrap())?;
            }
            Ok(())
        })
        .unwrap();
        s.read().unwrap().changes(0, 100).unwrap()
    }

    fn entries(records: &[ChangeRecord], first: u64) -> Vec<Entry> {
        let layout = refdb_storage::Schema::demo().layout_fingerprint();
        entry_list(records, first, layout)
    }

    fn entry_list(records: &[ChangeRecord], first: u64, layout: u64) -> Vec<Entry> {
        entry::encode(records, 400, layout)
            .unwrap()
            .into_iter()
            .enumerate()
            .map(|(i, payload)| Entry {
                position: first + i as u64,
                payload,
            })
            .collect()
    }

    #[test]
    fn interrupted_parts_are_dropped_and_a_gap_stops_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let big = entries(&created(dir.path(), "a.db", &["a", "b", "c"]), 1);
        assert_eq!(big.len(), 3);
        let target = store(dir.path(), "t.db");
        let node = Arc::new(NodeState::new(0));
        let mut applier = Applier::new(node.clone());

        // Two parts of the big transaction, then another writer's entry:
        // the parts are dropped, the entry applies.
        applier.apply(&target, big[0].clone());
        applier.apply(&target, big[1].clone());
        assert_eq!(node.position(), 0, "nothing applies before the last part");
        let small = entries(&created(dir.path(), "b.db", &["z"]), 3);
        assert_eq!(small.len(), 1);
        applier.apply(&target, small[0].clone());
        // The big transaction's last part, arriving late, completes nothing.
        applier.apply(
            &target,
            Entry {
                position: 4,
                ..big[2].clone()
            },
        );
        assert_eq!((node.position(), applier.consumed()), (3, 4));
        let r = target.read().unwrap();
        assert_eq!(r.count("users").unwrap(), 1);
        assert!(r.get_stored("users", "z").unwrap().is_some());
        assert_eq!(r.log_position().unwrap(), 3);
        drop(r);

        // An entry already read is skipped; a gap stops the node.
        applier.apply(&target, small[0].clone());
        assert!(applier.following());
        applier.apply(
            &target,
            Entry {
                position: 6,
                ..small[0].clone()
            },
        );
        assert!(!applier.following());
        assert!(node.failure().unwrap().contains("5..5"));
        assert!(target.audit().unwrap().is_clean());
    }

    /// Rows name fields by their position in the
    /// schema, so an entry from a writer whose schema orders a
    /// collection's fields otherwise would apply with the fields swapped.
    #[test]
    fn an_entry_written_under_another_layout_stops_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let records = created(dir.path(), "a.db", &["a"]);
        let target = store(dir.path(), "t.db");
        let node = Arc::new(NodeState::new(0));
        let mut applier = Applier::new(node.clone());
        let other = refdb_storage::Schema::demo().layout_fingerprint() ^ 1;
        for e in entry_list(&records, 1, other) {
            applier.apply(&target, e);
        }
        assert!(!applier.following());
        assert!(node.failure().unwrap().contains("every node must run"));
        assert_eq!(target.read().unwrap().count("users").unwrap(), 0);
    }
}
