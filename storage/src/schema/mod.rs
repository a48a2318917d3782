//! The schema: which collections exist, which fields their documents hold,
//! and how references pair up.
//!
//! A [`Schema`] is immutable once loaded ([`Schema::from_json`] checks it
//! whole), so every other module may rely on its invariants:
//! - every `ref`/`refs` names an existing collection, and a `reverse` names
//!   a `ref`/`refs` field of that collection whose own `reverse` points back;
//! - references live only in top-level fields (never inside a dict or list),
//!   which keeps the reverse index keyed by (collection, field);
//! - `index`/`search` sit only on top-level fields of indexable types.
//!
//! Validation of documents against it lives in [`validate`]; who may read
//! and write what ([`auth`]: users, JWT settings, collection and field
//! rights) is declared in the same file.

pub mod auth;
mod load;
pub mod validate;
pub mod views;

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

pub use auth::{AuthConfig, CollRights, FieldRights, Roles};
pub use load::SchemaError;

/// What deleting a document does to the documents that reference it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// Refuse the delete while anything references the document.
    MustBeEmpty,
    /// Delete the referencing documents too, applying their own rules.
    Cascade,
    /// Remove the reference from the referencing documents.
    Unlink,
}

impl OnDelete {
    pub fn parse(s: &str) -> Option<OnDelete> {
        match s {
            "must_be_empty" => Some(OnDelete::MustBeEmpty),
            "cascade" => Some(OnDelete::Cascade),
            "unlink" => Some(OnDelete::Unlink),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OnDelete::MustBeEmpty => "must_be_empty",
            OnDelete::Cascade => "cascade",
            OnDelete::Unlink => "unlink",
        }
    }
}

/// A reference field's target and its place in a pair.
#[derive(Debug, Clone, PartialEq)]
pub struct RefSpec {
    /// The collection the ids point into.
    pub coll: String,
    /// The mirroring field on `coll`, if the reference is two-way.
    pub reverse: Option<String>,
    /// The rule as written in the schema file (see [`Field::delete_rule`]).
    pub on_delete: Option<OnDelete>,
    /// True for a `refs` field that mirrors a `ref`: its value is never
    /// stored in the document but read from the reverse-reference index, so
    /// 1M users pointing at one address never rewrite that address.
    pub derived: bool,
}

/// The type of a field, with what the type carries.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    String,
    Int,
    Float,
    Bool,
    Datetime,
    Any,
    Dict(Fields),
    List(Box<Field>),
    Ref(RefSpec),
    Refs(RefSpec),
}

impl FieldType {
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Bool => "bool",
            FieldType::Datetime => "datetime",
            FieldType::Any => "any",
            FieldType::Dict(_) => "dict",
            FieldType::List(_) => "list",
            FieldType::Ref(_) => "ref",
            FieldType::Refs(_) => "refs",
        }
    }

    /// The reference spec of a `ref` or `refs` field.
    pub fn ref_spec(&self) -> Option<&RefSpec> {
        match self {
            FieldType::Ref(r) | FieldType::Refs(r) => Some(r),
            _ => None,
        }
    }
}

/// One declared field.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    pub required: bool,
    pub default: Option<Value>,
    /// `in`: the allowed values (null is allowed unless required).
    pub allowed: Option<Vec<Value>>,
    /// `min`/`max`: value for numbers, microseconds since the epoch for
    /// datetimes, length in characters or elements for strings and lists.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// `regexp`, compiled anchored at both ends (it must match the whole string).
    pub regexp: Option<regex::Regex>,
    pub description: Option<String>,
    pub views: Vec<String>,
    pub index: bool,
    pub search: bool,
    /// `rights` (top-level fields only); undeclared rights allow everyone.
    pub rights: FieldRights,
}

/// Equality of what values must fit (rights left out, see [`Collection`]).
impl PartialEq for Field {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.ty == other.ty
            && self.required == other.required
            && self.default == other.default
            && self.allowed == other.allowed
            && self.min == other.min
            && self.max == other.max
            && self.regexp.as_ref().map(|r| r.as_str()) == other.regexp.as_ref().map(|r| r.as_str())
            && self.views == other.views
            && self.index == other.index
            && self.search == other.search
    }
}

impl Field {
    /// The effective rule applied to partners when a document holding this
    /// field is deleted, or `None` when deleting never needs a rule (a `ref`
    /// whose reverse is a `refs`: the edge simply disappears from the
    /// target's index-served list).
    ///
    /// One-way references are the exception: their rule sits on the
    /// referencing field and applies when the *target* is deleted; see
    /// [`Schema::one_way_referrers`].
    pub fn delete_rule(&self, schema: &Schema) -> Option<OnDelete> {
        let spec = self.ty.ref_spec()?;
        let reverse = spec.reverse.as_ref()?;
        let partner = schema.collection(&spec.coll)?.fields.get(reverse)?;
        match (&self.ty, &partner.ty) {
            (FieldType::Ref(_), FieldType::Refs(_)) => None,
            (FieldType::Ref(_), FieldType::Ref(_)) => {
                Some(spec.on_delete.unwrap_or(OnDelete::Unlink))
            }
            _ => Some(spec.on_delete.unwrap_or(OnDelete::MustBeEmpty)),
        }
    }

    /// True when the value is kept in the document itself (every field but a
    /// derived `refs`).
    pub fn is_stored(&self) -> bool {
        !matches!(&self.ty, FieldType::Refs(r) if r.derived)
    }
}

