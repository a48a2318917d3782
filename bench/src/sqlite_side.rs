//! The SQLite peer (rusqlite, bundled SQLite): the schema, indexes and
//! PRAGMAs of the earlier baseline (measured with Python's sqlite3), the
//! bulk load, and the SQL form of each workload.
//!
//! Invariants:
//! - defaults as the baseline used them: rollback journal (`DELETE`),
//!   `synchronous=FULL`, the default page cache; `foreign_keys=ON` (the
//!   cascade needs it); nothing tuned beyond that;
//! - users and addresses get rowids 1..N in file order, which is the
//!   shared numbering of [`crate::measure::Outcome`];
//! - the FTS5 trigram table is a copy of `users.name` built at load, as in
//!   the baseline (no triggers: the cascade workload does not maintain
//!   it, and it runs last).

use crate::dataset::Dataset;
use crate::measure::Outcome;
use regex::Regex;
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The columns every page returns.
pub const COLS: &str = "id, name, surname, email, age, male, score, tags, created, addr_id";

/// The schema and indexes (created before the inserts, as in the
/// baseline's 11.4 s "indexes created before the inserts" row).
pub const SCHEMA: &str = "
CREATE TABLE addrs(id INTEGER PRIMARY KEY, name TEXT, address TEXT, city TEXT);
CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, surname TEXT, email TEXT,
  age INTEGER, male INTEGER, score REAL, tags TEXT, created TEXT,
  addr_id INTEGER REFERENCES addrs(id) ON DELETE CASCADE);
CREATE INDEX users_age ON users(age);
CREATE INDEX users_addr ON users(addr_id);";

/// The substring index, built after the rows, in the load's transaction.
pub const FTS: &str = "
CREATE VIRTUAL TABLE users_fts USING fts5(name, tokenize='trigram');
INSERT INTO users_fts(rowid, name) SELECT id, name FROM users;";

/// An open SQLite database with the data set loaded.
pub struct Sqlite {
    pub conn: Connection,
    pub path: PathBuf,
}

/// A user row, read in full (what a page returns).
#[derive(Debug)]
#[allow(dead_code)] // every column is read, as a page would; few are used
pub struct User {
    pub id: i64,
    pub name: String,
    pub surname: String,
    pub email: String,
    pub age: i64,
    pub male: bool,
    pub score: f64,
    pub tags: String,
    pub created: String,
    pub addr_id: Option<i64>,
}

impl User {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
        Ok(User {
            id: r.get(0)?,
            name: r.get(1)?,
            surname: r.get(2)?,
            email: r.get(3)?,
            age: r.get(4)?,
            male: r.get(5)?,
            score: r.get(6)?,
            tags: r.get(7)?,
            created: r.get(8)?,
            addr_id: r.get(9)?,
        })
    }
}

/// What the load measured.
pub struct Loaded {
    pub db: Sqlite,
    /// Tables + btree indexes + rows, FTS5 build, COMMIT included.
    pub total: Duration,
    pub fts: Duration,
}

fn err(e: rusqlite::Error) -> String {
    format!("SQLite: {e}")
}

/// Opens a connection the way the baseline did, plus a `regexp` function
/// (Rust `regex`) for the informational REGEXP rows.
pub fn open(path: &Path) -> Result<Connection, String> {
    let conn = Connection::open(path).map_err(err)?;
    conn.execute_batch("PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL;")
        .map_err(err)?;
    conn.create_scalar_function(
        "regexp",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
            let re: Arc<Regex> = ctx.get_or_create_aux(0, |vr| -> Result<_, BoxError> {
                Ok(Regex::new(vr.as_str()?)?)
            })?;
            let text = ctx
                .get_raw(1)
                .as_str()
                .map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?;
            Ok(re.is_match(text))
        },
    )
    .map_err(err)?;
    Ok(conn)
}

