//! Group commit: every write request goes to ONE writer thread, which runs
//! the requests queued at that moment in one redb write transaction and
//! one durable commit ([`Store::write_each`]), so concurrent writers share
//! the cost of the fsync.
//!
//! Invariants:
//! - one request's failure never undoes another's: `write_each` runs each
//!   request undoably, so a failed one leaves nothing and the others still
//!   commit. Every request is answered as if it had run alone, in queue
//!   order — which is all concurrent clients can observe;
//! - a request is answered only after the commit that holds it is durable
//!   (or, if that commit fails, with its error: then nothing of the group
//!   happened);
//! - requests from one client never share a group: a client waits for its
//!   answer before sending the next request on a connection;
//! - each request writes as its own actor (`_meta.modified_by`);
//! - a panic inside storage fails that group's requests with a 500 and the
//!   writer goes on; no request is left waiting forever.

mod logged;

use crate::cluster::log::Entry;
use crate::cluster::node::ClusterLink;
use refdb_storage::{Actor, Error as StoreError, GroupOp, Store, Tx};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

use super::error::{ApiError, ApiResult};

/// A queued write request, type-erased so one channel carries them all.
trait Job: Send {
    fn actor(&self) -> &Actor;
    /// Runs the request in `tx`, keeping its outcome; an `Err` tells
    /// storage to undo what it wrote. With `again`, the request keeps what
    /// it needs to run once more (its transaction may not take).
    fn run(&mut self, tx: &mut Tx<'_>, again: bool) -> refdb_storage::Result<()>;
    /// Whether the last run refused the request (its own outcome is an
    /// error; a dry run that would succeed is not refused).
    fn refused(&self) -> bool;
    /// Sends the outcome of the run (its transaction has committed).
    fn answer(self: Box<Self>);
    fn fail(self: Box<Self>, e: ApiError);
}

struct Pending<T, F> {
    actor: Actor,
    /// Undo the writes even when `f` succeeds (a dry run).
    rehearse: bool,
    f: Option<F>,
    out: Option<ApiResult<T>>,
    reply: oneshot::Sender<ApiResult<T>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&mut Tx<'_>) -> ApiResult<T> + Clone + Send,
{
    fn actor(&self) -> &Actor {
        &self.actor
    }

    fn run(&mut self, tx: &mut Tx<'_>, again: bool) -> refdb_storage::Result<()> {
        let f = match again {
            true => self.f.clone(),
            false => self.f.take(),
        }
        .expect("a job runs until it commits");
        let out = f(tx);
        let undo = out.is_err() || self.rehearse;
        self.out = Some(out);
        // The request's own outcome is kept above; this error only makes
        // storage undo its writes.
        if undo {
            Err(StoreError::Aborted)
        } else {
            Ok(())
        }
    }

    fn refused(&self) -> bool {
        matches!(self.out, Some(Err(_)))
    }

    fn answer(self: Box<Self>) {
        let out = self
            .out
            .unwrap_or_else(|| Err(ApiError::internal("a write was answered before it ran")));
        // The client may have gone away; nobody to tell.
        let _ = self.reply.send(out);
    }

    fn fail(self: Box<Self>, e: ApiError) {
        let _ = self.reply.send(Err(e));
    }
}

/// Counters, for tests and monitoring.
#[derive(Debug, Default)]
pub struct WriteStats {
    /// Write requests answered.
    pub requests: AtomicU64,
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Cluster mode: groups run again because another node appended to the
    /// log first.
    pub conflicts: AtomicU64,
}

/// What the writer thread is handed: a request, or (in cluster mode) an
/// entry of the shared log to apply.
enum Work {
    Job(Box<dyn Job>),
    Entry(Entry),
}

/// The handle the request handlers use; see the module doc.
pub struct Writer {
    queue: Option<mpsc::Sender<Work>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub stats: Arc<WriteStats>,
}

/// How many requests may wait for the writer before senders wait too.
const QUEUE: usize = 4096;

impl Writer {
    /// Starts the writer thread; `max_group` requests at most share a
    /// commit. With `cluster`, every group is appended to the shared log
    /// before it commits, and the log's entries are applied in order
    /// between groups ([`logged`]).
    pub fn start(
        store: Arc<Store>,
        max_group: usize,
        metrics: Arc<super::metrics::Metrics>,
        cluster: Option<ClusterLink>,
    ) -> Writer {
        let (queue, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(WriteStats::default());
        let s = stats.clone();
        let max_group = max_group.max(1);
        let thread = match cluster {
            None => std::thread::Builder::new()
                .name("refdb-writer".into())
                .spawn(move || writer_loop(&store, rx, max_group, &s, &metrics)),
            Some(link) => {
                logged::follow(&link, queue.downgrade());
                std::thread::Builder::new()
                    .name("refdb-writer".into())
                    .spawn(move || logged::writer_loop(&store, rx, max_group, &s, &metrics, link))
            }
        }
        .expect("spawning the writer thread");
        Writer {
            queue: Some(queue),
            thread: Some(thread),
            stats,
        }
    }

    /// Runs `f` in a write transaction as `actor`, possibly shared with
    /// other requests, and returns its result once committed. If `f`
    /// fails, everything it wrote is undone (and nothing else is).
    ///
    /// In cluster mode `f` may run more than once (a copy each time): when
    /// another node appended to the log first, the group is run again on
    /// the state that includes that entry.
    pub async fn write<T, F>(&self, actor: Actor, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> ApiResult<T> + Clone + Send + 'static,
    {
        self.queue(actor, false, f).await
    }

    /// Runs `f` as [`Writer::write`] does, with every check and rule of a
    /// real write, then undoes what it wrote: the answer says what the
    /// write would do, and nothing changes.
    pub async fn rehearse<T, F>(&self, actor: Actor, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> ApiResult<T> + Clone + Send + 'static,
    {
        self.queue(actor, true, f).await
    }

    async fn queue<T, F>(&self, actor: Actor, rehearse: bool, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> ApiResult<T> + Clone + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending {
            actor,
            rehearse,
            f: Some(f),
            out: None,
            reply,
        });
        let queue = self.queue.as_ref().expect("the queue lives until drop");
        if queue.send(Work::Job(job)).await.is_err() {
            return Err(ApiError::internal("the writer has stopped"));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(ApiError::internal("the write failed inside the server")))
    }
}

impl Drop for Writer {
    /// Closes the queue, lets the writer finish what is queued, and waits
    /// for it, so the store is released when the server is.
    fn drop(&mut self) {
        self.queue.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn writer_loop(
    store: &Store,
    mut rx: mpsc::Receiver<Work>,
    max_group: usize,
    stats: &WriteStats,
    metrics: &super::metrics::Metrics,
) {
    while let Some(Work::Job(first)) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < max_group {
            match rx.try_recv() {
                Ok(Work::Job(j)) => group.push(j),
                // Only a cluster's writer is sent entries.
                Ok(Work::Entry(_)) | Err(_) => break,
            }
        }
        stats
            .requests
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        run_group(store, group, stats, metrics);
    }
}

/// Runs `group` in one transaction and answers every request in it, once
/// the group is counted in `stats` and `metrics`: a client that reads the
/// metrics once answered finds its write in them.
fn run_group(
    store: &Store,
    mut group: Vec<Box<dyn Job>>,
    stats: &WriteStats,
    metrics: &super::metrics::Metrics,
) {
    let (started, size) = (std::time::Instant::now(), group.len());
    let result = catch_unwind(AssertUnwindSafe(|| {
        let ops: Vec<GroupOp<'_, ()>> = group
            .iter_mut()
            .map(|job| -> GroupOp<'_, ()> {
                (job.actor().clone(), Box::new(move |tx| job.run(tx, false)))
            })
            .collect();
        store.write_each(ops)
    }));
    metrics.observe_commit(started.elapsed().as_secs_f64(), size);
    match result {
        // Each job holds its own outcome, success or not. A group whose
        // every request was refused (or rehearsed) committed nothing.
        Ok(Ok(results)) => {
            if results.iter().any(Result::is_ok) {
                stats.commits.fetch_add(1, Ordering::Relaxed);
            }
            group.into_iter().for_each(|j| j.answer());
        }
        // The commit itself failed (I/O): nobody's write happened.
        Ok(Err(e)) => {
            let err = ApiError::from(e);
            group.into_iter().for_each(|j| j.fail(err.clone()));
        }
        Err(_) => {
            tracing::error!("a write panicked inside storage");
            let err = ApiError::internal("the write failed inside the server");
            group.into_iter().for_each(|j| j.fail(err.clone()));
        }
    }
}

/// A request of the anonymous actor answering on `reply`, for tests that
/// drive a writer loop directly.
#[cfg(test)]
fn anonymous_job<T, F>(f: F, reply: oneshot::Sender<ApiResult<T>>) -> Box<dyn Job>
where
    T: Send + 'static,
    F: FnOnce(&mut Tx<'_>) -> ApiResult<T> + Clone + Send + 'static,
{
    Box::new(Pending {
        actor: Actor::anonymous(),
        rehearse: false,
        f: Some(f),
        out: None,
        reply,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_value(v).unwrap()
    }

    /// Queues requests before the writer runs, so they are one group
    /// deterministically; the bad ones must not cost the good ones.
    #[test]
    fn failures_do_not_undo_the_rest_of_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("w.db"), None).unwrap();
        let (tx, rx) = mpsc::channel::<Work>(64);
        let mut answers = Vec::new();
        for i in 0..10 {
            let (reply, answer) = oneshot::channel();
            let input = match i {
                3 => doc(json!({"name": "bad", "age": -1})),
                _ => doc(json!({"_id": format!("u{i}"), "name": format!("n{i}")})),
            };
            let refuse = i == 6;
            let f = move |t: &mut Tx<'_>| {
                if refuse {
                    return Err(ApiError::precondition_failed());
                }
                Ok(t.create("users", input)?)
            };
            tx.try_send(Work::Job(anonymous_job(f, reply)))
                .ok()
                .unwrap();
            answers.push(answer);
        }
        drop(tx);
        let stats = WriteStats::default();
        writer_loop(&store, rx, 64, &stats, &Default::default());
        let statuses: Vec<u16> = answers
            .into_iter()
            .map(|mut a| match a.try_recv().unwrap() {
                Ok(_) => 200,
                Err(e) => e.status.as_u16(),
            })
            .collect();
        assert_eq!(statuses, [200, 200, 200, 400, 200, 200, 412, 200, 200, 200]);
        assert_eq!(store.read().unwrap().count("users").unwrap(), 8);
        // One commit for all ten: the failures were undone one by one.
        assert_eq!(stats.commits.load(Ordering::Relaxed), 1);
        assert_eq!(stats.requests.load(Ordering::Relaxed), 10);
        assert!(store.audit().unwrap().is_clean());

        // A group of refused requests alone is answered and commits nothing.
        let (tx, rx) = mpsc::channel::<Work>(64);
        let (reply, mut answer) = oneshot::channel();
        let f = |_: &mut Tx<'_>| -> ApiResult<()> { Err(ApiError::precondition_failed()) };
        tx.try_send(Work::Job(anonymous_job(f, reply)))
            .ok()
            .unwrap();
        drop(tx);
        writer_loop(&store, rx, 64, &stats, &Default::default());
        assert_eq!(answer.try_recv().unwrap().unwrap_err().status.as_u16(), 412);
        assert_eq!(stats.commits.load(Ordering::Relaxed), 1);
        assert_eq!(stats.requests.load(Ordering::Relaxed), 11);
    }
}
