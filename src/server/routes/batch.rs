//! `POST /<app>/_batch`: `{"ops":[…]}` run in one transaction, all or
//! nothing (docs/API.md §4), answering `{"results":[…]}` in order.
//! `?_dry_run=1` runs the whole batch, every check and on-delete rule
//! included, answers what it would return, and undoes it.
//!
//! Every operation's shape is checked before the transaction starts, so a
//! malformed op at index 7 costs no write. Whatever fails, the error's
//! `path` starts with `$.ops[i]` naming the failing operation (then `.doc…`
//! for the field of a create/update, `.patch[j]…` for a malformed patch).
//!
//! Rights are checked per operation before the transaction, as the single
//! routes check them (create, modify, delete; field rights), so a refused
//! op at index 7 writes nothing; returned documents hide the fields the
//! caller may not read. Documents removed by a `cascade` rule are the
//! schema's decision and need no right of their own.

use hyper::{Response, StatusCode};
use refdb_storage::{BatchOp, BatchResult};
use serde_json::{Map, Value};

use super::deleted_json;
use crate::server::App;
use crate::server::auth::{Action, Caller, hide};
use crate::server::body::{Body, json_response, kind};
use crate::server::error::{ApiError, ApiResult};
use crate::server::request::Req;

pub async fn run(app: &App, req: Req) -> ApiResult<Response<Body>> {
    let dry_run = req.params(app, &["_dry_run"])?.flag("_dry_run")?;
    let caller = req.caller.clone();
    let mut body = req.object(app).await?;
    let ops = match body.shift_remove("ops") {
        Some(Value::Array(ops)) => ops,
        _ => {
            return Err(
                ApiError::bad_request("bad_input", "`ops` must be a list of operations")
                    .at("$.ops"),
            );
        }
    };
    if let Some(k) = body.keys().next() {
        return Err(ApiError::bad_request(
            "bad_input",
            format!("unknown key `{k}`: a batch is {{\"ops\": […]}}"),
        )
        .at(format!("$.{k}")));
    }
    if ops.len() > app.limits.max_batch_ops {
        return Err(ApiError::bad_request(
            "batch_too_large",
            format!(
                "{} operations, at most {} per batch",
                ops.len(),
                app.limits.max_batch_ops
            ),
        )
        .at("$.ops"));
    }
    let mut parsed = Vec::with_capacity(ops.len());
    for (i, op) in ops.into_iter().enumerate() {
        let op = parse_op(op).map_err(|e| e.within(&format!("$.ops[{i}]")))?;
        check_op(app, &caller, &op).map_err(|e| e.within(&format!("$.ops[{i}]")))?;
        parsed.push(op);
    }
    // The collection of each op, to hide fields in its result.
    let colls: Vec<String> = parsed
        .iter()
        .map(|op| match op {
            BatchOp::Create { coll, .. }
            | BatchOp::Update { coll, .. }
            | BatchOp::Patch { coll, .. }
            | BatchOp::Delete { coll, .. } => coll.clone(),
        })
        .collect();
    // Where a failing op's own error path goes inside it.
    let inner: Vec<&'static str> = parsed
        .iter()
        .map(|op| match op {
            BatchOp::Create { .. } | BatchOp::Update { .. } => ".doc",
            _ => "",
        })
        .collect();
    let batch = move |tx: &mut refdb_storage::Tx<'_>| {
        tx.batch(parsed).map_err(|(i, e)| {
            let err = ApiError::from(e);
            match err.path {
                Some(_) => err.within(&format!("$.ops[{i}]{}", inner[i])),
                None => err.within(&format!("$.ops[{i}]")),
            }
        })
    };
    let results = if dry_run {
        app.writer.rehearse(caller.actor(), batch).await?
    } else {
        app.writer.write(caller.actor(), batch).await?
    };
    let results: Vec<Value> = results
        .into_iter()
        .zip(&colls)
        .map(|(r, c)| match r {
            BatchResult::Doc(mut d) => {
                if let Some(coll) = app.schema().collection(c) {
                    hide(&mut d, &caller.hidden(coll));
                }
                Value::Object(d)
            }
            BatchResult::Deleted(d) => deleted_json(&d),
        })
        .collect();
    // Built as a map, not with `json!`, which would copy every document
    // through `to_value`.
    let mut body = Map::new();
    body.insert("results".into(), Value::Array(results));
    if dry_run {
        body.insert("dry_run".into(), Value::Bool(true));
    }
    Ok(json_response(StatusCode::OK, &Value::Object(body)))
}

