//! A collection: list (`GET`, docs/API.md §5), create (`POST`), named
//! selections (`GET`/`POST …/_selections/<name>`) and one-field validation
//! (`POST …/_check`).
//!
//! Lists and selections run in the query engine on one snapshot; the
//! answer is `{"result":[…],"total":N,"_skip":S,"_page":P}` with an exact
//! `total`. A selection's POST body is a filter object in backo's shape:
//! `{"name": "x", "age.$gt": 30, "age": ["$lt", 50]}`, read as the same
//! `key=value` pairs as a query string (which it is ANDed with).
//!
//! `_check` is pure: it validates one value of a draft item against its
//! field's type and options (what a form does as the user types) and never
//! touches the database, so reference targets are not looked up.

use hyper::header::{HeaderValue, LOCATION};
use hyper::{Response, StatusCode};
use refdb_storage::patch::{PathSeg, format_path, parse_path};
use refdb_storage::schema::validate::{valid_id, validate_value};
use refdb_storage::{Field, FieldType};
use serde_json::{Map, Value, json};

use super::doc_response;
use crate::server::auth::Action;
use crate::server::body::{Body, json_bytes_response, json_response, kind};
use crate::server::error::{ApiError, ApiResult};
use crate::server::request::Req;
use crate::server::{App, blocking};

pub async fn list(app: &App, c: &str, req: Req) -> ApiResult<Response<Body>> {
    let coll = app.collection(c)?;
    req.caller.check(coll, Action::Read)?;
    let hidden = req.caller.hidden(coll);
    let query = refdb_query::parse(req.raw_query())?;
    let (engine, c) = (app.engine.clone(), c.to_string());
    let slow = app.limits.slow_query;
    let raw = req.raw_query().to_string();
    let page = blocking(move || {
        let started = std::time::Instant::now();
        let page = engine.list_json_as(&c, &query, &hidden)?;
        let took = started.elapsed();
        if slow.is_some_and(|s| took >= s) {
            // The plan says which indexes answered and what was scanned.
            let plan = engine.explain(&c, &query).unwrap_or_default();
            tracing::warn!(
                target: "refdb::slow_query",
                coll = c.as_str(),
                query = raw.as_str(),
                millis = took.as_millis() as u64,
                total = page.total,
                plan = plan.as_str(),
                "slow list query"
            );
        }
        Ok(page)
    })
    .await?;
    Ok(page_response(page))
}

pub async fn selection(app: &App, c: &str, name: &str, req: Req) -> ApiResult<Response<Body>> {
    let coll = app.collection(c)?;
    req.caller.check(coll, Action::Read)?;
    let hidden = req.caller.hidden(coll);
    let mut raw = req.raw_query().to_string();
    if req.method() == hyper::Method::POST {
        let filter = match req.json(app).await? {
            None => Map::new(),
            Some(Value::Object(m)) => m,
            Some(other) => {
                return Err(ApiError::bad_request(
                    "bad_input",
                    format!("a selection body is a filter object, got {}", kind(&other)),
                )
                .at("$"));
            }
        };
        for (key, value) in filter {
            check_filter_type(coll, &key, &value)?;
            let pair = filter_pair(&key, value)?;
            if !raw.is_empty() {
                raw.push('&');
            }
            raw.push_str(&pair);
        }
    }
    let query = refdb_query::parse(&raw)?;
    let (engine, c, name) = (app.engine.clone(), c.to_string(), name.to_string());
    let page = blocking(move || Ok(engine.selection_json_as(&c, &name, &query, &hidden)?)).await?;
    Ok(page_response(page))
}

/// `{"result":[…],"total":N,"_skip":S,"_page":P}` around the page's
/// documents, already JSON text.
fn page_response(page: refdb_query::JsonPage) -> Response<Body> {
    let mut body = Vec::with_capacity(page.result.len() + 64);
    body.extend_from_slice(b"{\"result\":");
    body.extend_from_slice(&page.result);
    body.extend_from_slice(
        format!(
            ",\"total\":{},\"_skip\":{},\"_page\":{}}}",
            page.total, page.skip, page.page
        )
        .as_bytes(),
    );
    json_bytes_response(StatusCode::OK, body)
}

/// A body filter's values are JSON of the field's type: a string for
/// string, datetime and reference fields and `_id`, a number for numbers,
/// a boolean for booleans (the operand of `$in`/`$nin`, a list of them).
fn check_filter_type(coll: &refdb_storage::Collection, key: &str, value: &Value) -> ApiResult<()> {
    use refdb_storage::FieldType as T;
    let expected = match coll.fields.get(key).map(|f| &f.ty) {
        None if key == "_id" => "a string",
        Some(T::String | T::Datetime | T::Ref(_)) => "a string",
        Some(T::Int | T::Float) => "a number",
        Some(T::Bool) => "a boolean",
        // Other fields (and unknown ones) are the query language's to judge.
        _ => return Ok(()),
    };
    let operand = match value {
        Value::Array(items) => match items.as_slice() {
            [Value::String(op), v] if op.starts_with('$') => v,
            _ => return Ok(()),
        },
        v => v,
    };
    let fits = |v: &Value| kind(v) == expected;
    let ok = match operand {
        Value::Array(list) => list.iter().all(fits),
        v => fits(v),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "bad_query",
            format!(
                "`{key}`: a filter value of this field is {expected}, got {}",
                kind(operand)
            ),
        )
        .at(format!("$.{key}")))
    }
}

