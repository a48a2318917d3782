//! The payload of a log entry: the change records of one transaction (a
//! group commit), split into parts when they exceed the log's entry size.
//!
//! Layout: `b'R'`, version 4, the writer's schema layout
//! ([`refdb_storage::Schema::layout_fingerprint`], u64 LE), then varints
//! txn, part index, part count and record count, then per record its seq
//! and the length of its encoding ([`ChangeRecord::encode`]) followed by
//! that encoding. A record's row names its fields by their position in the
//! writer's schema, so a node applies only entries of its own layout;
//! version 1 (no layout) came from writers whose rows named fields, version 2 from
//! writers whose rows had the longer header of file format 7, version 3 from
//! writers whose rows held `datetime` text only as strings (all still read; a
//! node of an older version stops at a newer entry rather than misread its
//! rows). The parts of one
//! transaction take consecutive positions; a reader applies them together
//! once the last arrives, and drops parts whose sequence another entry
//! interrupts (a writer that lost the race mid-way retries them whole).

use refdb_storage::ChangeRecord;

const MAGIC: u8 = b'R';
const VERSION: u8 = 4;
/// Room kept for a part's header within the log's entry size.
const HEADER_ROOM: usize = 64;

/// One decoded entry.
#[derive(Debug)]
pub struct Part {
    /// The writer's schema layout (`None`: a version 1 entry).
    pub layout: Option<u64>,
    pub txn: u64,
    pub index: u64,
    pub count: u64,
    pub records: Vec<ChangeRecord>,
}

/// Why a payload could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("change record {seq} takes {len} bytes, more than a log entry holds ({max})")]
    TooLarge { seq: u64, len: usize, max: usize },
    #[error("a log entry that is not refdb's, or is damaged: {0}")]
    Damaged(String),
}

/// Encodes `records` (one transaction's, in seq order, written under a
/// schema of layout `layout`) as the payloads of consecutive entries, each
/// at most `max` bytes.
pub fn encode(
    records: &[ChangeRecord],
    max: usize,
    layout: u64,
) -> Result<Vec<Vec<u8>>, EntryError> {
    let budget = max.saturating_sub(HEADER_ROOM);
    let mut groups: Vec<Vec<(u64, Vec<u8>)>> = vec![Vec::new()];
    let mut size = 0;
    for r in records {
        let bytes = r.encode();
        let len = bytes.len() + 20;
        if len > budget {
            return Err(EntryError::TooLarge {
                seq: r.seq,
                len: bytes.len(),
                max,
            });
        }
        if size + len > budget {
            groups.push(Vec::new());
            size = 0;
        }
        size += len;
        groups.last_mut().expect("never empty").push((r.seq, bytes));
    }
    let txn = records.first().map_or(0, |r| r.txn);
    let count = groups.len() as u64;
    Ok(groups
        .into_iter()
        .enumerate()
        .map(|(i, recs)| {
            let mut out = vec![MAGIC, VERSION];
            out.extend_from_slice(&layout.to_le_bytes());
            for n in [txn, i as u64, count, recs.len() as u64] {
                put_varint(&mut out, n);
            }
            for (seq, bytes) in recs {
                put_varint(&mut out, seq);
                put_varint(&mut out, bytes.len() as u64);
                out.extend_from_slice(&bytes);
            }
            out
        })
        .collect())
}

/// Reads a payload made by [`encode`].
pub fn decode(payload: &[u8]) -> Result<Part, EntryError> {
    let damaged = |what: &str| EntryError::Damaged(what.to_string());
    let (layout, rest) = match payload {
        [MAGIC, 1, rest @ ..] => (None, rest),
        [MAGIC, 2 | 3 | VERSION, rest @ ..] if rest.len() >= 8 => {
            let (l, rest) = rest.split_at(8);
            (
                Some(u64::from_le_bytes(l.try_into().expect("8 bytes"))),
                rest,
            )
        }
        _ => return Err(damaged("unknown header")),
    };
    let mut r = rest;
    let mut next = || take_varint(&mut r).ok_or_else(|| damaged("truncated header"));
    let (txn, index, count, n) = (next()?, next()?, next()?, next()?);
    if index >= count {
        return Err(damaged("part index past the part count"));
    }
    let mut records = Vec::new();
    for _ in 0..n {
        let seq = take_varint(&mut r).ok_or_else(|| damaged("truncated record"))?;
        let len = take_varint(&mut r).ok_or_else(|| damaged("truncated record"))? as usize;
        if len > r.len() {
            return Err(damaged("truncated record"));
        }
        let (bytes, rest) = r.split_at(len);
        r = rest;
        records.push(ChangeRecord::decode(seq, bytes).map_err(|e| damaged(&e.to_string()))?);
    }
    if !r.is_empty() {
        return Err(damaged("bytes after the last record"));
    }
    Ok(Part {
        layout,
        txn,
        index,
        count,
        records,
    })
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn take_varint(r: &mut &[u8]) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = r.split_first()?;
        *r = rest;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use refdb_storage::Store;
    use serde_json::json;

    /// Real records: creates of users of varied sizes, then deletes.
    fn records() -> Vec<ChangeRecord> {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("e.db"), None).unwrap();
        store
            .write(|tx| {
                for i in 0..50 {
                    let name = "x".repeat((i % 3) * 300 + 1);
                    let doc = json!({"_id": format!("u{i:02}"), "name": name});
                    tx.create("users", serde_json::from_value(doc).unwrap())?;
                }
                for i in 0..5 {
                    tx.delete("users", &format!("u{i:02}"))?;
                }
                Ok(())
            })
            .unwrap();
        store.read().unwrap().changes(0, 1000).unwrap()
    }

    #[test]
    fn records_round_trip_in_parts_under_the_size() {
        let records = records();
        assert_eq!(records.len(), 55);
        let payloads = encode(&records, 4096, 7).unwrap();
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() <= 4096));
        let mut back = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            let part = decode(p).unwrap();
            assert_eq!(part.layout, Some(7));
            let expected = (records[0].txn, i as u64, payloads.len() as u64);
            assert_eq!((part.txn, part.index, part.count), expected);
            back.extend(part.records);
        }
        assert_eq!(back, records);
    }

    #[test]
    fn a_record_larger_than_an_entry_is_refused_and_damage_is_caught() {
        let records = records();
        let big = records
            .iter()
            .find(|r| r.row.as_ref().is_some_and(|r| r.len() > 300));
        assert!(matches!(
            encode(std::slice::from_ref(big.unwrap()), 200, 7),
            Err(EntryError::TooLarge { .. })
        ));
        let p = encode(&records[..1], 4096, 7).unwrap().remove(0);
        for cut in 0..p.len() {
            assert!(decode(&p[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode(b"{\"json\":1}").is_err());
        // Version 2 and 3 entries (rows of file formats 7 and 8, which
        // readers still take) are read; an unknown version is refused.
        for old in [2, 3] {
            let mut v = p.clone();
            v[1] = old;
            assert_eq!(decode(&v).unwrap().records, records[..1]);
        }
        let mut v5 = p;
        v5[1] = 5;
        assert!(decode(&v5).is_err());
    }
}
