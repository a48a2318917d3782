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

/// What the server takes as a document id or a reference.
const ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";

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
        schemas.insert(format!("{}_update", c.name), update_schema(c));
        schemas.insert(format!("{}_list", c.name), list_schema(c));
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
    let mut batch = op(
        "Run create/update/patch/delete operations atomically (?_dry_run=1: run, answer, undo)",
        Some(batch_schema(schema)),
        ok_any(),
    );
    batch["parameters"] = json!([dry_run_param()]);
    paths.insert(format!("{base}/_batch"), json!({"post": batch}));
    // Stable operation ids (`get_demo_coll_users`), for client generators
    // and tools that select operations.
    for (path, item) in paths.iter_mut() {
        let stem: String = path
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if let Value::Object(ops) = item {
            for (method, o) in ops.iter_mut().filter(|(m, _)| *m != "parameters") {
                o["operationId"] = json!(format!("{method}{}", stem.trim_end_matches('_')));
            }
        }
    }
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
    let id_param = json!({"name": "id", "in": "path", "required": true,
        "schema": {"type": "string", "pattern": ID_PATTERN}});
    let mut list = op(&format!("List {name}"), None, ok(&list_ref));
    list["parameters"] = list_params(c);
    let mut create = op(
        &format!("Create a {name} document"),
        Some(input_ref),
        ok_any(),
    );
    create["responses"] =
        json!({"201": ok(&doc_ref), "4XX": {"$ref": "#/components/responses/Error"}});
    paths.insert(
        format!("{base}/coll/{name}"),
        json!({"get": list, "post": create}),
    );
    // The document routes; `_check`, `_meta` and `_changes` are also
    // document ids for the methods their own routes do not take.
    let doc_ops = |only: &[&str]| -> Map<String, Value> {
        let mut ops = Map::new();
        let mut add = |m: &str, o: Value| {
            if only.contains(&m) {
                ops.insert(m.into(), o);
            }
        };
        add("get", op("Read one document (ETag)", None, ok(&doc_ref)));
        add(
            "put",
            op(
                "Merge fields into the document (If-Match)",
                Some(json!({"$ref": format!("#/components/schemas/{name}_update")})),
                ok(&doc_ref),
            ),
        );
        add(
            "patch",
            op(
                "Apply JSON Patch operations (If-Match)",
                Some(patch_op_schema(c)),
                ok(&doc_ref),
            ),
        );
        let mut delete = op(
            "Delete, applying on_delete rules (?_dry_run=1 to preview)",
            None,
            ok(&json!({"$ref": "#/components/schemas/Deleted"})),
        );
        delete["parameters"] = json!([dry_run_param()]);
        add("delete", delete);
        ops
    };
    let mut one = doc_ops(&["get", "put", "patch", "delete"]);
    one.insert("parameters".into(), json!([id_param]));
    paths.insert(format!("{base}/coll/{name}/{{id}}"), Value::Object(one));
    let mut feed = doc_ops(&["put", "patch", "delete"]);
    feed.insert(
        "get".into(),
        changes_op(&format!("The change feed of {name}")),
    );
    paths.insert(format!("{base}/coll/{name}/_changes"), Value::Object(feed));
    let mut check = doc_ops(&["get", "put", "patch", "delete"]);
    check.insert(
        "post".into(),
        op(
            "Validate one field of a draft item",
            Some(
                json!({"type": "object", "required": ["path"], "properties": {
                "item": {"type": ["object", "null"]},
                "path": {"type": "string", "pattern": check_path_pattern(c)}}}),
            ),
            ok(&json!({"type": "object", "properties": {"error": {"type": ["string", "null"]}}})),
        ),
    );
    paths.insert(format!("{base}/coll/{name}/_check"), Value::Object(check));
    let mut meta = doc_ops(&["get", "put", "patch", "delete"]);
    let mut tree = op(
        "This collection's item tree",
        Some(json!({"type": "object"})),
        ok_any(),
    );
    tree["requestBody"]["required"] = json!(false);
    meta.insert("post".into(), tree);
    paths.insert(format!("{base}/coll/{name}/_meta"), Value::Object(meta));
    for (s, sel) in &c.selections {
        let fields = sel.fields.clone().unwrap_or_default();
        let listed = ok(&selection_list_schema(c, &fields));
        let get = op(&format!("Selection {s}"), None, listed.clone());
        let mut post = op(
            &format!("Selection {s}, extra filter in the body"),
            Some(filter_body_schema(c)),
            listed,
        );
        post["requestBody"]["required"] = json!(false);
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
            "text/event-stream": {"schema": {"type": "object", "properties": {
                "id": {"type": "string"}, "event": {"enum": ["change", "reset", "heartbeat"]},
                "data": {"type": "string"}, "retry": {"type": "integer"}}}}}}),
    );
    o["parameters"] = json!([
        p("since", json!({"type": "string", "pattern": "^([0-9]{1,19}|now)$"}), "resume after this seq (0: the oldest kept; now: the end)"),
        p("limit", json!({"type": "integer", "minimum": 1, "maximum": i64::MAX}), "records at most (default 1000, capped by the server's page limit)"),
        p("include_docs", json!({"enum": ["0", "1", "true", "false", ""]}), "add each document after its change"),
        p("feed", json!({"enum": ["normal", "longpoll", "sse"]}), "longpoll: wait for the next commit; sse: a stream of events"),
        p("timeout", json!({"type": "integer", "minimum": 0, "maximum": i64::MAX}), "long poll wait in ms (default 25000)"),
        {"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
         "description": "events: resume after this seq"}
    ]);
    o["responses"]["410"] = json!({"$ref": "#/components/responses/Error"});
    o["responses"]["409"] = json!({"$ref": "#/components/responses/Error"});
    o
}

