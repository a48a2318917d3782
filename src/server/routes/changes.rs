//! The change feed: `GET /<app>/_changes` and `GET /<app>/coll/<c>/_changes`
//! read the durable change log (docs/API.md §4): records in commit order,
//! `since` a seq, at most `limit` of them, with `include_docs=1` the
//! document after each change, and `feed=longpoll` waiting (up to `timeout`
//! ms) for the next commit when there is nothing new.
//!
//! Rights: the collection feed needs `read` on it; the app feed leaves out
//! the records of collections the caller may not read. Fields the caller
//! may not read are removed from `doc`, as from a GET.
//!
//! `last_seq` is where the next request resumes (`since`): the last record
//! scanned, returned or left out, so a feed of rare visible records does
//! not rescan what it skipped; with nothing new, `since` itself.

use hyper::{Response, StatusCode};
use refdb_storage::{ChangeRecord, Schema};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::server::auth::{Action, Caller};
use crate::server::body::{Body, json_bytes_response};
use crate::server::error::{ApiError, ApiResult};
use crate::server::request::Req;
use crate::server::{App, blocking};

/// Records read per request at most, returned or left out: bounds the work
/// of a request whose records are mostly not visible to the caller.
const SCAN_PER_LIMIT: usize = 10;

/// The default `timeout` of a long poll, in ms.
const LONGPOLL_DEFAULT_MS: u64 = 25_000;

#[derive(Clone, Copy)]
pub enum Since {
    Seq(u64),
    /// The end of the log: only what commits from now on.
    Now,
}

/// What the caller may see of each collection: `None` when not at all,
/// else the fields hidden from it.
pub type Visible = HashMap<String, Option<HashSet<String>>>;

/// Where a read of the feed starts and how much it returns.
#[derive(Clone)]
pub struct ChangeQuery {
    pub since: Since,
    pub limit: usize,
    pub include_docs: bool,
    pub filter: Filter,
}

/// A collection feed's filter: a record is shown when its document
/// matches before or after the change.
pub type Filter = Option<std::sync::Arc<refdb_query::DocFilter>>;

