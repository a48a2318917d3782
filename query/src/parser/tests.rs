//! Unit tests of [`super::parse`]: what each kind of query string becomes,
//! and the exact error (variant, key, offset, message) of every mistake.

use super::*;
use crate::ast::Op;

/// Parses, expecting an error, and returns it with its message.
fn fail(query: &str) -> (ParseError, String) {
    let e = parse(query).expect_err(query);
    let message = e.to_string();
    (e, message)
}

fn p(s: &str) -> Vec<String> {
    s.split('.').map(String::from).collect()
}

#[test]
fn empty_query_is_the_default() {
    assert_eq!(parse("").unwrap(), Query::default());
    assert_eq!(parse("&&").unwrap(), Query::default());
}

#[test]
fn filters_keep_order_key_and_raw_value() {
    let q = parse("age.$gte=18&info.city=Saint+Malo&name=0123&_id.$in=a,b").unwrap();
    assert_eq!(
        q.filters,
        vec![
            Filter::new(p("age"), Op::Gte, "18"),
            Filter::new(p("info.city"), Op::Eq, "Saint Malo"),
            Filter::new(p("name"), Op::Eq, "0123"),
            Filter::new(p("_id"), Op::In, "a,b"),
        ]
    );
}

#[test]
fn explicit_eq_keeps_its_spelling() {
    let q = parse("n.$eq=1").unwrap();
    assert_eq!(q.filters[0].op, Op::Eq);
    assert_eq!(q.filters[0].key, "n.$eq");
    assert_eq!(q.to_string(), "n.$eq=1");
}

#[test]
fn conditions_on_one_field_are_all_kept() {
    // backo let the last one win (bug B4).
    let q = parse("age.$gt=30&age.$lt=50&age.$gt=31").unwrap();
    let ops: Vec<_> = q.filters.iter().map(|f| (f.op, f.raw.as_str())).collect();
    assert_eq!(ops, vec![(Op::Gt, "30"), (Op::Lt, "50"), (Op::Gt, "31")]);
}

#[test]
fn values_are_decoded_and_may_be_empty_or_hold_equals() {
    let q = parse("a=&b=x=y&c=%2B1%20%26&d=%C3%A9t%C3%A9&e=(?i)^bo").unwrap();
    let raws: Vec<_> = q.filters.iter().map(|f| f.raw.as_str()).collect();
    assert_eq!(raws, vec!["", "x=y", "+1 &", "été", "(?i)^bo"]);
}

#[test]
fn keys_are_decoded_before_use() {
    let q = parse("%5Fpage=5&info%2Ecity.%24ne=x").unwrap();
    assert_eq!(q.page, Some(5));
    assert_eq!(q.filters, vec![Filter::new(p("info.city"), Op::Ne, "x")]);
}

#[test]
fn parameters() {
    let q =
        parse("_page=0&_skip=20&_sort=a,-b.c,+d,%2Be,--f&_view=%2Bshort&_fields=a,b.c&_after=01J")
            .unwrap();
    assert_eq!(q.page, Some(0));
    assert_eq!(q.skip, Some(20));
    let sort: Vec<_> = q
        .sort
        .iter()
        .map(|k| (k.path.join("."), k.descending))
        .collect();
    assert_eq!(
        sort,
        vec![
            ("a".into(), false),
            ("b.c".into(), true),
            ("d".into(), false),
            ("e".into(), false),
            ("-f".into(), true),
        ]
    );
    assert_eq!(q.view.as_deref(), Some("+short"));
    assert_eq!(q.fields, Some(vec![p("a"), p("b.c")]));
    assert_eq!(q.after.as_deref(), Some("01J"));
    assert!(q.filters.is_empty());
}

#[test]
fn numbers_accept_leading_zeros_and_u64_max() {
    assert_eq!(parse("_page=007").unwrap().page, Some(7));
    assert_eq!(
        parse("_skip=18446744073709551615").unwrap().skip,
        Some(u64::MAX)
    );
}

#[test]
fn too_long() {
    let q = format!("a={}", "x".repeat(MAX_QUERY_LEN));
    let (e, m) = fail(&q);
    assert_eq!(e.key(), None);
    assert_eq!(
        m,
        "query string too long: 65538 bytes, at most 65536 allowed"
    );
    // Exactly at the bound is fine.
    let q = format!("a={}", "x".repeat(MAX_QUERY_LEN - 2));
    assert!(parse(&q).is_ok());
}

