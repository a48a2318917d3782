//! The change feed as server-sent events (`Accept: text/event-stream` or
//! `feed=sse` on a `_changes` route): every record after the start
//! position as `id: <seq>` / `event: change` / `data: <record JSON>`, then
//! the live ones as they commit, with a comment line as heartbeat while
//! nothing happens. `Last-Event-ID` (else `since`) sets the start, so a
//! client that reconnects resumes with no gap and no duplicate.
//!
//! The stream reads the durable change log, never an in-memory queue of
//! events: a slow subscriber only falls behind in the log (the channel to
//! its connection holds a few pages), so it can neither slow writers nor
//! grow memory. If it falls behind the retention, it gets `event: reset`
//! (with the oldest seq kept) and the stream ends: the client must read
//! the documents again.
//!
//! Many streams must cost writers little, so the work per commit is shared:
//! - one clock task turns commits into the log's end, read once, and wakes
//!   the streams with it at most once per [`wake_gap`] (which grows with
//!   the number of open streams, so that their wakes together stay bounded
//!   while a lone subscriber is woken at once);
//! - streams that follow the same view (the same caller's rights, filter
//!   and `include_docs`) from the same position share the page: the first
//!   reads and renders it as event text, the others take it from a small
//!   [`PageCache`] and send the same bytes, one write per page.

use bytes::Bytes;
use hyper::body::Frame;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

use super::changes::{ChangeQuery, Page, Since, Visible, read_page};
use crate::server::App;
use crate::server::body::Body;
use crate::server::error::{ApiError, ApiResult};
use crate::server::metrics::Metrics;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Pages buffered towards one connection.
const CHANNEL: usize = 16;
/// Records read from the log per round.
const BATCH: usize = 256;
/// A comment line this often while nothing is committed, so proxies and
/// clients see the connection is alive.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// Pages kept for streams that ask the same read.
const PAGES: usize = 64;
/// How long each open stream adds to the clock's gap between two wakes:
/// with n streams, they are woken at most 1 / (n × this) times a second.
const WAKE_COST: Duration = Duration::from_micros(25);
/// The longest gap between two wakes, which bounds the latency a
/// subscriber sees however many streams are open.
const MAX_WAKE_GAP: Duration = Duration::from_millis(10);

/// The least time between two wakes of the streams when `open` are open.
fn wake_gap(open: u64) -> Duration {
    WAKE_COST
        .saturating_mul(u32::try_from(open).unwrap_or(u32::MAX))
        .min(MAX_WAKE_GAP)
}

/// What the event streams of an app share: the log's end, published by
/// one clock task started with the first stream, and the rendered pages.
#[derive(Default)]
pub struct Feed {
    end: std::sync::OnceLock<watch::Receiver<u64>>,
    pages: PageCache,
}

impl Feed {
    /// A receiver of the log's end (its next seq), whose current value is
    /// marked seen: it changes after the next commit that adds records.
    fn end(&self, app: &App) -> ApiResult<watch::Receiver<u64>> {
        let end = match self.end.get() {
            Some(end) => end,
            None => {
                // Subscribed before the read: a commit after it wakes the clock.
                let commits = app.commits.subscribe();
                let (_, first) = app.store.read()?.change_log_extent()?;
                self.end.get_or_init(|| start_clock(app, commits, first))
            }
        };
        let mut end = end.clone();
        end.borrow_and_update();
        Ok(end)
    }
}

/// Spawns the clock: after each commit it reads the log's end and
/// publishes it if it moved, then rests for the [`wake_gap`] of the
/// streams open, so commits in that rest are published together.
fn start_clock(app: &App, mut commits: watch::Receiver<u64>, first: u64) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(first);
    let store = app.store.clone();
    let metrics = app.metrics.clone();
    let mut stopping = app.stopping.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stopping.changed() => return,
                r = commits.changed() => if r.is_err() { return },
            }
            // Seen before the read, so a commit after it wakes us again.
            commits.borrow_and_update();
            // A failed read publishes nothing; the next commit retries.
            if let Ok((_, end)) = store.read().and_then(|r| r.change_log_extent()) {
                tx.send_if_modified(|e| std::mem::replace(e, end) != end);
            }
            let gap = wake_gap(metrics.streams_open.load(Ordering::Relaxed));
            if !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
        }
    });
    rx
}

/// The last pages read by streams, by (view, position): a commit makes
/// every stream of a view ask for the same page, rendered once. A page
/// answers a later asker only if it was full (not the end of the log) or
/// the log has not grown since it was read, so no stream ever waits for
/// the next commit while records it could send exist.
#[derive(Default)]
struct PageCache(std::sync::Mutex<std::collections::VecDeque<Cached>>);

struct Cached {
    view: Arc<str>,
    since: u64,
    /// The end of the log (its next seq) when the page was read.
    end: u64,
    page: Arc<Rendered>,
}

impl PageCache {
    fn get(&self, view: &Arc<str>, since: u64, end: u64) -> Option<Arc<Rendered>> {
        let pages = self.0.lock().unwrap_or_else(|e| e.into_inner());
        pages
            .iter()
            .find(|c| {
                c.since == since && *c.view == **view && (c.end == end || !c.page.scanned_to_end)
            })
            .map(|c| c.page.clone())
    }

    fn put(&self, view: Arc<str>, since: u64, end: u64, page: Arc<Rendered>) {
        let mut pages = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if pages.len() == PAGES {
            pages.pop_front();
        }
        pages.push_back(Cached {
            view,
            since,
            end,
            page,
        });
    }
}

/// A page of the log as event text, rendered once for every stream that
/// sends it.
struct Rendered {
    events: Bytes,
    count: u64,
    last_seq: u64,
    scanned_to_end: bool,
}

