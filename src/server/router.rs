//! The route table of docs/API.md §4: ONE match on (method, path segments), each
//! arm calling one small handler in [`super::routes`].
//!
//! Reserved segments (`_check`, `_meta`, `_changes`, `_selections`,
//! `_actions`) shadow
//! document ids only for the methods registered on them, as in backo:
//! `GET /<app>/coll/users/_meta` is a read of the document `_meta` (a 404
//! unless it exists). A path no arm knows is a 404; a known path with
//! another method is a 405 whose `Allow` header [`allowed`] computes, and a
//! test checks that every method it lists is routed.
//!
//! `/` and `/_admin/…` are the admin page's static files ([`admin`]).
//!
//! Credentials are resolved once, after the app is known and before any
//! handler runs; each handler checks the rights its route needs.

use hyper::{Method, Response};

use super::App;
use super::admin;
use super::body::Body;
use super::error::{ApiError, ApiResult};
use super::request::Req;
use super::routes::{actions, batch, changes, collection, document, health, meta, openapi};

pub async fn route(
    app: &App,
    req: hyper::Request<hyper::body::Incoming>,
) -> ApiResult<Response<Body>> {
    // The admin page is static and public: what it shows, it fetches from
    // the routes below with the user's credentials.
    if let Some(page) = admin::serve(
        &app.schema().app,
        req.method(),
        req.uri().path(),
        req.headers(),
    ) {
        return page;
    }
    let req = Req::new(req);
    let segs = req.segments()?;
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    // Health checks name no app and need no credentials: a load balancer
    // or an orchestrator asks them.
    let read = matches!(req.method(), &Method::GET | &Method::HEAD);
    match segs.as_slice() {
        ["_health", check] if read => return health::check(app, check),
        ["metrics"] if read => return health::metrics(app, &req),
        ["_health", _] | ["metrics"] => return Err(ApiError::method_not_allowed("GET")),
        _ => {}
    }
    let Some((&name, rest)) = segs.split_first() else {
        return Err(ApiError::unknown(
            "no_route",
            "no route at /: routes start with /<app>",
        ));
    };
    if name != app.schema().app {
        return Err(ApiError::unknown(
            "unknown_app",
            format!("unknown app {name:?}"),
        ));
    }
    let mut req = req;
    req.caller = app.auth.resolve(req.headers())?;
    use Method as M;
    // HEAD is GET without the body, which hyper leaves out for us.
    let method = match req.method() {
        &M::HEAD => M::GET,
        m => m.clone(),
    };
    match (method, rest) {
        (M::GET, ["_meta"]) => meta::app_meta(app, &req.caller),
        (M::GET, ["_changes"]) => changes::feed(app, None, req).await,
        (M::GET, ["coll", c, "_changes"]) => changes::feed(app, Some(c), req).await,
        (M::GET, ["openapi"]) => openapi::document(app),
        (M::POST, ["_batch"]) => batch::run(app, req).await,
        (M::GET, ["coll", c]) => collection::list(app, c, req).await,
        (M::POST, ["coll", c]) => collection::create(app, c, req).await,
        (M::POST, ["coll", c, "_check"]) => collection::check(app, c, req).await,
        (M::POST, ["coll", c, "_meta"]) => meta::coll_meta(app, c, req).await,
        (M::GET | M::POST, ["coll", c, "_selections", s]) => {
            collection::selection(app, c, s, req).await
        }
        (M::POST, ["coll", c, "_actions", a, id]) => actions::run(app, c, a, id, req).await,
        (M::GET, ["coll", c, id]) => document::read(app, c, id, req).await,
        (M::PUT, ["coll", c, id]) => document::update(app, c, id, req).await,
        (M::PATCH, ["coll", c, id]) => document::patch(app, c, id, req).await,
        (M::DELETE, ["coll", c, id]) => document::delete(app, c, id, req).await,
        (m, [name, more @ ..]) if app.routes.contains_key(&(m.clone(), name.to_string())) => {
            let f = app.routes[&(m, name.to_string())].clone();
            let rest: Vec<String> = more.iter().map(|s| s.to_string()).collect();
            program_route(app, f, rest, req).await
        }
        (_, rest) => {
            if let ["coll", c, ..] = rest {
                app.collection(c)?;
            }
            Err(match allowed(rest) {
                Some(allow) => ApiError::method_not_allowed(allow),
                None => ApiError::unknown("no_route", "no such route"),
            })
        }
    }
}

/// The methods a path (after `/<app>`) accepts, for a 405's `Allow`, or
/// `None` when no route has this shape.
pub fn allowed(rest: &[&str]) -> Option<&'static str> {
    Some(match rest {
        ["_meta"] | ["openapi"] | ["_changes"] => "GET",
        ["_batch"] => "POST",
        ["coll", _] | ["coll", _, "_selections", _] => "GET, POST",
        ["coll", _, "_actions", _, _] => "POST",
        // `_check`/`_meta` also name documents for the other methods.
        ["coll", _, "_check" | "_meta"] => "GET, POST, PUT, PATCH, DELETE",
        // `_changes` also names a document for the other methods.
        ["coll", _, "_changes"] => "GET, PUT, PATCH, DELETE",
        ["coll", _, _] => "GET, PUT, PATCH, DELETE",
        _ => return None,
    })
}

/// A route of the embedding program (see [`super::route`]).
async fn program_route(
    app: &App,
    f: std::sync::Arc<super::RouteFn>,
    rest: Vec<String>,
    req: Req,
) -> ApiResult<Response<Body>> {
    let caller = req.caller.clone();
    let query = req.raw_query().to_string();
    let body = req.json(app).await?;
    let (engine, store) = (app.engine.clone(), app.store.clone());
    let out = super::blocking(move || {
        f(&super::RouteCall {
            engine: &engine,
            store: &store,
            caller: &caller,
            rest: &rest,
            query: &query,
            body,
        })
    })
    .await?;
    Ok(super::body::json_response(hyper::StatusCode::OK, &out))
}