#[test]
fn too_many_conditions() {
    let q = vec!["a=1"; MAX_CONDITIONS].join("&");
    assert_eq!(parse(&q).unwrap().filters.len(), MAX_CONDITIONS);
    let (e, m) = fail(&format!("{q}&a=1"));
    assert_eq!(e, ParseError::TooManyConditions { max: 256 });
    assert_eq!(m, "too many conditions: at most 256 allowed");
    // Parameters are not conditions.
    assert!(parse(&format!("{q}&_page=1&_sort=a")).is_ok());
}

#[test]
fn bad_escape_in_value_points_at_the_percent() {
    let (e, m) = fail("a=1&name=ab%zz");
    assert_eq!(
        e,
        ParseError::BadEscape {
            key: "name".into(),
            offset: 11
        }
    );
    assert_eq!(
        m,
        "bad percent escape in `name` at byte 11: `%` must be followed by two hexadecimal digits"
    );
    assert!(matches!(
        fail("a=%").0,
        ParseError::BadEscape { offset: 2, .. }
    ));
    assert!(matches!(
        fail("a=%4").0,
        ParseError::BadEscape { offset: 2, .. }
    ));
}

#[test]
fn bad_escape_in_key_reports_the_raw_key() {
    let (e, _) = fail("x=1&na%g1me=2");
    assert_eq!(
        e,
        ParseError::BadEscape {
            key: "na%g1me".into(),
            offset: 6
        }
    );
    assert_eq!(e.key(), Some("na%g1me"));
}

#[test]
fn bad_utf8() {
    let (e, m) = fail("name=%FF%FE");
    assert_eq!(
        e,
        ParseError::BadUtf8 {
            key: "name".into(),
            offset: 5
        }
    );
    assert_eq!(m, "`name` at byte 5 does not decode to valid UTF-8");
    let (e, _) = fail("a=1&%C3=2");
    assert_eq!(
        e,
        ParseError::BadUtf8 {
            key: "%C3".into(),
            offset: 4
        }
    );
}

#[test]
fn empty_key() {
    let (e, m) = fail("a=1&=5");
    assert_eq!(e, ParseError::EmptyKey { offset: 4 });
    assert_eq!(m, "empty parameter name at byte 4");
    assert_eq!(e.key(), None);
    assert!(matches!(fail("=").0, ParseError::EmptyKey { offset: 0 }));
}

#[test]
fn missing_value() {
    let (e, m) = fail("a=1&name&b=2");
    assert_eq!(
        e,
        ParseError::MissingValue {
            key: "name".into(),
            offset: 4
        }
    );
    assert_eq!(m, "`name` at byte 4 has no value: expected `name=value`");
    assert!(matches!(fail("_page").0, ParseError::MissingValue { .. }));
}

#[test]
fn unknown_parameter() {
    let (e, m) = fail("a=1&_limit=5");
    assert_eq!(
        e,
        ParseError::UnknownParameter {
            key: "_limit".into(),
            offset: 4
        }
    );
    assert_eq!(
        m,
        "unknown parameter `_limit` at byte 4: the parameters are _page, _skip, _sort, _view, _fields and _after, and `_id` is the only `_` field that can be filtered"
    );
    assert_eq!(e.key(), Some("_limit"));
    for q in ["_meta.ctime=1", "_id.x=1", "_Page=1", "_=1", "_dry_run=1"] {
        assert!(
            matches!(fail(q).0, ParseError::UnknownParameter { .. }),
            "{q}"
        );
    }
}

#[test]
fn duplicate_parameters() {
    for key in ["_page", "_skip", "_sort", "_view", "_fields", "_after"] {
        let value = if key.ends_with("page") || key.ends_with("skip") {
            "1"
        } else {
            "a"
        };
        let q = format!("{key}={value}&x=1&{key}={value}");
        let (e, m) = fail(&q);
        let offset = key.len() + value.len() + 6;
        assert_eq!(
            e,
            ParseError::Duplicate {
                key: key.into(),
                offset
            }
        );
        assert_eq!(
            m,
            format!("`{key}` is given more than once (again at byte {offset})")
        );
    }
}

#[test]
fn bad_numbers() {
    let (e, m) = fail("_page=abc");
    assert_eq!(
        e,
        ParseError::BadNumber {
            key: "_page".into(),
            value: "abc".into(),
            offset: 0
        }
    );
    assert_eq!(
        m,
        "`_page` at byte 0 must be a non-negative integer, got `abc`"
    );
    for q in [
        "_skip=-1",
        "_skip=",
        "_page=%2B5",
        "_page=+5",
        "_page=1.5",
        "_page=1e3",
        "_skip=18446744073709551616",
        "_page=%EF%BC%91", // a full-width digit
    ] {
        assert!(matches!(fail(q).0, ParseError::BadNumber { .. }), "{q}");
    }
}

