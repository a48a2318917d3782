//! Reading a schema file: strict parsing (an unknown option is an error,
//! as in backo's stricto) followed by the cross-collection checks that make
//! reference pairs trustworthy. Every error names the offending place with
//! a `$.collections.<c>.fields.<f>...` path.

use super::{Collection, Field, FieldType, Fields, OnDelete, RefSpec, Schema, Selection};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// A schema file that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SchemaError {
    pub path: String,
    pub message: String,
}

fn err<T>(path: &str, message: impl Into<String>) -> Result<T, SchemaError> {
    Err(SchemaError {
        path: path.to_string(),
        message: message.into(),
    })
}

/// Names of collections, fields and the app: the same alphabet as ids, so
/// they can be used in URLs and query strings without escaping.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !name.starts_with('_')
}

pub(super) fn load(value: &Value) -> Result<Schema, SchemaError> {
    let Some(root) = value.as_object() else {
        return err("$", "a schema is a JSON object");
    };
    for key in root.keys() {
        if !matches!(key.as_str(), "app" | "collections" | "description" | "auth") {
            return err(&format!("$.{key}"), "unknown schema option");
        }
    }
    let app = match root.get("app") {
        Some(Value::String(s)) if valid_name(s) => s.clone(),
        _ => return err("$.app", "app must be a name of A-Za-z0-9_- (1-64)"),
    };
    let Some(colls) = root.get("collections").and_then(Value::as_object) else {
        return err("$.collections", "collections must be an object");
    };
    let mut collections = Vec::new();
    for (name, spec) in colls {
        let path = format!("$.collections.{name}");
        if !valid_name(name) {
            return err(
                &path,
                "a collection name is 1-64 of A-Za-z0-9_- not starting with _",
            );
        }
        collections.push(load_collection(name, spec, &path)?);
    }
    let by_name: HashMap<String, usize> = collections
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), i))
        .collect();
    let auth = root.get("auth").map(super::auth::auth_config).transpose()?;
    let layout = layout(&collections);
    let mut schema = Schema {
        app,
        collections,
        by_name,
        auth,
        source: value.clone(),
        layout,
    };
    check_references(&mut schema)?;
    Ok(schema)
}

/// [`Schema::layout_fingerprint`]: each collection's name, then its
/// fields' names in declared order, collections by name.
fn layout(collections: &[Collection]) -> u64 {
    let mut sorted: Vec<&Collection> = collections.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut h = crate::hash::fnv(b"layout");
    for c in sorted {
        h = crate::hash::fnv_on(h, c.name.as_bytes());
        for f in c.fields.iter() {
            h = crate::hash::fnv_on(h, f.name.as_bytes());
        }
        h = crate::hash::fnv_on(h, b"");
    }
    h
}

fn load_collection(name: &str, spec: &Value, path: &str) -> Result<Collection, SchemaError> {
    let Some(obj) = spec.as_object() else {
        return err(path, "a collection is an object with `fields`");
    };
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "fields" | "selections" | "description" | "rights"
        ) {
            return err(&format!("{path}.{key}"), "unknown collection option");
        }
    }
    let fields_path = format!("{path}.fields");
    let Some(fields) = obj.get("fields").and_then(Value::as_object) else {
        return err(&fields_path, "fields must be an object");
    };
    let fields = load_fields(fields, &fields_path, true)?;
    let mut selections = BTreeMap::new();
    if let Some(sel) = obj.get("selections") {
        let sel_path = format!("{path}.selections");
        let Some(sel) = sel.as_object() else {
            return err(&sel_path, "selections must be an object");
        };
        for (sname, s) in sel {
            let p = format!("{sel_path}.{sname}");
            if !valid_name(sname) {
                return err(&p, "a selection name is 1-64 of A-Za-z0-9_-");
            }
            let filter = match s.get("filter") {
                None => String::new(),
                Some(Value::String(f)) => f.clone(),
                Some(_) => return err(&format!("{p}.filter"), "filter is a query string"),
            };
            let fields = match s.get("fields") {
                None => None,
                Some(Value::Array(a)) => Some(
                    a.iter()
                        .map(|v| v.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| SchemaError {
                            path: format!("{p}.fields"),
                            message: "fields is a list of field names".into(),
                        })?,
                ),
                Some(_) => return err(&format!("{p}.fields"), "fields is a list of field names"),
            };
            selections.insert(sname.clone(), Selection { filter, fields });
        }
    }
    let rights = match obj.get("rights") {
        None => Default::default(),
        Some(r) => super::auth::coll_rights(r, &format!("{path}.rights"))?,
    };
    Ok(Collection {
        name: name.to_string(),
        fields,
        selections,
        rights,
    })
}

fn load_fields(obj: &Map<String, Value>, path: &str, top: bool) -> Result<Fields, SchemaError> {
    let mut out = Vec::new();
    for (name, spec) in obj {
        let p = format!("{path}.{name}");
        if !valid_name(name) {
            return err(
                &p,
                "a field name is 1-64 of A-Za-z0-9_- not starting with _",
            );
        }
        out.push(load_field(name, spec, &p, top)?);
    }
    Ok(Fields(out))
}

