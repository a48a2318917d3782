//! Reading the reverse index of files before format 7, whose rows cut a
//! target's set at fixed chunks of 2^20 docnos and hold the low bits: for
//! the upgrade, and for read-only opens of a file not yet upgraded, which
//! see each target as one row of whole docnos starting at 0.

use super::tables::{REFS_V6, REFS_V6_CHUNK_BITS};
use super::{RefKey, RefTarget};
use crate::error::Result;
use crate::postings::{decode, encode};
use redb::{ReadableTable, TableDefinition};
use roaring::RoaringBitmap;

pub(super) type RefKeyV6<'a> = (u32, &'a str, u32, &'a str, u16);

/// The table, as its definition types it.
pub(super) const TABLE: TableDefinition<RefKeyV6<'static>, &[u8]> = REFS_V6;

/// Adds a chunk row's docnos (low bits) to `into` as whole docnos.
fn join(chunk: u16, low: &[u8], into: &mut RoaringBitmap) -> Result<()> {
    let low = decode(low)?;
    let base = u32::from(chunk) << REFS_V6_CHUNK_BITS;
    into.extend(low.iter().map(|l| base | l));
    Ok(())
}

/// Every target of the table in key order, each with its whole set.
pub(super) fn each_target<T: ReadableTable<RefKeyV6<'static>, &'static [u8]>>(
    t: &T,
    f: &mut dyn FnMut(RefTarget<'_>, RoaringBitmap) -> Result<()>,
) -> Result<()> {
    let mut current: Option<((u32, String, u32, String), RoaringBitmap)> = None;
    for e in t.iter()? {
        let (k, v) = e?;
        let (tc, tid, sc, sf, chunk) = k.value();
        let same = matches!(&current, Some(((a, b, c, d), _)) if (*a, b.as_str(), *c, d.as_str()) == (tc, tid, sc, sf));
        if !same {
            if let Some(((a, b, c, d), set)) = current.take() {
                f((a, &b, c, &d), set)?;
            }
            current = Some((
                (tc, tid.to_string(), sc, sf.to_string()),
                RoaringBitmap::new(),
            ));
        }
        let (_, set) = current.as_mut().expect("set above");
        join(chunk, v.value(), set)?;
    }
    if let Some(((a, b, c, d), set)) = current {
        f((a, &b, c, &d), set)?;
    }
    Ok(())
}

/// [`super::ReadRows::ref_rows_of`] over the old table: one row at 0.
pub(super) fn rows_of<T: ReadableTable<RefKeyV6<'static>, &'static [u8]>>(
    t: &T,
    (tc, tid, sc, sf): RefTarget<'_>,
    f: &mut dyn FnMut(u32, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut set = RoaringBitmap::new();
    for e in t.range((tc, tid, sc, sf, 0)..=(tc, tid, sc, sf, u16::MAX))? {
        let (k, v) = e?;
        join(k.value().4, v.value(), &mut set)?;
    }
    if set.is_empty() {
        return Ok(());
    }
    f(0, &encode(&set))
}

/// [`super::ReadRows::each_ref_row`] over the old table: one row at 0 per
/// target.
pub(super) fn each_row<T: ReadableTable<RefKeyV6<'static>, &'static [u8]>>(
    t: &T,
    f: &mut dyn FnMut(RefKey<'_>, &[u8]) -> Result<()>,
) -> Result<()> {
    each_target(t, &mut |(tc, tid, sc, sf), set| {
        f((tc, tid, sc, sf, 0), &encode(&set))
    })
}
