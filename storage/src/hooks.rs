//! Hooks: a program that links refdb puts its own rules into every write.
//!
//! `before_create`, `before_update` and `before_delete` run per collection
//! inside the write transaction, whatever the entry point (the library
//! API, HTTP, `_batch`, import, a group commit), and for every document a
//! cascade deletes or an unlink rewrites. A `before_*` hook may change the
//! document it is given (creates and updates; what it makes is then
//! validated like the input) or refuse the write with a [`Refusal`], which
//! fails the whole operation with [`Error::Refused`] and its `$.path`. A
//! hook that panics refuses too ([`Error::HookPanicked`]): the operation
//! is rolled back and the store stays usable.
//!
//! `after_commit` hooks receive the old and new documents of each change
//! once the transaction is durable; a rolled-back write never reaches
//! them. They run on the committing thread after the commit, so they
//! should be quick (hand slow work to a queue).
//!
//! Invariant: hooks never see a document of a write that does not commit
//! as a committed change, and a refusal leaves nothing of its operation.
//!
//! [`Error::Refused`]: crate::Error::Refused
//! [`Error::HookPanicked`]: crate::Error::HookPanicked

use crate::codec::Document;
use crate::error::{Error, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// A hook's refusal: the `$.path` it is about and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub path: String,
    pub message: String,
}

impl Refusal {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Refusal {
        Refusal {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// What a `before_*` hook is told about the write.
#[derive(Debug, Clone, Copy)]
pub struct HookCtx<'a> {
    pub coll: &'a str,
    /// The document's `_id` (for a create, the one given, if any).
    pub id: Option<&'a str>,
    /// Who writes: the `{"id", "name"}` recorded in `_meta`.
    pub actor: &'a Value,
    /// Why the document is written: the caller asked, or a cascade or an
    /// unlink follows from a delete.
    pub cause: Cause,
}

/// Why a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The operation the caller asked for.
    Direct,
    /// A document deleted by an `on_delete: cascade` rule.
    Cascade,
    /// A document whose reference an `on_delete: unlink` rule removes.
    Unlink,
}

/// One committed change, as `after_commit` hooks get it.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    pub coll: String,
    pub id: String,
    /// The stored document before (None: created).
    pub old: Option<Document>,
    /// The stored document after (None: deleted).
    pub new: Option<Document>,
}

type BeforeCreate = dyn Fn(&HookCtx<'_>, &mut Document) -> Result<(), Refusal> + Send + Sync;
type BeforeUpdate =
    dyn Fn(&HookCtx<'_>, &Document, &mut Document) -> Result<(), Refusal> + Send + Sync;
type BeforeDelete = dyn Fn(&HookCtx<'_>, &Document) -> Result<(), Refusal> + Send + Sync;
type AfterCommit = dyn Fn(&[Committed]) + Send + Sync;

/// The hooks of a store; see the module doc. Built once, then given to
/// [`crate::Store::set_hooks`].
#[derive(Default, Clone)]
pub struct Hooks {
    before_create: HashMap<String, Vec<Arc<BeforeCreate>>>,
    before_update: HashMap<String, Vec<Arc<BeforeUpdate>>>,
    before_delete: HashMap<String, Vec<Arc<BeforeDelete>>>,
    after_commit: Vec<Arc<AfterCommit>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("before_create", &self.before_create.keys())
            .field("before_update", &self.before_update.keys())
            .field("before_delete", &self.before_delete.keys())
            .field("after_commit", &self.after_commit.len())
            .finish()
    }
}

impl Hooks {
    pub fn new() -> Hooks {
        Hooks::default()
    }

    /// Runs before a document of `coll` is created, on the input (`_id`
    /// included when given); may change it.
    pub fn before_create(
        mut self,
        coll: &str,
        f: impl Fn(&HookCtx<'_>, &mut Document) -> Result<(), Refusal> + Send + Sync + 'static,
    ) -> Hooks {
        self.before_create
            .entry(coll.to_string())
            .or_default()
            .push(Arc::new(f));
        self
    }

    /// Runs before a document of `coll` is rewritten (PUT, PATCH, an
    /// unlink), with the stored document and the new one, which it may
    /// change.
    pub fn before_update(
        mut self,
        coll: &str,
        f: impl Fn(&HookCtx<'_>, &Document, &mut Document) -> Result<(), Refusal>
        + Send
        + Sync
        + 'static,
    ) -> Hooks {
        self.before_update
            .entry(coll.to_string())
            .or_default()
            .push(Arc::new(f));
        self
    }

    /// Runs before a document of `coll` is deleted, asked for or by a
    /// cascade.
    pub fn before_delete(
        mut self,
        coll: &str,
        f: impl Fn(&HookCtx<'_>, &Document) -> Result<(), Refusal> + Send + Sync + 'static,
    ) -> Hooks {
        self.before_delete
            .entry(coll.to_string())
            .or_default()
            .push(Arc::new(f));
        self
    }

    /// Runs after every commit that changed documents, with its changes.
    pub fn after_commit(mut self, f: impl Fn(&[Committed]) + Send + Sync + 'static) -> Hooks {
        self.after_commit.push(Arc::new(f));
        self
    }

    pub(crate) fn has_before_create(&self, coll: &str) -> bool {
        self.before_create.contains_key(coll)
    }

    pub(crate) fn has_before_update(&self, coll: &str) -> bool {
        self.before_update.contains_key(coll)
    }

    pub(crate) fn has_before_delete(&self, coll: &str) -> bool {
        self.before_delete.contains_key(coll)
    }

    pub(crate) fn wants_commits(&self) -> bool {
        !self.after_commit.is_empty()
    }

    pub(crate) fn run_before_create(&self, ctx: &HookCtx<'_>, doc: &mut Document) -> Result<()> {
        for f in self.before_create.get(ctx.coll).into_iter().flatten() {
            guarded(ctx, || f(ctx, doc))?;
        }
        Ok(())
    }

    pub(crate) fn run_before_update(
        &self,
        ctx: &HookCtx<'_>,
        old: &Document,
        new: &mut Document,
    ) -> Result<()> {
        for f in self.before_update.get(ctx.coll).into_iter().flatten() {
            guarded(ctx, || f(ctx, old, new))?;
        }
        Ok(())
    }

    pub(crate) fn run_before_delete(&self, ctx: &HookCtx<'_>, doc: &Document) -> Result<()> {
        for f in self.before_delete.get(ctx.coll).into_iter().flatten() {
            guarded(ctx, || f(ctx, doc))?;
        }
        Ok(())
    }

    /// Tells the `after_commit` hooks; one that panics is logged and the
    /// others still run (the write is committed whatever they do).
    pub(crate) fn run_after_commit(&self, changes: &[Committed]) {
        if changes.is_empty() {
            return;
        }
        for f in &self.after_commit {
            if catch_unwind(AssertUnwindSafe(|| f(changes))).is_err() {
                tracing::error!("an after_commit hook panicked");
            }
        }
    }
}

/// Runs one hook, turning its refusal or panic into the operation's error.
fn guarded(ctx: &HookCtx<'_>, f: impl FnOnce() -> Result<(), Refusal>) -> Result<()> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(r)) => Err(Error::Refused {
            path: r.path,
            message: r.message,
        }),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            Err(Error::HookPanicked(format!(
                "a hook on {} panicked: {why}",
                ctx.coll
            )))
        }
    }
}
