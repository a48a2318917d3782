//! Integration tests for `refdb_storage::patch`: parsing (both path
//! syntaxes), every operation, every error kind with its path and message,
//! all-or-nothing application, limits, and property tests.

use proptest::prelude::*;
use refdb_storage::patch::{
    MAX_DEPTH, MAX_OPS, PatchError, PatchErrorKind, PatchOp, PathSeg, apply_patch, format_path,
    parse_patch, parse_path,
};
use serde_json::{Map, Value, json};

use PathSeg::{End, Index, Key};

fn key(name: &str) -> PathSeg {
    Key(name.to_owned())
}

fn map(doc: &Value) -> Map<String, Value> {
    doc.as_object().expect("test documents are objects").clone()
}

/// Parses and applies `patch` to `doc`.
fn run(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = parse_patch(patch)?;
    apply_patch(&map(doc), &ops).map(Value::Object)
}

fn ok(doc: Value, patch: Value) -> Value {
    run(&doc, &patch).unwrap_or_else(|e| panic!("patch {patch} failed: {e}"))
}

fn fails(doc: Value, patch: Value) -> PatchError {
    match run(&doc, &patch) {
        Ok(result) => panic!("patch {patch} unexpectedly gave {result}"),
        Err(e) => e,
    }
}

fn parse_err(patch: Value) -> PatchError {
    parse_patch(&patch).expect_err("the patch should not parse")
}

fn assert_err(e: &PatchError, kind: PatchErrorKind, path: &str, needle: &str) {
    assert_eq!(e.kind, kind, "{e}");
    assert_eq!(e.path, path, "{e}");
    assert!(e.message.contains(needle), "{e:?} lacks {needle:?}");
    assert_eq!(e.to_string(), format!("{}: {}", e.path, e.message));
}

// ---------------------------------------------------------------- parsing --

#[test]
fn patch_parses_one_op_or_a_list() {
    let one = parse_patch(&json!({"op": "remove", "path": "$.a"})).unwrap();
    assert_eq!(
        one,
        vec![PatchOp::Remove {
            path: vec![key("a")]
        }]
    );
    let list = parse_patch(&json!([
        {"op": "test", "path": "$.a", "value": 1},
        {"op": "add", "path": "$.b", "value": null},
        {"op": "replace", "path": "/c", "value": [1]},
        {"op": "move", "from": "$.a", "path": "$.d"},
        {"op": "copy", "from": "/d", "path": "/e", "ignored": true},
    ]))
    .unwrap();
    let names: Vec<_> = list.iter().map(PatchOp::name).collect();
    assert_eq!(names, ["test", "add", "replace", "move", "copy"]);
    assert_eq!(
        list[1],
        PatchOp::Add {
            path: vec![key("b")],
            value: Value::Null
        }
    );
    assert_eq!(list[3].from(), Some(&[key("a")][..]));
    assert_eq!(list[4].path(), &[key("e")]);
    assert_eq!(parse_patch(&json!([])).unwrap(), vec![]);
}

