//! Deleting with `on_delete` rules: plan first, then apply.
//!
//! [`plan`] walks the reference graph from the document breadth-first with
//! a visited set (so cycles end and there is no fan-out limit — backo gave
//! up past 40 items), collecting what the rules say: documents to delete
//! (`cascade`), references to remove from documents that stay (`unlink`),
//! and referrers that forbid the delete (`must_be_empty`). A referrer that
//! is itself deleted by the cascade does not block. Nothing is written
//! until the whole plan is known to be allowed, and [`apply`] runs inside
//! the caller's transaction, so a refused delete changes nothing.

use super::Tx;
use crate::error::{Error, Referrer, Result};
use crate::read::{self, ReadTxn, Tables};
use crate::schema::{FieldType, OnDelete};
use std::collections::{HashSet, VecDeque};

/// A reference to remove from a document that stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlink {
    pub coll: String,
    pub id: String,
    pub field: String,
    /// The deleted document it pointed to.
    pub target: String,
}

/// What deleting one document would do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeletePlan {
    /// Every deleted (collection, id), the requested document first.
    pub deleted: Vec<(String, String)>,
    pub unlinked: Vec<Unlink>,
    /// Referrers that `must_be_empty` rules say block the delete.
    pub blocked_by: Vec<Referrer>,
    /// Unlinks that would empty a required `ref`.
    pub required: Vec<Unlink>,
}

impl DeletePlan {
    pub fn allowed(&self) -> bool {
        self.blocked_by.is_empty() && self.required.is_empty()
    }
}

/// Plans deleting `coll/id` as seen by `t` (a snapshot or a transaction).
pub(crate) fn plan<T: Tables>(t: &T, coll: &str, id: &str) -> Result<DeletePlan> {
    let store = t.catalog();
    let schema = store.schema();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut queue = VecDeque::new();
    let root = (coll.to_string(), id.to_string());
    seen.insert(root.clone());
    queue.push_back(root);
    let mut out = DeletePlan::default();
    let mut blockers: Vec<Referrer> = Vec::new();
    let mut unlinks: Vec<Unlink> = Vec::new();
    while let Some((xc, x)) = queue.pop_front() {
        let xcoll = read::collection(schema, &xc)?;
        let xcid = store.coll_id(&xc)?;
        let Some(doc) = read::load(t, xcoll, xcid, &x)? else {
            if out.deleted.is_empty() {
                return Err(crate::write::not_found(&xc, &x));
            }
            continue;
        };
        out.deleted.push((xc.clone(), x.clone()));
        // (rule, referrer collection, referrer field, referrer ids)
        let mut groups: Vec<(OnDelete, String, String, Vec<String>)> = Vec::new();
        for (h, spec) in xcoll.ref_fields() {
            let Some(rule) = h.delete_rule(schema) else {
                continue;
            };
            let partner = spec.reverse.clone().expect("a rule implies a pair");
            let ids = read::ref_targets(t, xcoll, &x, &doc, &h.name)?;
            groups.push((rule, spec.coll.clone(), partner, ids));
        }
        for (ycoll, k, rule) in schema.one_way_referrers(&xc) {
            let ycid = store.coll_id(&ycoll.name)?;
            let ids = read::referrers(t, xcid, &x, ycid, &k.name)?
                .into_iter()
                .map(|(i, _)| i)
                .collect();
            groups.push((rule, ycoll.name.clone(), k.name.clone(), ids));
        }
        for (rule, ycoll, field, ids) in groups {
            for y in ids {
                match rule {
                    OnDelete::MustBeEmpty => blockers.push(Referrer {
                        coll: ycoll.clone(),
                        id: y,
                        field: field.clone(),
                    }),
                    OnDelete::Cascade => {
                        let key = (ycoll.clone(), y);
                        if seen.insert(key.clone()) {
                            queue.push_back(key);
                        }
                    }
                    OnDelete::Unlink => unlinks.push(Unlink {
                        coll: ycoll.clone(),
                        id: y,
                        field: field.clone(),
                        target: x.clone(),
                    }),
                }
            }
        }
    }
    let deleted: HashSet<&(String, String)> = out.deleted.iter().collect();
    let stays = |c: &str, i: &str| !deleted.contains(&(c.to_string(), i.to_string()));
    out.blocked_by = blockers
        .into_iter()
        .filter(|r| stays(&r.coll, &r.id))
        .collect();
    out.unlinked = unlinks
        .into_iter()
        .filter(|u| stays(&u.coll, &u.id))
        .collect();
    out.required = out
        .unlinked
        .iter()
        .filter(|u| {
            schema
                .collection(&u.coll)
                .and_then(|c| c.fields.get(&u.field))
                .is_some_and(|f| f.required && matches!(f.ty, FieldType::Ref(_)))
        })
        .cloned()
        .collect();
    out.blocked_by.dedup();
    Ok(out)
}

