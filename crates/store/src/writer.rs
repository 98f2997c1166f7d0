//! Group commit: one writer thread takes every queued write, checks each in order against the
//! current state (plus the earlier writes of the same batch), makes them durable together with
//! one append to the write-ahead log, and only then updates the cache, tells watchers and
//! answers the callers. Every [`CHECKPOINT_INTERVAL`] (or sooner when much has accumulated)
//! the logged changes go into redb in one transaction and the log is emptied.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::backend::redb::{self, Mutation, RedbFile};
use crate::backend::wal::Wal;
use crate::cache::{Cache, Entry};
use crate::hub::{Hub, Record};
use crate::key::Key;
use crate::watch::EventKind;
use crate::{StoreError, Stored};

/// A write a caller asked for.
pub(crate) enum Op {
    Create {
        key: Key,
        object: Value,
    },
    Update {
        key: Key,
        object: Value,
        expected_rv: Option<u64>,
    },
    Delete {
        key: Key,
        expected_rv: Option<u64>,
    },
}

pub(crate) type Reply = oneshot::Sender<Result<Stored, StoreError>>;

pub(crate) enum Message {
    Write(Op, Reply),
    /// Finish what is queued, close the database, then answer.
    Close(oneshot::Sender<()>),
}

/// How long logged changes may wait for their checkpoint into redb (etcd's backend commits
/// every 100 ms too). Longer windows collapse more writes to one object into one.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);
/// Writes closer together than this count as load, worth a moment's wait to share an fsync.
const BUSY_GAP: Duration = Duration::from_millis(1);
/// Checkpoint sooner when this many objects wait (bounds the memory of `pending`)...
const CHECKPOINT_OBJECTS: usize = 8_192;
/// ...or when the log has grown this large (bounds the replay at start-up).
const CHECKPOINT_LOG_BYTES: u64 = 64 * 1024 * 1024;

pub(crate) struct Writer {
    pub(crate) file: RedbFile,
    pub(crate) wal: Wal,
    pub(crate) cache: Arc<Cache>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) revision: u64,
    pub(crate) max_batch: usize,
    /// Logged changes not yet in redb: the newest mutation of each key.
    pub(crate) pending: BTreeMap<String, Mutation>,
    /// When the oldest of `pending` was logged.
    pub(crate) pending_since: Option<Instant>,
}

/// The outcome of one checked write, before it is durable.
struct Accepted {
    key: Key,
    /// What the cache keeps from now on (`None`: removed).
    entry: Option<Entry>,
    kind: EventKind,
    /// The write's revision.
    rv: u64,
    /// The object as written (for `Deleted` its last state), for the writer's answer.
    object: Arc<Value>,
    /// The same as JSON, for the watch history.
    event_json: Arc<[u8]>,
}

