//! The one error type of the store.

use crate::key::Key;

/// Everything a store operation can fail with.
///
/// The apiserver maps these onto Kubernetes statuses: `NotFound` -> 404, `AlreadyExists` -> 409,
/// `Conflict` -> 409 (reason Conflict), `Gone`/`Expired` -> 410, the rest -> 500.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No object is stored under the key.
    #[error("object not found: {0}")]
    NotFound(Key),

    /// `create` found an object already stored under the key.
    #[error("object already exists: {0}")]
    AlreadyExists(Key),

    /// The caller's expected resource version is not the stored one.
    #[error("resource version conflict: expected {expected}, actual {actual}")]
    Conflict {
        /// The resource version the caller based its change on.
        expected: u64,
        /// The resource version actually stored.
        actual: u64,
    },

    /// A watch asked to start before the oldest event still retained; the client must re-list.
    /// The message is Kubernetes' own wording.
    #[error("too old resource version: {requested} ({oldest})")]
    Gone {
        /// The resource version the watch asked to start after.
        requested: u64,
        /// The oldest resource version a watch may start from now.
        oldest: u64,
    },

    /// A watcher fell too far behind the writers and was closed; it must re-watch from the last
    /// resource version it saw (or re-list if that is gone too).
    #[error("watch expired: the watcher fell behind after resource version {last_rv}")]
    Expired {
        /// The last resource version delivered to this watcher.
        last_rv: u64,
    },

    /// The key cannot be stored (empty resource or name, or a NUL byte in a part).
    #[error("invalid key: {0}")]
    InvalidKey(String),

    /// The value is not a JSON object, so it cannot carry `metadata.resourceVersion`.
    #[error("invalid object: {0}")]
    InvalidObject(String),

    /// The store was closed; no more writes are accepted.
    #[error("store is closed")]
    Closed,

    /// The data directory could not be used.
    #[error("failed to access the data directory: {0}")]
    Io(#[from] std::io::Error),

    /// The storage engine failed (the write was not made durable).
    #[error("storage backend failed: {0}")]
    Backend(String),

    /// Stored data could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True for the errors that Kubernetes reports as 410 Gone (re-list or re-watch needed).
    pub fn is_gone(&self) -> bool {
        matches!(self, StoreError::Gone { .. } | StoreError::Expired { .. })
    }
}
