//! Creating a document: the checks that need only the input and the
//! schema ([`check_input`], which bulk creates run on another thread),
//! the checks that read the transaction ([`Tx::prepare_checked`]), then
//! the writes ([`Tx::apply_create`]: appended at the end of the collection
//! when it can be, see [`super::append`]).
//!
//! Invariant: every check runs before the first write, so a refused create
//! leaves the transaction untouched.

use super::Tx;
use crate::codec::{self, StoredDoc};
use crate::error::{Error, Result};
use crate::rows::ReadRows;
use crate::schema::Collection;
use crate::schema::targets_of;
use crate::schema::validate::{MAX_NESTING, too_deep, valid_id, validate_document, validate_value};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// A create that passed its checks.
pub(super) struct Prepared<'t> {
    coll: &'t Collection,
    cid: u32,
    id: String,
    body: Map<String, Value>,
    derived: HashMap<String, Vec<String>>,
    /// The row encoded ahead, without docno and `_meta` (see [`Checked`]).
    row: Option<Vec<u8>>,
}

/// A create's input after the checks that need only the schema: run
/// off the writing thread by [`Tx::create_many`].
pub(crate) struct Checked {
    /// The client's `_id` (None: to generate).
    pub(super) id: Option<String>,
    pub(super) body: Map<String, Value>,
    pub(super) derived: HashMap<String, Vec<String>>,
    /// The encoded row with docno 0 and no `_meta`, when encoded ahead.
    pub(super) row: Option<Vec<u8>>,
}

/// The checks of a create that need only its input and the schema: no
/// `_meta`, a valid `_id`, the derived lists taken out, defaults filled,
/// nulls dropped, the document valid.
pub(crate) fn check_input(c: &Collection, mut input: Map<String, Value>) -> Result<Checked> {
    refuse_deep(&input)?;
    if input.contains_key("_meta") {
        return Err(Error::bad("$._meta", "_meta is maintained by the engine"));
    }
    let id = match input.shift_remove("_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if valid_id(&s) => Some(s),
        Some(_) => return Err(Error::bad("$._id", "an id is 1-64 of A-Za-z0-9_-")),
    };
    let derived = take_derived(c, &mut input)?;
    for f in c.fields.iter() {
        if let (Some(d), None) = (&f.default, input.get(&f.name)) {
            input.insert(f.name.clone(), d.clone());
        }
    }
    refuse_unknown(c, &input)?;
    input.retain(|_, v| !v.is_null());
    crate::schema::validate::normalize_ints(&c.fields, &mut input);
    check_valid(c, &input)?;
    Ok(Checked {
        id,
        body: input,
        derived,
        row: None,
    })
}

impl<'t> Tx<'t> {
    /// Every check of a create that needs no write: the id, the schema,
    /// the existence of referenced documents. Errors here leave the
    /// transaction untouched.
    pub(super) fn prepare_create(
        &mut self,
        coll: &str,
        input: Map<String, Value>,
    ) -> Result<Prepared<'t>> {
        let (c, cid) = self.coll(coll)?;
        let mut input = input;
        if self.hooks.has_before_create(coll) {
            let hooks = self.hooks.clone();
            let id = input.get("_id").and_then(Value::as_str).map(str::to_string);
            let ctx = self.hook_ctx(coll, id.as_deref(), crate::hooks::Cause::Direct);
            hooks.run_before_create(&ctx, &mut input)?;
        }
        let checked = check_input(c, input)?;
        self.prepare_checked(c, cid, checked)
    }

    /// The checks of a create that read the transaction, after
    /// [`check_input`].
    pub(super) fn prepare_checked(
        &mut self,
        c: &'t Collection,
        cid: u32,
        checked: Checked,
    ) -> Result<Prepared<'t>> {
        let coll = c.name.as_str();
        let Checked {
            id,
            body: input,
            derived,
            row,
        } = checked;
        let (id, generated) = match id {
            None => (self.ids.lock().expect("id lock").next_id(), true),
            Some(id) => (id, false),
        };
        // A generated id is newer than every id generated before; the rare
        // clash with a client-chosen id is still caught when the row is
        // inserted (see `put_row`), at the price of aborting. A chosen id
        // past the largest this transaction knows in the collection (an
        // upper bound: see `note_created`) cannot exist either, which
        // spares an import of ascending ids a B-tree lookup per line.
        let past_end = match self.last_ids.get(&cid) {
            Some(Some(last)) => last.as_str() < id.as_str(),
            Some(None) => true,
            None => false,
        };
        if !generated && !past_end && self.doc_exists(cid, &id)? {
            return Err(Error::AlreadyExists {
                coll: coll.into(),
                id,
            });
        }
        for (f, spec) in c.ref_fields() {
            let tcid = self.catalog.coll_id(&spec.coll)?;
            let targets = match derived.get(&f.name) {
                Some(list) => list.clone(),
                None => targets_of(input.get(&f.name)),
            };
            for (i, t) in targets.iter().enumerate() {
                if !self.doc_exists(tcid, t)? {
                    let path = match f.ty {
                        crate::schema::FieldType::Ref(_) => format!("$.{}", f.name),
                        _ => format!("$.{}[{i}]", f.name),
                    };
                    return Err(Error::NotFound {
                        coll: spec.coll.clone(),
                        id: t.clone(),
                        path: Some(path),
                    });
                }
            }
        }
        Ok(Prepared {
            coll: c,
            cid,
            id,
            body: input,
            derived,
            row,
        })
    }

    /// Writes a prepared create; returns the id and the document as stored
    /// (its `_meta` left null: the row holds the transaction's shared one).
    pub(super) fn apply_create(&mut self, p: Prepared<'t>) -> Result<(String, StoredDoc)> {
        let Prepared {
            coll: c,
            cid,
            id,
            body: input,
            derived,
            row,
        } = p;
        let (docno, at_end) = self.note_created(cid, &c.name, &id, None)?;
        // The row carries the transaction's shared `_meta` bytes; `meta`
        // stays null in this in-memory copy, which nothing reads.
        let row = match row {
            Some(mut row) => {
                codec::set_docno(&mut row, docno);
                row.extend_from_slice(&self.create_meta);
                row
            }
            None => codec::encode_with_meta(docno, c, &input, &self.create_meta),
        };
        let doc = StoredDoc {
            docno,
            body: input,
            meta: Value::Null,
        };
        if at_end && self.appendable(c, &derived) {
            // Past every row of the collection: buffered, then appended
            // into full pages (see `append`).
            self.append(c, cid, &id, docno, row)?;
            self.record(c, &id, docno, None, Some(&doc));
            self.sync_derived(cid, c, None, Some(&doc))?;
            // Appendable: no partner row to update, so nothing to reconcile.
            return Ok((id, doc));
        }
        self.put_row(cid, c, &id, None, &doc, row)?;
        for (f, _) in c.ref_fields() {
            let new = match derived.get(&f.name) {
                Some(list) => list.clone(),
                None => targets_of(doc.body.get(&f.name)),
            };
            // `prepare_create` checked that the targets exist.
            super::refs::reconcile(self, c, &id, &f.name, &[], &new, false)?;
        }
        Ok((id, doc))
    }
}

