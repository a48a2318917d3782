//! A string per docno: the values of a `search` field (so candidates are
//! verified without reading documents), and each collection's `_id`s (so a
//! page's documents are read with one lookup each, not two).
//!
//! Invariant: [`Column::get`] is the current string of a live docno, and
//! `None` for a docno without one (missing, null, deleted).
//!
//! A column built from the documents is in RAM. One loaded from a
//! checkpoint stays in the checkpoint's mapped file (an offsets table and
//! the bytes, read when asked for), with only the strings set since in
//! RAM: loading does not copy them, and the kernel keeps in memory just
//! the pages queries touch.
//!
//! Layout in a checkpoint: the docnos that have a string (a bitmap), their
//! count n (u64), n + 1 offsets (u64) and the bytes, so that one string is
//! read in place without parsing the others.

use super::checkpoint::{corrupt, get_bitmap, get_u32, get_u64, put_bitmap, put_u64, skip};
use roaring::RoaringBitmap;
use std::collections::HashMap;
use std::io;
use std::sync::Arc;

/// See the module doc.
#[derive(Debug, Clone)]
pub(crate) enum Column {
    Owned(Vec<Option<Box<str>>>),
    /// Loaded: the checkpoint's strings, and the strings set since (None:
    /// unset since).
    Mapped {
        base: MappedColumn,
        changed: HashMap<u32, Option<Box<str>>>,
    },
}

impl Default for Column {
    fn default() -> Column {
        Column::Owned(Vec::new())
    }
}

impl Column {
    pub(crate) fn get(&self, docno: u32) -> Option<&str> {
        match self {
            Column::Owned(v) => v.get(docno as usize).and_then(|v| v.as_deref()),
            Column::Mapped { base, changed } => match changed.get(&docno) {
                Some(v) => v.as_deref(),
                None => base.get(docno),
            },
        }
    }

    /// The strings of `docnos`, in order, appended to `out`: what [`get`]
    /// answers for each, read in passes — fetch the offsets (of a mapped
    /// column), find where each string is and fetch it, then read the
    /// strings — so that the reads of a batch,
    /// each likely a cache miss in a large file, are in flight together
    /// instead of one after the other.
    ///
    /// [`get`]: Column::get
    pub(crate) fn get_many<'a>(&'a self, docnos: &[u32], out: &mut Vec<Option<&'a str>>) {
        let (base, changed) = match self {
            Column::Owned(v) => {
                // The strings are allocated one by one: start fetching
                // them all before reading any.
                for &d in docnos {
                    if let Some(first) = v
                        .get(d as usize)
                        .and_then(|s| s.as_deref())
                        .and_then(|s| s.as_bytes().first())
                    {
                        prefetch(first);
                    }
                }
                out.extend(docnos.iter().map(|&d| self.get(d)));
                return;
            }
            Column::Mapped { base, changed } => (base, changed),
        };
        for &d in docnos {
            base.prefetch_offsets(d);
        }
        let found: Vec<Found<'_>> = docnos
            .iter()
            .map(|&d| match changed.get(&d) {
                Some(value) => Found::Changed(value.as_deref()),
                None => Found::Mapped(base.span(d).inspect(|&(from, _)| base.prefetch_at(from))),
            })
            .collect();
        out.extend(found.into_iter().map(|f| match f {
            Found::Mapped(span) => span.and_then(|span| base.text(span)),
            Found::Changed(value) => value,
        }));
    }

    pub(crate) fn set(&mut self, docno: u32, value: Option<&str>) {
        match self {
            Column::Owned(v) => {
                let i = docno as usize;
                if v.len() <= i {
                    if value.is_none() {
                        return;
                    }
                    v.resize(i + 1, None);
                }
                v[i] = value.map(Into::into);
            }
            Column::Mapped { base, changed } => {
                if value.is_none() && base.get(docno).is_none() {
                    changed.remove(&docno);
                } else {
                    changed.insert(docno, value.map(Into::into));
                }
            }
        }
    }

    /// One past the largest docno that may have a string.
    pub(crate) fn end(&self) -> u32 {
        match self {
            Column::Owned(v) => v.len() as u32,
            Column::Mapped { base, changed } => {
                changed.keys().map(|d| d + 1).max().unwrap_or(0).max(base.n)
            }
        }
    }

    /// Whether both hold the same strings (unset ones past the end aside):
    /// for audits.
    pub(crate) fn same_as(&self, other: &Column) -> bool {
        let n = self.end().max(other.end());
        (0..n).all(|d| self.get(d) == other.get(d))
    }

    /// Whether the strings are read from a mapped checkpoint.
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self, Column::Mapped { .. })
    }

    /// The docnos that have a string, without reading any.
    pub(crate) fn present(&self) -> RoaringBitmap {
        match self {
            Column::Owned(v) => v
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_some())
                .map(|(d, _)| d as u32)
                .collect(),
            Column::Mapped { base, changed } => {
                let mut out = base.present.clone();
                for (&d, v) in changed {
                    if v.is_some() {
                        out.insert(d);
                    } else {
                        out.remove(d);
                    }
                }
                out
            }
        }
    }

    /// Writes the column (see the module doc).
    pub(crate) fn write_to(&self, w: &mut impl io::Write) -> io::Result<()> {
        let n = self.end();
        put_bitmap(w, &self.present())?;
        put_u64(w, u64::from(n))?;
        let mut offset = 0u64;
        w.write_all(&offset.to_le_bytes())?;
        for d in 0..n {
            offset += self.get(d).map_or(0, str::len) as u64;
            w.write_all(&offset.to_le_bytes())?;
        }
        for d in 0..n {
            if let Some(v) = self.get(d) {
                w.write_all(v.as_bytes())?;
            }
        }
        Ok(())
    }

    /// Reads a column written by [`Column::write_to`] from `r`, a part of
    /// `map`, leaving the strings in the map.
    pub(crate) fn read_mapped(r: &mut &[u8], map: &Arc<memmap2::Mmap>) -> io::Result<Column> {
        let present = get_bitmap(r)?;
        let (n, offsets, len) = extent(r)?;
        let start = map.as_ptr() as usize;
        let offsets_at = (r.as_ptr() as usize)
            .checked_sub(start)
            .filter(|&at| at <= map.len())
            .ok_or_else(|| corrupt("a column outside the file"))?;
        skip(r, offsets + len)?;
        Ok(Column::Mapped {
            base: MappedColumn {
                map: map.clone(),
                present,
                offsets: offsets_at,
                bytes: offsets_at + offsets,
                n,
            },
            changed: HashMap::new(),
        })
    }

    /// Steps over what [`Column::read_mapped`] would read, reading only
    /// lengths.
    pub(crate) fn skip(r: &mut &[u8]) -> io::Result<()> {
        let len = get_u32(r)?;
        skip(r, len as usize)?;
        let (_, offsets, len) = extent(r)?;
        skip(r, offsets + len)
    }
}

