//! The buckets of a value index loaded from a checkpoint (encoded value →
//! docnos), left in the checkpoint's mapped file.
//!
//! Why: a value index with many keys is most of what a start would
//! otherwise parse — at 10M users the `name` index alone is 30k buckets of
//! ~150 containers each, half a second of allocations and 200 MiB — and a
//! field with a value per document would be millions of buckets. Loading
//! reads only the directory (where each key and bitmap lies, in key
//! order); a bucket is deserialized when a query needs it, through a small
//! cache.
//!
//! Changes since the load are kept in RAM: the docnos added to and removed
//! from each key, and the docnos taken out of every bucket at once
//! (`cleared`, when their old values are unknown). A bucket is
//! `((base − cleared) − removed) ∪ added`; an add takes the docno out of
//! `removed`, a removal out of `added`, so the last change decides.
//!
//! Invariants: the directory is in strictly increasing key order (checked
//! at load) and no base bucket in the file is empty; a bucket computed
//! here may be empty (every docno removed), so readers skip empty ones.

use super::checkpoint::{corrupt, get_u32, get_u64, put_bitmap, put_bytes, put_u32, put_u64};
use super::grams::Posting;
use roaring::{MultiOps, RoaringBitmap};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::ops::Bound;
use std::sync::{Arc, Mutex};

/// Bytes of deserialized base buckets one index keeps cached.
const CACHE_BYTES: usize = 16 << 20;

/// A range wider than this many keys is read past the cache: it would
/// only push out what narrower queries read again.
const CACHED_RANGE: usize = 64;

/// Where one bucket lies in the map.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key_at: usize,
    key_len: u32,
    bits_len: u32,
    bits_at: usize,
}

/// See the module doc.
#[derive(Debug)]
pub(crate) struct MappedBuckets {
    map: Arc<memmap2::Mmap>,
    dir: Vec<Entry>,
    added: BTreeMap<Vec<u8>, RoaringBitmap>,
    removed: BTreeMap<Vec<u8>, RoaringBitmap>,
    cleared: RoaringBitmap,
    cache: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    /// By directory position.
    bitmaps: HashMap<usize, Arc<RoaringBitmap>>,
    bytes: usize,
}

impl Clone for MappedBuckets {
    fn clone(&self) -> Self {
        MappedBuckets {
            map: self.map.clone(),
            dir: self.dir.clone(),
            added: self.added.clone(),
            removed: self.removed.clone(),
            cleared: self.cleared.clone(),
            cache: Mutex::default(),
        }
    }
}

impl MappedBuckets {
    /// Reads the directory of buckets written by
    /// [`super::values::ValueIndex::write_to`] from `r`, a part of `map`.
    pub fn read(r: &mut &[u8], map: &Arc<memmap2::Mmap>) -> io::Result<MappedBuckets> {
        let start = map.as_ptr() as usize;
        let n = get_u64(r)?;
        // Each bucket takes at least 8 bytes: a bad count fails below
        // instead of reserving much.
        let mut dir = Vec::with_capacity((n as usize).min(r.len() / 8));
        let take = |r: &mut &[u8]| -> io::Result<(usize, u32)> {
            let len = get_u32(r)?;
            let outside = || corrupt("a value bucket outside the file");
            let at = (r.as_ptr() as usize)
                .checked_sub(start)
                .ok_or_else(outside)?;
            *r = r.get(len as usize..).ok_or_else(outside)?;
            Ok((at, len))
        };
        for _ in 0..n {
            let (key_at, key_len) = take(r)?;
            let (bits_at, bits_len) = take(r)?;
            dir.push(Entry {
                key_at,
                key_len,
                bits_at,
                bits_len,
            });
        }
        let out = MappedBuckets {
            map: map.clone(),
            dir,
            added: BTreeMap::new(),
            removed: BTreeMap::new(),
            cleared: RoaringBitmap::new(),
            cache: Mutex::default(),
        };
        if (1..out.dir.len()).any(|i| out.key(i - 1) >= out.key(i)) {
            return Err(corrupt("value keys out of order"));
        }
        Ok(out)
    }

    fn key(&self, i: usize) -> &[u8] {
        self.key_of(&self.dir[i])
    }

