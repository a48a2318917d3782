//! The HTTP server: [`run`] takes a bound listener, a [`Server`] and a
//! shutdown future, and serves docs/API.md §4 until the future completes.
//!
//! Invariants:
//! - async threads never block: reads go through `blocking`
//!   (`spawn_blocking`), writes through the [`writer`] thread (group
//!   commit), and no lock or transaction is held across an `.await` — a
//!   handler's whole storage work happens inside one closure;
//! - at most [`Limits::max_connections`] connections are served at once
//!   (a semaphore permit travels with each connection task);
//! - shutdown stops accepting, lets in-flight requests finish (up to
//!   [`Limits::shutdown_grace`]) and returns, so the caller can drop the
//!   store and close the file;
//! - every request produces exactly one log line (method, path, status,
//!   duration) and every failure a §7 JSON body (see [`error`]).

pub mod action;
mod admin;
pub mod auth;
pub mod body;
mod cluster_http;
pub mod error;
pub mod metrics;
mod request;
pub mod route;
mod router;
mod routes;
pub mod writer;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use refdb_query::Engine;
use refdb_storage::{Schema, Store};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use crate::config::Limits;
use body::Body;
pub use error::{ApiError, ApiResult};

pub use action::{ActionCall, ActionDef, ActionFn};
pub use route::{RouteCall, RouteFn};

/// Everything a request handler may use; shared by all connections.
pub struct App {
    pub(crate) engine: Arc<Engine>,
    pub(crate) store: Arc<Store>,
    pub(crate) limits: Limits,
    pub(crate) actions: HashMap<(String, String), ActionDef>,
    /// The program's own routes, by method and name.
    pub(crate) routes: HashMap<(hyper::Method, String), Arc<RouteFn>>,
    /// Every write request goes through it (group commit).
    pub(crate) writer: writer::Writer,
    /// The credentials accepted (from the schema's `auth`).
    pub(crate) auth: auth::Auth,
    /// Counts commits, for change feeds waiting on the next one.
    pub(crate) commits: tokio::sync::watch::Sender<u64>,
    /// What the change feed's event streams share.
    pub(crate) feed: Arc<routes::sse::Feed>,
    /// Request and commit counters for `GET /metrics`.
    pub(crate) metrics: Arc<metrics::Metrics>,
    /// Cluster mode: the node's place in the shared log.
    pub(crate) cluster: Option<Arc<crate::cluster::node::NodeState>>,
    /// Turns true when the server stops accepting: event streams end, so
    /// that the graceful shutdown is not kept waiting by them.
    pub(crate) stopping: tokio::sync::watch::Sender<bool>,
}

/// Bumps [`App::commits`] after every commit.
struct CommitSignal(tokio::sync::watch::Sender<u64>);

impl refdb_storage::CommitObserver for CommitSignal {
    fn committed(&self, _: &[refdb_storage::Change], _: Option<u64>) {
        self.0.send_modify(|n| *n += 1);
    }
}

impl App {
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn schema(&self) -> &Schema {
        self.store.schema()
    }

    /// Whether the schema configures authentication.
    pub fn auth_enabled(&self) -> bool {
        self.auth.enabled()
    }

    /// The schema of collection `c`, or a 404.
    pub fn collection(&self, c: &str) -> ApiResult<&refdb_storage::Collection> {
        self.schema().collection(c).ok_or_else(|| {
            ApiError::unknown("unknown_collection", format!("unknown collection \"{c}\""))
        })
    }
}

/// A configured server, cheap to clone.
#[derive(Clone)]
pub struct Server {
    app: Arc<App>,
}

/// Builds a [`Server`]: `Server::builder(engine).action(..).build()`.
pub struct Builder {
    engine: Engine,
    limits: Limits,
    actions: HashMap<(String, String), ActionDef>,
    routes: HashMap<(hyper::Method, String), Arc<RouteFn>>,
    auth: Option<auth::Auth>,
    cluster: Option<crate::cluster::node::ClusterLink>,
}

/// Why a [`Builder`] refused its configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Auth(#[from] auth::AuthSetupError),
    #[error("action {name:?} is registered on unknown collection {coll:?}")]
    UnknownCollection { coll: String, name: String },
    #[error("route {0:?} would shadow the API's own /<app>/{0} (or is not a path segment)")]
    ReservedRoute(String),
    #[error("the parameters of action {name:?} on {coll:?}: {message}")]
    ActionParams {
        coll: String,
        name: String,
        message: String,
    },
}