impl Writer {
    /// Runs until every sender is gone or a `Close` arrives. `runtime` only times the wait
    /// for the next write against the checkpoint deadline; all file work is blocking, on this
    /// thread.
    pub(crate) fn run(
        mut self,
        runtime: tokio::runtime::Runtime,
        mut inbox: mpsc::Receiver<Message>,
    ) {
        let mut batch = Vec::with_capacity(self.max_batch);
        let mut last_batch_end = Instant::now();
        loop {
            let first = if self.pending.is_empty() {
                inbox.blocking_recv()
            } else {
                match runtime.block_on(async {
                    // The timer must be made inside the runtime.
                    tokio::time::timeout(CHECKPOINT_INTERVAL, inbox.recv()).await
                }) {
                    Ok(message) => message,
                    Err(_idle) => {
                        self.checkpoint();
                        continue;
                    }
                }
            };
            let Some(first) = first else { break };
            let mut close = None;
            match first {
                Message::Write(op, reply) => batch.push((op, reply)),
                Message::Close(done) => close = Some(done),
            }
            // Group commit under load: when writes come close together (the last batch ended
            // under a millisecond ago) and the inbox is empty after the first, give the CPU
            // away once (sched_yield) so request tasks about to write can join this batch's
            // fsync. A 1,000-node storm made ~2,100 log syncs without it and ~770 with it, for
            // 9 % less apiserver CPU. Sparse writes (heartbeats) are synced at once.
            let mut may_yield = last_batch_end.elapsed() < BUSY_GAP;
            while close.is_none() && batch.len() < self.max_batch {
                match inbox.try_recv() {
                    Ok(Message::Write(op, reply)) => batch.push((op, reply)),
                    Ok(Message::Close(done)) => close = Some(done),
                    Err(_) if may_yield => {
                        may_yield = false;
                        std::thread::yield_now();
                    }
                    Err(_) => break,
                }
            }
            self.commit_batch(std::mem::take(&mut batch));
            last_batch_end = Instant::now();
            if close.is_none() && self.checkpoint_due() {
                self.checkpoint();
            }
            if let Some(done) = close {
                inbox.close();
                // Answer writes that raced with the close, then release the database file.
                while let Ok(message) = inbox.try_recv() {
                    match message {
                        Message::Write(_, reply) => {
                            let _ = reply.send(Err(StoreError::Closed));
                        }
                        Message::Close(other) => {
                            let _ = other.send(());
                        }
                    }
                }
                self.checkpoint();
                drop(self);
                let _ = done.send(());
                return;
            }
        }
        self.checkpoint();
    }

    /// The oldest pending change has waited [`CHECKPOINT_INTERVAL`], or too much waits.
    fn checkpoint_due(&self) -> bool {
        self.pending_since
            .is_some_and(|since| since.elapsed() >= CHECKPOINT_INTERVAL)
            || self.pending.len() >= CHECKPOINT_OBJECTS
            || self.wal.len() >= CHECKPOINT_LOG_BYTES
    }

    /// Moves the pending changes into redb and empties the log. On failure both stay as they
    /// are (the log still holds every change) and the next checkpoint tries again.
    fn checkpoint(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if let Err(error) = self.file.commit(self.pending.values(), self.revision) {
            tracing::error!(%error, objects = self.pending.len(), "store checkpoint failed");
            return;
        }
        self.pending.clear();
        self.pending_since = None;
        if let Err(error) = self.wal.reset() {
            // Harmless for correctness: replay skips what redb already holds.
            tracing::warn!(%error, "emptying the store log failed");
        }
    }

    fn commit_batch(&mut self, batch: Vec<(Op, Reply)>) {
        if batch.is_empty() {
            return;
        }
        let start_revision = self.revision;
        let mut revision = start_revision;
        let mut outcomes: Vec<(Result<Accepted, StoreError>, Reply)> =
            Vec::with_capacity(batch.len());
        let mut mutations = Vec::with_capacity(batch.len());
        self.cache.with_lookup(|lookup| {
            // Writes earlier in this batch shadow the cache.
            let mut overlay: HashMap<Key, Option<Entry>> = HashMap::new();
            for (op, reply) in batch {
                let current = |key: &Key| match overlay.get(key) {
                    Some(pending) => pending.clone(),
                    None => lookup(key),
                };
                let outcome = check(op, &current, revision + 1).map(|(accepted, mutation)| {
                    revision = accepted.rv;
                    overlay.insert(accepted.key.clone(), accepted.entry.clone());
                    mutations.push(mutation);
                    accepted
                });
                outcomes.push((outcome, reply));
            }
        });

        if !mutations.is_empty()
            && let Err(error) = self.wal.append(&mutations, revision)
        {
            tracing::error!(%error, writes = mutations.len(), "store log append failed");
            let message = error.to_string();
            for (_, reply) in outcomes {
                let _ = reply.send(Err(StoreError::Backend(message.clone())));
            }
            return;
        }
        self.revision = revision;
        if !mutations.is_empty() && self.pending_since.is_none() {
            self.pending_since = Some(Instant::now());
        }
        redb::collapse(&mut self.pending, mutations);
        tracing::trace!(writes = outcomes.len(), revision, "committed a batch");

        let mut changes = Vec::new();
        let mut records = Vec::new();
        let mut replies = Vec::with_capacity(outcomes.len());
        for (outcome, reply) in outcomes {
            match outcome {
                Ok(accepted) => {
                    let answer = Stored {
                        rv: accepted.rv,
                        object: accepted.object,
                        json: Arc::clone(&accepted.event_json),
                    };
                    changes.push((accepted.key.clone(), accepted.entry));
                    records.push(Record {
                        key: accepted.key,
                        kind: accepted.kind,
                        entry: Entry {
                            rv: accepted.rv,
                            json: accepted.event_json,
                        },
                    });
                    replies.push((reply, Ok(answer)));
                }
                Err(error) => replies.push((reply, Err(error))),
            }
        }
        if !changes.is_empty() {
            self.cache.apply(changes, revision);
            self.hub.publish(records);
        }
        for (reply, answer) in replies {
            // A caller that gave up waiting is no error: its write is durable all the same.
            let _ = reply.send(answer);
        }
    }
}

