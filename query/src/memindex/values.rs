//! The value index of one `index: true` field: encoded value → bitmap of
//! docnos, in key order. Built from the documents, its buckets are in
//! RAM; loaded from a checkpoint, they stay in the mapped file with the
//! changes since in RAM ([`super::buckets`]).
//!
//! Invariants (kept by [`ValueIndex::add`]/[`ValueIndex::remove`] with the
//! same key function as storage's persistent index,
//! [`refdb_storage::keys::encode_value`]):
//! - every live document is in at least one bucket: missing, null and
//!   empty lists are the null key ([`TAG_NULL`]), which sorts first;
//! - a list document is in the bucket of each distinct element;
//! - no bucket in RAM is empty (a mapped one may have become empty: every
//!   reader skips empty buckets).

use super::buckets::MappedBuckets;
use super::grams::Posting;
use super::run::Run;
use crate::query_error::QueryError;
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
    buckets: Buckets,
}

/// The buckets: in RAM for an index built from the documents, or left in
/// a mapped checkpoint for a loaded one ([`MappedBuckets`]).
#[derive(Debug, Clone)]
enum Buckets {
    /// No bucket is empty.
    Owned(BTreeMap<Vec<u8>, RoaringBitmap>),
    Mapped(MappedBuckets),
}

/// A key and its docnos.
type Bucket<'a> = (&'a [u8], Posting<'a>);

