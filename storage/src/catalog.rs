//! The catalog of an open file: its schema and the stable id each
//! collection has in every key, both fixed while a store is open, and the
//! counters kept per collection.
//!
//! Invariant: collection ids are never reused; a collection the schema
//! dropped keeps its id out of every new one.

use crate::error::{Error, Result};
use crate::schema::Schema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Collection name → stable collection id used in every key.
pub type CollIds = BTreeMap<String, u32>;

/// Per-collection counters, kept in the file's collections table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CollState {
    /// The docno the next created document gets.
    pub next_docno: u32,
    /// Number of documents.
    pub count: u64,
    /// True while every document was created with an id greater than all
    /// ids before it, so docno order is `_id` order and the query engine
    /// may page through docno bitmaps by rank.
    pub ordered: bool,
}

/// The schema of an open file and its collections' ids.
pub(crate) struct Catalog {
    schema: Arc<Schema>,
    ids: CollIds,
}

impl Catalog {
    pub(crate) fn new(schema: Arc<Schema>, ids: CollIds) -> Catalog {
        Catalog { schema, ids }
    }

    pub(crate) fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The name of the schema's collection whose id is `cid`.
    pub(crate) fn coll_name(&self, cid: u32) -> Option<&str> {
        self.ids
            .iter()
            .find(|&(name, &id)| id == cid && self.schema.collection(name).is_some())
            .map(|(name, _)| name.as_str())
    }

    /// The stable id of a collection of the schema.
    pub(crate) fn coll_id(&self, name: &str) -> Result<u32> {
        match self.ids.get(name) {
            Some(&id) if self.schema.collection(name).is_some() => Ok(id),
            _ => Err(Error::UnknownCollection(name.to_string())),
        }
    }
}
