//! What `GET /metrics` reports, in the Prometheus text format: requests by
//! route, method and status, latency histograms by route, commit durations
//! and group sizes, documents per collection, the file's size, the page
//! cache, the full-text lag, the change log's extent, log lines dropped.
//!
//! Routes are labelled by their pattern (`/{app}/coll/users/{id}`), never
//! by the raw path, and an unknown collection is `{unknown}`: a client
//! sending garbage paths cannot grow the label set.

use hyper::Method;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::App;

/// Upper bounds (seconds) of the latency and commit-duration buckets.
const SECONDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
/// Upper bounds of the commit group-size buckets.
const GROUPS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// A cumulative histogram over fixed bounds.
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cumulative += c;
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{labels} {}", self.sum);
        let _ = writeln!(out, "{name}_count{labels} {}", self.count);
    }
}

/// The server's own counters, updated by every request and commit.
pub struct Metrics {
    inner: Mutex<Inner>,
    /// Event streams of the change feed open now.
    pub streams_open: AtomicU64,
    /// Change events sent on streams.
    pub stream_events: AtomicU64,
    /// Streams ended with `event: reset` (fallen behind the kept log).
    pub stream_resets: AtomicU64,
}

struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    commit_seconds: Histogram,
    group_size: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            inner: Mutex::new(Inner {
                requests: BTreeMap::new(),
                latency: BTreeMap::new(),
                commit_seconds: Histogram::new(&SECONDS),
                group_size: Histogram::new(&GROUPS),
            }),
            streams_open: AtomicU64::new(0),
            stream_events: AtomicU64::new(0),
            stream_resets: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn observe_request(&self, route: String, method: &Method, status: u16, seconds: f64) {
        let mut m = self.inner();
        *m.requests
            .entry((route.clone(), method.to_string(), status))
            .or_default() += 1;
        m.latency
            .entry(route)
            .or_insert_with(|| Histogram::new(&SECONDS))
            .observe(seconds);
    }

    pub fn observe_commit(&self, seconds: f64, group: usize) {
        let mut m = self.inner();
        m.commit_seconds.observe(seconds);
        m.group_size.observe(group as f64);
    }
}

/// The route pattern of a request path, for labels.
pub fn route_label(app: &App, path: &str) -> String {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let coll = |c: &str| {
        if app.schema().collection(c).is_some() {
            c.to_string()
        } else {
            "{unknown}".to_string()
        }
    };
    let rest = match segs.as_slice() {
        ["_health", "live" | "ready"] => return path.to_string(),
        ["metrics"] => return "/metrics".into(),
        [""] | ["_admin", ..] => return "/_admin/".into(),
        [app_name, rest @ ..] if *app_name == app.schema().app => rest,
        _ => return "{unknown}".into(),
    };
    let tail = match rest {
        [] | [""] => String::new(),
        [r @ ("_meta" | "openapi" | "_batch" | "_changes")] => (*r).to_string(),
        ["coll", c] => format!("coll/{}", coll(c)),
        ["coll", c, r @ ("_check" | "_meta" | "_changes")] => format!("coll/{}/{r}", coll(c)),
        ["coll", c, "_selections", _] => format!("coll/{}/_selections/{{name}}", coll(c)),
        ["coll", c, "_actions", _, _] => format!("coll/{}/_actions/{{name}}/{{id}}", coll(c)),
        ["coll", c, _] => format!("coll/{}/{{id}}", coll(c)),
        _ => "{unknown}".into(),
    };
    format!("/{{app}}/{tail}")
}

