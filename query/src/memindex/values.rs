//! The in-memory value index of one `index: true` field: encoded value →
//! bitmap of docnos, in key order.
//!
//! Invariants (kept by [`ValueIndex::add`]/[`ValueIndex::remove`] with the
//! same key function as storage's persistent index,
//! [`refdb_storage::keys::encode_value`]):
//! - every live document is in at least one bucket: missing, null and
//!   empty lists are the null key ([`TAG_NULL`]), which sorts first;
//! - a list document is in the bucket of each distinct element;
//! - no bucket is empty.

use super::run::Run;
use refdb_storage::FieldType;
use refdb_storage::keys::TAG_NULL;
use roaring::{MultiOps, RoaringBitmap};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

/// See the module doc.
#[derive(Debug, Clone)]
pub struct ValueIndex {
    /// The field's type (a list's element type is used for keys).
    ty: FieldType,
    pub buckets: BTreeMap<Vec<u8>, RoaringBitmap>,
}

/// Builds a [`ValueIndex`] from every document's value, each docno given
/// once (a start without a checkpoint). Equal to adding each value in
/// turn ([`ValueIndex::add`]), measured faster: buckets are found by hash
/// while the build runs (a name index has about as many keys as documents,
/// and a search of the ordered map compares a key at every level), ordered
/// once at the end, and filled in runs ([`Run`]).
pub(crate) struct ValueBuilder {
    ty: FieldType,
    buckets: HashMap<Vec<u8>, Run>,
}

impl ValueBuilder {
    pub fn new(ty: FieldType) -> ValueBuilder {
        ValueBuilder {
            ty,
            buckets: HashMap::new(),
        }
    }

    pub fn add(&mut self, docno: u32, v: Option<&Value>) {
        for k in refdb_storage::keys::value_keys(&self.ty, v) {
            self.buckets.entry(k).or_default().push(docno);
        }
    }

    pub fn finish(self) -> ValueIndex {
        ValueIndex {
            ty: self.ty,
            buckets: self
                .buckets
                .into_iter()
                .map(|(k, r)| (k, r.finish()))
                .collect(),
        }
    }
}

impl ValueIndex {
    /// A builder of this (empty) index's field.
    pub(crate) fn builder(&self) -> ValueBuilder {
        ValueBuilder::new(self.ty.clone())
    }

    pub fn new(ty: FieldType) -> ValueIndex {
        ValueIndex {
            ty,
            buckets: BTreeMap::new(),
        }
    }

    /// The distinct keys a field value indexes under.
    fn keys(&self, v: Option<&Value>) -> Vec<Vec<u8>> {
        // The storage's own encoding, so both indexes agree on every value.
        refdb_storage::keys::value_keys(&self.ty, v)
    }

    /// Whether both index the same docnos under the same keys (empty
    /// buckets aside): for audits.
    pub fn same_as(&self, other: &ValueIndex) -> bool {
        let held = |v: &ValueIndex| v.buckets.values().filter(|d| !d.is_empty()).count();
        held(self) == held(other)
            && self
                .buckets
                .iter()
                .filter(|(_, d)| !d.is_empty())
                .all(|(k, d)| other.buckets.get(k) == Some(d))
    }

    pub fn add(&mut self, docno: u32, v: Option<&Value>) {
        for k in self.keys(v) {
            super::add_docno(self.buckets.entry(k).or_default(), docno);
        }
    }

    pub fn remove(&mut self, docno: u32, v: Option<&Value>) {
        for k in self.keys(v) {
            if let Some(b) = self.buckets.get_mut(&k) {
                b.remove(docno);
                if b.is_empty() {
                    self.buckets.remove(&k);
                }
            }
        }
    }

    /// Writes the buckets (see [`super::checkpoint`]).
    pub(crate) fn write_to(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        use super::checkpoint::{put_bitmap, put_bytes, put_u64};
        put_u64(w, self.buckets.len() as u64)?;
        for (k, b) in &self.buckets {
            put_bytes(w, k)?;
            put_bitmap(w, b)?;
        }
        Ok(())
    }

    /// Reads buckets written by [`ValueIndex::write_to`] into this (empty)
    /// index.
    pub(crate) fn read_from(&mut self, r: &mut impl std::io::Read) -> std::io::Result<()> {
        use super::checkpoint::{get_bitmap, get_bytes, get_u64};
        for _ in 0..get_u64(r)? {
            let k = get_bytes(r)?;
            let b = get_bitmap(r)?;
            self.buckets.insert(k, b);
        }
        Ok(())
    }

