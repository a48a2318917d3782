//! Pure validation of values against fields: no I/O, no redb. Reference
//! *existence* is checked by the write transaction, which can see the
//! targets; here only their shape (an id, a list of distinct ids) is.
//!
//! Every function collects all problems rather than stopping at the first,
//! each with the `$.path` of the offending value, so a client can fix a
//! whole form at once.

use super::{Collection, Field, FieldType, Fields};
use crate::Invalid;
use serde_json::{Map, Value};

/// A `$.a.b[2]` path built only when an error needs its text: validating
/// a valid document allocates no path strings.
#[derive(Clone, Copy)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

#[derive(Clone, Copy)]
enum Seg<'a> {
    Root(&'a str),
    Key(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    fn root(text: &'a str) -> Path<'a> {
        Path {
            parent: None,
            seg: Seg::Root(text),
        }
    }
    fn key(&'a self, k: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Key(k),
        }
    }
    fn index(&'a self, i: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Index(i),
        }
    }
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(p) = self.parent {
            p.fmt(f)?;
        }
        match self.seg {
            Seg::Root(r) => f.write_str(r),
            Seg::Key(k) => write!(f, ".{k}"),
            Seg::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Parses an RFC 3339 date-time into microseconds since the Unix epoch.
pub fn parse_datetime(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_micros())
}

/// True when `id` is a valid document id: 1–64 of `A-Za-z0-9_-`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Deepest container nesting a document may have, itself counted as one:
/// the HTTP body parser's bound and a patch's ([`crate::patch::MAX_DEPTH`]),
/// so whatever the library stores, a client can read, send back and patch,
/// and every reader's recursion stays shallow.
pub const MAX_NESTING: usize = crate::patch::MAX_DEPTH;

/// The `$.path` of the first value of `doc` whose containers nest deeper
/// than [`MAX_NESTING`], if any. Walks without recursion, since a value
/// built in memory can be deeper than any stack; paths are only spelled
/// out for a document found too deep.
pub fn too_deep(doc: &Map<String, Value>) -> Option<String> {
    let mut stack: Vec<(&Value, usize)> = doc
        .values()
        .filter(|v| is_container(v))
        .map(|v| (v, 2))
        .collect();
    let mut found = false;
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_NESTING {
            found = true;
            break;
        }
        match v {
            Value::Array(a) => {
                stack.extend(a.iter().filter(|x| is_container(x)).map(|x| (x, depth + 1)))
            }
            Value::Object(m) => stack.extend(
                m.values()
                    .filter(|x| is_container(x))
                    .map(|x| (x, depth + 1)),
            ),
            _ => {}
        }
    }
    if !found {
        return None;
    }
    let mut stack: Vec<(&Value, usize, String)> = doc
        .iter()
        .filter(|(_, v)| is_container(v))
        .map(|(k, v)| (v, 2, format!("$.{k}")))
        .collect();
    while let Some((v, depth, path)) = stack.pop() {
        if depth > MAX_NESTING {
            return Some(path);
        }
        match v {
            Value::Array(a) => stack.extend(
                a.iter()
                    .enumerate()
                    .filter(|(_, x)| is_container(x))
                    .map(|(i, x)| (x, depth + 1, format!("{path}[{i}]"))),
            ),
            Value::Object(m) => stack.extend(
                m.iter()
                    .filter(|(_, x)| is_container(x))
                    .map(|(k, x)| (x, depth + 1, format!("{path}.{k}"))),
            ),
            _ => {}
        }
    }
    None
}

fn is_container(v: &Value) -> bool {
    matches!(v, Value::Array(_) | Value::Object(_))
}

/// Validates a whole stored document (without `_id`/`_meta`, which the
/// engine owns) against its collection: unknown fields, then every declared
/// stored field, a missing one counting as null.
pub fn validate_document(coll: &Collection, doc: &Map<String, Value>) -> Vec<Invalid> {
    let mut out = Vec::new();
    validate_fields(&coll.fields, doc, &Path::root("$"), true, &mut out);
    out
}