const OPTIONS: &[&str] = &[
    "type",
    "required",
    "default",
    "in",
    "min",
    "max",
    "regexp",
    "description",
    "views",
    "index",
    "search",
    "of",
    "fields",
    "coll",
    "reverse",
    "on_delete",
    "rights",
];

fn load_field(name: &str, spec: &Value, path: &str, top: bool) -> Result<Field, SchemaError> {
    let Some(obj) = spec.as_object() else {
        return err(path, "a field is an object with a `type`");
    };
    for key in obj.keys() {
        if !OPTIONS.contains(&key.as_str()) {
            return err(&format!("{path}.{key}"), "unknown field option");
        }
    }
    let bool_opt = |key: &str| -> Result<bool, SchemaError> {
        match obj.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => err(&format!("{path}.{key}"), "must be true or false"),
        }
    };
    let ty_name = obj.get("type").and_then(Value::as_str).unwrap_or("");
    let ty =
        match ty_name {
            "string" => FieldType::String,
            "int" => FieldType::Int,
            "float" => FieldType::Float,
            "bool" => FieldType::Bool,
            "datetime" => FieldType::Datetime,
            "any" => FieldType::Any,
            "dict" => {
                let p = format!("{path}.fields");
                let Some(f) = obj.get("fields").and_then(Value::as_object) else {
                    return err(&p, "a dict declares its `fields`");
                };
                FieldType::Dict(load_fields(f, &p, false)?)
            }
            "list" => {
                let p = format!("{path}.of");
                let Some(of) = obj.get("of") else {
                    return err(&p, "a list declares the type of its elements in `of`");
                };
                FieldType::List(Box::new(load_field(name, of, &p, false)?))
            }
            "ref" | "refs" => {
                if !top {
                    return err(
                        path,
                        "references live in top-level fields only (not inside a dict or list)",
                    );
                }
                let coll = match obj.get("coll") {
                    Some(Value::String(c)) => c.clone(),
                    _ => {
                        return err(
                            &format!("{path}.coll"),
                            "a reference names its target `coll`",
                        );
                    }
                };
                let reverse = match obj.get("reverse") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(r)) => Some(r.clone()),
                    Some(_) => return err(&format!("{path}.reverse"), "reverse is a field name"),
                };
                let on_delete =
                    match obj.get("on_delete") {
                        None => None,
                        Some(v) => Some(v.as_str().and_then(OnDelete::parse).ok_or_else(|| {
                            SchemaError {
                                path: format!("{path}.on_delete"),
                                message: "on_delete is one of must_be_empty, cascade, unlink"
                                    .into(),
                            }
                        })?),
                    };
                let spec = RefSpec {
                    coll,
                    reverse,
                    on_delete,
                    derived: false,
                };
                if ty_name == "ref" {
                    FieldType::Ref(spec)
                } else {
                    FieldType::Refs(spec)
                }
            }
            _ => {
                return err(
                    &format!("{path}.type"),
                    "type is one of string, int, float, bool, datetime, dict, list, any, ref, refs",
                );
            }
        };
    // Options that belong to other types are refused rather than ignored:
    // a silently ignored `of` or `coll` is a schema bug waiting to happen.
    let misplaced = |key: &str, ok: bool| -> Result<(), SchemaError> {
        if obj.contains_key(key) && !ok {
            return err(
                &format!("{path}.{key}"),
                format!("not an option of a {ty_name} field"),
            );
        }
        Ok(())
    };
    let is_ref = matches!(ty, FieldType::Ref(_) | FieldType::Refs(_));
    misplaced("of", matches!(ty, FieldType::List(_)))?;
    misplaced("fields", matches!(ty, FieldType::Dict(_)))?;
    for k in ["coll", "reverse", "on_delete"] {
        misplaced(k, is_ref)?;
    }
    misplaced("regexp", matches!(ty, FieldType::String))?;
    let sized = matches!(
        ty,
        FieldType::String
            | FieldType::Int
            | FieldType::Float
            | FieldType::Datetime
            | FieldType::List(_)
    );
    misplaced("min", sized)?;
    misplaced("max", sized)?;

    let bound = |key: &str| -> Result<Option<f64>, SchemaError> {
        let p = format!("{path}.{key}");
        match (obj.get(key), &ty) {
            (None, _) => Ok(None),
            (Some(Value::String(s)), FieldType::Datetime) => {
                match super::validate::parse_datetime(s) {
                    Some(micros) => Ok(Some(micros as f64)),
                    None => err(&p, "a datetime bound is an RFC 3339 date-time"),
                }
            }
            (Some(Value::Number(n)), _) => Ok(n.as_f64()),
            _ => err(&p, "must be a number"),
        }
    };
    let min = bound("min")?;
    let max = bound("max")?;
    let regexp =
        match obj.get("regexp") {
            None => None,
            Some(Value::String(r)) => Some(regex::Regex::new(&format!("^(?:{r})$")).map_err(
                |e| SchemaError {
                    path: format!("{path}.regexp"),
                    message: format!("invalid regular expression: {e}"),
                },
            )?),
            Some(_) => return err(&format!("{path}.regexp"), "regexp is a string"),
        };
    let views = match obj.get("views") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| SchemaError {
                path: format!("{path}.views"),
                message: "views is a list of strings".into(),
            })?,
        Some(_) => return err(&format!("{path}.views"), "views is a list of strings"),
    };
    let allowed = match obj.get("in") {
        None => None,
        Some(Value::Array(a)) => Some(a.clone()),
        Some(_) => return err(&format!("{path}.in"), "in is a list of allowed values"),
    };
    let description = match obj.get("description") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return err(&format!("{path}.description"), "description is a string"),
    };
    let index = bool_opt("index")?;
    let search = bool_opt("search")?;
    let rights = match obj.get("rights") {
        None => Default::default(),
        Some(_) if !top => {
            return err(
                &format!("{path}.rights"),
                "rights apply to top-level fields only (a dict or list inherits its field's rights)",
            );
        }
        Some(r) => super::auth::field_rights(r, &format!("{path}.rights"))?,
    };
    if (index || search) && !top {
        return err(path, "index and search apply to top-level fields only");
    }
    let indexable = match &ty {
        FieldType::List(of) => matches!(
            of.ty,
            FieldType::String
                | FieldType::Int
                | FieldType::Float
                | FieldType::Bool
                | FieldType::Datetime
        ),
        t => matches!(
            t,
            FieldType::String
                | FieldType::Int
                | FieldType::Float
                | FieldType::Bool
                | FieldType::Datetime
        ),
    };
    if index && !indexable {
        return err(
            &format!("{path}.index"),
            "index applies to string, int, float, bool, datetime fields and lists of them",
        );
    }
    if search && !matches!(ty, FieldType::String) {
        return err(&format!("{path}.search"), "search applies to string fields");
    }
    let field = Field {
        name: name.to_string(),
        ty,
        required: bool_opt("required")?,
        default: obj.get("default").filter(|v| !v.is_null()).cloned(),
        allowed,
        min,
        max,
        regexp,
        description,
        views,
        index,
        search,
        rights,
    };
    if let Some(default) = &field.default {
        if is_ref {
            return err(
                &format!("{path}.default"),
                "a reference cannot have a default",
            );
        }
        let errors = super::validate::validate_value(&field, default, &format!("{path}.default"));
        if let Some(e) = errors.into_iter().next() {
            return err(&e.path, format!("the default is not valid: {}", e.message));
        }
    }
    Ok(field)
}

