//! The `refdb` command: `serve` runs the HTTP server (API.md §1), `check`
//! audits a database file, `import`/`export` move NDJSON in and out,
//! `backup` copies a live database, `hash-key` prints the SHA-256 of an API
//! key for the schema's `auth`. Flags may come from the environment
//! (`REFDB_DB`, `REFDB_SCHEMA`, `REFDB_LISTEN`, `REFDB_INSECURE_LISTEN`);
//! flags win. Without authentication `serve` listens on loopback only.
//!
//! This file only parses arguments and wires parts together.

use clap::{Parser, Subcommand};
use refdb::refdb_storage;
use refdb::{Config, Server};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "refdb",
    version,
    about = "An embedded document database with references, served over HTTP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The server's limits, each with its default (see [`refdb::Limits`]).
#[derive(clap::Args)]
struct LimitArgs {
    /// Largest request body, in bytes (413 beyond).
    #[arg(long, env = "REFDB_MAX_BODY", default_value_t = 16 << 20)]
    max_body: usize,
    /// Seconds to send a request and to answer a read (408 / 503 beyond).
    #[arg(long, env = "REFDB_REQUEST_TIMEOUT", default_value_t = 30)]
    request_timeout: u64,
    /// Connections served at once (others wait in the accept queue).
    #[arg(long, env = "REFDB_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Largest page a list answers.
    #[arg(long, env = "REFDB_MAX_PAGE", default_value_t = 1000)]
    max_page: usize,
    /// Nesting depth of a JSON body.
    #[arg(long, env = "REFDB_MAX_DEPTH", default_value_t = 64)]
    max_depth: usize,
    /// Length of one string of a JSON body, in bytes.
    #[arg(long, env = "REFDB_MAX_STRING", default_value_t = 1 << 20)]
    max_string: usize,
}

impl LimitArgs {
    fn limits(&self) -> refdb::Limits {
        refdb::Limits {
            max_body: self.max_body,
            request_timeout: std::time::Duration::from_secs(self.request_timeout),
            max_connections: self.max_connections,
            max_page: self.max_page,
            max_depth: self.max_depth,
            max_string: self.max_string,
            ..refdb::Limits::default()
        }
    }
}

#[derive(Subcommand)]
enum Command {
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
        #[command(flatten)]
        limits: LimitArgs,
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
    /// Stops at the first bad line (its batch rolled back) unless
    /// --skip-invalid.
    Import {
        #[arg(long, env = "REFDB_DB", default_value = "./refdb.db")]
        db: PathBuf,
        #[arg(long, env = "REFDB_SCHEMA")]
        schema: Option<PathBuf>,
        /// Report and skip bad lines instead of stopping.
        #[arg(long)]
        skip_invalid: bool,
        /// Lines per transaction.
        #[arg(long, default_value_t = 1_000_000)]
        batch: usize,
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
    /// Write a consistent copy of the database to a new file, even while a
    /// server runs.
    Backup {
        #[arg(long, env = "REFDB_DB", default_value = "./refdb.db")]
        db: PathBuf,
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match Cli::parse().command {
        Command::Serve {
            db,
            schema,
            listen,
            insecure_listen,
            limits,
        } => serve(Config {
            db,
            schema,
            listen,
            insecure_listen,
            limits: limits.limits(),
        }),
        Command::HashKey { key } => hash_key(&key),
        Command::Check { db } => check(db),
        Command::Import {
            db,
            schema,
            skip_invalid,
            batch,
            coll,
            file,
        } => {
            let opts = refdb_storage::ndjson::ImportOptions {
                batch,
                skip_invalid,
            };
            Config {
                db,
                schema,
                ..Config::default()
            }
            .open_store()
            .map_err(Into::into)
            .and_then(|store| refdb::tools::import(&store, &coll, &file, &opts))
            .map(|ok| {
                if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            })
        }
        Command::Export { db, coll, out } => {
            refdb::tools::export(&db, &coll, &out).map(|_| ExitCode::SUCCESS)
        }
        Command::Backup { db, out } => refdb::tools::backup(&db, &out).map(|_| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("refdb: {e}");
        ExitCode::from(2)
    })
}

fn serve(config: Config) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let store = Arc::new(config.open_store()?);
    let opts = refdb::EngineOptions {
        max_page: config.limits.max_page,
    };
    let engine = refdb::Engine::with_options(store, opts)?;
    let server = Server::builder(engine)
        .limits(config.limits.clone())
        .build()?;
    let auth = server.app().auth_enabled();
    refdb::config::check_listen(&config.listen, auth, config.insecure_listen)?;
    if let Some(cfg) = server.app().schema().auth.as_ref() {
        eprintln!(
            "refdb: authentication: {} user(s) with API keys, JWT {}",
            cfg.users
                .values()
                .filter(|u| u.api_key_sha256.is_some())
                .count(),
            match &cfg.jwt {
                Some(j) => format!("HS256 (secret from ${})", j.secret_env),
                None => "off".into(),
            }
        );
    }
    if !auth {
        eprintln!(
            "refdb: no authentication is configured (no `auth` in the schema): every request is \
             anonymous and allowed; {}",
            if config.insecure_listen {
                "--insecure-listen: serving beyond loopback anyway"
            } else {
                "serving on loopback only"
            }
        );
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        // The kernel queues connections from here on: we are accepting.
        println!("listening on http://{}", listener.local_addr()?);
        refdb::run(listener, server, shutdown_signal()).await;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    tracing::info!("shut down cleanly");
    Ok(ExitCode::SUCCESS)
}

/// `refdb hash-key KEY`: the line to paste into the schema.
fn hash_key(key: &str) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let key = if key == "-" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        key.to_string()
    };
    if key.is_empty() {
        return Err("an API key cannot be empty".into());
    }
    println!("{}", refdb::server::auth::sha256_hex(&key));
    Ok(ExitCode::SUCCESS)
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn check(db: PathBuf) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let store = refdb_storage::Store::open_read_only(&db)?;
    let report = store.audit()?;
    println!(
        "{} documents, {} references, {} index rows",
        report.documents, report.references, report.index_rows
    );
    for p in &report.problems {
        println!("problem: {p}");
    }
    if report.is_clean() {
        println!("ok");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} problem(s)", report.problems.len());
        Ok(ExitCode::from(1))
    }
}
