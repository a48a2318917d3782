//! [`SharedLog`] on a NATS JetStream stream: entries are the messages of
//! one subject of a stream replicated by JetStream's Raft groups; the
//! expected last position is JetStream's `Nats-Expected-Last-Sequence`
//! check, deduplication its `Nats-Msg-Id` window; followers read through
//! ordered consumers (which restart themselves where they left off after a
//! server or leader change); snapshots are objects of a JetStream object
//! store bucket named after the stream, `snapshot-<position>`.
//!
//! The client runs on a runtime of its own, so the blocking methods may be
//! called from any plain thread.

use super::log::{AppendError, Bounds, Entry, LogError, SharedLog};
use async_nats::jetstream::{self, consumer, context::PublishErrorKind, stream};
use futures_util::StreamExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// How to reach and shape the stream.
#[derive(Debug, Clone)]
pub struct JetStreamOptions {
    /// Server URLs (`nats://host:port`).
    pub servers: Vec<String>,
    /// The stream's name; its subject is `<name>.log`.
    pub stream: String,
    /// Copies JetStream keeps of each entry (1, 3 or 5).
    pub replicas: usize,
    /// How long an append keeps retrying an unanswered publish (with the
    /// same message id) before its outcome is reported unknown.
    pub write_timeout: Duration,
}

/// The largest entry: JetStream's default message size limit.
const MAX_PAYLOAD: usize = 1024 * 1024;
/// The deduplication window: an append retried within it is not doubled.
const DEDUP_WINDOW: Duration = Duration::from_secs(120);
/// Snapshots kept besides the newest.
const OLDER_SNAPSHOTS_KEPT: usize = 1;

pub struct JetStreamLog {
    runtime: tokio::runtime::Runtime,
    client: async_nats::Client,
    js: jetstream::Context,
    opts: JetStreamOptions,
    subject: String,
}

fn err(what: &str, e: impl std::fmt::Display) -> LogError {
    LogError(format!("{what}: {e}"))
}

impl JetStreamLog {
    /// Connects (retrying until `wait` passes) and creates the stream if
    /// it does not exist.
    pub fn connect(opts: JetStreamOptions, wait: Duration) -> Result<JetStreamLog, LogError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("refdb-nats")
            .enable_all()
            .build()
            .map_err(|e| err("starting the NATS client", e))?;
        let subject = format!("{}.log", opts.stream);
        let js = runtime.block_on(async {
            let client = async_nats::ConnectOptions::new()
                .retry_on_initial_connect()
                .connection_timeout(Duration::from_secs(2))
                .connect(opts.servers.as_slice())
                .await
                .map_err(|e| err("connecting to NATS", e))?;
            let mut js = jetstream::new(client.clone());
            js.set_timeout(Duration::from_secs(2));
            let config = stream::Config {
                name: opts.stream.clone(),
                subjects: vec![subject.clone()],
                num_replicas: opts.replicas,
                storage: stream::StorageType::File,
                max_message_size: MAX_PAYLOAD as i32,
                duplicate_window: DEDUP_WINDOW,
                allow_direct: true,
                ..Default::default()
            };
            // JetStream may still be electing its leaders just after start.
            let deadline = Instant::now() + wait;
            loop {
                match js.get_or_create_stream(config.clone()).await {
                    Ok(_) => break,
                    Err(e) if Instant::now() < deadline => {
                        tracing::debug!("stream {} not ready: {e}", opts.stream);
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    Err(e) => return Err(err("creating the stream", e)),
                }
            }
            Ok::<_, LogError>((client, js))
        })?;
        let (client, js) = js;
        Ok(JetStreamLog {
            runtime,
            client,
            js,
            opts,
            subject,
        })
    }

    fn bucket_name(&self) -> String {
        format!("{}_snapshots", self.opts.stream)
    }