    fn key_of(&self, e: &Entry) -> &[u8] {
        &self.map[e.key_at..e.key_at + e.key_len as usize]
    }

    fn find(&self, key: &[u8]) -> Option<usize> {
        self.dir.binary_search_by(|e| self.key_of(e).cmp(key)).ok()
    }

    /// The positions of the directory's keys within the bounds.
    fn positions(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> std::ops::Range<usize> {
        let first = match lo {
            Bound::Included(k) => self.dir.partition_point(|e| self.key_of(e) < k),
            Bound::Excluded(k) => self.dir.partition_point(|e| self.key_of(e) <= k),
            Bound::Unbounded => 0,
        };
        let end = match hi {
            Bound::Included(k) => self.dir.partition_point(|e| self.key_of(e) <= k),
            Bound::Excluded(k) => self.dir.partition_point(|e| self.key_of(e) < k),
            Bound::Unbounded => self.dir.len(),
        };
        first..end.max(first)
    }

    fn deserialize(&self, i: usize) -> io::Result<RoaringBitmap> {
        let e = &self.dir[i];
        RoaringBitmap::deserialize_from(&self.map[e.bits_at..e.bits_at + e.bits_len as usize])
    }

    /// A bucket as the checkpoint holds it less the cleared docnos,
    /// through the cache (so that a catch-up's clearing costs each query
    /// nothing once the bucket is cached).
    fn base(&self, i: usize) -> io::Result<Arc<RoaringBitmap>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = cache.bitmaps.get(&i) {
            return Ok(b.clone());
        }
        let mut b = self.deserialize(i)?;
        if !self.cleared.is_empty() {
            b -= &self.cleared;
        }
        let b = Arc::new(b);
        let len = self.dir[i].bits_len as usize;
        // Bounded by emptying it whole, as the gram caches are.
        if cache.bytes + len > CACHE_BYTES {
            cache.bitmaps.clear();
            cache.bytes = 0;
        }
        cache.bytes += len;
        cache.bitmaps.insert(i, b.clone());
        Ok(b)
    }