pub async fn feed(app: &App, coll: Option<&str>, req: Req) -> ApiResult<Response<Body>> {
    let only = match coll {
        Some(c) => {
            let c = app.collection(c)?;
            req.caller.check(c, Action::Read)?;
            Some(c.name.clone())
        }
        None => None,
    };
    const OWN: [&str; 5] = ["since", "limit", "include_docs", "feed", "timeout"];
    // The collection feed also takes a list query's filters.
    let (params, filter) = match &only {
        Some(c) => {
            let (params, raw) = req.params_and_query(app, &OWN)?;
            let filter = if raw.is_empty() {
                None
            } else {
                let q = refdb_query::parse(&raw)?;
                let coll = app.collection(c)?;
                let hidden = req.caller.hidden(coll);
                let f = app.engine.doc_filter(c, &q, &hidden)?;
                (!f.is_empty()).then(|| std::sync::Arc::new(f))
            };
            (params, filter)
        }
        None => (req.params(app, &OWN)?, None),
    };
    let since = match params.get("since") {
        None => Since::Seq(0),
        Some("now") => Since::Now,
        Some(s) => Since::Seq(s.parse().map_err(|_| {
            ApiError::bad_request(
                "bad_query",
                format!("`since` is a seq (an integer ≥ 0) or `now`, got `{s}`"),
            )
            .at("$.since")
        })?),
    };
    let max = app.limits.max_page.max(1);
    let limit = match params.get("limit") {
        None => 1000.min(max),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n.min(max),
            _ => {
                return Err(ApiError::bad_request(
                    "bad_query",
                    format!("`limit` is an integer ≥ 1, got `{s}`"),
                )
                .at("$.limit"));
            }
        },
    };
    let include_docs = params.flag("include_docs")?;
    let wants_events = req
        .headers()
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    let (longpoll, sse) = match params.get("feed") {
        None if wants_events => (false, true),
        None | Some("normal") => (false, false),
        Some("longpoll") => (true, false),
        Some("sse") => (false, true),
        Some(other) => {
            return Err(ApiError::bad_request(
                "bad_query",
                format!("`feed` is `normal`, `longpoll` or `sse`, got `{other}`"),
            )
            .at("$.feed"));
        }
    };
    // A long poll ends before the server's own request timeout would.
    let most = app
        .limits
        .request_timeout
        .saturating_sub(Duration::from_secs(1))
        .max(Duration::from_millis(1));
    let timeout = match params.get("timeout") {
        None => Duration::from_millis(LONGPOLL_DEFAULT_MS),
        Some(s) => Duration::from_millis(s.parse().map_err(|_| {
            ApiError::bad_request(
                "bad_query",
                format!("`timeout` is a number of milliseconds, got `{s}`"),
            )
            .at("$.timeout")
        })?),
    }
    .min(most);
    let visible = visible(app, &req.caller, only.as_deref());
    // Checked whatever the feed, though only events resume from it.
    let last_event = super::sse::last_event_id(req.headers())?;
    if sse {
        // A reconnecting client resumes after the last event it received.
        let since = match last_event {
            Some(seq) => Since::Seq(seq),
            None => since,
        };
        let q = ChangeQuery {
            since,
            limit,
            include_docs,
            filter,
        };
        return super::sse::stream(app, q, visible);
    }
    // Subscribed before the first read: a commit landing between that read
    // and the wait still wakes it.
    let mut commits = app.commits.subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut since = since;
    loop {
        let (store, v) = (app.store.clone(), visible.clone());
        let q = ChangeQuery {
            since,
            limit,
            include_docs,
            filter: filter.clone(),
        };
        let page = blocking(move || read_page(&store, q, &v)).await?;
        if !page.changes.is_empty() || !longpoll {
            return Ok(respond(page));
        }
        // Later rounds resume where this one stopped.
        since = Since::Seq(page.last_seq);
        match tokio::time::timeout_at(deadline, commits.changed()).await {
            Ok(Ok(())) => continue,
            // Timed out (or the server is stopping): nothing new.
            _ => return Ok(respond(page)),
        }
    }
}

fn visible(app: &App, caller: &Caller, only: Option<&str>) -> Visible {
    app.schema()
        .collections()
        .filter(|c| only.is_none_or(|o| o == c.name))
        .map(|c| {
            let seen = caller.may(c, Action::Read).then(|| caller.hidden(c));
            (c.name.clone(), seen)
        })
        .collect()
}

pub struct Page {
    /// Each record's seq and JSON text.
    pub changes: Vec<(u64, Vec<u8>)>,
    pub last_seq: u64,
    /// The read reached the end of the log (else it stopped at its limit
    /// or its scan budget, and more may follow at once).
    pub scanned_to_end: bool,
}

fn respond(page: Page) -> Response<Body> {
    let size: usize = page.changes.iter().map(|(_, j)| j.len() + 1).sum();
    let mut out = Vec::with_capacity(size + 48);
    out.extend_from_slice(b"{\"changes\":[");
    for (i, (_, json)) in page.changes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(json);
    }
    out.extend_from_slice(format!("],\"last_seq\":{}}}", page.last_seq).as_bytes());
    json_bytes_response(StatusCode::OK, out)
}