/// The whole report.
pub fn render(app: &App) -> String {
    let mut out = String::with_capacity(4096);
    {
        let m = app.metrics.inner();
        out.push_str("# HELP refdb_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE refdb_http_requests_total counter\n");
        for ((route, method, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "refdb_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP refdb_http_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE refdb_http_request_duration_seconds histogram\n");
        for (route, h) in &m.latency {
            h.render(
                &mut out,
                "refdb_http_request_duration_seconds",
                &format!("route=\"{route}\""),
            );
        }
        out.push_str("# HELP refdb_commit_duration_seconds A write transaction, from its first request to its durable commit.\n");
        out.push_str("# TYPE refdb_commit_duration_seconds histogram\n");
        m.commit_seconds
            .render(&mut out, "refdb_commit_duration_seconds", "");
        out.push_str("# HELP refdb_commit_group_size Write requests sharing one commit.\n");
        out.push_str("# TYPE refdb_commit_group_size histogram\n");
        m.group_size.render(&mut out, "refdb_commit_group_size", "");
    }
    let gauge = |out: &mut String, name: &str, help: &str, kind: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    };
    out.push_str("# HELP refdb_documents Documents per collection.\n");
    out.push_str("# TYPE refdb_documents gauge\n");
    if let Ok(r) = app.store.read() {
        for c in app.schema().collections() {
            if let Ok(n) = r.count(&c.name) {
                let _ = writeln!(out, "refdb_documents{{coll=\"{}\"}} {n}", c.name);
            }
        }
        if let Ok((first, next)) = r.change_log_extent() {
            gauge(
                &mut out,
                "refdb_change_log_next_seq",
                "The seq the next change record gets.",
                "gauge",
                next,
            );
            gauge(
                &mut out,
                "refdb_change_log_records",
                "Change records kept.",
                "gauge",
                first.map_or(0, |f| next - f),
            );
        }
    }
    let size = std::fs::metadata(app.store.path()).map_or(0, |m| m.len());
    gauge(
        &mut out,
        "refdb_file_size_bytes",
        "Size of the database file.",
        "gauge",
        size,
    );
    gauge(
        &mut out,
        "refdb_writes_failing",
        "1 while a full or failing disk refuses writes (reads go on).",
        "gauge",
        u64::from(app.store.write_fault().is_some()),
    );
    let cache = app.store.cache_use();
    gauge(
        &mut out,
        "refdb_cache_read_hits_total",
        "Page reads served by the cache.",
        "counter",
        cache.read_hits,
    );
    gauge(
        &mut out,
        "refdb_cache_read_misses_total",
        "Page reads that went to the file.",
        "counter",
        cache.read_misses,
    );
    gauge(
        &mut out,
        "refdb_cache_used_bytes",
        "Bytes the page cache holds.",
        "gauge",
        cache.used_bytes,
    );
    gauge(
        &mut out,
        "refdb_text_lag_documents",
        "Documents changed since the full-text index's last commit.",
        "gauge",
        app.engine.text_lag(),
    );
    let stats = &app.writer.stats;
    gauge(
        &mut out,
        "refdb_write_requests_total",
        "Write requests run by the writer.",
        "counter",
        stats.requests.load(std::sync::atomic::Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "refdb_commits_total",
        "Write transactions committed.",
        "counter",
        stats.commits.load(std::sync::atomic::Ordering::Relaxed),
    );
    if let Some(node) = &app.cluster {
        gauge(
            &mut out,
            "refdb_log_position",
            "The shared log position this node's file reflects.",
            "gauge",
            node.position(),
        );
        gauge(
            &mut out,
            "refdb_log_last_position",
            "The shared log's last position when it last answered.",
            "gauge",
            node.log_last(),
        );
        gauge(
            &mut out,
            "refdb_log_conflicts_total",
            "Groups run again because another node appended to the log first.",
            "counter",
            stats.conflicts.load(Ordering::Relaxed),
        );
    }
    let m = &app.metrics;
    gauge(
        &mut out,
        "refdb_change_streams_open",
        "Change feed event streams open.",
        "gauge",
        m.streams_open.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "refdb_change_stream_events_total",
        "Change events sent on streams.",
        "counter",
        m.stream_events.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "refdb_change_stream_resets_total",
        "Streams ended because they fell behind the kept change log.",
        "counter",
        m.stream_resets.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "refdb_log_lines_dropped_total",
        "Log lines dropped because the log output was not read fast enough.",
        "counter",
        crate::logging::dropped_lines(),
    );
    out
}
