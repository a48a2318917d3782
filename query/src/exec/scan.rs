//! Reading candidate documents, sequentially or spread over the cores.
//!
//! [`par_chunks`] (docnos only) and [`par_docs`] (documents) split a
//! candidate bitmap into contiguous chunks and run a worker on each, in
//! parallel (crossbeam scoped threads) when the set is large. The workers share the caller's snapshot (a [`ReadTxn`] is
//! `Sync`), so they read exactly the state the query planned on, even
//! after the caller has released the store's gate. Results come back in
//! chunk order, that is in docno order.

use crate::query_error::QueryError;
use refdb_storage::ReadTxn;
use roaring::RoaringBitmap;
use serde_json::{Map, Value};

/// How much of a document a condition needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Only the `_id`.
    Id,
    /// The stored body (stored fields and `_meta`).
    Body,
    /// The client view, with derived `refs` lists.
    Materialized,
}

/// One candidate as read at some [`Level`]: its id and a body (empty at
/// [`Level::Id`]).
pub struct Doc {
    pub docno: u32,
    pub id: Value,
    pub body: Map<String, Value>,
}

/// Reads docno `d` of `coll` at `level`; `None` if it vanished (cannot
/// happen under the gate, but a reader must not panic on it).
pub fn read_doc(
    txn: &ReadTxn<'_>,
    coll: &str,
    d: u32,
    level: Level,
) -> Result<Option<Doc>, QueryError> {
    let Some(id) = txn.id_of(coll, d)? else {
        return Ok(None);
    };
    let body = match level {
        Level::Id => Map::new(),
        Level::Body | Level::Materialized => {
            let Some(stored) = txn.get_stored(coll, &id)? else {
                return Ok(None);
            };
            if level == Level::Materialized {
                txn.materialize(coll, &id, stored)?
            } else {
                stored.body
            }
        }
    };
    Ok(Some(Doc {
        docno: d,
        id: Value::String(id),
        body,
    }))
}

/// The number of worker threads for a parallel pass.
fn threads() -> u64 {
    std::thread::available_parallelism().map_or(1, |p| p.get()) as u64
}

/// Runs `work` on every task, one scoped thread per task, and returns the
/// results in task order.
fn par_tasks<T, R, W>(tasks: &[T], work: W) -> Result<Vec<R>, QueryError>
where
    T: Sync,
    R: Send,
    W: Fn(&T) -> Result<R, QueryError> + Sync,
{
    if let [one] = tasks {
        return Ok(vec![work(one)?]);
    }
    let work = &work;
    let panicked = || QueryError::Internal("a scan worker panicked".into());
    let results = crossbeam::thread::scope(|s| {
        let handles: Vec<_> = tasks.iter().map(|t| s.spawn(move |_| work(t))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(panicked())))
            .collect::<Vec<_>>()
    })
    .map_err(|_| panicked())?;
    results.into_iter().collect()
}

/// `[lo, hi)` docno bounds cutting `docnos` into `chunks` runs of about
/// equal size (`hi` None: to the end).
fn docno_bounds(docnos: &RoaringBitmap, chunks: u64) -> Vec<(u32, Option<u32>)> {
    let n = docnos.len();
    let at = |rank: u64| docnos.select(rank as u32).expect("rank below len");
    (0..chunks)
        .map(|i| {
            (
                at(n * i / chunks),
                (i + 1 < chunks).then(|| at(n * (i + 1) / chunks)),
            )
        })
        .collect()
}

/// Runs `work` over contiguous chunks of `docnos`; see the module doc.
/// Sequential below `threshold` documents.
pub fn par_chunks<R, W>(
    txn: &ReadTxn<'_>,
    docnos: &RoaringBitmap,
    threshold: u64,
    work: W,
) -> Result<Vec<R>, QueryError>
where
    R: Send,
    W: Fn(&ReadTxn<'_>, &mut dyn Iterator<Item = u32>) -> Result<R, QueryError> + Sync,
{
    let n = docnos.len();
    if n < threshold.max(2) || threads() < 2 {
        return Ok(vec![work(txn, &mut docnos.iter())?]);
    }
    par_tasks(&docno_bounds(docnos, threads().min(n)), |&(lo, hi)| {
        let mut it = match hi {
            Some(hi) => docnos.range(lo..hi),
            None => docnos.range(lo..),
        };
        work(txn, &mut it)
    })
}

/// How [`par_docs`] reaches the candidates of one chunk.
enum Chunk {
    /// Docnos `[lo, hi)`: each candidate by its docno (two lookups).
    Docnos(u32, Option<u32>),
    /// Ids in `(after, end]`, by one range scan of the documents in `_id`
    /// order, skipping non-candidates: cheaper per document when most
    /// documents are candidates. Only when docno order is `_id` order, so
    /// the chunk's candidates still come out in docno order.
    Ids(Option<String>, Option<String>),
}

/// Runs `work` over the candidates' documents read at `level`, in chunks
/// (in parallel from `threshold` candidates); each chunk yields its
/// documents in docno order. `dense` (the candidates are most of a
/// collection whose docno order is `_id` order) reads them by range scans.
pub fn par_docs<R, W>(
    txn: &ReadTxn<'_>,
    coll: &str,
    cands: &RoaringBitmap,
    level: Level,
    dense: bool,
    threshold: u64,
    work: W,
) -> Result<Vec<R>, QueryError>
where
    R: Send,
    W: Fn(&mut dyn Iterator<Item = Result<Doc, QueryError>>) -> Result<R, QueryError> + Sync,
{
    let n = cands.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let chunks = if n < threshold.max(2) {
        1
    } else {
        threads().min(n)
    };
    let tasks: Vec<Chunk> = if dense {
        // Chunk i ends with the id of the candidate of rank n*(i+1)/chunks - 1.
        let mut ends = Vec::with_capacity(chunks as usize);
        for i in 1..chunks {
            let d = cands
                .select((n * i / chunks - 1) as u32)
                .expect("rank below len");
            ends.push(txn.id_of(coll, d)?);
        }
        let mut tasks = Vec::with_capacity(chunks as usize);
        let mut after = None;
        for end in ends {
            tasks.push(Chunk::Ids(after, end.clone()));
            after = end;
        }
        tasks.push(Chunk::Ids(after, None));
        tasks
    } else {
        docno_bounds(cands, chunks)
            .into_iter()
            .map(|(lo, hi)| Chunk::Docnos(lo, hi))
            .collect()
    };
    par_tasks(&tasks, |task| match task {
        Chunk::Docnos(lo, hi) => {
            let range = match hi {
                Some(hi) => cands.range(*lo..*hi),
                None => cands.range(*lo..),
            };
            let mut docs = range.filter_map(|d| read_doc(txn, coll, d, level).transpose());
            work(&mut docs)
        }
        Chunk::Ids(after, end) => {
            let scan = txn.scan(coll, after.as_deref())?;
            let mut docs = scan
                .map(|e| e.map_err(QueryError::from))
                .take_while(|e| match (e, end) {
                    (Ok((id, _)), Some(end)) => id <= end,
                    _ => true,
                })
                .filter(|e| e.as_ref().map_or(true, |(_, sd)| cands.contains(sd.docno)))
                .map(|e| {
                    let (id, sd) = e?;
                    let docno = sd.docno;
                    let body = match level {
                        Level::Id => Map::new(),
                        Level::Body => sd.body,
                        Level::Materialized => txn.materialize(coll, &id, sd)?,
                    };
                    Ok(Doc {
                        docno,
                        id: Value::String(id),
                        body,
                    })
                });
            work(&mut docs)
        }
    })
}
