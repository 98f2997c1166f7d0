//! Group commit: one writer thread takes every queued write, checks each in order against the
//! current state (plus the earlier writes of the same batch), commits them in one durable
//! transaction, and only then updates the cache, tells watchers and answers the callers.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::backend::redb::{Mutation, RedbFile};
use crate::cache::Cache;
use crate::hub::{Hub, Record};
use crate::key::Key;
use crate::watch::{Event, EventKind};
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

pub(crate) struct Writer {
    pub(crate) file: RedbFile,
    pub(crate) cache: Arc<Cache>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) revision: u64,
    pub(crate) max_batch: usize,
}

/// The outcome of one checked write, before it is durable.
struct Accepted {
    key: Key,
    stored: Option<Stored>,
    event: Event,
}

impl Writer {
    /// Runs until every sender is gone or a `Close` arrives.
    pub(crate) fn run(mut self, mut inbox: mpsc::Receiver<Message>) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while let Some(first) = inbox.blocking_recv() {
            let mut close = None;
            match first {
                Message::Write(op, reply) => batch.push((op, reply)),
                Message::Close(done) => close = Some(done),
            }
            while close.is_none() && batch.len() < self.max_batch {
                match inbox.try_recv() {
                    Ok(Message::Write(op, reply)) => batch.push((op, reply)),
                    Ok(Message::Close(done)) => close = Some(done),
                    Err(_) => break,
                }
            }
            self.commit_batch(std::mem::take(&mut batch));
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
                drop(self);
                let _ = done.send(());
                return;
            }
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
            let mut overlay: HashMap<Key, Option<Stored>> = HashMap::new();
            for (op, reply) in batch {
                let current = |key: &Key| match overlay.get(key) {
                    Some(pending) => pending.clone(),
                    None => lookup(key),
                };
                let outcome = check(op, &current, revision + 1).map(|(accepted, mutation)| {
                    revision = accepted.event.rv;
                    overlay.insert(accepted.key.clone(), accepted.stored.clone());
                    mutations.push(mutation);
                    accepted
                });
                outcomes.push((outcome, reply));
            }
        });

        if !mutations.is_empty()
            && let Err(error) = self.file.commit(&mutations, revision)
        {
            tracing::error!(%error, writes = mutations.len(), "store commit failed");
            let message = error.to_string();
            for (_, reply) in outcomes {
                let _ = reply.send(Err(StoreError::Backend(message.clone())));
            }
            return;
        }
        self.revision = revision;
        tracing::trace!(writes = outcomes.len(), revision, "committed a batch");

        let mut changes = Vec::new();
        let mut records = Vec::new();
        let mut replies = Vec::with_capacity(outcomes.len());
        for (outcome, reply) in outcomes {
            match outcome {
                Ok(accepted) => {
                    let answer = Stored {
                        rv: accepted.event.rv,
                        object: Arc::clone(&accepted.event.object),
                    };
                    changes.push((accepted.key.clone(), accepted.stored));
                    records.push(Record {
                        key: accepted.key,
                        event: accepted.event,
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
    current: &dyn Fn(&Key) -> Option<Stored>,
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
            let mut last_state = Value::clone(&existing.object);
            set_resource_version(&mut last_state, rv)?;
            let mutation = Mutation::Remove { key: key.encode() };
            let accepted = Accepted {
                key,
                stored: None,
                event: Event {
                    kind: EventKind::Deleted,
                    rv,
                    object: Arc::new(last_state),
                },
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
    let json = serde_json::to_vec(&object)
        .map_err(|e| StoreError::InvalidObject(format!("cannot serialize {key}: {e}")))?;
    let object = Arc::new(object);
    let mutation = Mutation::Put {
        key: key.encode(),
        rv,
        json,
    };
    let accepted = Accepted {
        stored: Some(Stored {
            rv,
            object: Arc::clone(&object),
        }),
        key,
        event: Event { kind, rv, object },
    };
    Ok((accepted, mutation))
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
