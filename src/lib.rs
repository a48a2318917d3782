//! refdb: an embedded document database with references, served over HTTP.
//!
//! This package is the thin outer layer: the CLI ([`config`]) and the HTTP
//! server ([`server`]). The work is done by [`refdb_storage`] (documents,
//! schema, references, transactions on redb) and [`refdb_query`] (the
//! list query language).
//!
//! # The life of a request
//!
//! 1. [`server::run`] accepts a connection (holding one of the
//!    [`config::Limits::max_connections`] permits) and hands it to hyper;
//!    hyper parses the request head (within the request timeout).
//! 2. [`server::Server::handle`] calls the router, which splits the path
//!    into percent-decoded segments and picks one handler in ONE `match` on
//!    (method, segments); unknown paths are 404, known paths with another
//!    method 405.
//! 3. The handler checks the query parameters, then (if the route takes
//!    one) reads the body: Content-Type (415), size (413), time (408),
//!    JSON (400).
//! 4. All storage work runs in one closure off the async threads: a read
//!    on tokio's blocking pool in one snapshot; a write on the writer
//!    thread ([`server::writer`]), which runs the writes queued at that
//!    moment in one transaction and one durable commit (group commit),
//!    undoing any that fails without touching the others. `If-Match` is
//!    checked inside the write itself.
//! 5. The result becomes a JSON response; an error becomes
//!    `{"error":{"code","message","path"}}` with the status chosen in
//!    [`server::error`], the only place statuses are chosen.
//! 6. `handle` logs one line: method, path, status, duration — through
//!    [`logging`]'s bounded queue, which drops rather than blocks.

pub mod bench;
pub mod cluster;
pub mod config;
pub mod logging;
pub mod server;
pub mod tools;

pub use config::{Config, Limits};
pub use refdb_gen;
pub use refdb_query;
pub use refdb_query::{Engine, EngineOptions, Page, Query, QueryError};
pub use refdb_storage;
pub use refdb_storage::{Actor, AuditReport, Document, Error, Schema, Store, Tx};

/// The README's library example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
pub use server::{ApiError, Server, run};