    /// The bucket of `key` (None: no document ever had it since the load
    /// or in the checkpoint; it may be empty).
    pub fn get(&self, key: &[u8]) -> io::Result<Option<Posting<'_>>> {
        self.get_at(key, self.find(key))
    }

    /// [`MappedBuckets::get`] of a key found at directory position `at`
    /// (None: not in the directory).
    fn get_at(&self, key: &[u8], at: Option<usize>) -> io::Result<Option<Posting<'_>>> {
        let base = at.map(|i| self.base(i)).transpose()?;
        Ok(Posting::overlaid(
            base,
            self.added.get(key),
            self.removed.get(key),
        ))
    }

    pub fn add(&mut self, key: Vec<u8>, docno: u32) {
        if let Some(r) = self.removed.get_mut(&key) {
            r.remove(docno);
            if r.is_empty() {
                self.removed.remove(&key);
            }
        }
        self.added.entry(key).or_default().insert(docno);
    }

    pub fn remove(&mut self, key: &[u8], docno: u32) {
        if let Some(a) = self.added.get_mut(key) {
            a.remove(docno);
            if a.is_empty() {
                self.added.remove(key);
            }
        }
        if self.find(key).is_some() {
            self.removed.entry(key.to_vec()).or_default().insert(docno);
        }
    }

    /// Takes these docnos out of every bucket.
    pub fn remove_all(&mut self, docnos: &RoaringBitmap) {
        self.added.retain(|_, b| {
            *b -= docnos;
            !b.is_empty()
        });
        self.cleared |= docnos;
        // Cached buckets were cleared of the earlier docnos only.
        *self.cache.get_mut().unwrap_or_else(|e| e.into_inner()) = Cache::default();
    }

    /// Union of the buckets whose key lies within the bounds, each
    /// intersected with `within` first when it is given.
    pub fn union_range(
        &self,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        within: Option<&RoaringBitmap>,
    ) -> io::Result<RoaringBitmap> {
        let range = self.positions(lo, hi);
        let cached = range.len() <= CACHED_RANGE;
        let mut parts = Vec::with_capacity(range.len());
        for i in range {
            // (base − cleared − removed) over every key is the union of
            // (base − removed), less cleared once (a cached base already
            // is).
            let removed = self.removed.get(self.key(i));
            let b = if cached {
                self.base(i)?
            } else {
                Arc::new(self.deserialize(i)?)
            };
            parts.push(match (removed, within) {
                (Some(r), Some(w)) => Posting::Owned(&(&*b - r) & w),
                (Some(r), None) => Posting::Owned(&*b - r),
                (None, Some(w)) => Posting::Owned(&*b & w),
                (None, None) => Posting::Shared(b),
            });
        }
        // One union of all (not one at a time: each would merge the
        // growing result's array containers again).
        let mut out = parts.iter().map(|p| &**p).union();
        if !self.cleared.is_empty() {
            out -= &self.cleared;
        }
        let added: Vec<Posting<'_>> = self
            .added
            .range::<[u8], _>((lo, hi))
            .map(|(_, a)| match within {
                Some(w) => Posting::Owned(a & w),
                None => Posting::Borrowed(a),
            })
            .collect();
        Ok([&out].into_iter().chain(added.iter().map(|p| &**p)).union())
    }

    /// Every key that may have docnos with its directory position (None:
    /// added since the load), in key order (descending when `desc`).
    fn keys(&self, desc: bool) -> impl Iterator<Item = Keyed<'_>> {
        let dir: Box<dyn Iterator<Item = Keyed<'_>>> = if desc {
            Box::new((0..self.dir.len()).rev().map(|i| (self.key(i), Some(i))))
        } else {
            Box::new((0..self.dir.len()).map(|i| (self.key(i), Some(i))))
        };
        let added: Box<dyn Iterator<Item = Keyed<'_>>> = if desc {
            Box::new(self.added.keys().rev().map(|k| (k.as_slice(), None)))
        } else {
            Box::new(self.added.keys().map(|k| (k.as_slice(), None)))
        };
        merge(dir, added, desc)
    }

    /// Every non-empty bucket with its key, in key order (descending when
    /// `desc`), each read when the iteration reaches it.
    pub fn in_order(&self, desc: bool) -> impl Iterator<Item = io::Result<(&[u8], Posting<'_>)>> {
        self.keys(desc)
            .filter_map(|(k, at)| match self.get_at(k, at) {
                Ok(Some(b)) if !b.is_empty() => Some(Ok((k, b))),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
    }

    /// Writes every non-empty bucket in key order, as
    /// [`super::values::ValueIndex::write_to`] does; a bucket no change
    /// touched is copied as it lies in the map.
    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        // A base bucket is untouched unless a change names its key or it
        // holds a cleared docno; it is never empty. The others are
        // computed (twice: once to count the non-empty ones).
        let untouched = |(key, at): Keyed<'_>| -> io::Result<Option<usize>> {
            let Some(i) = at else { return Ok(None) };
            let changed = self.added.contains_key(key)
                || self.removed.contains_key(key)
                || (!self.cleared.is_empty() && !self.deserialize(i)?.is_disjoint(&self.cleared));
            Ok((!changed).then_some(i))
        };
        let mut count = 0u64;
        let mut copied = Vec::new();
        for (key, at) in self.keys(false) {
            let copy = untouched((key, at))?;
            copied.push(copy);
            if copy.is_some() || self.get_at(key, at)?.is_some_and(|b| !b.is_empty()) {
                count += 1;
            }
        }
        put_u64(w, count)?;
        for ((key, at), copy) in self.keys(false).zip(copied) {
            if let Some(i) = copy {
                let e = &self.dir[i];
                put_bytes(w, key)?;
                put_u32(w, e.bits_len as usize)?;
                w.write_all(&self.map[e.bits_at..e.bits_at + e.bits_len as usize])?;
            } else if let Some(b) = self.get_at(key, at)?.filter(|b| !b.is_empty()) {
                put_bytes(w, key)?;
                put_bitmap(w, &b)?;
            }
        }
        Ok(())
    }
}

/// A key and, when the directory holds it, its position there.
type Keyed<'a> = (&'a [u8], Option<usize>);

