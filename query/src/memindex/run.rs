//! A bitmap filled during a build: docnos arrive in (mostly) increasing
//! order, one document at a time, and are appended in runs.
//!
//! Why: a build adds every document's docno to the live set, to one
//! bucket per indexed value and to some twenty grams per searched value —
//! a hundred million additions for a million users. `RoaringBitmap::insert`
//! searches for the container and the position each time; buffering a
//! few docnos and appending them behind the last container skips both.
//!
//! Invariant: [`Run::finish`] holds exactly the docnos pushed, whatever
//! their order (a run out of order is inserted instead of appended) and
//! however often one was pushed.

use roaring::RoaringBitmap;

/// Docnos buffered before they join the bitmap.
const RUN: usize = 64;

/// See the module doc.
#[derive(Default)]
pub(crate) struct Run {
    bitmap: RoaringBitmap,
    pending: Vec<u32>,
}

impl Run {
    pub fn push(&mut self, docno: u32) {
        // A value's grams are not deduplicated before they are pushed: the
        // same gram twice in one value pushes the same docno twice in a
        // row, which is dropped here (after a flush, the append below
        // falls back to inserting, which ignores it too).
        if self.pending.last() == Some(&docno) {
            return;
        }
        // Left to grow by itself: most grams are rare, and a full run's
        // 256 bytes kept for each would add up over millions of them.
        self.pending.push(docno);
        if self.pending.len() == RUN {
            self.flush();
        }
    }

    /// A build scans in `_id` order, which is docno order for generated
    /// and sequential ids: a run then goes behind the bitmap's last
    /// container in one pass, without the searches an insert makes for
    /// every docno. A run out of order is inserted.
    fn flush(&mut self) {
        if self.bitmap.append(self.pending.iter().copied()).is_err() {
            self.bitmap.extend(self.pending.iter().copied());
        }
        self.pending.clear();
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.bitmap.is_empty()
    }

    pub fn finish(mut self) -> RoaringBitmap {
        self.flush();
        self.bitmap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_was_pushed_in_any_order_and_repeated() {
        let mut pushed: Vec<u32> = (0..500).map(|i| i * 7).collect();
        pushed.swap(3, 300);
        pushed[100..180].reverse();
        // Repeats right after each other, and across a flush.
        pushed.insert(50, pushed[49]);
        pushed.insert(RUN, pushed[RUN - 1]);
        pushed.push(0);
        let mut run = Run::default();
        assert!(run.is_empty());
        for &d in &pushed {
            run.push(d);
        }
        assert!(!run.is_empty());
        let expected: RoaringBitmap = pushed.iter().copied().collect();
        assert_eq!(run.finish(), expected);
    }
}
