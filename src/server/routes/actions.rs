//! `POST /<app>/coll/<c>/_actions/<name>/<id>`: runs an action that the
//! embedding program registered with [`crate::server::Builder::action`]
//! (see [`crate::server::action`]): the right is checked, the body is
//! checked against the declared parameters, and the action runs through
//! the writer in one transaction as the caller, answering 200 with its
//! value.

use hyper::{Response, StatusCode};
use refdb_storage::schema::validate::valid_id;

use crate::server::App;
use crate::server::action::ActionCall;
use crate::server::body::{Body, json_response};
use crate::server::error::{ApiError, ApiResult};
use crate::server::request::Req;

pub async fn run(app: &App, c: &str, name: &str, id: &str, req: Req) -> ApiResult<Response<Body>> {
    let coll = app.collection(c)?;
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
    req.caller.check_action(coll, name)?;
    if !valid_id(id) {
        return Err(ApiError::not_found(format!("{c}/{id} not found")));
    }
    req.params(app, &[])?;
    let caller = req.caller.clone();
    let params = action.check(req.json(app).await?)?;
    let (c, id) = (c.to_string(), id.to_string());
    let out = app
        .writer
        .write(caller.actor(), move |tx| {
            tx.get(&c, &id)?;
            let call = ActionCall {
                coll: &c,
                id: &id,
                params,
                caller: caller.0.as_ref(),
            };
            (action.run)(&call, tx)
        })
        .await?;
    Ok(json_response(StatusCode::OK, &out))
}
