//! The postings of one gram size of a search index (gram → docnos): in RAM
//! for an index built from the documents, or left in a mapped checkpoint
//! for a loaded one.
//!
//! A loaded index keeps, per gram, where its serialized bitmap lies in the
//! mapping, and in RAM only what changed since: the docnos added to and
//! removed from each gram. A gram's docnos are `(base − removed) ∪ added`;
//! an add takes the docno out of `removed`, a removal out of `added`, so
//! the last change to a docno decides. Base bitmaps are deserialized when a
//! query needs them and kept in a small cache, bounded in bytes; loading
//! reads only the directory, and memory holds what queries use.

use super::checkpoint::{corrupt, get_u32, put_bitmap, put_u32, skip};
use roaring::RoaringBitmap;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::{self, Write};
use std::ops::Deref;
use std::sync::{Arc, Mutex};

/// Bytes of deserialized base bitmaps one mapped gram table keeps cached.
const CACHE_BYTES: usize = 32 << 20;

/// Hashes gram keys (small integers) by one multiplication instead of
/// SipHash: building the index of a million values does a hundred million
/// lookups, and gram keys come from stored data, not from an attacker
/// choosing collisions per request.
#[derive(Default)]
pub(crate) struct GramHasher(u64);

impl Hasher for GramHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 << 8 | u64::from(b));
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        // The product's entropy is in its high bits; the table uses both.
        self.0 ^ (self.0 >> 29)
    }
}

pub(crate) type GramMap<K, V = RoaringBitmap> = HashMap<K, V, BuildHasherDefault<GramHasher>>;

/// A gram as a key: a bigram (u16) or a trigram (u32), stored little-endian.
pub(crate) trait GramKey: Copy + Eq + Hash + Ord + Send + Sync + 'static {
    const BYTES: usize;
    fn put(self, w: &mut impl Write) -> io::Result<()>;
    fn get(b: &[u8]) -> Self;
}

impl GramKey for u16 {
    const BYTES: usize = 2;
    fn put(self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(&self.to_le_bytes())
    }
    fn get(b: &[u8]) -> u16 {
        u16::from_le_bytes([b[0], b[1]])
    }
}

impl GramKey for u32 {
    const BYTES: usize = 4;
    fn put(self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(&self.to_le_bytes())
    }
    fn get(b: &[u8]) -> u32 {
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}

/// A gram's docnos as a query gets them.
pub enum Posting<'a> {
    Borrowed(&'a RoaringBitmap),
    Shared(Arc<RoaringBitmap>),
    Owned(RoaringBitmap),
}

impl<'a> Posting<'a> {
    /// `(base − removed) ∪ added`: a mapped posting with the changes made
    /// to it since the load (None: neither holds anything). Shared, not
    /// copied, when nothing changed.
    pub(crate) fn overlaid(
        base: Option<Arc<RoaringBitmap>>,
        added: Option<&'a RoaringBitmap>,
        removed: Option<&RoaringBitmap>,
    ) -> Option<Posting<'a>> {
        match (base, added, removed) {
            (None, None, _) => None,
            (None, Some(a), _) => Some(Posting::Borrowed(a)),
            (Some(b), None, None) => Some(Posting::Shared(b)),
            (Some(b), a, r) => {
                let mut out = (*b).clone();
                if let Some(r) = r {
                    out -= r;
                }
                if let Some(a) = a {
                    out |= a;
                }
                Some(Posting::Owned(out))
            }
        }
    }
}

impl Deref for Posting<'_> {
    type Target = RoaringBitmap;
    fn deref(&self) -> &RoaringBitmap {
        match self {
            Posting::Borrowed(b) => b,
            Posting::Shared(b) => b,
            Posting::Owned(b) => b,
        }
    }
}

/// See the module doc.
#[derive(Debug)]
pub(crate) enum Grams<K: GramKey> {
    /// No bitmap is empty.
    Owned(GramMap<K>),
    Mapped(Mapped<K>),
}

impl<K: GramKey> Default for Grams<K> {
    fn default() -> Self {
        Grams::Owned(GramMap::default())
    }
}