fn read_error(e: std::io::Error) -> QueryError {
    QueryError::Internal(format!("value index: {e}"))
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
            buckets: Buckets::Owned(
                self.buckets
                    .into_iter()
                    .map(|(k, r)| (k, r.finish()))
                    .collect(),
            ),
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
            buckets: Buckets::Owned(BTreeMap::new()),
        }
    }

    /// The distinct keys a field value indexes under.
    fn keys(&self, v: Option<&Value>) -> Vec<Vec<u8>> {
        // The storage's own encoding, so both indexes agree on every value.
        refdb_storage::keys::value_keys(&self.ty, v)
    }

    /// Whether the buckets are read from a mapped checkpoint.
    pub fn is_mapped(&self) -> bool {
        matches!(self.buckets, Buckets::Mapped(_))
    }

    /// Whether both index the same docnos under the same keys (empty
    /// buckets aside): for audits.
    pub fn same_as(&self, other: &ValueIndex) -> bool {
        // Compared a bucket at a time: a loaded index reads each from its
        // file, and an audit should not copy them all.
        let (mut mine, mut theirs) = (self.in_order(false), other.in_order(false));
        loop {
            match (mine.next(), theirs.next()) {
                (None, None) => return true,
                (Some(Ok((k, b))), Some(Ok((l, c)))) if k == l && *b == *c => {}
                _ => return false,
            }
        }
    }

    pub fn add(&mut self, docno: u32, v: Option<&Value>) {
        for k in self.keys(v) {
            match &mut self.buckets {
                Buckets::Owned(m) => super::add_docno(m.entry(k).or_default(), docno),
                Buckets::Mapped(m) => m.add(k, docno),
            }
        }
    }

    pub fn remove(&mut self, docno: u32, v: Option<&Value>) {
        for k in self.keys(v) {
            match &mut self.buckets {
                Buckets::Owned(m) => {
                    if let Some(b) = m.get_mut(&k) {
                        b.remove(docno);
                        if b.is_empty() {
                            m.remove(&k);
                        }
                    }
                }
                Buckets::Mapped(m) => m.remove(&k, docno),
            }
        }
    }

    /// Writes the buckets (see [`super::checkpoint`]): their count, then
    /// each key and bitmap in key order, none empty.
    pub(crate) fn write_to(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        use super::checkpoint::{put_bitmap, put_bytes, put_u64};
        match &self.buckets {
            Buckets::Owned(m) => {
                put_u64(w, m.len() as u64)?;
                for (k, b) in m {
                    put_bytes(w, k)?;
                    put_bitmap(w, b)?;
                }
                Ok(())
            }
            Buckets::Mapped(m) => m.write_to(w),
        }
    }

    /// Reads buckets written by [`ValueIndex::write_to`] from `r`, a part
    /// of `map`: only their directory; the bitmaps stay in the map.
    pub(crate) fn read_mapped(
        &mut self,
        r: &mut &[u8],
        map: &std::sync::Arc<memmap2::Mmap>,
    ) -> std::io::Result<()> {
        self.buckets = Buckets::Mapped(MappedBuckets::read(r, map)?);
        Ok(())
    }

    /// Takes these docnos out of every bucket (their values unknown).
    pub fn remove_all(&mut self, docnos: &RoaringBitmap) {
        match &mut self.buckets {
            Buckets::Owned(m) => m.retain(|_, b| {
                *b -= docnos;
                !b.is_empty()
            }),
            Buckets::Mapped(m) => m.remove_all(docnos),
        }
    }

    /// The bucket of one key (None: no document has it).
    fn get(&self, key: &[u8]) -> Result<Option<Posting<'_>>, QueryError> {
        match &self.buckets {
            Buckets::Owned(m) => Ok(m.get(key).map(Posting::Borrowed)),
            Buckets::Mapped(m) => m.get(key).map_err(read_error),
        }
    }

    /// Every non-empty bucket with its key, in key order (descending when
    /// `desc`), each read when the iteration reaches it.
    pub fn in_order(&self, desc: bool) -> impl Iterator<Item = Result<Bucket<'_>, QueryError>> {
        fn owned<'a>((k, b): (&'a Vec<u8>, &'a RoaringBitmap)) -> Result<Bucket<'a>, QueryError> {
            Ok((k.as_slice(), Posting::Borrowed(b)))
        }
        let all: Box<dyn Iterator<Item = Result<Bucket<'_>, QueryError>>> = match &self.buckets {
            Buckets::Owned(m) if desc => Box::new(m.iter().rev().map(owned)),
            Buckets::Owned(m) => Box::new(m.iter().map(owned)),
            Buckets::Mapped(m) => Box::new(m.in_order(desc).map(|e| e.map_err(read_error))),
        };
        all
    }

    /// Union of the buckets of these keys.
    pub fn union_of(&self, keys: &[Vec<u8>]) -> Result<RoaringBitmap, QueryError> {
        let mut parts = Vec::with_capacity(keys.len());
        for k in keys {
            parts.extend(self.get(k)?);
        }
        Ok(parts.iter().map(|p| &**p).union())
    }

    /// Union of the buckets whose key lies in the range; with `within`,
    /// each bucket is intersected with it before the union, which then
    /// merges only the docnos it keeps (a wide range is many buckets;
    /// another condition may keep few of their documents).
    pub fn union_range(
        &self,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        within: Option<&RoaringBitmap>,
    ) -> Result<RoaringBitmap, QueryError> {
        // An inverted range (`$gt=5&...` typed to lo > hi) would make
        // BTreeMap::range panic: it is simply empty.
        if let (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) =
            (lo, hi)
            && (a > b
                || (a == b
                    && !(matches!(lo, Bound::Included(_)) && matches!(hi, Bound::Included(_)))))
        {
            return Ok(RoaringBitmap::new());
        }
        match (&self.buckets, within) {
            (Buckets::Owned(m), None) => Ok(m.range::<[u8], _>((lo, hi)).map(|(_, b)| b).union()),
            (Buckets::Owned(m), Some(w)) => {
                Ok(m.range::<[u8], _>((lo, hi)).map(|(_, b)| b & w).union())
            }
            (Buckets::Mapped(m), _) => m.union_range(lo, hi, within).map_err(read_error),
        }
    }

    /// Union of the buckets of string values that `re` matches.
    pub fn union_matching(&self, re: &regex::Regex) -> Result<RoaringBitmap, QueryError> {
        let mut parts = Vec::new();
        for bucket in self.in_order(false) {
            let (k, b) = bucket?;
            if decode_string(k).is_some_and(|s| re.is_match(&s)) {
                parts.push(b);
            }
        }
        Ok(parts.iter().map(|p| &**p).union())
    }

    /// Documents with at least one non-null value.
    pub fn present(&self, live: &RoaringBitmap) -> Result<RoaringBitmap, QueryError> {
        match self.ty {
            // A list may hold null elements beside real ones: union the
            // non-null buckets.
            FieldType::List(_) => {
                self.union_range(Bound::Excluded(&[TAG_NULL]), Bound::Unbounded, None)
            }
            // A scalar document is in exactly one bucket.
            _ => Ok(match self.get(&[TAG_NULL])? {
                Some(nulls) => live - &*nulls,
                None => live.clone(),
            }),
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
pub(crate) mod tests {
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

    /// An indexed int field and an indexed list of strings, each with the
    /// type its keys encode.
    pub(crate) fn field_types() -> Vec<(FieldType, FieldType)> {
        let schema = refdb_storage::Schema::parse(
            r#"{"app": "t", "collections": {"c": {"fields": {
                "n": {"type": "int", "index": true},
                "l": {"type": "list", "of": {"type": "string"}, "index": true}
            }}}}"#,
        )
        .unwrap();
        let fields = &schema.collection("c").unwrap().fields;
        ["n", "l"]
            .into_iter()
            .map(|f| {
                let ty = fields.get(f).unwrap().ty.clone();
                let elem = match &ty {
                    FieldType::List(of) => of.ty.clone(),
                    t => t.clone(),
                };
                (ty, elem)
            })
            .collect()
    }

    #[test]
    fn a_built_index_equals_one_added_value_by_value() {
        // Docnos mostly increasing, some out of order; missing and null
        // values, lists with repeated and null elements, empty lists.
        let mut docnos: Vec<u32> = (0..3000).collect();
        docnos.swap(10, 2000);
        docnos[500..700].reverse();
        let value = |list: bool, d: u32| match (list, d % 6) {
            (_, 0) => None,
            (_, 1) => Some(Value::Null),
            (false, k) => Some(Value::from(d % 17 + k)),
            (_, 2) => Some(serde_json::json!([])),
            (_, k) => Some(serde_json::json!([
                format!("x{}", d % 5),
                "y",
                "y",
                null,
                k
            ])),
        };
        for (ty, _) in field_types() {
            let list = matches!(ty, FieldType::List(_));
            let mut built = ValueIndex::new(ty.clone()).builder();
            let mut added = ValueIndex::new(ty);
            for &d in &docnos {
                built.add(d, value(list, d).as_ref());
                added.add(d, value(list, d).as_ref());
            }
            let built = built.finish();
            assert!(built.same_as(&added), "list: {list}");
            assert!(added.same_as(&built), "list: {list}");
        }
    }
}