impl From<Page> for Rendered {
    fn from(page: Page) -> Rendered {
        let size: usize = page.changes.iter().map(|(_, j)| j.len() + 40).sum();
        let mut text = Vec::with_capacity(size);
        for (seq, json) in &page.changes {
            use std::io::Write as _;
            write!(text, "id: {seq}\nevent: change\ndata: ").expect("writing to a Vec cannot fail");
            text.extend_from_slice(json);
            text.extend_from_slice(b"\n\n");
        }
        Rendered {
            events: Bytes::from(text),
            count: page.changes.len() as u64,
            last_seq: page.last_seq,
            scanned_to_end: page.scanned_to_end,
        }
    }
}

/// What a stream shows, as a key: two streams with equal keys read equal
/// pages from equal positions. A filtered stream is its own view.
fn view_key(q: &ChangeQuery, visible: &Visible) -> Arc<str> {
    let mut colls: Vec<String> = visible
        .iter()
        .map(|(c, hidden)| match hidden {
            None => format!("{c}:-"),
            Some(h) => {
                let mut h: Vec<&str> = h.iter().map(String::as_str).collect();
                h.sort_unstable();
                format!("{c}:{}", h.join(","))
            }
        })
        .collect();
    colls.sort_unstable();
    let filter = q.filter.as_ref().map_or(0, |f| Arc::as_ptr(f) as usize);
    format!("{}|{filter:x}|{}", q.include_docs, colls.join(";")).into()
}

/// A response body fed by a channel: the stream task sends, hyper polls.
pub struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// Starts the stream at `q`'s position and answers with it.
pub fn stream(app: &App, q: ChangeQuery, visible: Visible) -> ApiResult<Response<Body>> {
    let q = ChangeQuery { limit: BATCH, ..q };
    let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL);
    // Taken before the first read: a commit after that read changes it.
    let mut end = app.feed.end(app)?;
    // The first read happens here, so that a bad position is an HTTP error
    // rather than an event — except a position the retention has pruned,
    // which an event source is told by `event: reset`.
    let first = match read_page(&app.store, q.clone(), &visible) {
        Ok(page) => page,
        Err(e) if e.code == "changes_expired" => {
            app.metrics.stream_resets.fetch_add(1, Ordering::Relaxed);
            let _ = tx.try_send(reset_event(&e));
            return Ok(event_stream(rx));
        }
        Err(e) => return Err(e),
    };
    let store = app.store.clone();
    let feed = app.feed.clone();
    let view = view_key(&q, &visible);
    let metrics = app.metrics.clone();
    let mut stopping = app.stopping.subscribe();
    tokio::spawn(async move {
        let _open = Open::new(&metrics);
        let mut page = Arc::new(Rendered::from(first));
        loop {
            if page.count > 0 {
                if tx.send(page.events.clone()).await.is_err() {
                    return; // the client is gone
                }
                metrics
                    .stream_events
                    .fetch_add(page.count, Ordering::Relaxed);
            }
            let pos = page.last_seq;
            if page.count == 0 && page.scanned_to_end {
                // Caught up: wait for the log to grow, with heartbeats.
                if *stopping.borrow() {
                    return;
                }
                loop {
                    let wait = tokio::time::timeout(HEARTBEAT, end.changed());
                    tokio::select! {
                        // The server is stopping: the stream ends, and the
                        // client reconnects (to another instance) later.
                        _ = stopping.changed() => return,
                        r = wait => match r {
                            Ok(Ok(())) => break,
                            Ok(Err(_)) => return,
                            Err(_) => {
                                let beat = Bytes::from_static(b": keep-alive\n\n");
                                if tx.send(beat).await.is_err() {
                                    return;
                                }
                            }
                        },
                    }
                }
            }
            // The page at `pos` for the log's end as last published: from
            // the cache when a stream of the same view read it already,
            // else read here. Any commit past that end publishes again.
            let end_seen = *end.borrow_and_update();
            if let Some(p) = feed.pages.get(&view, pos, end_seen) {
                page = p;
                continue;
            }
            let next_q = ChangeQuery {
                since: Since::Seq(pos),
                ..q.clone()
            };
            // On this worker, not the blocking pool: a page is at most
            // BATCH records from one snapshot, and a hop per commit per
            // stream cost more than the read (and churned the pool's
            // threads, each with a fresh allocator heap).
            page = match read_page(&store, next_q, &visible) {
                Ok(p) => Arc::new(Rendered::from(p)),
                Err(e) if e.code == "changes_expired" => {
                    metrics.stream_resets.fetch_add(1, Ordering::Relaxed);
                    let _ = tx.send(reset_event(&e)).await;
                    return;
                }
                _ => return,
            };
            feed.pages.put(view.clone(), pos, end_seen, page.clone());
        }
    });
    Ok(event_stream(rx))
}

fn event_stream(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let mut resp = Response::new(ChannelBody(rx).boxed_unsync());
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// `event: reset`: the stream's position is older than the log kept.
fn reset_event(e: &ApiError) -> Bytes {
    let data = serde_json::json!({"code": e.code, "message": e.message});
    Bytes::from(format!("event: reset\ndata: {data}\n\n"))
}

/// Counts a stream as open while it lives.
struct Open<'a>(&'a Metrics);

impl<'a> Open<'a> {
    fn new(m: &'a Metrics) -> Open<'a> {
        m.streams_open.fetch_add(1, Ordering::Relaxed);
        Open(m)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.streams_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The seq of a `Last-Event-ID` header, if sent.
pub fn last_event_id(headers: &hyper::HeaderMap) -> ApiResult<Option<u64>> {
    crate::server::request::number_header(headers, "last-event-id").map_err(|()| {
        ApiError::bad_request(
            "bad_header",
            "Last-Event-ID is the seq of the last event received",
        )
    })
}
