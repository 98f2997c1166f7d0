//! List-then-watch that survives dropped streams, apiserver restarts and 410 Gone, handing its
//! consumer every change exactly once.
//!
//! The watcher remembers, per object key, the uid, resourceVersion and object it last
//! delivered. Stream events are checked against that memory (an event at or below the
//! delivered resourceVersion is a replay and is dropped); a re-list is diffed against it
//! (new -> Added, changed -> Modified, vanished -> Deleted with the last known object).

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use protocol::Resource;
use protocol::meta::Status;
use rand::Rng;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::client::{Client, error_from_response, read_body};
use crate::error::ClientError;
use crate::path::{ListParams, collection_path, with_query};

/// A change seen by a [`Watcher`].
#[derive(Clone, Debug, PartialEq)]
pub enum WatchEvent<T> {
    Added(T),
    Modified(T),
    Deleted(T),
}

/// Short name used by the contracts file.
pub type Event<T> = WatchEvent<T>;

impl<T> WatchEvent<T> {
    /// The object the event carries.
    pub fn object(&self) -> &T {
        match self {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => o,
        }
    }

    pub fn into_object(self) -> T {
        match self {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => o,
        }
    }
}

/// Events queued between the background task and the consumer; a slow consumer slows the
/// stream instead of growing memory.
const CHANNEL_CAPACITY: usize = 256;
/// Longest watch line accepted (one object).
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// The receiving end of a watch. Dropping it stops the background task.
pub struct Watcher<T> {
    events: mpsc::Receiver<Result<WatchEvent<T>, ClientError>>,
    task: JoinHandle<()>,
}

impl<T> Watcher<T> {
    /// The next change, or an error the watcher hit and is recovering from (it keeps going;
    /// errors are reported so a caller can log or give up). `None` only once the task ended.
    pub async fn next(&mut self) -> Option<Result<WatchEvent<T>, ClientError>> {
        self.events.recv().await
    }
}

impl<T> futures::Stream for Watcher<T> {
    type Item = Result<WatchEvent<T>, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

impl<T> Drop for Watcher<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Lists (all pages), then watches from the list's resourceVersion, forever; see the
    /// module docs for the delivery guarantee. Must be called inside a tokio runtime.
    pub fn watch<T>(&self, namespace: Option<&str>, params: ListParams) -> Watcher<T>
    where
        T: Resource + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let worker = WatchWorker {
            client: self.clone(),
            namespace: namespace.map(str::to_string),
            params,
            delivered: HashMap::new(),
            tx,
        };
        Watcher {
            events: rx,
            task: tokio::spawn(worker.run()),
        }
    }
}

type Key = (String, String);

struct Delivered<T> {
    uid: String,
    resource_version: String,
    object: T,
}

/// Why the consumer is gone: stop working.
struct Closed;

enum StreamEnd {
    /// The server ended the stream (timeoutSeconds) or the connection dropped: watch again
    /// from the last resourceVersion.
    Resume,
    /// 410 Gone: the resourceVersion is too old, re-list.
    Relist,
}

struct WatchWorker<T> {
    client: Client,
    namespace: Option<String>,
    params: ListParams,
    delivered: HashMap<Key, Delivered<T>>,
    tx: mpsc::Sender<Result<WatchEvent<T>, ClientError>>,
}