    async fn bucket(&self) -> Result<jetstream::object_store::ObjectStore, LogError> {
        let name = self.bucket_name();
        match self.js.get_object_store(&name).await {
            Ok(b) => Ok(b),
            Err(_) => self
                .js
                .create_object_store(jetstream::object_store::Config {
                    bucket: name,
                    num_replicas: self.opts.replicas,
                    storage: stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| err("creating the snapshot bucket", e)),
        }
    }

    /// The snapshots kept, newest first: (position, object name).
    async fn snapshots(
        &self,
        bucket: &jetstream::object_store::ObjectStore,
    ) -> Result<Vec<(u64, String)>, LogError> {
        let mut list = bucket
            .list()
            .await
            .map_err(|e| err("listing snapshots", e))?;
        let mut out = Vec::new();
        while let Some(info) = list.next().await {
            let info = info.map_err(|e| err("listing snapshots", e))?;
            if info.deleted {
                continue;
            }
            if let Some(p) = info
                .name
                .strip_prefix("snapshot-")
                .and_then(|p| p.parse::<u64>().ok())
            {
                out.push((p, info.name));
            }
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.0));
        Ok(out)
    }
}

impl SharedLog for JetStreamLog {
    fn append(&self, expected_last: u64, id: &str, payload: &[u8]) -> Result<u64, AppendError> {
        let deadline = Instant::now() + self.opts.write_timeout;
        let payload = bytes::Bytes::copy_from_slice(payload);
        self.runtime.block_on(async {
            loop {
                let publish = jetstream::context::Publish::build()
                    .payload(payload.clone())
                    .message_id(id)
                    .expected_last_sequence(expected_last);
                let outcome = match self.js.send_publish(self.subject.clone(), publish).await {
                    Ok(ack) => ack.await,
                    Err(e) => Err(e),
                };
                let e = match outcome {
                    Ok(ack) => return Ok(ack.sequence),
                    Err(e) => e,
                };
                match e.kind() {
                    PublishErrorKind::WrongLastSequence => {
                        // JetStream says "wrong last sequence: N".
                        let text = e.to_string();
                        let last = text.rsplit("sequence:").next().and_then(|n| {
                            let n = n.trim_start();
                            let end = n.find(|c: char| !c.is_ascii_digit()).unwrap_or(n.len());
                            n[..end].parse().ok()
                        });
                        return Err(AppendError::Conflict { last });
                    }
                    // A refusal the server explained (size, limits) does
                    // not change on a retry; no responders or a leaderless
                    // stream do.
                    PublishErrorKind::Other if e.to_string().contains("maximum") => {
                        return Err(AppendError::Refused(e.to_string()));
                    }
                    _ => {}
                }
                if Instant::now() >= deadline {
                    return Err(AppendError::Unknown(e.to_string()));
                }
                tracing::debug!("append to the log unanswered, retrying: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    }

    fn max_payload(&self) -> usize {
        MAX_PAYLOAD
    }

    fn follow(&self, after: u64) -> Result<tokio::sync::mpsc::Receiver<Entry>, LogError> {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let js = self.js.clone();
        let client = self.client.clone();
        let name = self.opts.stream.clone();
        self.runtime.spawn(async move {
            let mut next = after + 1;
            // An ordered consumer restarts itself after a server or leader
            // change; this loop only covers its creation failing (no
            // quorum) and its stream of messages ending.
            loop {
                if tx.is_closed() {
                    return;
                }
                let consumer = async {
                    let s = js.get_stream(&name).await.map_err(|e| e.to_string())?;
                    s.create_consumer(consumer::push::OrderedConfig {
                        deliver_subject: client.new_inbox(),
                        deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                            start_sequence: next,
                        },
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| e.to_string())?
                    .messages()
                    .await
                    .map_err(|e| e.to_string())
                };
                let mut messages = match consumer.await {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::debug!("following the log from {next}: {e}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                while let Some(m) = messages.next().await {
                    let m = match m {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::debug!("following the log: {e}");
                            break;
                        }
                    };
                    let Ok(info) = m.info() else { continue };
                    let position = info.stream_sequence;
                    if position < next {
                        continue;
                    }
                    next = position + 1;
                    let entry = Entry {
                        position,
                        payload: m.payload.to_vec(),
                    };
                    if tx.send(entry).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }

    fn read(&self, position: u64, timeout: Duration) -> Result<Option<Entry>, LogError> {
        self.runtime.block_on(async {
            let got = tokio::time::timeout(timeout, async {
                let s = self
                    .js
                    .get_stream(&self.opts.stream)
                    .await
                    .map_err(|e| err("reading the log", e))?;
                match s.get_raw_message(position).await {
                    Ok(m) => Ok(Some(Entry {
                        position: m.sequence,
                        payload: m.payload.to_vec(),
                    })),
                    Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
                        Ok(None)
                    }
                    Err(e) => Err(err("reading the log", e)),
                }
            })
            .await;
            got.map_err(|_| LogError("reading the log: no answer in time".into()))?
        })
    }

    fn bounds(&self, timeout: Duration) -> Result<Bounds, LogError> {
        self.runtime.block_on(async {
            let info = tokio::time::timeout(timeout, async {
                let s = self.js.get_stream(&self.opts.stream).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(s.get_info().await?)
            })
            .await
            .map_err(|_| LogError("the stream's state: no answer in time".into()))?
            .map_err(|e| err("the stream's state", e))?;
            // A leader that lost its followers answers for a while before
            // it steps down; it cannot append, so the log is not reached.
            if let Some(c) = &info.cluster {
                let peers = c
                    .replicas
                    .iter()
                    .filter(|p| p.current && !p.offline && p.active < Duration::from_secs(3))
                    .count();
                if c.leader.is_none() || (peers + 1) * 2 <= self.opts.replicas {
                    return Err(LogError(format!(
                        "the stream has no quorum: {} of {} copies reachable",
                        if c.leader.is_some() { peers + 1 } else { 0 },
                        self.opts.replicas
                    )));
                }
            }
            Ok(Bounds {
                first: info.state.first_sequence.max(1),
                last: info.state.last_sequence,
            })
        })
    }

    fn save_snapshot(&self, position: u64, file: &Path) -> Result<(), LogError> {
        self.runtime.block_on(async {
            let bucket = self.bucket().await?;
            let mut f = tokio::fs::File::open(file)
                .await
                .map_err(|e| err("reading the snapshot", e))?;
            let name = format!("snapshot-{position:020}");
            bucket
                .put(name.as_str(), &mut f)
                .await
                .map_err(|e| err("storing the snapshot", e))?;
            for (_, old) in self
                .snapshots(&bucket)
                .await?
                .into_iter()
                .skip(1 + OLDER_SNAPSHOTS_KEPT)
            {
                bucket
                    .delete(&old)
                    .await
                    .map_err(|e| err("deleting an old snapshot", e))?;
            }
            Ok(())
        })
    }

    fn snapshots(&self) -> Result<Vec<u64>, LogError> {
        self.runtime.block_on(async {
            let bucket = self.bucket().await?;
            Ok(self
                .snapshots(&bucket)
                .await?
                .into_iter()
                .map(|(p, _)| p)
                .collect())
        })
    }

    fn load_snapshot(&self, to: &Path) -> Result<Option<u64>, LogError> {
        self.runtime.block_on(async {
            let bucket = self.bucket().await?;
            let Some((position, name)) = self.snapshots(&bucket).await?.into_iter().next() else {
                return Ok(None);
            };
            let mut object = bucket
                .get(&name)
                .await
                .map_err(|e| err("fetching the snapshot", e))?;
            let mut out = tokio::fs::File::create(to)
                .await
                .map_err(|e| err("writing the snapshot", e))?;
            tokio::io::copy(&mut object, &mut out)
                .await
                .map_err(|e| err("fetching the snapshot", e))?;
            out.sync_all()
                .await
                .map_err(|e| err("writing the snapshot", e))?;
            Ok(Some(position))
        })
    }

    fn truncate_through(&self, position: u64) -> Result<(), LogError> {
        self.runtime.block_on(async {
            let s = self
                .js
                .get_stream(&self.opts.stream)
                .await
                .map_err(|e| err("truncating the log", e))?;
            s.purge()
                .sequence(position + 1)
                .await
                .map_err(|e| err("truncating the log", e))?;
            Ok(())
        })
    }
}