/// Checks every reference against its target collection and reverse field,
/// and marks the `refs` sides that are served from the reverse index.
fn check_references(schema: &mut Schema) -> Result<(), SchemaError> {
    let mut derived = Vec::new();
    for (ci, coll) in schema.collections.iter().enumerate() {
        for (fi, field) in coll.fields.iter().enumerate() {
            let Some(spec) = field.ty.ref_spec() else {
                continue;
            };
            let path = format!("$.collections.{}.fields.{}", coll.name, field.name);
            let Some(target) = schema.collection(&spec.coll) else {
                return err(
                    &format!("{path}.coll"),
                    format!("unknown collection \"{}\"", spec.coll),
                );
            };
            let Some(rev_name) = &spec.reverse else {
                continue;
            };
            let Some(partner) = target.fields.get(rev_name) else {
                return err(
                    &format!("{path}.reverse"),
                    format!("collection \"{}\" has no field \"{rev_name}\"", target.name),
                );
            };
            let Some(pspec) = partner.ty.ref_spec() else {
                return err(
                    &format!("{path}.reverse"),
                    format!("\"{}.{rev_name}\" is not a ref or refs field", target.name),
                );
            };
            if pspec.coll != coll.name || pspec.reverse.as_deref() != Some(field.name.as_str()) {
                return err(
                    &format!("{path}.reverse"),
                    format!(
                        "\"{}.{rev_name}\" does not mirror \"{}.{}\": its coll and reverse must point back",
                        target.name, coll.name, field.name
                    ),
                );
            }
            let is_ref = matches!(field.ty, FieldType::Ref(_));
            let partner_is_ref = matches!(partner.ty, FieldType::Ref(_));
            if is_ref && !partner_is_ref && spec.on_delete.is_some() {
                return err(
                    &format!("{path}.on_delete"),
                    format!(
                        "deleting a document that only references others needs no rule; \
                         set on_delete on \"{}.{rev_name}\"",
                        target.name
                    ),
                );
            }
            if !is_ref && partner_is_ref {
                if field.required {
                    return err(
                        &format!("{path}.required"),
                        "a refs list that mirrors a ref is filled by the other side and cannot be required",
                    );
                }
                derived.push((ci, fi));
            }
        }
    }
    for (ci, fi) in derived {
        if let FieldType::Refs(spec) = &mut schema.collections[ci].fields.0[fi].ty {
            spec.derived = true;
        }
    }
    Ok(())
}
