//! A format 2 file (documents keyed by a redb tuple, rows without the
//! fields' length) is upgraded to format 3 by the first writer that opens
//! it, with nothing lost; a read-only open refuses it with what to do.

mod common;

use common::{assert_clean, doc, dump, library_schema, open};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableHandle};
use refdb_storage::tables::{CHANGES, DOCS, DOCS_V2, FORMAT_VERSION, INDEX_V4, LATEST, META};
use refdb_storage::{Document, Store};
use serde_json::json;

/// A row of this refdb (docno with its top bit set, LEB128 fields length
/// and seq) in the layout of formats 6 and 7: docno, the length as a u32
/// with its top bit set, the seq as a u64, all big-endian.
fn format_7_row(row: &[u8]) -> Vec<u8> {
    assert!(row[0] >> 7 == 1, "a row of this refdb");
    let leb = |at: &mut usize| {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = row[*at];
            *at += 1;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
        }
        n
    };
    let mut at = 4;
    let len = leb(&mut at) as u32;
    let seq = leb(&mut at);
    let docno = u32::from_be_bytes(row[..4].try_into().unwrap()) & !(1 << 31);
    [
        &docno.to_be_bytes()[..],
        &(len | 1 << 31).to_be_bytes(),
        &seq.to_be_bytes(),
        &row[at..],
    ]
    .concat()
}

/// Rewrites a format 3 file as format 2 was: what an older refdb wrote.
fn downgrade_to_v2(path: &std::path::Path) {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let new = txn.open_table(DOCS).unwrap();
        let mut old = txn.open_table(DOCS_V2).unwrap();
        for e in new.iter().unwrap() {
            let (k, v) = e.unwrap();
            let mut row = format_7_row(v.value());
            // Format 2 had no fields' length (nor the latest seq that
            // follows it when the length word's top bit is set).
            let header = if row[4] >> 7 == 1 { 16 } else { 8 };
            row[4] &= 0x7f;
            row.drain(4..header);
            old.insert(k.value(), row.as_slice()).unwrap();
        }
        let mut meta = txn.open_table(META).unwrap();
        meta.insert("format", 2u32.to_le_bytes().as_slice())
            .unwrap();
        // Format 2 had no change log.
        meta.remove("changes").unwrap();
    }
    txn.delete_table(DOCS).unwrap();
    txn.delete_table(CHANGES).unwrap();
    txn.delete_table(LATEST).unwrap();
    txn.commit().unwrap();
    let r = db.begin_read().unwrap();
    assert!(r.open_table(DOCS_V2).unwrap().len().unwrap() > 0);
}

#[test]
fn a_format_2_file_is_upgraded_on_open_with_nothing_lost() {
    let t = open(library_schema());
    t.store
        .write(|tx| {
            tx.create(
                "authors",
                doc(json!({"_id": "hugo", "name": "Victor Hugo"})),
            )?;
            for i in 0..50 {
                tx.create(
                    "books",
                    doc(json!({"title": format!("t{i}"), "author": "hugo"})),
                )?;
            }
            tx.create("people", doc(json!({"_id": "p1", "name": "Ann"})))?;
            tx.create(
                "passports",
                doc(json!({"_id": "x1", "number": "1", "owner": "p1"})),
            )?;
            Ok(())
        })
        .unwrap();
    let before = dump(&t.store);
    let path = t.dir.path().join("t.db");
    drop(t.store);
    downgrade_to_v2(&path);

    let refused = Store::open_read_only(&path)
        .err()
        .expect("refused")
        .to_string();
    assert!(refused.contains("format 2"), "{refused}");

    let store = Store::open(&path, None).unwrap();
    assert_eq!(dump(&store), before);
    assert_clean(&store);
    store
        .create("books", doc(json!({"title": "new", "author": "hugo"})))
        .unwrap();
    assert_eq!(
        store.get("authors", "hugo").unwrap()["books"]
            .as_array()
            .unwrap()
            .len(),
        51
    );
    drop(store);
    let again = Store::open_read_only(&path).unwrap();
    assert_clean(&again);
}

