//! Cluster mode: every node keeps a full local file that is a
//! materialized view of one shared, replicated log (a NATS JetStream
//! stream). See ARCHITECTURE.md §6.
pub mod entry;
pub mod jetstream;
pub mod log;
pub mod node;
