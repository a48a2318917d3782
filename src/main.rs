//! The `refdb` command: `serve` runs the HTTP server (docs/API.md §1), `check`
//! audits a database file, `import`/`export` move NDJSON in and out,
//! `backup` copies a live database, `hash-key` prints the SHA-256 of an API
//! key for the schema's `auth`. Flags may come from the environment
//! (`REFDB_DB`, `REFDB_SCHEMA`, `REFDB_LISTEN`, `REFDB_INSECURE_LISTEN`);
//! flags win. Without authentication `serve` listens on loopback only.
//!
//! This file only parses arguments and wires parts together.

mod cli;

/// mimalloc: measured 30% faster than glibc malloc on a bulk load (fewer
/// page faults and no consolidation pauses); see BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use cli::{Cli, Command};
use refdb::refdb_storage;
use refdb::{Config, Server};
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Held to the end of `main`: dropping it flushes the queued log lines.
    let _log = refdb::logging::init(cli.log_format);
    let result = match cli.command {
        Command::Serve {
            db,
            schema,
            listen,
            insecure_listen,
            changes_retention,
            cache_size,
            limits,
            cluster,
        } => serve(
            Config {
                db,
                schema,
                listen,
                insecure_listen,
                changes_retention,
                cache_size,
                limits: limits.limits(),
            },
            cluster,
        ),
        Command::HashKey { key } => refdb::tools::hash_key(&key),
        Command::Check { db } => refdb::tools::check(&db),
        Command::Import {
            db,
            schema,
            skip_invalid,
            batch,
            changes_retention,
            cache_size,
            coll,
            file,
        } => {
            let opts = refdb_storage::ndjson::ImportOptions {
                batch: batch.unwrap_or(usize::MAX),
                skip_invalid,
            };
            let path = db.clone();
            Config {
                db,
                schema,
                changes_retention,
                cache_size,
                ..Config::default()
            }
            .open_store()
            .map_err(Into::into)
            .and_then(|store| {
                let log_end = || {
                    store
                        .read()
                        .and_then(|r| r.change_log_extent())
                        .map(|e| e.1)
                };
                let before = log_end()?;
                let ok = refdb::tools::import(&store, &coll, &file, &opts)?;
                let wrote = log_end()? != before;
                drop(store);
                refdb::tools::compact_after_import(&path)?;
                if wrote {
                    refdb::tools::save_indexes_after_import(&path);
                }
                Ok(ok)
            })
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
        Command::Changes { db, since, follow } => refdb::tools::changes(&db, since, follow),
        Command::Gen {
            users,
            addrs,
            seed,
            out,
        } => refdb::bench::generate(
            &out,
            &refdb::refdb_gen::Spec {
                users,
                addrs: addrs.unwrap_or((users / 10).max(1)),
                seed,
            },
        ),
        Command::Bench {
            db,
            runs,
            warmup,
            queries,
        } => refdb::bench::bench(&db, &queries, runs, warmup),
        Command::Compact { db } => refdb::tools::compact(&db).map(|_| ExitCode::SUCCESS),
        Command::Backup { db, out } => refdb::tools::backup(&db, &out).map(|_| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("refdb: {e}");
        ExitCode::from(2)
    })
}

fn serve(
    config: Config,
    cluster: cli::ClusterArgs,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let log = join_cluster(&config, &cluster)?;
    let store = Arc::new(config.open_store()?);
    let opts = refdb::EngineOptions {
        max_page: config.limits.max_page,
        checkpoint: Some(config.index_checkpoint()),
        text_dir: Some(config.text_dir()),
        ..refdb::EngineOptions::default()
    };
    let started = std::time::Instant::now();
    let position = store.log_position()?;
    let engine = refdb::Engine::with_options(store, opts)?;
    match engine.index_start() {
        refdb::refdb_query::IndexStart::Built => tracing::info!(
            millis = started.elapsed().as_millis() as u64,
            "derived indexes built from the documents"
        ),
        refdb::refdb_query::IndexStart::Loaded { caught_up } => tracing::info!(
            millis = started.elapsed().as_millis() as u64,
            caught_up,
            "derived indexes loaded from {}",
            config.index_checkpoint().display()
        ),
    }
    if let Some(t) = engine.text_start() {
        tracing::info!(
            loaded = t.loaded,
            rebuilding = t.rebuilt,
            in_memory = t.in_ram,
            records = t.records,
            "full-text indexes in {}",
            config.text_dir().display()
        );
    }
    let mut builder = Server::builder(engine).limits(config.limits.clone());
    if let Some(log) = log {
        tracing::info!(position, "cluster: following the log");
        builder = builder.cluster(refdb::cluster::node::ClusterLink {
            log,
            node: Arc::new(refdb::cluster::node::NodeState::new(position)),
            name: cluster.node.clone().unwrap_or_default(),
            snapshot_every: cluster.snapshot_every,
        });
    }
    let server = builder.build()?;
    let auth = server.app().auth_enabled();
    refdb::config::check_listen(&config.listen, auth, config.insecure_listen)?;
    if let Some(cfg) = server.app().schema().auth.as_ref() {
        tracing::info!(
            "authentication: {} user(s) with API keys, JWT {}",
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
        tracing::warn!(
            "no authentication is configured (no `auth` in the schema): every request is \
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
    let dropped = refdb::logging::dropped_lines();
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "log lines were dropped: the log output was not read fast enough"
        );
    }
    tracing::info!("shut down cleanly");
    Ok(ExitCode::SUCCESS)
}

/// With `--cluster`: connects to the log and makes the file ready to
/// follow it (from a snapshot when the log no longer holds what it lacks).
fn join_cluster(
    config: &Config,
    args: &cli::ClusterArgs,
) -> Result<Option<Arc<dyn refdb::cluster::log::SharedLog>>, Box<dyn std::error::Error>> {
    if args.cluster.is_empty() {
        return Ok(None);
    }
    let Some(node) = args.node.as_deref() else {
        return Err("--cluster needs --node NAME (unique in the cluster)".into());
    };
    if node.is_empty()
        || !node
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!("--node {node:?}: letters, digits, '-' and '_' only").into());
    }
    // How long a start waits for JetStream: its leader elections take
    // seconds, and a node restarted beside a dying server must outlast one.
    let wait = std::time::Duration::from_secs(30);
    let log = refdb::cluster::jetstream::JetStreamLog::connect(
        refdb::cluster::jetstream::JetStreamOptions {
            servers: args.cluster.clone(),
            stream: args.cluster_stream.clone(),
            replicas: args.cluster_replicas,
            write_timeout: std::time::Duration::from_millis(args.cluster_write_timeout),
        },
        wait,
    )?;
    refdb::cluster::node::prepare_file(&log, &config.db, wait)?;
    Ok(Some(Arc::new(log)))
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
