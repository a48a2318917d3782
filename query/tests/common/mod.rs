//! Shared by the engine's integration tests: a store on a real temporary
//! file with a schema that has indexed, searched, nested, list and
//! reference fields; random documents and queries; and an independent
//! brute-force evaluator of the query language over materialized documents
//! (the specification the engine is tested against).
#![allow(dead_code)]

use proptest::prelude::*;
use refdb_query::{Engine, EngineOptions, Filter, Op, Query, SortKey};
use refdb_storage::{Document, Schema, Store};
use serde_json::{Value, json};
use std::cmp::Ordering;
use std::sync::Arc;

pub struct Db {
    pub engine: Engine,
    pub dir: tempfile::TempDir,
}

pub fn schema() -> Value {
    json!({"app": "t", "collections": {
        "people": {"fields": {
            "name":    {"type": "string", "index": true, "search": true},
            "nick":    {"type": "string", "search": true},
            "note":    {"type": "string", "index": true},
            "age":     {"type": "int", "index": true},
            "score":   {"type": "float"},
            "male":    {"type": "bool", "index": true},
            "born":    {"type": "datetime", "index": true},
            "tags":    {"type": "list", "of": {"type": "string"}, "index": true},
            "nums":    {"type": "list", "of": {"type": "int"}},
            "info":    {"type": "dict", "fields": {"city": {"type": "string"}, "zip": {"type": "int"}}},
            "city":    {"type": "ref", "coll": "cities", "reverse": "people"},
            "visited": {"type": "refs", "coll": "cities"}
        },
        "selections": {"adults": {"filter": "age.$gte=3", "fields": ["name", "age"]}}},
        "cities": {"fields": {
            "label":  {"type": "string", "index": true},
            "people": {"type": "refs", "coll": "people", "reverse": "city"}
        }}
    }})
}

pub const CITIES: [&str; 3] = ["c0", "c1", "c2"];

/// A store with the three cities, and an engine over it; `threshold` is
/// the engine's parallel threshold (small values exercise the parallel
/// paths on small data).
pub fn open(threshold: usize) -> Db {
    open_with(
        threshold,
        EngineOptions {
            max_page: 1000,
            ..EngineOptions::default()
        },
    )
}

/// [`open`] with these engine options (e.g. a tiny full-text overlay, so
/// that tantivy commits happen between the queries of a test).
pub fn open_with(threshold: usize, opts: EngineOptions) -> Db {
    let (dir, store) = store_with_cities();
    let engine = Engine::with_options(store, opts)
        .unwrap()
        .with_parallel_threshold(threshold);
    Db { engine, dir }
}

/// A store on a temporary file with the test schema and the three
/// cities, without an engine (tests that build one themselves).
pub fn store_with_cities() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::from_json(&schema()).unwrap();
    let store = Arc::new(Store::open(dir.path().join("t.db"), Some(schema)).unwrap());
    for (i, c) in CITIES.iter().enumerate() {
        store
            .create(
                "cities",
                obj(json!({"_id": c, "label": format!("L{}", i % 2)})),
            )
            .unwrap();
    }
    (dir, store)
}

pub fn obj(v: Value) -> Document {
    v.as_object().expect("object").clone()
}

pub const NAMES: [&str; 14] = [
    "do",
    "Dolores",
    "adobe",
    "Bob",
    "bobby",
    "dodo",
    "Éva",
    "",
    "xdoqx",
    "mar quin",
    "DO",
    "Bob Smith",
    "smith, BOB-do",
    "Éva  de la Quin",
];
/// `$text` values: single words, several (AND), odd case and separators.
pub const WORDS: [&str; 10] = [
    "do",
    "bob",
    "BOB smith",
    "smith,bob do",
    "quin",
    "mar-QUIN",
    "éva",
    "Eva",
    "dolores bob",
    "xdoqx",
];
pub const PATTERNS: [&str; 14] = [
    "do",
    "(?i)do",
    "^do",
    "o",
    "b.b",
    "do.*",
    "^mar.*quin",
    "x|y",
    "[a-z]+",
    "Do",
    "dod",
    "obb",
    "(?i)éva",
    "q$",
];
pub const TIMES: [&str; 4] = [
    "2024-01-01T00:00:00Z",
    "2024-01-01T01:00:00+01:00",
    "2023-06-15T12:30:00.5Z",
    "2025-02-03T04:05:06Z",
];
pub const SCORES: [&str; 5] = ["-1.5", "0", "0.5", "2", "3"];