fn ok(schema: &Value) -> Value {
    json!({"description": "OK", "content": {"application/json": {"schema": schema}}})
}

fn ok_any() -> Value {
    ok(&json!({}))
}

fn list_params(c: &Collection) -> Value {
    let p = |name: &str, schema: Value, desc: &str| json!({"name": name, "in": "query", "required": false, "schema": schema, "description": desc});
    let text = json!({"type": "string", "minLength": 1});
    // Stored scalar top-level fields sort; any top-level field may be picked.
    let sortable: Vec<&str> = std::iter::once("_id")
        .chain(
            c.fields
                .iter()
                .filter(|f| {
                    f.is_stored()
                        && !matches!(
                            f.ty,
                            FieldType::Refs(_)
                                | FieldType::List(_)
                                | FieldType::Dict(_)
                                | FieldType::Any
                        )
                })
                .map(|f| f.name.as_str()),
        )
        .collect();
    let key = format!("-?({})", sortable.join("|"));
    let names: Vec<&str> = std::iter::once("_id")
        .chain(c.fields.iter().map(|f| f.name.as_str()))
        .collect();
    let pick = format!("({})", names.join("|"));
    json!([
        p(
            "_page",
            json!({"type": "integer", "minimum": 0}),
            "page size (default 10; 0 = no limit)"
        ),
        p(
            "_skip",
            json!({"type": "integer", "minimum": 0}),
            "number of matches skipped"
        ),
        p(
            "_sort",
            json!({"type": "string", "pattern": format!("^{key}(,{key})*$")}),
            "f,-g: sort keys"
        ),
        p("_view", text, "view name (+NAME: only fields in NAME)"),
        p(
            "_fields",
            json!({"type": "string", "pattern": format!("^{pick}(,{pick})*$")}),
            "a,b: return only these fields"
        ),
        p(
            "_after",
            json!({"type": "string", "pattern": ID_PATTERN}),
            "keyset continuation: the last _id of the previous page"
        ),
    ])
}

