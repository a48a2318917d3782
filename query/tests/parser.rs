//! Properties of the query-string parser, through the crate's public API:
//! - `Display` is a right inverse of `parse`: every well-formed [`Query`]
//!   prints to a string that parses back to the same value;
//! - whatever `parse` accepts re-prints to an equivalent string;
//! - `parse` never panics, on arbitrary text or on text shaped like a query.

use proptest::prelude::*;
use refdb_query::{Filter, Op, Query, SortKey, parse};

/// A field name, `[A-Za-z0-9_-]+`, including awkward ones (`-x`, `_y`).
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,6}"
}

/// A sort or projection path: any names, `_`-prefixed ones included.
fn path() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(name(), 1..4)
}

/// A filter path: `_id`, or names whose first does not start with `_`.
fn filter_path() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        1 => Just(vec!["_id".to_owned()]),
        6 => ("[A-Za-z0-9-][A-Za-z0-9_-]{0,5}", prop::collection::vec(name(), 0..3))
            .prop_map(|(first, rest)| std::iter::once(first).chain(rest).collect()),
    ]
}

/// Any text, biased towards characters that need encoding.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ a-z0-9&=+%#,.$;?é\u{0}\u{7f}\u{1F600}-]{0,12}",
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    (
        filter_path(),
        prop::sample::select(Op::ALL.to_vec()),
        text(),
        any::<bool>(),
    )
        .prop_map(|(path, op, raw, explicit_eq)| {
            let mut filter = Filter::new(path, op, raw);
            if op == Op::Eq && explicit_eq {
                filter.key.push_str(".$eq");
            }
            filter
        })
}

fn sort_key() -> impl Strategy<Value = SortKey> {
    (path(), any::<bool>()).prop_map(|(path, descending)| SortKey { path, descending })
}

/// A query that keeps the invariants documented in `ast.rs`.
fn query() -> impl Strategy<Value = Query> {
    (
        prop::collection::vec(filter(), 0..6),
        prop::collection::vec(sort_key(), 0..4),
        any::<Option<u64>>(),
        any::<Option<u64>>(),
        prop::option::of(text().prop_filter("non-empty", |s| !s.is_empty())),
        prop::option::of(prop::collection::vec(path(), 1..4)),
        prop::option::of(text().prop_filter("non-empty", |s| !s.is_empty())),
    )
        .prop_map(|(filters, sort, page, skip, view, fields, after)| Query {
            filters,
            sort,
            page,
            skip,
            view,
            fields,
            after,
        })
}

/// Text shaped like a query: `&`-joined pairs whose keys are mostly
/// paths, operators and parameter names, whose values mostly lists of names
/// or numbers, all sprinkled with the tokens that trip parsers (`%`, `+`,
/// `.`, `$`, bytes that are not UTF-8). A plain token soup would be accepted
/// well under 1% of the time and exercise little past the lexer.
fn query_like() -> impl Strategy<Value = String> {
    let soup = |tokens: Vec<&'static str>| {
        prop::collection::vec(prop::sample::select(tokens), 0..4).prop_map(|t| t.concat())
    };
    // `%2E` decodes to a dot, so it yields empty segments (`a.%2E`) as well.
    let segment = prop::sample::select(vec!["a", "b", "-x", "_y", "0", "_id", "a", "b", "%2E"]);
    let path = prop::collection::vec(segment, 1..4).prop_map(|s| s.join("."));
    let op = prop::sample::select(vec!["", "", ".$gt", ".$eq", ".$in", ".$x", ".$"]);
    let param = prop::sample::select(vec![
        "_page", "_skip", "_sort", "_view", "_fields", "_after", "_x", "%5Fpage",
    ]);
    let key = prop_oneof![
        6 => (path.clone(), op).prop_map(|(p, o)| p + o),
        2 => param.prop_map(String::from),
        1 => soup(vec!["a", ".", "$gt", "_", "_id", "+", "%", "%24", "é", "=", "-"]),
    ];
    let value = prop_oneof![
        2 => prop::collection::vec(prop_oneof![path, "[+-]?[a-b]".prop_map(String::from)], 1..3)
            .prop_map(|items| items.join(",")),
        1 => "[0-9]{1,3}".prop_map(String::from),
        1 => soup(vec![
            "a", "0", ",", ".", "-", "+", "%", "%2", "%20", "%2B", "%C3", "%A9", "%FF", "=", "$",
            "é", " ",
        ]),
    ];
    let pair = (key, prop::bool::weighted(0.95), value).prop_map(|(key, has_value, value)| {
        if has_value {
            format!("{key}={value}")
        } else {
            key
        }
    });
    prop::collection::vec(pair, 0..5).prop_map(|pairs| pairs.join("&"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn display_then_parse_gives_back_the_query(q in query()) {
        let shown = q.to_string();
        let parsed = parse(&shown);
        prop_assert_eq!(parsed.as_ref(), Ok(&q), "shown as {:?}", shown);
    }

    #[test]
    fn accepted_input_reprints_stably(s in query_like()) {
        if let Ok(q) = parse(&s) {
            let shown = q.to_string();
            let again = parse(&shown);
            prop_assert_eq!(again.as_ref(), Ok(&q), "{:?} shown as {:?}", s, shown);
            prop_assert_eq!(again.unwrap().to_string(), shown);
        }
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(s in any::<String>()) {
        let _ = parse(&s);
    }

    #[test]
    fn parse_never_panics_on_query_like_text(s in query_like()) {
        if let Err(e) = parse(&s) {
            // Every error renders, and points inside the input.
            prop_assert!(!e.to_string().is_empty());
            if let Some(offset) = e.offset() {
                prop_assert!(offset <= s.len());
            }
        }
    }
}

#[test]
fn example_from_the_api_contract() {
    let q = parse(
        "age.$gte=18&info.city=Lyon&name.$re=do&_sort=-age,name&_page=20&_fields=name,info.city",
    )
    .unwrap();
    assert_eq!(q.filters.len(), 3);
    assert_eq!(q.filters[1].path, vec!["info", "city"]);
    assert_eq!(q.filters[2].op, Op::Re);
    assert_eq!(q.page, Some(20));
    assert_eq!(
        q.to_string(),
        "age.$gte=18&info.city=Lyon&name.$re=do&_sort=-age,name&_page=20&_fields=name,info.city"
    );
}

#[test]
fn error_key_is_what_the_http_layer_reports() {
    let e = parse("age.$foo=1").unwrap_err();
    assert_eq!(e.key(), Some("age.$foo"));
    let e = parse("_page=x").unwrap_err();
    assert_eq!(e.key(), Some("_page"));
}