#[test]
fn patch_parses_selectors() {
    assert_eq!(parse_path("$").unwrap(), vec![]);
    assert_eq!(
        parse_path("$.a.b[0]").unwrap(),
        vec![key("a"), key("b"), Index(0)]
    );
    assert_eq!(
        parse_path("$.a[2].c").unwrap(),
        vec![key("a"), Index(2), key("c")]
    );
    assert_eq!(parse_path(r#"$["key"]"#).unwrap(), vec![key("key")]);
    assert_eq!(
        parse_path(r#"$.a["weird key"]["a.b"]["q\"[]"]"#).unwrap(),
        vec![key("a"), key("weird key"), key("a.b"), key("q\"[]")]
    );
    assert_eq!(parse_path("$.tags[-]").unwrap(), vec![key("tags"), End]);
    assert_eq!(parse_path("$.0.-").unwrap(), vec![key("0"), key("-")]);
    assert_eq!(parse_path("$.été").unwrap(), vec![key("été")]);
}

#[test]
fn patch_parses_pointers() {
    assert_eq!(parse_path("").unwrap(), vec![]);
    assert_eq!(
        parse_path("/a/b/0").unwrap(),
        vec![key("a"), key("b"), Index(0)]
    );
    assert_eq!(
        parse_path("/a~1b/c~0d/~01").unwrap(),
        vec![key("a/b"), key("c~d"), key("~1")]
    );
    assert_eq!(parse_path("/").unwrap(), vec![key("")]);
    assert_eq!(parse_path("/tags/-").unwrap(), vec![key("tags"), End]);
    // Only canonical decimals are indices; the rest can only be names.
    assert_eq!(
        parse_path("/01/12/1e3").unwrap(),
        vec![key("01"), Index(12), key("1e3")]
    );
    assert_eq!(
        parse_path("/99999999999999999999999").unwrap(),
        vec![key("99999999999999999999999")]
    );
}

#[test]
fn patch_format_path_reads_back() {
    let segs = vec![
        key("a"),
        Index(3),
        key("odd key"),
        key(""),
        key("*"),
        key("a.b"),
        End,
        key("x_y-z"),
    ];
    let text = format_path(&segs);
    assert_eq!(text, r#"$.a[3]["odd key"][""]["*"]["a.b"][-].x_y-z"#);
    assert_eq!(parse_path(&text).unwrap(), segs);
    assert_eq!(format_path(&[]), "$");
}

#[test]
fn patch_bad_paths_name_the_member() {
    for (path, needle) in [
        ("a.b", "starting with `$`"),
        ("$.", "empty member name"),
        ("$..a", "empty member name"),
        ("$.*", "wildcards"),
        ("$[", "unterminated `[`"),
        ("$[x]", "expected an index"),
        ("$[1:2]", "expected an index"),
        ("$[-1]", "expected an index"),
        ("$[99999999999999999999999]", "too large"),
        (r#"$["open"#, "unterminated string"),
        (r#"$["a\q"]"#, "invalid string"),
        (r#"$["a"x"#, "expected `]`"),
        ("$a", "expected `.` or `[`"),
        ("$.a]", "expected `.` or `[`"),
        ("/a~2", "`~` must be followed by 0 or 1"),
        ("/a~", "`~` must be followed by 0 or 1"),
    ] {
        let e = parse_err(
            json!([{"op": "test", "path": "$.ok", "value": 1}, {"op": "remove", "path": path}]),
        );
        assert_err(&e, PatchErrorKind::BadPatch, "$[1].path", needle);
        assert!(e.message.contains("invalid path"), "{e}");
    }
    let e = parse_err(json!({"op": "move", "from": "nope", "path": "$.a"}));
    assert_err(
        &e,
        PatchErrorKind::BadPatch,
        "$.from",
        "invalid path \"nope\"",
    );
}

#[test]
fn patch_malformed_bodies_name_the_member() {
    use PatchErrorKind::BadPatch;
    assert_err(
        &parse_err(json!("add")),
        BadPatch,
        "$",
        "operation object or an array",
    );
    assert_err(
        &parse_err(json!(null)),
        BadPatch,
        "$",
        "operation object or an array",
    );
    assert_err(
        &parse_err(json!([{"op": "remove", "path": "$.a"}, 3])),
        BadPatch,
        "$[1]",
        "must be an object",
    );
    assert_err(
        &parse_err(json!({"path": "$.a"})),
        BadPatch,
        "$.op",
        "missing member `op`",
    );
    assert_err(
        &parse_err(json!([{"op": 1, "path": "$.a"}])),
        BadPatch,
        "$[0].op",
        "must be a string",
    );
    let e =
        parse_err(json!([{"op": "test", "path": "$", "value": 1}, {"op": "merge", "path": "$.a"}]));
    assert_err(
        &e,
        BadPatch,
        "$[1].op",
        r#"unknown operation "merge"; expected test, add"#,
    );
    assert_err(
        &parse_err(json!({"op": "remove"})),
        BadPatch,
        "$.path",
        "missing member `path`",
    );
    assert_err(
        &parse_err(json!({"op": "remove", "path": ["a"]})),
        BadPatch,
        "$.path",
        "`path` must be a string",
    );
    for op in ["test", "add", "replace"] {
        let e = parse_err(json!([{"op": op, "path": "$.a"}]));
        assert_err(
            &e,
            BadPatch,
            "$[0].value",
            &format!("missing member `value` (`{op}` needs it)"),
        );
    }
    for op in ["move", "copy"] {
        let e = parse_err(json!([{"op": op, "path": "$.a"}]));
        assert_err(&e, BadPatch, "$[0].from", "missing member `from`");
    }
    // Long user text is cut short in messages.
    let e = parse_err(json!({"op": "x".repeat(10_000)}));
    assert!(e.message.len() < 300, "{}", e.message.len());
}

#[test]
fn patch_operation_count_is_limited() {
    let op = json!({"op": "test", "path": "$.a", "value": 1});
    let at_limit = Value::Array(vec![op.clone(); MAX_OPS]);
    assert_eq!(parse_patch(&at_limit).unwrap().len(), MAX_OPS);
    let over = Value::Array(vec![op; MAX_OPS + 1]);
    assert_err(
        &parse_err(over),
        PatchErrorKind::BadPatch,
        "$",
        "at most 1000 operations",
    );
    let ops = vec![
        PatchOp::Remove {
            path: vec![key("a")]
        };
        MAX_OPS + 1
    ];
    let e = apply_patch(&Map::new(), &ops).unwrap_err();
    assert_err(&e, PatchErrorKind::BadPatch, "$", "at most 1000 operations");
}

// ------------------------------------------------------------- operations --

#[test]
fn patch_test_compares_json_equality() {
    let doc = json!({"n": 1, "f": 2.5, "big": 9007199254740993u64, "o": {"x": [1, {"y": null}], "z": "s"}});
    ok(
        doc.clone(),
        json!({"op": "test", "path": "$.n", "value": 1.0}),
    );
    ok(
        doc.clone(),
        json!({"op": "test", "path": "/f", "value": 2.5}),
    );
    ok(
        doc.clone(),
        json!({"op": "test", "path": "$.o", "value": {"z": "s", "x": [1.0, {"y": null}]}}),
    );
    ok(
        doc.clone(),
        json!({"op": "test", "path": "$.o.x[1].y", "value": null}),
    );
    ok(
        doc.clone(),
        json!({"op": "test", "path": "$", "value": doc.clone()}),
    );
    let differs = [
        ("$.n", json!("1")),
        ("$.n", json!(1.5)),
        ("$.big", json!(9007199254740992u64)),
        ("$.big", json!(9007199254740992.0)),
        ("$.o.x", json!([{"y": null}, 1])),
        ("$.o", json!({"x": [1, {"y": null}]})),
        ("$.o.x[1]", json!({"y": null, "extra": 1})),
    ];
    for (path, value) in differs {
        let e = fails(
            doc.clone(),
            json!([{"op": "test", "path": path, "value": value}]),
        );
        assert_err(&e, PatchErrorKind::TestFailed, path, "the value differs");
        assert!(
            e.message
                .starts_with(&format!("operation $[0] (test {path}): ")),
            "{e}"
        );
    }
}

#[test]
fn patch_missing_members_read_as_null_for_test_and_replace() {
    let doc = json!({"a": {"b": 1}, "list": [1]});
    ok(
        doc.clone(),
        json!({"op": "test", "path": "$.absent", "value": null}),
    );
    ok(
        doc.clone(),
        json!({"op": "test", "path": "$.a.absent", "value": null}),
    );
    let e = fails(
        doc.clone(),
        json!({"op": "test", "path": "$.a.absent", "value": 0}),
    );
    assert_err(&e, PatchErrorKind::TestFailed, "$.a.absent", "differs");
    assert_eq!(
        ok(
            doc.clone(),
            json!([{"op": "replace", "path": "$.new", "value": 1}, {"op": "replace", "path": "/a/c", "value": 2}])
        ),
        json!({"a": {"b": 1, "c": 2}, "list": [1], "new": 1})
    );
    // Only the last segment may be missing, and array elements never are.
    let e = fails(
        doc.clone(),
        json!({"op": "test", "path": "$.absent.x", "value": null}),
    );
    assert_err(
        &e,
        PatchErrorKind::NoSuchPath,
        "$.absent",
        "$ has no member \"absent\"",
    );
    let e = fails(
        doc.clone(),
        json!({"op": "replace", "path": "$.list[1]", "value": 2}),
    );
    assert_err(
        &e,
        PatchErrorKind::NoSuchPath,
        "$.list[1]",
        "$.list has 1 elements, none at index 1",
    );
    let e = fails(
        doc,
        json!({"op": "test", "path": "$.list[-]", "value": null}),
    );
    assert_err(
        &e,
        PatchErrorKind::NoSuchPath,
        "$.list[-]",
        "`-` names no element",
    );
}

#[test]
fn patch_add_sets_members_inserts_and_appends() {
    let doc = json!({"a": 1, "b": {"c": 2}, "tags": ["x", "z"]});
    let out = ok(
        doc.clone(),
        json!([
            {"op": "add", "path": "$.a", "value": "replaced"},
            {"op": "add", "path": "/b/d", "value": [true]},
            {"op": "add", "path": "$.tags[1]", "value": "y"},
            {"op": "add", "path": "$.tags[3]", "value": "end"},
            {"op": "add", "path": "$.tags[-]", "value": "more"},
            {"op": "add", "path": "/tags/-", "value": "last"},
            {"op": "add", "path": "/tags/0", "value": "first"},
            {"op": "add", "path": "$.new", "value": {}},
        ]),
    );
    assert_eq!(
        out,
        json!({"a": "replaced", "b": {"c": 2, "d": [true]},
               "tags": ["first", "x", "y", "z", "end", "more", "last"], "new": {}})
    );
    // Replacing a member keeps its position; new members go last.
    let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["a", "b", "tags", "new"]);
    // On an object, index and `-` segments are member names (RFC 6901).
    assert_eq!(
        ok(
            json!({"m": {}}),
            json!({"op": "add", "path": "/m/0", "value": 1})
        ),
        json!({"m": {"0": 1}})
    );
    assert_eq!(
        ok(
            json!({"m": {}}),
            json!({"op": "add", "path": "$.m[-]", "value": 1})
        ),
        json!({"m": {"-": 1}})
    );

    let e = fails(
        doc.clone(),
        json!([{"op": "add", "path": "$.tags[5]", "value": 1}]),
    );
    assert_err(
        &e,
        PatchErrorKind::NoSuchPath,
        "$.tags[5]",
        "$.tags has 2 elements, none at index 5",
    );
    assert!(
        e.message.starts_with("operation $[0] (add $.tags[5]): "),
        "{e}"
    );
    let e = fails(
        doc.clone(),
        json!({"op": "add", "path": "$.tags.x", "value": 1}),
    );
    assert_err(
        &e,
        PatchErrorKind::NoSuchPath,
        "$.tags.x",
        "$.tags is an array; \"x\" is not an index",
    );
    let e = fails(
        doc.clone(),
        json!({"op": "add", "path": "$.missing.x", "value": 1}),
    );
    assert_err(
        &e,
        PatchErrorKind::NoSuchPath,
        "$.missing",
        "no member \"missing\"",
    );
    let e = fails(doc, json!({"op": "add", "path": "/a/x/y", "value": 1}));
    assert_err(
        &e,
        PatchErrorKind::NoSuchPath,
        "$.a.x",
        "$.a is a number, which has no members",
    );
}

#[test]
fn patch_remove_deletes_members_and_elements() {
    let doc = json!({"a": 1, "b": 2, "c": {"d": [1, 2, 3]}, "e": 3});
    let out = ok(
        doc.clone(),
        json!([
            {"op": "remove", "path": "$.b"},
            {"op": "remove", "path": "$.c.d[0]"},
            {"op": "remove", "path": "/c/d/1"},
        ]),
    );
    assert_eq!(out, json!({"a": 1, "c": {"d": [2]}, "e": 3}));
    // The remaining members keep their order.
    let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["a", "c", "e"]);

    let e = fails(doc.clone(), json!({"op": "remove", "path": "$.zz"}));
    assert_err(
        &e,
        PatchErrorKind::NoSuchPath,
        "$.zz",
        "$ has no member \"zz\"",
    );
    let e = fails(doc.clone(), json!({"op": "remove", "path": "$.c.d[3]"}));
    assert_err(
        &e,
        PatchErrorKind::NoSuchPath,
        "$.c.d[3]",
        "$.c.d has 3 elements, none at index 3",
    );
    let e = fails(doc, json!({"op": "remove", "path": "$.c.d[-]"}));
    assert_err(
        &e,
        PatchErrorKind::NoSuchPath,
        "$.c.d[-]",
        "`-` names no element",
    );
}

#[test]
fn patch_replace_sets_existing_values() {
    let doc = json!({"a": 1, "l": [1, 2]});
    assert_eq!(
        ok(
            doc.clone(),
            json!([{"op": "replace", "path": "$.a", "value": {"x": 1}}, {"op": "replace", "path": "/l/1", "value": null}])
        ),
        json!({"a": {"x": 1}, "l": [1, null]})
    );
    let e = fails(doc, json!({"op": "replace", "path": "$.l[-]", "value": 1}));
    assert_err(&e, PatchErrorKind::NoSuchPath, "$.l[-]", "only appends");
}

#[test]
fn patch_move_follows_rfc_6902() {
    let doc = json!({"a": {"b": 1}, "l": [1, 2, 3], "c": 4});
    assert_eq!(
        ok(
            doc.clone(),
            json!({"op": "move", "from": "$.a.b", "path": "$.top"})
        ),
        json!({"a": {}, "l": [1, 2, 3], "c": 4, "top": 1})
    );
    // Removal happens first, so indices refer to the shortened array.
    assert_eq!(
        ok(
            doc.clone(),
            json!({"op": "move", "from": "/l/0", "path": "/l/-"})
        )["l"],
        json!([2, 3, 1])
    );
    assert_eq!(
        ok(
            doc.clone(),
            json!({"op": "move", "from": "/l/0", "path": "/l/2"})
        )["l"],
        json!([2, 3, 1])
    );
    assert_eq!(
        ok(
            doc.clone(),
            json!({"op": "move", "from": "$.c", "path": "$.a.c"})
        )["a"],
        json!({"b": 1, "c": 4})
    );
    // Moving onto itself is a no-op, but the source must exist.
    assert_eq!(
        ok(
            doc.clone(),
            json!({"op": "move", "from": "$.a", "path": "/a"})
        ),
        doc
    );
    let e = fails(
        doc.clone(),
        json!({"op": "move", "from": "$.x", "path": "$.x"}),
    );
    assert_err(&e, PatchErrorKind::NoSuchPath, "$.x", "has no member");
    let e = fails(
        doc.clone(),
        json!({"op": "move", "from": "$.a", "path": "$.a.b.c"}),
    );
    assert_err(
        &e,
        PatchErrorKind::BadPatch,
        "$.a.b.c",
        "cannot move $.a into its own child",
    );
    assert!(
        e.message
            .starts_with("operation $[0] (move $.a to $.a.b.c): "),
        "{e}"
    );
    let e = fails(
        doc.clone(),
        json!({"op": "move", "from": "$.nope", "path": "$.b"}),
    );
    assert_err(&e, PatchErrorKind::NoSuchPath, "$.nope", "has no member");
    let e = fails(doc, json!({"op": "move", "from": "$.c", "path": "$.l[9]"}));
    assert_err(
        &e,
        PatchErrorKind::NoSuchPath,
        "$.l[9]",
        "has 3 elements, none at index 9",
    );
}

#[test]
fn patch_copy_follows_rfc_6902() {
    let doc = json!({"a": {"b": [1]}, "l": [0]});
    assert_eq!(
        ok(
            doc.clone(),
            json!([{"op": "copy", "from": "$.a", "path": "$.c"}, {"op": "add", "path": "$.c.b[-]", "value": 2}])
        ),
        json!({"a": {"b": [1]}, "l": [0], "c": {"b": [1, 2]}})
    );
    // Copying into one's own child is allowed (the copy is taken first).
    assert_eq!(
        ok(
            doc.clone(),
            json!({"op": "copy", "from": "/a", "path": "/a/self"})
        )["a"],
        json!({"b": [1], "self": {"b": [1]}})
    );
    assert_eq!(
        ok(
            doc.clone(),
            json!({"op": "copy", "from": "$.a.b[0]", "path": "$.l[0]"})
        )["l"],
        json!([1, 0])
    );
    let e = fails(doc, json!({"op": "copy", "from": "$.a.c", "path": "$.d"}));
    assert_err(
        &e,
        PatchErrorKind::NoSuchPath,
        "$.a.c",
        "$.a has no member \"c\"",
    );
}

#[test]
fn patch_engine_fields_and_the_root_are_forbidden() {
    let doc = json!({"_id": "x1", "_meta": {"ctime": "t"}, "a": 1});
    let cases = [
        (
            json!({"op": "replace", "path": "$._id", "value": "x2"}),
            "$._id",
            "`_id` is maintained by the engine",
        ),
        (
            json!({"op": "test", "path": "/_meta/ctime", "value": "t"}),
            "$._meta.ctime",
            "`_meta` is maintained",
        ),
        (
            json!({"op": "remove", "path": "$._meta"}),
            "$._meta",
            "`_meta` is maintained",
        ),
        (
            json!({"op": "move", "from": "$._meta", "path": "$.m"}),
            "$._meta",
            "`_meta` is maintained",
        ),
        (
            json!({"op": "copy", "from": "$.a", "path": "$._id"}),
            "$._id",
            "`_id` is maintained",
        ),
        (
            json!({"op": "replace", "path": "$", "value": {}}),
            "$",
            "the whole document cannot be written",
        ),
        (
            json!({"op": "add", "path": "", "value": {}}),
            "$",
            "the whole document",
        ),
        (
            json!({"op": "remove", "path": "$"}),
            "$",
            "the whole document",
        ),
        (
            json!({"op": "copy", "from": "", "path": "$.backup"}),
            "$",
            "the whole document",
        ),
        (
            json!({"op": "move", "from": "$", "path": "$.a"}),
            "$",
            "the whole document",
        ),
    ];
    for (op, path, needle) in cases {
        assert_err(
            &fails(doc.clone(), op),
            PatchErrorKind::Forbidden,
            path,
            needle,
        );
    }
    // Other underscore names are ordinary fields, and the root may be tested.
    ok(
        doc.clone(),
        json!({"op": "add", "path": "$._idx", "value": 1}),
    );
    ok(
        doc.clone(),
        json!({"op": "test", "path": "$", "value": doc.clone()}),
    );
    assert_eq!(PatchErrorKind::Forbidden.code(), "forbidden");
    assert_eq!(PatchErrorKind::TestFailed.code(), "test_failed");
}

#[test]
fn patch_all_or_nothing() {
    let doc = json!({"a": 1, "l": [1]});
    let input = map(&doc);
    let ops = parse_patch(&json!([
        {"op": "replace", "path": "$.a", "value": 2},
        {"op": "add", "path": "$.l[-]", "value": 2},
        {"op": "remove", "path": "$.missing"},
        {"op": "add", "path": "$.never", "value": 3},
    ]))
    .unwrap();
    let e = apply_patch(&input, &ops).unwrap_err();
    assert_err(
        &e,
        PatchErrorKind::NoSuchPath,
        "$.missing",
        "operation $[2] (remove $.missing)",
    );
    assert_eq!(
        Value::Object(input.clone()),
        doc,
        "the input is never changed"
    );
    // The first two operations alone do apply.
    assert_eq!(
        Value::Object(apply_patch(&input, &ops[..2]).unwrap()),
        json!({"a": 2, "l": [1, 2]})
    );
}

#[test]
fn patch_nesting_depth_is_limited() {
    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!(1), |inner, _| json!([inner]))
    }
    // `$.a` sits one level below the root object: MAX_DEPTH - 1 more fit.
    let out = ok(
        json!({}),
        json!({"op": "add", "path": "$.a", "value": nested(MAX_DEPTH - 1)}),
    );
    let text = serde_json::to_string(&out).unwrap();
    let reparsed: Value = serde_json::from_str(&text).expect("the result still parses");
    assert_eq!(reparsed, out);
    let e = fails(
        json!({}),
        json!({"op": "add", "path": "$.a", "value": nested(MAX_DEPTH)}),
    );
    assert_err(
        &e,
        PatchErrorKind::BadPatch,
        "$.a",
        "at most 127 are allowed",
    );
    // Copying into one's own child deepens the document step by step.
    let copies: Vec<_> = (0..200)
        .map(|_| json!({"op": "copy", "from": "$.a", "path": "$.a.a"}))
        .collect();
    let e = fails(json!({"a": {}}), Value::Array(copies));
    assert_eq!(e.kind, PatchErrorKind::BadPatch, "{e}");
    // Moves are checked too.
    let e = fails(
        json!({"deep": nested(100), "x": nested(100)}),
        json!({"op": "move", "from": "$.x", "path": format!("$.deep{}", "[0]".repeat(50))}),
    );
    assert_err(
        &e,
        PatchErrorKind::BadPatch,
        &format!("$.deep{}", "[0]".repeat(50)),
        "levels deep",
    );
}

#[test]
fn patch_copy_volume_is_limited() {
    // Each copy doubles `$.l`: without a budget this would need 2^1000 strings.
    let doc = json!({"l": ["x".repeat(1000)]});
    let copies: Vec<_> = (0..MAX_OPS)
        .map(|_| json!({"op": "copy", "from": "$.l", "path": "$.l[-]"}))
        .collect();
    let e = fails(doc, Value::Array(copies));
    assert_err(&e, PatchErrorKind::BadPatch, "$.l", "copies more than");
}

#[test]
fn patch_long_paths_are_walked_without_recursion() {
    let path = format!("${}", "[0]".repeat(200_000));
    let e = fails(json!({}), json!({"op": "remove", "path": path}));
    assert_err(
        &e,
        PatchErrorKind::NoSuchPath,
        "$.0",
        "$ has no member \"0\"",
    );
    let pointer = "/a".repeat(100_000);
    let e = fails(
        json!({"a": {"a": 1}}),
        json!({"op": "test", "path": pointer, "value": 1}),
    );
    assert_err(
        &e,
        PatchErrorKind::NoSuchPath,
        "$.a.a.a",
        "$.a.a is a number",
    );
    // Messages name the operation, but cut its path short.
    assert!(e.message.len() < 500, "{}", e.message.len());
    let e = fails(
        json!({"a": {}}),
        json!({"op": "move", "from": "$.a", "path": format!("$.a{}", ".b".repeat(100_000))}),
    );
    assert_eq!(e.kind, PatchErrorKind::BadPatch);
    assert!(
        e.path.starts_with("$.a.b.b") && e.path.ends_with('…'),
        "{}",
        e.path
    );
    assert!(
        e.message.contains("cannot move $.a into its own child"),
        "{e}"
    );
    assert!(e.to_string().len() < 1000, "{}", e.to_string().len());
}

// ------------------------------------------------------------- properties --

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,3}",
        1 => "[a-z0-9_~/.\\[\\]\"* -]{0,4}",
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-z ~/]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..5)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// A document: an object without the engine fields.
fn arb_doc() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((arb_key(), arb_json()), 0..6).prop_map(|members| {
        members
            .into_iter()
            .filter(|(name, _)| name != "_id" && name != "_meta")
            .collect()
    })
}

