//! Durable storage for the apiserver: objects as JSON, one global monotonic resource version,
//! compare-and-swap updates and watches that resume from a resource version.
//!
//! [`Store`] is the handle the apiserver uses (cheap to clone); it delegates to a [`Backend`].
//! The default backend, [`Embedded`], keeps a redb file under the data directory, answers
//! reads from memory, and makes writes durable by group commit before acknowledging them.
//! See `docs/decisions/0005-embedded-store.md`.

pub mod backend;
mod cache;
mod error;
mod hub;
mod key;
mod watch;
mod writer;

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

pub use backend::Backend;
pub use backend::embedded::{Embedded, EmbeddedOptions};
pub use error::StoreError;
pub use key::Key;
pub use watch::{BoxFuture, Event, EventKind, Watch, WatchSource};

/// An object as stored: its resource version and the JSON (which carries the same version as
/// the decimal string `metadata.resourceVersion`).
#[derive(Clone, Debug)]
pub struct Stored {
    /// The revision of the object's last change.
    pub rv: u64,
    /// The object, shared with the cache and watchers (never mutated in place).
    pub object: Arc<Value>,
    /// The same object as its stored JSON text (compact, keys sorted), for a reader that
    /// answers with it as it is.
    pub json: Arc<[u8]>,
}

/// An object as the JSON text it is stored as (what a reader that answers in JSON can send
/// on without parsing it), with its place in the listing order and its revision.
#[derive(Clone, Debug)]
pub struct StoredJson {
    /// Empty for a cluster-scoped object.
    pub namespace: String,
    pub name: String,
    /// The revision of the object's last change.
    pub rv: u64,
    /// Compact JSON, as `serde_json` writes the stored object (keys sorted).
    pub json: Arc<[u8]>,
}

impl StoredJson {
    /// The object as a tree of its own.
    pub fn parse(&self) -> Result<Stored, StoreError> {
        let what = format_args!("object {}/{} at {}", self.namespace, self.name, self.rv);
        let object = parse_text(&self.json, what)?;
        Ok(Stored {
            rv: self.rv,
            object: Arc::new(object),
            json: Arc::clone(&self.json),
        })
    }
}

/// A stored JSON text as a tree of its own; `what` names it in the error (a text that does
/// not parse means the data on disk or in memory is damaged).
pub(crate) fn parse_text(json: &[u8], what: std::fmt::Arguments<'_>) -> Result<Value, StoreError> {
    serde_json::from_slice(json).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Objects as the JSON text they are stored as, and the revision of that snapshot.
pub type JsonSnapshot = (Vec<StoredJson>, u64);

/// The store handle: cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the embedded durable store in `data_dir`, with default tuning.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_with(data_dir, EmbeddedOptions::default())
    }

    /// Opens the embedded store with explicit tuning.
    pub fn open_with(
        data_dir: impl AsRef<Path>,
        options: EmbeddedOptions,
    ) -> Result<Store, StoreError> {
        Ok(Store::with_backend(Arc::new(Embedded::open(
            data_dir.as_ref(),
            options,
        )?)))
    }

    /// A store over any backend (e.g. a future etcd one).
    pub fn with_backend(backend: Arc<dyn Backend>) -> Store {
        Store { backend }
    }

    /// The object under `key`, or [`StoreError::NotFound`].
    pub async fn get(&self, key: &Key) -> Result<Stored, StoreError> {
        self.backend.get(key).await
    }

    /// The objects of `resource` (`"<group>/<plural>"`), in one namespace or all, sorted by
    /// namespace then name, and the revision of that snapshot (watch from it to miss nothing).
    pub async fn list(
        &self,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<(Vec<Stored>, u64), StoreError> {
        self.backend.list(resource, namespace).await
    }

    /// As [`Store::get`], the object as the JSON text it is stored as, not parsed.
    pub async fn get_json(&self, key: &Key) -> Result<StoredJson, StoreError> {
        self.backend.get_json(key).await
    }

    /// As [`Store::list`], each object as the JSON text it is stored as, not parsed: for a
    /// reader that needs a few fields of thousands of objects (it decodes them into its own
    /// small type instead of building a whole tree per object), or answers with the text.
    pub async fn list_json(
        &self,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<JsonSnapshot, StoreError> {
        self.backend.list_json(resource, namespace).await
    }

    /// Stores a new object at a new revision; resolves once it is durable.
    pub async fn create(&self, key: &Key, object: Value) -> Result<Stored, StoreError> {
        self.backend.create(key, object).await
    }

    /// Replaces an object. With `expected_rv`, only if that is still the stored revision
    /// (else [`StoreError::Conflict`]). Resolves once durable.
    pub async fn update(
        &self,
        key: &Key,
        object: Value,
        expected_rv: Option<u64>,
    ) -> Result<Stored, StoreError> {
        self.backend.update(key, object, expected_rv).await
    }

    /// Deletes an object (compared like [`Store::update`]); returns its last state with the
    /// delete's own revision. Resolves once durable.
    pub async fn delete(&self, key: &Key, expected_rv: Option<u64>) -> Result<Stored, StoreError> {
        self.backend.delete(key, expected_rv).await
    }

    /// Events of `resource` (optionally one namespace) strictly after `from_rv`; `0` means
    /// from now. [`StoreError::Gone`] if `from_rv` is older than the retained history.
    pub async fn watch(
        &self,
        resource: &str,
        namespace: Option<&str>,
        from_rv: u64,
    ) -> Result<Watch, StoreError> {
        self.backend.watch(resource, namespace, from_rv).await
    }

    /// Events of one object (`resource`, namespace or `None` for cluster-scoped, `name`)
    /// strictly after `from_rv`, as [`Store::watch`] filtered to that name, but woken only by
    /// that object's changes (thousands of kubelets each watching their own CSR).
    pub async fn watch_name(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
        from_rv: u64,
    ) -> Result<Watch, StoreError> {
        self.backend
            .watch_name(resource, namespace, name, from_rv)
            .await
    }

    /// The revision of the latest change.
    pub async fn current_revision(&self) -> Result<u64, StoreError> {
        self.backend.current_revision().await
    }

    /// Finishes queued writes and releases the data directory; later writes fail with
    /// [`StoreError::Closed`]. Reads keep answering from memory.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.backend.close().await
    }
}
