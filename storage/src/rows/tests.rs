//! Conformance tests of the row layer: what the document layer relies on,
//! stated over the interface alone (no table, page or redb type), so
//! that another implementation of the interface is held to the same.

use super::{Backend, ReadRows, open_read_only, open_writable};
use crate::error::Error;
use std::ops::Bound;

fn file() -> (tempfile::TempDir, Backend) {
    let dir = tempfile::tempdir().unwrap();
    let backend = open_writable(&dir.path().join("rows.db"), 1 << 20).unwrap();
    (dir, backend)
}

fn ids(rows: &impl ReadRows, cid: u32, from: Bound<&str>) -> Vec<String> {
    rows.docs(cid, from)
        .unwrap()
        .map(|e| e.unwrap().id().to_string())
        .collect()
}

/// Three collections, so that every scan of the middle one has
/// neighbours on both sides to stay clear of.
fn seed(b: &Backend) {
    let txn = b.begin_write().unwrap();
    let mut w = txn.rows().unwrap();
    for cid in [1, 2, 3] {
        for id in ["b", "a", "c"] {
            w.put_doc(cid, id, format!("{cid}{id}").as_bytes()).unwrap();
        }
        for (docno, id) in [(0, "a"), (1, "b"), (2, "c")] {
            w.put_docno(cid, docno, id).unwrap();
        }
    }
    drop(w);
    txn.commit().unwrap();
}

#[test]
fn a_snapshot_sees_the_commits_before_it_and_none_after() {
    let (_dir, b) = file();
    seed(&b);
    let before = b.begin_read().unwrap();
    let txn = b.begin_write().unwrap();
    let mut w = txn.rows().unwrap();
    w.put_doc(2, "d", b"2d").unwrap();
    w.remove_doc(2, "a").unwrap();
    w.put_meta("k", b"v").unwrap();
    drop(w);
    txn.commit().unwrap();
    let after = b.begin_read().unwrap();
    assert_eq!(ids(&before, 2, Bound::Unbounded), ["a", "b", "c"]);
    assert!(before.meta("k").unwrap().is_none());
    assert_eq!(ids(&after, 2, Bound::Unbounded), ["b", "c", "d"]);
    assert_eq!(&*after.meta("k").unwrap().unwrap(), b"v");
}

#[test]
fn a_write_transaction_reads_its_own_writes_and_a_dropped_one_leaves_nothing() {
    let (_dir, b) = file();
    seed(&b);
    {
        let txn = b.begin_write().unwrap();
        let mut w = txn.rows().unwrap();
        assert_eq!(
            w.put_doc(2, "a", b"new").unwrap().as_deref(),
            Some(&b"2a"[..])
        );
        assert_eq!(&*w.doc(2, "a").unwrap().unwrap(), b"new");
        assert_eq!(w.remove_doc(2, "b").unwrap().as_deref(), Some(&b"2b"[..]));
        assert!(w.doc(2, "b").unwrap().is_none());
        assert_eq!(w.set_latest(2, 0, Some(7)).unwrap(), None);
        assert_eq!(w.set_latest(2, 0, Some(8)).unwrap(), Some(7));
        assert_eq!(w.latest(2, 0).unwrap(), Some(8));
        w.put_change(5, b"r5").unwrap();
        assert_eq!(&*w.change(5).unwrap().unwrap(), b"r5");
        w.put_coll(2, b"state").unwrap();
        assert_eq!(&*w.coll(2).unwrap().unwrap(), b"state");
        w.put_ref_row((3, "x", 2, "f", 0), b"p").unwrap();
        let row = w.ref_row_at((3, "x", 2, "f"), 9).unwrap().unwrap();
        assert_eq!((row.start, row.end, row.row), (0, None, b"p".to_vec()));
        // Dropped without a commit.
    }
    let r = b.begin_read().unwrap();
    assert_eq!(&*r.doc(2, "a").unwrap().unwrap(), b"2a");
    assert!(r.doc(2, "b").unwrap().is_some());
    assert_eq!(r.latest(2, 0).unwrap(), None);
    assert!(r.change(5).unwrap().is_none());
    assert!(r.coll(2).unwrap().is_none());
    r.ref_rows_of((3, "x", 2, "f"), &mut |_, _| {
        panic!("a row of a dropped transaction")
    })
    .unwrap();
}