/// Checks one write against the current state and prepares it at revision `rv`.
fn check(
    op: Op,
    current: &dyn Fn(&Key) -> Option<Entry>,
    rv: u64,
) -> Result<(Accepted, Mutation), StoreError> {
    match op {
        Op::Create { key, object } => {
            if current(&key).is_some() {
                return Err(StoreError::AlreadyExists(key));
            }
            put(key, object, rv, EventKind::Added)
        }
        Op::Update {
            key,
            object,
            expected_rv,
        } => {
            let existing = current(&key).ok_or_else(|| StoreError::NotFound(key.clone()))?;
            compare(expected_rv, existing.rv)?;
            put(key, object, rv, EventKind::Modified)
        }
        Op::Delete { key, expected_rv } => {
            let existing = current(&key).ok_or_else(|| StoreError::NotFound(key.clone()))?;
            compare(expected_rv, existing.rv)?;
            let mut last_state = Value::clone(&existing.parse(&key)?.object);
            set_resource_version(&mut last_state, rv)?;
            let event_json = serialize(&key, &last_state)?;
            let mutation = Mutation::Remove { key: key.encode() };
            let accepted = Accepted {
                key,
                entry: None,
                event_json,
                kind: EventKind::Deleted,
                rv,
                object: Arc::new(last_state),
            };
            Ok((accepted, mutation))
        }
    }
}

fn compare(expected: Option<u64>, actual: u64) -> Result<(), StoreError> {
    match expected {
        Some(expected) if expected != actual => Err(StoreError::Conflict { expected, actual }),
        _ => Ok(()),
    }
}

fn put(
    key: Key,
    mut object: Value,
    rv: u64,
    kind: EventKind,
) -> Result<(Accepted, Mutation), StoreError> {
    set_resource_version(&mut object, rv)?;
    let json = serialize(&key, &object)?;
    let mutation = Mutation::Put {
        key: key.encode(),
        rv,
        json: Arc::clone(&json),
    };
    let accepted = Accepted {
        event_json: Arc::clone(&json),
        entry: Some(Entry { rv, json }),
        key,
        kind,
        rv,
        object: Arc::new(object),
    };
    Ok((accepted, mutation))
}

fn serialize(key: &Key, object: &Value) -> Result<Arc<[u8]>, StoreError> {
    serde_json::to_vec(object)
        .map(Arc::from)
        .map_err(|e| StoreError::InvalidObject(format!("cannot serialize {key}: {e}")))
}

/// Writes `metadata.resourceVersion` as a decimal string, as Kubernetes does.
pub(crate) fn set_resource_version(object: &mut Value, rv: u64) -> Result<(), StoreError> {
    let Value::Object(fields) = object else {
        return Err(StoreError::InvalidObject(
            "the object is not a JSON object".into(),
        ));
    };
    let metadata = fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    let Value::Object(metadata) = metadata else {
        return Err(StoreError::InvalidObject(
            "metadata is not a JSON object".into(),
        ));
    };
    metadata.insert("resourceVersion".into(), Value::String(rv.to_string()));
    Ok(())
}
