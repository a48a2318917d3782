//! The change feed as server-sent events (`Accept: text/event-stream` or
//! `feed=sse` on a `_changes` route): every record after the start
//! position as `id: <seq>` / `event: change` / `data: <record JSON>`, then
//! the live ones as they commit, with a comment line as heartbeat while
//! nothing happens. `Last-Event-ID` (else `since`) sets the start, so a
//! client that reconnects resumes with no gap and no duplicate.
//!
//! The stream reads the durable change log, never an in-memory queue of
//! events: a slow subscriber only falls behind in the log (the channel to
//! its connection holds a few events), so it can neither slow writers nor
//! grow memory. Streams that follow the same view (the same caller's
//! rights, filter and `include_docs`) from the same position share the
//! read of the log: a commit wakes them all, the first reads and renders
//! the page, the others take it from a small [`PageCache`]. If it falls
//! behind the retention, it gets `event: reset`
//! (with the oldest seq kept) and the stream ends: the client must read the
//! documents again.

use bytes::Bytes;
use hyper::body::Frame;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

use super::changes::{ChangeQuery, Page, Since, Visible, read_page};
use crate::server::App;
use crate::server::body::Body;
use crate::server::error::{ApiError, ApiResult};
use crate::server::metrics::Metrics;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Events buffered towards one connection.
const CHANNEL: usize = 16;
/// Records read from the log per round.
const BATCH: usize = 256;
/// A comment line this often while nothing is committed, so proxies and
/// clients see the connection is alive.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// Pages kept for streams that ask the same read.
const PAGES: usize = 64;

/// The last pages read by streams, by (view, position): a commit makes
/// every stream of a view ask for the same page, rendered once. A page
/// answers a later asker only if it was full (not the end of the log) or
/// the log has not grown since it was read, so no stream ever waits for
/// the next commit while records it could send exist.
#[derive(Default)]
pub struct PageCache(std::sync::Mutex<std::collections::VecDeque<Cached>>);

struct Cached {
    view: Arc<str>,
    since: u64,
    /// The end of the log (its next seq) when the page was read.
    end: u64,
    page: Arc<Page>,
}

impl PageCache {
    fn get(&self, view: &Arc<str>, since: u64, end: u64) -> Option<Arc<Page>> {
        let pages = self.0.lock().unwrap_or_else(|e| e.into_inner());
        pages
            .iter()
            .find(|c| {
                c.since == since && *c.view == **view && (c.end == end || !c.page.scanned_to_end)
            })
            .map(|c| c.page.clone())
    }

    fn put(&self, view: Arc<str>, since: u64, end: u64, page: Arc<Page>) {
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
    let cache = app.feed_pages.clone();
    let view = view_key(&q, &visible);
    let mut commits = app.commits.subscribe();
    let metrics = app.metrics.clone();
    let mut stopping = app.stopping.subscribe();
    tokio::spawn(async move {
        let _open = Open::new(&metrics);
        let mut page = Arc::new(first);
        loop {
            for (seq, json) in &page.changes {
                let mut text = format!("id: {seq}\nevent: change\ndata: ").into_bytes();
                text.extend_from_slice(json);
                text.extend_from_slice(b"\n\n");
                if tx.send(Bytes::from(text)).await.is_err() {
                    return; // the client is gone
                }
                metrics.stream_events.fetch_add(1, Ordering::Relaxed);
            }
            let pos = page.last_seq;
            if page.changes.is_empty() && page.scanned_to_end {
                // Caught up: wait for a commit, with heartbeats meanwhile.
                if *stopping.borrow() {
                    return;
                }
                loop {
                    let wait = tokio::time::timeout(HEARTBEAT, commits.changed());
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
            // The log's end now, then the page: from the cache when a
            // stream of the same view read it already, else read here.
            let end = match store.read().and_then(|r| r.change_log_extent()) {
                Ok((_, end)) => end,
                Err(_) => return,
            };
            if let Some(p) = cache.get(&view, pos, end) {
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
                Ok(p) => Arc::new(p),
                Err(e) if e.code == "changes_expired" => {
                    metrics.stream_resets.fetch_add(1, Ordering::Relaxed);
                    let _ = tx.send(reset_event(&e)).await;
                    return;
                }
                _ => return,
            };
            cache.put(view.clone(), pos, end, page.clone());
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