/// Applies an allowed plan; refuses one that is not.
pub(crate) fn apply(tx: &mut Tx<'_>, plan: &DeletePlan) -> Result<()> {
    let (root_coll, root_id) = plan.deleted.first().cloned().unwrap_or_default();
    if !plan.blocked_by.is_empty() {
        return Err(Error::Referenced {
            coll: root_coll,
            id: root_id,
            by: plan.blocked_by.clone(),
        });
    }
    if let Some(u) = plan.required.first() {
        return Err(Error::RequiredRef {
            coll: u.coll.clone(),
            id: u.id.clone(),
            field: u.field.clone(),
        });
    }
    run_hooks(tx, plan)?;
    for u in &plan.unlinked {
        let (c, cid) = tx.coll(&u.coll)?;
        let f = c.fields.get(&u.field).expect("planned from the schema");
        super::refs::unlink(tx, c, cid, &u.id, f, &u.target)?;
    }
    // Every partner that stays was unlinked above (stored two-way pairs
    // always carry a rule), so only the deleted rows and their own index
    // entries remain to go.
    for (xc, x) in &plan.deleted {
        let (c, cid) = tx.coll(xc)?;
        let Some(doc) = read::load(tx, c, cid, x)? else {
            continue;
        };
        tx.remove(cid, c, x, &doc)?;
    }
    Ok(())
}

/// Runs the hooks of a delete before anything is written, so a refusal
/// leaves nothing to undo: `before_delete` for the document and each one
/// its cascade deletes, `before_update` for each document an unlink
/// rewrites (shown with the reference removed; a change the hook makes to
/// such a document is not applied, only its refusal counts).
fn run_hooks(tx: &mut Tx<'_>, plan: &DeletePlan) -> Result<()> {
    use crate::hooks::Cause;
    let hooks = tx.hooks.clone();
    for (i, (xc, x)) in plan.deleted.iter().enumerate() {
        let cause = if i == 0 {
            Cause::Direct
        } else {
            Cause::Cascade
        };
        if hooks.has_before_delete(xc) {
            let (c, cid) = tx.coll(xc)?;
            if let Some(doc) = read::load(tx, c, cid, x)? {
                let doc = crate::write::with_id(x, &doc);
                hooks.run_before_delete(&tx.hook_ctx(xc, Some(x), cause), &doc)?;
            }
        }
    }
    for u in &plan.unlinked {
        if !hooks.has_before_update(&u.coll) {
            continue;
        }
        let (c, cid) = tx.coll(&u.coll)?;
        let Some(doc) = read::load(tx, c, cid, &u.id)? else {
            continue;
        };
        let old = crate::write::with_id(&u.id, &doc);
        let mut new = old.clone();
        match new.get_mut(&u.field) {
            Some(serde_json::Value::Array(list)) => list.retain(|v| v.as_str() != Some(&u.target)),
            Some(v) => *v = serde_json::Value::Null,
            None => {}
        }
        hooks.run_before_update(
            &tx.hook_ctx(&u.coll, Some(&u.id), Cause::Unlink),
            &old,
            &mut new,
        )?;
    }
    Ok(())
}

impl ReadTxn<'_> {
    /// What deleting `coll/id` would delete, unlink, or be blocked by
    /// (`DELETE …?_dry_run=1`); changes nothing.
    pub fn plan_delete(&self, coll: &str, id: &str) -> Result<DeletePlan> {
        plan(self, coll, id)
    }
}
