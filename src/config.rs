//! What `refdb serve` is told (docs/API.md §1) and the server's limits.
//!
//! Defaults are the contract's: `./refdb.db`, the schema stored in the file
//! (or the demo schema for a new file), `127.0.0.1:8080`. The limits are
//! what keeps one client from exhausting the server; each is a plain field
//! so that embedding programs and tests can tighten them.

use refdb_storage::{OpenOptions, Retention, Schema, Store};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How `refdb serve` runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The database file (created if missing).
    pub db: PathBuf,
    /// A schema file to apply at open; `None` keeps the stored schema.
    pub schema: Option<PathBuf>,
    /// `HOST:PORT` to listen on; port 0 picks a free one.
    pub listen: String,
    /// Listen on a non-loopback address although the schema configures no
    /// authentication (see [`check_listen`]).
    pub insecure_listen: bool,
    /// How much of the change log to keep.
    pub changes_retention: Retention,
    /// The file's page cache, in bytes.
    pub cache_size: usize,
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            db: PathBuf::from("./refdb.db"),
            schema: None,
            listen: "127.0.0.1:8080".into(),
            insecure_listen: false,
            changes_retention: Retention::default(),
            cache_size: OpenOptions::default().cache_size,
            limits: Limits::default(),
        }
    }
}

/// Bounds on what one request or client may cost.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body, in bytes (413 beyond).
    pub max_body: usize,
    /// Time allowed to send headers and body (408), and to answer a read.
    pub request_timeout: Duration,
    /// Connections served at once; further clients wait in the kernel's
    /// accept queue rather than being refused.
    pub max_connections: usize,
    /// Operations in one `_batch`.
    pub max_batch_ops: usize,
    /// Length of the query string of a non-list route, in bytes (list
    /// queries have the query engine's own, larger bound).
    pub max_query: usize,
    /// Time in-flight requests get to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Write requests that may share one commit (1: a commit each).
    pub group_commit: usize,
    /// Nesting depth of a JSON body (400 `too_deep` beyond).
    pub max_depth: usize,
    /// Length of one string of a JSON body, in bytes (400 `too_long`).
    pub max_string: usize,
    /// Largest page a list answers (`_page=0` and larger pages get this).
    pub max_page: usize,
    /// A list query slower than this is logged with its plan (`None`:
    /// never).
    pub slow_query: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 16 << 20,
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_batch_ops: 10_000,
            max_query: 4096,
            shutdown_grace: Duration::from_secs(10),
            group_commit: 64,
            max_depth: 64,
            max_string: 1 << 20,
            slow_query: Some(Duration::from_millis(500)),
            max_page: 1000,
        }
    }
}

/// The loopback rule: without authentication (every request anonymous and
/// allowed) the server listens only on loopback addresses unless
/// `insecure` (`--insecure-listen`) says otherwise. Every address `listen`
/// resolves to must be loopback; an unresolvable one is left to `bind`.
pub fn check_listen(listen: &str, auth_enabled: bool, insecure: bool) -> Result<(), String> {
    if auth_enabled || insecure {
        return Ok(());
    }
    let addrs: Vec<std::net::SocketAddr> = match std::net::ToSocketAddrs::to_socket_addrs(listen) {
        Ok(a) => a.collect(),
        Err(_) => return Ok(()),
    };
    match addrs.iter().find(|a| !a.ip().is_loopback()) {
        Some(a) => Err(format!(
            "refusing to listen on {listen} ({}): no authentication is configured (no `auth` in \
             the schema), so anyone who can reach this address could read and write everything. \
             Listen on 127.0.0.1, configure auth, or pass --insecure-listen \
             (REFDB_INSECURE_LISTEN=1) if a proxy in front authenticates",
            a.ip()
        )),
        None => Ok(()),
    }
}

/// Why the database could not be opened, worded for the command line.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot read schema file {path}: {err}")]
    ReadSchema { path: PathBuf, err: std::io::Error },
    #[error("schema file {path}: {err}")]
    Schema {
        path: PathBuf,
        err: refdb_storage::schema::SchemaError,
    },
    #[error("cannot open {path}: {err}")]
    Store {
        path: PathBuf,
        err: refdb_storage::Error,
    },
}

/// A size in bytes: a number with an optional unit, `K`/`M`/`G` (or
/// `KiB`/`MiB`/`GiB`, the same powers of 1024) or `B`.
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let n: usize = n
        .parse()
        .map_err(|_| format!("`{s}` is not a size (a number, then K, M, G, KiB, MiB or GiB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{s}` (K, M, G, KiB, MiB, GiB)"
            ));
        }
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// [`Config::index_checkpoint`] of the database at `db`.
pub fn index_checkpoint(db: &Path) -> PathBuf {
    beside(db, ".index")
}

/// [`Config::text_dir`] of the database at `db`.
pub fn text_dir(db: &Path) -> PathBuf {
    beside(db, ".text")
}

fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

impl Config {
    /// Where the query engine saves its derived indexes between runs: the
    /// database path with `.index` appended. A derivative: deleting it only
    /// makes the next start rebuild.
    pub fn index_checkpoint(&self) -> PathBuf {
        index_checkpoint(&self.db)
    }

    /// Where the query engine saves its full-text indexes: the database
    /// path with `.text` appended, a directory. A derivative too.
    pub fn text_dir(&self) -> PathBuf {
        text_dir(&self.db)
    }

    /// Opens the database, applying the schema file if one is given.
    pub fn open_store(&self) -> Result<Store, OpenError> {
        let schema = match &self.schema {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|err| OpenError::ReadSchema {
                    path: path.clone(),
                    err,
                })?;
                Some(Schema::parse(&text).map_err(|err| OpenError::Schema {
                    path: path.clone(),
                    err,
                })?)
            }
        };
        let opts = OpenOptions {
            schema,
            changes_retention: self.changes_retention,
            cache_size: self.cache_size,
            ..OpenOptions::default()
        };
        Store::open_with(&self.db, opts).map_err(|err| OpenError::Store {
            path: self.db.clone(),
            err,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("64K"), Ok(64 << 10));
        assert_eq!(parse_bytes("256MiB"), Ok(256 << 20));
        assert_eq!(parse_bytes("1 GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("2g"), Ok(2 << 30));
        assert!(parse_bytes("lots").unwrap_err().contains("not a size"));
        assert!(
            parse_bytes("3TB")
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert!(parse_bytes("-1M").is_err());
        assert!(parse_bytes("99999999999999999999G").is_err());
    }
}