/// Parses the data set (not timed), then creates a fresh database at
/// `path` and loads it in one transaction (timed): addresses, users with
/// their `addr_id`, the FTS5 trigram table, COMMIT.
pub fn load(ds: &Dataset, path: &Path) -> Result<Loaded, String> {
    let addrs = ds.addr_rows()?;
    let users = ds.user_rows()?;
    for ext in ["", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    let mut conn = open(path)?;
    let start = Instant::now();
    conn.execute_batch(SCHEMA).map_err(err)?;
    let tx = conn.transaction().map_err(err)?;
    {
        let mut ins = tx
            .prepare("INSERT INTO addrs VALUES (?1, ?2, ?3, ?4)")
            .map_err(err)?;
        for (i, a) in addrs.iter().enumerate() {
            ins.execute(params![i as i64 + 1, a.name, a.address, a.city])
                .map_err(err)?;
        }
        let mut ins = tx
            .prepare("INSERT INTO users VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
            .map_err(err)?;
        for (i, u) in users.iter().enumerate() {
            ins.execute(params![
                i as i64 + 1,
                u.name,
                u.surname,
                u.email,
                u.age,
                u.male,
                u.score,
                u.tags,
                u.created,
                u.addr_index().map(|a| a + 1),
            ])
            .map_err(err)?;
        }
    }
    let fts_start = Instant::now();
    tx.execute_batch(FTS).map_err(err)?;
    let fts = fts_start.elapsed();
    tx.commit().map_err(err)?;
    let total = start.elapsed();
    Ok(Loaded {
        db: Sqlite {
            conn,
            path: path.to_path_buf(),
        },
        total,
        fts,
    })
}

impl Sqlite {
    pub fn count_all(&self) -> Result<(u64, u64), String> {
        let c = |t: &str| -> Result<u64, String> {
            self.conn
                .query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n as u64)
                .map_err(err)
        };
        Ok((c("users")?, c("addrs")?))
    }

    pub fn file_size(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    /// Runs a page query (every column, row by row) and/or a count, timed
    /// together.
    pub fn page_and_count(
        &self,
        page: Option<&str>,
        count: Option<&str>,
    ) -> Result<(Outcome, Duration), String> {
        let start = Instant::now();
        let mut out = Outcome::default();
        if let Some(sql) = page {
            let mut st = self.conn.prepare_cached(sql).map_err(err)?;
            let rows = st.query_map([], User::from_row).map_err(err)?;
            for u in rows {
                out.ids.push(u.map_err(err)?.id as u64);
            }
        }
        if let Some(sql) = count {
            let mut st = self.conn.prepare_cached(sql).map_err(err)?;
            let n: i64 = st.query_row([], |r| r.get(0)).map_err(err)?;
            out.totals.push(n as u64);
        }
        Ok((out, start.elapsed()))
    }

    /// Reads each user number of `ids` by primary key; `one_txn` wraps
    /// them in one read transaction (else each statement is its own).
    pub fn point_reads(&self, ids: &[u64], one_txn: bool) -> Result<(Outcome, Duration), String> {
        let start = Instant::now();
        if one_txn {
            self.conn.execute_batch("BEGIN").map_err(err)?;
        }
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT {COLS} FROM users WHERE id = ?1"))
            .map_err(err)?;
        let mut check = 0u64;
        for &id in ids {
            let u = st
                .query_row([id as i64], User::from_row)
                .optional()
                .map_err(err)?
                .ok_or_else(|| format!("SQLite: user {id} not found"))?;
            check = check.wrapping_add(u.age as u64 + u.name.len() as u64);
        }
        if one_txn {
            self.conn.execute_batch("COMMIT").map_err(err)?;
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

    /// Deletes address number `addr` (0-based line) with its users, in
    /// one durable transaction (timed); checks the users are gone.
    pub fn cascade(&mut self, addr: usize) -> Result<(Outcome, Duration), String> {
        let id = addr as i64 + 1;
        let users_of = |c: &Connection| -> Result<u64, String> {
            c.query_row("SELECT COUNT(*) FROM users WHERE addr_id = ?1", [id], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(err)
        };
        let before = users_of(&self.conn)?;
        let start = Instant::now();
        let tx = self.conn.transaction().map_err(err)?;
        let n = tx
            .execute("DELETE FROM addrs WHERE id = ?1", [id])
            .map_err(err)?;
        tx.commit().map_err(err)?;
        let took = start.elapsed();
        let after = users_of(&self.conn)?;
        if n != 1 || after != 0 {
            return Err(format!(
                "SQLite cascade of address {id}: {n} address rows deleted, {after} users left"
            ));
        }
        Ok((
            Outcome {
                check: before,
                ..Outcome::default()
            },
            took,
        ))
    }

    /// `EXPLAIN QUERY PLAN` of a statement, one line per step.
    pub fn explain(&self, sql: &str) -> Result<String, String> {
        let mut st = self
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .map_err(err)?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(3))
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(rows.join("; "))
    }
}
