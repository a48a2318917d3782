//! [`ApiError`]: every failed request ends here, and this file is the ONLY
//! place that chooses an HTTP status (docs/API.md §7).
//!
//! The body is always `{"error":{"code","message","path"}}`. `code` is a
//! stable snake_case word that clients may branch on; `message` is for
//! people and may change; `path` is the `$.field` the error is about, or
//! null. Only corruption, I/O failures and bugs become 5xx: every other
//! error is the client's, and the storage and query layers tell us which
//! through their `is_user_error()`.

use hyper::header::{ALLOW, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use refdb_storage::Error as StoreError;
use refdb_storage::patch::{PatchError, PatchErrorKind};
use serde_json::json;

use super::body::{Body, json_response};

/// A request that failed; see the module doc.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub path: Option<String>,
    /// The methods the route accepts, sent as `Allow` with a 405.
    pub allow: Option<&'static str>,
    /// The challenge sent as `WWW-Authenticate` with a 401.
    pub challenge: Option<&'static str>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            path: None,
            allow: None,
            challenge: None,
        }
    }

    /// Sets the `$.path` the error is about.
    pub fn at(mut self, path: impl Into<String>) -> ApiError {
        self.path = Some(path.into());
        self
    }

    /// A malformed request (400) with its own code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A missing document (404 `not_found`).
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// A 404 for something that is not a document: `unknown_app`,
    /// `unknown_collection`, `unknown_action`, `no_route`.
    pub fn unknown(code: &'static str, what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, what)
    }

    pub fn method_not_allowed(allow: &'static str) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this route accepts {allow}"),
        );
        e.allow = Some(allow);
        e
    }

    /// No credentials where the route needs some, or credentials that do
    /// not check out (unknown API key, bad or expired JWT): 401 with
    /// `WWW-Authenticate: Bearer`.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        let mut e = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        e.challenge = Some("Bearer realm=\"refdb\"");
        e
    }

    /// An authenticated caller whose roles do not grant the right (403).
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// The request conflicts with the state of the server (409).
    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    pub fn precondition_failed() -> ApiError {
        ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "etag_mismatch",
            "If-Match does not match the document's current ETag",
        )
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is over the {limit}-byte limit"),
        )
    }

    pub fn unsupported_media_type(got: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("bodies are application/json, got {got:?} (with curl, use --json)"),
        )
    }

    /// The client was too slow sending its body.
    pub fn request_timeout() -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request took too long",
        )
    }

    /// A read-only request that ran past the request timeout.
    pub fn timed_out() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long to answer",
        )
    }

    /// A bug or an unusable database: the only 500.
    /// What was asked for existed once and is gone for good (change log
    /// records past the retention).
    pub fn gone(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::GONE, code, message)
    }

    /// The server runs but cannot serve everything yet (`/_health/ready`).
    pub fn not_ready(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", message)
    }

    /// Cluster mode: the shared log did not take the write, and says so.
    pub fn log_unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "log_unavailable", message)
    }

    /// Cluster mode: the shared log did not answer in time; the write may
    /// still appear (a read, or `Refdb-Min-Seq`, tells).
    pub fn outcome_unknown(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "outcome_unknown", message)
    }

    /// Cluster mode: the node did not reach the log position a request
    /// asked for (`Refdb-Min-Seq`) in time.
    pub fn not_caught_up(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_caught_up", message)
    }

    /// Cluster mode: a transaction the shared log cannot hold.
    pub fn entry_too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "entry_too_large", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// Prefixes the path with the place the erring value came from
    /// (`$.ops[2]` + `$.age` → `$.ops[2].age`); a path-less error gets
    /// the prefix itself.
    pub fn within(mut self, prefix: &str) -> ApiError {
        self.path = Some(match self.path.take() {
            Some(p) => format!("{prefix}{}", p.strip_prefix('$').unwrap_or(&p)),
            None => prefix.to_string(),
        });
        self
    }

    pub fn into_response(self) -> Response<Body> {
        let body =
            json!({"error": {"code": self.code, "message": self.message, "path": self.path}});
        let mut resp = json_response(self.status, &body);
        if let Some(allow) = self.allow {
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
        }
        if let Some(c) = self.challenge {
            resp.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        resp
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        use StatusCode as S;
        let path = e.path().map(str::to_string);
        let (status, code) = match &e {
            StoreError::Invalid(_) => (S::BAD_REQUEST, "invalid"),
            StoreError::BadInput { .. } => (S::BAD_REQUEST, "bad_input"),
            StoreError::UnknownCollection(_) => (S::NOT_FOUND, "unknown_collection"),
            // A reference (at `path`) to a document that does not exist
            // conflicts with the database as it is; the route's own
            // document missing is a 404.
            StoreError::NotFound { path: Some(_), .. } => (S::CONFLICT, "missing_reference"),
            StoreError::NotFound { .. } => (S::NOT_FOUND, "not_found"),
            StoreError::AlreadyExists { .. } => (S::CONFLICT, "already_exists"),
            StoreError::Referenced { .. } => (S::CONFLICT, "must_be_empty"),
            StoreError::RequiredRef { .. } => (S::CONFLICT, "required_ref"),
            StoreError::Patch(p) => return p.clone().into(),
            StoreError::Schema(_) | StoreError::SchemaMigration(_) => (S::BAD_REQUEST, "schema"),
            StoreError::CollectionFull(_) => (S::CONFLICT, "collection_full"),
            StoreError::Refused { .. } => (S::BAD_REQUEST, "refused"),
            StoreError::HookPanicked(_) => (S::INTERNAL_SERVER_ERROR, "hook_panicked"),
            // The store logs a disk fault once when writes start failing
            // and once when they resume, not per request.
            StoreError::NoSpace(_) => {
                return ApiError::new(
                    S::INSUFFICIENT_STORAGE,
                    "insufficient_storage",
                    e.to_string(),
                );
            }
            StoreError::Unavailable(_) => {
                return ApiError::new(S::SERVICE_UNAVAILABLE, "storage_unavailable", e.to_string());
            }
            other if other.is_user_error() => (S::BAD_REQUEST, "bad_request"),
            _ => (S::INTERNAL_SERVER_ERROR, "storage"),
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "storage failure");
        }
        ApiError {
            path,
            ..ApiError::new(status, code, e.to_string())
        }
    }
}