/// Where [`Column::get_many`] found a docno's string.
enum Found<'a> {
    /// In the map, at this span (None: no string).
    Mapped(Option<(usize, usize)>),
    /// Set since the load.
    Changed(Option<&'a str>),
}

/// A column in a mapped checkpoint (see the module doc).
#[derive(Debug, Clone)]
pub(crate) struct MappedColumn {
    map: Arc<memmap2::Mmap>,
    present: RoaringBitmap,
    /// Where the offsets start in `map`.
    offsets: usize,
    /// Where the bytes start in `map`.
    bytes: usize,
    n: u32,
}

impl MappedColumn {
    /// A string as the file holds it. Bounds and UTF-8 are checked here,
    /// not at load (which would read every string): an entry out of
    /// bounds or not UTF-8 that the checkpoint's hash did not catch reads
    /// as none.
    fn get(&self, docno: u32) -> Option<&str> {
        self.span(docno).and_then(|span| self.text(span))
    }

    /// Where the string of `docno` is in the map (None: it has none, or
    /// its offsets are damaged).
    fn span(&self, docno: u32) -> Option<(usize, usize)> {
        if docno >= self.n {
            return None;
        }
        let at = self.offsets + docno as usize * 8;
        let offset = |i: usize| -> Option<usize> {
            let b = self.map.get(i..i + 8)?;
            usize::try_from(u64::from_le_bytes(b.try_into().ok()?)).ok()
        };
        let (from, to) = (offset(at)?, offset(at + 8)?);
        // A docno without a string takes no bytes, so only an empty span
        // needs the bitmap to tell "" from none.
        if from == to && !self.present.contains(docno) {
            return None;
        }
        debug_assert!(from == to || self.present.contains(docno));
        Some((self.bytes.checked_add(from)?, self.bytes.checked_add(to)?))
    }

    /// Asks the CPU to start fetching the offsets of `docno`.
    fn prefetch_offsets(&self, docno: u32) {
        if docno < self.n {
            self.prefetch_at(self.offsets + docno as usize * 8);
        }
    }

    /// Asks the CPU to start fetching the map's byte at `at`, if any.
    fn prefetch_at(&self, at: usize) {
        if let Some(byte) = self.map.get(at) {
            prefetch(byte);
        }
    }

    /// The string at a span from [`MappedColumn::span`].
    fn text(&self, (from, to): (usize, usize)) -> Option<&str> {
        std::str::from_utf8(self.map.get(from..to)?).ok()
    }
}

/// A hint that `byte` will be read soon: a load that does not wait.
#[inline]
fn prefetch(byte: &u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and changes nothing but the cache;
    // the pointer comes from a reference anyway.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((byte as *const u8).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = byte;
}

/// At the count of a column (after its bitmap): the count, and the byte
/// lengths of the offsets and of the strings (the last offset), with `r`
/// left at the offsets.
fn extent(r: &mut &[u8]) -> io::Result<(u32, usize, usize)> {
    let n = get_u64(r)?;
    let n = u32::try_from(n).map_err(|_| corrupt("too many strings in a column"))?;
    let offsets = (n as usize + 1) * 8;
    let last = r
        .get(offsets - 8..offsets)
        .ok_or_else(|| corrupt("a truncated column"))?;
    let len = u64::from_le_bytes(last.try_into().expect("8"));
    let len = usize::try_from(len).map_err(|_| corrupt("a column too long"))?;
    Ok((n, offsets, len))
}
