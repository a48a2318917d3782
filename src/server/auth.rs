//! Authentication and rights: who is calling ([`Auth::resolve`], once per
//! request) and what the schema lets them do ([`Caller`]'s checks).
//!
//! Credentials are `Authorization: Bearer <token>`, where the token is an
//! API key (compared by its SHA-256 against `auth.users.*.api_key_sha256`)
//! or, when `auth.jwt` is configured, an HS256 JWT whose `sub` is the login
//! and whose `roles` claim lists the roles (the declared user's roles when
//! the claim is absent). The JWT secret comes from the environment variable
//! the schema names, read once when the server is built.
//!
//! Invariants:
//! - with no `auth` in the schema every request is anonymous and
//!   undeclared rights allow everything, so behaviour is as before auth;
//! - credentials that are sent but do not check out are always refused
//!   (401), never downgraded to anonymous;
//! - a refusal is an [`AuthError`]: [`super::error`] turns a refusal of an
//!   anonymous caller into 401 and of an authenticated one into 403;
//! - a field the caller may not read is *hidden*: never returned, never
//!   matched by a filter or sort (the engine treats it as unknown).

use hyper::header::{AUTHORIZATION, HeaderMap};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use refdb_storage::schema::auth::{AuthConfig, allowed};
use refdb_storage::{Actor, Collection, Schema};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: String,
    pub login: String,
    pub roles: Vec<String>,
}

/// The caller of one request: `None` is anonymous.
#[derive(Debug, Clone, Default)]
pub struct Caller(pub Option<Principal>);

/// A refused request; see the module doc for the status it becomes.
#[derive(Debug, Clone)]
pub enum AuthError {
    /// Credentials were sent and are not valid.
    BadCredentials(String),
    /// The caller lacks a right.
    Denied {
        anonymous: bool,
        message: String,
        path: Option<String>,
    },
}

/// A collection action (the collection's `rights` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Create,
    Modify,
    Delete,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Modify => "modify",
            Action::Delete => "delete",
        }
    }
}

/// The SHA-256 of a key as lowercase hex (what the schema stores).
pub fn sha256_hex(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why the server cannot use the schema's `auth`.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error(
        "auth.jwt.secret_env names {0}, which is not set or is shorter than 32 bytes in the environment"
    )]
    MissingSecret(String),
}

/// The credentials the server accepts, built from the schema.
#[derive(Default)]
pub struct Auth {
    enabled: bool,
    by_key: HashMap<String, Principal>,
    by_login: HashMap<String, Principal>,
    jwt: Option<(DecodingKey, Validation)>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    roles: Option<Vec<String>>,
}

impl Auth {
    /// Reads `schema.auth` and, if JWTs are configured, the secret from
    /// the environment.
    pub fn from_schema(schema: &Schema) -> Result<Auth, AuthSetupError> {
        let Some(cfg) = &schema.auth else {
            return Ok(Auth::default());
        };
        Auth::from_config(cfg, |name| std::env::var(name).ok())
    }

    /// [`Auth::from_schema`] with the environment given as a function.
    pub fn from_config(
        cfg: &AuthConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Auth, AuthSetupError> {
        let mut auth = Auth {
            enabled: true,
            ..Auth::default()
        };
        for u in cfg.users.values() {
            let p = Principal {
                id: u.id.clone(),
                login: u.login.clone(),
                roles: u.roles.clone(),
            };
            if let Some(h) = &u.api_key_sha256 {
                auth.by_key.insert(h.clone(), p.clone());
            }
            auth.by_login.insert(u.login.clone(), p);
        }
        if let Some(j) = &cfg.jwt {
            let secret = env(&j.secret_env)
                .filter(|s| s.len() >= 32)
                .ok_or_else(|| AuthSetupError::MissingSecret(j.secret_env.clone()))?;
            let mut v = Validation::new(Algorithm::HS256);
            v.leeway = 0;
            v.set_required_spec_claims(&["exp", "sub"]);
            if let Some(iss) = &j.issuer {
                v.set_issuer(&[iss]);
            }
            auth.jwt = Some((DecodingKey::from_secret(secret.as_bytes()), v));
        }
        Ok(auth)
    }

    /// Whether the schema configures any authentication.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The caller of a request (see the module doc).
    pub fn resolve(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        if !self.enabled {
            return Ok(Caller(None));
        }
        let Some(h) = headers.get(AUTHORIZATION) else {
            return Ok(Caller(None));
        };
        let bad = |m: &str| AuthError::BadCredentials(m.to_string());
        let h = h.to_str().map_err(|_| bad("Authorization is not ASCII"))?;
        let token = match h.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
            _ => return Err(bad("Authorization must be `Bearer <API key or JWT>`")),
        };
        if token.is_empty() {
            return Err(bad("empty bearer token"));
        }
        if token.bytes().filter(|&b| b == b'.').count() == 2
            && let Some((key, validation)) = &self.jwt
        {
            return self
                .jwt_principal(token, key, validation)
                .map(|p| Caller(Some(p)));
        }
        self.by_key
            .get(&sha256_hex(token))
            .cloned()
            .map(|p| Caller(Some(p)))
            .ok_or_else(|| bad("unknown API key"))
    }

