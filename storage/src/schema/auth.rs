//! Who may do what, as declared in the schema file: the optional top-level
//! `auth` object (users with their roles and API-key hashes, the JWT
//! settings) and the `rights` of collections and fields.
//!
//! Invariants:
//! - no secret is ever held here: API keys are SHA-256 digests (64 hex
//!   digits, checked at load), and the JWT HS256 secret is only *named*
//!   (`secret_env`), read from the environment by the server;
//! - parsing is as strict as the rest of the schema: an unknown key, a
//!   role that is not a name, a malformed hash is refused with its `$.path`;
//! - a right that is not declared (`None`) allows everyone, so a schema
//!   without `rights` behaves exactly as before rights existed.
//!
//! Role semantics ([`Roles::allows`]): `"*"` admits any authenticated
//! user, `"anonymous"` admits requests without credentials, any other name
//! admits users holding that role.

use super::load::{SchemaError, valid_name};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A list of roles a right is granted to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles(pub Vec<String>);

/// The role that admits any authenticated user.
pub const ANY_USER: &str = "*";
/// The role that admits requests without credentials.
pub const ANONYMOUS: &str = "anonymous";

impl Roles {
    /// Whether a caller is admitted: `roles` is `None` for a request
    /// without credentials, else the authenticated user's roles.
    pub fn allows(&self, roles: Option<&[String]>) -> bool {
        match roles {
            None => self.0.iter().any(|r| r == ANONYMOUS),
            Some(have) => self
                .0
                .iter()
                .any(|r| r == ANY_USER || have.iter().any(|h| h == r)),
        }
    }
}

/// Whether an optional right admits a caller (undeclared: everyone).
pub fn allowed(right: &Option<Roles>, roles: Option<&[String]>) -> bool {
    right.as_ref().is_none_or(|r| r.allows(roles))
}

/// A collection's `rights`: one optional role list per action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollRights {
    pub read: Option<Roles>,
    pub create: Option<Roles>,
    pub modify: Option<Roles>,
    pub delete: Option<Roles>,
    /// Per action of the embedding program (`rights.actions.<name>`); an
    /// action without one needs `modify`.
    pub actions: BTreeMap<String, Roles>,
}

/// A field's `rights`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldRights {
    pub read: Option<Roles>,
    pub modify: Option<Roles>,
}

/// One user declared in `auth.users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub login: String,
    pub roles: Vec<String>,
    /// SHA-256 of the user's API key, lowercase hex; `None` when the user
    /// signs in with JWTs only.
    pub api_key_sha256: Option<String>,
}

/// JWT (HS256) settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// The environment variable holding the HS256 secret.
    pub secret_env: String,
    /// The `iss` claim required of tokens, if set.
    pub issuer: Option<String>,
}

/// The top-level `auth` object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// By login.
    pub users: BTreeMap<String, User>,
    pub jwt: Option<JwtConfig>,
}

fn err<T>(path: &str, message: impl Into<String>) -> Result<T, SchemaError> {
    Err(SchemaError {
        path: path.to_string(),
        message: message.into(),
    })
}

fn only_keys(obj: &Map<String, Value>, path: &str, keys: &[&str]) -> Result<(), SchemaError> {
    match obj.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => err(
            &format!("{path}.{k}"),
            format!("unknown option: expected one of {}", keys.join(", ")),
        ),
        None => Ok(()),
    }
}

fn roles(v: &Value, path: &str) -> Result<Roles, SchemaError> {
    let Some(list) = v.as_array() else {
        return err(path, "a right is a list of roles");
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        match r.as_str() {
            Some(s) if s == ANY_USER || valid_name(s) => out.push(s.to_string()),
            _ => {
                return err(
                    &format!("{path}[{i}]"),
                    "a role is \"*\", \"anonymous\" or a name of A-Za-z0-9_- (1-64)",
                );
            }
        }
    }
    Ok(Roles(out))
}

fn rights_object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, SchemaError> {
    v.as_object().ok_or_else(|| SchemaError {
        path: path.to_string(),
        message: "rights is an object of role lists".into(),
    })
}

