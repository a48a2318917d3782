//! `GET /<app>/openapi`: an OpenAPI 3.1 description of this app, generated
//! from the schema, so Swagger UI and client generators see exactly the
//! routes and document shapes this server serves.
//!
//! Per collection `C`: component schemas `C` (a stored document) and
//! `C_input` (what create/PUT accept: no `_meta`, derived lists optional),
//! and the paths of docs/API.md §4. Field types map to JSON Schema 2020-12
//! (datetimes as `format: date-time`; references as id strings, with
//! `x-refdb-ref` naming the target collection); a field that is not
//! required is also nullable.

use hyper::{Response, StatusCode};
use refdb_storage::{Collection, Field, FieldType};
use serde_json::{Map, Value, json};

use crate::server::App;
use crate::server::body::{Body, json_response};
use crate::server::error::ApiResult;

pub fn document(app: &App) -> ApiResult<Response<Body>> {
    Ok(json_response(StatusCode::OK, &describe(app)))
}

fn describe(app: &App) -> Value {
    let schema = app.schema();
    let base = format!("/{}", schema.app);
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for c in schema.collections() {
        schemas.insert(c.name.clone(), doc_schema(c));
        schemas.insert(format!("{}_input", c.name), input_schema(c));
        schemas.insert(format!("{}_list", c.name), list_schema(&c.name));
        collection_paths(app, &base, c, &mut paths);
    }
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message", "path"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                           "path": {"type": ["string", "null"]}}}}}),
    );
    schemas.insert(
        "Deleted".into(),
        json!({"type": "object", "properties": {
            "deleted": {"type": "array", "items": {"type": "string"}},
            "details": {"type": "array", "items": {"type": "object", "properties": {
                "coll": {"type": "string"}, "_id": {"type": "string"}}}}}}),
    );
    paths.insert(
        format!("{base}/_meta"),
        json!({"get": op("The schema in backo's _meta shape", None, ok_any())}),
    );
    paths.insert(
        format!("{base}/openapi"),
        json!({"get": op("This description", None, ok_any())}),
    );
    let feed = changes_op("The change feed of the app (records of readable collections)");
    paths.insert(format!("{base}/_changes"), json!({"get": feed}));
    paths.insert(
        "/_health/live".into(),
        json!({"get": op("The process answers", None, ok(&json!({"type": "object",
            "properties": {"status": {"const": "live"}}})))}),
    );
    let mut ready = op(
        "The derived indexes have caught up",
        None,
        ok(
            &json!({"type": "object", "properties": {"status": {"const": "ready"},
            "text_lag": {"type": "integer", "minimum": 0}}}),
        ),
    );
    ready["responses"]["503"] = json!({"$ref": "#/components/responses/Error"});
    paths.insert("/_health/ready".into(), json!({"get": ready}));
    paths.insert(
        format!("{base}/_batch"),
        json!({"post": op("Run create/update/patch/delete operations atomically",
            Some(json!({"type": "object", "required": ["ops"], "properties": {"ops": {"type": "array", "items": {"type": "object"}}}})),
            ok_any())}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": format!("refdb app {}", schema.app), "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {"Error": {"description": "An error (docs/API.md §7)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
        },
    })
}