/// An ordered set of fields (file order is kept for `_meta` and output).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(Vec<Field>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.0.iter().find(|f| f.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Field> {
        self.0.iter()
    }

    /// The field at `position` in the declared order (derived fields
    /// included): stored rows name a field by its position.
    pub fn at(&self, position: usize) -> Option<&Field> {
        self.0.get(position)
    }

    /// The position of the field `name` in the declared order.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|f| f.name == name)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A named, stored query (`_selections/<name>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub filter: String,
    pub fields: Option<Vec<String>>,
}

/// One collection of documents.
#[derive(Debug, Clone)]
pub struct Collection {
    pub name: String,
    pub fields: Fields,
    pub selections: BTreeMap<String, Selection>,
    /// `rights`; undeclared rights allow everyone.
    pub rights: CollRights,
}

/// Equality of what documents must fit: rights (like `auth`, and unlike
/// fields) never make a stored document invalid, so a schema that only
/// changes them is applied without a migration.
impl PartialEq for Collection {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.fields == other.fields
            && self.selections == other.selections
    }
}

impl Collection {
    /// True when every field is kept in the document itself (no derived
    /// `refs` list, which is read from the reverse index).
    pub fn stores_every_field(&self) -> bool {
        self.fields.iter().all(Field::is_stored)
    }

    /// Top-level `ref`/`refs` fields.
    pub fn ref_fields(&self) -> impl Iterator<Item = (&Field, &RefSpec)> {
        self.fields
            .iter()
            .filter_map(|f| f.ty.ref_spec().map(|r| (f, r)))
    }
}

/// A loaded, checked schema.
#[derive(Debug, Clone)]
pub struct Schema {
    pub app: String,
    collections: Vec<Collection>,
    by_name: HashMap<String, usize>,
    /// The top-level `auth` object, if the file has one.
    pub auth: Option<AuthConfig>,
    /// The JSON the schema was loaded from, kept verbatim so that it can be
    /// stored in the database file and served back by `_meta`.
    source: Value,
    /// See [`Schema::layout_fingerprint`]: computed once, at load.
    layout: u64,
}

/// Equality of the data model (see [`Collection`]'s): `auth` and rights
/// are left out.
impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.app == other.app && self.collections == other.collections
    }
}

impl Schema {
    /// Parses and checks a schema file's JSON.
    pub fn from_json(value: &Value) -> Result<Schema, SchemaError> {
        load::load(value)
    }

    /// Parses and checks a schema file's text.
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        let value: Value = serde_json::from_str(text).map_err(|e| SchemaError {
            path: "$".into(),
            message: format!("schema is not valid JSON: {e}"),
        })?;
        Schema::from_json(&value)
    }

    /// A fingerprint of what stored rows depend on: each collection's
    /// fields, by name, in declared order (a row names a field by its
    /// position there, see `codec`). Stores whose schemas have the same
    /// layout read each other's rows; others must not exchange them.
    pub fn layout_fingerprint(&self) -> u64 {
        self.layout
    }

    /// The built-in demo schema (app `demo`: `users` ↔ `addrs`, as in the
    /// backo quick start) that a new database gets when none is given.
    pub fn demo() -> Schema {
        Schema::parse(DEMO_SCHEMA).expect("the demo schema is valid")
    }

    pub fn source(&self) -> &Value {
        &self.source
    }

    pub fn collection(&self, name: &str) -> Option<&Collection> {
        self.by_name.get(name).map(|&i| &self.collections[i])
    }

    pub fn collections(&self) -> impl Iterator<Item = &Collection> {
        self.collections.iter()
    }

    /// The mirroring field of a two-way reference field.
    pub fn partner(&self, spec: &RefSpec) -> Option<&Field> {
        self.collection(&spec.coll)?
            .fields
            .get(spec.reverse.as_deref()?)
    }

    /// One-way reference fields (no `reverse`) that point into `coll`, with
    /// their effective delete rule: these are the rules applied when a
    /// document of `coll` is deleted, besides its own fields' rules.
    pub fn one_way_referrers<'a>(
        &'a self,
        coll: &'a str,
    ) -> impl Iterator<Item = (&'a Collection, &'a Field, OnDelete)> + 'a {
        self.collections.iter().flat_map(move |c| {
            c.ref_fields().filter_map(move |(f, spec)| {
                if spec.coll == coll && spec.reverse.is_none() {
                    Some((c, f, spec.on_delete.unwrap_or(OnDelete::MustBeEmpty)))
                } else {
                    None
                }
            })
        })
    }
}

/// The demo schema: docs/API.md §2's example, trimmed to what a first-time user
/// needs to try references, indexes and search.
pub const DEMO_SCHEMA: &str = r#"{
  "app": "demo",
  "collections": {
    "users": {
      "fields": {
        "name":    {"type": "string", "required": true, "index": true, "search": true},
        "surname": {"type": "string", "search": true, "views": ["!short"]},
        "email":   {"type": "string", "search": true},
        "age":     {"type": "int", "min": 0, "max": 150, "index": true},
        "male":    {"type": "bool", "default": true, "index": true},
        "score":   {"type": "float"},
        "tags":    {"type": "list", "of": {"type": "string"}, "max": 20},
        "created": {"type": "datetime"},
        "info":    {"type": "dict", "fields": {"city": {"type": "string"}}},
        "addr":    {"type": "ref", "coll": "addrs", "reverse": "users"}
      },
      "selections": {"adults": {"filter": "age.$gte=18", "fields": ["name", "age"]}}
    },
    "addrs": {
      "fields": {
        "name":    {"type": "string"},
        "address": {"type": "string"},
        "city":    {"type": "string", "index": true},
        "users":   {"type": "refs", "coll": "users", "reverse": "addr",
                    "on_delete": "must_be_empty"}
      }
    }
  }
}"#;

/// The ids a stored reference value holds (a `ref` string or `refs` list).
pub(crate) fn targets_of(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}