impl Tx<'_> {
    /// Counts a document created in `cid`: hands out its docno (or takes
    /// `docno`, replaying a log), and keeps [`crate::CollState::ordered`] and the
    /// cached largest id. Returns the docno and whether `id` is past every
    /// id of the collection.
    pub(super) fn note_created(
        &mut self,
        cid: u32,
        coll: &str,
        id: &str,
        docno: Option<u32>,
    ) -> Result<(u32, bool)> {
        let last = match self.last_ids.get(&cid) {
            Some(last) => last.clone(),
            None => self
                .rows
                .docs(cid, std::ops::Bound::Unbounded)?
                .next_back()
                .transpose()?
                .map(|e| e.id().to_string()),
        };
        let state = self.state(cid)?;
        let docno = docno.unwrap_or(state.next_docno);
        if docno > codec::MAX_DOCNO {
            return Err(Error::CollectionFull(coll.into()));
        }
        state.next_docno = (docno + 1).max(state.next_docno);
        state.count += 1;
        // The cached largest id may belong to a document deleted since:
        // then `ordered` turns false a little early, which only costs speed.
        let at_end = last.as_deref().is_none_or(|l| l < id);
        let newest = match last {
            Some(l) if l.as_str() > id => {
                state.ordered = false;
                l
            }
            _ => id.to_string(),
        };
        self.last_ids.insert(cid, Some(newest));
        Ok((docno, at_end))
    }
}

/// An unknown key is refused even with a null value, which would
/// otherwise be dropped as "absent" before the validation sees it.
pub(super) fn refuse_unknown(c: &Collection, body: &Map<String, Value>) -> Result<()> {
    // Unknown keys with a value are reported with every other problem by
    // the validation; only the null ones would slip through.
    match body
        .iter()
        .find(|(k, v)| v.is_null() && c.fields.get(k).is_none())
        .map(|(k, _)| k)
    {
        Some(k) => Err(Error::Invalid(vec![crate::Invalid::new(
            format!("$.{k}"),
            "unknown field",
        )])),
        None => Ok(()),
    }
}

/// Refuses a document nested deeper than [`MAX_NESTING`] before anything
/// walks it recursively.
pub(super) fn refuse_deep(doc: &Map<String, Value>) -> Result<()> {
    match too_deep(doc) {
        Some(path) => Err(Error::bad(
            path,
            format!("values nest deeper than {MAX_NESTING} levels (the document counts as one)"),
        )),
        None => Ok(()),
    }
}

pub(super) fn check_valid(c: &Collection, body: &Map<String, Value>) -> Result<()> {
    let errors = validate_document(c, body);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(errors))
    }
}

/// Takes the derived `refs` lists out of an input, validated as id lists.
pub(super) fn take_derived(
    c: &Collection,
    input: &mut Map<String, Value>,
) -> Result<HashMap<String, Vec<String>>> {
    let mut out = HashMap::new();
    for f in c.fields.iter().filter(|f| !f.is_stored()) {
        if let Some(v) = input.shift_remove(&f.name) {
            let v = if v.is_null() {
                Value::Array(Vec::new())
            } else {
                v
            };
            let errors = validate_value(f, &v, &format!("$.{}", f.name));
            if !errors.is_empty() {
                return Err(Error::Invalid(errors));
            }
            out.insert(f.name.clone(), targets_of(Some(&v)));
        }
    }
    Ok(out)
}