fn collection_paths(app: &App, base: &str, c: &Collection, paths: &mut Map<String, Value>) {
    let name = &c.name;
    let doc_ref = json!({"$ref": format!("#/components/schemas/{name}")});
    let input_ref = json!({"$ref": format!("#/components/schemas/{name}_input")});
    let list_ref = json!({"$ref": format!("#/components/schemas/{name}_list")});
    let id_param =
        json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    let mut list = op(&format!("List {name}"), None, ok(&list_ref));
    list["parameters"] = list_params();
    let create = op(
        &format!("Create a {name} document"),
        Some(input_ref.clone()),
        ok(&doc_ref),
    );
    paths.insert(
        format!("{base}/coll/{name}/_changes"),
        json!({"get": changes_op(&format!("The change feed of {name}"))}),
    );
    paths.insert(
        format!("{base}/coll/{name}"),
        json!({"get": list, "post": create}),
    );
    let mut one = Map::new();
    one.insert("parameters".into(), json!([id_param]));
    one.insert(
        "get".into(),
        op("Read one document (ETag)", None, ok(&doc_ref)),
    );
    one.insert(
        "put".into(),
        op(
            "Merge fields into the document (If-Match)",
            Some(input_ref),
            ok(&doc_ref),
        ),
    );
    one.insert(
        "patch".into(),
        op(
            "Apply patch operations (If-Match)",
            Some(json!({"type": ["array", "object"]})),
            ok(&doc_ref),
        ),
    );
    one.insert(
        "delete".into(),
        op(
            "Delete, applying on_delete rules (?_dry_run=1 to preview)",
            None,
            ok(&json!({"$ref": "#/components/schemas/Deleted"})),
        ),
    );
    paths.insert(format!("{base}/coll/{name}/{{id}}"), Value::Object(one));
    paths.insert(
        format!("{base}/coll/{name}/_check"),
        json!({"post": op("Validate one field of a draft item",
            Some(json!({"type": "object", "required": ["path"], "properties": {"item": {"type": "object"}, "path": {"type": "string"}}})),
            ok(&json!({"type": "object", "properties": {"error": {"type": ["string", "null"]}}})))}),
    );
    paths.insert(
        format!("{base}/coll/{name}/_meta"),
        json!({"post": op("This collection's item tree", Some(json!({"type": "object"})), ok_any())}),
    );
    for s in c.selections.keys() {
        let get = op(&format!("Selection {s}"), None, ok(&list_ref));
        let post = op(
            &format!("Selection {s}, extra filter in the body"),
            Some(json!({"type": "object"})),
            ok(&list_ref),
        );
        paths.insert(
            format!("{base}/coll/{name}/_selections/{s}"),
            json!({"get": get, "post": post}),
        );
    }
    for ((_, a), def) in app.actions.iter().filter(|((coll, _), _)| coll == name) {
        // The declared parameters, as a document's input is described.
        let body = def.params_collection().map_or_else(
            || json!({"type": "object"}),
            |params| {
                let mut s = input_schema(params);
                if let Some(p) = s["properties"].as_object_mut() {
                    p.remove("_id");
                }
                s
            },
        );
        let mut post = op(&format!("Action {a}"), Some(body), ok_any());
        post["requestBody"]["required"] = json!(false);
        post["parameters"] = json!([id_param]);
        paths.insert(
            format!("{base}/coll/{name}/_actions/{a}/{{id}}"),
            json!({"post": post}),
        );
    }
}

