//! The derived indexes saved beside the database file, so that a restart
//! loads them instead of reading every document.
//!
//! A checkpoint is a derivative: deleting it loses nothing (the next start
//! rebuilds from the documents and writes a new one). It records the
//! change-log position it reflects — every record below `next_seq` — and a
//! hash of the record just before, so the engine can catch up from the log
//! ([`super::MemIndexes::catch_up`]) and can tell a checkpoint that does not
//! belong to this file's history (another file, a restored older backup)
//! from one that does.
//!
//! Layout: magic `REFDBIX3` · body length (u64 LE) · body hash (u64 LE) ·
//! body. The body: schema fingerprint (u64), `next_seq` (u64), hash of the
//! record `next_seq - 1` (u64, 0 when none), then per collection its name,
//! live set, `_id`s (a column, see [`super::column`]: read in place), value
//! indexes (name, buckets) and search indexes (name, bigrams, trigrams,
//! then the values, a column). Integers are little-endian,
//! byte strings and bitmaps are length-prefixed (u32), bitmaps in
//! roaring's portable format. The hash covers the body in 64 KiB blocks,
//! so a torn or corrupted file is refused whole, never half-loaded. A
//! checkpoint of an earlier layout (`REFDBIX1`, each value parsed into
//! memory at load; `REFDBIX2`, without the `_id`s) is refused like any
//! unreadable one: the next start rebuilds and replaces it.
//!
//! The full-text (tantivy) index is not in it: it is saved in a directory
//! of its own, stamped with its own position (see [`super::text`]), or
//! rebuilt in the background from the loaded values; `$text` is exact
//! meanwhile.

use super::column::Column;
use super::ngram::SearchIndex;
use super::{CollIndex, MemIndexes};
use crate::query_error::QueryError;
use refdb_storage::{ReadTxn, Schema};
use roaring::RoaringBitmap;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"REFDBIX3";
const BLOCK: usize = 64 * 1024;

/// Where a checkpoint stands in the change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Every change record below this seq is reflected.
    pub next_seq: u64,
    /// [`record_hash`] of the record `next_seq - 1` (0 when `next_seq` is 1).
    pub last_hash: u64,
}