impl<K: GramKey> Clone for Grams<K> {
    fn clone(&self) -> Self {
        match self {
            Grams::Owned(m) => Grams::Owned(m.clone()),
            Grams::Mapped(m) => Grams::Mapped(Mapped {
                map: m.map.clone(),
                dir: m.dir.clone(),
                added: m.added.clone(),
                removed: m.removed.clone(),
                cache: Mutex::default(),
            }),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Mapped<K: GramKey> {
    map: Arc<memmap2::Mmap>,
    /// Gram → where its serialized bitmap lies in `map` (start, length).
    dir: GramMap<K, (usize, usize)>,
    added: GramMap<K>,
    removed: GramMap<K>,
    cache: Mutex<Cache<K>>,
}

#[derive(Debug)]
struct Cache<K: GramKey> {
    bitmaps: GramMap<K, Arc<RoaringBitmap>>,
    bytes: usize,
}

impl<K: GramKey> Default for Cache<K> {
    fn default() -> Self {
        Cache {
            bitmaps: GramMap::default(),
            bytes: 0,
        }
    }
}

impl<K: GramKey> Grams<K> {
    pub fn add(&mut self, g: K, docno: u32) {
        match self {
            Grams::Owned(m) => super::add_docno(m.entry(g).or_default(), docno),
            Grams::Mapped(m) => {
                take_out(&mut m.removed, g, docno);
                super::add_docno(m.added.entry(g).or_default(), docno);
            }
        }
    }

    pub fn remove(&mut self, g: K, docno: u32) {
        match self {
            Grams::Owned(m) => take_out(m, g, docno),
            Grams::Mapped(m) => {
                take_out(&mut m.added, g, docno);
                if m.dir.contains_key(&g) {
                    super::add_docno(m.removed.entry(g).or_default(), docno);
                }
            }
        }
    }

    /// A gram's docnos (None: no document holds it).
    pub fn get(&self, g: K) -> io::Result<Option<Posting<'_>>> {
        let m = match self {
            Grams::Owned(m) => return Ok(m.get(&g).map(Posting::Borrowed)),
            Grams::Mapped(m) => m,
        };
        let base = m.base(g)?;
        Ok(Posting::overlaid(base, m.added.get(&g), m.removed.get(&g)))
    }

    /// Every gram that may have docnos, in gram order.
    fn keys(&self) -> Vec<K> {
        let mut keys: Vec<K> = match self {
            Grams::Owned(m) => m.keys().copied().collect(),
            Grams::Mapped(m) => m.dir.keys().chain(m.added.keys()).copied().collect(),
        };
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Every gram with its docnos, in gram order, none empty.
    fn all(&self) -> io::Result<Vec<(K, Posting<'_>)>> {
        let keys = self.keys();
        let mut out = Vec::with_capacity(keys.len());
        for g in keys {
            if let Some(p) = self.get(g)?.filter(|p| !p.is_empty()) {
                out.push((g, p));
            }
        }
        Ok(out)
    }

    /// Whether both hold the same docnos under every gram (for audits).
    pub fn same_as(&self, other: &Grams<K>) -> bool {
        match (self.all(), other.all()) {
            (Ok(a), Ok(b)) => {
                a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.0 == y.0 && *x.1 == *y.1)
            }
            _ => false,
        }
    }

    /// Writes the table (see [`super::checkpoint`]): the count, then each
    /// gram and its bitmap in gram order. A mapped gram no change touched
    /// is copied as it lies in the map.
    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        let m = match self {
            Grams::Owned(_) => {
                let all = self.all()?;
                put_u32(w, all.len())?;
                for (g, p) in all {
                    g.put(w)?;
                    put_bitmap(w, &p)?;
                }
                return Ok(());
            }
            Grams::Mapped(m) => m,
        };
        let touched = |g: &K| m.added.contains_key(g) || m.removed.contains_key(g);
        let keys = self.keys();
        // Only a touched gram can have become empty.
        let mut merged: GramMap<K> = GramMap::default();
        for &g in keys.iter().filter(|g| touched(g)) {
            if let Some(p) = self.get(g)?.filter(|p| !p.is_empty()) {
                merged.insert(g, (*p).clone());
            }
        }
        let count = keys
            .iter()
            .filter(|g| !touched(g) || merged.contains_key(g))
            .count();
        put_u32(w, count)?;
        for g in keys {
            if let Some(b) = merged.get(&g) {
                g.put(w)?;
                put_bitmap(w, b)?;
            } else if !touched(&g) {
                let (at, len) = m.dir[&g];
                g.put(w)?;
                put_u32(w, len)?;
                w.write_all(&m.map[at..at + len])?;
            }
        }
        Ok(())
    }

    /// Reads a table written by [`Grams::write_to`] from `r`, a part of
    /// `map`: only the directory; the bitmaps stay in the map.
    pub fn read_mapped(r: &mut &[u8], map: &Arc<memmap2::Mmap>) -> io::Result<Grams<K>> {
        let start = map.as_ptr() as usize;
        let mut dir = GramMap::default();
        for _ in 0..get_u32(r)? {
            let key = r
                .get(..K::BYTES)
                .ok_or_else(|| corrupt("truncated grams"))?;
            let g = K::get(key);
            skip(r, K::BYTES)?;
            let len = get_u32(r)? as usize;
            let at = (r.as_ptr() as usize)
                .checked_sub(start)
                .filter(|&at| at + len <= map.len())
                .ok_or_else(|| corrupt("grams outside the file"))?;
            skip(r, len)?;
            dir.insert(g, (at, len));
        }
        Ok(Grams::Mapped(Mapped {
            map: map.clone(),
            dir,
            added: GramMap::default(),
            removed: GramMap::default(),
            cache: Mutex::default(),
        }))
    }

    /// Steps over a table [`Grams::read_mapped`] would read.
    pub fn skip(r: &mut &[u8]) -> io::Result<()> {
        for _ in 0..get_u32(r)? {
            skip(r, K::BYTES)?;
            let len = get_u32(r)?;
            skip(r, len as usize)?;
        }
        Ok(())
    }
}

impl<K: GramKey> Mapped<K> {
    /// A gram's bitmap as the checkpoint holds it, through the cache.
    fn base(&self, g: K) -> io::Result<Option<Arc<RoaringBitmap>>> {
        let Some(&(at, len)) = self.dir.get(&g) else {
            return Ok(None);
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = cache.bitmaps.get(&g) {
            return Ok(Some(b.clone()));
        }
        let b = Arc::new(RoaringBitmap::deserialize_from(&self.map[at..at + len])?);
        // Bounded by emptying it whole: simple, and a query's few grams
        // are read again at once.
        if cache.bytes + len > CACHE_BYTES {
            cache.bitmaps.clear();
            cache.bytes = 0;
        }
        cache.bytes += len;
        cache.bitmaps.insert(g, b.clone());
        Ok(Some(b))
    }
}

/// Removes a docno from a gram's bitmap, dropping the bitmap once empty.
fn take_out<K: GramKey>(map: &mut GramMap<K>, g: K, docno: u32) {
    if let Some(m) = map.get_mut(&g) {
        m.remove(docno);
        if m.is_empty() {
            map.remove(&g);
        }
    }
}