/// Rewrites every row's `_meta` block as msgpack, as refdb wrote it before
/// the packed form; returns how many bytes the rows grew by.
fn unpack_meta_blocks(path: &std::path::Path, docs_before: &[(String, Document)]) -> usize {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    let mut grew = 0;
    {
        let mut docs = txn.open_table(DOCS).unwrap();
        let rows: Vec<_> = docs
            .iter()
            .unwrap()
            .map(|e| {
                let (k, v) = e.unwrap();
                (k.value().0, k.value().1.to_string(), v.value().to_vec())
            })
            .collect();
        for (cid, id, row) in rows {
            let row = format_7_row(&row);
            let meta = &docs_before
                .iter()
                .find(|(_, d)| d["_id"] == id.as_str())
                .unwrap()
                .1["_meta"];
            // The length word's top bit: a 16-byte header (the latest seq).
            let word = u32::from_be_bytes(row[4..8].try_into().unwrap());
            let header = if word >> 31 == 1 { 16 } else { 8 };
            let fields_end = header + (word & !(1 << 31)) as usize;
            let mut old = row[..fields_end].to_vec();
            old.extend_from_slice(&rmp_serde::to_vec(meta).unwrap());
            grew += old.len() - row.len();
            docs.insert((cid, id.as_str()), old.as_slice()).unwrap();
        }
    }
    txn.commit().unwrap();
    grew
}

#[test]
fn rows_with_a_msgpack_meta_read_and_update_as_before() {
    let t = open(library_schema());
    t.store
        .write(|tx| {
            tx.create(
                "authors",
                doc(json!({"_id": "hugo", "name": "Victor Hugo"})),
            )?;
            for i in 0..20 {
                tx.create(
                    "books",
                    doc(
                        json!({"_id": format!("b{i}"), "title": format!("t{i}"), "author": "hugo"}),
                    ),
                )?;
            }
            Ok(())
        })
        .unwrap();
    t.store
        .update("books", "b3", doc(json!({"title": "changed"})))
        .unwrap();
    let before = dump(&t.store);
    let path = t.dir.path().join("t.db");
    drop(t.store);
    // A packed anonymous stamp is 10 or 18 bytes; msgpack about 140.
    assert!(unpack_meta_blocks(&path, &before) > 21 * 100);

    let store = Store::open(&path, None).unwrap();
    assert_eq!(dump(&store), before);
    assert_clean(&store);
    store
        .update("books", "b5", doc(json!({"title": "again"})))
        .unwrap();
    assert_clean(&store);
    assert_eq!(
        store.get("books", "b5").unwrap()["_meta"]["ctime"],
        before.iter().find(|(_, d)| d["_id"] == "b5").unwrap().1["_meta"]["ctime"]
    );
    drop(store);
    // The updated row is written packed again; the others keep msgpack.
    let db = redb::Database::open(&path).unwrap();
    let docs = db.begin_read().unwrap().open_table(DOCS).unwrap();
    let row = |id: &str| {
        let rows = docs.iter().unwrap().map(Result::unwrap);
        let mut it = rows.filter(|(k, _)| k.value().1 == id);
        it.next().unwrap().1.value().len()
    };
    assert!(row("b5") + 100 < row("b6"), "{} {}", row("b5"), row("b6"));
}