/// Every path to an existing non-root node of `doc`, walked iteratively.
fn existing_paths(doc: &Map<String, Value>) -> Vec<Vec<PathSeg>> {
    let mut out = Vec::new();
    let mut stack: Vec<(Vec<PathSeg>, &Value)> =
        doc.iter().map(|(k, v)| (vec![key(k)], v)).collect();
    while let Some((path, value)) = stack.pop() {
        match value {
            Value::Object(members) => {
                stack.extend(
                    members
                        .iter()
                        .map(|(k, v)| ([path.clone(), vec![key(k)]].concat(), v)),
                );
            }
            Value::Array(items) => {
                stack.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| ([path.clone(), vec![Index(i)]].concat(), v)),
                );
            }
            _ => {}
        }
        out.push(path);
    }
    out
}

fn to_pointer(path: &[PathSeg]) -> String {
    path.iter()
        .map(|seg| match seg {
            Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
            Index(i) => format!("/{i}"),
            End => "/-".to_owned(),
        })
        .collect()
}

fn arb_seg() -> impl Strategy<Value = PathSeg> {
    prop_oneof![
        4 => arb_key().prop_map(Key),
        2 => (0usize..4).prop_map(Index),
        1 => Just(End),
    ]
}

/// Path text in either syntax, now and then garbage.
fn arb_path_text() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(arb_seg(), 0..4),
        any::<bool>(),
        prop::option::weighted(0.05, ".{0,8}"),
    )
        .prop_map(|(segs, selector, garbage)| match garbage {
            Some(text) => json!(text),
            None if selector => json!(format_path(&segs)),
            None => json!(to_pointer(&segs)),
        })
}

