//! [`Req`]: one request as the handlers see it, with the few accessors they
//! need (path segments, query parameters, preconditions, the JSON body).
//!
//! Every accessor validates what it returns, so a handler never meets an
//! undecodable segment, an unknown parameter or a body that skipped the
//! Content-Type and size checks: those are 4xx before any storage call.

use hyper::body::Incoming;
use hyper::header::{HeaderMap, IF_MATCH, IF_NONE_MATCH};
use hyper::http::request::Parts;
use hyper::{Method, Request};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use super::App;
use super::auth::Caller;
use super::body;
use super::error::{ApiError, ApiResult};

/// A request being handled.
pub struct Req {
    pub parts: Parts,
    body: Incoming,
    /// Who is calling (anonymous until the router resolves credentials).
    pub caller: Caller,
}

impl Req {
    pub fn new(req: Request<Incoming>) -> Req {
        let (parts, body) = req.into_parts();
        Req {
            parts,
            body,
            caller: Caller::default(),
        }
    }

    pub fn method(&self) -> &Method {
        &self.parts.method
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// The raw (still percent-encoded) query string, `""` when absent.
    pub fn raw_query(&self) -> &str {
        self.parts.uri.query().unwrap_or("")
    }

    /// The percent-decoded path segments after the leading `/`. An empty
    /// segment (`//`, a trailing `/`) or one that is not UTF-8 is a 404:
    /// no route has one.
    pub fn segments(&self) -> ApiResult<Vec<String>> {
        let path = self.parts.uri.path();
        let Some(rest) = path.strip_prefix('/') else {
            return Err(ApiError::unknown("no_route", "no such route"));
        };
        rest.split('/')
            .map(|s| match percent_decode_str(s).decode_utf8() {
                Ok(d) if !d.is_empty() => Ok(d.into_owned()),
                _ => Err(ApiError::unknown(
                    "no_route",
                    format!("no such route: {path}"),
                )),
            })
            .collect()
    }

    /// The query parameters of a non-list route: only the `allowed` keys,
    /// each at most once (`+` is a space, as in the list language; a literal
    /// plus is `%2B`).
    pub fn params(&self, app: &App, allowed: &[&str]) -> ApiResult<Params> {
        self.params_of(app, self.raw_query(), allowed)
    }

    fn params_of(&self, app: &App, raw: &str, allowed: &[&str]) -> ApiResult<Params> {
        if raw.len() > app.limits.max_query {
            return Err(ApiError::bad_request(
                "bad_query",
                format!(
                    "query string too long: {} bytes, at most {} allowed",
                    raw.len(),
                    app.limits.max_query
                ),
            ));
        }
        let mut out = Params(Vec::new());
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (decode(k)?, decode(v)?);
            if !allowed.contains(&k.as_str()) {
                let list = if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                };
                return Err(ApiError::bad_request(
                    "bad_query",
                    format!("unknown parameter `{k}`: this route takes {list}"),
                )
                .at(format!("$.{k}")));
            }
            if out.get(&k).is_some() {
                return Err(ApiError::bad_request(
                    "bad_query",
                    format!("`{k}` is given more than once"),
                )
                .at(format!("$.{k}")));
            }
            out.0.push((k, v));
        }
        Ok(out)
    }

    /// [`Req::params`] for a route that also takes a list query: the
    /// `allowed` keys are the route's own; every other pair is handed back,
    /// raw, as a query string for the list language.
    pub fn params_and_query(&self, app: &App, allowed: &[&str]) -> ApiResult<(Params, String)> {
        let mut own = Vec::new();
        let mut rest = Vec::new();
        for pair in self.raw_query().split('&').filter(|p| !p.is_empty()) {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            if allowed.contains(&decode(key)?.as_str()) {
                own.push(pair);
            } else {
                rest.push(pair);
            }
        }
        let params = self.params_of(app, &own.join("&"), allowed)?;
        Ok((params, rest.join("&")))
    }

    /// `If-Match`, if sent.
    pub fn if_match(&self) -> Option<String> {
        header_text(self.headers(), IF_MATCH)
    }

    /// `If-None-Match`, if sent.
    pub fn if_none_match(&self) -> Option<String> {
        header_text(self.headers(), IF_NONE_MATCH)
    }

    /// The body as JSON (`None` if empty), after the Content-Type, size and
    /// time checks of [`body`].
    pub async fn json(self, app: &App) -> ApiResult<Option<Value>> {
        body::check_content_type(&self.parts.headers)?;
        let bytes = body::collect(
            &self.parts.headers,
            self.body,
            app.limits.max_body,
            app.limits.request_timeout,
        )
        .await?;
        body::decode(&bytes, app.limits.max_depth, app.limits.max_string)
    }

    /// The body as a JSON object, required.
    pub async fn object(self, app: &App) -> ApiResult<Map<String, Value>> {
        body::object(self.json(app).await?)
    }
}

fn header_text(headers: &HeaderMap, name: hyper::header::HeaderName) -> Option<String> {
    // A header that is not visible ASCII cannot match any ETag we send.
    headers
        .get(name)
        .map(|v| v.to_str().unwrap_or("\u{0}").to_string())
}

fn decode(s: &str) -> ApiResult<String> {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| ApiError::bad_request("bad_query", "the query string is not valid UTF-8"))
}

/// Decoded query parameters of a non-list route.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean flag: absent, `0`/`false` → false; `1`/`true`/empty → true.
    pub fn flag(&self, key: &str) -> ApiResult<bool> {
        match self.get(key) {
            None | Some("0" | "false") => Ok(false),
            Some("1" | "true" | "") => Ok(true),
            Some(other) => Err(ApiError::bad_request(
                "bad_query",
                format!("`{key}` is 1, true, 0 or false, got `{other}`"),
            )
            .at(format!("$.{key}"))),
        }
    }
}

/// A header holding a whole number: `Ok(None)` when absent, `Err(())`
/// when it holds anything else (the caller names the header in its error).
pub fn number_header(headers: &HeaderMap, name: &str) -> Result<Option<u64>, ()> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or(()),
    }
}
