//! Watch streams: `{"type":...,"object":...}` JSON lines over a chunked response.
//!
//! Each watcher is one lazily polled stream (no task, no thread): it owns a store watch, a
//! bookmark timer and a deadline, and produces the next line only when hyper asks for it, so a
//! slow client slows only its own stream and the store's bounded per-watcher buffer decides
//! when it is too far behind (then it gets a 410 ERROR event and the stream ends).

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use http::{HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Frame;
use protocol::meta::{ListMeta, Status, WatchEvent};
use rand::Rng;
use serde_json::Value;
use tokio::time::{Instant, Interval};

use super::Call;
use super::negotiate::ResponseFormat;
use super::object::meta_str;
use super::query::{DEFAULT_WATCH_SECONDS, ListOptions};
use super::read::{matches, to_table};
use super::response::store_error;
use crate::body::Body;

impl Call<'_> {
    /// `GET ...?watch=true` (or `/watch/...`).
    pub(super) async fn watch(&self) -> Result<http::Response<Body>, Status> {
        let mut options = self.list_options()?;
        // `/watch/.../<name>` watches one object.
        if !self.info.name.is_empty() {
            options.field_selector = super::selectors::FieldSelector::parse(
                &format!("metadata.name={}", self.info.name),
                self.def.plural,
            )?;
        }
        let namespace = (self.def.namespaced && !self.info.namespace.is_empty())
            .then(|| self.info.namespace.clone());
        let resource = self.def.store_resource();
        let format = self.response_format(&options);
        let filtered = !options.field_selector.is_empty() || !options.label_selector.is_empty();

        let mut pending = VecDeque::new();
        let mut members = HashSet::new();
        let start_rv = match options.resource_version {
            // Absent or "0": the current state as ADDED events, then changes.
            None | Some(0) => {
                let (items, rv) = self.snapshot(&options, namespace.as_deref()).await?;
                for item in items.iter().filter(|i| matches(&options, &i.object)) {
                    if filtered {
                        members.insert(identity(&item.object));
                    }
                    pending.push_back(("ADDED", item.object.as_ref().clone()));
                }
                rv
            }
            Some(rv) => {
                if filtered {
                    // Objects matching now approximate "matched at rv", so that a later
                    // change moving them out of the selector is reported as DELETED.
                    let (items, _) = self.snapshot(&options, namespace.as_deref()).await?;
                    members.extend(
                        items
                            .iter()
                            .filter(|i| matches(&options, &i.object))
                            .map(|i| identity(&i.object)),
                    );
                }
                rv
            }
        };

        // One object (a kubelet waiting for its CSR): a watch of that name only, so each
        // write wakes its own watchers instead of every watcher of the resource.
        let store_watch = match self.single_object(&options, namespace.as_deref()) {
            Some(name) => {
                self.store()
                    .watch_name(&resource, namespace.as_deref(), name, start_rv)
                    .await
            }
            None => {
                self.store()
                    .watch(&resource, namespace.as_deref(), start_rv)
                    .await
            }
        };
        let timeout = options.timeout_seconds.map_or_else(
            || {
                // Jitter spreads the re-watches of many clients started together.
                let base = DEFAULT_WATCH_SECONDS;
                Duration::from_secs(rand::rng().random_range(base..base * 2))
            },
            Duration::from_secs,
        );
        let mut state = WatchState {
            def_api_version: self.def.api_version(),
            def_kind: self.def.kind,
            store_resource: resource.clone(),
            format,
            options,
            filtered,
            members,
            pending: VecDeque::new(),
            watch: None,
            deadline: Instant::now() + timeout,
            closing: self.api.closing.subscribe(),
            bookmarks: None,
            last_rv: start_rv,
            done: false,
            sent_columns: false,
        };
        for (kind, object) in pending {
            state.queue(kind, object);
        }
        match store_watch {
            Ok(watch) => state.watch = Some(watch),
            Err(e) if e.is_gone() => {
                state.pending.clear();
                state.queue_error(&Status::gone(e.to_string()));
                state.done = true;
            }
            Err(e) => return Err(store_error(self.def, "", e)),
        }
        if state.options.allow_watch_bookmarks {
            let period = self.api.bookmark_interval;
            let mut interval = tokio::time::interval_at(Instant::now() + period, period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            state.bookmarks = Some(interval);
        }

        let stream = futures::stream::unfold(state, |mut state| async move {
            state.next_line().await.map(|line| (line, state))
        })
        .boxed();
        let body = WatchBody {
            lines: Mutex::new(stream),
        }
        .boxed();
        let mut response = http::Response::new(body);
        *response.status_mut() = StatusCode::OK;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(response)
    }
}

/// `(namespace, name)` of an object.
impl Call<'_> {
    /// The name when the selector is exactly `metadata.name=<x>` on a path that names the
    /// object's scope (cluster-scoped, or namespaced with a namespace).
    fn single_object<'o>(
        &self,
        options: &'o ListOptions,
        namespace: Option<&str>,
    ) -> Option<&'o str> {
        options
            .field_selector
            .single_name()
            .filter(|_| self.def.namespaced == namespace.is_some())
    }

    /// The current objects the watch starts from (selectors are applied by the caller): a
    /// point read for one named object (every bootstrapping kubelet watches its CSR so; a
    /// list here made each such watch cost as much as all CSRs), else the whole collection.
    async fn snapshot(
        &self,
        options: &ListOptions,
        namespace: Option<&str>,
    ) -> Result<(Vec<store::Stored>, u64), Status> {
        let Some(name) = self.single_object(options, namespace) else {
            return self
                .store()
                .list(&self.def.store_resource(), namespace)
                .await
                .map_err(|e| store_error(self.def, "", e));
        };
        // Revision first, so no later change is missed. The object may be newer than it:
        // then start from the object's own revision, which is exact for a watch of this one
        // name (no event of the name lies between the two).
        let revision = self
            .store()
            .current_revision()
            .await
            .map_err(|e| store_error(self.def, "", e))?;
        match self.store().get(&self.key(name)).await {
            Ok(item) => {
                let rv = revision.max(item.rv);
                Ok((vec![item], rv))
            }
            Err(store::StoreError::NotFound(_) | store::StoreError::InvalidKey(_)) => {
                Ok((Vec::new(), revision))
            }
            Err(e) => Err(store_error(self.def, name, e)),
        }
    }
}