fn op(summary: &str, body: Option<Value>, success: Value) -> Value {
    let mut o = json!({
        "summary": summary,
        "responses": {"200": success, "4XX": {"$ref": "#/components/responses/Error"}},
    });
    if let Some(schema) = body {
        o["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    o
}

/// A `_changes` route (docs/API.md §4): JSON, long poll, or events.
fn changes_op(summary: &str) -> Value {
    let p = |name: &str, schema: Value, desc: &str| json!({"name": name, "in": "query", "required": false, "schema": schema, "description": desc});
    let record = json!({"type": "object", "required": ["seq", "txn", "coll", "_id", "op"],
        "properties": {"seq": {"type": "integer", "minimum": 1}, "txn": {"type": "integer", "minimum": 1},
            "coll": {"type": "string"}, "_id": {"type": "string"},
            "op": {"enum": ["create", "update", "delete"]},
            "doc": {"type": ["object", "null"]}}});
    let mut o = op(
        summary,
        None,
        json!({"description": "OK", "content": {
            "application/json": {"schema": {"type": "object", "required": ["changes", "last_seq"],
                "properties": {"changes": {"type": "array", "items": record},
                    "last_seq": {"type": "integer", "minimum": 0}}}},
            "text/event-stream": {"schema": {"type": "string"}}}}),
    );
    o["parameters"] = json!([
        p("since", json!({"type": "string", "pattern": "^([0-9]+|now)$"}), "resume after this seq (0: the oldest kept; now: the end)"),
        p("limit", json!({"type": "integer", "minimum": 1}), "records at most (default 1000, capped by the server's page limit)"),
        p("include_docs", json!({"enum": ["0", "1", "true", "false", ""]}), "add each document after its change"),
        p("feed", json!({"enum": ["normal", "longpoll", "sse"]}), "longpoll: wait for the next commit; sse: a stream of events"),
        p("timeout", json!({"type": "integer", "minimum": 0}), "long poll wait in ms (default 25000)"),
        {"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "string"},
         "description": "events: resume after this seq"}
    ]);
    o["responses"]["410"] = json!({"$ref": "#/components/responses/Error"});
    o
}

fn ok(schema: &Value) -> Value {
    json!({"description": "OK", "content": {"application/json": {"schema": schema}}})
}

fn ok_any() -> Value {
    ok(&json!({}))
}

fn list_params() -> Value {
    let p = |name: &str, ty: &str, desc: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": ty}, "description": desc});
    json!([
        p("_page", "integer", "page size (default 10; 0 = no limit)"),
        p("_skip", "integer", "number of matches skipped"),
        p("_sort", "string", "f,-g: sort keys"),
        p("_view", "string", "view name (+NAME: only fields in NAME)"),
        p("_fields", "string", "a,b.c: return only these fields"),
        p(
            "_after",
            "string",
            "keyset continuation: the last _id of the previous page"
        ),
    ])
}

fn list_schema(name: &str) -> Value {
    json!({"type": "object", "properties": {
        "result": {"type": "array", "items": {"$ref": format!("#/components/schemas/{name}")}},
        "total": {"type": "integer"}, "_skip": {"type": "integer"}, "_page": {"type": "integer"}}})
}

fn doc_schema(c: &Collection) -> Value {
    let mut props = Map::new();
    props.insert("_id".into(), json!({"type": "string"}));
    for f in c.fields.iter() {
        props.insert(f.name.clone(), field_schema(f));
    }
    props.insert(
        "_meta".into(),
        json!({"type": "object", "readOnly": true, "properties": {
            "ctime": {"type": "string", "format": "date-time"}, "mtime": {"type": "string", "format": "date-time"},
            "created_by": {"type": "object"}, "modified_by": {"type": "object"}}}),
    );
    let required: Vec<&str> = ["_id"]
        .into_iter()
        .chain(c.fields.iter().map(|f| f.name.as_str()))
        .chain(["_meta"])
        .collect();
    json!({"type": "object", "properties": props, "required": required})
}

fn input_schema(c: &Collection) -> Value {
    let mut props = Map::new();
    props.insert(
        "_id".into(),
        json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}),
    );
    for f in c.fields.iter() {
        props.insert(f.name.clone(), field_schema(f));
    }
    let required: Vec<&str> = c
        .fields
        .iter()
        .filter(|f| f.required && f.default.is_none())
        .map(|f| f.name.as_str())
        .collect();
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

fn field_schema(f: &Field) -> Value {
    let mut s = Map::new();
    let ty = match &f.ty {
        FieldType::String => Some("string"),
        FieldType::Int => Some("integer"),
        FieldType::Float => Some("number"),
        FieldType::Bool => Some("boolean"),
        FieldType::Datetime => {
            s.insert("format".into(), json!("date-time"));
            Some("string")
        }
        FieldType::Any => None,
        FieldType::Dict(fields) => {
            let props: Map<String, Value> = fields
                .iter()
                .map(|sub| (sub.name.clone(), field_schema(sub)))
                .collect();
            s.insert("properties".into(), Value::Object(props));
            s.insert("additionalProperties".into(), Value::Bool(false));
            Some("object")
        }
        FieldType::List(of) => {
            s.insert("items".into(), field_schema(of));
            Some("array")
        }
        FieldType::Ref(spec) => {
            s.insert("x-refdb-ref".into(), json!(spec.coll));
            Some("string")
        }
        FieldType::Refs(spec) => {
            s.insert("items".into(), json!({"type": "string"}));
            s.insert("uniqueItems".into(), Value::Bool(true));
            s.insert("x-refdb-ref".into(), json!(spec.coll));
            Some("array")
        }
    };
    let (min_key, max_key) = match ty {
        Some("string") if matches!(f.ty, FieldType::String) => ("minLength", "maxLength"),
        Some("array") => ("minItems", "maxItems"),
        Some("integer" | "number") => ("minimum", "maximum"),
        _ => ("", ""),
    };
    if !min_key.is_empty() {
        if let Some(m) = f.min {
            s.insert(min_key.into(), json!(m));
        }
        if let Some(m) = f.max {
            s.insert(max_key.into(), json!(m));
        }
    }
    if let Some(re) = &f.regexp {
        s.insert("pattern".into(), json!(re.as_str()));
    }
    if let Some(allowed) = &f.allowed {
        s.insert("enum".into(), Value::Array(allowed.clone()));
    }
    if let Some(d) = &f.default {
        s.insert("default".into(), d.clone());
    }
    if let Some(d) = &f.description {
        s.insert("description".into(), json!(d));
    }
    if let Some(t) = ty {
        let nullable = !f.required && !matches!(f.ty, FieldType::Refs(_));
        s.insert(
            "type".into(),
            if nullable {
                json!([t, "null"])
            } else {
                json!(t)
            },
        );
    }
    Value::Object(s)
}