fn validate_fields(
    fields: &Fields,
    obj: &Map<String, Value>,
    path: &Path<'_>,
    top: bool,
    out: &mut Vec<Invalid>,
) {
    for key in obj.keys() {
        if top && (key == "_id" || key == "_meta") {
            continue;
        }
        match fields.get(key) {
            None => out.push(Invalid::new(path.key(key).to_string(), "unknown field")),
            Some(f) if !f.is_stored() => out.push(Invalid::new(
                path.key(key).to_string(),
                "this list is filled from the other side of the reference and is not stored",
            )),
            Some(_) => {}
        }
    }
    for field in fields.iter().filter(|f| f.is_stored()) {
        let value = obj.get(&field.name).unwrap_or(&Value::Null);
        check(field, value, &path.key(&field.name), out);
    }
}

/// Rewrites integral floats (`28.0`) of `int` fields as integers, at any
/// depth: JSON Schema, and so every client generated from the OpenAPI
/// document, counts `28.0` as an integer. Other values are left to the
/// validation.
pub fn normalize_ints(fields: &crate::schema::Fields, doc: &mut Map<String, Value>) {
    for f in fields.iter() {
        if let Some(v) = doc.get_mut(&f.name) {
            normalize_value(f, v);
        }
    }
}

fn normalize_value(field: &Field, value: &mut Value) {
    match (&field.ty, value) {
        (FieldType::Int, v @ Value::Number(_)) => {
            if let Some(f) = v.as_f64().filter(|_| !v.is_i64() && !v.is_u64())
                && f.fract() == 0.0
                && f >= i64::MIN as f64
                && f < i64::MAX as f64
            {
                *v = Value::from(f as i64);
            }
        }
        (FieldType::List(of), Value::Array(items)) => {
            items.iter_mut().for_each(|i| normalize_value(of, i));
        }
        (FieldType::Dict(fields), Value::Object(m)) => normalize_ints(fields, m),
        _ => {}
    }
}

/// Validates one value against one field, returning every problem.
pub fn validate_value(field: &Field, value: &Value, path: &str) -> Vec<Invalid> {
    let mut out = Vec::new();
    check(field, value, &Path::root(path), &mut out);
    out
}

fn check(field: &Field, value: &Value, path: &Path<'_>, out: &mut Vec<Invalid>) {
    if value.is_null() {
        let empty_list_required = matches!(field.ty, FieldType::Refs(_)) && field.required;
        if field.required || empty_list_required {
            out.push(Invalid::new(path.to_string(), "required: cannot be null"));
        }
        return;
    }
    if !check_type(field, value, path, out) {
        return;
    }
    if let Some(allowed) = &field.allowed
        && !allowed.iter().any(|a| json_equal(a, value))
    {
        out.push(Invalid::new(
            path.to_string(),
            format!(
                "not one of the allowed values {}",
                Value::Array(allowed.clone())
            ),
        ));
    }
    // The measured quantity that min/max bound, by type.
    let measure = match (&field.ty, value) {
        (FieldType::String, Value::String(s)) => Some((s.chars().count() as f64, "length")),
        (FieldType::List(_), Value::Array(a)) => Some((a.len() as f64, "length")),
        (FieldType::Refs(_), Value::Array(a)) => Some((a.len() as f64, "length")),
        (FieldType::Int | FieldType::Float, Value::Number(n)) => n.as_f64().map(|v| (v, "value")),
        (FieldType::Datetime, Value::String(s)) => parse_datetime(s).map(|m| (m as f64, "date")),
        _ => None,
    };
    if let Some((v, what)) = measure {
        if let Some(min) = field.min
            && v < min
        {
            out.push(Invalid::new(
                path.to_string(),
                format!("{what} is below the minimum {}", bound_text(field, min)),
            ));
        }
        if let Some(max) = field.max
            && v > max
        {
            out.push(Invalid::new(
                path.to_string(),
                format!("{what} is above the maximum {}", bound_text(field, max)),
            ));
        }
    }
    if let (Some(re), Value::String(s)) = (&field.regexp, value)
        && !re.is_match(s)
    {
        out.push(Invalid::new(
            path.to_string(),
            format!("does not match the pattern {}", re.as_str()),
        ));
    }
    if field.required
        && matches!(field.ty, FieldType::Refs(_))
        && value.as_array().is_some_and(Vec::is_empty)
    {
        out.push(Invalid::new(
            path.to_string(),
            "required: needs at least one reference",
        ));
    }
}

