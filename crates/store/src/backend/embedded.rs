//! The default backend: a redb file under the data directory, an in-memory cache for reads,
//! a group-commit writer thread for writes, and a hub for watches.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::Backend;
use super::redb::{self, RedbFile};
use super::wal::Wal;
use crate::cache::Cache;
use crate::hub::Hub;
use crate::key::Key;
use crate::watch::{BoxFuture, Watch};
use crate::writer::{Message, Op, Writer};
use crate::{JsonSnapshot, StoreError, Stored, StoredJson};

/// Tuning of the embedded backend.
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// How many recent events are kept for watches resuming from a resource version.
    pub history_capacity: usize,
    /// How many events one resource's watchers may fall behind before they are expired.
    pub watch_buffer: usize,
    /// The most writes committed in one transaction.
    pub max_batch: usize,
    /// How many writes may wait for the writer before callers are held back.
    pub queue_capacity: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            history_capacity: 10_000,
            watch_buffer: 4_096,
            max_batch: 1_024,
            queue_capacity: 8_192,
        }
    }
}

/// The embedded, durable backend.
pub struct Embedded {
    cache: Arc<Cache>,
    hub: Arc<Hub>,
    writes: mpsc::Sender<Message>,
}

impl Embedded {
    /// Opens (or creates) the store in `data_dir` and starts its writer thread.
    pub fn open(data_dir: &Path, options: EmbeddedOptions) -> Result<Self, StoreError> {
        let file = RedbFile::open(data_dir)?;
        let (mut wal, logged) = Wal::open(data_dir)?;
        // Batches acknowledged after the last checkpoint: into redb before anything is read.
        let checkpointed = file.revision()?;
        let mut replay = BTreeMap::new();
        let mut replayed_revision = checkpointed;
        for batch in logged {
            if batch.revision <= replayed_revision {
                continue;
            }
            replayed_revision = batch.revision;
            redb::collapse(&mut replay, batch.mutations);
        }
        if replayed_revision > checkpointed {
            tracing::info!(
                from = checkpointed,
                to = replayed_revision,
                objects = replay.len(),
                "replaying the store log"
            );
            file.commit(replay.values(), replayed_revision)?;
        }
        wal.reset()?;
        let loaded = file.load()?;
        tracing::info!(
            data_dir = %data_dir.display(),
            revision = loaded.revision,
            objects = loaded.objects.len(),
            "store opened"
        );
        let cache = Arc::new(Cache::new(loaded.objects, loaded.revision));
        let hub = Arc::new(Hub::new(
            loaded.revision,
            options.history_capacity,
            options.watch_buffer,
        ));
        let (writes, inbox) = mpsc::channel(options.queue_capacity.max(1));
        let writer = Writer {
            file,
            wal,
            cache: Arc::clone(&cache),
            hub: Arc::clone(&hub),
            revision: loaded.revision,
            max_batch: options.max_batch.max(1),
            pending: BTreeMap::new(),
            pending_since: None,
        };
        // Only a timer for the writer's checkpoint deadline; built here so a failure is an
        // open error, not a dead writer.
        let timer = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(timer, inbox))?;
        Ok(Embedded { cache, hub, writes })
    }

    async fn write(&self, op: Op) -> Result<Stored, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(Message::Write(op, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

impl Backend for Embedded {
    fn get<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Stored, StoreError>> {
        let found = match self.cache.get(key) {
            Some(entry) => entry.parse(key),
            None => Err(StoreError::NotFound(key.clone())),
        };
        Box::pin(async move { found })
    }

    fn get_json<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<StoredJson, StoreError>> {
        let found = match self.cache.get(key) {
            Some(entry) => Ok(StoredJson {
                namespace: key.namespace.clone(),
                name: key.name.clone(),
                rv: entry.rv,
                json: entry.json,
            }),
            None => Err(StoreError::NotFound(key.clone())),
        };
        Box::pin(async move { found })
    }

    fn list<'a>(
        &'a self,
        resource: &'a str,
        namespace: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(Vec<Stored>, u64), StoreError>> {
        let (entries, revision) = self.cache.list(resource, namespace);
        let listed = entries
            .iter()
            .map(StoredJson::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(|objects| (objects, revision));
        Box::pin(async move { listed })
    }

    fn list_json<'a>(
        &'a self,
        resource: &'a str,
        namespace: Option<&'a str>,
    ) -> BoxFuture<'a, Result<JsonSnapshot, StoreError>> {
        let listed = self.cache.list(resource, namespace);
        Box::pin(async move { Ok(listed) })
    }

    fn create<'a>(
        &'a self,
        key: &'a Key,
        object: Value,
    ) -> BoxFuture<'a, Result<Stored, StoreError>> {
        Box::pin(async move {
            key.validate()?;
            self.write(Op::Create {
                key: key.clone(),
                object,
            })
            .await
        })
    }

    fn update<'a>(
        &'a self,
        key: &'a Key,
        object: Value,
        expected_rv: Option<u64>,
    ) -> BoxFuture<'a, Result<Stored, StoreError>> {
        Box::pin(async move {
            key.validate()?;
            self.write(Op::Update {
                key: key.clone(),
                object,
                expected_rv,
            })
            .await
        })
    }

    fn delete<'a>(
        &'a self,
        key: &'a Key,
        expected_rv: Option<u64>,
    ) -> BoxFuture<'a, Result<Stored, StoreError>> {
        Box::pin(async move {
            key.validate()?;
            self.write(Op::Delete {
                key: key.clone(),
                expected_rv,
            })
            .await
        })
    }

    fn watch<'a>(
        &'a self,
        resource: &'a str,
        namespace: Option<&'a str>,
        from_rv: u64,
    ) -> BoxFuture<'a, Result<Watch, StoreError>> {
        let watch = self
            .hub
            .subscribe(resource, namespace, from_rv)
            .map(|source| Watch::new(Box::new(source)));
        Box::pin(async move { watch })
    }

    fn watch_name<'a>(
        &'a self,
        resource: &'a str,
        namespace: Option<&'a str>,
        name: &'a str,
        from_rv: u64,
    ) -> BoxFuture<'a, Result<Watch, StoreError>> {
        let watch = self
            .hub
            .subscribe_name(resource, namespace, name, from_rv)
            .map(|source| Watch::new(Box::new(source)));
        Box::pin(async move { watch })
    }

    fn current_revision(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        let revision = self.cache.revision();
        Box::pin(async move { Ok(revision) })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let (done, closed) = oneshot::channel();
            if self.writes.send(Message::Close(done)).await.is_err() {
                return Ok(()); // already closed
            }
            // The writer drops the sender only after releasing the database either way.
            let _ = closed.await;
            Ok(())
        })
    }
}
