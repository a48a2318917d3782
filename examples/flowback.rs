//! A program that embeds refdb, in the style of a small data-flow backend:
//! `sources` feed `flows`, and running a flow records `data` points. It
//! brings what such a program adds to the collection API:
//!
//! - its own schema (three collections, references with cascades);
//! - a hook: a flow's name is a lowercase slug (refused with `$.name`
//!   otherwise), and a data point without a time gets the commit's;
//! - an action with parameters and its own right: `POST
//!   /flowback/coll/flows/_actions/run/<id>` with `{"values": [1.5, 2]}`
//!   records one data point per value and counts the run, in one
//!   transaction;
//! - a route of its own: `GET /flowback/stats`, totals across collections.
//!
//! Run it with `cargo run --example flowback` (it serves
//! `./flowback.db` on 127.0.0.1:8081, or `FLOWBACK_LISTEN`); the tests
//! build it and drive it over HTTP (`tests/example_flowback.rs`).

use refdb::refdb_storage::{Hooks, Refusal};
use refdb::server::{ActionDef, ApiError, Builder, RouteCall};
use refdb::{Engine, Schema, Server, Store};
use serde_json::{Value, json};
use std::sync::Arc;

pub const SCHEMA: &str = r#"{
  "app": "flowback",
  "collections": {
    "sources": {"fields": {
      "name":  {"type": "string", "required": true},
      "kind":  {"type": "string", "in": ["csv", "api", "sensor"]},
      "flows": {"type": "refs", "coll": "flows", "reverse": "source", "on_delete": "cascade"}
    }},
    "flows": {
      "rights": {"actions": {"run": ["*", "anonymous"]}},
      "fields": {
        "name":   {"type": "string", "required": true, "index": true},
        "source": {"type": "ref", "coll": "sources", "reverse": "flows", "required": true},
        "runs":   {"type": "int", "default": 0},
        "data":   {"type": "refs", "coll": "data", "reverse": "flow", "on_delete": "cascade"}
      }
    },
    "data": {"fields": {
      "flow":  {"type": "ref", "coll": "flows", "reverse": "data", "required": true},
      "value": {"type": "float", "required": true},
      "at":    {"type": "datetime"}
    }}
  }
}"#;

/// The program's rules.
pub fn hooks() -> Hooks {
    Hooks::new()
        .before_create("flows", |_, doc| check_slug(doc))
        .before_update("flows", |_, _, doc| check_slug(doc))
        .before_create("data", |_, doc| {
            if !doc.contains_key("at") {
                let now = utc_now();
                doc.insert("at".into(), json!(now));
            }
            Ok(())
        })
}

fn check_slug(doc: &serde_json::Map<String, Value>) -> Result<(), Refusal> {
    let name = doc.get("name").and_then(Value::as_str).unwrap_or("");
    let slug = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if slug {
        Ok(())
    } else {
        Err(Refusal::new(
            "$.name",
            "a flow's name is a slug: a-z, 0-9 and -",
        ))
    }
}

/// The current UTC time as RFC 3339, to the second.
fn utc_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The program's action and route, added to a server builder.
pub fn configure(builder: Builder) -> Builder {
    let run = ActionDef::new(|call, tx| {
        let values = call.params["values"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for v in &values {
            tx.create(
                "data",
                json!({"flow": call.id, "value": v})
                    .as_object()
                    .unwrap()
                    .clone(),
            )?;
        }
        let flow = tx.get("flows", call.id)?;
        let runs = flow["runs"].as_i64().unwrap_or(0) + 1;
        tx.update(
            "flows",
            call.id,
            json!({"runs": runs}).as_object().unwrap().clone(),
        )?;
        Ok(json!({"flow": call.id, "created": values.len(), "runs": runs}))
    })
    .params(json!({
        "values": {"type": "list", "of": {"type": "float"}, "required": true, "max": 1000}
    }));
    builder
        .action_def("flows", "run", run)
        .route(hyper::Method::GET, "stats", stats)
}

/// `GET /flowback/stats`: how many of each, and the runs so far.
fn stats(call: &RouteCall<'_>) -> Result<Value, ApiError> {
    let r = call.store.read()?;
    let mut runs = 0;
    for e in r.scan("flows", None)? {
        let (_, doc) = e?;
        runs += doc.body.get("runs").and_then(Value::as_i64).unwrap_or(0);
    }
    Ok(json!({
        "sources": r.count("sources")?,
        "flows": r.count("flows")?,
        "data": r.count("data")?,
        "runs": runs,
    }))
}

/// Opens the program's database with its schema and rules.
pub fn open(path: &std::path::Path) -> Result<Arc<Store>, Box<dyn std::error::Error>> {
    let store = Store::open(path, Some(Schema::parse(SCHEMA)?))?;
    store.set_hooks(hooks());
    Ok(Arc::new(store))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = open(std::path::Path::new("flowback.db"))?;
    let server = configure(Server::builder(Engine::new(store)?)).build()?;
    let listen = std::env::var("FLOWBACK_LISTEN").unwrap_or_else(|_| "127.0.0.1:8081".into());
    tokio::runtime::Runtime::new()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        println!("flowback on http://{}", listener.local_addr()?);
        refdb::run(listener, server, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
        Ok(())
    })
}
