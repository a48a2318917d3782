//! Views: which fields a client sees (docs/API.md §3).
//!
//! `_view=NAME` leaves out the fields whose `views` list holds `"!NAME"`;
//! `_view=+NAME` keeps only the fields whose list holds `"NAME"`, plus
//! `_id`. The default view is `client`. `_meta` follows the same rules as a
//! field with no `views` list. Views apply to top-level fields.

use super::Collection;
use serde_json::{Map, Value};

/// A parsed `_view` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// Everything but the fields marked `!name`.
    Except(String),
    /// Only the fields marked `name`, plus `_id`.
    Only(String),
}

impl View {
    /// Parses a `_view` parameter (`None` gives the default view `client`).
    pub fn parse(s: Option<&str>) -> View {
        match s {
            Some(v) if v.starts_with('+') => View::Only(v[1..].to_string()),
            Some(v) => View::Except(v.to_string()),
            None => View::Except("client".into()),
        }
    }

    /// Whether a field with this `views` list is visible.
    pub fn shows(&self, views: &[String]) -> bool {
        match self {
            View::Except(name) => !views
                .iter()
                .any(|v| v.strip_prefix('!') == Some(name.as_str())),
            View::Only(name) => views.iter().any(|v| v == name),
        }
    }

    /// Whether the view shows every field of a `coll` document (and
    /// `_meta`): then [`View::apply`] changes nothing, and a document can
    /// be served as its whole JSON.
    pub fn shows_all(&self, coll: &Collection) -> bool {
        !matches!(self, View::Only(_)) && coll.fields.iter().all(|f| self.shows(&f.views))
    }

    /// Applies the view to a materialized document in place.
    pub fn apply(&self, coll: &Collection, doc: &mut Map<String, Value>) {
        doc.retain(|k, _| {
            if k == "_id" {
                return true;
            }
            let views = coll
                .fields
                .get(k)
                .map(|f| f.views.as_slice())
                .unwrap_or(&[]);
            self.shows(views)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Schema;

    #[test]
    fn except_and_only() {
        let s = Schema::demo();
        let users = s.collection("users").unwrap();
        let doc: Map<String, Value> =
            serde_json::from_str(r#"{"_id":"a","name":"N","surname":"S","age":3,"_meta":{}}"#)
                .unwrap();
        let mut short = doc.clone();
        View::parse(Some("short")).apply(users, &mut short);
        assert!(!short.contains_key("surname") && short.contains_key("name"));
        let mut client = doc.clone();
        View::parse(None).apply(users, &mut client);
        assert_eq!(client, doc);
        let mut only = doc;
        View::parse(Some("+nothing")).apply(users, &mut only);
        assert_eq!(only.keys().collect::<Vec<_>>(), ["_id"]);
    }
}