impl Server {
    pub fn builder(engine: Engine) -> Builder {
        Builder {
            engine,
            limits: Limits::default(),
            actions: HashMap::new(),
            routes: HashMap::new(),
            auth: None,
            cluster: None,
        }
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Write requests answered and commits made so far: their ratio is
    /// how many requests shared each commit.
    pub fn write_stats(&self) -> (u64, u64) {
        let s = &self.app.writer.stats;
        (
            s.requests.load(std::sync::atomic::Ordering::Relaxed),
            s.commits.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Answers one request: routes it, turns an error into its §7 body,
    /// and logs the outcome. Never fails: hyper only sees responses.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let start = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let app = &self.app;
        let min_seq = match &app.cluster {
            Some(_) => cluster_http::min_seq(req.headers()),
            None => Ok(None),
        };
        let routed = async {
            if let (Some(node), Some(seq)) = (&app.cluster, min_seq?) {
                cluster_http::wait_for(node, seq, app.limits.request_timeout).await?;
            }
            router::route(app, req).await
        };
        // Reads are safe to abandon; a write's storage work is bounded by
        // its body (whose upload has its own timeout) and must not be
        // answered as failed while it may still commit.
        let result = if method == Method::GET {
            match tokio::time::timeout(app.limits.request_timeout, routed).await {
                Ok(r) => r,
                Err(_) => Err(ApiError::timed_out()),
            }
        } else {
            routed.await
        };
        let mut resp = result.unwrap_or_else(ApiError::into_response);
        if let Some(node) = &app.cluster {
            cluster_http::stamp(node, resp.headers_mut());
        }
        app.metrics.observe_request(
            metrics::route_label(app, &path),
            &method,
            resp.status().as_u16(),
            start.elapsed().as_secs_f64(),
        );
        tracing::info!(
            target: "refdb::http",
            %method,
            path,
            status = resp.status().as_u16(),
            micros = start.elapsed().as_micros() as u64,
        );
        resp
    }
}

impl Builder {
    pub fn limits(mut self, limits: Limits) -> Builder {
        self.limits = limits;
        self
    }

    /// Sets the accepted credentials (default: [`auth::Auth::from_schema`],
    /// which reads the JWT secret from the environment).
    pub fn auth(mut self, auth: auth::Auth) -> Builder {
        self.auth = Some(auth);
        self
    }

    /// Registers an action on a collection, without declared parameters
    /// (see [`action`]).
    pub fn action<F>(self, coll: &str, name: &str, f: F) -> Builder
    where
        F: Fn(&ActionCall<'_>, &mut refdb_storage::Tx<'_>) -> ApiResult<serde_json::Value>
            + Send
            + Sync
            + 'static,
    {
        self.action_def(coll, name, ActionDef::new(f))
    }

    /// Serves `method /<app>/<name>[/…]` with `f` (see [`route`]).
    pub fn route<F>(mut self, method: hyper::Method, name: &str, f: F) -> Builder
    where
        F: Fn(&RouteCall<'_>) -> ApiResult<serde_json::Value> + Send + Sync + 'static,
    {
        self.routes.insert((method, name.to_string()), Arc::new(f));
        self
    }

    /// Registers an action with its declared parameters.
    pub fn action_def(mut self, coll: &str, name: &str, def: ActionDef) -> Builder {
        self.actions
            .insert((coll.to_string(), name.to_string()), def);
        self
    }

    /// Runs the server as a node of a cluster: writes go through the
    /// shared log, and the node applies what other nodes append.
    pub fn cluster(mut self, link: crate::cluster::node::ClusterLink) -> Builder {
        self.cluster = Some(link);
        self
    }

    pub fn build(mut self) -> Result<Server, BuildError> {
        if let Some((_, name)) = self.routes.keys().find(|(_, n)| {
            route::RESERVED.contains(&n.as_str()) || !refdb_storage::schema::validate::valid_id(n)
        }) {
            return Err(BuildError::ReservedRoute(name.clone()));
        }
        for ((coll, name), def) in self.actions.iter_mut() {
            def.prepare().map_err(|message| BuildError::ActionParams {
                coll: coll.clone(),
                name: name.clone(),
                message,
            })?;
        }
        let store = self.engine.store().clone();
        let schema = store.schema();
        if let Some((coll, name)) = self
            .actions
            .keys()
            .find(|(c, _)| schema.collection(c).is_none())
        {
            return Err(BuildError::UnknownCollection {
                coll: coll.clone(),
                name: name.clone(),
            });
        }
        let auth = match self.auth {
            Some(a) => a,
            None => auth::Auth::from_schema(schema)?,
        };
        let (commits, _) = tokio::sync::watch::channel(0);
        let metrics = Arc::new(metrics::Metrics::default());
        store.observe(Arc::new(CommitSignal(commits.clone())));
        Ok(Server {
            app: Arc::new(App {
                stopping: tokio::sync::watch::channel(false).0,
                commits,
                feed: Default::default(),
                auth,
                engine: Arc::new(self.engine),
                writer: writer::Writer::start(
                    store.clone(),
                    self.limits.group_commit,
                    metrics.clone(),
                    self.cluster.clone(),
                ),
                cluster: self.cluster.map(|c| c.node),
                metrics,
                store,
                limits: self.limits,
                actions: self.actions,
                routes: self.routes,
            }),
        })
    }
}

/// Serves `listener` until `shutdown` completes, then drains in-flight
/// requests (see the module doc). Accept errors (such as running out of
/// file descriptors) are logged and retried, never fatal.
pub async fn run(listener: TcpListener, server: Server, shutdown: impl Future<Output = ()>) {
    let limits = server.app.limits.clone();
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_timeout);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small JSON answers: waiting for Nagle only adds latency.
        let _ = stream.set_nodelay(true);
        let server = server.clone();
        let service = service_fn(move |req| {
            let server = server.clone();
            async move { Ok::<_, Infallible>(server.handle(req).await) }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // A client that hangs up mid-request is not our error.
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    server.app.stopping.send_replace(true);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
    }
}

/// Runs a point read on the current worker thread. A read by `_id` is one
/// B-tree lookup on pages redb caches in memory (microseconds); measured,
/// the hop to the blocking pool (or `block_in_place`) cost several times the
/// read itself in thread switches. Anything that may scan stays on
/// [`blocking`]. A panic inside becomes a 500.
pub(crate) fn read_now<T>(f: impl FnOnce() -> ApiResult<T>) -> ApiResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            tracing::error!("storage read panicked");
            Err(ApiError::internal("the request failed inside the server"))
        }
    }
}

/// Runs storage work on the blocking pool. A panic inside becomes a 500
/// (and is a bug: storage promises none on any input).
pub(crate) async fn blocking<T, F>(f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> ApiResult<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "storage task failed");
            Err(ApiError::internal("the request failed inside the server"))
        }
    }
}