/// One body filter entry as an encoded `key=value` pair: a scalar is
/// equality, `["$op", v]` an operator (a list operand, for `$in`/`$nin`,
/// becomes the comma list of the query language).
fn filter_pair(key: &str, value: Value) -> ApiResult<String> {
    let bad = || {
        ApiError::bad_request(
            "bad_query",
            format!("`{key}`: a filter value is a string, number, boolean or [\"$op\", value]"),
        )
        .at(format!("$.{key}"))
    };
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        // An integral float (`28.0`) is an integer to JSON Schema, so to
        // the query language too.
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                format!("{}", f as i64)
            }
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let (key, raw) = match &value {
        Value::Array(items) => match items.as_slice() {
            [Value::String(op), v] if op.starts_with('$') => {
                let raw = match v {
                    Value::Array(list) => list
                        .iter()
                        .map(scalar)
                        .collect::<Option<Vec<_>>>()
                        .map(|l| l.join(",")),
                    v => scalar(v),
                };
                (format!("{key}.{op}"), raw.ok_or_else(bad)?)
            }
            _ => return Err(bad()),
        },
        v => (key.to_string(), scalar(v).ok_or_else(bad)?),
    };
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    Ok(format!("{}={}", enc(&key), enc(&raw)))
}

pub async fn create(app: &App, c: &str, req: Req) -> ApiResult<Response<Body>> {
    let coll = app.collection(c)?;
    let caller = req.caller.clone();
    caller.check(coll, Action::Create)?;
    let params = req.params(app, &["_view"])?;
    let view = params.get("_view").map(str::to_string);
    let input = req.object(app).await?;
    caller.check_fields(coll, &input)?;
    let c2 = c.to_string();
    let doc = app
        .writer
        .write(caller.actor(), move |tx| {
            let id = tx.create(&c2, input)?;
            Ok(tx.get(&c2, &id)?)
        })
        .await?;
    let id = doc.get("_id").and_then(Value::as_str).unwrap_or_default();
    let location = format!("/{}/coll/{c}/{id}", app.schema().app);
    let hidden = caller.hidden(coll);
    let mut resp = doc_response(StatusCode::CREATED, coll, doc, view.as_deref(), &hidden);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(LOCATION, v);
    }
    Ok(resp)
}

/// `{"item": {…}, "path": "$.f"}` → `{"error": null | "message"}`.
pub async fn check(app: &App, c: &str, req: Req) -> ApiResult<Response<Body>> {
    let coll = app.collection(c)?;
    // A form checks a draft before creating or modifying; either right
    // lets it.
    if !req.caller.may(coll, Action::Create) && !req.caller.may(coll, Action::Modify) {
        req.caller.check(coll, Action::Create)?;
    }
    let caller = req.caller.clone();
    req.params(app, &[])?;
    let mut body = req.object(app).await?;
    let item = match body.shift_remove("item") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(ApiError::bad_request(
                "bad_input",
                format!("`item` must be an object, got {}", kind(&other)),
            )
            .at("$.item"));
        }
    };
    let Some(Value::String(path)) = body.get("path") else {
        return Err(ApiError::bad_request(
            "bad_input",
            "`path` must be a string such as \"$.name\"",
        )
        .at("$.path"));
    };
    let segs = parse_path(path).map_err(|m| ApiError::bad_request("bad_path", m).at("$.path"))?;
    let shown = format_path(&segs);
    let value = value_at(&item, &segs).unwrap_or(&Value::Null);
    let problems: Vec<String> = match segs.as_slice() {
        [PathSeg::Key(k)] if k == "_id" => match value {
            Value::Null => vec![],
            Value::String(s) if valid_id(s) => vec![],
            _ => vec!["an id is 1-64 of A-Za-z0-9_-".into()],
        },
        _ => {
            if let Some(PathSeg::Key(k)) = segs.first()
                && !caller.may_read_field(coll, k)
            {
                return Err(caller.field_denied(coll, k, "read").into());
            }
            let field = field_at(&coll.fields, &segs).ok_or_else(|| {
                ApiError::bad_request("unknown_field", format!("{shown}: no such field"))
                    .at(shown.clone())
            })?;
            validate_value(field, value, &shown)
                .into_iter()
                .map(|i| i.to_string())
                .collect()
        }
    };
    let error = if problems.is_empty() {
        Value::Null
    } else {
        Value::String(problems.join("; "))
    };
    Ok(json_response(StatusCode::OK, &json!({"error": error})))
}

/// The declared field a path leads to: dict members by name, list
/// elements by index.
fn field_at<'a>(fields: &'a refdb_storage::schema::Fields, segs: &[PathSeg]) -> Option<&'a Field> {
    let (PathSeg::Key(first), rest) = segs.split_first()? else {
        return None;
    };
    let mut field = fields.get(first)?;
    for seg in rest {
        field = match (&field.ty, seg) {
            (FieldType::Dict(sub), PathSeg::Key(k)) => sub.get(k)?,
            (FieldType::List(of), PathSeg::Index(_) | PathSeg::End) => of,
            _ => return None,
        };
    }
    Some(field)
}

fn value_at<'a>(item: &'a Map<String, Value>, segs: &[PathSeg]) -> Option<&'a Value> {
    let (PathSeg::Key(first), rest) = segs.split_first()? else {
        return None;
    };
    let mut v = item.get(first)?;
    for seg in rest {
        v = match (v, seg) {
            (Value::Object(m), PathSeg::Key(k)) => m.get(k)?,
            (Value::Array(a), PathSeg::Index(i)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}
