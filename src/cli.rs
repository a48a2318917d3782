//! The command line's shape (clap): subcommands, flags and their
//! environment variables. `main.rs` dispatches; this file only declares.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "refdb",
    version,
    about = "An embedded document database with references, served over HTTP"
)]
pub struct Cli {
    /// How log lines are written to standard error.
    #[arg(
        long,
        global = true,
        env = "REFDB_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    pub log_format: refdb::logging::LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// Cluster mode: the node follows (and writes through) a shared log on
/// NATS JetStream.
#[derive(clap::Args)]
pub struct ClusterArgs {
    /// NATS server URLs, comma-separated (`nats://127.0.0.1:4222,…`):
    /// run as a node of a cluster whose log is a JetStream stream.
    #[arg(long, env = "REFDB_CLUSTER", value_delimiter = ',')]
    pub cluster: Vec<String>,
    /// This node's name (unique in the cluster).
    #[arg(long, env = "REFDB_NODE", requires = "cluster")]
    pub node: Option<String>,
    /// The JetStream stream that holds the log (subject `<stream>.log`).
    #[arg(long, env = "REFDB_CLUSTER_STREAM", default_value = "refdb")]
    pub cluster_stream: String,
    /// Copies JetStream keeps of the log (1, 3 or 5).
    #[arg(long, env = "REFDB_CLUSTER_REPLICAS", default_value_t = 3)]
    pub cluster_replicas: usize,
    /// Milliseconds a write waits for the log to take it before it is
    /// answered 503 `outcome_unknown`.
    #[arg(long, env = "REFDB_CLUSTER_WRITE_TIMEOUT", default_value_t = 10_000)]
    pub cluster_write_timeout: u64,
    /// Store a snapshot and truncate the log every this many log
    /// positions (0: never).
    #[arg(long, env = "REFDB_SNAPSHOT_EVERY", default_value_t = 100_000)]
    pub snapshot_every: u64,
}

/// The server's limits, each with its default (see [`refdb::Limits`]).
#[derive(clap::Args)]
pub struct LimitArgs {
    /// Largest request body, in bytes (413 beyond).
    #[arg(long, env = "REFDB_MAX_BODY", default_value_t = 16 << 20)]
    pub max_body: usize,
    /// Seconds to send a request and to answer a read (408 / 503 beyond).
    #[arg(long, env = "REFDB_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout: u64,
    /// Connections served at once (others wait in the accept queue).
    #[arg(long, env = "REFDB_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Largest page a list answers.
    #[arg(long, env = "REFDB_MAX_PAGE", default_value_t = 1000)]
    pub max_page: usize,
    /// Nesting depth of a JSON body.
    #[arg(long, env = "REFDB_MAX_DEPTH", default_value_t = 64)]
    pub max_depth: usize,
    /// Length of one string of a JSON body, in bytes.
    #[arg(long, env = "REFDB_MAX_STRING", default_value_t = 1 << 20)]
    pub max_string: usize,
    /// Log a list query slower than this many milliseconds, with its plan
    /// (0: never).
    #[arg(long, env = "REFDB_SLOW_QUERY", default_value_t = 500)]
    pub slow_query: u64,
}

impl LimitArgs {
    pub fn limits(&self) -> refdb::Limits {
        refdb::Limits {
            max_body: self.max_body,
            request_timeout: std::time::Duration::from_secs(self.request_timeout),
            max_connections: self.max_connections,
            max_page: self.max_page,
            max_depth: self.max_depth,
            max_string: self.max_string,
            slow_query: (self.slow_query > 0)
                .then(|| std::time::Duration::from_millis(self.slow_query)),
            ..refdb::Limits::default()
        }
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the collection API over HTTP.
    Serve {
        /// The database file (created if missing).
        #[arg(long, env = "REFDB_DB", default_value = "./refdb.db")]
        db: PathBuf,
        /// A schema file to apply (default: the stored one, or the demo schema).
        #[arg(long, env = "REFDB_SCHEMA")]
        schema: Option<PathBuf>,
        /// HOST:PORT to listen on; port 0 picks a free port.
        #[arg(long, env = "REFDB_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Listen on a non-loopback address even though the schema
        /// configures no authentication.
        #[arg(long, env = "REFDB_INSECURE_LISTEN", value_parser = clap::builder::FalseyValueParser::new())]
        insecure_listen: bool,
        /// How much of the change log to keep: an age (`7d`, `12h`), a record
        /// count (`10M`, `500k`), both (`7d,10M`), or `forever`.
        #[arg(long, env = "REFDB_CHANGES_RETENTION", default_value = "7d,10M", value_parser = refdb::refdb_storage::Retention::parse)]
        changes_retention: refdb::refdb_storage::Retention,
        /// The most memory the file's page cache may take (`256MiB`, `1G`,
        /// or bytes); pages beyond it are read from the file again.
        #[arg(long, env = "REFDB_CACHE_SIZE", default_value = "1GiB", value_parser = refdb::config::parse_bytes)]
        cache_size: usize,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Print the SHA-256 (hex) of an API key, for `auth.users.<login>.api_key_sha256`.
    HashKey {
        /// The key (use `-` to read it from standard input, which keeps
        /// it out of the shell history).
        key: String,
    },
    /// Audit every invariant of a database file; exit 1 if any is broken.
    /// Works beside a running server.
    Check {
        #[arg(long, env = "REFDB_DB", default_value = "./refdb.db")]
        db: PathBuf,
    },
    /// Import NDJSON (one document per line; `_id` kept when present).
    /// Stops at the first bad line, importing nothing (with --batch: its
    /// batch rolled back, earlier ones kept), unless --skip-invalid. Then
    /// saves the query engine's derived indexes beside the file, which the
    /// next `refdb serve` loads instead of building.
    Import {
        #[arg(long, env = "REFDB_DB", default_value = "./refdb.db")]
        db: PathBuf,
        #[arg(long, env = "REFDB_SCHEMA")]
        schema: Option<PathBuf>,
        /// Report and skip bad lines instead of stopping.
        #[arg(long)]
        skip_invalid: bool,
        /// Lines per transaction. By default the whole file is one
        /// transaction: a failed import leaves the database as it was, and
        /// a large one runs fastest.
        #[arg(long)]
        batch: Option<usize>,
        /// How much of the change log to keep: an age (`7d`, `12h`), a record
        /// count (`10M`, `500k`), both (`7d,10M`), or `forever`.
        #[arg(long, env = "REFDB_CHANGES_RETENTION", default_value = "7d,10M", value_parser = refdb::refdb_storage::Retention::parse)]
        changes_retention: refdb::refdb_storage::Retention,
        /// The most memory the file's page cache may take (`256MiB`, `4G`,
        /// or bytes). A load larger than the cache writes pages out and
        /// reads them back to commit.
        #[arg(long, env = "REFDB_CACHE_SIZE", default_value = "1GiB", value_parser = refdb::config::parse_bytes)]
        cache_size: usize,

        coll: String,
        file: PathBuf,
    },
    /// Export a collection as NDJSON (no `_meta`, no derived lists), so it
    /// imports back. Works beside a running server.
    Export {
        #[arg(long, env = "REFDB_DB", default_value = "./refdb.db")]
        db: PathBuf,
        coll: String,
        /// Output file, `-` for standard output.
        #[arg(default_value = "-")]
        out: PathBuf,
    },
    /// Print the change log as NDJSON (one record a line: seq, txn, time,
    /// coll, _id, op, doc). Works beside a running server.
    Changes {
        #[arg(long, env = "REFDB_DB", default_value = "./refdb.db")]
        db: PathBuf,
        /// Start after this seq (0: from the oldest record kept).
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// Keep printing new records as they are committed.
        #[arg(long)]
        follow: bool,
    },
    /// Write a synthetic data set as NDJSON: addresses, and users that
    /// reference them, for the demo schema; the same seed gives the same
    /// bytes.
    Gen {
        /// Users to write.
        #[arg(long, default_value_t = 1_000_000)]
        users: u64,
        /// Addresses to write (default: one per ten users).
        #[arg(long)]
        addrs: Option<u64>,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The directory for addrs.jsonl and users.jsonl.
        out: PathBuf,
    },
    /// Run list queries on a database file and print each one's plan,
    /// total and latency percentiles. Works beside a running server.
    Bench {
        #[arg(long, env = "REFDB_DB", default_value = "./refdb.db")]
        db: PathBuf,
        /// Timed runs per query.
        #[arg(long, default_value_t = 100)]
        runs: usize,
        /// Untimed runs per query before the timed ones.
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        /// Queries as `COLL?QUERY`, in the list language of the HTTP API:
        /// 'users?name.$re=doquin&_page=20'.
        #[arg(required = true)]
        queries: Vec<String>,
    },
    /// Give the file's free pages back to the file system (as SQLite's
    /// VACUUM); needs the file to itself: stop the server first.
    Compact {
        #[arg(long, env = "REFDB_DB", default_value = "./refdb.db")]
        db: PathBuf,
    },
    /// Write a consistent copy of the database to a new file, even while a
    /// server runs.
    Backup {
        #[arg(long, env = "REFDB_DB", default_value = "./refdb.db")]
        db: PathBuf,
        out: PathBuf,
    },
}
