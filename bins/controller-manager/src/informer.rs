//! One watch on CertificateSigningRequests feeding a local cache and the controllers' queues
//! (upstream's shared informer): every add, change and delete queues the CSR's name; workers
//! read the newest copy from the cache when they get to it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use client::{Client, ListParams, WatchEvent};
use protocol::certificates::v1::CertificateSigningRequest;

use crate::csr::is_newer_or_same;
use crate::queue::WorkQueue;

/// The newest copy of every CSR we have seen.
#[derive(Debug, Default)]
pub struct CsrCache {
    objects: RwLock<HashMap<String, Arc<CertificateSigningRequest>>>,
}

impl CsrCache {
    pub fn get(&self, name: &str) -> Option<Arc<CertificateSigningRequest>> {
        self.objects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Stores `csr` unless the cache already holds a newer copy (a PUT's answer can arrive
    /// before the watch event of an older write).
    pub fn upsert(&self, csr: CertificateSigningRequest) {
        let mut objects = self.objects.write().unwrap_or_else(|e| e.into_inner());
        let newer = objects.get(&csr.metadata.name).is_none_or(|current| {
            is_newer_or_same(
                &csr.metadata.resource_version,
                &current.metadata.resource_version,
            )
        });
        if newer {
            objects.insert(csr.metadata.name.clone(), Arc::new(csr));
        }
    }

    pub fn remove(&self, name: &str) {
        self.objects
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    /// Calls `f` on every CSR, under the read lock (keep `f` short).
    pub fn for_each(&self, mut f: impl FnMut(&CertificateSigningRequest)) {
        for csr in self
            .objects
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            f(csr);
        }
    }

    pub fn len(&self) -> usize {
        self.objects.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Watches until the task is dropped; a watcher that ends (it only does when its task died) is
/// replaced after a second.
pub async fn run(client: Client, cache: Arc<CsrCache>, queues: Vec<Arc<WorkQueue>>) {
    loop {
        let mut watcher = client.watch::<CertificateSigningRequest>(None, ListParams::default());
        while let Some(event) = watcher.next().await {
            let event = match event {
                Ok(event) => event,
                Err(error) => {
                    // The watcher re-lists and resumes by itself; it reports so we can log.
                    tracing::warn!(%error, "CSR watch interrupted; resuming");
                    continue;
                }
            };
            let name = event.object().metadata.name.clone();
            match event {
                WatchEvent::Added(csr) | WatchEvent::Modified(csr) => cache.upsert(csr),
                WatchEvent::Deleted(_) => cache.remove(&name),
            }
            for queue in &queues {
                queue.add(&name).await;
            }
        }
        tracing::warn!("CSR watch ended; starting a new one");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(name: &str, rv: &str, certificate: &[u8]) -> CertificateSigningRequest {
        let mut csr = CertificateSigningRequest::default();
        csr.metadata.name = name.to_string();
        csr.metadata.resource_version = rv.to_string();
        csr.status.certificate = certificate.to_vec();
        csr
    }

    #[test]
    fn an_older_copy_never_replaces_a_newer_one() {
        let cache = CsrCache::default();
        cache.upsert(csr("a", "5", b""));
        cache.upsert(csr("a", "7", b"cert"));
        cache.upsert(csr("a", "6", b""));
        assert_eq!(cache.get("a").unwrap().status.certificate, b"cert");
        assert_eq!(cache.len(), 1);
        cache.remove("a");
        assert!(cache.get("a").is_none());
    }
}
