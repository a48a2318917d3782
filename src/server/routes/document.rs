//! One document: read (`GET`, with ETag and `If-None-Match`), merge
//! (`PUT`), patch (`PATCH`) and delete (`DELETE`, with `?_dry_run=1`).
//!
//! `If-Match` is checked inside the same write transaction as the change,
//! against the document as that transaction sees it, so no other write can
//! slip in between the check and the change (redb has one writer at a
//! time). A mismatch writes nothing and answers 412.

use hyper::header::{CONTENT_TYPE, ETAG};
use hyper::{Response, StatusCode};
use refdb_storage::schema::validate::valid_id;
use refdb_storage::{DeletePlan, Tx};
use serde_json::{Value, json};

use super::{
    deleted_json, doc_hash, doc_response, if_match_admits, none_match_hits, shows_whole,
    whole_doc_response,
};
use crate::server::auth::{Action, Caller};
use crate::server::body::{Body, json_response};
use crate::server::error::{ApiError, ApiResult};
use crate::server::request::Req;
use crate::server::{App, blocking, read_now};
use std::collections::HashSet;

/// A syntactically impossible id names no document: answer without a
/// storage call.
fn check_id(c: &str, id: &str) -> ApiResult<()> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("{c}/{id} not found")))
    }
}

pub async fn read(app: &App, c: &str, id: &str, req: Req) -> ApiResult<Response<Body>> {
    let coll = app.collection(c)?;
    req.caller.check(coll, Action::Read)?;
    let hidden = req.caller.hidden(coll);
    let params = req.params(app, &["_view"])?;
    let view = params.get("_view");
    check_id(c, id)?;
    let (store, c2, id2) = (app.store.clone(), c.to_string(), id.to_string());
    let mut resp = if shows_whole(coll, view, &hidden) {
        // The common case: the stored row transcoded straight to JSON.
        let json = read_now(move || Ok(store.get_json(&c2, &id2)?))?;
        whole_doc_response(StatusCode::OK, json, view)
    } else {
        let doc = read_now(move || Ok(store.get(&c2, &id2)?))?;
        doc_response(StatusCode::OK, coll, doc, view, &hidden)
    };
    let tag = resp.headers().get(ETAG).cloned();
    if let (Some(header), Some(tag)) = (req.if_none_match(), tag)
        && none_match_hits(&header, tag.to_str().unwrap_or_default())
    {
        // Same headers (ETag, Cache-Control), no body.
        *resp.body_mut() = Body::default();
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        resp.headers_mut().remove(CONTENT_TYPE);
    }
    Ok(resp)
}

/// Runs `change` on `c/id` in one write transaction (shared with other
/// requests by group commit), after checking `If-Match` (if sent) in that
/// same transaction; see the module doc.
async fn write_checked<T, F>(
    app: &App,
    caller: &Caller,
    (c, id): (&str, &str),
    if_match: Option<String>,
    change: F,
) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Tx<'_>, &str, &str) -> refdb_storage::Result<T> + Clone + Send + 'static,
{
    check_id(c, id)?;
    let hidden = caller.hidden(app.collection(c)?);
    let (c, id) = (c.to_string(), id.to_string());
    app.writer
        .write(caller.actor(), move |tx| {
            if let Some(header) = &if_match {
                let current = tx.get(&c, &id)?;
                if !if_match_admits(header, &doc_hash(&current, &hidden)) {
                    return Err(ApiError::precondition_failed());
                }
            }
            Ok(change(tx, &c, &id)?)
        })
        .await
}

pub async fn update(app: &App, c: &str, id: &str, req: Req) -> ApiResult<Response<Body>> {
    let coll = app.collection(c)?;
    let caller = req.caller.clone();
    caller.check(coll, Action::Modify)?;
    let params = req.params(app, &["_view"])?;
    let view = params.get("_view").map(str::to_string);
    let if_match = req.if_match();
    let input = req.object(app).await?;
    caller.check_fields(coll, &input)?;
    let doc = write_checked(app, &caller, (c, id), if_match, move |tx, c, id| {
        tx.update(c, id, input)?;
        tx.get(c, id)
    })
    .await?;
    let hidden = caller.hidden(coll);
    Ok(doc_response(
        StatusCode::OK,
        coll,
        doc,
        view.as_deref(),
        &hidden,
    ))
}

pub async fn patch(app: &App, c: &str, id: &str, req: Req) -> ApiResult<Response<Body>> {
    let coll = app.collection(c)?;
    let caller = req.caller.clone();
    caller.check(coll, Action::Modify)?;
    let params = req.params(app, &["_view"])?;
    let view = params.get("_view").map(str::to_string);
    let if_match = req.if_match();
    let body = req.json(app).await?.ok_or_else(|| {
        ApiError::bad_request(
            "bad_patch",
            "the body must be a patch operation or a list of them",
        )
        .at("$")
    })?;
    let ops = refdb_storage::patch::parse_patch(&body)?;
    caller.check_patch(coll, &ops)?;
    let doc = write_checked(app, &caller, (c, id), if_match, move |tx, c, id| {
        tx.patch(c, id, &ops)?;
        tx.get(c, id)
    })
    .await?;
    let hidden = caller.hidden(coll);
    Ok(doc_response(
        StatusCode::OK,
        coll,
        doc,
        view.as_deref(),
        &hidden,
    ))
}

pub async fn delete(app: &App, c: &str, id: &str, req: Req) -> ApiResult<Response<Body>> {
    let coll = app.collection(c)?;
    let caller = req.caller.clone();
    caller.check(coll, Action::Delete)?;
    let params = req.params(app, &["_dry_run"])?;
    let if_match = req.if_match();
    if params.flag("_dry_run")? {
        return dry_run(app, c, id, if_match, caller.hidden(coll)).await;
    }
    let deleted = write_checked(app, &caller, (c, id), if_match, |tx, c, id| {
        tx.delete(c, id)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &deleted_json(&deleted)))
}

/// What the delete would do, from one snapshot; writes nothing.
async fn dry_run(
    app: &App,
    c: &str,
    id: &str,
    if_match: Option<String>,
    hidden: HashSet<String>,
) -> ApiResult<Response<Body>> {
    check_id(c, id)?;
    let (store, c, id) = (app.store.clone(), c.to_string(), id.to_string());
    let plan = blocking(move || {
        let snap = store.read()?;
        if let Some(header) = &if_match
            && !if_match_admits(header, &doc_hash(&snap.get(&c, &id)?, &hidden))
        {
            return Err(ApiError::precondition_failed());
        }
        Ok(snap.plan_delete(&c, &id)?)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &plan_json(&plan)))
}

fn plan_json(plan: &DeletePlan) -> Value {
    let unlink = |u: &refdb_storage::Unlink| json!({"coll": u.coll, "_id": u.id, "field": u.field, "target": u.target});
    let mut out = deleted_json(&plan.deleted);
    let obj = out.as_object_mut().expect("an object");
    obj.insert("dry_run".into(), Value::Bool(true));
    obj.insert("allowed".into(), Value::Bool(plan.allowed()));
    obj.insert(
        "unlinked".into(),
        plan.unlinked.iter().map(unlink).collect(),
    );
    obj.insert(
        "blocked_by".into(),
        plan.blocked_by
            .iter()
            .map(|r| json!({"coll": r.coll, "_id": r.id, "field": r.field}))
            .collect(),
    );
    obj.insert(
        "required".into(),
        plan.required.iter().map(unlink).collect(),
    );
    out
}