impl<T> WatchWorker<T>
where
    T: Resource + DeserializeOwned + Clone + Send + Sync + 'static,
{
    async fn run(mut self) {
        let _ = self.run_until_closed().await;
    }

    async fn run_until_closed(&mut self) -> Result<(), Closed> {
        let policy = self.client.retry_policy();
        let mut failures: u32 = 0;
        let mut resume_from: Option<String> = None;
        loop {
            if failures > 0 {
                let delay = policy.backoff(failures - 1, &mut rand::rng());
                tokio::time::sleep(delay).await;
            }
            let from = match resume_from.clone() {
                Some(rv) => rv,
                None => match self.relist().await? {
                    Ok(rv) => {
                        failures = 0;
                        resume_from = Some(rv.clone());
                        rv
                    }
                    Err(err) => {
                        failures = failures.saturating_add(1);
                        self.report(err).await?;
                        continue;
                    }
                },
            };
            match self.watch_once(&from, &mut resume_from).await? {
                Ok(StreamEnd::Resume) => failures = 0,
                Ok(StreamEnd::Relist) => {
                    tracing::debug!(
                        kind = <T as Resource>::KIND,
                        "watch expired (410), re-listing"
                    );
                    resume_from = None;
                    failures = 0;
                }
                Err(err) if err.is_gone() => {
                    resume_from = None;
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    self.report(err).await?;
                }
            }
        }
    }

    /// Sends a recoverable error to the consumer (transport errors only go to the log:
    /// they are expected during restarts and the watcher rides them out).
    async fn report(&self, err: ClientError) -> Result<(), Closed> {
        if matches!(err, ClientError::Transport(_) | ClientError::Timeout(_)) {
            tracing::debug!(kind = <T as Resource>::KIND, error = %err, "watch interrupted, retrying");
            return Ok(());
        }
        tracing::warn!(kind = <T as Resource>::KIND, error = %err, "watch failed, retrying");
        self.tx.send(Err(err)).await.map_err(|_| Closed)
    }

    /// Lists everything and diffs it against what was delivered. The outer result is the
    /// consumer's presence, the inner the list's outcome (the new resourceVersion).
    async fn relist(&mut self) -> Result<Result<String, ClientError>, Closed> {
        let params = ListParams {
            continue_token: None,
            resource_version: None,
            ..self.params.clone()
        };
        let list = match self
            .client
            .list_all_as::<T, Box<RawValue>>(self.namespace.as_deref(), &params)
            .await
        {
            Ok(list) => list,
            Err(err) => return Ok(Err(err)),
        };
        let mut seen = std::collections::HashSet::new();
        for raw in list.items {
            let Some(meta) = Meta::of(&raw) else {
                continue;
            };
            let object = match decode_object::<T>(&raw) {
                Ok(object) => object,
                Err(err) => {
                    self.report(err).await?;
                    continue;
                }
            };
            seen.insert(meta.key.clone());
            self.deliver_current(meta, object).await?;
        }
        let vanished: Vec<Key> = self
            .delivered
            .keys()
            .filter(|key| !seen.contains(*key))
            .cloned()
            .collect();
        for key in vanished {
            if let Some(gone) = self.delivered.remove(&key) {
                self.send(WatchEvent::Deleted(gone.object)).await?;
            }
        }
        Ok(Ok(list.resource_version))
    }

    /// Delivers an object as it exists now (Added, Modified, or nothing when already seen).
    async fn deliver_current(&mut self, meta: Meta, object: T) -> Result<(), Closed> {
        let known = self
            .delivered
            .get(&meta.key)
            .map(|known| (known.uid == meta.uid, known.resource_version.clone()));
        match known {
            Some((true, delivered_rv)) => {
                if !is_newer(&meta.resource_version, &delivered_rv) {
                    return Ok(());
                }
                self.remember(&meta, object.clone());
                self.send(WatchEvent::Modified(object)).await
            }
            Some((false, _)) => {
                // Same name, new uid: the old object was deleted while we were not looking.
                if let Some(old) = self.delivered.remove(&meta.key) {
                    self.send(WatchEvent::Deleted(old.object)).await?;
                }
                self.remember(&meta, object.clone());
                self.send(WatchEvent::Added(object)).await
            }
            None => {
                self.remember(&meta, object.clone());
                self.send(WatchEvent::Added(object)).await
            }
        }
    }

    fn remember(&mut self, meta: &Meta, object: T) {
        self.delivered.insert(
            meta.key.clone(),
            Delivered {
                uid: meta.uid.clone(),
                resource_version: meta.resource_version.clone(),
                object,
            },
        );
    }

    async fn send(&self, event: WatchEvent<T>) -> Result<(), Closed> {
        self.tx.send(Ok(event)).await.map_err(|_| Closed)
    }

    /// One watch request, read until it ends. `resume_from` follows every event and bookmark.
    async fn watch_once(
        &mut self,
        from: &str,
        resume_from: &mut Option<String>,
    ) -> Result<Result<StreamEnd, ClientError>, Closed> {
        // Servers end a watch after timeoutSeconds; random so a fleet does not re-watch in step.
        let timeout_seconds: u64 = rand::rng().random_range(300..600);
        let mut query = self.params.selector_query();
        query.push(("watch", "true".to_string()));
        query.push(("resourceVersion", from.to_string()));
        query.push(("allowWatchBookmarks", "true".to_string()));
        query.push(("timeoutSeconds", timeout_seconds.to_string()));
        let path = match collection_path::<T>(self.namespace.as_deref()) {
            Ok(path) => with_query(&path, &query),
            Err(err) => return Ok(Err(err)),
        };
        let head_timeout = self.client.request_timeout();
        let response = match tokio::time::timeout(
            head_timeout,
            self.client
                .send(Method::GET, &path, None, "application/json"),
        )
        .await
        {
            Err(_) => return Ok(Err(ClientError::Timeout(head_timeout))),
            Ok(Err(err)) => return Ok(Err(err)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if !status.is_success() {
            let body = match read_body(response.into_body()).await {
                Ok(body) => body,
                Err(err) => return Ok(Err(err)),
            };
            if status == StatusCode::GONE {
                return Ok(Ok(StreamEnd::Relist));
            }
            return Ok(Err(error_from_response(status, &body)));
        }
        // A stream silent for longer than its own timeout plus slack is dead.
        let deadline = Duration::from_secs(timeout_seconds + 60);
        let mut body = response.into_body();
        let mut buffer = BytesMut::new();
        loop {
            let frame = match tokio::time::timeout(deadline, next_data(&mut body)).await {
                Err(_) => return Ok(Ok(StreamEnd::Resume)),
                Ok(Ok(Some(data))) => data,
                Ok(Ok(None)) => return Ok(Ok(StreamEnd::Resume)),
                Ok(Err(err)) => {
                    tracing::debug!(kind = <T as Resource>::KIND, error = %err, "watch stream dropped");
                    return Ok(Ok(StreamEnd::Resume));
                }
            };
            buffer.extend_from_slice(&frame);
            while let Some(newline) = buffer.iter().position(|b| *b == b'\n') {
                let line = buffer.split_to(newline + 1);
                let line = &line[..newline];
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match self.handle_line(line, resume_from).await? {
                    LineOutcome::Continue => {}
                    LineOutcome::End(end) => return Ok(end),
                }
            }
            if buffer.len() > MAX_LINE_BYTES {
                return Ok(Err(ClientError::Decode(format!(
                    "watch event longer than {MAX_LINE_BYTES} bytes"
                ))));
            }
        }
    }

    async fn handle_line(
        &mut self,
        line: &[u8],
        resume_from: &mut Option<String>,
    ) -> Result<LineOutcome, Closed> {
        let event: RawWatchEvent<'_> = match serde_json::from_slice(line) {
            Ok(event) => event,
            Err(e) => {
                // The stream is out of step; start a fresh watch from the last good point.
                let err = ClientError::Decode(format!("bad watch event: {e}"));
                return Ok(LineOutcome::End(Err(err)));
            }
        };
        match event.type_.as_str() {
            "BOOKMARK" => {
                // A bookmark's object carries a resourceVersion and no name.
                if let Ok(MetaOnly { metadata }) = serde_json::from_str(event.object.get())
                    && !metadata.resource_version.is_empty()
                {
                    *resume_from = Some(metadata.resource_version);
                }
                Ok(LineOutcome::Continue)
            }
            "ERROR" => {
                let status: Status = serde_json::from_str(event.object.get()).unwrap_or_default();
                if status.code == 410 {
                    return Ok(LineOutcome::End(Ok(StreamEnd::Relist)));
                }
                Ok(LineOutcome::End(Err(ClientError::api(status))))
            }
            kind @ ("ADDED" | "MODIFIED" | "DELETED") => {
                let deleted = kind == "DELETED";
                let Some(meta) = Meta::of(event.object) else {
                    let err = ClientError::Decode("watch event object without metadata".into());
                    return Ok(LineOutcome::End(Err(err)));
                };
                let object = match decode_object::<T>(event.object) {
                    Ok(object) => object,
                    Err(err) => {
                        self.report(err).await?;
                        *resume_from = Some(meta.resource_version);
                        return Ok(LineOutcome::Continue);
                    }
                };
                *resume_from = Some(meta.resource_version.clone());
                if deleted {
                    self.deliver_deleted(&meta, object).await?;
                } else {
                    self.deliver_current(meta, object).await?;
                }
                Ok(LineOutcome::Continue)
            }
            other => {
                tracing::debug!(
                    kind = <T as Resource>::KIND,
                    event = other,
                    "ignoring unknown watch event type"
                );
                Ok(LineOutcome::Continue)
            }
        }
    }

    /// A delete is delivered only for an object the consumer has (same uid).
    async fn deliver_deleted(&mut self, meta: &Meta, object: T) -> Result<(), Closed> {
        let ours = self
            .delivered
            .get(&meta.key)
            .is_some_and(|known| known.uid == meta.uid || meta.uid.is_empty());
        if !ours {
            return Ok(());
        }
        self.delivered.remove(&meta.key);
        self.send(WatchEvent::Deleted(object)).await
    }
}

enum LineOutcome {
    Continue,
    End(Result<StreamEnd, ClientError>),
}

/// A watch event line, its object left as text until we know what to decode it into.
#[derive(Deserialize)]
struct RawWatchEvent<'a> {
    #[serde(rename = "type")]
    type_: String,
    #[serde(borrow)]
    object: &'a RawValue,
}

