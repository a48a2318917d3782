//! Schema-aware typing: which field a path names, what shape its values
//! have, how a raw query value becomes a typed [`Scalar`], and how a stored
//! JSON value is read as the same type.
//!
//! Invariants:
//! - a query value and a document value are only ever compared as the
//!   same [`ScalarTy`] (`age=30` is the int 30, `name=0123` the string
//!   "0123"), so comparisons agree with the order of
//!   [`refdb_storage::keys::encode_value`];
//! - a stored value that does not read as the field's type (which schema
//!   validation prevents) counts as missing, never as a match.

use refdb_storage::schema::validate::{parse_datetime, valid_id};
use refdb_storage::{Collection, Field, FieldType};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// The type of one comparable value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarTy {
    String,
    Int,
    Float,
    Bool,
    /// RFC 3339 on the wire, compared as microseconds since the epoch.
    Datetime,
    /// A document id (`_id`, `ref`/`refs` targets): a string of
    /// `A-Za-z0-9_-`.
    Id,
}

impl ScalarTy {
    pub fn name(self) -> &'static str {
        match self {
            ScalarTy::String => "string",
            ScalarTy::Int => "int",
            ScalarTy::Float => "float",
            ScalarTy::Bool => "bool",
            ScalarTy::Datetime => "datetime",
            ScalarTy::Id => "id",
        }
    }

    fn of(ty: &FieldType) -> Option<ScalarTy> {
        Some(match ty {
            FieldType::String => ScalarTy::String,
            FieldType::Int => ScalarTy::Int,
            FieldType::Float => ScalarTy::Float,
            FieldType::Bool => ScalarTy::Bool,
            FieldType::Datetime => ScalarTy::Datetime,
            FieldType::Ref(_) => ScalarTy::Id,
            _ => return None,
        })
    }
}

/// A typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Int(i64),
    /// Always finite.
    Float(f64),
    Bool(bool),
    /// Microseconds since the epoch.
    Time(i64),
}

