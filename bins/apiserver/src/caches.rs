//! In-memory views kept current by store watches, so no request reads the store to
//! authenticate or authorize: the bootstrap-token Secrets, the certificate revocations, and the
//! RBAC policy rebuilt from clusterroles, clusterrolebindings, roles and rolebindings on every
//! change.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use protocol::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use protocol::revocation::v1alpha1::CertificateRevocation;
use rbac::{Policy, RbacAuthorizer};
use serde::de::DeserializeOwned;
use serde_json::Value;
use store::{EventKind, Store, StoreError};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::authn::bootstrap::{BootstrapSecret, SECRET_NAMESPACE};
use crate::authn::revocation::RevocationIndex;
use crate::authn::x509::ClientCertificate;

/// Pause before re-listing after a watch failure, so a broken store is not spun on.
const RETRY_DELAY: Duration = Duration::from_millis(500);

const SECRETS: &str = "core/secrets";
const CLUSTER_ROLES: &str = "rbac.authorization.k8s.io/clusterroles";
const CLUSTER_ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/clusterrolebindings";
const ROLES: &str = "rbac.authorization.k8s.io/roles";
const ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/rolebindings";
const REVOCATIONS: &str = "revocation.kubelet-tls-bootstrap.io/certificaterevocations";

/// `(namespace, name)` of a stored object.
type ObjectKey = (String, String);

/// One change a reflector reports.
enum Change {
    /// The full current set (after the first list, and after a re-list).
    Replace(Vec<Arc<Value>>),
    Upsert(Arc<Value>),
    Delete(Arc<Value>),
}

