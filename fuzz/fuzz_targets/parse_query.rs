//! Fuzz target: the query-string parser never panics, and whatever it
//! accepts survives the round trip through the canonical `Display`:
//! `parse(parse(s).to_string()) == parse(s)`.
//!
//! Bytes are read as lossy UTF-8 because that is what `parse` can receive
//! (the HTTP layer hands it a `&str`); invalid sequences become U+FFFD,
//! which still reaches the "not a field name" paths.

#![no_main]

use libfuzzer_sys::fuzz_target;
use refdb_query::parse;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    if let Ok(query) = parse(&input) {
        let shown = query.to_string();
        match parse(&shown) {
            Ok(again) => assert_eq!(again, query, "{input:?} shown as {shown:?}"),
            Err(e) => panic!("{input:?} shown as {shown:?} does not parse: {e}"),
        }
    }
});