/// Reads the visible records after `q.since` from one snapshot.
pub fn read_page(
    store: &refdb_storage::Store,
    q: ChangeQuery,
    visible: &Visible,
) -> ApiResult<Page> {
    let ChangeQuery {
        since,
        limit,
        include_docs,
        filter,
    } = q;
    let r = store.read()?;
    let (first, next) = r.change_log_extent()?;
    let last = next - 1;
    let since = match since {
        Since::Now => last,
        // Ahead of this log: a seq from another database (a restored
        // backup, another server) conflicts with its state.
        Since::Seq(s) if s > last => {
            return Err(ApiError::conflict(
                "since_ahead",
                format!("`since` {s} is past the end of the change log ({last})"),
            )
            .at("$.since"));
        }
        Since::Seq(s) => s,
    };
    let oldest = first.unwrap_or(next);
    // 0 means "from the oldest kept"; any other `since` needs every record
    // after it.
    if since > 0 && since + 1 < oldest {
        return Err(ApiError::gone(
            "changes_expired",
            format!(
                "the change log no longer holds the records after {since}: the oldest kept is \
                 {oldest}; read the documents again, then follow from `since={last}`"
            ),
        )
        .at("$.since"));
    }
    let mut out = Vec::new();
    let mut last_seq = since;
    let mut budget = limit.saturating_mul(SCAN_PER_LIMIT);
    let mut scanned_to_end = false;
    while out.len() < limit && budget > 0 {
        let batch = r.changes(last_seq, budget.min(1000))?;
        if batch.is_empty() {
            scanned_to_end = true;
            break;
        }
        for rec in batch {
            budget -= 1;
            last_seq = rec.seq;
            let seen = visible
                .get(&rec.coll)
                .zip(store.schema().collection(&rec.coll));
            if let Some((Some(hidden), coll)) = seen {
                let mut matched = None;
                if let Some(f) = &filter {
                    let after =
                        doc_of(store.schema(), &rec)?.is_some_and(|d| f.matches(&rec.id, &d));
                    // The state before: the document's previous record,
                    // while the log keeps it.
                    let before = match rec.prev {
                        0 => false,
                        p => match r.change(p)? {
                            Some(prev) => doc_of(store.schema(), &prev)?
                                .is_some_and(|d| f.matches(&rec.id, &d)),
                            None => false,
                        },
                    };
                    if !before && !after {
                        continue;
                    }
                    matched = Some((before, after));
                }
                out.push((
                    rec.seq,
                    record_json(&rec, coll, include_docs, hidden, matched)?,
                ));
                if out.len() == limit {
                    break;
                }
            }
        }
    }
    Ok(Page {
        changes: out,
        last_seq,
        scanned_to_end: scanned_to_end || last_seq == last,
    })
}

/// A record's JSON text: `{"seq","txn","coll","_id","op"}`, with `doc`
/// (transcoded from the row and shaped as a GET serves it, hidden fields
/// and derived lists left out) when asked for, and `before`/`after` on a
/// filtered feed.
fn record_json(
    rec: &ChangeRecord,
    coll: &refdb_storage::Collection,
    include_docs: bool,
    hidden: &HashSet<String>,
    matched: Option<(bool, bool)>,
) -> ApiResult<Vec<u8>> {
    let mut out = Vec::with_capacity(96 + rec.row.as_ref().map_or(0, |r| 2 * r.len()));
    let text = |out: &mut Vec<u8>, s: &str| {
        serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail")
    };
    out.extend_from_slice(
        format!("{{\"seq\":{},\"txn\":{},\"coll\":", rec.seq, rec.txn).as_bytes(),
    );
    text(&mut out, &rec.coll);
    out.extend_from_slice(b",\"_id\":");
    text(&mut out, &rec.id);
    out.extend_from_slice(format!(",\"op\":\"{}\"", rec.op.as_str()).as_bytes());
    if include_docs {
        out.extend_from_slice(b",\"doc\":");
        match &rec.row {
            Some(row) => refdb_storage::json::write_record_doc(
                coll,
                &rec.id,
                row,
                &|f: &str| hidden.contains(f),
                &mut out,
            )?,
            None => out.extend_from_slice(b"null"),
        }
    }
    if let Some((before, after)) = matched {
        out.extend_from_slice(format!(",\"before\":{before},\"after\":{after}").as_bytes());
    }
    out.push(b'}');
    Ok(out)
}

/// The document a record describes: `_id`, stored fields, `_meta`; `None`
/// for a delete.
fn doc_of(schema: &Schema, rec: &ChangeRecord) -> ApiResult<Option<Map<String, Value>>> {
    Ok(rec.stored(schema)?.map(|stored| {
        let mut d = Map::new();
        d.insert("_id".into(), rec.id.clone().into());
        d.extend(stored.body);
        d.insert("_meta".into(), stored.meta);
        d
    }))
}
