//! The schema as JSON in backo's `_meta` shape (backo.md §6.4), which
//! front-end generators such as fronto read: `GET /<app>/_meta` for the
//! app, `POST /<app>/coll/<c>/_meta` for one collection's item tree.
//!
//! Every node carries backo's keys (`types`, `description`, `required`,
//! `union`, `constraints`, `default`, `transform`, `auto_set`, `exists`,
//! `rights`, `path`, and the type's own: `regexp`, `min`/`max`,
//! `sub_type`, `sub_scheme`, `collection`/`reverse`) plus refdb's (`type`,
//! `views`, `index`, `search`, `on_delete`). Rights are evaluated for the
//! caller: the collection's `{read, create, modify, delete}` (on the item's
//! root node, and on the collection in the app meta) and each field's
//! `{read, modify}` are booleans saying what this caller may do
//! (the schema's role lists are not shown). Rights depend on roles only,
//! so a draft item cannot change the answer; the POST body is still
//! checked to be JSON.

use hyper::{Response, StatusCode};
use refdb_storage::{Collection, Field, FieldType, Schema};
use serde_json::{Map, Value, json};

use crate::server::App;
use crate::server::auth::{Action, Caller};
use crate::server::body::{Body, json_response};
use crate::server::error::{ApiError, ApiResult};
use crate::server::request::Req;

pub fn app_meta(app: &App, caller: &Caller) -> ApiResult<Response<Body>> {
    let schema = app.schema();
    let colls: Vec<Value> = schema
        .collections()
        .map(|c| coll_json(schema, c, app, caller))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"name": schema.app, "collections": colls}),
    ))
}

/// The item tree of one collection; the body, if any, is a draft item.
pub async fn coll_meta(app: &App, c: &str, req: Req) -> ApiResult<Response<Body>> {
    let coll = app.collection(c)?;
    let caller = req.caller.clone();
    req.params(app, &[])?;
    match req.json(app).await? {
        None | Some(Value::Object(_)) => {}
        Some(_) => {
            return Err(
                ApiError::bad_request("bad_input", "the draft item must be an object").at("$"),
            );
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &item_json(app.schema(), coll, &caller),
    ))
}

/// The collection's rights, evaluated for the caller.
fn coll_rights(c: &Collection, caller: &Caller) -> Value {
    json!({
        "read": caller.may(c, Action::Read),
        "create": caller.may(c, Action::Create),
        "modify": caller.may(c, Action::Modify),
        "delete": caller.may(c, Action::Delete),
    })
}

fn coll_json(schema: &Schema, c: &Collection, app: &App, caller: &Caller) -> Value {
    let read = caller.may(c, Action::Read);
    let mut selections = vec![json!({"name": "_all", "selectors": null, "rights": {"read": read}})];
    selections.extend(c.selections.iter().map(|(name, s)| {
        json!({"name": name, "selectors": s.filter, "fields": s.fields, "rights": {"read": read}})
    }));
    let mut actions: Vec<Value> = app
        .actions
        .iter()
        .filter(|((coll, _), _)| *coll == c.name)
        .map(|((_, name), def)| {
            json!({"name": name, "types": ["Dict", "GenericType"], "sub_scheme": {},
                "params": def.params.clone().unwrap_or_else(|| json!({})),
                "rights": {"run": caller.check_action(c, name).is_ok()}})
        })
        .collect();
    actions.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    json!({
        "name": c.name,
        "item": item_json(schema, c, caller),
        "rights": coll_rights(c, caller),
        "actions": actions,
        "selections": selections,
    })
}

/// The item node: a Dict of `_id`, the declared fields, and `_meta`.
pub fn item_json(schema: &Schema, c: &Collection, caller: &Caller) -> Value {
    let mut sub = Map::new();
    sub.insert("_id".into(), {
        let mut n = node(&["String", "GenericType"], "string", "$._id");
        n.insert("required".into(), Value::Bool(true));
        n.insert("rights".into(), json!({"read": true, "modify": false}));
        Value::Object(n)
    });
    for f in c.fields.iter() {
        let mut n = field_json(schema, f, &format!("$.{}", f.name));
        if let Value::Object(m) = &mut n {
            m.insert(
                "rights".into(),
                json!({
                    "read": caller.may_read_field(c, &f.name),
                    "modify": caller.may_modify_field(c, &f.name),
                }),
            );
        }
        sub.insert(f.name.clone(), n);
    }
    sub.insert("_meta".into(), meta_field_json());
    let mut item = node(&["Dict", "GenericType"], "dict", "$");
    // The root carries the collection's rights, evaluated for the caller.
    item.insert("rights".into(), coll_rights(c, caller));
    item.insert("sub_scheme".into(), Value::Object(sub));
    Value::Object(item)
}

