//! The writer of a cluster node: group commit through the shared log.
//!
//! Between groups the thread applies the log's entries (sent by a
//! follower thread through the same queue as requests, so one thread
//! writes the store). A group runs on the state at the position the node
//! has read up to, `S`; its change records are appended with "the log
//! must end at `S`", and the group commits locally only once the log took
//! them. If another node appended first, the log refuses; the thread
//! applies what it missed and runs the group again, so every write is
//! judged on the state it lands after (no lost update). An append the log
//! does not answer in time has an unknown outcome, and is answered so.
//!
//! A group that appends nothing (every request in it was refused, or
//! changed nothing) is checked against the log's end instead: if the log
//! moved on, the thread catches up and runs it again, once, so a refusal
//! (a document not found) is judged on a state at least as new as the
//! log's end after the request arrived.
//!
//! Invariants: the entries a node applies and the ones it appends form
//! one sequence, the log's; a request is answered only after the log
//! holds its records and the local file too.

use super::{Job, Work, WriteStats};
use crate::cluster::entry::{self, EntryError};
use crate::cluster::log::AppendError;
use crate::cluster::node::{Applier, ClusterLink};
use crate::server::error::ApiError;
use refdb_storage::{ChangeRecord, GroupOp, Store};
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{self, error::TryRecvError};

/// How often a group is run again after other nodes appended first.
const MAX_ATTEMPTS: usize = 50;
/// How long the writer waits to read the entries another node appended.
const CATCH_UP: Duration = Duration::from_secs(30);
/// How long the follower may stay silent before the writer reads the
/// entries it needs from the log itself.
const FOLLOWER_QUIET: Duration = Duration::from_millis(100);

/// Why the log did not take a group.
enum Refusal {
    Append(AppendError),
    TooLarge(EntryError),
}

/// Forwards the log's entries after the node's position to the writer.
pub(super) fn follow(link: &ClusterLink, queue: mpsc::WeakSender<Work>) {
    let mut entries = match link.log.follow(link.node.position()) {
        Ok(r) => r,
        Err(e) => return link.node.fail(format!("following the log: {e}")),
    };
    std::thread::Builder::new()
        .name("refdb-follow".into())
        .spawn(move || {
            while let Some(e) = entries.blocking_recv() {
                let Some(q) = queue.upgrade() else { break };
                if q.blocking_send(Work::Entry(e)).is_err() {
                    break;
                }
            }
        })
        .expect("spawning the follower thread");
}

pub(super) fn writer_loop(
    store: &std::sync::Arc<Store>,
    mut rx: mpsc::Receiver<Work>,
    max_group: usize,
    stats: &WriteStats,
    metrics: &crate::server::metrics::Metrics,
    link: ClusterLink,
) {
    crate::cluster::node::start_watchers(&link, store);
    let mut w = LoggedWriter {
        store,
        applier: Applier::new(link.node.clone()),
        waiting: VecDeque::new(),
        boot: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
        attempt: 0,
        link,
    };
    loop {
        let first = match w.waiting.pop_front() {
            Some(j) => j,
            None => match rx.blocking_recv() {
                None => break,
                Some(Work::Entry(e)) => {
                    w.applier.apply(store, e);
                    continue;
                }
                Some(Work::Job(j)) => j,
            },
        };
        let mut group = vec![first];
        while group.len() < max_group {
            if let Some(j) = w.waiting.pop_front() {
                group.push(j);
                continue;
            }
            match rx.try_recv() {
                Ok(Work::Job(j)) => group.push(j),
                Ok(Work::Entry(e)) => w.applier.apply(store, e),
                Err(_) => break,
            }
        }
        stats
            .requests
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        let (started, size) = (Instant::now(), group.len());
        let outcome = w.run_group(&mut group, &mut rx, stats);
        // Counted before anyone is answered: a client that reads the
        // metrics once answered finds its write in them.
        if outcome.is_ok() {
            stats.commits.fetch_add(1, Ordering::Relaxed);
        }
        metrics.observe_commit(started.elapsed().as_secs_f64(), size);
        answer_all(&mut group, outcome);
    }
    w.link.node.stop();
}

