//! Bulk creates: [`Tx::create_many`] checks and encodes documents on a
//! second thread while the writing thread inserts them.
//!
//! Why: in a bulk load about a third of the work per document needs only
//! the document and the schema — validation, filling defaults, msgpack
//! encoding, freeing the parsed input — and none of it has to wait for the
//! B-tree. A worker runs [`check_input`] and encodes the row ahead, in
//! batches sent over a bounded channel; the writing thread does what reads
//! or writes the transaction (ids, existence of references, docnos, rows,
//! postings) in input order.
//!
//! Invariant: the result is exactly that of calling [`Tx::create`] on each
//! document in order — same ids, same rows, same errors (the first one
//! aborts, as in `create`); the tests compare the two.

use super::{Checked, Tx, check_input};
use crate::codec;
use crate::error::Result;
use serde_json::{Map, Value};
use std::sync::mpsc::sync_channel;

/// Documents per message from the worker: large enough that the channel
/// costs nothing per document, small enough to keep both threads busy.
const BATCH: usize = 256;

impl Tx<'_> {
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
        let meta = self.create_meta.clone();
        std::thread::scope(|scope| {
            let (send, recv) = sync_channel::<Vec<Result<Checked>>>(4);
            scope.spawn(move || {
                let mut docs = docs;
                loop {
                    let batch: Vec<Result<Checked>> = docs
                        .by_ref()
                        .take(BATCH)
                        .map(|d| {
                            let mut checked = check_input(c, d)?;
                            checked.row = Some(codec::encode_with_meta(0, &checked.body, &meta));
                            Ok(checked)
                        })
                        .collect();
                    // A closed channel means the writer stopped at an error.
                    if batch.is_empty() || send.send(batch).is_err() {
                        return;
                    }
                }
            });
            for batch in recv {
                for checked in batch {
                    let id = self.guard(|tx| {
                        let p = tx.prepare_checked(c, cid, checked?)?;
                        tx.apply_create(p)
                    })?;
                    ids.push(id);
                }
            }
            Ok(ids)
        })
    }
}