fn opt_roles(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<Roles>, SchemaError> {
    obj.get(key)
        .map(|v| roles(v, &format!("{path}.{key}")))
        .transpose()
}

/// A collection's `rights` (`path` names it).
pub(super) fn coll_rights(v: &Value, path: &str) -> Result<CollRights, SchemaError> {
    let obj = rights_object(v, path)?;
    only_keys(
        obj,
        path,
        &["read", "create", "modify", "delete", "actions"],
    )?;
    let mut actions = BTreeMap::new();
    if let Some(v) = obj.get("actions") {
        let apath = format!("{path}.actions");
        for (name, r) in rights_object(v, &apath)? {
            actions.insert(name.clone(), roles(r, &format!("{apath}.{name}"))?);
        }
    }
    Ok(CollRights {
        read: opt_roles(obj, "read", path)?,
        create: opt_roles(obj, "create", path)?,
        modify: opt_roles(obj, "modify", path)?,
        delete: opt_roles(obj, "delete", path)?,
        actions,
    })
}

/// A field's `rights`.
pub(super) fn field_rights(v: &Value, path: &str) -> Result<FieldRights, SchemaError> {
    let obj = rights_object(v, path)?;
    only_keys(obj, path, &["read", "modify"])?;
    Ok(FieldRights {
        read: opt_roles(obj, "read", path)?,
        modify: opt_roles(obj, "modify", path)?,
    })
}

fn string(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, SchemaError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(_) => err(&format!("{path}.{key}"), "must be a non-empty string"),
    }
}

