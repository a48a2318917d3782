//! NDJSON import and export on real files: references between imported
//! collections, bad lines in stop and skip modes, export → import round trip.

mod common;
use common::*;
use refdb_storage::ndjson::{ImportOptions, export, import};
use std::io::Cursor;

fn lines(v: &[&str]) -> Cursor<Vec<u8>> {
    Cursor::new(v.join("\n").into_bytes())
}

#[test]
fn import_resolves_references_and_export_round_trips() {
    let t = open(library_schema());
    let s = &t.store;
    let mut ticks = 0;
    let r = import(
        s,
        "authors",
        lines(&[r#"{"_id":"hugo","name":"Hugo"}"#, "", r#"{"_id":"zola"}"#]),
        &ImportOptions::default(),
        &mut |_, _| ticks += 1,
    )
    .unwrap();
    assert_eq!((r.imported, r.stopped_at.is_none()), (2, true));
    assert!(ticks > 0);
    let r = import(
        s,
        "books",
        lines(&[
            r#"{"_id":"b1","author":"hugo","title":"A"}"#,
            r#"{"author":"zola"}"#,
        ]),
        &ImportOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(r.imported, 2);
    assert_eq!(ids(&s.get("authors", "hugo").unwrap()["books"]), ["b1"]);
    assert_clean(s);

    // Export both collections and import them into a new file.
    let (mut authors, mut books) = (Vec::new(), Vec::new());
    assert_eq!(export(s, "authors", &mut authors).unwrap(), 2);
    assert_eq!(export(s, "books", &mut books).unwrap(), 2);
    let copy = open(library_schema());
    import(
        &copy.store,
        "authors",
        Cursor::new(authors),
        &ImportOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    import(
        &copy.store,
        "books",
        Cursor::new(books),
        &ImportOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    let strip = |d: Vec<(String, refdb_storage::Document)>| {
        d.into_iter()
            .map(|(c, mut doc)| {
                doc.shift_remove("_meta");
                (c, doc)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(dump(&copy.store)), strip(dump(s)));
    assert_clean(&copy.store);
}

#[test]
fn stop_mode_reports_the_line_and_path_and_rolls_the_batch_back() {
    let t = open(library_schema());
    let input = lines(&[
        r#"{"_id":"a1"}"#,
        r#"{"_id":"a2","name":5}"#,
        r#"{"_id":"a3"}"#,
    ]);
    let r = import(
        &t.store,
        "authors",
        input,
        &ImportOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    let bad = r.stopped_at.expect("stopped");
    assert_eq!((bad.line, bad.path.as_deref()), (2, Some("$.name")));
    assert_eq!(r.imported, 0);
    assert_eq!(t.store.read().unwrap().count("authors").unwrap(), 0);
}

#[test]
fn skip_mode_skips_bad_lines_and_imports_the_rest() {
    let t = open(library_schema());
    t.store
        .create("authors", doc(serde_json::json!({"_id": "a"})))
        .unwrap();
    let input = lines(&[
        r#"{"_id":"b1","author":"a"}"#,
        r#"{"_id":"b2","author":"ghost"}"#,
        "not json",
        r#"[1]"#,
        r#"{"_id":"b1","author":"a"}"#,
        r#"{"_id":"b3","author":"a","title":7}"#,
        r#"{"_id":"b4","author":"a"}"#,
    ]);
    let opts = ImportOptions {
        batch: 2,
        skip_invalid: true,
    };
    let r = import(&t.store, "books", input, &opts, &mut |_, _| {}).unwrap();
    assert_eq!(r.imported, 2);
    let got: Vec<(u64, Option<&str>)> = r
        .skipped
        .iter()
        .map(|b| (b.line, b.path.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (2, Some("$.author")),
            (3, Some("$")),
            (4, Some("$")),
            (5, None),
            (6, Some("$.title"))
        ]
    );
    assert_eq!(
        ids(&t.store.get("authors", "a").unwrap()["books"]),
        ["b1", "b4"]
    );
    assert_clean(&t.store);
}