fn maybe<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    prop_oneof![1 => Just(None), 3 => s.prop_map(Some)].boxed()
}

/// A random person's fields (no `_id`).
pub fn person() -> impl Strategy<Value = Document> {
    let a = (
        maybe(prop::sample::select(NAMES.to_vec())),
        maybe(prop::sample::select(NAMES.to_vec())),
        maybe(prop::sample::select(NAMES.to_vec())),
        maybe(0i64..5),
        maybe(prop_oneof![
            prop::sample::select(SCORES.to_vec()).prop_map(|s| json!(s.parse::<f64>().unwrap())),
            Just(json!(2))
        ]),
        maybe(any::<bool>()),
    );
    let b = (
        maybe(prop::sample::select(TIMES.to_vec())),
        maybe(prop::collection::vec(
            prop::sample::select(vec!["a", "b", "c"]),
            0..3,
        )),
        maybe(prop::collection::vec(0i64..4, 0..3)),
        maybe((maybe(prop::sample::select(NAMES.to_vec())), maybe(0i64..3))),
        maybe(prop::sample::select(CITIES.to_vec())),
        maybe(prop::sample::subsequence(CITIES.to_vec(), 0..3)),
    );
    (a, b).prop_map(
        |((name, nick, note, age, score, male), (born, tags, nums, info, city, visited))| {
            let mut d = serde_json::Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    d.insert(k.to_string(), v);
                }
            };
            put("name", name.map(|s| json!(s)));
            put("nick", nick.map(|s| json!(s)));
            put("note", note.map(|s| json!(s)));
            put("age", age.map(|s| json!(s)));
            put("score", score);
            put("male", male.map(|s| json!(s)));
            put("born", born.map(|s| json!(s)));
            put("tags", tags.map(|s| json!(s)));
            put("nums", nums.map(|s| json!(s)));
            put(
                "info",
                info.map(|(c, z)| {
                    let mut m = serde_json::Map::new();
                    if let Some(c) = c {
                        m.insert("city".into(), json!(c));
                    }
                    if let Some(z) = z {
                        m.insert("zip".into(), json!(z));
                    }
                    Value::Object(m)
                }),
            );
            put("city", city.map(|s| json!(s)));
            put("visited", visited.map(|s| json!(s)));
            d
        },
    )
}

