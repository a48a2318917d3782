//! Garbage in, 4xx out: a few thousand random methods, paths, query
//! strings, headers and bodies from a seeded RNG (so a failure replays),
//! plus raw bytes that are not HTTP at all. The server must never answer
//! 5xx, must stay alive, and a request answered 4xx must leave the data
//! exactly as it was (compared through a dump of every document).

mod support;

use serde_json::json;
use support::TestServer;

/// splitmix64: tiny, seeded, good enough to pick from lists.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "FROB", "get",
];
const SEGMENTS: &[&str] = &[
    "t",
    "coll",
    "users",
    "addrs",
    "rooms",
    "sites",
    "u1",
    "a1",
    "_meta",
    "_check",
    "_batch",
    "_selections",
    "adults",
    "_actions",
    "openapi",
    "x",
    "",
    "%00",
    "%ff",
    "..",
    "%2F",
    "_id",
    "💥",
    "a%20b",
    "users?",
];
const QUERY_PARTS: &[&str] = &[
    "_page=2",
    "_page=-1",
    "_page=abc",
    "_skip=99999999999999999999",
    "_sort=-age",
    "_sort=",
    "_view=short",
    "_view=%2Bx",
    "_fields=name",
    "_after=u1",
    "age=30",
    "age=x",
    "age.$gt=3",
    "age.$zz=1",
    "name.$re=(",
    "name.$re=a",
    "name.$text=ann%20b",
    "name.$text=",
    "name.$text=%2C%2C",
    "age.$text=3",
    "name",
    "=",
    "&&",
    "%",
    "%zz",
    "_dry_run=1",
    "_dry_run=maybe",
    "tags.$contains=a",
    "a..b=1",
    "$gt=1",
    "name.$in=a,b",
    "_bogus=1",
];
const BODIES: &[&str] = &[
    "",
    "{\"city\":\"X\"}",
    "{\"name\":\"N\",\"age\":3}",
    "{",
    "}",
    "null",
    "[]",
    "{}",
    "\"str\"",
    "1e999",
    "{\"name\":\"N\"}",
    "{\"name\":1}",
    "{\"_id\":\"u1\",\"name\":\"dup\"}",
    "{\"age\":-1}",
    "{\"zzz\":1}",
    "{\"_meta\":{}}",
    "{\"addr\":\"nowhere\"}",
    "[{\"op\":\"remove\",\"path\":\"$.name\"}]",
    "{\"op\":\"test\",\"path\":\"$.age\",\"value\":0}",
    "{\"ops\":[{\"op\":\"delete\",\"coll\":\"addrs\",\"id\":\"a1\"}]}",
    "{\"ops\":[{\"op\":\"create\",\"coll\":\"users\",\"doc\":{}}]}",
    "{\"ops\":\"x\"}",
    "{\"item\":{},\"path\":\"$..\"}",
    "{\"item\":5,\"path\":\"$.age\"}",
    "{\"path\":\"/age/0/x\"}",
];
const CONTENT_TYPES: &[&str] = &[
    "",
    "application/json",
    "text/plain",
    "application/json; charset=latin1",
    "bogus",
    "application/x+json",
];