fn bound_text(field: &Field, bound: f64) -> String {
    if matches!(field.ty, FieldType::Datetime) {
        chrono::DateTime::from_timestamp_micros(bound as i64)
            .map(|d| d.to_rfc3339())
            .unwrap_or_else(|| bound.to_string())
    } else {
        bound.to_string()
    }
}

/// Checks the value's type (and its elements'); false when the value
/// itself has the wrong type, so its constraints cannot be checked.
fn check_type(field: &Field, value: &Value, path: &Path<'_>, out: &mut Vec<Invalid>) -> bool {
    let bad = |out: &mut Vec<Invalid>, expected: &str| {
        out.push(Invalid::new(
            path.to_string(),
            format!("expected {expected}, got {}", kind(value)),
        ));
        false
    };
    match (&field.ty, value) {
        (FieldType::Any, _) => {}
        (FieldType::String, Value::String(_)) => {}
        (FieldType::Int, Value::Number(n)) if n.is_i64() => {}
        (FieldType::Int, Value::Number(n)) if n.is_u64() => {
            out.push(Invalid::new(
                path.to_string(),
                "integer out of range (64-bit signed)",
            ));
            return false;
        }
        (FieldType::Int, _) => return bad(out, "an integer"),
        (FieldType::Float, Value::Number(_)) => {}
        (FieldType::Float, _) => return bad(out, "a number"),
        (FieldType::Bool, Value::Bool(_)) => {}
        (FieldType::Datetime, Value::String(s)) => {
            if parse_datetime(s).is_none() {
                out.push(Invalid::new(
                    path.to_string(),
                    "expected an RFC 3339 date-time such as 2024-05-01T12:00:00Z",
                ));
            }
        }
        (FieldType::Dict(fields), Value::Object(obj)) => {
            validate_fields(fields, obj, path, false, out)
        }
        (FieldType::List(of), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check(of, item, &path.index(i), out);
            }
        }
        (FieldType::Ref(_), Value::String(id)) => {
            if !valid_id(id) {
                out.push(Invalid::new(
                    path.to_string(),
                    "a reference is an id of 1-64 A-Za-z0-9_-",
                ));
            }
        }
        (FieldType::Refs(_), Value::Array(items)) => {
            let mut seen = std::collections::HashSet::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(id) if valid_id(id) => {
                        if !seen.insert(id) {
                            out.push(Invalid::new(
                                path.index(i).to_string(),
                                "duplicate reference",
                            ));
                        }
                    }
                    _ => out.push(Invalid::new(
                        path.index(i).to_string(),
                        "a reference is an id of 1-64 A-Za-z0-9_-",
                    )),
                }
            }
        }
        (t, _) => return bad(out, article(t.name())),
    }
    true
}

fn article(ty: &str) -> &'static str {
    match ty {
        "string" => "a string",
        "bool" => "a boolean",
        "datetime" => "a date-time string",
        "dict" => "an object",
        "list" => "a list",
        "ref" => "a reference id",
        "refs" => "a list of reference ids",
        _ => "a value",
    }
}

/// A short name of a JSON value's kind, for error messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// JSON equality where numbers compare by value (`1 == 1.0`), as a user
/// expects from `in` lists and PATCH `test`.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}