/// A random valid filter on `people`.
pub fn filter() -> impl Strategy<Value = Filter> {
    use Op::*;
    fn f(path: &'static str, ops: Vec<Op>, vals: Vec<String>) -> BoxedStrategy<Filter> {
        (
            prop::sample::select(ops),
            prop::sample::select(vals.clone()),
            prop::sample::select(vals),
            any::<bool>(),
        )
            .prop_map(move |(op, a, b, two)| {
                let raw = if matches!(op, In | Nin) && two {
                    format!("{a},{b}")
                } else {
                    a
                };
                Filter::new(path.split('.').map(String::from).collect(), op, raw)
            })
            .boxed()
    }
    let s = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let strs = s(&NAMES);
    let str_ops = vec![Eq, Ne, Lt, Gte, In, Nin, Re, Reg];
    let pats = s(&PATTERNS);
    let ints = s(&["0", "1", "2", "3", "4"]);
    let cities = s(&["c0", "c1", "c2", "zz"]);
    let exists = (
        prop::sample::select(vec![
            "name",
            "nick",
            "note",
            "age",
            "score",
            "male",
            "born",
            "tags",
            "nums",
            "info",
            "info.city",
            "info.zip",
            "city",
            "visited",
        ]),
        any::<bool>(),
    )
        .prop_map(|(p, b)| {
            Filter::new(
                p.split('.').map(String::from).collect(),
                Exists,
                b.to_string(),
            )
        });
    prop_oneof![
        f("name", str_ops.clone(), strs.clone()),
        f("name", vec![Re, Reg], pats.clone()),
        f("nick", str_ops.clone(), strs.clone()),
        f("nick", vec![Re, Reg], pats.clone()),
        f("name", vec![Text], s(&WORDS)),
        f("nick", vec![Text], s(&WORDS)),
        f("note", str_ops.clone(), strs.clone()),
        f("note", vec![Re], pats.clone()),
        f("age", vec![Eq, Ne, Lt, Lte, Gt, Gte, In, Nin], ints.clone()),
        f("score", vec![Eq, Ne, Lt, Gte, In], s(&SCORES)),
        f("male", vec![Eq, Ne, In, Nin], s(&["true", "false"])),
        f("born", vec![Eq, Ne, Lt, Gte, In], s(&TIMES)),
        f(
            "tags",
            vec![Eq, Contains, Ne, In, Nin, Lt, Gte, Re],
            s(&["a", "b", "c", "d"])
        ),
        f("nums", vec![Eq, Contains, Gt, Nin, Lte], ints.clone()),
        f("info.city", vec![Eq, Ne, Re, Gte], strs.clone()),
        f("info.zip", vec![Eq, Gt, Nin], ints.clone()),
        f("city", vec![Eq, Ne, In, Nin], cities.clone()),
        f("visited", vec![Eq, Contains, Ne, In, Nin], cities.clone()),
        f(
            "_id",
            vec![Eq, In, Ne, Gt, Lt],
            s(&["p01", "p05", "p10", "p3", "0"])
        ),
        f("_id", vec![Re], s(&["1", "^p0", "(?i)P1"])),
        exists.clone(),
        exists,
    ]
}

pub fn sort() -> impl Strategy<Value = Vec<SortKey>> {
    let key = (
        prop::sample::select(vec![
            "_id",
            "name",
            "nick",
            "age",
            "score",
            "born",
            "male",
            "info.city",
            "city",
            "note",
        ]),
        any::<bool>(),
    )
        .prop_map(|(p, descending)| SortKey {
            path: p.split('.').map(String::from).collect(),
            descending,
        });
    prop_oneof![2 => Just(vec![]), 3 => prop::collection::vec(key, 1..3)]
}

pub fn query() -> impl Strategy<Value = Query> {
    (
        prop::collection::vec(filter(), 0..3),
        sort(),
        0u64..8,
        prop_oneof![Just(None), (0u64..6).prop_map(Some)],
    )
        .prop_map(|(filters, sort, skip, page)| Query {
            filters,
            sort,
            skip: Some(skip),
            page,
            ..Query::default()
        })
}

// ---------------------------------------------------------------------
// The brute-force evaluator: what a query means, written without the
// engine's code.

/// A comparable value of one type.
#[derive(Debug, Clone, PartialEq)]
enum V {
    S(String),
    I(i64),
    F(f64),
    B(bool),
    T(i64),
}

