//! Request bodies in, JSON responses out.
//!
//! A body is read only after its Content-Type is accepted (415 otherwise)
//! and only up to the configured limit (413 beyond it, checked against
//! `Content-Length` first so an honest oversize upload is refused before a
//! byte of it is buffered); a slow client gets 408. JSON is decoded by
//! serde_json, whose recursion limit (128) keeps hostile nesting from
//! overflowing the stack. Nothing here touches the database.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Map, Value};
use std::time::Duration;

use super::error::{ApiError, ApiResult};

/// Every response body: fully buffered (hyper sends `Content-Length`),
/// except a change feed's event stream.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::convert::Infallible>;

/// A JSON response with the given status.
pub fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    json_bytes_response(
        status,
        serde_json::to_vec(value).expect("a Value always serializes"),
    )
}

/// A response whose body is already-serialized JSON.
pub fn json_bytes_response(status: StatusCode, bytes: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(bytes)).boxed_unsync());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A text response (`/metrics`) with its content type.
pub fn text_response(
    status: StatusCode,
    content_type: &'static str,
    text: String,
) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(text)).boxed_unsync());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Accepts `application/json` (any parameters, any case) and the
/// `application/<x>+json` family (`merge-patch+json`, `json-patch+json`);
/// a missing Content-Type is read as JSON (docs/API.md §4).
pub fn check_content_type(headers: &HeaderMap) -> ApiResult<()> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or("");
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(text))
    }
}

/// Reads the whole body, at most `limit` bytes, within `timeout`.
pub async fn collect(
    headers: &HeaderMap,
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> ApiResult<Bytes> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await;
    match collected {
        Err(_) => Err(ApiError::request_timeout()),
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::too_large(limit)),
        // The connection broke mid-body; nobody will read the answer.
        Ok(Err(e)) => Err(ApiError::bad_request(
            "bad_body",
            format!("could not read the body: {e}"),
        )),
    }
}

/// Decodes a JSON body; an empty body is `None`. Beyond serde_json's own
/// recursion limit (128), values nested deeper than `max_depth` and
/// strings longer than `max_string` bytes are refused with their path, so
/// no single field can take the whole body allowance.
pub fn decode(bytes: &[u8], max_depth: usize, max_string: usize) -> ApiResult<Option<Value>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}")).at("$")
    })?;
    check_shape(&value, max_depth, max_string)?;
    Ok(Some(value))
}

/// Walks a value iteratively (no recursion on client-controlled depth).
/// Each value walked records its parent and its key or index there, so
/// the path of an offending value is written out only once one is found:
/// a path string per value would cost a body of a thousand documents
/// milliseconds.
fn check_shape(value: &Value, max_depth: usize, max_string: usize) -> ApiResult<()> {
    let mut steps: Vec<(usize, Step<'_>)> = vec![(0, Step::Root)];
    let mut stack: Vec<(&Value, usize, usize)> = vec![(value, 0, 0)];
    while let Some((v, depth, at)) = stack.pop() {
        if depth > max_depth {
            return Err(ApiError::bad_request(
                "too_deep",
                format!("values nest deeper than {max_depth} levels"),
            )
            .at(path_of(&steps, at)));
        }
        match v {
            Value::String(s) if s.len() > max_string => {
                return Err(ApiError::bad_request(
                    "too_long",
                    format!(
                        "a string of {} bytes is over the limit of {max_string}",
                        s.len()
                    ),
                )
                .at(path_of(&steps, at)));
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    steps.push((at, Step::Index(i)));
                    stack.push((item, depth + 1, steps.len() - 1));
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    if k.len() > max_string {
                        return Err(ApiError::bad_request(
                            "too_long",
                            "an object key is over the string limit",
                        )
                        .at(path_of(&steps, at)));
                    }
                    steps.push((at, Step::Key(k)));
                    stack.push((item, depth + 1, steps.len() - 1));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Where a walked value sits in its parent (see [`check_shape`]).
enum Step<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

/// The `$.path` of the value at `at` in `steps`.
fn path_of(steps: &[(usize, Step<'_>)], mut at: usize) -> String {
    let mut chain = Vec::new();
    while at != 0 {
        chain.push(&steps[at].1);
        at = steps[at].0;
    }
    let mut path = "$".to_string();
    for step in chain.into_iter().rev() {
        match step {
            Step::Key(k) => path.push_str(&format!(".{k}")),
            Step::Index(i) => path.push_str(&format!("[{i}]")),
            Step::Root => {}
        }
    }
    path
}

/// The body as a JSON object (documents, `_check`, `_batch`), required.
pub fn object(value: Option<Value>) -> ApiResult<Map<String, Value>> {
    match value {
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(ApiError::bad_request(
            "bad_input",
            format!("the body must be a JSON object, got {}", kind(&other)),
        )
        .at("$")),
        None => Err(ApiError::bad_request("bad_input", "the body must be a JSON object").at("$")),
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Refused exactly when a value nests deeper or a string or key is
    /// longer than the limits, as a recursive measure finds.
    #[test]
    fn refuses_exactly_what_breaks_a_limit() {
        // (depth, longest string or key) of a value.
        fn measure(v: &Value) -> (usize, usize) {
            match v {
                Value::String(s) => (0, s.len()),
                Value::Array(items) => items
                    .iter()
                    .map(measure)
                    .fold((0, 0), |(d, l), (id, il)| (d.max(id + 1), l.max(il))),
                Value::Object(map) => map.iter().fold((0, 0), |(d, l), (k, item)| {
                    let (id, il) = measure(item);
                    (d.max(id + 1), l.max(il).max(k.len()))
                }),
                _ => (0, 0),
            }
        }
        let values = [
            json!({"a": "xyz", "b": [1, [2, [3]]]}),
            json!({"abcd": 1}),
            json!([[[["deep"]]]]),
            json!({"a": {"b": {"c": "toolong"}}}),
            json!("four"),
            json!([]),
        ];
        for v in &values {
            let (deepest, longest) = measure(v);
            for depth in 0..5 {
                for len in 2..6 {
                    let within = deepest <= depth && longest <= len;
                    assert_eq!(
                        check_shape(v, depth, len).is_ok(),
                        within,
                        "{v} {depth} {len}"
                    );
                }
            }
        }
        let err = check_shape(&json!({"a": [{"b": "toolong"}]}), 9, 3).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("$.a[0].b"));
    }
}