    fn jwt_principal(
        &self,
        token: &str,
        key: &DecodingKey,
        validation: &Validation,
    ) -> Result<Principal, AuthError> {
        use jsonwebtoken::errors::ErrorKind as K;
        let data = jsonwebtoken::decode::<Claims>(token, key, validation).map_err(|e| {
            AuthError::BadCredentials(match e.kind() {
                K::ExpiredSignature => "the token has expired".into(),
                K::InvalidSignature => "the token's signature is not valid".into(),
                K::InvalidIssuer => "the token's issuer is not accepted".into(),
                K::MissingRequiredClaim(c) => format!("the token has no `{c}` claim"),
                _ => format!("the token is not valid: {e}"),
            })
        })?;
        let c = data.claims;
        let declared = self.by_login.get(&c.sub);
        let id = match declared {
            Some(p) => p.id.clone(),
            None if refdb_storage::schema::validate::valid_id(&c.sub) => c.sub.clone(),
            None => {
                return Err(AuthError::BadCredentials(
                    "the token's `sub` is not a login (1-64 of A-Za-z0-9_-)".into(),
                ));
            }
        };
        let roles = c
            .roles
            .or_else(|| declared.map(|p| p.roles.clone()))
            .unwrap_or_default();
        Ok(Principal {
            id,
            login: c.sub,
            roles,
        })
    }
}

impl Caller {
    fn roles(&self) -> Option<&[String]> {
        self.0.as_ref().map(|p| p.roles.as_slice())
    }

    /// Who writes `_meta.created_by`/`modified_by`.
    pub fn actor(&self) -> Actor {
        match &self.0 {
            Some(p) => Actor {
                id: p.id.clone(),
                login: p.login.clone(),
            },
            None => Actor::anonymous(),
        }
    }

    fn denied(&self, message: String, path: Option<String>) -> AuthError {
        AuthError::Denied {
            anonymous: self.0.is_none(),
            message,
            path,
        }
    }

    /// Whether the collection's right for `action` admits the caller.
    pub fn may(&self, coll: &Collection, action: Action) -> bool {
        let r = &coll.rights;
        let right = match action {
            Action::Read => &r.read,
            Action::Create => &r.create,
            Action::Modify => &r.modify,
            Action::Delete => &r.delete,
        };
        allowed(right, self.roles())
    }

    /// Refuses the request unless [`Caller::may`].
    pub fn check(&self, coll: &Collection, action: Action) -> Result<(), AuthError> {
        if self.may(coll, action) {
            Ok(())
        } else {
            Err(self.denied(
                format!("no right to {} in \"{}\"", action.name(), coll.name),
                None,
            ))
        }
    }

    /// The right to run action `name` of `coll`: `rights.actions.<name>`
    /// when the schema declares it, else the collection's `modify`.
    pub fn check_action(&self, coll: &Collection, name: &str) -> Result<(), AuthError> {
        match coll.rights.actions.get(name) {
            Some(roles) if roles.allows(self.roles()) => Ok(()),
            Some(_) => Err(self.denied(
                format!("no right to run action {name:?} of \"{}\"", coll.name),
                None,
            )),
            None => self.check(coll, Action::Modify),
        }
    }

    /// Whether the caller may read top-level field `f` of `coll`.
    pub fn may_read_field(&self, coll: &Collection, f: &str) -> bool {
        coll.fields
            .get(f)
            .is_none_or(|f| allowed(&f.rights.read, self.roles()))
    }

    /// Whether the caller may write top-level field `f` of `coll`.
    pub fn may_modify_field(&self, coll: &Collection, f: &str) -> bool {
        coll.fields
            .get(f)
            .is_none_or(|f| allowed(&f.rights.modify, self.roles()))
    }

    /// The top-level fields the caller may not read.
    pub fn hidden(&self, coll: &Collection) -> HashSet<String> {
        coll.fields
            .iter()
            .filter(|f| !allowed(&f.rights.read, self.roles()))
            .map(|f| f.name.clone())
            .collect()
    }

    /// Refuses writing any field of `input` the caller may not modify,
    /// naming the first (`$.field`).
    pub fn check_fields(
        &self,
        coll: &Collection,
        input: &Map<String, Value>,
    ) -> Result<(), AuthError> {
        match input.keys().find(|k| !self.may_modify_field(coll, k)) {
            Some(k) => Err(self.field_denied(coll, k, "modify")),
            None => Ok(()),
        }
    }

    /// The refusal for a field right.
    pub fn field_denied(&self, coll: &Collection, f: &str, right: &str) -> AuthError {
        self.denied(
            format!("no right to {right} field \"{f}\" of \"{}\"", coll.name),
            Some(format!("$.{f}")),
        )
    }

    /// Refuses a patch that writes a field the caller may not modify, or
    /// reads (`test`, `copy`'s source) one it may not read.
    pub fn check_patch(
        &self,
        coll: &Collection,
        ops: &[refdb_storage::patch::PatchOp],
    ) -> Result<(), AuthError> {
        use refdb_storage::patch::{PatchOp as P, PathSeg};
        let top = |p: &[PathSeg]| match p.first() {
            Some(PathSeg::Key(k)) => Some(k.clone()),
            _ => None,
        };
        for op in ops {
            let (reads, writes): (Vec<&[PathSeg]>, Vec<&[PathSeg]>) = match op {
                P::Test { path, .. } => (vec![path], vec![]),
                P::Add { path, .. } | P::Remove { path } | P::Replace { path, .. } => {
                    (vec![], vec![path])
                }
                P::Move { from, path } => (vec![from], vec![from, path]),
                P::Copy { from, path } => (vec![from], vec![path]),
            };
            for f in reads.into_iter().filter_map(top) {
                if !self.may_read_field(coll, &f) {
                    return Err(self.field_denied(coll, &f, "read"));
                }
            }
            for f in writes.into_iter().filter_map(top) {
                if !self.may_modify_field(coll, &f) {
                    return Err(self.field_denied(coll, &f, "modify"));
                }
            }
        }
        Ok(())
    }
}

/// Removes the hidden fields from a document.
pub fn hide(doc: &mut Map<String, Value>, hidden: &HashSet<String>) {
    for h in hidden {
        doc.shift_remove(h);
    }
}