/// Whether something derived and saved at `pos` belongs to the history of
/// the file `txn` reads and can be caught up from its log: a position this
/// file has reached, with the same record just below it (not another
/// file's or an older copy's history), and every record since still kept.
pub fn belongs(pos: Position, txn: &ReadTxn<'_>) -> Result<bool, QueryError> {
    let (first, next_seq) = txn.change_log_extent()?;
    let reachable = pos.next_seq <= next_seq
        && (pos.next_seq == next_seq || first.is_some_and(|f| f <= pos.next_seq));
    if !reachable {
        return Ok(false);
    }
    if pos.next_seq > 1 {
        let before = txn.changes(pos.next_seq - 2, 1)?;
        if let Some(rec) = before.first().filter(|r| r.seq == pos.next_seq - 1)
            && record_hash(rec) != pos.last_hash
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The [`record_hash`] of the record just below `next_seq`, 0 when the log
/// keeps none.
pub fn hash_below(txn: &ReadTxn<'_>, next_seq: u64) -> Result<u64, QueryError> {
    Ok(match next_seq {
        0 | 1 => 0,
        n => txn
            .changes(n - 2, 1)?
            .first()
            .filter(|r| r.seq == n - 1)
            .map_or(0, record_hash),
    })
}

/// The hash a checkpoint keeps of the record it ends at: over the record's
/// fields in a fixed layout of its own (the log's first storage layout),
/// not over how the log stores them, so that a change of the log's
/// encoding does not disown every saved checkpoint.
pub fn record_hash(rec: &refdb_storage::ChangeRecord) -> u64 {
    use refdb_storage::Op;
    let mut h = BlockHash::default();
    h.update(&rec.seq.to_le_bytes());
    h.update(&rec.txn.to_be_bytes());
    h.update(&rec.time_us.to_be_bytes());
    h.update(&[match rec.op {
        Op::Create => 1,
        Op::Update => 2,
        Op::Delete => 3,
    }]);
    h.update(&rec.docno.to_be_bytes());
    h.update(&rec.prev.to_be_bytes());
    for s in [&rec.coll, &rec.id] {
        h.update(&(s.len() as u16).to_be_bytes());
        h.update(s.as_bytes());
    }
    if let Some(row) = &rec.row {
        h.update(&[1]);
        h.update(row);
    }
    h.finish()
}

/// What identifies the index layout a schema implies: a checkpoint made
/// under another schema is not loaded.
pub fn fingerprint(schema: &Schema) -> u64 {
    let mut h = BlockHash::default();
    h.update(b"refdb derived indexes 1");
    h.update(&serde_json::to_vec(schema.source()).unwrap_or_default());
    h.finish()
}

/// Writes `ix` at `pos` to `path` (through a temporary file renamed into
/// place once synced, so a crash leaves the old checkpoint or the new one).
/// A failed save removes its temporary file: on a full disk it would
/// otherwise hold the space the database needs.
pub fn save(ix: &MemIndexes, schema: &Schema, pos: Position, path: &Path) -> io::Result<()> {
    // One save at a time: two would share the temporary file.
    static SAVING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = SAVING.lock().unwrap_or_else(|e| e.into_inner());
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = std::path::PathBuf::from(tmp);
    let saved = write_to(ix, schema, pos, &tmp, path);
    if saved.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    saved
}

fn write_to(
    ix: &MemIndexes,
    schema: &Schema,
    pos: Position,
    tmp: &Path,
    path: &Path,
) -> io::Result<()> {
    let file = std::fs::File::create(tmp)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(MAGIC)?;
    out.write_all(&[0; 16])?; // length and hash, patched below
    let mut w = Hashing {
        inner: out,
        hash: BlockHash::default(),
        len: 0,
    };
    put_u64(&mut w, fingerprint(schema))?;
    put_u64(&mut w, pos.next_seq)?;
    put_u64(&mut w, pos.last_hash)?;
    let mut names: Vec<&String> = ix.colls.keys().collect();
    names.sort();
    put_u32(&mut w, names.len())?;
    for name in names {
        let ci = &ix.colls[name];
        put_bytes(&mut w, name.as_bytes())?;
        put_bitmap(&mut w, &ci.live)?;
        ci.ids.write_to(&mut w)?;
        let mut fields: Vec<&String> = ci.values.keys().collect();
        fields.sort();
        put_u32(&mut w, fields.len())?;
        for f in fields {
            put_bytes(&mut w, f.as_bytes())?;
            ci.values[f].write_to(&mut w)?;
        }
        let mut fields: Vec<&String> = ci.search.keys().collect();
        fields.sort();
        put_u32(&mut w, fields.len())?;
        for f in fields {
            put_bytes(&mut w, f.as_bytes())?;
            ci.search[f].write_to(&mut w)?;
        }
    }
    let (len, hash) = (w.len, w.hash.finish());
    let mut out = w.inner;
    out.seek(SeekFrom::Start(MAGIC.len() as u64))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&hash.to_le_bytes())?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself is durable once the directory is synced.
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Reads the checkpoint at `path` if there is one made under `schema`:
/// `Ok(None)` when the file is missing or made under another schema, an
/// error when it is unreadable or corrupt. The indexes come without their
/// full-text part and not yet `ready`.
pub fn load(path: &Path, schema: &Schema) -> io::Result<Option<(MemIndexes, Position)>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // The file is mapped, checked whole, then parsed in place: reading it
    // through a buffered reader cost a call chain per value (two million
    // strings for two searched fields at 1M documents), and reading it
    // into memory first cost a copy and fresh zeroed pages as large as
    // the file.
    //
    // The search indexes' values stay in the mapping (see
    // [`super::ngram`]), which lives as long as they do.
    //
    // SAFETY: a checkpoint is never written in place — `save` writes a
    // temporary file and renames it over this one — so the mapped inode
    // does not change while it is mapped.
    let map = Arc::new(unsafe { memmap2::Mmap::map(&file)? });
    let (head, body) = map
        .split_at_checked(24)
        .ok_or_else(|| corrupt("truncated"))?;
    if &head[..8] != MAGIC {
        return Err(corrupt("not a refdb index checkpoint"));
    }
    let len = u64::from_le_bytes(head[8..16].try_into().expect("8"));
    let want = u64::from_le_bytes(head[16..24].try_into().expect("8"));
    if len != body.len() as u64 {
        return Err(corrupt("a length that is not the file's"));
    }
    // The hash is checked while the body is parsed, on another thread;
    // nothing parsed is used unless it matches.
    std::thread::scope(|s| {
        let hash = s.spawn(|| {
            let mut hash = BlockHash::default();
            hash.update(body);
            hash.finish()
        });
        let parsed = parse(body, schema, &map);
        if hash.join().map_err(|_| corrupt("hashing failed"))? != want {
            return Err(corrupt("checksum mismatch"));
        }
        parsed
    })
    .inspect(|_| {
        // Checking and parsing touched every page; only the values are
        // read again, a few at a time, so the pages leave this process
        // (they stay in the page cache) and count again only once read.
        // SAFETY: the mapping is shared and read-only, so dropping its
        // pages loses nothing: they are read back from the file.
        let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
    })
}

/// Parses a checked body. The search indexes — the bulk of it — are
/// located first and parsed on up to as many threads as there are cores.
fn parse(
    body: &[u8],
    schema: &Schema,
    map: &Arc<memmap2::Mmap>,
) -> io::Result<Option<(MemIndexes, Position)>> {
    let mut r: &[u8] = body;
    if get_u64(&mut r)? != fingerprint(schema) {
        return Ok(None);
    }
    let pos = Position {
        next_seq: get_u64(&mut r)?,
        last_hash: get_u64(&mut r)?,
    };
    let mut ix = MemIndexes::default();
    let mut searches: Vec<(String, String, &[u8])> = Vec::new();
    for _ in 0..get_u32(&mut r)? {
        let name = get_string(&mut r)?;
        let coll = schema
            .collection(&name)
            .ok_or_else(|| corrupt("a collection the schema lacks"))?;
        let mut ci = CollIndex::new(coll);
        ci.live = get_bitmap(&mut r)?;
        ci.ids = Column::read_mapped(&mut r, map)?;
        for _ in 0..get_u32(&mut r)? {
            let f = get_string(&mut r)?;
            let vi = ci
                .values
                .get_mut(&f)
                .ok_or_else(|| corrupt("a value index the schema lacks"))?;
            vi.read_mapped(&mut r, map)?;
        }
        for _ in 0..get_u32(&mut r)? {
            let f = get_string(&mut r)?;
            if !ci.search.contains_key(&f) {
                return Err(corrupt("a search index the schema lacks"));
            }
            let start = r;
            SearchIndex::skip(&mut r)?;
            searches.push((name.clone(), f, &start[..start.len() - r.len()]));
        }
        ix.colls.insert(name, ci);
    }
    if !r.is_empty() {
        return Err(corrupt("bytes after the indexes"));
    }
    for (coll, f, si) in parse_searches(&searches, map)? {
        let ci = ix
            .colls
            .get_mut(&coll)
            .ok_or_else(|| corrupt("a collection twice"))?;
        ci.search.insert(f, si);
    }
    if ix.colls.len() != schema.collections().count() {
        return Err(corrupt("collections missing"));
    }
    Ok(Some((ix, pos)))
}

pub(super) fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("index checkpoint: {what}"),
    )
}

