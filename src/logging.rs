//! Log output that can never stop the server.
//!
//! Every log line (request lines included) is formatted on the thread that
//! emits it and handed to one background writer thread through a bounded
//! queue. When the output cannot keep up — a pipe nobody reads, a stalled
//! log shipper, `refdb serve | less` — the queue fills and further lines are
//! dropped and counted instead of blocking: a tokio worker that blocked in
//! `write(2)` while holding the output lock would stop every connection.
//! [`dropped_lines`] reports the count (the metrics expose it), and the
//! writer notes the loss in the log itself once the output drains.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};

/// Lines the queue holds before it drops: about a megabyte of request lines,
/// enough to ride out a short stall of the reader.
pub const QUEUE_LINES: usize = 8192;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();
/// Drops already reported in the log by [`DropReporter`].
static REPORTED: AtomicU64 = AtomicU64::new(0);

/// Log lines dropped so far because the output could not keep up.
pub fn dropped_lines() -> u64 {
    DROPPED.get().map_or(0, ErrorCounter::dropped_lines) as u64
}

/// Keeps the writer thread alive; dropping it flushes the queued lines
/// (waiting at most a second for a stuck output).
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: WorkerGuard,
}

/// Installs the global subscriber: `RUST_LOG` filters (default `info`), lines
/// go to standard error through the lossy queue. Call once, from a binary.
pub fn init(format: LogFormat) -> LogGuard {
    init_with(format, DropReporter(std::io::stderr()), QUEUE_LINES)
}

/// [`init`] onto any output, with a queue of `lines` lines.
pub fn init_with<W: Write + Send + 'static>(format: LogFormat, out: W, lines: usize) -> LogGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(lines)
        .thread_name("refdb-log")
        .finish(out);
    let _ = DROPPED.set(writer.error_counter());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().init(),
    }
    LogGuard { _writer: guard }
}

/// The output wrapper on the writer thread: before the next line it writes
/// after a loss, it writes how many lines were lost, so a reader of the log
/// knows it has a gap.
pub struct DropReporter<W>(pub W);

impl<W: Write> Write for DropReporter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let dropped = dropped_lines();
        let reported = REPORTED.load(Ordering::Relaxed);
        if dropped > reported {
            REPORTED.store(dropped, Ordering::Relaxed);
            writeln!(
                self.0,
                "refdb: {} log line(s) dropped: the log output was not being read fast enough",
                dropped - reported
            )?;
        }
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
