//! Actions: named operations a program that embeds refdb adds to a
//! collection, called at `POST /<app>/coll/<c>/_actions/<name>/<id>`.
//!
//! An action declares its parameters with the schema file's field
//! language (`{"years": {"type": "int", "min": 1, "required": true}}`);
//! the body is checked against them like a document (400 `invalid` with the
//! `$.path` of the bad parameter) before the action runs. It runs through
//! the writer — one write transaction, shared with the other writes of its
//! group commit, stamped with the caller as `modified_by` — and sees who
//! calls it. Its right is `rights.actions.<name>` of the collection in the
//! schema file, or, undeclared, the collection's `modify` right.
//!
//! Invariant: an action's writes commit together or not at all, and hooks
//! run for them as for any write.

use refdb_storage::schema::validate::validate_document;
use refdb_storage::{Schema, Tx};
use serde_json::{Map, Value, json};
use std::sync::Arc;

use super::auth::Principal;
use super::error::ApiResult;

/// What an action is told when it runs.
#[derive(Debug)]
pub struct ActionCall<'a> {
    pub coll: &'a str,
    /// The document the action is called on (it exists when the action
    /// starts; the action may still delete it).
    pub id: &'a str,
    /// The body, checked against the declared parameters (`{}` when empty).
    pub params: Map<String, Value>,
    /// Who calls (`None`: anonymous).
    pub caller: Option<&'a Principal>,
}

/// The code of an action: it writes through `tx` and answers a JSON value
/// (200). An error undoes every write it made.
pub type ActionFn = dyn Fn(&ActionCall<'_>, &mut Tx<'_>) -> ApiResult<Value> + Send + Sync;

/// An action: its code and its declared parameters.
#[derive(Clone)]
pub struct ActionDef {
    pub(crate) run: Arc<ActionFn>,
    /// The parameters' field definitions, as given.
    pub(crate) params: Option<Value>,
    /// The same, parsed, as the one collection of a schema.
    pub(crate) checker: Option<Arc<Schema>>,
}

impl ActionDef {
    pub fn new(
        f: impl Fn(&ActionCall<'_>, &mut Tx<'_>) -> ApiResult<Value> + Send + Sync + 'static,
    ) -> ActionDef {
        ActionDef {
            run: Arc::new(f),
            params: None,
            checker: None,
        }
    }

    /// Declares the parameters: an object of field definitions, as a
    /// collection's `fields` in the schema file (references excepted).
    /// Checked when the server is built.
    pub fn params(mut self, fields: Value) -> ActionDef {
        self.params = Some(fields);
        self
    }

    /// Parses the declared parameters (at build).
    pub(crate) fn prepare(&mut self) -> Result<(), String> {
        if let Some(fields) = &self.params {
            let schema = Schema::from_json(
                &json!({"app": "params", "collections": {"params": {"fields": fields}}}),
            )
            .map_err(|e| {
                let path = e.path.replace("$.collections.params.fields", "$");
                format!("{path}: {}", e.message)
            })?;
            self.checker = Some(Arc::new(schema));
        }
        Ok(())
    }

    /// The body's parameters, checked; `{}` for an empty body.
    pub(crate) fn check(&self, body: Option<Value>) -> ApiResult<Map<String, Value>> {
        let params = match body {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => {
                return Err(super::error::ApiError::bad_request(
                    "bad_input",
                    "an action's parameters are a JSON object",
                )
                .at("$"));
            }
        };
        if let Some(schema) = &self.checker {
            let coll = schema.collection("params").expect("built with one");
            let problems = validate_document(coll, &params);
            if !problems.is_empty() {
                return Err(refdb_storage::Error::Invalid(problems).into());
            }
        }
        Ok(params)
    }

    /// The parameters as a collection, for OpenAPI and `_meta`.
    pub(crate) fn params_collection(&self) -> Option<&refdb_storage::Collection> {
        self.checker.as_ref().and_then(|s| s.collection("params"))
    }
}