fn cmp(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::S(x), V::S(y)) => Some(x.cmp(y)),
        (V::I(x), V::I(y)) | (V::T(x), V::T(y)) => Some(x.cmp(y)),
        (V::F(x), V::F(y)) => x.partial_cmp(y),
        (V::B(x), V::B(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// The type of a path: 's' string, 'i' int, 'f' float, 'b' bool, 't'
/// datetime, 'o' opaque; and whether it is a list.
fn kind(path: &str) -> (char, bool) {
    match path {
        "age" | "info.zip" => ('i', false),
        "score" => ('f', false),
        "male" => ('b', false),
        "born" | "_meta.ctime" => ('t', false),
        "tags" | "visited" => ('s', true),
        "nums" => ('i', true),
        "info" => ('o', false),
        _ => ('s', false),
    }
}

fn read(k: char, v: &Value) -> Option<V> {
    match (k, v) {
        ('s', Value::String(s)) => Some(V::S(s.clone())),
        ('i', Value::Number(n)) => n.as_i64().map(V::I),
        ('f', Value::Number(n)) => n.as_f64().map(|f| V::F(if f == 0.0 { 0.0 } else { f })),
        ('b', Value::Bool(b)) => Some(V::B(*b)),
        ('t', Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| V::T(d.timestamp_micros())),
        _ => None,
    }
}

fn at<'a>(doc: &'a Document, path: &[String]) -> Option<&'a Value> {
    let mut v = doc.get(&path[0])?;
    for p in &path[1..] {
        v = v.as_object()?.get(p)?;
    }
    Some(v)
}

/// The values of a document at a path: none for missing/null, the
/// non-null elements of a list.
fn vals(doc: &Document, path: &[String]) -> (Vec<V>, bool) {
    let (k, list) = kind(&path.join("."));
    let v = at(doc, path);
    let present = match v {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    let out = match v {
        Some(Value::Array(a)) if list => a.iter().filter_map(|x| read(k, x)).collect(),
        Some(x) if !list => read(k, x).into_iter().collect(),
        _ => vec![],
    };
    (out, present)
}

pub fn eval(doc: &Document, f: &Filter) -> bool {
    let (k, _) = kind(&f.path.join("."));
    let (vs, present) = vals(doc, &f.path);
    let typed = |raw: &str| {
        read(
            k,
            &if matches!(k, 'i' | 'f') {
                serde_json::from_str(raw).unwrap_or(Value::Null)
            } else if k == 'b' {
                json!(raw == "true")
            } else {
                json!(raw)
            },
        )
        .unwrap()
    };
    let eq = |x: &V| vs.iter().any(|v| cmp(v, x) == Some(Ordering::Equal));
    let some = |p: &dyn Fn(Ordering) -> bool| {
        let x = typed(&f.raw);
        vs.iter().any(|v| cmp(v, &x).is_some_and(p))
    };
    match f.op {
        Op::Eq | Op::Contains => eq(&typed(&f.raw)),
        Op::Ne => !eq(&typed(&f.raw)),
        Op::Lt => some(&|o| o == Ordering::Less),
        Op::Lte => some(&|o| o != Ordering::Greater),
        Op::Gt => some(&|o| o == Ordering::Greater),
        Op::Gte => some(&|o| o != Ordering::Less),
        Op::In => f.raw.split(',').any(|r| eq(&typed(r))),
        Op::Nin => !f.raw.split(',').any(|r| eq(&typed(r))),
        Op::Exists => (if k == 'o' { present } else { !vs.is_empty() }) == (f.raw == "true"),
        Op::Re | Op::Reg => {
            let p = if f.op == Op::Reg {
                format!("^(?:{})", f.raw)
            } else {
                f.raw.clone()
            };
            let re = regex::Regex::new(&p).unwrap();
            vs.iter().any(|v| matches!(v, V::S(s) if re.is_match(s)))
        }
        Op::Text => {
            // Same analyzer as the engine (the spec: every word present).
            let want = refdb_query::text::words(&f.raw);
            vs.iter().any(|v| {
                matches!(v, V::S(s) if {
                    let have = refdb_query::text::words(s);
                    want.iter().all(|w| have.contains(w))
                })
            })
        }
    }
}

fn sort_val(doc: &Document, path: &[String]) -> Option<V> {
    vals(doc, path).0.into_iter().next()
}

/// The full, ordered result of `q`'s filters and sort over `docs`
/// (ignoring `_skip`/`_page`).
pub fn brute(docs: &[Document], q: &Query) -> Vec<String> {
    let mut hits: Vec<&Document> = docs
        .iter()
        .filter(|d| q.filters.iter().all(|f| eval(d, f)))
        .collect();
    let id = |d: &Document| d["_id"].as_str().unwrap().to_string();
    hits.sort_by(|a, b| {
        for k in &q.sort {
            let o = match (sort_val(a, &k.path), sort_val(b, &k.path)) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => cmp(&x, &y).unwrap(),
            };
            let o = if k.descending { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        id(a).cmp(&id(b))
    });
    let mut out: Vec<String> = hits.into_iter().map(id).collect();
    if let Some(a) = &q.after {
        let desc = q.sort.first().is_some_and(|k| k.descending);
        out.retain(|i| if desc { i < a } else { i > a });
    }
    out
}

/// A random write to `people`: the person to replace or delete is picked
/// among those that exist when it runs.
#[derive(Debug, Clone)]
pub enum Write {
    Create(Document),
    Replace(usize, Document),
    Delete(usize),
}

pub fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        2 => person().prop_map(Write::Create),
        2 => (0usize..64, person()).prop_map(|(i, p)| Write::Replace(i, p)),
        1 => (0usize..64).prop_map(Write::Delete),
    ]
}

