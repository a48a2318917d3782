//! How a [`Store`] lives through disk faults (see [`crate::fault`] for
//! the policy): the handle it swaps, the probe, the reopen, and the
//! settling of a commit that failed on the disk but may be in the file.
//!
//! Invariant: every method named `*_locked` runs with the writer lock held,
//! so no write transaction is alive while the handle is probed or replaced.

use super::Store;
use crate::error::{Error, Result};
use crate::fault::{self, WriteFault};
use crate::rows::{Backend, WriteTxn};
use std::sync::Arc;

/// The backend of `handle` once no one else holds it — readers hold it
/// just while they begin a snapshot — or, after 2 s, the handle still
/// shared.
pub(super) fn sole_backend(mut handle: Arc<Backend>) -> std::result::Result<Backend, Arc<Backend>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match Arc::try_unwrap(handle) {
            Ok(backend) => return Ok(backend),
            Err(arc) if std::time::Instant::now() < deadline => {
                handle = arc;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(arc) => return Err(arc),
        }
    }
}

impl Store {
    /// The current handle of the file (see [`crate::fault`] for when it changes).
    pub(crate) fn backend(&self) -> Arc<Backend> {
        self.db.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether writes are failing on the disk, since when and why.
    pub fn write_fault(&self) -> Option<WriteFault> {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .current
            .clone()
    }

    /// Begins a write transaction (the writer lock held), unless the disk
    /// had no room a moment ago and has not gained any since.
    pub(super) fn begin_write(&self) -> Result<WriteTxn> {
        let admitted = self
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admits_write(&self.path);
        if !admitted {
            return Err(Error::NoSpace(format!(
                "{}: the disk is full; writes are refused until space is freed (reads go on)",
                self.path.display()
            )));
        }
        if self.unavailable() {
            self.reopen_if_due();
        }
        self.resolve_locked()?;
        self.backend().begin_write()
    }

    /// Records how a write (its transaction gone, the writer lock held)
    /// ended: a disk fault stops writes and reopens a latched handle; a
    /// success ends a fault.
    /// `faults_before` is [`fault::seen`] when the write began: a
    /// transaction aborted by an earlier error that was a disk fault (an
    /// operation's undo failed on the disk, say) is that fault, not the
    /// caller's mistake.
    pub(super) fn after_write<R>(&self, done: Result<R>, faults_before: u64) -> Result<R> {
        let done = match done {
            Err(Error::Aborted) if fault::seen() != faults_before => Err(Error::Unavailable(
                "the disk failed during the transaction, which was rolled back".into(),
            )),
            other => other,
        };
        match &done {
            Err(e) if e.is_disk_fault() => self.recover_locked(e),
            Err(_) => {}
            Ok(_) => {
                let ended = self
                    .faults
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .succeeded();
                if let Some(f) = ended {
                    tracing::warn!(
                        file = %self.path.display(),
                        after_secs = f.since.elapsed().as_secs_f64(),
                        "writes resumed"
                    );
                }
            }
        }
        done
    }

    /// After a disk fault (the writer lock held, no write transaction
    /// alive): records it, and reopens the file when redb latched it.
    pub(super) fn recover_locked(&self, cause: &Error) {
        let kind = match cause {
            Error::NoSpace(_) => fault::FaultKind::NoSpace,
            _ => fault::FaultKind::Io,
        };
        let first = self
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failed(kind, cause.to_string(), &self.path);
        if first {
            tracing::error!(
                file = %self.path.display(),
                error = %cause,
                "writes are failing; reads go on from the last commit"
            );
        }
        if self.backend().latched() {
            self.reopen_locked();
        }
    }

    /// Closes the latched handle and opens the file again (the writer lock
    /// held). Every committed write is in the reopened file.
    fn reopen_locked(&self) {
        if matches!(&*self.backend(), Backend::ReadOnly(_)) {
            return;
        }
        let old = std::mem::replace(
            &mut *self.db.write().unwrap_or_else(|e| e.into_inner()),
            Arc::new(Backend::Unavailable("the file is being reopened".into())),
        );
        self.forget_snapshot();
        // Closing takes the only handle.
        if sole_backend(old).is_err() {
            tracing::error!("the failed database handle is still in use; it is left open");
        }
        let started = std::time::Instant::now();
        let next = match crate::rows::open_writable(&self.path, self.cache_size) {
            Ok(backend) => {
                tracing::warn!(
                    file = %self.path.display(),
                    secs = started.elapsed().as_secs_f64(),
                    "reopened the file after a disk fault"
                );
                self.faults
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .reopen_failed_at = None;
                backend
            }
            Err(e) => {
                let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
                if faults.reopen_failed_at.is_none() {
                    tracing::error!(
                        file = %self.path.display(),
                        error = %e,
                        "cannot reopen the file; retrying at most once a second"
                    );
                }
                faults.reopen_failed_at = Some(std::time::Instant::now());
                Backend::Unavailable(format!("the file cannot be reopened: {e}"))
            }
        };
        *self.db.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
    }

    /// Reopens an unavailable file unless the last try was under a second
    /// ago (the writer lock held).
    fn reopen_if_due(&self) {
        let due = self
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reopen_failed_at
            .is_none_or(|t| t.elapsed() >= fault::REOPEN_EVERY);
        if due {
            self.reopen_locked();
        }
    }

    /// Makes the store usable again after a disk fault met outside a
    /// write (a read's I/O error latches the handle too): probes the
    /// handle and reopens it if latched. Waits for a write in progress;
    /// safe under the gate.
    pub fn recover(&self) {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.probe_locked();
    }

    /// Reopens the handle if redb latched it, or retries an unavailable
    /// file (the writer lock held).
    fn probe_locked(&self) {
        if self.unavailable() {
            self.reopen_if_due();
        } else if self.backend().latched() {
            self.reopen_locked();
        }
        // Reads then see the derived state follow the file at once (when
        // the gate is free: the caller may be a query holding it).
        let _ = self.try_resolve_locked();
    }

    pub(super) fn unavailable(&self) -> bool {
        matches!(&*self.backend(), Backend::Unavailable(_))
    }

    /// Before a read: when a disk fault was met since the last look (by
    /// any store of the process), or the file is unavailable, recover.
    pub(super) fn check_faults(&self) {
        use std::sync::atomic::Ordering;
        // A load first: every read passes here, and a store would make
        // the readers' threads contend for the counter's cache line.
        let seen = fault::seen();
        if self.faults_checked.load(Ordering::Acquire) != seen
            && self.faults_checked.swap(seen, Ordering::AcqRel) != seen
        {
            self.probe_if_free();
        }
    }

    /// Probes the handle (reopening it if latched or unavailable) unless a
    /// writer holds the lock. Never waits: a write in progress meets the
    /// latch itself, and an observer reading inside a commit holds the
    /// lock already.
    pub(super) fn probe_if_free(&self) {
        if let Ok(_writer) = self.writer.try_lock() {
            self.probe_locked();
        }
    }

    /// Settles a commit that failed on the disk (the writer lock held,
    /// the gate not): once the log can be read, the commit is announced
    /// to the observers if it reached the file after all, or forgotten.
    /// `Ok(None)`: nothing to settle; an error: the log is unreadable yet,
    /// and no later commit may be announced before this one is settled.
    pub(super) fn resolve_locked(&self) -> Result<Option<bool>> {
        self.settle_locked(|| Some(self.gate.write().unwrap_or_else(|e| e.into_inner())))
    }

    /// [`Store::resolve_locked`] from a probe, whose caller may hold the
    /// gate for reading (a query reads its snapshot under it): taking it
    /// for writing there would wait on itself. So the commit is announced
    /// only if the gate is free at once; else it stays unresolved, for the
    /// next write (which settles before it begins) or the next probe.
    fn try_resolve_locked(&self) -> Result<Option<bool>> {
        self.settle_locked(|| self.gate.try_write().ok())
    }

    fn settle_locked<'g>(
        &'g self,
        gate: impl FnOnce() -> Option<std::sync::RwLockWriteGuard<'g, ()>>,
    ) -> Result<Option<bool>> {
        let mut unresolved = self.unresolved.lock().unwrap_or_else(|e| e.into_inner());
        let Some((end, _)) = &*unresolved else {
            return Ok(None);
        };
        let snapshot = self.backend().begin_read()?;
        let (_, next) = self.reader(Arc::new(snapshot)).change_log_extent()?;
        let landed = next >= *end;
        if !landed {
            *unresolved = None;
            return Ok(Some(false));
        }
        let Some(_gate) = gate() else {
            return Ok(None);
        };
        let (end, changes) = unresolved.take().expect("checked above");
        drop(unresolved);
        tracing::warn!(
            file = %self.path.display(),
            "a commit the disk reported as failed is in the file: it stands"
        );
        self.notify(&changes, Some(end));
        Ok(Some(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Postmortem: a query (holding the gate for reading) probed after a
    /// fault and settled a failed-but-landed commit by taking the gate for
    /// writing: it waited on itself with the writer lock held, and every
    /// write of the server hung (found by the libfiu test, 1 run in ~30).
    #[test]
    fn a_probe_under_the_gate_never_waits_on_the_gate() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path().join("p.db"), None).unwrap());
        // A commit that failed on the disk but whose records are in the
        // file (the log's end is past seq 0).
        *store.unresolved.lock().unwrap() = Some((0, Vec::new()));
        let s = store.clone();
        let (done, probed) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _gate = s.gate();
            s.probe_if_free();
            done.send(()).unwrap();
        });
        probed
            .recv_timeout(Duration::from_secs(20))
            .expect("the probe waited on the gate its own thread holds");
        assert!(
            store.unresolved.lock().unwrap().is_some(),
            "left for a caller that can take the gate"
        );
        // The next write settles it before it begins.
        store.write(|_| Ok(())).unwrap();
        assert!(store.unresolved.lock().unwrap().is_none());
    }
}