/// The identity fields the watcher tracks.
struct Meta {
    key: Key,
    uid: String,
    resource_version: String,
}

/// Just the `metadata` fields of an object; the rest of its text is skipped.
#[derive(Deserialize)]
struct MetaOnly {
    metadata: MetaFields,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetaFields {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    resource_version: String,
}

impl Meta {
    /// `None` for an object without a name (or whose metadata is not an object of strings).
    fn of(object: &RawValue) -> Option<Meta> {
        let MetaOnly { metadata } = serde_json::from_str(object.get()).ok()?;
        if metadata.name.is_empty() {
            return None;
        }
        Some(Meta {
            key: (metadata.namespace, metadata.name),
            uid: metadata.uid,
            resource_version: metadata.resource_version,
        })
    }
}

/// Whether `candidate` is later than `delivered`. Our resourceVersions are one global
/// counter, so numeric order is meaningful; anything unparsable counts as newer if it
/// differs (the Kubernetes rule of treating versions as opaque).
fn is_newer(candidate: &str, delivered: &str) -> bool {
    match (candidate.parse::<u64>(), delivered.parse::<u64>()) {
        (Ok(c), Ok(d)) => c > d,
        _ => candidate != delivered,
    }
}

fn decode_object<T: DeserializeOwned>(object: &RawValue) -> Result<T, ClientError> {
    serde_json::from_str(object.get())
        .map_err(|e| ClientError::Decode(format!("watch object does not decode: {e}")))
}

/// The next data frame of a body, skipping trailers.
async fn next_data(body: &mut Incoming) -> Result<Option<bytes::Bytes>, hyper::Error> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(e),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_versions_compare_numerically() {
        assert!(is_newer("10", "9"));
        assert!(!is_newer("9", "10"));
        assert!(!is_newer("10", "10"));
        assert!(is_newer("abc", "abd"));
        assert!(!is_newer("abc", "abc"));
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn meta_reads_key_uid_and_version() {
        let object = raw(
            r#"{"spec":{"x":[1,{"name":"inner"}]},"metadata":{"name":"n","namespace":"ns","uid":"u","resourceVersion":"7","labels":{"a":"b"}}}"#,
        );
        let meta = Meta::of(&object).expect("meta");
        assert_eq!(meta.key, ("ns".to_string(), "n".to_string()));
        assert_eq!(meta.uid, "u");
        assert_eq!(meta.resource_version, "7");
        assert!(Meta::of(&raw(r#"{"metadata":{}}"#)).is_none());
        assert!(Meta::of(&raw(r#"{"kind":"X"}"#)).is_none());
        assert!(Meta::of(&raw(r#"{"metadata":{"name":7}}"#)).is_none());
        let cluster_scoped = Meta::of(&raw(r#"{"metadata":{"name":"n"}}"#)).unwrap();
        assert_eq!(cluster_scoped.key, (String::new(), "n".to_string()));
    }

    #[test]
    fn event_lines_keep_their_object_as_text() {
        let line =
            br#"{"type":"BOOKMARK","object":{"kind":"Lease","metadata":{"resourceVersion":"42"}}}"#;
        let event: RawWatchEvent<'_> = serde_json::from_slice(line).unwrap();
        assert_eq!(event.type_, "BOOKMARK");
        let MetaOnly { metadata } = serde_json::from_str(event.object.get()).unwrap();
        assert_eq!(metadata.resource_version, "42");
        let line = br#"{"type":"ADDED","object":{"metadata":{"name":"a\"b"},"spec":{}}}"#;
        let event: RawWatchEvent<'_> = serde_json::from_slice(line).unwrap();
        assert_eq!(Meta::of(event.object).unwrap().key.1, "a\"b");
    }
}