fn object_key(object: &Value) -> ObjectKey {
    let metadata = object.get("metadata");
    let field = |name: &str| {
        metadata
            .and_then(|m| m.get(name))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (field("namespace"), field("name"))
}

/// Background tasks of the caches; aborted when dropped (server shutdown).
#[derive(Debug, Default)]
pub struct CacheTasks {
    tasks: Vec<JoinHandle<()>>,
}

impl CacheTasks {
    /// Another background task that lives as long as the server.
    pub fn spawn(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }
}

impl Drop for CacheTasks {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Lists `resource` now (so the cache is complete before the server accepts connections), then
/// follows it with a watch in the background, re-listing when the watch is gone or expired.
async fn reflect(
    store: &Store,
    resource: &'static str,
    namespace: Option<&'static str>,
    mut sink: impl FnMut(Change) + Send + 'static,
) -> Result<JoinHandle<()>, StoreError> {
    let (items, mut rv) = store.list(resource, namespace).await?;
    sink(Change::Replace(
        items.into_iter().map(|s| s.object).collect(),
    ));
    let store = store.clone();
    Ok(tokio::spawn(async move {
        loop {
            match store.watch(resource, namespace, rv).await {
                Ok(mut watch) => loop {
                    match watch.next().await {
                        Some(Ok(event)) => {
                            let object = match event.parse() {
                                Ok(object) => Arc::new(object),
                                Err(error) => {
                                    tracing::warn!(resource, %error, "cache watch failed, re-listing");
                                    break;
                                }
                            };
                            rv = event.rv;
                            sink(match event.kind {
                                EventKind::Added | EventKind::Modified => Change::Upsert(object),
                                EventKind::Deleted => Change::Delete(object),
                            });
                        }
                        Some(Err(error)) => {
                            tracing::warn!(resource, %error, "cache watch failed, re-listing");
                            break;
                        }
                        None => break,
                    }
                },
                Err(error) => {
                    tracing::warn!(resource, %error, "cache watch could not start, re-listing")
                }
            }
            tokio::time::sleep(RETRY_DELAY).await;
            match store.list(resource, namespace).await {
                Ok((items, list_rv)) => {
                    rv = list_rv;
                    sink(Change::Replace(
                        items.into_iter().map(|s| s.object).collect(),
                    ));
                }
                Err(error) => tracing::warn!(resource, %error, "cache re-list failed"),
            }
        }
    }))
}

/// A new cache that `apply` keeps current with `resource`'s changes (see [`reflect`]).
async fn follow<C: Default + Send + Sync + 'static>(
    store: &Store,
    resource: &'static str,
    namespace: Option<&'static str>,
    tasks: &mut CacheTasks,
    apply: fn(&C, Change),
) -> Result<Arc<C>, StoreError> {
    let cache = Arc::new(C::default());
    let sink = Arc::clone(&cache);
    let task = reflect(store, resource, namespace, move |change| {
        apply(&sink, change)
    })
    .await?;
    tasks.tasks.push(task);
    Ok(cache)
}

// === bootstrap tokens ===

/// The `kube-system/bootstrap-token-*` Secrets, by name.
#[derive(Debug, Default)]
pub struct BootstrapTokenCache {
    secrets: RwLock<HashMap<String, Arc<BootstrapSecret>>>,
}

impl BootstrapTokenCache {
    /// Starts following the Secrets; the cache is complete when this returns.
    pub async fn start(
        store: &Store,
        tasks: &mut CacheTasks,
    ) -> Result<Arc<BootstrapTokenCache>, StoreError> {
        follow(store, SECRETS, Some(SECRET_NAMESPACE), tasks, Self::apply).await
    }

    /// The Secret of that name, if it is a bootstrap token Secret.
    pub fn get(&self, name: &str) -> Option<Arc<BootstrapSecret>> {
        self.secrets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    fn apply(&self, change: Change) {
        let mut secrets = self.secrets.write().unwrap_or_else(PoisonError::into_inner);
        match change {
            Change::Replace(objects) => {
                *secrets = objects
                    .iter()
                    .filter_map(|o| BootstrapSecret::from_object(o))
                    .map(|s| (s.name.clone(), Arc::new(s)))
                    .collect();
            }
            Change::Upsert(object) => {
                let (_, name) = object_key(&object);
                match BootstrapSecret::from_object(&object) {
                    Some(secret) => {
                        secrets.insert(name, Arc::new(secret));
                    }
                    None => {
                        secrets.remove(&name);
                    }
                }
            }
            Change::Delete(object) => {
                secrets.remove(&object_key(&object).1);
            }
        }
    }
}

// === certificate revocations ===

/// The CertificateRevocations, indexed for the per-request check (decision 0022).
#[derive(Debug)]
pub struct RevocationCache {
    objects: Mutex<BTreeMap<ObjectKey, CertificateRevocation>>,
    index: RwLock<RevocationIndex>,
    /// Bumped after every change, so open connections can check their certificate again.
    changes: tokio::sync::watch::Sender<()>,
}

impl Default for RevocationCache {
    fn default() -> Self {
        RevocationCache {
            objects: Mutex::default(),
            index: RwLock::default(),
            changes: tokio::sync::watch::Sender::new(()),
        }
    }
}

impl RevocationCache {
    /// Starts following the revocations; the cache is complete when this returns, so no
    /// revoked certificate is accepted in the first moments after a restart.
    pub async fn start(
        store: &Store,
        tasks: &mut CacheTasks,
    ) -> Result<Arc<RevocationCache>, StoreError> {
        follow(store, REVOCATIONS, None, tasks, Self::apply).await
    }

    /// The name of the revocation that revokes `certificate`, if any.
    pub fn revoked_by(&self, certificate: &ClientCertificate) -> Option<String> {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        if index.is_empty() {
            return None;
        }
        index.revoked_by(certificate).map(str::to_string)
    }

    fn apply(&self, change: Change) {
        let mut objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        // Stored objects were validated on write; one that no longer decodes is skipped
        // (logged) rather than stopping every other revocation.
        let typed = |object: &Value| match CertificateRevocation::deserialize(object) {
            Ok(revocation) => Some(revocation),
            Err(error) => {
                tracing::warn!(%error, "unreadable CertificateRevocation skipped");
                None
            }
        };
        match change {
            Change::Replace(all) => {
                *objects = all
                    .iter()
                    .filter_map(|o| Some((object_key(o), typed(o)?)))
                    .collect();
            }
            Change::Upsert(object) => match typed(&object) {
                Some(revocation) => {
                    objects.insert(object_key(&object), revocation);
                }
                None => {
                    objects.remove(&object_key(&object));
                }
            },
            Change::Delete(object) => {
                objects.remove(&object_key(&object));
            }
        }
        let index = RevocationIndex::new(objects.values());
        *self.index.write().unwrap_or_else(PoisonError::into_inner) = index;
        self.changes.send_replace(());
    }

    /// Wakes after each change of the revocations.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<()> {
        self.changes.subscribe()
    }
}

// === RBAC policy ===

/// The RBAC objects last seen, per resource.
#[derive(Default)]
struct RbacObjects {
    by_resource: HashMap<&'static str, BTreeMap<ObjectKey, Arc<Value>>>,
}

impl RbacObjects {
    fn apply(&mut self, resource: &'static str, change: Change) {
        let objects = self.by_resource.entry(resource).or_default();
        match change {
            Change::Replace(all) => {
                *objects = all.into_iter().map(|o| (object_key(&o), o)).collect()
            }
            Change::Upsert(object) => {
                objects.insert(object_key(&object), object);
            }
            Change::Delete(object) => {
                objects.remove(&object_key(&object));
            }
        }
    }

    fn typed<T: DeserializeOwned>(&self, resource: &'static str) -> Vec<T> {
        self.by_resource
            .get(resource)
            .into_iter()
            .flat_map(BTreeMap::values)
            .filter_map(|object| match serde_json::from_value::<T>(Value::clone(object)) {
                Ok(typed) => Some(typed),
                Err(error) => {
                    let (namespace, name) = object_key(object);
                    tracing::warn!(resource, namespace, name, %error, "ignoring unreadable RBAC object");
                    None
                }
            })
            .collect()
    }

    fn policy(&self) -> Policy {
        Policy::new(
            &self.typed::<ClusterRole>(CLUSTER_ROLES),
            &self.typed::<ClusterRoleBinding>(CLUSTER_ROLE_BINDINGS),
            &self.typed::<Role>(ROLES),
            &self.typed::<RoleBinding>(ROLE_BINDINGS),
        )
    }
}

/// Keeps `authorizer`'s policy equal to the RBAC objects in the store. The policy is built
/// once before this returns; afterwards every change (bursts coalesced) rebuilds it.
pub async fn start_rbac_policy(
    store: &Store,
    authorizer: Arc<RbacAuthorizer>,
    tasks: &mut CacheTasks,
) -> Result<(), StoreError> {
    let objects = Arc::new(Mutex::new(RbacObjects::default()));
    let changed = Arc::new(Notify::new());
    for resource in [CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS, ROLES, ROLE_BINDINGS] {
        let objects = Arc::clone(&objects);
        let changed = Arc::clone(&changed);
        let task = reflect(store, resource, None, move |change| {
            objects
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .apply(resource, change);
            changed.notify_one();
        })
        .await?;
        tasks.tasks.push(task);
    }
    let rebuild = move || {
        let policy = objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .policy();
        authorizer.set_policy(policy);
    };
    rebuild();
    tasks.tasks.push(tokio::spawn(async move {
        loop {
            changed.notified().await;
            rebuild();
            tracing::debug!("RBAC policy rebuilt");
        }
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbac::{Attributes, Authorizer, Decision, UserInfo};
    use serde_json::json;
    use store::Key;

    async fn eventually(mut check: impl FnMut() -> bool) -> bool {
        for _ in 0..200 {
            if check() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn rbac_policy_follows_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let authorizer = Arc::new(RbacAuthorizer::default());
        let mut tasks = CacheTasks::default();
        start_rbac_policy(&store, Arc::clone(&authorizer), &mut tasks)
            .await
            .expect("start");

        let bob = || {
            Attributes::resource(
                UserInfo::new("bob", ["system:authenticated"]),
                "list",
                "",
                "nodes",
            )
        };
        assert_eq!(authorizer.authorize(&bob()).0, Decision::NoOpinion);

        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "node-reader"},
            "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]});
        let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "bob-reads-nodes"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "node-reader"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]});
        store
            .create(&Key::new(CLUSTER_ROLES, "", "node-reader"), role)
            .await
            .expect("role");
        let binding_key = Key::new(CLUSTER_ROLE_BINDINGS, "", "bob-reads-nodes");
        store.create(&binding_key, binding).await.expect("binding");
        assert!(eventually(|| authorizer.authorize(&bob()).0 == Decision::Allow).await);

        store.delete(&binding_key, None).await.expect("delete");
        assert!(eventually(|| authorizer.authorize(&bob()).0 == Decision::NoOpinion).await);
        drop(tasks);
        store.close().await.expect("close");
    }

    #[tokio::test]
    async fn bootstrap_secrets_follow_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let key = Key::new(SECRETS, SECRET_NAMESPACE, "bootstrap-token-abcdef");
        let secret = json!({"metadata": {"name": "bootstrap-token-abcdef", "namespace": "kube-system"},
            "type": "bootstrap.kubernetes.io/token", "data": {}});
        store.create(&key, secret).await.expect("create");
        let mut tasks = CacheTasks::default();
        let cache = BootstrapTokenCache::start(&store, &mut tasks)
            .await
            .expect("start");
        assert!(
            cache.get("bootstrap-token-abcdef").is_some(),
            "listed before start returns"
        );

        let other_ns = Key::new(SECRETS, "default", "bootstrap-token-zzzzzz");
        store
            .create(
                &other_ns,
                json!({"metadata": {"name": "bootstrap-token-zzzzzz", "namespace": "default"}}),
            )
            .await
            .expect("create");
        store.delete(&key, None).await.expect("delete");
        assert!(eventually(|| cache.get("bootstrap-token-abcdef").is_none()).await);
        assert!(
            cache.get("bootstrap-token-zzzzzz").is_none(),
            "only kube-system counts"
        );
        drop(tasks);
        store.close().await.expect("close");
    }

    #[tokio::test]
    async fn revocations_follow_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let revoked = |name: &str| {
            json!({"metadata": {"name": name},
            "spec": {"serialNumbers": ["4f2a"]}})
        };
        let key = Key::new(REVOCATIONS, "", "leak");
        store.create(&key, revoked("leak")).await.expect("create");
        // Unreadable (serialNumbers is not a list): skipped, the others still apply.
        store
            .create(
                &Key::new(REVOCATIONS, "", "bad"),
                json!({"metadata": {"name": "bad"}, "spec": {"serialNumbers": 5}}),
            )
            .await
            .expect("create");
        let mut tasks = CacheTasks::default();
        let cache = RevocationCache::start(&store, &mut tasks)
            .await
            .expect("start");
        let certificate = ClientCertificate {
            user: UserInfo::new("system:node:a", ["system:nodes"]),
            credential_id: "X509SHA256=ab".to_string(),
            serial: "4f2a".to_string(),
            not_before: std::time::SystemTime::now(),
            not_after: std::time::SystemTime::now(),
            issuer: None,
        };
        assert_eq!(
            cache.revoked_by(&certificate).as_deref(),
            Some("leak"),
            "listed before start returns"
        );

        let user_key = Key::new(REVOCATIONS, "", "node-a");
        let by_user = json!({"metadata": {"name": "node-a"},
            "spec": {"user": "system:node:a", "issuedBefore": "2999-01-01T00:00:00Z"}});
        store.create(&user_key, by_user).await.expect("create");
        store.delete(&key, None).await.expect("delete");
        assert!(eventually(|| cache.revoked_by(&certificate).as_deref() == Some("node-a")).await);
        store.delete(&user_key, None).await.expect("delete");
        assert!(eventually(|| cache.revoked_by(&certificate).is_none()).await);
        drop(tasks);
        store.close().await.expect("close");
    }
}
