//! The HTTP side of cluster mode: every answer says which log position
//! the node's file reflects (`Refdb-Seq`) and, when the log has not
//! answered for a while, how stale it may be (`Refdb-Stale-Ms`); a request
//! may ask to be served only once the node reflects a position
//! (`Refdb-Min-Seq`, read-your-writes across nodes).

use super::error::{ApiError, ApiResult};
use crate::cluster::node::NodeState;
use hyper::header::{HeaderMap, HeaderValue};
use std::time::Duration;

pub const SEQ: &str = "refdb-seq";
pub const MIN_SEQ: &str = "refdb-min-seq";
pub const STALE_MS: &str = "refdb-stale-ms";

/// Past this long without an answer from the log, answers say so.
const STALE_AFTER: Duration = Duration::from_secs(2);

/// The position `Refdb-Min-Seq` asks for, if any.
pub fn min_seq(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    super::request::number_header(headers, MIN_SEQ).map_err(|()| {
        ApiError::bad_request(
            "bad_header",
            "Refdb-Min-Seq is a log position: a whole number (from a Refdb-Seq header)",
        )
        .at("$.headers.Refdb-Min-Seq")
    })
}

/// Waits until the node reflects `seq`, at most `timeout`.
pub async fn wait_for(node: &NodeState, seq: u64, timeout: Duration) -> ApiResult<()> {
    if node.wait_for(seq, timeout).await {
        return Ok(());
    }
    Err(ApiError::not_caught_up(format!(
        "this node reflects log position {} and did not reach {seq} within {} ms{}",
        node.position(),
        timeout.as_millis(),
        match node.failure() {
            Some(why) => format!(": {why}"),
            None => String::new(),
        }
    )))
}

/// Adds `Refdb-Seq` (and `Refdb-Stale-Ms` when due) to an answer.
pub fn stamp(node: &NodeState, headers: &mut HeaderMap) {
    headers.insert(SEQ, HeaderValue::from(node.position()));
    if let Some(stale) = node.stale(STALE_AFTER) {
        headers.insert(STALE_MS, HeaderValue::from(stale.as_millis() as u64));
    }
}
