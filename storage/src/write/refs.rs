//! Keeping both sides of a reference consistent.
//!
//! The reverse-reference index (`REFS`) is maintained by [`Tx::put`] from
//! stored fields alone. What this module adds is the *other side* of
//! two-way pairs when one side changes:
//! - ref ↔ refs: the `refs` side is derived from the index, so writing the
//!   `ref` side needs nothing more; writing the `refs` side rewrites the
//!   `ref` of each added or removed document (stealing an added one from
//!   its previous owner);
//! - ref ↔ ref: setting one side sets the other, and "steals" the target
//!   from its previous partner, whose `ref` becomes null;
//! - refs ↔ refs: both lists are stored and kept mirror images.
//!
//! Every added target must exist (else `NotFound` with the field's path).
//! Partners whose required `ref` ends up null are refused by the caller's
//! end-of-operation check ([`Tx::guard`]), not here, because a value may
//! pass through null on its way from one target to another.

use super::Tx;
use crate::error::{Error, Result};
use crate::read;
use crate::schema::targets_of;
use crate::schema::{Collection, Field, FieldType};
use serde_json::Value;

/// Makes `c/id`'s reference field `field` go from `old` to `new` targets,
/// updating the documents on the other side of the pair.
pub(crate) fn reconcile(
    tx: &mut Tx<'_>,
    c: &Collection,
    id: &str,
    field: &str,
    old: &[String],
    new: &[String],
    verify_targets: bool,
) -> Result<()> {
    let f = c.fields.get(field).expect("a field of the collection");
    let spec = f.ty.ref_spec().expect("a reference field");
    let (tc, tcid) = tx.coll(&spec.coll)?;
    let removed: Vec<&String> = old.iter().filter(|t| !new.contains(t)).collect();
    let added: Vec<(usize, &String)> = new
        .iter()
        .enumerate()
        .filter(|(_, t)| !old.contains(t))
        .collect();
    for &(i, t) in added.iter().filter(|_| verify_targets) {
        // Existence only: no need to decode the target.
        if !tx.doc_exists(tcid, t)? {
            let path = match f.ty {
                FieldType::Ref(_) => format!("$.{field}"),
                _ => format!("$.{field}[{i}]"),
            };
            return Err(Error::NotFound {
                coll: spec.coll.clone(),
                id: t.clone(),
                path: Some(path),
            });
        }
    }
    let Some(p) = spec.reverse.as_deref().and_then(|r| tc.fields.get(r)) else {
        return Ok(()); // one-way: the index entry is all there is
    };
    match (&f.ty, &p.ty, f.is_stored()) {
        // The refs side is served from the index: nothing to write.
        (FieldType::Ref(_), FieldType::Refs(_), _) => {}
        (FieldType::Ref(_), FieldType::Ref(_), _) => {
            for r in removed {
                set_single(tx, tc, tcid, r, p, |cur| cur == Some(id), None)?;
            }
            for (_, d) in added {
                let doc = read::load(tx, tc, tcid, d)?.expect("checked above");
                match doc.body.get(&p.name).and_then(Value::as_str) {
                    Some(cur) if cur == id => continue,
                    // One-to-one steal: the previous partner lets go of d.
                    Some(cur) => {
                        let cur = cur.to_string();
                        let (_, cid) = tx.coll(&c.name)?;
                        set_single(tx, c, cid, &cur, f, |v| v == Some(d.as_str()), None)?;
                    }
                    None => {}
                }
                set_single(tx, tc, tcid, d, p, |_| true, Some(id))?;
            }
        }
        (FieldType::Refs(_), FieldType::Refs(_), _) => {
            for r in removed {
                edit_list(tx, tc, tcid, r, p, |list| list.retain(|x| x != id))?;
            }
            for (_, d) in added {
                edit_list(tx, tc, tcid, d, p, |list| {
                    if !list.iter().any(|x| x == id) {
                        list.push(id.to_string());
                    }
                })?;
            }
        }
        // A derived refs list written directly: move each document's ref.
        (FieldType::Refs(_), FieldType::Ref(_), false) => {
            for r in removed {
                set_single(tx, tc, tcid, r, p, |cur| cur == Some(id), None)?;
            }
            for (_, d) in added {
                set_single(tx, tc, tcid, d, p, |_| true, Some(id))?;
            }
        }
        _ => {
            return Err(Error::Corrupt(format!(
                "unsupported reference pair at {}.{field}",
                c.name
            )));
        }
    }
    Ok(())
}

/// Sets the `ref` field `f` of `coll/id` to `value` if its current value
/// satisfies `when`.
fn set_single(
    tx: &mut Tx<'_>,
    coll: &Collection,
    cid: u32,
    id: &str,
    f: &Field,
    when: impl Fn(Option<&str>) -> bool,
    value: Option<&str>,
) -> Result<()> {
    let Some(old) = read::load(tx, coll, cid, id)? else {
        return Ok(());
    };
    let cur = old.body.get(&f.name).and_then(Value::as_str);
    if !when(cur) || cur == value {
        return Ok(());
    }
    let mut new = old.clone();
    match value {
        Some(v) => new
            .body
            .insert(f.name.clone(), Value::String(v.to_string())),
        None => new.body.shift_remove(&f.name),
    };
    tx.put(cid, coll, id, Some(&old), &new)?;
    tx.touched.insert((coll.name.clone(), id.to_string()));
    Ok(())
}

/// Edits the stored `refs` list `f` of `coll/id`.
fn edit_list(
    tx: &mut Tx<'_>,
    coll: &Collection,
    cid: u32,
    id: &str,
    f: &Field,
    edit: impl FnOnce(&mut Vec<String>),
) -> Result<()> {
    let Some(old) = read::load(tx, coll, cid, id)? else {
        return Ok(());
    };
    let mut list = targets_of(old.body.get(&f.name));
    let before = list.clone();
    edit(&mut list);
    if list == before {
        return Ok(());
    }
    let mut new = old.clone();
    new.body.insert(
        f.name.clone(),
        Value::Array(list.into_iter().map(Value::String).collect()),
    );
    tx.put(cid, coll, id, Some(&old), &new)?;
    tx.touched.insert((coll.name.clone(), id.to_string()));
    Ok(())
}

/// Removes `target` from the reference field `f` of `coll/id` (an unlink
/// by a delete rule).
pub(crate) fn unlink(
    tx: &mut Tx<'_>,
    coll: &Collection,
    cid: u32,
    id: &str,
    f: &Field,
    target: &str,
) -> Result<()> {
    match f.ty {
        FieldType::Ref(_) => set_single(tx, coll, cid, id, f, |cur| cur == Some(target), None),
        _ => edit_list(tx, coll, cid, id, f, |list| list.retain(|x| x != target)),
    }
}
