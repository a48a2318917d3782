//! The admin page: plain HTML, CSS and JavaScript compiled into the binary
//! (`include_str!`), served at `/_admin/`; `/` redirects there.
//!
//! The page is a client of the public HTTP API and nothing else: every
//! number and document it shows comes from the routes of docs/API.md, with
//! the credentials the user types in. So no handler here reads the store,
//! and the page doubles as proof that the API is enough to administer a
//! database.
//!
//! Assets are answered with a strong `ETag` (a hash of the bytes, taken
//! once per asset) and `Cache-Control: no-cache`, so a browser revalidates
//! and gets a 304 until the binary changes; a `Content-Security-Policy` allows
//! scripts, styles and connections from this origin only.

use hyper::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, ETAG, HeaderValue, IF_NONE_MATCH, LOCATION,
    X_CONTENT_TYPE_OPTIONS,
};
use hyper::{HeaderMap, Method, Response, StatusCode};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

use super::body::{Body, text_response};
use super::error::{ApiError, ApiResult};

/// Where the page lives.
pub const PREFIX: &str = "/_admin/";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    text: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const fn asset(name: &'static str, content_type: &'static str, text: &'static str) -> Asset {
    Asset {
        name,
        content_type,
        text,
    }
}

/// The page (`""`: `/_admin/` and every view's URL), its modules, its style.
const ASSETS: &[Asset] = &[
    asset("", HTML, include_str!("index.html")),
    asset("admin.js", JS, include_str!("admin.js")),
    asset("api.js", JS, include_str!("api.js")),
    asset("ui.js", JS, include_str!("ui.js")),
    asset("schema.js", JS, include_str!("schema.js")),
    asset("table.js", JS, include_str!("table.js")),
    asset("doc.js", JS, include_str!("doc.js")),
    asset("tools.js", JS, include_str!("tools.js")),
    asset("admin.css", CSS, include_str!("admin.css")),
];

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self' blob:; img-src 'self' data:; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// Answers `path` when it is the root or under `/_admin`, else `None`
/// (the API's router takes it).
pub fn serve(
    app: &str,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Option<ApiResult<Response<Body>>> {
    let rest = match path {
        "/" | "/_admin" => return Some(redirect(method)),
        p => p.strip_prefix(PREFIX)?,
    };
    if !matches!(method, &Method::GET | &Method::HEAD) {
        return Some(Err(ApiError::method_not_allowed("GET")));
    }
    // Any path under the page that is not an asset is a view of the page
    // itself (a shared link, a reload): the script reads it.
    let asset = ASSETS.iter().find(|a| a.name == rest).unwrap_or(&ASSETS[0]);
    Some(Ok(respond(asset, app, headers)))
}

fn redirect(method: &Method) -> ApiResult<Response<Body>> {
    if !matches!(method, &Method::GET | &Method::HEAD) {
        return Err(ApiError::method_not_allowed("GET"));
    }
    let mut resp = text_response(
        StatusCode::FOUND,
        "text/plain; charset=utf-8",
        PREFIX.into(),
    );
    resp.headers_mut()
        .insert(LOCATION, HeaderValue::from_static(PREFIX));
    Ok(resp)
}

fn respond(asset: &Asset, app: &str, headers: &HeaderMap) -> Response<Body> {
    // The page learns its app from the HTML, the one thing not fixed at
    // build time: its tag covers the app's name too.
    let etag = match asset.name {
        "" => tag_of(&[static_tag(asset).as_bytes(), app.as_bytes()]),
        _ => static_tag(asset).to_string(),
    };
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        text_response(StatusCode::NOT_MODIFIED, asset.content_type, String::new())
    } else {
        let text = match asset.name {
            "" => asset.text.replace("{{APP}}", &escape(app)),
            _ => asset.text.to_string(),
        };
        text_response(StatusCode::OK, asset.content_type, text)
    };
    let h = resp.headers_mut();
    h.insert(
        ETAG,
        HeaderValue::from_str(&etag).expect("hex is a valid header"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// The tag of an asset's bytes, hashed once per process.
fn static_tag(asset: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| tag_of(&[a.text.as_bytes()]))
            .collect()
    });
    let i = ASSETS
        .iter()
        .position(|a| a.name == asset.name)
        .expect("an asset of the table");
    &tags[i]
}

/// `"<16 hex digits of the SHA-256 of the parts>"`.
fn tag_of(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    parts.iter().for_each(|p| hash.update(p));
    let hex: String = hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\"{hex}\"")
}

/// Text for an HTML attribute or element.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