#[test]
fn empty_values() {
    for key in ["_sort", "_fields", "_view", "_after"] {
        let (e, m) = fail(&format!("a=1&{key}="));
        assert_eq!(
            e,
            ParseError::EmptyValue {
                key: key.into(),
                offset: 4
            }
        );
        assert_eq!(m, format!("`{key}` at byte 4 needs a value"));
    }
}

#[test]
fn empty_list_items() {
    let (e, m) = fail("_sort=a,,b");
    assert_eq!(
        e,
        ParseError::EmptyListItem {
            key: "_sort".into(),
            offset: 0
        }
    );
    assert_eq!(m, "`_sort` at byte 0 has an empty item in its list");
    for q in [
        "_sort=-",
        "_sort=a,",
        "_sort=,a",
        "_sort=%2B",
        "_fields=a,",
        "_fields=,",
    ] {
        assert!(matches!(fail(q).0, ParseError::EmptyListItem { .. }), "{q}");
    }
}

#[test]
fn empty_segments() {
    let (e, m) = fail("x=1&a..b=2");
    assert_eq!(
        e,
        ParseError::EmptySegment {
            key: "a..b".into(),
            path: "a..b".into(),
            offset: 4
        }
    );
    assert_eq!(m, "`a..b` at byte 4: empty field name in `a..b`");
    for q in [".a=1", "a.=1", "a..$gt=1", "_sort=a.", "_fields=.b"] {
        assert!(matches!(fail(q).0, ParseError::EmptySegment { .. }), "{q}");
    }
    let (e, _) = fail("_sort=-a..b");
    assert_eq!(e.key(), Some("_sort"));
    assert!(e.to_string().ends_with("empty field name in `a..b`"));
}

#[test]
fn bad_field_names() {
    let (e, m) = fail("first+name=bob");
    assert_eq!(
        e,
        ParseError::BadFieldName {
            key: "first name".into(),
            name: "first name".into(),
            offset: 0
        }
    );
    assert_eq!(
        m,
        "`first name` at byte 0: invalid field name `first name`: a name may only contain letters, digits, `_` and `-`"
    );
    for q in [
        "?a=1",
        "a/b=1",
        "%C3%A9=1",
        "_sort=a.$gt",
        "_fields=a:b",
        "_sort=-+a",
    ] {
        assert!(matches!(fail(q).0, ParseError::BadFieldName { .. }), "{q}");
    }
}

#[test]
fn unknown_operator() {
    let (e, m) = fail("age.$between=1,2");
    assert_eq!(
        e,
        ParseError::UnknownOperator {
            key: "age.$between".into(),
            op: "$between".into(),
            offset: 0
        }
    );
    assert!(m.starts_with("unknown operator `$between` in `age.$between` at byte 0"));
    assert_eq!(e.key(), Some("age.$between"));
}

#[test]
fn misplaced_operator() {
    let (e, m) = fail("a.$gt.b=1");
    assert_eq!(
        e,
        ParseError::MisplacedOperator {
            key: "a.$gt.b".into(),
            op: "$gt".into(),
            offset: 0
        }
    );
    assert_eq!(
        m,
        "`a.$gt.b` at byte 0: the operator `$gt` must be the last part of the key"
    );
}

#[test]
fn operator_without_field() {
    let (e, m) = fail("$gt=5");
    assert_eq!(
        e,
        ParseError::OperatorWithoutField {
            key: "$gt".into(),
            offset: 0
        }
    );
    assert_eq!(
        m,
        "`$gt` at byte 0: the operator needs a field, as in `age.$gt`"
    );
}

#[test]
fn offsets_count_bytes_of_the_encoded_string() {
    // `é` is two bytes, `%C3%A9` six: offsets are in the string as sent.
    let (e, _) = fail("a=%C3%A9&b=é&_x=1");
    assert_eq!(e.offset(), Some(14));
}

#[test]
fn display_round_trips_what_parse_returns() {
    for q in [
        "",
        "a=1",
        "a.$eq=1&a=2&a.$ne=+x%2By",
        "_sort=%2B-a,--b,c&_page=0",
        "_view=+x&_after=a%26b&_fields=a.b,c",
        "info.city.$re=(?i)%5Esaint&_id.$nin=a,b",
    ] {
        let parsed = parse(q).unwrap();
        let shown = parsed.to_string();
        assert_eq!(parse(&shown).unwrap(), parsed, "{q} -> {shown}");
    }
}
