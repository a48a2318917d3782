//! Disk faults: what a full disk or a failing disk does to a [`Store`].
//!
//! redb latches the first I/O error it meets: from then on every read and
//! write of that handle fails ("previous I/O error") until the handle is
//! closed and the file opened again, which repairs it back to its last
//! commit. Nothing committed is lost and nothing half-written is kept, but
//! a server that only reported the error would answer nothing until a
//! restart. So the store reopens the file itself:
//!
//! - a write that fails on the disk fails (with [`Error::NoSpace`] or
//!   [`Error::Unavailable`]); under the writer lock the store probes its
//!   handle and, when latched, closes it and opens the file again
//!   ([`Store::recover`]);
//! - a read that met the fault bumps a process-wide counter; the next
//!   [`Store::read`] sees it and probes the same way, so reads come back
//!   without a write having to happen;
//! - after "no space", writes are refused at once (no disk work, no
//!   reopen) until the file system reports more free space than at the
//!   failure, or [`RETRY_AFTER`] has passed: then one write tries again.
//!
//! Invariant: a store's handle is either open and unlatched, or being
//! reopened under the writer lock; readers waiting on that lock get the
//! new handle.
//!
//! [`Store`]: crate::Store
//! [`Store::recover`]: crate::Store::recover
//! [`Store::read`]: crate::Store::read
//! [`Error::NoSpace`]: crate::Error::NoSpace
//! [`Error::Unavailable`]: crate::Error::Unavailable

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What kind of disk fault stopped writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// No space left on the device, or a quota reached.
    NoSpace,
    /// Any other I/O error (a failing disk, a lost mount).
    Io,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::NoSpace => "no_space",
            FaultKind::Io => "io_error",
        }
    }
}

/// Writes are failing: since when, and why.
#[derive(Debug, Clone)]
pub struct WriteFault {
    pub kind: FaultKind,
    /// The error of the last failed write.
    pub message: String,
    pub since: Instant,
}

/// After "no space", the longest writes are refused without trying the
/// disk again when the free space it reports has not grown.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// How much the free space must grow since the failure before a write
/// tries the disk again.
const FREED: u64 = 64 << 10;

/// At most one reopen attempt a second while reopening keeps failing.
pub(crate) const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// Disk faults met by any store of the process; see the module doc.
static SEEN: AtomicU64 = AtomicU64::new(0);

pub(crate) fn seen() -> u64 {
    SEEN.load(Ordering::Acquire)
}

/// Counts a disk fault met by a store of the process.
pub(crate) fn count() {
    SEEN.fetch_add(1, Ordering::AcqRel);
}

/// The fault an I/O error from the file is.
pub(crate) fn io_kind(e: &std::io::Error) -> FaultKind {
    if is_no_space(e) {
        FaultKind::NoSpace
    } else {
        FaultKind::Io
    }
}

fn is_no_space(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || no_space_errno(e.raw_os_error())
}

#[cfg(unix)]
fn no_space_errno(code: Option<i32>) -> bool {
    matches!(code, Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

#[cfg(not(unix))]
fn no_space_errno(_code: Option<i32>) -> bool {
    false
}

/// Bytes an unprivileged writer may still use on the file system holding
/// `path` (`None` where it cannot be asked).
#[cfg(unix)]
pub fn available_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid C string and `st` a buffer statvfs fills in.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)]
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(not(unix))]
pub fn available_bytes(_path: &Path) -> Option<u64> {
    None
}

/// The write-side fault state of one store.
#[derive(Default)]
pub(crate) struct FaultState {
    pub(crate) current: Option<WriteFault>,
    /// Free bytes when the last "no space" failure happened.
    avail_at_failure: Option<u64>,
    /// When a write last tried the disk while in fault.
    last_try: Option<Instant>,
    /// When reopening the file last failed.
    pub(crate) reopen_failed_at: Option<Instant>,
}

impl FaultState {
    /// Whether a write may try the disk now; see the module doc.
    pub(crate) fn admits_write(&mut self, path: &Path) -> bool {
        let Some(f) = &self.current else {
            return true;
        };
        if f.kind != FaultKind::NoSpace {
            return true;
        }
        let freed = match (available_bytes(path), self.avail_at_failure) {
            (Some(now), Some(then)) => now > then.saturating_add(FREED),
            _ => false,
        };
        let waited = self.last_try.is_none_or(|t| t.elapsed() >= RETRY_AFTER);
        if freed || waited {
            self.last_try = Some(Instant::now());
            return true;
        }
        false
    }

    /// Records a failed write; true when writes were working until now.
    pub(crate) fn failed(&mut self, kind: FaultKind, message: String, path: &Path) -> bool {
        let first = self.current.is_none();
        if kind == FaultKind::NoSpace {
            self.avail_at_failure = available_bytes(path);
        }
        self.last_try = Some(Instant::now());
        let since = match &self.current {
            Some(f) if f.kind == kind => f.since,
            _ => Instant::now(),
        };
        self.current = Some(WriteFault {
            kind,
            message,
            since,
        });
        first
    }

    /// Records a committed write; the fault it ends, if any.
    pub(crate) fn succeeded(&mut self) -> Option<WriteFault> {
        self.avail_at_failure = None;
        self.last_try = None;
        self.current.take()
    }
}
