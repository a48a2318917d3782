//! The durable change log: what every commit changed, in commit order, in
//! the file itself (table [`crate::rows::tables::CHANGES`]).
//!
//! Every write transaction appends, in that same transaction, one record
//! per changed document: a sequence number `seq` (strictly increasing in
//! commit order, never reused), the transaction's number `txn` (its records
//! are contiguous), the commit time, the collection, the `_id`, the
//! operation, and — for a create or an update — the document's stored row
//! exactly as the transaction left it (docno, fields, `_meta` with its
//! timestamps). The latest record of a document refers to the row in
//! `DOCS` instead of copying it; the next change of the document copies
//! the row it replaces into that record first ([`Body::Current`]), so a
//! bulk load does not store every document twice. Everything a replay needs
//! is fixed in the record, so
//! applying the log, in order, to an empty file with the same schema
//! reproduces the database ([`crate::Store::apply_changes`]); cascades and
//! unlinks appear as the changes they made.
//!
//! Invariants:
//! - a rolled-back transaction, and a failed request of a group commit,
//!   leave no record (records are rows of the transaction, undone with it);
//! - within one transaction (or one request of a group commit), a document
//!   has one record: a later update of the same document rewrites the
//!   record in place. A document created and deleted in one transaction
//!   keeps both records, so that docno numbering replays exactly;
//! - the log is pruned from its oldest end only ([`Retention`]); `next_seq`
//!   and `next_txn` live in `meta` so that pruning never lets a number be
//!   reused.

use crate::codec::{self, StoredDoc};
use crate::error::{Error, Result};
use crate::schema::Schema;
use crate::varint;
use std::time::Duration;

/// The operation a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Create,
    Update,
    Delete,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }

    fn byte(self) -> u8 {
        match self {
            Op::Create => 1,
            Op::Update => 2,
            Op::Delete => 3,
        }
    }

    fn from_byte(b: u8) -> Result<Op> {
        Ok(match b {
            1 => Op::Create,
            2 => Op::Update,
            3 => Op::Delete,
            _ => return Err(Error::Corrupt(format!("change record with operation {b}"))),
        })
    }
}

/// One record of the change log.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    pub seq: u64,
    pub txn: u64,
    /// Commit time of the transaction, in µs since the Unix epoch (the
    /// instant stamped into the `_meta` it wrote).
    pub time_us: i64,
    pub coll: String,
    pub id: String,
    pub op: Op,
    /// The document's docno (for a delete, the one it had).
    pub docno: u32,
    /// The seq of the document's previous record (0: none, it was created
    /// here, or the document was last written before the log began). That
    /// record, while kept, holds the document as it was before this change.
    pub prev: u64,
    /// The stored row after the change ([`crate::codec`]); `None` for a
    /// delete.
    pub row: Option<Vec<u8>>,
}

impl ChangeRecord {
    /// The document as stored after the change (`None` for a delete),
    /// read with `schema`, the schema of the store whose log this is.
    pub fn stored(&self, schema: &Schema) -> Result<Option<StoredDoc>> {
        let Some(row) = &self.row else {
            return Ok(None);
        };
        let Some(coll) = schema.collection(&self.coll) else {
            return Err(Error::Corrupt(format!(
                "change {} is of collection {}, which the schema does not have",
                self.seq, self.coll
            )));
        };
        codec::decode(coll, row).map(Some)
    }

    /// The record as a self-contained value (its row included), as
    /// [`ChangeRecord::decode`] reads it: what a follower is sent.
    pub fn encode(&self) -> Vec<u8> {
        let body = match &self.row {
            Some(row) => Body::Row(row),
            None => Body::Deleted,
        };
        encode_value(
            Head {
                txn: self.txn,
                time_us: self.time_us,
                op: self.op,
                docno: self.docno,
                prev: self.prev,
                coll: &self.coll,
                id: &self.id,
            },
            body,
        )
    }

    /// Reads a value made by [`ChangeRecord::encode`].
    pub fn decode(seq: u64, bytes: &[u8]) -> Result<ChangeRecord> {
        let raw = RawRecord::decode(seq, bytes)?;
        match raw.body {
            RawBody::Current => Err(Error::Corrupt(format!(
                "change record {seq} refers to the stored document"
            ))),
            RawBody::Deleted => Ok(raw.head),
            RawBody::Row(row) => {
                let mut rec = raw.head;
                rec.row = Some(row.to_vec());
                Ok(rec)
            }
        }
    }
}