fn identity(object: &Value) -> (String, String) {
    (
        meta_str(object, "namespace").to_string(),
        meta_str(object, "name").to_string(),
    )
}

struct WatchState {
    def_api_version: String,
    def_kind: &'static str,
    /// The store resource, to print Table rows.
    store_resource: String,
    format: ResponseFormat,
    options: ListOptions,
    /// Whether selectors apply (then `members` tracks which objects are inside them).
    filtered: bool,
    members: HashSet<(String, String)>,
    pending: VecDeque<Bytes>,
    watch: Option<store::Watch>,
    deadline: Instant,
    /// True once the server shuts down.
    closing: tokio::sync::watch::Receiver<bool>,
    bookmarks: Option<Interval>,
    last_rv: u64,
    done: bool,
    /// Whether a Table event with column definitions went out already.
    sent_columns: bool,
}

impl WatchState {
    /// The next line to send; `None` ends the response.
    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            if let Some(line) = self.pending.pop_front() {
                return Some(line);
            }
            if self.done {
                return None;
            }
            let watch = self.watch.as_mut()?;
            let bookmark = async {
                match self.bookmarks.as_mut() {
                    Some(interval) => {
                        interval.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            // Its own receiver, so the future borrows nothing of `self` the branches use.
            let mut closing = self.closing.clone();
            let closing = async move {
                let _ = closing.wait_for(|closing| *closing).await;
            };
            tokio::select! {
                () = tokio::time::sleep_until(self.deadline) => return None,
                // Also when the API is gone (the sender dropped): nothing more will come.
                () = closing => return None,
                () = bookmark => {
                    let event = WatchEvent::bookmark(&self.def_api_version, self.def_kind, self.last_rv);
                    self.push(&event);
                }
                event = watch.next() => match event {
                    None => return None,
                    Some(Ok(event)) => self.on_event(event),
                    Some(Err(e)) => {
                        let status = if e.is_gone() {
                            Status::gone(e.to_string())
                        } else {
                            Status::internal_error(e)
                        };
                        self.queue_error(&status);
                        self.done = true;
                    }
                },
            }
        }
    }

    fn on_event(&mut self, event: store::Event) {
        self.last_rv = event.rv;
        let kind = match event.kind {
            store::EventKind::Added => "ADDED",
            store::EventKind::Modified => "MODIFIED",
            store::EventKind::Deleted => "DELETED",
        };
        if !self.filtered && matches!(self.format, ResponseFormat::Json) {
            // Nothing to look at inside: the stored text goes out as it is.
            self.push_stored(kind, &event.json);
            return;
        }
        let object = match event.parse() {
            Ok(object) => object,
            Err(e) => {
                self.queue_error(&Status::internal_error(e));
                self.done = true;
                return;
            }
        };
        let kind = if !self.filtered {
            Some(kind)
        } else {
            let id = identity(&object);
            let was_in = self.members.contains(&id);
            let is_in = event.kind != store::EventKind::Deleted && matches(&self.options, &object);
            match (was_in, is_in) {
                (false, true) => {
                    self.members.insert(id);
                    Some("ADDED")
                }
                (true, true) => Some("MODIFIED"),
                (true, false) => {
                    self.members.remove(&id);
                    Some("DELETED")
                }
                (false, false) => None,
            }
        };
        if let Some(kind) = kind {
            self.queue(kind, object);
        }
    }

    /// One event line around an object's stored JSON text, without parsing it.
    fn push_stored(&mut self, kind: &str, json: &[u8]) {
        let mut line = Vec::with_capacity(json.len() + 32);
        line.extend_from_slice(b"{\"type\":\"");
        line.extend_from_slice(kind.as_bytes());
        line.extend_from_slice(b"\",\"object\":");
        line.extend_from_slice(json);
        line.extend_from_slice(b"}\n");
        self.pending.push_back(Bytes::from(line));
    }

    /// Queues one event, as a Table row when the client asked for Tables.
    fn queue(&mut self, kind: &str, object: Value) {
        let object = match self.format {
            ResponseFormat::Json => object,
            ResponseFormat::Table { include, beta } => {
                match to_table(
                    &self.store_resource,
                    &[object],
                    include,
                    beta,
                    ListMeta::default(),
                ) {
                    Ok(mut table) => {
                        // As upstream: columns only in the first Table event; kubectl reuses
                        // the last columns it saw for events that carry none.
                        if self.sent_columns
                            && let Some(map) = table.as_object_mut()
                        {
                            map.insert("columnDefinitions".into(), Value::Array(Vec::new()));
                        }
                        self.sent_columns = true;
                        table
                    }
                    Err(status) => {
                        self.queue_error(&status);
                        return;
                    }
                }
            }
        };
        self.push(&WatchEvent {
            type_: kind.to_string(),
            object,
        });
    }

    fn queue_error(&mut self, status: &Status) {
        self.push(&WatchEvent::error(status));
    }

    fn push(&mut self, event: &WatchEvent) {
        match serde_json::to_vec(event) {
            Ok(mut line) => {
                line.push(b'\n');
                self.pending.push_back(Bytes::from(line));
            }
            Err(e) => tracing::error!(error = %e, "failed to encode a watch event"),
        }
    }
}

/// The response body of a watch. The stream is only ever polled through `&mut self`, so the
/// mutex is never contended; it exists to make the body `Sync` as the boxed body type requires.
struct WatchBody {
    lines: Mutex<BoxStream<'static, Bytes>>,
}

impl hyper::body::Body for WatchBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let lines = self
            .get_mut()
            .lines
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lines
            .poll_next_unpin(cx)
            .map(|line| line.map(|bytes| Ok(Frame::data(bytes))))
    }
}
