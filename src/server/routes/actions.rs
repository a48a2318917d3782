//! `POST /<app>/coll/<c>/_actions/<name>/<id>`: runs an action that the
//! embedding program registered with [`crate::server::Builder::action`].
//!
//! The action runs on a blocking thread with the store, the id and the JSON
//! body (null when empty); it owns its transactions (so, unlike backo's, its
//! writes are as atomic as it makes them) and answers 200 with its value.
//! The document must exist when the action starts; an action may still
//! delete it. Calling an action needs the collection's `modify` right.

use hyper::{Response, StatusCode};
use refdb_storage::schema::validate::valid_id;
use serde_json::Value;

use crate::server::body::{Body, json_response};
use crate::server::error::{ApiError, ApiResult};
use crate::server::request::Req;
use crate::server::{App, blocking};

pub async fn run(app: &App, c: &str, name: &str, id: &str, req: Req) -> ApiResult<Response<Body>> {
    let coll = app.collection(c)?;
    // An action may change anything: it needs the modify right.
    req.caller
        .check(coll, crate::server::auth::Action::Modify)?;
    let action = app
        .actions
        .get(&(c.to_string(), name.to_string()))
        .cloned()
        .ok_or_else(|| {
            ApiError::unknown(
                "unknown_action",
                format!("collection {c:?} has no action {name:?}"),
            )
        })?;
    if !valid_id(id) {
        return Err(ApiError::not_found(format!("{c}/{id} not found")));
    }
    req.params(app, &[])?;
    let input = req.json(app).await?.unwrap_or(Value::Null);
    let (store, c, id) = (app.store.clone(), c.to_string(), id.to_string());
    let out = blocking(move || {
        store.get(&c, &id)?;
        action(&store, &id, input)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &out))
}
