//! Bulk creates: the checks and the encoding of documents run on a second
//! thread while the writing thread inserts them ([`Tx::create_many`], and
//! `refdb import` through [`crate::ndjson`]).
//!
//! Why: in a bulk load about a third of the work per document needs only
//! the document and the schema — parsing, validation, filling defaults,
//! msgpack encoding, freeing the input — and none of it has to wait for
//! the B-tree. A worker runs [`check_and_encode`] ahead, in batches sent
//! over a bounded channel; the writing thread does what reads or writes
//! the transaction (ids, existence of references, docnos, rows, postings)
//! in input order ([`Tx::create_checked`]).
//!
//! Freeing a document (its map, keys and values: a dozen allocations) is
//! work of the same kind: the writing thread hands each created
//! document's body back to the checking thread, which frees it between
//! batches, instead of freeing it on the critical path.
//!
//! Invariant: the result is exactly that of calling [`Tx::create`] (or
//! [`Tx::try_create`]) on each document in order — same ids, same rows,
//! same errors; the tests compare them.

use super::{Checked, Tx, check_input};
use crate::codec;
use crate::error::{Error, Result};
use crate::schema::Collection;
use serde_json::{Map, Value};
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};

/// Documents per message from the worker: large enough that the channel
/// costs nothing per document, small enough to keep both threads busy.
pub(crate) const BATCH: usize = 256;

/// Encoded `_meta` bytes are at most this long when packed (a named writer); the worker leaves room for
/// them so that appending them does not reallocate.
const META_ROOM: usize = 48;

/// [`check_input`], then the row encoded with docno 0 and without `_meta`
/// (the writing thread fills in both).
pub(crate) fn check_and_encode(c: &Collection, input: Map<String, Value>) -> Result<Checked> {
    let mut checked = check_input(c, input)?;
    let mut row = codec::encode_with_meta(0, c, &checked.body, &[]);
    row.reserve(META_ROOM);
    checked.row = Some(row);
    Ok(checked)
}

impl<'t> Tx<'t> {
    /// Creates every document of `docs` in `coll`, in order, and returns
    /// their ids; the first failure aborts the transaction, like
    /// [`Tx::create`]. Faster than a loop of creates for large inputs: see
    /// the module doc.
    pub fn create_many<I>(&mut self, coll: &str, docs: I) -> Result<Vec<String>>
    where
        I: IntoIterator<Item = Map<String, Value>>,
        I::IntoIter: Send,
    {
        let (c, cid) = self.coll(coll)?;
        let docs = docs.into_iter();
        let mut ids = Vec::with_capacity(docs.size_hint().0);
        // Hooks run beside the checks, on the checking thread.
        let hooks = self
            .hooks
            .has_before_create(coll)
            .then(|| (self.hooks.clone(), self.hook_actor()));
        std::thread::scope(|scope| {
            let (send, recv) = sync_channel::<Vec<Result<Checked>>>(4);
            let (mut spent, freeing) = Spent::channel();
            scope.spawn(move || {
                let mut docs = docs;
                let check = |mut d: Map<String, Value>| {
                    if let Some((hooks, actor)) = &hooks {
                        let id = d.get("_id").and_then(Value::as_str).map(str::to_string);
                        let ctx = crate::hooks::HookCtx {
                            coll: &c.name,
                            id: id.as_deref(),
                            actor,
                            cause: crate::hooks::Cause::Direct,
                        };
                        hooks.run_before_create(&ctx, &mut d)?;
                    }
                    check_and_encode(c, d)
                };
                loop {
                    freeing.try_iter().for_each(drop);
                    let batch: Vec<_> = docs.by_ref().take(BATCH).map(check).collect();
                    // A closed channel means the writer stopped at an error.
                    if batch.is_empty() || send.send(batch).is_err() {
                        break;
                    }
                }
                // Hanging up ends the writer's loop; it then hangs up too.
                drop(send);
                freeing.into_iter().for_each(drop);
            });
            for checked in recv.into_iter().flatten() {
                match self.create_checked(c, cid, checked) {
                    Ok((id, body)) => {
                        ids.push(id);
                        spent.push(body);
                    }
                    Err(e) => {
                        // As `create`: any failure aborts the transaction.
                        self.poisoned = true;
                        return Err(e);
                    }
                }
            }
            Ok(ids)
        })
    }

    /// Creates a document that went through [`check_and_encode`] (or
    /// failed it), as [`Tx::try_create`]: a refused document is reported
    /// without aborting the transaction; a failure past the checks aborts.
    /// `c` and `cid` are the collection's, from [`Tx::coll`]. Returns the
    /// id and the document's body, for the caller to free where it costs
    /// least.
    pub(crate) fn create_checked(
        &mut self,
        c: &'t Collection,
        cid: u32,
        checked: Result<Checked>,
    ) -> Result<(String, Map<String, Value>)> {
        if self.poisoned {
            return Err(Error::Aborted);
        }
        let p = self.prepare_checked(c, cid, checked?)?;
        self.guard(|tx| tx.apply_create(p).map(|(id, doc)| (id, doc.body)))
    }
}

/// Created documents on their way back to the thread that checked (or
/// parsed) them, which frees them: sent in batches, the last on drop.
/// When that thread is gone, they are freed here.
pub(crate) struct Spent {
    to: Sender<Vec<Map<String, Value>>>,
    done: Vec<Map<String, Value>>,
}

impl Spent {
    /// The writer's end, and the end the freeing thread drains.
    pub(crate) fn channel() -> (Spent, Receiver<Vec<Map<String, Value>>>) {
        let (to, freeing) = channel();
        let done = Vec::with_capacity(BATCH);
        (Spent { to, done }, freeing)
    }

    pub(crate) fn push(&mut self, body: Map<String, Value>) {
        self.done.push(body);
        if self.done.len() == BATCH {
            self.send();
        }
    }

    fn send(&mut self) {
        if !self.done.is_empty() {
            let batch = std::mem::replace(&mut self.done, Vec::with_capacity(BATCH));
            let _ = self.to.send(batch);
        }
    }
}

impl Drop for Spent {
    fn drop(&mut self) {
        self.send();
    }
}
