//! The refdb side: the bench schema (users ↔ addrs as in the demo schema
//! and the query engineer's bench), the bulk load through the public
//! [`Store`] API, and each workload through [`Engine::list`],
//! [`Store::get`] and [`Store::delete`].
//!
//! Invariants:
//! - documents get generated ids, strictly increasing in creation order,
//!   so `uids[k]` is user number k + 1 of the shared numbering and
//!   [`Refdb::number`] maps an id back by binary search;
//! - the engine (in-memory derived indexes) is built after the load, as
//!   an application opening the file would, and its build is part of the
//!   timed load.

use crate::dataset::Dataset;
use crate::measure::Outcome;
use refdb_query::{Engine, Query};
use refdb_storage::{OpenOptions, Schema, Store};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `name` indexed and searched, `email` searched, `age` and `male`
/// indexed; `addr` ↔ `addrs.users` with a cascading delete.
pub const SCHEMA: &str = include_str!("../bench-schema.json");

/// A loaded store and its engine.
pub struct Refdb {
    pub engine: Engine,
    pub path: PathBuf,
    /// User ids in creation (= data set) order.
    pub uids: Vec<String>,
    /// Address ids in creation order.
    pub aids: Vec<String>,
}

/// What the load measured.
pub struct Loaded {
    pub db: Refdb,
    /// Documents, references and indexes written and durably committed,
    /// the file compacted, then the engine's in-memory indexes built.
    pub total: Duration,
    pub engine: Duration,
}

fn err(e: impl std::fmt::Display) -> String {
    format!("refdb: {e}")
}

/// Parses the data set (not timed), then creates a fresh store at `path`
/// and loads it in one transaction, then builds the engine (timed).
pub fn load(ds: &Dataset, path: &Path) -> Result<Loaded, String> {
    let addrs = Dataset::docs(&ds.addrs)?;
    let users = Dataset::docs(&ds.users)?;
    let _ = std::fs::remove_file(path);
    let opts = OpenOptions {
        schema: Some(Schema::parse(SCHEMA).map_err(err)?),
        ..OpenOptions::default()
    };
    let store = Arc::new(Store::open_with(path, opts).map_err(err)?);
    let start = Instant::now();
    let (aids, uids) = store
        .write(|tx| {
            // Users name their address by `_id` already.
            let aids = tx.create_many("addrs", addrs)?;
            let uids = tx.create_many("users", users)?;
            Ok((aids, uids))
        })
        .map_err(err)?;
    // As `refdb import` does: give back the free pages the load left.
    store.compact().map_err(err)?;
    let engine_start = Instant::now();
    let engine = Engine::new(store).map_err(err)?;
    let engine_took = engine_start.elapsed();
    let total = start.elapsed();
    // The `$text` index builds in the background; no workload here uses
    // it, so it is not counted, but it must not compete with the timings
    // that follow (or with the next load).
    engine.flush_text().map_err(err)?;
    if !uids.is_sorted() || !aids.is_sorted() {
        return Err("refdb: generated ids are not increasing; the id mapping needs them".into());
    }
    Ok(Loaded {
        db: Refdb {
            engine,
            path: path.to_path_buf(),
            uids,
            aids,
        },
        total,
        engine: engine_took,
    })
}

impl Refdb {
    /// Reads and decodes every user once (`ReadTxn::scan`), as
    /// `Engine::new` does before indexing; timed, for the load breakdown.
    pub fn scan_users(&self) -> Result<Duration, String> {
        let r = self.store().read().map_err(err)?;
        let start = Instant::now();
        let mut n = 0u64;
        for e in r.scan("users", None).map_err(err)? {
            std::hint::black_box(e.map_err(err)?);
            n += 1;
        }
        let took = start.elapsed();
        if n != self.uids.len() as u64 {
            return Err(format!("refdb scan: {n} users, {} loaded", self.uids.len()));
        }
        Ok(took)
    }

    pub fn store(&self) -> &Arc<Store> {
        self.engine.store()
    }

    pub fn count_all(&self) -> Result<(u64, u64), String> {
        let r = self.store().read().map_err(err)?;
        Ok((
            r.count("users").map_err(err)?,
            r.count("addrs").map_err(err)?,
        ))
    }