#[test]
fn scans_run_in_key_order_and_stay_inside_their_range() {
    let (_dir, b) = file();
    seed(&b);
    let r = b.begin_read().unwrap();
    assert_eq!(ids(&r, 2, Bound::Unbounded), ["a", "b", "c"]);
    assert_eq!(ids(&r, 2, Bound::Excluded("a")), ["b", "c"]);
    assert_eq!(ids(&r, 2, Bound::Included("b")), ["b", "c"]);
    assert_eq!(ids(&r, 2, Bound::Excluded("c")), Vec::<String>::new());
    assert!(ids(&r, 4, Bound::Unbounded).is_empty());
    let last = r.docs(2, Bound::Unbounded).unwrap().next_back().unwrap();
    assert_eq!(last.unwrap().id(), "c");
    let all: Vec<(u32, String)> = r
        .all_docs()
        .unwrap()
        .map(|e| e.map(|e| (e.cid(), e.id().to_string())).unwrap())
        .collect();
    assert_eq!(all.len(), 9);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    let docnos = r.docnos(Some(2)).unwrap();
    assert_eq!(
        docnos,
        [(2, 0, "a".into()), (2, 1, "b".into()), (2, 2, "c".into())]
    );
    assert_eq!(r.docnos(None).unwrap().len(), 9);
    assert_eq!(r.docno_id(3, 1).unwrap().as_deref(), Some("b"));
}

#[test]
fn the_change_log_reads_by_seq_range_and_from_its_oldest_record() {
    let (_dir, b) = file();
    let txn = b.begin_write().unwrap();
    let mut w = txn.rows().unwrap();
    for seq in [12u64, 10, 11, 300] {
        w.put_change(seq, &seq.to_le_bytes()).unwrap();
    }
    let seqs =
        |from, to| -> Vec<u64> { w.changes(from, to).unwrap().map(|e| e.unwrap().0).collect() };
    assert_eq!(seqs(0, None), [10, 11, 12, 300]);
    assert_eq!(seqs(11, Some(300)), [11, 12]);
    assert_eq!(w.first_change().unwrap().unwrap().0, 10);
    w.remove_change(10).unwrap();
    assert_eq!(w.first_change().unwrap().unwrap().0, 11);
    drop(w);
    txn.commit().unwrap();
    let r = b.begin_read().unwrap();
    let got: Vec<u64> = r.changes(12, None).unwrap().map(|e| e.unwrap().0).collect();
    assert_eq!(got, [12, 300]);
    assert_eq!(&*r.change(300).unwrap().unwrap(), 300u64.to_le_bytes());
}

#[test]
fn reverse_index_rows_are_read_by_target_and_field_in_range_order() {
    let (_dir, b) = file();
    let txn = b.begin_write().unwrap();
    let mut w = txn.rows().unwrap();
    for (key, v) in [
        ((1, "t", 2, "f", 300), "f300"),
        ((1, "t", 2, "f", 0), "f0"),
        ((1, "t", 2, "f", u32::MAX), "fmax"),
        ((1, "t", 2, "g", 0), "g0"),
        ((1, "u", 2, "f", 0), "u0"),
        ((1, "t", 3, "f", 0), "c3"),
    ] {
        w.put_ref_row(key, v.as_bytes()).unwrap();
    }
    let mut rows = Vec::new();
    w.ref_rows_of((1, "t", 2, "f"), &mut |start, row| {
        rows.push((start, String::from_utf8(row.to_vec()).unwrap()));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        rows,
        [
            (0, "f0".into()),
            (300, "f300".into()),
            (u32::MAX, "fmax".into())
        ]
    );
    // The row whose range holds a docno, and where that range ends.
    let t = (1, "t", 2, "f");
    let at = |d| w.ref_row_at(t, d).unwrap().map(|r| (r.start, r.end));
    assert_eq!(
        [at(0), at(299), at(300), at(u32::MAX - 1), at(u32::MAX)],
        [
            Some((0, Some(300))),
            Some((0, Some(300))),
            Some((300, Some(u32::MAX))),
            Some((300, Some(u32::MAX))),
            Some((u32::MAX, None))
        ]
    );
    assert_eq!(w.ref_row_at(t, 300).unwrap().unwrap().row, b"f300");
    assert_eq!(w.ref_row_at((1, "t", 9, "f"), 5).unwrap(), None);
    let u = w.ref_row_at((1, "u", 2, "f"), 7).unwrap().unwrap();
    assert_eq!((u.start, u.end, u.row), (0, None, b"u0".to_vec()));
    w.remove_ref_row((1, "t", 2, "f", 0)).unwrap();
    w.remove_ref_row((1, "t", 2, "f", u32::MAX)).unwrap();
    let mut all = Vec::new();
    w.each_ref_row(&mut |(_, t, _, f, start), _| {
        all.push(format!("{t}.{f}.{start}"));
        Ok(())
    })
    .unwrap();
    assert_eq!(all, ["t.f.300", "t.g.0", "t.f.0", "u.f.0"]);
    // An error from the callback stops the scan and comes back.
    let err = w.each_ref_row(&mut |_, _| Err(Error::Aborted)).unwrap_err();
    assert!(matches!(err, Error::Aborted));
}

#[test]
fn appends_go_after_every_key_of_their_range_and_refuse_a_key_out_of_order() {
    let (_dir, b) = file();
    seed(&b);
    let txn = b.begin_write().unwrap();
    let mut w = txn.rows().unwrap();
    w.append_docs(2, [("d", &b"2d"[..]), ("e", &b"2e"[..])])
        .unwrap();
    w.append_docnos(2, [(3, "d"), (4, "e")]).unwrap();
    w.append_changes([(1, &b"r1"[..]), (2, &b"r2"[..])])
        .unwrap();
    w.set_latest(2, 3, Some(1)).unwrap();
    w.set_latest(2, 4, Some(2)).unwrap();
    assert_eq!(ids(&w, 2, Bound::Unbounded), ["a", "b", "c", "d", "e"]);
    assert_eq!(ids(&w, 3, Bound::Unbounded), ["a", "b", "c"]);
    assert_eq!(w.docno_id(2, 4).unwrap().as_deref(), Some("e"));
    assert_eq!(w.latest(2, 3).unwrap(), Some(1));
    assert_eq!(w.all_latest().unwrap(), [((2, 3), 1), ((2, 4), 2)]);
    // "b" is not past the collection's largest id: refused, not misplaced.
    let err = w.append_docs(2, [("b", &b"x"[..])]).unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err:?}");
    drop(w);
    drop(txn);
    let r = b.begin_read().unwrap();
    assert_eq!(ids(&r, 2, Bound::Unbounded), ["a", "b", "c"]);
}