/// Everything of a record but its body.
#[derive(Clone, Copy)]
pub(crate) struct Head<'a> {
    pub txn: u64,
    pub time_us: i64,
    pub op: Op,
    pub docno: u32,
    pub prev: u64,
    pub coll: &'a str,
    pub id: &'a str,
}

/// What a record says about the document after the change.
pub(crate) enum Body<'a> {
    /// Deleted: nothing.
    Deleted,
    /// The latest record of a document that still holds the row its change
    /// left: the row is read from `DOCS` rather than copied, until a later
    /// change of the document writes it into the record. Such a record
    /// names its document by collection id and docno (the `_id` is in
    /// `DOCNOS`): `cid` is the id of [`Head::coll`].
    Current { cid: u32 },
    /// The row, as the change left it.
    Row(&'a [u8]),
}

/// A record as stored, its row possibly left in `DOCS`; `head.row` is
/// `None`.
pub(crate) struct RawRecord<'a> {
    pub head: ChangeRecord,
    pub body: RawBody<'a>,
    pub names: Names,
}

/// Where a stored record's collection name and `_id` are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Names {
    /// In the record: `head.coll` and `head.id` hold them.
    InRecord,
    /// A current record of the [`CURRENT`] layout: collection `cid`, and
    /// the `_id` that `DOCNOS` maps `head.docno` to; `head.coll` and
    /// `head.id` are empty until resolved (`read::resolve`).
    ByDocno { cid: u32 },
}

pub(crate) enum RawBody<'a> {
    Deleted,
    Current,
    Row(&'a [u8]),
}

const TAG_CURRENT: u8 = 0;
const TAG_ROW: u8 = 1;

/// The first byte of a record in the compact layout ([`encode_value`]). A
/// record of the first layout starts with its txn as a u64 BE, whose first
/// byte is 0 below 2^56 transactions.
const COMPACT: u8 = 1;

/// The first byte of a current record ([`Body::Current`]) since format 8:
/// [`CURRENT`] · time µs (i64 LE) · txn · op · docno · prev · collection
/// id (LEB128 each). The record stays current until its document next
/// changes, when it is rewritten in the [`COMPACT`] layout with names and
/// row; until then the docno names the document (docnos are never
/// reused), so the collection name and `_id` need not be stored twice:
/// about 18 bytes instead of 35 for a bulk-loaded document.
const CURRENT: u8 = 2;

