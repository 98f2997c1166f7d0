//! The in-memory copy of every stored object, so reads and lists never touch disk.
//!
//! Only the writer changes it, after each durable commit, together with the revision, so a
//! list is a consistent snapshot at the revision it reports.
//!
//! Objects are kept as the JSON the writer logged, not as `serde_json::Value` trees: a tree
//! takes about three times the bytes of its text (a `BTreeMap` leaf per JSON object, however
//! few its fields), and at 10,000 nodes that was ~200 MiB of the apiserver's memory. A read
//! parses its copy, outside the lock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use crate::key::Key;
use crate::{StoreError, Stored, StoredJson};

/// One object as the cache and the watch history keep it: its revision and its JSON text.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) rv: u64,
    pub(crate) json: Arc<[u8]>,
}

impl Entry {
    /// The object as callers see it: a fresh tree of its own. `what` names it in an error.
    pub(crate) fn parse(&self, what: &dyn std::fmt::Display) -> Result<Stored, StoreError> {
        let object = crate::parse_text(&self.json, format_args!("object {what} at {}", self.rv))?;
        Ok(Stored {
            rv: self.rv,
            object: Arc::new(object),
            json: Arc::clone(&self.json),
        })
    }
}

type Names = BTreeMap<String, Entry>;
type Namespaces = BTreeMap<String, Names>;

pub(crate) struct Cache {
    state: RwLock<CacheState>,
}

#[derive(Default)]
struct CacheState {
    /// resource -> namespace -> name -> object; sorted like Kubernetes lists are.
    objects: HashMap<String, Namespaces>,
    revision: u64,
}

impl CacheState {
    fn get(&self, key: &Key) -> Option<&Entry> {
        self.objects
            .get(&key.resource)?
            .get(&key.namespace)?
            .get(&key.name)
    }

    fn put(&mut self, key: &Key, stored: Entry) {
        self.objects
            .entry(key.resource.clone())
            .or_default()
            .entry(key.namespace.clone())
            .or_default()
            .insert(key.name.clone(), stored);
    }

    fn remove(&mut self, key: &Key) {
        let Some(namespaces) = self.objects.get_mut(&key.resource) else {
            return;
        };
        if let Some(names) = namespaces.get_mut(&key.namespace) {
            names.remove(&key.name);
            if names.is_empty() {
                namespaces.remove(&key.namespace);
            }
        }
        if namespaces.is_empty() {
            self.objects.remove(&key.resource);
        }
    }
}

/// The objects of one namespace, each with its place in the listing order.
fn named<'a>(namespace: &'a str, names: &'a Names) -> impl Iterator<Item = StoredJson> + 'a {
    names.iter().map(move |(name, entry)| StoredJson {
        namespace: namespace.to_string(),
        name: name.clone(),
        rv: entry.rv,
        json: Arc::clone(&entry.json),
    })
}

impl Cache {
    /// A cache holding what was loaded from disk.
    pub(crate) fn new(objects: Vec<(Key, Entry)>, revision: u64) -> Self {
        let mut state = CacheState {
            objects: HashMap::new(),
            revision,
        };
        for (key, stored) in objects {
            state.put(&key, stored);
        }
        Cache {
            state: RwLock::new(state),
        }
    }

    pub(crate) fn get(&self, key: &Key) -> Option<Entry> {
        self.read(|state| state.get(key).cloned())
    }

    /// The objects of a resource (all namespaces, or one), sorted by namespace then name, and
    /// the revision they are current at.
    pub(crate) fn list(&self, resource: &str, namespace: Option<&str>) -> (Vec<StoredJson>, u64) {
        self.read(|state| {
            let items = match state.objects.get(resource) {
                None => Vec::new(),
                Some(namespaces) => match namespace {
                    Some(namespace) => namespaces
                        .get_key_value(namespace)
                        .map(|(namespace, names)| named(namespace, names).collect())
                        .unwrap_or_default(),
                    None => namespaces
                        .iter()
                        .flat_map(|(namespace, names)| named(namespace, names))
                        .collect(),
                },
            };
            (items, state.revision)
        })
    }

    pub(crate) fn revision(&self) -> u64 {
        self.read(|state| state.revision)
    }

    /// Runs `f` with a lookup function over the current state (one read lock for a whole batch).
    pub(crate) fn with_lookup<R>(&self, f: impl FnOnce(&dyn Fn(&Key) -> Option<Entry>) -> R) -> R {
        self.read(|state| f(&|key: &Key| state.get(key).cloned()))
    }

    /// Applies a committed batch: `None` removes the key.
    pub(crate) fn apply(&self, changes: Vec<(Key, Option<Entry>)>, revision: u64) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        for (key, change) in changes {
            match change {
                Some(stored) => state.put(&key, stored),
                None => state.remove(&key),
            }
        }
        state.revision = revision;
    }

    fn read<R>(&self, f: impl FnOnce(&CacheState) -> R) -> R {
        f(&self.state.read().unwrap_or_else(PoisonError::into_inner))
    }
}
