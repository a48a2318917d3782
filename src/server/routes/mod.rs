//! Route handlers, one file per resource, and what they share: the writing
//! actor, views, ETags and document responses.
//!
//! ETags: a document's ETag is a hash of its full JSON (every field and
//! `_meta`, whatever view is asked for), so an `If-Match` taken from any
//! read guards any write. A read through a non-default view gets the same
//! hash plus a view suffix, so a cache never confuses two views of one
//! document; `If-Match` compares the hash part only. Fields the caller may
//! not read are left out of the hash too (else a guessable hidden value
//! could be confirmed by hashing candidates), so a caller's `If-Match`
//! guards what that caller can see.

pub mod actions;
pub mod batch;
pub mod changes;
pub mod collection;
pub mod document;
pub mod health;
pub mod meta;
pub mod openapi;
pub mod sse;

use hyper::header::{CACHE_CONTROL, ETAG, HeaderValue};
use hyper::{Response, StatusCode};
use refdb_storage::schema::views::View;
use refdb_storage::{Collection, Document};
use serde_json::Value;
use std::collections::HashSet;

use super::auth::hide;
use super::body::{Body, json_bytes_response};

/// FNV-1a, 64 bits: stable across runs and platforms (unlike std's
/// `DefaultHasher`), which an ETag kept by a client across restarts needs.
fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The hash part of a document's ETag, as seen by a caller for whom the
/// `hidden` fields do not exist.
pub fn doc_hash(doc: &Document, hidden: &HashSet<String>) -> String {
    if hidden.is_empty() {
        return hash_of(&serde_json::to_vec(doc).expect("JSON"));
    }
    let mut seen = doc.clone();
    hide(&mut seen, hidden);
    hash_of(&serde_json::to_vec(&seen).expect("JSON"))
}

fn hash_of(json: &[u8]) -> String {
    format!("{:016x}", fnv64(json))
}

/// The quoted ETag for a document hash seen through `view` (`None` = the
/// default view).
fn tag_for(hash: &str, view: Option<&str>) -> String {
    match view {
        None | Some("client") => format!("\"{hash}\""),
        Some(v) => format!("\"{hash}.{:08x}\"", fnv64(v.as_bytes()) as u32),
    }
}

/// True when an `If-Match` header value admits a document whose hash is
/// `hash`: `*`, or one of its strong tags with that hash.
pub fn if_match_admits(header: &str, hash: &str) -> bool {
    header.split(',').map(str::trim).any(|t| {
        t == "*"
            || t.strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .is_some_and(|t| t.split('.').next() == Some(hash))
    })
}

/// True when an `If-None-Match` header value names `tag` (weak
/// comparison, as RFC 9110 asks for this header).
pub fn none_match_hits(header: &str, tag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

/// Whether a caller asking for `view` sees every field of a `coll`
/// document (and `_meta`): then its stored JSON is served as it is.
pub fn shows_whole(coll: &Collection, view: Option<&str>, hidden: &HashSet<String>) -> bool {
    hidden.is_empty() && View::parse(view).shows_all(coll)
}

/// A document response from the document's whole JSON (see
/// [`shows_whole`]): what [`doc_response`] gives for the same document,
/// without parsing or serializing it.
pub fn whole_doc_response(status: StatusCode, json: Vec<u8>, view: Option<&str>) -> Response<Body> {
    let tag = tag_for(&hash_of(&json), view);
    let mut resp = json_bytes_response(status, json);
    with_etag(&mut resp, &tag);
    resp
}

/// A document response: the view applied (the default view `client`
/// too), with `ETag` and `Cache-Control: no-cache` (caches must
/// revalidate: documents change). The document is serialized once when
/// the view hides nothing, which is the common case. The `hidden` fields
/// (which the caller may not read) are removed first.
pub fn doc_response(
    status: StatusCode,
    coll: &Collection,
    mut doc: Document,
    view: Option<&str>,
    hidden: &HashSet<String>,
) -> Response<Body> {
    hide(&mut doc, hidden);
    let full = serde_json::to_vec(&doc).expect("JSON");
    let tag = tag_for(&hash_of(&full), view);
    let v = View::parse(view);
    let hides = matches!(v, View::Only(_)) || coll.fields.iter().any(|f| !v.shows(&f.views));
    let bytes = if hides {
        v.apply(coll, &mut doc);
        serde_json::to_vec(&doc).expect("JSON")
    } else {
        full
    };
    let mut resp = json_bytes_response(status, bytes);
    with_etag(&mut resp, &tag);
    resp
}

/// Sets `ETag` and `Cache-Control: no-cache`.
pub fn with_etag(resp: &mut Response<Body>, tag: &str) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert(ETAG, v);
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

/// `[{"coll": c, "_id": id}, …]` for deleted (collection, id) pairs.
pub fn deleted_json(deleted: &[(String, String)]) -> Value {
    Value::Object(
        [
            (
                "deleted".to_string(),
                deleted
                    .iter()
                    .map(|(_, id)| Value::from(id.as_str()))
                    .collect(),
            ),
            (
                "details".to_string(),
                deleted
                    .iter()
                    .map(|(c, id)| serde_json::json!({"coll": c, "_id": id}))
                    .collect(),
            ),
        ]
        .into_iter()
        .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_and_preconditions() {
        let doc: Document = serde_json::from_str(r#"{"_id":"a","n":1}"#).unwrap();
        let h = doc_hash(&doc, &HashSet::new());
        let plain = tag_for(&h, None);
        let short = tag_for(&h, Some("short"));
        assert_eq!(plain, format!("\"{h}\""));
        assert_ne!(plain, short);
        assert!(if_match_admits(&plain, &h));
        assert!(if_match_admits(&short, &h));
        assert!(if_match_admits("\"x\", *", &h));
        assert!(!if_match_admits("\"nope\"", &h));
        assert!(!if_match_admits(&format!("W/{plain}"), &h));
        assert!(none_match_hits(&format!("W/{plain}"), &plain));
        assert!(!none_match_hits(&short, &plain));
    }
}