impl<'a> RawRecord<'a> {
    pub(crate) fn decode(seq: u64, bytes: &'a [u8]) -> Result<RawRecord<'a>> {
        let corrupt = || Error::Corrupt(format!("change record {seq} is truncated"));
        let mut r = Reader { bytes, at: 0 };
        let (txn, time_us, op, docno, prev, coll, id);
        let mut names = Names::InRecord;
        let layout = bytes.first().copied();
        if matches!(layout, Some(COMPACT | CURRENT)) {
            r.take(1);
            time_us = i64::from_le_bytes(r.take(8).ok_or_else(corrupt)?.try_into().expect("8"));
            txn = r.varint().ok_or_else(corrupt)?;
            op = Op::from_byte(r.take(1).ok_or_else(corrupt)?[0])?;
            docno = u32::try_from(r.varint().ok_or_else(corrupt)?)
                .map_err(|_| Error::Corrupt(format!("change record {seq}: a docno over 2^32")))?;
            prev = r.varint().ok_or_else(corrupt)?;
            if layout == Some(CURRENT) {
                let cid = u32::try_from(r.varint().ok_or_else(corrupt)?).map_err(|_| {
                    Error::Corrupt(format!("change record {seq}: a collection id over 2^32"))
                })?;
                if op == Op::Delete || r.at != bytes.len() {
                    return Err(Error::Corrupt(format!(
                        "change record {seq}: a current record of a delete, or with a body"
                    )));
                }
                names = Names::ByDocno { cid };
                coll = String::new();
                id = String::new();
            } else {
                coll = r.short_string().ok_or_else(corrupt)?;
                id = r.short_string().ok_or_else(corrupt)?;
            }
        } else {
            txn = u64::from_be_bytes(r.take(8).ok_or_else(corrupt)?.try_into().expect("8"));
            time_us = i64::from_be_bytes(r.take(8).ok_or_else(corrupt)?.try_into().expect("8"));
            op = Op::from_byte(r.take(1).ok_or_else(corrupt)?[0])?;
            docno = u32::from_be_bytes(r.take(4).ok_or_else(corrupt)?.try_into().expect("4"));
            prev = u64::from_be_bytes(r.take(8).ok_or_else(corrupt)?.try_into().expect("8"));
            coll = r.string().ok_or_else(corrupt)?;
            id = r.string().ok_or_else(corrupt)?;
        }
        let rest = &bytes[r.at..];
        let bad = |what: &str| Error::Corrupt(format!("change record {seq}: {what}"));
        let body = match (op, rest.split_first()) {
            _ if matches!(names, Names::ByDocno { .. }) => RawBody::Current,
            (Op::Delete, None) => RawBody::Deleted,
            (Op::Delete, Some(_)) => return Err(bad("a delete with a document")),
            (_, Some((&TAG_CURRENT, []))) => RawBody::Current,
            (_, Some((&TAG_ROW, row))) if codec::docno(row)? == docno => RawBody::Row(row),
            (_, Some((&TAG_ROW, _))) => return Err(bad("its docno and its row's differ")),
            _ => return Err(bad("no document")),
        };
        Ok(RawRecord {
            head: ChangeRecord {
                seq,
                txn,
                time_us,
                coll,
                id,
                op,
                docno,
                prev,
                row: None,
            },
            body,
            names,
        })
    }
}

/// A current record in the [`CURRENT`] layout; any other in the
/// [`COMPACT`] one: `01` · time µs (i64 LE) · txn (LEB128) · op (u8) ·
/// docno (LEB128) · prev (LEB128: the document's previous record, 0 if
/// none) · collection (LEB128 length · UTF-8) · `_id` (LEB128 length ·
/// UTF-8) · for a create or update, 0x01 then the row (0x00, a current
/// record, is still read from files of format 7); for a delete, nothing.
/// The first layout (fixed-width numbers, u16 lengths) is still read too.
pub(crate) fn encode_value(head: Head<'_>, body: Body<'_>) -> Vec<u8> {
    let Head {
        txn,
        time_us,
        op,
        docno,
        prev,
        coll,
        id,
    } = head;
    let row = match body {
        Body::Row(row) => row,
        _ => &[],
    };
    let mut out = Vec::with_capacity(40 + coll.len() + id.len() + row.len());
    out.push(match body {
        Body::Current { .. } => CURRENT,
        _ => COMPACT,
    });
    out.extend_from_slice(&time_us.to_le_bytes());
    varint::put(&mut out, txn);
    out.push(op.byte());
    varint::put(&mut out, u64::from(docno));
    varint::put(&mut out, prev);
    if let Body::Current { cid } = body {
        varint::put(&mut out, u64::from(cid));
        return out;
    }
    for s in [coll, id] {
        varint::put(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    match body {
        Body::Deleted | Body::Current { .. } => {}
        Body::Row(row) => {
            out.push(TAG_ROW);
            out.extend_from_slice(row);
        }
    }
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn varint(&mut self) -> Option<u64> {
        let (n, len) = crate::varint::get(self.bytes.get(self.at..)?)?;
        self.at += len;
        Some(n)
    }

    /// A string behind a LEB128 length.
    fn short_string(&mut self) -> Option<String> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.utf8(len)
    }

    /// A string behind a u16 BE length (the first layout).
    fn string(&mut self) -> Option<String> {
        let len = u16::from_be_bytes(self.take(2)?.try_into().ok()?);
        self.utf8(usize::from(len))
    }

    fn utf8(&mut self, len: usize) -> Option<String> {
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

/// The log's counters, kept in `meta` under [`COUNTERS_KEY`]: the `seq` and
/// `txn` the next records get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counters {
    pub next_seq: u64,
    pub next_txn: u64,
}

pub(crate) const COUNTERS_KEY: &str = "changes";

/// `META` key of the position in a shared log the file reflects (u64 LE),
/// kept in the transaction that applies the entry at that position.
pub(crate) const LOG_POSITION_KEY: &str = "log_position";

/// Reads a `META[LOG_POSITION_KEY]` value.
pub(crate) fn decode_position(bytes: Option<Vec<u8>>) -> Result<u64> {
    match bytes {
        None => Ok(0),
        Some(b) => Ok(u64::from_le_bytes(
            b.as_slice()
                .try_into()
                .map_err(|_| Error::Corrupt("log_position".into()))?,
        )),
    }
}

impl Default for Counters {
    /// Numbers start at 1, so that 0 can mean "before everything".
    fn default() -> Self {
        Counters {
            next_seq: 1,
            next_txn: 1,
        }
    }
}

impl Counters {
    pub(crate) fn encode(&self) -> [u8; 16] {
        let mut out = [0; 16];
        out[..8].copy_from_slice(&self.next_seq.to_le_bytes());
        out[8..].copy_from_slice(&self.next_txn.to_le_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Counters> {
        let bytes: &[u8; 16] = bytes
            .try_into()
            .map_err(|_| Error::Corrupt("change log counters".into()))?;
        Ok(Counters {
            next_seq: u64::from_le_bytes(bytes[..8].try_into().expect("8")),
            next_txn: u64::from_le_bytes(bytes[8..].try_into().expect("8")),
        })
    }
}

/// How much of the change log is kept. A record goes when it is older than
/// `max_age` or when more than `max_records` newer ones exist; `None`
/// bounds nothing. Pruning happens inside write transactions, a bounded
/// number of records per commit, so it never holds up a writer for long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub max_age: Option<Duration>,
    pub max_records: Option<u64>,
}

impl Default for Retention {
    /// A week, and at most ten million records: enough for a replica or a
    /// change feed client to be down for days, bounded for bulk loads.
    fn default() -> Self {
        Retention {
            max_age: Some(Duration::from_secs(7 * 24 * 3600)),
            max_records: Some(10_000_000),
        }
    }
}

impl Retention {
    /// Keeps everything.
    pub fn forever() -> Retention {
        Retention {
            max_age: None,
            max_records: None,
        }
    }

    /// Parses the `--changes-retention` syntax: comma-separated bounds,
    /// each an age (`30s`, `90m`, `12h`, `7d`) or a record count
    /// (`1000000`, `500k`, `10M`), or `forever`.
    pub fn parse(s: &str) -> std::result::Result<Retention, String> {
        let s = s.trim();
        if s == "forever" {
            return Ok(Retention::forever());
        }
        let mut r = Retention::forever();
        for part in s.split(',').map(str::trim) {
            let bad = || {
                format!(
                    "bad retention bound {part:?}: expected an age (30s, 90m, 12h, 7d), a record \
                     count (1000000, 500k, 10M) or `forever`"
                )
            };
            let split = part
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(part.len());
            let (num, unit) = part.split_at(split);
            let n: u64 = num.parse().map_err(|_| bad())?;
            let secs = |mult: u64| n.checked_mul(mult).map(Duration::from_secs).ok_or_else(bad);
            let count = |mult: u64| n.checked_mul(mult).ok_or_else(bad);
            match unit {
                "s" => r.max_age = Some(secs(1)?),
                "m" => r.max_age = Some(secs(60)?),
                "h" => r.max_age = Some(secs(3600)?),
                "d" => r.max_age = Some(secs(86_400)?),
                "" => r.max_records = Some(n),
                "k" => r.max_records = Some(count(1_000)?),
                "M" => r.max_records = Some(count(1_000_000)?),
                _ => return Err(bad()),
            }
        }
        Ok(r)
    }

    /// Whether the oldest record (`seq`, written at `time_us`) goes, when
    /// the next record to be written is `next_seq` and it is `now_us`.
    pub(crate) fn expired(&self, seq: u64, time_us: i64, next_seq: u64, now_us: i64) -> bool {
        let too_many = self
            .max_records
            .is_some_and(|max| next_seq.saturating_sub(seq) > max);
        let too_old = self.max_age.is_some_and(|age| {
            let age = i64::try_from(age.as_micros()).unwrap_or(i64::MAX);
            now_us.saturating_sub(time_us) > age
        });
        too_many || too_old
    }
}

/// The time field of an encoded record, without decoding the rest.
pub(crate) fn time_of(bytes: &[u8]) -> Option<i64> {
    if matches!(bytes.first(), Some(&COMPACT | &CURRENT)) {
        Some(i64::from_le_bytes(bytes.get(1..9)?.try_into().ok()?))
    } else {
        Some(i64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let schema = crate::codec::tests::schema();
        let row = codec::encode(
            schema.collection("c").unwrap(),
            &StoredDoc {
                docno: 7,
                body: serde_json::from_str(r#"{"a":1}"#).unwrap(),
                meta: serde_json::json!({"ctime": "x"}),
            },
        );
        for (op, row) in [(Op::Create, Some(row.clone())), (Op::Delete, None)] {
            let r = ChangeRecord {
                seq: 9,
                txn: 3,
                time_us: -5,
                coll: "users".into(),
                id: "é1".into(),
                op,
                docno: 7,
                prev: 3,
                row,
            };
            assert_eq!(ChangeRecord::decode(9, &r.encode()).unwrap(), r);
            let bytes = r.encode();
            assert!(ChangeRecord::decode(9, &bytes[..bytes.len() / 2]).is_err());
            assert_eq!(time_of(&bytes), Some(-5));
            // The first layout, as files written before the compact one
            // hold it, still reads.
            let mut first = Vec::new();
            first.extend_from_slice(&3u64.to_be_bytes());
            first.extend_from_slice(&(-5i64).to_be_bytes());
            first.push(op.byte());
            first.extend_from_slice(&7u32.to_be_bytes());
            first.extend_from_slice(&3u64.to_be_bytes());
            for s in ["users", "é1"] {
                first.extend_from_slice(&(s.len() as u16).to_be_bytes());
                first.extend_from_slice(s.as_bytes());
            }
            if let Some(row) = &r.row {
                first.push(TAG_ROW);
                first.extend_from_slice(row);
            }
            assert_eq!(ChangeRecord::decode(9, &first).unwrap(), r);
            assert_eq!(time_of(&first), Some(-5));
            assert_eq!(bytes.len() + 18, first.len());
        }
    }

    #[test]
    fn current_records_name_their_document_by_docno() {
        let head = Head {
            txn: 300,
            time_us: 1_700_000_000_000_000,
            op: Op::Update,
            docno: 1_000_000,
            prev: 12,
            coll: "users",
            id: "u000000001",
        };
        let bytes = encode_value(head, Body::Current { cid: 5 });
        // Marker, time, txn 2, op, docno 3, prev 1, cid 1.
        assert_eq!(bytes.len(), 1 + 8 + 2 + 1 + 3 + 1 + 1);
        assert_eq!(time_of(&bytes), Some(head.time_us));
        let raw = RawRecord::decode(4, &bytes).unwrap();
        assert_eq!(raw.names, Names::ByDocno { cid: 5 });
        assert!(matches!(raw.body, RawBody::Current));
        let h = raw.head;
        assert_eq!(
            (h.seq, h.txn, h.time_us, h.op, h.docno, h.prev),
            (4, 300, head.time_us, Op::Update, 1_000_000, 12)
        );
        assert_eq!((h.coll.as_str(), h.id.as_str()), ("", ""));
        // Sent to a follower, a record must carry its row.
        assert!(ChangeRecord::decode(4, &bytes).is_err());
        for cut in 1..bytes.len() {
            assert!(RawRecord::decode(4, &bytes[..cut]).is_err(), "{cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(RawRecord::decode(4, &longer).is_err());
        let delete = encode_value(
            Head {
                op: Op::Delete,
                ..head
            },
            Body::Current { cid: 5 },
        );
        assert!(RawRecord::decode(4, &delete).is_err());
    }

    #[test]
    fn retention_syntax() {
        assert_eq!(Retention::parse("forever").unwrap(), Retention::forever());
        let r = Retention::parse("7d, 500k").unwrap();
        assert_eq!(r.max_age, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(r.max_records, Some(500_000));
        assert_eq!(
            Retention::parse("10M").unwrap().max_records,
            Some(10_000_000)
        );
        for bad in ["", "7w", "d", "-1", "1.5h"] {
            assert!(Retention::parse(bad).is_err(), "{bad}");
        }
        let r = Retention::parse("2,10s").unwrap();
        assert!(r.expired(1, 0, 4, 0), "3 records newer than seq 1");
        assert!(!r.expired(2, 0, 4, 0));
        assert!(r.expired(3, 0, 4, 10_000_001));
    }
}
