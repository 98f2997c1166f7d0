//! Watch events and the backend-neutral [`Watch`] handle.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::StoreError;

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The object was created.
    Added,
    /// The object was updated.
    Modified,
    /// The object was deleted; the event carries its last state.
    Deleted,
}

/// One change, in resource-version order.
#[derive(Clone, Debug)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The revision of this change (for `Deleted`, the delete's own revision).
    pub rv: u64,
    /// The object after the change, as its stored JSON text (compact, keys sorted); for
    /// `Deleted` its last state, with `metadata.resourceVersion` set to the delete's revision
    /// as Kubernetes does. Kept as text: a watcher that answers in JSON sends it on as it is,
    /// and only one that must look inside (a selector, a table, a cache) parses it.
    pub json: Arc<[u8]>,
}

impl Event {
    /// The object as a tree of its own.
    pub fn parse(&self) -> Result<Value, StoreError> {
        crate::parse_text(&self.json, format_args!("event at {}", self.rv))
    }
}

/// A boxed, sendable future, as the object-safe traits of this crate return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The source of a [`Watch`]'s events; each backend has its own.
pub trait WatchSource: Send {
    /// The next event; `None` once the watch has ended. After an `Err` the watch ends.
    fn next_event(&mut self) -> BoxFuture<'_, Option<Result<Event, StoreError>>>;
}

/// A stream of events for one resource (optionally one namespace), strictly after the
/// resource version it was started from. A watcher that falls too far behind gets one
/// [`StoreError::Expired`] and then the end of the stream.
pub struct Watch {
    source: Box<dyn WatchSource>,
}

impl Watch {
    /// Wraps a backend's event source.
    pub fn new(source: Box<dyn WatchSource>) -> Self {
        Watch { source }
    }

    /// The next event; `None` when the watch has ended.
    pub async fn next(&mut self) -> Option<Result<Event, StoreError>> {
        self.source.next_event().await
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}