struct LoggedWriter<'s> {
    store: &'s Store,
    applier: Applier,
    /// Requests that arrived while the writer caught up with the log.
    waiting: VecDeque<Box<dyn Job>>,
    link: ClusterLink,
    /// Entry ids are `<node>-<boot>-<attempt>-<part>`: unique across
    /// restarts, the same for the retries of one append.
    boot: u64,
    attempt: u64,
}

impl LoggedWriter<'_> {
    /// Runs `group` until the log takes it (or refuses for good): `Ok`
    /// if it committed (each request then holds its own outcome), else
    /// the error every request gets. Answers no one.
    fn run_group(
        &mut self,
        group: &mut [Box<dyn Job>],
        rx: &mut mpsc::Receiver<Work>,
        stats: &WriteStats,
    ) -> Result<(), ApiError> {
        // Whether a refusal was already run again after catching up: once
        // is enough (the state it is judged on is then at least as new as
        // the log's end after the request arrived), and a busy log must
        // not turn a plain refusal into "retry".
        let mut refusal_rerun = false;
        for _ in 0..MAX_ATTEMPTS {
            if let Some(why) = self.link.node.failure() {
                return Err(ApiError::log_unavailable(why));
            }
            self.attempt += 1;
            let id = format!("{}-{}-{}", self.link.name, self.boot, self.attempt);
            let expected = self.applier.consumed();
            let link = &self.link;
            let layout = self.store.schema().layout_fingerprint();
            let mut took = None;
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let ops: Vec<GroupOp<'_, ()>> = group
                    .iter_mut()
                    .map(|job| -> GroupOp<'_, ()> {
                        (job.actor().clone(), Box::new(move |tx| job.run(tx, true)))
                    })
                    .collect();
                self.store.write_each_logged(ops, |records| {
                    let p = publish(link, &id, expected, layout, records);
                    took = p.as_ref().ok().copied();
                    p
                })
            }));
            let err = match outcome {
                Ok(Ok(Ok((_, position)))) => {
                    match position {
                        Some(p) => self.applier.committed_own(p),
                        // Nothing was appended, so nothing checked that the
                        // log ended at `expected`: a request refused on this
                        // node's state (a document another node has just
                        // created is not here yet) may have been judged on
                        // a past state. If the log has moved on, catch up
                        // and run the group again.
                        None if !refusal_rerun && group.iter().any(|job| job.refused()) => {
                            refusal_rerun = true;
                            let last = self.link.log.bounds(Duration::from_secs(2));
                            if let Ok(b) = last
                                && b.last > expected
                                && self.catch_up(b.last, rx).is_ok()
                            {
                                continue;
                            }
                        }
                        None => {}
                    }
                    return Ok(());
                }
                Ok(Ok(Err(Refusal::Append(AppendError::Conflict { last })))) => {
                    stats.conflicts.fetch_add(1, Ordering::Relaxed);
                    let target = last
                        .or_else(|| link.log.bounds(Duration::from_secs(2)).ok().map(|b| b.last))
                        .unwrap_or(expected + 1);
                    match self.catch_up(target, rx) {
                        Ok(()) => continue,
                        Err(why) => ApiError::log_unavailable(format!(
                            "the log could not be read up to position {target} within {} s \
                             ({why}); nothing was written",
                            CATCH_UP.as_secs()
                        )),
                    }
                }
                Ok(Ok(Err(Refusal::Append(AppendError::Unknown(m))))) => ApiError::outcome_unknown(
                    format!("{m}; read the document to see whether the write took"),
                ),
                Ok(Ok(Err(Refusal::Append(AppendError::Refused(m))))) => {
                    ApiError::log_unavailable(m)
                }
                Ok(Ok(Err(Refusal::TooLarge(e)))) => ApiError::entry_too_large(e.to_string()),
                Ok(Err(e)) => {
                    let mut err = ApiError::from(e);
                    if let Some(p) = took {
                        // The local commit failed after the log took the
                        // group: the follower applies it like any entry.
                        err.message = format!(
                            "{}; the write is in the cluster's log (position {p}) nonetheless, \
                             and stands",
                            err.message
                        );
                    }
                    err
                }
                Err(_) => {
                    tracing::error!("a write panicked inside storage");
                    ApiError::internal("the write failed inside the server")
                }
            };
            return Err(err);
        }
        Err(ApiError::log_unavailable(
            "other nodes kept appending to the log first; nothing was written, retry",
        ))
    }

    /// Applies the log's entries up to `target` (or the log's end, if it
    /// turns out to end before); requests that arrive meanwhile wait their
    /// turn. The follower's entries are taken first; when it falls silent
    /// (its consumer is being recreated after a server failed), the
    /// missing entries are read from the log one by one. Fails, saying
    /// why, when the log cannot be read within [`CATCH_UP`].
    fn catch_up(&mut self, target: u64, rx: &mut mpsc::Receiver<Work>) -> Result<(), String> {
        let deadline = Instant::now() + CATCH_UP;
        let mut quiet_since = Instant::now();
        let mut last_error = String::from("no entry arrived");
        while self.applier.consumed() < target {
            if let Some(why) = self.link.node.failure() {
                return Err(why);
            }
            match rx.try_recv() {
                Ok(Work::Entry(e)) => {
                    self.applier.apply(self.store, e);
                    quiet_since = Instant::now();
                }
                Ok(Work::Job(j)) => self.waiting.push_back(j),
                Err(TryRecvError::Empty) if Instant::now() < deadline => {
                    if quiet_since.elapsed() < FOLLOWER_QUIET {
                        std::thread::sleep(Duration::from_millis(1));
                        continue;
                    }
                    let next = self.applier.consumed() + 1;
                    match self.link.log.read(next, Duration::from_secs(2)) {
                        Ok(Some(e)) => self.applier.apply(self.store, e),
                        Ok(None) => {
                            // No entry there: the log may end before the
                            // position the refusal named.
                            match self.link.log.bounds(Duration::from_secs(2)) {
                                Ok(b) if b.last < next => return Ok(()),
                                Ok(_) => {}
                                Err(e) => last_error = e.to_string(),
                            }
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(e) => {
                            last_error = e.to_string();
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
                Err(TryRecvError::Empty) => return Err(last_error),
                Err(TryRecvError::Disconnected) => return Err("the server is stopping".into()),
            }
        }
        Ok(())
    }
}

/// Appends a group's records (written under a schema of layout `layout`)
/// as one entry (or consecutive parts), the first expecting the log to end
/// at `expected`; returns the last position taken.
fn publish(
    link: &ClusterLink,
    id: &str,
    expected: u64,
    layout: u64,
    records: &[ChangeRecord],
) -> Result<u64, Refusal> {
    let payloads =
        entry::encode(records, link.log.max_payload(), layout).map_err(Refusal::TooLarge)?;
    let mut position = expected;
    for (i, p) in payloads.iter().enumerate() {
        position = link
            .log
            .append(position, &format!("{id}-{i}"), p)
            .map_err(Refusal::Append)?;
    }
    Ok(position)
}

/// Answers every request: each with its own outcome once committed, or
/// all with `failed`.
fn answer_all(group: &mut Vec<Box<dyn Job>>, failed: Result<(), ApiError>) {
    for job in group.drain(..) {
        match &failed {
            Ok(()) => job.answer(),
            Err(e) => job.fail(e.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::log::{Bounds, Entry, LogError, SharedLog};
    use crate::cluster::node::NodeState;
    use refdb_storage::Tx;
    use serde_json::json;
    use std::path::Path;
    use std::sync::{Arc, Mutex};
    use tokio::sync::oneshot;

    /// A log in memory whose follower never delivers: a node learns what
    /// others appended only by reading the log itself.
    #[derive(Default)]
    struct MemoryLog {
        entries: Mutex<Vec<Vec<u8>>>,
        /// Keeps the follower's channel open.
        quiet: Mutex<Vec<mpsc::Sender<Entry>>>,
    }

    impl SharedLog for MemoryLog {
        fn append(&self, expected: u64, _id: &str, payload: &[u8]) -> Result<u64, AppendError> {
            let mut e = self.entries.lock().unwrap();
            if e.len() as u64 != expected {
                return Err(AppendError::Conflict {
                    last: Some(e.len() as u64),
                });
            }
            e.push(payload.to_vec());
            Ok(e.len() as u64)
        }
        fn max_payload(&self) -> usize {
            1 << 20
        }
        fn follow(&self, _after: u64) -> Result<mpsc::Receiver<Entry>, LogError> {
            let (tx, rx) = mpsc::channel(1);
            self.quiet.lock().unwrap().push(tx);
            Ok(rx)
        }
        fn read(&self, position: u64, _: Duration) -> Result<Option<Entry>, LogError> {
            let e = self.entries.lock().unwrap();
            Ok(position
                .checked_sub(1)
                .and_then(|i| e.get(i as usize))
                .map(|payload| Entry {
                    position,
                    payload: payload.clone(),
                }))
        }
        fn bounds(&self, _: Duration) -> Result<Bounds, LogError> {
            let last = self.entries.lock().unwrap().len() as u64;
            Ok(Bounds { first: 1, last })
        }
        fn save_snapshot(&self, _: u64, _: &Path) -> Result<(), LogError> {
            Ok(())
        }
        fn snapshots(&self) -> Result<Vec<u64>, LogError> {
            Ok(Vec::new())
        }
        fn load_snapshot(&self, _: &Path) -> Result<Option<u64>, LogError> {
            Ok(None)
        }
        fn truncate_through(&self, _: u64) -> Result<(), LogError> {
            Ok(())
        }
    }

    /// Postmortem (a flaky `nodes_agree…` cluster test): a PATCH sent to a
    /// node that had not yet read another node's create of its document
    /// got a 404, because a group that appends nothing never checked the
    /// log's end.
    #[test]
    fn a_refusal_on_a_node_behind_the_log_is_run_again_after_catching_up() {
        let dir = tempfile::tempdir().unwrap();
        // Another node created `x`: its records are the log's first entry.
        let other = Store::open(dir.path().join("other.db"), None).unwrap();
        other
            .create(
                "users",
                serde_json::from_value(json!({"_id": "x", "name": "X"})).unwrap(),
            )
            .unwrap();
        let records = other.read().unwrap().changes(0, 10).unwrap();
        let layout = other.schema().layout_fingerprint();
        let log = Arc::new(MemoryLog::default());
        for p in entry::encode(&records, log.max_payload(), layout).unwrap() {
            let at = log.entries.lock().unwrap().len() as u64;
            log.append(at, "other", &p).unwrap();
        }
        // This node has read nothing of the log.
        let store = Arc::new(Store::open(dir.path().join("node.db"), None).unwrap());
        let link = ClusterLink {
            log: log.clone(),
            node: Arc::new(NodeState::new(0)),
            name: "n".into(),
            snapshot_every: 0,
        };
        let (queue, rx) = mpsc::channel::<Work>(8);
        let (reply, mut answer) = oneshot::channel();
        let f = |t: &mut Tx<'_>| {
            let patch = serde_json::from_value(json!({"name": "Y"})).unwrap();
            Ok(t.update("users", "x", patch)?)
        };
        queue
            .try_send(Work::Job(super::super::anonymous_job(f, reply)))
            .ok()
            .unwrap();
        let writer = {
            let store = store.clone();
            std::thread::spawn(move || {
                let stats = WriteStats::default();
                writer_loop(&store, rx, 8, &stats, &Default::default(), link);
            })
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let outcome = loop {
            match answer.try_recv() {
                Ok(outcome) => break outcome,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("no answer: {e}"),
            }
        };
        drop(queue);
        writer.join().unwrap();
        if let Err(e) = outcome {
            panic!("refused: {} {}", e.status, e.message);
        }
        // The update was appended after the create it found.
        assert_eq!(log.bounds(Duration::ZERO).unwrap().last, 2);
        assert_eq!(store.get("users", "x").unwrap()["name"], json!("Y"));
    }
}
