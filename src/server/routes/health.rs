//! `GET /metrics` (Prometheus text), and `GET /_health/live` and
//! `GET /_health/ready`, for load balancers and orchestrators. Live: the process answers HTTP. Ready: the database file
//! is open (it is, while the server runs) and the derived indexes have
//! caught up — right after a start the full-text index is still being
//! built in the background; until it is, `$text` queries are exact but
//! slow, and `ready` answers 503 `not_ready` — and writes go through:
//! while a full or failing disk refuses them, `ready` is 503 too.

use hyper::{Response, StatusCode};
use serde_json::json;

use crate::server::App;
use crate::server::body::{Body, json_response, text_response};
use crate::server::error::{ApiError, ApiResult};
use crate::server::request::Req;

/// The metrics; with `auth` configured, only for an authenticated caller
/// (they tell document counts and traffic).
pub fn metrics(app: &App, req: &Req) -> ApiResult<Response<Body>> {
    if app.auth_enabled() && app.auth.resolve(req.headers())?.0.is_none() {
        return Err(ApiError::unauthorized(
            "the metrics need credentials when authentication is configured",
        ));
    }
    Ok(text_response(
        StatusCode::OK,
        "text/plain; version=0.0.4",
        crate::server::metrics::render(app),
    ))
}

pub fn check(app: &App, which: &str) -> ApiResult<Response<Body>> {
    match which {
        "live" => Ok(json_response(StatusCode::OK, &json!({"status": "live"}))),
        "ready" => {
            let lag = app.engine.text_lag();
            if let Some(f) = app.store.write_fault() {
                return Err(ApiError::not_ready(format!(
                    "writes have been failing for {:.0} s ({}): {}; reads go on",
                    f.since.elapsed().as_secs_f64(),
                    f.kind.as_str(),
                    f.message
                )));
            }
            let log = app.cluster.as_ref().map(|node| {
                json!({
                    "position": node.position(),
                    "log_last": node.log_last(),
                    "stale_ms": node.stale(std::time::Duration::ZERO)
                        .map_or(0, |d| d.as_millis() as u64),
                })
            });
            if let Some(why) = app.cluster.as_ref().and_then(|n| n.failure()) {
                return Err(ApiError::not_ready(format!(
                    "this node no longer follows the cluster's log: {why}"
                )));
            }
            if app.engine.caught_up() {
                let mut body = json!({"status": "ready", "text_lag": lag});
                if let Some(log) = log {
                    body["log"] = log;
                }
                Ok(json_response(StatusCode::OK, &body))
            } else {
                Err(ApiError::not_ready(format!(
                    "the full-text index is catching up: {lag} documents to index"
                )))
            }
        }
        other => Err(ApiError::unknown(
            "no_route",
            format!("no health check {other:?} (live, ready)"),
        )),
    }
}