#[test]
fn clearing_a_collection_or_the_log_touches_nothing_else() {
    let (_dir, b) = file();
    seed(&b);
    let txn = b.begin_write().unwrap();
    let mut w = txn.rows().unwrap();
    w.put_change(1, b"r").unwrap();
    w.set_latest(1, 0, Some(1)).unwrap();
    w.put_meta("changes", b"counters").unwrap();
    w.clear_collection(2).unwrap();
    w.clear_change_log().unwrap();
    assert!(ids(&w, 2, Bound::Unbounded).is_empty());
    assert!(w.docnos(Some(2)).unwrap().is_empty());
    assert_eq!(ids(&w, 1, Bound::Unbounded).len(), 3);
    assert_eq!(ids(&w, 3, Bound::Unbounded).len(), 3);
    assert_eq!(w.docnos(None).unwrap().len(), 6);
    assert!(w.first_change().unwrap().is_none());
    assert!(w.all_latest().unwrap().is_empty());
    assert_eq!(&*w.meta("changes").unwrap().unwrap(), b"counters");
}

#[test]
fn a_read_only_or_unavailable_file_refuses_writes_with_their_own_errors() {
    let (dir, b) = file();
    seed(&b);
    let ro = open_read_only(&dir.path().join("rows.db")).unwrap();
    assert!(matches!(ro.begin_write().map(drop), Err(Error::ReadOnly)));
    assert_eq!(ids(&ro.begin_read().unwrap(), 1, Bound::Unbounded).len(), 3);
    let gone = Backend::Unavailable("the disk failed".into());
    assert!(matches!(
        gone.begin_write().map(drop),
        Err(Error::Unavailable(_))
    ));
    assert!(matches!(
        gone.begin_read().map(drop),
        Err(Error::Unavailable(_))
    ));
    assert!(gone.latched());
    assert!(!b.latched());
}

#[test]
fn a_copy_holds_every_row_of_the_snapshot_it_was_taken_from() {
    let (dir, b) = file();
    seed(&b);
    let snap = b.begin_read().unwrap();
    // A commit after the snapshot is not in the copy.
    let txn = b.begin_write().unwrap();
    txn.rows().unwrap().put_doc(1, "z", b"late").unwrap();
    txn.commit().unwrap();
    let out = dir.path().join("copy.db");
    assert_eq!(snap.copy_to(&out).unwrap(), 18);
    let copy = open_writable(&out, 1 << 20).unwrap();
    let r = copy.begin_read().unwrap();
    assert_eq!(r.docnos(None).unwrap(), snap.docnos(None).unwrap());
    assert_eq!(ids(&r, 1, Bound::Unbounded), ["a", "b", "c"]);
}
