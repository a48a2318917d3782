//! Paging laws, for random data and queries:
//! - `page(skip, n) == full[skip .. skip + n]`;
//! - the pages of size n, one after the other, concatenate to `full`;
//! - `_after` keyset continuation (in `_id` order, ascending or
//!   descending) also concatenates to `full`;
//! - `total` never depends on `_skip`, `_page` or `_after`.

mod common;

use common::*;
use proptest::prelude::*;
use refdb_query::{Query, SortKey};
use refdb_storage::Document;
use serde_json::json;

fn load(people: Vec<Document>, explicit_ids: bool, threshold: usize) -> Db {
    let db = open(threshold);
    for (i, mut p) in people.into_iter().enumerate() {
        if explicit_ids {
            p.insert("_id".into(), json!(format!("p{:02}", (i * 7) % 31)));
        }
        // Explicit ids may repeat; a duplicate is simply not created.
        let _ = db.engine.store().create("people", p);
    }
    db
}

fn with(q: &Query, skip: u64, page: u64, after: Option<String>) -> Query {
    Query {
        skip: Some(skip),
        page: Some(page),
        after,
        ..q.clone()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn pages_are_slices_of_the_full_result(
        people in prop::collection::vec(person(), 0..30),
        explicit_ids in any::<bool>(),
        q in query(),
        skip in 0u64..35,
        n in 1u64..7,
        parallel in any::<bool>(),
    ) {
        let db = load(people, explicit_ids, if parallel { 2 } else { 1 << 20 });
        let full_page = db.engine.list("people", &with(&q, 0, 0, None)).unwrap();
        let full = ids(&full_page);
        prop_assert_eq!(full_page.total, full.len() as u64);

        let page = db.engine.list("people", &with(&q, skip, n, None)).unwrap();
        let want: Vec<String> = full.iter().skip(skip as usize).take(n as usize).cloned().collect();
        prop_assert_eq!(ids(&page), want);
        prop_assert_eq!(page.total, full_page.total);
        prop_assert_eq!((page.skip, page.page), (skip, n));

        let mut concat = Vec::new();
        let mut k = 0;
        loop {
            let p = db.engine.list("people", &with(&q, k, n, None)).unwrap();
            if p.result.is_empty() {
                break;
            }
            concat.extend(ids(&p));
            k += n;
        }
        prop_assert_eq!(&concat, &full);
    }

    #[test]
    fn after_continues_the_id_order(
        people in prop::collection::vec(person(), 0..30),
        explicit_ids in any::<bool>(),
        q in query(),
        n in 1u64..7,
        desc in any::<bool>(),
    ) {
        let db = load(people, explicit_ids, 1 << 20);
        let q = Query {
            sort: vec![SortKey { path: vec!["_id".into()], descending: desc }],
            ..q
        };
        let full_page = db.engine.list("people", &with(&q, 0, 0, None)).unwrap();
        let full = ids(&full_page);
        let mut concat: Vec<String> = Vec::new();
        loop {
            let p = db.engine.list("people", &with(&q, 0, n, concat.last().cloned())).unwrap();
            prop_assert_eq!(p.total, full_page.total);
            if p.result.is_empty() {
                break;
            }
            concat.extend(ids(&p));
        }
        prop_assert_eq!(&concat, &full);
        // An `_after` id that is not in the collection still positions.
        let mid = with(&q, 0, 0, Some("p15x".into()));
        let got = ids(&db.engine.list("people", &mid).unwrap());
        let want: Vec<String> = full.into_iter().filter(|i| if desc { i.as_str() < "p15x" } else { i.as_str() > "p15x" }).collect();
        prop_assert_eq!(got, want);
    }
}