    /// Takes these docnos out of every bucket (their values unknown).
    pub fn remove_all(&mut self, docnos: &RoaringBitmap) {
        self.buckets.retain(|_, b| {
            *b -= docnos;
            !b.is_empty()
        });
    }

    /// Union of the buckets of these keys.
    pub fn union_of(&self, keys: &[Vec<u8>]) -> RoaringBitmap {
        keys.iter().filter_map(|k| self.buckets.get(k)).union()
    }

    /// Union of the buckets whose key lies in the range.
    pub fn union_range(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> RoaringBitmap {
        // An inverted range (`$gt=5&...` typed to lo > hi) would make
        // BTreeMap::range panic: it is simply empty.
        if let (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) =
            (lo, hi)
            && (a > b
                || (a == b
                    && !(matches!(lo, Bound::Included(_)) && matches!(hi, Bound::Included(_)))))
        {
            return RoaringBitmap::new();
        }
        self.buckets
            .range::<[u8], _>((lo, hi))
            .map(|(_, b)| b)
            .union()
    }

    /// Union of the buckets of string values that `re` matches.
    pub fn union_matching(&self, re: &regex::Regex) -> RoaringBitmap {
        self.buckets
            .iter()
            .filter(|(k, _)| decode_string(k).is_some_and(|s| re.is_match(&s)))
            .map(|(_, b)| b)
            .union()
    }

    /// Documents with at least one non-null value.
    pub fn present(&self, live: &RoaringBitmap) -> RoaringBitmap {
        match self.ty {
            // A list may hold null elements beside real ones: union the
            // non-null buckets.
            FieldType::List(_) => self.union_range(Bound::Excluded(&[TAG_NULL]), Bound::Unbounded),
            // A scalar document is in exactly one bucket.
            _ => match self.buckets.get(&[TAG_NULL][..]) {
                Some(nulls) => live - nulls,
                None => live.clone(),
            },
        }
    }
}

/// The string of a string key (`0x20`, bytes with 0x00 escaped as 0x00
/// 0xFF, end 0x00 0x01); `None` for other keys.
fn decode_string(key: &[u8]) -> Option<String> {
    let body = key.strip_prefix(&[0x20])?.strip_suffix(&[0, 1])?;
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        out.push(body[i]);
        i += if body[i] == 0 { 2 } else { 1 };
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use refdb_storage::keys::encode_value;

    #[test]
    fn string_keys_round_trip() {
        for s in ["", "a", "a\u{0}b", "\u{0}", "été"] {
            let mut k = Vec::new();
            encode_value(&FieldType::String, &Value::String(s.into()), &mut k).unwrap();
            assert_eq!(decode_string(&k).as_deref(), Some(s));
        }
        let mut k = Vec::new();
        encode_value(&FieldType::Int, &Value::from(3), &mut k).unwrap();
        assert_eq!(decode_string(&k), None);
    }

    #[test]
    fn a_built_index_equals_one_added_value_by_value() {
        let schema = refdb_storage::Schema::parse(
            r#"{"app": "t", "collections": {"c": {"fields": {
                "n": {"type": "int", "index": true},
                "l": {"type": "list", "of": {"type": "string"}, "index": true}
            }}}}"#,
        )
        .unwrap();
        let fields = &schema.collection("c").unwrap().fields;
        // Docnos mostly increasing, some out of order; missing and null
        // values, lists with repeated and null elements, empty lists.
        let mut docnos: Vec<u32> = (0..3000).collect();
        docnos.swap(10, 2000);
        docnos[500..700].reverse();
        let value = |field: &str, d: u32| match (field, d % 6) {
            (_, 0) => None,
            (_, 1) => Some(Value::Null),
            ("n", k) => Some(Value::from(d % 17 + k)),
            (_, 2) => Some(serde_json::json!([])),
            (_, k) => Some(serde_json::json!([
                format!("x{}", d % 5),
                "y",
                "y",
                null,
                k
            ])),
        };
        for field in ["n", "l"] {
            let ty = fields.get(field).unwrap().ty.clone();
            let mut built = ValueIndex::new(ty.clone()).builder();
            let mut added = ValueIndex::new(ty);
            for &d in &docnos {
                built.add(d, value(field, d).as_ref());
                added.add(d, value(field, d).as_ref());
            }
            let built = built.finish();
            assert!(built.same_as(&added), "{field}");
            assert_eq!(built.buckets, added.buckets, "{field}");
        }
    }
}