/// Runs a [`Write`]; a refused one (an invalid document) is part of a
/// test too, so its error is ignored.
pub fn run_write(engine: &Engine, w: Write) {
    let store = engine.store();
    let ids: Vec<String> = all_people(engine)
        .iter()
        .map(|d| d["_id"].as_str().unwrap().to_string())
        .collect();
    let pick = |i: usize| ids.get(i % ids.len().max(1)).cloned();
    let _ = match w {
        Write::Create(p) => store.create("people", p).map(|_| ()),
        Write::Replace(i, mut p) => match pick(i) {
            Some(id) => {
                p.shift_remove("_id");
                store.update("people", &id, p).map(|_| ())
            }
            None => Ok(()),
        },
        Write::Delete(i) => match pick(i) {
            Some(id) => store.delete("people", &id).map(|_| ()),
            None => Ok(()),
        },
    };
}

/// Reopens the store in `dir` keeping only the last 3 change records, and
/// writes 10 more people: whatever was saved at a position before those
/// can no longer be caught up.
pub fn reopen_past_the_kept_log(dir: &std::path::Path) -> Arc<Store> {
    let opts = refdb_storage::OpenOptions {
        changes_retention: refdb_storage::Retention::parse("3").unwrap(),
        ..refdb_storage::OpenOptions::default()
    };
    let store = Arc::new(Store::open_with(dir.join("t.db"), opts).unwrap());
    for i in 0..10 {
        store
            .create("people", obj(json!({"name": format!("n{i}")})))
            .unwrap();
    }
    store
}

/// Reopens the store in `dir` under another schema (`nick` indexed too).
pub fn reopen_under_another_schema(dir: &std::path::Path) -> Arc<Store> {
    let mut schema = schema();
    schema["collections"]["people"]["fields"]["nick"]["index"] = json!(true);
    Arc::new(Store::open(dir.join("t.db"), Some(Schema::from_json(&schema).unwrap())).unwrap())
}

/// Every person, materialized.
pub fn all_people(engine: &Engine) -> Vec<Document> {
    let r = engine.store().read().unwrap();
    r.scan("people", None)
        .unwrap()
        .map(|e| {
            let (id, d) = e.unwrap();
            r.materialize("people", &id, d).unwrap()
        })
        .collect()
}

pub fn ids(page: &refdb_query::Page) -> Vec<String> {
    page.result
        .iter()
        .map(|d| d["_id"].as_str().unwrap().to_string())
        .collect()
}