/// A non-cryptographic hash of a byte stream, computed over whole 64 KiB
/// blocks (so it does not depend on how the stream was cut into writes).
#[derive(Default)]
struct BlockHash {
    buf: Vec<u8>,
    h: u64,
}

impl BlockHash {
    fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.buf.is_empty() && bytes.len() >= BLOCK {
                // A whole block: mixed in place, not copied.
                self.h = mix(self.h, &bytes[..BLOCK]);
                bytes = &bytes[BLOCK..];
                continue;
            }
            let take = (BLOCK - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == BLOCK {
                self.h = mix(self.h, &self.buf);
                self.buf.clear();
            }
        }
    }

    fn finish(self) -> u64 {
        mix(self.h, &self.buf)
    }
}

/// Parses the located search indexes, each on one thread, at most one
/// thread per core at a time.
fn parse_searches(
    searches: &[(String, String, &[u8])],
    map: &Arc<memmap2::Mmap>,
) -> io::Result<Vec<(String, String, SearchIndex)>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(searches.len());
    let parsed = std::sync::Mutex::new(Vec::with_capacity(searches.len()));
    std::thread::scope(|s| {
        let work = || -> io::Result<()> {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((coll, f, bytes)) = searches.get(i) else {
                    return Ok(());
                };
                let mut r: &[u8] = bytes;
                let si = SearchIndex::read_mapped(&mut r, map)?;
                let mut out = parsed.lock().unwrap_or_else(|e| e.into_inner());
                out.push((coll.clone(), f.clone(), si));
            }
        };
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        work()?;
        for h in helpers {
            h.join().map_err(|_| corrupt("a parsing thread failed"))??;
        }
        Ok::<(), io::Error>(())
    })?;
    Ok(parsed.into_inner().unwrap_or_else(|e| e.into_inner()))
}

