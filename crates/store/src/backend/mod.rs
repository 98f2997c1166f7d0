//! The storage interface the [`Store`](crate::Store) delegates to, and its implementations.
//!
//! The cut is at the level of the store's own API (not of raw key/value pages) because an
//! etcd backend would get revisions, compare-and-swap and watch from etcd itself.

pub mod embedded;
pub(crate) mod redb;
pub(crate) mod wal;

use serde_json::Value;

use crate::key::Key;
use crate::watch::{BoxFuture, Watch};
use crate::{JsonSnapshot, StoreError, Stored, StoredJson};

/// One storage implementation. All resource versions come from one global, monotonic counter.
pub trait Backend: Send + Sync + 'static {
    /// The object under `key`, or [`StoreError::NotFound`].
    fn get<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Stored, StoreError>>;

    /// As `get`, the object as its stored JSON text.
    fn get_json<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<StoredJson, StoreError>>;

    /// The objects of `resource` (in `namespace`, or all) and the revision of that snapshot.
    fn list<'a>(
        &'a self,
        resource: &'a str,
        namespace: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(Vec<Stored>, u64), StoreError>>;

    /// As `list`, each object as its stored JSON text (in the same order), for readers that
    /// decode a few fields of many objects into their own types.
    fn list_json<'a>(
        &'a self,
        resource: &'a str,
        namespace: Option<&'a str>,
    ) -> BoxFuture<'a, Result<JsonSnapshot, StoreError>>;

    /// Stores a new object; [`StoreError::AlreadyExists`] if the key is taken.
    fn create<'a>(
        &'a self,
        key: &'a Key,
        object: Value,
    ) -> BoxFuture<'a, Result<Stored, StoreError>>;

    /// Replaces an object, if `expected_rv` is given only when it is still the stored one.
    fn update<'a>(
        &'a self,
        key: &'a Key,
        object: Value,
        expected_rv: Option<u64>,
    ) -> BoxFuture<'a, Result<Stored, StoreError>>;

    /// Deletes an object (compared like `update`); returns its last state at the delete's
    /// revision.
    fn delete<'a>(
        &'a self,
        key: &'a Key,
        expected_rv: Option<u64>,
    ) -> BoxFuture<'a, Result<Stored, StoreError>>;

    /// Events of `resource` strictly after `from_rv` (`0` = from now).
    fn watch<'a>(
        &'a self,
        resource: &'a str,
        namespace: Option<&'a str>,
        from_rv: u64,
    ) -> BoxFuture<'a, Result<Watch, StoreError>>;

    /// Events of one named object strictly after `from_rv`.
    fn watch_name<'a>(
        &'a self,
        resource: &'a str,
        namespace: Option<&'a str>,
        name: &'a str,
        from_rv: u64,
    ) -> BoxFuture<'a, Result<Watch, StoreError>>;

    /// The revision of the latest change.
    fn current_revision(&self) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Stops accepting writes and releases durable resources once queued writes are done.
    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>>;
}