fn random_request(rng: &mut Rng) -> (String, String, Vec<(String, String)>, Vec<u8>) {
    let coll = rng.pick(&["users", "addrs", "rooms", "sites", "cars", "x"]);
    let id = rng.pick(&["u1", "a1", "nobody", "_meta", "bad id"]);
    // A route shape and the methods it takes, or pure junk.
    let (template, methods): (Vec<&str>, &[&str]) = match rng.below(10) {
        0 => (vec!["t", rng.pick(&["_meta", "openapi"])], &["GET"]),
        1 => (vec!["t", "_batch"], &["POST"]),
        2 => (vec!["t", "coll", coll], &["GET", "POST"]),
        3 | 4 => (
            vec!["t", "coll", coll, id],
            &["GET", "PUT", "PATCH", "DELETE"],
        ),
        5 => (
            vec!["t", "coll", coll, rng.pick(&["_check", "_meta"])],
            &["POST"],
        ),
        6 => (
            vec![
                "t",
                "coll",
                coll,
                "_selections",
                rng.pick(&["adults", "none"]),
            ],
            &["GET", "POST"],
        ),
        7 => (vec!["t", "coll", coll, "_actions", "a", id], &["POST"]),
        _ => (
            (0..rng.below(7)).map(|_| rng.pick(SEGMENTS)).collect(),
            METHODS,
        ),
    };
    let method = if rng.below(5) == 0 {
        rng.pick(METHODS)
    } else {
        rng.pick(methods)
    }
    .to_string();
    let mut segs = template;
    // Sometimes one segment is swapped for junk, to probe the edges.
    if !segs.is_empty() && rng.below(5) == 0 {
        let i = rng.below(segs.len());
        segs[i] = rng.pick(SEGMENTS);
    }
    let mut path = String::new();
    for seg in segs {
        path.push('/');
        path.push_str(&seg.replace(' ', "%20"));
    }
    if path.is_empty() {
        path.push('/');
    }
    let mut query = Vec::new();
    for _ in 0..rng.below(4).saturating_sub(1) {
        query.push(rng.pick(QUERY_PARTS).to_string());
    }
    if rng.below(50) == 0 {
        query.push(format!("name={}", "q".repeat(70_000)));
    }
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    let mut headers = Vec::new();
    let ct = rng.pick(CONTENT_TYPES);
    if !ct.is_empty() {
        headers.push(("Content-Type".to_string(), ct.to_string()));
    }
    if rng.below(8) == 0 {
        headers.push((
            "If-Match".to_string(),
            rng.pick(&["*", "\"x\"", "W/\"x\"", ""]).to_string(),
        ));
    }
    let body = match rng.below(10) {
        0 => {
            let n = rng.below(64);
            rng.bytes(n)
        }
        1 => vec![b'['; 1000],
        _ => rng.pick(BODIES).as_bytes().to_vec(),
    };
    (method, path, headers, body)
}

#[test]
fn random_requests_never_5xx_and_4xx_change_nothing() {
    let s = TestServer::start();
    s.create("addrs", json!({"_id": "a1", "city": "Lyon"}));
    s.create(
        "users",
        json!({"_id": "u1", "name": "Ann", "age": 30, "addr": "a1"}),
    );
    let mut rng = Rng(0x5eed_2026);
    let mut dump = s.dump();
    let mut counts = std::collections::BTreeMap::new();
    for i in 0..2500 {
        let (method, path, headers, body) = random_request(&mut rng);
        let hdrs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = s.request(
            &method,
            &path,
            &hdrs,
            if body.is_empty() { None } else { Some(&body) },
        );
        *counts.entry(r.status).or_insert(0) += 1;
        assert!(
            r.status < 500,
            "#{i} {method} {path} {headers:?} {:?} → {} {}",
            String::from_utf8_lossy(&body),
            r.status,
            r.text()
        );
        if (400..500).contains(&r.status) {
            // hyper answers unparseable heads itself, with an empty body;
            // every answer of ours has the §7 shape.
            if !r.body.is_empty() {
                r.error_code();
            }
            let now = s.dump();
            assert_eq!(
                now, dump,
                "#{i} {method} {path} answered {} but changed data",
                r.status
            );
        } else {
            dump = s.dump();
        }
    }
    eprintln!("statuses: {counts:?}");
    // The random mix must reach deep into the routes, not stop at 404s.
    assert!(
        counts.range(200..300).map(|(_, n)| n).sum::<u32>() > 150,
        "{counts:?}"
    );
    assert!(
        counts.keys().filter(|c| (400..500).contains(*c)).count() >= 6,
        "{counts:?}"
    );
    assert!(s.store.audit().expect("audit").is_clean());
}

#[test]
fn bytes_that_are_not_http() {
    let s = TestServer::start();
    let mut rng = Rng(42);
    let samples: Vec<Vec<u8>> = (0..300)
        .map(|i| match i % 4 {
            0 => {
                let n = 1 + rng.below(300);
                rng.bytes(n)
            }
            1 => format!(
                "GET /t/_meta HTTP/1.1\r\nHost: x\r\n{}\r\n\r\n",
                String::from_utf8_lossy(&rng.bytes(40))
            )
            .into_bytes(),
            2 => b"POST /t/coll/users HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n{}"
                .to_vec(),
            _ => {
                let mut b = b"GET /".to_vec();
                b.extend(rng.bytes(50));
                b.extend_from_slice(b" HTTP/1.1\r\n\r\n");
                b
            }
        })
        .collect();
    for (i, raw) in samples.iter().enumerate() {
        if let Some(r) = s.send_raw(raw) {
            assert!(
                r.status < 500,
                "#{i} {:?} → {}",
                String::from_utf8_lossy(raw),
                r.status
            );
        }
    }
    let r = s.get("/t/_meta");
    assert_eq!(r.status, 200, "still alive");
}
