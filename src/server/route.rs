//! Routes of the embedding program, served beside the collection API at
//! `/<app>/<name>[/…]` (registered with [`crate::server::Builder::route`]):
//! the handler runs on the blocking pool with the engine and the store,
//! the caller, the path's further segments, the query string and the JSON
//! body, and answers 200 with the value it returns.
//!
//! Invariants: a route's name is never one of the API's own segments, so
//! it cannot shadow them (checked at build); a route reads as it likes but
//! writes through an action, which runs in the writer's transactions.

use refdb_query::Engine;
use refdb_storage::Store;
use serde_json::Value;

use super::auth::Caller;
use super::error::ApiResult;

/// What a program route is told about its request.
pub struct RouteCall<'a> {
    pub engine: &'a Engine,
    pub store: &'a Store,
    pub caller: &'a Caller,
    /// The path segments after `/<app>/<name>`.
    pub rest: &'a [String],
    /// The raw query string (empty when none).
    pub query: &'a str,
    /// The JSON body, when one was sent.
    pub body: Option<Value>,
}

/// A program route's handler.
pub type RouteFn = dyn Fn(&RouteCall<'_>) -> ApiResult<Value> + Send + Sync;

/// The first segments the API itself uses after `/<app>`.
pub const RESERVED: [&str; 5] = ["coll", "_meta", "_changes", "openapi", "_batch"];