/// The hash after one block (whole, or the last and partial one).
fn mix(h: u64, block: &[u8]) -> u64 {
    let mut h = h ^ block.len() as u64;
    let mut words = block.chunks_exact(8);
    for w in words.by_ref() {
        let w = u64::from_le_bytes(w.try_into().expect("8"));
        h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A writer that hashes and counts what passes through.
struct Hashing<T> {
    inner: T,
    hash: BlockHash,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub(super) fn put_u32(w: &mut impl Write, n: usize) -> io::Result<()> {
    let n = u32::try_from(n).map_err(|_| corrupt("a count over 2^32"))?;
    w.write_all(&n.to_le_bytes())
}

pub(super) fn put_u64(w: &mut impl Write, n: u64) -> io::Result<()> {
    w.write_all(&n.to_le_bytes())
}

pub(super) fn put_bytes(w: &mut impl Write, b: &[u8]) -> io::Result<()> {
    put_u32(w, b.len())?;
    w.write_all(b)
}

pub(super) fn put_bitmap(w: &mut impl Write, b: &RoaringBitmap) -> io::Result<()> {
    put_u32(w, b.serialized_size())?;
    b.serialize_into(w)
}

pub(super) fn get_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

pub(super) fn get_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Steps over `n` bytes of `r`.
pub(super) fn skip(r: &mut &[u8], n: usize) -> io::Result<()> {
    *r = r.get(n..).ok_or(io::ErrorKind::UnexpectedEof)?;
    Ok(())
}

pub(super) fn get_bytes(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let len = get_u32(r)? as usize;
    // Sized up front (a length is bounded by the checked body), capped so
    // that a bad length cannot allocate much before the read fails.
    let mut b = Vec::with_capacity(len.min(1 << 20));
    r.take(len as u64).read_to_end(&mut b)?;
    if b.len() != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(b)
}

pub(super) fn get_string(r: &mut impl Read) -> io::Result<String> {
    String::from_utf8(get_bytes(r)?).map_err(|_| corrupt("a name that is not UTF-8"))
}

pub(super) fn get_bitmap(r: &mut impl Read) -> io::Result<RoaringBitmap> {
    let len = get_u32(r)?;
    let mut part = r.take(u64::from(len));
    let b = RoaringBitmap::deserialize_from(&mut part)?;
    if part.limit() != 0 {
        return Err(corrupt("a bitmap shorter than its length"));
    }
    Ok(b)
}
