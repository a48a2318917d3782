//! A bound on the documents handed to tantivy's writer and not yet
//! indexed.
//!
//! Why: the writer's queue is bounded in batches (10,000 of them), not in
//! documents, and the full-text flush sends a batch per chunk of thousands
//! of documents, so nothing held the flush back: a build of ten million
//! documents queued nearly all of them, 6 GiB of memory, while tantivy's
//! single indexing thread worked through them. Each document sent now
//! holds a [`Slot`], released when tantivy drops the document, which it
//! does once the document is indexed (or when the writer is dropped); the
//! flush waits for slots before it sends the next chunk.
//!
//! Invariant: [`InFlight::held`] counts the [`Counted`] documents alive;
//! it is below the bound the flush waits for, plus one chunk.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tantivy::TantivyDocument;
use tantivy::schema::document::Document;

/// Documents sent and not yet indexed; see the module doc.
#[derive(Default)]
pub(crate) struct InFlight {
    state: Mutex<Counts>,
    freed: Condvar,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    held: usize,
    /// What a waiting flush waits for `held` to come down to: a release
    /// wakes it only then, not once per document.
    wanted: Option<usize>,
    /// The most ever held at once, for the tests.
    peak: usize,
}

impl InFlight {
    /// Wraps `doc` with a slot of its own.
    pub(crate) fn count(self: &Arc<Self>, doc: TantivyDocument) -> Counted {
        let mut c = self.state.lock().unwrap_or_else(|e| e.into_inner());
        c.held += 1;
        c.peak = c.peak.max(c.held);
        Counted {
            doc,
            _slot: Slot(self.clone()),
        }
    }

    /// Waits until at most `max` documents are held, or `give_up` says to
    /// stop waiting (checked every 100 ms: a writer whose thread died
    /// frees nothing until it is dropped). Returns false if it gave up.
    pub(crate) fn wait_until_at_most(&self, max: usize, give_up: impl Fn() -> bool) -> bool {
        let mut c = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while c.held > max {
            if give_up() {
                c.wanted = None;
                return false;
            }
            c.wanted = Some(max);
            c = self
                .freed
                .wait_timeout(c, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        c.wanted = None;
        true
    }

    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).held
    }

    #[cfg(test)]
    pub(crate) fn peak(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).peak
    }
}

/// One document's place in [`InFlight`], given back when dropped.
struct Slot(Arc<InFlight>);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        c.held -= 1;
        let wake = c.wanted.is_some_and(|max| c.held <= max);
        drop(c);
        if wake {
            self.0.freed.notify_all();
        }
    }
}

/// A tantivy document holding a [`Slot`]; indexed exactly as the document
/// it wraps.
pub(crate) struct Counted {
    doc: TantivyDocument,
    _slot: Slot,
}

impl Document for Counted {
    type Value<'a> = <TantivyDocument as Document>::Value<'a>;
    type FieldsValuesIter<'a> = <TantivyDocument as Document>::FieldsValuesIter<'a>;

    fn iter_fields_and_values(&self) -> Self::FieldsValuesIter<'_> {
        self.doc.iter_fields_and_values()
    }
}

impl Counted {
    #[cfg(test)]
    fn fields(&self) -> Vec<tantivy::schema::Field> {
        self.iter_fields_and_values().map(|(f, _)| f).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::schema::Field;

    #[test]
    fn a_slot_is_held_while_its_document_lives() {
        let inflight = Arc::new(InFlight::default());
        let mut doc = TantivyDocument::new();
        doc.add_u64(Field::from_field_id(0), 7);
        let a = inflight.count(doc.clone());
        let b = inflight.count(doc);
        assert_eq!(a.fields(), vec![Field::from_field_id(0)]);
        assert_eq!((inflight.held(), inflight.peak()), (2, 2));
        drop(a);
        assert_eq!(inflight.held(), 1);
        // Freed from another thread, as tantivy's indexing thread does.
        let waiter = inflight.clone();
        let t = std::thread::spawn(move || drop(b));
        assert!(waiter.wait_until_at_most(0, || false));
        t.join().unwrap();
        assert_eq!((inflight.held(), inflight.peak()), (0, 2));
        // Giving up returns at once.
        let _c = inflight.count(TantivyDocument::new());
        assert!(!inflight.wait_until_at_most(0, || true));
    }
}