/// Op objects that mostly parse.
fn arb_op() -> impl Strategy<Value = Value> {
    let name = prop::sample::select(vec![
        "test", "add", "remove", "replace", "move", "copy", "bogus",
    ]);
    (
        name,
        arb_path_text(),
        arb_path_text(),
        prop::option::weighted(0.9, arb_json()),
    )
        .prop_map(|(op, from, path, value)| {
            let mut obj = json!({"op": op, "path": path, "from": from});
            if let Some(value) = value {
                obj["value"] = value;
            }
            obj
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn patch_replace_then_test_succeeds(
        doc in arb_doc(),
        pick in any::<prop::sample::Index>(),
        value in arb_json(),
        selector in any::<bool>(),
        use_add in any::<bool>(),
    ) {
        let paths = existing_paths(&doc);
        prop_assume!(!paths.is_empty());
        let path = &paths[pick.index(paths.len())];
        let text = if selector { format_path(path) } else { to_pointer(path) };
        let op = if use_add { "add" } else { "replace" };
        let patch = json!([
            {"op": op, "path": text, "value": value},
            {"op": "test", "path": text, "value": value},
        ]);
        let ops = parse_patch(&patch).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let out = apply_patch(&doc, &ops).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let pointer = to_pointer(path);
        let out = Value::Object(out);
        prop_assert_eq!(out.pointer(&pointer), Some(&value));
    }

    #[test]
    fn patch_format_path_round_trips(segs in prop::collection::vec(arb_seg(), 0..6)) {
        prop_assert_eq!(parse_path(&format_path(&segs)).unwrap(), segs);
    }

    #[test]
    fn patch_arbitrary_bodies_never_panic(body in arb_json(), doc in arb_doc()) {
        if let Ok(ops) = parse_patch(&body) {
            let _ = apply_patch(&doc, &ops);
        }
    }

    #[test]
    fn patch_arbitrary_ops_never_panic_nor_touch_engine_fields(
        doc in arb_doc(),
        ops in prop::collection::vec(arb_op(), 0..8),
    ) {
        let mut doc = doc;
        doc.insert("_id".into(), json!("id1"));
        doc.insert("_meta".into(), json!({"ctime": "t"}));
        let body = Value::Array(ops);
        match parse_patch(&body) {
            Ok(ops) => match apply_patch(&doc, &ops) {
                Ok(out) => {
                    prop_assert_eq!(out.get("_id"), doc.get("_id"));
                    prop_assert_eq!(out.get("_meta"), doc.get("_meta"));
                }
                Err(e) => prop_assert!(e.to_string().starts_with(&e.path)),
            },
            Err(e) => prop_assert_eq!(e.kind, PatchErrorKind::BadPatch),
        }
    }
}