    pub fn file_size(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    /// The shared number of a user id.
    pub fn number(&self, id: &str) -> Result<u64, String> {
        self.uids
            .binary_search_by(|u| u.as_str().cmp(id))
            .map(|k| k as u64 + 1)
            .map_err(|_| format!("refdb returned an unknown user id {id:?}"))
    }

    /// One `Engine::list` call (page + exact total), timed; the outcome
    /// keeps the total only when `with_total` (the SQLite side counts).
    pub fn list(&self, q: &Query, with_total: bool) -> Result<(Outcome, Duration), String> {
        let start = Instant::now();
        let page = self.engine.list("users", q).map_err(err)?;
        let took = start.elapsed();
        let mut out = Outcome::default();
        if with_total {
            out.totals.push(page.total);
        }
        for d in &page.result {
            let id = d
                .get("_id")
                .and_then(Value::as_str)
                .ok_or("refdb: a page document without _id")?;
            out.ids.push(self.number(id)?);
        }
        Ok((out, took))
    }

    /// Reads each user number of `ids` by `_id`: each from a fresh
    /// snapshot (`Store::get`, what a GET does) or all from one snapshot.
    pub fn point_reads(&self, ids: &[u64], one_txn: bool) -> Result<(Outcome, Duration), String> {
        let keys: Vec<&str> = ids
            .iter()
            .map(|&n| self.uids[n as usize - 1].as_str())
            .collect();
        let store = self.store();
        let start = Instant::now();
        let mut check = 0u64;
        let mut add = |d: &refdb_storage::Document| {
            let age = d.get("age").and_then(Value::as_u64).unwrap_or(0);
            let name = d.get("name").and_then(Value::as_str).map_or(0, str::len);
            check = check.wrapping_add(age + name as u64);
        };
        if one_txn {
            let r = store.read().map_err(err)?;
            for k in &keys {
                add(&r.get("users", k).map_err(err)?);
            }
        } else {
            for k in &keys {
                add(&store.get("users", k).map_err(err)?);
            }
        }
        let took = start.elapsed();
        Ok((
            Outcome {
                check,
                totals: vec![ids.len() as u64],
                ..Outcome::default()
            },
            took,
        ))
    }

    /// Where a point read's time goes, per read, on `ids`: a fresh
    /// snapshot alone; on one snapshot, the `_id` → row lookup alone
    /// (`ReadTxn::docno`, no decoding), lookup + msgpack decode into JSON
    /// (`get_stored`), the full materialized `get`, and the JSON text a GET
    /// serves (`get_json`). One warm-up pass,
    /// then one timed pass each.
    pub fn point_read_breakdown(
        &self,
        ids: &[u64],
    ) -> Result<Vec<(&'static str, Duration)>, String> {
        let keys: Vec<&str> = ids
            .iter()
            .map(|&n| self.uids[n as usize - 1].as_str())
            .collect();
        let store = self.store();
        let per = |d: Duration| d / keys.len().max(1) as u32;
        let mut out = Vec::new();
        let start = Instant::now();
        for _ in &keys {
            std::hint::black_box(store.read().map_err(err)?);
        }
        out.push((
            "`Store::read()` (the shared snapshot) alone",
            per(start.elapsed()),
        ));
        let r = store.read().map_err(err)?;
        for k in &keys {
            std::hint::black_box(r.get("users", k).map_err(err)?);
        }
        let start = Instant::now();
        for k in &keys {
            std::hint::black_box(r.docno("users", k).map_err(err)?);
        }
        out.push((
            "`_id` → row lookup in redb, no decoding (`ReadTxn::docno`)",
            per(start.elapsed()),
        ));
        let start = Instant::now();
        for k in &keys {
            std::hint::black_box(r.get_stored("users", k).map_err(err)?);
        }
        out.push((
            "lookup + msgpack decode into a JSON map (`ReadTxn::get_stored`)",
            per(start.elapsed()),
        ));
        let start = Instant::now();
        for k in &keys {
            std::hint::black_box(r.get("users", k).map_err(err)?);
        }
        out.push((
            "lookup + decode + materialize (`ReadTxn::get`)",
            per(start.elapsed()),
        ));
        let start = Instant::now();
        for k in &keys {
            std::hint::black_box(r.get_json("users", k).map_err(err)?);
        }
        out.push((
            "lookup + transcode into the served JSON (`ReadTxn::get_json`, a GET's path)",
            per(start.elapsed()),
        ));
        Ok(out)
    }

    /// Deletes address number `addr` (0-based line) with its users (one
    /// durable commit, timed); checks the users are gone.
    pub fn cascade(&self, addr: usize) -> Result<(Outcome, Duration), String> {
        let id = &self.aids[addr];
        let start = Instant::now();
        let deleted = self.store().delete("addrs", id).map_err(err)?;
        let took = start.elapsed();
        let users: Vec<&str> = deleted
            .iter()
            .filter(|(c, _)| c == "users")
            .map(|(_, id)| id.as_str())
            .collect();
        let r = self.store().read().map_err(err)?;
        for u in &users {
            if r.try_get("users", u).map_err(err)?.is_some() {
                return Err(format!(
                    "refdb cascade of address {id}: user {u} is still there"
                ));
            }
        }
        if r.try_get("addrs", id).map_err(err)?.is_some() {
            return Err(format!("refdb cascade: address {id} is still there"));
        }
        Ok((
            Outcome {
                check: users.len() as u64,
                ..Outcome::default()
            },
            took,
        ))
    }
}