impl From<super::auth::AuthError> for ApiError {
    /// Bad credentials, and a right refused to an anonymous caller, are
    /// 401 (log in); a right refused to an authenticated caller is 403.
    fn from(e: super::auth::AuthError) -> ApiError {
        use super::auth::AuthError as A;
        match e {
            A::BadCredentials(m) => ApiError::unauthorized(m),
            A::Denied {
                anonymous,
                message,
                path,
            } => {
                let mut err = if anonymous {
                    ApiError::unauthorized(format!("{message}: credentials required"))
                } else {
                    ApiError::forbidden(message)
                };
                err.path = path;
                err
            }
        }
    }
}

impl From<PatchError> for ApiError {
    /// A failed `test` is a conflict with the document's current state
    /// (409, as RFC 5789 suggests); every other patch error, including a
    /// write to `_id`/`_meta` (which PUT also answers with 400), is a 400:
    /// 403 is kept for authorization.
    fn from(e: PatchError) -> ApiError {
        let status = match e.kind {
            PatchErrorKind::TestFailed => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.kind.code(), e.message).at(e.path)
    }
}

impl From<refdb_query::ParseError> for ApiError {
    fn from(e: refdb_query::ParseError) -> ApiError {
        let err = ApiError::bad_request("bad_query", e.to_string());
        match e.key() {
            Some(k) => err.at(format!("$.{k}")),
            None => err,
        }
    }
}

impl From<refdb_query::QueryError> for ApiError {
    fn from(e: refdb_query::QueryError) -> ApiError {
        use refdb_query::QueryError as Q;
        match e {
            Q::Parse(p) => p.into(),
            Q::Storage(s) => s.into(),
            Q::UnknownCollection(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_collection", e.to_string())
            }
            Q::UnknownSelection(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_selection", e.to_string())
            }
            e if e.is_user_error() => {
                let err = ApiError::bad_request("bad_query", e.to_string());
                match e.key() {
                    Some(k) => err.at(format!("$.{k}")),
                    None => err,
                }
            }
            e => {
                tracing::error!(error = %e, "query failure");
                ApiError::internal(e.to_string())
            }
        }
    }
}