impl Scalar {
    /// Orders two values of the same type; values of different types never
    /// meet (see the module invariant) and compare as equal-but-unmatched.
    pub fn cmp_same(&self, other: &Scalar) -> Option<Ordering> {
        match (self, other) {
            (Scalar::Str(a), Scalar::Str(b)) => Some(a.as_str().cmp(b.as_str())),
            (Scalar::Int(a), Scalar::Int(b)) => Some(a.cmp(b)),
            (Scalar::Float(a), Scalar::Float(b)) => a.partial_cmp(b),
            (Scalar::Bool(a), Scalar::Bool(b)) => Some(a.cmp(b)),
            (Scalar::Time(a), Scalar::Time(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The JSON form used to build index keys with
    /// [`refdb_storage::keys::encode_value`].
    pub fn to_json(&self) -> Value {
        match self {
            Scalar::Str(s) => Value::String(s.clone()),
            Scalar::Int(i) => Value::from(*i),
            Scalar::Float(f) => Value::from(*f),
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Time(t) => Value::String(
                chrono::DateTime::from_timestamp_micros(*t)
                    .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                    .unwrap_or_default(),
            ),
        }
    }
}

/// Reads a stored JSON value as `ty`; `None` for null or a misfit.
pub fn read_scalar(ty: ScalarTy, v: &Value) -> Option<Scalar> {
    match (ty, v) {
        (ScalarTy::String | ScalarTy::Id, Value::String(s)) => Some(Scalar::Str(s.clone())),
        (ScalarTy::Int, Value::Number(n)) => n.as_i64().map(Scalar::Int),
        (ScalarTy::Float, Value::Number(n)) => {
            // -0.0 and 0.0 are one value, as in the index keys.
            n.as_f64()
                .map(|f| Scalar::Float(if f == 0.0 { 0.0 } else { f }))
        }
        (ScalarTy::Bool, Value::Bool(b)) => Some(Scalar::Bool(*b)),
        (ScalarTy::Datetime, Value::String(s)) => parse_datetime(s).map(Scalar::Time),
        _ => None,
    }
}

/// Types a raw query value; `Err(expected)` says what was expected.
pub fn type_raw(ty: ScalarTy, raw: &str) -> Result<Scalar, &'static str> {
    match ty {
        ScalarTy::String => Ok(Scalar::Str(raw.to_string())),
        ScalarTy::Id if valid_id(raw) => Ok(Scalar::Str(raw.to_string())),
        ScalarTy::Id => Err("a document id (1-64 of A-Za-z0-9_-)"),
        ScalarTy::Int => raw
            .parse::<i64>()
            .map(Scalar::Int)
            .map_err(|_| "an integer"),
        ScalarTy::Float => match raw.parse::<f64>() {
            // `inf`/`NaN` parse as f64 but are no JSON number.
            Ok(f) if f.is_finite() && !raw.trim().is_empty() => {
                Ok(Scalar::Float(if f == 0.0 { 0.0 } else { f }))
            }
            _ => Err("a number"),
        },
        ScalarTy::Bool => match raw {
            "true" => Ok(Scalar::Bool(true)),
            "false" => Ok(Scalar::Bool(false)),
            _ => Err("true or false"),
        },
        ScalarTy::Datetime => parse_datetime(raw)
            .map(Scalar::Time)
            .ok_or("an RFC 3339 date-time such as 2024-05-01T12:00:00Z"),
    }
}

/// What values a path holds, as far as querying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One value (or null).
    Scalar(ScalarTy),
    /// A list of values; conditions hold when one element satisfies them.
    /// `refs` fields are lists of ids.
    List(ScalarTy),
    /// A dict, an `any`, a list of non-scalars: only `$exists` applies.
    Opaque,
}

/// A resolved path of a collection's documents.
#[derive(Debug, Clone)]
pub struct FieldRef {
    /// The path as segments (`["info", "city"]`, `["_id"]`).
    pub path: Vec<String>,
    pub shape: Shape,
    /// The schema type's name, for error messages.
    pub ty_name: &'static str,
    /// Top-level field with `index: true` (the in-memory value index).
    pub index: bool,
    /// Top-level string field with `search: true` (n-grams and values in
    /// memory).
    pub search: bool,
    /// A `ref`/`refs` field: its target collection, and whether its value
    /// lives in the document (false for a `refs` filled from the reverse
    /// index, which only materialized documents show).
    pub reference: Option<RefInfo>,
}

#[derive(Debug, Clone)]
pub struct RefInfo {
    pub target: String,
    /// The partner field on the target collection (for derived lists).
    pub reverse: Option<String>,
    pub stored: bool,
}

impl FieldRef {
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }

    pub fn is_id(&self) -> bool {
        self.path.len() == 1 && self.path[0] == "_id"
    }

    /// True when evaluating needs a materialized document (a derived
    /// `refs` list is not in the stored body).
    pub fn needs_materialized(&self) -> bool {
        self.reference.as_ref().is_some_and(|r| !r.stored)
    }
}

/// Resolves a filter or sort path against a collection. `_id` is a field;
/// `_meta.ctime`/`_meta.mtime` (datetimes) and `_meta.created_by._id` etc.
/// resolve only when `allow_meta` (sorting), since the parser refuses
/// `_`-prefixed filter keys.
pub fn resolve(coll: &Collection, path: &[String], allow_meta: bool) -> Option<FieldRef> {
    let plain = |shape, ty_name| FieldRef {
        path: path.to_vec(),
        shape,
        ty_name,
        index: false,
        search: false,
        reference: None,
    };
    let first = path.first()?;
    if first == "_id" {
        return (path.len() == 1).then(|| plain(Shape::Scalar(ScalarTy::Id), "id"));
    }
    if first == "_meta" {
        if !allow_meta {
            return None;
        }
        let rest: Vec<&str> = path[1..].iter().map(String::as_str).collect();
        return match rest.as_slice() {
            ["ctime"] | ["mtime"] => Some(plain(Shape::Scalar(ScalarTy::Datetime), "datetime")),
            ["created_by" | "modified_by", "_id" | "login"] => {
                Some(plain(Shape::Scalar(ScalarTy::String), "string"))
            }
            _ => None,
        };
    }
    let top = coll.fields.get(first)?;
    let mut field: &Field = top;
    for seg in &path[1..] {
        match &field.ty {
            FieldType::Dict(fields) => field = fields.get(seg)?,
            _ => return None,
        }
    }
    let shape = match &field.ty {
        FieldType::List(of) => match ScalarTy::of(&of.ty) {
            Some(t) if !matches!(of.ty, FieldType::Ref(_)) => Shape::List(t),
            _ => Shape::Opaque,
        },
        FieldType::Refs(_) => Shape::List(ScalarTy::Id),
        t => ScalarTy::of(t).map_or(Shape::Opaque, Shape::Scalar),
    };
    let top_level = path.len() == 1;
    Some(FieldRef {
        path: path.to_vec(),
        shape,
        ty_name: field.ty.name(),
        index: top_level && field.index,
        search: top_level && field.search,
        reference: field.ty.ref_spec().map(|s| RefInfo {
            target: s.coll.clone(),
            reverse: s.reverse.clone(),
            stored: field.is_stored(),
        }),
    })
}

/// The JSON value at `path` of a document (stored body or materialized);
/// `_id` comes from `id` since a stored body does not hold it.
pub fn lookup<'a>(
    doc: &'a Map<String, Value>,
    id: &'a Value,
    path: &[String],
) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    if first == "_id" {
        return Some(id);
    }
    let mut v = doc.get(first)?;
    for seg in rest {
        v = v.as_object()?.get(seg)?;
    }
    Some(v)
}

/// The values a document holds at a field, read as its type: none for
/// missing/null, one for a scalar, the non-null elements for a list.
pub fn values_of(field: &FieldRef, v: Option<&Value>) -> Vec<Scalar> {
    match (field.shape, v) {
        (_, None | Some(Value::Null)) => Vec::new(),
        (Shape::Scalar(t), Some(v)) => read_scalar(t, v).into_iter().collect(),
        (Shape::List(t), Some(Value::Array(items))) => {
            items.iter().filter_map(|x| read_scalar(t, x)).collect()
        }
        (Shape::List(_), Some(_)) => Vec::new(),
        (Shape::Opaque, Some(_)) => Vec::new(),
    }
}

/// Whether an opaque value (dict, any, list of non-scalars) is present:
/// not null, and for a list not empty.
pub fn opaque_present(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}