/// Merges two strictly monotonic key sequences, both increasing (or both
/// decreasing when `desc`), giving a key both hold once, as `a` has it.
fn merge<'a>(
    a: impl Iterator<Item = Keyed<'a>>,
    b: impl Iterator<Item = Keyed<'a>>,
    desc: bool,
) -> impl Iterator<Item = Keyed<'a>> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (None, None) => None,
        (Some(_), None) => a.next(),
        (None, Some(_)) => b.next(),
        (Some(x), Some(y)) => {
            let order = if desc { y.0.cmp(x.0) } else { x.0.cmp(y.0) };
            match order {
                std::cmp::Ordering::Less => a.next(),
                std::cmp::Ordering::Greater => b.next(),
                std::cmp::Ordering::Equal => {
                    b.next();
                    a.next()
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::values::ValueIndex;
    use super::super::values::tests::field_types;
    use super::*;
    use refdb_storage::FieldType;
    use refdb_storage::keys::encode_value;
    use serde_json::{Value, json};

    /// A deterministic generator (xorshift), so a failure replays.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn value(rng: &mut Rng, list: bool) -> Option<Value> {
        let scalar = |rng: &mut Rng| match rng.below(8) {
            0 => Value::Null,
            k if list => json!(format!("s{}", k + rng.below(3))),
            k => json!(k * 3 + rng.below(3)),
        };
        match rng.below(10) {
            0 => None,
            1 if list => Some(json!([])),
            _ if list => Some(Value::Array(
                (0..rng.below(4)).map(|_| scalar(rng)).collect(),
            )),
            _ => Some(scalar(rng)),
        }
    }

    fn through_a_file(ty: &FieldType, vi: &ValueIndex) -> ValueIndex {
        let mut f = tempfile::tempfile().unwrap();
        vi.write_to(&mut f).unwrap();
        let map = Arc::new(unsafe { memmap2::Mmap::map(&f).unwrap() });
        let mut r: &[u8] = &map[..];
        let mut out = ValueIndex::new(ty.clone());
        out.read_mapped(&mut r, &map).unwrap();
        assert!(r.is_empty(), "the whole index was read");
        assert!(out.is_mapped());
        out
    }

    /// Every query a value index answers, equal on both.
    fn assert_same_answers(rng: &mut Rng, elem: &FieldType, a: &ValueIndex, b: &ValueIndex) {
        assert!(a.same_as(b) && b.same_as(a));
        let live: RoaringBitmap = (0..300).collect();
        assert_eq!(a.present(&live).unwrap(), b.present(&live).unwrap());
        let re = regex::Regex::new("^s[2-5]").unwrap();
        assert_eq!(
            a.union_matching(&re).unwrap(),
            b.union_matching(&re).unwrap()
        );
        for desc in [false, true] {
            let keys = |v: &ValueIndex| -> Vec<(Vec<u8>, RoaringBitmap)> {
                v.in_order(desc)
                    .map(|e| e.map(|(k, p)| (k.to_vec(), (*p).clone())).unwrap())
                    .collect()
            };
            assert_eq!(keys(a), keys(b));
        }
        let list = matches!(elem, FieldType::String);
        let key = |rng: &mut Rng| {
            let mut k = Vec::new();
            let v = match value(rng, false) {
                _ if list => json!(format!("s{}", rng.below(12))),
                Some(v) => v,
                None => Value::Null,
            };
            encode_value(elem, &v, &mut k);
            k
        };
        for _ in 0..20 {
            let keys: Vec<Vec<u8>> = (0..rng.below(4)).map(|_| key(rng)).collect();
            assert_eq!(a.union_of(&keys).unwrap(), b.union_of(&keys).unwrap());
            let (x, y) = (key(rng), key(rng));
            let bound = |rng: &mut Rng, k: &[u8]| -> Bound<Vec<u8>> {
                match rng.below(3) {
                    0 => Bound::Included(k.to_vec()),
                    1 => Bound::Excluded(k.to_vec()),
                    _ => Bound::Unbounded,
                }
            };
            let (lo, hi) = (bound(rng, &x), bound(rng, &y));
            let (lo, hi) = (
                lo.as_ref().map(Vec::as_slice),
                hi.as_ref().map(Vec::as_slice),
            );
            let r = |v: &ValueIndex| v.union_range(lo, hi, None).unwrap();
            assert_eq!(r(a), r(b));
            let within: RoaringBitmap = (0..300).filter(|_| rng.below(3) == 0).collect();
            let w = |v: &ValueIndex| v.union_range(lo, hi, Some(&within)).unwrap();
            assert_eq!(w(a), &r(a) & &within);
            assert_eq!(w(b), &r(b) & &within);
        }
    }

    /// A value index read in place from a mapped checkpoint, then changed
    /// (values set, documents deleted, documents cleared from every bucket
    /// and put back as a catch-up does), then written and mapped again:
    /// always the answers of an index given the same changes in RAM.
    #[test]
    fn mapped_buckets_changed_and_saved_again_answer_as_in_ram() {
        for (seed, (ty, elem)) in [7u64, 11].into_iter().zip(field_types()) {
            let mut rng = Rng(seed);
            let list = matches!(ty, FieldType::List(_));
            let mut current: HashMap<u32, Option<Value>> = HashMap::new();
            let mut owned = ValueIndex::new(ty.clone());
            for d in 0..200 {
                let v = value(&mut rng, list);
                owned.add(d, v.as_ref());
                current.insert(d, v);
            }
            let mut mapped = through_a_file(&ty, &owned);
            assert_same_answers(&mut rng, &elem, &owned, &mapped);
            for round in 0..6 {
                for _ in 0..60 {
                    let d = rng.below(300) as u32;
                    let both = [&mut owned, &mut mapped];
                    match (rng.below(5), current.get(&d).cloned()) {
                        (0, Some(old)) => {
                            for vi in both {
                                vi.remove(d, old.as_ref());
                            }
                            current.remove(&d);
                        }
                        (1, _) => {
                            // Changed while the index was away (a restart's
                            // catch-up): the old values are unknown, so the
                            // documents are taken out of every bucket and put
                            // back with their values now, if they exist.
                            let gone: RoaringBitmap =
                                (0..4).map(|_| rng.below(300) as u32).collect();
                            for d in &gone {
                                match rng.below(3) {
                                    0 => current.remove(&d),
                                    _ => current.insert(d, value(&mut rng, list)),
                                };
                            }
                            for vi in both {
                                vi.remove_all(&gone);
                                for d in &gone {
                                    if let Some(v) = current.get(&d) {
                                        vi.add(d, v.as_ref());
                                    }
                                }
                            }
                        }
                        (_, old) => {
                            let new = value(&mut rng, list);
                            for vi in both {
                                if let Some(old) = &old {
                                    vi.remove(d, old.as_ref());
                                }
                                vi.add(d, new.as_ref());
                            }
                            current.insert(d, new);
                        }
                    }
                }
                assert_same_answers(&mut rng, &elem, &owned, &mapped);
                if round % 2 == 1 {
                    mapped = through_a_file(&ty, &mapped);
                    assert_same_answers(&mut rng, &elem, &owned, &mapped);
                }
            }
        }
    }

    /// A document cleared from every bucket (its old value unknown) and
    /// put back under its new value leaves the bucket the checkpoint had
    /// it in, even where no other change names that bucket.
    #[test]
    fn a_cleared_docno_leaves_its_old_bucket() {
        let (ty, elem) = field_types().remove(0);
        let mut owned = ValueIndex::new(ty.clone());
        for d in [1, 2, 3] {
            owned.add(d, Some(&json!(5)));
        }
        let mut mapped = through_a_file(&ty, &owned);
        for vi in [&mut owned, &mut mapped] {
            vi.remove_all(&[1, 3].into_iter().collect());
            vi.add(1, Some(&json!(6)));
        }
        let key = |v: Value| {
            let mut k = Vec::new();
            encode_value(&elem, &v, &mut k);
            k
        };
        let five: RoaringBitmap = [2].into_iter().collect();
        let six: RoaringBitmap = [1].into_iter().collect();
        for vi in [&owned, &mapped] {
            assert_eq!(vi.union_of(&[key(json!(5))]).unwrap(), five);
            assert_eq!(vi.union_of(&[key(json!(6))]).unwrap(), six);
        }
        assert_same_answers(&mut Rng(3), &elem, &owned, &mapped);
        let saved = through_a_file(&ty, &mapped);
        assert_same_answers(&mut Rng(5), &elem, &owned, &saved);
    }
}
