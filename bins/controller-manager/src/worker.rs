//! The loop every controller runs N times: take a name from the queue, sync it, and decide
//! what happens to the name next (forget, retry with backoff, or look again at once).

use std::future::Future;
use std::sync::Arc;

use crate::queue::WorkQueue;

/// Why a sync did not finish the work for a name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// Expected and retried with backoff; logged only at debug level (upstream's ignorable
    /// errors, e.g. a SubjectAccessReview that did not allow approval yet).
    #[error("{0}")]
    Quiet(String),
    /// Retried with backoff and logged.
    #[error("{0}")]
    Retry(String),
    /// The object changed under us and the cache has the new copy: look again now.
    #[error("the object changed; looking again")]
    Again,
    /// Nothing to do before this much time has passed: look again then (not a failure).
    #[error("not due for {0:?}")]
    NotYet(std::time::Duration),
}

/// One controller's per-name logic.
pub trait Handler: Send + Sync + 'static {
    /// Used in logs.
    fn name(&self) -> &'static str;
    fn sync(&self, key: &str) -> impl Future<Output = Result<(), SyncError>> + Send;
}

/// Processes names until the queue shuts down.
pub async fn work<H: Handler>(handler: Arc<H>, queue: Arc<WorkQueue>) {
    while let Some(key) = queue.get().await {
        match handler.sync(&key).await {
            Ok(()) => queue.forget(&key),
            Err(SyncError::Again) => {
                // The key is held by us, so this never waits; it comes back after `done`.
                queue.add(&key).await;
            }
            Err(SyncError::NotYet(delay)) => {
                queue.forget(&key);
                queue.add_after(&key, delay);
            }
            Err(SyncError::Quiet(message)) => {
                let delay = queue.add_rate_limited(&key);
                tracing::debug!(controller = handler.name(), csr = %key, ?delay, "{message}");
            }
            Err(SyncError::Retry(message)) => {
                let delay = queue.add_rate_limited(&key);
                tracing::warn!(controller = handler.name(), csr = %key, ?delay, "{message}");
            }
        }
        queue.done(&key);
    }
}