/// Format 4 had an `index` table (postings of every indexed field) that
/// every commit wrote and no query read; a writer drops it and says the
/// current format; a reader accepts format 4 as it is.
#[test]
fn a_format_4_file_loses_its_unread_index_table_on_open() {
    let t = open(library_schema());
    t.store
        .create(
            "authors",
            doc(json!({"_id": "hugo", "name": "Victor Hugo"})),
        )
        .unwrap();
    let before = dump(&t.store);
    let digest = t.store.audit().unwrap().digest;
    let path = t.dir.path().join("t.db");
    drop(t.store);
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(INDEX_V4)
            .unwrap()
            .insert(b"\0\0\0\x01name\0x".as_slice(), b"postings".as_slice())
            .unwrap();
        txn.open_table(META)
            .unwrap()
            .insert("format", 4u32.to_le_bytes().as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let reader = Store::open_read_only(&path).unwrap();
    assert_eq!(dump(&reader), before);
    drop(reader);

    let store = Store::open(&path, None).unwrap();
    assert_eq!(dump(&store), before);
    assert_clean(&store);
    assert_eq!(store.audit().unwrap().digest, digest);
    drop(store);
    let db = redb::Database::open(&path).unwrap();
    let r = db.begin_read().unwrap();
    assert!(r.open_table(INDEX_V4).is_err(), "the index table is gone");
    let format = r.open_table(META).unwrap().get("format").unwrap().unwrap();
    assert_eq!(format.value(), FORMAT_VERSION.to_le_bytes());
}

/// Checks an upgraded store (clean audit, its log replays), closes it,
/// and opens its file with redb alone, which must say the current format.
fn closed_at_current_format(store: Store, path: &std::path::Path) -> redb::Database {
    assert_clean(&store);
    common::assert_replays(&store);
    drop(store);
    let db = redb::Database::open(path).unwrap();
    let r = db.begin_read().unwrap();
    let format = r.open_table(META).unwrap().get("format").unwrap().unwrap();
    assert_eq!(format.value(), FORMAT_VERSION.to_le_bytes());
    drop(format);
    drop(r);
    db
}

/// Copies fixture `name`.db into a temporary directory; gives its path
/// and a check that a store serves exactly the documents in `name`.json
/// (what the refdb that wrote the file served from it).
fn fixture(name: &str) -> (tempfile::TempDir, std::path::PathBuf, impl Fn(&Store)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
    std::fs::copy(format!("{fixtures}{name}.db"), &path).unwrap();
    let served: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{fixtures}{name}.json")).unwrap()).unwrap();
    let check = move |store: &Store| {
        let r = store.read().unwrap();
        for (coll, docs) in served.as_object().unwrap() {
            let docs = docs.as_array().unwrap();
            assert_eq!(r.count(coll).unwrap(), docs.len() as u64);
            for want in docs {
                let id = want["_id"].as_str().unwrap();
                assert_eq!(&json!(r.get(coll, id).unwrap()), want, "{coll}/{id}");
                let bytes = r.get_json(coll, id).unwrap();
                assert_eq!(bytes, serde_json::to_vec(want).unwrap(), "{coll}/{id}");
            }
        }
    };
    (dir, path, check)
}

/// Opens fixture `name` read-only, then for writing: both serve what the
/// old refdb served, with a clean audit, and the writer reads the log as
/// the reader did. Gives the temporary directory, the path and the writer.
fn opened_as_served(name: &str) -> (tempfile::TempDir, std::path::PathBuf, Store) {
    let (dir, path, check) = fixture(name);
    let reader = Store::open_read_only(&path).unwrap();
    check(&reader);
    assert!(reader.audit().unwrap().is_clean());
    let log = common::change_log(&reader);
    drop(reader);
    let store = Store::open(&path, None).unwrap();
    check(&store);
    assert_clean(&store);
    assert_eq!(common::change_log(&store), log);
    (dir, path, store)
}

/// The writes made after an upgrade: u000000005 turns 18 and `user` is
/// created.
fn age_18_and_a_new_user(store: &Store, user: serde_json::Value) {
    store
        .update("users", "u000000005", doc(json!({"age": 18})))
        .unwrap();
    store.create("users", doc(user)).unwrap();
}

/// A file written by the refdb whose rows named their fields (format 5:
/// the demo schema, imported, then one user updated, one deleted and one
/// created over HTTP), with the documents that refdb served from it
/// (`format5-demo.json`). This refdb reads it as it is, read-only or not;
/// a writer upgrades it to the current format, and each row it writes keys
/// fields by position.
#[test]
fn a_format_5_file_reads_as_it_was_served_and_is_upgraded_on_open() {
    let (_dir, path, check) = fixture("format5-demo");
    let reader = Store::open_read_only(&path).unwrap();
    check(&reader);
    drop(reader);

    let store = Store::open(&path, None).unwrap();
    check(&store);
    assert_clean(&store);
    // The log's rows are the old ones: the update's superseded record
    // holds the row as created, keyed by name.
    let log = common::change_log(&store);
    let first = log.iter().find(|r| r.id == "u000000001").unwrap();
    let as_created = first.stored(store.schema()).unwrap().unwrap();
    assert_eq!(as_created.body["name"], json!("Jarara"));
    // A write keys the fields of the row it writes by position.
    store
        .update("users", "u000000002", doc(json!({"age": 75})))
        .unwrap();
    let db = closed_at_current_format(store, &path);
    let r = db.begin_read().unwrap();
    let docs = r.open_table(DOCS).unwrap();
    let len = |id: &str| docs.get((1, id)).unwrap().unwrap().value().len();
    // Same fields (the same shape of values): 52 bytes of names fewer.
    assert!(
        len("u000000002") + 40 < len("u000000003"),
        "{} {}",
        len("u000000002"),
        len("u000000003")
    );
}

/// A file written by the refdb of format 6 (rows keyed by field position,
/// the reverse index cut at fixed chunks of 2^20 docnos: the demo schema,
/// imported, then over HTTP a user moved to another address by PATCH, one
/// updated by PUT, one deleted and one created), with the documents that
/// refdb served from it (`format6-demo.json`). A read-only open serves
/// them, the derived lists from the old reverse index included; a writer
/// rewrites the index in rows of whole docnos, says format 7, and serves
/// the same.
#[test]
fn a_format_6_file_reads_as_it_was_served_and_its_reverse_index_is_rewritten() {
    let (_dir, path, check) = fixture("format6-demo");
    let reader = Store::open_read_only(&path).unwrap();
    check(&reader);
    assert!(reader.audit().unwrap().is_clean());
    let digest = reader.audit().unwrap().digest;
    drop(reader);

    let store = Store::open(&path, None).unwrap();
    check(&store);
    assert_clean(&store);
    // The same sets, in other rows: the digest takes a target's set as one.
    assert_eq!(store.audit().unwrap().digest, digest);
    store
        .update("users", "u000000003", doc(json!({"addr": "a00000000"})))
        .unwrap();
    let addr = store.get("addrs", "a00000000").unwrap();
    assert!(common::ids(&addr["users"]).contains(&"u000000003".to_string()));
    let db = closed_at_current_format(store, &path);
    let r = db.begin_read().unwrap();
    let tables: Vec<String> = r
        .list_tables()
        .unwrap()
        .map(|t| t.name().to_string())
        .collect();
    assert!(tables.contains(&"referrers".to_string()), "{tables:?}");
    assert!(!tables.contains(&"refs".to_string()), "{tables:?}");
    drop(r);
    drop(db);
    let reader = Store::open_read_only(&path).unwrap();
    assert!(reader.audit().unwrap().is_clean());
}

/// A file written by the refdb of format 7 (current change records name
/// their document in full: the demo schema, imported, then over HTTP a
/// user moved to another address by PATCH, one updated by PUT, one
/// deleted, one created and an address replaced), with the documents that
/// refdb served from it (`format7-demo.json`). Both opens serve them and
/// read its log and rows as they are; a writer says format 8, the records
/// it writes from then on that refer to `DOCS` name their document by
/// docno, and the rows it writes have the short header.
#[test]
fn a_format_7_file_reads_as_it_was_served_and_its_log_as_it_was_written() {
    let (_dir, path, store) = opened_as_served("format7-demo");
    let log = common::change_log(&store);
    // u000000005's latest record is format 7's current one: the update
    // rewrites it with the row, and adds one in the new layout.
    let next = common::next_seq(&store);
    age_18_and_a_new_user(
        &store,
        json!({"_id": "u000000100", "name": "Zed", "surname": "Ze",
            "email": "zed@example.org", "addr": "a00000000"}),
    );
    let after = common::change_log(&store);
    assert_eq!(after.len(), log.len() + 2);
    let created = log.iter().find(|r| r.id == "u000000005").unwrap();
    let kept = after.iter().find(|r| r.seq == created.seq).unwrap();
    assert_eq!(kept, created, "the superseded record keeps the row");
    assert_eq!(after[after.len() - 1].id, "u000000100");
    let db = closed_at_current_format(store, &path);
    let r = db.begin_read().unwrap();
    let changes = r.open_table(CHANGES).unwrap();
    let first_byte = |seq: u64| changes.get(seq).unwrap().unwrap().value()[0];
    // The compact layout with the row; then current records by docno.
    assert_eq!(first_byte(created.seq), 1);
    assert_eq!(first_byte(next), 2);
    assert_eq!(first_byte(next + 1), 2);
    let len = |seq: u64| changes.get(seq).unwrap().unwrap().value().len();
    assert!(len(next + 1) < 20, "{}", len(next + 1));
    drop(changes);
    // Rows written since have the short header (the docno's top bit set);
    // the others keep format 7's.
    let docs = r.open_table(DOCS).unwrap();
    let first_byte = |id: &str| docs.get((1, id)).unwrap().unwrap().value()[0];
    assert_eq!(first_byte("u000000005") >> 7, 1);
    assert_eq!(first_byte("u000000100") >> 7, 1);
    assert_eq!(first_byte("u000000006") >> 7, 0);
    drop(docs);
    drop(r);
    drop(db);
    let reader = Store::open_read_only(&path).unwrap();
    assert!(reader.audit().unwrap().is_clean());
}

/// A file written by the refdb of format 8 (`datetime` fields stored as
/// msgpack strings: the demo schema, imported, then over HTTP a user moved
/// to another address by PATCH, one updated by PUT with a new `created`,
/// one deleted, one created with an offset `created` and an address
/// updated), with the documents that refdb served from it
/// (`format8-demo.json`). Both opens serve them as they were; a writer
/// says format 9, and the rows it writes from then on hold a `datetime`
/// in a packed form when its text has one, serving the same text.
#[test]
fn a_format_8_file_reads_as_it_was_served_and_new_rows_pack_datetime_text() {
    let (_dir, path, store) = opened_as_served("format8-demo");
    let before = store.read().unwrap().get("users", "u000000005").unwrap();
    let kept = store.read().unwrap().get("users", "u000000006").unwrap();
    let created = before["created"].as_str().unwrap().to_string();
    age_18_and_a_new_user(
        &store,
        json!({"_id": "u000000100", "name": "Zed", "addr": "a00000000",
            "created": "2024-05-01T12:00:00.000001Z"}),
    );
    let r = store.read().unwrap();
    let after = r.get("users", "u000000005").unwrap();
    assert_eq!(after["created"], created.as_str());
    assert_eq!(after["age"], 18);
    let json: serde_json::Value =
        serde_json::from_slice(&r.get_json("users", "u000000100").unwrap()).unwrap();
    assert_eq!(json["created"], "2024-05-01T12:00:00.000001Z");
    assert_eq!(
        r.get("users", "u000000050").unwrap()["created"],
        "2024-05-01T12:00:00.123+02:00"
    );
    drop(r);
    let db = closed_at_current_format(store, &path);
    let r = db.begin_read().unwrap();
    let docs = r.open_table(DOCS).unwrap();
    let row = |id: &str| docs.get((1, id)).unwrap().unwrap().value().to_vec();
    let has = |row: &[u8], part: &[u8]| row.windows(part.len()).any(|w| w == part);
    // Rewritten rows hold the packed forms (fixext4 type 1, fixext8 type
    // 3); a row not written since keeps the string.
    assert!(!has(&row("u000000005"), created.as_bytes()));
    assert!(has(&row("u000000005"), &[0xd6, 1]));
    assert!(has(&row("u000000100"), &[0xd7, 3]));
    let kept_created = kept["created"].as_str().unwrap().as_bytes();
    assert!(has(&row("u000000006"), kept_created));
    drop(docs);
    drop(r);
    drop(db);
    let reader = Store::open_read_only(&path).unwrap();
    assert!(reader.audit().unwrap().is_clean());
    let r = reader.read().unwrap();
    assert_eq!(
        r.get("users", "u000000005").unwrap()["created"],
        created.as_str()
    );
    assert_eq!(r.get("users", "u000000006").unwrap(), kept);
}