/// A list page: documents that `_fields` and `_view` may have narrowed
/// (only `_id` is always there).
fn list_schema(c: &Collection) -> Value {
    let mut item = doc_schema(c);
    item["required"] = json!(["_id"]);
    json!({"type": "object", "required": ["result", "total", "_skip", "_page"], "properties": {
        "result": {"type": "array", "items": item},
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

/// What a create accepts: `_id` (or null for a generated one) and the
/// fields, the required ones without a default required.
fn input_schema(c: &Collection) -> Value {
    let mut s = update_schema(c);
    s["properties"]["_id"] = json!({"type": ["string", "null"], "pattern": ID_PATTERN});
    s["required"] = c
        .fields
        .iter()
        .filter(|f| f.required && f.default.is_none())
        .map(|f| json!(f.name))
        .collect();
    s
}

/// What a PUT accepts: fields to merge (the `_id` is the path's).
fn update_schema(c: &Collection) -> Value {
    let props: Map<String, Value> = c
        .fields
        .iter()
        .map(|f| (f.name.clone(), field_schema(f)))
        .collect();
    json!({"type": "object", "properties": props, "required": [], "additionalProperties": false})
}

/// A `_check` path into a draft: `$.field`, a key of a dict field, an
/// item of a list field.
fn check_path_pattern(c: &Collection) -> String {
    let alts: Vec<String> = c
        .fields
        .iter()
        .map(|f| match &f.ty {
            FieldType::Dict(subs) => {
                let names: Vec<&str> = subs.iter().map(|s| s.name.as_str()).collect();
                format!(r"{}(\.({}))?", f.name, names.join("|"))
            }
            FieldType::List(_) => format!(r"{}(\[[0-9]+\])?", f.name),
            _ => f.name.clone(),
        })
        .collect();
    format!(r"^\$\.({})$", alts.join("|"))
}

/// One JSON Patch operation on a document of `c`: `add`/`replace`/`test`
/// of a field (or of a key of a dict field, an item of a list field) with a
/// value of its type, or `remove` of a field that is not required.
fn patch_op_schema(c: &Collection) -> Value {
    let mut ops = Vec::new();
    // A path is a JSON Pointer (`/info/city`) or its `$.info.city` form.
    let set = |path: String, value: Value| {
        let dotted = format!("${}", path.replace('/', "."));
        json!({"type": "object", "required": ["op", "path", "value"],
            "properties": {"op": {"enum": ["add", "replace", "test"]}, "path": {"enum": [path, dotted]}, "value": value}})
    };
    for f in c.fields.iter().filter(|f| f.is_stored()) {
        ops.push(set(format!("/{}", f.name), field_schema(f)));
        match &f.ty {
            FieldType::Dict(subs) => {
                for sub in subs.iter() {
                    ops.push(set(format!("/{}/{}", f.name, sub.name), field_schema(sub)));
                }
            }
            FieldType::List(of) => ops.push(set(format!("/{}/-", f.name), field_schema(of))),
            _ => {}
        }
        if !f.required {
            ops.push(json!({"type": "object", "required": ["op", "path"],
                "properties": {"op": {"const": "remove"},
                    "path": {"enum": [format!("/{}", f.name), format!("$.{}", f.name)]}}}));
        }
    }
    let one = json!({"oneOf": ops});
    json!({"oneOf": [one, {"type": "array", "items": one}]})
}

/// A list page of a selection: `_id` and the selected fields.
fn selection_list_schema(c: &Collection, fields: &[String]) -> Value {
    let mut props = Map::new();
    props.insert("_id".into(), json!({"type": "string"}));
    for f in c
        .fields
        .iter()
        .filter(|f| fields.is_empty() || fields.contains(&f.name))
    {
        props.insert(f.name.clone(), field_schema(f));
    }
    json!({"type": "object", "properties": {
        "result": {"type": "array", "items": {"type": "object", "properties": props, "required": ["_id"]}},
        "total": {"type": "integer"}, "_skip": {"type": "integer"}, "_page": {"type": "integer"}}})
}

/// A selection's extra filter in a POST body: per field, a value of its
/// type (equality) or `["$op", value]`.
fn filter_body_schema(c: &Collection) -> Value {
    let mut props = Map::new();
    props.insert(
        "_id".into(),
        json!({"type": "string", "pattern": ID_PATTERN}),
    );
    for f in c.fields.iter().filter(|f| f.is_stored()) {
        let (ty, scalar) = match f.ty {
            FieldType::String => ("string", json!({"type": "string"})),
            FieldType::Datetime => ("string", json!({"type": "string", "format": "date-time"})),
            FieldType::Ref(_) => ("string", json!({"type": "string", "pattern": ID_PATTERN})),
            FieldType::Int => (
                "integer",
                json!({"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX}),
            ),
            FieldType::Float => ("number", json!({"type": "number"})),
            FieldType::Bool => ("boolean", json!({"type": "boolean"})),
            _ => continue,
        };
        let ops = if ty == "boolean" || matches!(f.ty, FieldType::Ref(_)) {
            json!(["$eq", "$ne"])
        } else {
            json!(["$eq", "$ne", "$lt", "$lte", "$gt", "$gte"])
        };
        props.insert(
            f.name.clone(),
            json!({"oneOf": [scalar, {"type": "array", "prefixItems": [{"enum": ops}, scalar],
                "minItems": 2, "maxItems": 2}]}),
        );
    }
    json!({"type": "object", "properties": props, "additionalProperties": false})
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
            s.insert("pattern".into(), json!(ID_PATTERN));
            Some("string")
        }
        FieldType::Refs(spec) => {
            s.insert(
                "items".into(),
                json!({"type": "string", "pattern": ID_PATTERN}),
            );
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
    if matches!(f.ty, FieldType::Int) {
        // What the server stores: a 64-bit signed integer.
        s.entry("minimum").or_insert(json!(i64::MIN));
        s.entry("maximum").or_insert(json!(i64::MAX));
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
        // The server takes null for "absent" (an empty list for refs).
        let nullable = !f.required;
        if let (true, Some(Value::Array(e))) = (nullable, s.get_mut("enum")) {
            e.push(Value::Null);
        }
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

/// `_dry_run`: a flag (`1`/`true`/empty: on; `0`/`false`: off).
fn dry_run_param() -> Value {
    json!({"name": "_dry_run", "in": "query", "required": false,
        "description": "answer what the write would do, and change nothing",
        "schema": {"type": "string", "enum": ["", "0", "1", "false", "true"]}})
}

/// A `_batch` body: each operation names its kind, its collection and
/// what that kind needs.
fn batch_schema(schema: &refdb_storage::Schema) -> Value {
    let mut ops = Vec::new();
    for c in schema.collections() {
        let name = &c.name;
        let id = json!({"type": "string", "pattern": ID_PATTERN});
        let one = |op: &str, extra: Vec<(&str, Value)>| {
            let mut props = json!({"op": {"const": op}, "coll": {"const": name}});
            let mut required = vec!["op".to_string(), "coll".to_string()];
            for (k, v) in extra {
                props[k] = v;
                required.push(k.to_string());
            }
            json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
        };
        ops.push(one(
            "create",
            vec![(
                "doc",
                json!({"$ref": format!("#/components/schemas/{name}_input")}),
            )],
        ));
        ops.push(one(
            "update",
            vec![
                ("id", id.clone()),
                (
                    "doc",
                    json!({"$ref": format!("#/components/schemas/{name}_update")}),
                ),
            ],
        ));
        ops.push(one(
            "patch",
            vec![("id", id.clone()), ("patch", patch_op_schema(c))],
        ));
        ops.push(one("delete", vec![("id", id)]));
    }
    json!({"type": "object", "required": ["ops"], "additionalProperties": false,
        "properties": {"ops": {"type": "array", "items": {"oneOf": ops}}}})
}