fn node(types: &[&str], ty: &str, path: &str) -> Map<String, Value> {
    let mut n = Map::new();
    n.insert("types".into(), json!(types));
    n.insert("type".into(), json!(ty));
    n.insert("description".into(), Value::Null);
    n.insert("required".into(), Value::Bool(false));
    n.insert("union".into(), Value::Null);
    n.insert("constraints".into(), json!([]));
    n.insert("default".into(), Value::Null);
    n.insert("transform".into(), Value::Null);
    n.insert("auto_set".into(), Value::Null);
    n.insert("exists".into(), Value::Bool(true));
    n.insert("rights".into(), json!({"read": true, "modify": true}));
    n.insert("path".into(), json!(path));
    n
}

fn type_names(ty: &FieldType) -> &'static [&'static str] {
    match ty {
        FieldType::String => &["String", "GenericType"],
        FieldType::Int => &["Int", "GenericType"],
        FieldType::Float => &["Float", "GenericType"],
        FieldType::Bool => &["Bool", "GenericType"],
        FieldType::Datetime => &["Datetime", "Extend", "GenericType"],
        FieldType::Any => &["Any", "GenericType"],
        FieldType::Dict(_) => &["Dict", "GenericType"],
        FieldType::List(_) => &["List", "GenericType"],
        FieldType::Ref(_) => &["Ref", "String", "GenericType"],
        FieldType::Refs(_) => &["RefsList", "List", "GenericType"],
    }
}

fn field_json(schema: &Schema, f: &Field, path: &str) -> Value {
    let mut n = node(type_names(&f.ty), f.ty.name(), path);
    n.insert("description".into(), json!(f.description));
    n.insert("required".into(), Value::Bool(f.required));
    n.insert("union".into(), json!(f.allowed));
    n.insert("default".into(), json!(f.default));
    n.insert("views".into(), json!(f.views));
    n.insert("index".into(), Value::Bool(f.index));
    n.insert("search".into(), Value::Bool(f.search));
    if f.min.is_some() || f.max.is_some() {
        n.insert("min".into(), json!(f.min));
        n.insert("max".into(), json!(f.max));
    }
    if let Some(re) = &f.regexp {
        n.insert("regexp".into(), json!(re.as_str()));
    }
    match &f.ty {
        FieldType::Dict(fields) => {
            let sub: Map<String, Value> = fields
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        field_json(schema, s, &format!("{path}.{}", s.name)),
                    )
                })
                .collect();
            n.insert("sub_scheme".into(), Value::Object(sub));
        }
        FieldType::List(of) => {
            n.insert(
                "sub_type".into(),
                field_json(schema, of, &format!("{path}[*]")),
            );
        }
        FieldType::Ref(spec) | FieldType::Refs(spec) => {
            n.insert("collection".into(), json!(spec.coll));
            n.insert(
                "reverse".into(),
                json!(spec.reverse.as_ref().map(|r| format!("$.{r}"))),
            );
            n.insert(
                "on_delete".into(),
                json!(f.delete_rule(schema).map(|r| r.as_str())),
            );
            n.insert("derived".into(), Value::Bool(spec.derived));
        }
        _ => {}
    }
    Value::Object(n)
}

/// `_meta`, maintained by the engine: read-only everywhere.
fn meta_field_json() -> Value {
    let ro = |types: &[&str], ty: &str, path: &str| {
        let mut n = node(types, ty, path);
        n.insert("rights".into(), json!({"read": true, "modify": false}));
        Value::Object(n)
    };
    let user = |path: &str| {
        let mut n = node(&["Dict", "GenericType"], "dict", path);
        n.insert("rights".into(), json!({"read": true, "modify": false}));
        n.insert(
            "sub_scheme".into(),
            json!({
                "_id": ro(&["String", "GenericType"], "string", &format!("{path}._id")),
                "login": ro(&["String", "GenericType"], "string", &format!("{path}.login")),
            }),
        );
        Value::Object(n)
    };
    let mut n = node(&["Dict", "GenericType"], "dict", "$._meta");
    n.insert("rights".into(), json!({"read": true, "modify": false}));
    n.insert(
        "sub_scheme".into(),
        json!({
            "ctime": ro(&["Datetime", "Extend", "GenericType"], "datetime", "$._meta.ctime"),
            "mtime": ro(&["Datetime", "Extend", "GenericType"], "datetime", "$._meta.mtime"),
            "created_by": user("$._meta.created_by"),
            "modified_by": user("$._meta.modified_by"),
        }),
    );
    Value::Object(n)
}
