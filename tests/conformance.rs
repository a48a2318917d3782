//! One conformance script run twice: against the library (`Store` and
//! `Engine` called directly, errors mapped by `ApiError::from`) and over
//! HTTP. Both runs must give the same statuses, error codes and paths, and
//! the same documents (minus `_meta` timestamps): the HTTP layer adds
//! transport, never behaviour.

mod support;

use refdb::ApiError;
use refdb::refdb_query::{Engine, parse};
use refdb::refdb_storage::{Schema, Store, patch::parse_patch};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use support::{TEST_SCHEMA, TestServer};

enum Op {
    Create(&'static str, Value),
    Get(&'static str, &'static str),
    Put(&'static str, &'static str, Value),
    Patch(&'static str, &'static str, Value),
    Delete(&'static str, &'static str),
    List(&'static str, &'static str),
}

/// What an operation answered: status and body, `_meta` removed.
type Outcome = (u16, Value);

trait Api {
    fn run(&self, op: &Op) -> Outcome;
}

struct Library {
    store: Arc<Store>,
    engine: Engine,
    _dir: tempfile::TempDir,
}

fn error(e: ApiError) -> Outcome {
    (e.status.as_u16(), json!({"code": e.code, "path": e.path}))
}

fn object(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().expect("an object")
}

impl Api for Library {
    fn run(&self, op: &Op) -> Outcome {
        let s = &self.store;
        let doc = |r: refdb::refdb_storage::Result<Map<String, Value>>, ok: u16| match r {
            Ok(d) => (ok, Value::Object(d)),
            Err(e) => error(e.into()),
        };
        match op {
            Op::Create(c, d) => doc(s.create(c, object(d)), 201),
            Op::Get(c, id) => doc(s.get(c, id), 200),
            Op::Put(c, id, d) => doc(s.update(c, id, object(d)), 200),
            Op::Patch(c, id, p) => match parse_patch(p) {
                Ok(ops) => doc(s.patch(c, id, &ops), 200),
                Err(e) => error(e.into()),
            },
            Op::Delete(c, id) => match s.delete(c, id) {
                Ok(d) => (
                    200,
                    json!({"deleted": d.iter().map(|(_, i)| i).collect::<Vec<_>>()}),
                ),
                Err(e) => error(e.into()),
            },
            Op::List(c, q) => match parse(q)
                .map_err(ApiError::from)
                .and_then(|q| self.engine.list(c, &q).map_err(ApiError::from))
            {
                Ok(p) => (200, json!({"result": p.result, "total": p.total})),
                Err(e) => error(e),
            },
        }
    }
}

impl Api for TestServer {
    fn run(&self, op: &Op) -> Outcome {
        let r = match op {
            Op::Create(c, d) => self.post(&format!("/t/coll/{c}"), d),
            Op::Get(c, id) => self.get(&format!("/t/coll/{c}/{id}")),
            Op::Put(c, id, d) => self.put(&format!("/t/coll/{c}/{id}"), d),
            Op::Patch(c, id, p) => self.patch(&format!("/t/coll/{c}/{id}"), p),
            Op::Delete(c, id) => self.delete(&format!("/t/coll/{c}/{id}")),
            Op::List(c, q) => self.get(&format!("/t/coll/{c}?{q}")),
        };
        let body = r.json();
        if r.status >= 400 {
            return (
                r.status,
                json!({"code": body["error"]["code"], "path": body["error"]["path"]}),
            );
        }
        match op {
            Op::Delete(..) => (r.status, json!({"deleted": body["deleted"]})),
            Op::List(..) => (
                r.status,
                json!({"result": body["result"], "total": body["total"]}),
            ),
            _ => (r.status, body),
        }
    }
}

fn script() -> Vec<Op> {
    use Op::*;
    vec![
        Create("addrs", json!({"_id": "a1", "city": "Lyon"})),
        Create("addrs", json!({"_id": "a2", "city": "Paris"})),
        Create(
            "users",
            json!({"_id": "u1", "name": "Ann", "age": 30, "addr": "a1"}),
        ),
        Create(
            "users",
            json!({"_id": "u2", "name": "Bob", "age": 12, "addr": "a1", "tags": ["x"]}),
        ),
        Create("users", json!({"_id": "u3", "name": "Bad", "age": "old"})),
        Create(
            "users",
            json!({"_id": "u4", "name": "Lost", "addr": "nowhere"}),
        ),
        Create("users", json!({"_id": "u1", "name": "Again"})),
        Create("users", json!({"name": "x", "unknown": 1})),
        Get("addrs", "a1"),
        Get("users", "nobody"),
        Get("nocoll", "x"),
        Put(
            "users",
            "u2",
            json!({"addr": "a2", "info": {"city": "Nice"}}),
        ),
        Put("users", "u2", json!({"_meta": {}})),
        Get("addrs", "a2"),
        Patch(
            "users",
            "u1",
            json!([{"op": "test", "path": "$.age", "value": 30}, {"op": "replace", "path": "$.age", "value": 31}]),
        ),
        Patch(
            "users",
            "u1",
            json!({"op": "test", "path": "$.age", "value": 1}),
        ),
        Patch("users", "u1", json!({"op": "bogus"})),
        Create("cars", json!({"_id": "c1", "model": "T", "owner": "u1"})),
        Put("users", "u2", json!({"car": "c1"})),
        Get("users", "u1"),
        Get("cars", "c1"),
        Create("sites", json!({"_id": "s1", "name": "S"})),
        Create("rooms", json!({"_id": "r1", "name": "R1", "site": "s1"})),
        Create("rooms", json!({"_id": "r2", "name": "R2"})),
        List("users", "age.$gte=18&_sort=-age"),
        List("users", "age=abc"),
        List("users", "_page=x"),
        List("rooms", ""),
        Delete("addrs", "a1"),
        Delete("sites", "s1"),
        Get("rooms", "r1"),
        Delete("users", "u1"),
        Delete("addrs", "a1"),
        Delete("addrs", "a1"),
        List("users", ""),
    ]
}

fn strip_meta(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.shift_remove("_meta");
        if let Some(Value::Array(items)) = o.get_mut("result") {
            items.iter_mut().for_each(|d| {
                if let Some(d) = d.as_object_mut() {
                    d.shift_remove("_meta");
                }
            });
        }
    }
    v
}

#[test]
fn library_and_http_agree() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(
            dir.path().join("lib.db"),
            Some(Schema::parse(TEST_SCHEMA).unwrap()),
        )
        .unwrap(),
    );
    let engine = Engine::new(store.clone()).unwrap();
    let lib = Library {
        store,
        engine,
        _dir: dir,
    };
    let http = TestServer::start();
    let mut statuses = Vec::new();
    for (i, op) in script().iter().enumerate() {
        let (ls, lb) = lib.run(op);
        let (hs, hb) = http.run(op);
        assert_eq!(
            (ls, strip_meta(lb.clone())),
            (hs, strip_meta(hb)),
            "op #{i}"
        );
        statuses.push(ls);
    }
    // The script covers successes and the error statuses it means to.
    for s in [200, 201, 400, 404, 409] {
        assert!(statuses.contains(&s), "{s} not exercised: {statuses:?}");
    }
    assert!(lib.store.audit().unwrap().is_clean());
    assert!(http.store.audit().unwrap().is_clean());
}