/// The top-level `auth` object.
pub(super) fn auth_config(v: &Value) -> Result<AuthConfig, SchemaError> {
    let path = "$.auth";
    let Some(obj) = v.as_object() else {
        return err(path, "auth is an object with `users` and/or `jwt`");
    };
    only_keys(obj, path, &["users", "jwt"])?;
    let mut users = BTreeMap::new();
    if let Some(u) = obj.get("users") {
        let upath = format!("{path}.users");
        let Some(u) = u.as_object() else {
            return err(&upath, "users is an object keyed by login");
        };
        let mut ids = std::collections::HashSet::new();
        for (login, spec) in u {
            let p = format!("{upath}.{login}");
            if !valid_name(login) {
                return err(&p, "a login is 1-64 of A-Za-z0-9_- not starting with _");
            }
            let Some(spec) = spec.as_object() else {
                return err(&p, "a user is an object with `_id` and `roles`");
            };
            only_keys(spec, &p, &["_id", "roles", "api_key_sha256"])?;
            let id = match spec.get("_id") {
                Some(Value::String(s)) if crate::schema::validate::valid_id(s) => s.clone(),
                _ => return err(&format!("{p}._id"), "_id is 1-64 of A-Za-z0-9_-"),
            };
            if !ids.insert(id.clone()) {
                return err(&format!("{p}._id"), format!("_id {id:?} is used twice"));
            }
            let roles = match spec.get("roles") {
                None => Vec::new(),
                Some(v) => {
                    let r = roles(v, &format!("{p}.roles"))?;
                    if let Some(i) = r.0.iter().position(|r| r == ANY_USER || r == ANONYMOUS) {
                        return err(
                            &format!("{p}.roles[{i}]"),
                            "\"*\" and \"anonymous\" are granted by the server, not held",
                        );
                    }
                    r.0
                }
            };
            let api_key_sha256 = match string(spec, "api_key_sha256", &p)? {
                None => None,
                Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    Some(h.to_ascii_lowercase())
                }
                Some(_) => {
                    return err(
                        &format!("{p}.api_key_sha256"),
                        "the SHA-256 of the key as 64 hex digits (`refdb hash-key KEY`), never the key",
                    );
                }
            };
            users.insert(
                login.clone(),
                User {
                    id,
                    login: login.clone(),
                    roles,
                    api_key_sha256,
                },
            );
        }
    }
    let jwt = match obj.get("jwt") {
        None => None,
        Some(j) => {
            let p = format!("{path}.jwt");
            let Some(j) = j.as_object() else {
                return err(&p, "jwt is an object with `secret_env`");
            };
            only_keys(j, &p, &["secret_env", "issuer"])?;
            let Some(secret_env) = string(j, "secret_env", &p)? else {
                return err(
                    &format!("{p}.secret_env"),
                    "name the environment variable that holds the HS256 secret",
                );
            };
            Some(JwtConfig {
                secret_env,
                issuer: string(j, "issuer", &p)?,
            })
        }
    };
    Ok(AuthConfig { users, jwt })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_semantics() {
        let r = Roles(vec!["admin".into(), ANONYMOUS.into()]);
        assert!(r.allows(None));
        assert!(r.allows(Some(&["admin".to_string()])));
        assert!(!r.allows(Some(&["user".to_string()])));
        let any = Roles(vec![ANY_USER.into()]);
        assert!(any.allows(Some(&[])));
        assert!(!any.allows(None));
        assert!(allowed(&None, None));
        assert!(!allowed(
            &Some(Roles::default()),
            Some(&["admin".to_string()])
        ));
    }

    fn load(
        auth: &str,
        coll_rights: &str,
        field_rights: &str,
    ) -> Result<crate::Schema, SchemaError> {
        crate::Schema::parse(&format!(
            r#"{{"app": "a", {auth} "collections": {{"c": {{ {coll_rights}
               "fields": {{"f": {{"type": "string" {field_rights} }},
                          "d": {{"type": "dict", "fields": {{"x": {{"type": "string"}}}}}}}}}}}}}}"#
        ))
    }

    #[test]
    fn schema_files_with_rights() {
        let hash = "a".repeat(64);
        let s = load(
            &format!(
                r#""auth": {{"users": {{"ann": {{"_id": "u1", "roles": ["admin"], "api_key_sha256": "{hash}"}}}},
                   "jwt": {{"secret_env": "REFDB_JWT_SECRET", "issuer": "me"}}}},"#
            ),
            r#""rights": {"read": ["*", "anonymous"], "delete": ["admin"]},"#,
            r#", "rights": {"read": ["admin"]}"#,
        )
        .unwrap();
        let auth = s.auth.as_ref().unwrap();
        assert_eq!(auth.users["ann"].roles, ["admin"]);
        assert_eq!(auth.jwt.as_ref().unwrap().issuer.as_deref(), Some("me"));
        let c = s.collection("c").unwrap();
        assert!(c.rights.create.is_none());
        assert!(!allowed(&c.rights.delete, None));
        assert!(allowed(&c.rights.read, None));
        assert!(!allowed(&c.fields.get("f").unwrap().rights.read, Some(&[])));
        let bad = |auth: &str, cr: &str, fr: &str, path: &str| {
            let e = load(auth, cr, fr).unwrap_err();
            assert_eq!(e.path, path, "{e}");
        };
        bad(r#""auth": {"user": {}},"#, "", "", "$.auth.user");
        bad(
            r#""auth": {"users": {"ann": {"_id": "u1", "api_key": "k"}}},"#,
            "",
            "",
            "$.auth.users.ann.api_key",
        );
        bad(
            r#""auth": {"users": {"ann": {"_id": "u1", "api_key_sha256": "secret"}}},"#,
            "",
            "",
            "$.auth.users.ann.api_key_sha256",
        );
        bad(
            r#""auth": {"users": {"ann": {"_id": "u1", "roles": ["*"]}}},"#,
            "",
            "",
            "$.auth.users.ann.roles[0]",
        );
        bad(
            r#""auth": {"jwt": {"secret": "x"}},"#,
            "",
            "",
            "$.auth.jwt.secret",
        );
        bad(
            "",
            r#""rights": {"write": []},"#,
            "",
            "$.collections.c.rights.write",
        );
        bad(
            "",
            r#""rights": {"read": ["a b"]},"#,
            "",
            "$.collections.c.rights.read[0]",
        );
        bad(
            "",
            "",
            r#", "rights": {"create": []}"#,
            "$.collections.c.fields.f.rights.create",
        );
        bad(
            "",
            "",
            r#", "rights": {"read": "admin"}"#,
            "$.collections.c.fields.f.rights.read",
        );
    }
}