/// The rights one operation needs (an unknown collection is left to
/// storage's 404); errors have paths relative to the op (`$.doc.f`).
fn check_op(app: &App, caller: &Caller, op: &BatchOp) -> ApiResult<()> {
    let (coll, action) = match op {
        BatchOp::Create { coll, .. } => (coll, Action::Create),
        BatchOp::Update { coll, .. } | BatchOp::Patch { coll, .. } => (coll, Action::Modify),
        BatchOp::Delete { coll, .. } => (coll, Action::Delete),
    };
    let Some(c) = app.schema().collection(coll) else {
        return Ok(());
    };
    caller.check(c, action)?;
    match op {
        BatchOp::Create { doc, .. } | BatchOp::Update { doc, .. } => caller
            .check_fields(c, doc)
            .map_err(|e| ApiError::from(e).within("$.doc")),
        BatchOp::Patch { patch, .. } => Ok(caller.check_patch(c, patch)?),
        BatchOp::Delete { .. } => Ok(()),
    }
}

/// One operation object; errors have paths relative to it (`$.doc`).
fn parse_op(op: Value) -> ApiResult<BatchOp> {
    let Value::Object(mut op) = op else {
        return Err(ApiError::bad_request(
            "bad_input",
            format!("an operation is an object, got {}", kind(&op)),
        )
        .at("$"));
    };
    let name = take_string(&mut op, "op")?;
    let coll = take_string(&mut op, "coll")?;
    let parsed = match name.as_str() {
        "create" => BatchOp::Create {
            coll,
            doc: take_object(&mut op, "doc")?,
        },
        "update" => BatchOp::Update {
            coll,
            id: take_string(&mut op, "id")?,
            doc: take_object(&mut op, "doc")?,
        },
        "patch" => {
            let id = take_string(&mut op, "id")?;
            let body = op.shift_remove("patch").unwrap_or(Value::Null);
            let patch = refdb_storage::patch::parse_patch(&body)
                .map_err(|e| ApiError::from(e).within("$.patch"))?;
            BatchOp::Patch { coll, id, patch }
        }
        "delete" => BatchOp::Delete {
            coll,
            id: take_string(&mut op, "id")?,
        },
        other => {
            return Err(ApiError::bad_request(
                "bad_input",
                format!("unknown op `{other}`: expected create, update, patch or delete"),
            )
            .at("$.op"));
        }
    };
    match op.keys().next() {
        Some(k) => Err(ApiError::bad_request(
            "bad_input",
            format!("unknown key `{k}` in a {name} operation"),
        )
        .at(format!("$.{k}"))),
        None => Ok(parsed),
    }
}

fn take_string(op: &mut Map<String, Value>, key: &str) -> ApiResult<String> {
    match op.shift_remove(key) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(
            ApiError::bad_request("bad_input", format!("`{key}` must be a string"))
                .at(format!("$.{key}")),
        ),
    }
}

fn take_object(op: &mut Map<String, Value>, key: &str) -> ApiResult<Map<String, Value>> {
    match op.shift_remove(key) {
        Some(Value::Object(m)) => Ok(m),
        _ => Err(
            ApiError::bad_request("bad_input", format!("`{key}` must be an object"))
                .at(format!("$.{key}")),
        ),
    }
}
